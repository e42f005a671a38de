//! The runner side of the machinery: start the supervisor, drive one run
//! with `poll(2)` in the calling thread, check what the supervisor reports
//! against how it ended, and take the cleanup over when the supervisor
//! cannot do it (it was killed, stopped, or never finished).

use std::ffi::OsString;
use std::io::PipeWriter;
use std::io::{self, ErrorKind, PipeReader, Read, Write as _};
use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;
use orch_self_deploy::ProcessExit;

use crate::cancel::Canceller;
use crate::capture::{Capture, StdoutCapture};
use crate::outcome::{Cleanup, Ending, ExecOutcome, Finished, ToolError, ToolErrorKind};
use crate::process::{self, SupervisorFds, SupervisorProcess};
use crate::protocol::{
    Class, KILLED_COMMAND_MAX, KILLED_LISTED_MAX, KilledProcess, MAX_STDIN_BYTES, Program, Report,
    SUPERVISOR_ARG, SpawnFailure, SupervisorArgs,
};
use crate::sandbox::SandboxLevel;
use crate::spec::{
    ExecSpec, LineAction, LineObserver, OBSERVED_LINE_MAX, OutputClocks, Stall, Streams,
};
use crate::supervisor::HANDSHAKE_BOUND;
use crate::supervisor::KILL_ROUND;
use crate::tree;

/// After the supervisor's report pipe closes, how long to keep reading output
/// that is still in the pipes. Every writer is dead by then, so this only
/// bounds a pathological case (a survivor that could not be killed).
const DRAIN_BOUND: Duration = Duration::from_millis(500);
/// Beyond the timeout and the grace, how long the supervisor may take to
/// finish its kill rounds before the runner takes over.
const CLEANUP_SLACK: Duration = Duration::from_secs(1);
/// How long the runner's own kill rounds go on when it takes over.
const TAKEOVER_BOUND: Duration = Duration::from_secs(2);
/// How often the runner checks that the supervisor is not stopped.
const STOP_CHECK: Duration = Duration::from_millis(200);
/// Report lines longer than this are cut (the supervisor writes short lines;
/// this only bounds garbage).
const REPORT_LINE_MAX: usize = 64 * 1024;
/// Read chunk size for the output pipes.
const CHUNK: usize = 64 * 1024;
/// The environment key of the run's marker (see [`tree::carrying_marker`]).
const MARKER_KEY: &str = "ORCH_RUN_MARKER";

/// A started run, not yet waited for.
#[derive(Debug)]
pub(crate) struct Running {
    child: SupervisorProcess,
    control: Option<PipeWriter>,
    stdin: Vec<u8>,
    output: PipeReader,
    errors: Option<PipeReader>,
    reports: PipeReader,
    wake: PipeReader,
    capture: Capture,
    stdout: Option<StdoutCapture>,
    started_at: SystemTime,
    t0: Instant,
    timeout: Option<Duration>,
    grace: Duration,
    /// `ORCH_RUN_MARKER=...`, as it stands in the run's environment.
    marker: Vec<u8>,
    /// Whether a sandbox was asked for (then the supervisor must confirm it).
    sandboxed: bool,
    /// Shown stdout line by line (separate streams only).
    observer: Option<LineObserver>,
    /// The limits on silence.
    clocks: OutputClocks,
    /// The program started as the supervisor, for the handshake's error.
    supervisor: PathBuf,
}

/// What a program that forgot the supervisor's entry point must do.
const CALL_FIRST: &str = "call orch_process::supervisor::main_if_requested() first in main";

/// Whether this process was started as a supervisor (its first argument is
/// [`SUPERVISOR_ARG`]). A supervisor never starts runs: when this one does,
/// its `main` did not call `main_if_requested`, which would have supervised
/// and exited.
fn started_as_supervisor() -> bool {
    std::env::args_os()
        .nth(1)
        .is_some_and(|arg| arg == SUPERVISOR_ARG)
}

fn refuse(kind: ToolErrorKind, message: String, t0: Instant) -> Box<ToolError> {
    Box::new(ToolError {
        kind,
        message,
        exit: None,
        duration: t0.elapsed(),
        output: None,
    })
}

