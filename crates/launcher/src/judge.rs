//! The judge tree: where the suite runners judge a task, out of its agents'
//! reach.
//!
//! A developer agent that cannot make a test pass can delete the test or
//! make `staging.sh` `exit 0`, and a suite run in the task's own worktree
//! then says PASSED. So the staging runner, the test runner and the shadow
//! test runner judge a **judge tree** instead: a scratch, detached worktree
//! at the candidate commit, `$ORCH_HOME/judge/<task>-<job>`, made the way
//! task worktrees are made (beside its place as `.partial`, moved into place
//! once whole), removed after the run and swept at start-up. When the
//! repository pins its suite (`orch repo add --suite 'tests/**,staging.sh'`),
//! every suite path that exists at the task's base commit — or at the suite
//! version an operator approved for the task (`orch task approve-suite`) —
//! and that the task deleted or modified is restored to that content in the
//! judge tree; files the task added under suite paths stay (tests may be
//! added, never weakened). What the task changed under suite paths is listed
//! in the log and in the gate evidence.
//!
//! Suite paths are git pathspecs with glob magic (`:(glob)PATTERN`): `*`
//! stays inside one folder, `**` crosses folders, and a pattern without
//! wildcards (`tests`, `Makefile`) names that file or everything under that
//! folder.
//!
//! git runs through [`Git`], like every git call of orch; only its public
//! `git` entry point is used, so that this module stays apart from the
//! worktree code's internals.

use std::fs;
use std::path::{Path, PathBuf};

use orch_staging_runner::{Outcome, OutputLimits, RunSpec};
use orch_store::{JobId, Repo, TaskId};
use sha2::{Digest, Sha256};

use crate::config::LauncherConfig;
use crate::context::RunControl;
use crate::sandbox::{RunKind, RunRoom};
use crate::worktree::{Git, WorktreeError, short};

/// Why a suite pattern cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "suite path {pattern:?} {why}; give git glob patterns relative to the repository's top folder, e.g. --suite 'tests/**,staging.sh,Makefile'"
)]
pub struct SuitePatternError {
    /// The pattern as given.
    pub pattern: String,
    /// What is wrong with it.
    pub why: &'static str,
}

/// Checks one suite pattern (see the module documentation).
///
/// # Errors
///
/// [`SuitePatternError`] saying what is wrong.
pub fn check_pattern(pattern: &str) -> Result<(), SuitePatternError> {
    let bad = |why| {
        Err(SuitePatternError {
            pattern: pattern.to_owned(),
            why,
        })
    };
    if pattern.trim().is_empty() {
        return bad("is empty");
    }
    if pattern != pattern.trim() {
        return bad("has spaces around it");
    }
    if pattern.chars().any(|c| c.is_control()) {
        return bad("holds a control character");
    }
    if pattern.contains(',') {
        return bad("holds ',' (patterns are separated by commas)");
    }
    if pattern.starts_with(':') {
        // orch adds the glob magic itself; other magic (`:(exclude)`) would
        // change what is pinned behind the operator's back.
        return bad("starts with ':' (pathspec magic is orch's)");
    }
    if pattern.starts_with('/') {
        return bad("is absolute");
    }
    if pattern.split('/').any(|part| part == ".." || part == ".") {
        return bad("has a '.' or '..' component");
    }
    if pattern.matches('[').count() != pattern.matches(']').count() {
        return bad("has an unclosed '[' or ']'");
    }
    if pattern.chars().all(|c| c == '*' || c == '/') {
        return bad("pins every file, so no task could change anything");
    }
    Ok(())
}

/// Parses `--suite`'s comma-separated patterns, checking each; an empty
/// text is no pattern (the suite is unpinned).
///
/// # Errors
///
/// The first pattern's [`SuitePatternError`].
pub fn parse_suite(text: &str) -> Result<Vec<String>, SuitePatternError> {
    let mut patterns = Vec::new();
    for pattern in text.split(',').map(str::trim) {
        if pattern.is_empty() {
            continue;
        }
        check_pattern(pattern)?;
        if !patterns.iter().any(|p| p == pattern) {
            patterns.push(pattern.to_owned());
        }
    }
    Ok(patterns)
}

/// The patterns as git pathspecs with glob magic.
fn pathspecs(patterns: &[String]) -> Vec<String> {
    patterns.iter().map(|p| format!(":(glob){p}")).collect()
}

