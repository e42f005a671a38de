//! Committing what a role changed, and catching a role that moved the
//! task's branch.

use orch_store::TaskId;

use super::error::WorktreeError;
use super::git::{At, Git};
use super::prepare::{gitlinks_named, linked_to};
use super::short;
use super::state::{TaskWorktree, TreeState, Workspace};

impl Git {
    /// After an LLM role: checks that it left the worktree linked to its own
    /// git folder and `HEAD` on the task's branch at (or past) the commit it
    /// started on, commits what it changed unless nothing is left
    /// uncommitted, and returns the tree as the stage ends.
    ///
    /// A repository nested in the tree (which `git add` would record as a
    /// gitlink `.gitmodules` does not declare) blocks the task as tampering,
    /// like a moved `HEAD`, rather than failing only this commit: the role's
    /// run cannot be recorded faithfully (its files would be in no commit),
    /// running the role again would meet the same folder, and only a person
    /// can tell a vendored repository from an attempt to hide code, so the
    /// task waits for one, with the alert saying what to remove.
    ///
    /// # Errors
    ///
    /// [`WorktreeError::Tampered`] when the role moved `HEAD` off the branch,
    /// reset the branch, repointed the worktree's `.git`, or left a nested
    /// repository; another [`WorktreeError`] when git fails (nothing is
    /// committed then).
    pub fn commit_role(
        &self,
        task: TaskId,
        workspace: &Workspace,
        message: &str,
    ) -> Result<TreeState, WorktreeError> {
        let Some(TaskWorktree {
            branch,
            start,
            git: paths,
        }) = workspace.worktree()
        else {
            return Err(WorktreeError::Git {
                args: "commit".to_owned(),
                dir: workspace.dir.clone(),
                message: "the task has no worktree".to_owned(),
            });
        };
        let dir = &workspace.dir;
        let tampered = |what: String| WorktreeError::Tampered {
            task,
            path: dir.clone(),
            what,
        };
        linked_to(paths).map_err(|what| {
            tampered(format!(
                "after its role, {what}; nothing of that run is committed"
            ))
        })?;
        let state = self.tree_state(paths)?;
        if state.branch.as_deref() != Some(branch.as_str()) {
            return Err(tampered(format!(
                "its role moved HEAD off branch {branch} (to {}); nothing of that run is committed",
                state.branch.as_deref().map_or_else(
                    || format!("detached {}", short(&state.commit)),
                    str::to_owned
                )
            )));
        }
        if !self.is_ancestor(paths, &start.commit, &state.commit)? {
            return Err(tampered(format!(
                "its role reset branch {branch} from {} to {}, which does not hold it",
                short(&start.commit),
                short(&state.commit)
            )));
        }
        if state.is_clean() && state.commit == start.commit {
            return Ok(state);
        }
        if !state.is_clean() {
            self.call(At::Named(paths), &["add", "--all"])?;
        }
        // What is about to be committed, and what the role committed
        // itself: the index against the commit the role started on.
        let gitlinks = self.undeclared_gitlinks(paths, &start.commit, None)?;
        if !gitlinks.is_empty() {
            return Err(tampered(format!(
                "its role left {} (a repository of its own inside the worktree, or a commit of one) that .gitmodules does not declare: a commit would name only its sha, not its files; nothing of that run is committed. Remove its .git folder (or the folder) in {}, or declare it as a submodule, reset the index (git -C {} reset), then retry the task",
                gitlinks_named(&gitlinks),
                dir.display(),
                dir.display()
            )));
        }
        if state.is_clean() {
            return Ok(state);
        }
        self.call_with(
            At::Named(paths),
            &[
                "commit",
                "--quiet",
                "--no-verify",
                "--allow-empty",
                "-F",
                "-",
            ],
            Some(message.as_bytes().to_vec()),
        )?;
        // Everything was added and committed, and no process of the role is
        // left to write more: the tree is the new commit (a `rev-parse`
        // costs less than another status of the whole tree).
        let commit = self.call(At::Named(paths), &["rev-parse", "--verify", "HEAD"])?;
        Ok(TreeState {
            commit: commit.trim().to_owned(),
            branch: state.branch,
            changed: 0,
        })
    }
}
