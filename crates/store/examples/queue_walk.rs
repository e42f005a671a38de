//! The store on its own: a database in a temporary folder, a repository, a
//! task with its first job, a worker's boot and lease, the job's end with a
//! transition and the next job in one transaction, and the task's history
//! read back. No orch process, no network: SQLite is built in.
//!
//! `cargo run -p orch-store --example queue_walk`

use std::time::Duration;

use orch_store::{
    JobEnd, LeaseOwner, NewJob, NewRepo, NewTransition, Role, Stage, Store, TaskId, TaskStatus,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("orch-store-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = walk(&dir);
    std::fs::remove_dir_all(&dir)?;
    result
}

fn walk(dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let store = Store::open(dir.join("orch.db"))?;
    let repo = store.add_repo(&NewRepo::new("demo", "/srv/demo", "make staging"))?;
    let first = NewJob::new(TaskId::new(0), Stage::Analysis, Role::Analyst);
    let (task, job) = store.create_task(repo, "Add a health check", &first)?;
    println!(
        "task {task} created with job {job} ({} at {})",
        first.role, first.stage
    );

    let boot = store.register_boot("example-boot")?;
    let worker = LeaseOwner::new(boot.boot_id(), "worker-0");
    let claimed = store
        .claim(&worker, Duration::from_secs(60))?
        .ok_or("the queue is empty")?;
    println!(
        "{} claimed job {} with lease token {}",
        worker.worker, claimed.job.id, claimed.lease.token
    );

    // The analyst's verdict passed: the task moves on and the architect's job
    // is queued, in the same transaction as the job's end.
    let transition = NewTransition::new(
        task,
        Stage::Analysis,
        Stage::Architecture,
        TaskStatus::Active,
    )
    .with_developer_retries(0)
    .with_decisions(Vec::new());
    let next = NewJob::new(task, Stage::Architecture, Role::Architect);
    store.complete_with_transition(
        claimed.lease,
        &JobEnd {
            transition: Some(&transition),
            next: Some(&next),
            ..JobEnd::default()
        },
    )?;

    let now = store.task(task)?;
    println!("task {task} is at {} ({:?})", now.stage, now.status);
    for t in store.transitions(task)? {
        println!("history: {} -> {}", t.from_stage, t.to_stage);
    }
    let snapshot = store.queue_snapshot(10)?;
    for queued in &snapshot.queued {
        println!(
            "queued: job {} ({} at {})",
            queued.id, queued.role, queued.stage
        );
    }
    if now.stage != Stage::Architecture || snapshot.queued.len() != 1 {
        return Err("the task did not move to architecture with one job queued".into());
    }
    Ok(())
}
