//! Preparing a task's worktree: finding the repository, making or adopting
//! the worktree on the task's branch, and checking where it starts.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Path, PathBuf};

use orch_store::{Repo, Task};

use crate::config::LauncherConfig;

use super::error::WorktreeError;
use super::git::{At, Failure, Git};
use super::paths::GitPaths;
use super::state::{TaskWorktree, Workspace, WorkspaceKind};
use super::{branch_name, short, worktree_dir};

impl Git {
    /// The git folders of the repository whose top folder is `repo` (a
    /// folder registered with orch): its own git folder and the common one
    /// its worktrees' folders are under. Asked from the folder itself; no
    /// worktree of a task is ever asked where its repository is.
    ///
    /// # Errors
    ///
    /// [`WorktreeError`] when git cannot run there, or it is no repository.
    pub fn repository(&self, repo: &Path) -> Result<GitPaths, WorktreeError> {
        let args = [
            "rev-parse",
            "--path-format=absolute",
            "--absolute-git-dir",
            "--git-common-dir",
        ];
        let out = self.call(At::Discover(repo), &args)?;
        let mut lines = out.lines();
        let (Some(git_dir), Some(common_dir)) = (lines.next(), lines.next()) else {
            return Err(WorktreeError::Git {
                args: args.join(" "),
                dir: repo.to_path_buf(),
                message: format!("git named no git folder ({out:?})"),
            });
        };
        Ok(GitPaths {
            git_dir: PathBuf::from(git_dir),
            work_tree: repo.to_path_buf(),
            common_dir: PathBuf::from(common_dir),
        })
    }

    /// The git folders of the worktree at `dir` of the repository `repo`:
    /// git's own folder for it under `<common>/worktrees/`, found from
    /// orch's record of the folder — `<name>.partial`, the name orch's
    /// `worktree add` gave it (or `<name>`, a worktree made by hand) — and
    /// checked against git's record of where that worktree is. The
    /// worktree's `.git` file is never read here.
    ///
    /// # Errors
    ///
    /// [`WorktreeError::Git`] when no such folder of `repo` belongs to `dir`.
    pub fn task_worktree(&self, repo: &GitPaths, dir: &Path) -> Result<GitPaths, WorktreeError> {
        let worktrees = repo.common_dir.join("worktrees");
        let Some(link) = real_link(&dir.join(".git")) else {
            return Err(WorktreeError::Git {
                args: "(find the worktree's git folder)".to_owned(),
                dir: dir.to_path_buf(),
                message: "the folder does not exist".to_owned(),
            });
        };
        // git's record of the worktree: `gitdir` in its folder names the
        // worktree's `.git` (relative to the folder since git 2.48's
        // worktree.useRelativePaths).
        let belongs = |admin: &Path| {
            admin.join("HEAD").is_file()
                && fs::read_to_string(admin.join("gitdir")).is_ok_and(|recorded| {
                    real_link(&admin.join(recorded.trim_end_matches(['\n', '\r'])))
                        .is_some_and(|recorded| recorded == link)
                })
        };
        let name = dir.file_name().map(OsString::from).unwrap_or_default();
        let partial = partial_dir(dir).file_name().map(OsString::from);
        for candidate in partial.into_iter().chain([name]) {
            let admin = worktrees.join(&candidate);
            if belongs(&admin) {
                return Ok(GitPaths {
                    git_dir: admin,
                    work_tree: dir.to_path_buf(),
                    common_dir: repo.common_dir.clone(),
                });
            }
        }
        Err(WorktreeError::Git {
            args: "(find the worktree's git folder)".to_owned(),
            dir: dir.to_path_buf(),
            message: format!(
                "no folder under {} records this worktree (it is not a worktree of {}, or git's record of it was removed); move the folder away, then retry the task",
                worktrees.display(),
                repo.work_tree.display()
            ),
        })
    }

    /// Whether branch `name` exists in the repository at `repo`.
    pub(super) fn branch_exists(&self, repo: &GitPaths, name: &str) -> Result<bool, WorktreeError> {
        let reference = format!("refs/heads/{name}");
        let args = ["rev-parse", "--verify", "--quiet", &reference];
        match self.run(At::Named(repo), &args, None) {
            Ok(_) => Ok(true),
            Err(Failure::Exit(1, _)) => Ok(false),
            Err(failure) => Err(self.error(&repo.work_tree, &args, failure)),
        }
    }

