//! The binary's configuration: every `ORCH_*` key, read by `envy` into one
//! typed struct. Each key is declared once, in [`defs::SETTINGS`] (name,
//! expected type, default, README line, range of a `*_SECS` key); the
//! defaults are fed to the parser from there, and tests check `.env.example`
//! and README's configuration table against it, naming the key that drifted.

use std::path::{Path, PathBuf};
use std::time::Duration;

use orch_launcher::sandbox::SandboxConfig;
use orch_launcher::{
    AgentKind, LauncherConfig, RepoScope, RetryPolicy, RunnerMode, SuiteRunnerConfig,
};
use orch_process::exec::{SandboxMode, SupervisorProgram};
use serde::Deserialize;

mod defs;

pub(crate) use defs::MAX_SECS;
use defs::{SETTINGS, setting};

/// Keys orch sets for the programs it starts; seen in the environment when
/// orch itself runs under one, and never configuration.
const CONTRACT_KEYS: [&str; 10] = [
    "ORCH_TASK_ID",
    "ORCH_ROLE",
    "ORCH_STAGE",
    "ORCH_REPO_PATH",
    "ORCH_ARTIFACT",
    "ORCH_VERDICT_KEY",
    "ORCH_VERDICT_PASS",
    "ORCH_RUN_MARKER",
    "ORCH_COMMIT",
    // The codex preset's retry bounds (orch_launcher::preset::retry_env).
    "ORCH_CODEX_ARGS",
];

/// One suite runner's configuration from its keys: the mode, the switch, the
/// repository CSV, `[timeout, grace, defer]` in seconds, the infra retries
/// and the output cap.
fn suite_runner(
    mode: RunnerMode,
    enabled: bool,
    repos: &str,
    [timeout, grace, defer]: [u64; 3],
    infra_retries: u32,
    output_cap_bytes: u64,
) -> SuiteRunnerConfig {
    let mut runner = SuiteRunnerConfig::default();
    runner.enabled = enabled;
    runner.mode = mode;
    runner.repos = RepoScope::from_csv(repos);
    runner.timeout = Duration::from_secs(timeout);
    runner.grace = Duration::from_secs(grace);
    runner.retry = RetryPolicy::new(infra_retries, Duration::from_secs(defer));
    runner.output_cap_bytes = output_cap_bytes;
    runner
}

/// The configuration, as `envy` reads it (field `x` is key `ORCH_X`,
/// declared in [`defs::SETTINGS`] with its default).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct Config {
    /// orch's home: database, task folders, prompt overrides, staging logs.
    pub(crate) home: Option<PathBuf>,
    /// The SQLite database; default `$ORCH_HOME/orch.db`.
    pub(crate) db_path: Option<PathBuf>,
    /// Where `serve` listens.
    pub(crate) http_addr: String,
    /// More `Host` names `serve` answers besides loopback ones (DNS
    /// rebinding protection; docs/http.md).
    #[serde(default)]
    pub(crate) http_allowed_hosts: Vec<String>,
    /// The dashboard shows no actions and every `POST` is refused.
    pub(crate) http_read_only: bool,
    /// The bearer token every request but `/healthz` carries; required for
    /// a bind off loopback.
    pub(crate) http_token: Option<String>,
    /// Worker threads of `serve`.
    pub(crate) workers: usize,
    /// The agent preset (`claude`, `codex`, `gemini`, `custom`); kept as
    /// text so that a bad value is reported with the presets to choose from.
    pub(crate) agent: String,
    /// The LLM agent command: required for `custom`, else it replaces the
    /// preset's command line (the preset still decides the environment and
    /// the state folders).
    pub(crate) agent_cmd: Option<String>,
    /// More variable names agents get from orch's environment, besides their
    /// preset's credentials.
    #[serde(default)]
    pub(crate) agent_pass_env: Vec<String>,
    /// Seconds an agent run may take.
    pub(crate) agent_timeout_secs: u64,
    /// Rollbacks to development before a task is blocked.
    pub(crate) developer_retries: u32,
    /// The spend ceiling per task.
    pub(crate) task_budget_usd: Option<f64>,
    /// More variable names no program orch starts may see.
    #[serde(default)]
    pub(crate) secret_env: Vec<String>,
    /// The staging runner's kill-switch.
    pub(crate) staging_runner_enabled: bool,
    /// The repositories the staging runner serves (`*`: every one).
    pub(crate) staging_runner_repos: String,
    /// Seconds a staging suite may run.
    pub(crate) staging_runner_timeout_secs: u64,
    /// Seconds between SIGTERM and SIGKILL.
    pub(crate) staging_runner_grace_secs: u64,
    /// Deferrals for tool errors before the stage fails closed.
    pub(crate) staging_runner_infra_retries: u32,
    /// The base of the backoff between deferrals.
    pub(crate) staging_runner_defer_secs: u64,
    /// The cap of a suite's output file.
    pub(crate) staging_runner_output_cap_bytes: u64,
    /// The test runner's kill-switch.
    pub(crate) test_runner_enabled: bool,
    /// Who decides the testing stage: `off` (the LLM tester), `shadow` (the
    /// LLM decides, the runner runs beside it and both verdicts are
    /// recorded) or `on` (the runner decides).
    pub(crate) test_runner_mode: String,
    /// The repositories the test runner serves (`*`: every one with a test
    /// command).
    pub(crate) test_runner_repos: String,
    /// Seconds a test suite may run.
    pub(crate) test_runner_timeout_secs: u64,
    /// Seconds between SIGTERM and SIGKILL.
    pub(crate) test_runner_grace_secs: u64,
    /// Deferrals for tool errors before the stage fails closed (mode `on`).
    pub(crate) test_runner_infra_retries: u32,
    /// The base of the backoff between deferrals.
    pub(crate) test_runner_defer_secs: u64,
    /// The cap of a test suite's output file.
    pub(crate) test_runner_output_cap_bytes: u64,
    /// Seconds a claimed job's lease lasts (heartbeats every third).
    pub(crate) lease_secs: u64,
    /// Health-check probes after a deploy.
    pub(crate) post_deploy_probes: u32,
    /// The window the probes are spread over.
    pub(crate) post_deploy_window_secs: u64,
    /// The git program task worktrees are made and committed with.
    pub(crate) git: String,
    /// Deferrals allowed when a task's worktree cannot be made before the
    /// task is blocked.
    pub(crate) worktree_infra_retries: u32,
    /// The base of the backoff between those deferrals.
    pub(crate) worktree_defer_secs: u64,
    /// Crash rescues (the worker died or its lease expired) after which a
    /// job is failed as poison and its task blocked.
    pub(crate) poison_rescues: u32,
    /// Deferrals allowed when the agent cannot be started before the task is
    /// blocked.
    pub(crate) agent_infra_retries: u32,
    /// Runs again of an LLM role that wrote no valid verdict line before its
    /// task is blocked.
    pub(crate) verdict_retries: u32,
    /// The base of the backoff between those deferrals.
    pub(crate) agent_defer_secs: u64,
    /// After the CLI's terminal event, the seconds it may take to exit.
    pub(crate) agent_linger_secs: u64,
    /// No first output within this is a stall (0: no limit).
    pub(crate) agent_first_output_secs: u64,
    /// No output for this long is a stall (0: no limit).
    pub(crate) agent_stall_secs: u64,
    /// Prices per million tokens, for CLIs that report no dollars.
    #[serde(default)]
    pub(crate) agent_prices: String,
    /// Seconds a repository's setup command (`repo add --setup-cmd`) may run
    /// in a new worktree or judge tree.
    pub(crate) setup_timeout_secs: u64,
    /// How strictly every program started for a task is confined (`required`,
    /// `best-effort` or `off`); unset: what the kernel can enforce
    /// ([`orch_launcher::sandbox::default_mode`]). Kept as text so that a bad
    /// value is reported by [`Config::validate`] with the modes to choose from.
    pub(crate) sandbox: Option<String>,
    /// More folders and files agents may write (their CLI's state), beside
    /// the well-known ones under `$HOME`.
    #[serde(default)]
    pub(crate) sandbox_agent_dirs: Vec<String>,
    /// More caches every run may write, beside the well-known ones under
    /// `$HOME`.
    #[serde(default)]
    pub(crate) sandbox_cache_dirs: Vec<String>,
}

