//! Ids, states and the clock: the small value types of the store.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

macro_rules! row_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(i64);

        impl $name {
            /// Wraps a row id, for example one read from a command line.
            #[must_use]
            pub const fn new(id: i64) -> Self {
                Self(id)
            }

            /// The row id.
            #[must_use]
            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.0))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                i64::column_result(value).map(Self)
            }
        }
    };
}

row_id!(
    /// The id of a row in `repos`.
    RepoId
);
row_id!(
    /// The id of a row in `tasks`.
    TaskId
);
row_id!(
    /// The id of a row in `jobs`.
    JobId
);
row_id!(
    /// The id of a row in `alerts`.
    AlertId
);
row_id!(
    /// The id of a row in `transitions`.
    TransitionId
);
row_id!(
    /// The id of a row in `agent_runs`.
    AgentRunId
);

/// The fencing token of one claim of a job.
///
/// Every claim of a job hands out a token one greater than the last, and every
/// write the claimant makes afterwards (heartbeat, complete, defer, fail)
/// carries it. Once the job has been rescued and claimed again, the old token
/// matches no row, so a stale worker cannot overwrite the new owner's work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LeaseToken(i64);

impl LeaseToken {
    /// The token as stored in `jobs.lease_token`.
    #[must_use]
    pub const fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for LeaseToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromSql for LeaseToken {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        i64::column_result(value).map(Self)
    }
}

/// The right to write to one claimed job: its id, the claim's token and the
/// boot that claimed it.
///
/// Returned by [`Store::claim`](crate::Store::claim) and required by every
/// write that finishes or extends the claim. Every such write checks all
/// three: the token alone could name another claim after a database was
/// restored from a backup (the token counts up again from the backup's), the
/// boot id could not, since every process run draws a fresh one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lease {
    /// The claimed job.
    pub job: JobId,
    /// The fencing token of this claim.
    pub token: LeaseToken,
    /// The boot id of the claim's owner, inline so that a lease stays `Copy`.
    boot: BootKey,
}

/// A boot id of at most [`MAX_BOOT_ID_LEN`](crate::MAX_BOOT_ID_LEN) bytes,
/// held inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct BootKey {
    len: u8,
    bytes: [u8; crate::boots::MAX_BOOT_ID_LEN],
}

impl fmt::Debug for BootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl BootKey {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

impl Lease {
    /// `None` when `boot_id` is longer than
    /// [`MAX_BOOT_ID_LEN`](crate::MAX_BOOT_ID_LEN) bytes.
    pub(crate) fn new(job: JobId, token: LeaseToken, boot_id: &str) -> Option<Self> {
        let len = u8::try_from(boot_id.len())
            .ok()
            .filter(|&len| usize::from(len) <= crate::boots::MAX_BOOT_ID_LEN)?;
        let mut bytes = [0; crate::boots::MAX_BOOT_ID_LEN];
        bytes[..boot_id.len()].copy_from_slice(boot_id.as_bytes());
        Some(Self {
            job,
            token,
            boot: BootKey { len, bytes },
        })
    }

    /// The boot id of the process run that claimed the job.
    #[must_use]
    pub fn boot_id(&self) -> &str {
        self.boot.as_str()
    }
}

/// Who holds a lease: the process boot that claimed it and the worker within it.
///
/// The boot id names one run of the orch process (for example a random value
/// drawn at start-up); a lease held by a boot that is known to be dead can be
/// rescued at once, without waiting for it to expire.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LeaseOwner {
    /// The identity of the process run that claims.
    pub boot_id: String,
    /// The worker within that run, for operators reading the queue.
    pub worker: String,
}

impl LeaseOwner {
    /// An owner from a boot id and a worker name.
    #[must_use]
    pub fn new(boot_id: impl Into<String>, worker: impl Into<String>) -> Self {
        Self {
            boot_id: boot_id.into(),
            worker: worker.into(),
        }
    }
}

/// A text stored in the database is not a value of the expected enum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {found:?}: expected one of {expected}")]
pub struct ParseEnumError {
    /// Which enum was being parsed, for example `job state`.
    pub kind: &'static str,
    /// The text that was given.
    pub found: String,
    /// The accepted texts, comma-separated.
    pub expected: &'static str,
}

macro_rules! text_enum {
    (
        $(#[$doc:meta])*
        $name:ident, $kind:literal, $expected:literal {
            $($(#[$vdoc:meta])* $variant:ident => $text:literal,)+
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
        }

        impl $name {
            /// Every variant, in a fixed order; a test counts it so that a new
            /// variant cannot slip past the schema's CHECK constraint.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The text stored in the database.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = ParseEnumError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(ParseEnumError {
                        kind: $kind,
                        found: s.to_owned(),
                        expected: $expected,
                    }),
                }
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                value
                    .as_str()?
                    .parse()
                    .map_err(|e: ParseEnumError| FromSqlError::Other(Box::new(e)))
            }
        }
    };
}

