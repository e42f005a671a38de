//! The launcher's `#[non_exhaustive]` types an embedder builds, built from
//! outside the crate with their constructors and `with_*` methods.

use orch_launcher::worktree::Base;
use orch_launcher::{CreatedTask, EffectStart, Health, TaskRequest};
use orch_pipeline::Stage;
use orch_store::{JobId, TaskId, TaskIsolation};

#[test]
fn each_built_type_has_a_constructor_and_builders() {
    let request = TaskRequest::new("fix the parser")
        .with_stage(Stage::Development)
        .with_base(Some("main".into()))
        .with_keep_worktree(true);
    assert_eq!(request.title, "fix the parser");
    assert_eq!(request.stage, Stage::Development);
    assert_eq!(request.base.as_deref(), Some("main"));
    assert!(request.keep_worktree);
    assert_eq!(TaskRequest::new("t").stage, Stage::Analysis);

    let base = Base {
        commit: "c".repeat(40),
        reference: "HEAD".to_owned(),
        notes: Vec::new(),
    };
    let created = CreatedTask::new(TaskId::new(1), JobId::new(2), TaskIsolation::Worktree)
        .with_base(Some(base.clone()));
    assert_eq!((created.task, created.job), (TaskId::new(1), JobId::new(2)));
    assert_eq!(created.base, Some(base));

    let effect = EffectStart::new("deploy", false).with_commit(Some("d".repeat(40)));
    assert_eq!(effect.kind, "deploy");
    assert!(!effect.repeatable);
    assert_eq!(effect.commit, Some("d".repeat(40)));

    let healthy = Health::new(2, 2, 0);
    assert!(healthy.is_ok());
    let moved = healthy
        .clone()
        .with_same_file(Err("the file was replaced".into()));
    assert!(!moved.is_ok());
    let locked = healthy.with_writable(Err("database is locked".into()));
    assert!(!locked.is_ok());
}
