//! What a run yields: [`Outcome`], two levels, every case a value.

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use orch_self_deploy::{ProcessExit, StagingStatus, map_exit_code_to_status};

use crate::protocol::KilledProcess;

/// The result of [`crate::run`]: the suite executed, was cancelled, or did
/// not execute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The suite started and ended: any exit code, a signal, or our timeout.
    Executed(Executed),
    /// The caller cancelled the run ([`crate::exec::Canceller`]) before the
    /// suite ended; its tree was ended as at a timeout. Never a pass: its
    /// status is FAILED with reason `cancelled`, and a caller that cancelled
    /// for a shutdown runs the suite again later.
    Cancelled(Executed),
    /// The suite did not execute (spawn failed, program not found or not
    /// executable, working directory missing, the supervisor failed).
    ToolError(ToolError),
}

impl Outcome {
    /// The verdict, when the suite executed or was cancelled (FAILED); `None`
    /// for a tool error (which has no verdict: nothing false is ever written
    /// for it).
    #[must_use]
    pub fn status(&self) -> Option<StagingStatus> {
        match self {
            Outcome::Executed(executed) => Some(executed.status()),
            Outcome::Cancelled(_) => Some(StagingStatus::Failed),
            Outcome::ToolError(_) => None,
        }
    }

    /// One line saying why: `exit code 0`, `timeout`, `cancelled`, or the
    /// tool error.
    #[must_use]
    pub fn reason(&self) -> String {
        match self {
            Outcome::Executed(executed) => executed.reason(),
            Outcome::Cancelled(_) => "cancelled".to_owned(),
            Outcome::ToolError(error) => error.message.clone(),
        }
    }
}

/// A suite that started and ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executed {
    /// How the suite's main process (`sh -c`) ended, exactly.
    pub exit: ProcessExit,
    /// Whether the runner's timeout ended it.
    pub timed_out: bool,
    /// The suite's own duration: from the spawn of its main process to the
    /// moment that process was reaped (measured by the supervisor, which
    /// blocks in `waitpid`, so no polling interval is added).
    pub duration: Duration,
    /// Wall-clock start.
    pub started_at: SystemTime,
    /// What the suite printed.
    pub output: CapturedOutput,
    /// Processes besides the suite's main process that were still running
    /// when it ended (or at the timeout); all of them were signalled.
    pub killed: u32,
    /// The processes signalled, main process included when it was still
    /// running (at a timeout), with their command lines; at most 20 named.
    pub killed_processes: Vec<KilledProcess>,
    /// Processes the suite left behind that could not be killed (for example
    /// stuck in uninterruptible sleep); 0 in every ordinary case.
    pub survivors: u32,
}

impl Executed {
    /// The verdict through the exit-code contract; a timeout is FAILED
    /// whatever the exit.
    #[must_use]
    pub fn status(&self) -> StagingStatus {
        if self.timed_out {
            StagingStatus::Failed
        } else {
            map_exit_code_to_status(self.exit)
        }
    }

    /// `timeout` when timed out, else how the suite ended (`exit code 1`,
    /// `killed by signal 11 (SIGSEGV)`).
    #[must_use]
    pub fn reason(&self) -> String {
        if self.timed_out {
            "timeout".to_owned()
        } else {
            describe_exit(self.exit)
        }
    }
}

/// `exit code N`, or `killed by signal N (NAME)`.
#[must_use]
pub fn describe_exit(exit: ProcessExit) -> String {
    match exit {
        ProcessExit::Code(code) => format!("exit code {code}"),
        ProcessExit::Signal(signal) => match nix::sys::signal::Signal::try_from(signal) {
            Ok(name) => format!("killed by signal {signal} ({})", name.as_str()),
            Err(_) => format!("killed by signal {signal}"),
        },
    }
}

/// A suite that did not execute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolError {
    /// What went wrong.
    pub kind: ToolErrorKind,
    /// What went wrong and what to do, in lower case.
    pub message: String,
    /// The shell's exit, when the shell ran (126, 127).
    pub exit: Option<ProcessExit>,
    /// Time spent before the error was known.
    pub duration: Duration,
    /// What the shell printed, when it ran.
    pub output: Option<CapturedOutput>,
}

