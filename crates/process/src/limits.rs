//! Limits and the supervisor program: the defaults every run starts from,
//! [`OutputLimits`] and [`SupervisorProgram`].

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

/// Which program plays the supervisor (see [`crate::supervisor`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SupervisorProgram {
    /// Re-execute the running program (`/proc/self/exe`, which still works
    /// after the binary on disk was replaced by a deploy). The program must
    /// call [`crate::supervisor::main_if_requested`] first thing in `main`;
    /// one that does not fails the run fast with the handshake error (see
    /// [`crate::supervisor`]). Not for a plain `#[test]`, whose `main` is
    /// libtest's: use [`SupervisorProgram::Path`] there.
    CurrentExe,
    /// A program that calls [`crate::supervisor::main_if_requested`], such as
    /// this crate's `orch-supervisor` binary (in this crate's tests:
    /// `env!("CARGO_BIN_EXE_orch-supervisor")`).
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
///
/// `#[non_exhaustive]`: made by [`OutputLimits::new`] or `default()`, then
/// the `with_*` builders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutputLimits {
    /// Leading bytes kept for the staging log.
    pub head_bytes: usize,
    /// Trailing bytes kept for the staging log.
    pub tail_bytes: usize,
    /// Bytes written to the sidecar file before it is cut (a note marks the cut).
    pub sidecar_cap: u64,
}

impl OutputLimits {
    /// `head_bytes` and `tail_bytes` kept for the log, `sidecar_cap` bytes
    /// written to the sidecar.
    #[must_use]
    pub const fn new(head_bytes: usize, tail_bytes: usize, sidecar_cap: u64) -> Self {
        OutputLimits {
            head_bytes,
            tail_bytes,
            sidecar_cap,
        }
    }

    /// With `cap` bytes written to the sidecar before it is cut.
    #[must_use]
    pub const fn with_sidecar_cap(mut self, cap: u64) -> Self {
        self.sidecar_cap = cap;
        self
    }
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
