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

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
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

/// Settings passed to git on every call (`-c KEY=VALUE`, which wins over
/// every config file): no hook, no fsmonitor, no signing prompt, no
/// background maintenance, no pager; no replace ref; and nothing that hides
/// a change from `git status` — every untracked file listed, no cached
/// listing of them, the whole stat of a file compared (so a change of as
/// many bytes with its mtime put back is still seen by its ctime).
const SAFE_CONFIG: [&str; 12] = [
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "commit.gpgSign=false",
    "gc.auto=0",
    "maintenance.auto=false",
    "core.pager=cat",
    "core.useReplaceRefs=false",
    "status.showUntrackedFiles=all",
    "core.untrackedCache=false",
    "core.checkStat=default",
    "core.trustctime=true",
    "core.ignoreStat=false",
];

/// Variables that would point git at another repository than the one named,
/// or set its configuration from orch's own environment: never passed to it
/// (orch sets `GIT_CONFIG_COUNT` itself).
const GIT_LOCATION_VARS: [&str; 11] = [
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_CEILING_DIRECTORIES",
    "GIT_CONFIG_PARAMETERS",
    "GIT_REPLACE_REF_BASE",
    "GIT_ATTR_SOURCE",
    "GIT_SHALLOW_FILE",
];

/// The git commands orch runs that never convert a file's content (no
/// filter driver can run in them), so no driver needs switching off.
const CONTENT_FREE: [&str; 6] = [
    "config",
    "rev-parse",
    "merge-base",
    "ls-files",
    "diff-tree",
    "diff-index",
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
    /// git printed more than orch keeps of its output, so what orch read
    /// is not all git said.
    #[error(
        "`git {args}` in {dir} printed more than {cap} bytes, all orch keeps of its output; orch judges no tree from a cut listing, so nothing was committed or called clean. A folder of generated files that .gitignore does not cover makes such a listing: ignore or delete it in the worktree, then retry the task"
    )]
    OutputCut {
        /// Its arguments.
        args: String,
        /// Where it ran.
        dir: PathBuf,
        /// The bytes kept.
        cap: usize,
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
            | WorktreeError::OutputCut { .. }
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
    /// The worktree's git folders, as orch found them (worktree tasks).
    pub git: Option<GitPaths>,
}

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

