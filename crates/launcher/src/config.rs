//! The launcher's typed configuration. The crate reads no environment
//! variable: the binary (or an embedder) fills [`LauncherConfig`].

use std::path::PathBuf;
use std::time::Duration;

use orch_process::exec::SupervisorProgram;

use crate::settings::AgentKind;
use crate::settings::SandboxConfig;

/// Everything the engine needs to know, with documented defaults.
///
/// `#[non_exhaustive]`: made by [`LauncherConfig::new`], then set field by
/// field or with the `with_*` builders, so a new setting is not a breaking
/// change for an embedder. Its parts are too (each has `Default`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LauncherConfig {
    /// orch's home: task folders live in `home/tasks/<task id>/`, prompt
    /// overrides in `home/agents/<role>.md`.
    pub home: PathBuf,
    /// The LLM agent transport.
    pub agent: AgentConfig,
    /// Rollbacks to `development` a task may spend before it is `blocked`.
    pub developer_retries: u32,
    /// The spend ceiling per task, in US dollars (`None`: no ceiling).
    pub task_budget_usd: Option<f64>,
    /// More environment variable names that no program orch starts may see.
    pub secret_env: Vec<String>,
    /// The staging runner (the suite runner of `deploy-staging`).
    pub staging_runner: SuiteRunnerConfig,
    /// The test runner (the suite runner of `testing`), with its mode.
    pub test_runner: SuiteRunnerConfig,
    /// The deploy finalizer (the reserved agent of `deploy`).
    pub deploy: DeployConfig,
    /// The post-deploy monitor (the reserved agent of `post-deploy`).
    pub post_deploy: PostDeployConfig,
    /// How long a claim's lease lasts; the worker heartbeats it every third.
    pub lease: Duration,
    /// Which program plays the process supervisor.
    pub supervisor: SupervisorProgram,
    /// Task isolation: git and the worktrees.
    pub worktree: WorktreeConfig,
    /// The repositories' setup commands (`repo add --setup-cmd`): their
    /// limits.
    pub setup: SetupConfig,
    /// The kernel sandbox of every program started for a task.
    pub sandbox: SandboxConfig,
}

/// How work that could not start for a reason outside the task (an
/// infrastructure fault: an agent that cannot be started, a worktree that
/// cannot be made, a suite's tool error, a setup that failed, a panic) is
/// tried again: deferred up to `retries` times, each after a backoff that
/// doubles from `base` (at most [`RetryPolicy::MAX_BACKOFF`]), then the
/// task is blocked (or a suite fails closed). One type for the agent, the
/// worktree and the suite runners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Deferrals allowed before the task is blocked.
    pub retries: u32,
    /// The backoff before the first try again; doubled each time.
    pub base: Duration,
}

impl RetryPolicy {
    /// The longest backoff between deferrals.
    pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);

    /// `retries` deferrals, the first after `base`.
    #[must_use]
    pub const fn new(retries: u32, base: Duration) -> RetryPolicy {
        RetryPolicy { retries, base }
    }

    /// After `spent` deferrals: the wait before the next try, or `None`
    /// when the retries are spent.
    #[must_use]
    pub fn next(&self, spent: u32) -> Option<Duration> {
        (spent < self.retries).then(|| self.backoff(spent))
    }

    /// `base × 2^spent`, at most [`RetryPolicy::MAX_BACKOFF`].
    #[must_use]
    pub fn backoff(&self, spent: u32) -> Duration {
        self.base
            .checked_mul(1u32.checked_shl(spent.min(20)).unwrap_or(u32::MAX))
            .unwrap_or(Self::MAX_BACKOFF)
            .min(Self::MAX_BACKOFF)
    }
}

impl Default for RetryPolicy {
    /// Three deferrals, the first after 30 s.
    fn default() -> Self {
        RetryPolicy::new(3, Duration::from_secs(30))
    }
}

