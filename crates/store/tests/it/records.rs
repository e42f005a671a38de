//! Repos and tasks, agent_runs aggregates and per-task spend, transition
//! history with its evidence, and alerts.

use orch_pipeline::{Role, Stage};
use std::time::Duration;

use crate::common::{Fixture, T0, run_of};
use orch_store::{
    AgentRunId, GateDecision, JobEnd, JobId, JobState, LeaseOwner, NewAgentRun, NewAlert, NewJob,
    NewRepo, NewShadowVerdict, NewTransition, RepoId, RoleStats, RunStats, StoreError, TaskId,
    TaskStatus, Transport,
};

fn run(
    job: JobId,
    task: TaskId,
    role: Role,
    transport: Transport,
    duration_ms: i64,
    cost_usd: Option<f64>,
) -> NewAgentRun {
    NewAgentRun::new(job, task, role, Stage::Testing, transport, "passed")
        .with_started_ms(T0)
        .with_ended_ms(T0 + duration_ms)
        .with_duration_ms(duration_ms)
        .with_exit_code(Some(0))
        .with_cost_usd(cost_usd)
        .with_tokens_in(cost_usd.map(|_| 1_000))
        .with_tokens_out(cost_usd.map(|_| 200))
        .with_sandbox(Some(
            "required: landlock abi 7, filesystem full, network host, signals scoped".into(),
        ))
        .with_cache_read_tokens(cost_usd.map(|_| 300))
        .with_cache_write_tokens(cost_usd.map(|_| 50))
        .with_model(cost_usd.map(|_| "claude-opus-5-5".into()))
}

#[test]
fn agent_runs_aggregate_per_role_and_transport() {
    let fx = Fixture::new();
    let job = fx.enqueue("testing", "tester");
    let t = fx.task;
    let s = &fx.store;
    s.record_agent_run(&run(
        job,
        t,
        Role::Tester,
        Transport::Llm,
        60_000,
        Some(0.50),
    ))
    .unwrap();
    s.record_agent_run(&run(
        job,
        t,
        Role::Tester,
        Transport::Llm,
        120_000,
        Some(0.25),
    ))
    .unwrap();
    s.record_agent_run(&run(job, t, Role::Tester, Transport::Llm, 30_000, None))
        .unwrap();
    s.record_agent_run(&{
        let mut timed_out = run(
            job,
            t,
            Role::Deployer,
            Transport::Deterministic,
            4_000,
            None,
        )
        .with_exit_code(None);
        timed_out.outcome = "timeout".into();
        timed_out
    })
    .unwrap();
    s.record_agent_run(&run(
        job,
        t,
        Role::Deployer,
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
                role: Role::Deployer,
                transport: Transport::Deterministic,
                runs: 2,
                total_duration_ms: 6_000,
                mean_duration_ms: 3_000.0,
                total_cost_usd: 0.0,
                tokens_in: 1_000,
                tokens_out: 200,
                cache_read_tokens: 300,
                cache_write_tokens: 50,
            },
            RoleStats {
                role: Role::Tester,
                transport: Transport::Llm,
                runs: 3,
                total_duration_ms: 210_000,
                mean_duration_ms: 70_000.0,
                total_cost_usd: 0.75,
                tokens_in: 2_000,
                tokens_out: 400,
                cache_read_tokens: 600,
                cache_write_tokens: 100,
            },
        ]
    );
}

