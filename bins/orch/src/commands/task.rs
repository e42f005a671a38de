//! `orch task add|show|list|log|retry|cancel|abandon|approve-suite`: task creation
//! is the engine's, retry and suite approval the launcher's `operator`, log
//! reading its `task_log`, the JSON its `views`; this turns flags into calls
//! and prints.

use std::time::{Duration, Instant};

use orch_launcher::operator;
use orch_launcher::task_log::{self, POLL};
use orch_launcher::views::{
    AbandonedView, CancelView, CreatedTaskView, RetriedView, SuiteApprovalView, TaskSummary,
    TaskView, render,
};
use orch_launcher::{TaskRequest, workspace};
use orch_pipeline::Stage;
use orch_store::{CancelRequest, JobState, StoreError, TaskId, TaskStatus};

use super::{Globals, Setup, now_ms, print_json, print_view};
use crate::cli::{
    TaskAddArgs, TaskCancelArgs, TaskCommand, TaskListArgs, TaskLogArgs, TaskRetryArgs,
};
use crate::{CliError, Ending};

/// Runs an `orch task` command.
pub(crate) fn run(
    setup: &Setup,
    globals: &Globals,
    command: TaskCommand,
) -> Result<Ending, CliError> {
    match command {
        TaskCommand::Add(args) => add(setup, &args),
        TaskCommand::Show { id } => show(setup, globals, id),
        TaskCommand::List(args) => list(setup, globals, &args),
        TaskCommand::Log(args) => log(setup, &args),
        TaskCommand::Retry(args) => retry(setup, &args),
        TaskCommand::Cancel(args) => cancel(setup, &args),
        TaskCommand::ApproveSuite { id, reason } => approve_suite(setup, id, &reason),
        TaskCommand::Abandon { id, reason } => abandon(setup, id, &reason),
    }
}

fn parse_stage(text: &str, flag: &str) -> Result<Stage, CliError> {
    text.parse()
        .map_err(|error| CliError::BadArgument(format!("{flag}: {error}")))
}

/// A retry's `--stage`: only a working stage (one a role runs) is named in
/// the error, since `done` and `blocked` run no job.
fn parse_working_stage(text: &str) -> Result<Stage, CliError> {
    match text.parse::<Stage>() {
        Ok(stage) if stage.role().is_some() => Ok(stage),
        _ => {
            let working: Vec<&str> = Stage::ALL
                .iter()
                .filter(|s| s.role().is_some())
                .map(|s| s.as_str())
                .collect();
            Err(CliError::BadArgument(format!(
                "--stage: {} is not a working stage; name one of {}",
                orch_launcher::views::render::clean_line(text),
                working.join(", ")
            )))
        }
    }
}

/// `orch task add`.
fn add(setup: &Setup, args: &TaskAddArgs) -> Result<Ending, CliError> {
    let engine = setup.engine("cli", "task-add")?;
    // An unknown repository is a tool error (2), as the exit-code table
    // says, and as `task list --repo` has it.
    let repo = engine.store().repo_by_name(&args.repo)?.ok_or_else(|| {
        CliError::Tool(format!(
            "there is no repository named {:?}; add it with `orch repo add` (see `orch repo list`)",
            args.repo
        ))
    })?;
    if args.title.trim().is_empty() {
        return Err(CliError::BadArgument(
            "--title is blank; say what the task is".to_owned(),
        ));
    }
    let created = engine.create_task_with(
        repo.id,
        &TaskRequest::new(&args.title)
            .with_base(args.base.clone())
            .with_keep_worktree(args.keep_worktree),
    )?;
    print_json(&CreatedTaskView::new(&created))?;
    Ok(Ending::Done)
}

/// `orch task show`.
fn show(setup: &Setup, globals: &Globals, id: i64) -> Result<Ending, CliError> {
    let store = setup.open_store()?;
    let view = TaskView::load(&store, &setup.home, id)?;
    print_view(globals, &view, || render::task(&view, now_ms()))?;
    Ok(Ending::Done)
}

