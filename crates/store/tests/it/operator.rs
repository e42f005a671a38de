//! The operator's loop in the store: poison counted by crash rescues apart
//! from releases, retry of a blocked or done task, cancel of a queued or
//! running job, acknowledging alerts, filtering tasks, and changing or
//! removing a repository. Real SQLite files, a manual clock.

#![expect(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use orch_pipeline::{Role, Stage};
use std::sync::Arc;
use std::time::Duration;

use crate::common::{Fixture, T0, options};
use orch_store::{
    CANCELLED, CancelRequest, JobState, LeaseOwner, ManualClock, NewJob, NewRepo, OPERATOR,
    POISON_JOB_ALERT, RepoChange, Store, StoreError, StoreOptions, TaskStatus,
};

fn owner() -> LeaseOwner {
    LeaseOwner::new("boot-1", "w")
}

/// Claims and loses the lease of the fixture's next job `times` times.
fn crash(fx: &Fixture, times: usize) -> orch_store::Rescued {
    let mut last = orch_store::Rescued::default();
    for _ in 0..times {
        fx.store
            .claim(&owner(), Duration::from_secs(10))
            .unwrap()
            .unwrap();
        fx.clock.advance(10_000);
        last = fx.store.rescue_expired().unwrap();
    }
    last
}

#[test]
fn poison_counts_crash_rescues_and_never_a_release() {
    let fx = Fixture::new();
    let job = fx.enqueue("deploy-staging", "deployer");
    // Released (a graceful stop) ten times: nothing counted.
    for _ in 0..10 {
        let c = fx.claim();
        fx.store.release(c.lease, "stopping").unwrap();
    }
    let released = fx.store.job(job).unwrap();
    assert_eq!((released.rescues, released.attempts), (0, 0));
    // Two crashes: rescued, counted, still queued.
    let rescued = crash(&fx, 2);
    assert_eq!(rescued.requeued, vec![job]);
    let j = fx.store.job(job).unwrap();
    assert_eq!((j.state, j.rescues), (JobState::Queued, 2));
    assert!(j.last_error.unwrap().contains("rescue 2 of 3"));
    // A release in between still does not count.
    let c = fx.claim();
    fx.store.release(c.lease, "stopping").unwrap();
    assert_eq!(fx.store.job(job).unwrap().rescues, 2);
    // The third crash is poison; the alert says how to retry.
    let rescued = crash(&fx, 1);
    assert_eq!(rescued.failed, vec![job]);
    let alert = &fx.store.open_alerts().unwrap()[0];
    assert_eq!(alert.kind, POISON_JOB_ALERT);
    assert!(
        alert
            .message
            .contains(&format!("orch task retry {}", fx.task)),
        "{}",
        alert.message
    );
    let history = fx.store.transitions(fx.task).unwrap();
    assert_eq!(history[0].actor, Some(orch_store::Actor::Rescue));
    assert_eq!(history[0].reason.as_deref(), Some("poison"));
}

#[test]
fn the_poison_threshold_is_the_stores_setting() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let store = Store::open_with(
        dir.path().join("orch.db"),
        StoreOptions {
            poison_rescues: 1,
            ..options(&clock)
        },
    )
    .unwrap();
    let repo = store
        .add_repo(&NewRepo::new("r", "/srv/r", "true"))
        .unwrap();
    let (task, job) = store
        .create_task(
            repo,
            "t",
            &NewJob::new(orch_store::TaskId::new(0), Stage::Review, Role::Reviewer),
        )
        .unwrap();
    store
        .claim(&owner(), Duration::from_secs(5))
        .unwrap()
        .unwrap();
    clock.advance(5_000);
    let rescued = store.rescue_expired().unwrap();
    assert_eq!((rescued.failed, rescued.blocked), (vec![job], vec![task]));
}