#[test]
fn an_agent_run_keeps_its_cache_tokens_and_model_or_their_absence() {
    let fx = Fixture::new();
    let job = fx.enqueue("testing", "tester");
    let s = &fx.store;
    s.record_agent_run(&run(
        job,
        fx.task,
        Role::Tester,
        Transport::Llm,
        1_000,
        Some(0.5),
    ))
    .unwrap();
    s.record_agent_run(&run(
        job,
        fx.task,
        Role::Tester,
        Transport::Llm,
        1_000,
        None,
    ))
    .unwrap();
    let runs = s.agent_runs(fx.task).unwrap();
    let reported = runs.first().unwrap();
    assert_eq!(
        (
            reported.cache_read_tokens,
            reported.cache_write_tokens,
            reported.model.as_deref()
        ),
        (Some(300), Some(50), Some("claude-opus-5-5"))
    );
    let unreported = runs.get(1).unwrap();
    assert_eq!(
        (
            unreported.cache_read_tokens,
            unreported.cache_write_tokens,
            unreported.model.as_deref()
        ),
        (None, None, None),
        "a CLI that reports no cache tokens and no model leaves them NULL, not 0"
    );
    // An empty model name is not a name: the schema refuses it.
    let err = s
        .record_agent_run(
            &run(job, fx.task, Role::Tester, Transport::Llm, 1_000, None)
                .with_model(Some(String::new()))
                .with_cost_source(None),
        )
        .unwrap_err();
    // SQLite's answer is told by its own result code, through the store's
    // opaque error (no type of the SQLite binding in the store's API): a
    // CHECK constraint (275, SQLITE_CONSTRAINT_CHECK; primary 19).
    let StoreError::Sqlite { op, source } = &err else {
        panic!("not a SQLite error: {err:?}");
    };
    assert_eq!(*op, "record_agent_run");
    assert_eq!(source.code(), Some(275), "{err}");
    assert_eq!(source.primary_code(), Some(19), "{err}");
    assert!(
        source.message().contains("CHECK constraint failed"),
        "{err}"
    );
    assert!(err.to_string().contains(&source.message()), "{err}");
    // A count SQLite cannot hold (past i64::MAX) is refused, not wrapped.
    let err = s
        .record_agent_run(
            &run(job, fx.task, Role::Tester, Transport::Llm, 1_000, None)
                .with_cache_read_tokens(Some(u64::MAX)),
        )
        .unwrap_err();
    // Refused by the binding, not by SQLite: no result code.
    let StoreError::Sqlite { source, .. } = &err else {
        panic!("not a SQLite error: {err:?}");
    };
    assert_eq!(source.code(), None, "{err}");
    assert_eq!(s.agent_runs(fx.task).unwrap().len(), 2);
}

#[test]
fn an_agent_run_with_a_negative_duration_is_refused() {
    let fx = Fixture::new();
    let job = fx.enqueue("testing", "tester");
    let err = fx
        .store
        .record_agent_run(&run(job, fx.task, Role::Tester, Transport::Llm, -1, None))
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

#[test]
fn a_run_s_cost_source_is_kept_and_only_beside_a_cost() {
    let fx = Fixture::new();
    let job = fx.enqueue("testing", "tester");
    let s = &fx.store;
    for source in ["reported", "estimated"] {
        s.record_agent_run(
            &run(
                job,
                fx.task,
                Role::Tester,
                Transport::Llm,
                1_000,
                Some(0.01),
            )
            .with_cost_source(Some(source.into())),
        )
        .unwrap();
    }
    s.record_agent_run(&run(
        job,
        fx.task,
        Role::Tester,
        Transport::Llm,
        1_000,
        None,
    ))
    .unwrap();
    let sources: Vec<Option<String>> = s
        .agent_runs(fx.task)
        .unwrap()
        .into_iter()
        .map(|r| r.cost_source)
        .collect();
    assert_eq!(
        sources,
        [Some("reported".into()), Some("estimated".into()), None]
    );
    // No other word, and no source without a cost: the schema refuses both.
    for (source, cost) in [("guessed", Some(0.01)), ("estimated", None)] {
        let err = s
            .record_agent_run(
                &run(job, fx.task, Role::Tester, Transport::Llm, 1_000, cost)
                    .with_cost_source(Some(source.into())),
            )
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Sqlite { .. }),
            "{source}: {err:?}"
        );
    }
    assert_eq!(s.agent_runs(fx.task).unwrap().len(), 3);
}

fn decision(gate: &str, verdict: Option<&str>, reason: &str, sha: Option<String>) -> GateDecision {
    GateDecision::new(gate, verdict == Some("PASSED"), reason)
        .with_verdict(verdict.map(str::to_owned))
        .with_artifact_sha256(sha)
        .with_sandbox(Some(
            "best-effort: landlock abi 7, filesystem full, network namespace, signals scoped"
                .into(),
        ))
}

