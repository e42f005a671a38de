//! The launcher of orch: where a claimed job becomes deterministic work or an
//! LLM agent run, and where its end moves the task.
//!
//! - [`Workers`]: the worker loop of an orch process — worker threads each
//!   with its own engine, a rescue timer for dead boots and expired leases,
//!   the worktree sweep, WAL checkpoints, caught panics, health
//!   ([`Monitor`]) and the two-phase shutdown. `orch serve` and `orch work`
//!   are this, configured; an embedder gets the same crash rescue.
//! - [`Engine::run_next`]: claim the next due job, run it while heartbeating
//!   its lease, run the stage's gates, and write the job's end — transition
//!   with its gate evidence, next job, `agent_runs` row, alert — in one
//!   transaction. An embedder drives orch with the engine alone.
//! - [`launch_job`]: the ordered registry of reserved agents
//!   ([`reserved::default_intercepts`]: `deploy-finalizer`,
//!   `post-deploy-monitor`, `staging-runner`) is consulted first; the first
//!   that claims the job runs it; otherwise [`spawn`] starts the LLM agent.
//! - [`spawn`]: the one function that starts an LLM agent process (the
//!   configured command, the prompt on stdin, the process machinery's timeout
//!   and whole-tree kill).
//! - [`operator`]: the operator's retry of an ended task (the stage it goes
//!   back to and its role). A cancel is asked through the store
//!   (`Store::request_cancel`); the engine's heartbeat sees it and ends the
//!   job's process tree.
//! - [`repos`]: what a repository must be to be registered (a folder, once,
//!   a base ref that names a commit, ...), checked before it is stored.
//! - [`views`]: the typed JSON views of a task, a repository and an alert,
//!   as `orch` prints them.
//! - [`task_log`]: a task's output log, copied or followed without following
//!   a link planted in the task folder.
//!
//! ```no_run
//! use orch_launcher::{Engine, LauncherConfig, StopSignal};
//! use orch_store::{LeaseOwner, Store};
//!
//! orch_staging_runner::supervisor::main_if_requested();
//! let store = Store::open("/srv/orch/orch.db")?;
//! let engine = Engine::new(store, LauncherConfig::new("/srv/orch"), LeaseOwner::new("boot-1", "worker-0"));
//! let stop = StopSignal::default();
//! while let Some(report) = engine.run_next(&stop)? {
//!     println!("job {} of task {}: {:?}", report.job, report.task, report.end);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! What this crate never does: it reads no environment variable (it takes a
//! typed [`LauncherConfig`] that the binary fills), speaks no HTTP, and starts
//! no process except through `orch-staging-runner`'s machinery. Only
//! [`spawn`] starts an agent.

pub mod check;
mod config;
mod context;
mod engine;
pub mod judge;
mod launch;
pub mod operator;
pub mod preset;
pub mod prompt;
mod record;
pub mod repo_check;
pub mod repos;
pub mod reserved;
mod run_lock;
pub mod sandbox;
mod settings;
mod spawn;
pub mod stream;
pub mod task_log;
pub mod usage;
pub mod views;
mod workers;
pub mod workspace;
pub mod worktree;

pub use config::{
    AgentConfig, DeployConfig, LauncherConfig, ModelPrice, ParseModeError, PostDeployConfig,
    RepoScope, RetryPolicy, RunnerMode, SetupConfig, StagingRunnerConfig, SuiteRunnerConfig,
    WorktreeConfig,
};
pub use context::{EffectGate, EffectRefused, EffectStart, JobContext, RunControl, StagingVerdict};
pub use engine::{
    CreatedTask, Engine, EngineError, JobEndKind, JobReport, JobStart, MAX_ARTIFACT_BYTES, OnStart,
    StopSignal, TaskRequest, epoch_ms,
};
pub use launch::{
    AlertSpec, Intercept, Intercepted, Launch, Launched, RunOutcome, RunRecord, ServedBy,
    ShadowRun, launch_job, run_shadow,
};
pub use preset::{AgentKind, ParseAgentError, Preset};
pub use spawn::{agent_env, spawn};
pub use workers::{
    Event, Health, Monitor, RESCUE_EVERY, WorkerBeat, Workers, WorkersBuilder, WorkersError,
    boot_id,
};