/// `orch task log`: the output log of the task's latest job (or of the
/// stage named), copied, or followed while the job is queued or running.
fn log(setup: &Setup, args: &TaskLogArgs) -> Result<Ending, CliError> {
    let store = setup.open_store()?;
    let task = store.task(TaskId::new(args.id))?;
    let jobs = store.task_jobs(task.id)?;
    let wanted = args
        .stage
        .as_deref()
        .map(|s| parse_stage(s, "--stage"))
        .transpose()?;
    let job = jobs
        .iter()
        .rev()
        .find(|j| wanted.is_none_or(|w| j.stage == w))
        .cloned();
    let stage = match (wanted, &job) {
        (Some(stage), _) => stage,
        (None, Some(job)) => job.stage,
        (None, None) => task.stage,
    };
    let Some(spec) = stage.artifact() else {
        return Err(CliError::BadArgument(format!(
            "stage {stage} runs no role, so it has no output; name a working stage with --stage"
        )));
    };
    let task_dir = setup.launcher().task_dir(args.id);
    let artifact = workspace::artifact_path(&task_dir, spec);
    let [log, _] = workspace::sidecars(&artifact);
    let mut out = std::io::stdout().lock();
    match job {
        // The task, from stage to stage, until it is done or blocked.
        _ if args.follow && wanted.is_none() => {
            task_log::follow_task(&store, task.id, &task_dir, &mut out)?;
        }
        Some(job) if args.follow && matches!(job.state, JobState::Queued | JobState::Running) => {
            task_log::follow(&store, job.id, &task_dir, &log, &mut out)?;
        }
        // A finished stage whose role printed nothing shows its artifact.
        Some(_) | None => {
            if !task_log::stage_output(&task_dir, &log, &artifact, &mut out)? {
                eprintln!(
                    "task {}: no output of stage {stage} yet ({} does not exist)",
                    args.id,
                    log.display()
                );
            }
        }
    }
    Ok(Ending::Done)
}

/// `orch task list`.
fn list(setup: &Setup, globals: &Globals, args: &TaskListArgs) -> Result<Ending, CliError> {
    let store = setup.open_store()?;
    // `abandoned` is a blocked task an operator closed: listed on its own,
    // and left out of `blocked` (what is stuck).
    let (status, abandoned) = match args.status.as_deref() {
        None => (None, None),
        Some("abandoned") => (Some(TaskStatus::Blocked), Some(true)),
        Some(s) => {
            let status = s.parse::<TaskStatus>().map_err(|_| {
                CliError::BadArgument(format!(
                    "--status {s:?} is not a task status; give active, done, blocked or abandoned"
                ))
            })?;
            (
                Some(status),
                (status == TaskStatus::Blocked).then_some(false),
            )
        }
    };
    let repo = match &args.repo {
        Some(name) => Some(
            store
                .repo_by_name(name)?
                .ok_or_else(|| {
                    CliError::Tool(format!(
                        "there is no repository named {name:?}; see `orch repo list`"
                    ))
                })?
                .id,
        ),
        None => None,
    };
    let mut tasks = Vec::new();
    for task in store.tasks_where_abandoned(status, abandoned, repo, args.limit)? {
        let repo = store.repo(task.repo)?;
        tasks.push(TaskSummary::load(&store, &task, &repo)?);
    }
    print_view(globals, &tasks, || match args.status.as_deref() {
        Some(status) if tasks.is_empty() => format!("no {status} tasks\n"),
        _ => render::task_list(&tasks, now_ms()),
    })?;
    Ok(Ending::Done)
}

/// `orch task retry`.
fn retry(setup: &Setup, args: &TaskRetryArgs) -> Result<Ending, CliError> {
    let stage = args.stage.as_deref().map(parse_working_stage).transpose()?;
    if args.reason.trim().is_empty() {
        return Err(CliError::BadArgument(
            "--reason is blank; say why the task runs again".to_owned(),
        ));
    }
    let store = setup.open_store()?;
    let task = TaskId::new(args.id);
    let (stage, retried) = operator::retry(&store, task, stage, &args.reason, args.reset_retries)?;
    print_json(&RetriedView::new(args.id, stage, &retried))?;
    Ok(Ending::Done)
}

/// `orch task abandon`.
fn abandon(setup: &Setup, id: i64, reason: &str) -> Result<Ending, CliError> {
    if reason.trim().is_empty() {
        return Err(CliError::BadArgument(
            "--reason is blank; say why the task is abandoned".to_owned(),
        ));
    }
    let store = setup.open_store()?;
    let git = orch_launcher::worktree::Git::new(&setup.launcher());
    let outcome = operator::abandon(&store, &git, TaskId::new(id), reason)?;
    print_json(&AbandonedView::new(id, &outcome))?;
    Ok(Ending::Done)
}