#[test]
fn the_transition_history_keeps_every_gate_decision_and_its_sha256() {
    let fx = Fixture::new();
    let staging_log = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let rollback = NewTransition::new(
        fx.task,
        Stage::DeployStaging,
        Stage::Development,
        TaskStatus::Active,
    )
    .with_developer_retries(1)
    .with_decisions(vec![decision(
        "check_staging_status",
        Some("FAILED"),
        "staging_status: FAILED (exit 1)",
        Some(staging_log.into()),
    )]);
    let first = fx.store.record_transition(&rollback).unwrap();
    fx.clock.advance(1_000);
    let blocked = NewTransition::new(
        fx.task,
        Stage::Development,
        Stage::Blocked,
        TaskStatus::Blocked,
    )
    .with_developer_retries(1)
    .with_decisions(vec![
        decision("check_development_status", None, "artifact missing", None),
        decision(
            "check_review_status",
            Some("CHANGES_REQUESTED"),
            "review_status: CHANGES_REQUESTED",
            None,
        ),
    ]);
    let second = fx.store.record_transition(&blocked).unwrap();

    let task = fx.store.task(fx.task).unwrap();
    assert_eq!(task.stage, Stage::Blocked);
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
        let t = NewTransition::new(
            fx.task,
            Stage::DeployStaging,
            Stage::Deploy,
            TaskStatus::Active,
        )
        .with_developer_retries(0)
        .with_decisions(vec![decision(
            "check_staging_status",
            Some("PASSED"),
            "ok",
            Some(bad.clone()),
        )]);
        let err = fx.store.record_transition(&t).unwrap_err();
        assert!(
            matches!(&err, StoreError::InvalidSha256 { found } if *found == bad),
            "{err:?}"
        );
    }
    assert_eq!(fx.store.task(fx.task).unwrap().stage, Stage::DeployStaging);
    assert!(fx.store.transitions(fx.task).unwrap().is_empty());
}

#[test]
fn a_transition_for_a_missing_task_is_not_found() {
    let fx = Fixture::new();
    let t = NewTransition::new(
        TaskId::new(999),
        Stage::Analysis,
        Stage::Architecture,
        TaskStatus::Active,
    )
    .with_developer_retries(0)
    .with_decisions(vec![]);
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
    fx.store
        .fail(lease, "infra retries exhausted", &JobEnd::default())
        .unwrap();
    let id = fx
        .store
        .raise_alert(
            &NewAlert::new(
                orch_store::AlertKind::StagingRunnerExhausted,
                "staging suite could not start 3 times; check the repo's staging command",
            )
            .with_task(Some(fx.task))
            .with_job(Some(job)),
        )
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

#[test]
fn a_repo_keeps_its_deploy_and_health_commands_and_pass_env() {
    let fx = Fixture::new();
    let id = fx
        .store
        .add_repo(
            &NewRepo::new("shop", "/srv/shop", "make staging")
                .with_deploy_command(Some("make deploy".into()))
                .with_health_command(Some("curl -fsS http://localhost:8080/health".into()))
                .with_pass_env(vec!["DATABASE_URL".into(), "STRIPE_TEST_KEY".into()]),
        )
        .unwrap();
    let repo = fx.store.repo(id).unwrap();
    assert_eq!(repo.deploy_command.as_deref(), Some("make deploy"));
    assert_eq!(
        repo.health_command.as_deref(),
        Some("curl -fsS http://localhost:8080/health")
    );
    assert_eq!(repo.pass_env, vec!["DATABASE_URL", "STRIPE_TEST_KEY"]);
    assert_eq!(repo.created_ms, T0);
    assert_eq!(fx.store.repo_by_name("shop").unwrap().unwrap(), repo);

    // The fixture's repo has nothing to deploy, probe or pass through.
    let demo = fx.store.repo_by_name("demo").unwrap().unwrap();
    assert_eq!((demo.deploy_command, demo.health_command), (None, None));
    assert!(demo.pass_env.is_empty());
}

#[test]
fn invalid_pass_env_names_and_blank_commands_are_refused_and_nothing_is_written() {
    let fx = Fixture::new();
    let cases = [
        (vec!["OK".to_owned(), String::new()], "pass_env", "empty"),
        (vec!["A,B".to_owned()], "pass_env", "','"),
        (vec!["A=1".to_owned()], "pass_env", "'='"),
        (vec!["A\0B".to_owned()], "pass_env", "NUL"),
    ];
    for (pass_env, what, hint) in cases {
        let err = fx
            .store
            .add_repo(&NewRepo::new("bad", "/srv/bad", "true").with_pass_env(pass_env.clone()))
            .unwrap_err();
        let StoreError::InvalidInput { what: w, why } = &err else {
            panic!("{pass_env:?}: expected InvalidInput, got {err:?}");
        };
        assert_eq!(*w, what);
        assert!(why.contains(hint), "{pass_env:?}: {why}");
    }
    for repo in [
        NewRepo::new("bad", "/srv/bad", "true").with_deploy_command(Some(" ".into())),
        NewRepo::new("bad", "/srv/bad", "true").with_health_command(Some(String::new())),
    ] {
        let err = fx.store.add_repo(&repo).unwrap_err();
        assert!(
            matches!(&err, StoreError::InvalidInput { why, .. } if why.contains("None")),
            "{err:?}"
        );
    }
    for (dirs, hint) in [
        (vec!["relative/cache".to_owned()], "absolute"),
        (vec!["/a,b".to_owned()], "','"),
    ] {
        let err = fx
            .store
            .add_repo(&NewRepo::new("bad", "/srv/bad", "true").with_cache_dirs(dirs.clone()))
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::InvalidInput { what: "cache_dirs", why } if why.contains(hint)),
            "{dirs:?}: {err:?}"
        );
    }
    assert!(fx.store.repo_by_name("bad").unwrap().is_none());
    assert_eq!(fx.store.repos().unwrap().len(), 1);
}

