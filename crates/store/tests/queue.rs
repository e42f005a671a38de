//! The jobs queue on real database files: exclusivity under concurrency,
//! fencing, rescue, poison, deferral, and the atomic complete-and-advance.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::{Fixture, T0};
use orch_store::{
    GateDecision, JobState, LeaseOwner, NewJob, NewTransition, StoreError, TaskStatus,
};

const MINUTE: Duration = Duration::from_secs(60);

fn owner(boot: &str, worker: &str) -> LeaseOwner {
    LeaseOwner::new(boot, worker)
}

#[test]
fn four_connections_claim_two_thousand_jobs_each_exactly_once() {
    const THREADS: usize = 4;
    const JOBS: usize = 2_000;
    let fx = Fixture::new();
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|n| {
            let store = fx.reopen();
            let barrier = barrier.clone();
            let task = fx.task;
            std::thread::spawn(move || {
                for _ in 0..JOBS / THREADS {
                    store
                        .enqueue(&NewJob::new(task, "testing", "tester"))
                        .unwrap_or_else(|e| panic!("enqueue error reached the caller: {e}"));
                }
                barrier.wait();
                let me = owner("boot-1", &format!("worker-{n}"));
                let mut claimed = Vec::new();
                loop {
                    let next = store
                        .claim(&me, MINUTE)
                        .unwrap_or_else(|e| panic!("claim error reached the caller: {e}"));
                    let Some(c) = next else { break };
                    assert_eq!(c.job.lease.as_ref().unwrap().owner, me);
                    store
                        .complete(c.lease)
                        .unwrap_or_else(|e| panic!("complete error reached the caller: {e}"));
                    claimed.push(c.lease.job);
                }
                claimed
            })
        })
        .collect();

    let mut all = Vec::new();
    for h in handles {
        let mine = h.join().unwrap();
        all.extend(mine);
    }
    let unique: HashSet<_> = all.iter().copied().collect();
    assert_eq!(all.len(), JOBS, "claims in total");
    assert_eq!(unique.len(), JOBS, "a job was claimed twice");
    let counts = fx.store.job_counts().unwrap();
    assert_eq!(
        counts,
        vec![
            (JobState::Queued, 0),
            (JobState::Running, 0),
            (JobState::Done, JOBS as u64),
            (JobState::Failed, 0)
        ]
    );
}

#[test]
fn claims_take_the_oldest_due_job_and_spend_an_attempt() {
    let fx = Fixture::new();
    let later = fx
        .store
        .enqueue(&NewJob {
            not_before_ms: Some(T0 + 1_000),
            ..NewJob::new(fx.task, "testing", "tester")
        })
        .unwrap();
    let first = fx.enqueue("testing", "tester");
    let second = fx.enqueue("review", "reviewer");
    let me = owner("boot-1", "w");
    let a = fx.store.claim(&me, MINUTE).unwrap().unwrap();
    let b = fx.store.claim(&me, MINUTE).unwrap().unwrap();
    assert_eq!((a.lease.job, b.lease.job), (first, second));
    assert!(
        fx.store.claim(&me, MINUTE).unwrap().is_none(),
        "not due yet"
    );
    fx.clock.advance(1_000);
    let c = fx.store.claim(&me, MINUTE).unwrap().unwrap();
    assert_eq!(c.lease.job, later);
    assert_eq!(c.job.attempts, 1);
    assert_eq!(c.job.state, JobState::Running);
    assert_eq!(c.job.lease.unwrap().expires_ms, T0 + 1_000 + 60_000);

    let running = fx.store.jobs_in_state(JobState::Running, 10).unwrap();
    assert_eq!(running.len(), 3);
}

