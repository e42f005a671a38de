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
//! descriptor, and a timeout. Hooks and the fsmonitor are switched off on
//! every call, so a hook planted in the repository by an agent never runs
//! with orch's rights; what repository configuration can still run (a clean
//! filter, say) runs supervised, without orch's secrets.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use orch_self_deploy::ProcessExit;
use orch_staging_runner::OutputLimits;
use orch_staging_runner::exec::{
    self, Ending, EnvPolicy, ExecOutcome, ExecSpec, Program, Scrub, Streams,
};
use orch_store::{Repo, Task, TaskId};

use crate::config::LauncherConfig;

/// Settings passed to git on every call (`-c KEY=VALUE`): no hook, no
/// fsmonitor, no signing prompt, no background maintenance, no pager.
const SAFE_CONFIG: [&str; 6] = [
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "commit.gpgSign=false",
    "gc.auto=0",
    "maintenance.auto=false",
    "core.pager=cat",
];

/// Variables that would point git at another repository than the one named:
/// never passed to it.
const GIT_LOCATION_VARS: [&str; 7] = [
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_CEILING_DIRECTORIES",
];

/// The most of git's stdout kept (a status of a very large tree).
const STDOUT_CAP: usize = 16 * 1024 * 1024;

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

/// Why a worktree could not be made, inspected or committed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorktreeError {
    /// git could not be started.
    #[error(
        "git could not be run ({program}: {message}); install git, or set ORCH_GIT to its path"
    )]
    GitUnavailable {
        /// The program orch tried.
        program: String,
        /// What went wrong.
        message: String,
    },
    /// A git command failed.
    #[error("`git {args}` failed in {dir}: {message}")]
    Git {
        /// Its arguments.
        args: String,
        /// Where it ran.
        dir: PathBuf,
        /// What it said (or its ending).
        message: String,
    },
    /// The folder is inside a git repository but not at its top.
    #[error("{path} is inside the git repository at {top}, not its top folder; add {top} instead")]
    NotTopLevel {
        /// The folder given.
        path: PathBuf,
        /// The repository's top folder.
        top: PathBuf,
    },
    /// The base ref names no commit.
    #[error(
        "the base ref {reference:?} names no commit in {repo}; give a branch, tag or commit that exists (git -C {repo} rev-parse {reference})"
    )]
    UnknownRef {
        /// The ref.
        reference: String,
        /// The repository.
        repo: PathBuf,
    },
    /// The repository has no commit to start from.
    #[error("the repository at {repo} has no commit yet; commit something before adding a task")]
    NoCommit {
        /// The repository.
        repo: PathBuf,
    },
    /// The task's branch exists and is not the task's.
    #[error(
        "the branch {branch} already exists in {repo} and is not this task's (left by a removed task, or by another orch home working on this repository?); rename or delete it (git -C {repo} branch -m {branch} NEW), then the task goes on"
    )]
    BranchTaken {
        /// The branch.
        branch: String,
        /// The repository.
        repo: PathBuf,
    },
    /// Something that is not the task's worktree is where it must go.
    #[error(
        "{path} exists and is not the worktree of task {task}; move it away, then the task goes on"
    )]
    FolderInTheWay {
        /// The folder.
        path: PathBuf,
        /// The task.
        task: TaskId,
    },
    /// The worktree is not where the task's own work left it.
    #[error("the worktree of task {task} ({path}) was tampered with: {what}")]
    Tampered {
        /// The task.
        task: TaskId,
        /// Its worktree.
        path: PathBuf,
        /// What is wrong, and what to do.
        what: String,
    },
    /// The run was cancelled (a shutdown) while git ran.
    #[error("cancelled while git ran")]
    Cancelled,
}

impl WorktreeError {
    /// Whether waiting may mend it (git installed, a branch renamed, a folder
    /// moved): the job is deferred. Tampering is not waited out.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            WorktreeError::Tampered { .. } => false,
            WorktreeError::GitUnavailable { .. }
            | WorktreeError::Git { .. }
            | WorktreeError::NotTopLevel { .. }
            | WorktreeError::UnknownRef { .. }
            | WorktreeError::NoCommit { .. }
            | WorktreeError::BranchTaken { .. }
            | WorktreeError::FolderInTheWay { .. }
            | WorktreeError::Cancelled => true,
        }
    }
}

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
    /// The task's branch (worktree tasks).
    pub branch: Option<String>,
    /// The tree when the job started (worktree tasks).
    pub start: Option<TreeState>,
}

