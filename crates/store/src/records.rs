//! Repos, tasks, transition history, agent runs and alerts.

use rusqlite::{OptionalExtension, Row, Transaction, params};

use crate::error::{Result, StoreError, sql};
use crate::queue::{NewJob, insert_job};
use crate::snapshot::{OUTCOME_EXHAUSTED, OUTCOME_FAILED, OUTCOME_TIMED_OUT, OUTCOME_TOOL_ERROR};
use crate::store::Store;
use crate::types::{
    Actor, AgentRunId, AlertId, AlertKind, JobId, RepoId, TaskId, TaskIsolation, TaskStatus,
    TransitionId, Transport,
};

/// A repository orch works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    /// Its id.
    pub id: RepoId,
    /// Its unique name, as used in `ORCH_STAGING_RUNNER_REPOS`.
    pub name: String,
    /// The path of its checkout.
    pub path: String,
    /// The command that runs its staging suite.
    pub staging_command: String,
    /// The command that deploys it; `None` when it has nothing to deploy.
    pub deploy_command: Option<String>,
    /// The command that probes its health after a deploy; `None` when there
    /// is nothing to probe.
    pub health_command: Option<String>,
    /// The environment variable names its staging suite needs passed
    /// through, in the order given (empty for none).
    pub pass_env: Vec<String>,
    /// The ref its tasks start from; `None`: the checkout's `HEAD` when a
    /// task is created.
    pub base_ref: Option<String>,
    /// The command that runs its own tests, for the test runner; `None`: no
    /// test command (the LLM tester serves the testing stage).
    pub test_command: Option<String>,
    /// The suite's files, as git glob patterns (`tests/**`, `staging.sh`),
    /// in the order given; empty: the suite is unpinned (the runners judge
    /// the task's tree as it left it).
    pub suite_paths: Vec<String>,
    /// The command that prepares each new task worktree and each judge tree
    /// (`npm ci`); `None`: nothing to prepare.
    pub setup_command: Option<String>,
    /// Whether its staging and test suites may use the network.
    pub suite_network: SuiteNetwork,
    /// Extra absolute folders its sandboxed runs may write (build caches, a
    /// deploy target), in the order given.
    pub cache_dirs: Vec<String>,
    /// The test runner's mode for this repository (`on`, `shadow`, `off`),
    /// which replaces the configuration's mode and repository list for it;
    /// `None`: the configuration decides (schema version 12).
    pub test_runner_mode: Option<String>,
    /// When it was added.
    pub created_ms: i64,
}

/// A repository to add with [`Store::add_repo`].
///
/// ```
/// use orch_store::NewRepo;
///
/// let repo = NewRepo {
///     deploy_command: Some("make deploy".into()),
///     pass_env: vec!["DATABASE_URL".into()],
///     ..NewRepo::new("demo", "/srv/demo", "make staging")
/// };
/// assert_eq!(repo.health_command, None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRepo {
    /// Its unique, non-empty name.
    pub name: String,
    /// The path of its checkout, non-empty.
    pub path: String,
    /// The command that runs its staging suite.
    pub staging_command: String,
    /// The command that deploys it; `None` when it has nothing to deploy.
    pub deploy_command: Option<String>,
    /// The command that probes its health; `None` when there is nothing to
    /// probe.
    pub health_command: Option<String>,
    /// Environment variable names the staging suite needs passed through:
    /// names only, each non-empty, without `,`, `=` or NUL.
    pub pass_env: Vec<String>,
    /// The ref its tasks start from (not blank); `None`: the checkout's
    /// `HEAD` when a task is created.
    pub base_ref: Option<String>,
    /// The command that runs its own tests (not blank); `None`: none.
    pub test_command: Option<String>,
    /// The suite's files as glob patterns: each non-empty, without `,` or
    /// NUL (the launcher checks their syntax); empty: unpinned.
    pub suite_paths: Vec<String>,
    /// The command that prepares each worktree (not blank); `None`: none.
    pub setup_command: Option<String>,
    /// Whether its suites may use the network ([`SuiteNetwork::Off`] by
    /// default).
    pub suite_network: SuiteNetwork,
    /// Extra folders its sandboxed runs may write: absolute paths, without
    /// `,` or NUL.
    pub cache_dirs: Vec<String>,
}

