//! `orch repo check NAME`: a repository's commands tried once, before a task
//! spends anything on them.
//!
//! [`check_repo`] makes a throwaway tree — a detached git worktree of the
//! repository's base commit under `$ORCH_HOME/checks/`, or a copy of the
//! folder when it is not a git repository — and runs the setup, test and
//! staging commands in it once each, as the runners would: `sh -c`, the
//! scrubbed environment with the repository's pass-through names, the
//! runner's timeout, and the kernel sandbox of a setup or a suite. It
//! reports each with its exit code and duration. The tree is removed after
//! (also when a run panics: the worktree is dropped); the user's checkout
//! is never written.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use orch_self_deploy::ProcessExit;
use orch_staging_runner::{Outcome, OutputLimits, RunSpec};
use orch_store::Repo;
use serde::Serialize;

use crate::config::LauncherConfig;
use crate::judge::JudgeTree;
use crate::sandbox::{self, RunKind, RunRoom};
use crate::worktree::{Checkout, Git, WorktreeError};

/// The most bytes of a failed command's output the report quotes.
const OUTPUT_TAIL_BYTES: usize = 2000;

/// Why a repository could not be checked at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RepoCheckError {
    /// The repository has no commit to check out.
    #[error(
        "repository {0:?} has no commit yet: commit something in its folder, then check it again"
    )]
    Unborn(String),
    /// git failed making the throwaway worktree.
    #[error("cannot make the throwaway worktree: {0}")]
    Worktree(#[from] WorktreeError),
    /// The folder could not be copied (a repository that is not git).
    #[error(
        "cannot copy the folder {} to {}: {error}; check that orch's home is writable",
        from.display(),
        to.display()
    )]
    Copy {
        /// The repository's folder.
        from: PathBuf,
        /// The throwaway copy.
        to: PathBuf,
        /// Why.
        error: std::io::Error,
    },
}

/// One command's run.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct CommandCheck {
    /// `setup`, `test` or `staging`.
    pub name: &'static str,
    /// The command as registered.
    pub command: String,
    /// The setting that bounds it, e.g. `ORCH_STAGING_RUNNER_TIMEOUT_SECS`.
    pub timeout_key: &'static str,
    /// The limit, in seconds.
    pub timeout_secs: u64,
    /// `passed`, `failed`, `timed_out`, `cannot_run` (126, 127, a missing
    /// folder: a tool error) or `cancelled`.
    pub outcome: &'static str,
    /// The shell's exit code, when it exited.
    pub exit_code: Option<i32>,
    /// The signal that ended it, when one did.
    pub signal: Option<i32>,
    /// How long it ran, in milliseconds.
    pub duration_ms: u64,
    /// What happened, in words (what to do when it did not pass).
    pub detail: String,
    /// The end of its output when it did not pass.
    pub output_tail: Option<String>,
}

impl CommandCheck {
    /// Whether it passed.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.outcome == "passed"
    }
}

/// What `orch repo check` found.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct RepoCheck {
    /// The repository's name.
    pub repo: String,
    /// Where the commands ran: `worktree` (a detached git worktree) or
    /// `copy` (a copy of a folder that is not a git repository).
    pub tree: &'static str,
    /// The commit the worktree was made at.
    pub commit: Option<String>,
    /// The commands, in the order a task runs them (setup, test, staging);
    /// a command the repository does not have is left out.
    pub commands: Vec<CommandCheck>,
    /// Whether every command passed.
    pub passed: bool,
}

/// The throwaway tree: removed when dropped.
enum Bench {
    Worktree(JudgeTree),
    Copy(PathBuf),
}

