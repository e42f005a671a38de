//! The `/queue` snapshot on a long history: `queue_snapshot(20)` on a real
//! database file (WAL, `synchronous = NORMAL`) holding 100,000 `agent_runs`
//! rows (mixed roles and outcomes, a quarter of them the staging runner's),
//! 1,000 done jobs, 50 queued jobs (10 of them deferred), 5 running jobs and
//! 20 open alerts (plus 20 acknowledged).
//!
//! Two measurements: criterion's median on a quiet database, then 2,000
//! timed calls while another thread, on its own connection, runs
//! enqueue + claim + complete as fast as it can; the median, the 99th
//! percentile and the maximum of those calls are printed to stdout. Figures
//! go to `docs/benchmarks.md`.
//!
//! Run with: `cargo bench -p orch-store --bench snapshot`

#![expect(clippy::unwrap_used, reason = "benchmark setup: a panic is the report")]

use orch_pipeline::{Role, Stage};
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use criterion::Criterion;
use orch_store::{
    JobState, LeaseOwner, NewAlert, NewJob, NewRepo, STAGING_RUNNER_ROLE, Store, TaskId,
};

const AGENT_RUNS: i64 = 100_000;
const DONE_JOBS: i64 = 1_000;
const QUEUED_DUE: usize = 40;
const DEFERRED: usize = 10;
const RUNNING: usize = 5;
const OPEN_ALERTS: usize = 20;
const TIMED_CALLS: usize = 2_000;
const LIMIT: u32 = 20;

/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600_000;

/// Roles of the history, one run in eight each; two slots are the staging
/// runner's, so a quarter of the rows are its.
const ROLES: [&str; 8] = [
    "developer",
    "tester",
    "reviewer",
    STAGING_RUNNER_ROLE.as_str(),
    "deployer",
    "deploy-finalizer",
    STAGING_RUNNER_ROLE.as_str(),
    "post-deploy-monitor",
];
const OUTCOMES: [&str; 9] = [
    "passed",
    "passed",
    "passed",
    "failed",
    "timed_out",
    "deferred",
    "exhausted",
    "fallback",
    "cancelled",
];

/// Builds the history with raw inserts in one transaction (the API would
/// take 100,000 transactions), then the live part of the queue through the
/// API.
fn fixture(path: &Path) -> Store {
    let store = Store::open(path).unwrap();
    let repo = store
        .add_repo(&NewRepo::new("bench", "/srv/bench", "true"))
        .unwrap();
    {
        let mut conn = rusqlite::Connection::open(path).unwrap();
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        let tx = conn.transaction().unwrap();
        {
            let mut task = tx
                .prepare(
                    "INSERT INTO tasks (id, repo_id, title, stage, status, created_ms, updated_ms) \
                     VALUES (?1, ?2, 'history', 'done', 'done', ?3, ?3)",
                )
                .unwrap();
            let mut job = tx
                .prepare(
                    "INSERT INTO jobs (id, task_id, stage, role, state, attempts, max_attempts, \
                     run_after_ms, lease_token, created_ms, updated_ms, claimed_ms) \
                     VALUES (?1, ?1, 'testing', 'tester', 'done', 1, 3, ?2, 1, ?2, ?2, ?2)",
                )
                .unwrap();
            for id in 1..=DONE_JOBS {
                task.execute(rusqlite::params![id, repo, T0 + id]).unwrap();
                job.execute(rusqlite::params![id, T0 + id]).unwrap();
            }
            let mut run = tx
                .prepare(
                    "INSERT INTO agent_runs (job_id, task_id, role, stage, transport, started_ms, \
                     ended_ms, duration_ms, exit_code, outcome, cost_usd, tokens_in, tokens_out) \
                     VALUES (?1, ?1, ?2, 'testing', ?3, ?4, ?5, ?6, 0, ?7, ?8, ?9, ?10)",
                )
                .unwrap();
            for i in 0..AGENT_RUNS {
                let role = ROLES[(i % 8) as usize];
                let outcome = OUTCOMES[((i / 8) % 9) as usize];
                let llm = role != STAGING_RUNNER_ROLE.as_str();
                let duration = 1_000 + (i * 7_919) % 600_000;
                let started = T0 + i * 1_000;
                run.execute(rusqlite::params![
                    i % DONE_JOBS + 1,
                    role,
                    if llm { "llm" } else { "deterministic" },
                    started,
                    started + duration,
                    duration,
                    outcome,
                    llm.then_some(0.01 * ((i % 50) as f64)),
                    llm.then_some(10_000_i64),
                    llm.then_some(2_000_i64),
                ])
                .unwrap();
            }
        }
        tx.commit().unwrap();
    }
    let (task, _) = store
        .create_task(
            repo,
            "busy",
            &NewJob::new(TaskId::new(0), Stage::Testing, Role::Tester),
        )
        .unwrap();
    let owner = LeaseOwner::new("boot-bench", "worker-0");
    // The first job of the task, then DEFERRED more: all deferred for an hour.
    for n in 0..DEFERRED {
        if n > 0 {
            store
                .enqueue(&NewJob::new(task, Stage::DeployStaging, Role::Deployer))
                .unwrap();
        }
        let claimed = store
            .claim(&owner, Duration::from_secs(60))
            .unwrap()
            .unwrap();
        store
            .defer(
                claimed.lease,
                Duration::from_secs(3_600),
                "sh: make: not found",
                None,
            )
            .unwrap();
    }
    for _ in 0..QUEUED_DUE + RUNNING {
        store
            .enqueue(&NewJob::new(task, Stage::Testing, Role::Tester))
            .unwrap();
    }
    for n in 0..RUNNING {
        let worker = LeaseOwner::new("boot-bench", format!("worker-{n}"));
        store
            .claim(&worker, Duration::from_secs(86_400))
            .unwrap()
            .unwrap();
    }
    for n in 0..2 * OPEN_ALERTS {
        let alert = store
            .raise_alert(
                &NewAlert::new(orch_store::AlertKind::InternalError, format!("alert {n}"))
                    .with_task(Some(task)),
            )
            .unwrap();
        if n % 2 == 1 {
            store.acknowledge_alert(alert).unwrap();
        }
    }
    let snapshot = store.queue_snapshot(LIMIT).unwrap();
    let count = |state| {
        snapshot
            .counts
            .iter()
            .find(|(s, _)| *s == state)
            .map_or(0, |(_, n)| *n)
    };
    assert_eq!(count(JobState::Done), DONE_JOBS as u64);
    assert_eq!(count(JobState::Queued), (QUEUED_DUE + DEFERRED) as u64);
    assert_eq!(snapshot.running.len(), RUNNING);
    assert_eq!(snapshot.deferred_total, DEFERRED as u64);
    assert_eq!(snapshot.open_alerts_total, OPEN_ALERTS as u64);
    assert_eq!(snapshot.staging_runner.runs, AGENT_RUNS as u64 / 4);
    store
}

