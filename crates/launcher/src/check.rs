//! `orch agent check`: the configured agent, tried once for real.
//!
//! [`check_agent`] makes a throwaway orch home with a git repository of one
//! commit, adds it, creates a task and runs its `analysis` job through the
//! engine — the task's own worktree, the real kernel sandbox, the real
//! [`crate::spawn`] with the configured preset, its environment and
//! command — then reads what happened and says what is wrong, one
//! [`Finding`] each with its fix: the CLI not installed, its key missing or
//! refused, the CLI refusing to run as root, no artifact written. The
//! agent passed when it wrote its artifact.
//!
//! What the CLIs say when they fail is in docs/agents.md: Claude Code
//! retries a 401 for minutes (`api_retry` lines, `"error_status":401`),
//! Codex ends with exit 1 after its reconnects, Gemini with exit 145 and
//! an `error` result; the check's timeout bounds all of them.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use orch_store::{LeaseOwner, NewRepo, Store};

use crate::config::LauncherConfig;
use crate::engine::{Engine, JobEndKind, StopSignal};
use crate::preset::{AgentKind, Preset};
use crate::worktree::Git;

/// One thing wrong with the agent, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What kind of problem.
    pub kind: FindingKind,
    /// One line: what is wrong and the fix.
    pub message: String,
}

/// The kinds of problem the check tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindingKind {
    /// The shell did not find the CLI (exit 127).
    NotInstalled,
    /// The CLI had no key, or the API refused it.
    NotAuthenticated,
    /// The CLI refused to run unattended as root.
    RefusedAsRoot,
    /// The CLI could not reach its model API.
    Unreachable,
    /// The run did not end within the check's timeout.
    TimedOut,
    /// The run ended without its artifact.
    NoArtifact,
    /// The run failed for another reason.
    Failed,
}

/// What the check saw.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckReport {
    /// The preset that was run.
    pub preset: AgentKind,
    /// The command that was run.
    pub command: String,
    /// Whether the agent wrote its artifact: the agent works.
    pub artifact_written: bool,
    /// The run's outcome as `agent_runs` has it (`passed`, `failed`,
    /// `timed_out`, `tool_error`), if a run was recorded.
    pub outcome: Option<String>,
    /// Its exit code.
    pub exit_code: Option<i32>,
    /// What was wrong; empty when the artifact was written.
    pub findings: Vec<Finding>,
    /// Advice that does not fail the check: a CLI whose own retries orch
    /// cannot bound as configured ([`retry_notes`]).
    pub notes: Vec<String>,
    /// The last lines of the agent's output, for the operator.
    pub output_tail: String,
    /// How long the check took.
    pub took: Duration,
}

/// The check could not run the agent at all.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The throwaway folders could not be made.
    #[error(
        "cannot make the check's throwaway folders under {path}: {source}; set TMPDIR to a writable folder"
    )]
    Folders {
        /// Where.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// git could not make the throwaway repository.
    #[error("cannot make the check's git repository: {0}; install git or set ORCH_GIT to its path")]
    Git(String),
    /// The engine or its database failed.
    #[error("the check's engine failed: {0}")]
    Engine(String),
}

