//! The private protocol between the runner and its supervisor.
//!
//! The runner starts the supervisor as
//! `PROGRAM __orch-staging-supervisor v1 TIMEOUT_MS|none GRACE_MS DIR COMMAND`
//! with three pipes:
//! - stdin, the **control** pipe: the runner writes `t` to ask for termination;
//!   end-of-file (the runner died, even by SIGKILL) means the same;
//! - stdout, the **output** pipe: handed to the suite as its stdout and stderr;
//! - stderr, the **report** pipe: one JSON [`Report`] per line. A line that is
//!   not JSON (a panic message, say) is kept as diagnostic text.
//!
//! Both sides are this crate, built together, so the protocol is versioned
//! only to catch a stale binary (`v1`).

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The hidden first argument that turns a program into the supervisor.
pub const SUPERVISOR_ARG: &str = "__orch-staging-supervisor";
/// The protocol version argument.
pub(crate) const PROTOCOL_VERSION: &str = "v1";

/// What the supervisor is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SupervisorArgs {
    pub(crate) timeout: Option<Duration>,
    pub(crate) grace: Duration,
    pub(crate) dir: PathBuf,
    pub(crate) command: OsString,
}

impl SupervisorArgs {
    /// The arguments after the program name.
    pub(crate) fn to_argv(&self) -> Vec<OsString> {
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).to_string();
        vec![
            SUPERVISOR_ARG.into(),
            PROTOCOL_VERSION.into(),
            self.timeout
                .map_or_else(|| "none".to_owned(), millis)
                .into(),
            millis(self.grace).into(),
            self.dir.clone().into_os_string(),
            self.command.clone(),
        ]
    }

    /// Parses the arguments after [`SUPERVISOR_ARG`].
    pub(crate) fn parse(args: &[OsString]) -> Result<SupervisorArgs, String> {
        let [version, timeout, grace, dir, command] = args else {
            return Err(format!(
                "expected 5 arguments after {SUPERVISOR_ARG}, got {}; the supervisor is started by the staging runner, not by hand",
                args.len()
            ));
        };
        if version.as_os_str() != PROTOCOL_VERSION {
            return Err(format!(
                "protocol {version:?} is not {PROTOCOL_VERSION}; the supervisor binary is stale, rebuild it with the runner"
            ));
        }
        let millis = |text: &OsString, what: &str| {
            text.to_str()
                .and_then(|t| t.parse::<u64>().ok())
                .map(Duration::from_millis)
                .ok_or_else(|| format!("{what} {text:?} is not a number of milliseconds"))
        };
        let timeout = if timeout.as_os_str() == "none" {
            None
        } else {
            Some(millis(timeout, "timeout")?)
        };
        Ok(SupervisorArgs {
            timeout,
            grace: millis(grace, "grace")?,
            dir: PathBuf::from(dir),
            command: command.clone(),
        })
    }
}

/// Why the supervisor could not spawn the shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum SpawnFailure {
    /// The working directory is missing or not a directory.
    WorkingDir,
    /// Anything else (the shell is missing, out of processes, ...).
    Other,
}

/// One line on the report pipe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub(crate) enum Report {
    /// The shell is running as the leader of process group `pid`.
    Started { pid: i32 },
    /// The shell could not be spawned.
    SpawnFailed { kind: SpawnFailure, message: String },
    /// The supervisor cannot do its job (bad arguments, no subreaper).
    Fatal { message: String },
    /// The shell was reaped: exactly one of `code` and `signal` is set.
    Exited {
        code: Option<i32>,
        signal: Option<i32>,
        duration_ns: u64,
        timed_out: bool,
        cancelled: bool,
    },
    /// Cleanup is over; `survivors` processes could not be killed.
    Done { killed: u32, survivors: u32 },
}

impl Report {
    /// The JSON line, newline included.
    pub(crate) fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).unwrap_or_else(|error| {
            format!(r#"{{"event":"fatal","message":"cannot encode a report: {error}"}}"#)
        });
        line.push('\n');
        line
    }

    /// Parses one line; `None` for diagnostic text.
    pub(crate) fn from_line(line: &[u8]) -> Option<Report> {
        serde_json::from_slice(line).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_round_trips() {
        for timeout in [None, Some(Duration::from_millis(1500))] {
            let args = SupervisorArgs {
                timeout,
                grace: Duration::from_millis(250),
                dir: PathBuf::from("/tmp/a b"),
                command: "echo 'x'\nexit 3".into(),
            };
            let argv = args.to_argv();
            assert_eq!(argv[0], SUPERVISOR_ARG);
            assert_eq!(SupervisorArgs::parse(&argv[1..]), Ok(args));
        }
        assert!(SupervisorArgs::parse(&[]).is_err());
    }

    #[test]
    fn reports_round_trip() {
        let report = Report::Exited {
            code: None,
            signal: Some(11),
            duration_ns: 5,
            timed_out: false,
            cancelled: false,
        };
        let line = report.to_line();
        assert_eq!(Report::from_line(line.trim_end().as_bytes()), Some(report));
        assert_eq!(Report::from_line(b"thread 'main' panicked"), None);
    }
}
