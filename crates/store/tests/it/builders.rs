//! Every record an embedder builds is `#[non_exhaustive]`: it is built with
//! its constructor and `with_*` methods, here from outside the crate as an
//! embedder would, and the result round-trips through a real store.

use orch_store::{
    AgentRunId, AlertKind, GateDecision, JobId, NewAgentRun, NewAlert, NewEffect, NewJob, NewRepo,
    NewShadowVerdict, NewTask, NewTransition, Role, Stage, Store, SuiteNetwork, TaskId,
    TaskIsolation, TaskStatus, Transport,
};

#[test]
fn every_new_record_is_built_with_its_constructor_and_builders() {
    let job = NewJob::new(TaskId::new(1), Stage::Testing, Role::Tester)
        .with_max_attempts(5)
        .with_not_before_ms(Some(7));
    assert_eq!((job.max_attempts, job.not_before_ms), (5, Some(7)));

    let alert = NewAlert::new(AlertKind::StageFailed, "stuck")
        .with_task(Some(TaskId::new(1)))
        .with_job(Some(JobId::new(2)));
    assert_eq!(
        (alert.task, alert.job),
        (Some(TaskId::new(1)), Some(JobId::new(2)))
    );

    let run = NewAgentRun::new(
        JobId::new(2),
        TaskId::new(1),
        Role::Tester,
        Stage::Testing,
        Transport::Llm,
        "passed",
    )
    .with_started_ms(10)
    .with_ended_ms(30)
    .with_duration_ms(20)
    .with_exit_code(Some(0))
    .with_cost_usd(Some(0.5))
    .with_tokens_in(Some(1))
    .with_tokens_out(Some(2))
    .with_sandbox(Some("full".into()))
    .with_cache_read_tokens(Some(3))
    .with_cache_write_tokens(Some(4))
    .with_model(Some("m".into()))
    .with_cost_source(Some("reported".into()));
    assert_eq!(run.outcome, "passed");
    assert_eq!(
        (run.started_ms, run.ended_ms, run.duration_ms),
        (10, 30, 20)
    );
    assert_eq!(run.cost_source.as_deref(), Some("reported"));

    let gate = GateDecision::new("check_test_status", false, "no verdict line")
        .with_verdict(Some("FAILED".into()))
        .with_artifact_sha256(Some("a".repeat(64)))
        .with_commit_sha(Some("b".repeat(40)))
        .with_tree_clean(Some(true))
        .with_sandbox(Some("full".into()));
    assert_eq!(gate.verdict.as_deref(), Some("FAILED"));
    assert!(!gate.passed);

    let transition = NewTransition::new(
        TaskId::new(1),
        Stage::Testing,
        Stage::Development,
        TaskStatus::Active,
    )
    .with_developer_retries(1)
    .with_decisions(vec![gate.clone()]);
    assert_eq!(transition.decisions, vec![gate]);

    let task = NewTask::new("t", TaskIsolation::Worktree)
        .with_base_commit(Some("c".repeat(40)))
        .with_keep_worktree(true);
    assert_eq!(
        task,
        NewTask::in_worktree("t", "c".repeat(40)).with_keep_worktree(true)
    );

    let repo = NewRepo::new("demo", "/srv/demo", "make staging")
        .with_deploy_command(Some("make deploy".into()))
        .with_health_command(Some("make health".into()))
        .with_pass_env(vec!["DATABASE_URL".into()])
        .with_base_ref(Some("main".into()))
        .with_test_command(Some("make test".into()))
        .with_suite_paths(vec!["tests/**".into()])
        .with_setup_command(Some("make setup".into()))
        .with_suite_network(SuiteNetwork::On)
        .with_cache_dirs(vec!["/var/cache/demo".into()]);
    assert_eq!(repo.suite_network, SuiteNetwork::On);

    let effect = NewEffect::new("deploy", false).with_commit(Some("d".repeat(40)));
    assert_eq!(effect.kind, "deploy");

    let pair = NewShadowVerdict::new(Stage::Testing, AgentRunId::new(1), "PASSED")
        .with_commit(Some("e".repeat(40)))
        .with_llm_commit(Some("e".repeat(40)))
        .with_runner_verdict(Some("PASSED".into()))
        .with_command_sha(Some(orch_store::command_sha256("make test")))
        .with_rerun_verdict(None);
    assert_eq!(pair.llm_verdict, "PASSED");

    // The built repository is one the store accepts and reads back.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("orch.db")).unwrap();
    let id = store.add_repo(&repo).unwrap();
    let stored = store.repo(id).unwrap();
    assert_eq!(stored.deploy_command.as_deref(), Some("make deploy"));
    assert_eq!(stored.cache_dirs, vec!["/var/cache/demo".to_owned()]);
}
