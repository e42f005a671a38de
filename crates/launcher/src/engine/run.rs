//! Running one job: claim it, take its task's run lock, catch a panic, and
//! run the claimed job ([`Engine::run_next`] → `Engine::run_claimed`).

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use orch_pipeline::Stage;
use orch_store::{AlertKind, Claimed, Job, Lease, StoreError};

use crate::context::RunControl;
use crate::launch::{AlertSpec, Launch, launch_job};
use crate::run_lock::{self, Locked, RunLock};
use crate::spawn::backoff;

use super::report::{JobEndKind, JobReport};
use super::resolve::Unresolved;
use super::{Engine, EngineError, StopSignal};

/// How long a job whose task's worktree is locked by a live run waits
/// before it is claimed again.
const LOCKED_RETRY: Duration = Duration::from_secs(2);

/// The message of a caught panic.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

impl Engine {
    /// Claims the next due job, runs it and records its end. `Ok(None)` when
    /// no job is due.
    ///
    /// # Errors
    ///
    /// [`EngineError::Store`] when the store fails to claim or to write the
    /// job's end for another reason than a lost lease or a superseded
    /// transition (those are reported in the [`JobReport`]);
    /// [`EngineError::Panicked`] when running the job panicked (caught; the
    /// job was given back, or its task blocked once it kept panicking).
    ///
    /// A job whose task's run lock another live run holds (a process
    /// stopped past its lease) is given back for a moment and reported as
    /// deferred; nothing else of it happens.
    pub fn run_next(&self, stop: &StopSignal) -> Result<Option<JobReport>, EngineError> {
        self.beat_now();
        let claimed = self.store().claim(&self.owner, self.config.lease)?;
        let Some(claimed) = claimed else {
            return Ok(None);
        };
        let t0 = Instant::now();
        let (lease, job) = (claimed.lease, claimed.job.clone());
        // The run lock first: nothing of the job — not even the archive of
        // its stage's previous artifact — happens while another process's
        // run of it still lives (run_lock.rs).
        let _lock = match self.lock_run(lease, &job, t0)? {
            Ok(lock) => lock,
            Err(report) => return Ok(Some(report)),
        };
        // A panic anywhere in the run is caught here, where the lease is
        // known: the job is given back (or its task blocked once it keeps
        // panicking), and the caller learns of it as an error.
        match std::panic::catch_unwind(AssertUnwindSafe(|| self.run_claimed(claimed, stop, t0))) {
            Ok(result) => result,
            Err(payload) => {
                let message = panic_message(payload.as_ref());
                let then = self.after_panic(lease, &job, &message)?;
                Err(EngineError::Panicked {
                    job: job.id,
                    task: job.task,
                    message,
                    then,
                })
            }
        }
    }

    /// The run lock of a claimed job's task. When another live run holds
    /// it, the job is given back for [`LOCKED_RETRY`]; when it cannot be
    /// taken, the task is blocked; either way the job's report comes back
    /// instead of the lock.
    fn lock_run(
        &self,
        lease: Lease,
        job: &Job,
        t0: Instant,
    ) -> Result<Result<RunLock, JobReport>, EngineError> {
        match run_lock::try_lock(&self.config.home, job.task.get(), job.id.get()) {
            Ok(Locked::Held(lock)) => Ok(Ok(lock)),
            Ok(Locked::Busy { path, holder }) => {
                let why = format!(
                    "its task's worktree is in use by a run that still lives ({holder}; lock {}): not run twice, tried again in {}s",
                    path.display(),
                    LOCKED_RETRY.as_secs()
                );
                let end = match self.store().release_for(lease, LOCKED_RETRY, &why) {
                    Ok(()) => JobEndKind::Deferred {
                        retry_in: LOCKED_RETRY,
                    },
                    Err(StoreError::LeaseLost { .. }) => JobEndKind::LeaseLost,
                    Err(error) => return Err(error.into()),
                };
                Ok(Err(JobReport {
                    detail: Some(why),
                    end,
                    took: t0.elapsed(),
                    ..JobReport::claimed(job)
                }))
            }
            Err(error) => {
                let end = self.block(
                lease,
                job,
                None,
                &AlertSpec {
                    kind: AlertKind::InternalError,
                    message: format!(
                        "job {} of task {} cannot take its run lock {}: {error}; check that orch's home is writable, then `orch task retry {}`",
                        job.id,
                        job.task,
                        run_lock::lock_path(&self.config.home, job.task.get()).display(),
                        job.task
                    ),
                },
            )?;
                Ok(Err(JobReport {
                    end,
                    took: t0.elapsed(),
                    ..JobReport::claimed(job)
                }))
            }
        }
    }

