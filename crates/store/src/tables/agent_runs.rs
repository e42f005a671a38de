//! The `agent_runs` table: what each run of a role cost, and the aggregates.

use rusqlite::{Transaction, params};

use crate::error::{Result, sql};
use crate::records::agent_runs::{AgentRun, NewAgentRun, RoleStats, RunStats};
use crate::rows::{AGENT_RUN_COLUMNS, agent_run_from_row, group_key, name_at};
use crate::snapshot::{OUTCOME_EXHAUSTED, OUTCOME_FAILED, OUTCOME_TIMED_OUT, OUTCOME_TOOL_ERROR};
use crate::store::Store;
use crate::types::{AgentRunId, TaskId};

/// The outcomes [`Store::run_stats`] counts as failed runs: `failed`,
/// `timed_out`, `exhausted` and `tool_error`.
pub const FAILED_OUTCOMES: [&str; 4] = [
    OUTCOME_FAILED,
    OUTCOME_TIMED_OUT,
    OUTCOME_EXHAUSTED,
    OUTCOME_TOOL_ERROR,
];

/// Records a finished run of a role inside `tx`.
pub(crate) fn insert_agent_run(tx: &Transaction<'_>, run: &NewAgentRun) -> Result<AgentRunId> {
    tx.execute(
        "INSERT INTO agent_runs (job_id, task_id, role, stage, transport, started_ms, \
         ended_ms, duration_ms, exit_code, outcome, cost_usd, tokens_in, tokens_out, sandbox, \
         cache_read_tokens, cache_write_tokens, model, cost_source) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
        params![
            run.job,
            run.task,
            run.role.as_str(),
            run.stage.as_str(),
            run.transport,
            run.started_ms,
            run.ended_ms,
            run.duration_ms,
            run.exit_code,
            run.outcome,
            run.cost_usd,
            run.tokens_in,
            run.tokens_out,
            run.sandbox,
            run.cache_read_tokens,
            run.cache_write_tokens,
            run.model,
            run.cost_source
        ],
    )
    .map_err(sql("record_agent_run"))?;
    Ok(AgentRunId::new(tx.last_insert_rowid()))
}

impl Store {
    /// Records a finished run of a role.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`](crate::StoreError::Sqlite) if the job or task does not exist, a number is
    /// out of range (negative duration, cost or tokens), or SQLite fails.
    pub fn record_agent_run(&self, run: &NewAgentRun) -> Result<AgentRunId> {
        self.write("record_agent_run", |tx| insert_agent_run(tx, run))
    }

    /// Every recorded run of `task`, oldest (lowest id) first: what a
    /// `task show` lists under the task.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`](crate::StoreError::Sqlite) if SQLite fails.
    pub fn agent_runs(&self, task: TaskId) -> Result<Vec<AgentRun>> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {AGENT_RUN_COLUMNS} FROM agent_runs WHERE task_id = ?1 ORDER BY id"
            ))
            .map_err(sql("agent_runs"))?;
        stmt.query_map([task], agent_run_from_row)
            .map_err(sql("agent_runs"))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sql("agent_runs"))
    }

    /// Totals of `agent_runs` per role and transport, ordered by role then
    /// transport: the figures the determinization roadmap ranks by.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`](crate::StoreError::Sqlite) if SQLite fails.
    pub fn role_stats(&self) -> Result<Vec<RoleStats>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT role, transport, count(*), sum(duration_ms), avg(duration_ms), \
                 total(cost_usd), coalesce(sum(tokens_in), 0), coalesce(sum(tokens_out), 0), \
                 coalesce(sum(cache_read_tokens), 0), coalesce(sum(cache_write_tokens), 0) \
                 FROM agent_runs GROUP BY role, transport ORDER BY role, transport",
            )
            .map_err(sql("role_stats"))?;
        stmt.query_map([], |row| {
            Ok(RoleStats {
                role: name_at(row, 0, "agent_runs", "role", || group_key(row, 2))?,
                transport: row.get(1)?,
                runs: row.get(2)?,
                total_duration_ms: row.get(3)?,
                mean_duration_ms: row.get(4)?,
                total_cost_usd: row.get(5)?,
                tokens_in: row.get(6)?,
                tokens_out: row.get(7)?,
                cache_read_tokens: row.get(8)?,
                cache_write_tokens: row.get(9)?,
            })
        })
        .map_err(sql("role_stats"))?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(sql("role_stats"))
    }

    /// Statistics of `agent_runs` per (role, stage, transport), ordered by
    /// role, stage, then transport: runs, distinct tasks, durations, cost
    /// over the runs that reported one, and the failed runs (outcome in
    /// [`FAILED_OUTCOMES`]) with their cost. It reads every row of
    /// `agent_runs`: a report, not a hot path.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`](crate::StoreError::Sqlite) if SQLite fails (for example a summed duration
    /// that overflows 64 bits).
    pub fn run_stats(&self) -> Result<Vec<RunStats>> {
        let failed = FAILED_OUTCOMES
            .iter()
            .map(|o| format!("'{o}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT role, stage, transport, count(*), count(DISTINCT task_id), \
                 sum(duration_ms), avg(duration_ms), count(cost_usd), sum(cost_usd), \
                 avg(cost_usd), count(CASE WHEN outcome IN ({failed}) THEN 1 END), \
                 sum(CASE WHEN outcome IN ({failed}) THEN cost_usd END) \
                 FROM agent_runs GROUP BY role, stage, transport \
                 ORDER BY role, stage, transport"
            ))
            .map_err(sql("run_stats"))?;
        stmt.query_map([], |row| {
            Ok(RunStats {
                role: name_at(row, 0, "agent_runs", "role", || group_key(row, 3))?,
                stage: name_at(row, 1, "agent_runs", "stage", || group_key(row, 3))?,
                transport: row.get(2)?,
                runs: row.get(3)?,
                tasks: row.get(4)?,
                total_duration_ms: row.get(5)?,
                mean_duration_ms: row.get(6)?,
                cost_runs: row.get(7)?,
                total_cost_usd: row.get(8)?,
                mean_cost_usd: row.get(9)?,
                failed_runs: row.get(10)?,
                failed_cost_usd: row.get(11)?,
            })
        })
        .map_err(sql("run_stats"))?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(sql("run_stats"))
    }
}
