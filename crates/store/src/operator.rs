//! The operator's loop: retry a blocked or done task, cancel a task's job,
//! list and acknowledge alerts, filter tasks, change or remove a repository.
//! Each write is one transaction, so that no crash can leave a task active
//! without a job, or with two.

use orch_pipeline::Stage;
use rusqlite::{OptionalExtension, Transaction, params};

use crate::cancel::{CANCELLED, CancelledJob, OPERATOR, cancel_transition, cancelled_alert};
use crate::checks::{check_commit, is_sha256_hex};
use crate::error::{Result, StoreError, sql};
use crate::queue::{Advanced, Cancel, check_run, end_job};
use crate::records::agent_runs::NewAgentRun;
use crate::records::alerts::Alert;
use crate::records::jobs::{Job, NewJob};
use crate::records::repos::{NewRepo, Repo, SuiteNetwork};
use crate::records::tasks::Task;
use crate::records::transitions::NewTransition;
use crate::rows::{
    ALERT_COLUMNS, JOB_COLUMNS, REPO_COLUMNS, TASK_COLUMNS, alert_from_row, job_from_row,
    repo_from_row, task_from_row,
};
use crate::store::Store;
use crate::tables::agent_runs::insert_agent_run;
use crate::tables::jobs::insert_job;
use crate::tables::repos::validate_repo;
use crate::tables::tasks::task_state;
use crate::tables::transitions::insert_transition;
use crate::types::{
    AlertId, JobId, JobState, Lease, LeaseOwner, RepoId, TaskId, TaskIsolation, TaskStatus,
    TransitionId,
};

/// The `last_error` of a job an operator cancelled.
const CANCELLED_ERROR: &str = "cancelled by the operator (orch task cancel)";

/// What [`Store::retry_task`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retried {
    /// The operator's transition, from the stage the task was at.
    pub transition: crate::types::TransitionId,
    /// The task's fresh job.
    pub job: JobId,
    /// The stage the task was at (`blocked` or `done`).
    pub from_stage: Stage,
    /// Its developer-retry count after the retry.
    pub developer_retries: u32,
    /// The task's open alerts, acknowledged by the retry.
    pub acknowledged: Vec<AlertId>,
}

/// What [`Store::abandon_task`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Abandoned {
    /// The operator's transition (from `blocked` to `blocked`) whose reason
    /// says it was abandoned and why.
    pub transition: TransitionId,
    /// When, as stored in `tasks.abandoned_ms`.
    pub abandoned_ms: i64,
    /// The task's open alerts, acknowledged: nobody is asked to act on it.
    pub acknowledged: Vec<AlertId>,
    /// Its worktree folder as recorded (the caller removes it and then
    /// [`Store::clear_task_worktree`]); `None`: it had none.
    pub worktree: Option<String>,
    /// Its branch, kept.
    pub branch: Option<String>,
}

/// The start of the reason of an abandoning transition.
pub const ABANDONED_PREFIX: &str = "abandoned by the operator";

/// What [`Store::request_cancel`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelRequest {
    /// No process was running: the task's queued job (if any) was failed and
    /// the task blocked with reason `cancelled`, now.
    Ended {
        /// The job failed, if the task had one.
        job: Option<JobId>,
        /// The blocking transition.
        transition: crate::types::TransitionId,
        /// The `cancelled` alert, recorded acknowledged.
        alert: AlertId,
    },
    /// The job is running: the request is recorded on it, and the worker
    /// holding its lease ends its process tree and blocks the task.
    Requested {
        /// The running job.
        job: JobId,
        /// Who holds it.
        owner: LeaseOwner,
    },
}

