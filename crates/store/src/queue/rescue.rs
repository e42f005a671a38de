//! The rescue of running jobs whose worker is gone (its lease expired, or
//! its boot died): back to `queued`, or failed as poison after too many
//! rescues, which blocks the task and raises an alert.

use orch_pipeline::Stage;
use rusqlite::{Transaction, params};

use crate::error::{Result, sql};
use crate::queue::{CLEAR_LEASE, POISON_JOB_ALERT, Rescued};
use crate::records::alerts::NewAlert;
use crate::records::transitions::NewTransition;
use crate::rows::name_at;
use crate::store::Store;
use crate::tables::alerts::insert_alert;
use crate::tables::transitions::insert_transition;
use crate::types::{Actor, AlertId, JobId, JobState, TaskId, TaskStatus};

/// A job a rescue changed, as the rescue's `RETURNING` left it.
struct RescuedJob {
    job: JobId,
    task: TaskId,
    stage: String,
    role: String,
    last_error: String,
}

/// Blocks a poison job's task if it is still active, with a transition from
/// its current stage to `blocked` caused by the job, and raises a
/// `poison_job` alert. Returns the task if it was blocked, and the alert.
fn block_poisoned(
    tx: &Transaction<'_>,
    poisoned: &RescuedJob,
    now_ms: i64,
) -> Result<(Option<TaskId>, AlertId)> {
    let RescuedJob {
        job,
        task,
        stage,
        role,
        last_error,
    } = poisoned;
    let (task_stage, status, developer_retries): (Stage, TaskStatus, u32) = tx
        .query_row(
            "SELECT stage, status, developer_retries FROM tasks WHERE id = ?1",
            [task],
            |row| {
                Ok((
                    name_at(row, 0, "tasks", "stage", || task.to_string())?,
                    row.get(1)?,
                    row.get(2)?,
                ))
            },
        )
        .map_err(sql("rescue"))?;
    let blocked = status == TaskStatus::Active;
    let message = if blocked {
        insert_transition(
            tx,
            &NewTransition {
                task: *task,
                from_stage: task_stage,
                to_stage: Stage::Blocked,
                status: TaskStatus::Blocked,
                developer_retries,
                decisions: Vec::new(),
            },
            Some(*job),
            Some((Actor::Rescue, "poison")),
            now_ms,
        )?;
        format!(
            "task {task} blocked at stage {task_stage}: job {job} ({role} at stage {stage}) \
             failed as poison, every attempt lost its worker; last error: {last_error}. \
             Find out why its runs never finish (a crash, or a lease that always expires), \
             fix that, then run `orch task retry {task}`."
        )
    } else {
        format!(
            "job {job} ({role} at stage {stage}) of task {task} failed as poison, every \
             attempt lost its worker; the task was already {status}, so it was left as it is; \
             last error: {last_error}. Find out why its runs never finish, then run \
             `orch task retry {task}` if it should run again."
        )
    };
    let alert = insert_alert(
        tx,
        &NewAlert {
            kind: POISON_JOB_ALERT,
            message,
            task: Some(*task),
            job: Some(*job),
        },
        now_ms,
    )?;
    Ok((blocked.then_some(*task), alert))
}

impl Store {
    /// Rescues every running job whose lease has expired: back to `queued`
    /// (due now), its `rescues` one more, or to `failed` once its rescues
    /// reach the poison threshold (`StoreOptions::poison_rescues`, capped by
    /// the job's `max_attempts`). A release never counts, so a job that kills
    /// its worker every time ends as poison instead of looping forever, and
    /// one stopped gracefully never does.
    ///
    /// In the same transaction, for each job failed as poison: its task, if
    /// still `active`, moves to stage and status `blocked` (a transition from
    /// its current stage, caused by the job, with no gate decisions), and a
    /// [`POISON_JOB_ALERT`] alert names the task, the job and its last error.
    /// A job an operator asked to cancel is never queued again: it is failed
    /// and its task blocked with reason `cancelled` (actor `operator`) and
    /// the acknowledged `cancelled` alert, whatever its rescue count.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`](crate::StoreError::Sqlite) if SQLite fails.
    pub fn rescue_expired(&self) -> Result<Rescued> {
        let now = self.now_ms();
        self.rescue("lease_expires_ms <= ?3", "its lease expired", &now)
    }