/// The limits of a repository's setup command, run in each new task
/// worktree and each judge tree (`ORCH_SETUP_TIMEOUT_SECS`). A failing setup
/// is deferred within the budget of what it prepares (the worktree's, or
/// the suite runner's infra retries), then the task is blocked with a
/// `setup_failed` alert.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SetupConfig {
    /// How long one setup may run (`ORCH_SETUP_TIMEOUT_SECS`, default 900).
    pub timeout: Duration,
    /// SIGTERM → SIGKILL.
    pub grace: Duration,
}

impl Default for SetupConfig {
    fn default() -> Self {
        SetupConfig {
            timeout: Duration::from_secs(15 * 60),
            grace: Duration::from_secs(5),
        }
    }
}

impl LauncherConfig {
    /// The defaults, with `home` as orch's home.
    #[must_use]
    pub fn new(home: impl Into<PathBuf>) -> LauncherConfig {
        LauncherConfig {
            home: home.into(),
            agent: AgentConfig::default(),
            developer_retries: orch_pipeline::DEFAULT_DEVELOPER_RETRIES,
            task_budget_usd: None,
            secret_env: Vec::new(),
            staging_runner: SuiteRunnerConfig::default(),
            test_runner: SuiteRunnerConfig::test_runner(),
            deploy: DeployConfig::default(),
            post_deploy: PostDeployConfig::default(),
            lease: Duration::from_secs(60),
            supervisor: SupervisorProgram::CurrentExe,
            worktree: WorktreeConfig::default(),
            setup: SetupConfig::default(),
            sandbox: SandboxConfig::new(crate::settings::default_mode()),
        }
    }

    /// With `agent` as the LLM agent transport.
    #[must_use]
    pub fn with_agent(mut self, agent: AgentConfig) -> LauncherConfig {
        self.agent = agent;
        self
    }

    /// With `retries` rollbacks to `development` before a task is blocked.
    #[must_use]
    pub fn with_developer_retries(mut self, retries: u32) -> LauncherConfig {
        self.developer_retries = retries;
        self
    }

    /// With a spend ceiling per task (`None`: none).
    #[must_use]
    pub fn with_task_budget_usd(mut self, budget: Option<f64>) -> LauncherConfig {
        self.task_budget_usd = budget;
        self
    }

    /// With the staging runner's settings.
    #[must_use]
    pub fn with_staging_runner(mut self, runner: SuiteRunnerConfig) -> LauncherConfig {
        self.staging_runner = runner;
        self
    }

    /// With the test runner's settings.
    #[must_use]
    pub fn with_test_runner(mut self, runner: SuiteRunnerConfig) -> LauncherConfig {
        self.test_runner = runner;
        self
    }

    /// With a claim's lease of `lease`.
    #[must_use]
    pub fn with_lease(mut self, lease: Duration) -> LauncherConfig {
        self.lease = lease;
        self
    }

    /// With `supervisor` as the process supervisor program (a `#[test]`
    /// names `SupervisorProgram::Path` to `orch-supervisor`; see
    /// `orch_process::supervisor`).
    #[must_use]
    pub fn with_supervisor(mut self, supervisor: SupervisorProgram) -> LauncherConfig {
        self.supervisor = supervisor;
        self
    }

    /// With the worktree settings (the git program, its limits).
    #[must_use]
    pub fn with_worktree(mut self, worktree: WorktreeConfig) -> LauncherConfig {
        self.worktree = worktree;
        self
    }

    /// With the kernel sandbox settings.
    #[must_use]
    pub fn with_sandbox(mut self, sandbox: SandboxConfig) -> LauncherConfig {
        self.sandbox = sandbox;
        self
    }

    /// The folder of a task.
    #[must_use]
    pub fn task_dir(&self, task: i64) -> PathBuf {
        self.home.join("tasks").join(task.to_string())
    }
}

