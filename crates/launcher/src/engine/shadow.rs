//! The shadow runner beside an LLM role, and its one re-run on a disagreement.

use orch_store::JobCommits;

use crate::context::{JobContext, RunControl};
use crate::launch::{ShadowRun, run_shadow};
use crate::worktree::{TestedTree, TreeState, WorkspaceKind};

use super::Engine;
use super::artifact::gate_verdict;

impl Engine {
    /// The shadow runner, after the LLM role: given the job as it ended
    /// (`workspace.start` names the commit the role ended on, which orch has
    /// just committed, so the tree is clean).
    pub(super) fn shadow_after(
        &self,
        ctx: &JobContext,
        tree: Option<&(JobCommits, TestedTree)>,
        control: &RunControl,
    ) -> Option<ShadowRun> {
        let mut ended = ctx.clone();
        if let (Some((commits, _)), WorkspaceKind::Worktree(worktree)) =
            (tree, &mut ended.workspace.kind)
            && let Some(end) = &commits.end
        {
            worktree.start = TreeState {
                commit: end.clone(),
                branch: worktree.start.branch.clone(),
                changed: 0,
            };
        }
        run_shadow(&ended, &self.config, &self.intercepts, control)
    }

    /// A shadow pair that disagrees on the same commit: the runner runs once
    /// more on that commit, so that a flaky suite (two runner verdicts that
    /// differ) is told from a wrong verdict and kept out of the switching
    /// decision. One re-run at most; none when the pair agrees, is about two
    /// commits, or the runner gave no verdict.
    pub(super) fn rerun_on_disagreement(
        &self,
        ctx: &JobContext,
        tree: Option<&(JobCommits, TestedTree)>,
        first: ShadowRun,
        control: &RunControl,
    ) -> ShadowPair {
        let llm = gate_verdict(ctx);
        let same_commit = first.commit == tree.map(|(_, judged)| judged.commit.clone());
        let disagrees = first.verdict.is_some_and(|runner| runner != llm);
        let rerun = (same_commit && disagrees && !control.is_cancelled())
            .then(|| self.shadow_after(ctx, tree, control))
            .flatten()
            // A second run on another commit would compare nothing.
            .filter(|second| second.commit == first.commit);
        ShadowPair { first, rerun }
    }
}

/// A shadow runner's run beside the LLM role, and its re-run on the same
/// commit when the two verdicts disagreed.
pub(super) struct ShadowPair {
    pub(super) first: ShadowRun,
    pub(super) rerun: Option<ShadowRun>,
}

impl Engine {
    /// What a shadow pair shows the operator: a tool error of the runner
    /// (126, 127, a missing folder) raises `shadow_runner_unavailable` once
    /// per repository while one is open; a disagreement is returned in
    /// words for the serve log. Neither changes the job's end.
    pub(super) fn shadow_seen(&self, ctx: &JobContext, pair: &ShadowPair) -> Option<String> {
        let first = &pair.first;
        if first.record.outcome == crate::launch::RunOutcome::ToolError {
            let store = self.store();
            let kind = orch_store::AlertKind::ShadowRunnerUnavailable;
            // A failure to read or raise it is not the job's: said nowhere
            // else, the pair still records the run.
            if matches!(store.open_alert_for_repo(kind, ctx.repo.id), Ok(false)) {
                let _ = store.raise_alert(&orch_store::NewAlert::new(kind, format!(
                        "repository {}: the shadow {} could not run its command ({}); its shadow pairs compare nothing until it can. The LLM's verdicts still decide. Try it with `orch repo check {}`, fix it with `orch repo update {} --test-cmd ...`, then acknowledge this alert (said once per repository while open)",
                        ctx.repo.name,
                        first.record.role,
                        first.record.detail,
                        ctx.repo.name,
                        ctx.repo.name
                    )).with_task(Some(ctx.task.id)).with_job(Some(ctx.job.id)));
            }
            return None;
        }
        let runner = first.verdict?;
        let llm = gate_verdict(ctx);
        (runner != llm).then(|| {
            format!(
                "shadow disagreement: {} {runner}, {} {llm}{}{}",
                first.record.role,
                ctx.role,
                first
                    .commit
                    .as_deref()
                    .map(|c| format!(" on commit {}", crate::worktree::short(c)))
                    .unwrap_or_default(),
                pair.rerun
                    .as_ref()
                    .and_then(|r| r.verdict)
                    .map(|v| format!("; the runner's second run: {v}"))
                    .unwrap_or_default()
            )
        })
    }
}
