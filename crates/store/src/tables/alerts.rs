//! The `alerts` table: raising, acknowledging and reading alerts.

use rusqlite::{Transaction, params};

use crate::error::{Result, StoreError, sql};
use crate::records::alerts::{Alert, NewAlert};
use crate::rows::{ALERT_COLUMNS, alert_from_row};
use crate::store::Store;
use crate::types::AlertId;

/// Raises an alert inside `tx`.
pub(crate) fn insert_alert(tx: &Transaction<'_>, alert: &NewAlert, now_ms: i64) -> Result<AlertId> {
    tx.execute(
        "INSERT INTO alerts (kind, message, task_id, job_id, created_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![alert.kind, alert.message, alert.task, alert.job, now_ms],
    )
    .map_err(sql("raise_alert"))?;
    Ok(AlertId::new(tx.last_insert_rowid()))
}

impl Store {
    /// Raises an alert.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] if the kind is empty, the task or job does not
    /// exist, or SQLite fails.
    pub fn raise_alert(&self, alert: &NewAlert) -> Result<AlertId> {
        let now = self.now_ms();
        self.write("raise_alert", |tx| insert_alert(tx, alert, now))
    }

    /// Resolves a task's open alerts once it has moved on (reached its next
    /// stage, or done): each is marked acknowledged now, except those raised
    /// by `except_job` (the job whose end moved it, whose own alert stays
    /// open) and `shadow_runner_unavailable` (about the repository, not the
    /// task). Returns how many were resolved.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] if SQLite fails.
    pub fn resolve_task_alerts(
        &self,
        task: crate::types::TaskId,
        except_job: crate::types::JobId,
    ) -> Result<usize> {
        let now = self.now_ms();
        self.write("resolve_task_alerts", |tx| {
            tx.execute(
                "UPDATE alerts SET acknowledged_ms = ?3 \
                 WHERE task_id = ?1 AND acknowledged_ms IS NULL \
                 AND (job_id IS NULL OR job_id <> ?2) \
                 AND kind <> 'shadow_runner_unavailable'",
                params![task, except_job, now],
            )
            .map_err(sql("resolve_task_alerts"))
        })
    }

    /// Marks an alert acknowledged; acknowledging twice keeps the first time.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] if there is no such alert.
    pub fn acknowledge_alert(&self, id: AlertId) -> Result<()> {
        let now = self.now_ms();
        self.write("acknowledge_alert", |tx| {
            let changed = tx
                .execute(
                    "UPDATE alerts SET acknowledged_ms = coalesce(acknowledged_ms, ?2) \
                     WHERE id = ?1",
                    params![id, now],
                )
                .map_err(sql("acknowledge_alert"))?;
            if changed == 1 {
                Ok(())
            } else {
                Err(StoreError::NotFound {
                    table: "alerts",
                    id: id.get(),
                })
            }
        })
    }

    /// Every alert of `task`, acknowledged or not, oldest first (what `orch
    /// task show` reads to say why a task is blocked).
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] if SQLite fails.
    pub fn task_alerts(&self, task: crate::types::TaskId) -> Result<Vec<Alert>> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {ALERT_COLUMNS} FROM alerts WHERE task_id = ?1 ORDER BY created_ms, id"
            ))
            .map_err(sql("task_alerts"))?;
        stmt.query_map([task], alert_from_row)
            .map_err(sql("task_alerts"))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sql("task_alerts"))
    }

    /// Alerts not yet acknowledged, oldest first.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] if SQLite fails.
    pub fn open_alerts(&self) -> Result<Vec<Alert>> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {ALERT_COLUMNS} FROM alerts WHERE acknowledged_ms IS NULL \
                     ORDER BY created_ms, id"
            ))
            .map_err(sql("open_alerts"))?;
        stmt.query_map([], alert_from_row)
            .map_err(sql("open_alerts"))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sql("open_alerts"))
    }
}
