//! The roadmap page's cache (`/runners/roadmap`, docs/http.md): `orch
//! roadmap` reads the whole run and verdict history, so the dashboard keeps
//! the last text it computed, with when and on which history
//! ([`Store::history_marks`]). Below `web` (whose `Dashboard` holds it): it
//! knows the store only; how to open a connection and compute the text are
//! given to it by `http`.
//!
//! A request serves the kept text at once. When it is stale (the history
//! grew since, or it is older than [`MAX_AGE_MS`]) the same request starts
//! one background refresh, never two at once (a flag taken before the
//! thread is spawned and given back when it ends, even by a panic); the
//! next requests serve the old text until the new one is in. The very
//! first request after start computes it on its own thread (the page says
//! so); a request that finds that first computation under way is told to
//! reload. A failed refresh keeps the old text and the page shows the
//! error. Memory: one text and one error at a time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use orch_store::Store;

/// Opens a database connection of its own (for the background refresh).
pub(crate) type Open = Box<dyn Fn() -> Result<Store, String> + Send + Sync>;
/// Computes the text on a connection, or says why it could not.
pub(crate) type Compute = Box<dyn Fn(&Store) -> Result<String, String> + Send + Sync>;

/// Older than this (milliseconds), the kept roadmap is refreshed even if
/// the history did not grow (a repository's test command or mode changed).
pub(crate) const MAX_AGE_MS: i64 = 60_000;

/// The roadmap cache of one `serve` process.
pub(crate) struct RoadmapCache {
    open: Open,
    compute: Compute,
    kept: Mutex<Kept>,
    /// A computation is under way (the first, or a background refresh).
    computing: AtomicBool,
}

#[derive(Debug, Default)]
struct Kept {
    text: Option<Computed>,
    /// The last failure, with when: cleared by the next success.
    error: Option<(i64, String)>,
}

#[derive(Debug, Clone)]
struct Computed {
    text: String,
    at_ms: i64,
    marks: [i64; 3],
}

/// What a request shows.
#[derive(Debug)]
pub(crate) struct Shown {
    /// The text, when one was computed.
    pub(crate) text: Option<String>,
    /// When it was computed.
    pub(crate) at_ms: i64,
    /// Now, for "N s ago".
    pub(crate) now_ms: i64,
    /// Computed on this very request (the first after start).
    pub(crate) cold: bool,
    /// A refresh is under way (the text shown is the older one).
    pub(crate) refreshing: bool,
    /// The last failure and when.
    pub(crate) error: Option<(i64, String)>,
}

/// Gives the flag back when dropped (also on a panic of the computation).
struct Claim<'a>(&'a AtomicBool);

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

impl std::fmt::Debug for RoadmapCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoadmapCache")
            .field("kept", &self.kept)
            .field("computing", &self.computing)
            .finish_non_exhaustive()
    }
}

impl RoadmapCache {
    pub(crate) fn new(open: Open, compute: Compute) -> RoadmapCache {
        RoadmapCache {
            open,
            compute,
            kept: Mutex::new(Kept::default()),
            computing: AtomicBool::new(false),
        }
    }

    fn claim(&self) -> Option<Claim<'_>> {
        self.computing
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .ok()
            .map(|_| Claim(&self.computing))
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Computes on `store` and keeps the outcome: a success replaces the
    /// text, a failure keeps the old text and records why.
    fn compute(&self, store: &Store) {
        // The marks first: rows that come in during the computation make
        // the next request refresh again, never the other way round.
        let marks = store.history_marks();
        let text = marks
            .map_err(|e| e.to_string())
            .and_then(|marks| (self.compute)(store).map(|t| (t, marks)));
        let now = store.now_ms();
        let mut kept = self.kept();
        match text {
            Ok((text, marks)) => {
                kept.text = Some(Computed {
                    text,
                    at_ms: now,
                    marks,
                });
                kept.error = None;
            }
            Err(why) => kept.error = Some((now, why)),
        }
    }

    /// The roadmap for a request served on `store` (its handler's own
    /// connection).
    pub(crate) fn show(self: &Arc<Self>, store: &Store) -> Shown {
        let now_ms = store.now_ms();
        let (text, error) = {
            let kept = self.kept();
            (kept.text.clone(), kept.error.clone())
        };
        let Some(text) = text else {
            // Nothing kept yet: the first request computes on its thread.
            let Some(claim) = self.claim() else {
                return Shown {
                    text: None,
                    at_ms: now_ms,
                    now_ms,
                    cold: false,
                    refreshing: true,
                    error,
                };
            };
            self.compute(store);
            drop(claim);
            let kept = self.kept();
            return Shown {
                text: kept.text.as_ref().map(|c| c.text.clone()),
                at_ms: kept.text.as_ref().map_or(now_ms, |c| c.at_ms),
                now_ms,
                cold: true,
                refreshing: false,
                error: kept.error.clone(),
            };
        };
        let stale = now_ms.saturating_sub(text.at_ms) >= MAX_AGE_MS
            || store.history_marks().map_or(true, |m| m != text.marks);
        let refreshing = if stale {
            self.refresh_in_background(now_ms)
        } else {
            self.computing.load(Ordering::SeqCst)
        };
        Shown {
            text: Some(text.text),
            at_ms: text.at_ms,
            now_ms,
            cold: false,
            refreshing,
            error,
        }
    }

    /// Starts one background refresh unless one is under way; whether one
    /// is under way after the call.
    fn refresh_in_background(self: &Arc<Self>, now_ms: i64) -> bool {
        let Some(claim) = self.claim() else {
            return true;
        };
        // The thread takes the flag over: forget this claim without
        // giving it back, the thread's own gives it back.
        std::mem::forget(claim);
        let cache = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("roadmap".to_owned())
            .spawn(move || {
                let _claim = Claim(&cache.computing);
                match (cache.open)() {
                    Ok(store) => cache.compute(&store),
                    Err(e) => cache.kept().error = Some((now_ms, e)),
                }
            });
        if let Err(e) = spawned {
            self.computing.store(false, Ordering::SeqCst);
            self.kept().error = Some((now_ms, format!("cannot start the refresh thread: {e}")));
            return false;
        }
        true
    }
}
