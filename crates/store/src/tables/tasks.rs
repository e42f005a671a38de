//! The `tasks` table: creating tasks, their worktree, reading them and their cost.

use orch_pipeline::Stage;
use rusqlite::{OptionalExtension, Transaction, params};

use crate::checks::check_commit;
use crate::error::{Result, StoreError, sql};
use crate::records::jobs::NewJob;
use crate::records::tasks::{NewTask, Task};
use crate::rows::{TASK_COLUMNS, task_from_row};
use crate::store::Store;
use crate::tables::jobs::insert_job;
use crate::types::{JobId, RepoId, TaskId, TaskIsolation, TaskStatus};

impl Store {
    /// Creates an active task at `first.stage` and enqueues its first job,
    /// in one transaction: no task exists without a job to move it. This is
    /// how callers create tasks.
    ///
    /// `first.task` is ignored: the job is for the task created here. Returns
    /// the new task's id and its first job's id.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidInput`] if `first.max_attempts` is 0;
    /// [`StoreError::Sqlite`] if the repository does not exist or SQLite
    /// fails. Nothing is written on an error.
    pub fn create_task(
        &self,
        repo: RepoId,
        title: &str,
        first: &NewJob,
    ) -> Result<(TaskId, JobId)> {
        self.create_task_with(repo, &NewTask::in_checkout(title), first)
    }

