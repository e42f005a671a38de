//! The JSON views of a task, a repository and an alert (`orch_launcher::
//! views`), pinned byte for byte on a fixed store: a manual clock, a plain
//! folder, one task with an artifact, a gate-checked transition, an agent
//! run, and an operator's cancel (its transition and its alert). The golden
//! files are `tests/golden/{task,repo,alert,operator}.json`; `UPDATE_GOLDEN=1`
//! rewrites them, deliberately (and CHANGELOG.md says why).
//!
//! The views declare their fields in alphabetical order so that their JSON
//! is what `serde_json::Value` (a sorted map) prints, which is what `orch`
//! printed before the views were typed; a test checks it for every view.

#![expect(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use orch_pipeline::{Role, Stage};
use std::path::Path;
use std::sync::Arc;

use orch_launcher::views::{
    AbandonedView, AlertView, CancelView, CreatedTaskView, RemovedRepoView, RepoView, RetriedView,
    SuiteApprovalView, TaskSummary, TaskView, render,
};
use orch_store::{
    GateDecision, ManualClock, NewAgentRun, NewJob, NewRepo, NewTransition, Store, StoreOptions,
    TaskId, TaskStatus, Transport,
};
use serde::Serialize;

/// 2026-01-02T03:04:05.678Z.
const T0: i64 = 1_767_323_045_678;

struct Fixture {
    _dir: tempfile::TempDir,
    root: String,
    home: std::path::PathBuf,
    store: Store,
}

/// The fixed store: everything a view shows, written through the store's
/// own API at fixed times.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap().to_owned();
    let home = dir.path().join("home");
    let checkout = dir.path().join("app");
    std::fs::create_dir_all(&checkout).unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let store = Store::open_with(
        dir.path().join("orch.db"),
        StoreOptions {
            clock: clock.clone(),
            ..StoreOptions::default()
        },
    )
    .unwrap();
    let mut repo = NewRepo::new("app", checkout.to_string_lossy(), "make staging");
    repo.test_command = Some("make test".to_owned());
    repo.pass_env = vec!["CI".to_owned()];
    repo.suite_paths = vec!["tests/**".to_owned()];
    let repo = store.add_repo(&repo).unwrap();
    clock.advance(1_000);
    let (task, job) = store
        .create_task(
            repo,
            "add a --verbose flag",
            &NewJob::new(TaskId::new(0), Stage::Analysis, Role::Analyst),
        )
        .unwrap();
    let artifacts = home.join("tasks").join(task.get().to_string());
    std::fs::create_dir_all(&artifacts).unwrap();
    std::fs::write(
        artifacts.join("01-analysis.md"),
        "analysis_status: PASSED\n",
    )
    .unwrap();
    clock.advance(2_500);
    store
        .record_agent_run(
            &NewAgentRun::new(
                job,
                task,
                Role::Analyst,
                Stage::Analysis,
                Transport::Llm,
                "passed".to_owned(),
            )
            .with_started_ms(T0 + 1_000)
            .with_ended_ms(T0 + 3_500)
            .with_duration_ms(2_500)
            .with_exit_code(Some(0))
            .with_cost_usd(Some(0.25))
            .with_tokens_in(Some(1_200))
            .with_tokens_out(Some(340))
            .with_sandbox(Some("landlock: files, signals, tcp".to_owned()))
            .with_cache_read_tokens(Some(800))
            .with_model(Some("model-x".to_owned()))
            .with_cost_source(Some("reported".to_owned())),
        )
        .unwrap();
    store
        .record_transition(
            &NewTransition::new(
                task,
                Stage::Analysis,
                Stage::Architecture,
                TaskStatus::Active,
            )
            .with_developer_retries(0)
            .with_decisions(vec![
                GateDecision::new(
                    "check_analysis_status".to_owned(),
                    true,
                    "analysis_status: PASSED".to_owned(),
                )
                .with_verdict(Some("PASSED".to_owned()))
                .with_artifact_sha256(Some("a".repeat(64)))
                .with_sandbox(Some("landlock: files, signals, tcp".to_owned())),
            ]),
        )
        .unwrap();
    clock.advance(1_000);
    store.request_cancel(task).unwrap();
    clock.advance(1_000);
    store.acknowledge_all_alerts().unwrap();
    Fixture {
        _dir: dir,
        root,
        home,
        store,
    }
}

