//! Agent presets (`ORCH_AGENT`): the one table of the agent CLIs orch knows
//! how to run unattended, and the environment an agent gets.
//!
//! Each [`Preset`] declares, from what running the real CLIs showed
//! (docs/agents.md):
//!
//! - its **command line**, run as `sh -c` with the prompt on stdin, the CLI
//!   found on `PATH`;
//! - the **variables it sets** (`IS_SANDBOX=1` for Claude Code run by root);
//! - the **state** it writes under `$HOME` (made writable in the sandbox;
//!   its `/tmp` use goes to the run's private `TMPDIR`);
//! - the **credentials** it may read from orch's environment;
//! - how its **output** is read ([`crate::usage`] recognises the format).
//!
//! | preset | command | credentials | state |
//! |---|---|---|---|
//! | `claude` | `claude -p --output-format stream-json --verbose --dangerously-skip-permissions` | `ANTHROPIC_*`, `CLAUDE_CODE_*` | `~/.claude`, `~/.claude.json` |
//! | `codex` | `codex exec --json --skip-git-repo-check --dangerously-bypass-approvals-and-sandbox $ORCH_CODEX_ARGS -` | `OPENAI_*`, `CODEX_*` | `~/.codex` |
//! | `gemini` | `gemini --output-format stream-json --yolo --skip-trust --include-directories "$(dirname "$ORCH_ARTIFACT")"` | `GEMINI_*`, `GOOGLE_*` | `~/.gemini` |
//! | `custom` | `ORCH_AGENT_CMD` | none (`ORCH_AGENT_PASS_ENV`) | none (`ORCH_SANDBOX_AGENT_DIRS`) |
//!
//! Why these flags:
//!
//! - **Claude**: `-p` without a permission mode cannot write the artifact
//!   (it is outside the worktree) unattended, so the bypass; as root Claude
//!   refuses the bypass unless `IS_SANDBOX=1`. orch running as root sets
//!   `IS_SANDBOX=1` whenever its own kernel sandbox is on (`required` or
//!   `best-effort`): that sandbox is what confines the agent. With
//!   `ORCH_SANDBOX=off` it is not set, and Claude as root refuses to run: no
//!   sandbox, no bypass as root. As any other user Claude takes the bypass
//!   without it (measured), so it is not set.
//! - **Codex**: its own sandbox (bubblewrap) needs a user namespace, which
//!   orch's Landlock run (`no_new_privs`) does not give: inside orch, every
//!   command Codex runs fails *silently* (exit 0, no artifact). So Codex's
//!   sandbox is bypassed and orch's kernel sandbox confines it.
//!   `--skip-git-repo-check`: a repository that is not git is worked in
//!   directly.
//! - **Gemini**: `write_file` refuses paths outside its workspace, and the
//!   artifact is in orch's run folder: `--include-directories` names it.
//!   `--output-format stream-json`: its lines arrive as they happen (the
//!   stall clocks apply), and its `result` line carries the run's totals.
//! - **Retries**: each CLI's own retries of a failed model request are
//!   bounded ([`retry_env`]): orch sorts the failure and retries it itself.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use orch_process::exec::{EnvPolicy, SandboxMode, Scrub};

use crate::config::LauncherConfig;

pub use crate::settings::AgentKind;

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
        command: "codex exec --json --skip-git-repo-check --dangerously-bypass-approvals-and-sandbox $ORCH_CODEX_ARGS -",
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

    /// The variables set for a run in the sandbox `mode` by orch running as
    /// `root` or not: `IS_SANDBOX` only where it is needed — for root (Claude
    /// Code refuses its bypass as root without it; as any other user it runs
    /// without it, measured: docs/agents.md) — and allowed: where orch's
    /// sandbox confines the agent.
    #[must_use]
    pub fn set_env(&self, mode: SandboxMode, root: bool) -> Vec<(OsString, OsString)> {
        self.set
            .iter()
            .filter(|(key, _)| *key != "IS_SANDBOX" || (root && mode != SandboxMode::Off))
            .map(|(key, value)| (OsString::from(key), OsString::from(value)))
            .collect()
    }
}

