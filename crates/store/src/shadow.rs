//! A suite runner in shadow mode: the pairs of verdicts, the runner's and the
//! LLM's, on the same job, and the agreement counted over them.
//!
//! The LLM role decides the transition; the runner ran beside it on the same
//! commit. Each pair is one `shadow_verdicts` row, written in the job end's
//! own transaction ([`crate::JobEnd::shadow`]), so a pair exists exactly when
//! the LLM's verdict moved the task.

use orch_pipeline::Stage;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::error::{Result, StoreError, sql};
use crate::records::check_commit;
use crate::rows::stage_at;
use crate::store::Store;
use crate::types::{AgentRunId, JobId, TaskId};

/// The verdict that lets a suite's stage advance.
pub const VERDICT_PASSED: &str = "PASSED";
/// The verdict that sends it back.
pub const VERDICT_FAILED: &str = "FAILED";

/// A pair of verdicts to record with a job's end.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewShadowVerdict {
    /// The stage, e.g. `testing`.
    pub stage: Stage,
    /// The runner's `agent_runs` row (recorded before the job's end).
    pub runner_run: AgentRunId,
    /// The commit the runner ran on (`None` without a worktree).
    pub commit: Option<String>,
    /// The commit the LLM's verdict is about (`None` without a worktree).
    /// The pair counts towards agreement only when it is `commit`.
    pub llm_commit: Option<String>,
    /// `PASSED` or `FAILED`; `None` when the runner produced no verdict (the
    /// suite could not run, or the runner failed).
    pub runner_verdict: Option<String>,
    /// The LLM's verdict as the gate took it: `PASSED` when the gate passed,
    /// `FAILED` otherwise (a missing or malformed verdict line included).
    pub llm_verdict: String,
    /// The runner's command as [`command_sha256`] digests it; `None` when
    /// unknown.
    pub command_sha: Option<String>,
    /// The runner's verdict when it ran once more on the same commit because
    /// the pair disagreed (`PASSED`/`FAILED`); `None`: no second run, or one
    /// without a verdict. Differing from `runner_verdict`: the pair is flaky.
    pub rerun_verdict: Option<String>,
}

impl NewShadowVerdict {
    /// A pair without commits, runner verdict, command digest or rerun.
    #[must_use]
    pub fn new(stage: Stage, runner_run: AgentRunId, llm_verdict: impl Into<String>) -> Self {
        Self {
            stage,
            runner_run,
            commit: None,
            llm_commit: None,
            runner_verdict: None,
            llm_verdict: llm_verdict.into(),
            command_sha: None,
            rerun_verdict: None,
        }
    }

    /// Sets [`NewShadowVerdict::commit`].
    #[must_use]
    pub fn with_commit(mut self, commit: Option<String>) -> Self {
        self.commit = commit;
        self
    }

    /// Sets [`NewShadowVerdict::llm_commit`].
    #[must_use]
    pub fn with_llm_commit(mut self, llm_commit: Option<String>) -> Self {
        self.llm_commit = llm_commit;
        self
    }

    /// Sets [`NewShadowVerdict::runner_verdict`].
    #[must_use]
    pub fn with_runner_verdict(mut self, runner_verdict: Option<String>) -> Self {
        self.runner_verdict = runner_verdict;
        self
    }

    /// Sets [`NewShadowVerdict::command_sha`].
    #[must_use]
    pub fn with_command_sha(mut self, command_sha: Option<String>) -> Self {
        self.command_sha = command_sha;
        self
    }

    /// Sets [`NewShadowVerdict::rerun_verdict`].
    #[must_use]
    pub fn with_rerun_verdict(mut self, rerun_verdict: Option<String>) -> Self {
        self.rerun_verdict = rerun_verdict;
        self
    }
}