#[test]
fn a_blocked_task_is_retried_at_a_stage_with_a_fresh_job_in_one_transaction() {
    let fx = Fixture::new();
    let job = fx.enqueue("deploy-staging", "deployer");
    crash(&fx, 3);
    assert_eq!(fx.store.job(job).unwrap().state, JobState::Failed);
    assert_eq!(fx.store.open_alerts().unwrap().len(), 1);
    fx.clock.advance(1_000);
    let retried = fx
        .store
        .retry_task(
            fx.task,
            &NewJob::new(fx.task, Stage::DeployStaging, Role::Deployer),
            "fixed the host",
            false,
        )
        .unwrap();
    assert_eq!(retried.from_stage, Stage::Blocked);
    assert_eq!(
        retried.acknowledged.len(),
        1,
        "the task's alert is resolved"
    );
    assert!(fx.store.open_alerts().unwrap().is_empty());
    let task = fx.store.task(fx.task).unwrap();
    assert_eq!(
        (task.stage.as_str(), task.status),
        ("deploy-staging", TaskStatus::Active)
    );
    let fresh = fx.store.job(retried.job).unwrap();
    assert_eq!(
        (
            fresh.state,
            fresh.attempts,
            fresh.rescues,
            fresh.infra_attempts
        ),
        (JobState::Queued, 0, 0, 0)
    );
    let last = fx.store.transitions(fx.task).unwrap().pop().unwrap();
    assert_eq!(last.id, retried.transition);
    assert_eq!(
        (last.from_stage.as_str(), last.to_stage.as_str()),
        ("blocked", "deploy-staging")
    );
    assert_eq!(last.actor, Some(OPERATOR));
    assert_eq!(last.reason.as_deref(), Some("fixed the host"));
    assert_eq!(last.job, None);
    // Now active: a second retry is refused and writes nothing.
    let before = fx.count("jobs");
    let error = fx
        .store
        .retry_task(
            fx.task,
            &NewJob::new(fx.task, Stage::DeployStaging, Role::Deployer),
            "again",
            false,
        )
        .unwrap_err();
    assert!(
        matches!(error, StoreError::TaskState { ref state, .. } if state == "active"),
        "{error}"
    );
    assert!(error.to_string().contains("orch task cancel"), "{error}");
    assert_eq!(fx.count("jobs"), before);
    // An unknown task is NotFound.
    assert!(matches!(
        fx.store.retry_task(
            orch_store::TaskId::new(99),
            &NewJob::new(fx.task, Stage::Review, Role::Reviewer),
            "x",
            false
        ),
        Err(StoreError::NotFound { .. })
    ));
}

#[test]
fn retry_keeps_developer_retries_unless_asked_to_reset_them() {
    let fx = Fixture::new();
    let mut to_blocked =
        crate::common::transition(fx.task, "deploy-staging", "blocked", TaskStatus::Blocked);
    to_blocked.developer_retries = 3;
    fx.store.record_transition(&to_blocked).unwrap();
    let dev = NewJob::new(fx.task, Stage::Development, Role::Developer);
    let kept = fx.store.retry_task(fx.task, &dev, "keep", false).unwrap();
    assert_eq!(kept.developer_retries, 3);
    assert_eq!(fx.store.task(fx.task).unwrap().developer_retries, 3);
    // Cancel the queued job, then retry with a reset.
    fx.store.request_cancel(fx.task).unwrap();
    let reset = fx.store.retry_task(fx.task, &dev, "reset", true).unwrap();
    assert_eq!(reset.developer_retries, 0);
    assert_eq!(fx.store.task(fx.task).unwrap().developer_retries, 0);
}

