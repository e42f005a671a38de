//! `orch`: the orchestrator's binary. It parses arguments, wires the crates
//! together, and maps every ending to an exit code in one place.
//!
//! Commands today: `orch staging run` (run a staging suite once and write its
//! staging log; see `orch staging run --help`). The binary holds no logic a
//! user of the crates would need: the staging runner, its outcome and the JSON
//! summary live in `orch-staging-runner`.
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
//! | 130, 143 | `staging run` cancelled by SIGINT or SIGTERM: the suite's tree was ended, the log says `cancelled`; `work` stopped by SIGINT or SIGTERM: the running job's tree was ended and the job given back to the queue |
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

mod agent;
mod cli;
mod commands;
mod config;
mod demo;
mod http;
mod inventory;
mod operator;
mod queue;
mod serve;
mod shutdown;
mod staging;

use std::io;
use std::process::ExitCode;

/// How a command ended when it did its job.
#[derive(Debug)]
pub(crate) enum Ending {
    /// Help or version text was printed.
    Informational,
    /// The command did its job.
    Done,
    /// The work ran and failed (a gate that fails).
    Failed,
    /// `staging run`: the suite passed and the log says PASSED.
    StagingPassed,
    /// `staging run`: the suite executed and failed; the log says FAILED.
    StagingFailed,
    /// `staging run`: the suite did not execute, or its log could not be
    /// written; nothing false was written.
    StagingToolError,
    /// `staging run`: this signal (SIGINT, SIGTERM) cancelled the suite; the
    /// log says `cancelled`.
    StagingCancelled(i32),
    /// `work`: this signal (SIGINT, SIGTERM) stopped it; the running job was
    /// cancelled and given back to the queue.
    Stopped(i32),
}

/// Why a command could not do its job.
#[derive(Debug)]
pub(crate) enum CliError {
    /// The arguments are wrong; the message says which and how to fix them.
    Usage(clap::Error),
    /// A usage problem found after parsing (e.g. the log's folder is missing).
    BadArgument(String),
    /// The result could not be printed.
    Output(io::Error),
    /// An `ORCH_*` value cannot be used.
    Config(config::ConfigError),
    /// The work could not be done (the database, a missing task, ...); the
    /// message says what to do.
    Tool(String),
    /// The command does not fit the state of what it names (a retry of a
    /// running task, a cancel of a finished one); nothing was written.
    Refused(String),
}

/// The one map from an ending to the process exit code.
fn exit_code(result: &Result<Ending, CliError>) -> u8 {
    match result {
        Ok(Ending::Informational | Ending::Done | Ending::StagingPassed) => 0,
        Ok(Ending::Failed | Ending::StagingFailed) => 1,
        Ok(Ending::StagingToolError)
        | Err(CliError::Output(_) | CliError::Config(_) | CliError::Tool(_)) => 2,
        Err(CliError::Usage(_) | CliError::BadArgument(_)) => 3,
        Err(CliError::Refused(_)) => 4,
        // What shells report for a process ended by that signal; a cancel
        // that came from elsewhere (no signal seen) reads as SIGTERM.
        Ok(Ending::StagingCancelled(signal) | Ending::Stopped(signal)) => {
            u8::try_from(128 + signal)
                .ok()
                .filter(|_| *signal > 0)
                .unwrap_or(143)
        }
    }
}