/// The sha256 of a test command, trimmed, as 64 lowercase hex digits: what
/// `shadow_verdicts.command_sha` holds, so that the evidence for a
/// repository counts only the pairs of the command it runs now.
#[must_use]
pub fn command_sha256(command: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(command.trim().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The shadow pairs of one repository and one test command, counted per
/// verdict pair: the input of the decision to switch its runner on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowEvidence {
    /// The repository's name.
    pub repo: String,
    /// The command's digest; `None` for pairs recorded before it was kept.
    pub command_sha: Option<String>,
    /// Same commit, both PASSED.
    pub both_passed: u64,
    /// Same commit, both FAILED.
    pub both_failed: u64,
    /// Same commit, the runner FAILED and the LLM PASSED (mode `on` would
    /// send these back).
    pub runner_only_failed: u64,
    /// Same commit, the runner PASSED and the LLM FAILED (mode `on` would
    /// let these through).
    pub llm_only_failed: u64,
    /// Same commit, the runner produced no verdict: not a pair to compare.
    pub runner_no_verdict: u64,
    /// The verdicts are about different commits: not compared.
    pub other_commit: u64,
    /// Same commit, a disagreement, and the runner's second run on that
    /// commit gave the other verdict: the suite is flaky there, so the pair
    /// says nothing about the LLM. Counted apart, in no other field and in
    /// no denominator.
    pub flaky: u64,
}

/// A recorded pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowVerdict {
    /// The job both ran for.
    pub job: JobId,
    /// Its task.
    pub task: TaskId,
    /// The stage.
    pub stage: Stage,
    /// The runner's run.
    pub runner_run: AgentRunId,
    /// The LLM's run (the job end's own).
    pub llm_run: Option<AgentRunId>,
    /// The commit the runner ran on.
    pub commit: Option<String>,
    /// The commit the LLM's verdict is about (`None` without a worktree,
    /// and for pairs recorded before schema version 7).
    pub llm_commit: Option<String>,
    /// The runner's verdict, if it produced one.
    pub runner_verdict: Option<String>,
    /// The LLM's verdict as the gate took it.
    pub llm_verdict: String,
    /// When it was recorded.
    pub created_ms: i64,
    /// The digest of the runner's command (`None` before schema version 12).
    pub command_sha: Option<String>,
    /// The runner's second verdict on a disagreement (`None` before schema
    /// version 13, without a second run, or without a verdict).
    pub rerun_verdict: Option<String>,
}

/// Agreement between a shadowed stage's runner and its LLM role, over every
/// recorded pair: `runs = agree + runner_only_failed + llm_only_failed +
/// runner_no_verdict + other_commit`. Only pairs whose two verdicts are
/// about the same commit are compared; the others are `other_commit`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShadowAgreement {
    /// Pairs recorded.
    pub runs: u64,
    /// Both said the same.
    pub agree: u64,
    /// The runner said FAILED, the LLM PASSED: mode `on` would have sent
    /// these back.
    pub runner_only_failed: u64,
    /// The runner said PASSED, the LLM FAILED: mode `on` would have let
    /// these through.
    pub llm_only_failed: u64,
    /// The runner produced no verdict (tool error, crash), on the LLM's
    /// commit.
    pub runner_no_verdict: u64,
    /// The two verdicts are about different commits (or the pair was
    /// recorded before schema version 7, without the LLM's commit): kept,
    /// but neither agreement nor disagreement.
    pub other_commit: u64,
}

impl ShadowAgreement {
    /// The pairs on one commit with both verdicts: the ones compared (a
    /// runner that gave no verdict compares nothing).
    #[must_use]
    pub fn compared(&self) -> u64 {
        self.agree + self.runner_only_failed + self.llm_only_failed
    }

    /// The share of compared pairs (same commit, both verdicts) that agree,
    /// `None` before the first: never 0.0 for want of a pair.
    #[must_use]
    pub fn rate(&self) -> Option<f64> {
        let compared = self.compared();
        #[expect(clippy::cast_precision_loss, reason = "counts far below 2^52")]
        (compared > 0).then(|| self.agree as f64 / compared as f64)
    }
}

/// The pairs of a stage per verdict pair: one range of the covering index
/// `shadow_verdicts_agreement`.
pub(crate) const AGREEMENT_SQL: &str = "SELECT same_commit, runner_verdict, llm_verdict, count(*) \
     FROM shadow_verdicts WHERE stage = ?1 GROUP BY same_commit, runner_verdict, llm_verdict";

fn check_verdict(what: &'static str, verdict: Option<&str>) -> Result<()> {
    match verdict {
        None | Some(VERDICT_PASSED | VERDICT_FAILED) => Ok(()),
        Some(_) => Err(StoreError::InvalidInput {
            what,
            why: "a shadow verdict is PASSED or FAILED",
        }),
    }
}

