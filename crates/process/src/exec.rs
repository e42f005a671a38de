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

use std::io::{PipeWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use orch_self_deploy::ProcessExit;

pub use crate::env::{
    EnvPolicy, SECRET_NAMES, SECRET_PREFIXES, SECRET_SUFFIXES, Scrub, is_secret_name,
};
pub use crate::limits::{
    DEFAULT_GRACE, DEFAULT_HEAD_BYTES, DEFAULT_SIDECAR_CAP, DEFAULT_TAIL_BYTES, DEFAULT_TIMEOUT,
    OutputLimits, SupervisorProgram,
};
pub use crate::outcome::{CapturedOutput, Sidecar, ToolError, ToolErrorKind};
pub use crate::protocol::{KILLED_COMMAND_MAX, KilledProcess, MAX_STDIN_BYTES, Program};
pub use crate::sandbox::{
    Enforcement, Network, NetworkLevel, SandboxLevel, SandboxMode, SandboxPolicy,
};

/// How the child's stdout and stderr are captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Streams {
    /// One pipe for both, in the order written: what a terminal would show.
    Merged,
    /// Two pipes. Stdout is also kept whole, up to `stdout_cap` bytes, in
    /// [`Finished::stdout`] (an agent prints its JSON result there); both
    /// streams go to the head/tail capture and the sidecar, in the order
    /// they were read.
    Separate {
        /// The most stdout bytes kept; the rest is counted.
        stdout_cap: usize,
    },
}

/// One supervised run: what, where, and under which limits.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExecSpec {
    /// The program.
    pub program: Program,
    /// Its working directory.
    pub working_dir: PathBuf,
    /// How long it may run; `None` waits for ever.
    pub timeout: Option<Duration>,
    /// Time between SIGTERM and SIGKILL, at the timeout, on cancel, and for
    /// processes left behind when the main process ends.
    pub grace: Duration,
    /// Bytes written to its stdin, which is then closed; `None`: `/dev/null`.
    pub stdin: Option<Vec<u8>>,
    /// Merged or separate output streams.
    pub streams: Streams,
    /// Where to write the whole output as it arrives (capped); `None`: no file.
    /// An existing link there is never followed: the file is created anew.
    pub sidecar: Option<PathBuf>,
    /// Output limits.
    pub limits: OutputLimits,
    /// Its environment.
    pub env: EnvPolicy,
    /// The supervisor program.
    pub supervisor: SupervisorProgram,
    /// The kernel sandbox the program and its descendants run in.
    pub sandbox: SandboxPolicy,
    /// Watches stdout line by line as it arrives ([`Streams::Separate`]
    /// only); it may ask the runner to end the run ([`Ending::Dismissed`]).
    pub observer: Option<LineObserver>,
    /// Clocks on the output (either stream), beside the wall clock; a run
    /// that breaks one is ended as [`Ending::Stalled`].
    pub clocks: OutputClocks,
}

/// What a [`LineObserver`] wants after a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineAction {
    /// Go on.
    Continue,
    /// End the run (SIGTERM to the tree, the grace, SIGKILL) once this much
    /// time has passed, unless it ends by itself first; reported as
    /// [`Ending::Dismissed`]. The earliest request made wins.
    EndAfter(Duration),
}

/// A caller's view of stdout as it arrives: called from the runner's event
/// loop with each complete line (without its `\n`; a last line without one
/// when stdout closes). Lines longer than [`OBSERVED_LINE_MAX`] are not
/// passed (memory stays bounded); the observer is told nothing of them. It
/// runs on the waiting thread and must return quickly.
#[derive(Clone)]
pub struct LineObserver(Arc<ObserveFn>);

/// The function behind a [`LineObserver`].
type ObserveFn = dyn Fn(&[u8]) -> LineAction + Send + Sync;

/// The longest stdout line a [`LineObserver`] is shown.
pub const OBSERVED_LINE_MAX: usize = 4 * 1024 * 1024;

impl LineObserver {
    /// An observer calling `f` with each line.
    pub fn new(f: impl Fn(&[u8]) -> LineAction + Send + Sync + 'static) -> LineObserver {
        LineObserver(Arc::new(f))
    }

    pub(crate) fn see(&self, line: &[u8]) -> LineAction {
        (self.0)(line)
    }
}

impl std::fmt::Debug for LineObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LineObserver")
    }
}

impl PartialEq for LineObserver {
    fn eq(&self, other: &LineObserver) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for LineObserver {}

/// Limits on silence, measured by the runner from the start of the run:
/// a program whose first output byte (stdout or stderr) does not come within
/// `first_output`, or that prints nothing for `idle` after that, is ended
/// as [`Ending::Stalled`]. `None`: no such limit. Both stop counting once
/// the main process has ended or a [`LineObserver`] asked for the end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutputClocks {
    /// The longest wait for the first byte of output.
    pub first_output: Option<Duration>,
    /// The longest silence after output has begun.
    pub idle: Option<Duration>,
}

impl OutputClocks {
    /// Both limits: `first_output` for the first byte, `idle` for silence
    /// after it (`None`: no such limit).
    #[must_use]
    pub const fn new(first_output: Option<Duration>, idle: Option<Duration>) -> OutputClocks {
        OutputClocks { first_output, idle }
    }
}

/// Which output clock ended a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stall {
    /// Nothing was printed within [`OutputClocks::first_output`].
    NoFirstOutput(Duration),
    /// Nothing was printed for [`OutputClocks::idle`].
    Silent(Duration),
}

