//! The supervisor: a small process between the runner and the suite that owns
//! the process-wide duties of tree supervision, so that the program embedding
//! this crate keeps none of them.
//!
//! Why a separate process: finding descendants that left the suite's process
//! group (`setsid`, a double fork) needs the Linux *child subreaper* flag, so
//! that orphans are reparented to us instead of to init. The flag is
//! process-wide: set inside `orch`, it would make `orch` the parent of every
//! orphan of every thread's children, obliged to reap them all, and it would
//! change the process of anyone who embeds this crate. The supervisor carries
//! the flag instead, lives exactly as long as one suite, and reaps everything.
//! (cargo-nextest's `__double-spawn` re-exec is the precedent for re-executing
//! the current binary with a hidden argument.)
//!
//! What it does, in order:
//! 1. takes the report pipe (fd 3), makes itself non-dumpable
//!    (`PR_SET_DUMPABLE` 0: no other process of the user can open its
//!    descriptors through `/proc`, read its memory or trace it), and closes
//!    every other descriptor it inherited beyond stdin, stdout and stderr;
//! 2. `setsid()`: a new session and group, so the child has no controlling
//!    terminal and a Ctrl-C aimed at `orch` does not kill the supervisor
//!    before it could clean up; the session also marks everything the run
//!    starts for the runner, should the supervisor be killed;
//! 3. drops `CAP_SYS_PTRACE` from its bounding, inheritable and ambient sets,
//!    so that the child cannot have it even as root, and sets
//!    `PR_SET_CHILD_SUBREAPER` on itself;
//! 4. spawns the child (`/bin/sh -c COMMAND`, or a program and its
//!    arguments) in the working directory as the leader of a new process
//!    group, with stdin `/dev/null` or
//!    a pipe fed with the bytes that arrive first on the control pipe, and
//!    stdout and stderr on its own fd 1 and fd 2;
//! 5. reaps children in a thread blocked in `waitpid(-1)` (no polling, no
//!    SIGCHLD handler), and reports the leader's exact exit and duration;
//! 6. ends the tree when the leader exits (processes left behind), at the
//!    timeout, or when the runner cancels or dies (end-of-file on the control
//!    pipe, which the kernel delivers even when the runner is SIGKILLed):
//!    SIGTERM (and SIGCONT, so stopped processes see it) to the group while
//!    its leader is not yet reaped and to every descendant outside it, the
//!    grace period, then SIGKILL rounds until `waitpid` says no child is left;
//! 7. reports `done` and exits with the [`Class`](crate::protocol::Class) of
//!    the ending as its status, which only the runner can read.
//!
//! An embedding binary calls [`main_if_requested`] first thing in `main`;
//! [`crate::exec::SupervisorProgram`] says which program to start.
//!
//! # The handshake: a forgotten `main_if_requested`
//!
//! The supervisor's first report is a handshake (`hello`), written before it
//! does anything else. A program started as the supervisor that forgot to call
//! [`main_if_requested`] runs its own `main` instead, and never says it:
//!
//! - the runner gives it [`HANDSHAKE_BOUND`] to answer, or until it exits,
//!   then ends it (and anything it started) and fails the run with
//!   [`ToolErrorKind::SupervisorUnavailable`](crate::exec::ToolErrorKind)
//!   and a message that says "call
//!   `orch_process::supervisor::main_if_requested()` first in main";
//! - and if that `main` starts a run in turn, the runner refuses it at once
//!   (the process was started with [`crate::SUPERVISOR_ARG`] but is not
//!   supervising), so the program cannot re-execute itself recursively.
//!
//! # From a `#[test]`
//!
//! A test binary built by libtest has a `main` of its own, which does not
//! call [`main_if_requested`]: [`crate::exec::SupervisorProgram::CurrentExe`]
//! cannot work there (the handshake error above says so). Either:
//!
//! - name a program that is a supervisor: this crate's `orch-supervisor`
//!   binary, `SupervisorProgram::Path(env!("CARGO_BIN_EXE_orch-supervisor").into())`
//!   in this crate's own tests, or its installed path elsewhere
//!   (`cargo install --path crates/process --bin orch-supervisor`); or
//! - give the test target its own `main` (`harness = false`, with
//!   [libtest-mimic](https://docs.rs/libtest-mimic) to keep `cargo test`'s
//!   interface) that calls [`main_if_requested`] first, as orch-launcher's
//!   engine tests do; `CurrentExe` then works.

