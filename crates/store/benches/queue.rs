//! Queue throughput on a real database file: one job's whole life, enqueue +
//! claim + complete, three `BEGIN IMMEDIATE` transactions in WAL mode with
//! `synchronous = NORMAL`; once on one connection, once spread over four
//! threads with a connection each (the time reported is per job, so the two
//! compare directly). Figures go to `docs/benchmarks.md`.
//!
//! Run with: `cargo bench -p orch-store --bench queue`

#![expect(clippy::unwrap_used, reason = "benchmark setup: a panic is the report")]

use orch_pipeline::{Role, Stage};
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use orch_store::{LeaseOwner, NewJob, NewRepo, Store};

fn enqueue_claim_complete(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("bench.db")).unwrap();
    let repo = store
        .add_repo(&NewRepo::new("bench", "/srv/bench", "true"))
        .unwrap();
    let task = store.add_task(repo, "bench", Stage::Testing).unwrap();
    let job = NewJob::new(task, Stage::Testing, Role::Tester);
    let owner = LeaseOwner::new("boot-bench", "worker-0");
    let lease_for = Duration::from_secs(60);

    c.bench_function("store/enqueue_claim_complete (file, WAL)", |b| {
        b.iter(|| {
            store.enqueue(black_box(&job)).unwrap();
            let claimed = store.claim(&owner, lease_for).unwrap().unwrap();
            store.complete(black_box(claimed.lease)).unwrap();
        });
    });
    let done = store.job_counts().unwrap();
    black_box(done);
}

fn four_connections(c: &mut Criterion) {
    const THREADS: u64 = 4;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.db");
    let first = Store::open(&path).unwrap();
    let repo = first
        .add_repo(&NewRepo::new("bench", "/srv/bench", "true"))
        .unwrap();
    let task = first.add_task(repo, "bench", Stage::Testing).unwrap();
    let mut stores: Vec<Store> = (0..THREADS).map(|_| Store::open(&path).unwrap()).collect();
    let job = NewJob::new(task, Stage::Testing, Role::Tester);
    let lease_for = Duration::from_secs(60);

    c.bench_function(
        "store/enqueue_claim_complete x4 connections (file, WAL)",
        |b| {
            b.iter_custom(|iters| {
                let per_thread = iters.div_ceil(THREADS);
                let start = Instant::now();
                std::thread::scope(|scope| {
                    for (n, store) in stores.iter_mut().enumerate() {
                        let job = &job;
                        scope.spawn(move || {
                            let owner = LeaseOwner::new("boot-bench", format!("worker-{n}"));
                            for _ in 0..per_thread {
                                store.enqueue(job).unwrap();
                                // Another thread may have taken "our" job; any job will do.
                                if let Some(claimed) = store.claim(&owner, lease_for).unwrap() {
                                    store.complete(claimed.lease).unwrap();
                                }
                            }
                        });
                    }
                });
                // Per job, over all four threads' jobs.
                start
                    .elapsed()
                    .mul_f64(iters as f64 / (per_thread * THREADS) as f64)
            });
        },
    );
}

fn config() -> Criterion {
    // Small samples: the whole run stays well under a minute on 2 shared cores.
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
}

criterion_group! {
    name = benches;
    config = config();
    targets = enqueue_claim_complete, four_connections
}
criterion_main!(benches);
