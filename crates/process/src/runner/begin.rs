//! Starting a run: the spec checked, the pipes and the marker made, the
//! supervisor started with its arguments.

use std::ffi::OsString;
use std::io::{self};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::cancel::Canceller;
use crate::capture::{Capture, StdoutCapture};
use crate::outcome::{ToolError, ToolErrorKind};
use crate::process::{self, SupervisorFds};
use crate::protocol::{MAX_STDIN_BYTES, Program, SUPERVISOR_ARG, SupervisorArgs};
use crate::spec::{ExecSpec, Streams};

use super::{CALL_FIRST, MARKER_KEY, Running};

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
