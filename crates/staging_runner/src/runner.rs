//! The runner side: start the supervisor, read output and reports in one
//! thread with `poll(2)`, and turn what happened into an [`Outcome`].

use std::ffi::OsString;
use std::io::{self, ErrorKind, PipeReader, Read};
use std::os::fd::AsFd;
use std::process::Child;
use std::time::{Duration, Instant, SystemTime};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;
use orch_self_deploy::ProcessExit;

use crate::capture::Capture;
use crate::outcome::{Executed, Outcome, ToolError, ToolErrorKind};
use crate::process::{self, SupervisorChild};
use crate::protocol::{Report, SpawnFailure, SupervisorArgs};
use crate::spec::RunSpec;

/// After the supervisor's report pipe closes, how long to keep reading output
/// that is still in the pipe. Every writer is dead by then, so this only
/// bounds a pathological case (a survivor the supervisor could not kill).
const DRAIN_BOUND: Duration = Duration::from_millis(500);
/// Beyond timeout + grace, how long the supervisor may take before the runner
/// gives up on it: its own SIGKILL rounds last up to 10 s.
const SUPERVISOR_SLACK: Duration = Duration::from_secs(15);
/// Report lines longer than this are cut (the supervisor writes short lines;
/// this only bounds garbage).
const REPORT_LINE_MAX: usize = 64 * 1024;
/// Read chunk size for the output pipe.
const CHUNK: usize = 64 * 1024;

/// Runs the suite; see [`crate::run`].
pub(crate) fn run(spec: &RunSpec) -> Outcome {
    let started_at = SystemTime::now();
    let t0 = Instant::now();
    let tool_error = |kind: ToolErrorKind, message: String| {
        Outcome::ToolError(ToolError {
            kind,
            message,
            exit: None,
            duration: t0.elapsed(),
            output: None,
        })
    };

    if spec.command.trim().is_empty() {
        return tool_error(
            ToolErrorKind::InvalidCommand,
            "the staging command is empty; set the repository's staging command (an empty suite would pass without testing anything)".to_owned(),
        );
    }
    if spec.command.contains('\0') {
        return tool_error(
            ToolErrorKind::InvalidCommand,
            "the staging command contains a NUL byte, which no shell can receive; fix the repository's staging command".to_owned(),
        );
    }
    if !spec.working_dir.is_dir() {
        return tool_error(
            ToolErrorKind::WorkingDirMissing,
            format!(
                "working directory {} does not exist or is not a directory; check the repository's checkout path",
                spec.working_dir.display()
            ),
        );
    }

    let program = spec.supervisor.resolve();
    let args = SupervisorArgs {
        timeout: spec.timeout,
        grace: spec.grace,
        dir: spec.working_dir.clone(),
        command: OsString::from(&spec.command),
    };
    let env = spec.suite_env(std::env::vars_os());
    let (output, writer) = match io::pipe() {
        Ok(pair) => pair,
        Err(error) => {
            return tool_error(
                ToolErrorKind::SupervisorUnavailable,
                format!(
                    "cannot create the output pipe: {error}; the system is out of file descriptors"
                ),
            );
        }
    };
    let mut capture = Capture::new(spec.limits, spec.sidecar.as_deref());
    let supervisor = match process::spawn_supervisor(&program, &args.to_argv(), &env, writer) {
        Ok(supervisor) => supervisor,
        Err(error) => {
            return tool_error(
                ToolErrorKind::SupervisorUnavailable,
                format!(
                    "cannot start the staging supervisor {}: {error}; check that the program exists and calls orch_staging_runner::supervisor::main_if_requested",
                    program.display()
                ),
            );
        }
    };

    let backstop = spec.timeout.and_then(|timeout| {
        t0.checked_add(timeout)?
            .checked_add(spec.grace)?
            .checked_add(SUPERVISOR_SLACK)
    });
    let session = Session::drive(supervisor, output, &mut capture, backstop, spec.grace);
    conclude(session, capture, started_at, t0)
}

/// Everything the event loop learned.
#[derive(Debug, Default)]
struct Session {
    reports: Vec<Report>,
    /// Report-pipe text that was not a report (a panic message, say).
    diagnostics: String,
    /// The runner had to kill the supervisor.
    abandoned: bool,
    supervisor_exit: Option<std::process::ExitStatus>,
}

