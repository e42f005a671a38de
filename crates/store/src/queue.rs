//! The jobs queue: enqueue, claim, heartbeat, finish, defer, release; the
//! rescue of jobs whose worker is gone is `rescue`. The jobs table's reads
//! and row inserts are `crate::tables::jobs`.

mod rescue;

use std::time::Duration;

use rusqlite::{OptionalExtension, Transaction, params};

use crate::error::{Result, StoreError, sql};
use crate::records::agent_runs::NewAgentRun;
use crate::records::alerts::NewAlert;
use crate::records::jobs::{Job, NewJob};
use crate::records::transitions::NewTransition;
use crate::rows::{JOB_COLUMNS, job_from_row};
use crate::store::Store;
use crate::tables::agent_runs::insert_agent_run;
use crate::tables::alerts::insert_alert;
use crate::tables::jobs::{insert_job, refusal};
use crate::tables::transitions::insert_transition;
use crate::types::{
    AgentRunId, AlertId, AlertKind, JobId, JobState, Lease, LeaseOwner, TaskId, TransitionId,
};

/// A job that [`Store::claim`] leased to the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// The lease every later write for this job must carry.
    pub lease: Lease,
    /// The job, as it is now (state `running`).
    pub job: Job,
}

/// What a rescue did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rescued {
    /// Jobs put back on the queue, due at once.
    pub requeued: Vec<JobId>,
    /// Jobs failed: their attempts were spent (poison), or an operator had
    /// asked to cancel them (their task blocked with reason `cancelled`).
    pub failed: Vec<JobId>,
    /// Tasks that a poison or cancelled job moved from `active` to
    /// `blocked`, in the order of the jobs that blocked them.
    pub blocked: Vec<TaskId>,
    /// The `poison_job` (or, for a cancelled job, the acknowledged
    /// `cancelled`) alerts raised, one per failed job, in the order of
    /// [`Rescued::failed`].
    pub alerts: Vec<AlertId>,
}

/// The alert kind a rescue raises for a job it failed as poison.
pub const POISON_JOB_ALERT: AlertKind = AlertKind::PoisonJob;

/// Everything written together with the end of a job, in the same
/// transaction as the job's state change: by
/// [`Store::complete_with_transition`] (job `done`) and [`Store::fail`] (job
/// `failed`). Each part is optional; `JobEnd::default()` ends the job alone.
///
/// ```
/// use orch_store::{JobEnd, NewJob, Role, Stage, TaskId};
///
/// let next = NewJob::new(TaskId::new(1), Stage::Review, Role::Reviewer);
/// let end = JobEnd {
///     next: Some(&next),
///     ..JobEnd::default()
/// };
/// assert!(end.transition.is_none() && end.run.is_none() && end.alert.is_none());
/// assert!(end.commits.is_none());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct JobEnd<'a> {
    /// The task's stage change, with its gate decisions. Its task must be the
    /// job's task, still at `from_stage`.
    pub transition: Option<&'a NewTransition>,
    /// The next job to enqueue.
    pub next: Option<&'a NewJob>,
    /// The run of the ending job, for `agent_runs`. Its job and task must be
    /// the lease's job and that job's task.
    pub run: Option<&'a NewAgentRun>,
    /// An alert to raise.
    pub alert: Option<&'a NewAlert>,
    /// The commits the job's role started and ended on, for the job's row;
    /// the end commit also becomes the task's `head_commit`.
    pub commits: Option<&'a JobCommits>,
    /// A shadow runner's verdict beside this job's (LLM) run, paired with
    /// `run` in `shadow_verdicts`. Its runner run must be a recorded run of
    /// the lease's job.
    pub shadow: Option<&'a crate::shadow::NewShadowVerdict>,
}

/// The commits of a worktree task's job (see [`JobEnd::commits`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobCommits {
    /// `HEAD` of the task's worktree when the role started.
    pub start: Option<String>,
    /// `HEAD` when the stage ended, after orch committed the role's changes.
    pub end: Option<String>,
}

/// The ids of what a job's end wrote: returned by
/// [`Store::complete_with_transition`] and [`Store::fail`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Advanced {
    /// The transition recorded for the task, when one was given.
    pub transition: Option<TransitionId>,
    /// The next job, when one was given.
    pub next_job: Option<JobId>,
    /// The `agent_runs` row, when a run was given.
    pub run: Option<AgentRunId>,
    /// The alert, when one was given.
    pub alert: Option<AlertId>,
}