/// Checks the spec and starts the supervisor.
pub(crate) fn start(spec: &ExecSpec, canceller: &Canceller) -> Result<Running, Box<ToolError>> {
    let started_at = SystemTime::now();
    let t0 = Instant::now();
    if started_as_supervisor() {
        return Err(refuse(
            ToolErrorKind::SupervisorUnavailable,
            format!(
                "this program was started as orch's process supervisor ({SUPERVISOR_ARG}) but runs its own main, which starts a run in turn: {CALL_FIRST}; the run was refused, so the program cannot re-execute itself recursively"
            ),
            t0,
        ));
    }
    let invalid = |message: &str| refuse(ToolErrorKind::InvalidCommand, message.to_owned(), t0);
    match &spec.program {
        Program::Shell(command) if command.trim().is_empty() => {
            return Err(invalid(
                "the command is empty; set the command to run (an empty suite would pass without testing anything)",
            ));
        }
        Program::Shell(command) if command.contains('\0') => {
            return Err(invalid(
                "the command contains a NUL byte, which no shell can receive; fix the command",
            ));
        }
        Program::Argv(argv) if argv.first().is_none_or(|p| p.is_empty()) => {
            return Err(invalid(
                "the program is empty; name the program to run and its arguments",
            ));
        }
        Program::Argv(argv) if argv.iter().any(|a| a.as_encoded_bytes().contains(&0)) => {
            return Err(invalid(
                "an argument contains a NUL byte, which no program can receive; fix the arguments",
            ));
        }
        Program::Shell(_) | Program::Argv(_) => {}
    }
    if spec
        .stdin
        .as_ref()
        .is_some_and(|b| b.len() > MAX_STDIN_BYTES)
    {
        return Err(invalid(&format!(
            "the stdin bytes are over {MAX_STDIN_BYTES} bytes; send less, or pass a file path instead"
        )));
    }
    if spec.sandbox.is_on()
        && let Err(message) = spec.sandbox.validate()
    {
        return Err(refuse(
            ToolErrorKind::SandboxUnavailable,
            format!("{message}; the program was not started"),
            t0,
        ));
    }
    if !spec.working_dir.is_dir() {
        return Err(refuse(
            ToolErrorKind::WorkingDirMissing,
            format!(
                "working directory {} does not exist or is not a directory; check the repository's checkout path",
                spec.working_dir.display()
            ),
            t0,
        ));
    }

    let out_of_fds = |error: io::Error| {
        refuse(
            ToolErrorKind::SupervisorUnavailable,
            format!("cannot create a pipe: {error}; the system is out of file descriptors"),
            t0,
        )
    };
    let (output, output_writer) = process::pipe().map_err(out_of_fds)?;
    let (errors, errors_writer) = match spec.streams {
        Streams::Merged => (None, None),
        Streams::Separate { .. } => {
            let (reader, writer) = process::pipe().map_err(out_of_fds)?;
            (Some(reader), Some(writer))
        }
    };
    let (reports, reports_writer) = process::pipe().map_err(out_of_fds)?;
    let (wake, wake_writer) = process::pipe().map_err(out_of_fds)?;
    let (control_reader, control) = process::pipe().map_err(out_of_fds)?;

    let args = SupervisorArgs {
        timeout: spec.timeout,
        grace: spec.grace,
        stdin_bytes: spec.stdin.as_ref().map(Vec::len),
        dir: spec.working_dir.clone(),
        sandbox: spec.sandbox.clone(),
        program: spec.program.clone(),
    };
    let marker_value = new_marker();
    let mut env = spec.env.apply(std::env::vars_os());
    env.retain(|(key, _)| key != MARKER_KEY);
    env.push((MARKER_KEY.into(), OsString::from(&marker_value)));
    let marker = format!("{MARKER_KEY}={marker_value}").into_bytes();

    let capture = Capture::new(spec.limits, spec.sidecar.as_deref());
    let program = spec.supervisor.resolve();
    let fds = SupervisorFds {
        control: control_reader,
        stdout: output_writer,
        stderr: errors_writer,
        reports: reports_writer,
    };
    let child =
        process::spawn_supervisor(&program, &args.to_argv(), &env, fds).map_err(|error| {
            refuse(
                ToolErrorKind::SupervisorUnavailable,
                format!(
                    "cannot start the supervisor {}: {error}; check that the program exists and calls orch_process::supervisor::main_if_requested",
                    program.display()
                ),
                t0,
            )
        })?;
    // The event loop writes stdin bytes only when the pipe has room: a
    // supervisor that stops reading must never block the runner.
    let _ = process::set_nonblocking(control.as_fd());
    canceller.attach(wake_writer);
    Ok(Running {
        child,
        control: Some(control),
        stdin: spec.stdin.clone().unwrap_or_default(),
        output,
        errors,
        reports,
        wake,
        capture,
        stdout: match spec.streams {
            Streams::Merged => None,
            Streams::Separate { stdout_cap } => Some(StdoutCapture::new(stdout_cap)),
        },
        started_at,
        t0,
        timeout: spec.timeout,
        grace: spec.grace,
        marker,
        sandboxed: spec.sandbox.is_on(),
        observer: match spec.streams {
            Streams::Merged => None,
            Streams::Separate { .. } => spec.observer.clone(),
        },
        clocks: spec.clocks,
        supervisor: program,
    })
}

