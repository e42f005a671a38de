//! The `jobs` table's row-level writes: inserting a job, and why a fenced
//! write changed nothing. The queue's state machine over these rows is
//! `crate::queue`.

use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};

use crate::error::{Result, StoreError, sql};
use crate::records::jobs::{Job, NewJob};
use crate::rows::{JOB_COLUMNS, job_from_row};
use crate::store::Store;
use crate::types::{JobId, JobState, Lease};

pub(crate) fn insert_job(tx: &Transaction<'_>, job: &NewJob, now_ms: i64) -> Result<JobId> {
    if job.max_attempts == 0 {
        return Err(StoreError::InvalidInput {
            what: "max_attempts",
            why: "a job needs at least one attempt",
        });
    }
    tx.execute(
        "INSERT INTO jobs (task_id, stage, role, state, max_attempts, run_after_ms, created_ms, updated_ms) \
         VALUES (?1, ?2, ?3, 'queued', ?4, ?5, ?6, ?6)",
        params![
            job.task,
            job.stage.as_str(),
            job.role.as_str(),
            job.max_attempts,
            job.not_before_ms.unwrap_or(now_ms),
            now_ms
        ],
    )
    .map_err(sql("enqueue"))?;
    Ok(JobId::new(tx.last_insert_rowid()))
}

/// Why a fenced write of `lease` changed no row: the job is still the
/// lease's but an operator asked to cancel it, or the lease is lost.
pub(crate) fn refusal(tx: &Transaction<'_>, op: &'static str, lease: Lease) -> Result<StoreError> {
    let cancelled: Option<bool> = tx
        .query_row(
            "SELECT cancel_requested_ms IS NOT NULL FROM jobs \
             WHERE id = ?1 AND lease_token = ?2 AND lease_boot_id = ?3 AND state = 'running'",
            params![lease.job, lease.token.get(), lease.boot_id()],
            |row| row.get(0),
        )
        .optional()
        .map_err(sql(op))?;
    Ok(if cancelled == Some(true) {
        StoreError::CancelRequested { job: lease.job }
    } else {
        StoreError::LeaseLost {
            job: lease.job,
            token: lease.token,
        }
    })
}

impl Store {
    /// The job with id `id`.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] if there is none.
    pub fn job(&self, id: JobId) -> Result<Job> {
        self.conn
            .query_row(
                &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"),
                [id],
                job_from_row,
            )
            .optional()
            .map_err(sql("job"))?
            .ok_or(StoreError::NotFound {
                table: "jobs",
                id: id.get(),
            })
    }

    /// How many jobs are in each state, for every state in [`JobState::ALL`]
    /// order (zero counts included).
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] if SQLite fails.
    pub fn job_counts(&self) -> Result<Vec<(JobState, u64)>> {
        // One read transaction: `done` is derived from the other counts.
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Deferred)
            .map_err(sql("job_counts"))?;
        let counts = crate::snapshot::job_counts(&tx, "job_counts")?;
        tx.commit().map_err(sql("job_counts"))?;
        Ok(counts)
    }

    /// Up to `limit` jobs in `state`, oldest due first.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] if SQLite fails.
    pub fn jobs_in_state(&self, state: JobState, limit: u32) -> Result<Vec<Job>> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {JOB_COLUMNS} FROM jobs WHERE state = ?1 \
                 ORDER BY run_after_ms, id LIMIT ?2"
            ))
            .map_err(sql("jobs_in_state"))?;
        stmt.query_map(params![state, limit], job_from_row)
            .map_err(sql("jobs_in_state"))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sql("jobs_in_state"))
    }
}
