//! What the pages show, read from the store and the launcher's typed views
//! in a few bounded queries: no page reads a whole table.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use orch_launcher::views::{TaskView, rfc3339};
use orch_launcher::{Health, workspace};
use orch_pipeline::Stage;
use orch_store::{
    Alert, QueueSnapshot, RunningJob, ShadowVerdict, StoreError, Task, TaskId, TaskStatus,
};

use crate::web::Context;

/// The newest tasks the Board reads.
pub(crate) const BOARD_TASKS: u32 = 300;
/// The done (or abandoned) tasks the Board shows.
const BOARD_DONE: usize = 20;
/// The alerts, running and queued jobs a page lists at most.
const SNAPSHOT_LIMIT: u32 = 50;
/// The end of a log a page shows.
pub(crate) const TAIL_BYTES: u64 = 16 * 1024;

/// Why a page could not be made.
#[derive(Debug)]
pub(crate) enum PageError {
    /// What was asked for does not exist.
    NotFound(String),
    /// The database failed.
    Store(String),
}

impl From<StoreError> for PageError {
    fn from(error: StoreError) -> Self {
        if let StoreError::NotFound { table, id } = error {
            PageError::NotFound(format!(
                "there is no {} with id {id}",
                table.trim_end_matches('s')
            ))
        } else {
            PageError::Store(error.to_string())
        }
    }
}

/// A task on the Board.
#[derive(Debug, Clone)]
pub(crate) struct Card {
    pub(crate) id: i64,
    pub(crate) title: String,
    pub(crate) repo: String,
    pub(crate) stage: String,
    pub(crate) status: TaskStatus,
    /// Since its last change (a transition), milliseconds.
    pub(crate) in_stage_ms: i64,
    pub(crate) cost_usd: f64,
    /// The role running now, if its job is running.
    pub(crate) running: Option<String>,
    /// When it was abandoned.
    pub(crate) abandoned: bool,
}

/// A blocked task that asks for the operator.
#[derive(Debug, Clone)]
pub(crate) struct Blocked {
    pub(crate) card: Card,
    /// Why: its last transition's reason, or its failed gate's.
    pub(crate) reason: String,
    /// Where a retry takes it back to, when the history says.
    pub(crate) stopped_at: Option<String>,
}

/// The Board.
#[derive(Debug)]
pub(crate) struct Board {
    pub(crate) at_ms: i64,
    pub(crate) blocked: Vec<Blocked>,
    pub(crate) alerts: Vec<Alert>,
    pub(crate) open_alerts_total: u64,
    /// One column per working stage, in pipeline order, with its tasks.
    pub(crate) columns: Vec<(Stage, Vec<Card>)>,
    /// The newest done or abandoned tasks.
    pub(crate) done: Vec<Card>,
    pub(crate) counts: Vec<(String, u64)>,
}

fn snapshot(context: &Context<'_>) -> Result<QueueSnapshot, PageError> {
    Ok(context.store.queue_snapshot(SNAPSHOT_LIMIT)?)
}

impl Board {
    pub(crate) fn load(context: &Context<'_>) -> Result<Board, PageError> {
        let store = context.store;
        let snap = snapshot(context)?;
        let repos: HashMap<_, _> = store.repos()?.into_iter().map(|r| (r.id, r.name)).collect();
        let running: HashMap<TaskId, &RunningJob> =
            snap.running.iter().map(|j| (j.task, j)).collect();
        let mut columns: Vec<(Stage, Vec<Card>)> = Stage::ALL
            .iter()
            .filter(|s| s.role().is_some())
            .map(|s| (*s, Vec::new()))
            .collect();
        let mut blocked = Vec::new();
        let mut done = Vec::new();
        for task in store.tasks(BOARD_TASKS)? {
            let card = Card {
                id: task.id.get(),
                title: task.title.clone(),
                repo: repos.get(&task.repo).cloned().unwrap_or_default(),
                stage: task.stage.as_str().to_owned(),
                status: task.status,
                in_stage_ms: snap.at_ms.saturating_sub(task.updated_ms).max(0),
                cost_usd: store.task_cost_usd(task.id)?,
                running: running.get(&task.id).map(|j| j.role.as_str().to_owned()),
                abandoned: task.abandoned_ms.is_some(),
            };
            match task.status {
                TaskStatus::Blocked if task.abandoned_ms.is_none() => {
                    let (reason, stopped_at) = why_blocked(context, &task)?;
                    blocked.push(Blocked {
                        card,
                        reason,
                        stopped_at,
                    });
                }
                TaskStatus::Blocked | TaskStatus::Done => {
                    if done.len() < BOARD_DONE {
                        done.push(card);
                    }
                }
                TaskStatus::Active => {
                    if let Some((_, cards)) = columns.iter_mut().find(|(s, _)| *s == task.stage) {
                        cards.push(card);
                    }
                }
            }
        }
        Ok(Board {
            at_ms: snap.at_ms,
            blocked,
            alerts: snap.alerts,
            open_alerts_total: snap.open_alerts_total,
            columns,
            done,
            counts: snap
                .counts
                .iter()
                .map(|(s, n)| (s.as_str().to_owned(), *n))
                .collect(),
        })
    }
}