/// A value unique to this run among every run on the machine.
fn new_marker() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!(
        "{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Why the runner took the cleanup over from the supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Takeover {
    /// It was still running past the timeout, the grace and the slack.
    Overdue,
    /// It was stopped (SIGSTOP).
    Stopped,
    /// It ended without finishing its work (killed, crashed, no `done`).
    Broken,
    /// It did not answer the handshake within [`HANDSHAKE_BOUND`]: a program
    /// running its own `main`, not the supervisor.
    NoHandshake,
}

/// Why the runner itself ended the run (through the control pipe, as a
/// cancel is made).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunnerEnd {
    /// The caller's [`Canceller`].
    Caller,
    /// The line observer's time ran out.
    Observer,
    /// An output clock.
    Stall(Stall),
}

/// Stdout cut into lines for the observer, in bounded memory.
#[derive(Debug, Default)]
struct Lines {
    line: Vec<u8>,
    /// The current line grew past [`OBSERVED_LINE_MAX`]: it is skipped.
    overlong: bool,
}

impl Lines {
    /// Feeds `chunk`, calling `see` with each complete line; returns the
    /// earliest end any line asked for.
    fn push(&mut self, chunk: &[u8], see: &dyn Fn(&[u8]) -> LineAction) -> Option<Duration> {
        let mut asked: Option<Duration> = None;
        for piece in chunk.split_inclusive(|&b| b == b'\n') {
            let (body, complete) = match piece.split_last() {
                Some((b'\n', body)) => (body, true),
                Some(_) | None => (piece, false),
            };
            if !self.overlong {
                if self.line.len().saturating_add(body.len()) > OBSERVED_LINE_MAX {
                    self.overlong = true;
                    self.line = Vec::new();
                } else {
                    self.line.extend_from_slice(body);
                }
            }
            if complete {
                asked = earliest(asked, self.flush(see));
            }
        }
        asked
    }

    /// Hands over the line in progress (stdout closed without a last `\n`).
    fn flush(&mut self, see: &dyn Fn(&[u8]) -> LineAction) -> Option<Duration> {
        let action = if self.overlong || self.line.is_empty() {
            LineAction::Continue
        } else {
            see(&self.line)
        };
        self.line.clear();
        self.overlong = false;
        match action {
            LineAction::Continue => None,
            LineAction::EndAfter(after) => Some(after),
        }
    }
}