text_enum!(
    /// Where a job is in the queue's state machine (see `docs/store.md`).
    ///
    /// `queued → running` by a claim; `running → done | failed` by its
    /// claimant; `running → queued` by a deferral or a rescue; `running →
    /// failed` by a rescue once its crash rescues reach the poison threshold.
    JobState, "job state", "queued, running, done, failed" {
        /// Waiting for a worker; claimable once `run_after_ms` has passed.
        Queued => "queued",
        /// Leased to a worker.
        Running => "running",
        /// Finished by its worker. Terminal.
        Done => "done",
        /// Given up: failed by its worker or out of attempts. Terminal.
        Failed => "failed",
    }
);

text_enum!(
    /// How a role's run was carried out.
    Transport, "transport", "llm, deterministic" {
        /// An LLM agent process started by the launcher's single transport.
        Llm => "llm",
        /// A reserved agent: deterministic code, no LLM.
        Deterministic => "deterministic",
    }
);

text_enum!(
    /// Whether a task is still moving through the pipeline.
    TaskStatus, "task status", "active, done, blocked" {
        /// Moving through the stages.
        Active => "active",
        /// Reached the terminal stage `done`.
        Done => "done",
        /// Stopped: for example its developer-retry budget is spent.
        Blocked => "blocked",
    }
);

text_enum!(
    /// Where a task's roles work (see `docs/launcher.md`, "Task isolation").
    TaskIsolation, "task isolation", "worktree, checkout" {
        /// In the task's own git worktree, on its own branch: tasks of one
        /// repository run side by side.
        Worktree => "worktree",
        /// In the repository's own folder (not a git repository, or a task
        /// created before schema version 4): the queue runs one such task of
        /// a repository at a time.
        Checkout => "checkout",
    }
);

text_enum!(
    /// How a run ended, as `agent_runs.outcome` records it. Owned by the
    /// store, which counts by it: [`RunOutcome::is_failure`] is an
    /// exhaustive match, so a new outcome cannot be left out of a count
    /// silently.
    RunOutcome, "run outcome", "passed, failed, timed_out, deferred, exhausted, fallback, skipped, tool_error, cancelled" {
        /// It ran and its own verdict is the passing one (a suite exited 0,
        /// an agent exited 0, a deploy succeeded).
        Passed => "passed",
        /// It ran and failed (a non-zero exit, a signal).
        Failed => "failed",
        /// Its time limit ended it.
        TimedOut => "timed_out",
        /// It could not run (a tool error) and the job was deferred.
        Deferred => "deferred",
        /// It could not run, and the retries for that are spent: the stage
        /// failed closed.
        Exhausted => "exhausted",
        /// The reserved agent hit an internal error and handed the job to
        /// the LLM path.
        Fallback => "fallback",
        /// There was nothing to do (a repository with no deploy or
        /// health-check command); the artifact says so.
        Skipped => "skipped",
        /// It could not run, and nothing more will be tried (the task is
        /// blocked).
        ToolError => "tool_error",
        /// The worker stopped it (shutdown, lost lease).
        Cancelled => "cancelled",
    }
);

impl RunOutcome {
    /// Whether the run failed (it ran and failed, timed out, or could not
    /// run at all in the end): what `run_stats` counts as failed runs.
    #[must_use]
    pub const fn is_failure(self) -> bool {
        match self {
            RunOutcome::Failed
            | RunOutcome::TimedOut
            | RunOutcome::Exhausted
            | RunOutcome::ToolError => true,
            RunOutcome::Passed
            | RunOutcome::Deferred
            | RunOutcome::Fallback
            | RunOutcome::Skipped
            | RunOutcome::Cancelled => false,
        }
    }
}

