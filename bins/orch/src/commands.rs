//! The commands that read and write the database: `repo`, `task`, `gate
//! check`, `work`. They parse, wire and print; the logic is the crates'.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use orch_launcher::worktree::{Checkout, Git, WorktreeError};
use orch_launcher::{Engine, JobEndKind, JobReport, LauncherConfig, TaskRequest};
use orch_pipeline::{Stage, gates_for};
use orch_store::{LeaseOwner, NewRepo, Store};
use serde_json::{Value, json};

use crate::cli::{RepoAddArgs, TaskAddArgs};
use crate::config::Config;
use crate::shutdown::Shutdown;
use crate::{CliError, Ending};

/// The configuration, orch's home and the database path.
#[derive(Debug, Clone)]
pub(crate) struct Setup {
    pub(crate) config: Config,
    pub(crate) home: PathBuf,
    pub(crate) db: PathBuf,
}

impl Setup {
    /// Reads the configuration (a bad value stops every command, exit 2).
    ///
    /// # Errors
    ///
    /// [`CliError::Config`] naming the key; [`CliError::Tool`] when no home
    /// can be found.
    pub(crate) fn load() -> Result<Setup, CliError> {
        let config = Config::from_env().map_err(CliError::Config)?;
        for key in Config::unknown_keys() {
            eprintln!("warning: {key} is not an orch setting (see .env.example); ignored");
        }
        let home = config.home().ok_or_else(|| {
            CliError::Tool(
                "cannot tell where orch keeps its files: neither ORCH_HOME nor HOME is set; set ORCH_HOME".to_owned(),
            )
        })?;
        let db = config.db_path().unwrap_or_else(|| home.join("orch.db"));
        Ok(Setup { config, home, db })
    }

    /// The launcher's configuration.
    pub(crate) fn launcher(&self) -> LauncherConfig {
        self.config.launcher(self.home.clone())
    }

    /// Opens the database, creating it and its folder; refuses one that
    /// cannot be written at once, not at the first claim.
    ///
    /// # Errors
    ///
    /// [`CliError::Tool`] with the store's advice, or the permission problem.
    pub(crate) fn open_store(&self) -> Result<Store, CliError> {
        open_store_with(&self.db, self.config.poison_rescues)
    }

    /// An engine on a fresh connection, claiming as `worker` of `boot`.
    ///
    /// # Errors
    ///
    /// As [`Setup::open_store`].
    pub(crate) fn engine(&self, boot: &str, worker: &str) -> Result<Engine, CliError> {
        Ok(Engine::new(
            self.open_store()?,
            self.launcher(),
            LeaseOwner::new(boot, worker),
        ))
    }
}

/// Checks, before `serve`, `work` or `demo` starts any run, that the sandbox
/// `mode` can be had on this kernel (see [`crate::config::sandbox_start`]);
/// prints the best-effort warning, if any, on stderr.
///
/// # Errors
///
/// [`CliError::Tool`] (exit 2) when a required sandbox cannot be enforced.
pub(crate) fn check_sandbox(mode: orch_process::exec::SandboxMode) -> Result<(), CliError> {
    match crate::config::sandbox_start(mode, orch_process::sandbox::check_required()) {
        Ok(Some(warning)) => {
            eprintln!("{warning}");
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(refusal) => Err(CliError::Tool(refusal)),
    }
}

/// Opens (creating) the database at `db` and checks it can be written.
///
/// # Errors
///
/// [`CliError::Tool`] saying what is wrong and what to do.
pub(crate) fn open_store(db: &Path) -> Result<Store, CliError> {
    open_store_with(db, orch_store::DEFAULT_POISON_RESCUES)
}

/// As [`open_store`], with the poison threshold for the rescues this
/// connection runs (`ORCH_POISON_RESCUES`).
///
/// # Errors
///
/// [`CliError::Tool`] saying what is wrong and what to do.
pub(crate) fn open_store_with(db: &Path, poison_rescues: u32) -> Result<Store, CliError> {
    let folder = match db.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&folder).map_err(|error| {
        CliError::Tool(format!(
            "cannot create the database folder {}: {error}; set ORCH_DB_PATH or ORCH_HOME to a writable place",
            folder.display()
        ))
    })?;
    // SQLite opens a write-protected file read-only without a word and fails
    // at the first write; and WAL needs to create files beside the database.
    // Both are refused here, with the advice.
    let probe = folder.join(format!(".orch-write-probe.{}", std::process::id()));
    let folder_ok = std::fs::File::create(&probe).is_ok();
    let _ = std::fs::remove_file(&probe);
    if !folder_ok {
        return Err(CliError::Tool(format!(
            "the database folder {} is not writable by this user; SQLite needs to create its journal files there: fix its permissions or set ORCH_DB_PATH to a writable place",
            folder.display()
        )));
    }
    if db.exists() && std::fs::OpenOptions::new().write(true).open(db).is_err() {
        return Err(CliError::Tool(format!(
            "the database {} is read-only for this user; fix its permissions or set ORCH_DB_PATH to a writable copy",
            db.display()
        )));
    }
    let options = orch_store::StoreOptions {
        poison_rescues,
        ..orch_store::StoreOptions::default()
    };
    Store::open_with(db, options).map_err(|error| CliError::Tool(error.to_string()))
}