fn earliest(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The fields of the first `exited` report.
#[derive(Debug, Clone, Copy)]
struct ExitReport {
    code: Option<i32>,
    signal: Option<i32>,
    duration_ns: u64,
    timed_out: bool,
    cancelled: bool,
}

/// Everything the event loop learned.
#[derive(Debug, Default)]
struct Session {
    reports: Vec<Report>,
    /// Report-pipe text that was not a report, and warnings.
    diagnostics: String,
    /// Whether the runner cancelled the run (closed the control pipe).
    cancelled: bool,
    /// Why it did.
    ended_by: Option<RunnerEnd>,
    takeover: Option<Takeover>,
    /// The supervisor's own exit status, read by `waitpid`.
    status: Option<ExitStatus>,
    /// What the runner's own cleanup killed.
    swept: Cleanup,
}

impl Session {
    fn take_line(&mut self, line: &mut Vec<u8>) {
        if line.is_empty() {
            return;
        }
        match Report::from_line(line) {
            Some(Report::Warning { message }) => self.note(&format!("warning: {message}")),
            Some(report) => self.reports.push(report),
            None => {
                let text = String::from_utf8_lossy(line).into_owned();
                self.note(&text);
            }
        }
        line.clear();
    }

    fn note(&mut self, text: &str) {
        if self.diagnostics.len() < REPORT_LINE_MAX {
            self.diagnostics.push_str(text);
            self.diagnostics.push('\n');
        }
    }

    /// The first report of a kind: later ones of the same kind are ignored.
    fn first<T>(&self, pick: impl Fn(&Report) -> Option<T>) -> Option<T> {
        self.reports.iter().find_map(pick)
    }

    /// Whether the supervisor answered the handshake.
    fn said_hello(&self) -> bool {
        self.reports.iter().any(|r| matches!(r, Report::Hello))
    }

    fn exited(&self) -> Option<ExitReport> {
        self.first(|r| match r {
            Report::Exited {
                code,
                signal,
                duration_ns,
                timed_out,
                cancelled,
            } => Some(ExitReport {
                code: *code,
                signal: *signal,
                duration_ns: *duration_ns,
                timed_out: *timed_out,
                cancelled: *cancelled,
            }),
            Report::Hello
            | Report::Started { .. }
            | Report::Sandboxed { .. }
            | Report::SpawnFailed { .. }
            | Report::Fatal { .. }
            | Report::Warning { .. }
            | Report::Done { .. } => None,
        })
    }

    fn done(&self) -> Option<Cleanup> {
        self.first(|r| match r {
            Report::Done {
                killed,
                listed,
                survivors,
            } => Some(Cleanup {
                killed: *killed,
                listed: listed.clone(),
                survivors: *survivors,
            }),
            Report::Hello
            | Report::Started { .. }
            | Report::Sandboxed { .. }
            | Report::SpawnFailed { .. }
            | Report::Fatal { .. }
            | Report::Warning { .. }
            | Report::Exited { .. } => None,
        })
    }
}

impl Running {
    /// Drives the run to its end; see [`crate::exec::RunHandle::wait`].
    pub(crate) fn wait(mut self, canceller: &Canceller) -> ExecOutcome {
        let session = self.drive(canceller);
        canceller.detach();
        self.conclude(session)
    }

    #[expect(
        clippy::too_many_lines,
        reason = "one event loop over five descriptors reads best in one place"
    )]
    fn drive(&mut self, canceller: &Canceller) -> Session {
        let mut session = Session::default();
        let mut line = Vec::new();
        let mut buf = vec![0u8; CHUNK];
        let mut output_open = true;
        let mut errors_open = self.errors.is_some();
        let mut reports_open = true;
        let mut wake_open = true;
        let mut stdin_sent = 0usize;
        let mut drain_until: Option<Instant> = None;
        let mut backstop = self.timeout.and_then(|timeout| {
            self.t0
                .checked_add(timeout)?
                .checked_add(self.grace)?
                .checked_add(CLEANUP_SLACK)
        });
        let mut next_stop_check = Instant::now() + STOP_CHECK;
        let handshake_due = Instant::now() + HANDSHAKE_BOUND;
        let mut lines = Lines::default();
        // When the observer wants the run ended.
        let mut end_at: Option<Instant> = None;
        // The last output byte's arrival (`None`: none yet).
        let mut last_output: Option<Instant> = None;

        loop {
            if canceller.is_cancelled() && !session.cancelled {
                // End-of-file on the control pipe is the supervisor's signal
                // to end the run.
                self.control = None;
                session.cancelled = true;
                session.ended_by = Some(RunnerEnd::Caller);
            }
            // The runner's own reasons to end the run: they count only while
            // the main process runs and nothing else has ended it.
            let clock_due = if session.cancelled
                || session.takeover.is_some()
                || drain_until.is_some()
                || session.exited().is_some()
            {
                None
            } else if end_at.is_some() {
                // The program said it is done: silence is expected now, the
                // observer's time alone counts.
                end_at.map(|at| (at, RunnerEnd::Observer))
            } else {
                let stall = match last_output {
                    None => self.clocks.first_output.and_then(|limit| {
                        Some((self.t0.checked_add(limit)?, Stall::NoFirstOutput(limit)))
                    }),
                    Some(last) => self
                        .clocks
                        .idle
                        .and_then(|limit| Some((last.checked_add(limit)?, Stall::Silent(limit)))),
                };
                stall.map(|(at, why)| (at, RunnerEnd::Stall(why)))
            };
            if let Some((at, why)) = clock_due
                && Instant::now() >= at
            {
                self.control = None;
                session.cancelled = true;
                session.ended_by = Some(why);
                continue;
            }
            if !output_open && !errors_open && !reports_open {
                break;
            }
            let now = Instant::now();
            if drain_until.is_some_and(|until| now >= until) {
                break;
            }
            if session.takeover.is_none() {
                if now >= handshake_due && !session.said_hello() {
                    self.take_over(&mut session, Takeover::NoHandshake);
                    drain_until = Some(Instant::now() + DRAIN_BOUND);
                    continue;
                }
                if backstop.is_some_and(|at| now >= at) {
                    self.take_over(&mut session, Takeover::Overdue);
                    drain_until = Some(Instant::now() + DRAIN_BOUND);
                    continue;
                }
                if now >= next_stop_check {
                    next_stop_check = now + STOP_CHECK;
                    if supervisor_stopped(&self.child) {
                        self.take_over(&mut session, Takeover::Stopped);
                        drain_until = Some(Instant::now() + DRAIN_BOUND);
                        continue;
                    }
                }
            }
            let stdin_pending = self.control.is_some() && stdin_sent < self.stdin.len();
            let mut wake_at = drain_until.unwrap_or(next_stop_check);
            if drain_until.is_none()
                && let Some(at) = backstop
            {
                wake_at = wake_at.min(at);
            }
            if let Some((at, _)) = clock_due {
                wake_at = wake_at.min(at);
            }
            if drain_until.is_none() && !session.said_hello() {
                wake_at = wake_at.min(handshake_due);
            }
            let timeout = PollTimeout::try_from(wake_at.saturating_duration_since(now))
                .unwrap_or(PollTimeout::MAX);

            let (output_ready, errors_ready, reports_ready, wake_ready, stdin_ready) = {
                let mut fds = Vec::with_capacity(5);
                let output_slot = slot(
                    output_open,
                    PollFd::new(self.output.as_fd(), PollFlags::POLLIN),
                    &mut fds,
                );
                let errors_slot = match &self.errors {
                    Some(errors) => slot(
                        errors_open,
                        PollFd::new(errors.as_fd(), PollFlags::POLLIN),
                        &mut fds,
                    ),
                    None => None,
                };
                let reports_slot = slot(
                    reports_open,
                    PollFd::new(self.reports.as_fd(), PollFlags::POLLIN),
                    &mut fds,
                );
                let wake_slot = slot(
                    wake_open,
                    PollFd::new(self.wake.as_fd(), PollFlags::POLLIN),
                    &mut fds,
                );
                let stdin_slot = match &self.control {
                    Some(control) => slot(
                        stdin_pending,
                        PollFd::new(control.as_fd(), PollFlags::POLLOUT),
                        &mut fds,
                    ),
                    None => None,
                };
                match poll(&mut fds, timeout) {
                    Ok(_) => {}
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(errno) => {
                        session.note(&format!("poll failed: {errno}"));
                        self.take_over(&mut session, Takeover::Broken);
                        break;
                    }
                }
                let ready = |slot: Option<usize>| {
                    slot.and_then(|i| fds.get(i))
                        .and_then(PollFd::revents)
                        .is_some_and(|r| !r.is_empty())
                };
                (
                    ready(output_slot),
                    ready(errors_slot),
                    ready(reports_slot),
                    ready(wake_slot),
                    ready(stdin_slot),
                )
            };

            if output_ready {
                match self.output.read(&mut buf) {
                    Ok(0) => {
                        output_open = false;
                        if let Some(observer) = &self.observer
                            && let Some(after) = lines.flush(&|l| observer.see(l))
                        {
                            end_at = earliest_at(end_at, after);
                        }
                    }
                    Ok(n) => {
                        last_output = Some(Instant::now());
                        self.capture.push(&buf[..n]);
                        if let Some(stdout) = &mut self.stdout {
                            stdout.push(&buf[..n]);
                        }
                        if let Some(observer) = &self.observer
                            && let Some(after) = lines.push(&buf[..n], &|l| observer.see(l))
                        {
                            end_at = earliest_at(end_at, after);
                        }
                    }
                    Err(error) if error.kind() == ErrorKind::Interrupted => {}
                    Err(_) => output_open = false,
                }
            }
            if errors_ready && let Some(errors) = &mut self.errors {
                match errors.read(&mut buf) {
                    Ok(0) => errors_open = false,
                    Ok(n) => {
                        last_output = Some(Instant::now());
                        self.capture.push(&buf[..n]);
                    }
                    Err(error) if error.kind() == ErrorKind::Interrupted => {}
                    Err(_) => errors_open = false,
                }
            }
            if wake_ready {
                match self.wake.read(&mut buf) {
                    Ok(0) | Err(_) => wake_open = false,
                    Ok(_) => {}
                }
            }
            if stdin_ready && let Some(control) = &mut self.control {
                match control.write(&self.stdin[stdin_sent..]) {
                    Ok(n) => stdin_sent += n,
                    Err(error)
                        if matches!(
                            error.kind(),
                            ErrorKind::WouldBlock | ErrorKind::Interrupted
                        ) => {}
                    // The supervisor is gone; what it did is in its reports.
                    Err(_) => stdin_sent = self.stdin.len(),
                }
            }
            if reports_ready {
                match self.reports.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        reports_open = false;
                        session.take_line(&mut line);
                        // The supervisor is exiting. If it ended cleanly,
                        // every process it supervised is gone and what is
                        // left in the output pipes is read, briefly; if not,
                        // the run is cleaned up first.
                        session.status = wait_bounded(&mut self.child);
                        if session.takeover.is_none() && !ended_cleanly(&session) {
                            self.take_over(&mut session, Takeover::Broken);
                        }
                        drain_until = Some(Instant::now() + DRAIN_BOUND);
                    }
                    Ok(n) => {
                        for &byte in &buf[..n] {
                            if byte == b'\n' {
                                let had_exit = session.exited().is_some();
                                session.take_line(&mut line);
                                if !had_exit && session.exited().is_some() {
                                    // The main process ended; the cleanup
                                    // of what it left takes at most the
                                    // grace and the kill rounds.
                                    let late = Instant::now()
                                        .checked_add(self.grace)
                                        .and_then(|t| t.checked_add(CLEANUP_SLACK));
                                    backstop = match (backstop, late) {
                                        (Some(a), Some(b)) => Some(a.max(b)),
                                        (a, b) => a.or(b),
                                    };
                                }
                            } else if line.len() < REPORT_LINE_MAX {
                                line.push(byte);
                            }
                        }
                    }
                }
            }
        }
        // The supervisor has exited (or was killed); the control pipe is of
        // no more use.
        self.control = None;
        if session.status.is_none() {
            session.status = wait_bounded(&mut self.child);
            if session.takeover.is_none() && !ended_cleanly(&session) {
                self.take_over(&mut session, Takeover::Broken);
            }
        }
        session
    }

    /// Kills the supervisor and every process of the run the runner can find:
    /// the supervisor's session (every process that did not start a session
    /// of its own stays in it) and every process carrying the run's marker.
    /// Rounds go on until one finds nobody, bounded by [`TAKEOVER_BOUND`].
    fn take_over(&mut self, session: &mut Session, why: Takeover) {
        session.takeover = Some(why);
        let supervisor = self.child.id();
        self.child.kill();
        if let Ok(status) = self.child.wait() {
            session.status = Some(status);
        }
        let me = i32::try_from(std::process::id()).unwrap_or(i32::MAX);
        let give_up = Instant::now() + TAKEOVER_BOUND;
        let mut seen: Vec<i32> = Vec::new();
        loop {
            let mut found = tree::in_session(supervisor, me);
            found.extend(tree::carrying_marker(&self.marker, me));
            found.sort_unstable();
            found.dedup();
            if found.is_empty() {
                session.swept.survivors = 0;
                break;
            }
            for pid in &found {
                if !seen.contains(pid) {
                    seen.push(*pid);
                    if session.swept.listed.len() < KILLED_LISTED_MAX {
                        session.swept.listed.push(KilledProcess {
                            pid: *pid,
                            command: tree::command_line(*pid, KILLED_COMMAND_MAX),
                        });
                    }
                }
                let _ = process::signal_process(*pid, Signal::SIGKILL);
            }
            session.swept.survivors = u32::try_from(found.len()).unwrap_or(u32::MAX);
            if Instant::now() >= give_up {
                break;
            }
            std::thread::sleep(KILL_ROUND);
        }
        session.swept.killed = u32::try_from(seen.len()).unwrap_or(u32::MAX);
    }

    /// Turns what happened into an outcome, trusting a report only where the
    /// supervisor's exit status, which no process of the run can forge,
    /// agrees with it.
    fn conclude(self, session: Session) -> ExecOutcome {
        let Running {
            capture,
            stdout,
            started_at,
            t0,
            sandboxed,
            supervisor,
            ..
        } = self;
        let output = capture.finish();
        let failed = |kind, message: String| {
            let output = (output.total_bytes > 0).then(|| output.clone());
            ExecOutcome::Failed(ToolError {
                kind,
                message,
                exit: None,
                duration: t0.elapsed(),
                output,
            })
        };
        let said = || {
            let detail = session.diagnostics.trim();
            if detail.is_empty() {
                String::new()
            } else {
                format!(
                    " (it said: {})",
                    detail.chars().take(500).collect::<String>()
                )
            }
        };
        let killed_note = || {
            if session.swept.killed > 0 {
                format!(
                    "; the runner killed {} process(es) of the run{}",
                    session.swept.killed,
                    if session.swept.survivors > 0 {
                        format!(", {} could not be killed", session.swept.survivors)
                    } else {
                        String::new()
                    }
                )
            } else {
                String::new()
            }
        };

        if !session.said_hello() {
            // Not a supervisor: a program that runs its own `main`. Nothing
            // it did is a run's result.
            let how = match (session.takeover, session.status) {
                (Some(Takeover::NoHandshake), _) => format!(
                    "did not answer within {} s and was ended",
                    HANDSHAKE_BOUND.as_secs()
                ),
                (_, Some(status)) => match status.signal() {
                    Some(signal) => format!(
                        "was killed by {} before it answered",
                        crate::outcome::describe_exit(ProcessExit::Signal(signal))
                            .trim_start_matches("killed by ")
                    ),
                    None => format!("ended ({status}) without answering"),
                },
                (_, None) => "could not be waited for".to_owned(),
            };
            return failed(
                ToolErrorKind::SupervisorUnavailable,
                format!(
                    "the supervisor program {} did not answer orch's handshake: it {how}{}{}. Its main does not start the supervisor: {CALL_FIRST} (inside a plain #[test], name a supervisor program instead, SupervisorProgram::Path to the orch-supervisor binary; see orch_process::supervisor)",
                    supervisor.display(),
                    killed_note(),
                    said()
                ),
            );
        }
        let started = session
            .first(|r| matches!(r, Report::Started { .. }).then_some(()))
            .is_some();
        if let Some(why) = session.takeover {
            let how = match (why, session.status) {
                (Takeover::Stopped, _) => "was stopped (SIGSTOP)".to_owned(),
                (Takeover::Overdue, _) => {
                    "did not finish within the timeout, the grace and one second".to_owned()
                }
                (Takeover::Broken, Some(status)) => match status.signal() {
                    Some(signal) => format!(
                        "was killed by {}",
                        crate::outcome::describe_exit(ProcessExit::Signal(signal))
                            .trim_start_matches("killed by ")
                    ),
                    None if !started => {
                        format!("ended ({status}) without starting the program")
                    }
                    None => format!("ended ({status}) without finishing its report"),
                },
                // Concluded above (no handshake); kept for the match.
                (Takeover::NoHandshake, _) => "did not answer orch's handshake".to_owned(),
                (Takeover::Broken, None) => "could not be waited for (is SIGCHLD ignored in this process? call orch_process::exec::restore_sigchld_default at start-up)".to_owned(),
            };
            return failed(
                ToolErrorKind::SupervisorFailed,
                format!(
                    "the supervisor {how}, so nothing it reported is trusted{}{}; a process of the run may have attacked it, or the host killed it: retry, and check the run's output",
                    killed_note(),
                    said()
                ),
            );
        }

        let class = session
            .status
            .and_then(|status| status.code())
            .and_then(Class::from_exit_code);
        let Some(class) = class else {
            return failed(
                ToolErrorKind::SupervisorFailed,
                format!(
                    "the supervisor ended with an unknown status ({:?}){}; this is a bug or the host killed it, retry",
                    session.status,
                    said()
                ),
            );
        };
        match class {
            Class::Fatal => {
                let message = session
                    .first(|r| match r {
                        Report::Fatal { message } => Some(message.clone()),
                        Report::Hello
                        | Report::Started { .. }
                        | Report::Sandboxed { .. }
                        | Report::SpawnFailed { .. }
                        | Report::Warning { .. }
                        | Report::Exited { .. }
                        | Report::Done { .. } => None,
                    })
                    .unwrap_or_else(|| {
                        "the main process could not be reaped (it would not die)".to_owned()
                    });
                failed(
                    ToolErrorKind::SupervisorFailed,
                    format!("the supervisor failed: {message}{}", said()),
                )
            }
            Class::SpawnFailed => {
                let spawn = session.first(|r| match r {
                    Report::SpawnFailed { kind, message } => Some((*kind, message.clone())),
                    Report::Hello
                    | Report::Started { .. }
                    | Report::Sandboxed { .. }
                    | Report::Fatal { .. }
                    | Report::Warning { .. }
                    | Report::Exited { .. }
                    | Report::Done { .. } => None,
                });
                let Some((kind, message)) = spawn else {
                    return failed(
                        ToolErrorKind::SupervisorFailed,
                        format!(
                            "the supervisor could not start the program but did not say why{}; retry",
                            said()
                        ),
                    );
                };
                let (kind, advice) = match kind {
                    SpawnFailure::WorkingDir => (
                        ToolErrorKind::WorkingDirMissing,
                        "check the repository's checkout path",
                    ),
                    SpawnFailure::NotFound => (
                        ToolErrorKind::CommandNotFound,
                        "check that the program is installed and on PATH",
                    ),
                    SpawnFailure::PermissionDenied => (
                        ToolErrorKind::CommandNotExecutable,
                        "check that the program is executable",
                    ),
                    SpawnFailure::Other => (
                        ToolErrorKind::SpawnFailed,
                        "check the repository's checkout and the host",
                    ),
                    SpawnFailure::Sandbox => (
                        ToolErrorKind::SandboxUnavailable,
                        "run on a kernel with Landlock (ABI 6, Linux 6.12 or later), or set ORCH_SANDBOX=best-effort to run with what this kernel enforces (recorded with every run), or ORCH_SANDBOX=off",
                    ),
                };
                failed(kind, format!("{message}; {advice}"))
            }
            Class::Passed | Class::NotPassed | Class::Cancelled => {
                let Some(ExitReport {
                    code,
                    signal,
                    duration_ns,
                    timed_out,
                    cancelled,
                }) = session.exited()
                else {
                    return failed(
                        ToolErrorKind::SupervisorFailed,
                        format!(
                            "the supervisor ended without reporting how the program ended{}; retry",
                            said()
                        ),
                    );
                };
                let exit = match (code, signal) {
                    (Some(code), None) => Some(ProcessExit::Code(code)),
                    (None, Some(signal)) => Some(ProcessExit::Signal(signal)),
                    (Some(_), Some(_)) | (None, None) => None,
                };
                let implied = Class::of_exit(code, timed_out, cancelled);
                let tampered = if implied != class {
                    Some(format!(
                        "its report says {implied:?} but its exit status says {class:?}"
                    ))
                } else if class == Class::Cancelled && !session.cancelled {
                    Some("it reports a cancel that the runner never asked for".to_owned())
                } else if exit.is_none() {
                    Some("its report names neither an exit code nor a signal".to_owned())
                } else {
                    None
                };
                let (Some(exit), None) = (exit, tampered.as_ref()) else {
                    return failed(
                        ToolErrorKind::Tampered,
                        format!(
                            "the supervisor's report does not match how it ended ({}): something wrote into the report pipe, so the run is not trusted and is never a pass; check the program for attempts to forge its result",
                            tampered.unwrap_or_default()
                        ),
                    );
                };
                let sandbox = session.first(|r| match r {
                    Report::Sandboxed { level } => Some(*level),
                    Report::Hello
                    | Report::Started { .. }
                    | Report::SpawnFailed { .. }
                    | Report::Fatal { .. }
                    | Report::Warning { .. }
                    | Report::Exited { .. }
                    | Report::Done { .. } => None,
                });
                let sandbox = match (sandboxed, sandbox) {
                    (true, Some(level)) => level,
                    (false, _) => SandboxLevel::unconfined(),
                    (true, None) => {
                        return failed(
                            ToolErrorKind::SupervisorFailed,
                            format!(
                                "the supervisor ran the program without confirming its sandbox{}; the run is not trusted: check that the supervisor binary was built with this runner",
                                said()
                            ),
                        );
                    }
                };
                let ending = if cancelled {
                    match session.ended_by {
                        Some(RunnerEnd::Caller) | None => Ending::Cancelled(exit),
                        Some(RunnerEnd::Observer) => Ending::Dismissed(exit),
                        Some(RunnerEnd::Stall(stall)) => Ending::Stalled(exit, stall),
                    }
                } else if timed_out {
                    Ending::TimedOut(exit)
                } else {
                    Ending::Exited(exit)
                };
                ExecOutcome::Finished(Finished {
                    ending,
                    duration: Duration::from_nanos(duration_ns),
                    started_at,
                    output,
                    stdout: stdout.map(StdoutCapture::finish),
                    cleanup: session.done().unwrap_or_default(),
                    sandbox,
                })
            }
        }
    }
}

