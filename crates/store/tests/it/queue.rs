//! The jobs queue on real database files: exclusivity under concurrency,
//! fencing, rescue, poison blocking its task, deferral, release, and the one
//! transaction that ends a job with its transition, next job, run and alert.

use orch_pipeline::{Role, Stage};
use std::collections::HashSet;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use crate::common::{Fixture, T0, alert, run_of, transition};
use orch_store::{
    GateDecision, JobCommits, JobEnd, JobId, JobState, LeaseOwner, NewJob, NewTransition,
    POISON_JOB_ALERT, StoreError, TaskId, TaskStatus,
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
                        .enqueue(&NewJob::new(task, Stage::Testing, Role::Tester))
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
        .enqueue(
            &NewJob::new(fx.task, Stage::Testing, Role::Tester)
                .with_not_before_ms(Some(T0 + 1_000)),
        )
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
    lost(
        fx.store
            .fail(stale.lease, "stale", &JobEnd::default())
            .map(drop),
    );
    lost(fx.store.defer(stale.lease, MINUTE, "stale", None).map(drop));
    lost(fx.store.release(stale.lease, "shutting down"));
    let t = NewTransition::new(
        fx.task,
        Stage::DeployStaging,
        Stage::Deploy,
        TaskStatus::Active,
    )
    .with_developer_retries(0)
    .with_decisions(vec![]);
    let end = JobEnd {
        transition: Some(&t),
        ..JobEnd::default()
    };
    lost(
        fx.store
            .complete_with_transition(stale.lease, &end)
            .map(drop),
    );
    assert_eq!(fx.store.task(fx.task).unwrap().stage, Stage::DeployStaging);

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
        .enqueue(&NewJob::new(fx.task, Stage::Testing, Role::Tester).with_max_attempts(2))
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
        .enqueue(&NewJob::new(fx.task, Stage::DeployStaging, Role::Deployer).with_max_attempts(1))
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
                None,
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
    fx.store
        .fail(c.lease, "infra retries exhausted", &JobEnd::default())
        .unwrap();
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
        .enqueue(&NewJob::new(fx.task, Stage::Testing, Role::Tester).with_max_attempts(0))
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput { .. }), "{err:?}");
}

fn staging_decision(verdict: &str, sha: Option<&str>) -> GateDecision {
    GateDecision::new(
        "check_staging_status",
        verdict == "PASSED",
        format!("staging_status: {verdict}"),
    )
    .with_verdict(Some(verdict.into()))
    .with_artifact_sha256(sha.map(str::to_owned))
    .with_commit_sha(Some(TESTED.to_owned()))
    .with_tree_clean(Some(true))
    .with_sandbox(Some(
        "required: landlock abi 7, filesystem full, network namespace, signals scoped".into(),
    ))
}

/// A commit the staging decisions name (any full object name will do).
const TESTED: &str = "0123456789abcdef0123456789abcdef01234567";

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
    let wrong = NewTransition::new(
        fx.task,
        Stage::Testing,
        Stage::DeployStaging,
        TaskStatus::Active,
    )
    .with_developer_retries(0)
    .with_decisions(vec![staging_decision("PASSED", Some(&sha))]);
    let next = NewJob::new(fx.task, Stage::Deploy, Role::DeployFinalizer);
    let err = fx
        .store
        .complete_with_transition(
            c.lease,
            &JobEnd {
                transition: Some(&wrong),
                next: Some(&next),
                ..JobEnd::default()
            },
        )
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
    let mut right = wrong;
    right.from_stage = Stage::DeployStaging;
    right.to_stage = Stage::Deploy;
    fx.clock.advance(5);
    let advanced = fx
        .store
        .complete_with_transition(
            c.lease,
            &JobEnd {
                transition: Some(&right),
                next: Some(&next),
                ..JobEnd::default()
            },
        )
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
    assert_eq!(Some(history[0].id), advanced.transition);
    assert_eq!((advanced.run, advanced.alert), (None, None));
    assert_eq!(history[0].job, Some(job));
    assert_eq!(history[0].at_ms, T0 + 5);
    assert_eq!(
        history[0].decisions[0].artifact_sha256.as_deref(),
        Some(sha.as_str())
    );
}

