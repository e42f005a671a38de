//! `STAGE_TRANSITIONS` (DESIGN §3.5): where a task goes after a stage's gates
//! have decided, and the developer-retry budget that bounds rollbacks.

use std::fmt;

use crate::stage::Stage;

/// A stage's outcome as the transition table sees it: every gate passed, or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Every gate of the stage passed.
    Pass,
    /// At least one gate failed (including every fail-closed case).
    Fail,
}

impl Verdict {
    /// Both verdicts.
    pub const ALL: [Verdict; 2] = [Verdict::Pass, Verdict::Fail];

    /// `pass` or `fail`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of the transition table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The stage that just ran.
    pub from: Stage,
    /// Its verdict.
    pub verdict: Verdict,
    /// Where the task goes.
    pub to: Stage,
}

impl Transition {
    /// A rollback sends a failed task to `development` for a developer retry;
    /// rollbacks are what the retry budget bounds.
    #[must_use]
    pub fn is_rollback(&self) -> bool {
        self.verdict == Verdict::Fail && self.to == Stage::Development
    }
}

const fn rule(from: Stage, verdict: Verdict, to: Stage) -> Transition {
    Transition { from, verdict, to }
}

/// `STAGE_TRANSITIONS`: `(stage, verdict) → next stage` for every working stage.
///
/// Failures at `development`, `review`, `testing` and `deploy-staging` roll
/// back to `development` (a developer retry, bounded by the budget); failures
/// at `analysis` and `architecture` (the role wrote no usable artifact) and at
/// `deploy` and `post-deploy` (production is involved) go to `blocked` for a
/// human.
pub const STAGE_TRANSITIONS: [Transition; 16] = [
    rule(Stage::Analysis, Verdict::Pass, Stage::Architecture),
    rule(Stage::Analysis, Verdict::Fail, Stage::Blocked),
    rule(Stage::Architecture, Verdict::Pass, Stage::Development),
    rule(Stage::Architecture, Verdict::Fail, Stage::Blocked),
    rule(Stage::Development, Verdict::Pass, Stage::Review),
    rule(Stage::Development, Verdict::Fail, Stage::Development),
    rule(Stage::Review, Verdict::Pass, Stage::Testing),
    rule(Stage::Review, Verdict::Fail, Stage::Development),
    rule(Stage::Testing, Verdict::Pass, Stage::DeployStaging),
    rule(Stage::Testing, Verdict::Fail, Stage::Development),
    rule(Stage::DeployStaging, Verdict::Pass, Stage::Deploy),
    rule(Stage::DeployStaging, Verdict::Fail, Stage::Development),
    rule(Stage::Deploy, Verdict::Pass, Stage::PostDeploy),
    rule(Stage::Deploy, Verdict::Fail, Stage::Blocked),
    rule(Stage::PostDeploy, Verdict::Pass, Stage::Done),
    rule(Stage::PostDeploy, Verdict::Fail, Stage::Blocked),
];

/// The default number of developer retries (rollbacks) a task may spend
/// before a further rollback sends it to `blocked`.
pub const DEFAULT_DEVELOPER_RETRIES: u32 = 3;

/// What kind of move a [`Decision`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionKind {
    /// Forward along the table (including to `done` or `blocked` by the table).
    Advance,
    /// Back to `development`, spending one developer retry.
    Rollback,
    /// A rollback was due but the budget is spent: the task is `blocked`.
    RetryBudgetSpent,
}

/// Where a task goes, and how many developer retries it has then used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The next stage.
    pub to: Stage,
    /// What kind of move it is.
    pub kind: DecisionKind,
    /// Developer retries used after this move.
    pub developer_retries: u32,
}

/// No transition applies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The task is already `done` or `blocked`.
    #[error(
        "task is in terminal state {0}; nothing runs after it (unblock it by moving it to a working stage)"
    )]
    Terminal(Stage),
    /// The table has no row for this stage and verdict (a bug in the table).
    #[error("STAGE_TRANSITIONS has no row for stage {stage} with verdict {verdict}")]
    NoRule {
        /// The stage.
        stage: Stage,
        /// The verdict.
        verdict: Verdict,
    },
}

/// Looks up the next stage for `from` and `verdict`, applying the
/// developer-retry budget: a rollback when `developer_retries >= budget`
/// goes to `blocked` instead.
///
/// # Errors
///
/// [`TransitionError::Terminal`] for `done` and `blocked`;
/// [`TransitionError::NoRule`] if the table lacks the row.
pub fn next_stage(
    from: Stage,
    verdict: Verdict,
    developer_retries: u32,
    budget: u32,
) -> Result<Decision, TransitionError> {
    if from.is_terminal() {
        return Err(TransitionError::Terminal(from));
    }
    let row = STAGE_TRANSITIONS
        .iter()
        .find(|t| t.from == from && t.verdict == verdict)
        .ok_or(TransitionError::NoRule {
            stage: from,
            verdict,
        })?;
    if !row.is_rollback() {
        return Ok(Decision {
            to: row.to,
            kind: DecisionKind::Advance,
            developer_retries,
        });
    }
    if developer_retries >= budget {
        return Ok(Decision {
            to: Stage::Blocked,
            kind: DecisionKind::RetryBudgetSpent,
            developer_retries,
        });
    }
    Ok(Decision {
        to: row.to,
        kind: DecisionKind::Rollback,
        developer_retries: developer_retries.saturating_add(1),
    })
}