/// `orch task approve-suite`.
fn approve_suite(setup: &Setup, id: i64, reason: &str) -> Result<Ending, CliError> {
    if reason.trim().is_empty() {
        return Err(CliError::BadArgument(
            "--reason is blank; say why the task's suite change is accepted".to_owned(),
        ));
    }
    let store = setup.open_store()?;
    let git = orch_launcher::worktree::Git::new(&setup.launcher());
    let approval = operator::approve_suite(&store, &git, TaskId::new(id), reason)?;
    print_json(&SuiteApprovalView::new(id, &approval))?;
    Ok(Ending::Done)
}

/// `orch task cancel`: asks, then waits (bounded) for the job's end.
fn cancel(setup: &Setup, args: &TaskCancelArgs) -> Result<Ending, CliError> {
    let store = setup.open_store()?;
    let task = TaskId::new(args.id);
    // A job still leased by a dead orch process would wait for nobody:
    // this process registers a boot so that it may rescue dead boots' jobs
    // (which are then queued, and ended here at once).
    let boot = orch_launcher::boot_id();
    let _guard = store.register_boot(&boot)?;
    store.rescue_dead_boots(&boot)?;
    let ended = |job: Option<orch_store::JobId>, was: &str, status: &str| {
        CancelView::new(args.id, job, was, status, Some(orch_store::CANCELLED))
    };
    let (mut job, owner) = match store.request_cancel(task)? {
        CancelRequest::Ended { job, .. } => {
            print_json(&ended(job, "queued", "blocked"))?;
            return Ok(Ending::Done);
        }
        CancelRequest::Requested { job, owner } => (job, owner),
    };
    // --wait is at most a day (clap checks it), so the sum cannot overflow;
    // it is checked all the same.
    let deadline = Instant::now()
        .checked_add(Duration::from_secs(args.wait))
        .ok_or_else(|| {
            CliError::BadArgument(format!(
                "--wait {} is too long; give at most {} seconds",
                args.wait,
                crate::cli::MAX_WAIT_SECS
            ))
        })?;
    loop {
        let current = store.task(task)?;
        if current.status != TaskStatus::Active {
            // Said as it is: only a task the cancel blocked is "cancelled".
            // The store refuses any other end of a job whose cancel is
            // recorded, so this is never expected; if it happens, the
            // command failed and says so.
            let last = store.transitions(task)?.pop();
            if last
                .as_ref()
                .is_some_and(|t| t.reason.as_deref() == Some(orch_store::CANCELLED))
            {
                print_json(&ended(Some(job), "running", current.status.as_str()))?;
                return Ok(Ending::Done);
            }
            eprintln!(
                "error: task {} ended {} at stage {} before the cancel took effect; it was not cancelled",
                args.id,
                current.status.as_str(),
                current.stage
            );
            print_json(&CancelView::new(
                args.id,
                Some(job),
                "running",
                current.status.as_str(),
                last.and_then(|t| t.reason).as_deref(),
            ))?;
            return Ok(Ending::Failed);
        }
        if store.job(job)?.state == JobState::Queued {
            // Given back (a shutdown) or rescued meanwhile: no worker holds
            // it, so the cancel ends it here.
            match store.request_cancel(task) {
                Ok(CancelRequest::Ended { job, .. }) => {
                    print_json(&ended(job, "queued", "blocked"))?;
                    return Ok(Ending::Done);
                }
                Ok(CancelRequest::Requested { job: next, .. }) => job = next,
                Err(StoreError::TaskState { .. }) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        if Instant::now() >= deadline {
            eprintln!(
                "error: the cancel of task {} is recorded, but its job {job} is still running under {}/{} after {} s; is that orch process alive? It ends the job when it next looks (every 100 ms)",
                args.id, owner.boot_id, owner.worker, args.wait
            );
            print_json(&ended(Some(job), "running", "active"))?;
            return Ok(Ending::Failed);
        }
        std::thread::sleep(POLL);
        let _ = store.rescue_dead_boots(&boot);
    }
}
