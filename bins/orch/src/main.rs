//! `orch`: the orchestrator's binary. It parses arguments, wires the crates
//! together (one file per command, under `commands/`), and maps every ending
//! to an exit code in one place (`exit`).
//!
//! The binary holds no logic a user of the crates would need: the staging
//! runner and its summary live in `orch-staging-runner`; the engine, the
//! repository checks, the task-log reader and the JSON views of tasks,
//! repositories and alerts in `orch-launcher`.
//!
//! Exit codes, for every command:
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success (`staging run`: PASSED; or help/version printed) |
//! | 1 | the work ran and failed (`staging run`: FAILED) |
//! | 2 | tool error: the work could not be done (nothing false was written) |
//! | 3 | usage error: bad arguments (clap's own usage errors included) |
//! | 4 | refused: the task or repository is in the wrong state for the command (retry of an active task, retry into deploy without a passing latest staging verdict, cancel of an ended one, remove of a repository with unfinished tasks) |
//! | 130, 143 | `staging run` cancelled by SIGINT or SIGTERM: the suite's tree was ended, the log says `cancelled`; `work` stopped by SIGINT or SIGTERM: the running job's tree was ended and the job given back to the queue; `serve` stopped by SIGINT or SIGTERM (a second one cuts the grace short) |
//!
//! ```text
//! $ orch staging run --repo . --cmd 'cargo test' --timeout 600
//! {"outcome":"executed","status":"PASSED","exit_code":0,...}
//! ```
//!
//! What it never does: it never sets a process-wide flag for the staging
//! runner (the runner re-executes this binary as its supervisor, which is why
//! `main` first calls `supervisor::main_if_requested`), and it holds no
//! pipeline or process logic of its own.

mod cli;
mod commands;
mod config;
mod dashboard;
mod exit;
mod http;
mod queue;
mod roadmap_cache;
mod shutdown;
mod web;

use std::process::ExitCode;

pub(crate) use exit::{CliError, Ending};

fn main() -> ExitCode {
    // When the staging runner re-executes this binary as its supervisor, this
    // runs the supervisor and never returns.
    orch_process::supervisor::main_if_requested();
    // A process manager may have started us with SIGCHLD ignored; the runner
    // must read its supervisor's exit status.
    orch_process::exec::restore_sigchld_default();
    // The suites and agents we start run as our user: without this they
    // could read our environment (API keys) through /proc/PID/environ.
    if let Err(error) = orch_process::exec::make_non_dumpable() {
        eprintln!(
            "warning: cannot make orch non-dumpable ({error}); the programs it starts may read its environment"
        );
    }
    let result = cli::parse().and_then(|command| match command {
        cli::Parsed::Informational(text) => {
            // Help goes to stdout (what clap's own `exit` would do).
            let _ = text.print();
            Ok(Ending::Informational)
        }
        cli::Parsed::Command(command) => {
            commands::read_dot_env().and_then(|()| commands::dispatch(command))
        }
    });
    exit::report(&result);
    ExitCode::from(exit::exit_code(&result))
}