/// `model=in:out[:cache_read],...` into prices; `None` for a bad entry.
fn parse_prices(text: &str) -> Option<Vec<orch_launcher::ModelPrice>> {
    text.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let (model, rates) = entry.split_once('=')?;
            let rates = rates
                .split(':')
                .map(|r| {
                    r.trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|r| r.is_finite() && *r >= 0.0)
                })
                .collect::<Option<Vec<f64>>>()?;
            let (input, output, cache_read) = match rates.as_slice() {
                [input, output] => (*input, *output, None),
                [input, output, cache] => (*input, *output, Some(*cache)),
                _ => return None,
            };
            let model = model.trim();
            (!model.is_empty())
                .then(|| orch_launcher::ModelPrice::new(model, input, output, cache_read))
        })
        .collect()
}

/// A configuration value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{key}: {problem}{}. Fix it in the environment (or unset it for the default; see .env.example)",
    // Said once: a problem that names what was expected already is not
    // followed by the same words again.
    if problem.contains(&format!("expected {expected}")) { String::new() } else { format!("; expected {expected}") }
)]
pub(crate) struct ConfigError {
    /// The full key, `ORCH_...`.
    pub(crate) key: String,
    /// What is wrong, with the value given.
    pub(crate) problem: String,
    /// The expected type.
    pub(crate) expected: &'static str,
}

fn expected(key: &str) -> &'static str {
    setting(key).map_or("a valid value", |setting| setting.expected)
}

impl Config {
    /// Reads the process's environment.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the full key and the expected type.
    pub(crate) fn from_env() -> Result<Config, ConfigError> {
        Config::from_os(std::env::vars_os())
    }

    /// Reads `vars` as the environment gives them: a configuration key whose
    /// value is not UTF-8 is refused, never dropped (dropping `ORCH_HOME`
    /// would send the work to the default home).
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the full key and the expected type.
    pub(crate) fn from_os(
        vars: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
    ) -> Result<Config, ConfigError> {
        let mut text = Vec::new();
        for (key, value) in vars {
            let Ok(key) = key.into_string() else {
                continue;
            };
            match value.into_string() {
                Ok(value) => text.push((key, value)),
                Err(value) if setting(&key).is_some() => {
                    return Err(ConfigError {
                        expected: expected(&key),
                        problem: format!("{value:?} is not UTF-8 text"),
                        key,
                    });
                }
                Err(_) => {}
            }
        }
        Config::from_iter(text)
    }

    /// The `Host` names `ORCH_HTTP_ALLOWED_HOSTS` lists, in lower case.
    pub(crate) fn http_allowed_hosts(&self) -> Vec<String> {
        self.http_allowed_hosts
            .iter()
            .map(|host| host.trim().to_ascii_lowercase())
            .filter(|host| !host.is_empty())
            .collect()
    }

    /// Reads `vars` (for tests).
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the full key and the expected type.
    pub(crate) fn from_iter(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        // An empty value means "unset": `ORCH_TASK_BUDGET_USD=` in a .env file.
        let mut vars: Vec<(String, String)> = vars
            .into_iter()
            .filter(|(k, v)| k.starts_with("ORCH_") && !v.is_empty())
            .collect();
        // An unset key takes its declared default, parsed like a set one.
        for setting in &SETTINGS {
            if let Some(default) = setting.default
                && !vars.iter().any(|(key, _)| key == setting.key)
            {
                vars.push((setting.key.to_owned(), default.to_owned()));
            }
        }
        let config: Config = envy::prefixed("ORCH_")
            .from_iter(vars.clone())
            .map_err(|error| wrap(&error, &vars))?;
        config.validate(&vars)?;
        Ok(config)
    }