#[test]
fn a_stale_worker_is_fenced_off_after_its_job_was_rescued_and_reclaimed() {
    let fx = Fixture::new();
    let other = fx.reopen();
    let job = fx.enqueue("deploy-staging", "deployer");
    let stale = fx
        .store
        .claim(&owner("boot-1", "slow"), Duration::from_secs(10))
        .unwrap()
        .unwrap();

    // The slow worker misses its heartbeats; the lease expires and is rescued.
    fx.clock.advance(11_000);
    let rescued = other.rescue_expired().unwrap();
    assert_eq!(rescued.requeued, vec![job]);
    let fresh = other
        .claim(&owner("boot-1", "fast"), MINUTE)
        .unwrap()
        .unwrap();
    assert_eq!(fresh.lease.job, job);
    assert!(fresh.lease.token > stale.lease.token);

    // Every write of the stale worker changes nothing and says so.
    let lost = |r: Result<(), StoreError>| {
        let Err(StoreError::LeaseLost { job: j, token }) = r else {
            panic!("expected LeaseLost, got {r:?}");
        };
        assert_eq!((j, token), (job, stale.lease.token));
    };
    lost(fx.store.heartbeat(stale.lease, MINUTE).map(drop));
    lost(fx.store.complete(stale.lease));
    lost(fx.store.fail(stale.lease, "stale"));
    lost(fx.store.defer(stale.lease, MINUTE, "stale").map(drop));
    let t = NewTransition {
        task: fx.task,
        from_stage: "deploy-staging".into(),
        to_stage: "deploy".into(),
        status: TaskStatus::Active,
        developer_retries: 0,
        decisions: vec![],
    };
    lost(
        fx.store
            .complete_with_transition(stale.lease, &t, None)
            .map(drop),
    );
    assert_eq!(fx.store.task(fx.task).unwrap().stage, "deploy-staging");

    let now = fx.store.job(job).unwrap();
    assert_eq!(now.state, JobState::Running);
    assert_eq!(now.lease.unwrap().owner.worker, "fast");

    // The rightful owner finishes; after that its own lease is spent too.
    other.complete(fresh.lease).unwrap();
    assert_eq!(fx.store.job(job).unwrap().state, JobState::Done);
    assert!(matches!(
        other.complete(fresh.lease),
        Err(StoreError::LeaseLost { .. })
    ));
}

#[test]
fn rescue_is_by_lease_expiry_never_by_age() {
    let fx = Fixture::new();
    let short = fx.enqueue("testing", "tester");
    let long = fx.enqueue("testing", "tester");
    let me = owner("boot-1", "w");
    let a = fx
        .store
        .claim(&me, Duration::from_secs(10))
        .unwrap()
        .unwrap();
    let b = fx
        .store
        .claim(&me, Duration::from_secs(30))
        .unwrap()
        .unwrap();
    assert_eq!((a.lease.job, b.lease.job), (short, long));

    // At 10 s exactly the short lease has expired; the long one has not.
    fx.clock.advance(10_000);
    let rescued = fx.store.rescue_expired().unwrap();
    assert_eq!(rescued.requeued, vec![short]);
    assert!(rescued.failed.is_empty());
    let job = fx.store.job(short).unwrap();
    assert_eq!(job.state, JobState::Queued);
    assert_eq!(job.attempts, 1, "the lost claim keeps its attempt");
    assert_eq!(job.run_after_ms, T0 + 10_000);
    assert!(job.lease.is_none());
    let why = job.last_error.unwrap();
    assert!(
        why.contains("lease expired") && why.contains("boot-1"),
        "{why}"
    );

    // A worker that keeps its heartbeat is never rescued, however long it runs.
    for _ in 0..60 {
        fx.clock.advance(20_000);
        fx.store
            .heartbeat(b.lease, Duration::from_secs(30))
            .unwrap();
        let rescued = fx.store.rescue_expired().unwrap();
        assert!(rescued.requeued.is_empty() && rescued.failed.is_empty());
    }
    assert_eq!(fx.store.job(long).unwrap().state, JobState::Running);
}