/// Inserts a pair inside a job end's transaction.
pub(crate) fn insert_shadow(
    tx: &Transaction<'_>,
    job: JobId,
    task: TaskId,
    llm_run: Option<AgentRunId>,
    shadow: &NewShadowVerdict,
    now_ms: i64,
) -> Result<()> {
    check_commit("shadow commit", shadow.commit.as_deref())?;
    check_commit("shadow LLM commit", shadow.llm_commit.as_deref())?;
    // Both without a worktree: the runner ran in the same folder after the
    // LLM ended, so the trees are the same one.
    let same_commit = shadow.commit == shadow.llm_commit;
    check_verdict("runner verdict", shadow.runner_verdict.as_deref())?;
    if let Some(sha) = &shadow.command_sha
        && (sha.len() != 64
            || !sha
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    {
        return Err(StoreError::InvalidInput {
            what: "shadow command digest",
            why: "it is 64 lowercase hex digits (orch_store::command_sha256)",
        });
    }
    check_verdict("LLM verdict", Some(&shadow.llm_verdict))?;
    check_verdict("runner re-run verdict", shadow.rerun_verdict.as_deref())?;
    let runner_job: Option<(JobId, TaskId)> = tx
        .query_row(
            "SELECT job_id, task_id FROM agent_runs WHERE id = ?1",
            [shadow.runner_run],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(sql("record shadow verdict"))?;
    if runner_job != Some((job, task)) {
        return Err(StoreError::InvalidInput {
            what: "shadow verdict",
            why: "its runner run is not a run of the ending job; record the runner's run of this job first",
        });
    }
    tx.execute(
        "INSERT INTO shadow_verdicts (job_id, task_id, stage, runner_run_id, llm_run_id, \
         commit_sha, runner_verdict, llm_verdict, created_ms, llm_commit_sha, same_commit, \
         command_sha, rerun_verdict, repo_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, \
         (SELECT repo_id FROM tasks WHERE id = ?2))",
        params![
            job,
            task,
            shadow.stage.as_str(),
            shadow.runner_run,
            llm_run,
            shadow.commit,
            shadow.runner_verdict,
            shadow.llm_verdict,
            now_ms,
            shadow.llm_commit,
            same_commit,
            shadow.command_sha,
            shadow.rerun_verdict
        ],
    )
    .map_err(sql("record shadow verdict"))?;
    Ok(())
}

/// The agreement of `stage`'s pairs (see [`ShadowAgreement`]).
pub(crate) fn agreement(
    conn: &Connection,
    stage: Stage,
    op: &'static str,
) -> Result<ShadowAgreement> {
    let mut stmt = conn.prepare_cached(AGREEMENT_SQL).map_err(sql(op))?;
    let rows = stmt
        .query_map([stage.as_str()], |row| {
            Ok((
                row.get::<_, bool>(0)?,
                row.get::<_, Option<String>>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, u64>(3)?,
            ))
        })
        .map_err(sql(op))?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(sql(op))?;
    let mut out = ShadowAgreement::default();
    for (same_commit, runner, llm, n) in rows {
        out.runs += n;
        match runner.as_deref() {
            _ if !same_commit => out.other_commit += n,
            None => out.runner_no_verdict += n,
            Some(runner) if runner == llm => out.agree += n,
            Some(VERDICT_FAILED) => out.runner_only_failed += n,
            Some(_) => out.llm_only_failed += n,
        }
    }
    Ok(out)
}

/// The pairs of a stage per repository, test command and verdict pair: one
/// range of the covering index `shadow_verdicts_evidence` (stage=?), grouped
/// in index order (no row, no task, no sort). Linear in the stage's pairs,
/// like [`AGREEMENT_SQL`].
pub(crate) const EVIDENCE_SQL: &str = "SELECT repo_id, command_sha, same_commit, \
     runner_verdict, llm_verdict, rerun_verdict, count(*) FROM shadow_verdicts \
     WHERE stage = ?1 GROUP BY repo_id, command_sha, same_commit, runner_verdict, \
     llm_verdict, rerun_verdict";

/// A repository's name and test command, by primary key.
pub(crate) const REPO_SQL: &str = "SELECT name, test_command FROM repos WHERE id = ?1";

/// A repository's name and its current test command's digest.
pub(crate) type RepoCommand = (String, Option<String>);

/// The pairs of `stage` per repository and test command (see
/// [`Store::shadow_evidence`]), each repository with the digest of its
/// current test command ([`command_sha256`]; `None`: it has none). Pairs
/// whose repository is gone are left out.
pub(crate) fn evidence_and_commands(
    conn: &Connection,
    stage: Stage,
    op: &'static str,
) -> Result<(Vec<ShadowEvidence>, Vec<RepoCommand>)> {
    type Cell = (
        Option<i64>,
        Option<String>,
        bool,
        Option<String>,
        String,
        Option<String>,
        u64,
    );
    let rows: Vec<Cell> = {
        let mut stmt = conn.prepare_cached(EVIDENCE_SQL).map_err(sql(op))?;
        stmt.query_map([stage.as_str()], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
                row.get(5)?,
                row.get(6)?,
            ))
        })
        .map_err(sql(op))?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(sql(op))?
    };
    let mut repo_of = conn.prepare_cached(REPO_SQL).map_err(sql(op))?;
    // (repo id, name, current command digest); rows come grouped by repo id.
    let mut repos: Vec<(i64, String, Option<String>)> = Vec::new();
    let mut out: Vec<ShadowEvidence> = Vec::new();
    for (repo_id, command_sha, same_commit, runner, llm, rerun, n) in rows {
        let Some(repo_id) = repo_id else { continue };
        if repos.last().is_none_or(|(id, _, _)| *id != repo_id) {
            let found: Option<(String, Option<String>)> = repo_of
                .query_row([repo_id], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()
                .map_err(sql(op))?;
            let Some((name, command)) = found else {
                continue;
            };
            let sha = command
                .filter(|c| !c.trim().is_empty())
                .map(|c| command_sha256(&c));
            repos.push((repo_id, name, sha));
        }
        let Some((_, repo, _)) = repos.last().filter(|(id, _, _)| *id == repo_id) else {
            continue;
        };
        let at = match out
            .iter()
            .position(|e| e.repo == *repo && e.command_sha == command_sha)
        {
            Some(at) => at,
            None => {
                out.push(ShadowEvidence {
                    repo: repo.clone(),
                    command_sha,
                    both_passed: 0,
                    both_failed: 0,
                    runner_only_failed: 0,
                    llm_only_failed: 0,
                    runner_no_verdict: 0,
                    other_commit: 0,
                    flaky: 0,
                });
                out.len() - 1
            }
        };
        let e = &mut out[at];
        match (runner.as_deref(), llm.as_str()) {
            _ if !same_commit => e.other_commit += n,
            (None, _) => e.runner_no_verdict += n,
            (Some(first), _) if rerun.as_deref().is_some_and(|second| second != first) => {
                e.flaky += n;
            }
            (Some(VERDICT_PASSED), VERDICT_PASSED) => e.both_passed += n,
            (Some(VERDICT_FAILED), VERDICT_PASSED) => e.runner_only_failed += n,
            (Some(VERDICT_PASSED), _) => e.llm_only_failed += n,
            (Some(_), _) => e.both_failed += n,
        }
    }
    // By repository name, then digest (`None` first), as before.
    out.sort_by(|a, b| (&a.repo, &a.command_sha).cmp(&(&b.repo, &b.command_sha)));
    let mut commands: Vec<RepoCommand> = repos
        .into_iter()
        .map(|(_, name, sha)| (name, sha))
        .collect();
    commands.sort();
    Ok((out, commands))
}

