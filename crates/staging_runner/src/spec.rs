//! What to run and under which limits: [`RunSpec`] and its parts.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Default timeout of a suite: 30 minutes.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Default grace period between SIGTERM and SIGKILL.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);
/// Default cap of the sidecar output file: 64 MiB.
pub const DEFAULT_SIDECAR_CAP: u64 = 64 * 1024 * 1024;
/// Default number of leading output bytes kept for the staging log: 64 KiB.
pub const DEFAULT_HEAD_BYTES: usize = 64 * 1024;
/// Default number of trailing output bytes kept for the staging log: 256 KiB.
pub const DEFAULT_TAIL_BYTES: usize = 256 * 1024;

/// Environment keys dropped by prefix: the orchestrator's own configuration,
/// which may carry secrets (database paths, tokens) and is none of a suite's
/// business.
pub const SECRET_PREFIXES: [&str; 1] = ["ORCH_"];

/// Well-known LLM credentials, always dropped from a suite's environment.
/// [`RunSpec::scrub`] adds more.
pub const KNOWN_LLM_CREDENTIALS: [&str; 12] = [
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "OPENAI_API_KEY",
    "AZURE_OPENAI_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "MISTRAL_API_KEY",
    "GROQ_API_KEY",
    "OPENROUTER_API_KEY",
    "DEEPSEEK_API_KEY",
    "XAI_API_KEY",
];

/// Which program plays the supervisor (see [`crate::supervisor`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SupervisorProgram {
    /// Re-execute the running program (`/proc/self/exe`, which still works
    /// after the binary on disk was replaced by a deploy). The program must
    /// call [`crate::supervisor::main_if_requested`] first thing in `main`.
    CurrentExe,
    /// A program that calls [`crate::supervisor::main_if_requested`], such as
    /// this crate's `orch-staging-supervisor` binary.
    Path(PathBuf),
}

impl SupervisorProgram {
    /// The path to execute.
    #[must_use]
    pub fn resolve(&self) -> PathBuf {
        match self {
            SupervisorProgram::Path(path) => path.clone(),
            SupervisorProgram::CurrentExe => {
                let proc_exe = Path::new("/proc/self/exe");
                if proc_exe.exists() {
                    proc_exe.to_path_buf()
                } else {
                    std::env::current_exe().unwrap_or_else(|_| proc_exe.to_path_buf())
                }
            }
        }
    }
}

/// Output limits: what the staging log keeps and how much the sidecar holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimits {
    /// Leading bytes kept for the staging log.
    pub head_bytes: usize,
    /// Trailing bytes kept for the staging log.
    pub tail_bytes: usize,
    /// Bytes written to the sidecar file before it is cut (a note marks the cut).
    pub sidecar_cap: u64,
}

impl Default for OutputLimits {
    fn default() -> Self {
        OutputLimits {
            head_bytes: DEFAULT_HEAD_BYTES,
            tail_bytes: DEFAULT_TAIL_BYTES,
            sidecar_cap: DEFAULT_SIDECAR_CAP,
        }
    }
}

/// One staging run: the command, where, and under which limits.
///
/// The suite runs as `/bin/sh -c COMMAND` in `working_dir`, with stdin from
/// `/dev/null`, stdout and stderr merged into one stream, and the runner's
/// environment minus secrets (every `ORCH_*` key, [`KNOWN_LLM_CREDENTIALS`]
/// and the keys added with [`RunSpec::scrub`]), plus the keys set with
/// [`RunSpec::env`].
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// Extra environment keys to drop (exact names).
    pub scrub_keys: Vec<OsString>,
    /// Keys set for the suite after scrubbing (they win over scrubbing).
    pub set_env: Vec<(OsString, OsString)>,
    /// The supervisor program.
    pub supervisor: SupervisorProgram,
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
            set_env: Vec::new(),
            supervisor: SupervisorProgram::CurrentExe,
        }
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

    /// Whether `key` is dropped from the suite's environment.
    #[must_use]
    pub fn is_scrubbed(&self, key: &OsStr) -> bool {
        let bytes = key.as_encoded_bytes();
        SECRET_PREFIXES
            .iter()
            .any(|prefix| bytes.starts_with(prefix.as_bytes()))
            || KNOWN_LLM_CREDENTIALS
                .iter()
                .any(|known| bytes == known.as_bytes())
            || self.scrub_keys.iter().any(|extra| extra.as_os_str() == key)
    }

    /// The suite's environment: `base` minus scrubbed keys, plus
    /// [`RunSpec::set_env`].
    #[must_use]
    pub fn suite_env(
        &self,
        base: impl IntoIterator<Item = (OsString, OsString)>,
    ) -> Vec<(OsString, OsString)> {
        let mut env: Vec<(OsString, OsString)> = base
            .into_iter()
            .filter(|(key, _)| !self.is_scrubbed(key))
            .collect();
        for (key, value) in &self.set_env {
            env.retain(|(k, _)| k != key);
            env.push((key.clone(), value.clone()));
        }
        env
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        list.iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    #[test]
    fn secrets_are_dropped_and_set_keys_win() {
        let spec = RunSpec::new("true", "/")
            .scrub("MY_TOKEN")
            .env("ORCH_TASK_ID", "7")
            .env("PATH", "/bin");
        let env = spec.suite_env(pairs(&[
            ("PATH", "/usr/bin"),
            ("HOME", "/root"),
            ("ORCH_DB", "x"),
            ("ORCHESTRA", "kept: the prefix is ORCH_"),
            ("ANTHROPIC_API_KEY", "sk"),
            ("OPENAI_API_KEY", "sk"),
            ("MY_TOKEN", "t"),
        ]));
        assert_eq!(
            env,
            pairs(&[
                ("HOME", "/root"),
                ("ORCHESTRA", "kept: the prefix is ORCH_"),
                ("ORCH_TASK_ID", "7"),
                ("PATH", "/bin"),
            ])
        );
    }
}