impl NewRepo {
    /// A repository with nothing to deploy, nothing to probe and no
    /// environment passed through.
    #[must_use]
    pub fn new(
        name: impl Into<String>,
        path: impl Into<String>,
        staging_command: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            path: path.into(),
            staging_command: staging_command.into(),
            deploy_command: None,
            health_command: None,
            pass_env: Vec::new(),
            base_ref: None,
            test_command: None,
            suite_paths: Vec::new(),
            setup_command: None,
            suite_network: SuiteNetwork::Off,
            cache_dirs: Vec::new(),
        }
    }
}

/// Whether a repository's staging and test suites may use the network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum SuiteNetwork {
    /// None: a network namespace of their own with only loopback (where the
    /// kernel allows one; see the launcher's sandbox).
    #[default]
    Off,
    /// The host's network.
    On,
}

impl SuiteNetwork {
    /// `off` or `on`, as stored.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            SuiteNetwork::Off => "off",
            SuiteNetwork::On => "on",
        }
    }

    /// Reads `off` or `on`.
    #[must_use]
    pub fn parse(text: &str) -> Option<SuiteNetwork> {
        match text {
            "off" => Some(SuiteNetwork::Off),
            "on" => Some(SuiteNetwork::On),
            _ => None,
        }
    }
}

impl rusqlite::types::FromSql for SuiteNetwork {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        let text = value.as_str()?;
        SuiteNetwork::parse(text).ok_or_else(|| {
            rusqlite::types::FromSqlError::Other(format!("unknown suite network {text:?}").into())
        })
    }
}

/// A task as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// Its id.
    pub id: TaskId,
    /// The repository it works on.
    pub repo: RepoId,
    /// Its title.
    pub title: String,
    /// The stage it is at, as the pipeline names it.
    pub stage: String,
    /// Whether it is still moving.
    pub status: TaskStatus,
    /// Developer retries spent by rollbacks so far.
    pub developer_retries: u32,
    /// When it was added.
    pub created_ms: i64,
    /// When it last changed.
    pub updated_ms: i64,
    /// Where its roles work: its own worktree, or the repository's folder.
    pub isolation: TaskIsolation,
    /// The commit it started from (`None` without a worktree).
    pub base_commit: Option<String>,
    /// Its branch, once its first job named it (`None` without a worktree).
    pub branch: Option<String>,
    /// Its worktree folder, while it has one.
    pub worktree: Option<String>,
    /// The commit its latest stage ended on.
    pub head_commit: Option<String>,
    /// Whether its worktree is kept when it is done.
    pub keep_worktree: bool,
    /// The suite version an operator approved for it: the commit whose suite
    /// paths the judge tree restores instead of the base commit's.
    pub suite_commit: Option<String>,
    /// The sha256 of the suite's diff from the base commit to
    /// `suite_commit`.
    pub suite_diff_sha256: Option<String>,
}

/// How a new task works: given to [`Store::create_task_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTask {
    /// Its title.
    pub title: String,
    /// Where its roles work.
    pub isolation: TaskIsolation,
    /// The commit it starts from: required for a worktree task (40 or 64
    /// lower-case hex digits), `None` for a checkout task.
    pub base_commit: Option<String>,
    /// Whether its worktree is kept when it is done.
    pub keep_worktree: bool,
}

impl NewTask {
    /// A task that works in the repository's own folder.
    #[must_use]
    pub fn in_checkout(title: impl Into<String>) -> NewTask {
        NewTask {
            title: title.into(),
            isolation: TaskIsolation::Checkout,
            base_commit: None,
            keep_worktree: false,
        }
    }

    /// A task that works in its own worktree, started from `base_commit`.
    #[must_use]
    pub fn in_worktree(title: impl Into<String>, base_commit: impl Into<String>) -> NewTask {
        NewTask {
            title: title.into(),
            isolation: TaskIsolation::Worktree,
            base_commit: Some(base_commit.into()),
            keep_worktree: false,
        }
    }
}