use std::ffi::{OsStr, OsString};
use std::io::{self, PipeWriter, Read, Write};
use std::os::fd::AsFd;
use std::process::{ChildStdin, ExitStatus};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::process::{self, ChildStdinMode, Reaped};
use crate::protocol::{
    Class, KILLED_COMMAND_MAX, KILLED_LISTED_MAX, KilledProcess, Report, SUPERVISOR_ARG,
    SpawnFailure, SupervisorArgs,
};
use crate::tree::{self, Descendant};

/// How long the runner waits for a supervisor's handshake before it ends the
/// program as one that forgot [`main_if_requested`]. A real supervisor
/// answers before it does anything else, in far less than this on any
/// machine; the bound only stops a program that is running its own `main`.
pub const HANDSHAKE_BOUND: Duration = Duration::from_secs(10);

/// How long SIGKILL rounds go on before the supervisor gives up on processes
/// that will not die (uninterruptible sleep) and reports them as survivors.
pub(crate) const KILL_BOUND: Duration = Duration::from_secs(10);
/// Time between SIGKILL rounds (a round also catches processes forked since
/// the last one).
pub(crate) const KILL_ROUND: Duration = Duration::from_millis(20);

/// Runs the supervisor and exits when this process was started as one (its
/// first argument is the hidden supervisor argument); returns at once
/// otherwise.
///
/// Call it first thing in `main` of any program used as
/// [`crate::exec::SupervisorProgram`], before parsing arguments:
///
/// ```no_run
/// // First thing in `main`:
/// orch_process::supervisor::main_if_requested();
/// // ... the program's own work ...
/// ```
pub fn main_if_requested() {
    let mut args = std::env::args_os();
    let _program = args.next();
    if args.next().as_deref() != Some(OsStr::new(SUPERVISOR_ARG)) {
        return;
    }
    let rest: Vec<OsString> = args.collect();
    let class = supervise(&rest);
    std::process::exit(class.exit_code());
}

/// The report pipe.
#[derive(Debug)]
struct Reporter(Option<PipeWriter>);

impl Reporter {
    fn send(&mut self, report: &Report) {
        // The runner may be gone; then nobody is listening and that is fine.
        if let Some(pipe) = &mut self.0 {
            let _ = pipe.write_all(report.to_line().as_bytes());
        }
    }
}

#[derive(Debug)]
enum Event {
    Reaped {
        pid: i32,
        status: ExitStatus,
        at: Instant,
    },
    NoChildren,
    ReapFailed(io::Error),
    /// The runner cancelled the run, or died.
    Control,
}

