//! The staging runner of orch: runs a staging suite as a supervised process
//! tree and writes the staging log that the `deploy-staging` gate reads.
//!
//! [`run`] takes a [`RunSpec`] (`sh -c COMMAND` in a folder, a timeout, a grace
//! period, output limits, secrets to scrub) and always returns an [`Outcome`]:
//! - [`Outcome::Executed`]: the suite started and ended — an exit code or a
//!   signal, exactly, `timed_out`, its own duration and its captured output
//!   ([`CapturedOutput`]: the first 64 KiB and last 256 KiB kept, the middle
//!   counted, the whole stream written as it arrives to a capped sidecar file);
//! - [`Outcome::ToolError`]: the suite did not execute ([`ToolErrorKind`]:
//!   missing working directory, spawn failure, the shell's 126/127, ...).
//!
//! After [`run`] returns, no process the suite started is alive: the suite
//! runs in its own process group under a small supervisor process (see
//! [`supervisor`]) that is a child subreaper, so descendants that left the
//! group (`setsid`, double fork) are found and killed too. [`run_to_log`]
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
//!     .grace(Duration::from_secs(5));
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
//!     output: CapturedOutput { head: b"staging_status: PASSED\n".to_vec(), total_bytes: 23, ..Default::default() },
//!     killed: 0,
//!     survivors: 0,
//! };
//! let log = render_staging_log("make test", Path::new("/srv/checkout"), &executed);
//! let gate = orch_pipeline::check_staging_status(log.as_bytes());
//! assert_eq!(gate.verdict.as_deref(), Some("FAILED"));
//! ```
//!
//! What this crate never does: it knows processes, not pipelines. It holds no
//! SQL, no stages, no retries or deferral (a tool error is reported, and the
//! caller decides), and its only pipeline knowledge is the verdict writer and
//! the staging key, both taken from `orch-pipeline`. It never sets a
//! process-wide flag (subreaper, signal handler) in the process that embeds
//! it: those live in the supervisor. Its private `process` module is the only place
//! in the workspace that creates processes.

mod artifact;
mod capture;
mod outcome;
mod process;
mod protocol;
mod runner;
mod spec;
pub mod supervisor;
mod tree;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

pub use artifact::{
    WriteError, WriteStep, render_fail_closed_log, render_staging_log, sidecar_path_for,
    write_atomically,
};
pub use outcome::{
    CapturedOutput, Executed, Outcome, Sidecar, ToolError, ToolErrorKind, describe_exit,
};
pub use protocol::SUPERVISOR_ARG;
pub use spec::{
    DEFAULT_GRACE, DEFAULT_HEAD_BYTES, DEFAULT_SIDECAR_CAP, DEFAULT_TAIL_BYTES, DEFAULT_TIMEOUT,
    KNOWN_LLM_CREDENTIALS, OutputLimits, RunSpec, SECRET_PREFIXES, SupervisorProgram,
};

/// Runs the suite once and returns what happened. Never panics and never
/// returns before every process the suite started is gone.
#[must_use]
pub fn run(spec: &RunSpec) -> Outcome {
    let t0 = Instant::now();
    // Nothing in the runner is meant to panic; this is the last line, so that
    // a bug becomes a tool error instead of unwinding into the caller.
    catch_unwind(AssertUnwindSafe(|| runner::run(spec))).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        Outcome::ToolError(ToolError {
            kind: ToolErrorKind::Internal,
            message: format!(
                "the staging runner panicked: {what}; this is a bug, please report it"
            ),
            exit: None,
            duration: t0.elapsed(),
            output: None,
        })
    })
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
    /// Not written, because the suite did not execute: a tool error has no
    /// verdict, and nothing false is written.
    NotWritten,
    /// The suite executed but the log could not be written.
    Failed(WriteError),
}

/// Runs the suite with its sidecar beside `log` ([`sidecar_path_for`]), then,
/// if it executed, writes the staging log to `log` atomically.
///
/// A log already at `log` (a previous attempt's) is removed before the suite
/// starts, so that the path only ever holds this run's log or nothing: a tool
/// error never leaves an older verdict in place for a gate to read.
#[must_use]
pub fn run_to_log(spec: &RunSpec, log: &Path) -> StagingRun {
    let _ = std::fs::remove_file(log);
    let mut spec = spec.clone();
    spec.sidecar = Some(sidecar_path_for(log));
    let outcome = run(&spec);
    let log = match &outcome {
        Outcome::Executed(executed) => {
            let text = render_staging_log(&spec.command, &spec.working_dir, executed);
            match write_atomically(log, text.as_bytes()) {
                Ok(()) => LogState::Written(log.to_path_buf()),
                Err(error) => LogState::Failed(error),
            }
        }
        Outcome::ToolError(_) => LogState::NotWritten,
    };
    StagingRun { outcome, log }
}

/// The one-object summary of a [`StagingRun`], as `orch staging run` prints
/// it (field names are part of the CLI's documented output).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// `executed` or `tool_error` (a log that could not be written is a tool
    /// error: the step did not complete).
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
    /// Why: `exit code 0`, `timeout`, or the error and what to do.
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
        let (exit, timed_out, duration, output, kind) = match &self.outcome {
            Outcome::Executed(executed) => (
                Some(executed.exit),
                executed.timed_out,
                executed.duration,
                Some(&executed.output),
                None,
            ),
            Outcome::ToolError(error) => (
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
            outcome: "executed",
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
            LogState::NotWritten => summary.outcome = "tool_error",
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

/// Reads a non-negative number of seconds (`30`, `0.5`) as a duration, for
/// callers that take [`RunSpec`] limits from text.
///
/// # Errors
///
/// [`ParseSecondsError`] when the text is not a finite number of seconds
/// between 0 and 10^9.
pub fn parse_seconds(text: &str) -> Result<Duration, ParseSecondsError> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|secs| secs.is_finite() && *secs >= 0.0 && *secs <= 1e9)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| ParseSecondsError {
            text: text.to_owned(),
        })
}

/// Text that is not a number of seconds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a number of seconds; write e.g. 30 or 0.5")]
pub struct ParseSecondsError {
    /// The text given.
    pub text: String,
}