    /// Whether `ancestor` is `descendant` or one of its ancestors.
    pub(super) fn is_ancestor(
        &self,
        at: &GitPaths,
        ancestor: &str,
        descendant: &str,
    ) -> Result<bool, WorktreeError> {
        if ancestor == descendant {
            return Ok(true);
        }
        let args = ["merge-base", "--is-ancestor", ancestor, descendant];
        match self.run(At::Named(at), &args, None) {
            Ok(_) => Ok(true),
            Err(Failure::Exit(1, _)) => Ok(false),
            Err(failure) => Err(self.error(&at.work_tree, &args, failure)),
        }
    }

    /// Whether `dir` is a worktree of `repo` (its common git folder is the
    /// repository's) on branch `branch`, whose `HEAD` descends from `base`
    /// (the task's base commit): only such a worktree is the task's own.
    pub(super) fn is_worktree_on(
        &self,
        repo: &GitPaths,
        dir: &Path,
        branch: &str,
        base: Option<&str>,
    ) -> bool {
        dir.join(".git").exists()
            && foreign_worktree(repo, dir).is_none()
            && self.task_worktree(repo, dir).is_ok_and(|paths| {
                linked_to(&paths).is_ok()
                    && self.tree_state(&paths).is_ok_and(|s| {
                        s.branch.as_deref() == Some(branch)
                            && base.is_none_or(|base| {
                                self.is_ancestor(&paths, base, &s.commit).unwrap_or(false)
                            })
                    })
            })
    }

    /// The gitlinks (mode 160000: a commit of another repository) that
    /// differ between commit `from` and `to` (a commit, or the index when
    /// `None`) and whose paths `to`'s `.gitmodules` does not declare. Such a
    /// gitlink is what `git add` makes of a repository nested in the tree:
    /// the commit then names a sha whose files are in no repository orch
    /// knows, while the tree a suite ran on held them.
    pub(super) fn undeclared_gitlinks(
        &self,
        at: &GitPaths,
        from: &str,
        to: Option<&str>,
    ) -> Result<Vec<String>, WorktreeError> {
        let mut args = match to {
            Some(to) => vec!["diff-tree", "-r", from, to],
            None => vec!["diff-index", "--cached", from],
        };
        args.extend([
            "-z",
            "--raw",
            "--no-abbrev",
            "--no-renames",
            "--ignore-submodules=none",
        ]);
        let out = self.call(At::Named(at), &args)?;
        let mut gitlinks = Vec::new();
        let mut fields = out.split('\0');
        while let Some(meta) = fields.next() {
            let Some(path) = fields.next() else { break };
            // `:OLDMODE NEWMODE OLDSHA NEWSHA STATUS`
            let mut meta = meta.trim_start_matches(':').split(' ');
            let new_mode = meta.nth(1);
            let status = meta.nth(2);
            if new_mode == Some("160000") && status != Some("D") {
                gitlinks.push(path.to_owned());
            }
        }
        if gitlinks.is_empty() {
            return Ok(gitlinks);
        }
        let blob = format!("{}:.gitmodules", to.unwrap_or(""));
        let declared: Vec<String> = match self.run(
            At::Named(at),
            &[
                "config",
                "--blob",
                &blob,
                "--null",
                "--get-regexp",
                r"^submodule\..*\.path$",
            ],
            None,
        ) {
            Ok(out) => out
                .split('\0')
                .filter_map(|entry| entry.split_once('\n'))
                .map(|(_, path)| path.to_owned())
                .collect(),
            // No `.gitmodules`, or none that git can read: nothing is
            // declared.
            Err(Failure::Exit(..)) => Vec::new(),
            Err(failure) => return Err(self.error(&at.work_tree, &["config", "--blob"], failure)),
        };
        gitlinks.retain(|path| !declared.contains(path));
        Ok(gitlinks)
    }

