//! The one place in the workspace that creates processes, and the thin
//! wrappers over the few process syscalls the runner and its supervisor use.
//!
//! The supervisor is started with `posix_spawn` (nix), its descriptors placed
//! by `dup2` file actions; the supervisor starts its child with the standard
//! library (`CommandExt::process_group`), which uses `posix_spawn` too. No
//! `fork` and no `pre_exec` hook anywhere: a run costs the same whatever the
//! size of the embedding process.

use std::ffi::OsString;
use std::io::{self, PipeReader, PipeWriter};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{ChildStdin, Command, ExitStatus, Stdio};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

use crate::protocol::{Program, REPORT_FD};

/// The shell that runs a shell command: POSIX's location, not a `PATH`
/// lookup, so a child's environment cannot swap it.
pub(crate) const SHELL: &str = "/bin/sh";

/// A running supervisor, reaped only through this handle, so its pid cannot
/// be reused while the handle may still signal it.
#[derive(Debug)]
pub(crate) struct SupervisorProcess {
    pid: i32,
    status: Option<ExitStatus>,
    /// A pidfd (Linux 5.3+), readable once the process has exited: an exact
    /// wake-up instead of sleeping between `waitpid` polls.
    pidfd: Option<OwnedFd>,
}

impl SupervisorProcess {
    /// Waits up to `limit` for it to end, without reaping it: at once when a
    /// pidfd is available, else by polling `waitpid` with growing sleeps.
    pub(crate) fn wait_for_exit(
        &mut self,
        limit: std::time::Duration,
    ) -> io::Result<Option<ExitStatus>> {
        use std::time::Instant;
        let deadline = Instant::now() + limit;
        if let Some(pidfd) = &self.pidfd {
            use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
                let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
                match poll(&mut fds, timeout) {
                    Err(nix::errno::Errno::EINTR) => {}
                    Ok(_) | Err(_) => break,
                }
            }
            return self.try_wait();
        }
        let mut pause = std::time::Duration::from_micros(50);
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(std::time::Duration::from_millis(10));
        }
    }

    /// Its process id.
    pub(crate) fn id(&self) -> i32 {
        self.pid
    }

    /// Its exit status, if it has ended (reaping it).
    pub(crate) fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            loop {
                match wait_raw(self.pid, libc::WNOHANG) {
                    Ok(found) => {
                        self.status = found.map(|(_, status)| status);
                        break;
                    }
                    Err(error) if error.raw_os_error() == Some(libc::EINTR) => {}
                    Err(error) => return Err(error),
                }
            }
        }
        Ok(self.status)
    }

    /// Waits for it to end (reaping it).
    pub(crate) fn wait(&mut self) -> io::Result<ExitStatus> {
        loop {
            if let Some(status) = self.status {
                return Ok(status);
            }
            match wait_raw(self.pid, 0) {
                Ok(found) => self.status = found.map(|(_, status)| status),
                Err(error) if error.raw_os_error() == Some(libc::EINTR) => {}
                Err(error) => return Err(error),
            }
        }
    }

    /// SIGKILL, unless it was already reaped.
    pub(crate) fn kill(&mut self) {
        if self.status.is_none() {
            let _ = signal_process(self.pid, Signal::SIGKILL);
        }
    }
}

/// The descriptors the supervisor gets.
#[derive(Debug)]
pub(crate) struct SupervisorFds {
    /// Its fd 0: the control pipe's read end.
    pub(crate) control: PipeReader,
    /// Its fd 1: the child's stdout.
    pub(crate) stdout: PipeWriter,
    /// Its fd 2: the child's stderr (`None`: the same pipe as stdout).
    pub(crate) stderr: Option<PipeWriter>,
    /// Its fd 3: the report pipe.
    pub(crate) reports: PipeWriter,
}

