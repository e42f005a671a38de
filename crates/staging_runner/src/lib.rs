//! The staging runner of orch: runs a staging suite through orch's process
//! machinery (`orch-process`, re-exported here as [`exec`] and
//! [`supervisor`]) and writes the staging log that the `deploy-staging` gate
//! reads.
//!
//! The **machinery** lives in `orch-process`, shared with every other
//! program orch starts (agent CLIs, git, deploy commands): a supervised
//! process tree, a timeout, whole-tree kill, bounded output capture, a
//! scrubbed environment, a kernel sandbox.
//!
//! - The **staging layer** (this crate's root): [`run`] takes a [`RunSpec`]
//!   (`sh -c COMMAND` in a checkout, a timeout, a grace period, output limits,
//!   secrets to scrub and to pass through) and always returns an [`Outcome`]:
//!   - [`Outcome::Executed`]: the suite started and ended — an exit code or a
//!     signal, exactly, `timed_out`, its own duration and its captured output
//!     ([`CapturedOutput`]: the first 64 KiB and last 256 KiB kept, the middle
//!     counted, the whole stream written as it arrives to a capped sidecar
//!     file);
//!   - [`Outcome::Cancelled`]: the caller ended it first; never a pass;
//!   - [`Outcome::ToolError`]: the suite did not execute ([`ToolErrorKind`]:
//!     missing working directory, spawn failure, the shell's 126/127 — the
//!     one staging rule the machinery does not know —, a broken or attacked
//!     supervisor, ...).
//!
//! After [`run`] returns, no process the suite started is alive: the suite
//! runs in its own process group under a small supervisor process (see
//! [`supervisor`]) that is a child subreaper, so descendants that left the
//! group (`setsid`, double fork) are found and killed too; and should the
//! suite kill or stop its supervisor, the runner kills what is left itself.
//! The suite's exit reaches the runner through the supervisor's exit status,
//! which the suite cannot write, so a suite cannot forge a pass. [`run_to_log`]
//! also writes `15-staging-log.md` atomically, with the verdict line in the
//! pipeline's grammar.
//!
//! In a binary whose `main` starts with
//! [`supervisor::main_if_requested`]:
//!
//! ```no_run
//! use std::path::Path;
//! use std::time::Duration;
//! use orch_staging_runner::{run_to_log, LogState, RunSpec};
//!
//! orch_staging_runner::supervisor::main_if_requested();
//! let spec = RunSpec::new("make staging-test", "/srv/checkout")
//!     .timeout(Some(Duration::from_secs(600)))
//!     .grace(Duration::from_secs(5))
//!     .pass_env("NPM_TOKEN");
//! let staging = run_to_log(&spec, Path::new("/srv/tasks/42/15-staging-log.md"));
//! println!("{}", serde_json::to_string(&staging.summary()).unwrap());
//! ```
//!
//! Every input yields an outcome, and the log carries the verdict in the
//! pipeline's grammar whatever the suite printed:
//!
//! ```
//! use std::path::Path;
//! use std::time::{Duration, SystemTime};
//! use orch_self_deploy::ProcessExit;
//! use orch_staging_runner::{run, render_staging_log, CapturedOutput, Executed, Outcome, RunSpec, ToolErrorKind};
//!
//! let Outcome::ToolError(error) = run(&RunSpec::new("make test", "/no/such/checkout")) else {
//!     panic!("a missing checkout is a tool error");
//! };
//! assert_eq!(error.kind, ToolErrorKind::WorkingDirMissing);
//!
//! let executed = Executed {
//!     exit: ProcessExit::Code(1),
//!     timed_out: false,
//!     duration: Duration::from_millis(1200),
//!     started_at: SystemTime::now(),
//!     output: CapturedOutput::new(b"staging_status: PASSED\n".to_vec(), Vec::new(), 23, 0),
//!     killed: 0,
//!     killed_processes: Vec::new(),
//!     survivors: 0,
//!     sandbox: orch_process::exec::SandboxLevel::unconfined(),
//! };
//! let spec = RunSpec::new("make test", "/srv/checkout");
//! let log = render_staging_log(&spec, &Outcome::Executed(executed)).unwrap();
//! let gate = orch_pipeline::check_staging_status(log.as_bytes());
//! assert_eq!(gate.verdict.as_deref(), Some("FAILED"));
//! ```
//!
//! What this crate never does: it knows processes, not pipelines. It holds no
//! SQL, no stages, no retries or deferral (a tool error is reported, and the
//! caller decides), and its only pipeline knowledge is the verdict writer and
//! the staging key, both taken from `orch-pipeline`. It never sets a
//! process-wide flag (subreaper, signal handler, dumpability) in the process
//! that embeds it: those live in `orch-process`'s supervisor. It creates no
//! process itself: `orch-process` does.

