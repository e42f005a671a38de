//! What a run yields: [`Outcome`], two levels, every case a value.

use std::time::{Duration, SystemTime};

use orch_self_deploy::{ProcessExit, StagingStatus, map_exit_code_to_status};

use orch_process::describe_exit;
use orch_process::exec::{CapturedOutput, KilledProcess, SandboxLevel, ToolError};

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
    /// What the kernel sandbox enforced.
    pub sandbox: SandboxLevel,
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