/// Starts the supervisor `program` with `argv`, exactly `env` as its
/// environment (the child inherits it), and `fds` as its descriptors 0 to 3.
///
/// `posix_spawn` with `dup2` file actions, not `fork`: the embedding process
/// may be large and many-threaded (a server), and `fork` copies its page
/// tables on every run, while `posix_spawn` shares its memory until `exec`.
/// The sources are first duplicated above the four targets, so no `dup2`
/// can overwrite a source still to be used; nothing else of this process
/// reaches the supervisor except a descriptor someone left without
/// close-on-exec, and the supervisor closes those first thing. The signal
/// mask is emptied and SIGPIPE set back to its default, as the standard
/// library does for its children.
///
/// # Errors
///
/// The error of the spawn (program missing, not executable, ...), or of
/// preparing it (an argument or variable with a NUL byte).
#[expect(
    clippy::disallowed_methods,
    reason = "the process module is the one place allowed to create processes"
)]
pub(crate) fn spawn_supervisor(
    program: &Path,
    argv: &[OsString],
    env: &[(OsString, OsString)],
    fds: SupervisorFds,
) -> io::Result<SupervisorProcess> {
    use nix::fcntl::{FcntlArg, fcntl};
    use nix::spawn::{PosixSpawnAttr, PosixSpawnFileActions, PosixSpawnFlags, posix_spawn};
    use nix::sys::signal::SigSet;
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;

    let nul = |what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what} contains a NUL byte"),
        )
    };
    let cstring = |bytes: &[u8], what: &str| CString::new(bytes).map_err(|_| nul(what));
    let path = cstring(program.as_os_str().as_bytes(), "the supervisor's path")?;
    let mut args = vec![path.clone()];
    for arg in argv {
        args.push(cstring(arg.as_bytes(), "an argument")?);
    }
    let mut envp = Vec::with_capacity(env.len());
    for (key, value) in env {
        let mut entry = key.as_bytes().to_vec();
        entry.push(b'=');
        entry.extend_from_slice(value.as_bytes());
        envp.push(cstring(&entry, "an environment variable")?);
    }

    let stderr = match &fds.stderr {
        Some(stderr) => stderr.as_fd(),
        None => fds.stdout.as_fd(),
    };
    // Above every target, close-on-exec in this process; the child's dup2
    // clears the flag on the target.
    let high = |fd: BorrowedFd<'_>| -> io::Result<OwnedFd> {
        let raw = fcntl(fd, FcntlArg::F_DUPFD_CLOEXEC(REPORT_FD + 1)).map_err(io::Error::from)?;
        // SAFETY: F_DUPFD_CLOEXEC returned a new descriptor that nothing else
        // owns.
        Ok(unsafe_owned(raw))
    };
    let sources = [
        high(fds.control.as_fd())?,
        high(fds.stdout.as_fd())?,
        high(stderr)?,
        high(fds.reports.as_fd())?,
    ];
    let mut actions = PosixSpawnFileActions::init().map_err(io::Error::from)?;
    for (target, source) in (0..).zip(&sources) {
        actions
            .add_dup2(source.as_raw_fd(), target)
            .map_err(io::Error::from)?;
    }
    let mut attr = PosixSpawnAttr::init().map_err(io::Error::from)?;
    let mut sigpipe = SigSet::empty();
    sigpipe.add(Signal::SIGPIPE);
    attr.set_sigdefault(&sigpipe).map_err(io::Error::from)?;
    attr.set_sigmask(&SigSet::empty())
        .map_err(io::Error::from)?;
    attr.set_flags(
        PosixSpawnFlags::POSIX_SPAWN_SETSIGDEF | PosixSpawnFlags::POSIX_SPAWN_SETSIGMASK,
    )
    .map_err(io::Error::from)?;
    let pid =
        posix_spawn(path.as_c_str(), &actions, &attr, &args, &envp).map_err(io::Error::from)?;
    // Our copies of the pipes' write ends close here (sources and fds drop),
    // or the runner would never see end-of-file.
    drop(sources);
    drop(fds);
    Ok(SupervisorProcess {
        pid: pid.as_raw(),
        status: None,
        pidfd: pidfd_open(pid.as_raw()),
    })
}

/// `pidfd_open(pid, 0)`; `None` where the kernel lacks it (before 5.3).
#[expect(
    unsafe_code,
    reason = "pidfd_open has no wrapper in nix or the standard library yet"
)]
fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: a plain system call with integer arguments; on success it
    // returns a new descriptor that nothing else owns.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = std::os::fd::RawFd::try_from(fd)
        .ok()
        .filter(|fd| *fd >= 0)?;
    Some(unsafe_owned(fd))
}

/// Adopts a descriptor a syscall just returned.
#[expect(
    unsafe_code,
    reason = "adopting a fresh descriptor by number is what from_raw_fd is for"
)]
fn unsafe_owned(raw: std::os::fd::RawFd) -> OwnedFd {
    // SAFETY: the caller passes a descriptor that a syscall has just created
    // for this process and that nothing else owns.
    unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) }
}

/// What the supervisor's child reads on stdin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChildStdinMode {
    /// `/dev/null`.
    Null,
    /// A pipe, whose write end is returned.
    Piped,
}

/// A spawned child: its pid (also its process group id) and stdin's write end.
#[derive(Debug)]
pub(crate) struct SpawnedChild {
    pub(crate) pid: i32,
    pub(crate) stdin: Option<ChildStdin>,
}