#[test]
fn repos_are_listed_by_name() {
    let fx = Fixture::new();
    for name in ["zeta", "alpha"] {
        fx.store
            .add_repo(&NewRepo::new(name, format!("/srv/{name}"), "true"))
            .unwrap();
    }
    let names: Vec<String> = fx
        .store
        .repos()
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, vec!["alpha", "demo", "zeta"]);
}

#[test]
fn create_task_writes_the_task_and_its_first_job_together() {
    let fx = Fixture::new();
    let repo = fx.store.repo_by_name("demo").unwrap().unwrap().id;
    fx.clock.advance(7);
    // The job's task is ignored: the job is for the new task.
    let first = NewJob::new(TaskId::new(999), Stage::Analysis, Role::Analyst);
    let (task, job) = fx
        .store
        .create_task(repo, "Add a health check", &first)
        .unwrap();
    let t = fx.store.task(task).unwrap();
    assert_eq!(
        (t.repo, t.title.as_str(), t.stage.as_str(), t.status),
        (repo, "Add a health check", "analysis", TaskStatus::Active)
    );
    assert_eq!(
        (t.developer_retries, t.created_ms, t.updated_ms),
        (0, T0 + 7, T0 + 7)
    );
    let j = fx.store.job(job).unwrap();
    assert_eq!(
        (j.task, j.stage.as_str(), j.role.as_str(), j.state),
        (task, "analysis", "analyst", JobState::Queued)
    );

    // A job that cannot be enqueued leaves no task behind.
    let tasks_before = fx.count("tasks");
    let err = fx
        .store
        .create_task(repo, "doomed", &first.clone().with_max_attempts(0))
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput { .. }), "{err:?}");
    // And neither does an unknown repository.
    let err = fx
        .store
        .create_task(RepoId::new(42), "orphan", &first)
        .unwrap_err();
    assert!(matches!(err, StoreError::Sqlite { .. }), "{err:?}");
    assert_eq!(fx.count("tasks"), tasks_before);
    assert_eq!(fx.count("jobs"), 1);
}

#[test]
fn tasks_are_listed_newest_first() {
    let fx = Fixture::new();
    let repo = fx.store.repo_by_name("demo").unwrap().unwrap().id;
    let first = NewJob::new(fx.task, Stage::Analysis, Role::Analyst);
    let (a, _) = fx.store.create_task(repo, "a", &first).unwrap();
    fx.clock.advance(1);
    let (b, _) = fx.store.create_task(repo, "b", &first).unwrap();
    let ids: Vec<TaskId> = fx.store.tasks(10).unwrap().iter().map(|t| t.id).collect();
    assert_eq!(ids, vec![b, a, fx.task]);
    let two = fx.store.tasks(2).unwrap();
    assert_eq!(two.len(), 2);
    assert_eq!(two[0], fx.store.task(b).unwrap());
    assert!(fx.store.tasks(0).unwrap().is_empty());
}