/// How the task changed one suite path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// The task added it: it stays in the judge tree.
    Added,
    /// The task modified it (or changed its type): restored.
    Modified,
    /// The task deleted it: restored.
    Deleted,
}

impl ChangeKind {
    /// `added`, `modified`, `deleted`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Modified => "modified",
            ChangeKind::Deleted => "deleted",
        }
    }
}

/// One suite path the task changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuiteChange {
    /// How.
    pub kind: ChangeKind,
    /// The path, from the repository's top folder.
    pub path: String,
}

/// The most paths a description names; the rest are counted.
const NAMED_PATHS: usize = 40;

/// `added (kept): a; modified (restored): b, c; deleted (restored): d`, or
/// `none`.
#[must_use]
pub fn describe_changes(changes: &[SuiteChange]) -> String {
    if changes.is_empty() {
        return "none".to_owned();
    }
    let mut parts = Vec::new();
    let mut named = 0;
    for kind in [ChangeKind::Added, ChangeKind::Modified, ChangeKind::Deleted] {
        let paths: Vec<&str> = changes
            .iter()
            .filter(|c| c.kind == kind)
            .map(|c| c.path.as_str())
            .collect();
        if paths.is_empty() {
            continue;
        }
        let room = NAMED_PATHS.saturating_sub(named);
        let mut list = paths
            .iter()
            .take(room)
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        if paths.len() > room {
            list.push_str(&format!(" and {} more", paths.len() - room));
        }
        named += paths.len().min(room);
        let fate = if kind == ChangeKind::Added {
            "kept"
        } else {
            "restored"
        };
        parts.push(format!("{} ({fate}): {list}", kind.as_str()));
    }
    parts.join("; ")
}

/// What the task changed under `patterns` from commit `from` to commit
/// `to` (renames are a deletion and an addition), read in `dir` (any tree
/// of the repository).
///
/// # Errors
///
/// [`WorktreeError`] when git fails.
pub fn suite_changes(
    git: &Git,
    dir: &Path,
    from: &str,
    to: &str,
    patterns: &[String],
) -> Result<Vec<SuiteChange>, WorktreeError> {
    if patterns.is_empty() || from == to {
        return Ok(Vec::new());
    }
    let out = suite_diff(git, dir, &["--name-status", "-z"], from, to, patterns)?;
    let mut fields = out.split('\0').filter(|f| !f.is_empty());
    let mut changes = Vec::new();
    while let (Some(status), Some(path)) = (fields.next(), fields.next()) {
        let kind = match status.chars().next() {
            Some('A') => ChangeKind::Added,
            Some('D') => ChangeKind::Deleted,
            _ => ChangeKind::Modified,
        };
        changes.push(SuiteChange {
            kind,
            path: path.to_owned(),
        });
    }
    Ok(changes)
}

/// `git diff` of the suite paths from `from` to `to`, with `flags`: no
/// external diff, no textconv, no renames (a file moved out of a suite path
/// is a deletion there).
fn suite_diff(
    git: &Git,
    dir: &Path,
    flags: &[&str],
    from: &str,
    to: &str,
    patterns: &[String],
) -> Result<String, WorktreeError> {
    let specs = pathspecs(patterns);
    let mut args = vec!["diff", "--no-ext-diff", "--no-textconv", "--no-renames"];
    args.extend_from_slice(flags);
    args.extend([from, to, "--"]);
    args.extend(specs.iter().map(String::as_str));
    git.git(dir, &args)
}