/// Whether orch runs with the effective user id 0 (`/proc/self/status`'s
/// second `Uid:` field); `false` when that cannot be read.
#[must_use]
pub fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|id| id == "0"))
        })
        .unwrap_or(false)
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
    let mut all = preset.set_env(config.sandbox.mode, running_as_root());
    all.extend(set);
    EnvPolicy::new(Scrub::AllowList)
        .with_extra_secrets(&config.secret_env)
        .with_pass_through(preset.credentials.iter().copied())
        .with_pass_through(&config.agent.pass_env)
        .with_allow(BASE_ALLOW.iter().copied())
        .with_set(all)
}

/// How many times each CLI may retry a failed model request by itself
/// (after the first attempt): orch sorts the failure and retries with its own
/// backoff (`ORCH_AGENT_INFRA_RETRIES`), so the CLI's own retries only hide
/// it. Unbounded, Claude Code retries even a 401 ten times over minutes, and
/// Gemini CLI a 503 ten times (docs/agents.md).
pub const CLI_RETRIES: u32 = 2;

/// The built-in Codex providers, whose table `config.toml` cannot amend
/// (Codex ignores a `[model_providers.openai]` of the user's).
const CODEX_BUILT_IN: [&str; 3] = ["openai", "ollama", "lmstudio"];

/// The retry bounds of a run, as variables for the agent.
///
/// - Claude Code: `CLAUDE_CODE_MAX_RETRIES`.
/// - Codex: its retry counts are fields of the provider's table in
///   `$CODEX_HOME/config.toml` (`request_max_retries`,
///   `stream_max_retries`), with no variable: `ORCH_CODEX_ARGS`, which the
///   preset's command line expands, holds the `-c` overrides for the
///   provider that `config.toml` selects and defines. Empty for a built-in
///   provider (OpenAI's own: its defaults apply, 4 request and 5 stream
///   retries) or a `config.toml` orch cannot read.
/// - Gemini CLI: none. Its bound is `general.maxAttempts` in its settings
///   (at most 10, counting the first), and the only settings orch could
///   supply, system settings or defaults (`GEMINI_CLI_SYSTEM_DEFAULTS_PATH`),
///   are skipped unless the file and every folder above it are root's and
///   writable by no one else (measured: "Skipping system defaults file …
///   Parent directory '/tmp' is insecure"), so never for a non-root orch.
///   The operator sets it in `~/.gemini/settings.json`, beside the auth
///   type Gemini already needs there (docs/agents.md).
///
/// A variable the operator set for the agent (`CLAUDE_CODE_MAX_RETRIES`
/// among the preset's credentials) is overridden: the bound is orch's.
#[must_use]
pub fn retry_env(kind: AgentKind, codex_home: Option<&Path>) -> Vec<(OsString, OsString)> {
    let pair = |key: &str, value: String| (OsString::from(key), OsString::from(value));
    match kind {
        AgentKind::Claude => vec![pair("CLAUDE_CODE_MAX_RETRIES", CLI_RETRIES.to_string())],
        AgentKind::Codex => {
            let args = codex_home
                .and_then(|home| std::fs::read_to_string(home.join("config.toml")).ok())
                .and_then(|text| codex_provider(&text))
                .map(|id| {
                    format!(
                        "-c model_providers.{id}.request_max_retries={CLI_RETRIES} -c model_providers.{id}.stream_max_retries={CLI_RETRIES}"
                    )
                })
                .unwrap_or_default();
            vec![pair("ORCH_CODEX_ARGS", args)]
        }
        AgentKind::Gemini | AgentKind::Custom => Vec::new(),
    }
}

/// The model a Codex run uses, which none of its `exec --json` events
/// names: the command line's `-m` / `--model` (or `-c model=…`), else the
/// top-level `model` of `$CODEX_HOME/config.toml`; `None` when neither says
/// (Codex's own default, which orch does not guess). A profile's model is
/// not read.
#[must_use]
pub fn codex_model(command: &str, codex_home: Option<&Path>) -> Option<String> {
    let unquote = |word: &str| word.trim_matches(|c| c == '"' || c == '\'').to_owned();
    let words: Vec<&str> = command.split_whitespace().collect();
    let mut named = None;
    for (i, word) in words.iter().enumerate() {
        let next = words.get(i + 1).copied();
        if let Some(value) = word.strip_prefix("--model=") {
            named = Some(unquote(value));
        } else if matches!(*word, "-m" | "--model") {
            named = next.map(unquote);
        } else if matches!(*word, "-c" | "--config")
            && let Some(value) =
                next.and_then(|n| unquote(n).strip_prefix("model=").map(str::to_owned))
        {
            named = Some(unquote(&value));
        }
    }
    let from_config = || {
        let text = std::fs::read_to_string(codex_home?.join("config.toml")).ok()?;
        text.lines()
            .map(str::trim)
            .take_while(|line| !line.starts_with('['))
            .filter_map(|line| line.split_once('='))
            .filter(|(key, _)| key.trim() == "model")
            .map(|(_, value)| unquote(value.split('#').next().unwrap_or("").trim()))
            .last()
    };
    named.or_else(from_config).filter(|model| {
        !model.is_empty() && !model.contains(char::is_whitespace) && model.len() <= 200
    })
}