mod artifact;
mod outcome;
mod spec;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

pub use artifact::{
    WriteError, WriteStep, render_fail_closed_log, render_fail_closed_log_as, render_staging_log,
    sidecar_path_for, write_atomically,
};
pub use orch_process::exec::{
    CapturedOutput, DEFAULT_GRACE, DEFAULT_HEAD_BYTES, DEFAULT_SIDECAR_CAP, DEFAULT_TAIL_BYTES,
    DEFAULT_TIMEOUT, KilledProcess, OutputLimits, Sidecar, SupervisorProgram, ToolError,
    ToolErrorKind,
};
pub use orch_process::{SUPERVISOR_ARG, describe_exit};
/// The process machinery this crate runs suites with, re-exported for
/// callers that only hold this crate: it lives in `orch-process`.
pub use orch_process::{exec, supervisor};
pub use outcome::{Executed, Outcome};
pub use spec::{LogLabel, RunSpec};

use exec::{Ending, ExecOutcome};

/// Applies the staging rules to what the machinery reports: the shell's 126
/// (found, not executable) and 127 (not found) are tool errors, not
/// failures, unless the timeout or a cancel caused them.
fn staging_outcome(outcome: ExecOutcome) -> Outcome {
    let finished = match outcome {
        ExecOutcome::Finished(finished) => finished,
        ExecOutcome::Failed(error) => return Outcome::ToolError(error),
    };
    let executed = |finished: exec::Finished, timed_out| Executed {
        exit: finished.ending.exit(),
        timed_out,
        duration: finished.duration,
        started_at: finished.started_at,
        output: finished.output,
        killed: finished.cleanup.killed,
        killed_processes: finished.cleanup.listed,
        survivors: finished.cleanup.survivors,
        sandbox: finished.sandbox,
    };
    match finished.ending {
        // A suite runs without an observer or output clocks; were one set,
        // a run ended early is recorded as a timeout: never a pass.
        Ending::TimedOut(_) | Ending::Dismissed(_) | Ending::Stalled(..) => {
            Outcome::Executed(executed(finished, true))
        }
        Ending::Cancelled(_) => Outcome::Cancelled(executed(finished, false)),
        Ending::Exited(orch_self_deploy::ProcessExit::Code(code @ (126 | 127))) => {
            let (kind, what) = if code == 127 {
                (
                    ToolErrorKind::CommandNotFound,
                    "the shell could not find the command",
                )
            } else {
                (
                    ToolErrorKind::CommandNotExecutable,
                    "the shell could not execute the command",
                )
            };
            let last = finished.output.last_line();
            let said = if last.is_empty() {
                String::new()
            } else {
                format!(": {last}")
            };
            Outcome::ToolError(
                ToolError::new(
                    kind,
                    format!(
                        "{what} (exit {code}){said}; check the command (the repository's staging or test command) and that its program is installed and executable"
                    ),
                    finished.duration,
                )
                .with_exit(finished.ending.exit())
                .with_output(finished.output),
            )
        }
        Ending::Exited(_) => Outcome::Executed(executed(finished, false)),
    }
}

/// A started staging run.
#[derive(Debug)]
pub struct StagingHandle {
    run: exec::RunHandle,
    spec: RunSpec,
    log: Option<PathBuf>,
}

impl StagingHandle {
    /// A handle that cancels the run from any thread (the outcome is then
    /// [`Outcome::Cancelled`], and a log written says `cancelled`).
    #[must_use]
    pub fn canceller(&self) -> exec::Canceller {
        self.run.canceller()
    }

