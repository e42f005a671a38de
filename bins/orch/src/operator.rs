//! The operator's commands: `task list|log|retry|cancel`, `alert list|ack`,
//! `repo update|remove`. They parse, wire and print; the logic is the
//! store's and the launcher's (`orch_launcher::operator`).

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use orch_launcher::operator::{self, OperatorError};
use orch_launcher::workspace;
use orch_pipeline::Stage;
use orch_store::{
    AlertId, CancelRequest, JobState, RepoChange, Store, StoreError, TaskId, TaskStatus,
};
use serde_json::{Value, json};

use crate::cli::{RepoUpdateArgs, TaskCancelArgs, TaskListArgs, TaskLogArgs, TaskRetryArgs};
use crate::commands::{Setup, print_json, repo_json, rfc3339};
use crate::{CliError, Ending};

/// How often `task log --follow` and `task cancel` look again.
const POLL: Duration = Duration::from_millis(100);

/// The one map from the store's refusals to the CLI's errors: an unknown id
/// or name is a tool error (2), a wrong state is refused (4), bad input is a
/// usage error (3).
fn from_store(error: StoreError) -> CliError {
    match error {
        StoreError::NotFound { table: "tasks", id } => {
            CliError::Tool(format!("there is no task {id}; see `orch task list`"))
        }
        StoreError::NotFound {
            table: "alerts",
            id,
        } => CliError::Tool(format!(
            "there is no alert {id}; see `orch alert list --all`"
        )),
        StoreError::TaskState { .. } | StoreError::RepoInUse { .. } => {
            CliError::Refused(error.to_string())
        }
        StoreError::InvalidInput { .. } => CliError::BadArgument(error.to_string()),
        StoreError::Open { .. }
        | StoreError::SchemaTooNew { .. }
        | StoreError::NotOrchDatabase { .. }
        | StoreError::ForeignDatabase { .. }
        | StoreError::WalUnavailable { .. }
        | StoreError::Migration { .. }
        | StoreError::LeaseLost { .. }
        | StoreError::CancelRequested { .. }
        | StoreError::NotFound { .. }
        | StoreError::UnknownRepo { .. }
        | StoreError::StageMismatch { .. }
        | StoreError::InvalidSha256 { .. }
        | StoreError::InvalidBootId { .. }
        | StoreError::NoDatabaseFile { .. }
        | StoreError::BootInUse { .. }
        | StoreError::BootNotRegistered { .. }
        | StoreError::BootFile { .. }
        | StoreError::Sqlite { .. } => CliError::Tool(error.to_string()),
    }
}

fn parse_stage(text: &str, flag: &str) -> Result<Stage, CliError> {
    text.parse()
        .map_err(|error| CliError::BadArgument(format!("{flag}: {error}")))
}

