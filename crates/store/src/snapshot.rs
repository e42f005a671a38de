//! The `/queue` snapshot: the queue, the open alerts and the suite
//! runners' counters (the staging runner's; the test runner's, with its
//! shadow-mode agreement), read in one read transaction.

use orch_pipeline::{Role, Stage};
use rusqlite::{Connection, Row, Transaction, TransactionBehavior};

use crate::error::{Result, sql};
use crate::records::{Alert, alert_from_row};
use crate::rows::{role_at, stage_at};
use crate::shadow::{ShadowAgreement, ShadowEvidence, agreement, evidence_and_commands};
use crate::store::Store;
use crate::types::{AgentRunId, JobId, JobState, LeaseOwner, RunOutcome, TaskId, TaskStatus};

/// The role whose `agent_runs` rows the snapshot's staging-runner counters
/// count: the reserved agent that runs a repository's staging suite. The
/// store knows this one role name, and the outcome texts below, for the
/// counters only; what they mean stays the launcher's business.
pub const STAGING_RUNNER_ROLE: Role = Role::StagingRunner;

/// The role whose `agent_runs` rows the test runner's counters count: the
/// reserved agent that runs a repository's test command (mode `on`, or
/// beside the LLM tester in shadow mode).
pub const TEST_RUNNER_ROLE: Role = Role::TestRunner;

/// The stage the test runner serves, whose `shadow_verdicts` the agreement
/// counts.
const TEST_RUNNER_STAGE: Stage = Stage::Testing;

/// The outcome of a run that ran and passed.
pub const OUTCOME_PASSED: &str = RunOutcome::Passed.as_str();
/// The outcome of a run that ran and failed.
pub const OUTCOME_FAILED: &str = RunOutcome::Failed.as_str();
/// The outcome of a run that its time limit ended.
pub const OUTCOME_TIMED_OUT: &str = RunOutcome::TimedOut.as_str();
/// The outcome of a run that could not start; its job was deferred.
pub const OUTCOME_DEFERRED: &str = RunOutcome::Deferred.as_str();
/// The outcome of a run that could not start with its retries spent.
pub const OUTCOME_EXHAUSTED: &str = RunOutcome::Exhausted.as_str();
/// The outcome of a reserved agent that handed its job to the LLM path.
pub const OUTCOME_FALLBACK: &str = RunOutcome::Fallback.as_str();
/// The outcome of a run that could not start, with nothing more tried.
pub const OUTCOME_TOOL_ERROR: &str = RunOutcome::ToolError.as_str();
/// The outcome of a run the worker stopped (shutdown, lost lease).
pub const OUTCOME_CANCELLED: &str = RunOutcome::Cancelled.as_str();

/// A consistent picture of the queue for `GET /queue`, read by
/// [`Store::queue_snapshot`] in one read transaction: every figure in it
/// belongs to the same instant.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueSnapshot {
    /// The store clock's time when it was read; `elapsed_ms` counts to it.
    pub at_ms: i64,
    /// Jobs in each state, for every state in [`JobState::ALL`] order (zero
    /// counts included).
    pub counts: Vec<(JobState, u64)>,
    /// Tasks in each status, for every status in [`TaskStatus::ALL`] order
    /// (zero counts included).
    pub task_counts: Vec<(TaskStatus, u64)>,
    /// Every running job, oldest claim first.
    pub running: Vec<RunningJob>,
    /// The next `limit` queued jobs in claim order (`run_after_ms`, then
    /// id), due or not yet due, deferred ones included.
    pub queued: Vec<QueuedJob>,
    /// Up to `limit` queued jobs that were deferred at least once
    /// (`infra_attempts > 0`), in claim order.
    pub deferred: Vec<QueuedJob>,
    /// How many queued jobs were deferred at least once, in all.
    pub deferred_total: u64,
    /// Up to `limit` open (unacknowledged) alerts, newest first.
    pub alerts: Vec<Alert>,
    /// How many alerts are open, in all.
    pub open_alerts_total: u64,
    /// The staging runner's counters, from `agent_runs`.
    pub staging_runner: SuiteRunnerStats,
    /// The test runner's counters, from `agent_runs` (its runs in shadow
    /// mode included).
    pub test_runner: SuiteRunnerStats,
    /// The test runner's agreement with the LLM tester in shadow mode, from
    /// `shadow_verdicts`.
    pub test_runner_agreement: ShadowAgreement,
    /// The test runner's shadow pairs per repository and test command
    /// ([`Store::shadow_evidence`] of `testing`), ordered by repository.
    pub test_runner_evidence: Vec<ShadowEvidence>,
    /// Each repository of `test_runner_evidence` with the digest of its
    /// current test command ([`crate::command_sha256`]; `None`: it has
    /// none), by name: the pairs that count towards switching it on.
    pub test_runner_commands: Vec<(String, Option<String>)>,
    /// Up to `limit` shadow pairs whose runner gave a verdict other than
    /// the LLM's, newest first.
    pub shadow_disagreements: Vec<crate::shadow::ShadowVerdict>,
}

