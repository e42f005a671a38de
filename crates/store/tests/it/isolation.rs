//! Task isolation in the store: worktree and checkout tasks, the claim rule
//! that runs a repository's checkout tasks one at a time, and the commits a
//! job and a task record.

use orch_pipeline::{Role, Stage};
use std::time::Duration;

use crate::common::Fixture;
use orch_store::{
    JobCommits, JobEnd, LeaseOwner, NewJob, NewRepo, NewTask, StoreError, TaskId, TaskIsolation,
    TaskStatus,
};

const BASE: &str = "1111111111111111111111111111111111111111";

fn owner() -> LeaseOwner {
    LeaseOwner::new("boot-1", "w")
}

#[test]
fn a_worktree_task_records_its_base_and_a_checkout_task_has_none() {
    let fx = Fixture::new();
    let repo = fx
        .store
        .add_repo(&NewRepo::new("api", "/srv/api", "make staging"))
        .unwrap();
    let first = NewJob::new(TaskId::new(0), Stage::Analysis, Role::Analyst);
    let (wt, _) = fx
        .store
        .create_task_with(
            repo,
            &NewTask::in_worktree("isolated", BASE).with_keep_worktree(true),
            &first,
        )
        .unwrap();
    let task = fx.store.task(wt).unwrap();
    assert_eq!(task.isolation, TaskIsolation::Worktree);
    assert_eq!(task.base_commit.as_deref(), Some(BASE));
    assert!(task.keep_worktree);
    assert_eq!(
        (task.branch, task.worktree, task.head_commit),
        (None, None, None)
    );

    let (plain, _) = fx.store.create_task(repo, "shared", &first).unwrap();
    let task = fx.store.task(plain).unwrap();
    assert_eq!(task.isolation, TaskIsolation::Checkout);
    assert_eq!(task.base_commit, None);
}

#[test]
fn a_worktree_task_without_a_full_base_commit_is_refused_and_nothing_is_written() {
    let fx = Fixture::new();
    let repo = fx.store.repo_by_name("demo").unwrap().unwrap().id;
    let first = NewJob::new(TaskId::new(0), Stage::Analysis, Role::Analyst);
    let before = fx.count("tasks");
    for base in [None, Some("abc123"), Some("G".repeat(40).as_str())] {
        let task = NewTask::in_worktree("t", BASE).with_base_commit(base.map(str::to_owned));
        let err = fx.store.create_task_with(repo, &task, &first).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::InvalidInput {
                    what: "base_commit",
                    ..
                }
            ),
            "{err:?}"
        );
    }
    assert_eq!(fx.count("tasks"), before);
    assert_eq!(fx.count("jobs"), 0);
}

#[test]
fn a_blank_base_ref_is_refused() {
    let fx = Fixture::new();
    let err = fx
        .store
        .add_repo(&NewRepo::new("api", "/srv/api", "true").with_base_ref(Some("  ".into())))
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidInput {
                what: "base_ref",
                ..
            }
        ),
        "{err:?}"
    );
    let id = fx
        .store
        .add_repo(
            &NewRepo::new("api", "/srv/api", "true").with_base_ref(Some("origin/main".into())),
        )
        .unwrap();
    assert_eq!(
        fx.store.repo(id).unwrap().base_ref.as_deref(),
        Some("origin/main")
    );
}

