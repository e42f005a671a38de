//! The shared row mapping: each table's column list and its `*_from_row`
//! function, in one place, so every read of a table maps its rows the same way.

use std::str::FromStr;

use orch_pipeline::{ParseNameError, Role, Stage};
use rusqlite::Row;
use rusqlite::types::Type;

use crate::records::agent_runs::AgentRun;
use crate::records::alerts::Alert;
use crate::records::effects::Effect;
use crate::records::jobs::{Job, JobLease};
use crate::records::repos::Repo;
use crate::records::tasks::Task;
use crate::records::transitions::{GateDecision, Transition};
use crate::types::LeaseOwner;

pub(crate) const REPO_COLUMNS: &str = "id, name, path, staging_command, deploy_command, health_command, \
     pass_env, created_ms, base_ref, test_command, suite_paths, setup_command, suite_network, \
     cache_dirs, test_runner_mode";

pub(crate) fn repo_from_row(row: &Row<'_>) -> rusqlite::Result<Repo> {
    Ok(Repo {
        id: row.get(0)?,
        name: row.get(1)?,
        path: row.get(2)?,
        staging_command: row.get(3)?,
        deploy_command: row.get(4)?,
        health_command: row.get(5)?,
        pass_env: split_pass_env(&row.get::<_, String>(6)?),
        created_ms: row.get(7)?,
        base_ref: row.get(8)?,
        test_command: row.get(9)?,
        suite_paths: split_pass_env(&row.get::<_, String>(10)?),
        setup_command: row.get(11)?,
        suite_network: row.get(12)?,
        cache_dirs: split_pass_env(&row.get::<_, String>(13)?),
        test_runner_mode: row.get(14)?,
    })
}

/// The names of a stored `pass_env`; empty entries (which no valid write
/// produces) are skipped.
fn split_pass_env(stored: &str) -> Vec<String> {
    stored
        .split(',')
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect()
}

pub(crate) const TASK_COLUMNS: &str = "id, repo_id, title, stage, status, developer_retries, created_ms, \
     updated_ms, isolation, base_commit, branch, worktree, head_commit, keep_worktree, \
     suite_commit, suite_diff_sha256, abandoned_ms";

pub(crate) fn task_from_row(row: &Row<'_>) -> rusqlite::Result<Task> {
    Ok(Task {
        id: row.get(0)?,
        repo: row.get(1)?,
        title: row.get(2)?,
        stage: stage_at(row, 3, "tasks", "stage", 0)?,
        status: row.get(4)?,
        developer_retries: row.get(5)?,
        created_ms: row.get(6)?,
        updated_ms: row.get(7)?,
        isolation: row.get(8)?,
        base_commit: row.get(9)?,
        branch: row.get(10)?,
        worktree: row.get(11)?,
        head_commit: row.get(12)?,
        keep_worktree: row.get(13)?,
        suite_commit: row.get(14)?,
        suite_diff_sha256: row.get(15)?,
        abandoned_ms: row.get(16)?,
    })
}

pub(crate) const JOB_COLUMNS: &str = "id, task_id, stage, role, state, attempts, max_attempts, \
     infra_attempts, run_after_ms, lease_token, lease_owner, lease_boot_id, lease_expires_ms, \
     last_error, created_ms, updated_ms, start_commit, end_commit, rescues, cancel_requested_ms, \
     claimed_ms";

pub(crate) fn job_from_row(row: &Row<'_>) -> rusqlite::Result<Job> {
    let owner: Option<String> = row.get(10)?;
    let boot_id: Option<String> = row.get(11)?;
    let expires_ms: Option<i64> = row.get(12)?;
    let lease =
        if let (Some(worker), Some(boot_id), Some(expires_ms)) = (owner, boot_id, expires_ms) {
            Some(JobLease {
                owner: LeaseOwner { boot_id, worker },
                expires_ms,
            })
        } else {
            None
        };
    Ok(Job {
        id: row.get(0)?,
        task: row.get(1)?,
        stage: stage_at(row, 2, "jobs", "stage", 0)?,
        role: role_at(row, 3, "jobs", "role", 0)?,
        state: row.get(4)?,
        attempts: row.get(5)?,
        max_attempts: row.get(6)?,
        infra_attempts: row.get(7)?,
        run_after_ms: row.get(8)?,
        lease_token: row.get(9)?,
        lease,
        last_error: row.get(13)?,
        created_ms: row.get(14)?,
        updated_ms: row.get(15)?,
        start_commit: row.get(16)?,
        end_commit: row.get(17)?,
        rescues: row.get(18)?,
        cancel_requested_ms: row.get(19)?,
        claimed_ms: row.get(20)?,
    })
}

/// The columns [`alert_from_row`] reads, in its order.
pub(crate) const ALERT_COLUMNS: &str =
    "id, kind, message, task_id, job_id, created_ms, acknowledged_ms";

/// An alert from a row of [`ALERT_COLUMNS`].
pub(crate) fn alert_from_row(row: &Row<'_>) -> rusqlite::Result<Alert> {
    Ok(Alert {
        id: row.get(0)?,
        kind: row.get(1)?,
        message: row.get(2)?,
        task: row.get(3)?,
        job: row.get(4)?,
        created_ms: row.get(5)?,
        acknowledged_ms: row.get(6)?,
    })
}

pub(crate) const EFFECT_COLUMNS: &str = "id, job_id, task_id, kind, commit_sha, lease_token, repeatable, \
     started_ms, ended_ms, acknowledged_ms";

pub(crate) fn effect_from_row(row: &Row<'_>) -> rusqlite::Result<Effect> {
    Ok(Effect {
        id: row.get(0)?,
        job: row.get(1)?,
        task: row.get(2)?,
        kind: row.get(3)?,
        commit: row.get(4)?,
        lease_token: row.get(5)?,
        repeatable: row.get(6)?,
        started_ms: row.get(7)?,
        ended_ms: row.get(8)?,
        acknowledged_ms: row.get(9)?,
    })
}

