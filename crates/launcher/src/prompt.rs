//! The prompt an LLM role gets on stdin: its role's prompt file, then the
//! task context.
//!
//! The default prompt files are this crate's `prompts/<role>.md`, built
//! into it (inside the package, so a packaged or vendored crate builds); a file `<orch home>/agents/<role>.md` overrides one.
//! Placeholders `{{staging_command}}`, `{{repo_path}}` and `{{artifact}}` are
//! filled from the task (the staging command from the repository's record:
//! the one source of truth the staging runner uses too; `{{repo_path}}` is
//! where the role works, the task's worktree). A worktree task's context
//! also names its branch and commit, and what the role must not do to them.

use std::fmt::Write as _;
use std::path::Path;

use orch_pipeline::Role;

use crate::context::JobContext;

/// The built-in prompt of an LLM role; `None` for a reserved agent.
#[must_use]
pub fn default_prompt(role: Role) -> Option<&'static str> {
    match role {
        Role::Analyst => Some(include_str!("../prompts/analyst.md")),
        Role::Architect => Some(include_str!("../prompts/architect.md")),
        Role::Developer => Some(include_str!("../prompts/developer.md")),
        Role::Reviewer => Some(include_str!("../prompts/reviewer.md")),
        Role::Tester => Some(include_str!("../prompts/tester.md")),
        Role::Deployer => Some(include_str!("../prompts/deployer.md")),
        Role::DeployFinalizer
        | Role::PostDeployMonitor
        | Role::StagingRunner
        | Role::TestRunner => None,
    }
}

/// The role's prompt file: `home/agents/<role>.md` when it exists and can be
/// read, else the built-in default.
#[must_use]
pub fn role_prompt(home: &Path, role: Role) -> String {
    let override_path = home.join("agents").join(format!("{}.md", role.as_str()));
    std::fs::read_to_string(&override_path)
        .ok()
        .or_else(|| default_prompt(role).map(str::to_owned))
        .unwrap_or_default()
}

/// The whole prompt: the role's file with its placeholders filled, then the
/// task context (title, repository, stage, artifact path, verdict key and
/// values, the earlier artifacts, and on a rollback the failing gates'
/// reasons).
#[must_use]
pub fn build(home: &Path, ctx: &JobContext) -> String {
    let mut prompt = role_prompt(home, ctx.role)
        .replace("{{staging_command}}", &ctx.repo.staging_command)
        .replace("{{repo_path}}", &ctx.workspace.dir.to_string_lossy())
        .replace("{{artifact}}", &ctx.artifact.to_string_lossy());
    if !prompt.ends_with('\n') {
        prompt.push('\n');
    }
    let spec = ctx.spec;
    let _ = write!(
        prompt,
        "\n## The task\n\n\
         - task: {} — {}\n\
         - repository: {} at {}\n\
         - stage: {} (role {})\n\
         - write your artifact to: {}\n\
         - verdict line: `{}: VALUE` with VALUE one of {}; `{}` lets the task advance\n",
        ctx.task.id,
        ctx.task.title,
        ctx.repo.name,
        ctx.workspace.dir.display(),
        ctx.stage.as_str(),
        ctx.role.as_str(),
        ctx.artifact.display(),
        spec.verdict_key,
        spec.values.join(", "),
        spec.pass_value,
    );
    if let Some(crate::worktree::TaskWorktree { branch, start, .. }) = ctx.workspace.worktree() {
        let _ = writeln!(
            prompt,
            "- you work in this task's own git worktree, on branch `{branch}` at commit {}: \
             orch commits what you change when you finish; do not commit, switch branches, \
             detach HEAD or reset the branch yourself (the repository's git data is read-only \
             in orch's sandbox, and moving HEAD blocks the task)",
            crate::worktree::short(&start.commit),
        );
    }
    if ctx.role == Role::Tester
        && let Some(command) = ctx.repo.test_command.as_deref()
    {
        // One source of truth: the command the test runner runs.
        let _ = write!(
            prompt,
            "- the repository's test command (what the test runner runs):\n\n{}\n",
            command
                .lines()
                .map(|line| format!("      {line}\n"))
                .collect::<String>()
        );
    }
    if !ctx.earlier_artifacts.is_empty() {
        prompt.push_str("\n## Earlier artifacts of this task\n\n");
        for path in &ctx.earlier_artifacts {
            let _ = writeln!(prompt, "- {}", path.display());
        }
    }
    if !ctx.rollback_reasons.is_empty() {
        prompt
            .push_str("\n## Why this stage runs again\n\nThe task was sent back here because:\n\n");
        for reason in &ctx.rollback_reasons {
            let _ = writeln!(prompt, "- {reason}");
        }
    }
    prompt
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_llm_role_has_a_default_and_a_home_file_overrides_it() {
        for role in Role::ALL {
            let llm = role.kind() == orch_pipeline::RoleKind::Llm;
            assert_eq!(default_prompt(role).is_some(), llm, "{role:?}");
        }
        let home = tempfile::tempdir().unwrap();
        assert!(role_prompt(home.path(), Role::Tester).contains("You are the tester"));
        std::fs::create_dir_all(home.path().join("agents")).unwrap();
        std::fs::write(
            home.path().join("agents/tester.md"),
            "Our own tester prompt.",
        )
        .unwrap();
        assert_eq!(
            role_prompt(home.path(), Role::Tester),
            "Our own tester prompt."
        );
        assert!(role_prompt(home.path(), Role::Analyst).contains("You are the analyst"));
    }
}