#[test]
fn a_job_end_writes_the_transition_next_job_run_and_alert_together() {
    let fx = Fixture::new();
    let job = fx.enqueue("deploy-staging", "deployer");
    let c = fx.claim();
    let t = transition(fx.task, "deploy-staging", "deploy", TaskStatus::Active);
    let next = NewJob::new(fx.task, Stage::Deploy, Role::DeployFinalizer);
    let run = run_of(&c, Some(0.4));
    let raised = alert(orch_store::AlertKind::StagingRunnerExhausted, fx.task, job);
    let advanced = fx
        .store
        .complete_with_transition(
            c.lease,
            &JobEnd {
                transition: Some(&t),
                next: Some(&next),
                run: Some(&run),
                alert: Some(&raised),
                commits: Some(&JobCommits {
                    start: Some(TESTED.to_owned()),
                    end: Some(TESTED.replace('0', "f")),
                }),
                shadow: None,
            },
        )
        .unwrap();
    let ended = fx.store.job(job).unwrap();
    assert_eq!(ended.state, JobState::Done);
    assert_eq!(ended.start_commit.as_deref(), Some(TESTED));
    assert_eq!(ended.end_commit, Some(TESTED.replace('0', "f")));
    assert_eq!(
        fx.store.task(fx.task).unwrap().head_commit,
        Some(TESTED.replace('0', "f"))
    );
    assert_eq!(fx.store.task(fx.task).unwrap().stage, Stage::Deploy);
    let history = fx.store.transitions(fx.task).unwrap();
    assert_eq!(advanced.transition, Some(history[0].id));
    let next_job = fx.store.job(advanced.next_job.unwrap()).unwrap();
    assert_eq!(next_job.role, Role::DeployFinalizer);
    assert!(advanced.run.is_some());
    assert_eq!(fx.store.task_cost_usd(fx.task).unwrap(), 0.4);
    let open = fx.store.open_alerts().unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(Some(open[0].id), advanced.alert);
    assert_eq!(open[0].kind, orch_store::AlertKind::StagingRunnerExhausted);

    // A job end without a transition records the run and alert alone.
    fx.enqueue("testing", "tester");
    let c = fx.claim();
    let run = run_of(&c, None);
    let advanced = fx
        .store
        .complete_with_transition(
            c.lease,
            &JobEnd {
                run: Some(&run),
                ..JobEnd::default()
            },
        )
        .unwrap();
    assert_eq!(
        (advanced.transition, advanced.next_job, advanced.alert),
        (None, None, None)
    );
    assert!(advanced.run.is_some());
    assert_eq!(fx.count("agent_runs"), 2);
}

#[test]
fn a_stale_lease_writes_no_run_no_alert_and_nothing_else() {
    let fx = Fixture::new();
    let job = fx.enqueue("deploy-staging", "deployer");
    let stale = fx
        .store
        .claim(&owner("boot-1", "slow"), Duration::from_secs(10))
        .unwrap()
        .unwrap();
    fx.clock.advance(10_000);
    fx.store.rescue_expired().unwrap();
    let fresh = fx.claim();
    assert_eq!(fresh.lease.job, job);

    let t = transition(fx.task, "deploy-staging", "blocked", TaskStatus::Blocked);
    let next = NewJob::new(fx.task, Stage::Deploy, Role::DeployFinalizer);
    let run = run_of(&stale, Some(1.0));
    let raised = alert(orch_store::AlertKind::StagingRunnerExhausted, fx.task, job);
    let end = JobEnd {
        transition: Some(&t),
        next: Some(&next),
        run: Some(&run),
        alert: Some(&raised),
        commits: None,
        shadow: None,
    };
    let lost = |r: Result<(), StoreError>| {
        assert!(matches!(r, Err(StoreError::LeaseLost { .. })), "{r:?}");
    };
    lost(
        fx.store
            .complete_with_transition(stale.lease, &end)
            .map(drop),
    );
    lost(fx.store.fail(stale.lease, "stale", &end).map(drop));
    lost(
        fx.store
            .defer(stale.lease, MINUTE, "stale", Some(&run))
            .map(drop),
    );
    lost(fx.store.release(stale.lease, "stale"));

    for table in ["agent_runs", "alerts", "transitions", "gate_decisions"] {
        assert_eq!(fx.count(table), 0, "{table} was written");
    }
    assert_eq!(fx.count("jobs"), 1, "no next job was enqueued");
    let task = fx.store.task(fx.task).unwrap();
    assert_eq!(
        (task.stage.as_str(), task.status),
        ("deploy-staging", TaskStatus::Active)
    );
    let now = fx.store.job(job).unwrap();
    assert_eq!(now.state, JobState::Running);
    assert_eq!(now.lease_token, fresh.lease.token);
}

