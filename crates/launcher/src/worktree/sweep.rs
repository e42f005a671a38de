//! Removing task worktrees: one, or the sweep of those whose task ended.

use std::fs;
use std::path::{Path, PathBuf};

use orch_store::TaskId;

use crate::config::LauncherConfig;

use super::error::WorktreeError;
use super::git::{At, Git};
use super::paths::GitPaths;
use super::prepare::linked_to;

impl Git {
    /// Removes a finished task's worktree (its branch stays). A worktree with
    /// uncommitted changes is kept: `Ok(false)`.
    ///
    /// # Errors
    ///
    /// [`WorktreeError`] when git cannot remove it, or `dir` is not a
    /// worktree of `repo` linked to its own git folder.
    pub fn remove(&self, repo: &Path, dir: &Path) -> Result<bool, WorktreeError> {
        let repository = self.repository(repo)?;
        self.remove_from(&repository, dir)
    }

    pub(super) fn remove_from(&self, repo: &GitPaths, dir: &Path) -> Result<bool, WorktreeError> {
        if fs::symlink_metadata(dir).is_err() {
            self.call(At::Named(repo), &["worktree", "prune"])?;
            return Ok(true);
        }
        let paths = self.task_worktree(repo, dir)?;
        linked_to(&paths).map_err(|what| WorktreeError::Git {
            args: "(check the worktree before removing it)".to_owned(),
            dir: dir.to_path_buf(),
            message: format!("{what}, then remove it"),
        })?;
        if !self.tree_state(&paths)?.is_clean() {
            return Ok(false);
        }
        let dir_arg = dir.to_string_lossy().into_owned();
        self.call(At::Named(repo), &["worktree", "remove", &dir_arg])?;
        Ok(true)
    }

    /// The start-up clean-up of the worktrees folder: every folder whose task
    /// `keep` says is gone or finished is removed from the one of `repos`
    /// whose worktree it is (its branch stays); folders with uncommitted
    /// changes, or of no repository in `repos`, are kept. Then `git
    /// worktree prune` in each of `repos`, for folders deleted by hand.
    #[must_use]
    pub fn sweep(
        &self,
        config: &LauncherConfig,
        repos: &[PathBuf],
        keep: impl Fn(TaskId) -> bool,
    ) -> Sweep {
        let mut sweep = Sweep::default();
        let root = config.worktree.root(&config.home);
        let repos: Vec<GitPaths> = repos
            .iter()
            .filter(|repo| repo.join(".git").exists())
            .filter_map(|repo| self.repository(repo).ok())
            .collect();
        let mut entries: Vec<PathBuf> = fs::read_dir(&root)
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        entries.sort();
        for dir in entries {
            let Some(task) = dir
                .file_name()
                .and_then(|n| n.to_str())
                .map(|n| n.strip_suffix(".partial").unwrap_or(n))
                .and_then(|n| n.parse::<i64>().ok())
                .map(TaskId::new)
            else {
                continue;
            };
            if keep(task) {
                continue;
            }
            // The repository is the one that records the folder as its
            // worktree, never the one its `.git` file names.
            let owner = repos
                .iter()
                .find(|repo| self.task_worktree(repo, &dir).is_ok());
            let removed = match owner {
                Some(repo) => self.remove_from(repo, &dir),
                None => Ok(false),
            };
            match removed {
                Ok(true) => sweep.removed.push(dir),
                Ok(false) => sweep.kept.push((
                    dir,
                    "it has uncommitted changes, or is no worktree; look, then delete it by hand"
                        .to_owned(),
                )),
                Err(error) => sweep.kept.push((dir, error.to_string())),
            }
        }
        for repo in &repos {
            let _ = self.run(At::Named(repo), &["worktree", "prune"], None);
        }
        sweep
    }
}

/// What [`Git::sweep`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Sweep {
    /// Worktrees removed.
    pub removed: Vec<PathBuf>,
    /// Folders left, and why.
    pub kept: Vec<(PathBuf, String)>,
}