fn supervise(args: &[OsString]) -> Class {
    // Before anything else: no descriptor but 0-3 stays open, and no other
    // process of the user may reach ours.
    let mut reporter = Reporter(process::take_report_fd().ok());
    if reporter.0.is_none() {
        let _ = writeln!(
            io::stderr(),
            "orch-supervisor: descriptor 3 is not open; the supervisor is started by orch's process runner, not by hand"
        );
        return Class::Fatal;
    }
    // The handshake, first of all: the runner knows it started a supervisor,
    // not a program that forgot to call `main_if_requested`.
    reporter.send(&Report::Hello);
    if let Err(errno) = process::make_non_dumpable() {
        reporter.send(&Report::Fatal {
            message: format!("cannot make the supervisor non-dumpable ({errno})"),
        });
        return Class::Fatal;
    }
    if let Err(error) = process::close_inherited_fds() {
        reporter.send(&Report::Fatal {
            message: format!("cannot close inherited descriptors ({error})"),
        });
        return Class::Fatal;
    }
    let args = match SupervisorArgs::parse(args) {
        Ok(args) => args,
        Err(message) => {
            reporter.send(&Report::Fatal { message });
            return Class::Fatal;
        }
    };
    // Fails only when we already lead a group, which the runner never does.
    let _ = nix::unistd::setsid();
    // Ignored dispositions survive exec: a SIGCHLD ignored by the embedding
    // program would make the kernel reap the child before we learn its exit,
    // and an ignored SIGTERM would make our termination a silent no-op.
    process::reset_signal_dispositions();
    if let Err(error) = process::drop_ptrace_capability()
        && process::may_pass_ptrace_capability()
    {
        reporter.send(&Report::Warning {
            message: format!(
                "cannot drop CAP_SYS_PTRACE ({error}); the child may open the supervisor's descriptors"
            ),
        });
    }
    if let Err(errno) = nix::sys::prctl::set_child_subreaper(true) {
        reporter.send(&Report::Fatal {
            message: format!(
                "cannot become a child subreaper ({errno}); the process runner needs Linux 3.4 or later"
            ),
        });
        return Class::Fatal;
    }

    // The sandbox binds this process and so everything it starts, never the
    // runner: entered here, single-threaded, just before the child exists.
    if args.sandbox.is_on() {
        match crate::sandbox::enter(&args.sandbox) {
            Ok(level) => reporter.send(&Report::Sandboxed { level }),
            Err(message) => {
                reporter.send(&Report::SpawnFailed {
                    kind: SpawnFailure::Sandbox,
                    message,
                });
                return Class::SpawnFailed;
            }
        }
    }

    let stdin_mode = if args.stdin_bytes.is_some() {
        ChildStdinMode::Piped
    } else {
        ChildStdinMode::Null
    };
    let spawned_at = Instant::now();
    let spawned = process::spawn_child(
        &args.program,
        &args.dir,
        stdin_mode,
        io::stdout().as_fd(),
        io::stderr().as_fd(),
    );
    let child = match spawned {
        Ok(child) => child,
        Err(error) => {
            let kind = if !args.dir.is_dir() {
                SpawnFailure::WorkingDir
            } else if error.kind() == io::ErrorKind::NotFound {
                SpawnFailure::NotFound
            } else if error.kind() == io::ErrorKind::PermissionDenied {
                SpawnFailure::PermissionDenied
            } else {
                SpawnFailure::Other
            };
            reporter.send(&Report::SpawnFailed {
                kind,
                message: format!(
                    "cannot start {} in {}: {error}",
                    describe(&args),
                    args.dir.display()
                ),
            });
            return Class::SpawnFailed;
        }
    };
    let leader = child.pid;
    reporter.send(&Report::Started { pid: leader });

    let (events, receiver) = mpsc::channel();
    let reaper = events.clone();
    let stdin = args.stdin_bytes.map(|len| (len, child.stdin));
    let threads = thread::Builder::new()
        .name("reaper".into())
        .spawn(move || reap(&reaper))
        .and_then(|_| {
            thread::Builder::new()
                .name("control".into())
                .spawn(move || watch_control(stdin, &events))
        });
    let mut supervision = Supervision {
        reporter,
        leader,
        me: i32::try_from(std::process::id()).unwrap_or(i32::MAX),
        grace: args.grace,
        spawned_at,
        leader_exit: None,
        timed_out: false,
        cancelled: false,
        left_behind: 0,
        listed: Vec::new(),
        phase: Phase::Running,
    };
    if let Err(error) = threads {
        // Without threads we cannot wait and watch at once: end the child now
        // rather than leave it unsupervised.
        supervision.reporter.send(&Report::Fatal {
            message: format!(
                "cannot start a supervisor thread: {error}; the system is out of resources"
            ),
        });
        supervision.kill_round();
        while let Reaped::Child { .. } = process::wait_any() {}
        return Class::Fatal;
    }
    // A timeout too large for the clock is no timeout.
    let deadline = args
        .timeout
        .and_then(|timeout| spawned_at.checked_add(timeout));
    supervision.run(&receiver, deadline)
}