/// The columns [`agent_run_from_row`] reads, in its order.
pub(crate) const AGENT_RUN_COLUMNS: &str = "id, job_id, task_id, role, stage, transport, started_ms, \
     ended_ms, duration_ms, exit_code, outcome, cost_usd, tokens_in, tokens_out, sandbox, \
     cache_read_tokens, cache_write_tokens, model, cost_source";

/// A run from a row of [`AGENT_RUN_COLUMNS`].
pub(crate) fn agent_run_from_row(row: &Row<'_>) -> rusqlite::Result<AgentRun> {
    Ok(AgentRun {
        id: row.get(0)?,
        job: row.get(1)?,
        task: row.get(2)?,
        role: role_at(row, 3, "agent_runs", "role", 0)?,
        stage: stage_at(row, 4, "agent_runs", "stage", 0)?,
        transport: row.get(5)?,
        started_ms: row.get(6)?,
        ended_ms: row.get(7)?,
        duration_ms: row.get(8)?,
        exit_code: row.get(9)?,
        outcome: row.get(10)?,
        cost_usd: row.get(11)?,
        tokens_in: row.get(12)?,
        tokens_out: row.get(13)?,
        sandbox: row.get(14)?,
        cache_read_tokens: row.get(15)?,
        cache_write_tokens: row.get(16)?,
        model: row.get(17)?,
        cost_source: row.get(18)?,
    })
}

/// The columns [`transition_from_row`] reads, in its order.
pub(crate) const TRANSITION_COLUMNS: &str =
    "id, task_id, job_id, from_stage, to_stage, at_ms, actor, reason";

/// A transition from a row of [`TRANSITION_COLUMNS`], without its decisions
/// (read from `gate_decisions` apart).
pub(crate) fn transition_from_row(row: &Row<'_>) -> rusqlite::Result<Transition> {
    Ok(Transition {
        id: row.get(0)?,
        task: row.get(1)?,
        job: row.get(2)?,
        from_stage: stage_at(row, 3, "transitions", "from_stage", 0)?,
        to_stage: stage_at(row, 4, "transitions", "to_stage", 0)?,
        at_ms: row.get(5)?,
        actor: row.get(6)?,
        reason: row.get(7)?,
        decisions: Vec::new(),
    })
}

/// The columns [`gate_decision_from_row`] reads, in its order.
pub(crate) const GATE_DECISION_COLUMNS: &str =
    "gate, passed, verdict, reason, artifact_sha256, commit_sha, tree_clean, sandbox";

/// A gate decision from a row of [`GATE_DECISION_COLUMNS`].
pub(crate) fn gate_decision_from_row(row: &Row<'_>) -> rusqlite::Result<GateDecision> {
    Ok(GateDecision {
        gate: row.get(0)?,
        passed: row.get(1)?,
        verdict: row.get(2)?,
        reason: row.get(3)?,
        artifact_sha256: row.get(4)?,
        commit_sha: row.get(5)?,
        tree_clean: row.get(6)?,
        sandbox: row.get(7)?,
    })
}

/// A stage or role column of a row that names no stage or role: carried
/// through rusqlite as a conversion failure, and turned into
/// [`StoreError::UnknownName`](crate::StoreError::UnknownName) by
/// [`sql`](crate::error::sql).
#[derive(Debug, thiserror::Error)]
#[error("{table} row {row}: {column}: {error}")]
pub(crate) struct UnknownName {
    pub(crate) table: &'static str,
    pub(crate) row: String,
    pub(crate) column: &'static str,
    pub(crate) error: ParseNameError,
}

/// Reads column `idx` (named `column`) of a `table` row as a stage or a role;
/// `row` names the row in the error (its id, or an aggregate's group key).
pub(crate) fn name_at<T>(
    row: &Row<'_>,
    idx: usize,
    table: &'static str,
    column: &'static str,
    row_name: impl FnOnce() -> String,
) -> rusqlite::Result<T>
where
    T: FromStr<Err = ParseNameError>,
{
    let text: String = row.get(idx)?;
    text.parse().map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            Type::Text,
            Box::new(UnknownName {
                table,
                row: row_name(),
                column,
                error,
            }),
        )
    })
}

/// Column `idx` of a `table` row whose id is in column `id_idx`, as a stage.
pub(crate) fn stage_at(
    row: &Row<'_>,
    idx: usize,
    table: &'static str,
    column: &'static str,
    id_idx: usize,
) -> rusqlite::Result<Stage> {
    name_at(row, idx, table, column, || row_id(row, id_idx))
}

/// Column `idx` of a `table` row whose id is in column `id_idx`, as a role.
pub(crate) fn role_at(
    row: &Row<'_>,
    idx: usize,
    table: &'static str,
    column: &'static str,
    id_idx: usize,
) -> rusqlite::Result<Role> {
    name_at(row, idx, table, column, || row_id(row, id_idx))
}

/// An aggregate's group key: its first `columns` columns as text, for
/// [`name_at`]'s error.
pub(crate) fn group_key(row: &Row<'_>, columns: usize) -> String {
    let parts: Vec<String> = (0..columns)
        .map(|idx| row.get::<_, String>(idx).unwrap_or_else(|_| "?".to_owned()))
        .collect();
    format!("({})", parts.join(", "))
}

/// The id in column `idx`, in words (`?` when it cannot be read).
fn row_id(row: &Row<'_>, idx: usize) -> String {
    row.get::<_, i64>(idx)
        .map_or_else(|_| "?".to_owned(), |id| id.to_string())
}
