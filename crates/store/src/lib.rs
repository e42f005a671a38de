//! The SQLite store of orch: the schema and its migrations, the jobs queue
//! with leases and fencing, the `agent_runs` cost record, alerts, and each
//! task's transition history with the evidence of every gate decision.
//!
//! Main types: [`Store`] (one connection; open one per thread on the same
//! file), [`Job`] and [`JobState`] (the queue's state machine), [`Lease`]
//! (a claim's job id and fencing [`LeaseToken`]), [`JobEnd`] (everything
//! written in the one transaction that ends a job), [`NewTransition`] and
//! [`GateDecision`] (a stage change and its evidence), [`NewAgentRun`] and
//! [`RoleStats`] and [`RunStats`] (what runs cost, per role, and per role,
//! stage and transport), [`QueueSnapshot`] (everything `GET /queue` shows,
//! read in one transaction), [`BootGuard`] (this process's boot, kept alive
//! by a `flock` the kernel drops when the process dies, so that several orch
//! processes can share a database), [`Clock`] (time is injected, in
//! milliseconds since the Unix epoch), and [`StoreError`]. The schema is the
//! one SQL text [`SCHEMA_SQL`], a golden-pinned contract; see
//! `docs/store.md` for the state machine, fencing, the rescue policy and the
//! durability settings.
//!
//! ```
//! use std::time::Duration;
//! use orch_store::{JobState, LeaseOwner, NewJob, NewRepo, Role, Stage, Store, TaskId};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path().join("orch.db"))?;
//! let repo = store.add_repo(&NewRepo::new("demo", "/srv/demo", "make staging"))?;
//! // The task and its first job, in one transaction (the job's task is the new one).
//! let first = NewJob::new(TaskId::new(0), Stage::DeployStaging, Role::Deployer);
//! let (task, job) = store.create_task(repo, "Add a health check", &first)?;
//!
//! // This process run's boot: alive for as long as the guard is held.
//! let boot = store.register_boot("boot-1")?;
//! store.rescue_dead_boots(boot.boot_id())?;
//! let me = LeaseOwner::new(boot.boot_id(), "worker-0");
//! let claimed = store.claim(&me, Duration::from_secs(60))?.ok_or("queue empty")?;
//! assert_eq!((claimed.lease.job, claimed.job.task), (job, task));
//! assert_eq!(claimed.job.state, JobState::Running);
//! store.heartbeat(claimed.lease, Duration::from_secs(60))?;
//! store.complete(claimed.lease)?;
//! assert_eq!(store.job(job)?.state, JobState::Done);
//! // The lease is spent: a second write with it is fenced off.
//! assert!(store.complete(claimed.lease).is_err());
//! assert_eq!(store.queue_snapshot(20)?.counts[2], (JobState::Done, 1));
//! # Ok(())
//! # }
//! ```
//!
//! What this crate deliberately does not do: it never spawns a process, reads
//! no artifact and computes no digest (callers hand it the sha256), and knows
//! no pipeline rules. Stages and roles are typed at its edge: its API takes
//! and returns `orch-pipeline`'s [`Stage`] and [`Role`], SQLite keeps their
//! text, and a row whose text names neither is a
//! [`StoreError::UnknownName`] naming the row. Which transition follows
//! which verdict, and how many infra retries a job may spend, are its
//! callers' decisions. The only stage and role it names itself are
//! [`Stage::Blocked`] (where poison blocks a task) and the runner roles
//! ([`STAGING_RUNNER_ROLE`], [`TEST_RUNNER_ROLE`]) it counts for the `/queue`
//! snapshot, with the outcome texts, and [`Store::run_stats`]. Its only orch
//! dependency is `orch-pipeline`, a pure leaf crate.
//!
//! Features: `bundled` (default) builds SQLite in; turn it off to link the
//! system's, for a program that already uses rusqlite without it. No rusqlite
//! type is in this crate's API: SQLite's failures are [`SqliteError`]s.
//!
//! Two deployment rules follow from SQLite itself: keep the database on a
//! local file system (WAL needs shared memory that network file systems do
//! not provide), and never fork a process while a [`Store`] is open (a
//! SQLite connection must not cross a `fork`).

mod boot_guard;
mod boots;
mod cancel;
mod checks;
mod error;
mod operator;
mod queue;
mod records;
mod rows;
mod shadow;
mod snapshot;
mod store;
mod tables;
mod types;

/// The stage and role types of the store's API (tasks, jobs, runs,
/// transitions), from `orch-pipeline`: stored as their text, parsed on read.
pub use orch_pipeline::{Role, Stage};

pub use boot_guard::BootGuard;
pub use boots::MAX_BOOT_ID_LEN;
pub use cancel::{CANCELLED, OPERATOR};
pub use error::{Result, SqliteError, StoreError};
pub use operator::{ABANDONED_PREFIX, Abandoned, CancelRequest, RemovedRepo, RepoChange, Retried};
pub use queue::{Advanced, Claimed, JobCommits, JobEnd, POISON_JOB_ALERT, Rescued};
pub use records::agent_runs::{AgentRun, NewAgentRun, RoleStats, RunStats};
pub use records::alerts::{Alert, NewAlert};
pub use records::effects::{Effect, NewEffect};
pub use records::jobs::{DEFAULT_MAX_ATTEMPTS, Job, JobLease, NewJob};
pub use records::repos::{NewRepo, Repo, SuiteNetwork};
pub use records::tasks::{NewTask, Task};
pub use records::transitions::{
    GateDecision, NewTransition, RunCost, Transition, VerdictEvent, VerdictHistory,
};
pub use shadow::{
    NewShadowVerdict, ShadowAgreement, ShadowEvidence, ShadowVerdict, VERDICT_FAILED,
    VERDICT_PASSED, command_sha256,
};
pub use snapshot::{
    OUTCOME_CANCELLED, OUTCOME_DEFERRED, OUTCOME_EXHAUSTED, OUTCOME_FAILED, OUTCOME_FALLBACK,
    OUTCOME_PASSED, OUTCOME_TIMED_OUT, OUTCOME_TOOL_ERROR, QueueSnapshot, QueuedJob, RunningJob,
    STAGING_RUNNER_ROLE, StagingRunnerRun, StagingRunnerStats, SuiteRunnerRun, SuiteRunnerStats,
    TEST_RUNNER_ROLE,
};
pub use store::{
    APPLICATION_ID, DEFAULT_BUSY_TIMEOUT, DEFAULT_POISON_RESCUES, SCHEMA_SQL, SCHEMA_VERSION,
    Store, StoreOptions, WalCheckpoint,
};
pub use tables::agent_runs::FAILED_OUTCOMES;
pub use types::{
    Actor, AgentRunId, AlertId, AlertKind, Clock, JobId, JobState, Lease, LeaseOwner, LeaseToken,
    ManualClock, ParseEnumError, RepoId, RunOutcome, SystemClock, TaskId, TaskIsolation,
    TaskStatus, TransitionId, Transport,
};