    /// Checks what the types alone do not; `vars` are the values read,
    /// defaults included.
    fn validate(&self, vars: &[(String, String)]) -> Result<(), ConfigError> {
        let bad = |key: &str, problem: String| ConfigError {
            key: key.to_owned(),
            problem,
            expected: expected(key),
        };
        if !(1..=64).contains(&self.workers) {
            return Err(bad(
                "ORCH_WORKERS",
                format!("{} is out of range", self.workers),
            ));
        }
        if let Some(budget) = self.task_budget_usd
            && !(budget.is_finite() && budget >= 0.0)
        {
            return Err(bad(
                "ORCH_TASK_BUDGET_USD",
                format!("{budget} is not a sum of money"),
            ));
        }
        if self.lease_secs < 3 {
            return Err(bad(
                "ORCH_LEASE_SECS",
                format!("{} is too short", self.lease_secs),
            ));
        }
        if !(1..=1000).contains(&self.post_deploy_probes) {
            return Err(bad(
                "ORCH_POST_DEPLOY_PROBES",
                format!("{} is out of range", self.post_deploy_probes),
            ));
        }
        if !(1..=1000).contains(&self.poison_rescues) {
            return Err(bad(
                "ORCH_POISON_RESCUES",
                format!("{} is out of range", self.poison_rescues),
            ));
        }
        if self.test_runner_mode.parse::<RunnerMode>().is_err() {
            return Err(bad(
                "ORCH_TEST_RUNNER_MODE",
                format!("{:?} is not a mode", self.test_runner_mode),
            ));
        }
        if self.agent_timeout_secs == 0 {
            return Err(bad(
                "ORCH_AGENT_TIMEOUT_SECS",
                "0 would end every agent run at once".to_owned(),
            ));
        }
        if parse_prices(&self.agent_prices).is_none() {
            return Err(bad(
                "ORCH_AGENT_PRICES",
                format!("{:?} is not a price list", self.agent_prices),
            ));
        }
        if self.setup_timeout_secs == 0 {
            return Err(bad(
                "ORCH_SETUP_TIMEOUT_SECS",
                "0 would end every setup at once".to_owned(),
            ));
        }
        let agent = self
            .agent
            .parse::<AgentKind>()
            .map_err(|error| bad("ORCH_AGENT", error.to_string()))?;
        // A bare `*` would hand agents orch's whole environment, secrets and
        // all: the allow-list exists to prevent exactly that.
        if let Some(name) = self
            .agent_pass_env
            .iter()
            .map(|name| name.trim())
            .find(|name| name.starts_with('*') || name.contains(['=', ' ']))
        {
            return Err(bad(
                "ORCH_AGENT_PASS_ENV",
                format!("{name:?} names no variable (a prefix needs letters before its *)"),
            ));
        }
        match (&self.agent_cmd, agent) {
            (Some(command), _) if command.trim().is_empty() => {
                return Err(bad("ORCH_AGENT_CMD", "it is blank".to_owned()));
            }
            (None, AgentKind::Custom) => {
                return Err(bad(
                    "ORCH_AGENT_CMD",
                    "ORCH_AGENT=custom needs the command to run; set ORCH_AGENT_CMD, or choose ORCH_AGENT=claude, codex or gemini".to_owned(),
                ));
            }
            _ => {}
        }
        if self.git.trim().is_empty() {
            return Err(bad("ORCH_GIT", "it is blank".to_owned()));
        }
        if let Some(mode) = &self.sandbox
            && SandboxMode::parse(mode).is_err()
        {
            return Err(bad(
                "ORCH_SANDBOX",
                format!("{mode:?} is not a sandbox mode"),
            ));
        }
        for (key, dirs) in [
            ("ORCH_SANDBOX_AGENT_DIRS", &self.sandbox_agent_dirs),
            ("ORCH_SANDBOX_CACHE_DIRS", &self.sandbox_cache_dirs),
        ] {
            // The kernel's rules name absolute paths; a relative one would
            // depend on the folder orch was started in.
            if let Some(dir) = dirs
                .iter()
                .map(|d| d.trim())
                .find(|d| !d.is_empty() && !Path::new(d).is_absolute())
            {
                return Err(bad(key, format!("{dir:?} is not an absolute path")));
            }
        }
        // Every `*_SECS` key, by its declaration (envy read each already).
        for setting in &SETTINGS {
            let Some(min) = setting.secs_min else {
                continue;
            };
            let secs = vars
                .iter()
                .find(|(key, _)| key == setting.key)
                .and_then(|(_, value)| value.parse::<u64>().ok());
            if let Some(secs) = secs
                && !(min..=MAX_SECS).contains(&secs)
            {
                return Err(bad(
                    setting.key,
                    format!("{secs} is out of range (from {min} to {MAX_SECS})"),
                ));
            }
        }
        if let Some(host) = self
            .http_allowed_hosts()
            .iter()
            .find(|host| !valid_host_entry(host))
        {
            return Err(bad(
                "ORCH_HTTP_ALLOWED_HOSTS",
                format!("{host:?} is not a host name"),
            ));
        }
        if self.http_addr.parse::<std::net::SocketAddr>().is_err() {
            return Err(bad(
                "ORCH_HTTP_ADDR",
                format!("{:?} is not an address and port", self.http_addr),
            ));
        }
        // A bind off loopback without a token is refused by `serve` itself
        // (http::Http::bind): other commands do not listen.
        if let Some(token) = self.http_token.as_deref()
            && (!(16..=256).contains(&token.len()) || !token.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(bad(
                "ORCH_HTTP_TOKEN",
                format!(
                    "a token of {} bytes, or with spaces or control characters, is not accepted; use 16 to 256 printable characters",
                    token.len()
                ),
            ));
        }
        Ok(())
    }

    /// orch's home: `ORCH_HOME`, else `$XDG_DATA_HOME/orch`, else
    /// `~/.local/share/orch`.
    pub(crate) fn home(&self) -> Option<PathBuf> {
        if let Some(home) = &self.home {
            return Some(std::path::absolute(home).unwrap_or_else(|_| home.clone()));
        }
        let absolute = |key: &str| {
            std::env::var_os(key)
                .map(PathBuf::from)
                .filter(|path| path.is_absolute())
        };
        absolute("XDG_DATA_HOME")
            .map(|data| data.join("orch"))
            .or_else(|| absolute("HOME").map(|home| home.join(".local/share/orch")))
    }

    /// The database file: `ORCH_DB_PATH`, else `<home>/orch.db`.
    pub(crate) fn db_path(&self) -> Option<PathBuf> {
        self.db_path
            .clone()
            .or_else(|| self.home().map(|home| home.join("orch.db")))
    }

    /// The agent preset (checked by `validate`; an unreadable one would be
    /// `custom`, which runs nothing without a command).
    pub(crate) fn agent_kind(&self) -> AgentKind {
        self.agent.parse().unwrap_or(AgentKind::Custom)
    }

    /// The agent command: `ORCH_AGENT_CMD`, else the preset's.
    pub(crate) fn agent_command(&self) -> String {
        self.agent_cmd
            .clone()
            .unwrap_or_else(|| self.agent_kind().preset().command.to_owned())
    }

