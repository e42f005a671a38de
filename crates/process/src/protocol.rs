//! The private protocol between the runner and its supervisor.
//!
//! The runner starts the supervisor as
//! `PROGRAM __orch-supervisor v4 TIMEOUT_MS|none GRACE_MS STDIN DIR SANDBOX shell|argv ARG...`
//! (`STDIN` is `null` or the number of stdin bytes that follow on the control
//! pipe, `SANDBOX` is `none` or the [`SandboxPolicy`] as JSON) with four
//! descriptors and nothing else:
//! - fd 0, the **control** pipe: first the child's stdin bytes, if any; then
//!   nothing. End-of-file — the runner cancelled, or died, even by SIGKILL —
//!   asks the supervisor to end the run;
//! - fd 1 and fd 2, the **output** pipes, handed to the child as its stdout
//!   and stderr (one pipe for both when the streams are merged);
//! - fd 3, the **report** pipe: one JSON [`Report`] per line. A line that is
//!   not JSON is kept as diagnostic text.
//!
//! The report pipe carries details (the exact exit, the duration, what was
//! killed). The verdict does not depend on it alone: the supervisor's own exit
//! status, which only the runner can read (`waitpid` on its own child), says
//! which [`Class`] of ending the run had, and the runner trusts a report only
//! when the two agree. A process that managed to write into the report pipe
//! can therefore at most make a run look *worse* than it was, never make a
//! failed run pass. For each kind of report only the first one counts.
//!
//! Both sides are this crate, built together, so the protocol is versioned
//! only to catch a stale binary (`v4`: `v3` with the `hello` handshake, the
//! supervisor's first report, which tells a supervisor from a program that
//! forgot to call [`crate::supervisor::main_if_requested`]).

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::sandbox::{SandboxLevel, SandboxPolicy};

/// The hidden first argument that turns a program into the supervisor.
pub const SUPERVISOR_ARG: &str = "__orch-supervisor";
/// The protocol version argument.
pub(crate) const PROTOCOL_VERSION: &str = "v4";
/// The supervisor's descriptor for reports.
pub(crate) const REPORT_FD: i32 = 3;
/// The most stdin bytes a run may be given (an agent's prompt, say).
pub const MAX_STDIN_BYTES: usize = 64 * 1024 * 1024;

/// What the supervisor runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Program {
    /// `/bin/sh -c COMMAND`.
    Shell(String),
    /// A program and its arguments, executed directly (a bare name is looked
    /// up in the child's `PATH`).
    Argv(Vec<OsString>),
}

/// What the supervisor is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SupervisorArgs {
    pub(crate) timeout: Option<Duration>,
    pub(crate) grace: Duration,
    /// Bytes of stdin that follow on the control pipe; `None`: `/dev/null`.
    pub(crate) stdin_bytes: Option<usize>,
    pub(crate) dir: PathBuf,
    pub(crate) sandbox: SandboxPolicy,
    pub(crate) program: Program,
}

