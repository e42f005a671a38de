//! Creating a task: its first job, its worktree's base, in one transaction.

use orch_pipeline::Stage;
use orch_store::{JobId, NewJob, NewTask, RepoId, TaskId, TaskIsolation};

use crate::worktree::{Base, Checkout, WorktreeError};

use super::{Engine, EngineError};

/// A task to create with [`Engine::create_task_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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

    /// Sets [`TaskRequest::stage`].
    #[must_use]
    pub fn with_stage(mut self, stage: Stage) -> Self {
        self.stage = stage;
        self
    }

    /// Sets [`TaskRequest::base`].
    #[must_use]
    pub fn with_base(mut self, base: Option<String>) -> Self {
        self.base = base;
        self
    }

    /// Sets [`TaskRequest::keep_worktree`].
    #[must_use]
    pub fn with_keep_worktree(mut self, keep_worktree: bool) -> Self {
        self.keep_worktree = keep_worktree;
        self
    }
}

/// A task [`Engine::create_task_with`] created.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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

impl CreatedTask {
    /// A created task without a base (a checkout task's); for callers that
    /// render one without creating it.
    #[must_use]
    pub fn new(task: TaskId, job: JobId, isolation: TaskIsolation) -> Self {
        Self {
            task,
            job,
            isolation,
            base: None,
        }
    }

    /// Sets [`CreatedTask::base`].
    #[must_use]
    pub fn with_base(mut self, base: Option<Base>) -> Self {
        self.base = base;
        self
    }
}

impl Engine {
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
                let task = NewTask::in_worktree(&request.title, &base.commit)
                    .with_keep_worktree(request.keep_worktree);
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
        let first = NewJob::new(TaskId::new(0), stage, role);
        let (id, job) = self.store().create_task_with(repo.id, &task, &first)?;
        Ok(CreatedTask {
            task: id,
            job,
            isolation: task.isolation,
            base,
        })
    }
}
