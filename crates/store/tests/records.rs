//! agent_runs aggregates, transition history with its evidence, and alerts.

mod common;

use std::time::Duration;

use common::{Fixture, T0};
use orch_store::{
    GateDecision, JobId, LeaseOwner, NewAgentRun, NewAlert, NewTransition, RoleStats, StoreError,
    TaskId, TaskStatus, Transport,
};

fn run(
    job: JobId,
    task: TaskId,
    role: &str,
    transport: Transport,
    duration_ms: i64,
    cost_usd: Option<f64>,
) -> NewAgentRun {
    NewAgentRun {
        job,
        task,
        role: role.into(),
        stage: "testing".into(),
        transport,
        started_ms: T0,
        ended_ms: T0 + duration_ms,
        duration_ms,
        exit_code: Some(0),
        outcome: "passed".into(),
        cost_usd,
        tokens_in: cost_usd.map(|_| 1_000),
        tokens_out: cost_usd.map(|_| 200),
    }
}

#[test]
fn agent_runs_aggregate_per_role_and_transport() {
    let fx = Fixture::new();
    let job = fx.enqueue("testing", "tester");
    let t = fx.task;
    let s = &fx.store;
    s.record_agent_run(&run(job, t, "tester", Transport::Llm, 60_000, Some(0.50)))
        .unwrap();
    s.record_agent_run(&run(job, t, "tester", Transport::Llm, 120_000, Some(0.25)))
        .unwrap();
    s.record_agent_run(&run(job, t, "tester", Transport::Llm, 30_000, None))
        .unwrap();
    s.record_agent_run(&NewAgentRun {
        exit_code: None,
        outcome: "timeout".into(),
        ..run(job, t, "deployer", Transport::Deterministic, 4_000, None)
    })
    .unwrap();
    s.record_agent_run(&run(
        job,
        t,
        "deployer",
        Transport::Deterministic,
        2_000,
        Some(0.0),
    ))
    .unwrap();

    let stats = s.role_stats().unwrap();
    assert_eq!(
        stats,
        vec![
            RoleStats {
                role: "deployer".into(),
                transport: Transport::Deterministic,
                runs: 2,
                total_duration_ms: 6_000,
                mean_duration_ms: 3_000.0,
                total_cost_usd: 0.0,
                tokens_in: 1_000,
                tokens_out: 200,
            },
            RoleStats {
                role: "tester".into(),
                transport: Transport::Llm,
                runs: 3,
                total_duration_ms: 210_000,
                mean_duration_ms: 70_000.0,
                total_cost_usd: 0.75,
                tokens_in: 2_000,
                tokens_out: 400,
            },
        ]
    );
}

#[test]
fn an_agent_run_with_a_negative_duration_is_refused() {
    let fx = Fixture::new();
    let job = fx.enqueue("testing", "tester");
    let err = fx
        .store
        .record_agent_run(&run(job, fx.task, "tester", Transport::Llm, -1, None))
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Sqlite {
                op: "record_agent_run",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(fx.store.role_stats().unwrap().is_empty());
}

fn decision(gate: &str, verdict: Option<&str>, reason: &str, sha: Option<String>) -> GateDecision {
    GateDecision {
        gate: gate.into(),
        passed: verdict == Some("PASSED"),
        verdict: verdict.map(str::to_owned),
        reason: reason.into(),
        artifact_sha256: sha,
    }
}

#[test]
fn the_transition_history_keeps_every_gate_decision_and_its_sha256() {
    let fx = Fixture::new();
    let staging_log = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let rollback = NewTransition {
        task: fx.task,
        from_stage: "deploy-staging".into(),
        to_stage: "development".into(),
        status: TaskStatus::Active,
        developer_retries: 1,
        decisions: vec![decision(
            "check_staging_status",
            Some("FAILED"),
            "staging_status: FAILED (exit 1)",
            Some(staging_log.into()),
        )],
    };
    let first = fx.store.record_transition(&rollback).unwrap();
    fx.clock.advance(1_000);
    let blocked = NewTransition {
        task: fx.task,
        from_stage: "development".into(),
        to_stage: "blocked".into(),
        status: TaskStatus::Blocked,
        developer_retries: 1,
        decisions: vec![
            decision("check_development_status", None, "artifact missing", None),
            decision(
                "check_review_status",
                Some("CHANGES_REQUESTED"),
                "review_status: CHANGES_REQUESTED",
                None,
            ),
        ],
    };
    let second = fx.store.record_transition(&blocked).unwrap();

    let task = fx.store.task(fx.task).unwrap();
    assert_eq!(task.stage, "blocked");
    assert_eq!(task.status, TaskStatus::Blocked);
    assert_eq!(task.developer_retries, 1);
    assert_eq!(task.updated_ms, T0 + 1_000);

    let history = fx.store.transitions(fx.task).unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].id, first);
    assert_eq!(history[0].job, None);
    assert_eq!(
        (
            history[0].from_stage.as_str(),
            history[0].to_stage.as_str(),
            history[0].at_ms
        ),
        ("deploy-staging", "development", T0)
    );
    assert_eq!(history[0].decisions, rollback.decisions);
    assert_eq!(
        history[0].decisions[0].artifact_sha256.as_deref(),
        Some(staging_log)
    );
    assert_eq!(history[1].id, second);
    assert_eq!(history[1].decisions, blocked.decisions, "order kept");
    assert_eq!(history[1].at_ms, T0 + 1_000);
}