text_enum!(
    /// What an alert is about, as `alerts.kind` records it (the column stays
    /// TEXT; these are its only values). The store speaks this enum: an
    /// alert is raised with one and read back as one, and a kind in the
    /// database that is none of these is a typed error
    /// ([`StoreError::Sqlite`](crate::StoreError) naming the text), never a
    /// panic. [`AlertKind::ALL`] is pinned by the golden list
    /// `crates/store/tests/golden/alert_kinds.txt`: adding a kind is a
    /// deliberate edit of that file and a CHANGELOG line.
    AlertKind, "alert kind", "agent_unavailable, budget_exhausted, cancelled, deploy_interrupted, deploy_refused, effect_unrecorded, internal_error, poison_job, retry_budget_spent, setup_failed, shadow_runner_unavailable, stage_failed, staging_runner_exhausted, suite_timed_out, test_runner_exhausted, verdict_missing, worktree_tampered, worktree_unavailable" {
        /// The agent's CLI could not be started (exit 126/127, missing
        /// binary, no credentials): the task is blocked.
        AgentUnavailable => "agent_unavailable",
        /// The spend ceiling was reached before a run.
        BudgetExhausted => "budget_exhausted",
        /// An operator cancelled the task (`orch task cancel`).
        Cancelled => "cancelled",
        /// A deploy's start is recorded and its end never was: whether it
        /// finished is unknown, so it was not run again.
        DeployInterrupted => "deploy_interrupted",
        /// The deploy runner refused to deploy (for example a commit other
        /// than the one staging judged).
        DeployRefused => "deploy_refused",
        /// A side effect's start could not be recorded, so it was not
        /// started.
        EffectUnrecorded => "effect_unrecorded",
        /// orch's own error (a panic caught, a transition table error).
        InternalError => "internal_error",
        /// A rescue failed a job as poison after repeated crash rescues.
        PoisonJob => "poison_job",
        /// The task's developer-retry budget is spent.
        RetryBudgetSpent => "retry_budget_spent",
        /// The repository's setup command kept failing.
        SetupFailed => "setup_failed",
        /// The shadow runner could not run a repository's command (exit 126
        /// or 127, a missing folder): its pairs compare nothing. Raised once
        /// per repository while one is open; the LLM's verdict still decides.
        ShadowRunnerUnavailable => "shadow_runner_unavailable",
        /// A stage failed with no way forward (its gates failed at a stage
        /// without a rollback).
        StageFailed => "stage_failed",
        /// The staging runner could not run its suite and its retries are
        /// spent: `deploy-staging` failed closed.
        StagingRunnerExhausted => "staging_runner_exhausted",
        /// A staging or test suite ran past its limit and was stopped: the
        /// stage failed; the message names the limit and its setting.
        SuiteTimedOut => "suite_timed_out",
        /// The test runner could not run its suite and its retries are
        /// spent: `testing` failed closed.
        TestRunnerExhausted => "test_runner_exhausted",
        /// An LLM role ended well but kept writing no valid verdict line
        /// (missing, malformed, duplicated), past `ORCH_VERDICT_RETRIES`
        /// runs again: the task is blocked, not rolled back.
        VerdictMissing => "verdict_missing",
        /// The role's git actions broke the task's worktree (a moved
        /// branch, a detached head): the task is blocked.
        WorktreeTampered => "worktree_tampered",
        /// The task's worktree could not be read (a transient git error)
        /// after its run.
        WorktreeUnavailable => "worktree_unavailable",
    }
);

text_enum!(
    /// Who moved a task when it was not a job's own end, as
    /// `transitions.actor` records it (TEXT; NULL for a job's own end, which
    /// the store reads as `None`). A text in the database that is none of
    /// these is a typed error, never a panic.
    Actor, "transition actor", "operator, rescue" {
        /// An operator's command (`orch task retry`, `orch task cancel`,
        /// `repo update`, `repo remove`).
        Operator => "operator",
        /// The store's rescue, blocking a task whose job is poison.
        Rescue => "rescue",
    }
);

/// The source of "now" for every timestamp the store writes and compares.
///
/// Times are `i64` milliseconds since the Unix epoch. Tests use a
/// [`ManualClock`] to move time without sleeping.
pub trait Clock: Send + Sync {
    /// The current time in milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        // A clock set before 1970 reads as the epoch rather than failing: the
        // store only compares times it wrote itself.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// A clock that moves only when told to; shareable between threads.
#[derive(Debug, Default)]
pub struct ManualClock {
    now_ms: AtomicI64,
}

impl ManualClock {
    /// A clock that reads `now_ms` until moved.
    #[must_use]
    pub const fn new(now_ms: i64) -> Self {
        Self {
            now_ms: AtomicI64::new(now_ms),
        }
    }

    /// Sets the time.
    pub fn set(&self, now_ms: i64) {
        self.now_ms.store(now_ms, Ordering::SeqCst);
    }

    /// Moves the time forward by `ms` milliseconds.
    pub fn advance(&self, ms: i64) {
        self.now_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now_ms.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_lists_are_complete_and_round_trip() {
        assert_eq!(JobState::ALL.len(), 4);
        assert_eq!(Transport::ALL.len(), 2);
        assert_eq!(TaskStatus::ALL.len(), 3);
        for s in JobState::ALL {
            assert_eq!(s.as_str().parse::<JobState>(), Ok(*s));
        }
        for t in Transport::ALL {
            assert_eq!(t.as_str().parse::<Transport>(), Ok(*t));
        }
        for t in TaskStatus::ALL {
            assert_eq!(t.as_str().parse::<TaskStatus>(), Ok(*t));
        }
    }

    #[test]
    fn every_enum_text_is_allowed_by_the_schema() {
        let schema = crate::SCHEMA_SQL;
        let texts = JobState::ALL
            .iter()
            .map(|s| s.as_str())
            .chain(Transport::ALL.iter().map(|t| t.as_str()))
            .chain(TaskStatus::ALL.iter().map(|t| t.as_str()));
        for text in texts {
            assert!(
                schema.contains(&format!("'{text}'")),
                "{text} missing from schema"
            );
        }
    }

    #[test]
    fn unknown_text_is_a_typed_error() {
        let err = "Running".parse::<JobState>().unwrap_err();
        assert_eq!(err.found, "Running");
        assert!(err.to_string().contains("queued, running, done, failed"));
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(1_000);
        assert_eq!(clock.now_ms(), 1_000);
        clock.advance(500);
        assert_eq!(clock.now_ms(), 1_500);
        clock.set(7);
        assert_eq!(clock.now_ms(), 7);
    }
}
