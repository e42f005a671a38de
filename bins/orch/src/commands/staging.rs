//! `orch staging run`: turns the arguments into a run spec, runs the suite
//! through `orch-staging-runner`, cancels it on SIGINT or SIGTERM, streams
//! its output to stderr as it arrives (unless `--quiet`), and prints its
//! summary on stdout.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use orch_process::exec::SupervisorProgram;
use orch_staging_runner::{LogState, Outcome, RunSpec, start_to_log};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::flag;

use crate::cli::RunArgs;
use crate::{CliError, Ending};

/// The staging log's file name.
const LOG_NAME: &str = "15-staging-log.md";

/// Runs the suite once and prints the JSON summary on stdout. `home` is orch's
/// home (`Config::home`), where the default log goes.
///
/// # Errors
///
/// [`CliError::BadArgument`] when `--log` names a folder or a path whose
/// folder does not exist, or when the default log folder cannot be created
/// (all checked before the suite runs, so that a typo costs nothing), and
/// [`CliError::Output`] when the summary cannot be printed.
pub(crate) fn run(args: &RunArgs, home: Option<&Path>) -> Result<Ending, CliError> {
    // Absolute paths in the log and the summary: they are read later, from
    // elsewhere.
    let repo = std::path::absolute(&args.repo).unwrap_or_else(|_| args.repo.clone());
    let log = match &args.log {
        Some(log) => checked_log_path(log)?,
        None => default_log_path(&repo, home)?,
    };
    let mut spec = RunSpec::new(&args.cmd, repo)
        .timeout(Some(args.timeout))
        .grace(args.grace)
        .supervisor(SupervisorProgram::CurrentExe);
    for key in &args.scrub_env {
        spec = spec.scrub(key);
    }
    for key in args.pass_env.iter().filter(|k| !k.trim().is_empty()) {
        spec = spec.pass_env(key.trim());
    }

    // SIGINT and SIGTERM cancel the suite's tree (SIGTERM, the grace,
    // SIGKILL) instead of killing orch and leaving the supervisor to notice.
    // The handlers only set flags (no thread, no lock): the cancel flag the
    // runner checks, and which signal came, for the exit code.
    // The raw output file is streamed as the runner writes it; an older one
    // is removed first, so the stream never shows a previous run's output.
    let sidecar = orch_staging_runner::sidecar_path_for(&log);
    if !args.quiet {
        let _ = std::fs::remove_file(&sidecar);
    }
    let handle = start_to_log(&spec, &log);
    let finished = AtomicBool::new(false);
    let received = Arc::new(AtomicUsize::new(0));
    let mut registered = Vec::new();
    for signal in [SIGINT, SIGTERM] {
        let set = flag::register(signal, handle.canceller().flag()).and_then(|cancel| {
            let which = flag::register_usize(signal, Arc::clone(&received), signal as usize)?;
            Ok([cancel, which])
        });
        match set {
            Ok(ids) => registered.extend(ids),
            Err(error) => eprintln!(
                "warning: cannot watch signal {signal} ({error}); it will end orch without cancelling the suite's tree first"
            ),
        }
    }
    let staging = std::thread::scope(|scope| {
        if !args.quiet {
            scope.spawn(|| stream(&sidecar, &finished));
        }
        let staging = handle.wait();
        finished.store(true, Ordering::SeqCst);
        staging
    });
    for id in registered {
        signal_hook::low_level::unregister(id);
    }

    let summary = staging.summary();
    let mut line = serde_json::to_string(&summary)
        .map_err(|error| CliError::Output(std::io::Error::other(error)))?;
    line.push('\n');
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(line.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(CliError::Output)?;

    Ok(match (&staging.log, &staging.outcome) {
        (LogState::Written(_), Outcome::Cancelled(_)) => {
            Ending::StagingCancelled(i32::try_from(received.load(Ordering::SeqCst)).unwrap_or(0))
        }
        (LogState::Written(_), Outcome::Executed(executed)) if executed.status().is_passed() => {
            Ending::StagingPassed
        }
        (LogState::Written(_), Outcome::Executed(_)) => Ending::StagingFailed,
        (LogState::Written(_), Outcome::ToolError(_))
        | (LogState::NotWritten | LogState::Failed(_), _) => Ending::StagingToolError,
    })
}

/// Copies `file` to stderr as it grows, until `finished` is set, then what
/// is left. A file that never appears (a tool error before the suite
/// started) prints nothing; a stderr that cannot be written stops the copy,
/// never the run.
fn stream(file: &Path, finished: &AtomicBool) {
    let mut opened = None;
    let mut buffer = vec![0_u8; 64 * 1024];
    let mut stderr = std::io::stderr();
    loop {
        // Read after looking at the flag: the last pass sees all the output.
        let last = finished.load(Ordering::SeqCst);
        if opened.is_none() {
            opened = std::fs::File::open(file).ok();
        }
        if let Some(source) = opened.as_mut() {
            loop {
                match source.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let chunk = buffer.get(..n).unwrap_or_default();
                        if stderr
                            .write_all(chunk)
                            .and_then(|()| stderr.flush())
                            .is_err()
                        {
                            return;
                        }
                    }
                }
            }
        }
        if last {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An explicit `--log`: a file path whose folder exists.
fn checked_log_path(log: &Path) -> Result<PathBuf, CliError> {
    let names_folder = log.as_os_str().as_encoded_bytes().ends_with(b"/") || log.is_dir();
    if names_folder {
        return Err(CliError::BadArgument(format!(
            "--log {} names a folder; give the log's file path, e.g. {}",
            log.display(),
            log.join(LOG_NAME).display()
        )));
    }
    let folder = match log.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if !folder.is_dir() {
        return Err(CliError::BadArgument(format!(
            "the folder of --log {} does not exist; create it or pass another path",
            log.display()
        )));
    }
    Ok(std::path::absolute(log).unwrap_or_else(|_| log.to_path_buf()))
}

/// `$ORCH_HOME/staging/<repo's name>/15-staging-log.md`, its folder created.
fn default_log_path(repo: &Path, home: Option<&Path>) -> Result<PathBuf, CliError> {
    let Some(home) = home else {
        return Err(CliError::BadArgument(
            "cannot tell where orch keeps its files: neither ORCH_HOME nor HOME is set; set ORCH_HOME or pass --log".to_owned(),
        ));
    };
    let name = repo
        .file_name()
        .map_or_else(|| "root".into(), |n| n.to_string_lossy().into_owned());
    let folder = home.join("staging").join(name);
    std::fs::create_dir_all(&folder).map_err(|error| {
        CliError::BadArgument(format!(
            "cannot create the log folder {}: {error}; set ORCH_HOME to a writable folder or pass --log",
            folder.display()
        ))
    })?;
    Ok(folder.join(LOG_NAME))
}
