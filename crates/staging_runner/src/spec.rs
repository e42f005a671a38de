//! What to run and under which limits: [`RunSpec`] and its parts.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use orch_process::exec::{
    DEFAULT_GRACE, DEFAULT_TIMEOUT, EnvPolicy, ExecSpec, OutputLimits, Program, SandboxPolicy,
    Scrub, SupervisorProgram,
};

/// What a suite's log is called and which verdict key it carries: the
/// staging log (`# Staging log`, `staging_status`) unless the caller serves
/// another stage with the same machinery (the test runner's `# Test report`,
/// `test_status`). The values are the `self_deploy` contract's either way:
/// `PASSED` only for exit 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogLabel {
    /// The log's heading, e.g. `Staging log`.
    pub title: &'static str,
    /// The verdict key of the stage's artifact, e.g. `staging_status`.
    pub verdict_key: &'static str,
}

impl LogLabel {
    /// A label with the log heading `title` and the verdict key
    /// `verdict_key`.
    #[must_use]
    pub const fn new(title: &'static str, verdict_key: &'static str) -> Self {
        LogLabel { title, verdict_key }
    }

    /// The staging log's: `# Staging log` with `staging_status`.
    pub const STAGING: LogLabel = LogLabel {
        title: "Staging log",
        verdict_key: orch_pipeline::STAGING_STATUS_KEY,
    };
}

impl Default for LogLabel {
    fn default() -> Self {
        LogLabel::STAGING
    }
}

/// One staging run: the command, where, and under which limits.
///
/// The suite runs as `/bin/sh -c COMMAND` in `working_dir`, with stdin from
/// `/dev/null`, stdout and stderr merged into one stream, and the runner's
/// environment minus secrets (the rule of [`orch_process::exec::is_secret_name`],
/// plus the keys added with [`RunSpec::scrub`]), except the keys the
/// repository passes through ([`RunSpec::pass_env`]), plus the keys set with
/// [`RunSpec::env`]. [`RunSpec::to_exec`] is the machinery's spec for it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunSpec {
    /// The shell command line, given to `sh -c`.
    pub command: String,
    /// The folder the suite runs in (the repository checkout).
    pub working_dir: PathBuf,
    /// How long the suite may run; `None` waits for ever.
    pub timeout: Option<Duration>,
    /// Time between SIGTERM and SIGKILL, on timeout and for processes left
    /// behind when the suite's main process ends.
    pub grace: Duration,
    /// Where to write the full output stream as it arrives; `None` for no file.
    pub sidecar: Option<PathBuf>,
    /// Output limits.
    pub limits: OutputLimits,
    /// Extra environment keys to drop (exact names, any ASCII case).
    pub scrub_keys: Vec<OsString>,
    /// Keys the suite needs even though they look like secrets: kept whatever
    /// the patterns say (exact names, any ASCII case).
    pub pass_env: Vec<OsString>,
    /// Keys set for the suite after scrubbing (they win over scrubbing).
    pub set_env: Vec<(OsString, OsString)>,
    /// The supervisor program.
    pub supervisor: SupervisorProgram,
    /// Facts about the run the caller knows and the log states, one
    /// `- NAME: VALUE` line each after the working directory (for example
    /// the commit the suite runs on). Written on one line each, verbatim.
    pub facts: Vec<(String, String)>,
    /// The log's heading and verdict key ([`LogLabel::STAGING`] by default).
    pub label: LogLabel,
    /// The kernel sandbox the suite runs in (none by default).
    pub sandbox: SandboxPolicy,
}

impl RunSpec {
    /// A spec with the defaults: [`DEFAULT_TIMEOUT`], [`DEFAULT_GRACE`], no
    /// sidecar, default [`OutputLimits`], supervisor [`SupervisorProgram::CurrentExe`].
    #[must_use]
    pub fn new(command: impl Into<String>, working_dir: impl Into<PathBuf>) -> RunSpec {
        RunSpec {
            command: command.into(),
            working_dir: working_dir.into(),
            timeout: Some(DEFAULT_TIMEOUT),
            grace: DEFAULT_GRACE,
            sidecar: None,
            limits: OutputLimits::default(),
            scrub_keys: Vec::new(),
            pass_env: Vec::new(),
            set_env: Vec::new(),
            supervisor: SupervisorProgram::CurrentExe,
            facts: Vec::new(),
            label: LogLabel::STAGING,
            sandbox: SandboxPolicy::off(),
        }
    }

