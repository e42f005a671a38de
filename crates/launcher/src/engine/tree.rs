//! The tree a stage's verdict is about, and the worktree's removal at `done`.

use orch_pipeline::Stage;
use orch_store::JobCommits;

use crate::context::JobContext;
use crate::worktree::{TestedTree, WorktreeError};

use super::Engine;

impl Engine {
    /// The tree a stage's verdict is about, for its gate evidence and the
    /// job's row: after an LLM role, orch commits what it changed (and
    /// refuses a role that moved HEAD or reset the branch); a suite runner's
    /// verdict (staging, or tests in mode `on`) is about the commit it ran
    /// on, clean only if the tree stayed exactly that commit; any other
    /// reserved agent leaves the tree as it found it. `None` for a checkout
    /// task.
    pub(super) fn stage_tree(
        &self,
        ctx: &JobContext,
        spawned: bool,
    ) -> Result<Option<(JobCommits, TestedTree)>, WorktreeError> {
        let Some(start) = ctx.workspace.start() else {
            return Ok(None);
        };
        let end = if spawned {
            let message = format!(
                "orch: task {} {} ({})\n\nTask: {}\nJob: {}\n",
                ctx.task.id, ctx.stage, ctx.role, ctx.task.title, ctx.job.id
            );
            self.git
                .commit_role(ctx.task.id, &ctx.workspace, &message)?
        } else if ran_suite(ctx.stage) {
            self.git.workspace_state(&ctx.workspace)?
        } else {
            start.clone()
        };
        // What the verdict is about: the tree a suite ran on — the staging
        // suite's, whoever ran it (an LLM deployer that changed the tree
        // leaves a verdict whose tree is not clean, so the deploy refuses),
        // and the test runner's; an LLM tester's verdict is about the tree
        // it leaves, its own new tests included.
        let judged_by_start =
            ctx.stage == Stage::DeployStaging || (ran_suite(ctx.stage) && !spawned);
        let judged = if judged_by_start {
            TestedTree {
                commit: start.commit.clone(),
                clean: start.is_clean() && end.commit == start.commit && end.is_clean(),
            }
        } else {
            TestedTree {
                commit: end.commit.clone(),
                clean: end.is_clean(),
            }
        };
        let commits = JobCommits {
            start: Some(start.commit.clone()),
            end: Some(end.commit),
        };
        Ok(Some((commits, judged)))
    }

    /// At `done`: the task's worktree is removed unless it is kept (its
    /// branch holds the work). A failure leaves it for the start-up sweep.
    pub(super) fn finish_worktree(&self, ctx: &JobContext) {
        if !ctx.workspace.is_isolated() || ctx.task.keep_worktree {
            return;
        }
        if let Ok(true) = self
            .git
            .remove(std::path::Path::new(&ctx.repo.path), &ctx.workspace.dir)
        {
            let _ = self.store().clear_task_worktree(ctx.task.id);
        }
    }
}

/// Whether a deterministic run at `stage` was a suite runner's (the staging
/// suite, or the tests in mode `on`), whose verdict is about the tree it
/// started on.
pub(super) fn ran_suite(stage: Stage) -> bool {
    // An exhaustive match: a new stage must be placed on one side.
    match stage {
        Stage::DeployStaging | Stage::Testing => true,
        Stage::Analysis
        | Stage::Architecture
        | Stage::Development
        | Stage::Review
        | Stage::Deploy
        | Stage::PostDeploy
        | Stage::Done
        | Stage::Blocked => false,
    }
}
