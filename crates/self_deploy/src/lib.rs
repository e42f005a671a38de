//! The exit-code contract of orch: how the way a staging suite ended maps to the
//! `staging_status` verdict (DESIGN §3.7).
//!
//! The contract is one sentence: **exit 0 is PASSED; every other exit code and
//! every death by a signal is FAILED.** There is no "soft" failure code, no
//! "skipped" code, and no signal that counts as success.
//!
//! ```
//! use orch_self_deploy::{map_exit_code_to_status, ProcessExit, StagingStatus};
//!
//! assert_eq!(map_exit_code_to_status(ProcessExit::Code(0)), StagingStatus::Passed);
//! assert_eq!(map_exit_code_to_status(ProcessExit::Code(1)), StagingStatus::Failed);
//! assert_eq!(map_exit_code_to_status(ProcessExit::Signal(9)), StagingStatus::Failed);
//! assert_eq!("PASSED".parse::<StagingStatus>(), Ok(StagingStatus::Passed));
//! assert_eq!(StagingStatus::Failed.to_string(), "FAILED");
//! ```
//!
//! What this crate deliberately does not do: it starts no process, reads no
//! file, and knows nothing of timeouts or tool errors. A suite that timed out
//! or never started is the staging runner's business; by the time a
//! [`ProcessExit`] exists, the suite has run and ended.

use std::fmt;
use std::str::FromStr;

/// The verdict of a staging run, as written after `staging_status:`.
///
/// `Display` and `FromStr` produce and accept exactly the verdict text
/// (`PASSED`, `FAILED`), upper case, with nothing around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StagingStatus {
    /// The suite exited with code 0.
    Passed,
    /// Anything else.
    Failed,
}

impl StagingStatus {
    /// Every variant, in a fixed order; a test counts it so that a new variant
    /// cannot slip past the contract tests.
    pub const ALL: [StagingStatus; 2] = [StagingStatus::Passed, StagingStatus::Failed];

    /// The verdict text: `PASSED` or `FAILED`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            StagingStatus::Passed => "PASSED",
            StagingStatus::Failed => "FAILED",
        }
    }

    /// Whether this is the one green verdict.
    #[must_use]
    pub const fn is_passed(self) -> bool {
        matches!(self, StagingStatus::Passed)
    }
}

impl fmt::Display for StagingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text given to [`StagingStatus::from_str`] is not a verdict.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown staging status {found:?}: expected exactly PASSED or FAILED (upper case, no spaces)"
)]
pub struct ParseStagingStatusError {
    /// The text that was given.
    pub found: String,
}

impl FromStr for StagingStatus {
    type Err = ParseStagingStatusError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "PASSED" => Ok(StagingStatus::Passed),
            "FAILED" => Ok(StagingStatus::Failed),
            other => Err(ParseStagingStatusError {
                found: other.to_owned(),
            }),
        }
    }
}

/// How a process ended: with an exit code, or killed by a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProcessExit {
    /// The process called `exit` with this code. Any `i32` is accepted: on
    /// Unix only the low 8 bits survive, but other platforms and wrappers may
    /// report wider or negative values, and those are not green either.
    Code(i32),
    /// The process was killed by this signal number.
    Signal(i32),
}

impl fmt::Display for ProcessExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcessExit::Code(code) => write!(f, "exit code {code}"),
            ProcessExit::Signal(signal) => write!(f, "killed by signal {signal}"),
        }
    }
}

impl From<std::process::ExitStatus> for ProcessExit {
    /// Reads a standard library exit status. A status with neither a code nor
    /// a signal (a stopped process reported by a raw wait status) is reported as
    /// `Code(-1)`, which the contract maps to FAILED: never a false green.
    fn from(status: std::process::ExitStatus) -> Self {
        if let Some(code) = status.code() {
            return ProcessExit::Code(code);
        }
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            if let Some(signal) = status.signal() {
                return ProcessExit::Signal(signal);
            }
        }
        ProcessExit::Code(-1)
    }
}

/// The exit-code contract: exit 0 → [`StagingStatus::Passed`]; every other
/// exit code and every death by signal → [`StagingStatus::Failed`].
#[must_use]
pub const fn map_exit_code_to_status(exit: ProcessExit) -> StagingStatus {
    match exit {
        ProcessExit::Code(0) => StagingStatus::Passed,
        ProcessExit::Code(_) | ProcessExit::Signal(_) => StagingStatus::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_variant_once() {
        // Adding a variant forces this match (no `_` arm) and the count to change.
        let count = StagingStatus::ALL
            .iter()
            .map(|s| match s {
                StagingStatus::Passed | StagingStatus::Failed => 1,
            })
            .sum::<usize>();
        assert_eq!(count, 2);
        assert_ne!(StagingStatus::ALL[0], StagingStatus::ALL[1]);
    }

    #[test]
    fn display_and_from_str_round_trip() {
        for status in StagingStatus::ALL {
            assert_eq!(status.to_string().parse::<StagingStatus>(), Ok(status));
        }
    }
}