#[test]
fn cancelling_a_queued_job_blocks_the_task_at_once() {
    let fx = Fixture::new();
    let job = fx.enqueue("deploy-staging", "deployer");
    let ended = fx.store.request_cancel(fx.task).unwrap();
    let CancelRequest::Ended {
        job: Some(failed), ..
    } = ended
    else {
        panic!("a queued job is ended at once: {ended:?}");
    };
    assert_eq!(failed, job);
    let j = fx.store.job(job).unwrap();
    assert_eq!(j.state, JobState::Failed);
    assert!(j.last_error.unwrap().contains("cancelled"));
    let task = fx.store.task(fx.task).unwrap();
    assert_eq!(
        (task.stage.as_str(), task.status),
        ("blocked", TaskStatus::Blocked)
    );
    let last = fx.store.transitions(fx.task).unwrap().pop().unwrap();
    assert_eq!(
        (last.actor, last.reason.as_deref()),
        (Some(OPERATOR), Some(CANCELLED))
    );
    assert_eq!(last.from_stage, Stage::DeployStaging);
    // Recorded, not open: the operator asked for it.
    assert!(fx.store.open_alerts().unwrap().is_empty());
    let all = fx.store.alerts(true, 10).unwrap();
    assert_eq!(all[0].kind, orch_store::AlertKind::Cancelled);
    assert!(all[0].acknowledged_ms.is_some());
    // Cancelling an ended task is refused, nothing written.
    let error = fx.store.request_cancel(fx.task).unwrap_err();
    assert!(
        matches!(error, StoreError::TaskState { ref state, .. } if state == "blocked"),
        "{error}"
    );
    assert!(error.to_string().contains("orch task retry"), "{error}");
}

#[test]
fn cancelling_a_running_job_asks_its_worker_who_ends_it_fenced() {
    let fx = Fixture::new();
    let job = fx.enqueue("deploy-staging", "deployer");
    let c = fx.claim();
    assert!(!fx.store.cancel_requested(job).unwrap());
    let asked = fx.store.request_cancel(fx.task).unwrap();
    assert!(
        matches!(&asked, CancelRequest::Requested { job: j, owner } if *j == job && owner.worker == "w"),
        "{asked:?}"
    );
    assert!(fx.store.cancel_requested(job).unwrap());
    let first = fx.store.job(job).unwrap().cancel_requested_ms;
    fx.clock.advance(500);
    fx.store.request_cancel(fx.task).unwrap();
    assert_eq!(fx.store.job(job).unwrap().cancel_requested_ms, first);
    // Still running: the task is active until the worker ends the job.
    assert_eq!(fx.store.task(fx.task).unwrap().status, TaskStatus::Active);
    let run = crate::common::run_of(&c, Some(0.02));
    let advanced = fx.store.end_cancelled(c.lease, Some(&run)).unwrap();
    assert!(advanced.transition.is_some() && advanced.run.is_some());
    assert_eq!(fx.store.job(job).unwrap().state, JobState::Failed);
    let task = fx.store.task(fx.task).unwrap();
    assert_eq!(task.status, TaskStatus::Blocked);
    assert!((fx.store.task_cost_usd(fx.task).unwrap() - 0.02).abs() < 1e-9);
    // The lease is spent: a second end is fenced off.
    assert!(matches!(
        fx.store.end_cancelled(c.lease, None),
        Err(StoreError::LeaseLost { .. })
    ));
}

#[test]
fn alerts_are_listed_and_acknowledged_one_or_all_and_it_survives_a_reopen() {
    let fx = Fixture::new();
    let job = fx.enqueue("deploy-staging", "deployer");
    let ids: Vec<_> = (0..3)
        .map(|i| {
            fx.store
                .raise_alert(&crate::common::alert(
                    orch_store::AlertKind::ALL[i],
                    fx.task,
                    job,
                ))
                .unwrap()
        })
        .collect();
    assert_eq!(fx.store.alerts(false, 10).unwrap().len(), 3);
    fx.store.acknowledge_alert(ids[0]).unwrap();
    let reopened = fx.reopen();
    assert_eq!(reopened.alerts(false, 10).unwrap().len(), 2);
    assert_eq!(reopened.queue_snapshot(10).unwrap().open_alerts_total, 2);
    assert_eq!(
        reopened.acknowledge_all_alerts().unwrap(),
        vec![ids[1], ids[2]]
    );
    assert!(reopened.alerts(false, 10).unwrap().is_empty());
    assert_eq!(reopened.alerts(true, 10).unwrap().len(), 3);
    assert!(reopened.queue_snapshot(10).unwrap().alerts.is_empty());
}

