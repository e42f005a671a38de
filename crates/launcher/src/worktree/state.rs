//! What a tree is: its state, the tree a verdict tested, where a role
//! works, what a folder is, the commit a task starts from; and reading them
//! with git.

use std::fs;
use std::path::{Path, PathBuf};

use orch_store::Repo;

use super::error::WorktreeError;
use super::git::{At, Failure, Git};
use super::paths::GitPaths;
use super::short;

/// A tree as `git status` sees it: its commit, its branch, and how many
/// paths differ from the commit (tracked changes and untracked files that
/// are not ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeState {
    /// `HEAD`'s commit.
    pub commit: String,
    /// The branch `HEAD` is on; `None` when detached.
    pub branch: Option<String>,
    /// Paths not committed.
    pub changed: usize,
}

impl TreeState {
    /// Nothing uncommitted.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.changed == 0
    }

    /// `clean`, or `dirty: N paths not committed`, for logs.
    #[must_use]
    pub fn describe(&self) -> String {
        if self.is_clean() {
            "clean".to_owned()
        } else {
            format!("dirty: {} paths not committed", self.changed)
        }
    }
}

/// The tree a `deploy-staging` verdict is about, from the gate evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestedTree {
    /// The commit the suite ran on.
    pub commit: String,
    /// Whether the tree was exactly that commit for the whole run.
    pub clean: bool,
}

/// Where a job's role works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    /// The folder roles run in: the task's worktree, or the repository's
    /// checkout for a checkout task.
    pub dir: PathBuf,
    /// Which of the two it is.
    pub kind: WorkspaceKind,
}

/// The kind of a task's workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkspaceKind {
    /// The repository's own folder (a folder that is not a git
    /// repository): its tasks run there, one at a time.
    Checkout,
    /// The task's own git worktree and branch.
    Worktree(TaskWorktree),
}

/// A task's own git worktree, as a job found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskWorktree {
    /// The task's branch.
    pub branch: String,
    /// The tree when the job started.
    pub start: TreeState,
    /// The worktree's git folders, as orch found them.
    pub git: GitPaths,
}

impl Workspace {
    /// The repository's own folder: a checkout task.
    #[must_use]
    pub fn checkout(repo: &Repo) -> Workspace {
        Workspace {
            dir: PathBuf::from(&repo.path),
            kind: WorkspaceKind::Checkout,
        }
    }

    /// Whether the task has its own worktree.
    #[must_use]
    pub fn is_isolated(&self) -> bool {
        self.worktree().is_some()
    }

    /// The task's own worktree (`None` for a checkout task).
    #[must_use]
    pub fn worktree(&self) -> Option<&TaskWorktree> {
        match &self.kind {
            WorkspaceKind::Worktree(worktree) => Some(worktree),
            WorkspaceKind::Checkout => None,
        }
    }

    /// The tree when the job started (worktree tasks).
    #[must_use]
    pub fn start(&self) -> Option<&TreeState> {
        self.worktree().map(|w| &w.start)
    }

    /// The worktree's git folders (worktree tasks).
    #[must_use]
    pub fn git(&self) -> Option<&GitPaths> {
        self.worktree().map(|w| &w.git)
    }
}

/// What a folder is, for `repo add`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checkout {
    /// The top folder of a git repository, as it is now.
    Git(TreeState),
    /// The top folder of a git repository with no commit yet.
    Unborn,
    /// Not a git repository: its tasks run in the folder, one at a time.
    NotGit,
}

/// The commit a new task starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    /// Its full object name.
    pub commit: String,
    /// The ref it was resolved from (`HEAD` by default).
    pub reference: String,
    /// What the user should know (uncommitted changes left out, a detached
    /// `HEAD`).
    pub notes: Vec<String>,
}

impl Git {
    /// The state of the tree at `at` (one `git status`, listing every
    /// untracked file and every changed submodule, whatever the
    /// repository's configuration says).
    ///
    /// # Errors
    ///
    /// [`WorktreeError`] when git cannot run there or has no commit;
    /// [`WorktreeError::OutputCut`] when the status is longer than the cap.
    pub fn tree_state(&self, at: &GitPaths) -> Result<TreeState, WorktreeError> {
        let out = self.call(
            At::Named(at),
            &[
                "status",
                "--porcelain=v2",
                "--branch",
                "-z",
                "--untracked-files=all",
                "--ignore-submodules=none",
            ],
        )?;
        let mut commit = None;
        let mut branch = None;
        let mut changed = 0;
        let mut entries = out.split('\0').filter(|e| !e.is_empty());
        while let Some(entry) = entries.next() {
            if let Some(oid) = entry.strip_prefix("# branch.oid ") {
                commit = Some(oid.to_owned());
            } else if let Some(head) = entry.strip_prefix("# branch.head ") {
                branch = (head != "(detached)").then(|| head.to_owned());
            } else if entry.starts_with('#') {
            } else {
                changed += 1;
                // A rename or copy carries its original path as one more
                // NUL-separated field.
                if entry.starts_with("2 ") {
                    let _ = entries.next();
                }
            }
        }
        let commit = match commit {
            Some(commit) if commit != "(initial)" => commit,
            _ => {
                return Err(WorktreeError::NoCommit {
                    repo: at.work_tree.clone(),
                });
            }
        };
        Ok(TreeState {
            commit,
            branch,
            changed,
        })
    }