fn describe(args: &SupervisorArgs) -> String {
    match &args.program {
        crate::protocol::Program::Shell(_) => format!("{} -c", process::SHELL),
        crate::protocol::Program::Argv(argv) => argv
            .first()
            .map_or_else(String::new, |p| format!("{:?}", p.to_string_lossy())),
    }
}

/// Reaps every child until none is left.
fn reap(events: &Sender<Event>) {
    loop {
        let event = match process::wait_any() {
            Reaped::Child { pid, status } => Event::Reaped {
                pid,
                status,
                at: Instant::now(),
            },
            Reaped::NoChildren => Event::NoChildren,
            Reaped::Failed(error) => Event::ReapFailed(error),
        };
        let last = !matches!(event, Event::Reaped { .. });
        if events.send(event).is_err() || last {
            return;
        }
    }
}

/// Watches the control pipe: first the child's stdin bytes, which go to the
/// child from a thread of their own (a child that never reads its stdin must
/// not keep us from seeing the end of the control pipe); then end-of-file
/// asks for the end of the run.
fn watch_control(stdin: Option<(usize, Option<ChildStdin>)>, events: &Sender<Event>) {
    let mut control = io::stdin().lock();
    if let Some((len, pipe)) = stdin {
        let mut bytes = Vec::with_capacity(len.min(1024 * 1024));
        let complete = (&mut control)
            .take(len as u64)
            .read_to_end(&mut bytes)
            .is_ok_and(|n| n == len);
        if let Some(mut pipe) = pipe {
            // Bytes, then end-of-file: an agent waiting for the end of its
            // input gets it even when the runner sent less than promised.
            let _ = thread::Builder::new().name("stdin".into()).spawn(move || {
                let _ = pipe.write_all(&bytes);
            });
        }
        if !complete {
            let _ = events.send(Event::Control);
            return;
        }
    }
    let mut buf = [0u8; 64];
    loop {
        match control.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let _ = events.send(Event::Control);
}

/// `at + delay`, or a year from `at` when the sum does not fit the clock.
fn later(at: Instant, delay: Duration) -> Instant {
    at.checked_add(delay)
        .or_else(|| at.checked_add(Duration::from_secs(365 * 86_400)))
        .unwrap_or(at)
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    Running,
    Terminating {
        kill_at: Instant,
    },
    Killing {
        next_round: Instant,
        give_up: Instant,
    },
}

#[derive(Debug)]
struct Supervision {
    reporter: Reporter,
    leader: i32,
    me: i32,
    grace: Duration,
    spawned_at: Instant,
    leader_exit: Option<ExitStatus>,
    timed_out: bool,
    cancelled: bool,
    left_behind: u32,
    listed: Vec<KilledProcess>,
    phase: Phase,
}

impl Supervision {
    fn run(&mut self, events: &Receiver<Event>, deadline: Option<Instant>) -> Class {
        loop {
            let wake = match self.phase {
                Phase::Running => deadline,
                Phase::Terminating { kill_at } => Some(kill_at),
                Phase::Killing { next_round, .. } => Some(next_round),
            };
            let event = match wake {
                None => events.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(at) => events.recv_timeout(at.saturating_duration_since(Instant::now())),
            };
            match event {
                Ok(Event::Reaped { pid, status, at }) => {
                    if pid == self.leader && self.leader_exit.is_none() {
                        self.leader_exited(status, at);
                        if matches!(self.phase, Phase::Running) {
                            // No child left means no descendant left: every
                            // orphan is reparented to us, the subreaper.
                            if !process::has_children() {
                                break;
                            }
                            self.terminate(&tree::descendants(self.me));
                        }
                    }
                }
                Ok(Event::NoChildren) | Err(RecvTimeoutError::Disconnected) => break,
                Ok(Event::ReapFailed(error)) => {
                    self.reporter.send(&Report::Fatal {
                        message: format!("waitpid failed: {error}"),
                    });
                    self.kill_round();
                    break;
                }
                Ok(Event::Control) => {
                    if matches!(self.phase, Phase::Running) {
                        self.cancelled = true;
                        self.terminate(&tree::descendants(self.me));
                    }
                }
                Err(RecvTimeoutError::Timeout) => match self.phase {
                    Phase::Running => {
                        self.timed_out = true;
                        self.terminate(&tree::descendants(self.me));
                    }
                    Phase::Terminating { .. } => {
                        let now = Instant::now();
                        self.kill_round();
                        self.phase = Phase::Killing {
                            next_round: now + KILL_ROUND,
                            give_up: now + KILL_BOUND,
                        };
                    }
                    Phase::Killing { give_up, .. } => {
                        let now = Instant::now();
                        if now >= give_up {
                            break;
                        }
                        self.kill_round();
                        self.phase = Phase::Killing {
                            next_round: now + KILL_ROUND,
                            give_up,
                        };
                    }
                },
            }
        }
        let survivors = if process::has_children() {
            u32::try_from(tree::descendants(self.me).len()).unwrap_or(u32::MAX)
        } else {
            0
        };
        let listed = std::mem::take(&mut self.listed);
        self.reporter.send(&Report::Done {
            killed: self.left_behind,
            listed,
            survivors,
        });
        match self.leader_exit {
            Some(status) => Class::of_exit(status.code(), self.timed_out, self.cancelled),
            // The leader could not be reaped (it would not die): no verdict.
            None => Class::Fatal,
        }
    }

    fn leader_exited(&mut self, status: ExitStatus, at: Instant) {
        use std::os::unix::process::ExitStatusExt;
        self.leader_exit = Some(status);
        let duration = at.saturating_duration_since(self.spawned_at);
        self.reporter.send(&Report::Exited {
            code: status.code(),
            signal: status.signal(),
            duration_ns: u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX),
            timed_out: self.timed_out,
            cancelled: self.cancelled,
        });
    }

    /// SIGTERM (then SIGCONT) to the group, while its leader is unreaped (so
    /// its id cannot have been reused), and to every descendant outside it.
    /// The processes signalled are named (up to a bound) for the report.
    fn terminate(&mut self, rest: &[Descendant]) {
        let group_alive = self.leader_exit.is_none();
        // Read the command lines before the signals: afterwards they may be
        // gone.
        self.listed = rest
            .iter()
            .take(KILLED_LISTED_MAX)
            .map(|d| KilledProcess {
                pid: d.pid,
                command: tree::command_line(d.pid, KILLED_COMMAND_MAX),
            })
            .collect();
        if group_alive {
            let _ = process::signal_group(self.leader, Signal::SIGTERM);
            let _ = process::signal_group(self.leader, Signal::SIGCONT);
        }
        for descendant in rest {
            if group_alive && descendant.pgid == self.leader {
                continue;
            }
            let _ = process::signal_process(descendant.pid, Signal::SIGTERM);
            let _ = process::signal_process(descendant.pid, Signal::SIGCONT);
        }
        // The leader itself is not "left behind".
        let others = rest.iter().filter(|d| d.pid != self.leader).count();
        self.left_behind = u32::try_from(others).unwrap_or(u32::MAX);
        self.phase = Phase::Terminating {
            kill_at: later(Instant::now(), self.grace),
        };
    }

    /// SIGKILL to the group (while its leader is unreaped) and to every
    /// descendant, found afresh each round.
    fn kill_round(&self) {
        if self.leader_exit.is_none() {
            let _ = process::signal_group(self.leader, Signal::SIGKILL);
        }
        for descendant in tree::descendants(self.me) {
            let _ = process::signal_process(descendant.pid, Signal::SIGKILL);
        }
    }
}