/// How LLM agents are started.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AgentConfig {
    /// The agent CLI (`ORCH_AGENT`): its credentials, the variables it needs
    /// and its state ([`crate::preset`]).
    pub preset: AgentKind,
    /// The resolved agent command, run as `sh -c COMMAND` with the prompt on
    /// stdin: the preset's, or `ORCH_AGENT_CMD` when set.
    pub command: String,
    /// More variable names (or `PREFIX*`) agents get from orch's environment
    /// (`ORCH_AGENT_PASS_ENV`), besides the preset's credentials.
    pub pass_env: Vec<String>,
    /// The user's home folder, where the preset's state is made ready before
    /// a run (`None`: not touched).
    pub home_dir: Option<PathBuf>,
    /// How long one agent run may take.
    pub timeout: Duration,
    /// Between SIGTERM and SIGKILL when it must be ended.
    pub grace: Duration,
    /// The most stdout bytes kept for parsing the agent's result.
    pub stdout_cap: usize,
    /// Deferrals allowed when the agent cannot be started at all (the
    /// command is missing) or hit a transient fault, before the task is
    /// blocked, and the backoff between them.
    pub retry: RetryPolicy,
    /// Runs again of an LLM role that ended well but wrote no valid verdict
    /// line (`ORCH_VERDICT_RETRIES`): the same role runs again, deferred
    /// like an infra retry and counted with the job's infra attempts, never
    /// charged to the developer; then the task is blocked
    /// (`verdict_missing`).
    pub verdict_retries: u32,
    /// After the CLI printed its terminal event, how long it may take to
    /// exit before orch ends it (a normal end that says it lingered).
    pub linger: Duration,
    /// No first output within this is a stall (`None`: no limit). Armed only
    /// for a streaming output format (see `spawn`).
    pub first_output: Option<Duration>,
    /// No output for this long is a stall (`None`: no limit). Armed only
    /// for a streaming output format.
    pub stall: Option<Duration>,
    /// Prices per million tokens by model, for CLIs that report tokens but
    /// no dollars: the run's cost is then estimated from them.
    pub prices: Vec<ModelPrice>,
}

/// A model's list price, US dollars per million tokens.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ModelPrice {
    /// The model's name as the CLI reports it (`*`: any model).
    pub model: String,
    /// Input tokens (cache reads excluded when priced on their own).
    pub input: f64,
    /// Output tokens.
    pub output: f64,
    /// Cache-read tokens; `None`: priced as input.
    pub cache_read: Option<f64>,
}

impl Eq for ModelPrice {}

impl ModelPrice {
    /// `model`'s prices per million tokens: `input`, `output`, and
    /// `cache_read` (`None`: priced as input).
    #[must_use]
    pub fn new(model: impl Into<String>, input: f64, output: f64, cache_read: Option<f64>) -> Self {
        ModelPrice {
            model: model.into(),
            input,
            output,
            cache_read,
        }
    }
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            preset: AgentKind::Claude,
            command: AgentKind::Claude.preset().command.to_owned(),
            pass_env: Vec::new(),
            home_dir: None,
            timeout: Duration::from_secs(30 * 60),
            grace: Duration::from_secs(10),
            stdout_cap: 4 * 1024 * 1024,
            retry: RetryPolicy::default(),
            verdict_retries: 2,
            linger: Duration::from_secs(10),
            first_output: Some(Duration::from_secs(120)),
            stall: Some(Duration::from_secs(300)),
            prices: Vec::new(),
        }
    }
}

/// Task isolation: how git is run, and how long a worktree that cannot be
/// made is waited for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorktreeConfig {
    /// The git program (a name looked up in `PATH`, or a path).
    pub git: String,
    /// How long one git command may run.
    pub git_timeout: Duration,
    /// Deferrals allowed when a task's worktree cannot be made (git missing,
    /// its branch taken, a folder in the way) or its setup failed, before
    /// the task is blocked, and the backoff between them.
    pub retry: RetryPolicy,
}