impl Bench {
    fn dir(&self) -> &Path {
        match self {
            Bench::Worktree(tree) => tree.dir(),
            Bench::Copy(dir) => dir,
        }
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        if let Bench::Copy(dir) = self {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

/// Runs the repository's setup, test and staging commands once each in a
/// throwaway tree (see the module's documentation).
///
/// # Errors
///
/// [`RepoCheckError`] when the tree cannot be made; a command that fails is
/// reported in the [`RepoCheck`], not as an error.
pub fn check_repo(repo: &Repo, config: &LauncherConfig) -> Result<RepoCheck, RepoCheckError> {
    let git = Git::new(config);
    let folder = Path::new(&repo.path);
    let dir =
        config
            .home
            .join("checks")
            .join(format!("{}-{}", sanitize(&repo.name), std::process::id()));
    let (bench, commit) = match git.inspect(folder)? {
        Checkout::Unborn => return Err(RepoCheckError::Unborn(repo.name.clone())),
        Checkout::Git(_) => {
            let base = git.resolve_base(folder, repo.base_ref.as_deref())?;
            let tree = JudgeTree::make(&git, folder, dir, &base.commit)?;
            (Bench::Worktree(tree), Some(base.commit))
        }
        Checkout::NotGit => {
            let _ = fs::remove_dir_all(&dir);
            copy_tree(folder, &dir).map_err(|error| RepoCheckError::Copy {
                from: folder.to_path_buf(),
                to: dir.clone(),
                error,
            })?;
            (Bench::Copy(dir), None)
        }
    };
    let mut commands = Vec::new();
    let planned = [
        (
            "setup",
            repo.setup_command.as_deref(),
            RunKind::Setup,
            config.setup.timeout,
            config.setup.grace,
            "ORCH_SETUP_TIMEOUT_SECS",
        ),
        (
            "test",
            repo.test_command.as_deref(),
            RunKind::Suite,
            config.test_runner.timeout,
            config.test_runner.grace,
            "ORCH_TEST_RUNNER_TIMEOUT_SECS",
        ),
        (
            "staging",
            Some(repo.staging_command.as_str()),
            RunKind::Suite,
            config.staging_runner.timeout,
            config.staging_runner.grace,
            "ORCH_STAGING_RUNNER_TIMEOUT_SECS",
        ),
    ];
    for (name, command, kind, timeout, grace, timeout_key) in planned {
        let Some(command) = command.map(str::trim).filter(|c| !c.is_empty()) else {
            if name == "staging" {
                // Every repository needs one; a blank one (a row from before
                // `repo add` refused it) never runs.
                commands.push(CommandCheck {
                    name,
                    command: String::new(),
                    timeout_key,
                    timeout_secs: timeout.as_secs(),
                    outcome: "cannot_run",
                    exit_code: None,
                    signal: None,
                    duration_ms: 0,
                    detail: format!(
                        "the staging command is blank; set it with `orch repo update {} --staging-cmd ...`",
                        repo.name
                    ),
                    output_tail: None,
                });
            }
            continue;
        };
        let run = Run {
            name,
            command,
            kind,
            timeout,
            grace,
            timeout_key,
        };
        commands.push(run.check(repo, config, bench.dir(), commit.as_deref()));
    }
    let passed = commands.iter().all(CommandCheck::passed);
    Ok(RepoCheck {
        repo: repo.name.clone(),
        tree: match bench {
            Bench::Worktree(_) => "worktree",
            Bench::Copy(_) => "copy",
        },
        commit,
        commands,
        passed,
    })
}

/// One command to run.
struct Run<'a> {
    name: &'static str,
    command: &'a str,
    kind: RunKind,
    timeout: Duration,
    grace: Duration,
    timeout_key: &'static str,
}

impl Run<'_> {
    fn check(
        &self,
        repo: &Repo,
        config: &LauncherConfig,
        dir: &Path,
        commit: Option<&str>,
    ) -> CommandCheck {
        let mut spec = RunSpec::new(self.command, dir)
            .timeout(Some(self.timeout))
            .grace(self.grace)
            .limits(OutputLimits::default())
            .supervisor(config.supervisor.clone());
        for key in &config.secret_env {
            spec = spec.scrub(key);
        }
        for key in &repo.pass_env {
            spec = spec.pass_env(key);
        }
        if let Some(commit) = commit {
            spec = spec.env("ORCH_COMMIT", commit);
        }
        let room = RunRoom::fresh(&config.home, "check").ok();
        if let Some(room) = &room {
            spec.set_env.extend(room.env());
        }
        spec = spec.sandbox(sandbox::policy(
            config,
            self.kind,
            repo,
            dir,
            None,
            room.as_ref(),
        ));
        let run = orch_staging_runner::start(&spec).wait();
        drop(room);
        let mut check = CommandCheck {
            name: self.name,
            command: self.command.to_owned(),
            timeout_key: self.timeout_key,
            timeout_secs: self.timeout.as_secs(),
            outcome: "passed",
            exit_code: None,
            signal: None,
            duration_ms: 0,
            detail: String::new(),
            output_tail: None,
        };
        match run.outcome {
            Outcome::Executed(executed) | Outcome::Cancelled(executed) => {
                check.duration_ms = millis(executed.duration);
                (check.exit_code, check.signal) = split_exit(executed.exit);
                if executed.timed_out {
                    check.outcome = "timed_out";
                    check.detail = format!(
                        "it ran past its limit of {}s ({}); make it faster or raise {}",
                        self.timeout.as_secs(),
                        self.timeout_key,
                        self.timeout_key
                    );
                } else if executed.status().is_passed() {
                    check.detail = "exit code 0".to_owned();
                } else {
                    check.outcome = "failed";
                    check.detail = format!(
                        "{}: a task's {} would fail here before any change of its own",
                        executed.reason(),
                        self.name
                    );
                }
                if !check.passed() {
                    check.output_tail = Some(tail(&executed.output.head, &executed.output.tail));
                }
            }
            Outcome::ToolError(error) => {
                check.outcome = "cannot_run";
                check.duration_ms = millis(error.duration);
                if let Some(exit) = error.exit {
                    (check.exit_code, check.signal) = split_exit(exit);
                }
                check.detail = format!(
                    "{}; fix it with `orch repo update {} --{}-cmd ...`",
                    error.message, repo.name, self.name
                );
                check.output_tail = error.output.as_ref().map(|o| tail(&o.head, &o.tail));
            }
        }
        check
    }
}

fn split_exit(exit: ProcessExit) -> (Option<i32>, Option<i32>) {
    match exit {
        ProcessExit::Code(code) => (Some(code), None),
        ProcessExit::Signal(signal) => (None, Some(signal)),
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The last [`OUTPUT_TAIL_BYTES`] of an output, on a character boundary.
fn tail(head: &[u8], rest: &[u8]) -> String {
    let mut text = String::from_utf8_lossy(head).into_owned();
    text.push_str(&String::from_utf8_lossy(rest));
    let text = text.trim_end();
    let mut start = text.len().saturating_sub(OUTPUT_TAIL_BYTES);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_owned()
}

/// A repository's name as a folder name.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Copies `from` into a new folder `to`: files, folders and links (links
/// are copied as links, never followed).
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(entry.path())?, &target)?;
        } else if kind.is_file() {
            fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// The report for people: one line per command, then what to do.
#[must_use]
pub fn render(check: &RepoCheck) -> String {
    use std::fmt::Write;
    let mut text = String::new();
    let at = check.commit.as_deref().map_or_else(
        || "a copy of its folder".to_owned(),
        |c| format!("a throwaway worktree at {}", crate::worktree::short(c)),
    );
    let _ = writeln!(text, "repository {}: checked in {at}", check.repo);
    for command in &check.commands {
        let code = match (command.exit_code, command.signal) {
            (Some(code), _) => format!("exit {code}"),
            (None, Some(signal)) => format!("signal {signal}"),
            (None, None) => "no exit".to_owned(),
        };
        let _ = writeln!(
            text,
            "  {:<7} {:<10} {:<8} {:>6.1}s  {}",
            command.name,
            command.outcome,
            code,
            Duration::from_millis(command.duration_ms).as_secs_f64(),
            command.command
        );
        if !command.passed() {
            let _ = writeln!(text, "          {}", command.detail);
            if let Some(output) = command.output_tail.as_deref().filter(|o| !o.is_empty()) {
                for line in output
                    .lines()
                    .rev()
                    .take(10)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                {
                    let _ = writeln!(text, "          | {line}");
                }
            }
        }
    }
    let _ = writeln!(
        text,
        "{}",
        if check.passed {
            "every command passed"
        } else {
            "some command did not pass: fix it (orch repo update) before adding tasks"
        }
    );
    text
}