/// Prints `value` as one line of JSON on stdout.
///
/// # Errors
///
/// [`CliError::Output`] when stdout cannot be written.
pub(crate) fn print_json(value: &Value) -> Result<(), CliError> {
    let mut line = value.to_string();
    line.push('\n');
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(line.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(CliError::Output)
}

fn store_error(error: impl std::fmt::Display) -> CliError {
    CliError::Tool(error.to_string())
}

pub(crate) fn repo_json(repo: &orch_store::Repo) -> Value {
    json!({
        "id": repo.id.get(),
        "name": repo.name,
        "path": repo.path,
        "staging_cmd": repo.staging_command,
        "test_cmd": repo.test_command,
        "deploy_cmd": repo.deploy_command,
        "health_cmd": repo.health_command,
        "pass_env": repo.pass_env,
        "base": repo.base_ref,
        "suite": repo.suite_paths,
        "setup_cmd": repo.setup_command,
        "suite_network": repo.suite_network.as_str(),
        "cache_dirs": repo.cache_dirs,
        "test_runner": repo.test_runner_mode,
    })
}

/// A worktree error as the CLI reports it: what the user named wrongly (a
/// ref, a folder) is a bad argument (exit 3); git that cannot run, or fails,
/// is a tool error (exit 2).
pub(crate) fn worktree_error(error: WorktreeError) -> CliError {
    match error {
        WorktreeError::NotTopLevel { .. }
        | WorktreeError::UnknownRef { .. }
        | WorktreeError::NoCommit { .. } => CliError::BadArgument(error.to_string()),
        WorktreeError::GitUnavailable { .. }
        | WorktreeError::Git { .. }
        | WorktreeError::BranchTaken { .. }
        | WorktreeError::FolderInTheWay { .. }
        | WorktreeError::Tampered { .. }
        | WorktreeError::OutputCut { .. }
        | WorktreeError::Cancelled => CliError::Tool(error.to_string()),
    }
}

/// How the repository at `path` will be isolated, as `repo add` and `repo
/// update` report it; refuses what cannot work (a folder inside a
/// repository, a base ref that names nothing, a base ref on a folder that is
/// not a git repository, git that cannot run) before anything is stored.
///
/// # Errors
///
/// [`CliError::BadArgument`] for what the user named wrongly;
/// [`CliError::Tool`] when git cannot run.
pub(crate) fn checked_isolation(
    setup: &Setup,
    path: &Path,
    base: Option<&str>,
) -> Result<Value, CliError> {
    let git = Git::new(&setup.launcher());
    let checkout = git.inspect(path).map_err(worktree_error)?;
    Ok(match (&checkout, base) {
        (Checkout::NotGit, Some(_)) => {
            return Err(CliError::BadArgument(format!(
                "--base: {} is not a git repository, so its tasks have no base commit; drop --base",
                path.display()
            )));
        }
        (Checkout::NotGit, None) => json!({
            "kind": "checkout",
            "note": "not a git repository: its tasks work in the folder itself, one whole task at a time",
        }),
        (Checkout::Unborn, _) => json!({
            "kind": "worktree",
            "note": "the repository has no commit yet: commit something before adding a task",
        }),
        (Checkout::Git(_), base) => {
            let base = git.resolve_base(path, base).map_err(worktree_error)?;
            json!({
                "kind": "worktree",
                "base_commit_now": base.commit,
                "note": "every task works in its own worktree under $ORCH_HOME/worktrees on branch orch/task-ID; the checkout is never written",
            })
        }
    })
}

/// `orch repo add`.
pub(crate) fn repo_add(setup: &Setup, args: &RepoAddArgs) -> Result<Ending, CliError> {
    if args.name.trim().is_empty() {
        return Err(CliError::BadArgument(
            "the repository's name is blank; give it a name (what ORCH_STAGING_RUNNER_REPOS lists)"
                .to_owned(),
        ));
    }
    let path = std::path::absolute(&args.path).unwrap_or_else(|_| args.path.clone());
    if !path.is_dir() {
        return Err(CliError::BadArgument(format!(
            "--path {} is not a folder; give the repository's checkout",
            path.display()
        )));
    }
    let store = setup.open_store()?;
    if store
        .repo_by_name(&args.name)
        .map_err(store_error)?
        .is_some()
    {
        return Err(CliError::BadArgument(format!(
            "a repository named {:?} exists already; pick another name (`orch repo list`)",
            args.name
        )));
    }
    let isolation = checked_isolation(setup, &path, args.base.as_deref())?;
    // After the checks of what was given, so each says what is wrong with it.
    let path = registered_once(&store, &path, None)?;
    let mut repo = NewRepo::new(&args.name, path.to_string_lossy(), &args.staging_cmd);
    repo.base_ref.clone_from(&args.base);
    repo.deploy_command.clone_from(&args.deploy_cmd);
    repo.health_command.clone_from(&args.health_cmd);
    repo.test_command.clone_from(&args.test_cmd);
    repo.setup_command.clone_from(&args.setup_cmd);
    repo.suite_paths = suite_patterns(args.suite.as_deref())?;
    repo.suite_network = args.network;
    repo.cache_dirs = cache_dirs(&args.cache_dir, &setup.home)?;
    repo.pass_env = args
        .pass_env
        .iter()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect();
    let id = store
        .add_repo(&repo)
        .map_err(|error| CliError::BadArgument(error.to_string()))?;
    let repo = store.repo(id).map_err(store_error)?;
    let mut out = repo_json(&repo);
    out["isolation"] = isolation;
    print_json(&out)?;
    Ok(Ending::Done)
}

/// The canonical form of `path` (links and `..` resolved), refused when
/// another repository than `except` is registered at the same folder: a
/// folder is registered once, else two tasks of two names would run in it at
/// once.
///
/// # Errors
///
/// [`CliError::BadArgument`] (exit 3) naming the repository that has the
/// folder, or saying why the folder cannot be resolved.
pub(crate) fn registered_once(
    store: &Store,
    path: &Path,
    except: Option<&str>,
) -> Result<PathBuf, CliError> {
    let canonical = path.canonicalize().map_err(|error| {
        CliError::BadArgument(format!(
            "--path {}: cannot resolve the folder ({error}); give the repository's checkout",
            path.display()
        ))
    })?;
    let repos = store.repos().map_err(store_error)?;
    if let Some(owner) = repos.iter().find(|repo| {
        Some(repo.name.as_str()) != except
            && Path::new(&repo.path)
                .canonicalize()
                .unwrap_or_else(|_| PathBuf::from(&repo.path))
                == canonical
    }) {
        return Err(CliError::BadArgument(format!(
            "--path {}: the folder {} is registered already, as repository {:?}; a folder is registered once (use {:?}, or `orch repo remove {}` first)",
            path.display(),
            canonical.display(),
            owner.name,
            owner.name,
            owner.name
        )));
    }
    Ok(canonical)
}

/// `--suite`'s patterns, checked (a bad one is a usage error, exit 3).
///
/// # Errors
///
/// [`CliError::BadArgument`] naming the pattern and what is wrong.
pub(crate) fn suite_patterns(text: Option<&str>) -> Result<Vec<String>, CliError> {
    orch_launcher::judge::parse_suite(text.unwrap_or_default())
        .map_err(|error| CliError::BadArgument(format!("--suite: {error}")))
}

/// `--cache-dir`'s folders, checked: each must be an absolute path of an
/// existing folder (the kernel's rules name folders that exist when a run
/// starts), and none may hold orch's home or lie inside it (the home is
/// hidden from every run; a writable folder around it would open it up).
/// Empty entries are skipped.
///
/// # Errors
///
/// [`CliError::BadArgument`] (exit 3) naming the folder and what to do.
pub(crate) fn cache_dirs(dirs: &[PathBuf], home: &Path) -> Result<Vec<String>, CliError> {
    let canonical = |path: &Path| path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let home = canonical(home);
    let mut checked = Vec::new();
    for dir in dirs.iter().filter(|d| !d.as_os_str().is_empty()) {
        let bad =
            |why: String| CliError::BadArgument(format!("--cache-dir {}: {why}", dir.display()));
        if !dir.is_absolute() {
            return Err(bad(
                "not an absolute path; give it from the root, e.g. /srv/app".to_owned(),
            ));
        }
        if !dir.is_dir() {
            return Err(bad(
                "no such folder; create it first (the sandbox can grant only a folder that exists)"
                    .to_owned(),
            ));
        }
        let real = canonical(dir);
        if home.starts_with(&real) || real.starts_with(&home) {
            return Err(bad(format!(
                "it holds or lies in orch's home {}, which every run is denied; give a folder outside it",
                home.display()
            )));
        }
        let text = dir
            .to_str()
            .ok_or_else(|| bad("the path is not UTF-8; give one that is".to_owned()))?;
        checked.push(text.to_owned());
    }
    Ok(checked)
}

/// `orch repo list`.
pub(crate) fn repo_list(setup: &Setup) -> Result<Ending, CliError> {
    let repos = setup.open_store()?.repos().map_err(store_error)?;
    print_json(&Value::Array(repos.iter().map(repo_json).collect()))?;
    Ok(Ending::Done)
}

/// `orch task add`.
pub(crate) fn task_add(setup: &Setup, args: &TaskAddArgs) -> Result<Ending, CliError> {
    let engine = setup.engine("cli", "task-add")?;
    let repo = engine
        .store()
        .repo_by_name(&args.repo)
        .map_err(store_error)?
        .ok_or_else(|| {
            CliError::BadArgument(format!(
                "no repository named {:?}; add it with `orch repo add` (see `orch repo list`)",
                args.repo
            ))
        })?;
    if args.title.trim().is_empty() {
        return Err(CliError::BadArgument(
            "--title is blank; say what the task is".to_owned(),
        ));
    }
    let created = engine
        .create_task_with(
            repo.id,
            &TaskRequest {
                base: args.base.clone(),
                keep_worktree: args.keep_worktree,
                ..TaskRequest::new(&args.title)
            },
        )
        .map_err(|error| match error {
            orch_launcher::EngineError::Store(error) => store_error(error),
            orch_launcher::EngineError::Workspace(error) => worktree_error(error),
            other @ orch_launcher::EngineError::Panicked { .. } => {
                CliError::Tool(other.to_string())
            }
            other @ (orch_launcher::EngineError::TerminalStage(_)
            | orch_launcher::EngineError::BaseWithoutGit { .. }) => {
                CliError::BadArgument(other.to_string())
            }
        })?;
    let mut out = json!({
        "id": created.task.get(),
        "job": created.job.get(),
        "isolation": created.isolation.as_str(),
    });
    if let Some(base) = &created.base {
        out["base"] = json!(base.reference);
        out["base_commit"] = json!(base.commit);
        out["branch"] = json!(orch_launcher::worktree::branch_name(created.task));
        out["notes"] = json!(base.notes);
    }
    print_json(&out)?;
    Ok(Ending::Done)
}

/// The JSON of one task, with its artifacts and transitions.
pub(crate) fn task_json(store: &Store, home: &Path, id: i64) -> Result<Value, CliError> {
    let task_id = orch_store::TaskId::new(id);
    let task = match store.task(task_id) {
        Ok(task) => task,
        Err(orch_store::StoreError::NotFound { .. }) => {
            return Err(CliError::Tool(format!(
                "there is no task {id}; see `orch task list`"
            )));
        }
        Err(error) => return Err(store_error(error)),
    };
    let repo = store.repo(task.repo).map_err(store_error)?;
    let cost = store.task_cost_usd(task_id).map_err(store_error)?;
    let dir = home.join("tasks").join(id.to_string());
    let artifacts: Vec<String> = orch_pipeline::ARTIFACTS
        .iter()
        .map(|spec| dir.join(spec.file_name))
        .filter(|path| path.is_file())
        .map(|path| path.to_string_lossy().into_owned())
        .collect();
    let transitions: Vec<Value> = store
        .transitions(task_id)
        .map_err(store_error)?
        .iter()
        .map(|t| {
            json!({
                "from": t.from_stage,
                "to": t.to_stage,
                "at": rfc3339(t.at_ms),
                "actor": t.actor.map(orch_store::Actor::as_str),
                "reason": t.reason,
                "gates": t.decisions.iter().map(|d| json!({
                    "gate": d.gate,
                    "passed": d.passed,
                    "verdict": d.verdict,
                    "reason": d.reason,
                    "artifact_sha256": d.artifact_sha256,
                    "commit": d.commit_sha,
                    "tree_clean": d.tree_clean,
                    // What the kernel enforced for the run whose verdict
                    // this gate read: evidence beside the verdict.
                    "sandbox": d.sandbox,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let jobs: Vec<Value> = store
        .task_jobs(task_id)
        .map_err(store_error)?
        .iter()
        .map(|j| {
            json!({
                "id": j.id.get(),
                "stage": j.stage,
                "role": j.role,
                "state": j.state.as_str(),
                "start_commit": j.start_commit,
                "end_commit": j.end_commit,
            })
        })
        .collect();
    let runs: Vec<Value> = store
        .agent_runs(task_id)
        .map_err(store_error)?
        .iter()
        .map(|r| {
            json!({
                "id": r.id.get(),
                "job": r.job.get(),
                "stage": r.stage,
                "role": r.role,
                "transport": r.transport.as_str(),
                "outcome": r.outcome,
                "exit_code": r.exit_code,
                "duration_ms": r.duration_ms,
                "cost_usd": r.cost_usd,
                // `reported` by the CLI, or `estimated` by orch from
                // ORCH_AGENT_PRICES; null without a cost.
                "cost_source": r.cost_source,
                // Each CLI's own meaning of input: Claude's excludes the
                // cache reads and writes, Codex's and Gemini's include the
                // cached part (docs/store.md).
                "tokens_in": r.tokens_in,
                "tokens_out": r.tokens_out,
                "cache_read_tokens": r.cache_read_tokens,
                "cache_write_tokens": r.cache_write_tokens,
                "model": r.model,
                "sandbox": r.sandbox,
            })
        })
        .collect();
    let worktree = json!({
        "isolation": task.isolation.as_str(),
        "base_commit": task.base_commit,
        "branch": task.branch,
        "head_commit": task.head_commit,
        "approved_suite_commit": task.suite_commit,
        "approved_suite_diff_sha256": task.suite_diff_sha256,
        "path": task.worktree,
        "kept_when_done": task.keep_worktree,
        "merge": task.branch.as_ref().map(|branch| {
            format!("git -C {} merge {branch}", shell_word(&repo.path))
        }),
    });
    Ok(json!({
        "id": id,
        "repo": repo.name,
        "title": task.title,
        "stage": task.stage,
        "status": task.status.as_str(),
        "developer_retries": task.developer_retries,
        "cost_usd": cost,
        "worktree": worktree,
        "artifacts": artifacts,
        "jobs": jobs,
        "runs": runs,
        "transitions": transitions,
    }))
}

/// `word` quoted for a POSIX shell when it needs it.
fn shell_word(word: &str) -> String {
    if !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+:@%".contains(&b))
    {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// `orch task show`.
pub(crate) fn task_show(setup: &Setup, id: i64) -> Result<Ending, CliError> {
    let store = setup.open_store()?;
    print_json(&task_json(&store, &setup.home, id)?)?;
    Ok(Ending::Done)
}

/// `orch gate check`.
pub(crate) fn gate_check(stage: &str, file: &Path) -> Result<Ending, CliError> {
    let stage: Stage = stage
        .parse()
        .map_err(|error| CliError::BadArgument(format!("--stage: {error}")))?;
    let gates = gates_for(stage);
    if gates.is_empty() {
        return Err(CliError::BadArgument(format!(
            "stage {stage} has no gate: it is a terminal state"
        )));
    }
    let bytes = match std::fs::read(file) {
        Ok(bytes) => Some(bytes),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => {
            return Err(CliError::Tool(format!(
                "cannot read {}: {error}",
                file.display()
            )));
        }
    };
    let results: Vec<_> = gates
        .iter()
        .map(|gate| gate.evaluate(bytes.as_deref()))
        .collect();
    let passed = results.iter().all(|r| r.passed);
    print_json(&json!({
        "stage": stage.as_str(),
        "file": file.to_string_lossy(),
        "passed": passed,
        "gates": results.iter().map(|r| json!({
            "gate": r.gate.name(),
            "passed": r.passed,
            "verdict": r.verdict,
            "reason": r.reason,
        })).collect::<Vec<_>>(),
    }))?;
    Ok(if passed { Ending::Done } else { Ending::Failed })
}

/// One readable line for a job's end: task, stage → next, role, verdict,
/// time.
pub(crate) fn describe(report: &JobReport) -> String {
    let who = report.intercepted_by.unwrap_or(&report.role);
    let what = match &report.end {
        JobEndKind::Transition {
            from, to, gates, ..
        } => {
            let verdicts: Vec<String> = gates
                .iter()
                .map(|g| {
                    g.verdict
                        .clone()
                        .unwrap_or_else(|| format!("fail-closed: {}", g.reason))
                })
                .collect();
            // A run that did not pass says how it ended (a timeout, an exit
            // code), beside what the gates read.
            let run = match (report.outcome, &report.detail) {
                (Some(outcome), Some(detail))
                    if outcome != orch_launcher::RunOutcome::Passed && !detail.is_empty() =>
                {
                    format!(" · the run: {detail}")
                }
                _ => String::new(),
            };
            format!("{from} → {to} · {who} · {}{run}", verdicts.join(", "))
        }
        JobEndKind::Deferred { retry_in } => {
            format!(
                "{} deferred {retry_in:.1?} · {who} · the work could not start: {}",
                report.stage,
                report.detail.as_deref().unwrap_or("see `orch queue`")
            )
        }
        JobEndKind::Released => format!("{} released · {who} · stopped", report.stage),
        JobEndKind::Blocked { alert } => {
            format!("{} → blocked · {who} · alert {alert}", report.stage)
        }
        JobEndKind::LeaseLost => format!("{} · {who} · lease lost, result dropped", report.stage),
        JobEndKind::Superseded => format!("{} · {who} · superseded", report.stage),
    };
    format!(
        "task {} · {what} · {:.2} s",
        report.task.get(),
        report.took.as_secs_f64()
    )
}

/// `orch work`: one worker in the foreground.
///
/// SIGINT or SIGTERM stops it as it stops `serve`, without the grace: no new
/// claim, the running job's tree is cancelled at once (a foreground worker's
/// operator asked for it to end now) and the job is given back to the queue
/// (a release, not a rescue: it never counts towards poison); then it ends
/// with the signal's shell code.
pub(crate) fn work(setup: &Setup, until_idle: bool) -> Result<Ending, CliError> {
    check_sandbox(setup.config.sandbox_mode())?;
    let workers = crate::serve::start_workers(setup, "work", "work", 1, until_idle)?;
    let shutdown = Shutdown::watch()?;
    // Short naps, so a signal ends `work` at once.
    while !shutdown.asked() && !workers.is_finished() {
        std::thread::sleep(Duration::from_millis(20));
    }
    // No grace: a foreground worker's operator asked for it to end now.
    workers
        .shutdown(Duration::ZERO)
        .map_err(|error| CliError::Tool(error.to_string()))?;
    Ok(match shutdown.signal() {
        Some(signal) => {
            eprintln!(
                "orch work: stopped by signal {signal}; the running job, if any, was given back to the queue"
            );
            Ending::Stopped(signal)
        }
        // Idle with --until-idle.
        None => Ending::Done,
    })
}

/// Milliseconds since the epoch as RFC 3339 with milliseconds.
pub(crate) fn rfc3339(ms: i64) -> String {
    let at = std::time::UNIX_EPOCH
        .checked_add(Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
        .unwrap_or(std::time::UNIX_EPOCH);
    humantime::format_rfc3339_millis(at).to_string()
}
