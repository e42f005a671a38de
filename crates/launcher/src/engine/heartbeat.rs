//! What fences a running job by its lease: the heartbeat that extends it and
//! cancels the run when it is lost, a stop or a cancel is asked, and the gate
//! a run's side effects pass.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use orch_store::{Lease, StoreError};

use crate::context::RunControl;

use super::{Engine, StopSignal};

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
        lease_lost: &AtomicBool,
        cancel_asked: &AtomicBool,
    ) {
        let every = (self.config.lease / 3).max(Duration::from_millis(10));
        let tick = every.min(Duration::from_millis(100));
        // Checked: a lease too long for the clock beats every tick instead
        // of panicking (the binary refuses one past 7 days).
        let beat_after = |now: Instant| now.checked_add(every).unwrap_or(now);
        let mut next_beat = beat_after(Instant::now());
        let lose = || {
            lease_lost.store(true, Ordering::SeqCst);
            control.cancel();
        };
        loop {
            match done.recv_timeout(tick) {
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => {}
            }
            self.beat_now();
            if stop.is_stopped() && !control.is_cancelled() {
                control.cancel();
            }
            if lease_lost.load(Ordering::SeqCst) {
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
                    if job.cancel_requested_ms.is_some() && !cancel_asked.load(Ordering::SeqCst) {
                        cancel_asked.store(true, Ordering::SeqCst);
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
            let start = orch_store::NewEffect {
                kind: effect.kind.to_owned(),
                commit: effect.commit.clone(),
                repeatable: effect.repeatable,
            };
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