#[test]
fn task_cost_sums_every_run_and_survives_a_reclaim_and_runs_list_them() {
    let fx = Fixture::new();
    assert_eq!(fx.store.task_cost_usd(fx.task).unwrap(), 0.0, "no runs yet");
    let job = fx.enqueue("testing", "tester");
    let c = fx.claim();
    fx.store
        .defer(
            c.lease,
            Duration::ZERO,
            "tool error",
            Some(&run_of(&c, Some(0.25))),
        )
        .unwrap();
    // A reopened store and a new claim: the spend stays.
    let again = fx.reopen();
    let c = fx.claim();
    assert_eq!(c.lease.job, job);
    assert_eq!(again.task_cost_usd(fx.task).unwrap(), 0.25);
    let unpriced = run_of(&c, None);
    fx.store
        .complete_with_transition(
            c.lease,
            &JobEnd {
                run: Some(&unpriced),
                ..JobEnd::default()
            },
        )
        .unwrap();
    fx.store
        .record_agent_run(&run(
            job,
            fx.task,
            Role::Tester,
            Transport::Llm,
            10,
            Some(1.5),
        ))
        .unwrap();
    assert_eq!(again.task_cost_usd(fx.task).unwrap(), 1.75);

    // Another task's runs are not counted.
    let repo = fx.store.repo_by_name("demo").unwrap().unwrap().id;
    let (other, other_job) = fx
        .store
        .create_task(
            repo,
            "other",
            &NewJob::new(fx.task, Stage::Testing, Role::Tester),
        )
        .unwrap();
    fx.store
        .record_agent_run(&run(
            other_job,
            other,
            Role::Tester,
            Transport::Llm,
            10,
            Some(9.0),
        ))
        .unwrap();
    assert_eq!(fx.store.task_cost_usd(fx.task).unwrap(), 1.75);
    assert_eq!(fx.store.task_cost_usd(other).unwrap(), 9.0);

    // The task's runs, oldest first, as recorded.
    let runs = fx.store.agent_runs(fx.task).unwrap();
    let costs: Vec<Option<f64>> = runs.iter().map(|r| r.cost_usd).collect();
    assert_eq!(costs, vec![Some(0.25), None, Some(1.5)]);
    assert!(runs.iter().all(|r| r.task == fx.task && r.job == job));
    assert_eq!(
        (
            runs[0].role.as_str(),
            runs[0].transport,
            runs[0].outcome.as_str()
        ),
        ("tester", Transport::Llm, "passed")
    );
    assert_eq!(runs[2].duration_ms, 10);
    assert!(runs[0].id < runs[1].id && runs[1].id < runs[2].id);
    assert_eq!(fx.store.agent_runs(other).unwrap().len(), 1);
    assert!(matches!(
        fx.store.task_cost_usd(TaskId::new(999)),
        Err(StoreError::NotFound {
            table: "tasks",
            id: 999
        })
    ));
}