impl Workspace {
    /// The repository's own folder: a checkout task.
    #[must_use]
    pub fn checkout(repo: &Repo) -> Workspace {
        Workspace {
            dir: PathBuf::from(&repo.path),
            branch: None,
            start: None,
            git: None,
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
    /// by default); a call that prints more fails
    /// ([`WorktreeError::OutputCut`]). For tests of a cut listing.
    #[must_use]
    pub fn with_stdout_cap(mut self, cap: usize) -> Git {
        self.stdout_cap = cap;
        self
    }

    /// Runs `git ARGS` at `at`; its stdout when it exits 0. Every filter
    /// driver configured anywhere is switched off for the call, except for
    /// the commands that never convert file content (where asking for the
    /// drivers would only cost one more git call).
    fn run(&self, at: At<'_>, args: &[&str], stdin: Option<Vec<u8>>) -> Result<String, Failure> {
        let drivers = if args.first().is_some_and(|a| CONTENT_FREE.contains(a)) {
            Vec::new()
        } else {
            self.filter_drivers(at)?
        };
        self.exec(at, args, stdin, &drivers)
    }

    /// The names of the filter drivers configured for the repository at
    /// `at` (`filter.<name>.*` in any config file git reads there).
    fn filter_drivers(&self, at: At<'_>) -> Result<Vec<String>, Failure> {
        let args = [
            "config",
            "--null",
            "--name-only",
            "--get-regexp",
            r"^filter\.",
        ];
        let out = match self.exec(at, &args, None, &[]) {
            Ok(out) => out,
            // Exit 1: no such key.
            Err(Failure::Exit(1, _)) => return Ok(Vec::new()),
            Err(failure) => return Err(failure),
        };
        let names: BTreeSet<String> = out
            .split('\0')
            .filter_map(|key| key.strip_prefix("filter.")?.rsplit_once('.'))
            .map(|(name, _)| name.to_owned())
            .collect();
        Ok(names.into_iter().collect())
    }

    /// One git process: `git -c SAFE... [--git-dir --work-tree] ARGS`, with
    /// every driver in `drivers` switched off.
    fn exec(
        &self,
        at: At<'_>,
        args: &[&str],
        stdin: Option<Vec<u8>>,
        drivers: &[String],
    ) -> Result<String, Failure> {
        let mut argv: Vec<OsString> = vec![OsString::from(&self.program)];
        for setting in SAFE_CONFIG {
            argv.push("-c".into());
            argv.push(setting.into());
        }
        let cwd = match at {
            At::Discover(dir) => dir,
            At::Named(paths) => {
                let mut git_dir = OsString::from("--git-dir=");
                git_dir.push(&paths.git_dir);
                let mut work_tree = OsString::from("--work-tree=");
                work_tree.push(&paths.work_tree);
                argv.push(git_dir);
                argv.push(work_tree);
                paths.work_tree.as_path()
            }
        };
        argv.extend(args.iter().map(OsString::from));
        let mut set: Vec<(OsString, OsString)> = [
            ("GIT_AUTHOR_NAME", "orch"),
            ("GIT_AUTHOR_EMAIL", "orch@localhost"),
            ("GIT_COMMITTER_NAME", "orch"),
            ("GIT_COMMITTER_EMAIL", "orch@localhost"),
            ("GIT_TERMINAL_PROMPT", "0"),
            ("GIT_OPTIONAL_LOCKS", "0"),
            // A replace ref (`git replace`) would make a sha name other
            // content than its own: orch reads every object as it is.
            ("GIT_NO_REPLACE_OBJECTS", "1"),
            ("LC_ALL", "C"),
        ]
        .iter()
        .map(|(k, v)| (OsString::from(k), OsString::from(v)))
        .collect();
        // A driver is switched off by empty commands, and not `required`
        // (git refuses a path whose required filter did not run). In the
        // environment rather than `-c`, where a name holding `=` would be
        // cut; a child git (the checkout of `worktree add`) inherits it.
        let overrides: Vec<(String, &str)> = drivers
            .iter()
            .flat_map(|name| {
                [
                    (format!("filter.{name}.clean"), ""),
                    (format!("filter.{name}.smudge"), ""),
                    (format!("filter.{name}.process"), ""),
                    (format!("filter.{name}.required"), "false"),
                ]
            })
            .collect();
        set.push((
            "GIT_CONFIG_COUNT".into(),
            overrides.len().to_string().into(),
        ));
        for (i, (key, value)) in overrides.into_iter().enumerate() {
            set.push((format!("GIT_CONFIG_KEY_{i}").into(), key.into()));
            set.push((format!("GIT_CONFIG_VALUE_{i}").into(), value.into()));
        }
        let env = EnvPolicy {
            scrub: Scrub::Secrets,
            extra_secrets: self.extra_secrets.clone(),
            pass_through: Vec::new(),
            set,
            allow: Vec::new(),
        };
        let mut spec = ExecSpec::new(Program::Argv(argv), cwd)
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
                    Ending::Exited(ProcessExit::Code(0)) => match &finished.stdout {
                        // Part of a listing is a wrong listing (a status
                        // cut short counts fewer paths): it fails closed.
                        Some(stdout) if stdout.truncated() => Err(Failure::Cut),
                        Some(stdout) => Ok(String::from_utf8_lossy(&stdout.bytes).into_owned()),
                        None => Ok(String::new()),
                    },
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
                    // git runs without an observer or output clocks; were one
                    // set, an early end is no answer.
                    Ending::Dismissed(_) | Ending::Stalled(..) => {
                        Err(Failure::Exit(-1, "ended before it finished".to_owned()))
                    }
                }
            }
            ExecOutcome::Failed(error) => Err(Failure::Unavailable(error.message)),
        }
    }

    /// [`Git::run`], with a failure turned into a [`WorktreeError`].
    fn call(&self, at: At<'_>, args: &[&str]) -> Result<String, WorktreeError> {
        self.call_with(at, args, None)
    }

    fn call_with(
        &self,
        at: At<'_>,
        args: &[&str],
        stdin: Option<Vec<u8>>,
    ) -> Result<String, WorktreeError> {
        self.run(at, args, stdin)
            .map_err(|failure| self.error(at.dir(), args, failure))
    }

    fn error(&self, dir: &Path, args: &[&str], failure: Failure) -> WorktreeError {
        match failure {
            Failure::Unavailable(message) => WorktreeError::GitUnavailable {
                program: self.program.clone(),
                message,
            },
            Failure::Cancelled => WorktreeError::Cancelled,
            Failure::Cut => WorktreeError::OutputCut {
                args: args.join(" "),
                dir: dir.to_path_buf(),
                cap: self.stdout_cap,
            },
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
    /// scrubbed, hooks and filters off, author `orch`) and returns its
    /// stdout: for callers that set up a repository, such as `orch demo`.
    /// git finds the repository from `dir` itself.
    ///
    /// # Errors
    ///
    /// [`WorktreeError::GitUnavailable`] when git cannot be started;
    /// [`WorktreeError::Git`] when it exits non-zero.
    pub fn git(&self, dir: &Path, args: &[&str]) -> Result<String, WorktreeError> {
        self.call(At::Discover(dir), args)
    }

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

    /// Whether branch `name` exists in the repository at `repo`.
    fn branch_exists(&self, repo: &GitPaths, name: &str) -> Result<bool, WorktreeError> {
        let reference = format!("refs/heads/{name}");
        let args = ["rev-parse", "--verify", "--quiet", &reference];
        match self.run(At::Named(repo), &args, None) {
            Ok(_) => Ok(true),
            Err(Failure::Exit(1, _)) => Ok(false),
            Err(failure) => Err(self.error(&repo.work_tree, &args, failure)),
        }
    }

    /// Whether `ancestor` is `descendant` or one of its ancestors.
    fn is_ancestor(
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
    fn is_worktree_on(
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
    fn undeclared_gitlinks(
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
        let at_repo = At::Named(&repository);
        let dir = task
            .worktree
            .as_ref()
            .map_or_else(|| worktree_dir(config, task.id), PathBuf::from);
        let branch = match &task.branch {
            Some(branch) => branch.clone(),
            None => {
                let branch = branch_name(task.id);
                if self.branch_exists(&repository, &branch)?
                    && !self.is_worktree_on(&repository, &dir, &branch, task.base_commit.as_deref())
                {
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
        if self.branch_exists(&repository, &branch)? {
            self.call(
                at_repo,
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
                at_repo,
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
        self.call(at_repo, &["worktree", "move", &partial_arg, &dir_arg])?;
        let paths = self.task_worktree(&repository, &dir)?;
        self.check_start(task, &paths, &branch, strict)
    }

    /// The worktree's state at a job's start, checked against the task's
    /// record: linked to its own git folder, on the task's branch, at (or
    /// past) its latest commit; when `strict`, with no gitlink since the
    /// task's base that `.gitmodules` does not declare.
    fn check_start(
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
            branch: Some(branch.to_owned()),
            start: Some(state),
            git: Some(paths.clone()),
        })
    }

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
        let (Some(branch), Some(start), Some(paths)) =
            (&workspace.branch, &workspace.start, &workspace.git)
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

    fn remove_from(&self, repo: &GitPaths, dir: &Path) -> Result<bool, WorktreeError> {
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

/// Where a git call runs.
#[derive(Debug, Clone, Copy)]
enum At<'a> {
    /// In this folder, git finding the repository itself: only for a folder
    /// given by the user (`repo add`, the repository's own top folder) or a
    /// caller's set-up ([`Git::git`]).
    Discover(&'a Path),
    /// In these folders, named on git's command line.
    Named(&'a GitPaths),
}

impl At<'_> {
    fn dir(&self) -> &Path {
        match self {
            At::Discover(dir) => dir,
            At::Named(paths) => &paths.work_tree,
        }
    }
}

/// The git folders of a workspace.
fn workspace_paths(workspace: &Workspace) -> Result<&GitPaths, WorktreeError> {
    workspace.git.as_ref().ok_or_else(|| WorktreeError::Git {
        args: "status".to_owned(),
        dir: workspace.dir.clone(),
        message: "the task has no worktree".to_owned(),
    })
}

/// Checks that the worktree's `.git` file names its own git folder: git
/// itself would follow the file, and one that names another folder (the
/// user's checkout's, another task's) is tampering even though orch never
/// follows it. `Err` says what is wrong and how to mend it.
fn linked_to(paths: &GitPaths) -> Result<(), String> {
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
fn foreign_worktree(repo: &GitPaths, dir: &Path) -> Option<String> {
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
fn real_link(path: &Path) -> Option<PathBuf> {
    let folder = fs::canonicalize(path.parent()?).ok()?;
    Some(folder.join(path.file_name()?))
}

/// `gitlink a, b` for messages.
fn gitlinks_named(paths: &[String]) -> String {
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
fn finish_interrupted_move(common_dir: &Path, dir: &Path) -> Result<(), WorktreeError> {
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
fn partial_dir(dir: &Path) -> PathBuf {
    let mut name = dir.file_name().map(OsString::from).unwrap_or_default();
    name.push(".partial");
    dir.with_file_name(name)
}

/// Removes the lock files a killed git leaves in a task's worktree (its
/// index and `HEAD`) and on its branch. Only the worktree's own git folder
/// (found by orch, see [`Git::task_worktree`]) is touched, and only after the
/// worktree was found on the task's branch: a task runs one job at a time and
/// no process of an earlier job outlives it, so any such lock is stale.
fn clear_stale_locks(paths: &GitPaths, branch: &str) {
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
    /// It printed more on stdout than the cap keeps.
    Cut,
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
