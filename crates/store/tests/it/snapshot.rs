//! The `/queue` snapshot: what it shows, the claim time a heartbeat does not
//! move, the staging runner's counters from `agent_runs`, and one consistent
//! read while writers work.

use orch_pipeline::{Role, Stage};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::common::{Fixture, T0, alert};
use orch_store::{
    JobEnd, JobId, JobState, LeaseOwner, NewAgentRun, NewJob, QueueSnapshot, STAGING_RUNNER_ROLE,
    StagingRunnerRun, StagingRunnerStats, TEST_RUNNER_ROLE, TaskId, Transport,
};

const MINUTE: Duration = Duration::from_secs(60);

fn counts(snapshot: &QueueSnapshot) -> Vec<u64> {
    snapshot.counts.iter().map(|(_, n)| *n).collect()
}

fn run(job: JobId, task: TaskId, role: Role, outcome: &str, ended_ms: i64) -> NewAgentRun {
    NewAgentRun::new(
        job,
        task,
        role,
        Stage::DeployStaging,
        Transport::Deterministic,
        outcome,
    )
    .with_started_ms(ended_ms - 500)
    .with_ended_ms(ended_ms)
    .with_duration_ms(500)
    .with_exit_code(Some(0))
}

#[test]
fn an_empty_queue_has_an_empty_snapshot() {
    let fx = Fixture::new();
    let snapshot = fx.store.queue_snapshot(20).unwrap();
    assert_eq!(snapshot.at_ms, T0);
    assert_eq!(
        snapshot.counts,
        JobState::ALL.iter().map(|s| (*s, 0)).collect::<Vec<_>>()
    );
    assert!(snapshot.running.is_empty() && snapshot.queued.is_empty());
    assert!(snapshot.deferred.is_empty() && snapshot.alerts.is_empty());
    assert_eq!(
        (snapshot.deferred_total, snapshot.open_alerts_total),
        (0, 0)
    );
    assert_eq!(snapshot.staging_runner, StagingRunnerStats::default());
}

#[test]
fn the_snapshot_shows_counts_running_queued_deferred_and_alerts() {
    let fx = Fixture::new();
    let s = &fx.store;
    let me = LeaseOwner::new("boot-1", "w0");
    // Two done, one failed.
    for _ in 0..2 {
        fx.enqueue("testing", "tester");
        s.complete(fx.claim().lease).unwrap();
    }
    fx.enqueue("testing", "tester");
    s.fail(fx.claim().lease, "broken", &JobEnd::default())
        .unwrap();
    // One deferred twice, due in five minutes.
    let deferred = fx.enqueue("deploy-staging", "deployer");
    for round in 0..2 {
        if round > 0 {
            fx.clock.advance(300_000);
        }
        let c = fx.claim();
        assert_eq!(c.lease.job, deferred);
        s.defer(
            c.lease,
            Duration::from_secs(300),
            "sh: make: not found",
            None,
        )
        .unwrap();
    }
    // Two running, claimed 10 s apart.
    let first = fx.enqueue("review", "reviewer");
    let second = fx.enqueue("testing", "tester");
    let c1 = s.claim(&me, MINUTE).unwrap().unwrap();
    fx.clock.advance(10_000);
    let c2 = s
        .claim(&LeaseOwner::new("boot-2", "w1"), MINUTE)
        .unwrap()
        .unwrap();
    assert_eq!((c1.lease.job, c2.lease.job), (first, second));
    // Three queued due now, one due later.
    let later = s
        .enqueue(
            &NewJob::new(fx.task, Stage::Deploy, Role::DeployFinalizer)
                .with_not_before_ms(Some(fx.store.now_ms() + 3_600_000)),
        )
        .unwrap();
    let due: Vec<JobId> = (0..3).map(|_| fx.enqueue("testing", "tester")).collect();
    // Three alerts, one of them acknowledged.
    let mut alerts = Vec::new();
    for kind in [
        orch_store::AlertKind::SetupFailed,
        orch_store::AlertKind::StageFailed,
        orch_store::AlertKind::PoisonJob,
    ] {
        fx.clock.advance(1);
        alerts.push(s.raise_alert(&alert(kind, fx.task, first)).unwrap());
    }
    s.acknowledge_alert(alerts[1]).unwrap();
    fx.clock.advance(5_000);

    let snapshot = s.queue_snapshot(2).unwrap();
    let now = fx.store.now_ms();
    assert_eq!(snapshot.at_ms, now);
    // queued: deferred + later + 3 due; running 2; done 2; failed 1.
    assert_eq!(counts(&snapshot), vec![5, 2, 2, 1]);

    let running: Vec<_> = snapshot.running.iter().map(|r| r.id).collect();
    assert_eq!(running, vec![first, second], "oldest claim first");
    let r = &snapshot.running[0];
    assert_eq!((r.task, r.repo.as_str()), (fx.task, "demo"));
    assert_eq!((r.stage.as_str(), r.role.as_str()), ("review", "reviewer"));
    assert_eq!(r.owner, me);
    assert_eq!(r.started_ms, Some(c1.job.updated_ms));
    assert_eq!(r.elapsed_ms, Some(now - c1.job.updated_ms));
    assert_eq!(r.lease_expires_ms, c1.job.lease.unwrap().expires_ms);
    assert_eq!((r.attempts, r.max_attempts), (1, 3));
    assert_eq!(snapshot.running[1].owner.boot_id, "boot-2");

    // The next two in claim order: due now first, in id order.
    let queued: Vec<_> = snapshot.queued.iter().map(|q| q.id).collect();
    assert_eq!(queued, due[..2].to_vec(), "limit 2, claim order");
    assert_eq!(snapshot.queued[0].repo, "demo");
    let full = s.queue_snapshot(10).unwrap();
    let queued: Vec<_> = full.queued.iter().map(|q| q.id).collect();
    assert_eq!(
        queued,
        vec![due[0], due[1], due[2], deferred, later],
        "due now, then the deferred one, then the later one"
    );

    assert_eq!(snapshot.deferred_total, 1);
    let d = &snapshot.deferred[0];
    assert_eq!(d.id, deferred);
    assert_eq!(d.infra_attempts, 2);
    assert_eq!(d.attempts, 0);
    assert_eq!(d.last_error.as_deref(), Some("sh: make: not found"));
    assert!(d.run_after_ms > now);

    let shown: Vec<_> = snapshot.alerts.iter().map(|a| a.id).collect();
    assert_eq!(shown, vec![alerts[2], alerts[0]], "open ones, newest first");
    assert_eq!(snapshot.open_alerts_total, 2);
    assert_eq!(snapshot.alerts[0].kind, orch_store::AlertKind::PoisonJob);
    assert_eq!(snapshot.alerts[0].acknowledged_ms, None);
    let one = s.queue_snapshot(1).unwrap();
    assert_eq!(one.alerts.len(), 1);
    assert_eq!(one.open_alerts_total, 2);
}