/// The SET clause that ends a lease.
const CLEAR_LEASE: &str = "lease_owner = NULL, lease_boot_id = NULL, lease_expires_ms = NULL";

/// The claim: one guarded statement (see [`Store::claim`]). `?1` worker,
/// `?2` boot id, `?3` lease expiry, `?4` now. A job of a `checkout` task is
/// passed over while an older `checkout` task of the same repository is
/// still active: such tasks share one folder, so they run one whole task at
/// a time, oldest first.
pub(crate) fn claim_sql() -> String {
    format!(
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, \
         lease_token = lease_token + 1, lease_owner = ?1, lease_boot_id = ?2, \
         lease_expires_ms = ?3, updated_ms = ?4, claimed_ms = ?4 \
         WHERE state = 'queued' AND id = ( \
             SELECT j.id FROM jobs j WHERE j.state = 'queued' AND j.run_after_ms <= ?4 \
             AND NOT EXISTS ( \
                 SELECT 1 FROM tasks t JOIN tasks o \
                     ON o.repo_id = t.repo_id AND o.status = 'active' \
                     AND o.isolation = 'checkout' AND o.id < t.id \
                 WHERE t.id = j.task_id AND t.isolation = 'checkout') \
             ORDER BY j.run_after_ms, j.id LIMIT 1) \
         RETURNING {JOB_COLUMNS}"
    )
}

/// Milliseconds in `d`, saturating: a lease of centuries is as good as forever.
fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Turns "no row changed" into [`StoreError::LeaseLost`].
fn fenced(changed: usize, lease: Lease) -> Result<()> {
    if changed == 1 {
        Ok(())
    } else {
        Err(StoreError::LeaseLost {
            job: lease.job,
            token: lease.token,
        })
    }
}

/// Whether a fenced end honours an operator's cancel request (every end but
/// the cancelled one does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cancel {
    /// Refuse the end when a cancel was asked: [`StoreError::CancelRequested`].
    Honour,
    /// This is the cancelled end itself.
    IsThisEnd,
}

/// The fenced end of a running job: to `state` (`done` or `failed`), with
/// `error` as its `last_error` when given. Returns the job's task. The end is
/// written only while the lease's token still holds the job and, unless
/// `cancel` says this is the cancelled end, no operator asked to cancel it;
/// the side effects its claim started ([`Store::begin_effect`]) are marked
/// ended with it.
pub(crate) fn end_job(
    tx: &Transaction<'_>,
    op: &'static str,
    lease: Lease,
    state: JobState,
    error: Option<&str>,
    now_ms: i64,
    cancel: Cancel,
) -> Result<TaskId> {
    let task = tx
        .query_row(
            &format!(
                "UPDATE jobs SET state = ?3, last_error = coalesce(?4, last_error), {CLEAR_LEASE}, \
                 updated_ms = ?5 \
                 WHERE id = ?1 AND lease_token = ?2 AND lease_boot_id = ?7 AND state = 'running' \
                 AND (?6 OR cancel_requested_ms IS NULL) \
                 RETURNING task_id"
            ),
            params![
                lease.job,
                lease.token.get(),
                state,
                error,
                now_ms,
                cancel == Cancel::IsThisEnd,
                lease.boot_id()
            ],
            |row| row.get(0),
        )
        .optional()
        .map_err(sql(op))?;
    match task {
        Some(task) => {
            crate::tables::effects::end_effects(tx, lease, now_ms)?;
            Ok(task)
        }
        None => Err(refusal(tx, op, lease)?),
    }
}

/// Refuses a run recorded for another job than the lease's, or another task
/// than the job's.
pub(crate) fn check_run(run: &NewAgentRun, lease: Lease, task: TaskId) -> Result<()> {
    if run.job != lease.job || run.task != task {
        return Err(StoreError::InvalidInput {
            what: "agent run",
            why: "its job or task is not the ending job's; record the run of the leased job",
        });
    }
    Ok(())
}