    /// Makes sure the worktree of `task` exists and is where the task's own
    /// work left it, and returns it with its state (`strict`: also counting
    /// paths hidden from `git status`, see [`Git::tree_state_strict`], and
    /// refusing a gitlink `.gitmodules` does not declare).
    ///
    /// At the first job the branch is named on the task (`record`, before
    /// anything is created, so that a crash in between finds it again), then
    /// created from the task's base commit. A worktree folder deleted by hand
    /// is made again from the branch: everything the roles did is in its
    /// commits.
    ///
    /// # Errors
    ///
    /// [`WorktreeError::BranchTaken`], [`WorktreeError::FolderInTheWay`],
    /// [`WorktreeError::GitUnavailable`] and [`WorktreeError::Git`] are
    /// transient (the job is deferred); [`WorktreeError::Tampered`] when
    /// `HEAD` is off the task's branch, the branch no longer holds the
    /// commit the task's latest stage ended on, or the worktree's `.git`
    /// names another git folder than its own.
    pub fn prepare(
        &self,
        config: &LauncherConfig,
        task: &Task,
        repo: &Repo,
        strict: bool,
        record: impl FnOnce(&str, &Path) -> Result<(), String>,
    ) -> Result<Workspace, WorktreeError> {
        let repo_dir = Path::new(&repo.path);
        let repository = self.repository(repo_dir)?;
        let dir = task
            .worktree
            .as_ref()
            .map_or_else(|| worktree_dir(config, task.id), PathBuf::from);
        let branch = self.task_branch(task, &repository, repo_dir, &dir, record)?;
        finish_interrupted_move(&repository.common_dir, &dir)?;
        if dir.join(".git").exists() {
            // The task's worktree, as the last job left it (check_start says
            // whether it still is), and never another repository's, whatever
            // its branch is called.
            if let Some(what) = foreign_worktree(&repository, &dir) {
                return Err(WorktreeError::Tampered {
                    task: task.id,
                    path: dir,
                    what: format!(
                        "{what}; it was not adopted and nothing in it was touched. Move it away, then retry the task"
                    ),
                });
            }
            let paths = self.task_worktree(&repository, &dir)?;
            let workspace = self.check_start(task, &paths, &branch, strict)?;
            clear_stale_locks(&paths, &branch);
            return Ok(workspace);
        }
        if fs::symlink_metadata(&dir).is_ok() {
            return Err(WorktreeError::FolderInTheWay {
                path: dir,
                task: task.id,
            });
        }
        self.make_worktree(task, &repository, repo_dir, &dir, &branch)?;
        let paths = self.task_worktree(&repository, &dir)?;
        self.check_start(task, &paths, &branch, strict)
    }

    /// The task's branch: the one recorded, or, for a task without one
    /// yet, `orch/task-<id>` — refused when another worktree has it, and
    /// recorded (`record`) before anything is created.
    fn task_branch(
        &self,
        task: &Task,
        repository: &GitPaths,
        repo_dir: &Path,
        dir: &Path,
        record: impl FnOnce(&str, &Path) -> Result<(), String>,
    ) -> Result<String, WorktreeError> {
        if let Some(branch) = &task.branch {
            return Ok(branch.clone());
        }
        let branch = branch_name(task.id);
        if self.branch_exists(repository, &branch)?
            && !self.is_worktree_on(repository, dir, &branch, task.base_commit.as_deref())
        {
            return Err(WorktreeError::BranchTaken {
                branch,
                repo: repo_dir.to_path_buf(),
            });
        }
        record(&branch, dir).map_err(|message| WorktreeError::Git {
            args: "(record the task's branch)".to_owned(),
            dir: dir.to_path_buf(),
            message,
        })?;
        Ok(branch)
    }

