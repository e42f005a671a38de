//! What [`Engine::run_next`](crate::Engine::run_next) tells of one job: [`JobReport`] and [`JobEndKind`].

use std::time::Duration;

use orch_pipeline::{DecisionKind, GateResult, Role, Stage};
use orch_store::{AlertKind, Job, JobId, TaskId};

use crate::launch::{RunOutcome, ServedBy};

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

/// What [`Engine::run_next`](crate::Engine::run_next) did with one job.
///
/// `#[non_exhaustive]`: made by the engine only.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct JobReport {
    /// The job.
    pub job: JobId,
    /// Its task.
    pub task: TaskId,
    /// Its stage.
    pub stage: Stage,
    /// Its role.
    pub role: Role,
    /// Who served it: a reserved agent, the LLM, or nobody.
    pub served: ServedBy,
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
    /// Its task's title (empty when it could not be read).
    pub title: String,
    /// What its run cost, in US dollars, when it ran and the transport
    /// reported (or priced) it.
    pub cost_usd: Option<f64>,
    /// When a shadow runner ran beside the LLM role and their verdicts
    /// differ: what each said (for the serve log).
    pub shadow_disagreement: Option<String>,
}

impl JobReport {
    /// The reserved agent that claimed the job, if one did.
    #[must_use]
    pub fn intercepted_by(&self) -> Option<&'static str> {
        self.served.intercepted_by()
    }

    /// Whether the LLM transport ran.
    #[must_use]
    pub fn spawned(&self) -> bool {
        self.served.spawned()
    }

    /// The report of a job just claimed, before anything happened to it.
    pub(super) fn claimed(job: &Job) -> JobReport {
        JobReport {
            job: job.id,
            task: job.task,
            stage: job.stage,
            role: job.role,
            served: ServedBy::Nobody,
            outcome: None,
            detail: None,
            end: JobEndKind::LeaseLost,
            took: Duration::ZERO,
            title: String::new(),
            cost_usd: None,
            shadow_disagreement: None,
        }
    }
}
