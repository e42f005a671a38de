//! The one home of how `serve` and `work` learn that SIGINT or SIGTERM
//! arrived: signal-hook sets atomics from the handler (no thread, no lock, no
//! allocation in the handler), and the commands poll them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM};

use crate::CliError;

/// A shutdown request, set by the first SIGINT or SIGTERM (a second one sets
/// it again, which changes nothing).
#[derive(Debug, Clone)]
pub(crate) struct Shutdown {
    asked: Arc<AtomicBool>,
    /// The number of the last signal seen (0: none).
    signal: Arc<AtomicUsize>,
}

impl Shutdown {
    /// Installs the handlers for SIGINT and SIGTERM.
    ///
    /// # Errors
    ///
    /// [`CliError::Tool`] when the handlers cannot be installed.
    pub(crate) fn watch() -> Result<Shutdown, CliError> {
        let shutdown = Shutdown {
            asked: Arc::new(AtomicBool::new(false)),
            signal: Arc::new(AtomicUsize::new(0)),
        };
        for signal in [SIGINT, SIGTERM] {
            let cannot = |error: std::io::Error| {
                CliError::Tool(format!("cannot watch signal {signal}: {error}"))
            };
            let number = usize::try_from(signal)
                .map_err(|_| CliError::Tool(format!("signal {signal} has no unsigned number")))?;
            // The number first: actions run in the order they were
            // registered, so whoever sees `asked` finds the signal set.
            signal_hook::flag::register_usize(signal, Arc::clone(&shutdown.signal), number)
                .map_err(cannot)?;
            signal_hook::flag::register(signal, Arc::clone(&shutdown.asked)).map_err(cannot)?;
        }
        Ok(shutdown)
    }

    /// Whether a shutdown was asked.
    pub(crate) fn asked(&self) -> bool {
        self.asked.load(Ordering::SeqCst)
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