    /// Makes the task's worktree at `dir` on `branch` (created from the
    /// task's base commit when it does not exist): beside its place first,
    /// then moved there once whole.
    fn make_worktree(
        &self,
        task: &Task,
        repository: &GitPaths,
        repo_dir: &Path,
        dir: &Path,
        branch: &str,
    ) -> Result<(), WorktreeError> {
        let at_repo = At::Named(repository);
        if let Some(parent) = dir.parent() {
            fs::create_dir_all(parent).map_err(|error| WorktreeError::Git {
                args: "(create the worktrees folder)".to_owned(),
                dir: parent.to_path_buf(),
                message: error.to_string(),
            })?;
        }
        // The worktree is made beside its place and moved there once whole:
        // a crash in `git worktree add` leaves only the `.partial` folder,
        // which is thrown away here, never a half-written tree that the next
        // role would work on (and whose missing files orch would commit as
        // deletions).
        let partial = partial_dir(dir);
        let partial_arg = partial.to_string_lossy().into_owned();
        if fs::symlink_metadata(&partial).is_ok() {
            let _ = self.run(
                at_repo,
                &["worktree", "remove", "--force", &partial_arg],
                None,
            );
            if fs::symlink_metadata(&partial).is_ok() {
                fs::remove_dir_all(&partial).map_err(|error| WorktreeError::Git {
                    args: "(remove a half-made worktree)".to_owned(),
                    dir: partial.clone(),
                    message: error.to_string(),
                })?;
            }
        }
        // A folder deleted by hand leaves git's bookkeeping behind.
        self.call(at_repo, &["worktree", "prune"])?;
        // git names the worktree's own folder after the folder it is added
        // at (`<id>.partial`), with a number appended when that name is
        // taken; orch finds it again by that name, so it must be free.
        let admin = repository
            .common_dir
            .join("worktrees")
            .join(partial.file_name().unwrap_or_default());
        // A crash inside `git worktree add` can leave that folder behind
        // with its `locked` file ("initializing"), which `prune` respects.
        // Its worktree — our `.partial` folder — is gone (removed above), so
        // the folder is our own leftover: remove it, as prune would.
        if fs::symlink_metadata(&admin).is_ok() && fs::symlink_metadata(&partial).is_err() {
            let _ = fs::remove_dir_all(&admin);
        }
        if fs::symlink_metadata(&admin).is_ok() {
            return Err(WorktreeError::FolderInTheWay {
                path: admin,
                task: task.id,
            });
        }
        let dir_arg = dir.to_string_lossy().into_owned();
        if self.branch_exists(repository, branch)? {
            self.call(
                at_repo,
                &["worktree", "add", "--quiet", &partial_arg, branch],
            )?;
        } else {
            let base = task
                .base_commit
                .as_deref()
                .ok_or_else(|| WorktreeError::Git {
                    args: "worktree add".to_owned(),
                    dir: repo_dir.to_path_buf(),
                    message: "the task has no base commit recorded".to_owned(),
                })?;
            self.call(
                at_repo,
                &[
                    "worktree",
                    "add",
                    "--quiet",
                    "-b",
                    branch,
                    &partial_arg,
                    base,
                ],
            )?;
        }
        self.call(at_repo, &["worktree", "move", &partial_arg, &dir_arg])?;
        Ok(())
    }

