//! `orch_launcher::task_log` on real files and a real store: a link or a
//! FIFO planted in the task folder is refused (never followed, never
//! blocking), an archived log is found when the current one is gone, and
//! following a job that has ended writes what it left and returns.

use orch_pipeline::{Role, Stage};
use std::fs;

use orch_launcher::task_log::{self, TaskLogError};
use orch_store::{JobState, NewJob, NewRepo, Store, TaskId};

#[test]
fn a_planted_link_or_fifo_is_refused_and_a_missing_file_is_none() {
    let dir = tempfile::tempdir().unwrap();
    let task_dir = dir.path().join("tasks/1");
    fs::create_dir_all(&task_dir).unwrap();
    let secret = dir.path().join("secret");
    fs::write(&secret, "api key").unwrap();
    let link = task_dir.join("01-analysis.output.log");
    std::os::unix::fs::symlink(&secret, &link).unwrap();
    assert!(matches!(
        task_log::open_task_file(&task_dir, &link),
        Err(TaskLogError::Refused {
            why: "it is a symbolic link",
            ..
        })
    ));
    let mut out = Vec::new();
    assert!(matches!(
        task_log::copy(&task_dir, &link, &mut out),
        Err(TaskLogError::Refused { .. })
    ));
    assert!(out.is_empty(), "nothing of the link's target was written");

    let fifo = task_dir.join("02-architecture.output.log");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    assert!(matches!(
        task_log::open_task_file(&task_dir, &fifo),
        Err(TaskLogError::Refused {
            why: "it is not a regular file",
            ..
        })
    ));
    assert!(matches!(
        task_log::open_task_file(&task_dir, &secret),
        Err(TaskLogError::Refused { .. })
    ));
    assert!(
        task_log::open_task_file(&task_dir, &task_dir.join("none.log"))
            .unwrap()
            .is_none()
    );
}

#[test]
fn the_newest_archived_copy_is_read_when_the_log_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let task_dir = dir.path().join("tasks/1");
    for (attempt, text) in [("1", "first\n"), ("2", "second\n"), ("10", "tenth\n")] {
        let folder = task_dir.join("attempts").join(attempt);
        fs::create_dir_all(&folder).unwrap();
        fs::write(folder.join("01-analysis.output.log"), text).unwrap();
    }
    let log = task_dir.join("01-analysis.output.log");
    let mut out = Vec::new();
    assert!(task_log::copy(&task_dir, &log, &mut out).unwrap());
    assert_eq!(out, b"tenth\n");
    fs::write(&log, "current\n").unwrap();
    out.clear();
    assert!(task_log::copy(&task_dir, &log, &mut out).unwrap());
    assert_eq!(out, b"current\n");
    assert!(!task_log::copy(&task_dir, &task_dir.join("02-x.log"), &mut out).unwrap());
}

#[test]
fn following_an_ended_job_writes_what_it_left_and_returns() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("orch.db")).unwrap();
    let checkout = dir.path().join("app");
    fs::create_dir_all(&checkout).unwrap();
    let repo = store
        .add_repo(&NewRepo::new("app", checkout.to_string_lossy(), "true"))
        .unwrap();
    let (task, job) = store
        .create_task(
            repo,
            "t",
            &NewJob::new(TaskId::new(0), Stage::Analysis, Role::Analyst),
        )
        .unwrap();
    // A cancel of a queued job fails it at once: the job has ended.
    store.request_cancel(task).unwrap();
    assert_eq!(store.job(job).unwrap().state, JobState::Failed);
    let task_dir = dir.path().join("tasks/1");
    let archived = task_dir.join("attempts/1");
    fs::create_dir_all(&archived).unwrap();
    fs::write(
        archived.join("01-analysis.output.log"),
        "the run's output\n",
    )
    .unwrap();
    let mut out = Vec::new();
    task_log::follow(
        &store,
        job,
        &task_dir,
        &task_dir.join("01-analysis.output.log"),
        &mut out,
    )
    .unwrap();
    assert_eq!(out, b"the run's output\n");
}