#[test]
fn tasks_are_filtered_by_status_and_repo() {
    let fx = Fixture::new();
    let other = fx
        .store
        .add_repo(&NewRepo::new("other", "/srv/other", "true"))
        .unwrap();
    let second = fx.store.add_task(other, "second", Stage::Review).unwrap();
    fx.store
        .record_transition(&crate::common::transition(
            second,
            "review",
            "done",
            TaskStatus::Done,
        ))
        .unwrap();
    let done = fx
        .store
        .tasks_where(Some(TaskStatus::Done), None, 10)
        .unwrap();
    assert_eq!(done.iter().map(|t| t.id).collect::<Vec<_>>(), vec![second]);
    let on_demo = fx
        .store
        .tasks_where(
            None,
            Some(fx.store.repo_by_name("demo").unwrap().unwrap().id),
            10,
        )
        .unwrap();
    assert_eq!(
        on_demo.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![fx.task]
    );
    assert_eq!(fx.store.tasks_where(None, None, 10).unwrap().len(), 2);
}

#[test]
fn a_repo_is_updated_and_removed_only_when_no_task_on_it_is_unfinished() {
    let fx = Fixture::new();
    let updated = fx
        .store
        .update_repo(
            "demo",
            &RepoChange {
                staging_command: Some("make test".into()),
                deploy_command: Some(Some("make deploy".into())),
                pass_env: Some(vec!["NPM_TOKEN".into()]),
                ..RepoChange::default()
            },
        )
        .unwrap();
    assert_eq!(updated.staging_command, "make test");
    assert_eq!(updated.deploy_command.as_deref(), Some("make deploy"));
    assert_eq!(updated.path, "/srv/demo", "untouched fields are kept");
    let cleared = fx
        .store
        .update_repo(
            "demo",
            &RepoChange {
                deploy_command: Some(None),
                ..RepoChange::default()
            },
        )
        .unwrap();
    assert_eq!(cleared.deploy_command, None);
    assert!(matches!(
        fx.store.update_repo(
            "demo",
            &RepoChange {
                pass_env: Some(vec!["A=B".into()]),
                ..RepoChange::default()
            }
        ),
        Err(StoreError::InvalidInput { .. })
    ));
    assert!(matches!(
        fx.store.update_repo("nope", &RepoChange::default()),
        Err(StoreError::UnknownRepo { .. })
    ));
    // The fixture's task is active: refused, nothing removed.
    let job = fx.enqueue("deploy-staging", "deployer");
    let error = fx.store.remove_repo("demo").unwrap_err();
    assert!(
        matches!(error, StoreError::RepoInUse { active: 1, .. }),
        "{error}"
    );
    assert_eq!(fx.count("repos"), 1);
    // Once it has ended, the repo goes with its history.
    let c = fx.claim();
    fx.store
        .raise_alert(&crate::common::alert(
            orch_store::AlertKind::StageFailed,
            fx.task,
            job,
        ))
        .unwrap();
    fx.store
        .record_agent_run(&crate::common::run_of(&c, Some(0.5)))
        .unwrap();
    fx.store.end_cancelled(c.lease, None).unwrap();
    // Blocked (cancelled), it waits for an operator: still refused, unless
    // blocked tasks may go too.
    let error = fx.store.remove_repo("demo").unwrap_err();
    assert!(
        matches!(error, StoreError::RepoInUse { active: 1, .. }),
        "{error}"
    );
    let removed = fx.store.remove_repo_with("demo", true).unwrap();
    assert_eq!(removed.tasks, vec![fx.task]);
    for table in [
        "repos",
        "tasks",
        "jobs",
        "agent_runs",
        "alerts",
        "transitions",
    ] {
        assert_eq!(fx.count(table), 0, "{table}");
    }
    assert!(matches!(
        fx.store.remove_repo("demo"),
        Err(StoreError::UnknownRepo { .. })
    ));
}