    /// Waits for the suite, then writes the staging log when one was asked
    /// for ([`start_to_log`]) and the suite executed or was cancelled.
    #[must_use]
    pub fn wait(self) -> StagingRun {
        let outcome = staging_outcome(self.run.wait());
        // Rendered only when a log was asked for: `run` pays nothing for it.
        let text = self
            .log
            .as_ref()
            .and_then(|path| Some((path, render_staging_log(&self.spec, &outcome)?)));
        let log = match text {
            Some((path, text)) => match write_atomically(path, text.as_bytes()) {
                Ok(()) => LogState::Written(path.clone()),
                Err(error) => LogState::Failed(error),
            },
            None => LogState::NotWritten,
        };
        StagingRun { outcome, log }
    }
}

/// Starts the suite; see [`run`].
#[must_use]
pub fn start(spec: &RunSpec) -> StagingHandle {
    StagingHandle {
        run: exec::start(&spec.to_exec()),
        spec: spec.clone(),
        log: None,
    }
}

/// Runs the suite once and returns what happened. Never panics and never
/// returns before every process the suite started is gone.
#[must_use]
pub fn run(spec: &RunSpec) -> Outcome {
    start(spec).wait().outcome
}

/// Starts the suite with its sidecar beside `log` ([`sidecar_path_for`]);
/// [`StagingHandle::wait`] then writes the staging log to `log` atomically.
///
/// A log already at `log` (a previous attempt's) is removed before the suite
/// starts, so that the path only ever holds this run's log or nothing: a tool
/// error never leaves an older verdict in place for a gate to read.
#[must_use]
pub fn start_to_log(spec: &RunSpec, log: &Path) -> StagingHandle {
    let _ = std::fs::remove_file(log);
    let mut spec = spec.clone();
    spec.sidecar = Some(sidecar_path_for(log));
    StagingHandle {
        run: exec::start(&spec.to_exec()),
        spec,
        log: Some(log.to_path_buf()),
    }
}

/// Runs the suite and writes its staging log: [`start_to_log`] then
/// [`StagingHandle::wait`].
#[must_use]
pub fn run_to_log(spec: &RunSpec, log: &Path) -> StagingRun {
    start_to_log(spec, log).wait()
}

/// A run and what became of its staging log.
#[derive(Debug)]
pub struct StagingRun {
    /// What the suite did.
    pub outcome: Outcome,
    /// The staging log.
    pub log: LogState,
}

/// What became of the staging log.
#[derive(Debug)]
pub enum LogState {
    /// Written, atomically, at this path.
    Written(PathBuf),
    /// Not written: none was asked for, or the suite did not execute (a tool
    /// error has no verdict, and nothing false is written).
    NotWritten,
    /// The suite executed but the log could not be written.
    Failed(WriteError),
}

/// The one-object summary of a [`StagingRun`], as `orch staging run` prints
/// it (field names are part of the CLI's documented output).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Summary {
    /// `executed`, `cancelled` or `tool_error` (a log that could not be
    /// written is a tool error: the step did not complete).
    pub outcome: &'static str,
    /// `PASSED`, `FAILED`, or `null` for a tool error.
    pub status: Option<&'static str>,
    /// The suite's exit code, when it exited.
    pub exit_code: Option<i32>,
    /// The signal that killed the suite's main process.
    pub signal: Option<i32>,
    /// Whether the timeout ended the suite.
    pub timed_out: bool,
    /// The suite's own duration.
    pub duration_ms: u64,
    /// Bytes the suite printed.
    pub output_bytes: u64,
    /// Why: `exit code 0`, `timeout`, `cancelled`, or the error and what to do.
    pub reason: String,
    /// The staging log written, or `null` when none was.
    pub log: Option<String>,
    /// The sidecar file with the full output, when one was written.
    pub sidecar: Option<String>,
    /// The tool error's kind (`working-dir-missing`, ..., `log-not-written`).
    pub error_kind: Option<&'static str>,
}

