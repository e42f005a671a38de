//! One declaration per `ORCH_*` key: its name, the type a bad value is told
//! to have, its default, its line in README's configuration table and, for a
//! `*_SECS` key, the least number of seconds it takes (ripgrep's
//! `flags/defs.rs` habit: one place per setting).
//!
//! From [`SETTINGS`] the binary takes the defaults it parses with, the
//! expected-type part of every error, the range check of every `*_SECS` key
//! and the list of known keys (typo warnings). Tests in `config.rs` check
//! `.env.example` (each key's `# KEY=value` line shows its default) and
//! README's configuration table (generated from [`SETTINGS`] by
//! [`readme_table`], row for row), and fail naming the key that drifted.
//! What a key does once read stays in [`super::Config`] (its typed field) and
//! [`super::Config::launcher`].

/// The largest number of seconds any `*_SECS` key takes: 7 days. A longer
/// time is a mistake, and a huge one would overflow the clock arithmetic.
pub(crate) const MAX_SECS: u64 = 7 * 24 * 3600;

/// One configuration key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Setting {
    /// The full key, `ORCH_...` (its field in [`super::Config`] is the rest,
    /// in lower case).
    pub(crate) key: &'static str,
    /// The type a bad value is told to have, in error messages.
    pub(crate) expected: &'static str,
    /// The value used when the key is unset or empty, parsed like one from
    /// the environment; `None`: no value (an `Option` field, or an empty
    /// list).
    pub(crate) default: Option<&'static str>,
    /// README's default column when it is not the default in backticks.
    pub(crate) shown: Option<&'static str>,
    /// `.env.example`'s value for a key without a default (an illustration).
    pub(crate) example: &'static str,
    /// README's meaning column: one line.
    pub(crate) doc: &'static str,
    /// A `*_SECS` key: the least number of seconds it takes (the most is
    /// [`MAX_SECS`]).
    pub(crate) secs_min: Option<u64>,
}

impl Setting {
    const fn new(key: &'static str, expected: &'static str, doc: &'static str) -> Setting {
        Setting {
            key,
            expected,
            default: None,
            shown: None,
            example: "",
            doc,
            secs_min: None,
        }
    }

    const fn default(self, value: &'static str) -> Setting {
        Setting {
            default: Some(value),
            ..self
        }
    }

    const fn shown(self, shown: &'static str) -> Setting {
        Setting {
            shown: Some(shown),
            ..self
        }
    }

    const fn example(self, example: &'static str) -> Setting {
        Setting { example, ..self }
    }

    const fn secs(self, min: u64) -> Setting {
        Setting {
            secs_min: Some(min),
            ..self
        }
    }

    /// The value `.env.example` shows after `# KEY=`: the default, else the
    /// illustration.
    #[cfg(test)]
    pub(crate) fn env_example_value(&self) -> &'static str {
        self.default.unwrap_or(self.example)
    }

    /// README's row for this key.
    #[cfg(test)]
    pub(crate) fn readme_row(&self) -> String {
        let default = match (self.shown, self.default) {
            (Some(shown), _) => shown.to_owned(),
            (None, Some(value)) => format!("`{value}`"),
            (None, None) => "empty".to_owned(),
        };
        format!("| `{}` | {default} | {} |", self.key, self.doc)
    }
}

const SECS_0: &str = "a whole number of seconds from 0 to 604800 (7 days)";
const SECS_1: &str = "a whole number of seconds from 1 to 604800 (7 days)";
const SECS_0_NO_LIMIT: &str = "a whole number of seconds from 0 (no limit) to 604800 (7 days)";
const REPOS: &str = "* or repository names separated by commas";
const PATHS: &str = "absolute paths separated by commas";

