//! The start-up clean-up of what a crash left: worktrees, judge trees, run folders.

use orch_store::{JobId, StoreError, TaskStatus};

use crate::judge;
use crate::run_lock;

use super::{Engine, EngineError};

impl Engine {
    /// The start-up clean-up of `home/worktrees`: the worktree of every task
    /// that no longer exists, or is done or abandoned and not kept, is
    /// removed (its
    /// branch stays); then `git worktree prune` runs in every repository.
    /// Judge trees and the runs' private folders (`home/runs`) a crash left
    /// behind go too, unless their run is alive.
    ///
    /// # Errors
    ///
    /// [`EngineError::Store`] when the store cannot list the repositories.
    pub fn sweep_worktrees(&self) -> Result<crate::worktree::Sweep, EngineError> {
        let repos: Vec<std::path::PathBuf> = self
            .store()
            .repos()?
            .into_iter()
            .map(|r| r.path.into())
            .collect();
        let mut sweep = self.git.sweep(&self.config, &repos, |task| {
            match self.store().task(task) {
                Ok(task) => {
                    let closed = task.status == TaskStatus::Done || task.abandoned_ms.is_some();
                    !closed || task.keep_worktree
                }
                // Gone, or unreadable: an unreadable one is kept.
                Err(StoreError::NotFound { .. }) => false,
                Err(_) => true,
            }
        });
        // Judge trees live for one run; what a crash left is thrown away,
        // unless its job is running (another orch process on this home).
        sweep
            .removed
            .extend(judge::sweep(&self.git, &self.config, &repos, |job| {
                self.run_lives(job)
            }));
        // The runs' private folders a crash left behind.
        sweep
            .removed
            .extend(crate::sandbox::sweep_rooms(&self.config.home, |job| {
                self.run_lives(orch_store::JobId::new(job))
            }));
        Ok(sweep)
    }

    /// Whether a run of `job` may still be alive: the job is running, or a
    /// process (maybe stopped past its lease, its job rescued) holds its
    /// task's run lock.
    pub(super) fn run_lives(&self, job: JobId) -> bool {
        self.store().job(job).is_ok_and(|job| {
            job.state == orch_store::JobState::Running
                || run_lock::is_held(&self.config.home, job.task.get())
        })
    }
}