/// `orch task list`.
pub(crate) fn task_list(setup: &Setup, args: &TaskListArgs) -> Result<Ending, CliError> {
    let store = setup.open_store()?;
    let status = args
        .status
        .as_deref()
        .map(|s| {
            s.parse::<TaskStatus>().map_err(|_| {
                CliError::BadArgument(format!(
                    "--status {s:?} is not a task status; give active, done or blocked"
                ))
            })
        })
        .transpose()?;
    let repo = match &args.repo {
        Some(name) => Some(
            store
                .repo_by_name(name)
                .map_err(from_store)?
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
    for task in store
        .tasks_where(status, repo, args.limit)
        .map_err(from_store)?
    {
        let repo = store.repo(task.repo).map_err(from_store)?;
        tasks.push(json!({
            "id": task.id.get(),
            "repo": repo.name,
            "title": task.title,
            "stage": task.stage,
            "status": task.status.as_str(),
            "developer_retries": task.developer_retries,
            "branch": task.branch,
        }));
    }
    print_json(&Value::Array(tasks))?;
    Ok(Ending::Done)
}

/// `orch task retry`.
pub(crate) fn task_retry(setup: &Setup, args: &TaskRetryArgs) -> Result<Ending, CliError> {
    let stage = args
        .stage
        .as_deref()
        .map(|s| parse_stage(s, "--stage"))
        .transpose()?;
    if args.reason.trim().is_empty() {
        return Err(CliError::BadArgument(
            "--reason is blank; say why the task runs again".to_owned(),
        ));
    }
    let store = setup.open_store()?;
    let task = TaskId::new(args.id);
    let (stage, retried) = operator::retry(&store, task, stage, &args.reason, args.reset_retries)
        .map_err(|error| match error {
        OperatorError::Store(error) => from_store(error),
        other @ (OperatorError::NotWorkingStage(_) | OperatorError::UnknownStop(_)) => {
            CliError::BadArgument(other.to_string())
        }
        other @ OperatorError::Refused(_) => CliError::Refused(other.to_string()),
        other @ OperatorError::Git(_) => CliError::Tool(other.to_string()),
    })?;
    print_json(&json!({
        "id": args.id,
        "stage": stage.as_str(),
        "from": retried.from_stage,
        "job": retried.job.get(),
        "developer_retries": retried.developer_retries,
        "acknowledged_alerts": retried.acknowledged.iter().map(|a| a.get()).collect::<Vec<_>>(),
    }))?;
    Ok(Ending::Done)
}

/// `orch task approve-suite`.
pub(crate) fn task_approve_suite(setup: &Setup, id: i64, reason: &str) -> Result<Ending, CliError> {
    if reason.trim().is_empty() {
        return Err(CliError::BadArgument(
            "--reason is blank; say why the task's suite change is accepted".to_owned(),
        ));
    }
    let store = setup.open_store()?;
    let git = orch_launcher::worktree::Git::new(&setup.launcher());
    let approval = operator::approve_suite(&store, &git, TaskId::new(id), reason).map_err(
        |error| match error {
            OperatorError::Store(error) => from_store(error),
            other @ OperatorError::Refused(_) => CliError::Refused(other.to_string()),
            other @ (OperatorError::Git(_)
            | OperatorError::NotWorkingStage(_)
            | OperatorError::UnknownStop(_)) => CliError::Tool(other.to_string()),
        },
    )?;
    print_json(&json!({
        "id": id,
        "approved_commit": approval.commit,
        "previous": approval.previous,
        "diff_sha256": approval.diff_sha256,
        "transition": approval.transition.get(),
        "changes": approval.changes.iter().map(|c| json!({
            "change": c.kind.as_str(),
            "path": c.path,
        })).collect::<Vec<_>>(),
    }))?;
    Ok(Ending::Done)
}

/// `orch task cancel`: asks, then waits (bounded) for the job's end.
pub(crate) fn task_cancel(setup: &Setup, args: &TaskCancelArgs) -> Result<Ending, CliError> {
    let store = setup.open_store()?;
    let task = TaskId::new(args.id);
    // A job still leased by a dead orch process would wait for nobody:
    // this process registers a boot so that it may rescue dead boots' jobs
    // (which are then queued, and ended here at once).
    let boot = crate::serve::boot_id();
    let _guard = store.register_boot(&boot).map_err(from_store)?;
    store.rescue_dead_boots(&boot).map_err(from_store)?;
    let ended = |job: Option<orch_store::JobId>, was: &str, status: &str| {
        json!({
            "id": args.id,
            "job": job.map(orch_store::JobId::get),
            "was": was,
            "status": status,
            "reason": orch_store::CANCELLED,
        })
    };
    let (mut job, owner) = match store.request_cancel(task).map_err(from_store)? {
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
        let current = store.task(task).map_err(from_store)?;
        if current.status != TaskStatus::Active {
            // Said as it is: only a task the cancel blocked is "cancelled".
            // The store refuses any other end of a job whose cancel is
            // recorded, so this is never expected; if it happens, the
            // command failed and says so.
            let last = store.transitions(task).map_err(from_store)?.pop();
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
            print_json(&json!({
                "id": args.id,
                "job": job.get(),
                "was": "running",
                "status": current.status.as_str(),
                "reason": last.and_then(|t| t.reason),
            }))?;
            return Ok(Ending::Failed);
        }
        if store.job(job).map_err(from_store)?.state == JobState::Queued {
            // Given back (a shutdown) or rescued meanwhile: no worker holds
            // it, so the cancel ends it here.
            match store.request_cancel(task) {
                Ok(CancelRequest::Ended { job, .. }) => {
                    print_json(&ended(job, "queued", "blocked"))?;
                    return Ok(Ending::Done);
                }
                Ok(CancelRequest::Requested { job: next, .. }) => job = next,
                Err(StoreError::TaskState { .. }) => continue,
                Err(error) => return Err(from_store(error)),
            }
        }
        if Instant::now() >= deadline {
            eprintln!(
                "error: the cancel of task {} is recorded, but its job {job} is still running under {}/{} after {} s; is that orch process alive? It ends the job when it next looks (every 100 ms)",
                args.id, owner.boot_id, owner.worker, args.wait
            );
            print_json(&json!({
                "id": args.id,
                "job": job.get(),
                "was": "running",
                "status": "active",
                "reason": orch_store::CANCELLED,
            }))?;
            return Ok(Ending::Failed);
        }
        std::thread::sleep(POLL);
        let _ = store.rescue_dead_boots(&boot);
    }
}

/// The newest copy of `name` in the task's attempt archive.
fn archived(task_dir: &Path, name: &std::ffi::OsStr) -> Option<PathBuf> {
    let entries = std::fs::read_dir(task_dir.join("attempts")).ok()?;
    entries
        .flatten()
        .filter_map(|e| {
            let n: u64 = e.file_name().to_str()?.parse().ok()?;
            let path = e.path().join(name);
            // Not followed: a link planted there is refused when opened.
            std::fs::symlink_metadata(&path)
                .is_ok()
                .then_some((n, path))
        })
        .max_by_key(|(n, _)| *n)
        .map(|(_, path)| path)
}

/// Opens `path`, a file under `task_dir`, for reading without following a
/// symbolic link anywhere below `task_dir`: every component is opened with
/// `O_NOFOLLOW` relative to the one before (agents write in the task folder
/// and could plant a link to a secret there), and only a regular file is
/// read. `None` when it does not exist.
///
/// # Errors
///
/// [`CliError::Tool`] naming the path when it is a link, not a regular file,
/// or cannot be opened.
pub(crate) fn open_task_file(task_dir: &Path, path: &Path) -> Result<Option<File>, CliError> {
    use nix::errno::Errno;
    use nix::fcntl::{OFlag, openat};
    use nix::sys::stat::Mode;
    let refuse = |why: &str| {
        CliError::Tool(format!(
            "refusing to read {}: {why}; orch reads only regular files in a task folder (was a link planted there?)",
            path.display()
        ))
    };
    let Ok(below) = path.strip_prefix(task_dir) else {
        return Err(refuse("it is outside the task folder"));
    };
    let mut names = Vec::new();
    for component in below.components() {
        match component {
            std::path::Component::Normal(name) => names.push(name),
            std::path::Component::Prefix(_)
            | std::path::Component::RootDir
            | std::path::Component::CurDir
            | std::path::Component::ParentDir => {
                return Err(refuse("its path leaves the task folder"));
            }
        }
    }
    let mut fd: std::os::fd::OwnedFd = match File::open(task_dir) {
        Ok(dir) => dir.into(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(CliError::Tool(format!(
                "cannot open the task folder {}: {error}",
                task_dir.display()
            )));
        }
    };
    for (i, name) in names.iter().enumerate() {
        let last = i + 1 == names.len();
        // O_NONBLOCK: opening a planted FIFO must not hang; it is refused below.
        let kind = if last {
            OFlag::O_NONBLOCK
        } else {
            OFlag::O_DIRECTORY
        };
        let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | kind;
        fd = match openat(&fd, *name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(None),
            Err(Errno::ELOOP) => return Err(refuse("it is a symbolic link")),
            Err(Errno::ENOTDIR) => return Err(refuse("a folder on its path is not a folder")),
            Err(error) => {
                return Err(CliError::Tool(format!(
                    "cannot open {}: {error}",
                    path.display()
                )));
            }
        };
    }
    let file = File::from(fd);
    let metadata = file
        .metadata()
        .map_err(|error| CliError::Tool(format!("cannot read {}: {error}", path.display())))?;
    if !metadata.file_type().is_file() {
        return Err(refuse("it is not a regular file"));
    }
    Ok(Some(file))
}

/// Copies what `file` holds past what was read to stdout.
fn drain(file: &mut File, out: &mut impl Write) -> Result<(), CliError> {
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(|error| {
            CliError::Tool(format!("cannot read the task's output log: {error}"))
        })?;
        if n == 0 {
            return out.flush().map_err(CliError::Output);
        }
        out.write_all(&buf[..n]).map_err(CliError::Output)?;
    }
}

/// `orch task log`.
pub(crate) fn task_log(setup: &Setup, args: &TaskLogArgs) -> Result<Ending, CliError> {
    let store = setup.open_store()?;
    let task = store.task(TaskId::new(args.id)).map_err(from_store)?;
    let jobs = store.task_jobs(task.id).map_err(from_store)?;
    let wanted = args
        .stage
        .as_deref()
        .map(|s| parse_stage(s, "--stage"))
        .transpose()?;
    let job = jobs
        .iter()
        .rev()
        .find(|j| wanted.is_none_or(|w| j.stage == w.as_str()))
        .cloned();
    let stage = match (wanted, &job) {
        (Some(stage), _) => stage,
        (None, Some(job)) => parse_stage(&job.stage, "the job's stage")?,
        (None, None) => parse_stage(&task.stage, "the task's stage")?,
    };
    let Some(spec) = stage.artifact() else {
        return Err(CliError::BadArgument(format!(
            "stage {stage} runs no role, so it has no output; name a working stage with --stage"
        )));
    };
    let task_dir = setup.launcher().task_dir(args.id);
    let [log, _] = workspace::sidecars(&workspace::artifact_path(&task_dir, spec));
    let mut out = std::io::stdout().lock();
    let following = args.follow
        && job
            .as_ref()
            .is_some_and(|j| matches!(j.state, JobState::Queued | JobState::Running));
    if !following {
        let path = if std::fs::symlink_metadata(&log).is_ok() {
            Some(log.clone())
        } else {
            log.file_name().and_then(|name| archived(&task_dir, name))
        };
        match path {
            Some(path) => {
                let Some(mut file) = open_task_file(&task_dir, &path)? else {
                    return Err(CliError::Tool(format!(
                        "{} went away while it was opened; try again",
                        path.display()
                    )));
                };
                drain(&mut file, &mut out)?;
            }
            None => eprintln!(
                "task {}: no output of stage {stage} yet ({} does not exist)",
                args.id,
                log.display()
            ),
        }
        return Ok(Ending::Done);
    }
    let Some(job) = job else {
        return Ok(Ending::Done);
    };
    // Follow: the open file is read to its end every poll; a new run of the
    // job (after a release or rescue) writes a new file at the path, which
    // is then opened in its turn.
    let mut open: Option<(File, u64)> = None;
    loop {
        let state = store.job(job.id).map_err(from_store)?.state;
        let ended = matches!(state, JobState::Done | JobState::Failed);
        if state == JobState::Running || ended {
            let now_at_path = std::fs::symlink_metadata(&log).ok().map(|m| m.ino());
            let stale = match (&open, now_at_path) {
                (Some((_, ino)), Some(at)) => *ino != at,
                (None, Some(_)) => true,
                (_, None) => false,
            };
            if stale && !ended {
                if let Some((mut file, _)) = open.take() {
                    drain(&mut file, &mut out)?;
                }
                if let (Some(file), Some(ino)) = (open_task_file(&task_dir, &log)?, now_at_path) {
                    open = Some((file, ino));
                }
            }
        }
        if ended && open.is_none() {
            // It ended before its file was opened here: what it left, where
            // it is (a cancel archives it).
            let path = if std::fs::symlink_metadata(&log).is_ok() {
                Some(log.clone())
            } else {
                log.file_name().and_then(|name| archived(&task_dir, name))
            };
            if let Some(path) = path
                && let Some(file) = open_task_file(&task_dir, &path)?
            {
                open = Some((file, 0));
            }
        }
        if let Some((file, _)) = open.as_mut() {
            drain(file, &mut out)?;
        }
        if ended {
            return Ok(Ending::Done);
        }
        std::thread::sleep(POLL);
    }
}

fn alert_json(alert: &orch_store::Alert) -> Value {
    json!({
        "id": alert.id.get(),
        "kind": alert.kind.as_str(),
        "message": alert.message,
        "task": alert.task.map(TaskId::get),
        "job": alert.job.map(orch_store::JobId::get),
        "at": rfc3339(alert.created_ms),
        "acknowledged": alert.acknowledged_ms.map(rfc3339),
    })
}

/// `orch alert list`.
pub(crate) fn alert_list(setup: &Setup, all: bool, limit: u32) -> Result<Ending, CliError> {
    let store = setup.open_store()?;
    let alerts = store.alerts(all, limit).map_err(from_store)?;
    print_json(&Value::Array(alerts.iter().map(alert_json).collect()))?;
    Ok(Ending::Done)
}

/// `orch alert ack`.
pub(crate) fn alert_ack(setup: &Setup, id: Option<i64>, all: bool) -> Result<Ending, CliError> {
    let store = setup.open_store()?;
    let acknowledged: Vec<i64> = match (id, all) {
        (_, true) => store
            .acknowledge_all_alerts()
            .map_err(from_store)?
            .iter()
            .map(|a| a.get())
            .collect(),
        (Some(id), false) => {
            store
                .acknowledge_alert(AlertId::new(id))
                .map_err(from_store)?;
            vec![id]
        }
        (None, false) => {
            return Err(CliError::BadArgument(
                "name the alert's id, or give --all".to_owned(),
            ));
        }
    };
    print_json(&json!({ "acknowledged": acknowledged }))?;
    Ok(Ending::Done)
}

/// A blank optional command clears it.
fn optional(command: Option<&String>) -> Option<Option<String>> {
    command.map(|c| Some(c.clone()).filter(|c| !c.trim().is_empty()))
}

/// `orch repo update`.
pub(crate) fn repo_update(setup: &Setup, args: &RepoUpdateArgs) -> Result<Ending, CliError> {
    let path = match &args.path {
        Some(path) => {
            let path = std::path::absolute(path).unwrap_or_else(|_| path.clone());
            if !path.is_dir() {
                return Err(CliError::BadArgument(format!(
                    "--path {} is not a folder; give the repository's checkout",
                    path.display()
                )));
            }
            Some(path.to_string_lossy().into_owned())
        }
        None => None,
    };
    if args
        .staging_cmd
        .as_deref()
        .is_some_and(|c| c.trim().is_empty())
    {
        return Err(CliError::BadArgument(
            "--staging-cmd is blank; every repository needs its staging suite".to_owned(),
        ));
    }
    let store = setup.open_store()?;
    let path = match path {
        Some(path) => Some(
            crate::commands::registered_once(&store, Path::new(&path), Some(&args.name))?
                .to_string_lossy()
                .into_owned(),
        ),
        None => None,
    };
    // The folder and base in force after the change are checked as `repo
    // add` checks them, and the isolation they give is reported.
    let current = store.repo_by_name(&args.name).map_err(from_store)?;
    let base_ref = match args.base.as_deref().map(str::trim) {
        None => None,
        Some("") => Some(None),
        Some(base) => Some(Some(base.to_owned())),
    };
    let isolation = match &current {
        Some(repo) if path.is_some() || base_ref.is_some() => {
            let folder = path.clone().unwrap_or_else(|| repo.path.clone());
            let base = match &base_ref {
                Some(base) => base.clone(),
                None => repo.base_ref.clone(),
            };
            Some(crate::commands::checked_isolation(
                setup,
                Path::new(&folder),
                base.as_deref(),
            )?)
        }
        // An unknown repository is the store's to say (exit 2).
        Some(_) | None => None,
    };
    let suite_paths = match &args.suite {
        Some(text) => Some(crate::commands::suite_patterns(Some(text))?),
        None => None,
    };
    // "" clears the list: the runs write only the worktree and the defaults.
    let cache_dirs = match &args.cache_dir {
        Some(text) => Some(crate::commands::cache_dirs(
            &text
                .split(',')
                .map(|d| PathBuf::from(d.trim()))
                .collect::<Vec<_>>(),
            &setup.home,
        )?),
        None => None,
    };
    let change = RepoChange {
        test_runner_mode: args.test_runner.clone().map(|setting| setting.0),
        suite_network: args.network,
        cache_dirs,
        suite_paths,
        setup_command: optional(args.setup_cmd.as_ref()),
        path,
        base_ref,
        test_command: optional(args.test_cmd.as_ref()),
        staging_command: args.staging_cmd.clone(),
        deploy_command: optional(args.deploy_cmd.as_ref()),
        health_command: optional(args.health_cmd.as_ref()),
        pass_env: args.pass_env.as_ref().map(|list| {
            list.split(',')
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .collect()
        }),
    };
    let repo = store.update_repo(&args.name, &change).map_err(from_store)?;
    let mut out = repo_json(&repo);
    if let Some(isolation) = isolation {
        out["isolation"] = isolation;
    }
    print_json(&out)?;
    Ok(Ending::Done)
}

/// `orch repo remove`: the rows in one transaction, then the task folders
/// (a later task could otherwise be given a removed one's id and folder).
pub(crate) fn repo_remove(
    setup: &Setup,
    name: &str,
    blocked_too: bool,
) -> Result<Ending, CliError> {
    let store: Store = setup.open_store()?;
    // The worktrees its finished tasks kept (`--keep-worktree`, or one with
    // changes left in it): read before the rows go, removed after.
    let worktrees: Vec<(String, PathBuf)> = match store.repo_by_name(name).map_err(from_store)? {
        Some(repo) => store
            .tasks_where(None, Some(repo.id), u32::MAX)
            .map_err(from_store)?
            .into_iter()
            .filter_map(|task| {
                task.worktree
                    .map(|dir| (repo.path.clone(), PathBuf::from(dir)))
            })
            .collect(),
        None => Vec::new(),
    };
    let removed = store
        .remove_repo_with(name, blocked_too)
        .map_err(from_store)?;
    let launcher = setup.launcher();
    let git = orch_launcher::worktree::Git::new(&launcher);
    let mut kept_worktrees = Vec::new();
    for (repo_path, dir) in &worktrees {
        // A later task may be given a removed one's id, and so its folder;
        // the branch stays (it holds the work). One with uncommitted changes
        // is kept, and said.
        match git.remove(Path::new(repo_path), dir) {
            Ok(true) => {}
            Ok(false) => kept_worktrees.push(dir.to_string_lossy().into_owned()),
            Err(error) => {
                eprintln!(
                    "warning: cannot remove the worktree {}: {error}; remove it by hand (git worktree remove)",
                    dir.display()
                );
                kept_worktrees.push(dir.to_string_lossy().into_owned());
            }
        }
    }
    for task in &removed.tasks {
        let dir = launcher.task_dir(task.get());
        if let Err(error) = std::fs::remove_dir_all(&dir)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            eprintln!(
                "warning: cannot remove the folder {} of removed task {task}: {error}; remove it by hand",
                dir.display()
            );
        }
    }
    print_json(&json!({
        "removed": name,
        "id": removed.repo.get(),
        "tasks": removed.tasks.iter().map(|t| t.get()).collect::<Vec<_>>(),
        "kept_worktrees": kept_worktrees,
    }))?;
    Ok(Ending::Done)
}