/// The sha256 of the suite's diff from `from` to `to` under `patterns`
/// (`git diff --binary --full-index --no-renames`, as text), for the record
/// of an approval.
///
/// # Errors
///
/// [`WorktreeError`] when git fails.
pub fn suite_diff_sha256(
    git: &Git,
    dir: &Path,
    from: &str,
    to: &str,
    patterns: &[String],
) -> Result<String, WorktreeError> {
    let diff = suite_diff(git, dir, &["--binary", "--full-index"], from, to, patterns)?;
    Ok(Sha256::digest(diff.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// The suite version a task is judged against: the commit whose suite
/// paths the judge tree restores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// The commit.
    pub commit: String,
    /// Whether an operator approved it (else it is the task's base).
    pub approved: bool,
}

impl Pin {
    /// The task's pin: the approved suite, else its base commit; `None` for
    /// a task without a base (a checkout task).
    #[must_use]
    pub fn of(task: &orch_store::Task) -> Option<Pin> {
        match (&task.suite_commit, &task.base_commit) {
            (Some(commit), _) => Some(Pin {
                commit: commit.clone(),
                approved: true,
            }),
            (None, Some(commit)) => Some(Pin {
                commit: commit.clone(),
                approved: false,
            }),
            (None, None) => None,
        }
    }

    /// `the base commit 0123456789ab` or `the version approved by the
    /// operator at 0123456789ab`.
    #[must_use]
    pub fn describe(&self) -> String {
        if self.approved {
            format!(
                "the version the operator approved at {}",
                short(&self.commit)
            )
        } else {
            format!("the task's base commit {}", short(&self.commit))
        }
    }
}

/// The folder of the judge tree of one job's run.
#[must_use]
pub fn judge_dir(config: &LauncherConfig, task: TaskId, job: JobId) -> PathBuf {
    judge_root(config).join(format!("{task}-{job}"))
}

/// Where judge trees live: `$ORCH_HOME/judge`.
#[must_use]
pub fn judge_root(config: &LauncherConfig) -> PathBuf {
    config.home.join("judge")
}

fn partial_of(dir: &Path) -> PathBuf {
    let mut name = dir.file_name().map(ToOwned::to_owned).unwrap_or_default();
    name.push(".partial");
    dir.with_file_name(name)
}

fn io_error(what: &str, dir: &Path, error: &std::io::Error) -> WorktreeError {
    WorktreeError::Git {
        args: format!("({what})"),
        dir: dir.to_path_buf(),
        message: error.to_string(),
    }
}

/// A judge tree: removed (best effort) when dropped, so that a run that
/// ends any way, a panic included, leaves none behind; the start-up sweep
/// takes what a crash left.
#[derive(Debug)]
pub struct JudgeTree {
    git: Git,
    repo: PathBuf,
    dir: PathBuf,
}

/// A tree being made: thrown away when dropped before it is whole.
struct Partial<'a> {
    git: &'a Git,
    repo: &'a Path,
    dir: PathBuf,
}

impl Drop for Partial<'_> {
    fn drop(&mut self) {
        let _ = discard(self.git, self.repo, &self.dir);
    }
}

impl JudgeTree {
    /// Makes the judge tree at `dir`: a detached worktree of the repository
    /// at `repo` at `commit`. Whatever an earlier run left at `dir` (a
    /// crash) is thrown away first.
    ///
    /// # Errors
    ///
    /// [`WorktreeError`] when git fails or a folder cannot be made.
    pub fn make(
        git: &Git,
        repo: &Path,
        dir: PathBuf,
        commit: &str,
    ) -> Result<JudgeTree, WorktreeError> {
        discard(git, repo, &dir)?;
        let partial = partial_of(&dir);
        discard(git, repo, &partial)?;
        if let Some(parent) = dir.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| io_error("create the judge folder", parent, &e))?;
        }
        let partial_arg = partial.to_string_lossy().into_owned();
        let dir_arg = dir.to_string_lossy().into_owned();
        // Made beside its place and moved there once whole, as task
        // worktrees are: a crash never leaves a half-written tree to judge.
        let half = Partial {
            git,
            repo,
            dir: partial,
        };
        git.git(
            repo,
            &[
                "worktree",
                "add",
                "--detach",
                "--quiet",
                &partial_arg,
                commit,
            ],
        )?;
        git.git(repo, &["worktree", "move", &partial_arg, &dir_arg])?;
        // Moved into place: nothing is left at the partial path to remove.
        std::mem::forget(half);
        Ok(JudgeTree {
            git: git.clone(),
            repo: repo.to_path_buf(),
            dir,
        })
    }

    /// Its folder.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Restores, in the tree, every path under `patterns` that the tree's
    /// commit `candidate` deleted or modified since `pin`, to its content
    /// at `pin`; paths added since stay. Returns every change.
    ///
    /// # Errors
    ///
    /// [`WorktreeError`] when git fails.
    pub fn restore_suite(
        &self,
        pin: &str,
        candidate: &str,
        patterns: &[String],
    ) -> Result<Vec<SuiteChange>, WorktreeError> {
        let changes = suite_changes(&self.git, &self.dir, pin, candidate, patterns)?;
        let restore: Vec<&SuiteChange> = changes
            .iter()
            .filter(|c| c.kind != ChangeKind::Added)
            .collect();
        // Literal pathspecs: a restored file's name is never a pattern.
        for chunk in restore.chunks(200) {
            let mut args = vec!["checkout".to_owned(), pin.to_owned(), "--".to_owned()];
            args.extend(chunk.iter().map(|c| format!(":(literal){}", c.path)));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            self.git.git(&self.dir, &args)?;
        }
        Ok(changes)
    }
}