    /// The worktree's state at a job's start, checked against the task's
    /// record: linked to its own git folder, on the task's branch, at (or
    /// past) its latest commit; when `strict`, with no gitlink since the
    /// task's base that `.gitmodules` does not declare.
    pub(super) fn check_start(
        &self,
        task: &Task,
        paths: &GitPaths,
        branch: &str,
        strict: bool,
    ) -> Result<Workspace, WorktreeError> {
        let dir = &paths.work_tree;
        let tampered = |what: String| WorktreeError::Tampered {
            task: task.id,
            path: dir.clone(),
            what,
        };
        linked_to(paths).map_err(|what| tampered(format!("{what}, then retry the task")))?;
        let state = if strict {
            self.tree_state_strict(paths)?
        } else {
            self.tree_state(paths)?
        };
        if state.branch.as_deref() != Some(branch) {
            return Err(tampered(format!(
                "HEAD is {} instead of branch {branch}; put it back (git -C {} switch {branch}), then retry the task",
                state.branch.as_deref().map_or_else(
                    || format!("detached at {}", short(&state.commit)),
                    str::to_owned
                ),
                dir.display()
            )));
        }
        // Before the task's first stage has ended, its branch must start from
        // its base: a branch of the same name left by other work is not
        // adopted.
        if task.head_commit.is_none()
            && let Some(base) = &task.base_commit
            && !self.is_ancestor(paths, base, &state.commit)?
        {
            return Err(tampered(format!(
                "branch {branch} is at {}, which does not descend from the task's base {}: it holds other work than this task's and was not adopted; move the worktree away (git -C {} worktree remove {}) and rename the branch, then retry the task",
                short(&state.commit),
                short(base),
                paths.common_dir.display(),
                dir.display()
            )));
        }
        if let Some(head) = &task.head_commit
            && !self.is_ancestor(paths, head, &state.commit)?
        {
            return Err(tampered(format!(
                "branch {branch} is at {} and no longer holds {}, the commit the task's latest stage ended on; restore it (git -C {} reset --hard {head}), then retry the task",
                short(&state.commit),
                short(head),
                dir.display()
            )));
        }
        if strict && let Some(base) = &task.base_commit {
            let gitlinks = self.undeclared_gitlinks(paths, base, Some(&state.commit))?;
            if !gitlinks.is_empty() {
                return Err(tampered(format!(
                    "branch {branch} holds {} (commits of another repository) that .gitmodules does not declare, so its commits do not hold the files tested there; remove them from the branch (git -C {} rm --cached PATH, then commit), or declare them as submodules, then retry the task",
                    gitlinks_named(&gitlinks),
                    dir.display()
                )));
            }
        }
        Ok(Workspace {
            dir: dir.clone(),
            kind: WorkspaceKind::Worktree(TaskWorktree {
                branch: branch.to_owned(),
                start: state,
                git: paths.clone(),
            }),
        })
    }
}