    /// The sandbox mode in force: `ORCH_SANDBOX`, else what the kernel can
    /// enforce.
    pub(crate) fn sandbox_mode(&self) -> SandboxMode {
        self.sandbox
            .as_deref()
            .and_then(|mode| SandboxMode::parse(mode).ok())
            .unwrap_or_else(orch_launcher::sandbox::default_mode)
    }

    /// The sandbox settings for orch's `home`, with the user's well-known
    /// agent state and cache folders under `user_home` (`$HOME`; none: only
    /// the configured ones).
    pub(crate) fn sandbox_config(&self, home: &Path, user_home: Option<&Path>) -> SandboxConfig {
        let mut sandbox = SandboxConfig::new(self.sandbox_mode());
        if let Some(user_home) = user_home {
            sandbox = sandbox.with_user_defaults(user_home, self.agent_kind());
        }
        let paths = |dirs: &[String]| -> Vec<PathBuf> {
            dirs.iter()
                .map(|d| d.trim())
                .filter(|d| !d.is_empty())
                .map(PathBuf::from)
                .collect()
        };
        sandbox.agent_dirs.extend(paths(&self.sandbox_agent_dirs));
        sandbox.cache_dirs.extend(paths(&self.sandbox_cache_dirs));
        // orch's home is hidden from every run; a database kept elsewhere
        // must be too, with the files SQLite and the boot locks keep beside it.
        if let Some(db) = self.db_path.as_deref() {
            let db = std::path::absolute(db).unwrap_or_else(|_| db.to_path_buf());
            if !db.starts_with(home) {
                let beside = |suffix: &str| {
                    let mut name = db.clone().into_os_string();
                    name.push(suffix);
                    PathBuf::from(name)
                };
                sandbox.hidden.extend([
                    db.clone(),
                    beside("-wal"),
                    beside("-shm"),
                    beside(".boots"),
                ]);
            }
        }
        sandbox
    }

    /// The launcher's configuration for `home`.
    pub(crate) fn launcher(&self, home: PathBuf) -> LauncherConfig {
        let user_home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .filter(|path| path.is_absolute());
        let sandbox = self.sandbox_config(&home, user_home.as_deref());
        let mut config = LauncherConfig::new(home);
        config.sandbox = sandbox;
        config.agent.preset = self.agent_kind();
        config.agent.command = self.agent_command();
        config.agent.pass_env = self
            .agent_pass_env
            .iter()
            .map(|name| name.trim())
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .collect();
        config.agent.home_dir = user_home;
        config.agent.timeout = Duration::from_secs(self.agent_timeout_secs);
        config.agent.retry = RetryPolicy::new(
            self.agent_infra_retries,
            Duration::from_secs(self.agent_defer_secs),
        );
        config.agent.verdict_retries = self.verdict_retries;
        config.agent.linger = Duration::from_secs(self.agent_linger_secs);
        let limit = |secs: u64| (secs > 0).then(|| Duration::from_secs(secs));
        config.agent.first_output = limit(self.agent_first_output_secs);
        config.agent.stall = limit(self.agent_stall_secs);
        config.agent.prices = parse_prices(&self.agent_prices).unwrap_or_default();
        config.developer_retries = self.developer_retries;
        config.task_budget_usd = self.task_budget_usd;
        config.secret_env.clone_from(&self.secret_env);
        config.staging_runner = suite_runner(
            RunnerMode::On,
            self.staging_runner_enabled,
            &self.staging_runner_repos,
            [
                self.staging_runner_timeout_secs,
                self.staging_runner_grace_secs,
                self.staging_runner_defer_secs,
            ],
            self.staging_runner_infra_retries,
            self.staging_runner_output_cap_bytes,
        );
        config.test_runner = suite_runner(
            // Checked by validate; an unreadable mode would be `off`.
            self.test_runner_mode.parse().unwrap_or(RunnerMode::Off),
            self.test_runner_enabled,
            &self.test_runner_repos,
            [
                self.test_runner_timeout_secs,
                self.test_runner_grace_secs,
                self.test_runner_defer_secs,
            ],
            self.test_runner_infra_retries,
            self.test_runner_output_cap_bytes,
        );
        config.lease = Duration::from_secs(self.lease_secs);
        config.post_deploy.probes = self.post_deploy_probes;
        config.post_deploy.window = Duration::from_secs(self.post_deploy_window_secs);
        config.supervisor = SupervisorProgram::CurrentExe;
        config.worktree.git.clone_from(&self.git);
        config.worktree.retry = RetryPolicy::new(
            self.worktree_infra_retries,
            Duration::from_secs(self.worktree_defer_secs),
        );
        config.setup.timeout = Duration::from_secs(self.setup_timeout_secs);
        config
    }

    /// `ORCH_*` variables in the environment that are neither configuration
    /// nor the agent contract: probably typos.
    pub(crate) fn unknown_keys() -> Vec<String> {
        std::env::vars_os()
            .filter_map(|(k, _)| k.into_string().ok())
            .filter(|k| k.starts_with("ORCH_"))
            .filter(|k| setting(k).is_none())
            .filter(|k| !CONTRACT_KEYS.contains(&k.as_str()))
            .collect()
    }
}

/// Whether `serve`, `work` and `demo` may start with the sandbox `mode` on a
/// kernel that answered `kernel` (`orch_process::sandbox::check_required`:
/// its Landlock ABI, or why it falls short): `Ok` with the warning to print,
/// if any, or `Err` with the one-line refusal. A required sandbox the kernel
/// cannot enforce is refused here, at start, rather than failing every run
/// later; a best-effort one runs and says once what it lacks. Never a
/// silent downgrade.
///
/// # Errors
///
/// The refusal, naming the kernel and the key that lets orch run anyway.
pub(crate) fn sandbox_start(
    mode: SandboxMode,
    kernel: Result<u8, String>,
) -> Result<Option<String>, String> {
    match (mode, kernel) {
        (SandboxMode::Required, Err(why)) => Err(format!(
            "ORCH_SANDBOX=required, but {why}; run on a kernel with Landlock, or set ORCH_SANDBOX=best-effort (confine what the kernel can, and record it with every run) or ORCH_SANDBOX=off to run anyway"
        )),
        (SandboxMode::BestEffort, Err(why)) => Ok(Some(format!(
            "warning: the sandbox is best-effort and {why}: runs are confined only as far as the kernel allows (each run records what was enforced)"
        ))),
        (SandboxMode::Required | SandboxMode::BestEffort | SandboxMode::Off, _) => Ok(None),
    }
}