#[test]
fn a_heartbeat_does_not_move_the_claim_time() {
    let fx = Fixture::new();
    fx.enqueue("testing", "tester");
    let c = fx.claim();
    for _ in 0..5 {
        fx.clock.advance(20_000);
        fx.store.heartbeat(c.lease, MINUTE).unwrap();
    }
    let snapshot = fx.store.queue_snapshot(20).unwrap();
    let r = &snapshot.running[0];
    assert_eq!(r.started_ms, Some(T0));
    assert_eq!(r.elapsed_ms, Some(100_000));
    assert_eq!(r.lease_expires_ms, T0 + 100_000 + 60_000);
    assert_eq!(
        fx.store.job(c.lease.job).unwrap().updated_ms,
        T0 + 100_000,
        "updated_ms moved; claimed_ms did not"
    );
}

#[test]
fn staging_runner_counters_come_from_agent_runs_and_survive_a_reopen() {
    let fx = Fixture::new();
    let job = fx.enqueue("deploy-staging", "deployer");
    let t = fx.task;
    let outcomes = [
        "passed",
        "passed",
        "passed",
        "failed",
        "timed_out",
        "deferred",
        "deferred",
        "exhausted",
        "fallback",
        "cancelled",
    ];
    for (i, outcome) in (0_i64..).zip(outcomes) {
        fx.store
            .record_agent_run(&run(job, t, STAGING_RUNNER_ROLE, outcome, T0 + i))
            .unwrap();
    }
    // Other roles never count, even with the same outcomes.
    for outcome in ["passed", "failed", "deferred", "fallback"] {
        fx.store
            .record_agent_run(&run(job, t, Role::Deployer, outcome, T0 + 100))
            .unwrap();
    }
    let newest = fx
        .store
        .record_agent_run(
            &run(job, t, STAGING_RUNNER_ROLE, "failed", T0 + 50).with_duration_ms(1_234),
        )
        .unwrap();
    fx.store
        .record_agent_run(&run(job, t, Role::Tester, "passed", T0 + 200))
        .unwrap();

    let expected = StagingRunnerStats {
        runs: 11,
        passed: 3,
        failed: 2,
        timed_out: 1,
        tool_errors: 3,
        deferred: 2,
        exhausted: 1,
        fallbacks_to_llm: 1,
        cancelled: 1,
        other: 0,
        last_run: Some(StagingRunnerRun {
            id: newest,
            task: t,
            outcome: "failed".into(),
            duration_ms: 1_234,
            ended_ms: T0 + 50,
        }),
    };
    assert_eq!(
        fx.store.queue_snapshot(20).unwrap().staging_runner,
        expected
    );
    // A restart: a new connection reads the same figures.
    let reopened = fx.reopen();
    drop(fx.store);
    assert_eq!(
        reopened.queue_snapshot(20).unwrap().staging_runner,
        expected
    );
}