/// One gate's decision and the evidence it was made on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateDecision {
    /// The gate, for example `check_staging_status`.
    pub gate: String,
    /// Whether the gate let the task advance.
    pub passed: bool,
    /// The verdict value it read, for example `FAILED`; `None` when it failed
    /// closed (the verdict line was missing, duplicated or unknown).
    pub verdict: Option<String>,
    /// Why, in words (for a fail-closed gate: what was missing or wrong).
    pub reason: String,
    /// The sha256 of the artifact the gate read, 64 lower-case hex digits;
    /// `None` when the artifact did not exist.
    pub artifact_sha256: Option<String>,
    /// The commit of the tree the verdict is about (for `deploy-staging`:
    /// the commit the suite ran on); `None` for a task without a worktree.
    pub commit_sha: Option<String>,
    /// Whether that tree was exactly the commit: nothing uncommitted (and,
    /// for `deploy-staging`, unchanged for the whole run). `None` without a
    /// worktree.
    pub tree_clean: Option<bool>,
    /// What the kernel sandbox enforced for the run whose verdict the gate
    /// read, in words; `None` when unknown (before schema step 8, or no run).
    pub sandbox: Option<String>,
}

/// A stage change to record, with the task's state after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTransition {
    /// The task that moves.
    pub task: TaskId,
    /// The stage it was decided from; the task must still be there.
    pub from_stage: String,
    /// The stage it moves to.
    pub to_stage: String,
    /// The task's status after the move.
    pub status: TaskStatus,
    /// The task's developer-retry count after the move.
    pub developer_retries: u32,
    /// Every gate that decided it, in the order they ran.
    pub decisions: Vec<GateDecision>,
}

/// A recorded stage change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// Its id.
    pub id: TransitionId,
    /// The task that moved.
    pub task: TaskId,
    /// The job whose end caused it, if any.
    pub job: Option<JobId>,
    /// The stage it left.
    pub from_stage: String,
    /// The stage it entered.
    pub to_stage: String,
    /// When.
    pub at_ms: i64,
    /// Who moved the task when it was not a job's own end:
    /// [`Actor::Operator`] (a retry or cancel from the command line),
    /// [`Actor::Rescue`] (a poison block); `None` for a job's own end (the
    /// engine). An unknown text in the database is a typed error.
    pub actor: Option<Actor>,
    /// Why, in words, when the gate decisions do not say it (e.g.
    /// `cancelled`, `poison`, the operator's reason for a retry).
    pub reason: Option<String>,
    /// The gates that decided it, in the order they ran.
    pub decisions: Vec<GateDecision>,
}

/// One finished run of a role, to record in `agent_runs`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAgentRun {
    /// The job it ran for.
    pub job: JobId,
    /// The job's task.
    pub task: TaskId,
    /// The role.
    pub role: String,
    /// The stage.
    pub stage: String,
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
    pub role: String,
    /// The stage.
    pub stage: String,
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
    pub role: String,
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

/// The outcomes [`Store::run_stats`] counts as failed runs: `failed`,
/// `timed_out`, `exhausted` and `tool_error`.
pub const FAILED_OUTCOMES: [&str; 4] = [
    OUTCOME_FAILED,
    OUTCOME_TIMED_OUT,
    OUTCOME_EXHAUSTED,
    OUTCOME_TOOL_ERROR,
];

/// Statistics of `agent_runs` for one (role, stage, transport): the figures
/// the determinization roadmap ranks by. Cost figures are over the runs that
/// reported a cost only, and `None` when none did: a missing cost is never
/// counted as 0.
#[derive(Debug, Clone, PartialEq)]
pub struct RunStats {
    /// The role.
    pub role: String,
    /// The stage.
    pub stage: String,
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
    /// Runs whose outcome is one of [`FAILED_OUTCOMES`].
    pub failed_runs: u64,
    /// The summed cost of the failed runs that reported one; `None` when
    /// none did.
    pub failed_cost_usd: Option<f64>,
}

/// An alert to raise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlert {
    /// What it is about.
    pub kind: AlertKind,
    /// What happened and what to do, for an operator.
    pub message: String,
    /// The task concerned, if any.
    pub task: Option<TaskId>,
    /// The job concerned, if any.
    pub job: Option<JobId>,
}

