//! The process machinery on its own: run a shell command in a folder under
//! orch's supervisor, with a timeout, and read how it ended, what it printed
//! and what the kernel sandbox enforced (off here: a spec asks for one with
//! `ExecSpec::sandbox`). A program that uses
//! this crate calls `main_if_requested` first thing in `main`: the
//! supervisor is this same program, started again.
//!
//! `cargo run -p orch-process --example run_a_command`

use std::time::Duration;

use orch_process::exec::{self, Ending, ExecOutcome, ExecSpec, Program};
use orch_self_deploy::ProcessExit;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    orch_process::supervisor::main_if_requested();
    let dir = std::env::temp_dir().join(format!("orch-process-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let spec = ExecSpec::new(
        Program::Shell("echo hello from $(pwd); echo to stderr >&2; exit 3".into()),
        &dir,
    )
    .timeout(Some(Duration::from_secs(30)));
    let outcome = exec::run(&spec);
    std::fs::remove_dir_all(&dir)?;
    let finished = match outcome {
        ExecOutcome::Finished(finished) => finished,
        ExecOutcome::Failed(error) => return Err(error.message.into()),
    };
    println!("ending: {:?}", finished.ending);
    println!("took: {:?}", finished.duration);
    println!(
        "output ({} bytes): {}",
        finished.output.total_bytes,
        String::from_utf8_lossy(&finished.output.head).trim_end()
    );
    println!("sandbox: {}", finished.sandbox);
    if finished.ending != Ending::Exited(ProcessExit::Code(3)) {
        return Err(format!("expected exit code 3, got {:?}", finished.ending).into());
    }
    Ok(())
}
