//! A program that embeds orch-process but forgets
//! `orch_process::supervisor::main_if_requested()` in `main`: the mistake the
//! supervisor handshake turns into a clear error instead of a fork loop.
//!
//! Run it: `cargo run -p orch-process --example forgets_main_if_requested`.
//! It runs `true` with itself as the supervisor (the default,
//! `SupervisorProgram::CurrentExe`) and prints what the runner said: the
//! supervisor did not answer the handshake, call `main_if_requested()` first
//! in main. The crate's tests also start it as a supervisor directly.
//!
//! Each start appends a line to the file named by `FORGETFUL_COUNT` (when
//! set), so a test can count how often the program was started; past five
//! starts it stops on its own, so that even a runner without the handshake
//! cannot make it loop for ever.

use orch_process::exec::{self, ExecOutcome, ExecSpec, Program};

fn main() {
    // The mistake: no `orch_process::supervisor::main_if_requested();` here.
    if let Some(count) = std::env::var_os("FORGETFUL_COUNT") {
        let before = std::fs::read_to_string(&count).unwrap_or_default();
        if before.lines().count() >= 5 {
            eprintln!("forgets_main_if_requested: started five times, stopping");
            std::process::exit(3);
        }
        let _ = std::fs::write(&count, format!("{before}started\n"));
    }
    let dir = std::env::temp_dir();
    match exec::run(&ExecSpec::new(Program::Shell("true".to_owned()), dir)) {
        ExecOutcome::Finished(finished) => {
            println!("finished: {:?}", finished.ending);
        }
        ExecOutcome::Failed(error) => {
            println!("{:?}: {}", error.kind, error.message);
            std::process::exit(1);
        }
    }
}