/// Spawns `program` in `dir` as the leader of a new process group, with
/// `stdout` and `stderr` as its descriptors 1 and 2 and nothing else open
/// (the supervisor closed everything else before).
///
/// No `pre_exec` hook: without one the standard library starts the child
/// with `posix_spawn` rather than `fork`, which measured about 0.8 ms less
/// per run. This is also why the child carries no `PR_SET_PDEATHSIG` (only
/// a hook could set it): should the supervisor die, the runner kills the
/// child through the supervisor's session, which the child, a group leader,
/// cannot leave.
///
/// The returned pid is not waited for here: the supervisor reaps every child
/// itself with [`wait_any`], so the standard library's handle is dropped.
///
/// # Errors
///
/// The I/O error of the spawn (directory missing, program missing, ...).
#[expect(
    clippy::disallowed_methods,
    reason = "the process module is the one place allowed to create processes"
)]
pub(crate) fn spawn_child(
    program: &Program,
    dir: &Path,
    stdin: ChildStdinMode,
    stdout: BorrowedFd<'_>,
    stderr: BorrowedFd<'_>,
) -> io::Result<SpawnedChild> {
    let mut command = match program {
        Program::Shell(text) => {
            let mut shell = Command::new(SHELL);
            shell.arg("-c").arg(text);
            shell
        }
        Program::Argv(argv) => {
            let [program, args @ ..] = argv.as_slice() else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "the program's argument list is empty",
                ));
            };
            let mut command = Command::new(program);
            command.args(args);
            command
        }
    };
    command
        .current_dir(dir)
        .process_group(0)
        .stdin(match stdin {
            ChildStdinMode::Null => Stdio::null(),
            ChildStdinMode::Piped => Stdio::piped(),
        })
        .stdout(Stdio::from(stdout.try_clone_to_owned()?))
        .stderr(Stdio::from(stderr.try_clone_to_owned()?));
    let mut child = command.spawn()?;
    let stdin = child.stdin.take();
    let pid = i32::try_from(child.id()).map_err(|_| io::Error::other("pid out of range"))?;
    Ok(SpawnedChild { pid, stdin })
}

/// Closes every descriptor above [`REPORT_FD`] and marks the report pipe
/// close-on-exec, so that nothing the embedding process left open without
/// close-on-exec (a database, a socket, a log) reaches the child.
///
/// # Errors
///
/// The error of `close_range` or of the `/proc/self/fd` walk it falls back to,
/// or of marking the report pipe.
#[expect(
    unsafe_code,
    reason = "close_range has no safe wrapper; closing a descriptor we own by number"
)]
pub(crate) fn close_inherited_fds() -> io::Result<()> {
    let first = libc::c_uint::try_from(REPORT_FD + 1).unwrap_or(4);
    // SAFETY: closes descriptors this process owns; no Rust object holds any
    // of them yet (this runs first thing in the supervisor's main).
    let closed = unsafe { libc::close_range(first, libc::c_uint::MAX, 0) };
    if closed < 0 {
        // Before Linux 5.9: walk /proc/self/fd (collect first: closing while
        // reading would close the walk's own descriptor under it).
        let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")?
            .flatten()
            .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
            .filter(|fd| *fd > REPORT_FD)
            .collect();
        for fd in fds {
            // SAFETY: as above; EBADF for the walk's own, now closed,
            // descriptor is harmless.
            unsafe {
                libc::close(fd);
            }
        }
    }
    // SAFETY: fcntl on a descriptor number, no memory involved.
    let flags = unsafe { libc::fcntl(REPORT_FD, libc::F_GETFD) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(REPORT_FD, libc::F_SETFD, flags | libc::FD_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Takes the report pipe at [`REPORT_FD`] as a writer.
///
/// # Errors
///
/// When descriptor 3 is not open: the supervisor was not started by the
/// runner.
#[expect(
    unsafe_code,
    reason = "adopting a descriptor by number is what from_raw_fd is for"
)]
pub(crate) fn take_report_fd() -> io::Result<PipeWriter> {
    // SAFETY: F_GETFD only reads the descriptor's flags.
    if unsafe { libc::fcntl(REPORT_FD, libc::F_GETFD) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: descriptor 3 is open (checked above) and nothing else in this
    // process owns it: the runner put it there for exactly this use, and this
    // function is called once.
    let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(REPORT_FD) };
    Ok(PipeWriter::from(fd))
}

/// Makes this process non-dumpable: other processes of the same user can no
/// longer open its descriptors through `/proc/PID/fd`, read its memory or
/// trace it (root still can, with `CAP_SYS_PTRACE`; see
/// [`drop_ptrace_capability`]).
///
/// # Errors
///
/// The error of `prctl`.
pub(crate) fn make_non_dumpable() -> nix::Result<()> {
    nix::sys::prctl::set_dumpable(false)
}

/// Drops `CAP_SYS_PTRACE` from this process's bounding, inheritable and
/// ambient sets, so that a child it executes never has it, even as root.
/// Without it, root can no longer open a non-dumpable process's descriptors
/// or trace it.
///
/// # Errors
///
/// What could not be dropped. Without `CAP_SETPCAP` (an unprivileged user)
/// the bounding set cannot change, but then the child never had the
/// capability either; the caller checks that case.
pub(crate) fn drop_ptrace_capability() -> Result<(), String> {
    use caps::{CapSet, Capability};
    let cap = Capability::CAP_SYS_PTRACE;
    let mut errors = Vec::new();
    for set in [CapSet::Ambient, CapSet::Inheritable, CapSet::Bounding] {
        let held = caps::has_cap(None, set, cap).unwrap_or(true);
        if held && let Err(error) = caps::drop(None, set, cap) {
            errors.push(format!("{set:?}: {error}"));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// Whether this process holds `CAP_SYS_PTRACE` in its bounding set, so that
/// a child could hold it after exec.
pub(crate) fn may_pass_ptrace_capability() -> bool {
    caps::has_cap(
        None,
        caps::CapSet::Bounding,
        caps::Capability::CAP_SYS_PTRACE,
    )
    .unwrap_or(true)
        && caps::has_cap(
            None,
            caps::CapSet::Permitted,
            caps::Capability::CAP_SYS_PTRACE,
        )
        .unwrap_or(true)
}

/// Makes a pipe end non-blocking (the runner writes a child's stdin bytes to
/// the control pipe from its event loop, which must never block).
///
/// # Errors
///
/// The error of `fcntl`.
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>) -> nix::Result<()> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK)).map(drop)
}