/// Every key the binary reads, in `.env.example`'s order (README's table
/// follows it too).
pub(crate) const SETTINGS: [Setting; 47] = [
    Setting::new("ORCH_HOME", "a folder path", "database, task folders, prompt overrides")
        .shown("`$XDG_DATA_HOME/orch` or `~/.local/share/orch`")
        .example("~/.local/share/orch"),
    Setting::new("ORCH_DB_PATH", "a file path", "the SQLite database")
        .shown("`$ORCH_HOME/orch.db`")
        .example("~/.local/share/orch/orch.db"),
    Setting::new(
        "ORCH_HTTP_ADDR",
        "an address such as 127.0.0.1:7878",
        "where `serve` answers HTTP",
    )
    .default("127.0.0.1:7878"),
    Setting::new(
        "ORCH_HTTP_ALLOWED_HOSTS",
        "host names (each optionally with :port) separated by commas",
        "more `Host` names `serve` answers (`name` or `name:port`, by commas); any other gets `403` ([`docs/http.md`](docs/http.md))",
    )
    .shown("empty (loopback names only)")
    .example("orch.internal,orch.internal:7878"),
    Setting::new(
        "ORCH_HTTP_READ_ONLY",
        "true or false",
        "the dashboard shows no actions and `serve` refuses every `POST` ([`docs/http.md`](docs/http.md))",
    )
    .default("false"),
    Setting::new(
        "ORCH_HTTP_TOKEN",
        "a secret of 16 to 256 printable characters",
        "the bearer token every request but `/healthz` must carry (`Authorization: Bearer ...`); required when `ORCH_HTTP_ADDR` is not loopback",
    )
    .shown("unset (loopback bind only)"),
    Setting::new(
        "ORCH_WORKERS",
        "a whole number from 1 to 64",
        "worker threads of `serve`",
    )
    .default("2"),
    Setting::new(
        "ORCH_AGENT",
        "claude, codex, gemini or custom",
        "the agent preset: `claude`, `codex`, `gemini` or `custom`",
    )
    .default("claude"),
    Setting::new(
        "ORCH_AGENT_CMD",
        "a shell command",
        "the agent command: required for `custom`, else replaces the preset's command line",
    )
    .shown("unset (the preset's command)"),
    Setting::new(
        "ORCH_AGENT_PASS_ENV",
        "variable names (or PREFIX*) separated by commas",
        "more variables (names or `PREFIX*`) agents get, beside the allow-list and the preset's credentials",
    ),
    Setting::new("ORCH_AGENT_TIMEOUT_SECS", SECS_1, "one agent run's limit")
        .default("1800")
        .secs(1),
    Setting::new(
        "ORCH_DEVELOPER_RETRIES",
        "a whole number",
        "rollbacks before a task is blocked",
    )
    .default("3"),
    Setting::new(
        "ORCH_TASK_BUDGET_USD",
        "a number of US dollars such as 2.50",
        "spend ceiling per task",
    )
    .shown("unset (no ceiling)"),
    Setting::new(
        "ORCH_SECRET_ENV",
        "variable names separated by commas",
        "more names no program orch starts may see",
    ),
    Setting::new(
        "ORCH_LEASE_SECS",
        "a whole number of seconds from 3 to 604800 (7 days)",
        "a claimed job's lease",
    )
    .default("60")
    .secs(3),
    Setting::new(
        "ORCH_POISON_RESCUES",
        "a whole number from 1 to 1000",
        "crash rescues before a job is poison and its task blocked",
    )
    .default("3"),
    Setting::new(
        "ORCH_AGENT_INFRA_RETRIES",
        "a whole number",
        "deferrals when the agent cannot start, before the task is blocked",
    )
    .default("3"),
    Setting::new(
        "ORCH_VERDICT_RETRIES",
        "a whole number",
        "runs again of an LLM role that wrote no valid verdict line, before the task is blocked",
    )
    .default("2"),
    Setting::new(
        "ORCH_AGENT_DEFER_SECS",
        SECS_0,
        "backoff base of those deferrals",
    )
    .default("30")
    .secs(0),
    Setting::new(
        "ORCH_AGENT_LINGER_SECS",
        SECS_0,
        "after the agent CLI's terminal event, the time it may take to exit",
    )
    .default("10")
    .secs(0),
    Setting::new(
        "ORCH_AGENT_FIRST_OUTPUT_SECS",
        SECS_0_NO_LIMIT,
        "with a streaming output format, no first output within this is a stall (`0`: none)",
    )
    .default("120")
    .secs(0),
    Setting::new(
        "ORCH_AGENT_STALL_SECS",
        SECS_0_NO_LIMIT,
        "with a streaming output format, no output for this long is a stall (`0`: none)",
    )
    .default("300")
    .secs(0),
    Setting::new(
        "ORCH_AGENT_PRICES",
        "model=in:out[:cache_read] dollars per million tokens, separated by commas",
        "list prices (`model=in:out[:cache_read]`, by commas) that estimate the cost of CLIs reporting tokens but no dollars",
    )
    .shown("empty (no estimate)"),
    Setting::new(
        "ORCH_SETUP_TIMEOUT_SECS",
        SECS_1,
        "a repository's setup command's limit (`repo add --setup-cmd`)",
    )
    .default("900")
    .secs(1),
    Setting::new(
        "ORCH_POST_DEPLOY_PROBES",
        "a whole number from 1 to 1000",
        "health-check probes after a deploy",
    )
    .default("3"),
    Setting::new(
        "ORCH_POST_DEPLOY_WINDOW_SECS",
        SECS_0,
        "the window they are spread over",
    )
    .default("60")
    .secs(0),
    Setting::new(
        "ORCH_STAGING_RUNNER_ENABLED",
        "true or false",
        "the staging runner's kill-switch",
    )
    .default("true"),
    Setting::new("ORCH_STAGING_RUNNER_REPOS", REPOS, "the repositories it serves").default("*"),
    Setting::new("ORCH_STAGING_RUNNER_TIMEOUT_SECS", SECS_0, "a suite's limit")
        .default("1800")
        .secs(0),
    Setting::new("ORCH_STAGING_RUNNER_GRACE_SECS", SECS_0, "SIGTERM → SIGKILL")
        .default("5")
        .secs(0),
    Setting::new(
        "ORCH_STAGING_RUNNER_INFRA_RETRIES",
        "a whole number",
        "deferrals before failing closed",
    )
    .default("3"),
    Setting::new("ORCH_STAGING_RUNNER_DEFER_SECS", SECS_0, "backoff base")
        .default("30")
        .secs(0),
    Setting::new(
        "ORCH_STAGING_RUNNER_OUTPUT_CAP_BYTES",
        "a whole number of bytes",
        "a suite's raw output file",
    )
    .default("67108864"),
    Setting::new(
        "ORCH_TEST_RUNNER_ENABLED",
        "true or false",
        "the test runner's kill-switch",
    )
    .default("true"),
    Setting::new(
        "ORCH_TEST_RUNNER_MODE",
        "off, shadow or on",
        "who decides testing: `off` (LLM tester), `shadow` (LLM decides, runner measured beside it), `on` (runner decides)",
    )
    .default("shadow"),
    Setting::new(
        "ORCH_TEST_RUNNER_REPOS",
        REPOS,
        "the repositories it serves (only those with a test command)",
    )
    .default("*"),
    Setting::new("ORCH_TEST_RUNNER_TIMEOUT_SECS", SECS_0, "a test suite's limit")
        .default("1800")
        .secs(0),
    Setting::new("ORCH_TEST_RUNNER_GRACE_SECS", SECS_0, "SIGTERM → SIGKILL")
        .default("5")
        .secs(0),
    Setting::new(
        "ORCH_TEST_RUNNER_INFRA_RETRIES",
        "a whole number",
        "deferrals before failing closed (mode `on`)",
    )
    .default("3"),
    Setting::new("ORCH_TEST_RUNNER_DEFER_SECS", SECS_0, "backoff base")
        .default("30")
        .secs(0),
    Setting::new(
        "ORCH_TEST_RUNNER_OUTPUT_CAP_BYTES",
        "a whole number of bytes",
        "a test suite's raw output file",
    )
    .default("67108864"),
    Setting::new(
        "ORCH_GIT",
        "a program name or path",
        "the git that makes task worktrees and commits",
    )
    .default("git"),
    Setting::new(
        "ORCH_WORKTREE_INFRA_RETRIES",
        "a whole number",
        "deferrals when a task's worktree cannot be made, before the task is blocked",
    )
    .default("3"),
    Setting::new(
        "ORCH_WORKTREE_DEFER_SECS",
        SECS_0,
        "backoff base of those deferrals",
    )
    .default("30")
    .secs(0),
    Setting::new(
        "ORCH_SANDBOX",
        "required, best-effort or off",
        "the kernel sandbox of every run: `required`, `best-effort` or `off`",
    )
    .shown("`required` where the kernel has Landlock ABI 6, else `best-effort`")
    .example("required"),
    Setting::new(
        "ORCH_SANDBOX_AGENT_DIRS",
        PATHS,
        "more folders or files agents may write",
    )
    .shown("empty (the preset's state under `$HOME` always)"),
    Setting::new(
        "ORCH_SANDBOX_CACHE_DIRS",
        PATHS,
        "more caches every run may write",
    )
    .shown("empty (the usual caches under `$HOME` always)"),
];

/// The declaration of `key`, if it is a configuration key.
pub(crate) fn setting(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|setting| setting.key == key)
}

/// README's configuration table, header and rows, as [`SETTINGS`] declares
/// it.
#[cfg(test)]
pub(crate) fn readme_table() -> String {
    let mut table = String::from("| key | default | meaning |\n|---|---|---|\n");
    for setting in &SETTINGS {
        table.push_str(&setting.readme_row());
        table.push('\n');
    }
    table
}