/// Runs one command; the configuration is read first by every command that
/// uses it, so a bad `ORCH_*` value stops it before anything happens.
fn dispatch(command: cli::Command) -> Result<Ending, CliError> {
    use cli::{Command, GateCommand, RepoCommand, StagingCommand, TaskCommand};
    match command {
        Command::Staging {
            command: StagingCommand::Run(args),
        } => {
            // `staging run` takes its settings from flags; a bad ORCH_* value
            // still stops it, as it stops every command. It needs a home only
            // for its default log.
            let config = config::Config::from_env().map_err(CliError::Config)?;
            staging::run(&args, config.home().as_deref())
        }
        Command::Gate {
            command: GateCommand::Check { stage, file },
        } => {
            commands::Setup::load()?;
            commands::gate_check(&stage, &file)
        }
        Command::Demo(args) => demo::run(args.home.as_deref(), args.test_runner),
        Command::Inventory { command } => match command {
            cli::InventoryCommand::Check { root } => inventory::check(&root),
            cli::InventoryCommand::Show { json } => inventory::show(json),
        },
        Command::Roadmap(args) => {
            let setup = commands::Setup::load()?;
            inventory::roadmap(&setup, args.db.as_deref(), args.json)
        }
        Command::Agent {
            command: cli::AgentCommand::Check(args),
        } => agent::check(&commands::Setup::load()?, &args),
        Command::Serve => serve::serve(&commands::Setup::load()?),
        Command::Work(args) => commands::work(&commands::Setup::load()?, args.until_idle),
        Command::Queue => {
            let setup = commands::Setup::load()?;
            let store = setup.open_store()?;
            let value = queue::queue_json(&store, &setup.launcher())
                .map_err(|error| CliError::Tool(error.to_string()))?;
            commands::print_json(&value)?;
            Ok(Ending::Done)
        }
        Command::Repo { command } => {
            let setup = commands::Setup::load()?;
            match command {
                RepoCommand::Add(args) => commands::repo_add(&setup, &args),
                RepoCommand::Update(args) => operator::repo_update(&setup, &args),
                RepoCommand::Remove { name, blocked_too } => {
                    operator::repo_remove(&setup, &name, blocked_too)
                }
                RepoCommand::List => commands::repo_list(&setup),
            }
        }
        Command::Task { command } => {
            let setup = commands::Setup::load()?;
            match command {
                TaskCommand::Add(args) => commands::task_add(&setup, &args),
                TaskCommand::Show { id } => commands::task_show(&setup, id),
                TaskCommand::List(args) => operator::task_list(&setup, &args),
                TaskCommand::Log(args) => operator::task_log(&setup, &args),
                TaskCommand::Retry(args) => operator::task_retry(&setup, &args),
                TaskCommand::Cancel(args) => operator::task_cancel(&setup, &args),
                TaskCommand::ApproveSuite { id, reason } => {
                    operator::task_approve_suite(&setup, id, &reason)
                }
            }
        }
        Command::Alert { command } => {
            let setup = commands::Setup::load()?;
            match command {
                cli::AlertCommand::List { all, limit } => operator::alert_list(&setup, all, limit),
                cli::AlertCommand::Ack { id, all } => operator::alert_ack(&setup, id, all),
            }
        }
    }
}

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
        cli::Parsed::Command(command) => dispatch(command),
    });
    match &result {
        Ok(_) => {}
        Err(CliError::Usage(error)) => {
            let _ = error.print();
        }
        Err(
            CliError::BadArgument(message) | CliError::Tool(message) | CliError::Refused(message),
        ) => {
            eprintln!("error: {message}");
        }
        Err(CliError::Config(error)) => eprintln!("error: {error}"),
        Err(CliError::Output(error)) => {
            eprintln!("error: cannot print the result: {error}; check that stdout is open");
        }
    }
    ExitCode::from(exit_code(&result))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_documented_table() {
        assert_eq!(exit_code(&Ok(Ending::Informational)), 0);
        assert_eq!(exit_code(&Ok(Ending::StagingPassed)), 0);
        assert_eq!(exit_code(&Ok(Ending::StagingFailed)), 1);
        assert_eq!(exit_code(&Ok(Ending::StagingToolError)), 2);
        assert_eq!(exit_code(&Err(CliError::Output(io::Error::other("x")))), 2);
        assert_eq!(exit_code(&Err(CliError::BadArgument(String::new()))), 3);
        assert_eq!(exit_code(&Err(CliError::Refused(String::new()))), 4);
        assert_eq!(exit_code(&Ok(Ending::StagingCancelled(2))), 130);
        assert_eq!(exit_code(&Ok(Ending::StagingCancelled(15))), 143);
        assert_eq!(exit_code(&Ok(Ending::StagingCancelled(0))), 143);
        assert_eq!(exit_code(&Ok(Ending::Stopped(2))), 130);
        assert_eq!(exit_code(&Ok(Ending::Stopped(15))), 143);
    }
}