/// Whether `entry` may be an `ORCH_HTTP_ALLOWED_HOSTS` entry: a host name or
/// address, optionally with `:port`.
pub(crate) fn valid_host_entry(entry: &str) -> bool {
    !entry.is_empty()
        && entry.len() <= 255
        && entry
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// Turns envy's message, which names the key without its prefix, into one
/// that names the full key, the value and the expected type.
fn wrap(error: &envy::Error, vars: &[(String, String)]) -> ConfigError {
    match error {
        envy::Error::MissingValue(field) => {
            let key = format!("ORCH_{}", field.to_ascii_uppercase());
            ConfigError {
                expected: expected(&key),
                problem: "is missing".to_owned(),
                key,
            }
        }
        envy::Error::Custom(message) => {
            // "... while parsing value 'abc' provided by STAGING_RUNNER_TIMEOUT_SECS"
            let field = message
                .rsplit_once(" provided by ")
                .map(|(_, field)| field.trim().to_owned());
            let key = field.map_or_else(|| "ORCH_*".to_owned(), |f| format!("ORCH_{f}"));
            let value = vars.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone());
            let cause = message
                .split(" while parsing value ")
                .next()
                .unwrap_or(message)
                .to_owned();
            ConfigError {
                expected: expected(&key),
                problem: match value {
                    Some(value) => format!("{value:?} cannot be read ({cause})"),
                    None => cause,
                },
                key,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_bad_agent_says_what_was_expected_once() {
        let error = Config::from_iter(env(&[("ORCH_AGENT", "foo")])).unwrap_err();
        let text = error.to_string();
        assert_eq!(
            text.matches("expected claude, codex, gemini or custom")
                .count(),
            1,
            "{text}"
        );
        let error = Config::from_iter(env(&[("ORCH_WORKERS", "x")])).unwrap_err();
        assert!(error.to_string().contains("; expected "), "{error}");
    }

    #[test]
    fn defaults_apply_and_values_are_read() {
        let config = Config::from_iter(env(&[])).unwrap();
        assert_eq!(config.http_addr, "127.0.0.1:7878");
        assert_eq!(config.workers, 2);
        assert!(config.staging_runner_enabled);
        assert_eq!(config.task_budget_usd, None);
        let config = Config::from_iter(env(&[
            ("ORCH_WORKERS", "4"),
            ("ORCH_TASK_BUDGET_USD", "2.5"),
            ("ORCH_SECRET_ENV", "A_KEY,B_KEY"),
            ("ORCH_STAGING_RUNNER_ENABLED", "false"),
            ("ORCH_STAGING_RUNNER_REPOS", "api, web"),
            ("ORCH_DB_PATH", "/tmp/x.db"),
            ("ORCH_AGENT_TIMEOUT_SECS", ""),
        ]))
        .unwrap();
        assert_eq!(config.workers, 4);
        assert_eq!(config.task_budget_usd, Some(2.5));
        assert_eq!(config.secret_env, ["A_KEY", "B_KEY"]);
        assert!(!config.staging_runner_enabled);
        assert_eq!(config.db_path(), Some(PathBuf::from("/tmp/x.db")));
        let launcher = config.launcher(PathBuf::from("/srv/orch"));
        assert!(launcher.staging_runner.repos.contains("web"));
        assert!(!launcher.staging_runner.repos.contains("docs"));
    }

    #[test]
    fn the_test_runner_defaults_to_shadow_and_reads_its_own_keys() {
        let launcher = Config::from_iter(env(&[]))
            .unwrap()
            .launcher(PathBuf::from("/h"));
        assert!(launcher.test_runner.enabled);
        assert_eq!(launcher.test_runner.mode, RunnerMode::Shadow);
        assert_eq!(launcher.staging_runner.mode, RunnerMode::On);
        let config = Config::from_iter(env(&[
            ("ORCH_TEST_RUNNER_MODE", "on"),
            ("ORCH_TEST_RUNNER_REPOS", "api"),
            ("ORCH_TEST_RUNNER_TIMEOUT_SECS", "60"),
            ("ORCH_TEST_RUNNER_INFRA_RETRIES", "1"),
        ]))
        .unwrap();
        let launcher = config.launcher(PathBuf::from("/h"));
        assert_eq!(launcher.test_runner.mode, RunnerMode::On);
        assert!(launcher.test_runner.repos.contains("api"));
        assert!(!launcher.test_runner.repos.contains("web"));
        assert_eq!(launcher.test_runner.timeout, Duration::from_secs(60));
        assert_eq!(launcher.test_runner.retry.retries, 1);
        assert!(launcher.staging_runner.repos.contains("web"), "its own CSV");
        let error = Config::from_iter(env(&[("ORCH_TEST_RUNNER_MODE", "maybe")])).unwrap_err();
        assert_eq!(error.key, "ORCH_TEST_RUNNER_MODE");
        assert!(error.to_string().contains("off, shadow or on"), "{error}");
    }

    #[test]
    fn a_bad_value_names_the_full_key_and_the_expected_type() {
        let error =
            Config::from_iter(env(&[("ORCH_STAGING_RUNNER_TIMEOUT_SECS", "abc")])).unwrap_err();
        let text = error.to_string();
        assert_eq!(error.key, "ORCH_STAGING_RUNNER_TIMEOUT_SECS");
        assert!(
            text.starts_with("ORCH_STAGING_RUNNER_TIMEOUT_SECS: \"abc\""),
            "{text}"
        );
        assert!(text.contains("a whole number of seconds"), "{text}");
        for (key, value) in [
            ("ORCH_STAGING_RUNNER_ENABLED", "yes please"),
            ("ORCH_WORKERS", "0"),
            ("ORCH_WORKERS", "-1"),
            ("ORCH_TASK_BUDGET_USD", "NaN"),
            ("ORCH_HTTP_ADDR", "localhost"),
            ("ORCH_LEASE_SECS", "1"),
            ("ORCH_POISON_RESCUES", "0"),
        ] {
            let error = Config::from_iter(env(&[(key, value)])).unwrap_err();
            assert_eq!(error.key, key, "{error}");
        }
    }

    #[test]
    fn the_agent_preset_decides_the_command_the_state_and_the_credentials() {
        let launcher = Config::from_iter(env(&[]))
            .unwrap()
            .launcher(PathBuf::from("/h"));
        assert_eq!(launcher.agent.preset, AgentKind::Claude);
        assert_eq!(launcher.agent.command, AgentKind::Claude.preset().command);
        let config = Config::from_iter(env(&[
            ("ORCH_AGENT", "codex"),
            ("ORCH_AGENT_PASS_ENV", "HTTPS_PROXY, NODE_EXTRA_CA_CERTS"),
        ]))
        .unwrap();
        let launcher = config.launcher(PathBuf::from("/h"));
        assert_eq!(launcher.agent.preset, AgentKind::Codex);
        assert!(launcher.agent.command.starts_with("codex exec --json"));
        assert_eq!(
            launcher.agent.pass_env,
            ["HTTPS_PROXY", "NODE_EXTRA_CA_CERTS"]
        );
        let sandbox = config.sandbox_config(Path::new("/h"), Some(Path::new("/home/me")));
        assert_eq!(sandbox.agent_dirs, [PathBuf::from("/home/me/.codex")]);
        // ORCH_AGENT_CMD replaces a preset's command line, keeps the rest.
        let config = Config::from_iter(env(&[
            ("ORCH_AGENT", "gemini"),
            ("ORCH_AGENT_CMD", "gemini -m pro --yolo"),
        ]))
        .unwrap();
        let launcher = config.launcher(PathBuf::from("/h"));
        assert_eq!(launcher.agent.preset, AgentKind::Gemini);
        assert_eq!(launcher.agent.command, "gemini -m pro --yolo");
        // custom needs its command; an unknown preset is refused.
        let error = Config::from_iter(env(&[("ORCH_AGENT", "custom")])).unwrap_err();
        assert_eq!(error.key, "ORCH_AGENT_CMD");
        assert!(error.to_string().contains("ORCH_AGENT=custom"), "{error}");
        let config = Config::from_iter(env(&[
            ("ORCH_AGENT", "custom"),
            ("ORCH_AGENT_CMD", "aider"),
        ]))
        .unwrap();
        assert_eq!(config.launcher(PathBuf::from("/h")).agent.command, "aider");
        for everything in ["*", "HTTPS_PROXY,*"] {
            let error = Config::from_iter(env(&[("ORCH_AGENT_PASS_ENV", everything)])).unwrap_err();
            assert_eq!(error.key, "ORCH_AGENT_PASS_ENV", "{error}");
        }
        let error = Config::from_iter(env(&[("ORCH_AGENT", "cursor")])).unwrap_err();
        assert_eq!(error.key, "ORCH_AGENT");
        assert!(
            error
                .to_string()
                .contains("claude, codex, gemini or custom"),
            "{error}"
        );
    }

    #[test]
    fn the_sandbox_keys_are_read_into_the_launcher_s_settings() {
        let config = Config::from_iter(env(&[
            ("ORCH_SANDBOX", "best-effort"),
            (
                "ORCH_SANDBOX_AGENT_DIRS",
                "/opt/agent-state, /home/me/.aider",
            ),
            ("ORCH_SANDBOX_CACHE_DIRS", "/srv/cache"),
        ]))
        .unwrap();
        assert_eq!(config.sandbox_mode(), SandboxMode::BestEffort);
        let sandbox = config.sandbox_config(Path::new("/srv/orch"), Some(Path::new("/home/me")));
        assert_eq!(sandbox.mode, SandboxMode::BestEffort);
        for dir in ["/home/me/.claude", "/opt/agent-state", "/home/me/.aider"] {
            assert!(sandbox.agent_dirs.contains(&PathBuf::from(dir)), "{dir}");
        }
        for dir in ["/home/me/.cargo/registry", "/srv/cache"] {
            assert!(sandbox.cache_dirs.contains(&PathBuf::from(dir)), "{dir}");
        }
        assert!(sandbox.hidden.is_empty(), "the database is in the home");
        // Unset: the kernel decides, required or best-effort, never off.
        let config = Config::from_iter(env(&[])).unwrap();
        assert_ne!(config.sandbox_mode(), SandboxMode::Off);
        assert_eq!(
            config.sandbox_config(Path::new("/h"), None).agent_dirs,
            Vec::<PathBuf>::new()
        );
        let config = Config::from_iter(env(&[("ORCH_SANDBOX", "off")])).unwrap();
        assert_eq!(
            config.launcher(PathBuf::from("/h")).sandbox.mode,
            SandboxMode::Off
        );
    }

    #[test]
    fn a_database_outside_the_home_is_hidden_with_its_side_files() {
        let config = Config::from_iter(env(&[("ORCH_DB_PATH", "/var/lib/orch/orch.db")])).unwrap();
        let hidden = config.sandbox_config(Path::new("/srv/orch"), None).hidden;
        assert_eq!(
            hidden,
            [
                "/var/lib/orch/orch.db",
                "/var/lib/orch/orch.db-wal",
                "/var/lib/orch/orch.db-shm",
                "/var/lib/orch/orch.db.boots",
            ]
            .map(PathBuf::from)
        );
        let config = Config::from_iter(env(&[("ORCH_DB_PATH", "/srv/orch/x.db")])).unwrap();
        assert!(
            config
                .sandbox_config(Path::new("/srv/orch"), None)
                .hidden
                .is_empty()
        );
    }

    #[test]
    fn bad_sandbox_values_name_their_key() {
        for (key, value, said) in [
            ("ORCH_SANDBOX", "strict", "required, best-effort or off"),
            (
                "ORCH_SANDBOX_AGENT_DIRS",
                "/ok,relative/dir",
                "\"relative/dir\"",
            ),
            ("ORCH_SANDBOX_CACHE_DIRS", "cache", "absolute"),
        ] {
            let error = Config::from_iter(env(&[(key, value)])).unwrap_err();
            assert_eq!(error.key, key, "{error}");
            assert!(error.to_string().contains(said), "{error}");
        }
    }

    #[test]
    fn a_required_sandbox_on_a_kernel_that_cannot_is_refused_never_downgraded() {
        let kernel = || {
            Err("this kernel (5.15.0) has Landlock ABI 1; a required sandbox needs ABI 6 (Linux 6.12 or later)".to_owned())
        };
        let refusal = sandbox_start(SandboxMode::Required, kernel()).unwrap_err();
        assert!(refusal.contains("this kernel (5.15.0)"), "{refusal}");
        assert!(refusal.contains("ORCH_SANDBOX=best-effort"), "{refusal}");
        assert!(refusal.contains("ORCH_SANDBOX=off"), "{refusal}");
        assert!(!refusal.contains('\n'), "one line: {refusal}");
        let warning = sandbox_start(SandboxMode::BestEffort, kernel())
            .unwrap()
            .unwrap();
        assert!(warning.starts_with("warning: "), "{warning}");
        assert!(warning.contains("5.15.0"), "{warning}");
        assert!(!warning.contains('\n'), "one line: {warning}");
        assert_eq!(sandbox_start(SandboxMode::Off, kernel()), Ok(None));
        for mode in SandboxMode::ALL {
            assert_eq!(sandbox_start(mode, Ok(7)), Ok(None), "{mode}");
        }
    }

    /// The `# ORCH_KEY=value` lines of `.env.example`: key and value.
    fn env_example_lines(example: &str) -> Vec<(&str, &str)> {
        example
            .lines()
            .map(|line| line.trim_start_matches('#').trim())
            .filter_map(|line| line.split_once('='))
            .filter(|(key, _)| {
                key.starts_with("ORCH_")
                    && key
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            })
            .collect()
    }

    /// Where `.env.example` and the declarations disagree, one line per key.
    fn env_example_drift(example: &str) -> Vec<String> {
        let lines = env_example_lines(example);
        let mut drift = Vec::new();
        for setting in &SETTINGS {
            let values: Vec<&str> = lines
                .iter()
                .filter(|(key, _)| *key == setting.key)
                .map(|(_, value)| *value)
                .collect();
            match values.as_slice() {
                [] => drift.push(format!(
                    "{}: missing from .env.example; add `# {}={}` with its meaning",
                    setting.key,
                    setting.key,
                    setting.env_example_value()
                )),
                [value] if *value == setting.env_example_value() => {}
                [value] => drift.push(format!(
                    "{}: .env.example shows {value:?}, the declaration {:?}",
                    setting.key,
                    setting.env_example_value()
                )),
                _ => drift.push(format!("{}: listed more than once", setting.key)),
            }
        }
        for (key, _) in &lines {
            if setting(key).is_none() {
                drift.push(format!("{key}: in .env.example but not a declared key"));
            }
        }
        drift
    }

    /// Where README's configuration table and the declarations disagree.
    fn readme_drift(readme: &str) -> Vec<String> {
        let rows: Vec<&str> = readme
            .lines()
            .filter(|line| line.starts_with("| `ORCH_"))
            .filter(|line| !line.contains(" | install | "))
            .collect();
        let mut drift = Vec::new();
        for setting in &SETTINGS {
            let prefix = format!("| `{}` |", setting.key);
            let row = setting.readme_row();
            match rows.iter().find(|line| line.starts_with(&prefix)) {
                None => drift.push(format!(
                    "{}: missing from README's configuration table; add:\n{row}",
                    setting.key
                )),
                Some(line) if *line == row => {}
                Some(line) => drift.push(format!(
                    "{}: README's row differs from the declaration\n  README: {line}\n  wanted: {row}",
                    setting.key
                )),
            }
        }
        for line in &rows {
            let key = line.split('`').nth(1).unwrap_or(line);
            if setting(key).is_none() {
                drift.push(format!("{key}: in README's table but not a declared key"));
            }
        }
        // The paragraph above the table states the `*_SECS` ranges.
        let ranges = readme
            .split("**Configuration**")
            .nth(1)
            .and_then(|rest| rest.split("| key |").next())
            .unwrap_or_default();
        if !ranges.contains(&MAX_SECS.to_string()) {
            drift.push(format!(
                "README's configuration paragraph does not say the *_SECS maximum, {MAX_SECS}"
            ));
        }
        for setting in SETTINGS
            .iter()
            .filter(|s| s.secs_min.is_some_and(|m| m > 0))
        {
            let least = format!("at least {}", setting.secs_min.unwrap_or_default());
            if !ranges.contains(&format!("`{}`", setting.key)) || !ranges.contains(&least) {
                drift.push(format!(
                    "{}: README's configuration paragraph does not say it takes {least}",
                    setting.key
                ));
            }
        }
        if drift.is_empty() && !readme.contains(&defs::readme_table()) {
            drift.push(format!(
                "README's configuration table is out of the declarations' order; wanted:\n{}",
                defs::readme_table()
            ));
        }
        drift
    }

    #[test]
    fn the_env_example_shows_every_declared_key_with_its_default() {
        let drift = env_example_drift(include_str!("../../../.env.example"));
        assert!(drift.is_empty(), "{}", drift.join("\n"));
        // A drift is named by its key.
        let example = include_str!("../../../.env.example")
            .replace("# ORCH_WORKERS=2", "# ORCH_WORKERS=3")
            .replace("# ORCH_GIT=git", "");
        let drift = env_example_drift(&format!("{example}\n# ORCH_TYPO=1\n"));
        assert_eq!(drift.len(), 3, "{drift:?}");
        assert!(drift[0].starts_with("ORCH_WORKERS: "), "{drift:?}");
        assert!(drift[1].starts_with("ORCH_GIT: missing"), "{drift:?}");
        assert!(drift[2].starts_with("ORCH_TYPO: "), "{drift:?}");
    }

    #[test]
    fn the_readme_table_is_the_declarations() {
        let readme = include_str!("../../../README.md");
        let drift = readme_drift(readme);
        assert!(drift.is_empty(), "{}", drift.join("\n"));
        let edited = readme.replace("| `ORCH_WORKERS` | `2` |", "| `ORCH_WORKERS` | `4` |");
        let drift = readme_drift(&edited);
        assert_eq!(drift.len(), 1, "{drift:?}");
        assert!(drift[0].starts_with("ORCH_WORKERS: "), "{drift:?}");
    }

    /// The field names of [`Config`], as serde declares them.
    fn config_fields() -> Vec<&'static str> {
        use serde::de::{self, Visitor};
        struct Fields(Vec<&'static str>);
        struct Lister<'a>(&'a mut Fields);
        impl<'de> de::Deserializer<'de> for Lister<'_> {
            type Error = de::value::Error;
            fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
                Err(de::Error::custom("not a struct"))
            }
            fn deserialize_struct<V: Visitor<'de>>(
                self,
                _: &'static str,
                fields: &'static [&'static str],
                _: V,
            ) -> Result<V::Value, Self::Error> {
                self.0.0.extend_from_slice(fields);
                Err(de::Error::custom("listed"))
            }
            serde::forward_to_deserialize_any! {
                bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
                bytes byte_buf option unit unit_struct newtype_struct seq tuple
                tuple_struct map enum identifier ignored_any
            }
        }
        let mut fields = Fields(Vec::new());
        let _ = Config::deserialize(Lister(&mut fields));
        fields.0
    }

    #[test]
    fn every_field_is_declared_and_every_declaration_is_a_field() {
        // envy maps field `x` to `ORCH_X`; a field without a declaration
        // would get no default, no expected-type message, no .env.example
        // line and no README row.
        let mut fields: Vec<String> = config_fields()
            .iter()
            .map(|f| format!("ORCH_{}", f.to_ascii_uppercase()))
            .collect();
        assert_eq!(fields.len(), 47, "{fields:?}");
        fields.sort();
        let mut declared: Vec<String> = SETTINGS.iter().map(|s| s.key.to_owned()).collect();
        declared.sort();
        assert_eq!(fields, declared);
        // Each declaration in one place: no key twice.
        declared.dedup();
        assert_eq!(declared.len(), SETTINGS.len());
        // A `*_SECS` key has a range, and only such a key; its expected
        // type says the range.
        for setting in &SETTINGS {
            assert_eq!(
                setting.secs_min.is_some(),
                setting.key.ends_with("_SECS"),
                "{}",
                setting.key
            );
            if let Some(min) = setting.secs_min {
                assert!(
                    setting.expected.contains(&format!("from {min}")),
                    "{}",
                    setting.key
                );
            }
        }
        // And every key is read: a value that cannot parse for each typed
        // key is refused under that key.
        for key in [
            "ORCH_WORKERS",
            "ORCH_AGENT_TIMEOUT_SECS",
            "ORCH_AGENT_LINGER_SECS",
            "ORCH_AGENT_STALL_SECS",
            "ORCH_AGENT_PRICES",
            "ORCH_DEVELOPER_RETRIES",
            "ORCH_STAGING_RUNNER_GRACE_SECS",
            "ORCH_STAGING_RUNNER_INFRA_RETRIES",
            "ORCH_STAGING_RUNNER_DEFER_SECS",
            "ORCH_STAGING_RUNNER_OUTPUT_CAP_BYTES",
            "ORCH_TEST_RUNNER_ENABLED",
            "ORCH_TEST_RUNNER_MODE",
            "ORCH_TEST_RUNNER_TIMEOUT_SECS",
            "ORCH_TEST_RUNNER_GRACE_SECS",
            "ORCH_TEST_RUNNER_INFRA_RETRIES",
            "ORCH_TEST_RUNNER_DEFER_SECS",
            "ORCH_TEST_RUNNER_OUTPUT_CAP_BYTES",
            "ORCH_LEASE_SECS",
            "ORCH_POISON_RESCUES",
            "ORCH_AGENT_INFRA_RETRIES",
            "ORCH_VERDICT_RETRIES",
            "ORCH_AGENT_DEFER_SECS",
            "ORCH_WORKTREE_INFRA_RETRIES",
            "ORCH_WORKTREE_DEFER_SECS",
            "ORCH_SETUP_TIMEOUT_SECS",
        ] {
            let error = Config::from_iter(env(&[(key, "x")])).unwrap_err();
            assert_eq!(error.key, key, "{error}");
        }
    }

    #[test]
    fn the_declared_defaults_are_the_libraries_defaults() {
        // The launcher's own defaults (an embedder's) and the binary's are
        // the same numbers: one is not changed without the other.
        let home = PathBuf::from("/h");
        let config = Config::from_iter(env(&[])).unwrap();
        let mut read = config.launcher(home.clone());
        let mut library = LauncherConfig::new(home);
        // What comes from the machine rather than from a key.
        read.agent.home_dir = None;
        read.sandbox = library.sandbox.clone();
        library.supervisor = SupervisorProgram::CurrentExe;
        assert_eq!(read, library);
        assert_eq!(config.poison_rescues, orch_store::DEFAULT_POISON_RESCUES);
        assert_eq!(
            config.developer_retries,
            orch_pipeline::DEFAULT_DEVELOPER_RETRIES
        );
    }

    #[test]
    fn every_seconds_key_is_range_checked_and_named() {
        // Every *_SECS key of the table is in `seconds()`, and a huge value
        // for each is refused under its own key with the range it takes.
        let secs_keys: Vec<&str> = SETTINGS
            .iter()
            .filter(|s| s.secs_min.is_some())
            .map(|s| s.key)
            .collect();
        assert_eq!(secs_keys.len(), 15);
        for key in secs_keys {
            for huge in ["18446744073709551615", "604801"] {
                let error = Config::from_iter(env(&[(key, huge)])).unwrap_err();
                assert_eq!(error.key, key, "{error}");
                let text = error.to_string();
                assert!(text.contains("to 604800"), "{text}");
            }
            assert!(Config::from_iter(env(&[(key, "604800")])).is_ok(), "{key}");
        }
        // The launcher's settings from the largest values still work out.
        let all: Vec<(&str, &str)> = SETTINGS
            .iter()
            .map(|s| s.key)
            .filter(|k| k.ends_with("_SECS"))
            .map(|k| (k, "604800"))
            .collect();
        let launcher = Config::from_iter(env(&all))
            .unwrap()
            .launcher(PathBuf::from("/tmp/orch"));
        assert_eq!(launcher.post_deploy.window, Duration::from_secs(MAX_SECS));
    }

    #[test]
    fn a_non_utf8_value_is_refused_naming_its_key() {
        use std::ffi::OsString;
        use std::os::unix::ffi::OsStringExt;
        let error = Config::from_os([(
            OsString::from("ORCH_HOME"),
            OsString::from_vec(vec![b'/', 0xff]),
        )])
        .unwrap_err();
        assert_eq!(error.key, "ORCH_HOME");
        assert!(error.to_string().contains("not UTF-8"), "{error}");
        // Outside the configuration keys it is none of ours.
        let config =
            Config::from_os([(OsString::from("HOME"), OsString::from_vec(vec![b'/', 0xff]))])
                .unwrap();
        assert_eq!(config.home, None);
    }

    #[test]
    fn allowed_hosts_are_read_and_checked() {
        let config =
            Config::from_iter(env(&[("ORCH_HTTP_ALLOWED_HOSTS", "Orch.Example, ci:8080")]))
                .unwrap();
        assert_eq!(config.http_allowed_hosts(), ["orch.example", "ci:8080"]);
        let error =
            Config::from_iter(env(&[("ORCH_HTTP_ALLOWED_HOSTS", "http://x/")])).unwrap_err();
        assert_eq!(error.key, "ORCH_HTTP_ALLOWED_HOSTS");
    }
}