impl Session {
    fn drive(
        supervisor: SupervisorChild,
        mut output: PipeReader,
        capture: &mut Capture,
        mut backstop: Option<Instant>,
        grace: Duration,
    ) -> Session {
        let SupervisorChild {
            mut child,
            control,
            mut reports,
        } = supervisor;
        let mut session = Session::default();
        let mut line = Vec::new();
        let mut buf = vec![0u8; CHUNK];
        let mut output_open = true;
        let mut reports_open = true;
        let mut drain_until: Option<Instant> = None;

        loop {
            if !output_open && !reports_open {
                break;
            }
            if drain_until.is_some_and(|until| Instant::now() >= until) {
                break;
            }
            let until = drain_until.or(backstop);
            if drain_until.is_none()
                && let Some(until) = until
                && Instant::now() >= until
            {
                // Only the backstop gets here: the supervisor is stuck.
                session.abandon(&mut child);
                backstop = None;
                drain_until = Some(Instant::now() + DRAIN_BOUND);
                continue;
            }
            let timeout = until.map_or(PollTimeout::NONE, |until| {
                PollTimeout::try_from(until.saturating_duration_since(Instant::now()))
                    .unwrap_or(PollTimeout::MAX)
            });
            let (output_ready, reports_ready) = {
                let mut fds = Vec::with_capacity(2);
                if output_open {
                    fds.push(PollFd::new(output.as_fd(), PollFlags::POLLIN));
                }
                if reports_open {
                    fds.push(PollFd::new(reports.as_fd(), PollFlags::POLLIN));
                }
                match poll(&mut fds, timeout) {
                    Ok(_) => {}
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(errno) => {
                        session
                            .diagnostics
                            .push_str(&format!("poll failed: {errno}\n"));
                        session.abandon(&mut child);
                        break;
                    }
                }
                let ready = |fd: &PollFd<'_>| fd.revents().is_some_and(|r| !r.is_empty());
                let output_ready = output_open && fds.first().is_some_and(ready);
                let reports_ready = reports_open && fds.last().is_some_and(ready);
                (output_ready, reports_ready)
            };
            if output_ready {
                match output.read(&mut buf) {
                    Ok(0) => output_open = false,
                    Ok(n) => capture.push(&buf[..n]),
                    Err(error) if error.kind() == ErrorKind::Interrupted => {}
                    Err(_) => output_open = false,
                }
            }
            if reports_ready {
                match reports.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        reports_open = false;
                        session.take_line(&mut line);
                        // The supervisor is exiting and every process it
                        // supervised is gone: what is left in the output
                        // pipe is read, briefly.
                        drain_until = Some(Instant::now() + DRAIN_BOUND);
                    }
                    Ok(n) => {
                        for &byte in &buf[..n] {
                            if byte == b'\n' {
                                let had_exit = session.exited();
                                session.take_line(&mut line);
                                if !had_exit && session.exited() {
                                    // The suite ended; its cleanup takes at
                                    // most the grace and the kill rounds.
                                    backstop = Instant::now()
                                        .checked_add(grace)
                                        .and_then(|t| t.checked_add(SUPERVISOR_SLACK));
                                }
                            } else if line.len() < REPORT_LINE_MAX {
                                line.push(byte);
                            }
                        }
                    }
                }
            }
        }
        // Dropping the control pipe tells a supervisor that is still running
        // to end the suite; normally it has exited already.
        drop(control);
        drop(output);
        session.supervisor_exit = wait_bounded(&mut child);
        session
    }

    fn take_line(&mut self, line: &mut Vec<u8>) {
        if line.is_empty() {
            return;
        }
        match Report::from_line(line) {
            Some(report) => self.reports.push(report),
            None => {
                if self.diagnostics.len() < REPORT_LINE_MAX {
                    self.diagnostics.push_str(&String::from_utf8_lossy(line));
                    self.diagnostics.push('\n');
                }
            }
        }
        line.clear();
    }

    fn exited(&self) -> bool {
        self.reports
            .iter()
            .any(|r| matches!(r, Report::Exited { .. }))
    }

    /// Kills a supervisor that does not finish, and the suite's group (its id
    /// is still the suite's: the group cannot have emptied while the
    /// supervisor, which reaps its leader, was stuck).
    fn abandon(&mut self, child: &mut Child) {
        self.abandoned = true;
        let _ = child.kill();
        if !self.exited()
            && let Some(pid) = self.reports.iter().find_map(|r| {
                if let Report::Started { pid } = r {
                    Some(*pid)
                } else {
                    None
                }
            })
        {
            let _ = process::signal_group(pid, Signal::SIGKILL);
        }
    }
}