#[test]
fn a_stage_mismatch_or_a_bad_part_writes_nothing_at_all() {
    let fx = Fixture::new();
    let job = fx.enqueue("deploy-staging", "deployer");
    let c = fx.claim();
    let run = run_of(&c, Some(1.0));
    let raised = alert(orch_store::AlertKind::InternalError, fx.task, job);

    let wrong = transition(fx.task, "testing", "deploy", TaskStatus::Active);
    let err = fx
        .store
        .complete_with_transition(
            c.lease,
            &JobEnd {
                transition: Some(&wrong),
                run: Some(&run),
                alert: Some(&raised),
                ..JobEnd::default()
            },
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::StageMismatch { .. }), "{err:?}");

    // A run of another job, a transition of another task: refused.
    let mut other_run = run.clone();
    other_run.job = JobId::new(job.get() + 1);
    let err = fx
        .store
        .fail(
            c.lease,
            "x",
            &JobEnd {
                run: Some(&other_run),
                ..JobEnd::default()
            },
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidInput {
                what: "agent run",
                ..
            }
        ),
        "{err:?}"
    );
    let other_task = transition(
        TaskId::new(fx.task.get() + 1),
        "analysis",
        "architecture",
        TaskStatus::Active,
    );
    let err = fx
        .store
        .complete_with_transition(
            c.lease,
            &JobEnd {
                transition: Some(&other_task),
                ..JobEnd::default()
            },
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidInput {
                what: "transition",
                ..
            }
        ),
        "{err:?}"
    );
    let err = fx
        .store
        .defer(c.lease, MINUTE, "x", Some(&other_run))
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput { .. }), "{err:?}");

    // A run that breaks a constraint, after the transition was written in
    // the same transaction: rolled back with it.
    let negative = run.clone().with_duration_ms(-1);
    let right = transition(fx.task, "deploy-staging", "deploy", TaskStatus::Active);
    let err = fx
        .store
        .complete_with_transition(
            c.lease,
            &JobEnd {
                transition: Some(&right),
                run: Some(&negative),
                alert: Some(&raised),
                ..JobEnd::default()
            },
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::Sqlite { .. }), "{err:?}");

    for table in ["agent_runs", "alerts", "transitions"] {
        assert_eq!(fx.count(table), 0, "{table} was written");
    }
    let now = fx.store.job(job).unwrap();
    assert_eq!(
        (now.state, now.attempts, now.infra_attempts),
        (JobState::Running, 1, 0)
    );
    assert_eq!(fx.store.task(fx.task).unwrap().stage, Stage::DeployStaging);
    // The lease still holds: the job can still end properly.
    fx.store
        .complete_with_transition(
            c.lease,
            &JobEnd {
                transition: Some(&right),
                run: Some(&run),
                ..JobEnd::default()
            },
        )
        .unwrap();
}

#[test]
fn fail_blocks_the_task_and_raises_an_alert_in_one_transaction() {
    let fx = Fixture::new();
    let job = fx.enqueue("deploy-staging", "deployer");
    let c = fx.claim();
    let block = transition(fx.task, "deploy-staging", "blocked", TaskStatus::Blocked);
    let run = run_of(&c, Some(0.1));
    let raised = alert(orch_store::AlertKind::StagingRunnerExhausted, fx.task, job);
    fx.clock.advance(3);
    let advanced = fx
        .store
        .fail(
            c.lease,
            "infra retries exhausted",
            &JobEnd {
                transition: Some(&block),
                run: Some(&run),
                alert: Some(&raised),
                ..JobEnd::default()
            },
        )
        .unwrap();
    let failed = fx.store.job(job).unwrap();
    assert_eq!(failed.state, JobState::Failed);
    assert_eq!(
        failed.last_error.as_deref(),
        Some("infra retries exhausted")
    );
    assert!(failed.lease.is_none());
    let task = fx.store.task(fx.task).unwrap();
    assert_eq!(
        (task.stage.as_str(), task.status),
        ("blocked", TaskStatus::Blocked)
    );
    assert_eq!(task.updated_ms, T0 + 3);
    let history = fx.store.transitions(fx.task).unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(advanced.transition, Some(history[0].id));
    assert_eq!(history[0].job, Some(job));
    assert_eq!(advanced.next_job, None);
    assert!(advanced.run.is_some());
    let open = fx.store.open_alerts().unwrap();
    assert_eq!(advanced.alert, Some(open[0].id));
    assert_eq!(open[0].job, Some(job));
    assert!(matches!(
        fx.store.fail(c.lease, "again", &JobEnd::default()),
        Err(StoreError::LeaseLost { .. })
    ));
}

