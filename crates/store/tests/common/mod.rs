//! Shared fixtures: a database file in a temporary directory, a manual clock.

#![allow(dead_code, reason = "each test binary uses a different part")]
#![expect(
    clippy::unwrap_used,
    reason = "test fixture: a panic is the failure report"
)]

use std::path::PathBuf;
use std::sync::Arc;

use orch_store::{JobId, ManualClock, NewJob, Store, StoreOptions, TaskId};

/// The time every fixture starts at: 2026-01-01T00:00:00Z.
pub(crate) const T0: i64 = 1_767_225_600_000;

pub(crate) struct Fixture {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) path: PathBuf,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) store: Store,
    pub(crate) task: TaskId,
}

impl Fixture {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("orch.db");
        let clock = Arc::new(ManualClock::new(T0));
        let store = Store::open_with(&path, options(&clock)).unwrap();
        let repo = store.add_repo("demo", "/srv/demo", "make staging").unwrap();
        let task = store.add_task(repo, "a task", "deploy-staging").unwrap();
        Fixture {
            dir,
            path,
            clock,
            store,
            task,
        }
    }

    /// Enqueues a job for the fixture's task, due now, with default attempts.
    pub(crate) fn enqueue(&self, stage: &str, role: &str) -> JobId {
        self.store
            .enqueue(&NewJob::new(self.task, stage, role))
            .unwrap()
    }

    /// Another connection to the same file, on the same clock.
    pub(crate) fn reopen(&self) -> Store {
        Store::open_with(&self.path, options(&self.clock)).unwrap()
    }
}

pub(crate) fn options(clock: &Arc<ManualClock>) -> StoreOptions {
    StoreOptions {
        clock: clock.clone(),
        ..StoreOptions::default()
    }
}