    /// The single-process variant of [`Store::rescue_dead_boots`]: rescues
    /// every running job leased by a boot other than `current_boot_id`,
    /// whatever its expiry and whether or not that boot is alive, with the
    /// same outcome as [`Store::rescue_expired`].
    ///
    /// Only for a database that exactly one orch process uses (tests,
    /// single-process tools): there a lease from another boot belongs to a
    /// process that is gone. With several processes on one database it would
    /// take the live jobs of the others; use [`Store::rescue_dead_boots`],
    /// which asks the kernel whether each boot is alive.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`](crate::StoreError::Sqlite) if SQLite fails.
    pub fn rescue_other_boots(&self, current_boot_id: &str) -> Result<Rescued> {
        self.rescue("lease_boot_id <> ?3", "its boot is gone", &current_boot_id)
    }

    /// The shared rescue: `condition` selects among running jobs, with `?3`
    /// bound to `condition_arg`; `why` goes into `last_error`.
    pub(crate) fn rescue(
        &self,
        condition: &str,
        why: &str,
        condition_arg: &dyn rusqlite::ToSql,
    ) -> Result<Rescued> {
        let now = self.now_ms();
        // Every expression of SET reads the row as it was: `rescues + 1` is
        // this rescue's count. `?4` is the poison threshold, capped by the
        // job's own max_attempts.
        let query = format!(
            "UPDATE jobs SET \
                 state = CASE WHEN cancel_requested_ms IS NOT NULL THEN 'failed' \
                     WHEN rescues + 1 >= min(max_attempts, ?4) THEN 'failed' \
                     ELSE 'queued' END, \
                 rescues = rescues + 1, \
                 last_error = 'rescued: ' || ?2 || ' (worker ' || lease_owner || ', boot ' \
                     || lease_boot_id || ', lease until ' || lease_expires_ms || ', rescue ' \
                     || (rescues + 1) || ' of ' || min(max_attempts, ?4) || ')' \
                     || CASE WHEN cancel_requested_ms IS NOT NULL \
                        THEN '; cancelled by the operator (orch task cancel), not run again' \
                        WHEN rescues + 1 >= min(max_attempts, ?4) \
                        THEN '; crash rescues spent, failed as poison' ELSE '' END, \
                 run_after_ms = ?1, {CLEAR_LEASE}, updated_ms = ?1 \
             WHERE state = 'running' AND {condition} \
             RETURNING id, state, task_id, stage, role, last_error, \
                 cancel_requested_ms IS NOT NULL"
        );
        let threshold = self.poison_rescues;
        self.write("rescue", |tx| {
            let mut rows = {
                let mut stmt = tx.prepare(&query).map_err(sql("rescue"))?;
                stmt.query_map(params![now, why, condition_arg, threshold], |row| {
                    Ok((
                        (row.get::<_, JobState>(1)?, row.get::<_, bool>(6)?),
                        RescuedJob {
                            job: row.get(0)?,
                            task: row.get(2)?,
                            stage: row.get(3)?,
                            role: row.get(4)?,
                            last_error: row.get::<_, Option<String>>(5)?.unwrap_or_default(),
                        },
                    ))
                })
                .map_err(sql("rescue"))?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(sql("rescue"))?
            };
            rows.sort_unstable_by_key(|(_, p)| p.job);
            let mut rescued = Rescued::default();
            for ((state, cancelled), job) in rows {
                if state != JobState::Failed {
                    rescued.requeued.push(job.job);
                    continue;
                }
                rescued.failed.push(job.job);
                let (blocked, alert) = if cancelled {
                    // The operator's cancel is not lost with the worker: the
                    // job is not run again, and the task ends cancelled.
                    crate::cancel::block_cancelled(tx, job.task, job.job, now)?
                } else {
                    block_poisoned(tx, &job, now)?
                };
                rescued.blocked.extend(blocked);
                rescued.alerts.push(alert);
            }
            Ok(rescued)
        })
    }
}
