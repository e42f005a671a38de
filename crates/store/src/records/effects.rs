//! A side effect outside orch as started and as stored.

use crate::types::{JobId, LeaseToken, TaskId};

/// A side effect a job's run is about to start ([`Store::begin_effect`](crate::Store::begin_effect)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewEffect {
    /// What it is, e.g. `deploy` (the store knows no names; the launcher's).
    pub kind: String,
    /// The commit it is about (what is deployed); `None` without a worktree.
    pub commit: Option<String>,
    /// Whether it may run again after an interruption (read-only probes);
    /// `false`: at most once.
    pub repeatable: bool,
}

impl NewEffect {
    /// An effect about no particular commit.
    #[must_use]
    pub fn new(kind: impl Into<String>, repeatable: bool) -> Self {
        Self {
            kind: kind.into(),
            commit: None,
            repeatable,
        }
    }

    /// Sets [`NewEffect::commit`].
    #[must_use]
    pub fn with_commit(mut self, commit: Option<String>) -> Self {
        self.commit = commit;
        self
    }
}

/// A side effect as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Effect {
    /// Its id (never reused).
    pub id: i64,
    /// The job whose run started it.
    pub job: JobId,
    /// That job's task.
    pub task: TaskId,
    /// What it is.
    pub kind: String,
    /// The commit it is about.
    pub commit: Option<String>,
    /// The fencing token of the claim that started it.
    pub lease_token: LeaseToken,
    /// Whether it may run again after an interruption.
    pub repeatable: bool,
    /// When it was recorded, just before the command started.
    pub started_ms: i64,
    /// When the end of that same claim was written (the outcome is known);
    /// `None`: it is not.
    pub ended_ms: Option<i64>,
    /// When an operator's retry acknowledged it.
    pub acknowledged_ms: Option<i64>,
}