impl Store {
    /// The agreement of `stage`'s runner and LLM role over every recorded
    /// pair (one index range, whatever the history's length).
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] if SQLite fails.
    pub fn shadow_agreement(&self, stage: Stage) -> Result<ShadowAgreement> {
        agreement(&self.conn, stage, "shadow_agreement")
    }

    /// The pairs of `stage` per repository and test command, counted per
    /// verdict pair, ordered by repository name then command digest (`None`
    /// first). One range of a covering index ([`EVIDENCE_SQL`]), then each
    /// repository by primary key: `orch roadmap` and `/queue` read it.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] if SQLite fails.
    pub fn shadow_evidence(&self, stage: Stage) -> Result<Vec<ShadowEvidence>> {
        Ok(evidence_and_commands(&self.conn, stage, "shadow_evidence")?.0)
    }

    /// The newest ids of `agent_runs`, `shadow_verdicts` and `transitions`
    /// (0 for an empty table): the history `orch roadmap` reads has grown
    /// when one of them has. Three lookups at the end of a primary key, so
    /// cheap at any history length (the dashboard's roadmap cache asks it
    /// on every request).
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] if SQLite fails.
    pub fn history_marks(&self) -> Result<[i64; 3]> {
        const OP: &str = "history_marks";
        let newest = |table: &str| {
            self.conn
                .prepare_cached(&format!("SELECT coalesce(max(id), 0) FROM {table}"))
                .and_then(|mut stmt| stmt.query_row([], |row| row.get::<_, i64>(0)))
                .map_err(sql(OP))
        };
        Ok([
            newest("agent_runs")?,
            newest("shadow_verdicts")?,
            newest("transitions")?,
        ])
    }

    /// The latest `limit` pairs whose runner gave a verdict other than the
    /// LLM's, newest first (one range of a partial index).
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] if SQLite fails.
    pub fn shadow_disagreements(&self, limit: u32) -> Result<Vec<ShadowVerdict>> {
        disagreements(&self.conn, limit, "shadow_disagreements")
    }

    /// Whether an open (unacknowledged) alert of `kind` is about a task of
    /// repository `repo`: an alert said once per repository is not raised
    /// again while one is open.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] if SQLite fails.
    pub fn open_alert_for_repo(
        &self,
        kind: crate::types::AlertKind,
        repo: crate::types::RepoId,
    ) -> Result<bool> {
        self.conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM alerts AS a JOIN tasks AS t ON t.id = a.task_id \
                 WHERE a.acknowledged_ms IS NULL AND a.kind = ?1 AND t.repo_id = ?2)",
            )
            .and_then(|mut stmt| stmt.query_row(rusqlite::params![kind, repo], |row| row.get(0)))
            .map_err(sql("open_alert_for_repo"))
    }

    /// Every recorded pair of `task`, oldest first.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] if SQLite fails.
    pub fn shadow_verdicts(&self, task: TaskId) -> Result<Vec<ShadowVerdict>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT job_id, task_id, stage, runner_run_id, llm_run_id, commit_sha, \
                 runner_verdict, llm_verdict, created_ms, llm_commit_sha, command_sha, \
                 rerun_verdict FROM shadow_verdicts WHERE task_id = ?1 ORDER BY id",
            )
            .map_err(sql("shadow_verdicts"))?;
        stmt.query_map([task], |row| {
            Ok(ShadowVerdict {
                job: row.get(0)?,
                task: row.get(1)?,
                stage: stage_at(row, 2, "shadow_verdicts", "stage", 0)?,
                runner_run: row.get(3)?,
                llm_run: row.get(4)?,
                commit: row.get(5)?,
                runner_verdict: row.get(6)?,
                llm_verdict: row.get(7)?,
                created_ms: row.get(8)?,
                llm_commit: row.get(9)?,
                command_sha: row.get(10)?,
                rerun_verdict: row.get(11)?,
            })
        })
        .map_err(sql("shadow_verdicts"))?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(sql("shadow_verdicts"))
    }
}