/// The earlier of an end already asked for and one `after` from now.
fn earliest_at(at: Option<Instant>, after: Duration) -> Option<Instant> {
    let asked = Instant::now().checked_add(after);
    match (at, asked) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Adds `fd` to the poll set when `open`; returns its index.
fn slot<'a>(open: bool, fd: PollFd<'a>, fds: &mut Vec<PollFd<'a>>) -> Option<usize> {
    open.then(|| {
        fds.push(fd);
        fds.len() - 1
    })
}

/// Whether the supervisor ended as it does when it finished its work: an
/// exit code it uses, and a `done` report when it ran the program.
fn ended_cleanly(session: &Session) -> bool {
    let Some(class) = session
        .status
        .and_then(|status| status.code())
        .and_then(Class::from_exit_code)
    else {
        return false;
    };
    match class {
        Class::Passed | Class::NotPassed | Class::Cancelled => session.done().is_some(),
        Class::SpawnFailed | Class::Fatal => true,
    }
}

/// Whether the supervisor is stopped: one `waitid(WSTOPPED | WNOHANG |
/// WNOWAIT)` on our own child, which leaves its state as it is.
fn supervisor_stopped(child: &SupervisorProcess) -> bool {
    use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
    let flags = WaitPidFlag::WSTOPPED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    matches!(
        waitid(Id::Pid(nix::unistd::Pid::from_raw(child.id())), flags),
        Ok(WaitStatus::Stopped(..))
    )
}

/// Waits for the supervisor, which has closed its report pipe and is exiting;
/// kills it if it does not within a second.
fn wait_bounded(child: &mut SupervisorProcess) -> Option<ExitStatus> {
    match child.wait_for_exit(Duration::from_secs(1)) {
        Ok(Some(status)) => Some(status),
        Ok(None) => {
            child.kill();
            child.wait().ok()
        }
        Err(_) => None,
    }
}