/// The throwaway folder, removed when the check ends.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the configured agent once on a throwaway task, under `scratch_root`
/// (a temporary folder), for at most `timeout`; see the module
/// documentation.
///
/// # Errors
///
/// [`CheckError`] when the check itself could not run (its folders, git,
/// its database); an agent that fails is a report with findings.
pub fn check_agent(
    config: &LauncherConfig,
    scratch_root: &Path,
    timeout: Duration,
) -> Result<CheckReport, CheckError> {
    let started = Instant::now();
    let root = scratch_root.join(format!(
        "orch-agent-check-{}-{}",
        std::process::id(),
        crate::engine::epoch_ms(std::time::SystemTime::now())
    ));
    let scratch = Scratch(root.clone());
    let home = root.join("home");
    let checkout = root.join("repo");
    for dir in [&home, &checkout] {
        std::fs::create_dir_all(dir).map_err(|source| CheckError::Folders {
            path: dir.clone(),
            source,
        })?;
    }
    let mut settings = config.clone();
    settings.home.clone_from(&home);
    // The real home stays out of the agent's reach, as in a real run.
    settings.sandbox.hidden.push(config.home.clone());
    settings.agent.timeout = timeout;
    settings.agent.retry.retries = 0;
    make_repository(&settings, &checkout)?;
    let engine_error = |error: &dyn std::fmt::Display| CheckError::Engine(error.to_string());
    let store = Store::open(root.join("orch.db")).map_err(|e| engine_error(&e))?;
    let engine = Engine::new(
        store,
        settings.clone(),
        LeaseOwner::new("agent-check", "check"),
    );
    let checkout_text = checkout.to_string_lossy().into_owned();
    let repo = engine
        .store()
        .add_repo(&NewRepo::new("agent-check", &checkout_text, "true"))
        .map_err(|e| engine_error(&e))?;
    let (task, _) = engine
        .create_task(
            repo,
            "orch agent check: describe this repository in one line",
        )
        .map_err(|e| engine_error(&e))?;
    let report = engine
        .run_next(&StopSignal::default())
        .map_err(|e| engine_error(&e))?;
    let task_dir = settings.task_dir(task.get());
    let artifact_written = task_dir.join("01-analysis.md").is_file();
    let output =
        std::fs::read_to_string(task_dir.join("01-analysis.output.log")).unwrap_or_default();
    let run = engine
        .store()
        .agent_runs(task)
        .map_err(|e| engine_error(&e))?
        .into_iter()
        .last();
    // A program the shell did not find blocks the job at once (no retry in
    // the check): the report's detail says the shell's 127.
    let not_found = report.as_ref().is_some_and(|r| {
        matches!(r.end, JobEndKind::Blocked { .. })
            && r.detail
                .as_deref()
                .is_some_and(|d| d.contains("exited 127"))
    });
    let seen = Seen {
        outcome: run.as_ref().map(|r| r.outcome.clone()),
        exit_code: run.as_ref().and_then(|r| r.exit_code),
        not_found,
        output: &output,
        artifact_written,
        timeout,
    };
    let findings = diagnose(config.agent.preset.preset(), &config.agent.command, &seen);
    let notes = agent_retry_notes(config);
    drop(scratch);
    Ok(CheckReport {
        preset: config.agent.preset,
        command: config.agent.command.clone(),
        artifact_written,
        outcome: seen.outcome,
        exit_code: seen.exit_code,
        findings,
        notes,
        output_tail: tail(&output, 20),
        took: started.elapsed(),
    })
}

/// What the configured agent CLI's own retries are bounded by
/// ([`retry_notes`], with Codex's home from `CODEX_HOME` or the user's home).
fn agent_retry_notes(config: &LauncherConfig) -> Vec<String> {
    let codex_home = std::env::var_os("CODEX_HOME")
        .map(PathBuf::from)
        .or_else(|| {
            config
                .agent
                .home_dir
                .as_ref()
                .map(|home| home.join(".codex"))
        });
    retry_notes(
        config.agent.preset,
        config.agent.home_dir.as_deref(),
        codex_home.as_deref(),
    )
}

/// A git repository of one commit at `dir`.
fn make_repository(config: &LauncherConfig, dir: &Path) -> Result<(), CheckError> {
    let git = Git::new(config);
    std::fs::write(
        dir.join("README.md"),
        "# agent check\n\nA throwaway repository.\n",
    )
    .map_err(|source| CheckError::Folders {
        path: dir.to_path_buf(),
        source,
    })?;
    for args in [
        &["init", "-q", "-b", "main"][..],
        &["add", "README.md"],
        &[
            "-c",
            "user.name=orch",
            "-c",
            "user.email=orch@localhost",
            "commit",
            "-q",
            "-m",
            "agent check",
        ],
    ] {
        git.git(dir, args)
            .map_err(|error| CheckError::Git(error.to_string()))?;
    }
    Ok(())
}