/// A change to a repository for [`Store::update_repo`]: each `Some` replaces
/// that field; `Some(None)` clears an optional command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepoChange {
    /// The checkout's path.
    pub path: Option<String>,
    /// The staging command.
    pub staging_command: Option<String>,
    /// The deploy command (`Some(None)`: nothing to deploy).
    pub deploy_command: Option<Option<String>>,
    /// The health command (`Some(None)`: nothing to probe).
    pub health_command: Option<Option<String>>,
    /// The pass-through names (replaces the whole list).
    pub pass_env: Option<Vec<String>>,
    /// The ref new tasks start from (`Some(None)`: the checkout's `HEAD`).
    pub base_ref: Option<Option<String>>,
    /// The test command (`Some(None)`: none; the LLM tester serves).
    pub test_command: Option<Option<String>>,
    /// The suite's files (replaces the whole list; empty: unpinned).
    pub suite_paths: Option<Vec<String>>,
    /// The setup command (`Some(None)`: none).
    pub setup_command: Option<Option<String>>,
    /// Whether its suites may use the network.
    pub suite_network: Option<SuiteNetwork>,
    /// The extra writable folders (replaces the whole list).
    pub cache_dirs: Option<Vec<String>>,
    /// The test runner's mode for it, `on`, `shadow` or `off` (`Some(None)`:
    /// the configuration's again).
    pub test_runner_mode: Option<Option<String>>,
}

/// What [`Store::remove_repo`] removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovedRepo {
    /// The repository's id.
    pub repo: RepoId,
    /// Its finished tasks, removed with their jobs, runs, transitions, gate
    /// decisions and alerts.
    pub tasks: Vec<TaskId>,
}

/// Acknowledges every open alert of `task`; returns their ids.
fn acknowledge_task_alerts(
    tx: &Transaction<'_>,
    task: TaskId,
    now_ms: i64,
) -> Result<Vec<AlertId>> {
    let mut stmt = tx
        .prepare(
            "UPDATE alerts SET acknowledged_ms = ?2 \
             WHERE task_id = ?1 AND acknowledged_ms IS NULL RETURNING id",
        )
        .map_err(sql("acknowledge"))?;
    let mut ids = stmt
        .query_map(params![task, now_ms], |row| row.get(0))
        .map_err(sql("acknowledge"))?
        .collect::<rusqlite::Result<Vec<AlertId>>>()
        .map_err(sql("acknowledge"))?;
    ids.sort_unstable();
    Ok(ids)
}

impl Store {
    /// Records the suite version an operator approved for a worktree task
    /// (`orch task approve-suite`), in one transaction: the task's
    /// `suite_commit` and `suite_diff_sha256`, and a transition by the
    /// operator from the task's stage to the same stage (status and
    /// developer retries kept: nothing else moves) whose reason names both.
    /// The caller (the launcher) computes the commit and the digest with git.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] if there is no such task;
    /// [`StoreError::InvalidInput`] for a commit that is not a full object
    /// name, a digest that is not 64 lower-case hex digits, or a task that
    /// works in its repository's checkout (it has no base commit to pin the
    /// suite against). Nothing is written on an error.
    pub fn approve_suite(
        &self,
        task: TaskId,
        commit: &str,
        diff_sha256: &str,
        reason: &str,
    ) -> Result<TransitionId> {
        check_commit("suite commit", Some(commit))?;
        if !is_sha256_hex(diff_sha256) {
            return Err(StoreError::InvalidSha256 {
                found: diff_sha256.to_owned(),
            });
        }
        let now = self.now_ms();
        self.write("approve_suite", |tx| {
            let current = task_state(tx, task, "approve_suite")?;
            if current.isolation != TaskIsolation::Worktree {
                return Err(StoreError::InvalidInput {
                    what: "approve suite",
                    why: "the task works in its repository's checkout, not a git worktree; it has no base commit to pin a suite against",
                });
            }
            let transition = insert_transition(
                tx,
                &NewTransition {
                    task,
                    from_stage: current.stage,
                    to_stage: current.stage,
                    status: current.status,
                    developer_retries: current.developer_retries,
                    decisions: Vec::new(),
                },
                None,
                Some((OPERATOR, reason)),
                now,
            )?;
            tx.execute(
                "UPDATE tasks SET suite_commit = ?2, suite_diff_sha256 = ?3 WHERE id = ?1",
                params![task, commit, diff_sha256],
            )
            .map_err(sql("approve_suite"))?;
            Ok(transition)
        })
    }

