//! A task as stored and as created.

use orch_pipeline::Stage;

use crate::types::{RepoId, TaskId, TaskIsolation, TaskStatus};

/// A task as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Task {
    /// Its id.
    pub id: TaskId,
    /// The repository it works on.
    pub repo: RepoId,
    /// Its title.
    pub title: String,
    /// The stage it is at, as the pipeline names it.
    pub stage: Stage,
    /// Whether it is still moving.
    pub status: TaskStatus,
    /// Developer retries spent by rollbacks so far.
    pub developer_retries: u32,
    /// When it was added.
    pub created_ms: i64,
    /// When it last changed.
    pub updated_ms: i64,
    /// Where its roles work: its own worktree, or the repository's folder.
    pub isolation: TaskIsolation,
    /// The commit it started from (`None` without a worktree).
    pub base_commit: Option<String>,
    /// Its branch, once its first job named it (`None` without a worktree).
    pub branch: Option<String>,
    /// Its worktree folder, while it has one.
    pub worktree: Option<String>,
    /// The commit its latest stage ended on.
    pub head_commit: Option<String>,
    /// Whether its worktree is kept when it is done.
    pub keep_worktree: bool,
    /// The suite version an operator approved for it: the commit whose suite
    /// paths the judge tree restores instead of the base commit's.
    pub suite_commit: Option<String>,
    /// The sha256 of the suite's diff from the base commit to
    /// `suite_commit`.
    pub suite_diff_sha256: Option<String>,
    /// When an operator abandoned it (`orch task abandon`): it stays
    /// blocked, in the history, and is not retried. `None`: not abandoned.
    pub abandoned_ms: Option<i64>,
}

/// How a new task works: given to [`Store::create_task_with`](crate::Store::create_task_with).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewTask {
    /// Its title.
    pub title: String,
    /// Where its roles work.
    pub isolation: TaskIsolation,
    /// The commit it starts from: required for a worktree task (40 or 64
    /// lower-case hex digits), `None` for a checkout task.
    pub base_commit: Option<String>,
    /// Whether its worktree is kept when it is done.
    pub keep_worktree: bool,
}

impl NewTask {
    /// A task with the given isolation, no base commit and no kept worktree
    /// (a worktree task needs [`NewTask::with_base_commit`]).
    #[must_use]
    pub fn new(title: impl Into<String>, isolation: TaskIsolation) -> NewTask {
        NewTask {
            title: title.into(),
            isolation,
            base_commit: None,
            keep_worktree: false,
        }
    }

    /// Sets [`NewTask::base_commit`].
    #[must_use]
    pub fn with_base_commit(mut self, base_commit: Option<String>) -> Self {
        self.base_commit = base_commit;
        self
    }

    /// Sets [`NewTask::keep_worktree`].
    #[must_use]
    pub fn with_keep_worktree(mut self, keep_worktree: bool) -> Self {
        self.keep_worktree = keep_worktree;
        self
    }

    /// A task that works in the repository's own folder.
    #[must_use]
    pub fn in_checkout(title: impl Into<String>) -> NewTask {
        NewTask::new(title, TaskIsolation::Checkout)
    }

    /// A task that works in its own worktree, started from `base_commit`.
    #[must_use]
    pub fn in_worktree(title: impl Into<String>, base_commit: impl Into<String>) -> NewTask {
        NewTask::new(title, TaskIsolation::Worktree).with_base_commit(Some(base_commit.into()))
    }
}