#[test]
fn a_repo_whose_tasks_left_shadow_verdicts_is_removed_with_them() {
    // A finished task whose testing job ran the test runner in shadow mode:
    // its pair points at its runs, so the pairs must go before the runs.
    let fx = Fixture::new();
    fx.enqueue("testing", "tester");
    let c = fx.claim();
    let mut runner = crate::common::run_of(&c, None);
    runner.role = Role::TestRunner;
    runner.transport = orch_store::Transport::Deterministic;
    let runner_run = fx.store.record_agent_run(&runner).unwrap();
    let blocked =
        crate::common::transition(fx.task, "deploy-staging", "blocked", TaskStatus::Blocked);
    fx.store
        .complete_with_transition(
            c.lease,
            &orch_store::JobEnd {
                transition: Some(&blocked),
                run: Some(&crate::common::run_of(&c, Some(0.1))),
                shadow: Some(
                    &orch_store::NewShadowVerdict::new(Stage::Testing, runner_run, "PASSED")
                        .with_runner_verdict(Some("FAILED".into())),
                ),
                ..orch_store::JobEnd::default()
            },
        )
        .unwrap();
    assert_eq!(fx.count("shadow_verdicts"), 1);
    fx.store.remove_repo_with("demo", true).unwrap();
    for table in ["shadow_verdicts", "agent_runs", "jobs", "tasks", "repos"] {
        assert_eq!(fx.count(table), 0, "{table}");
    }
}

/// A task id freed by `repo remove --blocked-too` is never handed to a new
/// task on another repository (its folder, worktree and branch are named
/// after it), and neither are its jobs' and alerts' ids.
#[test]
fn ids_freed_by_a_removed_repository_are_never_handed_out_again() {
    let fx = Fixture::new();
    let job = fx.enqueue("deploy-staging", "deployer");
    let c = fx.claim();
    let blocked =
        crate::common::transition(fx.task, "deploy-staging", "blocked", TaskStatus::Blocked);
    let alert = crate::common::alert(orch_store::AlertKind::StageFailed, fx.task, job);
    let ended = fx
        .store
        .fail(
            c.lease,
            "failed",
            &orch_store::JobEnd {
                transition: Some(&blocked),
                alert: Some(&alert),
                ..orch_store::JobEnd::default()
            },
        )
        .unwrap();
    let old_alert = ended.alert.unwrap();
    fx.store.remove_repo_with("demo", true).unwrap();

    let other = fx
        .store
        .add_repo(&NewRepo::new("other", "/srv/other", "make staging"))
        .unwrap();
    let task = fx
        .store
        .add_task(other, "a new task", Stage::Analysis)
        .unwrap();
    assert_ne!(task, fx.task, "task id {} was handed out again", fx.task);
    assert!(task.get() > fx.task.get());
    let new_job = fx
        .store
        .enqueue(&NewJob::new(task, Stage::Analysis, Role::Analyst))
        .unwrap();
    assert!(
        new_job.get() > job.get(),
        "job id {job} was handed out again"
    );
    let new_alert = fx
        .store
        .raise_alert(&crate::common::alert(
            orch_store::AlertKind::StageFailed,
            task,
            new_job,
        ))
        .unwrap();
    assert!(
        new_alert.get() > old_alert.get(),
        "alert id {old_alert} was handed out again"
    );
}

