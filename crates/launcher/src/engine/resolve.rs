//! Building a claimed job's [`JobContext`], and a worktree that could not be made.

use orch_pipeline::Stage;
use orch_store::{AlertKind, Job, Lease, StoreError, TaskIsolation};

use crate::context::JobContext;
use crate::launch::AlertSpec;
use crate::workspace;
use crate::worktree::{Workspace, WorktreeError};

use super::report::JobEndKind;
use super::{Engine, EngineError};

/// Why a claimed job could not be resolved into a run.
pub(super) enum Unresolved {
    /// It can never run as it is: the task is blocked.
    Internal(String),
    /// Its worktree could not be made or is not as the task left it.
    Workspace(WorktreeError),
}

impl Engine {
    /// Resolves a claimed job into what its role needs, and archives the
    /// stage's previous artifact.
    pub(super) fn resolve(&self, job: &Job) -> Result<JobContext, Unresolved> {
        let internal = |e: &dyn std::fmt::Display| Unresolved::Internal(e.to_string());
        let (stage, role) = (job.stage, job.role);
        let Some(spec) = stage.artifact() else {
            return Err(Unresolved::Internal(format!(
                "stage {stage} has no artifact: a terminal state runs no job"
            )));
        };
        let (task, repo, history) = {
            let store = self.store();
            let task = store.task(job.task).map_err(|e| internal(&e))?;
            let repo = store.repo(task.repo).map_err(|e| internal(&e))?;
            let history = store.transitions(job.task).map_err(|e| internal(&e))?;
            (task, repo, history)
        };
        let task_dir = self.config.task_dir(task.id.get());
        let artifact = workspace::artifact_path(&task_dir, spec);
        workspace::archive_previous(&task_dir, &artifact).map_err(|error| {
            Unresolved::Internal(format!(
                "cannot archive the previous artifact in {}: {error}; check that orch's home is writable",
                task_dir.display()
            ))
        })?;
        // Where a clean tree is evidence (what a suite ran on, what is
        // deployed), no path may hide from git status.
        // An exhaustive match: a new stage must be placed on one side.
        let strict = match stage {
            Stage::Testing | Stage::DeployStaging | Stage::Deploy => true,
            Stage::Analysis
            | Stage::Architecture
            | Stage::Development
            | Stage::Review
            | Stage::PostDeploy
            | Stage::Done
            | Stage::Blocked => false,
        };
        let tree = match task.isolation {
            TaskIsolation::Checkout => Workspace::checkout(&repo),
            TaskIsolation::Worktree => self
                .git
                .prepare(&self.config, &task, &repo, strict, |branch, dir| {
                    self.store()
                        .set_task_worktree(task.id, branch, &dir.to_string_lossy())
                        .map_err(|e| e.to_string())
                })
                .map_err(Unresolved::Workspace)?,
        };
        // What deploy may deploy: the tree of the latest deploy-staging
        // verdict, and only if that one passed. A later failing run of
        // staging outweighs an earlier pass, of the same commit or not.
        let latest_staging = crate::context::StagingVerdict::latest(&history);
        let tested = latest_staging
            .as_ref()
            .and_then(crate::context::StagingVerdict::tested);
        // On a rollback, the reasons of the gates that sent the task back.
        let rollback_reasons = history
            .last()
            .filter(|t| t.to_stage == job.stage && t.from_stage != job.stage)
            .map(|t| {
                t.decisions
                    .iter()
                    .filter(|d| !d.passed)
                    .map(|d| format!("{} at {}: {}", d.gate, t.from_stage, d.reason))
                    .collect()
            })
            .unwrap_or_default();
        Ok(JobContext {
            earlier_artifacts: workspace::earlier_artifacts(&task_dir, stage),
            job: job.clone(),
            task,
            repo,
            stage,
            role,
            spec,
            task_dir,
            artifact,
            rollback_reasons,
            workspace: tree,
            tested,
            latest_staging,
        })
    }

    /// A job whose worktree could not be made: deferred while waiting may
    /// mend it and the retries last; otherwise (tampering, or the retries
    /// spent) the task is blocked with an alert.
    pub(super) fn workspace_unready(
        &self,
        lease: Lease,
        job: &Job,
        error: &WorktreeError,
    ) -> Result<JobEndKind, EngineError> {
        let settings = &self.config.worktree;
        if error.is_transient()
            && let Some(retry_in) = settings.retry.next(job.infra_attempts)
        {
            let deferred = self
                .store()
                .defer(lease, retry_in, &error.to_string(), None);
            return match deferred {
                Ok(_) => Ok(JobEndKind::Deferred { retry_in }),
                Err(StoreError::LeaseLost { .. }) => Ok(JobEndKind::LeaseLost),
                Err(StoreError::CancelRequested { .. }) => self.cancelled_without_run(lease),
                Err(error) => Err(error.into()),
            };
        }
        let (kind, why) = if error.is_transient() {
            (
                AlertKind::WorktreeUnavailable,
                format!(
                    "its worktree could not be made {} times: {error}",
                    job.infra_attempts + 1
                ),
            )
        } else {
            (AlertKind::WorktreeTampered, error.to_string())
        };
        self.block(
            lease,
            job,
            None,
            &AlertSpec {
                kind,
                message: format!("task {} is blocked at {}: {why}", job.task, job.stage),
            },
        )
    }
}
