//! Shared fixtures: a database file in a temporary directory, a manual clock.

#![allow(dead_code, reason = "each test binary uses a different part")]
#![expect(
    clippy::unwrap_used,
    reason = "test fixture: a panic is the failure report"
)]

use orch_pipeline::Stage;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use orch_store::{
    Claimed, JobId, LeaseOwner, ManualClock, NewAgentRun, NewAlert, NewJob, NewRepo, NewTransition,
    Store, StoreOptions, TaskId, TaskStatus, Transport,
};

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
        let repo = store
            .add_repo(&NewRepo::new("demo", "/srv/demo", "make staging"))
            .unwrap();
        let task = store
            .add_task(repo, "a task", Stage::DeployStaging)
            .unwrap();
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
            .enqueue(&NewJob::new(
                self.task,
                stage.parse().unwrap(),
                role.parse().unwrap(),
            ))
            .unwrap()
    }

    /// Another connection to the same file, on the same clock.
    pub(crate) fn reopen(&self) -> Store {
        Store::open_with(&self.path, options(&self.clock)).unwrap()
    }

    /// Claims the next due job for `boot-1`/`w` with a one-minute lease; the
    /// queue must not be empty.
    pub(crate) fn claim(&self) -> Claimed {
        self.store
            .claim(&LeaseOwner::new("boot-1", "w"), Duration::from_secs(60))
            .unwrap()
            .unwrap()
    }

    /// How many rows `table` holds, read on another connection.
    pub(crate) fn count(&self, table: &str) -> i64 {
        rusqlite::Connection::open(&self.path)
            .unwrap()
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }
}

/// An LLM run of the claimed job that cost `cost_usd`.
pub(crate) fn run_of(claimed: &Claimed, cost_usd: Option<f64>) -> NewAgentRun {
    NewAgentRun::new(
        claimed.job.id,
        claimed.job.task,
        claimed.job.role,
        claimed.job.stage,
        Transport::Llm,
        "passed",
    )
    .with_started_ms(T0)
    .with_ended_ms(T0 + 1_000)
    .with_duration_ms(1_000)
    .with_exit_code(Some(0))
    .with_cost_usd(cost_usd)
}

/// A transition of `task` without gate decisions.
pub(crate) fn transition(task: TaskId, from: &str, to: &str, status: TaskStatus) -> NewTransition {
    NewTransition::new(task, from.parse().unwrap(), to.parse().unwrap(), status)
        .with_developer_retries(0)
        .with_decisions(vec![])
}

/// An alert of `kind` about `task` and `job`.
pub(crate) fn alert(kind: orch_store::AlertKind, task: TaskId, job: JobId) -> NewAlert {
    NewAlert::new(kind, format!("{kind}: look at job {job}"))
        .with_task(Some(task))
        .with_job(Some(job))
}

pub(crate) fn options(clock: &Arc<ManualClock>) -> StoreOptions {
    StoreOptions {
        clock: clock.clone(),
        ..StoreOptions::default()
    }
}