/// What the check's run left to read.
#[derive(Debug, Clone)]
pub struct Seen<'a> {
    /// `agent_runs.outcome`.
    pub outcome: Option<String>,
    /// `agent_runs.exit_code`.
    pub exit_code: Option<i32>,
    /// The shell said 127: the program was not found.
    pub not_found: bool,
    /// The agent's stdout and stderr.
    pub output: &'a str,
    /// The artifact reached the task folder.
    pub artifact_written: bool,
    /// The check's timeout.
    pub timeout: Duration,
}

/// What the CLIs print when the key is missing or refused (docs/agents.md).
const AUTH_MARKERS: [&str; 12] = [
    "authentication_failed",
    "\"error_status\":401",
    "401 Unauthorized",
    "status 401",
    "Invalid API key",
    "invalid x-api-key",
    "Not logged in",
    "/login",
    "API key not valid",
    "UNAUTHENTICATED",
    "Invalid auth method",
    "\"code\":401",
];

/// What the CLIs print when the model API cannot be reached.
const NETWORK_MARKERS: [&str; 6] = [
    "Name does not resolve",
    "failed to lookup address",
    "Connection failed",
    "ECONNREFUSED",
    "ENOTFOUND",
    "Connection refused",
];

/// What Claude Code prints when it refuses its bypass as root.
const ROOT_MARKERS: [&str; 2] = ["root/sudo", "with root"];

/// The findings for what was seen; empty when the artifact was written.
#[must_use]
pub fn diagnose(preset: &Preset, command: &str, seen: &Seen<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let finding = |kind, message: String| Finding { kind, message };
    if seen.artifact_written {
        return findings;
    }
    if seen.not_found || seen.exit_code == Some(127) {
        let said = last_line_with(seen.output, &["not found"]).unwrap_or_default();
        let message = if preset.program.is_empty() {
            format!(
                "not installed: the shell did not find the program of ORCH_AGENT_CMD {command:?} ({said}); install it or fix the command"
            )
        } else {
            format!(
                "not installed: `{}` is not on orch's PATH ({said}); install it with `npm install -g {}`, or add its folder to PATH",
                preset.program, preset.npm_package
            )
        };
        findings.push(finding(FindingKind::NotInstalled, message));
        return findings;
    }
    if let Some(line) = last_line_with(seen.output, &ROOT_MARKERS) {
        findings.push(finding(
            FindingKind::RefusedAsRoot,
            format!(
                "refused as root: {line}; keep orch's sandbox on (ORCH_SANDBOX=required or best-effort: orch then sets IS_SANDBOX=1) or run orch as a user other than root"
            ),
        ));
    }
    if let Some(line) = last_line_with(seen.output, &AUTH_MARKERS) {
        let keys = if preset.keys.is_empty() {
            "its key (name it in ORCH_AGENT_PASS_ENV)".to_owned()
        } else {
            preset.keys.join(" or ")
        };
        let extra = if line.contains("Invalid auth method") {
            "; with a key, Gemini CLI also needs {\"security\":{\"auth\":{\"selectedType\":\"gemini-api-key\"}}} in ~/.gemini/settings.json"
        } else {
            ""
        };
        findings.push(finding(
            FindingKind::NotAuthenticated,
            format!(
                "not logged in, or the key was refused: {line}; set {keys} in orch's environment (or log in with the CLI as orch's user){extra}"
            ),
        ));
    }
    if findings.is_empty()
        && let Some(line) = last_line_with(seen.output, &NETWORK_MARKERS)
    {
        findings.push(finding(
            FindingKind::Unreachable,
            format!(
                "cannot reach the model API: {line}; check the network, the CLI's base URL ({}) and a proxy (name HTTPS_PROXY in ORCH_AGENT_PASS_ENV)",
                if preset.credentials.is_empty() {
                    "its own settings".to_owned()
                } else {
                    preset.credentials.join(", ")
                }
            ),
        ));
    }
    match seen.outcome.as_deref() {
        Some("timed_out") => findings.push(finding(
            FindingKind::TimedOut,
            format!(
                "the agent did not finish within {}s{}; check the model API is reachable from this machine, or give the check more time with --timeout",
                seen.timeout.as_secs(),
                if findings.is_empty() {
                    String::new()
                } else {
                    " (it was still retrying)".to_owned()
                }
            ),
        )),
        Some("passed") if findings.is_empty() => findings.push(finding(
            FindingKind::NoArtifact,
            "no artifact written: the agent ended with exit 0 but wrote nothing at $ORCH_ARTIFACT; check that the command lets it write files unattended (a permission mode, --yolo) outside the worktree".to_owned(),
        )),
        _ if findings.is_empty() => findings.push(finding(
            FindingKind::Failed,
            format!(
                "the agent failed ({}, exit {}) and wrote no artifact: {}; see its output below",
                seen.outcome.as_deref().unwrap_or("no run recorded"),
                seen.exit_code
                    .map_or_else(|| "none".to_owned(), |code| code.to_string()),
                last_line_with(seen.output, &[""]).unwrap_or_default()
            ),
        )),
        _ => {}
    }
    findings
}