#[test]
fn run_stats_group_by_role_stage_and_transport_and_never_invent_a_cost() {
    let fx = Fixture::new();
    let s = &fx.store;
    let job = fx.enqueue("testing", "tester");
    let t1 = fx.task;
    let repo = s.repo_by_name("demo").unwrap().unwrap().id;
    let t2 = s.add_task(repo, "second", Stage::Testing).unwrap();
    let job2 = s
        .enqueue(&NewJob::new(t2, Stage::Testing, Role::Tester))
        .unwrap();
    let with = |job, task, role: &str, stage: &str, outcome: &str, ms, cost| {
        let mut r = run(job, task, role.parse().unwrap(), Transport::Llm, ms, cost);
        r.stage = stage.parse().unwrap();
        r.outcome = outcome.into();
        r
    };
    // tester at testing, LLM: four runs over two tasks, two with a cost, one
    // of those failed; a failed run without a cost adds no failed cost.
    s.record_agent_run(&with(
        job,
        t1,
        "tester",
        "testing",
        "passed",
        1_000,
        Some(0.5),
    ))
    .unwrap();
    s.record_agent_run(&with(
        job,
        t1,
        "tester",
        "testing",
        "failed",
        3_000,
        Some(0.25),
    ))
    .unwrap();
    s.record_agent_run(&with(
        job2,
        t2,
        "tester",
        "testing",
        "timed_out",
        4_000,
        None,
    ))
    .unwrap();
    s.record_agent_run(&with(job2, t2, "tester", "testing", "passed", 4_000, None))
        .unwrap();
    // tester at review: its own group; no run has a cost, one tool error.
    s.record_agent_run(&with(job, t1, "tester", "review", "tool_error", 10, None))
        .unwrap();
    // staging-runner, deterministic: no cost ever; exhausted counts as failed,
    // deferred and fallback do not.
    for outcome in ["passed", "exhausted", "deferred", "fallback"] {
        s.record_agent_run(&deterministic(with(
            job,
            t1,
            "staging-runner",
            "deploy-staging",
            outcome,
            200,
            None,
        )))
        .unwrap();
    }
    // The same role and stage over another transport is another group.
    s.record_agent_run(&deterministic(with(
        job,
        t1,
        "tester",
        "testing",
        "passed",
        50,
        Some(0.0),
    )))
    .unwrap();

    let stats = s.run_stats().unwrap();
    let keys: Vec<_> = stats
        .iter()
        .map(|r| (r.role.as_str(), r.stage.as_str(), r.transport))
        .collect();
    assert_eq!(
        keys,
        vec![
            ("staging-runner", "deploy-staging", Transport::Deterministic),
            ("tester", "review", Transport::Llm),
            ("tester", "testing", Transport::Deterministic),
            ("tester", "testing", Transport::Llm),
        ],
        "by role, stage, then transport text"
    );
    assert_eq!(
        stats[3],
        RunStats {
            role: Role::Tester,
            stage: Stage::Testing,
            transport: Transport::Llm,
            runs: 4,
            tasks: 2,
            total_duration_ms: 12_000,
            mean_duration_ms: 3_000.0,
            cost_runs: 2,
            total_cost_usd: Some(0.75),
            mean_cost_usd: Some(0.375),
            failed_runs: 2,
            failed_cost_usd: Some(0.25),
        }
    );
    let review = &stats[1];
    assert_eq!(
        (review.runs, review.failed_runs, review.cost_runs),
        (1, 1, 0)
    );
    assert_eq!(
        (
            review.total_cost_usd,
            review.mean_cost_usd,
            review.failed_cost_usd
        ),
        (None, None, None),
        "no run had a cost: no figure is invented"
    );
    let runner = &stats[0];
    assert_eq!((runner.runs, runner.tasks, runner.failed_runs), (4, 1, 1));
    assert_eq!(runner.total_duration_ms, 800);
    assert_eq!(runner.mean_duration_ms, 200.0);
    assert_eq!(runner.total_cost_usd, None);
    // A reported cost of 0 is a cost: it counts.
    let free = &stats[2];
    assert_eq!(
        (free.cost_runs, free.total_cost_usd, free.mean_cost_usd),
        (1, Some(0.0), Some(0.0))
    );
    assert_eq!((free.failed_runs, free.failed_cost_usd), (0, None));
}

#[test]
fn run_stats_of_an_empty_history_is_empty() {
    let fx = Fixture::new();
    assert!(fx.store.run_stats().unwrap().is_empty());
}

/// Issue 21: a pair whose runner gave no verdict (its command could not
/// run) compares nothing: the agreement is unknown (`None`), not 0.0.
#[test]
fn a_pair_without_a_runner_verdict_leaves_the_agreement_unknown() {
    let fx = Fixture::new();
    fx.enqueue("testing", "tester");
    let c = fx.claim();
    let mut runner = run_of(&c, None);
    runner.role = Role::TestRunner;
    runner.transport = Transport::Deterministic;
    runner.outcome = "tool_error".into();
    let runner_run = fx.store.record_agent_run(&runner).unwrap();
    let llm = run_of(&c, Some(0.05));
    let pair = NewShadowVerdict::new(Stage::Testing, runner_run, "PASSED")
        .with_commit(Some("a".repeat(40)))
        .with_llm_commit(Some("a".repeat(40)));
    fx.store
        .complete_with_transition(
            c.lease,
            &JobEnd {
                run: Some(&llm),
                shadow: Some(&pair),
                ..JobEnd::default()
            },
        )
        .unwrap();
    let agreement = fx.store.shadow_agreement(Stage::Testing).unwrap();
    assert_eq!(
        (agreement.runs, agreement.runner_no_verdict, agreement.agree),
        (1, 1, 0),
        "{agreement:?}"
    );
    assert_eq!(agreement.compared(), 0);
    assert_eq!(agreement.rate(), None, "no pair compared: unknown, not 0.0");
    assert_eq!(
        fx.store
            .queue_snapshot(20)
            .unwrap()
            .test_runner_agreement
            .rate(),
        None
    );
}