#[test]
fn the_branch_and_worktree_are_named_once_and_only_for_worktree_tasks() {
    let fx = Fixture::new();
    let repo = fx.store.repo_by_name("demo").unwrap().unwrap().id;
    let first = NewJob::new(TaskId::new(0), Stage::Analysis, Role::Analyst);
    let (task, _) = fx
        .store
        .create_task_with(repo, &NewTask::in_worktree("t", BASE), &first)
        .unwrap();
    fx.store
        .set_task_worktree(task, "orch/task-2", "/h/worktrees/2")
        .unwrap();
    // Again with the same branch (a restarted first job) is fine.
    fx.store
        .set_task_worktree(task, "orch/task-2", "/h/worktrees/2")
        .unwrap();
    let err = fx.store.set_task_worktree(task, "other", "/x").unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidInput {
                what: "task branch",
                ..
            }
        ),
        "{err:?}"
    );
    let stored = fx.store.task(task).unwrap();
    assert_eq!(stored.branch.as_deref(), Some("orch/task-2"));
    assert_eq!(stored.worktree.as_deref(), Some("/h/worktrees/2"));

    fx.store.clear_task_worktree(task).unwrap();
    let stored = fx.store.task(task).unwrap();
    assert_eq!(stored.worktree, None);
    assert_eq!(
        stored.branch.as_deref(),
        Some("orch/task-2"),
        "the branch stays"
    );

    // The fixture's own task works in the checkout.
    let err = fx.store.set_task_worktree(fx.task, "b", "/x").unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidInput {
                what: "task worktree",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn checkout_tasks_of_one_repository_run_one_whole_task_at_a_time() {
    let fx = Fixture::new();
    let repo = fx
        .store
        .add_repo(&NewRepo::new("plain", "/srv/plain", "true"))
        .unwrap();
    let other = fx
        .store
        .add_repo(&NewRepo::new("other", "/srv/other", "true"))
        .unwrap();
    let first = NewJob::new(TaskId::new(0), Stage::Analysis, Role::Analyst);
    let (older, _) = fx.store.create_task(repo, "older", &first).unwrap();
    let (younger, _) = fx.store.create_task(repo, "younger", &first).unwrap();
    let (elsewhere, _) = fx.store.create_task(other, "elsewhere", &first).unwrap();
    let (isolated, _) = fx
        .store
        .create_task_with(repo, &NewTask::in_worktree("isolated", BASE), &first)
        .unwrap();
    // The fixture's task (stage deploy-staging, no job) is an active checkout
    // task of repo "demo": it holds nothing here.
    let lease = Duration::from_secs(60);
    let mut claimed = Vec::new();
    while let Some(c) = fx.store.claim(&owner(), lease).unwrap() {
        claimed.push(c);
    }
    let tasks: Vec<TaskId> = claimed.iter().map(|c| c.job.task).collect();
    assert_eq!(
        tasks,
        vec![older, elsewhere, isolated],
        "the younger task waits"
    );

    // The older task moves on: its next job is claimable, the younger's not.
    let c = claimed.remove(0);
    let t = crate::common::transition(older, "analysis", "architecture", TaskStatus::Active);
    let next = NewJob::new(older, Stage::Architecture, Role::Architect);
    fx.store
        .complete_with_transition(
            c.lease,
            &JobEnd {
                transition: Some(&t),
                next: Some(&next),
                ..JobEnd::default()
            },
        )
        .unwrap();
    let c = fx.store.claim(&owner(), lease).unwrap().unwrap();
    assert_eq!(c.job.task, older);
    assert!(fx.store.claim(&owner(), lease).unwrap().is_none());

    // Once the older task is finished (blocked here), the younger one runs.
    let t = crate::common::transition(older, "architecture", "blocked", TaskStatus::Blocked);
    fx.store
        .complete_with_transition(
            c.lease,
            &JobEnd {
                transition: Some(&t),
                ..JobEnd::default()
            },
        )
        .unwrap();
    let c = fx.store.claim(&owner(), lease).unwrap().unwrap();
    assert_eq!(c.job.task, younger);
}

#[test]
fn a_job_end_refuses_a_commit_that_is_not_a_full_object_name() {
    let fx = Fixture::new();
    fx.enqueue("deploy-staging", "deployer");
    let c = fx.claim();
    let commits = JobCommits {
        start: Some(BASE.to_owned()),
        end: Some("HEAD".to_owned()),
    };
    let err = fx
        .store
        .complete_with_transition(
            c.lease,
            &JobEnd {
                commits: Some(&commits),
                ..JobEnd::default()
            },
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidInput {
                what: "job end commit",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(fx.store.job(c.lease.job).unwrap().end_commit, None);
}