/// A running job on the snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningJob {
    /// The job.
    pub id: JobId,
    /// Its task.
    pub task: TaskId,
    /// The name of the task's repository.
    pub repo: String,
    /// The stage.
    pub stage: Stage,
    /// The role.
    pub role: Role,
    /// Who holds the lease.
    pub owner: LeaseOwner,
    /// When the lease was taken (the claim); `None` for a job claimed
    /// before schema version 3, which did not record it.
    pub started_ms: Option<i64>,
    /// `at_ms` minus `started_ms` (0 if the clock went back); `None` when
    /// `started_ms` is.
    pub elapsed_ms: Option<i64>,
    /// When the lease expires unless its worker heartbeats.
    pub lease_expires_ms: i64,
    /// Claims spent, this one included.
    pub attempts: u32,
    /// The poison threshold for `attempts`.
    pub max_attempts: u32,
}

/// A queued job on the snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedJob {
    /// The job.
    pub id: JobId,
    /// Its task.
    pub task: TaskId,
    /// The name of the task's repository.
    pub repo: String,
    /// The stage.
    pub stage: Stage,
    /// The role.
    pub role: Role,
    /// The earliest time it may be claimed.
    pub run_after_ms: i64,
    /// Claims spent so far.
    pub attempts: u32,
    /// Deferrals so far (the work could not start).
    pub infra_attempts: u32,
    /// Why the latest deferral, release or rescue happened.
    pub last_error: Option<String>,
}

/// The staging runner's counters (the name from before the test runner).
pub type StagingRunnerStats = SuiteRunnerStats;
/// The staging runner's newest run (the name from before the test runner).
pub type StagingRunnerRun = SuiteRunnerRun;

/// Counters over the `agent_runs` rows of one suite runner's role
/// ([`STAGING_RUNNER_ROLE`], [`TEST_RUNNER_ROLE`]). They come from the
/// database, so they survive a restart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SuiteRunnerStats {
    /// Every recorded run, whatever its outcome: the sum of `passed`,
    /// `failed`, `timed_out`, `tool_errors`, `fallbacks_to_llm`,
    /// `cancelled` and `other`.
    pub runs: u64,
    /// Outcome [`OUTCOME_PASSED`]: the suite ran and passed.
    pub passed: u64,
    /// Outcome [`OUTCOME_FAILED`]: the suite ran and failed.
    pub failed: u64,
    /// Outcome [`OUTCOME_TIMED_OUT`]: its time limit ended the suite.
    pub timed_out: u64,
    /// The suite could not run: `deferred` plus `exhausted` plus the runs
    /// of outcome [`OUTCOME_TOOL_ERROR`] (a shadow run whose command could
    /// not run, nothing more tried).
    pub tool_errors: u64,
    /// Outcome [`OUTCOME_DEFERRED`]: could not run, the job was deferred.
    pub deferred: u64,
    /// Outcome [`OUTCOME_EXHAUSTED`]: could not run, retries spent, the stage
    /// failed closed.
    pub exhausted: u64,
    /// Outcome [`OUTCOME_FALLBACK`]: an internal error handed the job to the
    /// LLM role (the deployer, the tester).
    pub fallbacks_to_llm: u64,
    /// Outcome [`OUTCOME_CANCELLED`]: the worker stopped the run (shutdown,
    /// lost lease).
    pub cancelled: u64,
    /// Any other outcome text (none is expected of a suite runner): counted
    /// so that the buckets add up to `runs`.
    pub other: u64,
    /// The newest run (highest id), if any.
    pub last_run: Option<SuiteRunnerRun>,
}

