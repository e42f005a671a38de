//! What the machinery reports when a program did not run, and what a run
//! printed: [`ToolError`] with its [`ToolErrorKind`], [`CapturedOutput`] and
//! its [`Sidecar`], and [`describe_exit`].

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use orch_self_deploy::ProcessExit;

use crate::protocol::KilledProcess;
use crate::sandbox::SandboxLevel;
use crate::spec::Stall;

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
#[non_exhaustive]
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

impl ToolError {
    /// An error of `kind`, known after `duration`, with no exit and no
    /// output (add them with [`ToolError::with_exit`] and
    /// [`ToolError::with_output`]).
    #[must_use]
    pub fn new(kind: ToolErrorKind, message: impl Into<String>, duration: Duration) -> ToolError {
        ToolError {
            kind,
            message: message.into(),
            exit: None,
            duration,
            output: None,
        }
    }

    /// With the shell's exit.
    #[must_use]
    pub fn with_exit(mut self, exit: ProcessExit) -> ToolError {
        self.exit = Some(exit);
        self
    }

    /// With what the shell printed.
    #[must_use]
    pub fn with_output(mut self, output: CapturedOutput) -> ToolError {
        self.output = Some(output);
        self
    }
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
    /// The sandbox the run asked for could not be set up, or (in mode
    /// `required`) the kernel could not enforce all of it; the program was
    /// not started.
    SandboxUnavailable,
}

impl ToolErrorKind {
    /// Every variant, in a fixed order.
    pub const ALL: [ToolErrorKind; 10] = [
        ToolErrorKind::InvalidCommand,
        ToolErrorKind::WorkingDirMissing,
        ToolErrorKind::SupervisorUnavailable,
        ToolErrorKind::SpawnFailed,
        ToolErrorKind::CommandNotFound,
        ToolErrorKind::CommandNotExecutable,
        ToolErrorKind::SupervisorFailed,
        ToolErrorKind::Tampered,
        ToolErrorKind::Internal,
        ToolErrorKind::SandboxUnavailable,
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
            ToolErrorKind::SandboxUnavailable => "sandbox-unavailable",
        }
    }
}

impl fmt::Display for ToolErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The output a run captured: head and tail kept, the middle counted.
///
/// `#[non_exhaustive]`: made by the machinery, or by
/// [`CapturedOutput::new`] (then [`CapturedOutput::with_sidecar`]) for a
/// caller's own record of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
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
    /// Output of `total_bytes`, of which `head` and `tail` were kept and
    /// `omitted_bytes` were not; no sidecar.
    #[must_use]
    pub fn new(head: Vec<u8>, tail: Vec<u8>, total_bytes: u64, omitted_bytes: u64) -> Self {
        CapturedOutput {
            head,
            tail,
            total_bytes,
            omitted_bytes,
            sidecar: Sidecar::Disabled,
        }
    }

    /// With the sidecar file's state.
    #[must_use]
    pub fn with_sidecar(mut self, sidecar: Sidecar) -> Self {
        self.sidecar = sidecar;
        self
    }

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

/// How a run that started and ended came to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The main process ended by itself: an exit code or a signal.
    Exited(ProcessExit),
    /// The timeout ended it; how the main process died.
    TimedOut(ProcessExit),
    /// [`Canceller::cancel`](crate::exec::Canceller::cancel) ended it; how the main process died.
    Cancelled(ProcessExit),
    /// The [`LineObserver`](crate::exec::LineObserver) asked for the end and the time it gave ran out
    /// with the program still running; how the main process died.
    Dismissed(ProcessExit),
    /// An [`OutputClocks`](crate::exec::OutputClocks) limit ended it; which one, and how the main
    /// process died.
    Stalled(ProcessExit, Stall),
}

impl Ending {
    /// How the main process ended, whatever ended it.
    #[must_use]
    pub const fn exit(self) -> ProcessExit {
        match self {
            Ending::Exited(exit)
            | Ending::TimedOut(exit)
            | Ending::Cancelled(exit)
            | Ending::Dismissed(exit)
            | Ending::Stalled(exit, _) => exit,
        }
    }
}

/// What happened to the processes the main process left behind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Cleanup {
    /// Processes besides the main process that were still running when it
    /// ended (or at the timeout, or on cancel); all of them were signalled.
    pub killed: u32,
    /// The processes signalled first, main process included when it was
    /// still running, with their command lines (at most 20 named).
    pub listed: Vec<KilledProcess>,
    /// Processes that could not be killed (uninterruptible sleep); 0 in every
    /// ordinary case.
    pub survivors: u32,
}

/// Stdout kept whole, up to a cap ([`Streams::Separate`](crate::exec::Streams::Separate)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CapturedStdout {
    /// The bytes, at most the cap.
    pub bytes: Vec<u8>,
    /// Every byte printed on stdout.
    pub total_bytes: u64,
}

impl CapturedStdout {
    /// Whether the cap cut stdout.
    #[must_use]
    pub fn truncated(&self) -> bool {
        self.total_bytes > self.bytes.len() as u64
    }
}

/// A run that started and ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Finished {
    /// How it ended.
    pub ending: Ending,
    /// From the spawn of the main process until it was reaped (measured by
    /// the supervisor, which blocks in `waitpid`: no polling interval added).
    pub duration: Duration,
    /// Wall-clock start.
    pub started_at: SystemTime,
    /// Everything it printed: head and tail kept, the middle counted, the
    /// sidecar.
    pub output: CapturedOutput,
    /// Stdout alone, with [`Streams::Separate`](crate::exec::Streams::Separate).
    pub stdout: Option<CapturedStdout>,
    /// What was left behind and killed.
    pub cleanup: Cleanup,
    /// What the kernel enforced ([`SandboxLevel::unconfined`] without a
    /// sandbox).
    pub sandbox: SandboxLevel,
}

/// The result of a run: it finished, or it could not be run or supervised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecOutcome {
    /// The main process started and ended.
    Finished(Finished),
    /// It did not start, or its supervision failed (then it was killed
    /// whole); nothing about its verdict is known.
    Failed(ToolError),
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
                | ToolErrorKind::Internal
                | ToolErrorKind::SandboxUnavailable => 1,
            })
            .sum::<usize>();
        assert_eq!(count, 10);
        let mut names: Vec<_> = ToolErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 10);
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
