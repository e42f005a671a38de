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
//! error; it is tried again when the history grows or [`MAX_AGE_MS`] has
//! passed, not on every request. Memory: one text and one error at a time.

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
    /// The last computation's start and the history it read, failed or
    /// not: a failure is not retried on every request, only when the
    /// history grows again or [`MAX_AGE_MS`] has passed.
    tried: Option<(i64, [i64; 3])>,
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
        let started = store.now_ms();
        let marks = store.history_marks();
        if let Ok(marks) = &marks {
            self.kept().tried = Some((started, *marks));
        }
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
        let (text, error, tried) = {
            let kept = self.kept();
            (kept.text.clone(), kept.error.clone(), kept.tried)
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
        let (tried_ms, tried_marks) = tried.unwrap_or((text.at_ms, text.marks));
        let stale = now_ms.saturating_sub(tried_ms) >= MAX_AGE_MS
            || store.history_marks().map_or(true, |m| m != tried_marks);
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use orch_store::{NewAgentRun, NewJob, NewRepo, Role, Stage, TaskId, Transport};

    use super::*;

    /// A refresh that fails keeps the kept text and records why; no second
    /// refresh starts while one is under way.
    #[test]
    fn a_failed_refresh_keeps_the_old_text_and_shows_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("orch.db");
        let store = Store::open(&db).unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let opened = db.clone();
        let cache = Arc::new(RoadmapCache::new(
            Box::new(move || Store::open(&opened).map_err(|e| e.to_string())),
            Box::new(move |_| {
                if counted.fetch_add(1, Ordering::SeqCst) == 0 {
                    Ok("the first roadmap".to_owned())
                } else {
                    Err("the history cannot be read".to_owned())
                }
            }),
        ));
        let first = cache.show(&store);
        assert!(first.cold);
        assert_eq!(first.text.as_deref(), Some("the first roadmap"));
        assert!(first.error.is_none());
        // Unchanged history: kept, nothing computed.
        let kept = cache.show(&store);
        assert!(!kept.cold && !kept.refreshing);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // A new run makes it stale.
        let repo = store
            .add_repo(&NewRepo::new("app", "/srv/app", "make staging"))
            .unwrap();
        let (task, job) = store
            .create_task(
                repo,
                "t",
                &NewJob::new(TaskId::new(0), Stage::Analysis, Role::Analyst),
            )
            .unwrap();
        store
            .record_agent_run(&NewAgentRun::new(
                job,
                task,
                Role::Analyst,
                Stage::Analysis,
                Transport::Llm,
                "passed".to_owned(),
            ))
            .unwrap();
        let stale = cache.show(&store);
        assert!(stale.refreshing);
        assert_eq!(stale.text.as_deref(), Some("the first roadmap"));
        // The refresh ends (the bound only ends a hung test).
        let give_up = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while cache.computing.load(Ordering::SeqCst) {
            assert!(
                std::time::Instant::now() < give_up,
                "the refresh never ended"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        let after = cache.show(&store);
        assert_eq!(after.text.as_deref(), Some("the first roadmap"));
        let (_, why) = after.error.unwrap();
        assert_eq!(why, "the history cannot be read");
        // The failure is not retried until the history grows again.
        assert!(!after.refreshing);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