/// Writes the parts of a job's end after the job's own fenced state change:
/// the transition, the next job, the run and the alert.
fn write_job_end(
    tx: &Transaction<'_>,
    lease: Lease,
    task: TaskId,
    end: &JobEnd<'_>,
    now_ms: i64,
) -> Result<Advanced> {
    if let Some(t) = end.transition
        && t.task != task
    {
        return Err(StoreError::InvalidInput {
            what: "transition",
            why: "it moves another task than the ending job's; give the job's own task",
        });
    }
    if let Some(run) = end.run {
        check_run(run, lease, task)?;
    }
    if let Some(commits) = end.commits {
        crate::checks::check_commit("job start commit", commits.start.as_deref())?;
        crate::checks::check_commit("job end commit", commits.end.as_deref())?;
        tx.execute(
            "UPDATE jobs SET start_commit = ?2, end_commit = ?3 WHERE id = ?1",
            params![lease.job, commits.start, commits.end],
        )
        .map_err(sql("job commits"))?;
        if let Some(head) = &commits.end {
            tx.execute(
                "UPDATE tasks SET head_commit = ?2 WHERE id = ?1",
                params![task, head],
            )
            .map_err(sql("job commits"))?;
        }
    }
    let run = end.run.map(|run| insert_agent_run(tx, run)).transpose()?;
    if let Some(shadow) = end.shadow {
        crate::shadow::insert_shadow(tx, lease.job, task, run, shadow, now_ms)?;
    }
    Ok(Advanced {
        transition: end
            .transition
            .map(|t| insert_transition(tx, t, Some(lease.job), None, now_ms))
            .transpose()?,
        next_job: end
            .next
            .map(|job| insert_job(tx, job, now_ms))
            .transpose()?,
        run,
        alert: end
            .alert
            .map(|alert| insert_alert(tx, alert, now_ms))
            .transpose()?,
    })
}

impl Store {
    /// Puts a job on the queue, state `queued`.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidInput`] if `max_attempts` is 0;
    /// [`StoreError::Sqlite`] if the task does not exist or SQLite fails.
    pub fn enqueue(&self, job: &NewJob) -> Result<JobId> {
        let now = self.now_ms();
        self.write("enqueue", |tx| insert_job(tx, job, now))
    }

    /// Leases the oldest due queued job to `owner` for `lease_for`, or returns
    /// `None` when no job is due.
    ///
    /// The claim is one guarded `UPDATE ... WHERE id = (SELECT ...) AND state
    /// = 'queued' RETURNING ...` inside `BEGIN IMMEDIATE`: two workers can
    /// never claim the same job. It spends an attempt and issues a new
    /// fencing token.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidBootId`] if the owner's boot id is longer than
    /// 64 bytes (a lease holds it inline, and every write of the claim
    /// checks it); [`StoreError::Sqlite`] if SQLite fails (a busy database
    /// is waited for up to the busy timeout first).
    pub fn claim(&self, owner: &LeaseOwner, lease_for: Duration) -> Result<Option<Claimed>> {
        if owner.boot_id.len() > crate::boots::MAX_BOOT_ID_LEN {
            return Err(StoreError::InvalidBootId {
                boot_id: owner.boot_id.clone(),
                why: "it is longer than 64 characters",
            });
        }
        let now = self.now_ms();
        let expires = now.saturating_add(millis(lease_for));
        self.write("claim", |tx| {
            let job = tx
                .query_row(
                    &claim_sql(),
                    params![owner.worker, owner.boot_id, expires, now],
                    job_from_row,
                )
                .optional()
                .map_err(sql("claim"))?;
            let Some(job) = job else {
                return Ok(None);
            };
            // Checked above; were it not, the claim rolls back.
            let lease = Lease::new(job.id, job.lease_token, &owner.boot_id).ok_or_else(|| {
                StoreError::InvalidBootId {
                    boot_id: owner.boot_id.clone(),
                    why: "it is longer than 64 characters",
                }
            })?;
            Ok(Some(Claimed { lease, job }))
        })
    }

    /// Extends a lease to `lease_for` from now (the worker's heartbeat), and
    /// returns the new expiry.
    ///
    /// # Errors
    ///
    /// [`StoreError::LeaseLost`] if the lease's token no longer holds the job.
    pub fn heartbeat(&self, lease: Lease, lease_for: Duration) -> Result<i64> {
        let now = self.now_ms();
        let expires = now.saturating_add(millis(lease_for));
        self.write("heartbeat", |tx| {
            let changed = tx
                .execute(
                    "UPDATE jobs SET lease_expires_ms = ?3, updated_ms = ?4 \
                     WHERE id = ?1 AND lease_token = ?2 AND lease_boot_id = ?5 \
                     AND state = 'running'",
                    params![lease.job, lease.token.get(), expires, now, lease.boot_id()],
                )
                .map_err(sql("heartbeat"))?;
            fenced(changed, lease).map(|()| expires)
        })
    }

