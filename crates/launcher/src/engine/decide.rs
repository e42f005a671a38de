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