/// A pipe, or the error to report.
///
/// # Errors
///
/// The error of `pipe2` (out of descriptors).
pub(crate) fn pipe() -> io::Result<(PipeReader, PipeWriter)> {
    io::pipe()
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
pub(crate) fn wait_any() -> Reaped {
    loop {
        match wait_raw(-1, 0) {
            Ok(Some((pid, status))) => return Reaped::Child { pid, status },
            Ok(None) => {}
            Err(error) => match error.raw_os_error() {
                Some(libc::EINTR) => {}
                Some(libc::ECHILD) => return Reaped::NoChildren,
                _ => return Reaped::Failed(error),
            },
        }
    }
}

/// One `waitpid(pid, flags | __WALL)`: `Ok(None)` when `WNOHANG` found
/// nothing.
#[expect(
    unsafe_code,
    reason = "libc::waitpid is the only exact way to learn a status; nix's wrapper loses real-time signals"
)]
fn wait_raw(pid: i32, flags: libc::c_int) -> io::Result<Option<(i32, ExitStatus)>> {
    let mut status: libc::c_int = 0;
    // SAFETY: waitpid writes one c_int through the pointer, which points to a
    // live local of that type; it keeps no reference after returning.
    let reaped = unsafe { libc::waitpid(pid, &raw mut status, flags | libc::__WALL) };
    match reaped {
        0 => Ok(None),
        pid if pid > 0 => Ok(Some((pid, ExitStatus::from_raw(status)))),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Puts SIGCHLD, SIGTERM, SIGINT, SIGHUP and SIGQUIT back to their default
/// action in the supervisor (and so in the child it spawns). SIGPIPE stays
/// ignored in the supervisor, so that a report written to a dead runner
/// cannot kill it before it has cleaned up; the standard library resets
/// SIGPIPE for the child itself.
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

/// Puts SIGCHLD back to its default action in this process, so that the
/// kernel keeps a child's exit status for `waitpid` (see
/// [`crate::exec::restore_sigchld_default`]).
#[expect(
    unsafe_code,
    reason = "installing SIG_DFL has no safe wrapper in nix (signal() is unsafe for handlers)"
)]
pub(crate) fn restore_sigchld_default() {
    // SAFETY: SIG_DFL installs no handler code; the call only changes this
    // process's disposition of SIGCHLD.
    unsafe {
        libc::signal(libc::SIGCHLD, libc::SIG_DFL);
    }
}

/// Whether this process has any child left (running or a zombie), without
/// reaping it: one `waitid(P_ALL, WNOHANG | WNOWAIT)`, cheaper than walking
/// `/proc` on the common path where the child left nothing behind.
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