/// Waits for the supervisor, which has closed its report pipe and is exiting;
/// kills it if it does not within a second.
fn wait_bounded(child: &mut Child) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut pause = Duration::from_micros(50);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(10));
            }
            Ok(None) => {
                let _ = child.kill();
                return child.wait().ok();
            }
            Err(_) => return None,
        }
    }
}

/// Turns the reports into an outcome.
fn conclude(session: Session, capture: Capture, started_at: SystemTime, t0: Instant) -> Outcome {
    let last_line = capture.last_line();
    let mut started = false;
    let mut exited = None;
    let mut done = None;
    let mut failure = None;
    for report in &session.reports {
        match report {
            Report::Started { .. } => started = true,
            Report::Exited {
                code,
                signal,
                duration_ns,
                timed_out,
                cancelled,
            } => exited = Some((*code, *signal, *duration_ns, *timed_out, *cancelled)),
            Report::Done { killed, survivors } => done = Some((*killed, *survivors)),
            Report::SpawnFailed { kind, message } => {
                let kind = match kind {
                    SpawnFailure::WorkingDir => ToolErrorKind::WorkingDirMissing,
                    SpawnFailure::Other => ToolErrorKind::SpawnFailed,
                };
                failure.get_or_insert((
                    kind,
                    format!("{message}; check the repository's checkout and the host"),
                ));
            }
            Report::Fatal { message } => {
                failure.get_or_insert((
                    ToolErrorKind::SupervisorFailed,
                    format!("the staging supervisor failed: {message}"),
                ));
            }
        }
    }

    let output = capture.finish();
    let tool_error = |kind, message: String, exit: Option<ProcessExit>, duration, output| {
        Outcome::ToolError(ToolError {
            kind,
            message,
            exit,
            duration,
            output,
        })
    };

    let Some((code, signal, duration_ns, timed_out, cancelled)) = exited else {
        let (kind, message) = failure.unwrap_or_else(|| {
            let how = match session.supervisor_exit {
                Some(status) => format!("it ended with {status}"),
                None => "it could not be waited for".to_owned(),
            };
            let what = if started {
                "the staging supervisor ended before the suite did"
            } else {
                "the staging supervisor ended without starting the suite"
            };
            let detail = session.diagnostics.trim();
            let detail = if detail.is_empty() {
                String::new()
            } else {
                format!(
                    " (it said: {})",
                    detail.chars().take(500).collect::<String>()
                )
            };
            (
                ToolErrorKind::SupervisorFailed,
                format!("{what}: {how}{detail}; this is a bug or the host killed it, retry"),
            )
        });
        let output = (output.total_bytes > 0).then_some(output);
        return tool_error(kind, message, None, t0.elapsed(), output);
    };

    let exit = match (code, signal) {
        (Some(code), _) => ProcessExit::Code(code),
        (None, Some(signal)) => ProcessExit::Signal(signal),
        (None, None) => ProcessExit::Code(-1),
    };
    let duration = Duration::from_nanos(duration_ns);
    if cancelled && !timed_out {
        return tool_error(
            ToolErrorKind::SupervisorFailed,
            "the suite was cancelled before it ended (the runner stopped supervising it); retry"
                .to_owned(),
            Some(exit),
            duration,
            Some(output),
        );
    }
    if !timed_out && let ProcessExit::Code(code @ (126 | 127)) = exit {
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
        let said = if last_line.is_empty() {
            String::new()
        } else {
            format!(": {last_line}")
        };
        return tool_error(
            kind,
            format!(
                "{what} (exit {code}){said}; check the staging command and that its program is installed and executable"
            ),
            Some(exit),
            duration,
            Some(output),
        );
    }
    let (killed, survivors) = done.unwrap_or((0, 0));
    Outcome::Executed(Executed {
        exit,
        timed_out,
        duration,
        started_at,
        output,
        killed,
        survivors: if session.abandoned {
            survivors.max(1)
        } else {
            survivors
        },
    })
}