impl Drop for JudgeTree {
    fn drop(&mut self) {
        let _ = discard(&self.git, &self.repo, &self.dir);
    }
}

/// Removes a judge tree (or what is left of one) at `dir` of the repository
/// at `repo`; nothing there is fine.
fn discard(git: &Git, repo: &Path, dir: &Path) -> Result<(), WorktreeError> {
    if fs::symlink_metadata(dir).is_ok() {
        let arg = dir.to_string_lossy().into_owned();
        let _ = git.git(repo, &["worktree", "remove", "--force", "--force", &arg]);
        if fs::symlink_metadata(dir).is_ok() {
            fs::remove_dir_all(dir).map_err(|e| io_error("remove a judge tree", dir, &e))?;
        }
    }
    // A folder removed by hand (or just now) leaves git's bookkeeping.
    git.git(repo, &["worktree", "prune"])?;
    Ok(())
}

/// The start-up sweep of `$ORCH_HOME/judge`: every judge tree whose job is
/// not running (`running` says) is removed from its repository; `repos`
/// are the repositories' folders (a judge tree names its own through its
/// `.git` file; one that does not is deleted as a plain folder). Returns
/// the folders removed.
pub fn sweep(
    git: &Git,
    config: &LauncherConfig,
    repos: &[PathBuf],
    running: impl Fn(JobId) -> bool,
) -> Vec<PathBuf> {
    let root = judge_root(config);
    let mut entries: Vec<PathBuf> = fs::read_dir(&root)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    entries.sort();
    let mut removed = Vec::new();
    for dir in entries {
        let job = dir
            .file_name()
            .and_then(|n| n.to_str())
            .map(|n| n.strip_suffix(".partial").unwrap_or(n))
            .and_then(|n| n.split_once('-'))
            .and_then(|(_, job)| job.parse::<i64>().ok())
            .map(JobId::new);
        if job.is_some_and(&running) {
            continue;
        }
        let repo = repos.iter().find(|repo| belongs_to(&dir, repo));
        let gone = match repo {
            Some(repo) => discard(git, repo, &dir).is_ok(),
            None => fs::remove_dir_all(&dir).is_ok(),
        };
        if gone {
            removed.push(dir);
        }
    }
    removed
}

/// Whether the worktree at `dir` is one of the repository at `repo` (its
/// `.git` file points into the repository's `.git/worktrees`).
fn belongs_to(dir: &Path, repo: &Path) -> bool {
    let Ok(link) = fs::read_to_string(dir.join(".git")) else {
        return false;
    };
    let Some(gitdir) = link
        .strip_prefix("gitdir:")
        .map(|p| PathBuf::from(p.trim()))
    else {
        return false;
    };
    match (
        gitdir.parent().map(fs::canonicalize),
        fs::canonicalize(repo.join(".git/worktrees")),
    ) {
        (Some(Ok(parent)), Ok(worktrees)) => parent == worktrees,
        _ => false,
    }
}

// ---------------------------------------------------------------------------
// the setup command

/// How a repository's setup command ended, when it did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupFailure {
    /// It exited non-zero, timed out, or could not be started; the text
    /// says how, and quotes the end of its output.
    Failed(String),
    /// The run was cancelled (a shutdown, a lost lease, an operator).
    Cancelled,
}

/// The most bytes of a setup's output an alert quotes.
const SETUP_TAIL_BYTES: usize = 1500;