/// The newest run of a suite runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuiteRunnerRun {
    /// Its `agent_runs` row.
    pub id: AgentRunId,
    /// The task it ran for.
    pub task: TaskId,
    /// Its outcome text.
    pub outcome: String,
    /// How long it ran.
    pub duration_ms: i64,
    /// When it ended.
    pub ended_ms: i64,
}

/// All jobs. SQLite answers a bare `count(*)` by adding up the cell counts
/// of the pages of its smallest index (the `Count` opcode), visiting no row:
/// about 250 pages for 100,000 jobs.
pub(crate) const TOTAL_SQL: &str = "SELECT count(*) FROM jobs";

/// The query that counts the jobs in `state` through its partial index, the
/// state spelt literally so that the planner can use that index; `None` for
/// `done`, the history, counted as all jobs minus the others.
pub(crate) fn count_sql(state: JobState) -> Option<&'static str> {
    match state {
        JobState::Queued => Some("SELECT count(*) FROM jobs WHERE state = 'queued'"),
        JobState::Running => Some("SELECT count(*) FROM jobs WHERE state = 'running'"),
        JobState::Failed => Some("SELECT count(*) FROM jobs WHERE state = 'failed'"),
        JobState::Done => None,
    }
}

/// Every running job with its repository, oldest claim first.
pub(crate) const RUNNING_SQL: &str = "\
    SELECT j.id, j.task_id, r.name, j.stage, j.role, j.lease_owner, j.lease_boot_id, \
           j.claimed_ms, j.lease_expires_ms, j.attempts, j.max_attempts \
    FROM jobs AS j \
    JOIN tasks AS t ON t.id = j.task_id \
    JOIN repos AS r ON r.id = t.repo_id \
    WHERE j.state = 'running' \
    ORDER BY j.claimed_ms, j.id";

/// The next queued jobs in claim order (`jobs_claimable`, the claim's own).
pub(crate) const QUEUED_SQL: &str = "\
    SELECT j.id, j.task_id, r.name, j.stage, j.role, j.run_after_ms, j.attempts, \
           j.infra_attempts, j.last_error \
    FROM jobs AS j \
    JOIN tasks AS t ON t.id = j.task_id \
    JOIN repos AS r ON r.id = t.repo_id \
    WHERE j.state = 'queued' \
    ORDER BY j.run_after_ms, j.id LIMIT ?1";

/// The next deferred jobs in claim order. `INDEXED BY`: left to itself the
/// planner may walk every queued job through `jobs_claimable` and filter.
pub(crate) const DEFERRED_SQL: &str = "\
    SELECT j.id, j.task_id, r.name, j.stage, j.role, j.run_after_ms, j.attempts, \
           j.infra_attempts, j.last_error \
    FROM jobs AS j INDEXED BY jobs_deferred \
    JOIN tasks AS t ON t.id = j.task_id \
    JOIN repos AS r ON r.id = t.repo_id \
    WHERE j.state = 'queued' AND j.infra_attempts > 0 \
    ORDER BY j.run_after_ms, j.id LIMIT ?1";

