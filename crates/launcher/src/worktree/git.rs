//! Running git: the safe settings every call gets, [`Git`] and how it
//! starts git through the process machinery, and how a call failed.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use orch_self_deploy::ProcessExit;
use orch_staging_runner::OutputLimits;
use orch_staging_runner::exec::{
    self, Ending, EnvPolicy, ExecOutcome, ExecSpec, Program, Scrub, Streams,
};

use crate::config::LauncherConfig;

use super::error::WorktreeError;
use super::paths::GitPaths;

/// Settings passed to git on every call (`-c KEY=VALUE`, which wins over
/// every config file): no hook, no fsmonitor, no signing prompt, no
/// background maintenance, no pager; no replace ref; and nothing that hides
/// a change from `git status` — every untracked file listed, no cached
/// listing of them, the whole stat of a file compared (so a change of as
/// many bytes with its mtime put back is still seen by its ctime).
pub(super) const SAFE_CONFIG: [&str; 12] = [
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
pub(super) const GIT_LOCATION_VARS: [&str; 11] = [
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
pub(super) const CONTENT_FREE: [&str; 6] = [
    "config",
    "rev-parse",
    "merge-base",
    "ls-files",
    "diff-tree",
    "diff-index",
];

/// The most of git's stdout kept (a status of a very large tree).
pub(super) const STDOUT_CAP: usize = 16 * 1024 * 1024;

/// Runs git for orch (see the module documentation).
#[derive(Debug, Clone)]
pub struct Git {
    pub(super) program: String,
    pub(super) timeout: Duration,
    pub(super) extra_secrets: Vec<OsString>,
    pub(super) supervisor: orch_staging_runner::SupervisorProgram,
    pub(super) stdout_cap: usize,
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
    pub(super) fn run(
        &self,
        at: At<'_>,
        args: &[&str],
        stdin: Option<Vec<u8>>,
    ) -> Result<String, Failure> {
        let drivers = if args.first().is_some_and(|a| CONTENT_FREE.contains(a)) {
            Vec::new()
        } else {
            self.filter_drivers(at)?
        };
        self.exec(at, args, stdin, &drivers)
    }

    /// The names of the filter drivers configured for the repository at
    /// `at` (`filter.<name>.*` in any config file git reads there).
    pub(super) fn filter_drivers(&self, at: At<'_>) -> Result<Vec<String>, Failure> {
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

    /// A git process's environment: secrets dropped, orch as author and
    /// committer, no prompt, no optional lock, no replace ref, the C
    /// locale, and every driver in `drivers` switched off.
    fn git_env(&self, drivers: &[String]) -> EnvPolicy {
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
        EnvPolicy::new(Scrub::Secrets)
            .with_extra_secrets(self.extra_secrets.iter().cloned())
            .with_set(set)
    }

    /// One git process: `git -c SAFE... [--git-dir --work-tree] ARGS`, with
    /// every driver in `drivers` switched off.
    pub(super) fn exec(
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
        let env = self.git_env(drivers);
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
    pub(super) fn call(&self, at: At<'_>, args: &[&str]) -> Result<String, WorktreeError> {
        self.call_with(at, args, None)
    }

    pub(super) fn call_with(
        &self,
        at: At<'_>,
        args: &[&str],
        stdin: Option<Vec<u8>>,
    ) -> Result<String, WorktreeError> {
        self.run(at, args, stdin)
            .map_err(|failure| self.error(at.dir(), args, failure))
    }

    pub(super) fn error(&self, dir: &Path, args: &[&str], failure: Failure) -> WorktreeError {
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
}

/// Where a git call runs.
#[derive(Debug, Clone, Copy)]
pub(super) enum At<'a> {
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

/// How a git call failed.
#[derive(Debug)]
pub(super) enum Failure {
    /// git could not be started.
    Unavailable(String),
    /// It exited with this code (or -1 for a signal or a timeout), saying this.
    Exit(i32, String),
    /// The run was cancelled.
    Cancelled,
    /// It printed more on stdout than the cap keeps.
    Cut,
}
