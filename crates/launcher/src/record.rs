//! What a run of a role left: its [`RunRecord`], an [`AlertSpec`] to raise,
//! and the [`Launch`] the engine turns into the job's end. Below `launch`
//! and `spawn`, which both build them (re-exported from `launch`).

use std::time::{Duration, SystemTime};

use orch_pipeline::Role;
use orch_process::exec::SandboxLevel;

use orch_store::{AlertKind, Transport};

use crate::usage::Usage;

/// How a run ended, as `agent_runs.outcome` records it: the store's type
/// (it counts by it), re-exported here where runs are recorded.
pub use orch_store::RunOutcome;

/// One run of a role, for its `agent_runs` row.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    /// The role that ran (the reserved agent's own role when one served it).
    pub role: Role,
    /// LLM or deterministic.
    pub transport: Transport,
    /// When it started.
    pub started: SystemTime,
    /// How long it took.
    pub duration: Duration,
    /// The main process's exit code, when it exited.
    pub exit_code: Option<i32>,
    /// How it ended.
    pub outcome: RunOutcome,
    /// Cost and tokens the agent reported (empty for deterministic runs).
    pub usage: Usage,
    /// One line on what happened, for logs and alerts.
    pub detail: String,
    /// What the kernel sandbox enforced for its process; `None` when no
    /// process ran (a refusal, a tool error before the start).
    pub sandbox: Option<SandboxLevel>,
}

/// An alert to raise with the job's end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertSpec {
    /// Its kind, e.g. [`AlertKind::StagingRunnerExhausted`].
    pub kind: AlertKind,
    /// What happened and what to do.
    pub message: String,
}

/// What became of a job's run; the engine turns it into the job's end.
#[derive(Debug, Clone, PartialEq)]
pub enum Launch {
    /// The role ran to an end; its artifact, if written, is in place and the
    /// stage's gates decide.
    Ran {
        /// The run.
        record: RunRecord,
        /// An alert to raise with it (e.g. the infra retries are spent).
        alert: Option<AlertSpec>,
    },
    /// The work could not start; try again after `retry_in`.
    Defer {
        /// The run that found it could not start.
        record: RunRecord,
        /// The backoff.
        retry_in: Duration,
    },
    /// The worker stopped the run (shutdown or a lost lease); the job is
    /// given back, not ended.
    Cancelled {
        /// The run, as far as it went.
        record: Option<RunRecord>,
    },
    /// The job cannot end by a transition (a spent budget, an agent that
    /// cannot be started): the task is blocked with an alert.
    Block {
        /// The run, if one happened.
        record: Option<RunRecord>,
        /// Why.
        alert: AlertSpec,
    },
}

impl Launch {
    /// The run's record, when there is one.
    #[must_use]
    pub fn record(&self) -> Option<&RunRecord> {
        match self {
            Launch::Ran { record, .. } | Launch::Defer { record, .. } => Some(record),
            Launch::Cancelled { record } | Launch::Block { record, .. } => record.as_ref(),
        }
    }

    /// The run's record, when there is one, to change.
    pub fn record_mut(&mut self) -> Option<&mut RunRecord> {
        match self {
            Launch::Ran { record, .. } | Launch::Defer { record, .. } => Some(record),
            Launch::Cancelled { record } | Launch::Block { record, .. } => record.as_mut(),
        }
    }
}