/// Advice on the CLI's own retries of a failed model request, which orch
/// bounds where it can ([`crate::preset::retry_env`]): none for Claude
/// (bounded by a variable); for Codex when `config.toml` selects a built-in
/// provider (its table cannot be amended); for Gemini when
/// `~/.gemini/settings.json` (under `home_dir`) sets no
/// `general.maxAttempts` (no settings file orch could write is read).
#[must_use]
pub fn retry_notes(
    preset: AgentKind,
    home_dir: Option<&Path>,
    codex_home: Option<&Path>,
) -> Vec<String> {
    match preset {
        AgentKind::Codex => {
            let bounded = crate::preset::retry_env(preset, codex_home)
                .iter()
                .any(|(_, args)| !args.is_empty());
            if bounded {
                Vec::new()
            } else {
                vec!["Codex's own retries are not bounded by orch: `model_provider` in ~/.codex/config.toml is a built-in provider (or none), whose table Codex does not let a user amend; its defaults apply (4 request and 5 stream retries). Define your provider in config.toml ([model_providers.ID]) to have orch bound them".to_owned()]
            }
        }
        AgentKind::Gemini => {
            let settings = home_dir
                .and_then(|home| std::fs::read_to_string(home.join(".gemini/settings.json")).ok())
                .unwrap_or_default();
            if settings.contains("\"maxAttempts\"") {
                Vec::new()
            } else {
                vec!["Gemini CLI retries a failed model request up to 10 times over minutes before orch can sort the failure, and orch cannot bound it: add \"general\": {\"maxAttempts\": 3} to ~/.gemini/settings.json (and a \"model\": {\"name\": …} to skip its model router's own 5 attempts)".to_owned()]
            }
        }
        AgentKind::Claude | AgentKind::Custom => Vec::new(),
    }
}

/// The last non-blank line of `output` containing any of `markers`,
/// trimmed and shortened.
fn last_line_with(output: &str, markers: &[&str]) -> Option<String> {
    output
        .lines()
        .rev()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .find(|line| markers.iter().any(|marker| line.contains(marker)))
        .map(|line| line.chars().take(300).collect())
}

