//! Agent presets (`ORCH_AGENT`): the one table of the agent CLIs orch knows
//! how to run unattended, and the environment an agent gets.
//!
//! Each [`Preset`] declares, from what running the real CLIs showed
//! (docs/agents.md):
//!
//! - its **command line**, run as `sh -c` with the prompt on stdin, the CLI
//!   found on `PATH`;
//! - the **variables it sets** (`IS_SANDBOX=1` for Claude Code);
//! - the **state** it writes under `$HOME` (made writable in the sandbox;
//!   its `/tmp` use goes to the run's private `TMPDIR`);
//! - the **credentials** it may read from orch's environment;
//! - how its **output** is read ([`crate::usage`] recognises the format).
//!
//! | preset | command | credentials | state |
//! |---|---|---|---|
//! | `claude` | `claude -p --output-format stream-json --verbose --dangerously-skip-permissions` | `ANTHROPIC_*`, `CLAUDE_CODE_*` | `~/.claude`, `~/.claude.json` |
//! | `codex` | `codex exec --json --skip-git-repo-check --dangerously-bypass-approvals-and-sandbox -` | `OPENAI_*`, `CODEX_*` | `~/.codex` |
//! | `gemini` | `gemini --output-format stream-json --yolo --skip-trust --include-directories "$(dirname "$ORCH_ARTIFACT")"` | `GEMINI_*`, `GOOGLE_*` | `~/.gemini` |
//! | `custom` | `ORCH_AGENT_CMD` | none (`ORCH_AGENT_PASS_ENV`) | none (`ORCH_SANDBOX_AGENT_DIRS`) |
//!
//! Why these flags:
//!
//! - **Claude**: `-p` without a permission mode cannot write the artifact
//!   (it is outside the worktree) unattended, so the bypass; as root Claude
//!   refuses the bypass unless `IS_SANDBOX=1`. orch sets `IS_SANDBOX=1`
//!   whenever its own kernel sandbox is on (`required` or `best-effort`):
//!   that sandbox is what confines the agent, for root and non-root alike.
//!   With `ORCH_SANDBOX=off` it is not set, and Claude as root refuses to
//!   run: no sandbox, no bypass as root.
//! - **Codex**: its own sandbox (bubblewrap) needs a user namespace, which
//!   orch's Landlock run (`no_new_privs`) does not give: inside orch, every
//!   command Codex runs fails *silently* (exit 0, no artifact). So Codex's
//!   sandbox is bypassed and orch's kernel sandbox confines it.
//!   `--skip-git-repo-check`: a repository that is not git is worked in
//!   directly.
//! - **Gemini**: `write_file` refuses paths outside its workspace, and the
//!   artifact is in orch's run folder: `--include-directories` names it.
//!   `--output-format json`, not `stream-json`: the stream's `result` line
//!   carries its tokens in a shape orch's usage parser does not read yet
//!   (docs/agents.md, "Parser gaps"), while `json` gives the tokens per model.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use orch_process::exec::{EnvPolicy, SandboxMode, Scrub};

use crate::config::LauncherConfig;

/// Which agent CLI orch runs (`ORCH_AGENT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AgentKind {
    /// Claude Code (`@anthropic-ai/claude-code`).
    #[default]
    Claude,
    /// Codex CLI (`@openai/codex`).
    Codex,
    /// Gemini CLI (`@google/gemini-cli`).
    Gemini,
    /// Any other program: `ORCH_AGENT_CMD`, no credential but those named.
    Custom,
}

impl AgentKind {
    /// Every preset, in the table's order.
    pub const ALL: [AgentKind; 4] = [
        AgentKind::Claude,
        AgentKind::Codex,
        AgentKind::Gemini,
        AgentKind::Custom,
    ];

    /// Its name in the configuration.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        self.preset().name
    }

    /// Its declaration.
    #[must_use]
    pub const fn preset(self) -> &'static Preset {
        match self {
            AgentKind::Claude => &PRESETS[0],
            AgentKind::Codex => &PRESETS[1],
            AgentKind::Gemini => &PRESETS[2],
            AgentKind::Custom => &PRESETS[3],
        }
    }
}

impl std::fmt::Display for AgentKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no preset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown agent {0:?}: expected claude, codex, gemini or custom")]
pub struct ParseAgentError(pub String);