    /// [`Git::tree_state`], and also sure that no path is hidden from it: a
    /// path flagged assume-unchanged (tag in lower case in `git ls-files
    /// -v`) or skip-worktree (`S`) may differ from the commit unseen by
    /// `git status`, so it counts as not committed. One more git call; used
    /// where cleanliness is evidence (the staging suite's tree, the deploy).
    ///
    /// # Errors
    ///
    /// As [`Git::tree_state`].
    pub fn tree_state_strict(&self, at: &GitPaths) -> Result<TreeState, WorktreeError> {
        let mut state = self.tree_state(at)?;
        let index = self.call(At::Named(at), &["ls-files", "-v", "-z"])?;
        state.changed += index
            .split('\0')
            .filter(|e| {
                e.chars()
                    .next()
                    .is_some_and(|tag| tag.is_ascii_lowercase() || tag == 'S')
            })
            .count();
        Ok(state)
    }

    /// [`Git::tree_state_strict`] of a task's worktree, as its job found it.
    ///
    /// # Errors
    ///
    /// As [`Git::tree_state`]; [`WorktreeError::Git`] for a checkout task.
    pub fn workspace_state(&self, workspace: &Workspace) -> Result<TreeState, WorktreeError> {
        self.tree_state_strict(workspace_paths(workspace)?)
    }

    /// What the folder at `path` is: a git repository's top folder (and its
    /// state), one with no commit, or not a git repository at all.
    ///
    /// # Errors
    ///
    /// [`WorktreeError::NotTopLevel`] for a folder inside a repository;
    /// [`WorktreeError::GitUnavailable`] when the folder holds a `.git` but
    /// git cannot be run.
    pub fn inspect(&self, path: &Path) -> Result<Checkout, WorktreeError> {
        let args = ["rev-parse", "--show-toplevel"];
        let top = match self.run(At::Discover(path), &args, None) {
            Ok(top) => PathBuf::from(top.trim_end_matches('\n')),
            Err(Failure::Exit(_, message)) if message.contains("not a git repository") => {
                return Ok(Checkout::NotGit);
            }
            Err(Failure::Unavailable(message)) => {
                if path.join(".git").exists() {
                    return Err(WorktreeError::GitUnavailable {
                        program: self.program.clone(),
                        message,
                    });
                }
                return Ok(Checkout::NotGit);
            }
            Err(failure) => return Err(self.error(path, &args, failure)),
        };
        let same = match (fs::canonicalize(path), fs::canonicalize(&top)) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        if !same {
            return Err(WorktreeError::NotTopLevel {
                path: path.to_path_buf(),
                top,
            });
        }
        match self.tree_state(&self.repository(path)?) {
            Ok(state) => Ok(Checkout::Git(state)),
            Err(WorktreeError::NoCommit { .. }) => Ok(Checkout::Unborn),
            Err(error) => Err(error),
        }
    }

    /// The commit a new task on the repository at `repo` starts from:
    /// `reference` (the repository's base ref), or the checkout's `HEAD`.
    ///
    /// # Errors
    ///
    /// [`WorktreeError::UnknownRef`] when the ref names no commit;
    /// [`WorktreeError::NoCommit`] when `HEAD` has none yet.
    pub fn resolve_base(
        &self,
        repo: &Path,
        reference: Option<&str>,
    ) -> Result<Base, WorktreeError> {
        let paths = self.repository(repo)?;
        let mut notes = Vec::new();
        let named = match reference {
            Some(reference) if reference != "HEAD" => reference.to_owned(),
            _ => {
                let state = self.tree_state(&paths)?;
                if !state.is_clean() {
                    notes.push(format!(
                        "the checkout has {} uncommitted paths; the task starts from HEAD ({}) without them",
                        state.changed,
                        short(&state.commit)
                    ));
                }
                if state.branch.is_none() {
                    notes.push(format!(
                        "the checkout's HEAD is detached; the task starts from its commit {}",
                        short(&state.commit)
                    ));
                }
                "HEAD".to_owned()
            }
        };
        let spec = format!("{named}^{{commit}}");
        let args = [
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            &spec,
        ];
        match self.run(At::Named(&paths), &args, None) {
            Ok(out) => Ok(Base {
                commit: out.trim().to_owned(),
                reference: named,
                notes,
            }),
            Err(Failure::Exit(..)) => Err(WorktreeError::UnknownRef {
                reference: named,
                repo: repo.to_path_buf(),
            }),
            Err(failure) => Err(self.error(repo, &args, failure)),
        }
    }
}

/// The git folders of a workspace.
pub(super) fn workspace_paths(workspace: &Workspace) -> Result<&GitPaths, WorktreeError> {
    workspace.git().ok_or_else(|| WorktreeError::Git {
        args: "status".to_owned(),
        dir: workspace.dir.clone(),
        message: "the task has no worktree".to_owned(),
    })
}
