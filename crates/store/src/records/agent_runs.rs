//! A finished run of a role, and the aggregates over runs.

use orch_pipeline::{Role, Stage};

use crate::types::{AgentRunId, JobId, TaskId, Transport};

/// One finished run of a role, to record in `agent_runs`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAgentRun {
    /// The job it ran for.
    pub job: JobId,
    /// The job's task.
    pub task: TaskId,
    /// The role.
    pub role: Role,
    /// The stage.
    pub stage: Stage,
    /// LLM or deterministic.
    pub transport: Transport,
    /// When it started.
    pub started_ms: i64,
    /// When it ended.
    pub ended_ms: i64,
    /// How long it ran, measured with a monotonic clock.
    pub duration_ms: i64,
    /// The exit code; `None` when killed by a signal or never started.
    pub exit_code: Option<i32>,
    /// The outcome in the launcher's words, for example `passed`, `timeout`.
    pub outcome: String,
    /// What the run cost in US dollars, when the agent reported it.
    pub cost_usd: Option<f64>,
    /// Input tokens, when reported.
    pub tokens_in: Option<u64>,
    /// Output tokens, when reported.
    pub tokens_out: Option<u64>,
    /// What the kernel sandbox enforced, in words; `None` when no process
    /// ran.
    pub sandbox: Option<String>,
    /// Input tokens read from the prompt cache, when reported (in the CLI's
    /// meaning: Claude's `tokens_in` excludes them, Codex's and Gemini's
    /// includes them).
    pub cache_read_tokens: Option<u64>,
    /// Input tokens written to the prompt cache, when reported (Claude).
    pub cache_write_tokens: Option<u64>,
    /// The model the run used, as its CLI named it; `None` when it did not
    /// say. Never empty.
    pub model: Option<String>,
    /// Where `cost_usd` came from: `reported` (the CLI's own figure) or
    /// `estimated` (orch's, from its price table); `None` without a cost.
    pub cost_source: Option<String>,
}

/// A recorded run of a role, as stored in `agent_runs`.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRun {
    /// Its id.
    pub id: AgentRunId,
    /// The job it ran for.
    pub job: JobId,
    /// The job's task.
    pub task: TaskId,
    /// The role.
    pub role: Role,
    /// The stage.
    pub stage: Stage,
    /// LLM or deterministic.
    pub transport: Transport,
    /// When it started.
    pub started_ms: i64,
    /// When it ended.
    pub ended_ms: i64,
    /// How long it ran.
    pub duration_ms: i64,
    /// The exit code; `None` when killed by a signal or never started.
    pub exit_code: Option<i32>,
    /// The outcome in the launcher's words.
    pub outcome: String,
    /// What it cost in US dollars, when reported.
    pub cost_usd: Option<f64>,
    /// Input tokens, when reported.
    pub tokens_in: Option<u64>,
    /// Output tokens, when reported.
    pub tokens_out: Option<u64>,
    /// What the kernel sandbox enforced, in words; `None` when unknown.
    pub sandbox: Option<String>,
    /// Input tokens read from the prompt cache, when reported.
    pub cache_read_tokens: Option<u64>,
    /// Input tokens written to the prompt cache, when reported.
    pub cache_write_tokens: Option<u64>,
    /// The model the CLI named; `None` when it did not say.
    pub model: Option<String>,
    /// `reported` or `estimated` (see [`NewAgentRun::cost_source`]); `None`
    /// without a cost and for runs recorded before schema version 11.
    pub cost_source: Option<String>,
}

/// Totals of `agent_runs` for one role and transport.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleStats {
    /// The role.
    pub role: Role,
    /// The transport.
    pub transport: Transport,
    /// How many runs.
    pub runs: u64,
    /// Their summed duration.
    pub total_duration_ms: i64,
    /// Their mean duration.
    pub mean_duration_ms: f64,
    /// Their summed cost in US dollars (runs without a cost count as 0).
    pub total_cost_usd: f64,
    /// Their summed input tokens.
    pub tokens_in: u64,
    /// Their summed output tokens.
    pub tokens_out: u64,
    /// Their summed prompt-cache reads (runs that reported none count 0).
    pub cache_read_tokens: u64,
    /// Their summed prompt-cache writes (runs that reported none count 0).
    pub cache_write_tokens: u64,
}

/// Statistics of `agent_runs` for one (role, stage, transport): the figures
/// the determinization roadmap ranks by. Cost figures are over the runs that
/// reported a cost only, and `None` when none did: a missing cost is never
/// counted as 0.
#[derive(Debug, Clone, PartialEq)]
pub struct RunStats {
    /// The role.
    pub role: Role,
    /// The stage.
    pub stage: Stage,
    /// The transport.
    pub transport: Transport,
    /// How many runs.
    pub runs: u64,
    /// How many distinct tasks they ran for.
    pub tasks: u64,
    /// Their summed duration.
    pub total_duration_ms: i64,
    /// Their mean duration.
    pub mean_duration_ms: f64,
    /// How many of them reported a cost.
    pub cost_runs: u64,
    /// The summed cost of the runs that reported one, in US dollars; `None`
    /// when none did.
    pub total_cost_usd: Option<f64>,
    /// The mean cost of the runs that reported one; `None` when none did.
    pub mean_cost_usd: Option<f64>,
    /// Runs whose outcome is one of [`FAILED_OUTCOMES`](crate::FAILED_OUTCOMES).
    pub failed_runs: u64,
    /// The summed cost of the failed runs that reported one; `None` when
    /// none did.
    pub failed_cost_usd: Option<f64>,
}
