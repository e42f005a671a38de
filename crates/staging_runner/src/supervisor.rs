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
//! 1. `setsid()`: a new session and group, so the suite has no controlling
//!    terminal and a Ctrl-C aimed at `orch` does not kill the supervisor
//!    before it could clean up;
//! 2. `PR_SET_CHILD_SUBREAPER` on itself;
//! 3. spawns `/bin/sh -c COMMAND` in the working directory as the leader of a
//!    new process group, stdin `/dev/null`, stdout and stderr on the output
//!    pipe it was given as its own stdout;
//! 4. reaps children in a thread blocked in `waitpid(-1)` (no polling, no
//!    SIGCHLD handler), and reports the leader's exact exit and duration;
//! 5. ends the tree when the leader exits (processes left behind), at the
//!    timeout, or when the runner asks or dies (end-of-file on the control
//!    pipe, which the kernel delivers even when the runner is SIGKILLed):
//!    SIGTERM (and SIGCONT, so stopped processes see it) to the group while
//!    its leader is not yet reaped and to every descendant outside it, the
//!    grace period, then SIGKILL rounds until `waitpid` says no child is left;
//! 6. reports `done` and exits.
//!
//! An embedding binary calls [`main_if_requested`] first thing in `main`;
//! [`crate::SupervisorProgram`] says which program to start.

use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::process::ExitStatus;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::process::{self, Reaped};
use crate::protocol::{Report, SUPERVISOR_ARG, SpawnFailure, SupervisorArgs};
use crate::tree::{self, Descendant};

/// How long SIGKILL rounds go on before the supervisor gives up on processes
/// that will not die (uninterruptible sleep) and reports them as survivors.
const KILL_BOUND: Duration = Duration::from_secs(10);
/// Time between SIGKILL rounds (a round also catches processes forked since
/// the last one).
const KILL_ROUND: Duration = Duration::from_millis(20);

/// Runs the supervisor and exits when this process was started as one (its
/// first argument is the hidden supervisor argument); returns at once
/// otherwise.
///
/// Call it first thing in `main` of any program used as
/// [`crate::SupervisorProgram`], before parsing arguments:
///
/// ```no_run
/// // First thing in `main`:
/// orch_staging_runner::supervisor::main_if_requested();
/// // ... the program's own work ...
/// ```
pub fn main_if_requested() {
    let mut args = std::env::args_os();
    let _program = args.next();
    if args.next().as_deref() != Some(OsStr::new(SUPERVISOR_ARG)) {
        return;
    }
    let rest: Vec<OsString> = args.collect();
    let code = supervise(&rest);
    std::process::exit(code);
}

fn report(report: &Report) {
    // The runner may be gone; then nobody is listening and that is fine.
    let _ = io::stderr().lock().write_all(report.to_line().as_bytes());
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
    /// The runner asked for termination, or died.
    Control,
}

fn supervise(args: &[OsString]) -> i32 {
    let args = match SupervisorArgs::parse(args) {
        Ok(args) => args,
        Err(message) => {
            report(&Report::Fatal { message });
            return 2;
        }
    };
    // Fails only when we already lead a group, which the runner never does.
    let _ = nix::unistd::setsid();
    // Ignored dispositions survive exec: a SIGCHLD ignored by the embedding
    // program would make the kernel reap the suite before we learn its exit,
    // and an ignored SIGTERM would make our termination a silent no-op.
    process::reset_signal_dispositions();
    if let Err(errno) = nix::sys::prctl::set_child_subreaper(true) {
        report(&Report::Fatal {
            message: format!(
                "cannot become a child subreaper ({errno}); the staging runner needs Linux 3.4 or later"
            ),
        });
        return 2;
    }

    let stdout = io::stdout();
    let spawned_at = Instant::now();
    let leader = match process::spawn_suite(&args.command, &args.dir, stdout.as_fd()) {
        Ok(pid) => pid,
        Err(error) => {
            let kind = if args.dir.is_dir() {
                SpawnFailure::Other
            } else {
                SpawnFailure::WorkingDir
            };
            report(&Report::SpawnFailed {
                kind,
                message: format!(
                    "cannot start {} -c in {}: {error}",
                    process::SHELL,
                    args.dir.display()
                ),
            });
            return 0;
        }
    };
    report(&Report::Started { pid: leader });

    let (events, receiver) = mpsc::channel();
    let reaper = events.clone();
    let threads = thread::Builder::new()
        .name("reaper".into())
        .spawn(move || reap(&reaper))
        .and_then(|_| {
            thread::Builder::new()
                .name("control".into())
                .spawn(move || watch_control(&events))
        });
    let mut supervision = Supervision {
        leader,
        me: i32::try_from(std::process::id()).unwrap_or(i32::MAX),
        grace: args.grace,
        spawned_at,
        leader_exit: None,
        timed_out: false,
        cancelled: false,
        left_behind: 0,
        phase: Phase::Running,
    };
    if let Err(error) = threads {
        // Without threads we cannot wait and watch at once: end the suite now
        // rather than leave it unsupervised.
        report(&Report::Fatal {
            message: format!(
                "cannot start a supervisor thread: {error}; the system is out of resources"
            ),
        });
        supervision.kill_round();
        while let Reaped::Child { .. } = process::wait_any() {}
        return 2;
    }
    // A timeout too large for the clock is no timeout.
    let deadline = args
        .timeout
        .and_then(|timeout| spawned_at.checked_add(timeout));
    supervision.run(&receiver, deadline);
    0
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

/// Watches the control pipe: a `t`, or end-of-file, asks for termination.
fn watch_control(events: &Sender<Event>) {
    let mut stdin = io::stdin().lock();
    let mut buf = [0u8; 64];
    loop {
        match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if buf[..n].contains(&b't') && events.send(Event::Control).is_err() {
                    return;
                }
            }
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
    leader: i32,
    me: i32,
    grace: Duration,
    spawned_at: Instant,
    leader_exit: Option<ExitStatus>,
    timed_out: bool,
    cancelled: bool,
    left_behind: u32,
    phase: Phase,
}

impl Supervision {
    fn run(&mut self, events: &Receiver<Event>, deadline: Option<Instant>) {
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
                    report(&Report::Fatal {
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
        report(&Report::Done {
            killed: self.left_behind,
            survivors,
        });
    }

    fn leader_exited(&mut self, status: ExitStatus, at: Instant) {
        use std::os::unix::process::ExitStatusExt;
        self.leader_exit = Some(status);
        let duration = at.saturating_duration_since(self.spawned_at);
        report(&Report::Exited {
            code: status.code(),
            signal: status.signal(),
            duration_ns: u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX),
            timed_out: self.timed_out,
            cancelled: self.cancelled,
        });
    }

    /// SIGTERM (then SIGCONT) to the group, while its leader is unreaped (so
    /// its id cannot have been reused), and to every descendant outside it.
    fn terminate(&mut self, rest: &[Descendant]) {
        let group_alive = self.leader_exit.is_none();
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
