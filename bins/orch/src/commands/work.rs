//! `orch work`: one worker in the foreground (the launcher's `Workers`,
//! started as [`super::serve::start_workers`] starts them for `serve`).

use std::time::Duration;

use super::serve::start_workers;
use super::{Setup, check_sandbox};
use crate::shutdown::Shutdown;
use crate::{CliError, Ending};

/// `orch work`: one worker in the foreground.
///
/// SIGINT or SIGTERM stops it as it stops `serve`, without the grace: no new
/// claim, the running job's tree is cancelled at once (a foreground worker's
/// operator asked for it to end now) and the job is given back to the queue
/// (a release, not a rescue: it never counts towards poison); then it ends
/// with the signal's shell code.
pub(crate) fn work(setup: &Setup, until_idle: bool) -> Result<Ending, CliError> {
    check_sandbox(setup.config.sandbox_mode())?;
    let workers = start_workers(setup, "work", "work", 1, until_idle)?;
    let shutdown = Shutdown::watch()?;
    // Short naps, so a signal ends `work` at once.
    while !shutdown.asked() && !workers.is_finished() && !super::stdout_is_closed() {
        std::thread::sleep(Duration::from_millis(20));
    }
    // No grace: a foreground worker's operator asked for it to end now.
    workers.shutdown(Duration::ZERO)?;
    if let Some(error) = super::take_stdout_error() {
        return Err(CliError::Output(error));
    }
    Ok(match shutdown.signal() {
        Some(signal) => {
            eprintln!(
                "orch work: stopped by signal {signal}; the running job, if any, was given back to the queue"
            );
            Ending::Stopped(signal)
        }
        // Idle with --until-idle.
        None => Ending::Done,
    })
}
