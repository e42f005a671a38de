//! What a role's run is given ([`JobContext`]) and how it is stopped from
//! another thread ([`RunControl`]).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use orch_pipeline::{ArtifactSpec, Role, Stage};
use orch_process::exec::Canceller;
use orch_store::{Job, Repo, Task};

use crate::worktree::{TestedTree, Workspace};

/// One claimed job, resolved: its task and repository, its stage and role as
/// pipeline values, and where its artifact goes.
#[derive(Debug, Clone)]
pub struct JobContext {
    /// The job as claimed.
    pub job: Job,
    /// Its task.
    pub task: Task,
    /// The task's repository.
    pub repo: Repo,
    /// The job's stage.
    pub stage: Stage,
    /// The job's role (the stage's assigned role).
    pub role: Role,
    /// The stage's artifact contract.
    pub spec: &'static ArtifactSpec,
    /// The task's folder.
    pub task_dir: PathBuf,
    /// The absolute path the artifact must be written to.
    pub artifact: PathBuf,
    /// The artifacts of earlier stages that exist.
    pub earlier_artifacts: Vec<PathBuf>,
    /// On a rollback, the reasons of the gates that failed.
    pub rollback_reasons: Vec<String>,
    /// Where the role works: the task's worktree (with its state when the
    /// job started), or the repository's checkout.
    pub workspace: Workspace,
    /// The tree the task's latest passing `deploy-staging` verdict is about,
    /// when one names a commit: what `deploy` may deploy.
    pub tested: Option<TestedTree>,
}

#[derive(Debug, Default)]
struct ControlState {
    cancelled: AtomicBool,
    current: Mutex<Option<Canceller>>,
}

/// Stops the run of a job from another thread (a heartbeat that lost its
/// lease, a shutdown), whichever process is running at the moment: a role
/// registers the canceller of each process it starts with
/// [`RunControl::attach`].
#[derive(Debug, Clone, Default)]
pub struct RunControl(Arc<ControlState>);

impl RunControl {
    /// Cancels the current process, and every one attached later.
    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
        if let Some(canceller) = self
            .0
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            canceller.cancel();
        }
    }

    /// Whether [`RunControl::cancel`] was called.
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::SeqCst)
    }

    /// Registers the canceller of a process just started; cancels it at once
    /// when the run was cancelled already.
    pub fn attach(&self, canceller: Canceller) {
        let mut current = self
            .0
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if self.is_cancelled() {
            canceller.cancel();
        }
        *current = Some(canceller);
    }
}
