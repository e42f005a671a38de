//! Running one job: claim it, take its task's run lock, catch a panic, and
//! run the claimed job ([`Engine::run_next`] → `Engine::run_claimed`).

use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use orch_pipeline::Stage;
use orch_store::{AgentRunId, AlertKind, Claimed, Job, JobCommits, Lease, StoreError};

use crate::context::{JobContext, RunControl};
use crate::judge::SetupFailure;
use crate::launch::{AlertSpec, Launch, Launched, RunRecord, ServedBy, launch_job};
use crate::run_lock::{self, Locked, RunLock};
use crate::worktree::{TestedTree, WorktreeError};

use super::heartbeat::{CancelCause, Watch};
use super::report::{JobEndKind, JobReport};
use super::resolve::Unresolved;
use super::shadow::ShadowPair;
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
        if let Some(retry_in) = settings.retry.next(job.infra_attempts) {
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
        let (lease, job) = (claimed.lease, claimed.job);
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
        report.end = self.serve(lease, &job, stop, &mut report)?;
        report.took = t0.elapsed();
        Ok(Some(report))
    }

    /// The steps of a claimed job, each of which may end it: an interrupted
    /// deploy, a job that cannot be resolved, a setup that did not pass, an
    /// operator's cancel, then the end of however the launch ended.
    fn serve(
        &self,
        lease: Lease,
        job: &Job,
        stop: &StopSignal,
        report: &mut JobReport,
    ) -> Result<JobEndKind, EngineError> {
        if let Some(end) = self.interrupted(lease, job)? {
            return Ok(end);
        }
        let ctx = match self.resolve(job) {
            Ok(ctx) => ctx,
            Err(unresolved) => return self.unresolved(lease, job, unresolved, report),
        };
        let watch = Watch::default();
        let Ran {
            launched,
            tree,
            shadow,
        } = match self.run_watched(lease, &ctx, stop, &watch)? {
            Ok(ran) => ran,
            Err(failure) => return self.setup_unready(lease, &ctx, failure, watch.cause()),
        };
        if launched.served.spawned() {
            self.spawns.fetch_add(1, Ordering::SeqCst);
        }
        report.served = launched.served;
        let shadow = self.record_side_runs(&ctx, launched.fallback.as_ref(), shadow.as_ref())?;
        if let Some((_, pair)) = shadow {
            report.shadow_disagreement = self.shadow_seen(&ctx, pair);
        }
        // The run as it happened, whatever becomes of the job's end.
        let record = launched.launch.record().cloned();
        report.outcome = record.as_ref().map(|r| r.outcome);
        if watch.cause() == Some(CancelCause::Operator) {
            // The operator's cancel wins over however the run ended.
            return self.end_cancelled(lease, &ctx, record.as_ref());
        }
        report.detail = record.as_ref().map(|r| r.detail.clone());
        report.cost_usd = record.as_ref().and_then(|r| r.usage.cost_usd);
        let end = match launched.launch {
            Launch::Cancelled { record } => {
                return self.end_stopped(lease, &ctx, record.as_ref(), watch.lease_lost());
            }
            Launch::Defer { record, retry_in } => {
                self.end_deferred(lease, &ctx, &record, retry_in)?
            }
            Launch::Block { record, alert } => {
                let row = record.as_ref().map(|r| self.run_row(&ctx, r));
                self.block(lease, job, row, &alert)?
            }
            Launch::Ran { record, alert } => {
                let tree = tree.unwrap_or_else(|| self.stage_tree(&ctx, launched.served.spawned()));
                let end = self.end_ran(lease, &ctx, &record, alert, tree, shadow)?;
                if matches!(end, JobEndKind::Deferred { .. }) {
                    // The one deferral a decision makes: the role wrote no
                    // valid verdict line and runs again.
                    report.detail = Some(format!(
                        "the {} wrote no valid verdict line and runs again (ORCH_VERDICT_RETRIES), not charged to the developer",
                        ctx.role
                    ));
                }
                end
            }
        };
        // A run whose end cannot be written (its lease was lost, another
        // transition won) still spent money, and the spend ceiling must see
        // it.
        if matches!(end, JobEndKind::LeaseLost | JobEndKind::Superseded)
            && let Some(record) = &record
        {
            self.store().record_agent_run(&self.run_row(&ctx, record))?;
        }
        Ok(end)
    }

    /// A job that cannot be resolved: blocked (`internal_error`), or, when
    /// its worktree is not ready, deferred or blocked by
    /// [`Engine::workspace_unready`].
    fn unresolved(
        &self,
        lease: Lease,
        job: &Job,
        unresolved: Unresolved,
        report: &mut JobReport,
    ) -> Result<JobEndKind, EngineError> {
        match unresolved {
            Unresolved::Internal(why) => self.block(
                lease,
                job,
                None,
                &AlertSpec {
                    kind: AlertKind::InternalError,
                    message: format!("job {} of task {} cannot run: {why}", job.id, job.task),
                },
            ),
            Unresolved::Workspace(error) => {
                report.detail = Some(error.to_string());
                self.workspace_unready(lease, job, &error)
            }
        }
    }

    /// The worktree's setup, the launch, the tree the verdict is about and
    /// the shadow runner, while the heartbeat watches the lease on its own
    /// thread and records in `watch` why it cancelled the run, if it did.
    fn run_watched(
        &self,
        lease: Lease,
        ctx: &JobContext,
        stop: &StopSignal,
        watch: &Watch,
    ) -> Result<Result<Ran, SetupFailure>, EngineError> {
        let spent = self.store().task_cost_usd(ctx.job.task)?;
        let control = RunControl::default();
        control.set_effect_gate(self.effect_gate(lease));
        Ok(std::thread::scope(|scope| {
            let (done, beat) = mpsc::channel::<()>();
            let control = &control;
            let heartbeat = scope.spawn(move || self.heartbeat(lease, &beat, stop, control, watch));
            let ran = self
                .setup_worktree(ctx, control)
                .map(|()| self.launch_and_judge(ctx, spent, control));
            drop(done);
            let _ = heartbeat.join();
            ran
        }))
    }

    /// Launches the job; when it ran, the tree the verdict is about (orch
    /// commits what an LLM role changed), then, in shadow mode, the runner:
    /// after the LLM role has ended, so it cannot read the runner's
    /// verdict, and on the commit it ended on, so both verdicts are about
    /// one tree.
    fn launch_and_judge(&self, ctx: &JobContext, spent: f64, control: &RunControl) -> Ran {
        let launched = launch_job(ctx, &self.config, &self.intercepts, spent, control);
        let tree = matches!(launched.launch, Launch::Ran { .. })
            .then(|| self.stage_tree(ctx, launched.served.spawned()));
        let shadow = match &tree {
            Some(Ok(tree)) if launched.served == ServedBy::Llm => self
                .shadow_after(ctx, tree.as_ref(), control)
                .map(|first| self.rerun_on_disagreement(ctx, tree.as_ref(), first, control)),
            _ => None,
        };
        Ran {
            launched,
            tree,
            shadow,
        }
    }

    /// Records the runs beside the one that ends the job: a reserved
    /// agent's attempt before it handed the job to the LLM (a finished fact
    /// of its own), and a shadow run with its re-run on a disagreement. The
    /// shadow pairing with the LLM's verdict is written with the job's end;
    /// its runner's `agent_runs` id comes back for it.
    fn record_side_runs<'p>(
        &self,
        ctx: &JobContext,
        fallback: Option<&RunRecord>,
        shadow: Option<&'p ShadowPair>,
    ) -> Result<Option<(AgentRunId, &'p ShadowPair)>, EngineError> {
        if let Some(fallback) = fallback {
            self.store()
                .record_agent_run(&self.run_row(ctx, fallback))?;
        }
        let Some(pair) = shadow else {
            return Ok(None);
        };
        let id = self
            .store()
            .record_agent_run(&self.run_row(ctx, &pair.first.record))?;
        if let Some(rerun) = &pair.rerun {
            self.store()
                .record_agent_run(&self.run_row(ctx, &rerun.record))?;
        }
        Ok(Some((id, pair)))
    }

    /// A run that was cancelled without an operator's cancel: its lease
    /// was lost (nothing is written but the run), or the worker is
    /// stopping (the run is recorded and the job given back).
    fn end_stopped(
        &self,
        lease: Lease,
        ctx: &JobContext,
        record: Option<&RunRecord>,
        lost: bool,
    ) -> Result<JobEndKind, EngineError> {
        if let Some(record) = record {
            self.store().record_agent_run(&self.run_row(ctx, record))?;
        }
        if lost {
            return Ok(JobEndKind::LeaseLost);
        }
        self.release_stopped(lease, ctx)
    }

    /// A run whose work could not start: the job is due again after
    /// `retry_in`, with the run recorded.
    fn end_deferred(
        &self,
        lease: Lease,
        ctx: &JobContext,
        record: &RunRecord,
        retry_in: Duration,
    ) -> Result<JobEndKind, EngineError> {
        let row = self.run_row(ctx, record);
        // Bound first: the store's guard must be dropped before a cancelled
        // end takes it again.
        let deferred = self
            .store()
            .defer(lease, retry_in, &record.detail, Some(&row));
        match deferred {
            Ok(_) => Ok(JobEndKind::Deferred { retry_in }),
            Err(StoreError::LeaseLost { .. }) => Ok(JobEndKind::LeaseLost),
            Err(StoreError::CancelRequested { .. }) => self.end_cancelled(lease, ctx, Some(record)),
            Err(error) => Err(error.into()),
        }
    }

    /// A run that ended: its gates decide ([`Engine::decide`]), and a task
    /// at `done` gets its worktree removed; a tree that cannot be read or
    /// was tampered with blocks the task instead.
    fn end_ran(
        &self,
        lease: Lease,
        ctx: &JobContext,
        record: &RunRecord,
        alert: Option<AlertSpec>,
        tree: StageTree,
        shadow: Option<(AgentRunId, &ShadowPair)>,
    ) -> Result<JobEndKind, EngineError> {
        match tree {
            Ok(tree) => {
                let end = self.decide(lease, ctx, record, alert, tree.as_ref(), shadow)?;
                if matches!(
                    end,
                    JobEndKind::Transition {
                        to: Stage::Done,
                        ..
                    }
                ) {
                    self.finish_worktree(ctx);
                }
                Ok(end)
            }
            Err(error) => {
                let kind = if error.is_transient() {
                    AlertKind::WorktreeUnavailable
                } else {
                    AlertKind::WorktreeTampered
                };
                self.block(
                    lease,
                    &ctx.job,
                    Some(self.run_row(ctx, record)),
                    &AlertSpec {
                        kind,
                        message: format!(
                            "task {} ({}) is blocked after its {} run: {error}",
                            ctx.task.id, ctx.task.title, ctx.role
                        ),
                    },
                )
            }
        }
    }
}

/// The tree a stage's verdict is about ([`Engine::stage_tree`]).
type StageTree = Result<Option<(JobCommits, TestedTree)>, WorktreeError>;

/// What ran of a claimed job while the heartbeat watched its lease.
struct Ran {
    /// The launch and how it ended.
    launched: Launched,
    /// The tree the verdict is about, when the launch ran.
    tree: Option<StageTree>,
    /// The shadow runner's pair, in shadow mode.
    shadow: Option<ShadowPair>,
}
