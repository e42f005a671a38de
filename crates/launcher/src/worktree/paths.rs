//! The folders a git call names: below `git`, which takes them, and
//! `state`, which keeps them with a task's worktree.

use std::path::PathBuf;

/// The folders a git call names on its command line (`--git-dir`,
/// `--work-tree`), so that nothing in the work tree — its `.git` file, a
/// `core.worktree` — decides which repository and tree git works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitPaths {
    /// The git folder: a repository's own, or a worktree's under
    /// `<common>/worktrees/`.
    pub git_dir: PathBuf,
    /// The work tree.
    pub work_tree: PathBuf,
    /// The repository's common git folder (its refs, objects and config).
    pub common_dir: PathBuf,
}