/// The lost cancel, as a deterministic interleaving on two connections: the
/// role's process has ended and its worker is about to write the end when
/// the operator's cancel arrives. Every end but the cancelled one is refused
/// (nothing written), and the worker ends the job cancelled.
#[test]
fn a_cancel_between_the_runs_end_and_its_job_end_is_never_lost() {
    let fx = Fixture::new();
    fx.enqueue("deploy-staging", "deployer");
    let c = fx.claim();
    // The operator, on another connection, after the process ended.
    let operator = fx.reopen();
    assert!(matches!(
        operator.request_cancel(fx.task).unwrap(),
        CancelRequest::Requested { .. }
    ));
    // The worker now writes the end its gates decided: refused.
    let done = crate::common::transition(fx.task, "deploy-staging", "done", TaskStatus::Done);
    let end = orch_store::JobEnd {
        transition: Some(&done),
        ..orch_store::JobEnd::default()
    };
    for refused in [
        fx.store.complete_with_transition(c.lease, &end).map(drop),
        fx.store.fail(c.lease, "failed", &end).map(drop),
        fx.store
            .defer(c.lease, Duration::from_secs(1), "tool error", None)
            .map(drop),
        fx.store.release(c.lease, "stopping"),
        fx.store.complete(c.lease),
    ] {
        let error = refused.unwrap_err();
        assert!(
            matches!(error, StoreError::CancelRequested { job } if job == c.job.id),
            "{error}"
        );
    }
    assert_eq!(fx.store.task(fx.task).unwrap().status, TaskStatus::Active);
    assert!(fx.store.transitions(fx.task).unwrap().is_empty());
    assert_eq!(fx.store.job(c.job.id).unwrap().state, JobState::Running);
    // The cancelled end is written.
    fx.store.end_cancelled(c.lease, None).unwrap();
    let task = fx.store.task(fx.task).unwrap();
    assert_eq!(
        (task.stage.as_str(), task.status),
        ("blocked", TaskStatus::Blocked)
    );
    let history = fx.store.transitions(fx.task).unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].reason.as_deref(), Some(CANCELLED));
}

/// A cancelled job whose worker is gone (its lease expired) is not run
/// again: the rescue fails it and blocks its task cancelled.
#[test]
fn a_rescue_ends_a_cancelled_job_cancelled_instead_of_queueing_it() {
    let fx = Fixture::new();
    let job = fx.enqueue("deploy-staging", "deployer");
    fx.claim();
    fx.reopen().request_cancel(fx.task).unwrap();
    fx.clock.advance(61_000);
    let rescued = fx.store.rescue_expired().unwrap();
    assert_eq!(rescued.requeued, vec![]);
    assert_eq!(
        (rescued.failed, rescued.blocked),
        (vec![job], vec![fx.task])
    );
    assert_eq!(fx.store.job(job).unwrap().state, JobState::Failed);
    let task = fx.store.task(fx.task).unwrap();
    assert_eq!(task.status, TaskStatus::Blocked);
    let history = fx.store.transitions(fx.task).unwrap();
    assert_eq!(
        (history[0].actor, history[0].reason.as_deref()),
        (Some(OPERATOR), Some(CANCELLED))
    );
    assert!(
        fx.store
            .claim(&owner(), Duration::from_secs(60))
            .unwrap()
            .is_none()
    );
}

/// `repo update --test-runner`: set, kept by other changes, cleared, and
/// refused when it is not a mode.
#[test]
fn a_repositorys_test_runner_mode_is_set_kept_and_cleared() {
    let fx = Fixture::new();
    let name = fx.store.repos().unwrap()[0].name.clone();
    assert_eq!(fx.store.repos().unwrap()[0].test_runner_mode, None);
    let set = |mode: Option<Option<&str>>| {
        fx.store.update_repo(
            &name,
            &RepoChange {
                test_runner_mode: mode.map(|m| m.map(str::to_owned)),
                ..RepoChange::default()
            },
        )
    };
    assert_eq!(
        set(Some(Some("on"))).unwrap().test_runner_mode.as_deref(),
        Some("on")
    );
    assert_eq!(
        set(None).unwrap().test_runner_mode.as_deref(),
        Some("on"),
        "kept"
    );
    let error = set(Some(Some("maybe"))).unwrap_err();
    assert!(error.to_string().contains("on, shadow or off"), "{error}");
    assert_eq!(
        fx.reopen().repos().unwrap()[0].test_runner_mode.as_deref(),
        Some("on")
    );
    assert_eq!(set(Some(None)).unwrap().test_runner_mode, None);
}

