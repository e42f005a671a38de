//! `orch staging run`: turns the arguments into a run spec, runs the suite
//! through `orch-staging-runner`, and prints its summary.

use std::io::Write;

use orch_staging_runner::{LogState, RunSpec, SupervisorProgram, run_to_log};

use crate::cli::RunArgs;
use crate::{CliError, Ending};

/// Runs the suite once and prints the JSON summary on stdout.
///
/// # Errors
///
/// [`CliError::BadArgument`] when the log's folder does not exist (checked
/// before the suite runs, so that a typo costs nothing), and
/// [`CliError::Output`] when the summary cannot be printed.
pub(crate) fn run(args: &RunArgs) -> Result<Ending, CliError> {
    let folder = match args.log.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => std::path::Path::new("."),
    };
    if !folder.is_dir() {
        return Err(CliError::BadArgument(format!(
            "the folder of --log {} does not exist; create it or pass another path",
            args.log.display()
        )));
    }
    // Absolute paths in the log and the summary: they are read later, from
    // elsewhere.
    let repo = std::path::absolute(&args.repo).unwrap_or_else(|_| args.repo.clone());
    let log = std::path::absolute(&args.log).unwrap_or_else(|_| args.log.clone());
    let mut spec = RunSpec::new(&args.cmd, repo)
        .timeout(Some(args.timeout))
        .grace(args.grace)
        .supervisor(SupervisorProgram::CurrentExe);
    for key in &args.scrub_env {
        spec = spec.scrub(key);
    }

    let staging = run_to_log(&spec, &log);
    let summary = staging.summary();
    let mut line = serde_json::to_string(&summary)
        .map_err(|error| CliError::Output(std::io::Error::other(error)))?;
    line.push('\n');
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(line.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(CliError::Output)?;

    Ok(match (&staging.log, staging.outcome.status()) {
        (LogState::Written(_), Some(status)) if status.is_passed() => Ending::StagingPassed,
        (LogState::Written(_), Some(_)) => Ending::StagingFailed,
        (LogState::Written(_), None) | (LogState::NotWritten | LogState::Failed(_), _) => {
            Ending::StagingToolError
        }
    })
}
