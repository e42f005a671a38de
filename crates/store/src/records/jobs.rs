//! A job as stored and as enqueued.

use orch_pipeline::{Role, Stage};

use crate::types::{JobId, JobState, LeaseOwner, LeaseToken, TaskId};

/// The per-job cap on crash rescues before a job is failed as poison, unless
/// [`NewJob::max_attempts`] says otherwise; the store's
/// `StoreOptions::poison_rescues` applies when it is lower.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// A job to put on the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewJob {
    /// The task the job works on.
    pub task: TaskId,
    /// The pipeline stage, as the pipeline names it.
    pub stage: Stage,
    /// The role that runs the stage, as the pipeline names it.
    pub role: Role,
    /// Claims that may be lost (crash, expired lease: crash rescues) before
    /// the job is failed as poison, at least 1; the store's
    /// `StoreOptions::poison_rescues` applies when it is lower.
    pub max_attempts: u32,
    /// The earliest time the job may be claimed; `None` means now.
    pub not_before_ms: Option<i64>,
}

impl NewJob {
    /// Sets [`NewJob::max_attempts`].
    #[must_use]
    pub fn with_max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts;
        self
    }

    /// Sets [`NewJob::not_before_ms`].
    #[must_use]
    pub fn with_not_before_ms(mut self, not_before_ms: Option<i64>) -> Self {
        self.not_before_ms = not_before_ms;
        self
    }

    /// A job due now, with [`DEFAULT_MAX_ATTEMPTS`].
    #[must_use]
    pub fn new(task: TaskId, stage: Stage, role: Role) -> Self {
        Self {
            task,
            stage,
            role,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            not_before_ms: None,
        }
    }
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Job {
    /// Its id.
    pub id: JobId,
    /// The task it works on.
    pub task: TaskId,
    /// The pipeline stage.
    pub stage: Stage,
    /// The role.
    pub role: Role,
    /// Where it is in the state machine.
    pub state: JobState,
    /// Claims spent: every claim counts, a deferral gives its claim back.
    pub attempts: u32,
    /// Its own cap on `rescues` before it is poison (the store's threshold
    /// applies when lower).
    pub max_attempts: u32,
    /// Deferrals so far (the work could not start).
    pub infra_attempts: u32,
    /// The earliest time the job may be claimed.
    pub run_after_ms: i64,
    /// The token of the latest claim (0 if never claimed).
    pub lease_token: LeaseToken,
    /// The current lease; `Some` exactly when the job is running.
    pub lease: Option<JobLease>,
    /// Why the latest deferral, failure or rescue happened.
    pub last_error: Option<String>,
    /// When it was enqueued.
    pub created_ms: i64,
    /// When it last changed.
    pub updated_ms: i64,
    /// The commit of the task's worktree when its role started (recorded
    /// with its end; `None` without a worktree).
    pub start_commit: Option<String>,
    /// The commit the stage ended on, after orch committed what the role
    /// changed (`None` without a worktree, or before the job ended).
    pub end_commit: Option<String>,
    /// Crash rescues so far: claims lost because the boot died or the lease
    /// expired. A release (a graceful stop) never counts; at the poison
    /// threshold the job is failed and its task blocked.
    pub rescues: u32,
    /// When an operator asked to cancel it (`orch task cancel`), if ever.
    pub cancel_requested_ms: Option<i64>,
    /// When its latest claim was taken (a running job's start; a heartbeat
    /// does not move it); `None` if never claimed.
    pub claimed_ms: Option<i64>,
}

/// The lease of a running job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLease {
    /// Who holds it.
    pub owner: LeaseOwner,
    /// When it expires unless extended by [`Store::heartbeat`](crate::Store::heartbeat).
    pub expires_ms: i64,
}