#[test]
fn a_late_heartbeat_before_any_rescue_keeps_the_lease() {
    let fx = Fixture::new();
    fx.enqueue("testing", "tester");
    let c = fx
        .store
        .claim(&owner("boot-1", "w"), Duration::from_secs(10))
        .unwrap()
        .unwrap();
    fx.clock.advance(15_000);
    // The token, not the clock, is the fence: nobody took the job yet.
    let expires = fx
        .store
        .heartbeat(c.lease, Duration::from_secs(10))
        .unwrap();
    assert_eq!(expires, T0 + 25_000);
    assert!(fx.store.rescue_expired().unwrap().requeued.is_empty());
    fx.store.complete(c.lease).unwrap();
}

#[test]
fn rescue_by_boot_takes_leases_of_dead_boots_only() {
    let fx = Fixture::new();
    let old_job = fx.enqueue("testing", "tester");
    let new_job = fx.enqueue("testing", "tester");
    fx.store
        .claim(&owner("boot-old", "w0"), Duration::from_secs(3_600))
        .unwrap()
        .unwrap();
    let mine = fx
        .store
        .claim(&owner("boot-new", "w0"), Duration::from_secs(3_600))
        .unwrap()
        .unwrap();

    // No lease has expired; the old boot's lease is rescued anyway.
    let rescued = fx.store.rescue_other_boots("boot-new").unwrap();
    assert_eq!(rescued.requeued, vec![old_job]);
    assert!(rescued.failed.is_empty());
    let old = fx.store.job(old_job).unwrap();
    assert_eq!(old.state, JobState::Queued);
    assert!(old.last_error.unwrap().contains("boot-old"));
    assert_eq!(fx.store.job(new_job).unwrap().state, JobState::Running);
    fx.store.complete(mine.lease).unwrap();
}

#[test]
fn a_poison_job_fails_when_its_attempts_are_spent() {
    let fx = Fixture::new();
    let job = fx
        .store
        .enqueue(&NewJob {
            max_attempts: 2,
            ..NewJob::new(fx.task, "testing", "tester")
        })
        .unwrap();
    let me = owner("boot-1", "w");
    for attempt in 1..=2 {
        let c = fx
            .store
            .claim(&me, Duration::from_secs(10))
            .unwrap()
            .unwrap_or_else(|| panic!("attempt {attempt} found no job"));
        assert_eq!(c.job.attempts, attempt);
        // The worker dies with the job; its lease runs out.
        fx.clock.advance(10_000);
        let rescued = fx.store.rescue_expired().unwrap();
        if attempt < 2 {
            assert_eq!(rescued.requeued, vec![job]);
        } else {
            assert_eq!(rescued.failed, vec![job]);
            assert!(rescued.requeued.is_empty());
        }
    }
    let failed = fx.store.job(job).unwrap();
    assert_eq!(failed.state, JobState::Failed);
    assert!(failed.last_error.unwrap().contains("poison"));
    assert!(fx.store.claim(&me, MINUTE).unwrap().is_none(), "no loop");
}

#[test]
fn a_deferred_job_waits_for_run_after_and_counts_infra_attempts() {
    let fx = Fixture::new();
    let job = fx
        .store
        .enqueue(&NewJob {
            max_attempts: 1,
            ..NewJob::new(fx.task, "deploy-staging", "deployer")
        })
        .unwrap();
    let me = owner("boot-1", "w");
    let mut last_token = None;
    for infra in 1..=3_u32 {
        let c = fx.store.claim(&me, MINUTE).unwrap().unwrap();
        assert_eq!(c.job.attempts, 1);
        assert!(Some(c.lease.token) > last_token);
        last_token = Some(c.lease.token);
        let spent = fx
            .store
            .defer(
                c.lease,
                Duration::from_secs(30),
                "spawn failed: make: not found",
            )
            .unwrap();
        assert_eq!(spent, infra);
        let deferred = fx.store.job(job).unwrap();
        assert_eq!(deferred.state, JobState::Queued);
        assert_eq!(deferred.attempts, 0, "a deferral gives its attempt back");
        assert_eq!(deferred.infra_attempts, infra);
        assert_eq!(
            deferred.last_error.as_deref(),
            Some("spawn failed: make: not found")
        );
        assert!(deferred.lease.is_none());

        assert!(
            fx.store.claim(&me, MINUTE).unwrap().is_none(),
            "claimed early"
        );
        fx.clock.advance(29_999);
        assert!(
            fx.store.claim(&me, MINUTE).unwrap().is_none(),
            "claimed early"
        );
        fx.clock.advance(1);
    }
    let c = fx.store.claim(&me, MINUTE).unwrap().unwrap();
    fx.store.fail(c.lease, "infra retries exhausted").unwrap();
    let failed = fx.store.job(job).unwrap();
    assert_eq!(failed.state, JobState::Failed);
    assert_eq!(failed.infra_attempts, 3);
    assert_eq!(
        failed.last_error.as_deref(),
        Some("infra retries exhausted")
    );
}

