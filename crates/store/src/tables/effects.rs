//! Side effects outside orch, at most once: a job's run records that it
//! starts one (the deploy command, the post-deploy probes) before the
//! command runs, in a transaction fenced by its lease; the job's end marks
//! it ended. A later claim of the same job that finds an at-most-once
//! effect started and never ended must not run the command again: the
//! outcome is unknown (the worker died, or its end could not be written),
//! and only an operator can find out what happened and decide
//! (`orch task retry`, which acknowledges it).

use rusqlite::{OptionalExtension, Transaction, params};

use crate::checks::check_commit;
use crate::error::{Result, StoreError, sql};
use crate::records::effects::{Effect, NewEffect};
use crate::rows::{EFFECT_COLUMNS, effect_from_row};
use crate::store::Store;
use crate::tables::jobs::refusal;
use crate::types::{Lease, TaskId};

/// Marks ended the side effects the claim `lease` started: its end is being
/// written in `tx`, so their outcome is in the job's run and artifact.
pub(crate) fn end_effects(tx: &Transaction<'_>, lease: Lease, now_ms: i64) -> Result<()> {
    tx.execute(
        "UPDATE effects SET ended_ms = ?3 \
         WHERE job_id = ?1 AND lease_token = ?2 AND ended_ms IS NULL",
        params![lease.job, lease.token.get(), now_ms],
    )
    .map_err(sql("end effects"))?;
    Ok(())
}

/// Acknowledges every unended, unacknowledged side effect of `task`'s jobs
/// (an operator's retry decided about them).
pub(crate) fn acknowledge_task_effects(
    tx: &Transaction<'_>,
    task: TaskId,
    now_ms: i64,
) -> Result<()> {
    tx.execute(
        "UPDATE effects SET acknowledged_ms = ?2 \
         WHERE task_id = ?1 AND ended_ms IS NULL AND acknowledged_ms IS NULL",
        params![task, now_ms],
    )
    .map_err(sql("acknowledge effects"))?;
    Ok(())
}

impl Store {
    /// Records, fenced by `lease`, that the job's run starts the side effect
    /// `effect` now; call it just before the command runs and run the
    /// command only when it succeeds. Written only while the lease's token
    /// holds the job, its lease has not expired (a rescue may take an
    /// expired one at any moment) and no operator asked to cancel it.
    /// Returns the effect's id.
    ///
    /// # Errors
    ///
    /// [`StoreError::LeaseLost`] when the lease no longer holds the job or
    /// has expired; [`StoreError::CancelRequested`] when an operator asked to
    /// cancel it; [`StoreError::InvalidInput`] for an empty kind or a commit
    /// that is not a full object name; [`StoreError::Sqlite`] when SQLite
    /// fails (a database busy past the busy timeout). Nothing is written on
    /// an error, and the command must not run.
    pub fn begin_effect(&self, lease: Lease, effect: &NewEffect) -> Result<i64> {
        if effect.kind.is_empty() {
            return Err(StoreError::InvalidInput {
                what: "effect kind",
                why: "it is empty; name the side effect (deploy, post-deploy)",
            });
        }
        check_commit("effect commit", effect.commit.as_deref())?;
        let now = self.now_ms();
        self.write("begin_effect", |tx| {
            let id: Option<i64> = tx
                .query_row(
                    "INSERT INTO effects (job_id, task_id, kind, commit_sha, lease_token, \
                         repeatable, started_ms) \
                     SELECT id, task_id, ?3, ?4, lease_token, ?5, ?6 FROM jobs \
                     WHERE id = ?1 AND lease_token = ?2 AND lease_boot_id = ?7 \
                     AND state = 'running' AND cancel_requested_ms IS NULL \
                     AND lease_expires_ms > ?6 \
                     RETURNING id",
                    params![
                        lease.job,
                        lease.token.get(),
                        effect.kind,
                        effect.commit,
                        effect.repeatable,
                        now,
                        lease.boot_id()
                    ],
                    |row| row.get(0),
                )
                .optional()
                .map_err(sql("begin_effect"))?;
            match id {
                Some(id) => Ok(id),
                None => Err(refusal(tx, "begin_effect", lease)?),
            }
        })
    }

    /// The at-most-once side effect that an earlier claim of the lease's job
    /// started and never ended (its worker died, was stopped, or could not
    /// write the end) and no operator acknowledged: its outcome is unknown,
    /// so the job must not run its command again. `None` when there is none.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] if SQLite fails.
    pub fn interrupted_effect(&self, lease: Lease) -> Result<Option<Effect>> {
        self.conn
            .query_row(
                &format!(
                    "SELECT {EFFECT_COLUMNS} FROM effects \
                     WHERE job_id = ?1 AND lease_token < ?2 AND repeatable = 0 \
                     AND ended_ms IS NULL AND acknowledged_ms IS NULL \
                     ORDER BY id DESC LIMIT 1"
                ),
                params![lease.job, lease.token.get()],
                effect_from_row,
            )
            .optional()
            .map_err(sql("interrupted_effect"))
    }

    /// The side effects `task`'s jobs started, oldest first.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] if SQLite fails.
    pub fn effects(&self, task: TaskId) -> Result<Vec<Effect>> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {EFFECT_COLUMNS} FROM effects WHERE task_id = ?1 ORDER BY id"
            ))
            .map_err(sql("effects"))?;
        stmt.query_map([task], effect_from_row)
            .map_err(sql("effects"))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sql("effects"))
    }
}