#[test]
fn abandon_closes_only_a_blocked_task_keeps_its_history_and_refuses_a_retry() {
    let fx = Fixture::new();
    let job = fx.enqueue("deploy-staging", "deployer");
    // Active (a queued job): refused, nothing written.
    let before = (fx.count("transitions"), fx.count("alerts"));
    let active = fx.store.abandon_task(fx.task, "no").unwrap_err();
    assert!(
        matches!(active, StoreError::TaskState { ref state, .. } if state == "active"),
        "{active}"
    );
    assert!(active.to_string().contains("orch task cancel"), "{active}");
    assert_eq!((fx.count("transitions"), fx.count("alerts")), before);
    // Blocked by crash rescues, with an open alert.
    crash(&fx, 3);
    assert_eq!(fx.store.job(job).unwrap().state, JobState::Failed);
    assert_eq!(fx.store.open_alerts().unwrap().len(), 1);
    fx.clock.advance(1_000);
    let abandoned = fx
        .store
        .abandon_task(fx.task, "the host is gone for good")
        .unwrap();
    assert_eq!(abandoned.abandoned_ms, T0 + 31_000);
    assert_eq!(abandoned.acknowledged.len(), 1);
    assert!(fx.store.open_alerts().unwrap().is_empty());
    let task = fx.store.task(fx.task).unwrap();
    assert_eq!(
        (task.stage.as_str(), task.status, task.abandoned_ms),
        ("blocked", TaskStatus::Blocked, Some(abandoned.abandoned_ms))
    );
    let last = fx.store.transitions(fx.task).unwrap().pop().unwrap();
    assert_eq!(last.id, abandoned.transition);
    assert_eq!(
        (last.from_stage.as_str(), last.to_stage.as_str()),
        ("blocked", "blocked")
    );
    assert_eq!(last.actor, Some(OPERATOR));
    assert_eq!(
        last.reason.as_deref(),
        Some("abandoned by the operator: the host is gone for good")
    );
    // The same task survives a reopen with its flag.
    assert_eq!(
        fx.reopen().task(fx.task).unwrap().abandoned_ms,
        Some(abandoned.abandoned_ms)
    );
    // A retry and a second abandon are refused; nothing is written.
    let before = (fx.count("transitions"), fx.count("jobs"));
    let retry = fx
        .store
        .retry_task(
            fx.task,
            &NewJob::new(fx.task, Stage::DeployStaging, Role::Deployer),
            "again",
            false,
        )
        .unwrap_err();
    assert!(
        matches!(retry, StoreError::TaskState { ref state, .. } if state == "abandoned"),
        "{retry}"
    );
    let again = fx.store.abandon_task(fx.task, "twice").unwrap_err();
    assert!(
        matches!(again, StoreError::TaskState { ref state, .. } if state == "abandoned"),
        "{again}"
    );
    assert_eq!((fx.count("transitions"), fx.count("jobs")), before);
    // An unknown task is NotFound.
    assert!(matches!(
        fx.store.abandon_task(orch_store::TaskId::new(99), "x"),
        Err(StoreError::NotFound { .. })
    ));
}

#[test]
fn a_done_task_cannot_be_abandoned() {
    let fx = Fixture::new();
    fx.store
        .record_transition(&crate::common::transition(
            fx.task,
            "deploy-staging",
            "done",
            TaskStatus::Done,
        ))
        .unwrap();
    let error = fx.store.abandon_task(fx.task, "late").unwrap_err();
    assert!(
        matches!(error, StoreError::TaskState { ref state, .. } if state == "done"),
        "{error}"
    );
    assert_eq!(fx.store.task(fx.task).unwrap().abandoned_ms, None);
}