impl ExecSpec {
    /// A spec with the defaults: [`DEFAULT_TIMEOUT`], [`DEFAULT_GRACE`], stdin
    /// from `/dev/null`, merged streams, no sidecar, default limits, the
    /// parent's environment with secrets dropped ([`EnvPolicy::scrubbed`]),
    /// supervisor [`SupervisorProgram::CurrentExe`].
    #[must_use]
    pub fn new(program: Program, working_dir: impl Into<PathBuf>) -> ExecSpec {
        ExecSpec {
            program,
            working_dir: working_dir.into(),
            timeout: Some(DEFAULT_TIMEOUT),
            grace: DEFAULT_GRACE,
            stdin: None,
            streams: Streams::Merged,
            sidecar: None,
            limits: OutputLimits::default(),
            env: EnvPolicy::scrubbed(),
            supervisor: SupervisorProgram::CurrentExe,
            sandbox: SandboxPolicy::off(),
            observer: None,
            clocks: OutputClocks::default(),
        }
    }

    /// Shows stdout, line by line, to `observer` as it arrives.
    #[must_use]
    pub fn observer(mut self, observer: LineObserver) -> ExecSpec {
        self.observer = Some(observer);
        self
    }

    /// Sets the output clocks.
    #[must_use]
    pub fn clocks(mut self, clocks: OutputClocks) -> ExecSpec {
        self.clocks = clocks;
        self
    }

    /// Sets the timeout (`None`: no timeout).
    #[must_use]
    pub fn timeout(mut self, timeout: Option<Duration>) -> ExecSpec {
        self.timeout = timeout;
        self
    }

    /// Sets the grace period between SIGTERM and SIGKILL.
    #[must_use]
    pub fn grace(mut self, grace: Duration) -> ExecSpec {
        self.grace = grace;
        self
    }

    /// Writes these bytes to the child's stdin, then closes it.
    #[must_use]
    pub fn stdin(mut self, bytes: Vec<u8>) -> ExecSpec {
        self.stdin = Some(bytes);
        self
    }

    /// Sets how the output streams are captured.
    #[must_use]
    pub fn streams(mut self, streams: Streams) -> ExecSpec {
        self.streams = streams;
        self
    }

    /// Writes the whole output, capped, to this file as it arrives.
    #[must_use]
    pub fn sidecar(mut self, path: impl Into<PathBuf>) -> ExecSpec {
        self.sidecar = Some(path.into());
        self
    }

    /// Sets the output limits.
    #[must_use]
    pub fn limits(mut self, limits: OutputLimits) -> ExecSpec {
        self.limits = limits;
        self
    }

    /// Sets the environment policy.
    #[must_use]
    pub fn env(mut self, env: EnvPolicy) -> ExecSpec {
        self.env = env;
        self
    }

    /// Sets the supervisor program.
    #[must_use]
    pub fn supervisor(mut self, program: SupervisorProgram) -> ExecSpec {
        self.supervisor = program;
        self
    }

    /// Puts the program and its descendants in this sandbox.
    #[must_use]
    pub fn sandbox(mut self, policy: SandboxPolicy) -> ExecSpec {
        self.sandbox = policy;
        self
    }
}

/// How a run that started and ended came to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The main process ended by itself: an exit code or a signal.
    Exited(ProcessExit),
    /// The timeout ended it; how the main process died.
    TimedOut(ProcessExit),
    /// [`Canceller::cancel`] ended it; how the main process died.
    Cancelled(ProcessExit),
    /// The [`LineObserver`] asked for the end and the time it gave ran out
    /// with the program still running; how the main process died.
    Dismissed(ProcessExit),
    /// An [`OutputClocks`] limit ended it; which one, and how the main
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

/// Stdout kept whole, up to a cap ([`Streams::Separate`]).
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
    /// Stdout alone, with [`Streams::Separate`].
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

#[derive(Debug, Default)]
struct CancelState {
    requested: Arc<AtomicBool>,
    /// Wakes the runner's event loop; `None` once the run is over.
    wake: Mutex<Option<PipeWriter>>,
}

/// Ends a run from any thread; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Canceller(Arc<CancelState>);

impl Canceller {
    /// Asks the run to end: SIGTERM to its whole tree, the grace, SIGKILL.
    /// Returns at once; [`RunHandle::wait`] reports [`Ending::Cancelled`]
    /// (or how it ended, if it ended first). Calling it again does nothing.
    pub fn cancel(&self) {
        self.0.requested.store(true, Ordering::SeqCst);
        let mut wake = self.0.wake.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(pipe) = wake.as_mut() {
            // The pipe holds one byte or more: the loop is woken either way.
            let _ = pipe.write(b"c");
        }
    }

    /// Whether [`Canceller::cancel`] was called (or the flag set).
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.0.requested.load(Ordering::SeqCst)
    }

    /// The flag behind [`Canceller::cancel`], for a signal handler: setting it
    /// (for example with `signal_hook::flag::register`) cancels the run
    /// without a thread or a lock. The event loop sees it when the signal
    /// interrupts its `poll`, and at the latest at its next periodic check
    /// (every 200 ms).
    #[must_use]
    pub fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.0.requested)
    }

    pub(crate) fn attach(&self, wake: PipeWriter) {
        *self.0.wake.lock().unwrap_or_else(PoisonError::into_inner) = Some(wake);
    }

    pub(crate) fn detach(&self) {
        *self.0.wake.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

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
