//! A finished run of a role, and the aggregates over runs.

use orch_pipeline::{Role, Stage};

use crate::types::{AgentRunId, JobId, TaskId, Transport};

/// One finished run of a role, to record in `agent_runs`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
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

impl NewAgentRun {
    /// A run with the given outcome, all times 0 and nothing reported (no
    /// exit code, cost, tokens, sandbox or model): set those with the
    /// `with_*` methods.
    #[must_use]
    pub fn new(
        job: JobId,
        task: TaskId,
        role: Role,
        stage: Stage,
        transport: Transport,
        outcome: impl Into<String>,
    ) -> Self {
        Self {
            job,
            task,
            role,
            stage,
            transport,
            started_ms: 0,
            ended_ms: 0,
            duration_ms: 0,
            exit_code: None,
            outcome: outcome.into(),
            cost_usd: None,
            tokens_in: None,
            tokens_out: None,
            sandbox: None,
            cache_read_tokens: None,
            cache_write_tokens: None,
            model: None,
            cost_source: None,
        }
    }

    /// Sets [`NewAgentRun::started_ms`].
    #[must_use]
    pub fn with_started_ms(mut self, started_ms: i64) -> Self {
        self.started_ms = started_ms;
        self
    }

    /// Sets [`NewAgentRun::ended_ms`].
    #[must_use]
    pub fn with_ended_ms(mut self, ended_ms: i64) -> Self {
        self.ended_ms = ended_ms;
        self
    }

    /// Sets [`NewAgentRun::duration_ms`].
    #[must_use]
    pub fn with_duration_ms(mut self, duration_ms: i64) -> Self {
        self.duration_ms = duration_ms;
        self
    }

    /// Sets [`NewAgentRun::exit_code`].
    #[must_use]
    pub fn with_exit_code(mut self, exit_code: Option<i32>) -> Self {
        self.exit_code = exit_code;
        self
    }

    /// Sets [`NewAgentRun::cost_usd`].
    #[must_use]
    pub fn with_cost_usd(mut self, cost_usd: Option<f64>) -> Self {
        self.cost_usd = cost_usd;
        self
    }

    /// Sets [`NewAgentRun::tokens_in`].
    #[must_use]
    pub fn with_tokens_in(mut self, tokens_in: Option<u64>) -> Self {
        self.tokens_in = tokens_in;
        self
    }

    /// Sets [`NewAgentRun::tokens_out`].
    #[must_use]
    pub fn with_tokens_out(mut self, tokens_out: Option<u64>) -> Self {
        self.tokens_out = tokens_out;
        self
    }

    /// Sets [`NewAgentRun::sandbox`].
    #[must_use]
    pub fn with_sandbox(mut self, sandbox: Option<String>) -> Self {
        self.sandbox = sandbox;
        self
    }

    /// Sets [`NewAgentRun::cache_read_tokens`].
    #[must_use]
    pub fn with_cache_read_tokens(mut self, cache_read_tokens: Option<u64>) -> Self {
        self.cache_read_tokens = cache_read_tokens;
        self
    }

    /// Sets [`NewAgentRun::cache_write_tokens`].
    #[must_use]
    pub fn with_cache_write_tokens(mut self, cache_write_tokens: Option<u64>) -> Self {
        self.cache_write_tokens = cache_write_tokens;
        self
    }

    /// Sets [`NewAgentRun::model`].
    #[must_use]
    pub fn with_model(mut self, model: Option<String>) -> Self {
        self.model = model;
        self
    }

    /// Sets [`NewAgentRun::cost_source`].
    #[must_use]
    pub fn with_cost_source(mut self, cost_source: Option<String>) -> Self {
        self.cost_source = cost_source;
        self
    }
}

/// A recorded run of a role, as stored in `agent_runs`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
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