impl std::str::FromStr for AgentKind {
    type Err = ParseAgentError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AgentKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s.trim())
            .ok_or_else(|| ParseAgentError(s.to_owned()))
    }
}

/// One agent CLI's declaration (see the module documentation).
#[derive(Debug, PartialEq, Eq)]
pub struct Preset {
    /// `ORCH_AGENT`'s value.
    pub name: &'static str,
    /// The program, looked up on `PATH` (empty for `custom`).
    pub program: &'static str,
    /// The npm package that installs it (empty for `custom`).
    pub npm_package: &'static str,
    /// The command line, run as `sh -c` (empty for `custom`).
    pub command: &'static str,
    /// Variables set for it ([`Preset::set_env`] says when).
    pub set: &'static [(&'static str, &'static str)],
    /// The credentials and settings it may read from orch's environment:
    /// names, or `PREFIX*`.
    pub credentials: &'static [&'static str],
    /// The credentials that alone let it log in (one is enough), for the
    /// advice when it is refused.
    pub keys: &'static [&'static str],
    /// What it writes under `$HOME`: folders (ending in `/`) and files.
    pub state: &'static [&'static str],
    /// Its output, as [`crate::usage`] reads it.
    pub output: &'static str,
}

/// The table: one row per [`AgentKind`], in its order.
pub const PRESETS: [Preset; 4] = [
    Preset {
        name: "claude",
        program: "claude",
        npm_package: "@anthropic-ai/claude-code",
        command: "claude -p --output-format stream-json --verbose --dangerously-skip-permissions",
        set: &[("IS_SANDBOX", "1")],
        credentials: &["ANTHROPIC_*", "CLAUDE_CODE_*"],
        keys: &[
            "ANTHROPIC_API_KEY",
            "ANTHROPIC_AUTH_TOKEN",
            "CLAUDE_CODE_OAUTH_TOKEN",
        ],
        state: &[".claude/", ".claude.json"],
        output: "stream-json lines; the last `result` line's `total_cost_usd` and `usage`",
    },
    Preset {
        name: "codex",
        program: "codex",
        npm_package: "@openai/codex",
        command: "codex exec --json --skip-git-repo-check --dangerously-bypass-approvals-and-sandbox -",
        set: &[],
        credentials: &["OPENAI_*", "CODEX_*"],
        keys: &["OPENAI_API_KEY", "CODEX_API_KEY"],
        state: &[".codex/"],
        output: "JSON lines; `turn.completed`'s `usage` (no cost reported)",
    },
    Preset {
        name: "gemini",
        program: "gemini",
        npm_package: "@google/gemini-cli",
        command: "gemini --output-format stream-json --yolo --skip-trust --include-directories \"$(dirname \"$ORCH_ARTIFACT\")\"",
        set: &[],
        credentials: &["GEMINI_*", "GOOGLE_*"],
        keys: &["GEMINI_API_KEY", "GOOGLE_API_KEY"],
        state: &[".gemini/"],
        output: "stream-json lines; the terminal `result` line's `stats` (no cost reported)",
    },
    Preset {
        name: "custom",
        program: "",
        npm_package: "",
        command: "",
        set: &[],
        credentials: &[],
        keys: &[],
        state: &[],
        output: "any format crate::usage recognises, else no usage",
    },
];

/// What every agent gets from orch's environment, besides its preset's
/// credentials: the program search path, who and where it is, locale,
/// terminal and time zone. `SHELL` too: the CLIs' shell tools start it.
/// `TMPDIR`, `TMP` and `TEMP` are set by orch to the run's own folder.
pub const BASE_ALLOW: [&str; 14] = [
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "LC_*",
    "TERM",
    "COLORTERM",
    "NO_COLOR",
    "TZ",
    "TMPDIR",
    "TMP",
];

impl Preset {
    /// The state paths under the user's home folder `home_dir`.
    #[must_use]
    pub fn state_paths(&self, home_dir: &Path) -> Vec<PathBuf> {
        self.state
            .iter()
            .map(|entry| home_dir.join(entry.trim_end_matches('/')))
            .collect()
    }

