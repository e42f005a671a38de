//! The one home of how `serve` and `work` learn that SIGINT or SIGTERM
//! arrived: signal-hook's iterator (a self-pipe written by the handler; no
//! lock or allocation in the handler) read by one thread that counts the
//! signals and sets atomics, which the commands poll. The first signal asks
//! for the shutdown; a second one forces it (`serve` then cuts the running
//! jobs' grace short).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::CliError;

/// A shutdown request, set by the first SIGINT or SIGTERM; a second one
/// sets [`Shutdown::forced`].
#[derive(Debug, Clone)]
pub(crate) struct Shutdown {
    asked: Arc<AtomicBool>,
    forced: Arc<AtomicBool>,
    /// The number of the first signal seen (0: none).
    signal: Arc<AtomicUsize>,
}

impl Shutdown {
    /// Installs the handlers for SIGINT and SIGTERM, and the thread that
    /// reads them.
    ///
    /// # Errors
    ///
    /// [`CliError::Tool`] when the handlers or the thread cannot be had.
    pub(crate) fn watch() -> Result<Shutdown, CliError> {
        let shutdown = Shutdown {
            asked: Arc::new(AtomicBool::new(false)),
            forced: Arc::new(AtomicBool::new(false)),
            signal: Arc::new(AtomicUsize::new(0)),
        };
        let mut signals = Signals::new([SIGINT, SIGTERM])
            .map_err(|error| CliError::Tool(format!("cannot watch SIGINT and SIGTERM: {error}")))?;
        let seen = shutdown.clone();
        std::thread::Builder::new()
            .name("orch-signals".to_owned())
            .spawn(move || {
                for signal in signals.forever() {
                    if seen.asked.load(Ordering::SeqCst) {
                        seen.forced.store(true, Ordering::SeqCst);
                    } else {
                        // The number first: whoever sees `asked` finds the
                        // signal set.
                        seen.signal
                            .store(usize::try_from(signal).unwrap_or(0), Ordering::SeqCst);
                        seen.asked.store(true, Ordering::SeqCst);
                    }
                }
            })
            .map_err(|error| {
                CliError::Tool(format!("cannot start the signal-watching thread: {error}"))
            })?;
        Ok(shutdown)
    }

    /// Whether a shutdown was asked.
    pub(crate) fn asked(&self) -> bool {
        self.asked.load(Ordering::SeqCst)
    }

    /// Whether a second signal asked to stop now.
    pub(crate) fn forced(&self) -> &AtomicBool {
        &self.forced
    }

    /// The flag itself, for code that polls a plain `AtomicBool` (the HTTP
    /// handlers).
    pub(crate) fn flag(&self) -> &Arc<AtomicBool> {
        &self.asked
    }

    /// The signal that asked for the shutdown; `None` while none arrived.
    pub(crate) fn signal(&self) -> Option<i32> {
        match self.signal.load(Ordering::SeqCst) {
            0 => None,
            n => i32::try_from(n).ok(),
        }
    }
}