/// How many deferred jobs there are (`INDEXED BY` as above).
pub(crate) const DEFERRED_TOTAL_SQL: &str = "SELECT count(*) FROM jobs INDEXED BY jobs_deferred \
     WHERE state = 'queued' AND infra_attempts > 0";

/// The newest open alerts (`alerts_open`, read backwards).
pub(crate) const ALERTS_SQL: &str = "\
    SELECT id, kind, message, task_id, job_id, created_ms, acknowledged_ms \
    FROM alerts WHERE acknowledged_ms IS NULL \
    ORDER BY created_ms DESC, id DESC LIMIT ?1";

/// How many alerts are open (`alerts_open`).
pub(crate) const ALERTS_TOTAL_SQL: &str =
    "SELECT count(*) FROM alerts WHERE acknowledged_ms IS NULL";

/// A role's runs per outcome: one range of the covering index
/// `agent_runs_by_role_outcome`, counted (linear in the role's runs).
pub(crate) const OUTCOMES_SQL: &str =
    "SELECT outcome, count(*) FROM agent_runs WHERE role = ?1 GROUP BY outcome";

/// The newest run of a role with an outcome: the last entry of its range of
/// `agent_runs_by_role_outcome` (whose entries end with the row id), found
/// without counting.
pub(crate) const NEWEST_SQL: &str =
    "SELECT max(id) FROM agent_runs WHERE role = ?1 AND outcome = ?2";

/// One run, by its id.
pub(crate) const RUN_SQL: &str =
    "SELECT id, task_id, outcome, duration_ms, ended_ms FROM agent_runs WHERE id = ?1";

fn queued_from_row(row: &Row<'_>) -> rusqlite::Result<QueuedJob> {
    Ok(QueuedJob {
        id: row.get(0)?,
        task: row.get(1)?,
        repo: row.get(2)?,
        stage: stage_at(row, 3, "jobs", "stage", 0)?,
        role: role_at(row, 4, "jobs", "role", 0)?,
        run_after_ms: row.get(5)?,
        attempts: row.get(6)?,
        infra_attempts: row.get(7)?,
        last_error: row.get(8)?,
    })
}

/// Jobs in each state, in [`JobState::ALL`] order. Call it inside a read
/// transaction: `done` is the total minus the others, read one by one.
pub(crate) fn job_counts(conn: &Connection, op: &'static str) -> Result<Vec<(JobState, u64)>> {
    let count = |query: &str| {
        conn.prepare_cached(query)
            .and_then(|mut stmt| stmt.query_row([], |row| row.get::<_, u64>(0)))
            .map_err(sql(op))
    };
    let total = count(TOTAL_SQL)?;
    let mut counts = Vec::with_capacity(JobState::ALL.len());
    for state in JobState::ALL {
        if let Some(query) = count_sql(*state) {
            counts.push((*state, Some(count(query)?)));
        } else {
            counts.push((*state, None));
        }
    }
    let counted: u64 = counts.iter().filter_map(|(_, n)| *n).sum();
    let rest = total.saturating_sub(counted);
    Ok(counts
        .into_iter()
        .map(|(state, n)| (state, n.unwrap_or(rest)))
        .collect())
}

/// Counts all tasks.
pub(crate) const TASKS_TOTAL_SQL: &str = "SELECT count(*) FROM tasks";

/// The query that counts the tasks in `status` through its partial index;
/// `None` for `done`, the history, counted as all tasks minus the others.
pub(crate) fn task_count_sql(status: TaskStatus) -> Option<&'static str> {
    match status {
        TaskStatus::Active => Some("SELECT count(*) FROM tasks WHERE status = 'active'"),
        TaskStatus::Blocked => Some("SELECT count(*) FROM tasks WHERE status = 'blocked'"),
        TaskStatus::Done => None,
    }
}

