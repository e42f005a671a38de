//! The engine: what a worker does with one job. An embedder drives orch with
//! [`Engine::run_next`] in a loop; the `orch` binary's workers do exactly that.
//!
//! For one job:
//! 1. claim the next due job (a lease that fences every later write);
//! 2. resolve it (task, repository, stage, role, artifact path) and move the
//!    stage's previous artifact and its sidecars into the task's attempt
//!    archive, so that no gate ever reads an earlier round's artifact;
//! 3. [`launch_job`] runs it — a reserved agent, or the LLM through `spawn` —
//!    while a heartbeat thread extends the lease and cancels the run when the
//!    lease is lost or a stop is asked;
//! 4. the stage's `QG_CHECKS` gates read the artifact, `STAGE_TRANSITIONS`
//!    picks the next stage, and the job's end, the transition with every gate
//!    decision and the artifact's sha256, the next job, the `agent_runs` row
//!    and any alert are written in one transaction fenced by the lease.
//!
//! Whatever ends a job without a transition (a spent budget, an agent that
//! cannot be started, an internal error) blocks the task and raises an alert
//! in the same transaction: no task is ever left `active` without a job.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use orch_pipeline::{DecisionKind, GateResult, Role, Stage, Verdict, gates_for, next_stage};
use orch_store::{
    AgentRunId, AlertKind, Claimed, GateDecision, Job, JobCommits, JobEnd, JobId, Lease,
    LeaseOwner, NewAgentRun, NewAlert, NewJob, NewShadowVerdict, NewTask, NewTransition, RepoId,
    Store, StoreError, TaskId, TaskIsolation, TaskStatus, VERDICT_FAILED, VERDICT_PASSED,
};
use sha2::{Digest, Sha256};

use crate::config::LauncherConfig;
use crate::context::{JobContext, RunControl};
use crate::judge::{self, SetupFailure};
use crate::launch::{
    AlertSpec, Intercept, Launch, RunOutcome, RunRecord, ShadowRun, launch_job, run_shadow,
};
use crate::reserved::default_intercepts;
use crate::run_lock::{self, Locked};
use crate::spawn::backoff;
use crate::workspace;
use crate::worktree::{Base, Checkout, Git, TestedTree, TreeState, Workspace, WorktreeError};

/// The most bytes of an artifact a gate reads; a larger artifact fails
/// closed (no reader of markdown reads a gigabyte either).
pub const MAX_ARTIFACT_BYTES: u64 = 256 * 1024 * 1024;

/// Why the engine could not do its part (the store failed); the job, if one
/// was claimed, keeps its lease until it expires and is rescued.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The store failed.
    #[error("the job queue failed: {0}")]
    Store(#[from] StoreError),
    /// Running the job panicked (a bug in orch or an intercept); the panic
    /// was caught and the job given back or its task blocked (`then`).
    #[error("job {job} of task {task} panicked: {message}; {then}")]
    Panicked {
        /// The job.
        job: JobId,
        /// Its task.
        task: TaskId,
        /// The panic's message.
        message: String,
        /// What became of the job.
        then: String,
    },
    /// A task cannot start at a terminal state.
    #[error("a task cannot start at {0}: it is a terminal state; name a working stage")]
    TerminalStage(Stage),
    /// A task's base or worktree could not be resolved.
    #[error("{0}")]
    Workspace(#[from] WorktreeError),
    /// A base ref was given for a repository that is not a git repository.
    #[error(
        "repository {repo} ({path}) is not a git repository, so a task on it has no base commit; drop the base ref (its tasks run in the folder, one at a time)"
    )]
    BaseWithoutGit {
        /// The repository's name.
        repo: String,
        /// Its folder.
        path: String,
    },
}

/// A task to create with [`Engine::create_task_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRequest {
    /// Its title.
    pub title: String,
    /// The working stage it starts at.
    pub stage: Stage,
    /// The ref it starts from, instead of the repository's base ref (or the
    /// checkout's `HEAD`).
    pub base: Option<String>,
    /// Keep its worktree when it is done.
    pub keep_worktree: bool,
}

impl TaskRequest {
    /// A task at the pipeline's first stage, from the repository's base.
    #[must_use]
    pub fn new(title: impl Into<String>) -> TaskRequest {
        TaskRequest {
            title: title.into(),
            stage: Stage::Analysis,
            base: None,
            keep_worktree: false,
        }
    }
}

/// A task [`Engine::create_task_with`] created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedTask {
    /// Its id.
    pub task: TaskId,
    /// Its first job.
    pub job: JobId,
    /// Where its roles work.
    pub isolation: TaskIsolation,
    /// The commit it starts from (worktree tasks), with what the user should
    /// know about it.
    pub base: Option<Base>,
}

/// Why a claimed job could not be resolved into a run.
enum Unresolved {
    /// It can never run as it is: the task is blocked.
    Internal(String),
    /// Its worktree could not be made or is not as the task left it.
    Workspace(WorktreeError),
}

/// Asks running jobs to stop (a shutdown): their process trees are cancelled
/// and their jobs given back to the queue.
#[derive(Debug, Clone, Default)]
pub struct StopSignal(Arc<AtomicBool>);

impl StopSignal {
    /// Asks every run watching this signal to stop.
    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was asked.
    #[must_use]
    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq)]
pub enum JobEndKind {
    /// Its gates decided and the task moved.
    Transition {
        /// The stage it left.
        from: Stage,
        /// The stage it went to.
        to: Stage,
        /// Advance, rollback, or a spent retry budget.
        kind: DecisionKind,
        /// Every gate's result.
        gates: Vec<GateResult>,
    },
    /// Its work could not start; it is due again after `retry_in`.
    Deferred {
        /// The backoff.
        retry_in: Duration,
    },
    /// It was stopped and given back to the queue (a shutdown).
    Released,
    /// It could not end by a transition: the task is blocked with an alert.
    Blocked {
        /// The alert's kind.
        alert: AlertKind,
    },
    /// Its lease was lost (the job was rescued); nothing was written.
    LeaseLost,
    /// Another transition moved the task first; nothing was written.
    Superseded,
}

