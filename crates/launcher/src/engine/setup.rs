//! The worktree's setup command before a task's first role, and a setup that did not pass.

use orch_store::{Lease, StoreError};

use crate::context::{JobContext, RunControl};
use crate::judge::{self, SetupFailure};
use crate::launch::AlertSpec;

use super::heartbeat::CancelCause;
use super::report::JobEndKind;
use super::{Engine, EngineError};

impl Engine {
    /// Runs the repository's setup command in the task's worktree when it
    /// is new (no mark of a finished setup in its git folder), before the
    /// first role; marks it when it passed.
    pub(super) fn setup_worktree(
        &self,
        ctx: &JobContext,
        control: &RunControl,
    ) -> Result<(), SetupFailure> {
        if ctx.repo.setup_command.is_none() || !ctx.workspace.is_isolated() {
            return Ok(());
        }
        let marker = judge::setup_marker(&ctx.workspace.dir);
        if marker.as_ref().is_some_and(|m| m.exists()) {
            return Ok(());
        }
        judge::run_setup(
            &ctx.repo,
            &self.config,
            &ctx.workspace.dir,
            ctx.workspace.start().map(|s| s.commit.as_str()),
            control,
            &ctx.task_dir.join("setup").join("worktree.output.log"),
        )?;
        if let Some(marker) = marker {
            // Without the mark the setup runs again at the next job: slower,
            // never wrong.
            let _ = std::fs::write(&marker, format!("job {}\n", ctx.job.id));
        }
        Ok(())
    }

    /// A job whose worktree's setup did not pass: a stop or a cancel ends it
    /// as any stopped run ends; a failure is deferred within the worktree's
    /// infra retries, then blocks the task with a `setup_failed` alert that
    /// quotes the setup's output. Never a rollback, never a developer retry.
    pub(super) fn setup_unready(
        &self,
        lease: Lease,
        ctx: &JobContext,
        failure: SetupFailure,
        cause: Option<CancelCause>,
    ) -> Result<JobEndKind, EngineError> {
        let why = match failure {
            SetupFailure::Cancelled => {
                return match cause {
                    Some(CancelCause::LeaseLost) => Ok(JobEndKind::LeaseLost),
                    Some(CancelCause::Operator) => self.end_cancelled(lease, ctx, None),
                    Some(CancelCause::Stop) | None => self.release_stopped(lease, ctx),
                };
            }
            SetupFailure::Failed(why) => why,
        };
        let job = &ctx.job;
        let settings = &self.config.worktree;
        if let Some(retry_in) = settings.retry.next(job.infra_attempts) {
            let deferred = self.store().defer(lease, retry_in, &why, None);
            return match deferred {
                Ok(_) => Ok(JobEndKind::Deferred { retry_in }),
                Err(StoreError::LeaseLost { .. }) => Ok(JobEndKind::LeaseLost),
                Err(StoreError::CancelRequested { .. }) => self.end_cancelled(lease, ctx, None),
                Err(error) => Err(error.into()),
            };
        }
        self.block(
            lease,
            job,
            None,
            &AlertSpec {
                kind: crate::reserved::SETUP_FAILED,
                message: format!(
                    "task {} ({}) is blocked at {}: its worktree's setup failed {} times: {why}. Fix the setup (orch repo update {} --setup-cmd ...) or the host, then `orch task retry {}`",
                    ctx.task.id,
                    ctx.repo.name,
                    ctx.stage,
                    job.infra_attempts + 1,
                    ctx.repo.name,
                    ctx.task.id
                ),
            },
        )
    }
}