    /// What a job that panicked becomes: given back to the queue after a
    /// backoff within the worktree's infra retries (a panic may be a
    /// moment's state), then its task blocked with an `internal_error`
    /// alert (a panic every time is a bug, and must not loop).
    pub(super) fn after_panic(
        &self,
        lease: Lease,
        job: &Job,
        message: &str,
    ) -> Result<String, EngineError> {
        let settings = &self.config.worktree;
        if job.infra_attempts < settings.infra_retries {
            let retry_in = backoff(settings.defer, job.infra_attempts);
            let why = format!("the worker panicked: {message}");
            return match self.store().defer(lease, retry_in, &why, None) {
                Ok(_) => Ok(format!(
                    "the job was given back to the queue, due in {}s",
                    retry_in.as_secs()
                )),
                Err(StoreError::LeaseLost { .. }) => {
                    Ok("the job's lease was lost already; nothing was written".to_owned())
                }
                Err(error) => Err(error.into()),
            };
        }
        let end = self.block(
            lease,
            job,
            None,
            &AlertSpec {
                kind: AlertKind::InternalError,
                message: format!(
                    "task {} is blocked at {}: its job {} made orch panic {} times ({message}); this is a bug in orch: report it, then `orch task retry {}`",
                    job.task,
                    job.stage,
                    job.id,
                    job.infra_attempts + 1,
                    job.task
                ),
            },
        )?;
        Ok(if matches!(end, JobEndKind::Blocked { .. }) {
            "its task was blocked (internal_error)".to_owned()
        } else {
            "the job's lease was lost already; nothing was written".to_owned()
        })
    }

