//! The staging runner's supervisor as a program of its own.
//!
//! The runner starts it with a hidden first argument; see
//! `orch_staging_runner::supervisor`. It exists so that the crate's tests, and
//! embedders that prefer not to re-execute their own binary, have a program to
//! name in `SupervisorProgram::Path`. Started by hand, it explains itself and
//! exits with status 2; it never runs anything then.

fn main() {
    orch_process::supervisor::main_if_requested();
    eprintln!(
        "orch-staging-supervisor is started by the orch staging runner, not by hand; run `orch staging run --help`"
    );
    std::process::exit(2);
}