#[test]
fn a_shadow_pair_is_written_with_the_job_end_and_counted_by_stage() {
    let fx = Fixture::new();
    let job = fx.enqueue("testing", "tester");
    let c = fx.claim();
    assert_eq!(c.lease.job, job);
    let mut runner = run_of(&c, None);
    runner.role = Role::TestRunner;
    runner.transport = Transport::Deterministic;
    runner.outcome = "failed".into();
    let runner_run = fx.store.record_agent_run(&runner).unwrap();
    let pair = |runner_run, runner_verdict: Option<&str>, llm: &str| {
        NewShadowVerdict::new(Stage::Testing, runner_run, llm.to_owned())
            .with_commit(Some("a".repeat(40)))
            .with_llm_commit(Some("a".repeat(40)))
            .with_runner_verdict(runner_verdict.map(str::to_owned))
    };
    let llm = run_of(&c, Some(0.05));
    // Refused, nothing written: a verdict outside PASSED/FAILED, and a runner
    // run of another job.
    for (bad, why) in [
        (
            pair(runner_run, Some("passed"), "PASSED"),
            "PASSED or FAILED",
        ),
        (pair(runner_run, None, "MAYBE"), "PASSED or FAILED"),
        (
            pair(AgentRunId::new(999), Some("FAILED"), "PASSED"),
            "runner run",
        ),
    ] {
        let error = fx
            .store
            .complete_with_transition(
                c.lease,
                &JobEnd {
                    run: Some(&llm),
                    shadow: Some(&bad),
                    ..JobEnd::default()
                },
            )
            .unwrap_err();
        assert!(error.to_string().contains(why), "{error}");
        assert!(fx.store.shadow_verdicts(fx.task).unwrap().is_empty());
    }
    let advanced = fx
        .store
        .complete_with_transition(
            c.lease,
            &JobEnd {
                run: Some(&llm),
                shadow: Some(&pair(runner_run, Some("FAILED"), "PASSED")),
                ..JobEnd::default()
            },
        )
        .unwrap();
    let pairs = fx.store.shadow_verdicts(fx.task).unwrap();
    assert_eq!(pairs.len(), 1);
    assert_eq!(pairs[0].runner_run, runner_run);
    assert_eq!(pairs[0].llm_run, advanced.run);
    assert_eq!(pairs[0].job, job);
    assert_eq!(pairs[0].commit.as_deref(), Some("a".repeat(40).as_str()));
    let agreement = fx.store.shadow_agreement(Stage::Testing).unwrap();
    assert_eq!(
        (
            agreement.runs,
            agreement.runner_only_failed,
            agreement.agree
        ),
        (1, 1, 0)
    );
    assert_eq!(agreement.rate(), Some(0.0));
    assert_eq!(
        fx.store.shadow_agreement(Stage::DeployStaging).unwrap(),
        orch_store::ShadowAgreement::default(),
        "counted by stage"
    );
    // It survives a reopen.
    assert_eq!(
        fx.reopen().shadow_agreement(Stage::Testing).unwrap(),
        agreement
    );
}