/// Tasks in each status, every status in [`TaskStatus::ALL`] order.
fn task_counts(conn: &Connection) -> Result<Vec<(TaskStatus, u64)>> {
    let count = |query: &str| {
        conn.prepare_cached(query)
            .and_then(|mut stmt| stmt.query_row([], |row| row.get::<_, u64>(0)))
            .map_err(sql("queue_snapshot"))
    };
    let total = count(TASKS_TOTAL_SQL)?;
    let mut counts = Vec::with_capacity(TaskStatus::ALL.len());
    for status in TaskStatus::ALL {
        counts.push((*status, task_count_sql(*status).map(count).transpose()?));
    }
    let counted: u64 = counts.iter().filter_map(|(_, n)| *n).sum();
    let rest = total.saturating_sub(counted);
    Ok(counts
        .into_iter()
        .map(|(status, n)| (status, n.unwrap_or(rest)))
        .collect())
}

fn queued_jobs(conn: &Connection, query: &str, limit: u32) -> Result<Vec<QueuedJob>> {
    let mut stmt = conn.prepare_cached(query).map_err(sql("queue_snapshot"))?;
    stmt.query_map([limit], queued_from_row)
        .map_err(sql("queue_snapshot"))?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(sql("queue_snapshot"))
}

fn count(conn: &Connection, query: &str) -> Result<u64> {
    conn.prepare_cached(query)
        .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
        .map_err(sql("queue_snapshot"))
}

fn running_jobs(conn: &Connection, now_ms: i64) -> Result<Vec<RunningJob>> {
    let mut stmt = conn
        .prepare_cached(RUNNING_SQL)
        .map_err(sql("queue_snapshot"))?;
    stmt.query_map([], |row| {
        let started_ms: Option<i64> = row.get(7)?;
        Ok(RunningJob {
            id: row.get(0)?,
            task: row.get(1)?,
            repo: row.get(2)?,
            stage: stage_at(row, 3, "jobs", "stage", 0)?,
            role: role_at(row, 4, "jobs", "role", 0)?,
            owner: LeaseOwner {
                worker: row.get(5)?,
                boot_id: row.get(6)?,
            },
            started_ms,
            elapsed_ms: started_ms.map(|started| now_ms.saturating_sub(started).max(0)),
            lease_expires_ms: row.get(8)?,
            attempts: row.get(9)?,
            max_attempts: row.get(10)?,
        })
    })
    .map_err(sql("queue_snapshot"))?
    .collect::<rusqlite::Result<Vec<_>>>()
    .map_err(sql("queue_snapshot"))
}

fn open_alerts(conn: &Connection, limit: u32) -> Result<Vec<Alert>> {
    let mut stmt = conn
        .prepare_cached(ALERTS_SQL)
        .map_err(sql("queue_snapshot"))?;
    // ALERTS_SQL selects the columns in alert_from_row's order.
    stmt.query_map([limit], alert_from_row)
        .map_err(sql("queue_snapshot"))?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(sql("queue_snapshot"))
}

