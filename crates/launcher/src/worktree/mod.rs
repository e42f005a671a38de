//! Task isolation: a git worktree per task, and the commits that name the
//! tree every role saw.
//!
//! A task on a git repository works in its own worktree,
//! `<home>/worktrees/<task id>`, on its own branch `orch/task-<id>`, created
//! at its first job from the commit recorded when the task was created (the
//! repository's base ref, or the checkout's `HEAD`). Every role, the staging
//! suite, the deploy and the health check run there; the user's checkout —
//! its `HEAD`, index and files — is never written (git keeps the worktree's
//! bookkeeping and the branch in the repository's `.git`).
//!
//! After an LLM role, orch commits what it changed (author `orch`), unless
//! the role committed itself; a role that moved `HEAD` off the task's branch
//! or reset the branch is tampering, and the task is blocked. The commit a
//! stage ended on is recorded on the job and named in the gate evidence; the
//! staging runner's log names the commit the suite ran on and whether the
//! tree was clean, and the deploy runs only on that same commit.
//!
//! git is run like every other program orch starts: through the process
//! machinery, with the secrets scrubbed from its environment, no inherited
//! descriptor, and a timeout. Every worktree shares the repository's `.git`
//! (config, attributes, objects, refs), which an agent may have written, so
//! orch's git trusts none of it to steer what it reads:
//!
//! - it is told which git folder and work tree to use (`--git-dir`,
//!   `--work-tree`), found from orch's own record of the worktree's folder
//!   and the registered repository, never from the worktree's `.git` file or
//!   a `core.worktree` (a `.git` naming another folder is still refused as
//!   tampering);
//! - hooks, the fsmonitor, signing and every configured filter driver are
//!   switched off, so nothing planted runs with orch's rights or changes
//!   what is committed;
//! - replace refs are ignored, so a sha names its own content;
//! - `git status` lists every untracked file and compares the whole stat of
//!   every file, whatever the repository's config says;
//! - output cut at the cap is an error, never a shorter listing;
//! - a gitlink that `.gitmodules` does not declare (what `git add` makes of
//!   a repository nested in the tree) is refused.
//!
//! This is the second of two layers: the sandbox keeps agents from writing
//! the shared `.git` at all; this layer holds when it does not.
//!
//! One concern per file: `git.rs` (running git), `paths.rs` (the folders a
//! git call names, [`GitPaths`]), `error.rs`
//! ([`WorktreeError`]), `state.rs` (the tree types and reading a tree's
//! state), `prepare.rs` (making or adopting a task's worktree), `commit.rs`
//! (committing a role's changes), `sweep.rs` (removing worktrees).

mod commit;
mod error;
mod git;
mod paths;
mod prepare;
mod state;
mod sweep;

use std::path::PathBuf;

use orch_store::TaskId;

use crate::config::LauncherConfig;

pub use error::WorktreeError;
pub use git::Git;
pub use paths::GitPaths;
pub use state::{Base, Checkout, TaskWorktree, TestedTree, TreeState, Workspace, WorkspaceKind};
pub use sweep::Sweep;

/// The branch a task's worktree works on.
#[must_use]
pub fn branch_name(task: TaskId) -> String {
    format!("orch/task-{task}")
}

/// The folder of a task's worktree under orch's home.
#[must_use]
pub fn worktree_dir(config: &LauncherConfig, task: TaskId) -> PathBuf {
    config.worktree.root(&config.home).join(task.to_string())
}

/// The first 12 hex digits of a commit, for messages.
#[must_use]
pub fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_branch_is_named_after_the_task() {
        assert_eq!(branch_name(TaskId::new(7)), "orch/task-7");
        assert_eq!(short("0123456789abcdef"), "0123456789ab");
        assert_eq!(short("abc"), "abc");
    }

    #[test]
    fn a_tree_state_says_whether_it_is_clean() {
        let mut state = TreeState {
            commit: "c".into(),
            branch: None,
            changed: 0,
        };
        assert_eq!(state.describe(), "clean");
        state.changed = 2;
        assert!(!state.is_clean());
        assert_eq!(state.describe(), "dirty: 2 paths not committed");
    }
}