/// A stored alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// Its id.
    pub id: AlertId,
    /// Its kind (an unknown text in the database is a typed error).
    pub kind: AlertKind,
    /// Its message.
    pub message: String,
    /// The task concerned, if any.
    pub task: Option<TaskId>,
    /// The job concerned, if any.
    pub job: Option<JobId>,
    /// When it was raised.
    pub created_ms: i64,
    /// When an operator acknowledged it.
    pub acknowledged_ms: Option<i64>,
}

pub(crate) fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && is_lower_hex(s)
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A git object name: 40 (SHA-1) or 64 (SHA-256) lower-case hex digits.
pub(crate) fn check_commit(what: &'static str, commit: Option<&str>) -> Result<()> {
    match commit {
        Some(c) if !(matches!(c.len(), 40 | 64) && is_lower_hex(c)) => {
            Err(StoreError::InvalidInput {
                what,
                why: "a commit is 40 or 64 lower-case hex digits (a full object name)",
            })
        }
        _ => Ok(()),
    }
}

/// Checks a repository's optional commands and its `pass_env` names, and
/// returns the names as stored: comma-separated.
pub(crate) fn validate_repo(repo: &NewRepo) -> Result<String> {
    let blank = |c: &Option<String>| c.as_deref().is_some_and(|c| c.trim().is_empty());
    if blank(&repo.deploy_command) {
        return Err(StoreError::InvalidInput {
            what: "deploy_command",
            why: "it is blank; give None when the repository has nothing to deploy",
        });
    }
    if blank(&repo.health_command) {
        return Err(StoreError::InvalidInput {
            what: "health_command",
            why: "it is blank; give None when there is nothing to probe",
        });
    }
    if blank(&repo.test_command) {
        return Err(StoreError::InvalidInput {
            what: "test_command",
            why: "it is blank; give None when the repository has no test command",
        });
    }
    if blank(&repo.setup_command) {
        return Err(StoreError::InvalidInput {
            what: "setup_command",
            why: "it is blank; give None when the repository's worktrees need no setup",
        });
    }
    for dir in &repo.cache_dirs {
        let why = if !dir.starts_with('/') {
            Some(
                "a cache folder is not an absolute path; give it from the root, e.g. /home/me/.cache/pip",
            )
        } else if dir.contains(',') || dir.contains('\0') {
            Some("a cache folder contains ',' or NUL; give each folder as its own entry")
        } else {
            None
        };
        if let Some(why) = why {
            return Err(StoreError::InvalidInput {
                what: "cache_dirs",
                why,
            });
        }
    }
    for pattern in &repo.suite_paths {
        let why = if pattern.trim().is_empty() {
            "a suite path is empty; remove the empty entry"
        } else if pattern.contains(',') {
            "a suite path contains ','; give each pattern as its own entry"
        } else if pattern.contains('\0') {
            "a suite path contains a NUL byte; no path can hold it"
        } else {
            continue;
        };
        return Err(StoreError::InvalidInput {
            what: "suite_paths",
            why,
        });
    }
    if blank(&repo.base_ref) {
        return Err(StoreError::InvalidInput {
            what: "base_ref",
            why: "it is blank; give None to start tasks from the checkout's HEAD",
        });
    }
    for name in &repo.pass_env {
        let why = if name.is_empty() {
            "an environment variable name is empty; remove the empty entry"
        } else if name.contains(',') {
            "an environment variable name contains ','; give each name as its own entry"
        } else if name.contains('=') {
            "an environment variable name contains '='; give names only, never values"
        } else if name.contains('\0') {
            "an environment variable name contains a NUL byte; no environment can hold it"
        } else {
            continue;
        };
        return Err(StoreError::InvalidInput {
            what: "pass_env",
            why,
        });
    }
    Ok(repo.pass_env.join(","))
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
            run.role,
            run.stage,
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
                t.to_stage,
                t.status,
                t.developer_retries,
                now_ms,
                t.from_stage
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
                expected: t.from_stage.clone(),
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
            t.from_stage,
            t.to_stage,
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

pub(crate) const TASK_COLUMNS: &str = "id, repo_id, title, stage, status, developer_retries, created_ms, \
     updated_ms, isolation, base_commit, branch, worktree, head_commit, keep_worktree, \
     suite_commit, suite_diff_sha256";

pub(crate) const REPO_COLUMNS: &str = "id, name, path, staging_command, deploy_command, health_command, \
     pass_env, created_ms, base_ref, test_command, suite_paths, setup_command, suite_network, \
     cache_dirs, test_runner_mode";

pub(crate) fn task_from_row(row: &Row<'_>) -> rusqlite::Result<Task> {
    Ok(Task {
        id: row.get(0)?,
        repo: row.get(1)?,
        title: row.get(2)?,
        stage: row.get(3)?,
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
    })
}

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

impl Store {
    /// Adds a repository.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidInput`] if a `pass_env` name is empty or holds
    /// `,`, `=` or NUL, or a deploy or health command is blank (give `None`
    /// instead); [`StoreError::Sqlite`] if the name is taken or empty, the
    /// path is empty, or SQLite fails. Nothing is written on an error.
    pub fn add_repo(&self, repo: &NewRepo) -> Result<RepoId> {
        let pass_env = validate_repo(repo)?;
        let now = self.now_ms();
        self.write("add_repo", |tx| {
            tx.execute(
                "INSERT INTO repos (name, path, staging_command, deploy_command, health_command, \
                 pass_env, created_ms, base_ref, test_command, suite_paths, setup_command, \
                 suite_network, cache_dirs) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                params![
                    repo.name,
                    repo.path,
                    repo.staging_command,
                    repo.deploy_command,
                    repo.health_command,
                    pass_env,
                    now,
                    repo.base_ref,
                    repo.test_command,
                    repo.suite_paths.join(","),
                    repo.setup_command,
                    repo.suite_network.as_str(),
                    repo.cache_dirs.join(",")
                ],
            )
            .map_err(sql("add_repo"))?;
            Ok(RepoId::new(tx.last_insert_rowid()))
        })
    }

    /// Every repository, ordered by name.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] if SQLite fails.
    pub fn repos(&self) -> Result<Vec<Repo>> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {REPO_COLUMNS} FROM repos ORDER BY name"))
            .map_err(sql("repos"))?;
        stmt.query_map([], repo_from_row)
            .map_err(sql("repos"))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sql("repos"))
    }

    /// The repository named `name`, if any.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] if SQLite fails.
    pub fn repo_by_name(&self, name: &str) -> Result<Option<Repo>> {
        self.conn
            .query_row(
                &format!("SELECT {REPO_COLUMNS} FROM repos WHERE name = ?1"),
                [name],
                repo_from_row,
            )
            .optional()
            .map_err(sql("repo_by_name"))
    }

    /// The repository with id `id`.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] if there is none.
    pub fn repo(&self, id: RepoId) -> Result<Repo> {
        self.conn
            .query_row(
                &format!("SELECT {REPO_COLUMNS} FROM repos WHERE id = ?1"),
                [id],
                repo_from_row,
            )
            .optional()
            .map_err(sql("repo"))?
            .ok_or(StoreError::NotFound {
                table: "repos",
                id: id.get(),
            })
    }

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
            let id = insert_task(tx, repo, &task.title, &first.stage, now)?;
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
    pub fn add_task(&self, repo: RepoId, title: &str, stage: &str) -> Result<TaskId> {
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
            .prepare(
                "SELECT id, task_id, job_id, from_stage, to_stage, at_ms, actor, reason \
                 FROM transitions WHERE task_id = ?1 ORDER BY id",
            )
            .map_err(sql("transitions"))?;
        let mut transitions = stmt
            .query_map([task], |row| {
                Ok(Transition {
                    id: row.get(0)?,
                    task: row.get(1)?,
                    job: row.get(2)?,
                    from_stage: row.get(3)?,
                    to_stage: row.get(4)?,
                    at_ms: row.get(5)?,
                    actor: row.get(6)?,
                    reason: row.get(7)?,
                    decisions: Vec::new(),
                })
            })
            .map_err(sql("transitions"))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sql("transitions"))?;
        let mut decisions = self
            .conn
            .prepare(
                "SELECT gate, passed, verdict, reason, artifact_sha256, commit_sha, tree_clean, \
                 sandbox FROM gate_decisions \
                 WHERE transition_id = ?1 ORDER BY position",
            )
            .map_err(sql("transitions"))?;
        for t in &mut transitions {
            t.decisions = decisions
                .query_map([t.id], |row| {
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
                })
                .map_err(sql("transitions"))?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(sql("transitions"))?;
        }
        Ok(transitions)
    }

    /// Records a finished run of a role.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] if the job or task does not exist, a number is
    /// out of range (negative duration, cost or tokens), or SQLite fails.
    pub fn record_agent_run(&self, run: &NewAgentRun) -> Result<AgentRunId> {
        self.write("record_agent_run", |tx| insert_agent_run(tx, run))
    }

    /// Every recorded run of `task`, oldest (lowest id) first: what a
    /// `task show` lists under the task.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] if SQLite fails.
    pub fn agent_runs(&self, task: TaskId) -> Result<Vec<AgentRun>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, job_id, task_id, role, stage, transport, started_ms, ended_ms, \
                 duration_ms, exit_code, outcome, cost_usd, tokens_in, tokens_out, sandbox, \
                 cache_read_tokens, cache_write_tokens, model, cost_source \
                 FROM agent_runs WHERE task_id = ?1 ORDER BY id",
            )
            .map_err(sql("agent_runs"))?;
        stmt.query_map([task], |row| {
            Ok(AgentRun {
                id: row.get(0)?,
                job: row.get(1)?,
                task: row.get(2)?,
                role: row.get(3)?,
                stage: row.get(4)?,
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
        })
        .map_err(sql("agent_runs"))?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(sql("agent_runs"))
    }

    /// Totals of `agent_runs` per role and transport, ordered by role then
    /// transport: the figures the determinization roadmap ranks by.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] if SQLite fails.
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
                role: row.get(0)?,
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
    /// [`StoreError::Sqlite`] if SQLite fails (for example a summed duration
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
                role: row.get(0)?,
                stage: row.get(1)?,
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

/// Inserts an active task at `stage`.
fn insert_task(
    tx: &Transaction<'_>,
    repo: RepoId,
    title: &str,
    stage: &str,
    now_ms: i64,
) -> Result<TaskId> {
    tx.execute(
        "INSERT INTO tasks (repo_id, title, stage, status, created_ms, updated_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![repo, title, stage, TaskStatus::Active, now_ms],
    )
    .map_err(sql("add_task"))?;
    Ok(TaskId::new(tx.last_insert_rowid()))
}

/// A verdict that moved a task: a transition decided by gates at the end of
/// a job, for the roadmap's costs by verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct VerdictEvent {
    /// The task.
    pub task: TaskId,
    /// Its repository's name.
    pub repo: String,
    /// The transition.
    pub transition: TransitionId,
    /// The job whose end it was.
    pub job: JobId,
    /// The stage decided.
    pub stage: String,
    /// Where the task went.
    pub to_stage: String,
    /// The job's role.
    pub role: String,
    /// Every gate passed: the stage's verdict was the passing one.
    pub passed: bool,
    /// The commit the gates judged (`None` without a worktree).
    pub commit: Option<String>,
    /// An LLM run of the job decided it (otherwise a reserved agent did).
    pub llm: bool,
    /// The summed reported cost of the job's runs.
    pub cost_usd: f64,
    /// The job's last run (its id), `None` when it recorded none: runs
    /// after it came after the verdict.
    pub last_run: Option<AgentRunId>,
}

/// One run's place and cost in its task's history.
#[derive(Debug, Clone, PartialEq)]
pub struct RunCost {
    /// The task.
    pub task: TaskId,
    /// The run (ids grow with time).
    pub run: AgentRunId,
    /// Its reported cost.
    pub cost_usd: Option<f64>,
}

/// Every verdict and every run's cost, per task in order: what the roadmap
/// attributes rollback loops from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VerdictHistory {
    /// The gate-decided transitions, by task then time.
    pub verdicts: Vec<VerdictEvent>,
    /// The runs, by task then time.
    pub runs: Vec<RunCost>,
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
                    stage: row.get(4)?,
                    to_stage: row.get(5)?,
                    role: row.get(6)?,
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