/// `value`'s JSON, pretty, with the fixture's temporary folder as `$TMP`.
fn json(fixture: &Fixture, value: &impl Serialize) -> String {
    let text = serde_json::to_string_pretty(value).unwrap();
    format!("{}\n", text.replace(&fixture.root, "$TMP"))
}

fn golden(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

const UPDATE: &str =
    "UPDATE_GOLDEN=1 cargo test -p orch-launcher --test it views::, then say why in CHANGELOG.md";

#[test]
fn the_task_view_is_pinned() {
    let fx = fixture();
    let view = TaskView::load(&fx.store, &fx.home, 1).unwrap();
    orch_tests::assert_golden(&golden("task.json"), &json(&fx, &view), UPDATE);
}

#[test]
fn the_repo_view_is_pinned() {
    let fx = fixture();
    let repos: Vec<_> = fx
        .store
        .repos()
        .unwrap()
        .iter()
        .map(RepoView::new)
        .collect();
    orch_tests::assert_golden(&golden("repo.json"), &json(&fx, &repos), UPDATE);
}

#[test]
fn the_alert_view_is_pinned() {
    let fx = fixture();
    let alerts: Vec<_> = fx
        .store
        .alerts(true, 10)
        .unwrap()
        .iter()
        .map(AlertView::new)
        .collect();
    orch_tests::assert_golden(&golden("alert.json"), &json(&fx, &alerts), UPDATE);
}

#[test]
fn an_unknown_task_is_the_stores_not_found() {
    let fx = fixture();
    assert!(matches!(
        TaskView::load(&fx.store, &fx.home, 99),
        Err(orch_store::StoreError::NotFound {
            table: "tasks",
            id: 99
        })
    ));
}

/// What a view prints is what the same JSON as a `serde_json::Value` (a
/// sorted map) prints: the fields are declared in alphabetical order, at
/// every level, so `orch`'s output did not change when the views were typed.
fn assert_sorted(value: &impl Serialize) {
    let direct = serde_json::to_string(value).unwrap();
    let sorted = serde_json::to_value(value).unwrap().to_string();
    assert_eq!(
        direct, sorted,
        "a view's fields are not in alphabetical order"
    );
}

#[test]
fn every_view_declares_its_fields_in_alphabetical_order() {
    let fx = fixture();
    assert_sorted(&TaskView::load(&fx.store, &fx.home, 1).unwrap());
    let task = fx.store.task(TaskId::new(1)).unwrap();
    let repo = fx.store.repo(task.repo).unwrap();
    assert_sorted(&TaskSummary::new(&task, &repo));
    assert_sorted(&RepoView::new(&repo));
    for alert in fx.store.alerts(true, 10).unwrap() {
        assert_sorted(&AlertView::new(&alert));
    }
    let created = orch_launcher::CreatedTask::new(
        TaskId::new(1),
        orch_store::JobId::new(1),
        orch_store::TaskIsolation::Worktree,
    )
    .with_base(Some(orch_launcher::worktree::Base {
        commit: "c".repeat(40),
        reference: "HEAD".to_owned(),
        notes: vec!["a note".to_owned()],
    }));
    let view = CreatedTaskView::new(&created);
    assert_sorted(&view);
    assert_eq!(
        serde_json::to_string(&view).unwrap(),
        format!(
            r#"{{"base":"HEAD","base_commit":"{}","branch":"orch/task-1","id":1,"isolation":"worktree","job":1,"notes":["a note"]}}"#,
            "c".repeat(40)
        )
    );
    let plain = orch_launcher::CreatedTask::new(
        created.task,
        created.job,
        orch_store::TaskIsolation::Checkout,
    );
    assert_eq!(
        serde_json::to_string(&CreatedTaskView::new(&plain)).unwrap(),
        r#"{"id":1,"isolation":"checkout","job":1}"#
    );
}

#[test]
fn the_operator_views_are_pinned() {
    let fx = fixture();
    let (stage, retried) =
        orch_launcher::operator::retry(&fx.store, TaskId::new(1), None, "again", false).unwrap();
    let retried = RetriedView::new(1, stage, &retried);
    let cancel = CancelView::new(
        1,
        Some(orch_store::JobId::new(2)),
        "queued",
        "blocked",
        Some(orch_store::CANCELLED),
    );
    let approval = SuiteApprovalView::new(
        1,
        &orch_launcher::operator::SuiteApproval {
            transition: orch_store::TransitionId::new(3),
            commit: "c".repeat(40),
            previous: "b".repeat(40),
            diff_sha256: "d".repeat(64),
            changes: vec![orch_launcher::judge::SuiteChange {
                kind: orch_launcher::judge::ChangeKind::Modified,
                path: "tests/cli.rs".to_owned(),
            }],
        },
    );
    let other = fixture();
    let removed = other.store.remove_repo_with("app", true).unwrap();
    let removed = RemovedRepoView::new("app", &removed, vec!["/kept".to_owned()]);
    assert_sorted(&retried);
    assert_sorted(&cancel);
    assert_sorted(&approval);
    assert_sorted(&removed);
    let abandoned = AbandonedView::new(
        1,
        &orch_launcher::operator::AbandonOutcome {
            abandoned: orch_store::Abandoned {
                transition: orch_store::TransitionId::new(4),
                abandoned_ms: 1_767_225_600_000,
                acknowledged: vec![orch_store::AlertId::new(2)],
                worktree: Some("/home/worktrees/1".to_owned()),
                branch: Some("orch/task-1".to_owned()),
            },
            worktree: orch_launcher::operator::AbandonedWorktree::KeptDirty(
                "/home/worktrees/1".to_owned(),
            ),
        },
    );
    assert_sorted(&abandoned);
    let all = serde_json::json!({
        "task abandon": abandoned,
        "task approve-suite": approval,
        "task cancel": cancel,
        "task retry": retried,
        "repo remove": removed,
    });
    orch_tests::assert_golden(&golden("operator.json"), &json(&fx, &all), UPDATE);
}

/// The fixed "now" of the human views: ten minutes after [`T0`].
const NOW: i64 = T0 + 600_000;

const UPDATE_TEXT: &str = "UPDATE_GOLDEN=1 cargo test -p orch-launcher --test views human, then look at the text as a user would";

/// `text` with the fixture's temporary folder as `$TMP`.
fn text(fixture: &Fixture, text: &str) -> String {
    text.replace(&fixture.root, "$TMP")
}

/// A second task whose staging the staging runner served: its job is the
/// deployer's, its run the staging runner's.
fn runner_served_task(fx: &Fixture) -> TaskId {
    let repo = fx.store.repo_by_name("app").unwrap().unwrap().id;
    let (task, job) = fx
        .store
        .create_task(
            repo,
            "fix the parser",
            &NewJob::new(TaskId::new(0), Stage::DeployStaging, Role::Deployer),
        )
        .unwrap();
    fx.store
        .record_agent_run(
            &NewAgentRun::new(
                job,
                task,
                orch_store::STAGING_RUNNER_ROLE,
                Stage::DeployStaging,
                Transport::Deterministic,
                "passed".to_owned(),
            )
            .with_started_ms(T0 + 5_000)
            .with_ended_ms(T0 + 65_000)
            .with_duration_ms(60_000)
            .with_exit_code(Some(0)),
        )
        .unwrap();
    task
}

#[test]
fn the_task_list_json_says_where_a_task_is_blocked() {
    let fx = fixture();
    runner_served_task(&fx);
    let rows: Vec<TaskSummary> = fx
        .store
        .tasks_where(None, None, 10)
        .unwrap()
        .iter()
        .map(|task| {
            let repo = fx.store.repo(task.repo).unwrap();
            TaskSummary::load(&fx.store, task, &repo).unwrap()
        })
        .collect();
    for row in &rows {
        assert_sorted(row);
    }
    let blocked = rows.iter().find(|r| r.id == 1).unwrap();
    let why = blocked.blocked.as_ref().unwrap();
    assert_eq!(
        (
            why.stage.as_str(),
            why.unblock.as_deref().unwrap(),
            why.alert
        ),
        ("architecture", "orch task retry 1", Some(1))
    );
    // The alert raised with the block says why, in full.
    assert!(
        why.reason.starts_with(
            "task 1 (add a --verbose flag) cancelled by the operator at stage architecture"
        ),
        "{}",
        why.reason
    );
    assert!(rows.iter().find(|r| r.id == 2).unwrap().blocked.is_none());
    orch_tests::assert_golden(&golden("task-list.json"), &json(&fx, &rows), UPDATE);
}

#[test]
fn human_task_show_is_pinned_on_a_fixed_clock() {
    let fx = fixture();
    let view = TaskView::load(&fx.store, &fx.home, 1).unwrap();
    let shown = render::task(&view, NOW);
    assert!(shown.contains("blocked at architecture"), "{shown}");
    assert!(shown.contains("orch task retry 1"), "{shown}");
    orch_tests::assert_golden(&golden("task.txt"), &text(&fx, &shown), UPDATE_TEXT);
}

#[test]
fn human_task_show_names_the_runner_with_the_pipeline_role_beside() {
    let fx = fixture();
    let task = runner_served_task(&fx);
    let view = TaskView::load(&fx.store, &fx.home, task.get()).unwrap();
    assert_eq!(view.jobs[0].served_by.as_deref(), Some("staging-runner"));
    assert_eq!(view.jobs[0].role, "deployer");
    let shown = render::task(&view, NOW);
    orch_tests::assert_golden(&golden("task-runner.txt"), &text(&fx, &shown), UPDATE_TEXT);
}

#[test]
fn human_lists_are_pinned_on_a_fixed_clock() {
    let fx = fixture();
    runner_served_task(&fx);
    let tasks: Vec<TaskSummary> = fx
        .store
        .tasks_where(None, None, 10)
        .unwrap()
        .iter()
        .map(|task| {
            let repo = fx.store.repo(task.repo).unwrap();
            TaskSummary::load(&fx.store, task, &repo).unwrap()
        })
        .collect();
    let repos: Vec<RepoView> = fx
        .store
        .repos()
        .unwrap()
        .iter()
        .map(|repo| {
            let mut view = RepoView::new(repo);
            view.path = view.path.replace(&fx.root, "$TMP");
            view
        })
        .collect();
    let alerts: Vec<AlertView> = fx
        .store
        .alerts(true, 10)
        .unwrap()
        .iter()
        .map(AlertView::new)
        .collect();
    let all = format!(
        "$ orch task list\n{}\n$ orch repo list\n{}\n$ orch alert list --all\n{}\n$ orch alert list (none open)\n{}",
        render::task_list(&tasks, NOW),
        render::repo_list(&repos, NOW),
        render::alert_list(&alerts, NOW),
        render::alert_list(&[], NOW),
    );
    orch_tests::assert_golden(&golden("lists.txt"), &text(&fx, &all), UPDATE_TEXT);
}

/// A reserved agent that fell back to the LLM never serves the job: the
/// LLM role did, and is named.
#[test]
fn a_fallback_is_never_shown_as_the_runners() {
    let fx = fixture();
    let task = runner_served_task(&fx);
    let job = fx.store.task_jobs(task).unwrap()[0].id;
    let mut runs = fx.store.agent_runs(task).unwrap();
    assert_eq!(
        orch_launcher::views::task::served_by(&fx.store.job(job).unwrap(), &runs).as_deref(),
        Some("staging-runner")
    );
    runs[0].outcome = "fallback".to_owned();
    let mut llm = runs[0].clone();
    llm.role = Role::Deployer;
    llm.transport = Transport::Llm;
    llm.outcome = "passed".to_owned();
    runs.push(llm);
    let served = orch_launcher::views::task::served_by(&fx.store.job(job).unwrap(), &runs);
    assert_eq!(served.as_deref(), Some("deployer"));
    assert_eq!(
        render::role_label(served.as_deref(), "deployer"),
        "deployer"
    );
}

/// `orch gate check` and `orch alert ack` print these views; their JSON is
/// what the binary built with `json!` before they were typed (the same
/// `json!` is rebuilt here and compared), and is pinned in
/// `tests/golden/checks.json`.
#[test]
fn the_gate_check_and_alert_ack_views_are_pinned() {
    use orch_launcher::views::{AlertAckView, GateCheckView};
    use orch_pipeline::{Stage, gates_for};
    use serde_json::json;

    let fx = fixture();
    let artifact = fx.home.join("15-staging-log.md");
    std::fs::write(&artifact, "# Staging\n\nstaging_status: PASSED\n").unwrap();
    let missing = fx.home.join("missing.md");
    let mut checks = Vec::new();
    for (stage, file) in [(Stage::DeployStaging, &artifact), (Stage::Review, &missing)] {
        let bytes = std::fs::read(file).ok();
        let results: Vec<_> = gates_for(stage)
            .iter()
            .map(|gate| gate.evaluate(bytes.as_deref()))
            .collect();
        let view = GateCheckView::new(stage, file, &results);
        assert_sorted(&view);
        let before = json!({
            "stage": stage.as_str(),
            "file": file.to_string_lossy(),
            "passed": results.iter().all(|r| r.passed),
            "gates": results.iter().map(|r| json!({
                "gate": r.gate.name(),
                "passed": r.passed,
                "verdict": r.verdict,
                "reason": r.reason,
            })).collect::<Vec<_>>(),
        });
        assert_eq!(serde_json::to_string(&view).unwrap(), before.to_string());
        checks.push(view);
    }
    assert!(checks[0].passed && !checks[1].passed);
    let acked = fx.store.alerts(true, 10).unwrap();
    let ids: Vec<_> = acked.iter().map(|a| a.id).collect();
    let ack = AlertAckView::new(&ids);
    assert_sorted(&ack);
    let before = json!({ "acknowledged": ids.iter().map(|a| a.get()).collect::<Vec<_>>() });
    assert_eq!(serde_json::to_string(&ack).unwrap(), before.to_string());
    let none = AlertAckView::new(&[]);
    assert_eq!(
        serde_json::to_string(&none).unwrap(),
        r#"{"acknowledged":[]}"#
    );
    let all = json!({
        "alert ack": ack,
        "gate check": checks,
    });
    orch_tests::assert_golden(&golden("checks.json"), &json(&fx, &all), UPDATE);
}

/// Issue 21 (i21): "running since" is the job's claim, not its last
/// heartbeat, in the JSON (`jobs[].started`) and in `task show`.
#[test]
fn i21_a_running_job_is_shown_since_its_claim_not_its_heartbeat() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let store = Store::open_with(
        dir.path().join("orch.db"),
        StoreOptions {
            clock: clock.clone(),
            ..StoreOptions::default()
        },
    )
    .unwrap();
    let checkout = dir.path().join("app");
    std::fs::create_dir_all(&checkout).unwrap();
    let repo = store
        .add_repo(&NewRepo::new(
            "app",
            checkout.to_string_lossy(),
            "make staging",
        ))
        .unwrap();
    let (task, _) = store
        .create_task(
            repo,
            "long job",
            &NewJob::new(TaskId::new(0), Stage::Analysis, Role::Analyst),
        )
        .unwrap();
    let owner = orch_store::LeaseOwner::new("boot-1", "worker-0");
    let claimed = store
        .claim(&owner, std::time::Duration::from_secs(600))
        .unwrap()
        .unwrap();
    // An hour of heartbeats later.
    clock.advance(3_600_000);
    store
        .heartbeat(claimed.lease, std::time::Duration::from_secs(600))
        .unwrap();
    let view = TaskView::load(&store, &dir.path().join("home"), task.get()).unwrap();
    let job = view.jobs.first().unwrap();
    assert_eq!(job.state, "running");
    assert_eq!(job.started.as_deref(), Some("2026-01-02T03:04:05.678Z"));
    assert_eq!(job.updated, "2026-01-02T04:04:05.678Z");
    let text = render::task(&view, T0 + 3_600_000);
    assert!(
        text.contains("since 2026-01-02 03:04:05Z (1h ago)"),
        "{text}"
    );
}