impl Workspace {
    /// The repository's own folder: a checkout task.
    #[must_use]
    pub fn checkout(repo: &Repo) -> Workspace {
        Workspace {
            dir: PathBuf::from(&repo.path),
            branch: None,
            start: None,
        }
    }

    /// Whether the task has its own worktree.
    #[must_use]
    pub fn is_isolated(&self) -> bool {
        self.branch.is_some()
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

/// Runs git for orch (see the module documentation).
#[derive(Debug, Clone)]
pub struct Git {
    program: String,
    timeout: Duration,
    extra_secrets: Vec<OsString>,
    supervisor: orch_staging_runner::SupervisorProgram,
    stdout_cap: usize,
}

impl Git {
    /// The git of `config` (`config.worktree.git`).
    #[must_use]
    pub fn new(config: &LauncherConfig) -> Git {
        Git {
            program: config.worktree.git.clone(),
            timeout: config.worktree.git_timeout,
            extra_secrets: config
                .secret_env
                .iter()
                .map(OsString::from)
                .chain(GIT_LOCATION_VARS.iter().map(OsString::from))
                .collect(),
            supervisor: config.supervisor.clone(),
            stdout_cap: STDOUT_CAP,
        }
    }

    /// The same git, keeping at most `cap` bytes of a call's stdout (16 MiB
    /// by default). For tests of what happens when a listing is cut.
    #[must_use]
    pub fn with_stdout_cap(mut self, cap: usize) -> Git {
        self.stdout_cap = cap;
        self
    }

    /// Runs `git ARGS` in `dir`; its stdout when it exits 0.
    fn run(&self, dir: &Path, args: &[&str], stdin: Option<Vec<u8>>) -> Result<String, Failure> {
        let mut argv: Vec<OsString> = vec![OsString::from(&self.program)];
        for setting in SAFE_CONFIG {
            argv.push("-c".into());
            argv.push(setting.into());
        }
        argv.extend(args.iter().map(OsString::from));
        let env = EnvPolicy {
            scrub: Scrub::Secrets,
            extra_secrets: self.extra_secrets.clone(),
            pass_through: Vec::new(),
            set: [
                ("GIT_AUTHOR_NAME", "orch"),
                ("GIT_AUTHOR_EMAIL", "orch@localhost"),
                ("GIT_COMMITTER_NAME", "orch"),
                ("GIT_COMMITTER_EMAIL", "orch@localhost"),
                ("GIT_TERMINAL_PROMPT", "0"),
                ("GIT_OPTIONAL_LOCKS", "0"),
                ("LC_ALL", "C"),
            ]
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect(),
        };
        let mut spec = ExecSpec::new(Program::Argv(argv), dir)
            .streams(Streams::Separate {
                stdout_cap: self.stdout_cap,
            })
            .limits(OutputLimits::default())
            .env(env)
            .timeout(Some(self.timeout))
            .grace(Duration::from_secs(1))
            .supervisor(self.supervisor.clone());
        if let Some(bytes) = stdin {
            spec = spec.stdin(bytes);
        }
        match exec::run(&spec) {
            ExecOutcome::Finished(finished) => {
                let said = || {
                    let mut text = String::from_utf8_lossy(&finished.output.head).into_owned();
                    text.push_str(&String::from_utf8_lossy(&finished.output.tail));
                    text.trim().replace('\n', "; ")
                };
                match finished.ending {
                    Ending::Exited(ProcessExit::Code(0)) => Ok(finished
                        .stdout
                        .as_ref()
                        .map(|s| String::from_utf8_lossy(&s.bytes).into_owned())
                        .unwrap_or_default()),
                    Ending::Exited(ProcessExit::Code(code)) => Err(Failure::Exit(code, said())),
                    Ending::Exited(ProcessExit::Signal(signal)) => Err(Failure::Exit(
                        -1,
                        format!("killed by signal {signal}; {}", said()),
                    )),
                    Ending::TimedOut(_) => Err(Failure::Exit(
                        -1,
                        format!("no answer within {:?}", self.timeout),
                    )),
                    Ending::Cancelled(_) => Err(Failure::Cancelled),
                }
            }
            ExecOutcome::Failed(error) => Err(Failure::Unavailable(error.message)),
        }
    }

    /// [`Git::run`], with a failure turned into a [`WorktreeError`].
    fn call(&self, dir: &Path, args: &[&str]) -> Result<String, WorktreeError> {
        self.call_with(dir, args, None)
    }

    fn call_with(
        &self,
        dir: &Path,
        args: &[&str],
        stdin: Option<Vec<u8>>,
    ) -> Result<String, WorktreeError> {
        self.run(dir, args, stdin)
            .map_err(|failure| self.error(dir, args, failure))
    }

    fn error(&self, dir: &Path, args: &[&str], failure: Failure) -> WorktreeError {
        match failure {
            Failure::Unavailable(message) => WorktreeError::GitUnavailable {
                program: self.program.clone(),
                message,
            },
            Failure::Cancelled => WorktreeError::Cancelled,
            Failure::Exit(code, message) => WorktreeError::Git {
                args: args.join(" "),
                dir: dir.to_path_buf(),
                message: if message.is_empty() {
                    format!("exit code {code}")
                } else {
                    message
                },
            },
        }
    }

    /// Runs `git ARGS` in `dir` the way orch runs git (supervised, secrets
    /// scrubbed, hooks off, author `orch`) and returns its stdout: for
    /// callers that set up a repository, such as `orch demo`.
    ///
    /// # Errors
    ///
    /// [`WorktreeError::GitUnavailable`] when git cannot be started;
    /// [`WorktreeError::Git`] when it exits non-zero.
    pub fn git(&self, dir: &Path, args: &[&str]) -> Result<String, WorktreeError> {
        self.call(dir, args)
    }

    /// The state of the tree at `dir` (one `git status`).
    ///
    /// # Errors
    ///
    /// [`WorktreeError`] when git cannot run there or has no commit.
    pub fn tree_state(&self, dir: &Path) -> Result<TreeState, WorktreeError> {
        let out = self.call(dir, &["status", "--porcelain=v2", "--branch", "-z"])?;
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
                    repo: dir.to_path_buf(),
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
    pub fn tree_state_strict(&self, dir: &Path) -> Result<TreeState, WorktreeError> {
        let mut state = self.tree_state(dir)?;
        let index = self.call(dir, &["ls-files", "-v", "-z"])?;
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
        let top = match self.run(path, &args, None) {
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
        match self.tree_state(path) {
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
        let mut notes = Vec::new();
        let named = match reference {
            Some(reference) if reference != "HEAD" => reference.to_owned(),
            _ => {
                let state = self.tree_state(repo)?;
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
        match self.run(repo, &args, None) {
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

    /// Whether branch `name` exists in the repository at `repo`.
    fn branch_exists(&self, repo: &Path, name: &str) -> Result<bool, WorktreeError> {
        let reference = format!("refs/heads/{name}");
        let args = ["rev-parse", "--verify", "--quiet", &reference];
        match self.run(repo, &args, None) {
            Ok(_) => Ok(true),
            Err(Failure::Exit(1, _)) => Ok(false),
            Err(failure) => Err(self.error(repo, &args, failure)),
        }
    }

    /// Whether `ancestor` is `descendant` or one of its ancestors.
    fn is_ancestor(
        &self,
        dir: &Path,
        ancestor: &str,
        descendant: &str,
    ) -> Result<bool, WorktreeError> {
        if ancestor == descendant {
            return Ok(true);
        }
        let args = ["merge-base", "--is-ancestor", ancestor, descendant];
        match self.run(dir, &args, None) {
            Ok(_) => Ok(true),
            Err(Failure::Exit(1, _)) => Ok(false),
            Err(failure) => Err(self.error(dir, &args, failure)),
        }
    }

    /// Whether `dir` is the top of a worktree on branch `branch`.
    fn is_worktree_on(&self, dir: &Path, branch: &str) -> bool {
        dir.join(".git").exists()
            && self
                .tree_state(dir)
                .is_ok_and(|s| s.branch.as_deref() == Some(branch))
            && self
                .run(dir, &["rev-parse", "--show-toplevel"], None)
                .ok()
                .and_then(|top| fs::canonicalize(top.trim_end_matches('\n')).ok())
                == fs::canonicalize(dir).ok()
    }

    /// Makes sure the worktree of `task` exists and is where the task's own
    /// work left it, and returns it with its state (`strict`: also counting
    /// paths hidden from `git status`, see [`Git::tree_state_strict`]).
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
    /// `HEAD` is off the task's branch, or the branch no longer holds the
    /// commit the task's latest stage ended on.
    pub fn prepare(
        &self,
        config: &LauncherConfig,
        task: &Task,
        repo: &Repo,
        strict: bool,
        record: impl FnOnce(&str, &Path) -> Result<(), String>,
    ) -> Result<Workspace, WorktreeError> {
        let repo_dir = Path::new(&repo.path);
        let dir = task
            .worktree
            .as_ref()
            .map_or_else(|| worktree_dir(config, task.id), PathBuf::from);
        let branch = match &task.branch {
            Some(branch) => branch.clone(),
            None => {
                let branch = branch_name(task.id);
                if self.branch_exists(repo_dir, &branch)? && !self.is_worktree_on(&dir, &branch) {
                    return Err(WorktreeError::BranchTaken {
                        branch,
                        repo: repo_dir.to_path_buf(),
                    });
                }
                record(&branch, &dir).map_err(|message| WorktreeError::Git {
                    args: "(record the task's branch)".to_owned(),
                    dir: dir.clone(),
                    message,
                })?;
                branch
            }
        };
        if dir.join(".git").exists() {
            // The task's worktree, as the last job left it (check_start says
            // whether it still is).
            let workspace = self.check_start(task, &dir, &branch, strict)?;
            clear_stale_locks(repo_dir, &dir, &branch);
            return Ok(workspace);
        }
        if fs::symlink_metadata(&dir).is_ok() {
            return Err(WorktreeError::FolderInTheWay {
                path: dir,
                task: task.id,
            });
        }
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
        let partial = partial_dir(&dir);
        let partial_arg = partial.to_string_lossy().into_owned();
        if fs::symlink_metadata(&partial).is_ok() {
            let _ = self.run(
                repo_dir,
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
        self.call(repo_dir, &["worktree", "prune"])?;
        let dir_arg = dir.to_string_lossy().into_owned();
        if self.branch_exists(repo_dir, &branch)? {
            self.call(
                repo_dir,
                &["worktree", "add", "--quiet", &partial_arg, &branch],
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
                repo_dir,
                &[
                    "worktree",
                    "add",
                    "--quiet",
                    "-b",
                    &branch,
                    &partial_arg,
                    base,
                ],
            )?;
        }
        self.call(repo_dir, &["worktree", "move", &partial_arg, &dir_arg])?;
        self.check_start(task, &dir, &branch, strict)
    }

    /// The worktree's state at a job's start, checked against the task's
    /// record: on the task's branch, at (or past) its latest commit.
    fn check_start(
        &self,
        task: &Task,
        dir: &Path,
        branch: &str,
        strict: bool,
    ) -> Result<Workspace, WorktreeError> {
        let state = if strict {
            self.tree_state_strict(dir)?
        } else {
            self.tree_state(dir)?
        };
        let tampered = |what: String| WorktreeError::Tampered {
            task: task.id,
            path: dir.to_path_buf(),
            what,
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
        if let Some(head) = &task.head_commit
            && !self.is_ancestor(dir, head, &state.commit)?
        {
            return Err(tampered(format!(
                "branch {branch} is at {} and no longer holds {}, the commit the task's latest stage ended on; restore it (git -C {} reset --hard {head}), then retry the task",
                short(&state.commit),
                short(head),
                dir.display()
            )));
        }
        Ok(Workspace {
            dir: dir.to_path_buf(),
            branch: Some(branch.to_owned()),
            start: Some(state),
        })
    }

    /// After an LLM role: checks that it left `HEAD` on the task's branch at
    /// (or past) the commit it started on, commits what it changed unless
    /// nothing is left uncommitted, and returns the tree as the stage ends.
    ///
    /// # Errors
    ///
    /// [`WorktreeError::Tampered`] when the role moved `HEAD` off the branch
    /// or reset the branch; another [`WorktreeError`] when git fails.
    pub fn commit_role(
        &self,
        task: TaskId,
        workspace: &Workspace,
        message: &str,
    ) -> Result<TreeState, WorktreeError> {
        let (Some(branch), Some(start)) = (&workspace.branch, &workspace.start) else {
            return Err(WorktreeError::Git {
                args: "commit".to_owned(),
                dir: workspace.dir.clone(),
                message: "the task has no worktree".to_owned(),
            });
        };
        let dir = &workspace.dir;
        let state = self.tree_state(dir)?;
        let tampered = |what: String| WorktreeError::Tampered {
            task,
            path: dir.clone(),
            what,
        };
        if state.branch.as_deref() != Some(branch.as_str()) {
            return Err(tampered(format!(
                "its role moved HEAD off branch {branch} (to {}); nothing of that run is committed",
                state.branch.as_deref().map_or_else(
                    || format!("detached {}", short(&state.commit)),
                    str::to_owned
                )
            )));
        }
        if !self.is_ancestor(dir, &start.commit, &state.commit)? {
            return Err(tampered(format!(
                "its role reset branch {branch} from {} to {}, which does not hold it",
                short(&start.commit),
                short(&state.commit)
            )));
        }
        if state.is_clean() {
            return Ok(state);
        }
        self.call(dir, &["add", "--all"])?;
        self.call_with(
            dir,
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
        let commit = self.call(dir, &["rev-parse", "--verify", "HEAD"])?;
        Ok(TreeState {
            commit: commit.trim().to_owned(),
            branch: state.branch,
            changed: 0,
        })
    }

    /// Removes a finished task's worktree (its branch stays). A worktree with
    /// uncommitted changes is kept: `Ok(false)`.
    ///
    /// # Errors
    ///
    /// [`WorktreeError`] when git cannot remove it.
    pub fn remove(&self, repo: &Path, dir: &Path) -> Result<bool, WorktreeError> {
        if fs::symlink_metadata(dir).is_err() {
            self.call(repo, &["worktree", "prune"])?;
            return Ok(true);
        }
        if !self.tree_state(dir)?.is_clean() {
            return Ok(false);
        }
        let dir_arg = dir.to_string_lossy().into_owned();
        self.call(repo, &["worktree", "remove", &dir_arg])?;
        Ok(true)
    }

    /// The repository a worktree folder belongs to (its main checkout).
    fn main_checkout(&self, dir: &Path) -> Option<PathBuf> {
        let common = self
            .run(
                dir,
                &["rev-parse", "--path-format=absolute", "--git-common-dir"],
                None,
            )
            .ok()?;
        let common = PathBuf::from(common.trim_end_matches('\n'));
        common.parent().map(Path::to_path_buf)
    }

    /// The start-up clean-up of the worktrees folder: every folder whose task
    /// `keep` says is gone or finished is removed from its repository (its
    /// branch stays); folders with uncommitted changes are kept. Then `git
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
            let removed = match self.main_checkout(&dir) {
                Some(repo) => self.remove(&repo, &dir),
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
        for repo in repos {
            if repo.join(".git").exists() {
                let _ = self.run(repo, &["worktree", "prune"], None);
            }
        }
        sweep
    }
}

/// Where a worktree is made before it is moved into place at `dir`.
fn partial_dir(dir: &Path) -> PathBuf {
    let mut name = dir.file_name().map(OsString::from).unwrap_or_default();
    name.push(".partial");
    dir.with_file_name(name)
}

/// Removes the lock files a killed git leaves in a task's worktree (its
/// index and `HEAD`) and on its branch. Only the worktree's own git folder
/// under the repository's `.git/worktrees/` is touched, and only after the
/// worktree was found on the task's branch: a task runs one job at a time and
/// no process of an earlier job outlives it, so any such lock is stale.
fn clear_stale_locks(repo: &Path, dir: &Path, branch: &str) {
    let Ok(link) = fs::read_to_string(dir.join(".git")) else {
        return;
    };
    let Some(gitdir) = link
        .strip_prefix("gitdir:")
        .map(|p| PathBuf::from(p.trim()))
    else {
        return;
    };
    let (Ok(gitdir), Ok(worktrees)) = (
        fs::canonicalize(&gitdir),
        fs::canonicalize(repo.join(".git/worktrees")),
    ) else {
        return;
    };
    if gitdir.parent() != Some(worktrees.as_path()) {
        return;
    }
    for lock in ["index.lock", "HEAD.lock"] {
        let _ = fs::remove_file(gitdir.join(lock));
    }
    let _ = fs::remove_file(repo.join(".git/refs/heads").join(format!("{branch}.lock")));
}

/// What [`Git::sweep`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Worktrees removed.
    pub removed: Vec<PathBuf>,
    /// Folders left, and why.
    pub kept: Vec<(PathBuf, String)>,
}

/// How a git call failed.
#[derive(Debug)]
enum Failure {
    /// git could not be started.
    Unavailable(String),
    /// It exited with this code (or -1 for a signal or a timeout), saying this.
    Exit(i32, String),
    /// The run was cancelled.
    Cancelled,
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