#[test]
fn defer_records_its_run_with_the_deferral() {
    let fx = Fixture::new();
    let job = fx.enqueue("deploy-staging", "deployer");
    let c = fx.claim();
    let mut run = run_of(&c, None).with_exit_code(Some(127));
    run.outcome = "tool_error".into();
    let spent = fx
        .store
        .defer(c.lease, MINUTE, "sh: make: not found", Some(&run))
        .unwrap();
    assert_eq!(spent, 1);
    let deferred = fx.store.job(job).unwrap();
    assert_eq!((deferred.state, deferred.attempts), (JobState::Queued, 0));
    assert_eq!(fx.count("agent_runs"), 1);
    assert_eq!(fx.store.role_stats().unwrap()[0].runs, 1);
}

#[test]
fn release_gives_the_job_back_due_now_without_spending_anything() {
    let fx = Fixture::new();
    let job = fx
        .store
        .enqueue(&NewJob::new(fx.task, Stage::Testing, Role::Tester).with_max_attempts(1))
        .unwrap();
    // Released many times, more than max_attempts: never poison.
    for round in 1..=3_i64 {
        let c = fx.claim();
        assert_eq!(c.job.attempts, 1);
        fx.clock.advance(1_000);
        fx.store.release(c.lease, "worker shutting down").unwrap();
        let released = fx.store.job(job).unwrap();
        assert_eq!(released.state, JobState::Queued);
        assert_eq!(released.attempts, 0, "the attempt is given back");
        assert_eq!(released.infra_attempts, 0, "not a tool error");
        assert_eq!(released.run_after_ms, T0 + round * 1_000, "due now");
        assert_eq!(released.last_error.as_deref(), Some("worker shutting down"));
        assert!(released.lease.is_none());
        assert!(matches!(
            fx.store.release(c.lease, "twice"),
            Err(StoreError::LeaseLost { .. })
        ));
    }
    // Due at once for the next boot's worker.
    let c = fx.claim();
    assert_eq!(c.lease.job, job);
    fx.store.complete(c.lease).unwrap();
}

#[test]
fn a_poison_job_blocks_its_task_and_raises_an_alert() {
    let fx = Fixture::new();
    let job = fx
        .store
        .enqueue(&NewJob::new(fx.task, Stage::DeployStaging, Role::Deployer).with_max_attempts(1))
        .unwrap();
    fx.store
        .claim(&owner("boot-1", "w"), Duration::from_secs(10))
        .unwrap()
        .unwrap();
    fx.clock.advance(10_000);
    let rescued = fx.store.rescue_expired().unwrap();
    assert_eq!(rescued.failed, vec![job]);
    assert_eq!(rescued.blocked, vec![fx.task]);
    assert_eq!(rescued.alerts.len(), 1);

    let task = fx.store.task(fx.task).unwrap();
    assert_eq!(
        (task.stage.as_str(), task.status),
        ("blocked", TaskStatus::Blocked)
    );
    assert_eq!(task.updated_ms, T0 + 10_000);
    let history = fx.store.transitions(fx.task).unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(
        (history[0].from_stage.as_str(), history[0].to_stage.as_str()),
        ("deploy-staging", "blocked")
    );
    assert_eq!(history[0].job, Some(job));
    assert_eq!(history[0].at_ms, T0 + 10_000);
    assert!(history[0].decisions.is_empty());

    let open = fx.store.open_alerts().unwrap();
    assert_eq!(open.len(), 1);
    let a = &open[0];
    assert_eq!(a.id, rescued.alerts[0]);
    assert_eq!(a.kind, POISON_JOB_ALERT);
    assert_eq!((a.task, a.job), (Some(fx.task), Some(job)));
    let last_error = fx.store.job(job).unwrap().last_error.unwrap();
    assert!(
        a.message.contains(&format!("task {}", fx.task)),
        "{}",
        a.message
    );
    assert!(a.message.contains(&format!("job {job}")), "{}", a.message);
    assert!(a.message.contains(&last_error), "{}", a.message);
}