/// Runs the repository's setup command (`repo add --setup-cmd`) in `dir`
/// through the process machinery, as suites run: `sh -c`, scrubbed
/// environment with the repository's pass-through names, the setup
/// timeout, the whole tree killed at the end; its raw output goes to
/// `output`. `Ok` when there is none to run or it exited 0 in time.
///
/// # Errors
///
/// [`SetupFailure`] saying how it ended, quoting its output's tail.
pub fn run_setup(
    repo: &Repo,
    config: &LauncherConfig,
    dir: &Path,
    commit: Option<&str>,
    control: &RunControl,
    output: &Path,
) -> Result<(), SetupFailure> {
    let Some(command) = repo
        .setup_command
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    else {
        return Ok(());
    };
    let mut spec = RunSpec::new(command, dir)
        .timeout(Some(config.setup.timeout))
        .grace(config.setup.grace)
        .limits(OutputLimits::default())
        .sidecar(output)
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
    if let Some(parent) = output.parent() {
        let _ = fs::create_dir_all(parent);
    }
    let room = RunRoom::fresh(&config.home, "setup").map_err(|error| {
        SetupFailure::Failed(format!(
            "the setup command `{command}` could not be given its folders under {}: {error}",
            config.home.display()
        ))
    })?;
    for (key, value) in room.env() {
        spec.set_env.push((key, value));
    }
    spec = spec.sandbox(crate::sandbox::policy(
        config,
        RunKind::Setup,
        repo,
        dir,
        None,
        Some(&room),
    ));
    let handle = orch_staging_runner::start(&spec);
    control.attach(handle.canceller());
    let run = handle.wait();
    let failed = |what: String| {
        Err(SetupFailure::Failed(format!(
            "the setup command `{command}` {what} (its output: {})",
            output.display()
        )))
    };
    match run.outcome {
        Outcome::Executed(executed) if executed.status().is_passed() => Ok(()),
        Outcome::Executed(executed) => {
            let mut text = String::from_utf8_lossy(&executed.output.head).into_owned();
            text.push_str(&String::from_utf8_lossy(&executed.output.tail));
            let tail = tail_of(&text, SETUP_TAIL_BYTES);
            failed(format!(
                "failed: {}; its output ends: {tail}",
                executed.reason()
            ))
        }
        Outcome::Cancelled(_) => Err(SetupFailure::Cancelled),
        Outcome::ToolError(error) => failed(format!("could not be run: {}", error.message)),
    }
}

/// The last `max` bytes of `text` (on a character boundary), trimmed.
fn tail_of(text: &str, max: usize) -> String {
    let text = text.trim();
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let tail = &text[start..];
    if start > 0 {
        format!("...{tail}")
    } else {
        tail.to_owned()
    }
}

/// Where a task worktree's finished setup is marked: a file in the
/// worktree's own git folder (`.git/worktrees/<name>/`), so that a worktree
/// made anew (deleted by hand, or after a crash in `worktree add`) runs its
/// setup again, and nothing is written in the tree the roles see.
#[must_use]
pub fn setup_marker(worktree: &Path) -> Option<PathBuf> {
    let link = fs::read_to_string(worktree.join(".git")).ok()?;
    let gitdir = PathBuf::from(link.strip_prefix("gitdir:")?.trim());
    Some(gitdir.join("orch-setup-done"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suite_patterns_are_checked() {
        assert_eq!(
            parse_suite("tests/**, staging.sh,Makefile,,tests/**").unwrap(),
            vec!["tests/**", "staging.sh", "Makefile"]
        );
        assert!(parse_suite("").unwrap().is_empty());
        for bad in [
            ":(exclude)tests",
            "/etc/passwd",
            "../x",
            "tests/../../x",
            "**",
            "*/**",
            "tests/[a",
            "a\nb",
        ] {
            let error = check_pattern(bad).unwrap_err();
            assert!(error.to_string().contains("--suite"), "{error}");
        }
    }

    #[test]
    fn changes_are_described_with_their_fate() {
        assert_eq!(describe_changes(&[]), "none");
        let changes = vec![
            SuiteChange {
                kind: ChangeKind::Deleted,
                path: "tests/a.sh".into(),
            },
            SuiteChange {
                kind: ChangeKind::Added,
                path: "tests/new.sh".into(),
            },
            SuiteChange {
                kind: ChangeKind::Modified,
                path: "staging.sh".into(),
            },
        ];
        assert_eq!(
            describe_changes(&changes),
            "added (kept): tests/new.sh; modified (restored): staging.sh; deleted (restored): tests/a.sh"
        );
        assert_eq!(tail_of("abcdef", 3), "...def");
    }
}