fn quiet(c: &mut Criterion, store: &Store) {
    c.bench_function(
        "store/queue_snapshot(20) (100k agent_runs, 1k done jobs, file, WAL)",
        |b| b.iter(|| black_box(store.queue_snapshot(black_box(LIMIT)).unwrap())),
    );
}

/// The nearest-rank percentile `p` (0 < p <= 100) of sorted `times`.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn under_writes(path: &Path) {
    let reader = Store::open(path).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let writer = Store::open(path).unwrap();
        let task = writer
            .jobs_in_state(JobState::Queued, 1)
            .unwrap()
            .first()
            .unwrap()
            .task;
        std::thread::spawn(move || {
            let owner = LeaseOwner::new("boot-writer", "writer-0");
            let job = NewJob::new(task, Stage::Testing, Role::Tester);
            let mut cycles = 0_u64;
            while !stop.load(Ordering::Relaxed) {
                writer.enqueue(&job).unwrap();
                if let Some(claimed) = writer.claim(&owner, Duration::from_secs(60)).unwrap() {
                    writer.complete(claimed.lease).unwrap();
                }
                cycles += 1;
            }
            cycles
        })
    };
    for _ in 0..100 {
        black_box(reader.queue_snapshot(LIMIT).unwrap());
    }
    let started = Instant::now();
    let mut times = Vec::with_capacity(TIMED_CALLS);
    for _ in 0..TIMED_CALLS {
        let t = Instant::now();
        black_box(reader.queue_snapshot(LIMIT).unwrap());
        times.push(t.elapsed());
    }
    let wall = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let cycles = writer.join().unwrap();
    times.sort_unstable();
    let done = reader.queue_snapshot(LIMIT).unwrap();
    println!(
        "store/queue_snapshot(20) under writes: {TIMED_CALLS} calls in {wall:.2?}: \
         median {:.3?}, p99 {:.3?}, max {:.3?}; the writer ran {cycles} \
         enqueue+claim+complete cycles meanwhile ({:.0}/s); jobs at the end: {:?}",
        percentile(&times, 50.0),
        percentile(&times, 99.0),
        times[times.len() - 1],
        cycles as f64 / wall.as_secs_f64(),
        done.counts,
    );
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.db");
    let store = fixture(&path);
    let mut c = Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    quiet(&mut c, &store);
    c.final_summary();
    drop(store);
    under_writes(&path);
}
