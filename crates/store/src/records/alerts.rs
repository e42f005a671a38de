//! An alert as raised and as stored.

use crate::types::{AlertId, AlertKind, JobId, TaskId};

/// An alert to raise.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewAlert {
    /// What it is about.
    pub kind: AlertKind,
    /// What happened and what to do, for an operator.
    pub message: String,
    /// The task concerned, if any.
    pub task: Option<TaskId>,
    /// The job concerned, if any.
    pub job: Option<JobId>,
}

impl NewAlert {
    /// An alert about nothing in particular (no task, no job).
    #[must_use]
    pub fn new(kind: AlertKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            task: None,
            job: None,
        }
    }

    /// Sets [`NewAlert::task`].
    #[must_use]
    pub fn with_task(mut self, task: Option<TaskId>) -> Self {
        self.task = task;
        self
    }

    /// Sets [`NewAlert::job`].
    #[must_use]
    pub fn with_job(mut self, job: Option<JobId>) -> Self {
        self.job = job;
        self
    }
}

/// A stored alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// Its id.
    pub id: AlertId,
    /// Its kind (an unknown text in the database is a typed error).
    pub kind: AlertKind,
    /// Its message.
    pub message: String,
    /// The task concerned, if any.
    pub task: Option<TaskId>,
    /// The job concerned, if any.
    pub job: Option<JobId>,
    /// When it was raised.
    pub created_ms: i64,
    /// When an operator acknowledged it.
    pub acknowledged_ms: Option<i64>,
}
