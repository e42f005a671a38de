//! The process machinery: run one untrusted program as a supervised process
//! tree, for staging suites and LLM agent CLIs alike.
//!
//! [`start`] takes an [`ExecSpec`] — a shell command or a program with its
//! arguments, a folder, a timeout and a grace period, optional stdin bytes,
//! merged or separate output streams, an [`EnvPolicy`] — and returns a
//! [`RunHandle`] at once. [`RunHandle::wait`] blocks until every process of
//! the run is gone and returns an [`ExecOutcome`]; a [`Canceller`] taken from
//! the handle ends the run from any thread (SIGTERM, the grace, SIGKILL, to
//! the whole tree), reported as [`Ending::Cancelled`]. [`run`] is start and
//! wait.
//!
//! ```no_run
//! use std::time::Duration;
//! use orch_process::exec::{self, EnvPolicy, ExecOutcome, ExecSpec, Program, Streams};
//!
//! orch_process::supervisor::main_if_requested();
//! let spec = ExecSpec::new(Program::Argv(vec!["claude".into(), "-p".into()]), "/srv/checkout")
//!     .stdin(b"Write 05-development.md".to_vec())
//!     .streams(Streams::Separate { stdout_cap: 1 << 20 })
//!     .env(EnvPolicy::default())
//!     .timeout(Some(Duration::from_secs(1800)));
//! let handle = exec::start(&spec);
//! let cancel = handle.canceller();
//! std::thread::spawn(move || { /* on shutdown: */ cancel.cancel(); });
//! match handle.wait() {
//!     ExecOutcome::Finished(finished) => println!("{:?}", finished.ending),
//!     ExecOutcome::Failed(error) => eprintln!("{}", error.message),
//! }
//! ```
//!
//! What the machinery guarantees, whatever the program does (it runs as our
//! user and may be hostile): when [`RunHandle::wait`] returns, no process of
//! the run is alive — also when the program killed or stopped its
//! supervisor; the program received no descriptor but its stdin, stdout and
//! stderr; its ending is known through a channel it cannot write (see
//! docs/staging-runner.md, "Threat model"). What it does not do: it knows no
//! verdicts — exit codes, signals, timeouts, cancellations and failures to
//! start are reported as they are, and callers such as the staging layer
//! (`orch_staging_runner::run`) give them meaning.

pub use crate::cancel::Canceller;
pub use crate::env::{
    EnvPolicy, SECRET_NAMES, SECRET_PREFIXES, SECRET_SUFFIXES, Scrub, is_secret_name,
};
pub use crate::limits::{
    DEFAULT_GRACE, DEFAULT_HEAD_BYTES, DEFAULT_SIDECAR_CAP, DEFAULT_TAIL_BYTES, DEFAULT_TIMEOUT,
    OutputLimits, SupervisorProgram,
};
pub use crate::outcome::{
    CapturedOutput, CapturedStdout, Cleanup, Ending, ExecOutcome, Finished, Sidecar, ToolError,
    ToolErrorKind,
};
pub use crate::protocol::{KILLED_COMMAND_MAX, KilledProcess, MAX_STDIN_BYTES, Program};
pub use crate::sandbox::{
    Enforcement, Network, NetworkLevel, SandboxLevel, SandboxMode, SandboxPolicy,
};
pub use crate::spec::{
    ExecSpec, LineAction, LineObserver, OBSERVED_LINE_MAX, OutputClocks, Stall, Streams,
};

/// A started run.
#[derive(Debug)]
pub struct RunHandle {
    pub(crate) state: Result<crate::runner::Running, Box<ToolError>>,
    pub(crate) canceller: Canceller,
}

impl RunHandle {
    /// A handle that ends the run from any thread.
    #[must_use]
    pub fn canceller(&self) -> Canceller {
        self.canceller.clone()
    }

    /// Blocks until the run is over and every process of it is gone.
    #[must_use]
    pub fn wait(self) -> ExecOutcome {
        crate::guard(|| match self.state {
            Ok(running) => running.wait(&self.canceller),
            Err(error) => ExecOutcome::Failed(*error),
        })
    }
}

/// Puts SIGCHLD back to its default action in the calling process.
///
/// The machinery reads its supervisor's exit status with `waitpid`; a
/// process that ignores SIGCHLD (some process managers start programs that
/// way, and ignored dispositions survive exec) has its children reaped by the
/// kernel, and every run then fails as a tool error, because its ending
/// cannot be verified. This is the one process-wide setting the machinery
/// needs, so it is the embedding program's call, made once at start-up; the
/// `orch` binary makes it first thing in `main`.
pub fn restore_sigchld_default() {
    crate::process::restore_sigchld_default();
}

/// Makes the calling process non-dumpable (`PR_SET_DUMPABLE` 0).
///
/// A program that starts untrusted children as its own user holds secrets
/// (LLM API keys in its environment, a database handle) that those children
/// could otherwise read through `/proc/PID/environ` and `/proc/PID/mem`, or
/// take by tracing it. Non-dumpable, only a process with `CAP_SYS_PTRACE` can,
/// and the supervisor drops that capability for every child. Side effects: no
/// core dumps, and `/proc/PID` files of the process belong to root. A
/// process-wide choice, so the embedding program makes it; the `orch` binary
/// does, first thing in `main`.
///
/// # Errors
///
/// The error of `prctl` (none is expected on Linux).
pub fn make_non_dumpable() -> std::io::Result<()> {
    crate::process::make_non_dumpable().map_err(std::io::Error::from)
}

/// Starts a run; never blocks for long and never panics. A run that cannot
/// start is reported by [`RunHandle::wait`].
#[must_use]
pub fn start(spec: &ExecSpec) -> RunHandle {
    let canceller = Canceller::default();
    let state = crate::guard_result(|| crate::runner::start(spec, &canceller));
    RunHandle { state, canceller }
}

/// Starts a run and waits for it: [`start`] then [`RunHandle::wait`].
#[must_use]
pub fn run(spec: &ExecSpec) -> ExecOutcome {
    start(spec).wait()
}