impl WorktreeConfig {
    /// The folder that holds the tasks' worktrees: `home/worktrees`.
    #[must_use]
    pub fn root(&self, home: &std::path::Path) -> PathBuf {
        home.join("worktrees")
    }
}

impl Default for WorktreeConfig {
    fn default() -> Self {
        WorktreeConfig {
            git: "git".to_owned(),
            git_timeout: Duration::from_secs(120),
            retry: RetryPolicy::default(),
        }
    }
}

/// Which repositories a suite runner serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepoScope {
    /// Every repository (`*`).
    All,
    /// Only these repository names.
    Only(Vec<String>),
}

impl RepoScope {
    /// Reads the CSV form: `*` is every repository; otherwise names separated
    /// by commas, blanks trimmed, empty entries ignored.
    #[must_use]
    pub fn from_csv(csv: &str) -> RepoScope {
        let names: Vec<String> = csv
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .collect();
        if names.iter().any(|name| name == "*") {
            RepoScope::All
        } else {
            RepoScope::Only(names)
        }
    }

    /// Whether `repo` is in scope.
    #[must_use]
    pub fn contains(&self, repo: &str) -> bool {
        match self {
            RepoScope::All => true,
            RepoScope::Only(names) => names.iter().any(|name| name == repo),
        }
    }
}

/// Who decides a stage a suite runner can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunnerMode {
    /// The LLM role alone; the runner does not run.
    Off,
    /// The LLM role decides; the runner runs beside it on the same commit,
    /// writes a sidecar verdict no gate reads, and both verdicts are
    /// recorded for the agreement figures.
    Shadow,
    /// The runner decides; the LLM role runs only when the runner hands the
    /// job over (an internal error).
    On,
}

impl RunnerMode {
    /// Every mode, in a fixed order.
    pub const ALL: [RunnerMode; 3] = [RunnerMode::Off, RunnerMode::Shadow, RunnerMode::On];

    /// Its name in the configuration: `off`, `shadow`, `on`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            RunnerMode::Off => "off",
            RunnerMode::Shadow => "shadow",
            RunnerMode::On => "on",
        }
    }
}

impl std::fmt::Display for RunnerMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not a runner mode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown runner mode {0:?}: expected off, shadow or on")]
pub struct ParseModeError(pub String);

impl std::str::FromStr for RunnerMode {
    type Err = ParseModeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RunnerMode::ALL
            .into_iter()
            .find(|mode| mode.as_str() == s.trim())
            .ok_or_else(|| ParseModeError(s.to_owned()))
    }
}

/// The staging runner's configuration (the name from before the test
/// runner): a suite runner's.
pub type StagingRunnerConfig = SuiteRunnerConfig;

/// A suite runner's switch, mode, scope and limits: one type for the staging
/// runner and the test runner.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SuiteRunnerConfig {
    /// The kill-switch: off, the stage is the LLM path (whatever the mode).
    pub enabled: bool,
    /// Who decides the stage while the switch is on. The staging runner is
    /// always `on` (no key sets its mode).
    pub mode: RunnerMode,
    /// The repositories it serves.
    pub repos: RepoScope,
    /// How long a suite may run.
    pub timeout: Duration,
    /// Between SIGTERM and SIGKILL.
    pub grace: Duration,
    /// Deferrals allowed for tool errors before the stage fails closed,
    /// and the backoff between them.
    pub retry: RetryPolicy,
    /// The cap of the suite's output file beside the log.
    pub output_cap_bytes: u64,
}

impl SuiteRunnerConfig {
    /// The test runner's defaults: the staging runner's, in shadow mode (it
    /// claims nothing on a repository without a test command, so an
    /// existing repository is untouched until it names one, and then it
    /// measures before it decides).
    #[must_use]
    pub fn test_runner() -> SuiteRunnerConfig {
        SuiteRunnerConfig {
            mode: RunnerMode::Shadow,
            ..SuiteRunnerConfig::default()
        }
    }