impl SupervisorArgs {
    /// The arguments after the program name.
    pub(crate) fn to_argv(&self) -> Vec<OsString> {
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).to_string();
        let mut argv: Vec<OsString> = vec![
            SUPERVISOR_ARG.into(),
            PROTOCOL_VERSION.into(),
            self.timeout
                .map_or_else(|| "none".to_owned(), millis)
                .into(),
            millis(self.grace).into(),
            self.stdin_bytes
                .map_or_else(|| "null".to_owned(), |n| n.to_string())
                .into(),
            self.dir.clone().into_os_string(),
            if self.sandbox.is_on() {
                // A policy that cannot be encoded becomes `null`, which the
                // supervisor refuses: never a run without the sandbox asked.
                serde_json::to_string(&self.sandbox)
                    .unwrap_or_else(|_| "null".to_owned())
                    .into()
            } else {
                "none".into()
            },
        ];
        match &self.program {
            Program::Shell(command) => {
                argv.push("shell".into());
                argv.push(command.into());
            }
            Program::Argv(args) => {
                argv.push("argv".into());
                argv.extend(args.iter().cloned());
            }
        }
        argv
    }

    /// Parses the arguments after [`SUPERVISOR_ARG`].
    pub(crate) fn parse(args: &[OsString]) -> Result<SupervisorArgs, String> {
        let [
            version,
            timeout,
            grace,
            stdin,
            dir,
            sandbox,
            mode,
            rest @ ..,
        ] = args
        else {
            return Err(format!(
                "expected at least 8 arguments after {SUPERVISOR_ARG}, got {}; the supervisor is started by orch's process runner, not by hand",
                args.len()
            ));
        };
        if version.as_os_str() != PROTOCOL_VERSION {
            return Err(format!(
                "protocol {version:?} is not {PROTOCOL_VERSION}; the supervisor binary is stale, rebuild it with the runner"
            ));
        }
        let number = |text: &OsString, what: &str| {
            text.to_str()
                .and_then(|t| t.parse::<u64>().ok())
                .ok_or_else(|| format!("{what} {text:?} is not a whole number"))
        };
        let timeout = if timeout.as_os_str() == "none" {
            None
        } else {
            Some(Duration::from_millis(number(timeout, "timeout")?))
        };
        let stdin_bytes = if stdin.as_os_str() == "null" {
            None
        } else {
            let n = usize::try_from(number(stdin, "stdin size")?)
                .ok()
                .filter(|n| *n <= MAX_STDIN_BYTES)
                .ok_or_else(|| format!("stdin size {stdin:?} is over {MAX_STDIN_BYTES}"))?;
            Some(n)
        };
        let program = match (mode.to_str(), rest) {
            (Some("shell"), [command]) => Program::Shell(
                command
                    .to_str()
                    .ok_or("the shell command is not UTF-8")?
                    .to_owned(),
            ),
            (Some("argv"), [_, ..]) => Program::Argv(rest.to_vec()),
            _ => {
                return Err(format!(
                    "mode {mode:?} with {} arguments is neither `shell COMMAND` nor `argv PROGRAM ARG...`",
                    rest.len()
                ));
            }
        };
        let sandbox = if sandbox.as_os_str() == "none" {
            SandboxPolicy::off()
        } else {
            sandbox
                .to_str()
                .and_then(|text| serde_json::from_str::<SandboxPolicy>(text).ok())
                .filter(SandboxPolicy::is_on)
                .ok_or_else(|| format!("the sandbox policy {sandbox:?} cannot be read"))?
        };
        Ok(SupervisorArgs {
            timeout,
            grace: Duration::from_millis(number(grace, "grace")?),
            stdin_bytes,
            dir: PathBuf::from(dir),
            sandbox,
            program,
        })
    }
}

/// Why the supervisor could not spawn the child.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum SpawnFailure {
    /// The working directory is missing or not a directory.
    WorkingDir,
    /// The program does not exist (argv mode).
    NotFound,
    /// The program exists but may not be executed (argv mode).
    PermissionDenied,
    /// Anything else (the shell is missing, out of processes, ...).
    Other,
    /// The sandbox could not be set up, or not wholly in mode `required`.
    Sandbox,
}

/// A process that was still running when the child ended or was ended, and
/// was signalled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KilledProcess {
    /// Its process id.
    pub pid: i32,
    /// Its command line, arguments joined by spaces, cut to
    /// [`KILLED_COMMAND_MAX`] characters (empty when it could not be read).
    pub command: String,
}

impl KilledProcess {
    /// Process `pid`, whose command line was `command`.
    #[must_use]
    pub fn new(pid: i32, command: impl Into<String>) -> KilledProcess {
        KilledProcess {
            pid,
            command: command.into(),
        }
    }
}

/// How many killed processes a report names (the rest are counted).
pub(crate) const KILLED_LISTED_MAX: usize = 20;
/// How long a killed process's command line may be in a report.
pub const KILLED_COMMAND_MAX: usize = 200;

/// One line on the report pipe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub(crate) enum Report {
    /// The handshake: the supervisor's first report, written before anything
    /// else it does. A program started as the supervisor that never says it
    /// did not call [`crate::supervisor::main_if_requested`]; the runner
    /// then ends it and says so.
    Hello,
    /// The supervisor entered the sandbox (before the child starts).
    Sandboxed { level: SandboxLevel },
    /// The child is running as the leader of process group `pid`.
    Started { pid: i32 },
    /// The child could not be spawned.
    SpawnFailed { kind: SpawnFailure, message: String },
    /// The supervisor cannot do its job (bad arguments, no subreaper).
    Fatal { message: String },
    /// A condition worth telling that did not stop the run (a capability
    /// that could not be dropped, say).
    Warning { message: String },
    /// The child was reaped: exactly one of `code` and `signal` is set.
    Exited {
        code: Option<i32>,
        signal: Option<i32>,
        duration_ns: u64,
        timed_out: bool,
        cancelled: bool,
    },
    /// Cleanup is over: `killed` processes were left running and signalled
    /// (the first of them named in `listed`); `survivors` could not be killed.
    Done {
        killed: u32,
        listed: Vec<KilledProcess>,
        survivors: u32,
    },
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