    /// Puts a blocked or done task back to work, in one transaction: a
    /// transition by the operator (`actor` `operator`, `reason` as given)
    /// from where the task is to `job.stage`, status active, a fresh job
    /// (attempts, rescues and infra attempts at 0), and the task's open
    /// alerts and unended side effects ([`Store::begin_effect`])
    /// acknowledged: the operator's decision to run an interrupted deploy
    /// again. Its developer retries are kept, or reset to 0
    /// with `reset_retries`. The caller names a working stage and its role
    /// (the store knows no pipeline); `job.task` is ignored.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] if there is no such task;
    /// [`StoreError::TaskState`] if it is still active (running or queued);
    /// [`StoreError::InvalidInput`] if `job.max_attempts` is 0. Nothing is
    /// written on an error.
    pub fn retry_task(
        &self,
        task: TaskId,
        job: &NewJob,
        reason: &str,
        reset_retries: bool,
    ) -> Result<Retried> {
        let now = self.now_ms();
        self.write("retry_task", |tx| {
            let current = task_state(tx, task, "retry_task")?;
            if current.abandoned_ms.is_some() {
                return Err(StoreError::TaskState {
                    task,
                    state: "abandoned".to_owned(),
                    advice: "an operator closed it (orch task abandon), so it is not retried; its branch is kept: add a new task to take the work up again",
                });
            }
            if current.status == TaskStatus::Active {
                return Err(StoreError::TaskState {
                    task,
                    state: current.status.as_str().to_owned(),
                    advice: "it is still running or queued, so there is nothing to retry; wait for it to end, or stop it with `orch task cancel ID` first",
                });
            }
            let developer_retries = if reset_retries {
                0
            } else {
                current.developer_retries
            };
            let transition = insert_transition(
                tx,
                &NewTransition {
                    task,
                    from_stage: current.stage,
                    to_stage: job.stage,
                    status: TaskStatus::Active,
                    developer_retries,
                    decisions: Vec::new(),
                },
                None,
                Some((OPERATOR, reason)),
                now,
            )?;
            let job = insert_job(
                tx,
                &NewJob {
                    task,
                    ..job.clone()
                },
                now,
            )?;
            let acknowledged = acknowledge_task_alerts(tx, task, now)?;
            // The operator's decision covers a side effect whose outcome is
            // unknown (an interrupted deploy): the fresh job may run it again.
            crate::tables::effects::acknowledge_task_effects(tx, task, now)?;
            Ok(Retried {
                transition,
                job,
                from_stage: current.stage,
                developer_retries,
                acknowledged,
            })
        })
    }

    /// Closes a blocked task for good (`orch task abandon`), in one
    /// transaction: `tasks.abandoned_ms` set, a transition by the operator
    /// from `blocked` to `blocked` (status and developer retries kept) whose
    /// reason starts with [`ABANDONED_PREFIX`] and carries `reason`, and its
    /// open alerts acknowledged. The task stays in the history; a retry is
    /// refused from then on. Its worktree is the caller's to remove (the
    /// store starts no git): the folder and branch are returned.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] if there is no such task;
    /// [`StoreError::TaskState`] if it is active (cancel it first), done, or
    /// abandoned already. Nothing is written on an error.
    pub fn abandon_task(&self, task: TaskId, reason: &str) -> Result<Abandoned> {
        let now = self.now_ms();
        self.write("abandon_task", |tx| {
            let current = task_state(tx, task, "abandon_task")?;
            if current.abandoned_ms.is_some() {
                return Err(StoreError::TaskState {
                    task,
                    state: "abandoned".to_owned(),
                    advice: "it was abandoned already; nothing was changed",
                });
            }
            let advice = match current.status {
                TaskStatus::Blocked => None,
                TaskStatus::Active => Some(
                    "only a blocked task can be abandoned; stop it first with `orch task cancel ID`, then abandon it",
                ),
                TaskStatus::Done => Some(
                    "it reached done, so there is nothing to abandon; only a blocked task can be abandoned",
                ),
            };
            if let Some(advice) = advice {
                return Err(StoreError::TaskState {
                    task,
                    state: current.status.as_str().to_owned(),
                    advice,
                });
            }
            let text = format!("{ABANDONED_PREFIX}: {reason}");
            let transition = insert_transition(
                tx,
                &NewTransition {
                    task,
                    from_stage: current.stage,
                    to_stage: current.stage,
                    status: current.status,
                    developer_retries: current.developer_retries,
                    decisions: Vec::new(),
                },
                None,
                Some((OPERATOR, &text)),
                now,
            )?;
            tx.execute(
                "UPDATE tasks SET abandoned_ms = ?2 WHERE id = ?1",
                params![task, now],
            )
            .map_err(sql("abandon_task"))?;
            let acknowledged = acknowledge_task_alerts(tx, task, now)?;
            Ok(Abandoned {
                transition,
                abandoned_ms: now,
                acknowledged,
                worktree: current.worktree,
                branch: current.branch,
            })
        })
    }