    /// The mode in force: `off` when the kill-switch is off.
    #[must_use]
    pub fn effective_mode(&self) -> RunnerMode {
        if self.enabled {
            self.mode
        } else {
            RunnerMode::Off
        }
    }

    /// The mode in force for repository `repo`: the kill-switch first (off:
    /// [`RunnerMode::Off`]); then the repository's own mode when it sets one
    /// (`orch repo update --test-runner`), which replaces the configuration's
    /// mode and repository list for it; then the configuration's mode for a
    /// repository in its list. `None`: outside the list, so not served.
    #[must_use]
    pub fn mode_for(&self, repo: &str, own: Option<RunnerMode>) -> Option<RunnerMode> {
        if !self.enabled {
            return Some(RunnerMode::Off);
        }
        match own {
            Some(mode) => Some(mode),
            None => self.repos.contains(repo).then_some(self.mode),
        }
    }
}

impl Default for SuiteRunnerConfig {
    fn default() -> Self {
        SuiteRunnerConfig {
            enabled: true,
            mode: RunnerMode::On,
            repos: RepoScope::All,
            timeout: Duration::from_secs(30 * 60),
            grace: Duration::from_secs(5),
            retry: RetryPolicy::default(),
            output_cap_bytes: orch_process::exec::DEFAULT_SIDECAR_CAP,
        }
    }
}

/// The deploy finalizer's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeployConfig {
    /// How long the deploy command may run.
    pub timeout: Duration,
}

impl Default for DeployConfig {
    fn default() -> Self {
        DeployConfig {
            timeout: Duration::from_secs(30 * 60),
        }
    }
}

/// The post-deploy monitor's probing plan.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PostDeployConfig {
    /// How many times the health-check command runs; every probe must pass.
    pub probes: u32,
    /// The window the probes are spread over (the first runs at once).
    pub window: Duration,
    /// How long one probe may run.
    pub probe_timeout: Duration,
}

impl Default for PostDeployConfig {
    fn default() -> Self {
        PostDeployConfig {
            probes: 3,
            window: Duration::from_secs(60),
            probe_timeout: Duration::from_secs(60),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repo_csv_reads_a_star_as_every_repo() {
        assert_eq!(RepoScope::from_csv("*"), RepoScope::All);
        assert_eq!(RepoScope::from_csv("a, *"), RepoScope::All);
        let only = RepoScope::from_csv(" api , web,,");
        assert_eq!(only, RepoScope::Only(vec!["api".into(), "web".into()]));
        assert!(only.contains("web"));
        assert!(!only.contains("we"));
        assert!(!RepoScope::from_csv("").contains("api"));
    }

    #[test]
    fn a_retry_policy_doubles_its_backoff_caps_it_and_runs_out() {
        let policy = RetryPolicy::new(2, Duration::from_secs(30));
        assert_eq!(policy.next(0), Some(Duration::from_secs(30)));
        assert_eq!(policy.next(1), Some(Duration::from_secs(60)));
        assert_eq!(policy.next(2), None);
        assert_eq!(policy.backoff(3), Duration::from_secs(240));
        assert_eq!(policy.backoff(40), RetryPolicy::MAX_BACKOFF);
        assert_eq!(
            RetryPolicy::new(9, Duration::ZERO).backoff(5),
            Duration::ZERO
        );
        assert_eq!(RetryPolicy::new(0, Duration::from_secs(1)).next(0), None);
    }

    #[test]
    fn modes_round_trip_and_the_switch_wins() {
        for mode in RunnerMode::ALL {
            assert_eq!(mode.as_str().parse::<RunnerMode>(), Ok(mode));
        }
        assert!("ON".parse::<RunnerMode>().is_err());
        let mut config = SuiteRunnerConfig::test_runner();
        assert_eq!(config.effective_mode(), RunnerMode::Shadow);
        config.enabled = false;
        assert_eq!(config.effective_mode(), RunnerMode::Off);
        assert_eq!(SuiteRunnerConfig::default().mode, RunnerMode::On);
    }
}