/// Issue 21: a shadow run whose command could not run (outcome
/// `tool_error`) is a tool error, and a cancelled run has its own bucket:
/// the buckets add up to `runs`.
#[test]
fn test_runner_buckets_add_up_and_count_shadow_tool_errors() {
    let fx = Fixture::new();
    let job = fx.enqueue("testing", "tester");
    let t = fx.task;
    let outcomes = [
        "passed",
        "failed",
        "timed_out",
        "tool_error",
        "tool_error",
        "deferred",
        "exhausted",
        "fallback",
        "cancelled",
        "cancelled",
    ];
    for (i, outcome) in (0_i64..).zip(outcomes) {
        fx.store
            .record_agent_run(&run(job, t, TEST_RUNNER_ROLE, outcome, T0 + i))
            .unwrap();
    }
    let s = fx.store.queue_snapshot(20).unwrap().test_runner;
    assert_eq!(s.runs, 10);
    assert_eq!(s.tool_errors, 4, "tool_error + deferred + exhausted: {s:?}");
    assert_eq!(s.cancelled, 2, "{s:?}");
    assert_eq!(
        s.passed
            + s.failed
            + s.timed_out
            + s.tool_errors
            + s.fallbacks_to_llm
            + s.cancelled
            + s.other,
        s.runs,
        "the buckets add up: {s:?}"
    );
    assert_eq!(s.last_run.map(|r| r.outcome).as_deref(), Some("cancelled"));
}

#[test]
fn the_snapshot_is_one_consistent_read_while_writers_work() {
    let fx = Fixture::new();
    for _ in 0..20 {
        fx.enqueue("testing", "tester");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|n| {
            let store = fx.reopen();
            let stop = stop.clone();
            let task = fx.task;
            std::thread::spawn(move || {
                let me = LeaseOwner::new("boot-1", format!("w{n}"));
                let mut cycles = 0_u32;
                while !stop.load(Ordering::Relaxed) {
                    store
                        .enqueue(&NewJob::new(task, Stage::Testing, Role::Tester))
                        .unwrap();
                    if let Some(c) = store.claim(&me, MINUTE).unwrap() {
                        // Every done job has exactly one staging-runner run,
                        // written in the same transaction.
                        let run = run(c.job.id, c.job.task, STAGING_RUNNER_ROLE, "passed", T0);
                        let end = JobEnd {
                            run: Some(&run),
                            ..JobEnd::default()
                        };
                        store.complete_with_transition(c.lease, &end).unwrap();
                    }
                    cycles += 1;
                }
                cycles
            })
        })
        .collect();
    let reader = fx.reopen();
    let mut previous_total = 0;
    for _ in 0..300 {
        let snapshot = reader.queue_snapshot(1_000).unwrap();
        let n = |state: JobState| {
            snapshot
                .counts
                .iter()
                .find(|(s, _)| *s == state)
                .map(|(_, n)| *n)
                .unwrap()
        };
        // Read in one transaction, the figures read first (the counts) and
        // last (the staging runner's) agree exactly, and so do the lists.
        assert_eq!(n(JobState::Done), snapshot.staging_runner.runs);
        assert_eq!(n(JobState::Running) as usize, snapshot.running.len());
        assert_eq!(n(JobState::Queued) as usize, snapshot.queued.len());
        let total: u64 = snapshot.counts.iter().map(|(_, n)| n).sum();
        assert!(total >= previous_total, "jobs never disappear");
        previous_total = total;
    }
    stop.store(true, Ordering::Relaxed);
    let cycles: u32 = writers.into_iter().map(|w| w.join().unwrap()).sum();
    assert!(cycles > 0, "the writers wrote");
}