/// Why `task` is blocked, and at which stage it stopped.
fn why_blocked(context: &Context<'_>, task: &Task) -> Result<(String, Option<String>), PageError> {
    let history = context.store.transitions(task.id)?;
    let last = history.iter().rev().find(|t| t.to_stage == task.stage);
    let reason = last
        .and_then(|t| {
            t.decisions
                .iter()
                .find(|d| !d.passed)
                .map(|d| format!("{}: {}", d.gate, d.reason))
                .or_else(|| t.reason.clone())
        })
        .unwrap_or_else(|| "no reason recorded".to_owned());
    let stopped_at = orch_launcher::operator::stopped_at(context.store, task)
        .ok()
        .map(|s| s.as_str().to_owned());
    Ok((reason, stopped_at))
}

/// One task's page.
#[derive(Debug)]
pub(crate) struct TaskPage {
    pub(crate) view: TaskView,
    pub(crate) task: Task,
    pub(crate) at_ms: i64,
    /// The running (or latest) role's output: its stage and the end of it.
    pub(crate) tail: Option<(String, String)>,
    /// Whether that role is running now.
    pub(crate) live: bool,
    /// The end of the staging log (the deploy-staging artifact).
    pub(crate) staging_log: Option<String>,
    pub(crate) shadows: Vec<ShadowVerdict>,
    /// Where a retry goes without a stage named.
    pub(crate) stopped_at: Option<String>,
    pub(crate) alerts: Vec<Alert>,
}

impl TaskPage {
    pub(crate) fn load(context: &Context<'_>, id: i64) -> Result<TaskPage, PageError> {
        let store = context.store;
        let task = store.task(TaskId::new(id))?;
        let view = TaskView::load(store, &context.launcher.home, id)?;
        let task_dir = context.launcher.task_dir(id);
        let jobs = store.task_jobs(task.id)?;
        let latest = jobs.last();
        let live = latest.is_some_and(|j| j.state == orch_store::JobState::Running);
        let tail = latest
            .map(|job| job.stage)
            .and_then(|stage| stage.artifact().map(|spec| (stage, spec)))
            .and_then(|(stage, spec)| {
                let [log, _] = workspace::sidecars(&workspace::artifact_path(&task_dir, spec));
                let path = orch_launcher::task_log::current_or_archived(&task_dir, &log)?;
                read_tail(&path).map(|text| (stage.as_str().to_owned(), text))
            });
        let staging_log = Stage::DeployStaging
            .artifact()
            .map(|spec| workspace::artifact_path(&task_dir, spec))
            .and_then(|path| read_tail(&path));
        let stopped_at = if task.status == TaskStatus::Active {
            None
        } else {
            orch_launcher::operator::stopped_at(store, &task)
                .ok()
                .map(|s| s.as_str().to_owned())
        };
        let alerts = store
            .open_alerts()?
            .into_iter()
            .filter(|a| a.task == Some(task.id))
            .collect();
        Ok(TaskPage {
            shadows: store.shadow_verdicts(task.id)?,
            at_ms: store.now_ms(),
            view,
            task,
            tail,
            live,
            staging_log,
            stopped_at,
            alerts,
        })
    }
}

/// The last [`TAIL_BYTES`] of a file, as text (`None`: unreadable).
fn read_tail(path: &Path) -> Option<String> {
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let start = len.saturating_sub(TAIL_BYTES);
    file.seek(SeekFrom::Start(start)).ok()?;
    let mut bytes = Vec::new();
    file.take(TAIL_BYTES).read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Some(if start > 0 {
        format!("[… the first {start} bytes are left out]\n{text}")
    } else {
        text
    })
}

/// The Runners page.
#[derive(Debug)]
pub(crate) struct Runners {
    pub(crate) snapshot: QueueSnapshot,
}

impl Runners {
    pub(crate) fn load(context: &Context<'_>) -> Result<Runners, PageError> {
        Ok(Runners {
            snapshot: snapshot(context)?,
        })
    }
}

/// The Workers page.
#[derive(Debug)]
pub(crate) struct Workers {
    pub(crate) health: Health,
    pub(crate) running: Vec<RunningJob>,
    pub(crate) at_ms: i64,
    /// `ORCH_SANDBOX`: the kernel sandbox mode every run is started under.
    pub(crate) sandbox_mode: &'static str,
    /// What the kernel enforced for the latest run of each running job's
    /// task, as recorded with the run.
    pub(crate) enforced: HashMap<i64, String>,
    /// Each running job's last heartbeat (`jobs.updated_ms`: a worker's
    /// heartbeat moves it), by job id.
    pub(crate) heartbeats: HashMap<i64, i64>,
}

impl Workers {
    pub(crate) fn load(context: &Context<'_>) -> Result<Workers, PageError> {
        let snap = snapshot(context)?;
        let mut enforced = HashMap::new();
        let mut heartbeats = HashMap::new();
        for job in &snap.running {
            heartbeats.insert(job.id.get(), context.store.job(job.id)?.updated_ms);
            if let Some(level) = context
                .store
                .agent_runs(job.task)?
                .into_iter()
                .rev()
                .find_map(|r| r.sandbox)
            {
                enforced.insert(job.id.get(), level);
            }
        }
        Ok(Workers {
            health: context.monitor.health(context.store),
            running: snap.running,
            at_ms: snap.at_ms,
            sandbox_mode: context.launcher.sandbox.mode.as_str(),
            enforced,
            heartbeats,
        })
    }
}

/// A duration in milliseconds, short: `45s`, `12m`, `3h 5m`, `2d 4h`.
pub(crate) fn short_duration(ms: i64) -> String {
    let secs = ms.max(0) / 1000;
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86_400 => format!("{}h {}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d {}h", secs / 86_400, secs % 86_400 / 3600),
    }
}

/// Milliseconds as RFC 3339.
pub(crate) fn at(ms: i64) -> String {
    rfc3339(ms)
}