fn runner_stats(conn: &Connection, role: Role) -> Result<SuiteRunnerStats> {
    let outcomes = {
        let mut stmt = conn
            .prepare_cached(OUTCOMES_SQL)
            .map_err(sql("queue_snapshot"))?;
        stmt.query_map([role.as_str()], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, u64>(1)?))
        })
        .map_err(sql("queue_snapshot"))?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(sql("queue_snapshot"))?
    };
    let mut stats = SuiteRunnerStats::default();
    let mut newest: Option<AgentRunId> = None;
    let mut newest_of = conn
        .prepare_cached(NEWEST_SQL)
        .map_err(sql("queue_snapshot"))?;
    for (outcome, n) in outcomes {
        stats.runs += n;
        let last: Option<AgentRunId> = newest_of
            .query_row([role.as_str(), outcome.as_str()], |row| row.get(0))
            .map_err(sql("queue_snapshot"))?;
        newest = newest.max(last);
        // Every outcome is matched: a new one must be given its counter
        // here. Text no outcome has counts in `other`, so that the buckets
        // add up to `runs`.
        let counter = match outcome.parse::<RunOutcome>() {
            Ok(RunOutcome::Passed) => &mut stats.passed,
            Ok(RunOutcome::Failed) => &mut stats.failed,
            Ok(RunOutcome::TimedOut) => &mut stats.timed_out,
            Ok(RunOutcome::Deferred) => &mut stats.deferred,
            Ok(RunOutcome::Exhausted) => &mut stats.exhausted,
            Ok(RunOutcome::ToolError) => &mut stats.tool_errors,
            Ok(RunOutcome::Fallback) => &mut stats.fallbacks_to_llm,
            Ok(RunOutcome::Cancelled) => &mut stats.cancelled,
            Ok(RunOutcome::Skipped) | Err(_) => &mut stats.other,
        };
        *counter += n;
    }
    // `tool_errors` holds the `tool_error` runs so far.
    stats.tool_errors += stats.deferred + stats.exhausted;
    if let Some(id) = newest {
        let mut stmt = conn
            .prepare_cached(RUN_SQL)
            .map_err(sql("queue_snapshot"))?;
        stats.last_run = Some(
            stmt.query_row([id], |row| {
                Ok(SuiteRunnerRun {
                    id: row.get(0)?,
                    task: row.get(1)?,
                    outcome: row.get(2)?,
                    duration_ms: row.get(3)?,
                    ended_ms: row.get(4)?,
                })
            })
            .map_err(sql("queue_snapshot"))?,
        );
    }
    Ok(stats)
}