/// The shadow evidence is split per repository and per test command, each
/// verdict pair in its cell, pairs without a runner verdict or on another
/// commit apart; a digest that is not one is refused.
#[test]
fn shadow_evidence_is_counted_per_repository_and_command() {
    let fx = Fixture::new();
    let other_repo = fx
        .store
        .add_repo(&NewRepo::new("other", "/srv/other", "make staging"))
        .unwrap();
    let other_task = fx
        .store
        .add_task(other_repo, "b task", Stage::Testing)
        .unwrap();
    let old = orch_store::command_sha256("make test");
    let new = orch_store::command_sha256("  cargo test\n");
    assert_eq!(new, orch_store::command_sha256("cargo test"), "trimmed");
    assert_eq!(new.len(), 64);
    // (task, command, runner, llm, same commit, the runner's re-run)
    type Case<'a> = (
        TaskId,
        Option<&'a String>,
        Option<&'a str>,
        &'a str,
        bool,
        Option<&'a str>,
    );
    let cases: [Case<'_>; 9] = [
        (fx.task, Some(&new), Some("PASSED"), "PASSED", true, None),
        (fx.task, Some(&new), Some("PASSED"), "PASSED", true, None),
        (fx.task, Some(&new), Some("FAILED"), "FAILED", true, None),
        (fx.task, Some(&new), Some("PASSED"), "FAILED", true, None),
        (fx.task, Some(&new), None, "PASSED", true, None),
        (fx.task, Some(&old), Some("FAILED"), "PASSED", false, None),
        (other_task, None, Some("FAILED"), "PASSED", true, None),
        // A disagreement the re-run confirms: counted where the first
        // verdict puts it.
        (
            fx.task,
            Some(&new),
            Some("FAILED"),
            "PASSED",
            true,
            Some("FAILED"),
        ),
        // A disagreement the re-run contradicts: flaky, out of every cell.
        (
            fx.task,
            Some(&new),
            Some("PASSED"),
            "FAILED",
            true,
            Some("FAILED"),
        ),
    ];
    for (task, command, runner_verdict, llm, same, rerun) in cases {
        fx.store
            .enqueue(&orch_store::NewJob::new(task, Stage::Testing, Role::Tester))
            .unwrap();
        let c = fx.claim();
        let mut runner = run_of(&c, None);
        runner.role = Role::TestRunner;
        runner.transport = Transport::Deterministic;
        let runner_run = fx.store.record_agent_run(&runner).unwrap();
        let pair = NewShadowVerdict::new(Stage::Testing, runner_run, llm.to_owned())
            .with_commit(Some("a".repeat(40)))
            .with_llm_commit(Some(if same { "a" } else { "b" }.repeat(40)))
            .with_runner_verdict(runner_verdict.map(str::to_owned))
            .with_command_sha(command.cloned())
            .with_rerun_verdict(rerun.map(str::to_owned));
        let bad = pair.clone().with_command_sha(Some("not a digest".into()));
        let bad_rerun = pair.clone().with_rerun_verdict(Some("MAYBE".into()));
        let error = fx
            .store
            .complete_with_transition(
                c.lease,
                &JobEnd {
                    run: Some(&run_of(&c, Some(0.01))),
                    shadow: Some(&bad_rerun),
                    ..JobEnd::default()
                },
            )
            .unwrap_err();
        assert!(error.to_string().contains("re-run verdict"), "{error}");
        let error = fx
            .store
            .complete_with_transition(
                c.lease,
                &JobEnd {
                    run: Some(&run_of(&c, Some(0.01))),
                    shadow: Some(&bad),
                    ..JobEnd::default()
                },
            )
            .unwrap_err();
        assert!(error.to_string().contains("64 lowercase hex"), "{error}");
        fx.store
            .complete_with_transition(
                c.lease,
                &JobEnd {
                    run: Some(&run_of(&c, Some(0.01))),
                    shadow: Some(&pair),
                    ..JobEnd::default()
                },
            )
            .unwrap();
    }
    let evidence = fx.store.shadow_evidence(Stage::Testing).unwrap();
    let cells: Vec<_> = evidence
        .iter()
        .map(|e| {
            (
                e.repo.as_str(),
                e.command_sha.clone(),
                [
                    e.both_passed,
                    e.both_failed,
                    e.runner_only_failed,
                    e.llm_only_failed,
                    e.runner_no_verdict,
                    e.other_commit,
                    e.flaky,
                ],
            )
        })
        .collect();
    let mut expected = vec![
        ("demo", Some(new.clone()), [2, 1, 1, 1, 1, 0, 1]),
        ("demo", Some(old.clone()), [0, 0, 0, 0, 0, 1, 0]),
        ("other", None, [0, 0, 1, 0, 0, 0, 0]),
    ];
    // Ordered by repository, then digest.
    if old < new {
        expected.swap(0, 1);
    }
    assert_eq!(cells, expected);
    assert!(
        fx.store
            .shadow_evidence(Stage::DeployStaging)
            .unwrap()
            .is_empty()
    );
}

/// The failed-run count of `run_stats` is the store's own exhaustive
/// classification of outcomes, so a new outcome cannot slip past it.
#[test]
fn failed_outcomes_are_the_outcomes_that_are_failures() {
    let failures: Vec<&str> = orch_store::RunOutcome::ALL
        .iter()
        .filter(|o| o.is_failure())
        .map(|o| o.as_str())
        .collect();
    assert_eq!(failures, orch_store::FAILED_OUTCOMES);
    for outcome in orch_store::RunOutcome::ALL {
        assert_eq!(
            outcome.as_str().parse::<orch_store::RunOutcome>().unwrap(),
            *outcome
        );
    }
    assert_eq!(orch_store::RunOutcome::ALL.len(), 9);
}

/// `run` over the deterministic transport.
fn deterministic(mut run: NewAgentRun) -> NewAgentRun {
    run.transport = Transport::Deterministic;
    run
}
