//! orch's process supervisor as a program of its own.
//!
//! The process runner starts it with a hidden first argument; see
//! `orch_process::supervisor`. It exists so that the crate's tests, and
//! embedders that prefer not to re-execute their own binary, have a program to
//! name in `SupervisorProgram::Path`. Started by hand, it explains itself and
//! exits with status 2; it never runs anything then.

fn main() {
    orch_process::supervisor::main_if_requested();
    eprintln!(
        "orch-supervisor is started by orch's process runner, not by hand; it runs nothing on its own"
    );
    std::process::exit(2);
}