/// Why a suite did not execute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ToolErrorKind {
    /// The command is empty, blank, or contains a NUL byte.
    InvalidCommand,
    /// The working directory does not exist or is not a directory.
    WorkingDirMissing,
    /// The supervisor program could not be started.
    SupervisorUnavailable,
    /// The shell could not be spawned.
    SpawnFailed,
    /// The shell could not find the command (exit 127).
    CommandNotFound,
    /// The shell found the command but could not execute it (exit 126).
    CommandNotExecutable,
    /// The supervisor broke its protocol, died, was stopped, or could not end
    /// the suite; the runner then killed every process of the run it found.
    SupervisorFailed,
    /// The supervisor's report disagreed with its exit status: something
    /// wrote into the report pipe. Never a pass.
    Tampered,
    /// A bug in the runner (a caught panic).
    Internal,
}

impl ToolErrorKind {
    /// Every variant, in a fixed order.
    pub const ALL: [ToolErrorKind; 9] = [
        ToolErrorKind::InvalidCommand,
        ToolErrorKind::WorkingDirMissing,
        ToolErrorKind::SupervisorUnavailable,
        ToolErrorKind::SpawnFailed,
        ToolErrorKind::CommandNotFound,
        ToolErrorKind::CommandNotExecutable,
        ToolErrorKind::SupervisorFailed,
        ToolErrorKind::Tampered,
        ToolErrorKind::Internal,
    ];

    /// A stable kebab-case name, used in JSON and logs.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            ToolErrorKind::InvalidCommand => "invalid-command",
            ToolErrorKind::WorkingDirMissing => "working-dir-missing",
            ToolErrorKind::SupervisorUnavailable => "supervisor-unavailable",
            ToolErrorKind::SpawnFailed => "spawn-failed",
            ToolErrorKind::CommandNotFound => "command-not-found",
            ToolErrorKind::CommandNotExecutable => "command-not-executable",
            ToolErrorKind::SupervisorFailed => "supervisor-failed",
            ToolErrorKind::Tampered => "tampered",
            ToolErrorKind::Internal => "internal",
        }
    }
}

impl fmt::Display for ToolErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The output a run captured: head and tail kept, the middle counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapturedOutput {
    /// The first bytes (up to [`crate::OutputLimits::head_bytes`]).
    pub head: Vec<u8>,
    /// The last bytes after the head (up to [`crate::OutputLimits::tail_bytes`]).
    pub tail: Vec<u8>,
    /// Every byte the suite printed.
    pub total_bytes: u64,
    /// Bytes neither in `head` nor in `tail`.
    pub omitted_bytes: u64,
    /// The sidecar file.
    pub sidecar: Sidecar,
}

impl CapturedOutput {
    /// The last line with text in it, for error messages (lossy, at most 200
    /// characters).
    #[must_use]
    pub fn last_line(&self) -> String {
        let mut bytes = self.head.clone();
        bytes.extend_from_slice(&self.tail);
        let text = String::from_utf8_lossy(&bytes);
        text.lines()
            .rev()
            .map(str::trim)
            .find(|line| !line.is_empty())
            .unwrap_or("")
            .chars()
            .take(200)
            .collect()
    }
}

/// The state of the sidecar file after a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Sidecar {
    /// No sidecar was asked for.
    #[default]
    Disabled,
    /// The stream was written to `path`: `bytes` of it, and `cut` when the cap
    /// was reached (a note in the file marks the cut).
    Written {
        /// The file.
        path: PathBuf,
        /// Output bytes written (the note not counted).
        bytes: u64,
        /// Whether the cap cut the stream.
        cut: bool,
    },
    /// The file could not be created or written; the run went on without it.
    Failed {
        /// The file.
        path: PathBuf,
        /// Why, in lower case.
        error: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_error_kinds_are_listed_once_with_distinct_names() {
        let count = ToolErrorKind::ALL
            .iter()
            .map(|kind| match kind {
                ToolErrorKind::InvalidCommand
                | ToolErrorKind::WorkingDirMissing
                | ToolErrorKind::SupervisorUnavailable
                | ToolErrorKind::SpawnFailed
                | ToolErrorKind::CommandNotFound
                | ToolErrorKind::CommandNotExecutable
                | ToolErrorKind::SupervisorFailed
                | ToolErrorKind::Tampered
                | ToolErrorKind::Internal => 1,
            })
            .sum::<usize>();
        assert_eq!(count, 9);
        let mut names: Vec<_> = ToolErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 9);
    }

    #[test]
    fn exits_are_described_with_signal_names() {
        assert_eq!(describe_exit(ProcessExit::Code(42)), "exit code 42");
        assert_eq!(
            describe_exit(ProcessExit::Signal(11)),
            "killed by signal 11 (SIGSEGV)"
        );
        assert_eq!(
            describe_exit(ProcessExit::Signal(40)),
            "killed by signal 40"
        );
    }
}