#[test]
fn poison_jobs_of_a_task_that_is_not_active_only_alert() {
    let fx = Fixture::new();
    let poison = NewJob::new(fx.task, Stage::DeployStaging, Role::Deployer).with_max_attempts(1);
    let first = fx.store.enqueue(&poison).unwrap();
    let second = fx.store.enqueue(&poison).unwrap();
    let requeued = fx.enqueue("deploy-staging", "deployer");
    for _ in 0..3 {
        fx.store
            .claim(&owner("boot-old", "w"), Duration::from_secs(3_600))
            .unwrap()
            .unwrap();
    }
    // At start-up, the old boot's leases are rescued: two jobs are poison.
    let rescued = fx.store.rescue_other_boots("boot-new").unwrap();
    assert_eq!(rescued.failed, vec![first, second]);
    assert_eq!(rescued.requeued, vec![requeued]);
    assert_eq!(rescued.blocked, vec![fx.task], "blocked once, by the first");
    assert_eq!(rescued.alerts.len(), 2, "one alert per poison job");
    let history = fx.store.transitions(fx.task).unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].job, Some(first));
    let open = fx.store.open_alerts().unwrap();
    assert_eq!(
        open.iter().map(|a| a.job).collect::<Vec<_>>(),
        vec![Some(first), Some(second)]
    );
    assert!(
        open[1].message.contains("already blocked"),
        "{}",
        open[1].message
    );

    // A task that is done stays done.
    let repo = fx.store.repo_by_name("demo").unwrap().unwrap().id;
    let (done_task, job) = fx
        .store
        .create_task(repo, "done", &poison.clone().with_max_attempts(1))
        .unwrap();
    fx.store
        .record_transition(&transition(
            done_task,
            "deploy-staging",
            "done",
            TaskStatus::Done,
        ))
        .unwrap();
    // The requeued job of the first task goes first; let it finish.
    let c = fx.claim();
    assert_eq!(c.lease.job, requeued);
    fx.store.complete(c.lease).unwrap();
    let c = fx
        .store
        .claim(&owner("boot-new", "w"), Duration::from_secs(10))
        .unwrap()
        .unwrap();
    assert_eq!(c.lease.job, job);
    fx.clock.advance(10_000);
    let rescued = fx.store.rescue_expired().unwrap();
    assert_eq!((rescued.failed, rescued.blocked), (vec![job], vec![]));
    assert_eq!(rescued.alerts.len(), 1);
    let task = fx.store.task(done_task).unwrap();
    assert_eq!(
        (task.stage.as_str(), task.status),
        ("done", TaskStatus::Done)
    );
    assert_eq!(fx.store.transitions(done_task).unwrap().len(), 1);
}

/// A database restored from a backup counts a job's tokens up again from
/// the backup's: a new claim can carry the very token an older claim of the
/// same job still holds. The lease's boot id tells the two apart, so the
/// older claimant's writes are refused.
#[test]
fn a_token_reissued_after_a_restore_does_not_fence_in_the_old_claimant() {
    let fx = Fixture::new();
    fx.enqueue("testing", "tester");
    let old = fx
        .store
        .claim(
            &orch_store::LeaseOwner::new("boot-old", "w"),
            std::time::Duration::from_secs(60),
        )
        .unwrap()
        .unwrap();
    // The backup, restored: the job as it was before that claim.
    rusqlite::Connection::open(&fx.path)
        .unwrap()
        .execute_batch(
            "UPDATE jobs SET state = 'queued', lease_token = 0, attempts = 0, lease_owner = NULL, \
             lease_boot_id = NULL, lease_expires_ms = NULL",
        )
        .unwrap();
    let new = fx
        .store
        .claim(
            &orch_store::LeaseOwner::new("boot-new", "w"),
            std::time::Duration::from_secs(60),
        )
        .unwrap()
        .unwrap();
    assert_eq!(
        (new.lease.job, new.lease.token),
        (old.lease.job, old.lease.token)
    );
    assert_eq!(new.lease.boot_id(), "boot-new");
    for refused in [
        fx.store
            .heartbeat(old.lease, std::time::Duration::from_secs(60))
            .map(drop),
        fx.store.release(old.lease, "stopping"),
        fx.store.complete(old.lease),
    ] {
        assert!(
            matches!(refused, Err(orch_store::StoreError::LeaseLost { .. })),
            "{refused:?}"
        );
    }
    fx.store.complete(new.lease).unwrap();
}