/// The provider a Codex `config.toml` selects at its top level
/// (`model_provider = "ID"`) when it is not built in and the file defines
/// its table (`[model_providers.ID]`), and its name is a plain TOML key
/// (letters, digits, `-`, `_`): safe in an unquoted shell word.
fn codex_provider(config: &str) -> Option<String> {
    let mut id = None;
    for line in config.lines().map(str::trim) {
        if line.starts_with('[') {
            break;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key.trim() == "model_provider" {
            let value = value.split('#').next().unwrap_or("").trim();
            id = Some(value.trim_matches(|c| c == '"' || c == '\'').to_owned());
        }
    }
    let id = id.filter(|id| {
        !id.is_empty()
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && !CODEX_BUILT_IN.contains(&id.as_str())
    })?;
    let header = format!("[model_providers.{id}]");
    config
        .lines()
        .any(|line| line.trim() == header)
        .then_some(id)
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
            claude.set_env(SandboxMode::Required, true),
            [("IS_SANDBOX".into(), "1".into())]
        );
        assert!(claude.set_env(SandboxMode::Off, true).is_empty());
        // Not needed as another user: not set.
        assert!(claude.set_env(SandboxMode::Required, false).is_empty());
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

    #[test]
    fn codex_retries_are_bounded_only_for_a_provider_config_toml_defines() {
        let defined = "model = \"m\"\nmodel_provider = \"scripted\" # mine\n\n[model_providers.scripted]\nname = \"x\"\n";
        assert_eq!(codex_provider(defined).as_deref(), Some("scripted"));
        assert_eq!(codex_provider("model_provider = \"openai\"\n"), None);
        assert_eq!(codex_provider("model_provider = \"gone\"\n"), None);
        assert_eq!(
            codex_provider("model_provider = \"a b\"\n[model_providers.\"a b\"]\n"),
            None
        );
        // A key inside a table is not the top-level selection.
        assert_eq!(
            codex_provider("[profiles.x]\nmodel_provider = \"p\"\n[model_providers.p]\n"),
            None
        );
        let home = tempfile::tempdir().unwrap();
        std::fs::write(home.path().join("config.toml"), defined).unwrap();
        let env = retry_env(AgentKind::Codex, Some(home.path()));
        assert_eq!(
            env,
            [(
                "ORCH_CODEX_ARGS".into(),
                "-c model_providers.scripted.request_max_retries=2 -c model_providers.scripted.stream_max_retries=2".into()
            )]
        );
        assert!(retry_env(AgentKind::Gemini, Some(home.path())).is_empty());
    }

    #[test]
    fn codex_s_model_comes_from_its_command_line_else_its_config() {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(
            home.path().join("config.toml"),
            "model = \"gpt-5-codex\" # default\n[profiles.x]\nmodel = \"other\"\n",
        )
        .unwrap();
        let preset = AgentKind::Codex.preset().command;
        assert_eq!(
            codex_model(preset, Some(home.path())).as_deref(),
            Some("gpt-5-codex")
        );
        assert_eq!(
            codex_model("codex exec -m o4-mini --json -", Some(home.path())).as_deref(),
            Some("o4-mini")
        );
        assert_eq!(
            codex_model("codex exec --model=o3 -", None).as_deref(),
            Some("o3")
        );
        assert_eq!(
            codex_model("codex exec -c 'model=\"gpt-5\"' -", None).as_deref(),
            Some("gpt-5")
        );
        assert_eq!(codex_model(preset, None), None);
    }
}