    /// [`Store::create_task`] for a task with its isolation, base commit and
    /// keep flag given ([`NewTask`]).
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidInput`] if `first.max_attempts` is 0, or a
    /// worktree task has no base commit or one that is not a full object
    /// name; [`StoreError::Sqlite`] if the repository does not exist or
    /// SQLite fails. Nothing is written on an error.
    pub fn create_task_with(
        &self,
        repo: RepoId,
        task: &NewTask,
        first: &NewJob,
    ) -> Result<(TaskId, JobId)> {
        if task.isolation == TaskIsolation::Worktree && task.base_commit.is_none() {
            return Err(StoreError::InvalidInput {
                what: "base_commit",
                why: "a worktree task starts from a commit; resolve the base ref first",
            });
        }
        check_commit("base_commit", task.base_commit.as_deref())?;
        let now = self.now_ms();
        self.write("create_task", |tx| {
            let id = insert_task(tx, repo, &task.title, first.stage, now)?;
            tx.execute(
                "UPDATE tasks SET isolation = ?2, base_commit = ?3, keep_worktree = ?4 \
                 WHERE id = ?1",
                params![id, task.isolation, task.base_commit, task.keep_worktree],
            )
            .map_err(sql("create_task"))?;
            let task = id;
            let job = insert_job(
                tx,
                &NewJob {
                    task,
                    ..first.clone()
                },
                now,
            )?;
            Ok((task, job))
        })
    }

    /// Adds an active task at `stage` without a job: for tests and fixtures.
    /// Callers use [`Store::create_task`], which enqueues the first job in
    /// the same transaction.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] if the repository does not exist or SQLite fails.
    pub fn add_task(&self, repo: RepoId, title: &str, stage: Stage) -> Result<TaskId> {
        let now = self.now_ms();
        self.write("add_task", |tx| insert_task(tx, repo, title, stage, now))
    }

    /// Names the branch and worktree folder of `task` (a worktree task), as
    /// its first job decides them and before it creates them, so that a
    /// crash in between finds them again.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidInput`] if the task is not a worktree task or
    /// already has another branch; [`StoreError::NotFound`] if there is no
    /// such task; [`StoreError::Sqlite`] if SQLite fails.
    pub fn set_task_worktree(&self, task: TaskId, branch: &str, worktree: &str) -> Result<()> {
        self.write("set_task_worktree", |tx| {
            let found: Option<(TaskIsolation, Option<String>)> = tx
                .query_row(
                    "SELECT isolation, branch FROM tasks WHERE id = ?1",
                    [task],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()
                .map_err(sql("set_task_worktree"))?;
            match found {
                None => Err(StoreError::NotFound {
                    table: "tasks",
                    id: task.get(),
                }),
                Some((TaskIsolation::Checkout, _)) => Err(StoreError::InvalidInput {
                    what: "task worktree",
                    why: "the task works in the repository's checkout; it has no worktree",
                }),
                Some((TaskIsolation::Worktree, Some(other))) if other != branch => {
                    Err(StoreError::InvalidInput {
                        what: "task branch",
                        why: "the task's branch is named already; a task keeps its branch",
                    })
                }
                Some((TaskIsolation::Worktree, _)) => {
                    tx.execute(
                        "UPDATE tasks SET branch = ?2, worktree = ?3 WHERE id = ?1",
                        params![task, branch, worktree],
                    )
                    .map_err(sql("set_task_worktree"))?;
                    Ok(())
                }
            }
        })
    }

    /// Forgets the worktree folder of `task` (it was removed); its branch and
    /// commits stay recorded.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] if SQLite fails.
    pub fn clear_task_worktree(&self, task: TaskId) -> Result<()> {
        self.write("clear_task_worktree", |tx| {
            tx.execute("UPDATE tasks SET worktree = NULL WHERE id = ?1", [task])
                .map_err(sql("clear_task_worktree"))?;
            Ok(())
        })
    }

    /// The task with id `id`.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] if there is none.
    pub fn task(&self, id: TaskId) -> Result<Task> {
        self.conn
            .query_row(
                &format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?1"),
                [id],
                task_from_row,
            )
            .optional()
            .map_err(sql("task"))?
            .ok_or(StoreError::NotFound {
                table: "tasks",
                id: id.get(),
            })
    }

    /// Up to `limit` tasks, newest (highest id) first.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] if SQLite fails.
    pub fn tasks(&self, limit: u32) -> Result<Vec<Task>> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {TASK_COLUMNS} FROM tasks ORDER BY id DESC LIMIT ?1"
            ))
            .map_err(sql("tasks"))?;
        stmt.query_map([limit], task_from_row)
            .map_err(sql("tasks"))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sql("tasks"))
    }

    /// What `task` has cost so far in US dollars: the sum of its
    /// `agent_runs.cost_usd`, runs without a cost counting as 0. It is read
    /// from the recorded runs every time, so no restart or re-claim can reset
    /// it.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] if the task does not exist;
    /// [`StoreError::Sqlite`] if SQLite fails.
    pub fn task_cost_usd(&self, task: TaskId) -> Result<f64> {
        self.conn
            .query_row(
                "SELECT (SELECT total(cost_usd) FROM agent_runs WHERE task_id = tasks.id) \
                 FROM tasks WHERE id = ?1",
                [task],
                |row| row.get(0),
            )
            .optional()
            .map_err(sql("task_cost_usd"))?
            .ok_or(StoreError::NotFound {
                table: "tasks",
                id: task.get(),
            })
    }
}

/// Inserts an active task at `stage`.
fn insert_task(
    tx: &Transaction<'_>,
    repo: RepoId,
    title: &str,
    stage: Stage,
    now_ms: i64,
) -> Result<TaskId> {
    tx.execute(
        "INSERT INTO tasks (repo_id, title, stage, status, created_ms, updated_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![repo, title, stage.as_str(), TaskStatus::Active, now_ms],
    )
    .map_err(sql("add_task"))?;
    Ok(TaskId::new(tx.last_insert_rowid()))
}

/// The task's stage, status and developer retries, or `NotFound`.
pub(crate) fn task_state(tx: &Transaction<'_>, task: TaskId, op: &'static str) -> Result<Task> {
    tx.query_row(
        &format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?1"),
        [task],
        task_from_row,
    )
    .optional()
    .map_err(sql(op))?
    .ok_or(StoreError::NotFound {
        table: "tasks",
        id: task.get(),
    })
}
