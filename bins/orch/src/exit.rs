//! How a command ends, and the one map from every ending and every library
//! error to the process exit code.
//!
//! Each library error becomes a [`CliError`] through one `From` impl here,
//! each an exhaustive `match` (a new variant is a compile error until it is
//! placed), so `?` is the whole mapping at a call site:
//!
//! - what the user named wrongly (a flag, a ref, a folder, a stage) is a
//!   usage error ([`CliError::BadArgument`], exit 3);
//! - a state that does not allow the command is refused
//!   ([`CliError::Refused`], exit 4);
//! - everything else — the database, git, a missing task — is a tool error
//!   ([`CliError::Tool`], exit 2).

use std::io;

use orch_launcher::operator::OperatorError;
use orch_launcher::repos::RepoError;
use orch_launcher::task_log::TaskLogError;
use orch_launcher::worktree::WorktreeError;
use orch_launcher::{EngineError, WorkersError};
use orch_store::StoreError;

use crate::config;

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
pub(crate) fn exit_code(result: &Result<Ending, CliError>) -> u8 {
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

/// Says on stderr why a command failed (nothing for a success).
pub(crate) fn report(result: &Result<Ending, CliError>) {
    match result {
        Ok(_) => {}
        Err(CliError::Usage(error)) => {
            let _ = error.print();
        }
        Err(
            CliError::BadArgument(message) | CliError::Tool(message) | CliError::Refused(message),
        ) => {
            // A message may quote outside text (a title, a suite's output):
            // its control characters are shown, not obeyed.
            eprintln!(
                "error: {}",
                orch_launcher::views::render::clean_block(message)
            );
        }
        Err(CliError::Config(error)) => eprintln!(
            "error: {}",
            orch_launcher::views::render::clean_block(&error.to_string())
        ),
        Err(CliError::Output(error)) => {
            eprintln!("error: cannot print the result: {error}; check that stdout is open");
        }
    }
}

impl From<config::ConfigError> for CliError {
    fn from(error: config::ConfigError) -> CliError {
        CliError::Config(error)
    }
}

/// The store's refusals: an unknown task or alert is a tool error (2) that
/// says where to look, a wrong state is refused (4), bad input is a usage
/// error (3), the rest is a tool error (2).
impl From<StoreError> for CliError {
    fn from(error: StoreError) -> CliError {
        match error {
            StoreError::NotFound { table: "tasks", id } => {
                CliError::Tool(format!("there is no task {id}; see `orch task list`"))
            }
            StoreError::NotFound {
                table: "alerts",
                id,
            } => CliError::Tool(format!(
                "there is no alert {id}; see `orch alert list --all`"
            )),
            StoreError::TaskState { .. } | StoreError::RepoInUse { .. } => {
                CliError::Refused(error.to_string())
            }
            StoreError::InvalidInput { .. } => CliError::BadArgument(error.to_string()),
            StoreError::Open { .. }
            | StoreError::SchemaTooNew { .. }
            | StoreError::NotOrchDatabase { .. }
            | StoreError::ForeignDatabase { .. }
            | StoreError::WalUnavailable { .. }
            | StoreError::Migration { .. }
            | StoreError::LeaseLost { .. }
            | StoreError::CancelRequested { .. }
            | StoreError::NotFound { .. }
            | StoreError::UnknownRepo { .. }
            | StoreError::StageMismatch { .. }
            | StoreError::UnknownName { .. }
            | StoreError::InvalidSha256 { .. }
            | StoreError::InvalidBootId { .. }
            | StoreError::NoDatabaseFile { .. }
            | StoreError::BootInUse { .. }
            | StoreError::BootNotRegistered { .. }
            | StoreError::BootFile { .. }
            | StoreError::Sqlite { .. } => CliError::Tool(error.to_string()),
        }
    }
}

/// What the user named wrongly (a ref, a folder) is a bad argument (3); git
/// that cannot run, or fails, is a tool error (2).
impl From<WorktreeError> for CliError {
    fn from(error: WorktreeError) -> CliError {
        match error {
            WorktreeError::NotTopLevel { .. }
            | WorktreeError::UnknownRef { .. }
            | WorktreeError::NoCommit { .. } => CliError::BadArgument(error.to_string()),
            WorktreeError::GitUnavailable { .. }
            | WorktreeError::Git { .. }
            | WorktreeError::BranchTaken { .. }
            | WorktreeError::FolderInTheWay { .. }
            | WorktreeError::Tampered { .. }
            | WorktreeError::OutputCut { .. }
            | WorktreeError::Cancelled => CliError::Tool(error.to_string()),
        }
    }
}

/// Creating a task: a terminal stage or a base on a plain folder is a bad
/// argument (3); the store and git map as above; a caught panic is a tool
/// error (2).
impl From<EngineError> for CliError {
    fn from(error: EngineError) -> CliError {
        match error {
            EngineError::Store(error) => error.into(),
            EngineError::Workspace(error) => error.into(),
            other @ EngineError::Panicked { .. } => CliError::Tool(other.to_string()),
            other @ (EngineError::TerminalStage(_) | EngineError::BaseWithoutGit { .. }) => {
                CliError::BadArgument(other.to_string())
            }
        }
    }
}

/// The operator's retry and suite approval: a stage that cannot be retried
/// is a bad argument (3), a state that refuses is refused (4), git failing
/// is a tool error (2).
impl From<OperatorError> for CliError {
    fn from(error: OperatorError) -> CliError {
        match error {
            OperatorError::Store(error) => error.into(),
            other @ (OperatorError::NotWorkingStage(_) | OperatorError::UnknownStop(_)) => {
                CliError::BadArgument(other.to_string())
            }
            other @ OperatorError::Refused(_) => CliError::Refused(other.to_string()),
            other @ OperatorError::Git(_) => CliError::Tool(other.to_string()),
        }
    }
}

/// A repository's checks: what was given wrongly is a bad argument (3); git
/// and the store map as above.
impl From<RepoError> for CliError {
    fn from(error: RepoError) -> CliError {
        match error {
            RepoError::Worktree(error) => error.into(),
            RepoError::Store(error) => error.into(),
            other @ (RepoError::BlankName
            | RepoError::BlankStagingCommand
            | RepoError::BlankCommand { .. }
            | RepoError::NotAFolder(_)
            | RepoError::NameTaken(_)
            | RepoError::BaseWithoutGit(_)
            | RepoError::Unresolvable { .. }
            | RepoError::Registered { .. }
            | RepoError::Suite(_)
            | RepoError::CacheDir { .. }) => CliError::BadArgument(other.to_string()),
        }
    }
}

/// Reading a task's log: stdout closed is an output error; the rest is a
/// tool error (2).
impl From<TaskLogError> for CliError {
    fn from(error: TaskLogError) -> CliError {
        match error {
            TaskLogError::Output(error) => CliError::Output(error),
            TaskLogError::Store(error) => error.into(),
            other @ (TaskLogError::Refused { .. }
            | TaskLogError::Folder { .. }
            | TaskLogError::Open { .. }
            | TaskLogError::Metadata { .. }
            | TaskLogError::Gone(_)
            | TaskLogError::Read(_)) => CliError::Tool(other.to_string()),
        }
    }
}

/// The worker loop could not start or stop cleanly: a tool error (2).
impl From<WorkersError> for CliError {
    fn from(error: WorkersError) -> CliError {
        CliError::Tool(error.to_string())
    }
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

    #[test]
    fn library_errors_map_to_the_documented_codes() {
        let code = |error: CliError| exit_code(&Err(error));
        let missing = StoreError::NotFound {
            table: "tasks",
            id: 7,
        };
        let CliError::Tool(message) = CliError::from(missing) else {
            panic!("an unknown task is a tool error");
        };
        assert_eq!(message, "there is no task 7; see `orch task list`");
        assert_eq!(code(RepoError::BlankName.into()), 3);
        assert_eq!(code(RepoError::NameTaken("x".to_owned()).into()), 3);
        assert_eq!(code(OperatorError::Refused("no".to_owned()).into()), 4);
        assert_eq!(
            code(TaskLogError::Output(io::Error::other("closed")).into()),
            2
        );
        assert!(matches!(
            CliError::from(TaskLogError::Output(io::Error::other("closed"))),
            CliError::Output(_)
        ));
        assert_eq!(code(WorktreeError::Cancelled.into()), 2);
    }
}
