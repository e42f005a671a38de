//! The run's outcome: what the supervisor reported, trusted only where its
//! exit status, which no process of the run can forge, agrees.

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use orch_self_deploy::ProcessExit;

use crate::capture::StdoutCapture;
use crate::outcome::{Ending, ExecOutcome, Finished, ToolError, ToolErrorKind};
use crate::protocol::{Class, Report, SpawnFailure};
use crate::sandbox::SandboxLevel;
use crate::supervisor::HANDSHAKE_BOUND;

use super::{CALL_FIRST, ExitReport, RunnerEnd, Running, Session, Takeover};

impl Running {
    /// Turns what happened into an outcome, trusting a report only where the
    /// supervisor's exit status, which no process of the run can forge,
    /// agrees with it.
    pub(super) fn conclude(self, session: Session) -> ExecOutcome {
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
