//! The runner side of the machinery: start the supervisor, drive one run
//! with `poll(2)` in the calling thread, check what the supervisor reports
//! against how it ended, and take the cleanup over when the supervisor
//! cannot do it (it was killed, stopped, or never finished). Starting a run
//! is `begin`, the event loop and the takeover are here, and turning what
//! happened into an outcome is `conclude`.

use std::io::PipeWriter;
use std::io::{ErrorKind, PipeReader, Read, Write as _};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::{Duration, Instant, SystemTime};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;

use crate::cancel::Canceller;
use crate::capture::{Capture, StdoutCapture};
use crate::outcome::{Cleanup, ExecOutcome};
use crate::process::{self, SupervisorProcess};
use crate::protocol::{Class, KILLED_COMMAND_MAX, KILLED_LISTED_MAX, KilledProcess, Report};
use crate::spec::{LineAction, LineObserver, OBSERVED_LINE_MAX, OutputClocks, Stall};
use crate::supervisor::HANDSHAKE_BOUND;
use crate::supervisor::KILL_ROUND;
use crate::tree;

mod begin;
mod conclude;

pub(crate) use begin::start;

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

/// What a program that forgot the supervisor's entry point must do.
const CALL_FIRST: &str = "call orch_process::supervisor::main_if_requested() first in main";

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
