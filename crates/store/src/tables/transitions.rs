//! The `transitions` and `gate_decisions` tables: a task's stage changes with
//! every gate's evidence, and the verdict history the roadmap reads.

use rusqlite::{OptionalExtension, Transaction, params};

use crate::checks::{check_commit, is_sha256_hex};
use crate::error::{Result, StoreError, sql};
use crate::records::transitions::{
    NewTransition, RunCost, Transition, VerdictEvent, VerdictHistory,
};
use crate::rows::{
    GATE_DECISION_COLUMNS, TRANSITION_COLUMNS, gate_decision_from_row, role_at, stage_at,
    transition_from_row,
};
use crate::store::Store;
use crate::types::{Actor, JobId, TaskId, TransitionId};

/// Records a transition and moves the task, guarded by its current stage.
/// `by` is the transition's actor and reason, when it was not a job's own end
/// (see `transitions.actor` in the schema).
pub(crate) fn insert_transition(
    tx: &Transaction<'_>,
    t: &NewTransition,
    job: Option<JobId>,
    by: Option<(Actor, &str)>,
    now_ms: i64,
) -> Result<TransitionId> {
    for d in &t.decisions {
        if let Some(sha) = &d.artifact_sha256
            && !is_sha256_hex(sha)
        {
            return Err(StoreError::InvalidSha256 { found: sha.clone() });
        }
        check_commit("gate decision commit", d.commit_sha.as_deref())?;
    }
    let changed = tx
        .execute(
            "UPDATE tasks SET stage = ?2, status = ?3, developer_retries = ?4, updated_ms = ?5 \
             WHERE id = ?1 AND stage = ?6",
            params![
                t.task,
                t.to_stage.as_str(),
                t.status,
                t.developer_retries,
                now_ms,
                t.from_stage.as_str()
            ],
        )
        .map_err(sql("record_transition"))?;
    if changed != 1 {
        let found: Option<String> = tx
            .query_row("SELECT stage FROM tasks WHERE id = ?1", [t.task], |row| {
                row.get(0)
            })
            .optional()
            .map_err(sql("record_transition"))?;
        return Err(match found {
            Some(found) => StoreError::StageMismatch {
                task: t.task,
                expected: t.from_stage.to_string(),
                found,
            },
            None => StoreError::NotFound {
                table: "tasks",
                id: t.task.get(),
            },
        });
    }
    tx.execute(
        "INSERT INTO transitions (task_id, job_id, from_stage, to_stage, at_ms, actor, reason) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            t.task,
            job,
            t.from_stage.as_str(),
            t.to_stage.as_str(),
            now_ms,
            by.map(|(actor, _)| actor),
            by.map(|(_, reason)| reason)
        ],
    )
    .map_err(sql("record_transition"))?;
    let id = TransitionId::new(tx.last_insert_rowid());
    let mut stmt = tx
        .prepare(
            "INSERT INTO gate_decisions \
             (transition_id, position, gate, passed, verdict, reason, artifact_sha256, \
              commit_sha, tree_clean, sandbox) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )
        .map_err(sql("record_transition"))?;
    for (position, d) in (0_i64..).zip(&t.decisions) {
        stmt.execute(params![
            id,
            position,
            d.gate,
            d.passed,
            d.verdict,
            d.reason,
            d.artifact_sha256,
            d.commit_sha,
            d.tree_clean,
            d.sandbox
        ])
        .map_err(sql("record_transition"))?;
    }
    Ok(id)
}

impl Store {
    /// Records a transition that no job's end caused (for example an
    /// operator unblocking a task), moving the task.
    ///
    /// # Errors
    ///
    /// [`StoreError::StageMismatch`] if the task has left `from_stage`;
    /// [`StoreError::InvalidSha256`] if a digest is malformed;
    /// [`StoreError::NotFound`] if the task does not exist.
    pub fn record_transition(&self, transition: &NewTransition) -> Result<TransitionId> {
        let now = self.now_ms();
        self.write("record_transition", |tx| {
            insert_transition(tx, transition, None, None, now)
        })
    }

    /// The transition history of `task`, oldest first, with every gate's
    /// evidence.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] if SQLite fails.
    pub fn transitions(&self, task: TaskId) -> Result<Vec<Transition>> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {TRANSITION_COLUMNS} FROM transitions WHERE task_id = ?1 ORDER BY id"
            ))
            .map_err(sql("transitions"))?;
        let mut transitions = stmt
            .query_map([task], transition_from_row)
            .map_err(sql("transitions"))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sql("transitions"))?;
        let mut decisions = self
            .conn
            .prepare(&format!(
                "SELECT {GATE_DECISION_COLUMNS} FROM gate_decisions \
                 WHERE transition_id = ?1 ORDER BY position"
            ))
            .map_err(sql("transitions"))?;
        for t in &mut transitions {
            t.decisions = decisions
                .query_map([t.id], gate_decision_from_row)
                .map_err(sql("transitions"))?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(sql("transitions"))?;
        }
        Ok(transitions)
    }
}

impl Store {
    /// Every gate-decided transition with its verdict, commit and the cost
    /// of its job, and every run's cost, each by task then time (a read of
    /// the whole history: for the roadmap, not for a hot path).
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] if SQLite fails.
    pub fn verdict_history(&self) -> Result<VerdictHistory> {
        const OP: &str = "verdict_history";
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT tr.task_id, r.name, tr.id, tr.job_id, tr.from_stage, tr.to_stage, j.role, \
                 min(g.passed), max(g.commit_sha), \
                 (SELECT count(*) FROM agent_runs a WHERE a.job_id = tr.job_id AND a.transport = 'llm'), \
                 (SELECT coalesce(sum(a.cost_usd), 0.0) FROM agent_runs a WHERE a.job_id = tr.job_id), \
                 (SELECT max(a.id) FROM agent_runs a WHERE a.job_id = tr.job_id) \
                 FROM transitions tr JOIN gate_decisions g ON g.transition_id = tr.id \
                 JOIN jobs j ON j.id = tr.job_id JOIN tasks t ON t.id = tr.task_id \
                 JOIN repos r ON r.id = t.repo_id \
                 GROUP BY tr.id ORDER BY tr.task_id, tr.id",
            )
            .map_err(sql(OP))?;
        let verdicts = stmt
            .query_map([], |row| {
                Ok(VerdictEvent {
                    task: row.get(0)?,
                    repo: row.get(1)?,
                    transition: row.get(2)?,
                    job: row.get(3)?,
                    stage: stage_at(row, 4, "transitions", "from_stage", 2)?,
                    to_stage: stage_at(row, 5, "transitions", "to_stage", 2)?,
                    role: role_at(row, 6, "jobs", "role", 3)?,
                    passed: row.get(7)?,
                    commit: row.get(8)?,
                    llm: row.get::<_, i64>(9)? > 0,
                    cost_usd: row.get(10)?,
                    last_run: row.get(11)?,
                })
            })
            .map_err(sql(OP))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sql(OP))?;
        let mut stmt = self
            .conn
            .prepare_cached("SELECT task_id, id, cost_usd FROM agent_runs ORDER BY task_id, id")
            .map_err(sql(OP))?;
        let runs = stmt
            .query_map([], |row| {
                Ok(RunCost {
                    task: row.get(0)?,
                    run: row.get(1)?,
                    cost_usd: row.get(2)?,
                })
            })
            .map_err(sql(OP))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sql(OP))?;
        Ok(VerdictHistory { verdicts, runs })
    }
}
