//! The stage's gates read the artifact, the transition table decides, and the job's end is written.

use orch_pipeline::{GateResult, gates_for};
use orch_store::{AgentRunId, AlertKind, JobCommits, JobEnd, Lease, StoreError};
use sha2::{Digest, Sha256};

use crate::context::JobContext;
use crate::judge;
use crate::launch::{AlertSpec, RunOutcome, RunRecord};
use crate::worktree::TestedTree;

use super::artifact::read_artifact;
use super::plan::{EndFacts, PlanShadow, PlanTask, plan_end};
use super::report::JobEndKind;
use super::shadow::ShadowPair;
use super::tree::ran_suite;
use super::{Engine, EngineError};

impl Engine {
    /// The gates read the artifact; the transition table decides; the job's
    /// end is written in one transaction.
    pub(super) fn decide(
        &self,
        lease: Lease,
        ctx: &JobContext,
        record: &RunRecord,
        alert: Option<AlertSpec>,
        tree: Option<&(JobCommits, TestedTree)>,
        shadow: Option<(AgentRunId, &ShadowPair)>,
    ) -> Result<JobEndKind, EngineError> {
        let bytes = read_artifact(&ctx.artifact);
        let sha = bytes.as_deref().map(sha256_hex);
        let gates: Vec<GateResult> = gates_for(ctx.stage)
            .iter()
            .map(|gate| gate.evaluate(bytes.as_deref()))
            .collect();
        if bytes.is_some()
            && let Some(end) = self.verdict_missing(lease, ctx, record, &gates)?
        {
            return Ok(end);
        }
        let suite_note = self.suite_note(ctx, record, tree);
        let facts = EndFacts {
            stage: ctx.stage,
            job: ctx.job.id,
            task: PlanTask {
                id: ctx.task.id,
                title: &ctx.task.title,
                developer_retries: ctx.task.developer_retries,
            },
            gates: &gates,
            record,
            run_alert: alert,
            budget: self.config.developer_retries,
            artifact_sha: sha.as_deref(),
            judged: tree.map(|(_, judged)| judged),
            suite_note: suite_note.as_deref(),
            // Only the test runner has a shadow mode: its command is the
            // repository's test command.
            shadow: shadow.map(|(runner_run, pair)| PlanShadow {
                runner_run,
                pair,
                command_sha: ctx
                    .repo
                    .test_command
                    .as_deref()
                    .map(orch_store::command_sha256),
            }),
        };
        let plan = match plan_end(facts) {
            Ok(plan) => plan,
            Err(error) => {
                return self.block(
                    lease,
                    &ctx.job,
                    Some(self.run_row(ctx, record)),
                    &AlertSpec {
                        kind: AlertKind::InternalError,
                        message: format!("task {}: {error}", ctx.task.id),
                    },
                );
            }
        };
        let row = self.run_row(ctx, record);
        let end = JobEnd {
            transition: Some(&plan.transition),
            next: plan.next.as_ref(),
            run: Some(&row),
            alert: plan.alert.as_ref(),
            commits: tree.map(|(commits, _)| commits),
            shadow: plan.shadow.as_ref(),
        };
        let completed = self.store().complete_with_transition(lease, &end);
        if completed.is_ok()
            && plan.decision.kind == orch_pipeline::DecisionKind::Advance
            && plan.decision.to != orch_pipeline::Stage::Blocked
        {
            // The task moved on: what its earlier alerts were about is
            // behind it. A failure here leaves them open, nothing worse.
            let _ = self.store().resolve_task_alerts(ctx.task.id, ctx.job.id);
        }
        match completed {
            Ok(_) => Ok(JobEndKind::Transition {
                from: ctx.stage,
                to: plan.decision.to,
                kind: plan.decision.kind,
                gates,
            }),
            Err(StoreError::LeaseLost { .. }) => Ok(JobEndKind::LeaseLost),
            Err(StoreError::StageMismatch { .. }) => Ok(JobEndKind::Superseded),
            // The operator's cancel arrived after the run ended, before this
            // end: it wins, whatever the gates decided.
            Err(StoreError::CancelRequested { .. }) => self.end_cancelled(lease, ctx, Some(record)),
            Err(error) => Err(error.into()),
        }
    }