    /// Marks a claimed job `done`.
    ///
    /// Prefer [`Store::complete_with_transition`] when the job's end moves
    /// its task, so that a crash cannot separate the two.
    ///
    /// # Errors
    ///
    /// [`StoreError::LeaseLost`] if the lease's token no longer holds the job;
    /// [`StoreError::CancelRequested`] if an operator asked to cancel the job
    /// (end it with [`Store::end_cancelled`]).
    pub fn complete(&self, lease: Lease) -> Result<()> {
        let now = self.now_ms();
        self.write("complete", |tx| {
            end_job(
                tx,
                "complete",
                lease,
                JobState::Done,
                None,
                now,
                Cancel::Honour,
            )
            .map(drop)
        })
    }

    /// In one transaction: marks a claimed job `done` and writes every part
    /// of `end` that is given: the task's transition with its gate evidence
    /// (moving the task), the next job, the job's `agent_runs` row and an
    /// alert. Either all of it happens or none of it.
    ///
    /// # Errors
    ///
    /// [`StoreError::LeaseLost`] if the lease's token no longer holds the job;
    /// [`StoreError::CancelRequested`] if an operator asked to cancel the job
    /// (end it with [`Store::end_cancelled`]);
    /// [`StoreError::StageMismatch`] if the task has left the transition's
    /// `from_stage`; [`StoreError::InvalidSha256`] if a digest is malformed;
    /// [`StoreError::InvalidInput`] if the transition or run is not of the
    /// lease's job and its task, or the next job has no attempt;
    /// [`StoreError::Sqlite`] if a row breaks a constraint (for example a
    /// negative duration) or SQLite fails. Nothing at all is written in any
    /// of these cases.
    pub fn complete_with_transition(&self, lease: Lease, end: &JobEnd<'_>) -> Result<Advanced> {
        let now = self.now_ms();
        self.write("complete_with_transition", |tx| {
            let task = end_job(
                tx,
                "complete_with_transition",
                lease,
                JobState::Done,
                None,
                now,
                Cancel::Honour,
            )?;
            write_job_end(tx, lease, task, end, now)
        })
    }

    /// Puts a claimed job back on the queue because its work could not start
    /// (a tool error), to be claimed again after `retry_in`. The claim's
    /// attempt is given back, `infra_attempts` grows by one, and `error` is
    /// kept as `last_error`. The run that found the tool error, when given,
    /// is recorded in `agent_runs` in the same transaction. Returns the new
    /// `infra_attempts`; bounding it is the caller's policy.
    ///
    /// # Errors
    ///
    /// [`StoreError::LeaseLost`] if the lease's token no longer holds the job;
    /// [`StoreError::CancelRequested`] if an operator asked to cancel the job
    /// (end it with [`Store::end_cancelled`]);
    /// [`StoreError::InvalidInput`] if the run is not of the lease's job and
    /// its task; [`StoreError::Sqlite`] if the run breaks a constraint or
    /// SQLite fails. Nothing at all is written in any of these cases.
    pub fn defer(
        &self,
        lease: Lease,
        retry_in: Duration,
        error: &str,
        run: Option<&NewAgentRun>,
    ) -> Result<u32> {
        let now = self.now_ms();
        let run_after = now.saturating_add(millis(retry_in));
        self.write("defer", |tx| {
            let deferred = tx
                .query_row(
                    &format!(
                        "UPDATE jobs SET state = 'queued', attempts = attempts - 1, \
                         infra_attempts = infra_attempts + 1, run_after_ms = ?3, last_error = ?4, \
                         {CLEAR_LEASE}, updated_ms = ?5 \
                         WHERE id = ?1 AND lease_token = ?2 AND lease_boot_id = ?6 \
                         AND state = 'running' AND cancel_requested_ms IS NULL \
                         RETURNING infra_attempts, task_id"
                    ),
                    params![
                        lease.job,
                        lease.token.get(),
                        run_after,
                        error,
                        now,
                        lease.boot_id()
                    ],
                    |row| Ok((row.get::<_, u32>(0)?, row.get::<_, TaskId>(1)?)),
                )
                .optional()
                .map_err(sql("defer"))?;
            let Some((infra, task)) = deferred else {
                return Err(refusal(tx, "defer", lease)?);
            };
            crate::tables::effects::end_effects(tx, lease, now)?;
            if let Some(run) = run {
                check_run(run, lease, task)?;
                insert_agent_run(tx, run)?;
            }
            Ok(infra)
        })
    }