#[test]
fn a_job_needs_at_least_one_attempt() {
    let fx = Fixture::new();
    let err = fx
        .store
        .enqueue(&NewJob {
            max_attempts: 0,
            ..NewJob::new(fx.task, "testing", "tester")
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput { .. }), "{err:?}");
}

fn staging_decision(verdict: &str, sha: Option<&str>) -> GateDecision {
    GateDecision {
        gate: "check_staging_status".into(),
        passed: verdict == "PASSED",
        verdict: Some(verdict.into()),
        reason: format!("staging_status: {verdict}"),
        artifact_sha256: sha.map(str::to_owned),
    }
}

#[test]
fn complete_with_transition_is_all_or_nothing() {
    let fx = Fixture::new();
    let job = fx.enqueue("deploy-staging", "deployer");
    let c = fx
        .store
        .claim(&owner("boot-1", "w"), MINUTE)
        .unwrap()
        .unwrap();
    let sha = "ab".repeat(32);

    // Decided from a stage the task is not at: nothing is written.
    let wrong = NewTransition {
        task: fx.task,
        from_stage: "testing".into(),
        to_stage: "deploy-staging".into(),
        status: TaskStatus::Active,
        developer_retries: 0,
        decisions: vec![staging_decision("PASSED", Some(&sha))],
    };
    let next = NewJob::new(fx.task, "deploy", "deploy-finalizer");
    let err = fx
        .store
        .complete_with_transition(c.lease, &wrong, Some(&next))
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::StageMismatch { found, .. } if found == "deploy-staging"),
        "{err:?}"
    );
    assert_eq!(fx.store.job(job).unwrap().state, JobState::Running);
    assert_eq!(
        fx.store.jobs_in_state(JobState::Queued, 10).unwrap(),
        vec![]
    );
    assert!(fx.store.transitions(fx.task).unwrap().is_empty());

    // The right one: job done, task moved, evidence kept, next job queued.
    let right = NewTransition {
        from_stage: "deploy-staging".into(),
        to_stage: "deploy".into(),
        ..wrong
    };
    fx.clock.advance(5);
    let advanced = fx
        .store
        .complete_with_transition(c.lease, &right, Some(&next))
        .unwrap();
    assert_eq!(fx.store.job(job).unwrap().state, JobState::Done);
    let task = fx.store.task(fx.task).unwrap();
    assert_eq!(
        (task.stage.as_str(), task.status),
        ("deploy", TaskStatus::Active)
    );
    let next_job = fx.store.job(advanced.next_job.unwrap()).unwrap();
    assert_eq!(
        (next_job.stage.as_str(), next_job.role.as_str()),
        ("deploy", "deploy-finalizer")
    );
    let history = fx.store.transitions(fx.task).unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].id, advanced.transition);
    assert_eq!(history[0].job, Some(job));
    assert_eq!(history[0].at_ms, T0 + 5);
    assert_eq!(
        history[0].decisions[0].artifact_sha256.as_deref(),
        Some(sha.as_str())
    );
}