/// The class of a run's ending, carried by the supervisor's exit status.
///
/// Only the runner reads it (`waitpid` on its own child), so no process of
/// the run can forge it; the runner checks every report against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// The child exited with code 0, not timed out, not cancelled.
    Passed,
    /// The child ended otherwise: another code, a signal, or the timeout.
    NotPassed,
    /// The runner ended the run (end-of-file on the control pipe).
    Cancelled,
    /// The child could not be spawned.
    SpawnFailed,
    /// The supervisor could not do its job.
    Fatal,
}

impl Class {
    /// Every class, in a fixed order.
    pub(crate) const ALL: [Class; 5] = [
        Class::Passed,
        Class::NotPassed,
        Class::Cancelled,
        Class::SpawnFailed,
        Class::Fatal,
    ];

    /// The supervisor's exit code for this class.
    pub(crate) const fn exit_code(self) -> i32 {
        match self {
            Class::Passed => 0,
            Class::NotPassed => 1,
            Class::Fatal => 2,
            Class::Cancelled => 3,
            Class::SpawnFailed => 4,
        }
    }

    /// The class of a supervisor exit code; `None` for any other code.
    pub(crate) fn from_exit_code(code: i32) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.exit_code() == code)
    }

    /// The class an `exited` report implies.
    pub(crate) fn of_exit(code: Option<i32>, timed_out: bool, cancelled: bool) -> Class {
        if cancelled {
            Class::Cancelled
        } else if code == Some(0) && !timed_out {
            Class::Passed
        } else {
            Class::NotPassed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_round_trips() {
        for timeout in [None, Some(Duration::from_millis(1500))] {
            for stdin_bytes in [None, Some(0), Some(12)] {
                for program in [
                    Program::Shell("echo 'x'\nexit 3".into()),
                    Program::Argv(vec!["prog".into(), "-p".into(), "".into()]),
                ] {
                    let args = SupervisorArgs {
                        timeout,
                        grace: Duration::from_millis(250),
                        stdin_bytes,
                        dir: PathBuf::from("/tmp/a b"),
                        sandbox: if stdin_bytes == Some(12) {
                            SandboxPolicy::new(crate::sandbox::SandboxMode::Required)
                                .writable("/tmp/a b")
                                .hidden("/home/x/.orch")
                        } else {
                            SandboxPolicy::off()
                        },
                        program,
                    };
                    let argv = args.to_argv();
                    assert_eq!(argv[0], SUPERVISOR_ARG);
                    assert_eq!(SupervisorArgs::parse(&argv[1..]), Ok(args));
                }
            }
        }
        assert!(SupervisorArgs::parse(&[]).is_err());
        let mut argv = SupervisorArgs {
            timeout: None,
            grace: Duration::ZERO,
            stdin_bytes: None,
            dir: PathBuf::from("/"),
            sandbox: SandboxPolicy::off(),
            program: Program::Argv(vec!["x".into()]),
        }
        .to_argv();
        argv[4] = (MAX_STDIN_BYTES + 1).to_string().into();
        assert!(SupervisorArgs::parse(&argv[1..]).is_err());
        argv[4] = "null".into();
        argv[6] = "{not json".into();
        assert!(
            SupervisorArgs::parse(&argv[1..]).is_err(),
            "an unreadable policy is refused, never read as no sandbox"
        );
        argv[6] = "none".into();
        argv.truncate(7);
        argv.push("argv".into());
        assert!(
            SupervisorArgs::parse(&argv[1..]).is_err(),
            "argv mode needs a program"
        );
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

    #[test]
    fn classes_have_distinct_exit_codes_that_round_trip() {
        for class in Class::ALL {
            let code = class.exit_code();
            assert_eq!(Class::from_exit_code(code), Some(class));
        }
        assert_eq!(Class::from_exit_code(9), None);
        assert_eq!(Class::of_exit(Some(0), false, false), Class::Passed);
        assert_eq!(Class::of_exit(Some(0), true, false), Class::NotPassed);
        assert_eq!(Class::of_exit(Some(1), false, false), Class::NotPassed);
        assert_eq!(Class::of_exit(None, false, false), Class::NotPassed);
        assert_eq!(Class::of_exit(Some(0), false, true), Class::Cancelled);
    }
}
