//! The pure part of a job's end after its gates: the verdict, the
//! transition table's decision, the task's status, and the one alert to
//! raise. No store, no process: [`plan_end`] is unit-tested on its own.

use orch_pipeline::{
    Decision, DecisionKind, GateResult, Stage, TransitionError, Verdict, next_stage,
};
use orch_store::{TaskId, TaskStatus};

use crate::launch::{AlertSpec, RunOutcome, RunRecord};

/// The task a job's end moves, as [`plan_end`] needs it.
pub(super) struct PlanTask<'a> {
    /// Its id.
    pub(super) id: TaskId,
    /// Its title.
    pub(super) title: &'a str,
    /// The developer retries it has used.
    pub(super) developer_retries: u32,
}

/// What a job's end writes, decided from its gates.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct EndPlan {
    /// Pass when every gate passed.
    pub(super) verdict: Verdict,
    /// The transition table's move.
    pub(super) decision: Decision,
    /// The task's status after it.
    pub(super) status: TaskStatus,
    /// The one alert to raise with the end, if any.
    pub(super) alert: Option<AlertSpec>,
}

/// Turns a run's gate results into the move, the status and the alert of
/// the job's end. `budget` is the developer-retry budget; `run_alert` the
/// alert the run itself asked for.
///
/// # Errors
///
/// The transition table's, when no transition applies (the engine then
/// blocks the task with an `internal_error` alert).
pub(super) fn plan_end(
    stage: Stage,
    task: &PlanTask<'_>,
    gates: &[GateResult],
    record: &RunRecord,
    run_alert: Option<AlertSpec>,
    budget: u32,
) -> Result<EndPlan, TransitionError> {
    let verdict = if gates.iter().all(|g| g.passed) {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    let decision = next_stage(stage, verdict, task.developer_retries, budget)?;
    let status = match decision.to {
        Stage::Done => TaskStatus::Done,
        Stage::Blocked => TaskStatus::Blocked,
        Stage::Analysis
        | Stage::Architecture
        | Stage::Development
        | Stage::Review
        | Stage::Testing
        | Stage::DeployStaging
        | Stage::Deploy
        | Stage::PostDeploy => TaskStatus::Active,
    };
    let failing: Vec<String> = gates
        .iter()
        .filter(|g| !g.passed)
        .map(|g| format!("{}: {}", g.gate.name(), g.reason))
        .collect();
    let blocked_alert = (decision.to == Stage::Blocked).then(|| {
        let (kind, why) = if decision.kind == DecisionKind::RetryBudgetSpent {
            (
                orch_store::AlertKind::RetryBudgetSpent,
                format!("its developer-retry budget ({budget}) is spent"),
            )
        } else {
            (orch_store::AlertKind::StageFailed, format!("stage {stage} failed"))
        };
        AlertSpec {
            kind,
            message: format!(
                "task {} ({}) is blocked: {why} ({}{}); look at its artifacts (`orch task show {}`), then `orch task retry {}`",
                task.id,
                task.title,
                failing.join("; "),
                match record.outcome {
                    RunOutcome::Passed | RunOutcome::Skipped => String::new(),
                    RunOutcome::Failed
                    | RunOutcome::TimedOut
                    | RunOutcome::Deferred
                    | RunOutcome::Exhausted
                    | RunOutcome::Fallback
                    | RunOutcome::ToolError
                    | RunOutcome::Cancelled => format!("; the {} run: {}", record.role, record.detail),
                },
                task.id,
                task.id
            ),
        }
    });
    // One alert per job end: a blocked task's alert says why, and names
    // the run's own alert (e.g. the staging runner's spent retries).
    let alert = match (run_alert, blocked_alert) {
        // The run's own kind is the more precise (deploy_refused,
        // staging_runner_exhausted); the message says both.
        (Some(run), Some(blocked)) => Some(AlertSpec {
            kind: run.kind,
            message: format!("{} ({})", blocked.message, run.message),
        }),
        (one, other) => one.or(other),
    };
    Ok(EndPlan {
        verdict,
        decision,
        status,
        alert,
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use orch_pipeline::{DecisionKind, GateResult, Stage, Verdict, gates_for};
    use orch_store::{AlertKind, TaskId, TaskStatus, Transport};

    use orch_pipeline::Role;

    use super::{PlanTask, plan_end};
    use crate::launch::{AlertSpec, RunOutcome, RunRecord};

    fn record(outcome: RunOutcome) -> RunRecord {
        RunRecord {
            role: Role::Reviewer,
            transport: Transport::Llm,
            started: SystemTime::UNIX_EPOCH,
            duration: Duration::ZERO,
            exit_code: Some(1),
            outcome,
            usage: crate::usage::Usage::default(),
            detail: "exit code 1".to_owned(),
            sandbox: None,
        }
    }

    /// The gates of `stage` on a missing artifact: every one fails closed.
    fn failing(stage: Stage) -> Vec<GateResult> {
        gates_for(stage).iter().map(|g| g.evaluate(None)).collect()
    }

    fn task(developer_retries: u32) -> PlanTask<'static> {
        PlanTask {
            id: TaskId::new(7),
            title: "fix the parser",
            developer_retries,
        }
    }

    #[test]
    fn a_failed_review_within_the_budget_rolls_back_with_no_alert() {
        let gates = failing(Stage::Review);
        assert!(!gates.is_empty());
        let plan = plan_end(
            Stage::Review,
            &task(0),
            &gates,
            &record(RunOutcome::Passed),
            None,
            3,
        )
        .unwrap();
        assert_eq!(plan.verdict, Verdict::Fail);
        assert_eq!(plan.decision.kind, DecisionKind::Rollback);
        assert_eq!(plan.decision.to, Stage::Development);
        assert_eq!(plan.decision.developer_retries, 1);
        assert_eq!(plan.status, TaskStatus::Active);
        assert_eq!(plan.alert, None);
    }

    #[test]
    fn a_spent_budget_blocks_with_its_alert_naming_the_failing_gates_and_the_run() {
        let plan = plan_end(
            Stage::Review,
            &task(3),
            &failing(Stage::Review),
            &record(RunOutcome::Failed),
            None,
            3,
        )
        .unwrap();
        assert_eq!(plan.decision.kind, DecisionKind::RetryBudgetSpent);
        assert_eq!(plan.status, TaskStatus::Blocked);
        let alert = plan.alert.unwrap();
        assert_eq!(alert.kind, AlertKind::RetryBudgetSpent);
        assert!(
            alert.message.starts_with(
                "task 7 (fix the parser) is blocked: its developer-retry budget (3) is spent ("
            ),
            "{}",
            alert.message
        );
        assert!(
            alert.message.contains("; the reviewer run: exit code 1)"),
            "{}",
            alert.message
        );
    }

    #[test]
    fn the_runs_own_alert_keeps_its_kind_and_is_named_in_the_blocked_message() {
        let run = AlertSpec {
            kind: AlertKind::InternalError,
            message: "the run's own words".to_owned(),
        };
        let plan = plan_end(
            Stage::Review,
            &task(3),
            &failing(Stage::Review),
            &record(RunOutcome::Passed),
            Some(run.clone()),
            3,
        )
        .unwrap();
        let alert = plan.alert.unwrap();
        assert_eq!(alert.kind, AlertKind::InternalError);
        assert!(
            alert.message.ends_with(" (the run's own words)"),
            "{}",
            alert.message
        );
        // Not blocked: the run's alert is raised as it is.
        let plan = plan_end(
            Stage::Review,
            &task(0),
            &failing(Stage::Review),
            &record(RunOutcome::Passed),
            Some(run.clone()),
            3,
        )
        .unwrap();
        assert_eq!(plan.alert, Some(run));
    }

    #[test]
    fn a_terminal_stage_has_no_transition() {
        assert!(
            plan_end(
                Stage::Done,
                &task(0),
                &[],
                &record(RunOutcome::Passed),
                None,
                3
            )
            .is_err()
        );
    }
}
