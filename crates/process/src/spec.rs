//! What a run is asked to do: [`ExecSpec`] (the program, its folder, its
//! limits, its streams and environment), the stdout [`LineObserver`] and the
//! [`OutputClocks`] on silence; re-exported by [`crate::exec`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::env::EnvPolicy;
use crate::limits::{DEFAULT_GRACE, DEFAULT_TIMEOUT, OutputLimits, SupervisorProgram};
use crate::protocol::Program;
use crate::sandbox::SandboxPolicy;

/// How the child's stdout and stderr are captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Streams {
    /// One pipe for both, in the order written: what a terminal would show.
    Merged,
    /// Two pipes. Stdout is also kept whole, up to `stdout_cap` bytes, in
    /// [`Finished::stdout`](crate::exec::Finished::stdout) (an agent prints its JSON result there); both
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
    /// only); it may ask the runner to end the run ([`Ending::Dismissed`](crate::exec::Ending::Dismissed)).
    pub observer: Option<LineObserver>,
    /// Clocks on the output (either stream), beside the wall clock; a run
    /// that breaks one is ended as [`Ending::Stalled`](crate::exec::Ending::Stalled).
    pub clocks: OutputClocks,
}

/// What a [`LineObserver`] wants after a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineAction {
    /// Go on.
    Continue,
    /// End the run (SIGTERM to the tree, the grace, SIGKILL) once this much
    /// time has passed, unless it ends by itself first; reported as
    /// [`Ending::Dismissed`](crate::exec::Ending::Dismissed). The earliest request made wins.
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
/// as [`Ending::Stalled`](crate::exec::Ending::Stalled). `None`: no such limit. Both stop counting once
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