/// What [`Engine::run_next`] did with one job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobReport {
    /// The job.
    pub job: JobId,
    /// Its task.
    pub task: TaskId,
    /// Its stage and role as stored.
    pub stage: String,
    /// Its role as stored.
    pub role: String,
    /// The reserved agent that claimed it, if any.
    pub intercepted_by: Option<&'static str>,
    /// Whether the LLM transport ran.
    pub spawned: bool,
    /// How its run ended, when it ran.
    pub outcome: Option<RunOutcome>,
    /// One line on what happened: the run's own account (`exit code 1`,
    /// `timeout after 30s`, why a suite could not run) or why the work could
    /// not start; for logs and the command line.
    pub detail: Option<String>,
    /// How the job ended.
    pub end: JobEndKind,
    /// Wall time from claim to end.
    pub took: Duration,
}

impl JobReport {
    /// The report of a job just claimed, before anything happened to it.
    fn claimed(job: &Job) -> JobReport {
        JobReport {
            job: job.id,
            task: job.task,
            stage: job.stage.clone(),
            role: job.role.clone(),
            intercepted_by: None,
            spawned: false,
            outcome: None,
            detail: None,
            end: JobEndKind::LeaseLost,
            took: Duration::ZERO,
        }
    }
}

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

/// A worker's engine: one store connection, the configuration, and the
/// registry of reserved agents.
pub struct Engine {
    store: Arc<Mutex<Store>>,
    config: LauncherConfig,
    intercepts: Vec<Box<dyn Intercept>>,
    owner: LeaseOwner,
    spawns: AtomicU64,
    git: Git,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.config)
            .field(
                "intercepts",
                &self.intercepts.iter().map(|i| i.name()).collect::<Vec<_>>(),
            )
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine with the default reserved agents ([`default_intercepts`]).
    #[must_use]
    pub fn new(store: Store, config: LauncherConfig, owner: LeaseOwner) -> Engine {
        Engine {
            store: Arc::new(Mutex::new(store)),
            git: Git::new(&config),
            config,
            intercepts: default_intercepts(),
            owner,
            spawns: AtomicU64::new(0),
        }
    }

    /// Runs git through `git` instead of the one made from the config (a
    /// test's smaller stdout cap, say).
    #[must_use]
    pub fn with_git(mut self, git: Git) -> Engine {
        self.git = git;
        self
    }

    /// Replaces the registry of intercepts (consulted in this order).
    #[must_use]
    pub fn with_intercepts(mut self, intercepts: Vec<Box<dyn Intercept>>) -> Engine {
        self.intercepts = intercepts;
        self
    }

    /// The store, for reads between jobs.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &LauncherConfig {
        &self.config
    }

    /// How many times this engine has called the LLM transport.
    #[must_use]
    pub fn spawn_count(&self) -> u64 {
        self.spawns.load(Ordering::SeqCst)
    }

    /// Creates a task on `repo` at the pipeline's first stage with its first
    /// job, in one transaction ([`Engine::create_task_with`] with the
    /// defaults).
    ///
    /// # Errors
    ///
    /// As [`Engine::create_task_with`].
    pub fn create_task(&self, repo: RepoId, title: &str) -> Result<(TaskId, JobId), EngineError> {
        self.create_task_at(repo, title, Stage::Analysis)
    }

    /// Creates a task that starts at `stage` (a working stage), with the
    /// stage's job: for re-running part of the pipeline, and for tests.
    ///
    /// # Errors
    ///
    /// As [`Engine::create_task_with`].
    pub fn create_task_at(
        &self,
        repo: RepoId,
        title: &str,
        stage: Stage,
    ) -> Result<(TaskId, JobId), EngineError> {
        let created = self.create_task_with(
            repo,
            &TaskRequest {
                stage,
                ..TaskRequest::new(title)
            },
        )?;
        Ok((created.task, created.job))
    }

    /// Creates a task and its first job in one transaction. On a git
    /// repository the task gets its own worktree (made at its first job)
    /// and starts from the commit its base ref names now — the request's,
    /// the repository's, or the checkout's `HEAD`; in any other folder it
    /// works in the folder itself, one such task of a repository at a time.
    ///
    /// # Errors
    ///
    /// [`EngineError::TerminalStage`] for `done` or `blocked`;
    /// [`EngineError::Workspace`] when the base ref names no commit, the
    /// repository has no commit, the folder is inside a repository but not
    /// its top, or git cannot be run on a repository;
    /// [`EngineError::BaseWithoutGit`] for a base ref on a folder that is not
    /// a git repository; [`EngineError::Store`] when the repository does not
    /// exist or the store fails.
    pub fn create_task_with(
        &self,
        repo: RepoId,
        request: &TaskRequest,
    ) -> Result<CreatedTask, EngineError> {
        let stage = request.stage;
        let role = stage.role().ok_or(EngineError::TerminalStage(stage))?;
        let repo = self.store().repo(repo)?;
        let path = std::path::Path::new(&repo.path);
        let reference = request.base.as_deref().or(repo.base_ref.as_deref());
        let (task, base) = match self.git.inspect(path)? {
            Checkout::Git(_) => {
                let base = self.git.resolve_base(path, reference)?;
                let task = NewTask {
                    keep_worktree: request.keep_worktree,
                    ..NewTask::in_worktree(&request.title, &base.commit)
                };
                (task, Some(base))
            }
            Checkout::Unborn => {
                return Err(WorktreeError::NoCommit {
                    repo: path.to_path_buf(),
                }
                .into());
            }
            Checkout::NotGit if reference.is_some() => {
                return Err(EngineError::BaseWithoutGit {
                    repo: repo.name.clone(),
                    path: repo.path.clone(),
                });
            }
            Checkout::NotGit => (NewTask::in_checkout(&request.title), None),
        };
        let first = NewJob::new(TaskId::new(0), stage.as_str(), role.as_str());
        let (id, job) = self.store().create_task_with(repo.id, &task, &first)?;
        Ok(CreatedTask {
            task: id,
            job,
            isolation: task.isolation,
            base,
        })
    }

    /// The start-up clean-up of `home/worktrees`: the worktree of every task
    /// that no longer exists, or is done and not kept, is removed (its
    /// branch stays); then `git worktree prune` runs in every repository.
    /// Judge trees and the runs' private folders (`home/runs`) a crash left
    /// behind go too, unless their run is alive.
    ///
    /// # Errors
    ///
    /// [`EngineError::Store`] when the store cannot list the repositories.
    pub fn sweep_worktrees(&self) -> Result<crate::worktree::Sweep, EngineError> {
        let repos: Vec<std::path::PathBuf> = self
            .store()
            .repos()?
            .into_iter()
            .map(|r| r.path.into())
            .collect();
        let mut sweep = self.git.sweep(&self.config, &repos, |task| {
            match self.store().task(task) {
                Ok(task) => task.status != TaskStatus::Done || task.keep_worktree,
                // Gone, or unreadable: an unreadable one is kept.
                Err(StoreError::NotFound { .. }) => false,
                Err(_) => true,
            }
        });
        // Judge trees live for one run; what a crash left is thrown away,
        // unless its job is running (another orch process on this home).
        sweep
            .removed
            .extend(judge::sweep(&self.git, &self.config, &repos, |job| {
                self.run_lives(job)
            }));
        // The runs' private folders a crash left behind.
        sweep
            .removed
            .extend(crate::sandbox::sweep_rooms(&self.config.home, |job| {
                self.run_lives(orch_store::JobId::new(job))
            }));
        Ok(sweep)
    }

    /// Whether a run of `job` may still be alive: the job is running, or a
    /// process (maybe stopped past its lease, its job rescued) holds its
    /// task's run lock.
    fn run_lives(&self, job: JobId) -> bool {
        self.store().job(job).is_ok_and(|job| {
            job.state == orch_store::JobState::Running
                || run_lock::is_held(&self.config.home, job.task.get())
        })
    }

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
        let claimed = self.store().claim(&self.owner, self.config.lease)?;
        let Some(claimed) = claimed else {
            return Ok(None);
        };
        let t0 = Instant::now();
        let (lease, job) = (claimed.lease, claimed.job.clone());
        // The run lock first: nothing of the job — not even the archive of
        // its stage's previous artifact — happens while another process's
        // run of it still lives (run_lock.rs).
        let _lock = match run_lock::try_lock(&self.config.home, job.task.get(), job.id.get()) {
            Ok(Locked::Held(lock)) => lock,
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
                return Ok(Some(JobReport {
                    detail: Some(why),
                    end,
                    took: t0.elapsed(),
                    ..JobReport::claimed(&job)
                }));
            }
            Err(error) => {
                let end = self.block(
                    lease,
                    &job,
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
                return Ok(Some(JobReport {
                    end,
                    took: t0.elapsed(),
                    ..JobReport::claimed(&job)
                }));
            }
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

    /// What a job that panicked becomes: given back to the queue after a
    /// backoff within the worktree's infra retries (a panic may be a
    /// moment's state), then its task blocked with an `internal_error`
    /// alert (a panic every time is a bug, and must not loop).
    fn after_panic(&self, lease: Lease, job: &Job, message: &str) -> Result<String, EngineError> {
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
    fn run_claimed(
        &self,
        claimed: Claimed,
        stop: &StopSignal,
        t0: Instant,
    ) -> Result<Option<JobReport>, EngineError> {
        let lease = claimed.lease;
        let job = claimed.job;
        let mut report = JobReport::claimed(&job);
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

    /// Runs the repository's setup command in the task's worktree when it
    /// is new (no mark of a finished setup in its git folder), before the
    /// first role; marks it when it passed.
    fn setup_worktree(&self, ctx: &JobContext, control: &RunControl) -> Result<(), SetupFailure> {
        if ctx.repo.setup_command.is_none() || !ctx.workspace.is_isolated() {
            return Ok(());
        }
        let marker = judge::setup_marker(&ctx.workspace.dir);
        if marker.as_ref().is_some_and(|m| m.exists()) {
            return Ok(());
        }
        judge::run_setup(
            &ctx.repo,
            &self.config,
            &ctx.workspace.dir,
            ctx.workspace.start.as_ref().map(|s| s.commit.as_str()),
            control,
            &ctx.task_dir.join("setup").join("worktree.output.log"),
        )?;
        if let Some(marker) = marker {
            // Without the mark the setup runs again at the next job: slower,
            // never wrong.
            let _ = std::fs::write(&marker, format!("job {}\n", ctx.job.id));
        }
        Ok(())
    }

    /// A job whose worktree's setup did not pass: a stop or a cancel ends it
    /// as any stopped run ends; a failure is deferred within the worktree's
    /// infra retries, then blocks the task with a `setup_failed` alert that
    /// quotes the setup's output. Never a rollback, never a developer retry.
    fn setup_unready(
        &self,
        lease: Lease,
        ctx: &JobContext,
        failure: SetupFailure,
        lost: bool,
        cancel_asked: bool,
    ) -> Result<JobEndKind, EngineError> {
        let why = match failure {
            SetupFailure::Cancelled if lost => return Ok(JobEndKind::LeaseLost),
            SetupFailure::Cancelled if cancel_asked => {
                return self.end_cancelled(lease, ctx, None);
            }
            SetupFailure::Cancelled => {
                let released = self
                    .store()
                    .release(lease, "cancelled: the worker is stopping");
                return match released {
                    Ok(()) => Ok(JobEndKind::Released),
                    Err(StoreError::LeaseLost { .. }) => Ok(JobEndKind::LeaseLost),
                    Err(StoreError::CancelRequested { .. }) => self.end_cancelled(lease, ctx, None),
                    Err(error) => Err(error.into()),
                };
            }
            SetupFailure::Failed(why) => why,
        };
        let job = &ctx.job;
        let settings = &self.config.worktree;
        if job.infra_attempts < settings.infra_retries {
            let retry_in = backoff(settings.defer, job.infra_attempts);
            let deferred = self.store().defer(lease, retry_in, &why, None);
            return match deferred {
                Ok(_) => Ok(JobEndKind::Deferred { retry_in }),
                Err(StoreError::LeaseLost { .. }) => Ok(JobEndKind::LeaseLost),
                Err(StoreError::CancelRequested { .. }) => self.end_cancelled(lease, ctx, None),
                Err(error) => Err(error.into()),
            };
        }
        self.block(
            lease,
            job,
            None,
            &AlertSpec {
                kind: crate::reserved::SETUP_FAILED,
                message: format!(
                    "task {} ({}) is blocked at {}: its worktree's setup failed {} times: {why}. Fix the setup (orch repo update {} --setup-cmd ...) or the host, then `orch task retry {}`",
                    ctx.task.id,
                    ctx.repo.name,
                    ctx.stage,
                    job.infra_attempts + 1,
                    ctx.repo.name,
                    ctx.task.id
                ),
            },
        )
    }

    /// The shadow runner, after the LLM role: given the job as it ended
    /// (`workspace.start` names the commit the role ended on, which orch has
    /// just committed, so the tree is clean).
    fn shadow_after(
        &self,
        ctx: &JobContext,
        tree: Option<&(JobCommits, TestedTree)>,
        control: &RunControl,
    ) -> Option<ShadowRun> {
        let mut ended = ctx.clone();
        if let (Some((commits, _)), Some(start)) = (tree, &ctx.workspace.start)
            && let Some(end) = &commits.end
        {
            ended.workspace.start = Some(TreeState {
                commit: end.clone(),
                branch: start.branch.clone(),
                changed: 0,
            });
        }
        run_shadow(&ended, &self.config, &self.intercepts, control)
    }

    /// A shadow pair that disagrees on the same commit: the runner runs once
    /// more on that commit, so that a flaky suite (two runner verdicts that
    /// differ) is told from a wrong verdict and kept out of the switching
    /// decision. One re-run at most; none when the pair agrees, is about two
    /// commits, or the runner gave no verdict.
    fn rerun_on_disagreement(
        &self,
        ctx: &JobContext,
        tree: Option<&(JobCommits, TestedTree)>,
        first: ShadowRun,
        control: &RunControl,
    ) -> ShadowPair {
        let llm = gate_verdict(ctx);
        let same_commit = first.commit == tree.map(|(_, judged)| judged.commit.clone());
        let disagrees = first.verdict.is_some_and(|runner| runner != llm);
        let rerun = (same_commit && disagrees && !control.is_cancelled())
            .then(|| self.shadow_after(ctx, tree, control))
            .flatten()
            // A second run on another commit would compare nothing.
            .filter(|second| second.commit == first.commit);
        ShadowPair { first, rerun }
    }

    /// Watches the lease every tick (at most 100 ms apart) until the run
    /// ends, and extends it every third of its length. Each tick reads the
    /// job by primary key: the run is cancelled at once when the lease is
    /// lost (the job is no longer running under this lease's token: it was
    /// rescued, maybe claimed by another worker) or has lapsed unrenewed
    /// (its expiry passed, say while the database was write-locked or this
    /// process was stopped: a rescuer may take it any moment), when a stop
    /// is asked, or when an operator asked to cancel the job.
    fn heartbeat(
        &self,
        lease: Lease,
        done: &mpsc::Receiver<()>,
        stop: &StopSignal,
        control: &RunControl,
        lease_lost: &AtomicBool,
        cancel_asked: &AtomicBool,
    ) {
        let every = (self.config.lease / 3).max(Duration::from_millis(10));
        let tick = every.min(Duration::from_millis(100));
        // Checked: a lease too long for the clock beats every tick instead
        // of panicking (the binary refuses one past 7 days).
        let beat_after = |now: Instant| now.checked_add(every).unwrap_or(now);
        let mut next_beat = beat_after(Instant::now());
        let lose = || {
            lease_lost.store(true, Ordering::SeqCst);
            control.cancel();
        };
        loop {
            match done.recv_timeout(tick) {
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => {}
            }
            if stop.is_stopped() && !control.is_cancelled() {
                control.cancel();
            }
            if lease_lost.load(Ordering::SeqCst) {
                continue;
            }
            // One read by primary key: the lease and the operator's cancel.
            let seen = {
                let store = self.store();
                store.job(lease.job).map(|job| (job, store.now_ms()))
            };
            match seen {
                Ok((job, now)) => {
                    let held = job.state == orch_store::JobState::Running
                        && job.lease_token == lease.token
                        && job.lease.as_ref().is_some_and(|l| l.expires_ms > now);
                    if !held {
                        lose();
                        continue;
                    }
                    if job.cancel_requested_ms.is_some() && !cancel_asked.load(Ordering::SeqCst) {
                        cancel_asked.store(true, Ordering::SeqCst);
                        control.cancel();
                    }
                }
                // Gone: it cannot be ours any more.
                Err(StoreError::NotFound { .. }) => {
                    lose();
                    continue;
                }
                // A transient failure: the next tick reads again; a lease
                // that lapses meanwhile is lost at the first read that works.
                Err(_) => {}
            }
            if Instant::now() >= next_beat {
                next_beat = beat_after(Instant::now());
                match self.store().heartbeat(lease, self.config.lease) {
                    Ok(_) => {}
                    Err(StoreError::LeaseLost { .. }) => lose(),
                    // A transient failure: the next beat tries again, and the
                    // lease is three beats long.
                    Err(_) => {}
                }
            }
        }
    }

    /// Resolves a claimed job into what its role needs, and archives the
    /// stage's previous artifact.
    fn resolve(&self, job: &Job) -> Result<JobContext, Unresolved> {
        let internal = |e: &dyn std::fmt::Display| Unresolved::Internal(e.to_string());
        let stage: Stage = job.stage.parse().map_err(|e| internal(&e))?;
        let role: Role = job.role.parse().map_err(|e| internal(&e))?;
        let Some(spec) = stage.artifact() else {
            return Err(Unresolved::Internal(format!(
                "stage {stage} has no artifact: a terminal state runs no job"
            )));
        };
        let (task, repo, history) = {
            let store = self.store();
            let task = store.task(job.task).map_err(|e| internal(&e))?;
            let repo = store.repo(task.repo).map_err(|e| internal(&e))?;
            let history = store.transitions(job.task).map_err(|e| internal(&e))?;
            (task, repo, history)
        };
        let task_dir = self.config.task_dir(task.id.get());
        let artifact = workspace::artifact_path(&task_dir, spec);
        workspace::archive_previous(&task_dir, &artifact).map_err(|error| {
            Unresolved::Internal(format!(
                "cannot archive the previous artifact in {}: {error}; check that orch's home is writable",
                task_dir.display()
            ))
        })?;
        // Where a clean tree is evidence (what a suite ran on, what is
        // deployed), no path may hide from git status.
        let strict = matches!(stage, Stage::Testing | Stage::DeployStaging | Stage::Deploy);
        let tree = match task.isolation {
            TaskIsolation::Checkout => Workspace::checkout(&repo),
            TaskIsolation::Worktree => self
                .git
                .prepare(&self.config, &task, &repo, strict, |branch, dir| {
                    self.store()
                        .set_task_worktree(task.id, branch, &dir.to_string_lossy())
                        .map_err(|e| e.to_string())
                })
                .map_err(Unresolved::Workspace)?,
        };
        // What deploy may deploy: the tree of the latest deploy-staging
        // verdict, and only if that one passed. A later failing run of
        // staging outweighs an earlier pass, of the same commit or not.
        let latest_staging = crate::context::StagingVerdict::latest(&history);
        let tested = latest_staging
            .as_ref()
            .and_then(crate::context::StagingVerdict::tested);
        // On a rollback, the reasons of the gates that sent the task back.
        let rollback_reasons = history
            .last()
            .filter(|t| t.to_stage == job.stage && t.from_stage != job.stage)
            .map(|t| {
                t.decisions
                    .iter()
                    .filter(|d| !d.passed)
                    .map(|d| format!("{} at {}: {}", d.gate, t.from_stage, d.reason))
                    .collect()
            })
            .unwrap_or_default();
        Ok(JobContext {
            earlier_artifacts: workspace::earlier_artifacts(&task_dir, stage),
            job: job.clone(),
            task,
            repo,
            stage,
            role,
            spec,
            task_dir,
            artifact,
            rollback_reasons,
            workspace: tree,
            tested,
            latest_staging,
        })
    }

    /// A job whose worktree could not be made: deferred while waiting may
    /// mend it and the retries last; otherwise (tampering, or the retries
    /// spent) the task is blocked with an alert.
    fn workspace_unready(
        &self,
        lease: Lease,
        job: &Job,
        error: &WorktreeError,
    ) -> Result<JobEndKind, EngineError> {
        let settings = &self.config.worktree;
        if error.is_transient() && job.infra_attempts < settings.infra_retries {
            let retry_in = backoff(settings.defer, job.infra_attempts);
            let deferred = self
                .store()
                .defer(lease, retry_in, &error.to_string(), None);
            return match deferred {
                Ok(_) => Ok(JobEndKind::Deferred { retry_in }),
                Err(StoreError::LeaseLost { .. }) => Ok(JobEndKind::LeaseLost),
                Err(StoreError::CancelRequested { .. }) => self.cancelled_without_run(lease),
                Err(error) => Err(error.into()),
            };
        }
        let (kind, why) = if error.is_transient() {
            (
                AlertKind::WorktreeUnavailable,
                format!(
                    "its worktree could not be made {} times: {error}",
                    job.infra_attempts + 1
                ),
            )
        } else {
            (AlertKind::WorktreeTampered, error.to_string())
        };
        self.block(
            lease,
            job,
            None,
            &AlertSpec {
                kind,
                message: format!("task {} is blocked at {}: {why}", job.task, job.stage),
            },
        )
    }

    /// The tree a stage's verdict is about, for its gate evidence and the
    /// job's row: after an LLM role, orch commits what it changed (and
    /// refuses a role that moved HEAD or reset the branch); a suite runner's
    /// verdict (staging, or tests in mode `on`) is about the commit it ran
    /// on, clean only if the tree stayed exactly that commit; any other
    /// reserved agent leaves the tree as it found it. `None` for a checkout
    /// task.
    fn stage_tree(
        &self,
        ctx: &JobContext,
        spawned: bool,
    ) -> Result<Option<(JobCommits, TestedTree)>, WorktreeError> {
        let Some(start) = &ctx.workspace.start else {
            return Ok(None);
        };
        let end = if spawned {
            let message = format!(
                "orch: task {} {} ({})\n\nTask: {}\nJob: {}\n",
                ctx.task.id, ctx.stage, ctx.role, ctx.task.title, ctx.job.id
            );
            self.git
                .commit_role(ctx.task.id, &ctx.workspace, &message)?
        } else if ran_suite(ctx.stage) {
            self.git.workspace_state(&ctx.workspace)?
        } else {
            start.clone()
        };
        // What the verdict is about: the tree a suite ran on — the staging
        // suite's, whoever ran it (an LLM deployer that changed the tree
        // leaves a verdict whose tree is not clean, so the deploy refuses),
        // and the test runner's; an LLM tester's verdict is about the tree
        // it leaves, its own new tests included.
        let judged_by_start =
            ctx.stage == Stage::DeployStaging || (ran_suite(ctx.stage) && !spawned);
        let judged = if judged_by_start {
            TestedTree {
                commit: start.commit.clone(),
                clean: start.is_clean() && end.commit == start.commit && end.is_clean(),
            }
        } else {
            TestedTree {
                commit: end.commit.clone(),
                clean: end.is_clean(),
            }
        };
        let commits = JobCommits {
            start: Some(start.commit.clone()),
            end: Some(end.commit),
        };
        Ok(Some((commits, judged)))
    }

    /// At `done`: the task's worktree is removed unless it is kept (its
    /// branch holds the work). A failure leaves it for the start-up sweep.
    fn finish_worktree(&self, ctx: &JobContext) {
        if !ctx.workspace.is_isolated() || ctx.task.keep_worktree {
            return;
        }
        if let Ok(true) = self
            .git
            .remove(std::path::Path::new(&ctx.repo.path), &ctx.workspace.dir)
        {
            let _ = self.store().clear_task_worktree(ctx.task.id);
        }
    }

    /// The gates read the artifact; the transition table decides; the job's
    /// end is written in one transaction.
    fn decide(
        &self,
        lease: Lease,
        ctx: &JobContext,
        record: &RunRecord,
        alert: Option<AlertSpec>,
        tree: Option<&(JobCommits, TestedTree)>,
        shadow: Option<(AgentRunId, &ShadowPair)>,
    ) -> Result<JobEndKind, EngineError> {
        let bytes = read_artifact(&ctx.artifact);
        let sha = bytes.as_deref().map(sha256_hex);
        let gates: Vec<GateResult> = gates_for(ctx.stage)
            .iter()
            .map(|gate| gate.evaluate(bytes.as_deref()))
            .collect();
        let verdict = if gates.iter().all(|g| g.passed) {
            Verdict::Pass
        } else {
            Verdict::Fail
        };
        let decision = match next_stage(
            ctx.stage,
            verdict,
            ctx.task.developer_retries,
            self.config.developer_retries,
        ) {
            Ok(decision) => decision,
            Err(error) => {
                return self.block(
                    lease,
                    &ctx.job,
                    Some(self.run_row(ctx, record)),
                    &AlertSpec {
                        kind: AlertKind::InternalError,
                        message: format!("task {}: {error}", ctx.task.id),
                    },
                );
            }
        };
        let status = match decision.to {
            Stage::Done => TaskStatus::Done,
            Stage::Blocked => TaskStatus::Blocked,
            Stage::Analysis
            | Stage::Architecture
            | Stage::Development
            | Stage::Review
            | Stage::Testing
            | Stage::DeployStaging
            | Stage::Deploy
            | Stage::PostDeploy => TaskStatus::Active,
        };
        let suite_note = self.suite_note(ctx, record, tree);
        let transition = NewTransition {
            task: ctx.task.id,
            from_stage: ctx.stage.as_str().to_owned(),
            to_stage: decision.to.as_str().to_owned(),
            status,
            developer_retries: decision.developer_retries,
            decisions: gates
                .iter()
                .map(|g| GateDecision {
                    gate: g.gate.name().to_owned(),
                    passed: g.passed,
                    verdict: g.verdict.clone(),
                    reason: match &suite_note {
                        Some(note) => format!("{}; {note}", g.reason),
                        None => g.reason.clone(),
                    },
                    artifact_sha256: sha.clone(),
                    commit_sha: tree.map(|(_, judged)| judged.commit.clone()),
                    tree_clean: tree.map(|(_, judged)| judged.clean),
                    sandbox: record.sandbox.map(|level| level.to_string()),
                })
                .collect(),
        };
        let next = decision
            .to
            .role()
            .map(|role| NewJob::new(ctx.task.id, decision.to.as_str(), role.as_str()));
        let failing: Vec<String> = gates
            .iter()
            .filter(|g| !g.passed)
            .map(|g| format!("{}: {}", g.gate.name(), g.reason))
            .collect();
        let blocked_alert = (decision.to == Stage::Blocked).then(|| {
            let (kind, why) = if decision.kind == DecisionKind::RetryBudgetSpent {
                (
                    AlertKind::RetryBudgetSpent,
                    format!(
                        "its developer-retry budget ({}) is spent",
                        self.config.developer_retries
                    ),
                )
            } else {
                (AlertKind::StageFailed, format!("stage {} failed", ctx.stage))
            };
            AlertSpec {
                kind,
                message: format!(
                    "task {} ({}) is blocked: {why} ({}{}); look at its artifacts (`orch task show {}`), then `orch task retry {}`",
                    ctx.task.id,
                    ctx.task.title,
                    failing.join("; "),
                    match record.outcome {
                        RunOutcome::Passed | RunOutcome::Skipped => String::new(),
                        RunOutcome::Failed
                        | RunOutcome::TimedOut
                        | RunOutcome::Deferred
                        | RunOutcome::Exhausted
                        | RunOutcome::Fallback
                        | RunOutcome::ToolError
                        | RunOutcome::Cancelled => format!("; the {} run: {}", record.role, record.detail),
                    },
                    ctx.task.id,
                    ctx.task.id
                ),
            }
        });
        // One alert per job end: a blocked task's alert says why, and names
        // the run's own alert (e.g. the staging runner's spent retries).
        let alert = match (alert, blocked_alert) {
            // The run's own kind is the more precise (deploy_refused,
            // staging_runner_exhausted); the message says both.
            (Some(run), Some(blocked)) => Some(AlertSpec {
                kind: run.kind,
                message: format!("{} ({})", blocked.message, run.message),
            }),
            (one, other) => one.or(other),
        };
        let row = self.run_row(ctx, record);
        // Shadow mode: the runner's verdict beside the LLM's, as the gate
        // took it.
        let shadow_row =
            shadow.map(
                |(runner_run, ShadowPair { first: run, rerun })| NewShadowVerdict {
                    stage: ctx.stage.as_str().to_owned(),
                    runner_run,
                    commit: run.commit.clone(),
                    llm_commit: tree.map(|(_, judged)| judged.commit.clone()),
                    runner_verdict: run.verdict.map(str::to_owned),
                    llm_verdict: if verdict == Verdict::Pass {
                        VERDICT_PASSED
                    } else {
                        VERDICT_FAILED
                    }
                    .to_owned(),
                    // Only the test runner has a shadow mode: its command is the
                    // repository's test command.
                    command_sha: ctx
                        .repo
                        .test_command
                        .as_deref()
                        .map(orch_store::command_sha256),
                    rerun_verdict: rerun.as_ref().and_then(|r| r.verdict).map(str::to_owned),
                },
            );
        let alert_row = alert.as_ref().map(|a| NewAlert {
            kind: a.kind,
            message: a.message.clone(),
            task: Some(ctx.task.id),
            job: Some(ctx.job.id),
        });
        let end = JobEnd {
            transition: Some(&transition),
            next: next.as_ref(),
            run: Some(&row),
            alert: alert_row.as_ref(),
            commits: tree.map(|(commits, _)| commits),
            shadow: shadow_row.as_ref(),
        };
        let completed = self.store().complete_with_transition(lease, &end);
        match completed {
            Ok(_) => Ok(JobEndKind::Transition {
                from: ctx.stage,
                to: decision.to,
                kind: decision.kind,
                gates,
            }),
            Err(StoreError::LeaseLost { .. }) => Ok(JobEndKind::LeaseLost),
            Err(StoreError::StageMismatch { .. }) => Ok(JobEndKind::Superseded),
            // The operator's cancel arrived after the run ended, before this
            // end: it wins, whatever the gates decided.
            Err(StoreError::CancelRequested { .. }) => self.end_cancelled(lease, ctx, Some(record)),
            Err(error) => Err(error.into()),
        }
    }

    /// For the gate evidence of a verdict a suite runner gave in a judge tree
    /// with the suite pinned: what the task changed under suite paths since
    /// the version the suite was restored to. `None` otherwise; a git
    /// failure here is said in the note, never a reason to fail the job.
    fn suite_note(
        &self,
        ctx: &JobContext,
        record: &RunRecord,
        tree: Option<&(JobCommits, TestedTree)>,
    ) -> Option<String> {
        let suite_runner = record.transport == orch_store::Transport::Deterministic
            && ran_suite(ctx.stage)
            && record.outcome != RunOutcome::Skipped;
        if !suite_runner || ctx.repo.suite_paths.is_empty() {
            return None;
        }
        let (pin, (_, judged)) = (judge::Pin::of(&ctx.task)?, tree?);
        let changes = judge::suite_changes(
            &self.git,
            &ctx.workspace.dir,
            &pin.commit,
            &judged.commit,
            &ctx.repo.suite_paths,
        );
        Some(match changes {
            Ok(changes) => format!(
                "suite paths changed by the task since {}: {}",
                pin.describe(),
                judge::describe_changes(&changes)
            ),
            Err(error) => format!("the suite's changes could not be read: {error}"),
        })
    }

    /// Fails the job and blocks its task with an alert, in one transaction.
    fn block(
        &self,
        lease: Lease,
        job: &Job,
        run: Option<NewAgentRun>,
        alert: &AlertSpec,
    ) -> Result<JobEndKind, EngineError> {
        let store = self.store();
        let task = store.task(job.task)?;
        let transition = NewTransition {
            task: task.id,
            from_stage: task.stage.clone(),
            to_stage: Stage::Blocked.as_str().to_owned(),
            status: TaskStatus::Blocked,
            developer_retries: task.developer_retries,
            decisions: Vec::new(),
        };
        let alert_row = NewAlert {
            kind: alert.kind,
            message: alert.message.clone(),
            task: Some(task.id),
            job: Some(job.id),
        };
        let end = JobEnd {
            transition: Some(&transition),
            next: None,
            run: run.as_ref(),
            alert: Some(&alert_row),
            commits: None,
            shadow: None,
        };
        match store.fail(lease, &alert.message, &end) {
            Ok(_) => Ok(JobEndKind::Blocked { alert: alert.kind }),
            Err(StoreError::LeaseLost { .. }) => Ok(JobEndKind::LeaseLost),
            Err(StoreError::StageMismatch { .. }) => Ok(JobEndKind::Superseded),
            Err(StoreError::CancelRequested { .. }) => {
                match store.end_cancelled(lease, run.as_ref()) {
                    Ok(_) => Ok(JobEndKind::Blocked {
                        alert: AlertKind::Cancelled,
                    }),
                    Err(StoreError::LeaseLost { .. }) => Ok(JobEndKind::LeaseLost),
                    Err(error) => Err(error.into()),
                }
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Ends a cancelled job that has no resolved context (nothing ran).
    fn cancelled_without_run(&self, lease: Lease) -> Result<JobEndKind, EngineError> {
        match self.store().end_cancelled(lease, None) {
            Ok(_) => Ok(JobEndKind::Blocked {
                alert: AlertKind::Cancelled,
            }),
            Err(StoreError::LeaseLost { .. }) => Ok(JobEndKind::LeaseLost),
            Err(error) => Err(error.into()),
        }
    }

    /// A job whose earlier claim started an at-most-once side effect (a
    /// deploy) and never wrote its end: the outcome is unknown, so the
    /// command is not run again; the task is blocked with a
    /// `deploy_interrupted` alert naming the commit and what to check.
    /// `None` when there is no such effect.
    fn interrupted(&self, lease: Lease, job: &Job) -> Result<Option<JobEndKind>, EngineError> {
        let Some(effect) = self.store().interrupted_effect(lease)? else {
            return Ok(None);
        };
        let what = effect.commit.as_deref().map_or_else(
            || "the repository's folder (not a git repository: no commit names it)".to_owned(),
            |c| format!("commit {c}"),
        );
        let message = format!(
            "task {task}: its {kind} of {what} started (job {job}, claim {token}, at {at} ms since the epoch) but that claim's end was never written: its worker died, was stopped, or could not write to the database, so whether the {kind} finished is unknown, and it was not run again. Check the deploy target: which version is live, whether the deploy command's own log shows it finished, whether the service is healthy. Then decide: `orch task retry {task} --stage deploy --reason '...'` runs the {kind} again; `orch task retry {task} --stage post-deploy --reason '...'` goes on if it is live",
            task = job.task,
            kind = effect.kind,
            job = job.id,
            token = effect.lease_token,
            at = effect.started_ms,
        );
        self.block(
            lease,
            job,
            None,
            &AlertSpec {
                kind: crate::reserved::DEPLOY_INTERRUPTED,
                message,
            },
        )
        .map(Some)
    }

    /// The gate a run's side effects pass ([`RunControl::begin_effect`]):
    /// their start written to the store, fenced by `lease`.
    fn effect_gate(&self, lease: Lease) -> crate::context::EffectGate {
        let store = Arc::clone(&self.store);
        Arc::new(move |effect: &crate::context::EffectStart| {
            let start = orch_store::NewEffect {
                kind: effect.kind.to_owned(),
                commit: effect.commit.clone(),
                repeatable: effect.repeatable,
            };
            let begun = store
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .begin_effect(lease, &start);
            match begun {
                Ok(_) => Ok(()),
                Err(
                    error @ (StoreError::LeaseLost { .. } | StoreError::CancelRequested { .. }),
                ) => Err(crate::context::EffectRefused::Fenced(error.to_string())),
                Err(error) => Err(crate::context::EffectRefused::Unrecorded(error.to_string())),
            }
        })
    }

    /// Ends a job an operator cancelled: its artifact and sidecars, however
    /// far they were written, go to the attempt archive (no gate or reader
    /// takes them for the stage's work), then the job fails and the task is
    /// blocked with reason `cancelled`, in one transaction with the run.
    fn end_cancelled(
        &self,
        lease: Lease,
        ctx: &JobContext,
        record: Option<&RunRecord>,
    ) -> Result<JobEndKind, EngineError> {
        if workspace::archive_previous(&ctx.task_dir, &ctx.artifact).is_err() {
            let _ = std::fs::remove_file(&ctx.artifact);
        }
        let row = record.map(|r| self.run_row(ctx, r));
        // Bound first: the guard must be dropped before the lost-lease arm
        // takes the store again to record the run.
        let ended = self.store().end_cancelled(lease, row.as_ref());
        match ended {
            Ok(_) => Ok(JobEndKind::Blocked {
                alert: AlertKind::Cancelled,
            }),
            Err(StoreError::LeaseLost { .. }) => {
                if let Some(row) = &row {
                    self.store().record_agent_run(row)?;
                }
                Ok(JobEndKind::LeaseLost)
            }
            Err(error) => Err(error.into()),
        }
    }

    /// The `agent_runs` row of a run.
    fn run_row(&self, ctx: &JobContext, record: &RunRecord) -> NewAgentRun {
        let started_ms = epoch_ms(record.started);
        let duration_ms = i64::try_from(record.duration.as_millis()).unwrap_or(i64::MAX);
        NewAgentRun {
            job: ctx.job.id,
            task: ctx.task.id,
            role: record.role.clone(),
            stage: ctx.stage.as_str().to_owned(),
            transport: record.transport,
            started_ms,
            ended_ms: started_ms.saturating_add(duration_ms),
            duration_ms,
            exit_code: record.exit_code,
            outcome: record.outcome.as_str().to_owned(),
            cost_usd: record.usage.cost_usd,
            tokens_in: record.usage.input_tokens,
            tokens_out: record.usage.output_tokens,
            sandbox: record.sandbox.map(|level| level.to_string()),
            cache_read_tokens: record.usage.cache_read_tokens,
            cache_write_tokens: record.usage.cache_creation_tokens,
            model: record.usage.model.clone(),
            cost_source: record.usage.cost_source().map(str::to_owned),
        }
    }
}

/// Whether a deterministic run at `stage` was a suite runner's (the staging
/// suite, or the tests in mode `on`), whose verdict is about the tree it
/// started on.
fn ran_suite(stage: Stage) -> bool {
    matches!(stage, Stage::DeployStaging | Stage::Testing)
}

/// The artifact's bytes, or `None` when it is missing, not a regular file, or
/// larger than [`MAX_ARTIFACT_BYTES`] (the gate then fails closed).
/// A shadow runner's run beside the LLM role, and its re-run on the same
/// commit when the two verdicts disagreed.
struct ShadowPair {
    first: ShadowRun,
    rerun: Option<ShadowRun>,
}

/// The LLM role's verdict as the stage's gates take it from its artifact
/// (`PASSED` when every gate passes): what [`Engine::decide`] will decide
/// on, read before it to know whether a shadow pair disagrees.
fn gate_verdict(ctx: &JobContext) -> &'static str {
    let bytes = read_artifact(&ctx.artifact);
    if gates_for(ctx.stage)
        .iter()
        .all(|gate| gate.evaluate(bytes.as_deref()).passed)
    {
        VERDICT_PASSED
    } else {
        VERDICT_FAILED
    }
}

fn read_artifact(path: &Path) -> Option<Vec<u8>> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_ARTIFACT_BYTES {
        return None;
    }
    std::fs::read(path).ok()
}

/// Lower-case hex sha256.
fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Milliseconds since the epoch, for records made outside the store.
#[must_use]
pub fn epoch_ms(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
