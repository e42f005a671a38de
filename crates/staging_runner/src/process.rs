//! The one place in the workspace that creates processes, and the thin
//! wrappers over the few process syscalls the runner and its supervisor use.
//!
//! `command-group` (which puts the suite in its own process group) is used
//! here and nowhere else, so that swapping it for its successor `process-wrap`
//! touches this file only. Nothing else from it is used: it has no
//! kill-on-drop on Unix and its `wait_with_output` reads pipes to the end
//! without a timeout, which a grandchild holding the pipe turns into a hang.

use std::ffi::{OsStr, OsString};
use std::io::{self, PipeWriter};
use std::os::fd::BorrowedFd;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, ChildStderr, ChildStdin, Command, ExitStatus, Stdio};

use command_group::CommandGroup;
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

/// The shell that runs a suite: POSIX's location, not a `PATH` lookup, so a
/// suite's environment cannot swap it.
pub(crate) const SHELL: &str = "/bin/sh";

/// A running supervisor and the runner's ends of its pipes.
#[derive(Debug)]
pub(crate) struct SupervisorChild {
    pub(crate) child: Child,
    /// Control pipe: dropping it tells the supervisor to end the suite.
    pub(crate) control: ChildStdin,
    /// Report pipe.
    pub(crate) reports: ChildStderr,
}

/// Starts the supervisor `program` with `argv`, exactly `env` as its
/// environment (the suite inherits it), `output` as its stdout, and piped
/// stdin (control) and stderr (reports).
///
/// # Errors
///
/// The I/O error of the spawn (program missing, not executable, ...).
#[expect(
    clippy::disallowed_methods,
    reason = "the process module is the one place allowed to create processes"
)]
pub(crate) fn spawn_supervisor(
    program: &Path,
    argv: &[OsString],
    env: &[(OsString, OsString)],
    output: PipeWriter,
) -> io::Result<SupervisorChild> {
    let mut command = Command::new(program);
    command
        .args(argv)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::from(output))
        .stderr(Stdio::piped());
    let mut child = command.spawn()?;
    // The command holds our copy of the output pipe's write end: drop it now,
    // or the runner would never see end-of-file.
    drop(command);
    let (Some(control), Some(reports)) = (child.stdin.take(), child.stderr.take()) else {
        // Unreachable with piped stdin and stderr; end the child rather than
        // panic, and report it as a spawn error.
        let _ = child.kill();
        let _ = child.wait();
        return Err(io::Error::other("the supervisor's pipes were not created"));
    };
    Ok(SupervisorChild {
        child,
        control,
        reports,
    })
}

/// Spawns `/bin/sh -c command` in `dir` as the leader of a new process group,
/// with stdin from `/dev/null` and both stdout and stderr on `output`.
/// Returns the leader's pid, which is also the group id.
///
/// The returned pid is not waited for here: the supervisor reaps every child
/// itself with [`wait_any`], so the standard library's handle is dropped.
///
/// # Errors
///
/// The I/O error of the spawn (directory missing, shell missing, ...).
#[expect(
    clippy::disallowed_methods,
    reason = "the process module is the one place allowed to create processes"
)]
#[expect(
    clippy::zombie_processes,
    reason = "the supervisor reaps every child with waitpid(-1) in its reaper thread"
)]
pub(crate) fn spawn_suite(command: &OsStr, dir: &Path, output: BorrowedFd<'_>) -> io::Result<i32> {
    let stdout = output.try_clone_to_owned()?;
    let stderr = output.try_clone_to_owned()?;
    let mut shell = Command::new(SHELL);
    shell
        .arg("-c")
        .arg(command)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(stderr));
    let child = shell.group_spawn()?.into_inner();
    i32::try_from(child.id()).map_err(|_| io::Error::other("pid out of range"))
}

/// What [`wait_any`] found.
#[derive(Debug)]
pub(crate) enum Reaped {
    /// A child was reaped with this exact status.
    Child { pid: i32, status: ExitStatus },
    /// The caller has no children left (`ECHILD`).
    NoChildren,
    /// `waitpid` failed otherwise.
    Failed(io::Error),
}

/// Blocks until any child of this process ends, and reaps it.
///
/// `nix`'s `waitpid` cannot represent a death by a real-time signal (it fails
/// with `EINVAL` after the child was already reaped, losing the status), and
/// the exit must be reported exactly; hence the raw call.
#[expect(
    unsafe_code,
    reason = "libc::waitpid is the only exact way to learn a status; nix's wrapper loses real-time signals"
)]
pub(crate) fn wait_any() -> Reaped {
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: waitpid writes one c_int through the pointer, which points to
        // a live local of that type; it keeps no reference after returning.
        let pid = unsafe { libc::waitpid(-1, &raw mut status, libc::__WALL) };
        if pid > 0 {
            return Reaped::Child {
                pid,
                status: ExitStatus::from_raw(status),
            };
        }
        let error = io::Error::last_os_error();
        match error.raw_os_error() {
            Some(libc::EINTR) => {}
            Some(libc::ECHILD) => return Reaped::NoChildren,
            _ => return Reaped::Failed(error),
        }
    }
}

/// Puts SIGCHLD, SIGTERM, SIGINT, SIGHUP and SIGQUIT back to their default
/// action in the supervisor (and so in the suite it spawns). SIGPIPE stays
/// ignored in the supervisor, so that a report written to a dead runner
/// cannot kill it before it has cleaned up; the standard library resets
/// SIGPIPE for the suite itself.
#[expect(
    unsafe_code,
    reason = "installing SIG_DFL has no safe wrapper in nix (signal() is unsafe for handlers)"
)]
pub(crate) fn reset_signal_dispositions() {
    for signal in [
        libc::SIGCHLD,
        libc::SIGTERM,
        libc::SIGINT,
        libc::SIGHUP,
        libc::SIGQUIT,
    ] {
        // SAFETY: SIG_DFL installs no handler code, so none of the
        // async-signal-safety obligations of a handler apply; the call only
        // changes this process's disposition for a valid signal number.
        unsafe {
            libc::signal(signal, libc::SIG_DFL);
        }
    }
}

/// Whether this process has any child left (running or a zombie), without
/// reaping it: one `waitid(P_ALL, WNOHANG | WNOWAIT)`, cheaper than walking
/// `/proc` on the common path where the suite left nothing behind.
pub(crate) fn has_children() -> bool {
    use nix::sys::wait::{Id, WaitPidFlag, waitid};
    // `__WALL`: children whose exit signal is not SIGCHLD count too.
    let flags =
        WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT | WaitPidFlag::__WALL;
    // Any answer but ECHILD (a status, "still alive", even a status nix cannot
    // represent) means a child exists.
    !matches!(waitid(Id::All, flags), Err(Errno::ECHILD))
}

/// Sends `signal` to process group `pgid`. `Ok(false)` when the group is
/// already gone (`ESRCH`).
pub(crate) fn signal_group(pgid: i32, signal: Signal) -> nix::Result<bool> {
    match killpg(Pid::from_raw(pgid), signal) {
        Ok(()) => Ok(true),
        Err(Errno::ESRCH) => Ok(false),
        Err(other) => Err(other),
    }
}

/// Sends `signal` to process `pid`. `Ok(false)` when it is already gone.
pub(crate) fn signal_process(pid: i32, signal: Signal) -> nix::Result<bool> {
    match kill(Pid::from_raw(pid), signal) {
        Ok(()) => Ok(true),
        Err(Errno::ESRCH) => Ok(false),
        Err(other) => Err(other),
    }
}
