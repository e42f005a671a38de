//! The engine: what a worker does with one job. An embedder drives orch with
//! [`Engine::run_next`] in a loop; the `orch` binary's workers do exactly that.
//!
//! For one job:
//! 1. claim the next due job (a lease that fences every later write);
//! 2. resolve it (task, repository, stage, role, artifact path) and move the
//!    stage's previous artifact and its sidecars into the task's attempt
//!    archive, so that no gate ever reads an earlier round's artifact;
//! 3. [`launch_job`](crate::launch_job) runs it — a reserved agent, or the LLM through `spawn` —
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
//!
//! One file per job of the engine:
//! - `create.rs`: task creation ([`TaskRequest`], [`CreatedTask`]);
//! - `run.rs`: [`Engine::run_next`] — claim, run lock, caught panic — and
//!   the run of a claimed job;
//! - `resolve.rs`: a claimed job into its [`JobContext`](crate::JobContext);
//! - `setup.rs`: the worktree's setup command before the first role;
//! - `heartbeat.rs`: the lease's heartbeat and the side effects' gate;
//! - `tree.rs`: the tree a stage's verdict is about; the worktree at `done`;
//! - `shadow.rs`: the shadow runner beside an LLM role;
//! - `artifact.rs`: the artifact as the gates read it, and the LLM's verdict
//!   a shadow pair is compared with (below `decide.rs` and `shadow.rs`);
//! - `decide.rs`: gates, transition table, the job's end written;
//! - `plan.rs`: the pure part of that end (verdict, move, status, alert),
//!   unit-tested without a store;
//! - `finish.rs`: the other ends (blocked, cancelled, interrupted) and the
//!   `agent_runs` row;
//! - `report.rs`: [`JobReport`], [`JobEndKind`];
//! - `sweep.rs`: the start-up sweep of what a crash left.

mod artifact;
mod create;
mod decide;
mod finish;
mod heartbeat;
mod plan;
mod report;
mod resolve;
mod run;
mod setup;
mod shadow;
mod sweep;
mod tree;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use orch_pipeline::Stage;
use orch_store::{JobId, LeaseOwner, Store, StoreError, TaskId};

use crate::config::LauncherConfig;
use crate::launch::Intercept;
use crate::reserved::default_intercepts;
use crate::worktree::{Git, WorktreeError};

pub use create::{CreatedTask, TaskRequest};
pub use report::{JobEndKind, JobReport};

pub use crate::settings::MAX_ARTIFACT_BYTES;

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

/// A worker's engine: one store connection, the configuration, and the
/// registry of reserved agents.
pub struct Engine {
    store: Arc<Mutex<Store>>,
    config: LauncherConfig,
    intercepts: Vec<Box<dyn Intercept>>,
    owner: LeaseOwner,
    spawns: AtomicU64,
    git: Git,
    /// Told of each job as its run starts (after the claim and the run
    /// lock): the serve log's start line.
    on_start: Option<OnStart>,
    /// The last sign of life of this engine (epoch ms): set at each claim
    /// attempt and each heartbeat tick of a running job.
    beat: Arc<AtomicI64>,
}

/// What an engine tells of a job whose run starts ([`Engine::with_on_start`]).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct JobStart<'a> {
    /// The job, as claimed.
    pub job: &'a orch_store::Job,
    /// Its task's title.
    pub title: &'a str,
}

/// A hook told of each job's start.
pub type OnStart = Arc<dyn Fn(&JobStart<'_>) + Send + Sync>;

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
            on_start: None,
            beat: Arc::new(AtomicI64::new(epoch_ms(SystemTime::now()))),
        }
    }

    /// Calls `hook` as each job's run starts (after its claim and run lock).
    #[must_use]
    pub fn with_on_start(mut self, hook: OnStart) -> Engine {
        self.on_start = Some(hook);
        self
    }

    /// The engine's last sign of life, in ms since the epoch, shared: set at
    /// each claim attempt and, while a job runs, at each heartbeat tick.
    #[must_use]
    pub fn beat(&self) -> Arc<AtomicI64> {
        Arc::clone(&self.beat)
    }

    /// Records a sign of life now.
    pub(super) fn beat_now(&self) {
        self.beat
            .store(epoch_ms(SystemTime::now()), Ordering::Relaxed);
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
}

/// Milliseconds since the epoch, for records made outside the store.
#[must_use]
pub fn epoch_ms(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