    /// Asks for `task`'s work to stop, in one transaction. If its job is
    /// running, the request is recorded on the job (`cancel_requested_ms`)
    /// for the worker holding the lease, which ends the process tree and
    /// blocks the task ([`Store::end_cancelled`]); asking again keeps the
    /// first time. Otherwise its queued job is failed and the task blocked
    /// now: a transition to `blocked` by the operator with reason
    /// `cancelled`, and a `cancelled` alert recorded acknowledged.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] if there is no such task;
    /// [`StoreError::TaskState`] if it has ended (done or blocked). Nothing
    /// is written on an error.
    pub fn request_cancel(&self, task: TaskId) -> Result<CancelRequest> {
        let now = self.now_ms();
        self.write("request_cancel", |tx| {
            let current = task_state(tx, task, "request_cancel")?;
            if current.status != TaskStatus::Active {
                return Err(StoreError::TaskState {
                    task,
                    state: current.status.as_str().to_owned(),
                    advice: "it has ended already, so there is nothing to cancel; `orch task retry ID` runs it again",
                });
            }
            let jobs = {
                let mut stmt = tx
                    .prepare(&format!(
                        "SELECT {JOB_COLUMNS} FROM jobs \
                         WHERE task_id = ?1 AND state IN ('queued', 'running') ORDER BY id"
                    ))
                    .map_err(sql("request_cancel"))?;
                stmt.query_map([task], job_from_row)
                    .map_err(sql("request_cancel"))?
                    .collect::<rusqlite::Result<Vec<Job>>>()
                    .map_err(sql("request_cancel"))?
            };
            if let Some(running) = jobs.iter().find(|j| j.state == JobState::Running) {
                tx.execute(
                    "UPDATE jobs SET cancel_requested_ms = coalesce(cancel_requested_ms, ?2) \
                     WHERE id = ?1",
                    params![running.id, now],
                )
                .map_err(sql("request_cancel"))?;
                let owner = running
                    .lease
                    .as_ref()
                    .map(|l| l.owner.clone())
                    .unwrap_or_else(|| LeaseOwner::new("", ""));
                return Ok(CancelRequest::Requested {
                    job: running.id,
                    owner,
                });
            }
            for job in &jobs {
                tx.execute(
                    "UPDATE jobs SET state = 'failed', last_error = ?2, \
                     cancel_requested_ms = coalesce(cancel_requested_ms, ?3), updated_ms = ?3 \
                     WHERE id = ?1 AND state = 'queued'",
                    params![job.id, CANCELLED_ERROR, now],
                )
                .map_err(sql("request_cancel"))?;
            }
            let job = jobs.first().map(|j| j.id);
            let transition = insert_transition(
                tx,
                &cancel_transition(&current),
                job,
                Some((OPERATOR, CANCELLED)),
                now,
            )?;
            let alert = cancelled_alert(tx, &current, job, CancelledJob::Queued, now)?;
            Ok(CancelRequest::Ended {
                job,
                transition,
                alert,
            })
        })
    }