    /// Sets the log's heading and verdict key.
    #[must_use]
    pub fn label(mut self, label: LogLabel) -> RunSpec {
        self.label = label;
        self
    }

    /// Sets the timeout (`None`: no timeout).
    #[must_use]
    pub fn timeout(mut self, timeout: Option<Duration>) -> RunSpec {
        self.timeout = timeout;
        self
    }

    /// Sets the grace period between SIGTERM and SIGKILL.
    #[must_use]
    pub fn grace(mut self, grace: Duration) -> RunSpec {
        self.grace = grace;
        self
    }

    /// Writes the full output stream, capped, to this file as it arrives.
    #[must_use]
    pub fn sidecar(mut self, path: impl Into<PathBuf>) -> RunSpec {
        self.sidecar = Some(path.into());
        self
    }

    /// Sets the output limits.
    #[must_use]
    pub fn limits(mut self, limits: OutputLimits) -> RunSpec {
        self.limits = limits;
        self
    }

    /// Drops one more environment key from the suite's environment.
    #[must_use]
    pub fn scrub(mut self, key: impl Into<OsString>) -> RunSpec {
        self.scrub_keys.push(key.into());
        self
    }

    /// Passes one environment key through to the suite even though it looks
    /// like a secret (the repository says its suite needs it).
    #[must_use]
    pub fn pass_env(mut self, key: impl Into<OsString>) -> RunSpec {
        self.pass_env.push(key.into());
        self
    }

    /// Sets an environment key for the suite (applied after scrubbing).
    #[must_use]
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> RunSpec {
        self.set_env.push((key.into(), value.into()));
        self
    }

    /// Sets the supervisor program.
    #[must_use]
    pub fn supervisor(mut self, program: SupervisorProgram) -> RunSpec {
        self.supervisor = program;
        self
    }

    /// The suite's environment policy.
    #[must_use]
    pub fn env_policy(&self) -> EnvPolicy {
        EnvPolicy::new(Scrub::Secrets)
            .with_extra_secrets(self.scrub_keys.iter().cloned())
            .with_pass_through(self.pass_env.iter().cloned())
            .with_set(self.set_env.iter().cloned())
    }

    /// The machinery's spec for this suite: `sh -c`, stdin `/dev/null`,
    /// merged streams, secrets scrubbed.
    #[must_use]
    pub fn to_exec(&self) -> ExecSpec {
        // Merged streams, no stdin; a suite may be silent for long (a build,
        // a slow test): no observer and no output clocks, only the wall
        // clock bounds it.
        let mut spec = ExecSpec::new(
            Program::Shell(self.command.clone()),
            self.working_dir.clone(),
        )
        .timeout(self.timeout)
        .grace(self.grace)
        .limits(self.limits)
        .env(self.env_policy())
        .supervisor(self.supervisor.clone())
        .sandbox(self.sandbox.clone());
        spec.sidecar.clone_from(&self.sidecar);
        spec
    }

    /// Puts the suite in this sandbox.
    #[must_use]
    pub fn sandbox(mut self, policy: SandboxPolicy) -> RunSpec {
        self.sandbox = policy;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn the_exec_spec_scrubs_and_passes_what_the_repository_says() {
        let spec = RunSpec::new("make test", "/srv")
            .scrub("MY_CONFIG")
            .pass_env("NPM_TOKEN")
            .env("ORCH_TASK_ID", "7");
        let exec = spec.to_exec();
        assert_eq!(exec.program, Program::Shell("make test".into()));
        assert_eq!(exec.streams, orch_process::exec::Streams::Merged);
        assert_eq!(exec.stdin, None);
        assert!(exec.env.drops(OsStr::new("MY_CONFIG")));
        assert!(exec.env.drops(OsStr::new("GITHUB_TOKEN")));
        assert!(!exec.env.drops(OsStr::new("NPM_TOKEN")));
        assert!(!exec.env.drops(OsStr::new("PATH")));
        assert_eq!(exec.env.set, vec![("ORCH_TASK_ID".into(), "7".into())]);
    }
}