/// The latest disagreements, newest first: [`Store::shadow_disagreements`].
pub(crate) const DISAGREEMENTS_SQL: &str = "SELECT job_id, task_id, stage, runner_run_id, llm_run_id, commit_sha, \
     runner_verdict, llm_verdict, created_ms, llm_commit_sha, command_sha, rerun_verdict \
     FROM shadow_verdicts INDEXED BY shadow_verdicts_disagreements \
     WHERE runner_verdict IS NOT NULL AND runner_verdict <> llm_verdict ORDER BY id DESC LIMIT ?1";

/// Reads the latest `limit` disagreements on `conn`.
pub(crate) fn disagreements(
    conn: &rusqlite::Connection,
    limit: u32,
    op: &'static str,
) -> Result<Vec<ShadowVerdict>> {
    let mut stmt = conn.prepare_cached(DISAGREEMENTS_SQL).map_err(sql(op))?;
    stmt.query_map([limit], |row| {
        Ok(ShadowVerdict {
            job: row.get(0)?,
            task: row.get(1)?,
            stage: stage_at(row, 2, "shadow_verdicts", "stage", 0)?,
            runner_run: row.get(3)?,
            llm_run: row.get(4)?,
            commit: row.get(5)?,
            runner_verdict: row.get(6)?,
            llm_verdict: row.get(7)?,
            created_ms: row.get(8)?,
            llm_commit: row.get(9)?,
            command_sha: row.get(10)?,
            rerun_verdict: row.get(11)?,
        })
    })
    .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
    .map_err(sql(op))
}