    /// Whether an operator asked to cancel job `job` (what a worker's
    /// heartbeat checks; one read by primary key).
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] if there is no such job.
    pub fn cancel_requested(&self, job: JobId) -> Result<bool> {
        self.conn
            .prepare_cached("SELECT cancel_requested_ms IS NOT NULL FROM jobs WHERE id = ?1")
            .map_err(sql("cancel_requested"))?
            .query_row([job], |row| row.get(0))
            .optional()
            .map_err(sql("cancel_requested"))?
            .ok_or(StoreError::NotFound {
                table: "jobs",
                id: job.get(),
            })
    }

    /// Ends a running job an operator cancelled, in one transaction fenced
    /// by its lease: the job `failed`, its task blocked from where it is
    /// (transition by the operator, reason `cancelled`), the run's
    /// `agent_runs` row when given, and a `cancelled` alert recorded
    /// acknowledged.
    ///
    /// # Errors
    ///
    /// [`StoreError::LeaseLost`] if the lease no longer holds the job;
    /// [`StoreError::InvalidInput`] if the run is not the job's;
    /// [`StoreError::Sqlite`] if SQLite fails. Nothing is written then.
    pub fn end_cancelled(&self, lease: Lease, run: Option<&NewAgentRun>) -> Result<Advanced> {
        let now = self.now_ms();
        self.write("end_cancelled", |tx| {
            let task = end_job(
                tx,
                "end_cancelled",
                lease,
                JobState::Failed,
                Some(CANCELLED_ERROR),
                now,
                Cancel::IsThisEnd,
            )?;
            let current = task_state(tx, task, "end_cancelled")?;
            let transition = if current.status == TaskStatus::Active {
                Some(insert_transition(
                    tx,
                    &cancel_transition(&current),
                    Some(lease.job),
                    Some((OPERATOR, CANCELLED)),
                    now,
                )?)
            } else {
                None
            };
            let run = match run {
                Some(run) => {
                    check_run(run, lease, task)?;
                    Some(insert_agent_run(tx, run)?)
                }
                None => None,
            };
            let alert = cancelled_alert(tx, &current, Some(lease.job), CancelledJob::Running, now)?;
            Ok(Advanced {
                transition,
                next_job: None,
                run,
                alert: Some(alert),
            })
        })
    }

    /// The jobs of `task`, oldest first.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] if SQLite fails.
    pub fn task_jobs(&self, task: TaskId) -> Result<Vec<Job>> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {JOB_COLUMNS} FROM jobs WHERE task_id = ?1 ORDER BY id"
            ))
            .map_err(sql("task_jobs"))?;
        stmt.query_map([task], job_from_row)
            .map_err(sql("task_jobs"))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sql("task_jobs"))
    }

    /// Up to `limit` tasks, newest first, with the given status and on the
    /// given repository when those are given.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] if SQLite fails.
    pub fn tasks_where(
        &self,
        status: Option<TaskStatus>,
        repo: Option<RepoId>,
        limit: u32,
    ) -> Result<Vec<Task>> {
        self.tasks_where_abandoned(status, None, repo, limit)
    }

    /// As [`Store::tasks_where`], also filtered on abandonment: `Some(true)`
    /// only the tasks an operator abandoned, `Some(false)` only the others
    /// (`task list --status blocked` leaves abandoned tasks out).
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] if SQLite fails.
    pub fn tasks_where_abandoned(
        &self,
        status: Option<TaskStatus>,
        abandoned: Option<bool>,
        repo: Option<RepoId>,
        limit: u32,
    ) -> Result<Vec<Task>> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {TASK_COLUMNS} FROM tasks \
                 WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR repo_id = ?2) \
                 AND (?4 IS NULL OR (abandoned_ms IS NOT NULL) = ?4) \
                 ORDER BY id DESC LIMIT ?3"
            ))
            .map_err(sql("tasks_where_abandoned"))?;
        stmt.query_map(params![status, repo, limit, abandoned], task_from_row)
            .map_err(sql("tasks_where_abandoned"))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sql("tasks_where_abandoned"))
    }

    /// Up to `limit` alerts, newest first: the open ones, or every one with
    /// `include_acknowledged`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] if SQLite fails.
    pub fn alerts(&self, include_acknowledged: bool, limit: u32) -> Result<Vec<Alert>> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {ALERT_COLUMNS} FROM alerts WHERE ?1 OR acknowledged_ms IS NULL \
                 ORDER BY id DESC LIMIT ?2"
            ))
            .map_err(sql("alerts"))?;
        stmt.query_map(params![include_acknowledged, limit], alert_from_row)
            .map_err(sql("alerts"))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sql("alerts"))
    }

    /// Acknowledges every open alert; returns their ids, oldest first.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] if SQLite fails.
    pub fn acknowledge_all_alerts(&self) -> Result<Vec<AlertId>> {
        let now = self.now_ms();
        self.write("acknowledge_all_alerts", |tx| {
            let mut stmt = tx
                .prepare(
                    "UPDATE alerts SET acknowledged_ms = ?1 WHERE acknowledged_ms IS NULL \
                     RETURNING id",
                )
                .map_err(sql("acknowledge_all_alerts"))?;
            let mut ids = stmt
                .query_map([now], |row| row.get(0))
                .map_err(sql("acknowledge_all_alerts"))?
                .collect::<rusqlite::Result<Vec<AlertId>>>()
                .map_err(sql("acknowledge_all_alerts"))?;
            ids.sort_unstable();
            Ok(ids)
        })
    }

    /// Changes the repository named `name`; returns it as it now is.
    ///
    /// # Errors
    ///
    /// [`StoreError::UnknownRepo`] if there is none; [`StoreError::InvalidInput`]
    /// as [`Store::add_repo`] for a blank command or a bad `pass_env` name;
    /// [`StoreError::Sqlite`] for an empty path or staging command. Nothing is
    /// written on an error.
    pub fn update_repo(&self, name: &str, change: &RepoChange) -> Result<Repo> {
        self.write("update_repo", |tx| {
            let repo = repo_named(tx, name)?;
            let merged = NewRepo {
                name: repo.name.clone(),
                path: change.path.clone().unwrap_or(repo.path),
                staging_command: change
                    .staging_command
                    .clone()
                    .unwrap_or(repo.staging_command),
                deploy_command: change.deploy_command.clone().unwrap_or(repo.deploy_command),
                health_command: change.health_command.clone().unwrap_or(repo.health_command),
                pass_env: change.pass_env.clone().unwrap_or(repo.pass_env),
                base_ref: change.base_ref.clone().unwrap_or(repo.base_ref),
                test_command: change.test_command.clone().unwrap_or(repo.test_command),
                suite_paths: change.suite_paths.clone().unwrap_or(repo.suite_paths),
                setup_command: change.setup_command.clone().unwrap_or(repo.setup_command),
                suite_network: change.suite_network.unwrap_or(repo.suite_network),
                cache_dirs: change.cache_dirs.clone().unwrap_or(repo.cache_dirs),
            };
            let pass_env = validate_repo(&merged)?;
            if merged.staging_command.trim().is_empty() {
                return Err(StoreError::InvalidInput {
                    what: "staging_command",
                    why: "it is blank; give the command that runs the repository's staging suite",
                });
            }
            tx.execute(
                "UPDATE repos SET path = ?2, staging_command = ?3, deploy_command = ?4, \
                 health_command = ?5, pass_env = ?6, base_ref = ?7, test_command = ?8, \
                 suite_paths = ?9, setup_command = ?10, suite_network = ?11, cache_dirs = ?12 \
                 WHERE id = ?1",
                params![
                    repo.id,
                    merged.path,
                    merged.staging_command,
                    merged.deploy_command,
                    merged.health_command,
                    pass_env,
                    merged.base_ref,
                    merged.test_command,
                    merged.suite_paths.join(","),
                    merged.setup_command,
                    merged.suite_network.as_str(),
                    merged.cache_dirs.join(",")
                ],
            )
            .map_err(sql("update_repo"))?;
            if let Some(mode) = &change.test_runner_mode {
                if mode
                    .as_deref()
                    .is_some_and(|m| !matches!(m, "on" | "shadow" | "off"))
                {
                    return Err(StoreError::InvalidInput {
                        what: "test_runner_mode",
                        why: "it is on, shadow or off",
                    });
                }
                tx.execute(
                    "UPDATE repos SET test_runner_mode = ?2 WHERE id = ?1",
                    params![repo.id, mode],
                )
                .map_err(sql("update_repo"))?;
            }
            repo_named(tx, name)
        })
    }

    /// Removes the repository named `name` with the history of its finished
    /// tasks (their jobs, runs, transitions, gate decisions and alerts), in
    /// one transaction; refused while any task on it is active.
    ///
    /// # Errors
    ///
    /// [`StoreError::UnknownRepo`] if there is none; [`StoreError::RepoInUse`]
    /// if a task on it is active. Nothing is written on an error.
    pub fn remove_repo(&self, name: &str) -> Result<RemovedRepo> {
        self.remove_repo_with(name, false)
    }

    /// [`Store::remove_repo`]; with `blocked_too`, blocked tasks (waiting for
    /// an operator) go with it as well; an active task still refuses it.
    ///
    /// # Errors
    ///
    /// As [`Store::remove_repo`].
    pub fn remove_repo_with(&self, name: &str, blocked_too: bool) -> Result<RemovedRepo> {
        self.write("remove_repo", |tx| {
            let repo = repo_named(tx, name)?;
            // An abandoned task (blocked, closed by an operator) is finished:
            // it waits for nobody.
            let tasks: Vec<(TaskId, TaskStatus)> = {
                let mut stmt = tx
                    .prepare(
                        "SELECT id, status FROM tasks WHERE repo_id = ?1 \
                         AND abandoned_ms IS NULL ORDER BY id",
                    )
                    .map_err(sql("remove_repo"))?;
                stmt.query_map([repo.id], |row| Ok((row.get(0)?, row.get(1)?)))
                    .map_err(sql("remove_repo"))?
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .map_err(sql("remove_repo"))?
            };
            // A blocked task waits for an operator (`orch task retry`): it is
            // unfinished too, unless the caller says it may go.
            let active: Vec<String> = tasks
                .iter()
                .filter(|(_, status)| {
                    *status == TaskStatus::Active
                        || (*status == TaskStatus::Blocked && !blocked_too)
                })
                .map(|(id, _)| id.to_string())
                .collect();
            if !active.is_empty() {
                return Err(StoreError::RepoInUse {
                    name: repo.name,
                    active: active.len(),
                    ids: active.join(", "),
                });
            }
            const OF_TASKS: &str = "(SELECT id FROM tasks WHERE repo_id = ?1)";
            for statement in [
                format!("DELETE FROM effects WHERE task_id IN {OF_TASKS}"),
                format!("DELETE FROM shadow_verdicts WHERE task_id IN {OF_TASKS}"),
                format!(
                    "DELETE FROM gate_decisions WHERE transition_id IN \
                     (SELECT id FROM transitions WHERE task_id IN {OF_TASKS})"
                ),
                format!("DELETE FROM transitions WHERE task_id IN {OF_TASKS}"),
                format!("DELETE FROM agent_runs WHERE task_id IN {OF_TASKS}"),
                format!(
                    "DELETE FROM alerts WHERE task_id IN {OF_TASKS} OR job_id IN \
                     (SELECT id FROM jobs WHERE task_id IN {OF_TASKS})"
                ),
                format!("DELETE FROM jobs WHERE task_id IN {OF_TASKS}"),
                "DELETE FROM tasks WHERE repo_id = ?1".to_owned(),
                "DELETE FROM repos WHERE id = ?1".to_owned(),
            ] {
                tx.execute(&statement, [repo.id])
                    .map_err(sql("remove_repo"))?;
            }
            Ok(RemovedRepo {
                repo: repo.id,
                tasks: tasks.into_iter().map(|(id, _)| id).collect(),
            })
        })
    }
}

/// The repository named `name`, inside `tx`.
fn repo_named(tx: &Transaction<'_>, name: &str) -> Result<Repo> {
    tx.query_row(
        &format!("SELECT {REPO_COLUMNS} FROM repos WHERE name = ?1"),
        [name],
        repo_from_row,
    )
    .optional()
    .map_err(sql("repo"))?
    .ok_or_else(|| StoreError::UnknownRepo {
        name: name.to_owned(),
    })
}
