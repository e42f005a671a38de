//! What fences a running job by its lease: the heartbeat that extends it and
//! cancels the run when it is lost, a stop or a cancel is asked, and the gate
//! a run's side effects pass.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use orch_store::{Lease, StoreError};

use crate::context::RunControl;

use super::{Engine, StopSignal};

/// Why the heartbeat cancelled a run. When several apply, the strongest
/// wins: a lost lease over an operator's cancel over a stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum CancelCause {
    /// The worker is stopping (a shutdown): the job is given back.
    Stop,
    /// An operator asked to cancel the job: it ends blocked, `cancelled`.
    Operator,
    /// The lease was lost or lapsed: the job is no longer this worker's,
    /// and nothing of its end may be written.
    LeaseLost,
}

impl CancelCause {
    const fn code(self) -> u8 {
        match self {
            CancelCause::Stop => 1,
            CancelCause::Operator => 2,
            CancelCause::LeaseLost => 3,
        }
    }
}

/// What the heartbeat saw while a run went on: the strongest
/// [`CancelCause`] so far, shared between the heartbeat's thread and the
/// run's.
#[derive(Debug, Default)]
pub(super) struct Watch(AtomicU8);

impl Watch {
    /// Records `cause`, unless a stronger one was recorded already.
    fn raise(&self, cause: CancelCause) {
        self.0.fetch_max(cause.code(), Ordering::SeqCst);
    }

    /// Why the run was cancelled, if it was.
    pub(super) fn cause(&self) -> Option<CancelCause> {
        match self.0.load(Ordering::SeqCst) {
            0 => None,
            1 => Some(CancelCause::Stop),
            2 => Some(CancelCause::Operator),
            _ => Some(CancelCause::LeaseLost),
        }
    }

    /// Whether the lease was lost.
    pub(super) fn lease_lost(&self) -> bool {
        self.cause() == Some(CancelCause::LeaseLost)
    }
}

impl Engine {
    /// Watches the lease every tick (at most 100 ms apart) until the run
    /// ends, and extends it every third of its length. Each tick reads the
    /// job by primary key: the run is cancelled at once when the lease is
    /// lost (the job is no longer running under this lease's token: it was
    /// rescued, maybe claimed by another worker) or has lapsed unrenewed
    /// (its expiry passed, say while the database was write-locked or this
    /// process was stopped: a rescuer may take it any moment), when a stop
    /// is asked, or when an operator asked to cancel the job.
    pub(super) fn heartbeat(
        &self,
        lease: Lease,
        done: &mpsc::Receiver<()>,
        stop: &StopSignal,
        control: &RunControl,
        watch: &Watch,
    ) {
        let every = (self.config.lease / 3).max(Duration::from_millis(10));
        let tick = every.min(Duration::from_millis(100));
        // Checked: a lease too long for the clock beats every tick instead
        // of panicking (the binary refuses one past 7 days).
        let beat_after = |now: Instant| now.checked_add(every).unwrap_or(now);
        let mut next_beat = beat_after(Instant::now());
        let lose = || {
            watch.raise(CancelCause::LeaseLost);
            control.cancel();
        };
        loop {
            match done.recv_timeout(tick) {
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => {}
            }
            self.beat_now();
            if stop.is_stopped() && !control.is_cancelled() {
                watch.raise(CancelCause::Stop);
                control.cancel();
            }
            if watch.lease_lost() {
                continue;
            }
            // One read by primary key: the lease and the operator's cancel.
            let seen = {
                let store = self.store();
                store.job(lease.job).map(|job| (job, store.now_ms()))
            };
            match seen {
                Ok((job, now)) => {
                    let held = job.state == orch_store::JobState::Running
                        && job.lease_token == lease.token
                        && job.lease.as_ref().is_some_and(|l| l.expires_ms > now);
                    if !held {
                        lose();
                        continue;
                    }
                    if job.cancel_requested_ms.is_some()
                        && watch.cause() < Some(CancelCause::Operator)
                    {
                        watch.raise(CancelCause::Operator);
                        control.cancel();
                    }
                }
                // Gone: it cannot be ours any more.
                Err(StoreError::NotFound { .. }) => {
                    lose();
                    continue;
                }
                // A transient failure: the next tick reads again; a lease
                // that lapses meanwhile is lost at the first read that works.
                Err(_) => {}
            }
            if Instant::now() >= next_beat {
                next_beat = beat_after(Instant::now());
                match self.store().heartbeat(lease, self.config.lease) {
                    Ok(_) => {}
                    Err(StoreError::LeaseLost { .. }) => lose(),
                    // A transient failure: the next beat tries again, and the
                    // lease is three beats long.
                    Err(_) => {}
                }
            }
        }
    }

    /// The gate a run's side effects pass ([`RunControl::begin_effect`]):
    /// their start written to the store, fenced by `lease`.
    pub(super) fn effect_gate(&self, lease: Lease) -> crate::context::EffectGate {
        let store = Arc::clone(&self.store);
        Arc::new(move |effect: &crate::context::EffectStart| {
            let start = orch_store::NewEffect::new(effect.kind.to_owned(), effect.repeatable)
                .with_commit(effect.commit.clone());
            let begun = store
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .begin_effect(lease, &start);
            match begun {
                Ok(_) => Ok(()),
                Err(
                    error @ (StoreError::LeaseLost { .. } | StoreError::CancelRequested { .. }),
                ) => Err(crate::context::EffectRefused::Fenced(error.to_string())),
                Err(error) => Err(crate::context::EffectRefused::Unrecorded(error.to_string())),
            }
        })
    }
}