    /// [`Engine::run_next`] once the job is claimed and its run lock held.
    pub(super) fn run_claimed(
        &self,
        claimed: Claimed,
        stop: &StopSignal,
        t0: Instant,
    ) -> Result<Option<JobReport>, EngineError> {
        let lease = claimed.lease;
        let job = claimed.job;
        let mut report = JobReport::claimed(&job);
        // The title for the logs: a task that cannot be read is said by
        // what follows, not here.
        report.title = self
            .store()
            .task(job.task)
            .map(|task| task.title)
            .unwrap_or_default();
        if let Some(hook) = &self.on_start {
            hook(&super::JobStart {
                job: &job,
                title: &report.title,
            });
        }
        if let Some(end) = self.interrupted(lease, &job)? {
            report.end = end;
            report.took = t0.elapsed();
            return Ok(Some(report));
        }
        let ctx = match self.resolve(&job) {
            Ok(ctx) => ctx,
            Err(Unresolved::Internal(why)) => {
                report.end = self.block(
                    lease,
                    &job,
                    None,
                    &AlertSpec {
                        kind: AlertKind::InternalError,
                        message: format!("job {} of task {} cannot run: {why}", job.id, job.task),
                    },
                )?;
                report.took = t0.elapsed();
                return Ok(Some(report));
            }
            Err(Unresolved::Workspace(error)) => {
                report.detail = Some(error.to_string());
                report.end = self.workspace_unready(lease, &job, &error)?;
                report.took = t0.elapsed();
                return Ok(Some(report));
            }
        };

        let spent = self.store().task_cost_usd(job.task)?;
        let control = RunControl::default();
        control.set_effect_gate(self.effect_gate(lease));
        let lease_lost = AtomicBool::new(false);
        let cancel_asked = AtomicBool::new(false);
        let ran = std::thread::scope(|scope| {
            let (done, beat) = mpsc::channel::<()>();
            let (control, lease_lost, asked) = (&control, &lease_lost, &cancel_asked);
            let heartbeat =
                scope.spawn(move || self.heartbeat(lease, &beat, stop, control, lease_lost, asked));
            let ran = self.setup_worktree(&ctx, control).map(|()| {
                let launched = launch_job(&ctx, &self.config, &self.intercepts, spent, control);
                // The tree the verdict is about (orch commits what an LLM
                // role changed), then, in shadow mode, the runner: after
                // the LLM role has ended, so it cannot read the runner's
                // verdict, and on the commit it ended on, so both verdicts
                // are about one tree.
                let tree = matches!(launched.launch, Launch::Ran { .. })
                    .then(|| self.stage_tree(&ctx, launched.spawned));
                let shadow = match &tree {
                    Some(Ok(tree)) if launched.spawned && launched.intercepted_by.is_none() => self
                        .shadow_after(&ctx, tree.as_ref(), control)
                        .map(|first| {
                            self.rerun_on_disagreement(&ctx, tree.as_ref(), first, control)
                        }),
                    _ => None,
                };
                (launched, tree, shadow)
            });
            drop(done);
            let _ = heartbeat.join();
            ran
        });
        let (launched, tree, shadow) = match ran {
            Ok(ran) => ran,
            Err(failure) => {
                report.end = self.setup_unready(
                    lease,
                    &ctx,
                    failure,
                    lease_lost.load(Ordering::SeqCst),
                    cancel_asked.load(Ordering::SeqCst),
                )?;
                report.took = t0.elapsed();
                return Ok(Some(report));
            }
        };
        if launched.spawned {
            self.spawns.fetch_add(1, Ordering::SeqCst);
        }
        report.intercepted_by = launched.intercepted_by;
        report.spawned = launched.spawned;
        if let Some(fallback) = &launched.fallback {
            // The reserved agent's attempt is a finished fact of its own; it
            // is recorded before the LLM's run, which ends the job.
            self.store()
                .record_agent_run(&self.run_row(&ctx, fallback))?;
        }
        // A shadow run too (and its re-run on a disagreement, a run of its
        // own); its pairing with the LLM's verdict is written with the job's
        // end, when the LLM's verdict moves the task.
        let shadow = match &shadow {
            Some(pair) => {
                let id = self
                    .store()
                    .record_agent_run(&self.run_row(&ctx, &pair.first.record))?;
                report.shadow_disagreement = self.shadow_seen(&ctx, pair);
                if let Some(rerun) = &pair.rerun {
                    self.store()
                        .record_agent_run(&self.run_row(&ctx, &rerun.record))?;
                }
                Some((id, pair))
            }
            None => None,
        };
        let lost = lease_lost.load(Ordering::SeqCst);
        // The run as it happened, whatever becomes of the job's end: a run
        // whose end cannot be written (its lease was lost, another
        // transition won) still spent money, and the spend ceiling must see
        // it.
        let record = match &launched.launch {
            Launch::Ran { record, .. } | Launch::Defer { record, .. } => Some(record.clone()),
            Launch::Cancelled { record } | Launch::Block { record, .. } => record.clone(),
        };
        if cancel_asked.load(Ordering::SeqCst) && !lost {
            // The operator's cancel wins over however the run ended.
            report.outcome = record.as_ref().map(|r| r.outcome);
            report.end = self.end_cancelled(lease, &ctx, record.as_ref())?;
            report.took = t0.elapsed();
            return Ok(Some(report));
        }
        report.detail = record.as_ref().map(|r| r.detail.clone());
        report.cost_usd = record.as_ref().and_then(|r| r.usage.cost_usd);
        let mut recorded = false;
        report.end = match launched.launch {
            Launch::Cancelled { record } => {
                report.outcome = record.as_ref().map(|r| r.outcome);
                if lost {
                    JobEndKind::LeaseLost
                } else {
                    if let Some(record) = &record {
                        self.store().record_agent_run(&self.run_row(&ctx, record))?;
                        recorded = true;
                    }
                    let released = self
                        .store()
                        .release(lease, "cancelled: the worker is stopping");
                    match released {
                        Ok(()) => JobEndKind::Released,
                        Err(StoreError::LeaseLost { .. }) => JobEndKind::LeaseLost,
                        // The run is recorded above.
                        Err(StoreError::CancelRequested { .. }) => {
                            self.end_cancelled(lease, &ctx, None)?
                        }
                        Err(error) => return Err(error.into()),
                    }
                }
            }
            Launch::Defer { record, retry_in } => {
                report.outcome = Some(record.outcome);
                let row = self.run_row(&ctx, &record);
                // Bound first: the store's guard must be dropped before a
                // cancelled end takes it again.
                let deferred = self
                    .store()
                    .defer(lease, retry_in, &record.detail, Some(&row));
                match deferred {
                    Ok(_) => JobEndKind::Deferred { retry_in },
                    Err(StoreError::LeaseLost { .. }) => JobEndKind::LeaseLost,
                    Err(StoreError::CancelRequested { .. }) => {
                        self.end_cancelled(lease, &ctx, Some(&record))?
                    }
                    Err(error) => return Err(error.into()),
                }
            }
            Launch::Block { record, alert } => {
                report.outcome = record.as_ref().map(|r| r.outcome);
                self.block(
                    lease,
                    &job,
                    record.as_ref().map(|r| self.run_row(&ctx, r)),
                    &alert,
                )?
            }
            Launch::Ran { record, alert } => {
                report.outcome = Some(record.outcome);
                match tree.unwrap_or_else(|| self.stage_tree(&ctx, launched.spawned)) {
                    Ok(tree) => {
                        let end =
                            self.decide(lease, &ctx, &record, alert, tree.as_ref(), shadow)?;
                        if matches!(end, JobEndKind::Deferred { .. }) {
                            // The one deferral a decision makes: the role
                            // wrote no valid verdict line and runs again.
                            report.detail = Some(format!(
                                "the {} wrote no valid verdict line and runs again (ORCH_VERDICT_RETRIES), not charged to the developer",
                                ctx.role
                            ));
                        }
                        if matches!(
                            end,
                            JobEndKind::Transition {
                                to: Stage::Done,
                                ..
                            }
                        ) {
                            self.finish_worktree(&ctx);
                        }
                        end
                    }
                    Err(error) => {
                        let kind = if error.is_transient() {
                            AlertKind::WorktreeUnavailable
                        } else {
                            AlertKind::WorktreeTampered
                        };
                        self.block(
                            lease,
                            &job,
                            Some(self.run_row(&ctx, &record)),
                            &AlertSpec {
                                kind,
                                message: format!(
                                    "task {} ({}) is blocked after its {} run: {error}",
                                    ctx.task.id, ctx.task.title, ctx.role
                                ),
                            },
                        )?
                    }
                }
            }
        };
        if !recorded
            && matches!(report.end, JobEndKind::LeaseLost | JobEndKind::Superseded)
            && let Some(record) = &record
        {
            self.store().record_agent_run(&self.run_row(&ctx, record))?;
        }
        report.took = t0.elapsed();
        Ok(Some(report))
    }
}
