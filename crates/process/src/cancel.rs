//! [`Canceller`]: ends a run from any thread, waking the runner's event
//! loop; re-exported by [`crate::exec`].

use std::io::{PipeWriter, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

#[derive(Debug, Default)]
struct CancelState {
    requested: Arc<AtomicBool>,
    /// Wakes the runner's event loop; `None` once the run is over.
    wake: Mutex<Option<PipeWriter>>,
}

/// Ends a run from any thread; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Canceller(Arc<CancelState>);

impl Canceller {
    /// Asks the run to end: SIGTERM to its whole tree, the grace, SIGKILL.
    /// Returns at once; [`RunHandle::wait`](crate::exec::RunHandle::wait) reports [`Ending::Cancelled`](crate::exec::Ending::Cancelled)
    /// (or how it ended, if it ended first). Calling it again does nothing.
    pub fn cancel(&self) {
        self.0.requested.store(true, Ordering::SeqCst);
        let mut wake = self.0.wake.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(pipe) = wake.as_mut() {
            // The pipe holds one byte or more: the loop is woken either way.
            let _ = pipe.write(b"c");
        }
    }

    /// Whether [`Canceller::cancel`] was called (or the flag set).
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.0.requested.load(Ordering::SeqCst)
    }

    /// The flag behind [`Canceller::cancel`], for a signal handler: setting it
    /// (for example with `signal_hook::flag::register`) cancels the run
    /// without a thread or a lock. The event loop sees it when the signal
    /// interrupts its `poll`, and at the latest at its next periodic check
    /// (every 200 ms).
    #[must_use]
    pub fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.0.requested)
    }

    pub(crate) fn attach(&self, wake: PipeWriter) {
        *self.0.wake.lock().unwrap_or_else(PoisonError::into_inner) = Some(wake);
    }

    pub(crate) fn detach(&self) {
        *self.0.wake.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}