#[test]
fn a_malformed_sha256_is_refused_and_nothing_moves() {
    let fx = Fixture::new();
    for bad in [
        "E3B0C442".repeat(8),
        "abc".into(),
        format!("{}g", "a".repeat(63)),
    ] {
        let t = NewTransition {
            task: fx.task,
            from_stage: "deploy-staging".into(),
            to_stage: "deploy".into(),
            status: TaskStatus::Active,
            developer_retries: 0,
            decisions: vec![decision(
                "check_staging_status",
                Some("PASSED"),
                "ok",
                Some(bad.clone()),
            )],
        };
        let err = fx.store.record_transition(&t).unwrap_err();
        assert!(
            matches!(&err, StoreError::InvalidSha256 { found } if *found == bad),
            "{err:?}"
        );
    }
    assert_eq!(fx.store.task(fx.task).unwrap().stage, "deploy-staging");
    assert!(fx.store.transitions(fx.task).unwrap().is_empty());
}

#[test]
fn a_transition_for_a_missing_task_is_not_found() {
    let fx = Fixture::new();
    let t = NewTransition {
        task: TaskId::new(999),
        from_stage: "analysis".into(),
        to_stage: "architecture".into(),
        status: TaskStatus::Active,
        developer_retries: 0,
        decisions: vec![],
    };
    let err = fx.store.record_transition(&t).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::NotFound {
                table: "tasks",
                id: 999
            }
        ),
        "{err:?}"
    );
}

#[test]
fn alerts_stay_open_until_acknowledged() {
    let fx = Fixture::new();
    let job = fx.enqueue("deploy-staging", "deployer");
    let lease = fx
        .store
        .claim(&LeaseOwner::new("boot-1", "w"), Duration::from_secs(60))
        .unwrap()
        .unwrap()
        .lease;
    fx.store.fail(lease, "infra retries exhausted").unwrap();
    let id = fx
        .store
        .raise_alert(&NewAlert {
            kind: "staging_infra_exhausted".into(),
            message: "staging suite could not start 3 times; check the repo's staging command"
                .into(),
            task: Some(fx.task),
            job: Some(job),
        })
        .unwrap();
    let open = fx.store.open_alerts().unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].id, id);
    assert_eq!(open[0].job, Some(job));
    assert_eq!(open[0].created_ms, T0);

    fx.clock.advance(10);
    fx.store.acknowledge_alert(id).unwrap();
    fx.clock.advance(10);
    fx.store.acknowledge_alert(id).unwrap();
    assert!(fx.store.open_alerts().unwrap().is_empty());
    assert!(matches!(
        fx.store.acknowledge_alert(orch_store::AlertId::new(42)),
        Err(StoreError::NotFound {
            table: "alerts",
            id: 42
        })
    ));
}

#[test]
fn repos_are_found_by_name_and_unknown_ids_are_not_found() {
    let fx = Fixture::new();
    let repo = fx.store.repo_by_name("demo").unwrap().unwrap();
    assert_eq!(repo.staging_command, "make staging");
    assert!(fx.store.repo_by_name("nope").unwrap().is_none());
    assert!(matches!(
        fx.store.job(JobId::new(7)),
        Err(StoreError::NotFound {
            table: "jobs",
            id: 7
        })
    ));
    assert!(matches!(
        fx.store.task(TaskId::new(7)),
        Err(StoreError::NotFound {
            table: "tasks",
            id: 7
        })
    ));
}