impl Store {
    /// Everything `GET /queue` shows, read in one read transaction, so every
    /// figure belongs to the same instant: the jobs in each state, every
    /// running job (with its repository, lease owner, claim time, elapsed
    /// time and lease expiry), the next `limit` queued jobs in claim order,
    /// up to `limit` deferred jobs, up to `limit` open alerts newest first,
    /// the staging runner's and the test runner's counters over
    /// `agent_runs` (roles [`STAGING_RUNNER_ROLE`], [`TEST_RUNNER_ROLE`]),
    /// and the test runner's shadow agreement over `shadow_verdicts`, with
    /// its pairs per repository and test command and each of those
    /// repositories' current test command (the input of the decision to
    /// switch the runner on).
    ///
    /// Every query is an index search or a scan of a partial index, never a
    /// scan of a whole table (a test checks the query plans), so the snapshot
    /// stays fast on a long history; see `docs/benchmarks.md`. It takes no
    /// write lock and never waits for a writer (WAL).
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`](crate::StoreError::Sqlite) if SQLite fails.
    pub fn queue_snapshot(&self, limit: u32) -> Result<QueueSnapshot> {
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Deferred)
            .map_err(sql("queue_snapshot"))?;
        let at_ms = self.now_ms();
        let (test_runner_evidence, test_runner_commands) =
            evidence_and_commands(&tx, TEST_RUNNER_STAGE, "queue_snapshot")?;
        let snapshot = QueueSnapshot {
            at_ms,
            counts: job_counts(&tx, "queue_snapshot")?,
            task_counts: task_counts(&tx)?,
            running: running_jobs(&tx, at_ms)?,
            queued: queued_jobs(&tx, QUEUED_SQL, limit)?,
            deferred: queued_jobs(&tx, DEFERRED_SQL, limit)?,
            deferred_total: count(&tx, DEFERRED_TOTAL_SQL)?,
            alerts: open_alerts(&tx, limit)?,
            open_alerts_total: count(&tx, ALERTS_TOTAL_SQL)?,
            staging_runner: runner_stats(&tx, STAGING_RUNNER_ROLE)?,
            test_runner: runner_stats(&tx, TEST_RUNNER_ROLE)?,
            test_runner_agreement: agreement(&tx, TEST_RUNNER_STAGE, "queue_snapshot")?,
            test_runner_evidence,
            test_runner_commands,
            shadow_disagreements: crate::shadow::disagreements(&tx, limit, "queue_snapshot")?,
        };
        // Nothing was written: ending the read transaction either way is
        // the same.
        tx.commit().map_err(sql("queue_snapshot"))?;
        Ok(snapshot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreOptions;

    /// Partial indexes: scanning one reads only the rows it holds (queued,
    /// running, deferred jobs; open alerts), never the history.
    const PARTIAL_INDEXES: [&str; 8] = [
        "shadow_verdicts_disagreements",
        "tasks_active",
        "tasks_blocked",
        "jobs_claimable",
        "jobs_leased",
        "jobs_failed",
        "jobs_deferred",
        "alerts_open",
    ];

    fn plan(store: &Store, query: &str) -> Vec<String> {
        let mut stmt = store
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {query}"))
            .unwrap();
        let params = stmt.parameter_count();
        let values: Vec<i64> = vec![1; params];
        stmt.query_map(rusqlite::params_from_iter(values), |row| {
            row.get::<_, String>(3)
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
    }

    /// Fails when a step of the plan scans a whole table (or a whole
    /// index, which is as long): only searches and scans of a partial index
    /// are allowed.
    fn assert_no_full_scan(store: &Store, name: &str, query: &str) -> Vec<String> {
        let steps = plan(store, query);
        for step in &steps {
            if !step.starts_with("SCAN ") {
                continue;
            }
            assert!(
                PARTIAL_INDEXES
                    .iter()
                    .any(|index| step.ends_with(&format!("INDEX {index}"))),
                "{name} scans a whole table or index: {step:?}\nplan: {steps:#?}"
            );
        }
        steps
    }

    fn uses(steps: &[String], index: &str) -> bool {
        steps.iter().any(|s| s.contains(&format!("INDEX {index}")))
    }

    #[test]
    fn no_snapshot_query_scans_a_whole_table() {
        let store = Store::open_in_memory(StoreOptions::default()).unwrap();
        for state in JobState::ALL {
            if let Some(query) = count_sql(*state) {
                assert_no_full_scan(&store, state.as_str(), query);
            }
        }
        // The total is the Count opcode over an index's pages, not a loop
        // over its rows.
        let mut stmt = store.conn.prepare(&format!("EXPLAIN {TOTAL_SQL}")).unwrap();
        let opcodes: Vec<String> = stmt
            .query_map([], |row| row.get(1))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert!(opcodes.iter().any(|o| o == "Count"), "{opcodes:?}");
        assert!(!opcodes.iter().any(|o| o == "Next"), "{opcodes:?}");
        for status in TaskStatus::ALL {
            if let Some(query) = task_count_sql(*status) {
                let steps = assert_no_full_scan(&store, status.as_str(), query);
                assert!(
                    uses(&steps, &format!("tasks_{}", status.as_str())),
                    "{steps:?}"
                );
            }
        }
        let mut stmt = store
            .conn
            .prepare(&format!("EXPLAIN {TASKS_TOTAL_SQL}"))
            .unwrap();
        let opcodes: Vec<String> = stmt
            .query_map([], |row| row.get(1))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert!(opcodes.iter().any(|o| o == "Count"), "{opcodes:?}");
        let steps = assert_no_full_scan(&store, "disagreements", crate::shadow::DISAGREEMENTS_SQL);
        assert!(uses(&steps, "shadow_verdicts_disagreements"), "{steps:?}");
        let steps = assert_no_full_scan(&store, "running", RUNNING_SQL);
        assert!(uses(&steps, "jobs_leased"), "{steps:?}");
        let steps = assert_no_full_scan(&store, "queued", QUEUED_SQL);
        assert!(uses(&steps, "jobs_claimable"), "{steps:?}");
        assert!(
            !steps.iter().any(|s| s.contains("TEMP B-TREE")),
            "the claim order comes from the index, not a sort: {steps:?}"
        );
        let steps = assert_no_full_scan(&store, "deferred", DEFERRED_SQL);
        assert!(uses(&steps, "jobs_deferred"), "{steps:?}");
        let steps = assert_no_full_scan(&store, "deferred total", DEFERRED_TOTAL_SQL);
        assert!(uses(&steps, "jobs_deferred"), "{steps:?}");
        let steps = assert_no_full_scan(&store, "alerts", ALERTS_SQL);
        assert!(uses(&steps, "alerts_open"), "{steps:?}");
        assert!(
            !steps.iter().any(|s| s.contains("TEMP B-TREE")),
            "{steps:?}"
        );
        assert_no_full_scan(&store, "open alerts total", ALERTS_TOTAL_SQL);
        let steps = assert_no_full_scan(&store, "staging runner counters", OUTCOMES_SQL);
        assert!(
            steps
                .iter()
                .any(|s| s.contains("COVERING INDEX agent_runs_by_role_outcome (role=?)")),
            "{steps:?}"
        );
        assert!(
            !steps.iter().any(|s| s.contains("TEMP B-TREE")),
            "{steps:?}"
        );
        let steps = assert_no_full_scan(&store, "newest run of an outcome", NEWEST_SQL);
        assert!(
            steps
                .iter()
                .any(|s| s
                    .contains("COVERING INDEX agent_runs_by_role_outcome (role=? AND outcome=?)")),
            "{steps:?}"
        );
        let steps = assert_no_full_scan(&store, "shadow agreement", crate::shadow::AGREEMENT_SQL);
        assert!(
            steps
                .iter()
                .any(|s| s.contains("COVERING INDEX shadow_verdicts_agreement (stage=?)")),
            "{steps:?}"
        );
        assert!(
            !steps.iter().any(|s| s.contains("TEMP B-TREE")),
            "{steps:?}"
        );
        let steps = assert_no_full_scan(&store, "shadow evidence", crate::shadow::EVIDENCE_SQL);
        assert!(
            steps
                .iter()
                .any(|s| s.contains("COVERING INDEX shadow_verdicts_evidence (stage=?)")),
            "{steps:?}"
        );
        assert!(
            !steps.iter().any(|s| s.contains("TEMP B-TREE")),
            "grouped in index order: {steps:?}"
        );
        let steps = assert_no_full_scan(&store, "a repository", crate::shadow::REPO_SQL);
        assert!(
            steps.iter().any(|s| s.contains("INTEGER PRIMARY KEY")),
            "{steps:?}"
        );
        let steps = assert_no_full_scan(&store, "last run", RUN_SQL);
        assert!(
            steps.iter().any(|s| s.contains("INTEGER PRIMARY KEY")),
            "{steps:?}"
        );
    }

    #[test]
    fn the_claim_and_the_boot_rescue_search_their_indexes() {
        let store = Store::open_in_memory(StoreOptions::default()).unwrap();
        // The oldest due queued job comes straight from its partial index,
        // in claim order: a range search, no sort of the queue.
        let steps = assert_no_full_scan(&store, "claim", &crate::queue::claim_sql());
        assert!(
            steps
                .iter()
                .any(|s| s.contains("INDEX jobs_claimable (run_after_ms<?)")),
            "{steps:?}"
        );
        assert!(
            !steps.iter().any(|s| s.contains("TEMP B-TREE")),
            "{steps:?}"
        );
        let expired = "SELECT id FROM jobs WHERE state = 'running' AND lease_expires_ms <= ?1";
        assert_no_full_scan(&store, "rescue_expired", expired);
        assert_no_full_scan(&store, "leasing boots", crate::boots::LEASING_BOOTS_SQL);
    }
}