impl StagingRun {
    /// The summary object.
    #[must_use]
    pub fn summary(&self) -> Summary {
        let (outcome, exit, timed_out, duration, output, kind) = match &self.outcome {
            Outcome::Executed(executed) | Outcome::Cancelled(executed) => (
                if matches!(self.outcome, Outcome::Cancelled(_)) {
                    "cancelled"
                } else {
                    "executed"
                },
                Some(executed.exit),
                executed.timed_out,
                executed.duration,
                Some(&executed.output),
                None,
            ),
            Outcome::ToolError(error) => (
                "tool_error",
                error.exit,
                false,
                error.duration,
                error.output.as_ref(),
                Some(error.kind.as_str()),
            ),
        };
        let (exit_code, signal) = match exit {
            Some(orch_self_deploy::ProcessExit::Code(code)) => (Some(code), None),
            Some(orch_self_deploy::ProcessExit::Signal(signal)) => (None, Some(signal)),
            None => (None, None),
        };
        let sidecar = output.and_then(|o| match &o.sidecar {
            Sidecar::Written { path, .. } => Some(path.to_string_lossy().into_owned()),
            Sidecar::Disabled | Sidecar::Failed { .. } => None,
        });
        let mut summary = Summary {
            outcome,
            status: self.outcome.status().map(|s| s.as_str()),
            exit_code,
            signal,
            timed_out,
            duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
            output_bytes: output.map_or(0, |o| o.total_bytes),
            reason: self.outcome.reason(),
            log: None,
            sidecar,
            error_kind: kind,
        };
        match &self.log {
            LogState::Written(path) => summary.log = Some(path.to_string_lossy().into_owned()),
            LogState::NotWritten => {}
            LogState::Failed(error) => {
                summary.outcome = "tool_error";
                summary.status = None;
                summary.error_kind = Some("log-not-written");
                summary.reason = format!("the suite ran ({}) but {error}", summary.reason);
            }
        }
        summary
    }
}

/// The largest number of seconds [`parse_seconds`] accepts (about 31 years).
pub const MAX_SECONDS: f64 = 1e9;

/// Reads a non-negative number of seconds (`30`, `0.5`, `1e3`) as a
/// duration, for callers that take [`RunSpec`] limits from text.
///
/// # Errors
///
/// [`ParseSecondsError`] saying what is wrong: not a number, negative, not
/// finite, or over [`MAX_SECONDS`].
pub fn parse_seconds(text: &str) -> Result<Duration, ParseSecondsError> {
    let given = || text.to_owned();
    let secs = text
        .trim()
        .parse::<f64>()
        .map_err(|_| ParseSecondsError::NotANumber { text: given() })?;
    if secs.is_nan() {
        return Err(ParseSecondsError::NotANumber { text: given() });
    }
    if secs < 0.0 {
        return Err(ParseSecondsError::Negative { text: given() });
    }
    if secs > MAX_SECONDS {
        return Err(ParseSecondsError::TooLarge { text: given() });
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Text that is not an acceptable number of seconds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseSecondsError {
    /// Not a number at all.
    #[error("{text:?} is not a number of seconds; write e.g. 30 or 0.5")]
    NotANumber {
        /// The text given.
        text: String,
    },
    /// A negative number.
    #[error("{text:?} is negative; a number of seconds must be 0 or more")]
    Negative {
        /// The text given.
        text: String,
    },
    /// More than [`MAX_SECONDS`] (infinity included).
    #[error("{text:?} is out of range; at most 1e9 seconds (about 31 years) are accepted")]
    TooLarge {
        /// The text given.
        text: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_read_with_errors_that_say_what_is_wrong() {
        assert_eq!(parse_seconds("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_seconds(" 0.5 "), Ok(Duration::from_millis(500)));
        assert_eq!(parse_seconds("1e3"), Ok(Duration::from_secs(1000)));
        assert_eq!(parse_seconds("0"), Ok(Duration::ZERO));
        for (text, expected) in [
            ("abc", "not a number"),
            ("", "not a number"),
            ("NaN", "not a number"),
            ("-5", "negative"),
            ("-inf", "negative"),
            ("1e20", "out of range"),
            ("inf", "out of range"),
        ] {
            let error = parse_seconds(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }
}