    /// The variables set for a run in the sandbox `mode`: `IS_SANDBOX` only
    /// where orch's sandbox confines the agent.
    #[must_use]
    pub fn set_env(&self, mode: SandboxMode) -> Vec<(OsString, OsString)> {
        self.set
            .iter()
            .filter(|(key, _)| *key != "IS_SANDBOX" || mode != SandboxMode::Off)
            .map(|(key, value)| (OsString::from(key), OsString::from(value)))
            .collect()
    }
}

/// Makes the preset's missing state folders under `home_dir` (and a
/// missing `.json` state file as `{}`), so that the sandbox, which names
/// existing paths only, can let the CLI write them on a fresh machine.
/// Best effort: what cannot be made stays read-only and the CLI says so.
pub fn prepare_state(preset: &Preset, home_dir: &Path) {
    for entry in preset.state {
        let path = home_dir.join(entry.trim_end_matches('/'));
        if path.exists() {
            continue;
        }
        if entry.ends_with('/') {
            let _ = std::fs::create_dir_all(&path);
        } else if Path::new(entry)
            .extension()
            .is_some_and(|extension| extension == "json")
        {
            let _ = std::fs::write(&path, "{}\n");
        }
    }
}

/// Readies an agent run: the preset's state under the user's home folder
/// ([`prepare_state`], when the configuration names that folder), and the
/// run's environment ([`env_policy`]).
#[must_use]
pub fn prepare(config: &LauncherConfig, set: Vec<(OsString, OsString)>) -> EnvPolicy {
    if let Some(home_dir) = &config.agent.home_dir {
        prepare_state(config.agent.preset.preset(), home_dir);
    }
    env_policy(config, set)
}

/// The environment policy of an agent run: only [`BASE_ALLOW`] (never a
/// name that looks like a secret), the preset's credentials and the
/// operator's `ORCH_AGENT_PASS_ENV` names; then the preset's variables and
/// `set` (the task contract, `TMPDIR`) on top. Everything else — cloud and
/// forge tokens, `SSH_AUTH_SOCK`, a repository's `--pass-env`, orch's own
/// `ORCH_*` — is dropped.
#[must_use]
pub fn env_policy(config: &LauncherConfig, set: Vec<(OsString, OsString)>) -> EnvPolicy {
    let preset = config.agent.preset.preset();
    let mut all = preset.set_env(config.sandbox.mode);
    all.extend(set);
    EnvPolicy {
        scrub: Scrub::AllowList,
        extra_secrets: config.secret_env.iter().map(OsString::from).collect(),
        pass_through: preset
            .credentials
            .iter()
            .map(OsString::from)
            .chain(config.agent.pass_env.iter().map(OsString::from))
            .collect(),
        allow: BASE_ALLOW.iter().map(OsString::from).collect(),
        set: all,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_in_the_kinds_order_and_names_round_trip() {
        for kind in AgentKind::ALL {
            assert_eq!(kind.as_str().parse::<AgentKind>(), Ok(kind));
        }
        assert!("Claude".parse::<AgentKind>().is_err());
        assert_eq!(AgentKind::default(), AgentKind::Claude);
        for preset in &PRESETS[..3] {
            assert!(preset.command.starts_with(preset.program), "{preset:?}");
            assert!(!preset.keys.is_empty() && !preset.state.is_empty());
        }
    }

    #[test]
    fn is_sandbox_is_set_only_where_orch_s_sandbox_confines_claude() {
        let claude = AgentKind::Claude.preset();
        assert_eq!(
            claude.set_env(SandboxMode::Required),
            [("IS_SANDBOX".into(), "1".into())]
        );
        assert!(claude.set_env(SandboxMode::Off).is_empty());
    }

    #[test]
    fn missing_state_is_made_and_existing_state_kept() {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(home.path().join(".claude.json"), "{\"kept\":1}").unwrap();
        prepare_state(AgentKind::Claude.preset(), home.path());
        assert!(home.path().join(".claude").is_dir());
        assert_eq!(
            std::fs::read_to_string(home.path().join(".claude.json")).unwrap(),
            "{\"kept\":1}"
        );
        let fresh = tempfile::tempdir().unwrap();
        prepare_state(AgentKind::Claude.preset(), fresh.path());
        assert_eq!(
            std::fs::read_to_string(fresh.path().join(".claude.json")).unwrap(),
            "{}\n"
        );
    }
}