/// The last `n` lines of `output`.
fn tail(output: &str, n: usize) -> String {
    let lines: Vec<&str> = output.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen<'a>(output: &'a str, outcome: &str, exit_code: Option<i32>) -> Seen<'a> {
        Seen {
            outcome: Some(outcome.to_owned()),
            exit_code,
            not_found: false,
            output,
            artifact_written: false,
            timeout: Duration::from_secs(120),
        }
    }

    #[test]
    fn each_failure_is_named_with_its_fix() {
        let claude = AgentKind::Claude.preset();
        let found = diagnose(
            claude,
            claude.command,
            &seen("sh: 1: claude: not found\n", "tool_error", Some(127)),
        );
        assert_eq!(found[0].kind, FindingKind::NotInstalled);
        assert!(
            found[0]
                .message
                .contains("npm install -g @anthropic-ai/claude-code")
        );

        let retry = r#"{"type":"system","subtype":"api_retry","attempt":3,"error_status":401,"error":"authentication_failed"}"#;
        let found = diagnose(claude, claude.command, &seen(retry, "timed_out", None));
        let kinds: Vec<_> = found.iter().map(|f| f.kind).collect();
        assert_eq!(
            kinds,
            [FindingKind::NotAuthenticated, FindingKind::TimedOut]
        );
        assert!(found[0].message.contains("ANTHROPIC_API_KEY"), "{found:?}");

        let root = "Error: --dangerously-skip-permissions cannot be used with root/sudo privileges for security reasons\n";
        let found = diagnose(claude, claude.command, &seen(root, "failed", Some(1)));
        assert_eq!(found[0].kind, FindingKind::RefusedAsRoot);
        assert!(found[0].message.contains("IS_SANDBOX"));

        let found = diagnose(claude, claude.command, &seen("{}", "passed", Some(0)));
        assert_eq!(found[0].kind, FindingKind::NoArtifact);

        let gemini = AgentKind::Gemini.preset();
        let found = diagnose(
            gemini,
            gemini.command,
            &seen(
                "\"message\": \"Invalid auth method selected.\"",
                "failed",
                Some(41),
            ),
        );
        assert!(found[0].message.contains("settings.json"), "{found:?}");

        let offline = "{\"type\":\"error\",\"message\":\"Reconnecting... waiting for network (Connection failed: error sending request)\"}";
        let codex = AgentKind::Codex.preset();
        let found = diagnose(codex, codex.command, &seen(offline, "timed_out", None));
        let kinds: Vec<_> = found.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, [FindingKind::Unreachable, FindingKind::TimedOut]);

        let mut ok = seen("", "passed", Some(0));
        ok.artifact_written = true;
        assert!(diagnose(claude, claude.command, &ok).is_empty());
    }

    #[test]
    fn retries_orch_cannot_bound_are_noted() {
        let home = tempfile::tempdir().unwrap();
        let codex = home.path().join(".codex");
        std::fs::create_dir_all(&codex).unwrap();
        std::fs::write(codex.join("config.toml"), "model = \"o3\"\n").unwrap();
        let notes = retry_notes(AgentKind::Codex, Some(home.path()), Some(&codex));
        assert!(notes[0].contains("built-in provider"), "{notes:?}");
        std::fs::write(
            codex.join("config.toml"),
            "model_provider = \"mine\"\n[model_providers.mine]\nname = \"m\"\n",
        )
        .unwrap();
        assert!(retry_notes(AgentKind::Codex, Some(home.path()), Some(&codex)).is_empty());

        let notes = retry_notes(AgentKind::Gemini, Some(home.path()), None);
        assert!(notes[0].contains("maxAttempts"), "{notes:?}");
        std::fs::create_dir_all(home.path().join(".gemini")).unwrap();
        std::fs::write(
            home.path().join(".gemini/settings.json"),
            "{\"general\": {\"maxAttempts\": 3}}",
        )
        .unwrap();
        assert!(retry_notes(AgentKind::Gemini, Some(home.path()), None).is_empty());
        assert!(retry_notes(AgentKind::Claude, None, None).is_empty());
    }
}
