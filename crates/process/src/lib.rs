//! orch's process machinery: every program orch starts for a task — a
//! staging or test suite, an LLM agent CLI, git, a deploy or health command —
//! runs through this crate, as a supervised process tree.
//!
//! [`exec::start`] takes an [`exec::ExecSpec`] (a shell command or a program
//! with arguments, a folder, a timeout and a grace period, optional stdin
//! bytes, merged or separate output streams, an environment policy that drops
//! secrets) and returns an [`exec::RunHandle`]; [`exec::RunHandle::wait`]
//! returns an [`exec::ExecOutcome`] once every process of the run is gone,
//! and an [`exec::Canceller`] ends the run from any thread. The program runs
//! under a small **supervisor process** ([`supervisor`]), started by
//! re-executing the embedding binary (or this crate's `orch-supervisor`
//! binary), that holds the process-wide duties — child-subreaper flag,
//! reaping, signal dispositions — and is hardened against the program it
//! supervises: non-dumpable, no inherited descriptors, no `CAP_SYS_PTRACE` to
//! pass on, and an exit status (which only the runner reads) that vouches for
//! its report.
//!
//! In a binary whose `main` starts with [`supervisor::main_if_requested`]:
//!
//! ```no_run
//! use std::time::Duration;
//! use orch_process::exec::{self, ExecOutcome, ExecSpec, Program};
//!
//! orch_process::supervisor::main_if_requested();
//! let spec = ExecSpec::new(Program::Shell("make test".into()), "/srv/checkout")
//!     .timeout(Some(Duration::from_secs(600)));
//! match exec::run(&spec) {
//!     ExecOutcome::Finished(finished) => println!("{:?}", finished.ending),
//!     ExecOutcome::Failed(error) => eprintln!("{}", error.message),
//! }
//! ```
//!
//! A program that forgets that call does not re-execute itself recursively:
//! a handshake fails its runs fast with "call
//! orch_process::supervisor::main_if_requested() first in main". From a plain
//! `#[test]` (libtest's `main`), name the `orch-supervisor` binary with
//! [`exec::ExecSpec::supervisor`] and [`exec::SupervisorProgram::Path`]; see
//! [`supervisor`] and `examples/forgets_main_if_requested.rs`.
//!
//! Failures to start are values, never panics:
//!
//! ```
//! use orch_process::exec::{self, ExecOutcome, ExecSpec, Program, ToolErrorKind};
//!
//! let spec = ExecSpec::new(Program::Shell("true".into()), "/no/such/folder");
//! let ExecOutcome::Failed(error) = exec::run(&spec) else { panic!("no such folder") };
//! assert_eq!(error.kind, ToolErrorKind::WorkingDirMissing);
//! ```
//!
//! What this crate never does: it knows processes, not pipelines — no
//! verdicts, stages, SQL or git; exit codes, signals, timeouts and failures
//! to start are reported as they are, and callers give them meaning (the
//! staging layer in `orch-staging-runner` turns a shell's 126/127 into a
//! tool error). It never sets a process-wide flag (subreaper, signal handler,
//! dumpability) in the process that embeds it: those live in the supervisor,
//! and the two the embedding program may want
//! ([`exec::restore_sigchld_default`], [`exec::make_non_dumpable`]) are
//! functions it calls itself. Its private `process` module is the only place
//! in the workspace that creates processes.

mod cancel;
mod capture;
mod env;
pub mod exec;
mod limits;
mod outcome;
mod process;
mod protocol;
mod runner;
pub mod sandbox;
mod spec;
pub mod supervisor;
mod tree;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

pub use outcome::describe_exit;
pub use protocol::SUPERVISOR_ARG;

use exec::{ExecOutcome, ToolError, ToolErrorKind};

/// The message of a caught panic.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

fn internal(what: &str, t0: Instant) -> ToolError {
    ToolError {
        kind: ToolErrorKind::Internal,
        message: format!("the process runner panicked: {what}; this is a bug, please report it"),
        exit: None,
        duration: t0.elapsed(),
        output: None,
    }
}

/// Runs `f`, turning a panic into an internal tool error. Nothing in the
/// runner is meant to panic; this is the last line, so that a bug becomes a
/// tool error instead of unwinding into the caller.
pub(crate) fn guard(f: impl FnOnce() -> ExecOutcome) -> ExecOutcome {
    let t0 = Instant::now();
    catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|panic| ExecOutcome::Failed(internal(&panic_message(&*panic), t0)))
}

/// [`guard`] for a step that yields a value or a tool error.
pub(crate) fn guard_result<T>(
    f: impl FnOnce() -> Result<T, Box<ToolError>>,
) -> Result<T, Box<ToolError>> {
    let t0 = Instant::now();
    catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|panic| Err(Box::new(internal(&panic_message(&*panic), t0))))
}