    /// An LLM role that ended well (exit 0) and wrote its artifact, but with
    /// no valid verdict line (missing, malformed or duplicated): the
    /// role's slip, not the developer's. The same role runs again at once
    /// (the job deferred with no wait, counted with its infra attempts),
    /// up to `ORCH_VERDICT_RETRIES` times; then the task is blocked with a
    /// `verdict_missing` alert. `None` when the verdict is there (the gates
    /// then decide as usual).
    fn verdict_missing(
        &self,
        lease: Lease,
        ctx: &JobContext,
        record: &RunRecord,
        gates: &[GateResult],
    ) -> Result<Option<JobEndKind>, EngineError> {
        let llm = record.transport == orch_store::Transport::Llm;
        let Some(missing) = gates.iter().find(|g| g.verdict.is_none()) else {
            return Ok(None);
        };
        if !llm || record.outcome != RunOutcome::Passed {
            return Ok(None);
        }
        let bound = self.config.agent.verdict_retries;
        let spent = ctx.job.infra_attempts;
        let why = format!(
            "the {} run ended without a valid verdict line ({}: {})",
            ctx.role,
            missing.gate.name(),
            missing.reason
        );
        let row = self.run_row(ctx, record);
        if spent < bound {
            let deferred = self.store().defer(
                lease,
                std::time::Duration::ZERO,
                &format!(
                    "{why}; the {} runs again ({} of {bound}, ORCH_VERDICT_RETRIES), not charged to the developer",
                    ctx.role,
                    spent + 1
                ),
                Some(&row),
            );
            return Ok(Some(match deferred {
                Ok(_) => JobEndKind::Deferred {
                    retry_in: std::time::Duration::ZERO,
                },
                Err(StoreError::LeaseLost { .. }) => JobEndKind::LeaseLost,
                Err(StoreError::CancelRequested { .. }) => {
                    self.end_cancelled(lease, ctx, Some(record))?
                }
                Err(error) => return Err(error.into()),
            }));
        }
        let alert = AlertSpec {
            kind: AlertKind::VerdictMissing,
            message: format!(
                "task {} ({}) is blocked at {}: {why}, {} times (ORCH_VERDICT_RETRIES={bound} runs again spent); not charged to the developer. Look at the artifact and the agent's prompt (`orch task show {}`, `orch task log {}`), then `orch task retry {}`",
                ctx.task.id,
                ctx.task.title,
                ctx.stage,
                spent + 1,
                ctx.task.id,
                ctx.task.id,
                ctx.task.id
            ),
        };
        self.block(lease, &ctx.job, Some(row), &alert).map(Some)
    }

    /// For the gate evidence of a verdict a suite runner gave in a judge tree
    /// with the suite pinned: what the task changed under suite paths since
    /// the version the suite was restored to. `None` otherwise; a git
    /// failure here is said in the note, never a reason to fail the job.
    pub(super) fn suite_note(
        &self,
        ctx: &JobContext,
        record: &RunRecord,
        tree: Option<&(JobCommits, TestedTree)>,
    ) -> Option<String> {
        let suite_runner = record.transport == orch_store::Transport::Deterministic
            && ran_suite(ctx.stage)
            && record.outcome != RunOutcome::Skipped;
        if !suite_runner || ctx.repo.suite_paths.is_empty() {
            return None;
        }
        let (pin, (_, judged)) = (judge::Pin::of(&ctx.task)?, tree?);
        let changes = judge::suite_changes(
            &self.git,
            &ctx.workspace.dir,
            &pin.commit,
            &judged.commit,
            &ctx.repo.suite_paths,
        );
        Some(match changes {
            Ok(changes) => format!(
                "suite paths changed by the task since {}: {}",
                pin.describe(),
                judge::describe_changes(&changes)
            ),
            Err(error) => format!("the suite's changes could not be read: {error}"),
        })
    }
}

/// Lower-case hex sha256.
pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