/// Checks that the worktree's `.git` file names its own git folder: git
/// itself would follow the file, and one that names another folder (the
/// user's checkout's, another task's) is tampering even though orch never
/// follows it. `Err` says what is wrong and how to mend it.
pub(super) fn linked_to(paths: &GitPaths) -> Result<(), String> {
    let link = paths.work_tree.join(".git");
    let restore = format!(
        "restore it (printf 'gitdir: {}\\n' > {})",
        paths.git_dir.display(),
        link.display()
    );
    let text = fs::read_to_string(&link)
        .map_err(|error| format!("its .git is not git's link file ({error}); {restore}"))?;
    let named = text
        .strip_prefix("gitdir:")
        .map(|p| p.trim_end_matches(['\n', '\r']).trim())
        .ok_or_else(|| format!("its .git does not name a git folder; {restore}"))?;
    let same = match (
        fs::canonicalize(paths.work_tree.join(named)),
        fs::canonicalize(&paths.git_dir),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same {
        Ok(())
    } else {
        Err(format!(
            "its .git names {named} instead of its own git folder {}; {restore}",
            paths.git_dir.display()
        ))
    }
}

/// Why the folder at `dir` is not a worktree of `repo`, when its `.git` says
/// so: a `.git` folder (a repository of its own), or a link to a git folder
/// whose common git folder is another repository's. `None` when it is one of
/// `repo`'s, or when its `.git` cannot be read (the caller's checks decide
/// then). Files only: git is never run in a folder orch did not make.
pub(super) fn foreign_worktree(repo: &GitPaths, dir: &Path) -> Option<String> {
    let link = dir.join(".git");
    let meta = fs::symlink_metadata(&link).ok()?;
    if meta.is_dir() {
        return Some(format!(
            "{} is a git repository of its own, not a worktree of {}",
            dir.display(),
            repo.work_tree.display()
        ));
    }
    let text = fs::read_to_string(&link).ok()?;
    let named = text
        .strip_prefix("gitdir:")?
        .trim_end_matches(['\n', '\r'])
        .trim();
    let admin = fs::canonicalize(dir.join(named)).ok()?;
    let common = match fs::read_to_string(admin.join("commondir")) {
        Ok(common) => fs::canonicalize(admin.join(common.trim_end_matches(['\n', '\r']))).ok()?,
        // No commondir: the folder it names is a repository's own git folder.
        Err(_) => admin,
    };
    let ours = fs::canonicalize(&repo.common_dir).ok()?;
    (common != ours).then(|| {
        format!(
            "{} is a worktree of the repository whose git folder is {}, not of {} ({})",
            dir.display(),
            common.display(),
            repo.work_tree.display(),
            ours.display()
        )
    })
}

/// `path` with its folder's symbolic links resolved, but not its own: the
/// `.git` of a worktree, wherever a symbolic link there would lead.
pub(super) fn real_link(path: &Path) -> Option<PathBuf> {
    let folder = fs::canonicalize(path.parent()?).ok()?;
    Some(folder.join(path.file_name()?))
}

/// `gitlink a, b` for messages.
pub(super) fn gitlinks_named(paths: &[String]) -> String {
    let word = if paths.len() == 1 {
        "gitlink"
    } else {
        "gitlinks"
    };
    format!("{word} {}", paths.join(", "))
}

/// Completes a `git worktree move` from `<dir>.partial` to `dir` that a
/// crash cut short between its two steps: git renames the folder first,
/// then writes the new place into its record (`<common>/worktrees/<name>/
/// gitdir`). Cut in between, the folder is at `dir` while the record still
/// names the `.partial` folder, which no longer exists, and every later job
/// would find "no folder records this worktree". Only that exact state is
/// repaired — a record of orch's own `.partial` name, naming the `.partial`
/// folder beside `dir`, which is gone — by writing the record git would
/// have written; anything else is left for `task_worktree` to judge. Only
/// orch's git writes under the common git folder (agents and suites cannot:
/// docs/sandbox.md), so the state is orch's own leftover.
pub(super) fn finish_interrupted_move(common_dir: &Path, dir: &Path) -> Result<(), WorktreeError> {
    let partial = partial_dir(dir);
    if fs::symlink_metadata(&partial).is_ok() || fs::symlink_metadata(dir.join(".git")).is_err() {
        return Ok(());
    }
    let Some(name) = partial.file_name() else {
        return Ok(());
    };
    let admin = common_dir.join("worktrees").join(name);
    let Ok(recorded) = fs::read_to_string(admin.join("gitdir")) else {
        return Ok(());
    };
    // Absolute, or relative to the record's folder (worktree.useRelativePaths).
    let recorded = admin.join(recorded.trim_end_matches(['\n', '\r']));
    let names_partial = recorded.file_name() == Some(OsStr::new(".git"))
        && recorded.parent().and_then(Path::file_name) == Some(name);
    let beside = recorded
        .parent()
        .and_then(Path::parent)
        .and_then(|parent| fs::canonicalize(parent).ok());
    let here = dir
        .parent()
        .and_then(|parent| fs::canonicalize(parent).ok());
    if !names_partial || beside.is_none() || beside != here {
        return Ok(());
    }
    let Some(link) = real_link(&dir.join(".git")) else {
        return Ok(());
    };
    let failed = |error: std::io::Error| WorktreeError::Git {
        args: "(finish an interrupted worktree move)".to_owned(),
        dir: admin.clone(),
        message: error.to_string(),
    };
    let fresh = admin.join("gitdir.orch-new");
    let mut text = link.into_os_string();
    text.push("\n");
    fs::write(&fresh, text.as_encoded_bytes()).map_err(failed)?;
    fs::rename(&fresh, admin.join("gitdir")).map_err(failed)
}

/// Where a worktree is made before it is moved into place at `dir`.
pub(super) fn partial_dir(dir: &Path) -> PathBuf {
    let mut name = dir.file_name().map(OsString::from).unwrap_or_default();
    name.push(".partial");
    dir.with_file_name(name)
}

/// Removes the lock files a killed git leaves in a task's worktree (its
/// index and `HEAD`) and on its branch. Only the worktree's own git folder
/// (found by orch, see [`Git::task_worktree`]) is touched, and only after the
/// worktree was found on the task's branch: a task runs one job at a time and
/// no process of an earlier job outlives it, so any such lock is stale.
pub(super) fn clear_stale_locks(paths: &GitPaths, branch: &str) {
    for lock in ["index.lock", "HEAD.lock"] {
        let _ = fs::remove_file(paths.git_dir.join(lock));
    }
    let _ = fs::remove_file(
        paths
            .common_dir
            .join("refs/heads")
            .join(format!("{branch}.lock")),
    );
}