    /// Gives a claimed job back because its worker is shutting down and
    /// cancelled the run: the job goes back to `queued`, due now, its
    /// attempt given back and `infra_attempts` unchanged (the work was
    /// neither lost nor unable to start), with `why` as its `last_error`.
    ///
    /// # Errors
    ///
    /// [`StoreError::LeaseLost`] if the lease's token no longer holds the job;
    /// [`StoreError::CancelRequested`] if an operator asked to cancel the job
    /// (end it with [`Store::end_cancelled`]). Nothing is written then. A side
    /// effect the claim started stays unended: its outcome is unknown.
    pub fn release(&self, lease: Lease, why: &str) -> Result<()> {
        let now = self.now_ms();
        self.write("release", |tx| {
            let changed = tx
                .execute(
                    &format!(
                        "UPDATE jobs SET state = 'queued', attempts = attempts - 1, \
                         run_after_ms = ?3, last_error = ?4, {CLEAR_LEASE}, updated_ms = ?3 \
                         WHERE id = ?1 AND lease_token = ?2 AND lease_boot_id = ?5 \
                         AND state = 'running' AND cancel_requested_ms IS NULL"
                    ),
                    params![lease.job, lease.token.get(), now, why, lease.boot_id()],
                )
                .map_err(sql("release"))?;
            if changed == 1 {
                Ok(())
            } else {
                Err(refusal(tx, "release", lease)?)
            }
        })
    }

    /// As [`Store::release`], but the job is due again only after
    /// `retry_in`: for a job its worker must not run now and that is no
    /// fault of the job's (its worktree is locked by a live run of another
    /// process). The attempt is given back; neither `infra_attempts` nor
    /// `rescues` grows, so no retry budget is spent.
    ///
    /// # Errors
    ///
    /// [`StoreError::LeaseLost`] if the lease's token no longer holds the job
    /// (nothing is written then).
    pub fn release_for(&self, lease: Lease, retry_in: Duration, why: &str) -> Result<()> {
        let now = self.now_ms();
        let run_after = now.saturating_add(millis(retry_in));
        self.write("release_for", |tx| {
            let changed = tx
                .execute(
                    &format!(
                        "UPDATE jobs SET state = 'queued', attempts = attempts - 1, \
                         run_after_ms = ?3, last_error = ?4, {CLEAR_LEASE}, updated_ms = ?5 \
                         WHERE id = ?1 AND lease_token = ?2 AND state = 'running'"
                    ),
                    params![lease.job, lease.token.get(), run_after, why, now],
                )
                .map_err(sql("release_for"))?;
            fenced(changed, lease)
        })
    }

    /// In one transaction: marks a claimed job `failed` with `error` as its
    /// `last_error`, and writes every part of `end` that is given, as
    /// [`Store::complete_with_transition`] does. This is how a job that
    /// cannot end otherwise blocks its task: a transition to the blocked
    /// stage with status [`TaskStatus::Blocked`](crate::TaskStatus::Blocked), plus an alert.
    ///
    /// # Errors
    ///
    /// As [`Store::complete_with_transition`]: [`StoreError::LeaseLost`],
    /// [`StoreError::CancelRequested`], [`StoreError::StageMismatch`], [`StoreError::InvalidSha256`],
    /// [`StoreError::InvalidInput`], [`StoreError::Sqlite`]. Nothing at all is
    /// written in any of these cases.
    pub fn fail(&self, lease: Lease, error: &str, end: &JobEnd<'_>) -> Result<Advanced> {
        let now = self.now_ms();
        self.write("fail", |tx| {
            let task = end_job(
                tx,
                "fail",
                lease,
                JobState::Failed,
                Some(error),
                now,
                Cancel::Honour,
            )?;
            write_job_end(tx, lease, task, end, now)
        })
    }
}
