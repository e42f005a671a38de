//! Writing a job's end other than a transition: blocked with an alert,
//! cancelled, or interrupted; and the `agent_runs` row of a run.

use orch_store::{AlertKind, Job, JobEnd, Lease, NewAgentRun, StoreError};

use crate::context::JobContext;
use crate::launch::{AlertSpec, RunRecord};
use crate::workspace;

use super::plan::plan_block;
use super::report::JobEndKind;
use super::{Engine, EngineError, epoch_ms};

impl Engine {
    /// Fails the job and blocks its task with an alert, in one transaction.
    pub(super) fn block(
        &self,
        lease: Lease,
        job: &Job,
        run: Option<NewAgentRun>,
        alert: &AlertSpec,
    ) -> Result<JobEndKind, EngineError> {
        let store = self.store();
        let plan = plan_block(&store.task(job.task)?, job.id, alert);
        let end = JobEnd {
            transition: Some(&plan.transition),
            next: None,
            run: run.as_ref(),
            alert: Some(&plan.alert),
            commits: None,
            shadow: None,
        };
        match store.fail(lease, &alert.message, &end) {
            Ok(_) => Ok(JobEndKind::Blocked { alert: alert.kind }),
            Err(StoreError::LeaseLost { .. }) => Ok(JobEndKind::LeaseLost),
            Err(StoreError::StageMismatch { .. }) => Ok(JobEndKind::Superseded),
            Err(StoreError::CancelRequested { .. }) => {
                match store.end_cancelled(lease, run.as_ref()) {
                    Ok(_) => Ok(JobEndKind::Blocked {
                        alert: AlertKind::Cancelled,
                    }),
                    Err(StoreError::LeaseLost { .. }) => Ok(JobEndKind::LeaseLost),
                    Err(error) => Err(error.into()),
                }
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Gives a stopped job back to the queue (the worker is stopping); an
    /// operator's cancel recorded meanwhile ends it cancelled instead.
    pub(super) fn release_stopped(
        &self,
        lease: Lease,
        ctx: &JobContext,
    ) -> Result<JobEndKind, EngineError> {
        let released = self
            .store()
            .release(lease, "cancelled: the worker is stopping");
        match released {
            Ok(()) => Ok(JobEndKind::Released),
            Err(StoreError::LeaseLost { .. }) => Ok(JobEndKind::LeaseLost),
            Err(StoreError::CancelRequested { .. }) => self.end_cancelled(lease, ctx, None),
            Err(error) => Err(error.into()),
        }
    }

    /// Ends a cancelled job that has no resolved context (nothing ran).
    pub(super) fn cancelled_without_run(&self, lease: Lease) -> Result<JobEndKind, EngineError> {
        match self.store().end_cancelled(lease, None) {
            Ok(_) => Ok(JobEndKind::Blocked {
                alert: AlertKind::Cancelled,
            }),
            Err(StoreError::LeaseLost { .. }) => Ok(JobEndKind::LeaseLost),
            Err(error) => Err(error.into()),
        }
    }

    /// A job whose earlier claim started an at-most-once side effect (a
    /// deploy) and never wrote its end: the outcome is unknown, so the
    /// command is not run again; the task is blocked with a
    /// `deploy_interrupted` alert naming the commit and what to check.
    /// `None` when there is no such effect.
    pub(super) fn interrupted(
        &self,
        lease: Lease,
        job: &Job,
    ) -> Result<Option<JobEndKind>, EngineError> {
        let Some(effect) = self.store().interrupted_effect(lease)? else {
            return Ok(None);
        };
        let what = effect.commit.as_deref().map_or_else(
            || "the repository's folder (not a git repository: no commit names it)".to_owned(),
            |c| format!("commit {c}"),
        );
        let message = format!(
            "task {task}: its {kind} of {what} started (job {job}, claim {token}, at {at} ms since the epoch) but that claim's end was never written: its worker died, was stopped, or could not write to the database, so whether the {kind} finished is unknown, and it was not run again. Check the deploy target: which version is live, whether the deploy command's own log shows it finished, whether the service is healthy. Then decide: `orch task retry {task} --stage deploy --reason '...'` runs the {kind} again; `orch task retry {task} --stage post-deploy --reason '...'` goes on if it is live",
            task = job.task,
            kind = effect.kind,
            job = job.id,
            token = effect.lease_token,
            at = effect.started_ms,
        );
        self.block(
            lease,
            job,
            None,
            &AlertSpec {
                kind: crate::reserved::DEPLOY_INTERRUPTED,
                message,
            },
        )
        .map(Some)
    }

    /// Ends a job an operator cancelled: its artifact and sidecars, however
    /// far they were written, go to the attempt archive (no gate or reader
    /// takes them for the stage's work), then the job fails and the task is
    /// blocked with reason `cancelled`, in one transaction with the run.
    pub(super) fn end_cancelled(
        &self,
        lease: Lease,
        ctx: &JobContext,
        record: Option<&RunRecord>,
    ) -> Result<JobEndKind, EngineError> {
        if workspace::archive_previous(&ctx.task_dir, &ctx.artifact).is_err() {
            let _ = std::fs::remove_file(&ctx.artifact);
        }
        let row = record.map(|r| self.run_row(ctx, r));
        // Bound first: the guard must be dropped before the lost-lease arm
        // takes the store again to record the run.
        let ended = self.store().end_cancelled(lease, row.as_ref());
        match ended {
            Ok(_) => Ok(JobEndKind::Blocked {
                alert: AlertKind::Cancelled,
            }),
            Err(StoreError::LeaseLost { .. }) => {
                if let Some(row) = &row {
                    self.store().record_agent_run(row)?;
                }
                Ok(JobEndKind::LeaseLost)
            }
            Err(error) => Err(error.into()),
        }
    }

    /// The `agent_runs` row of a run.
    pub(super) fn run_row(&self, ctx: &JobContext, record: &RunRecord) -> NewAgentRun {
        let started_ms = epoch_ms(record.started);
        let duration_ms = i64::try_from(record.duration.as_millis()).unwrap_or(i64::MAX);
        NewAgentRun::new(
            ctx.job.id,
            ctx.task.id,
            record.role,
            ctx.stage,
            record.transport,
            record.outcome.as_str().to_owned(),
        )
        .with_started_ms(started_ms)
        .with_ended_ms(started_ms.saturating_add(duration_ms))
        .with_duration_ms(duration_ms)
        .with_exit_code(record.exit_code)
        .with_cost_usd(record.usage.cost_usd)
        .with_tokens_in(record.usage.input_tokens)
        .with_tokens_out(record.usage.output_tokens)
        .with_sandbox(record.sandbox.map(|level| level.to_string()))
        .with_cache_read_tokens(record.usage.cache_read_tokens)
        .with_cache_write_tokens(record.usage.cache_creation_tokens)
        .with_model(record.usage.model.clone())
        .with_cost_source(record.usage.cost_source().map(str::to_owned))
    }
}
