//! The pure part of a job's end after its gates: from the run record, the
//! gate results and the facts read around them (the artifact's sha256, the
//! judged tree, the suite note, the shadow runner's pair), every row the end
//! writes — the transition with its gate decisions, the next job, the alert
//! and the shadow pairing. No store, no process, no clock: [`plan_end`] is
//! unit-tested on its own, and `decide.rs` only writes what it returns.

use orch_pipeline::{
    Decision, DecisionKind, GateResult, Stage, TransitionError, Verdict, next_stage,
};
use orch_store::{
    AgentRunId, GateDecision, JobId, NewAlert, NewJob, NewShadowVerdict, NewTransition, Task,
    TaskId, TaskStatus, VERDICT_FAILED, VERDICT_PASSED,
};

use crate::launch::{AlertSpec, RunOutcome, RunRecord};
use crate::worktree::TestedTree;

use super::shadow::ShadowPair;

/// The task a job's end moves, as [`plan_end`] needs it.
pub(super) struct PlanTask<'a> {
    /// Its id.
    pub(super) id: TaskId,
    /// Its title.
    pub(super) title: &'a str,
    /// The developer retries it has used.
    pub(super) developer_retries: u32,
}

/// The shadow runner's pair beside the LLM role, as [`plan_end`] records it.
pub(super) struct PlanShadow<'a> {
    /// The runner's `agent_runs` row, recorded before the job's end.
    pub(super) runner_run: AgentRunId,
    /// Its run and its re-run.
    pub(super) pair: &'a ShadowPair,
    /// The sha256 of the command it ran (the repository's test command).
    pub(super) command_sha: Option<String>,
}

/// Everything [`plan_end`] decides from: plain values, read by the caller.
pub(super) struct EndFacts<'a> {
    /// The stage the job ran.
    pub(super) stage: Stage,
    /// The job.
    pub(super) job: JobId,
    /// Its task.
    pub(super) task: PlanTask<'a>,
    /// The stage's gates on the artifact.
    pub(super) gates: &'a [GateResult],
    /// The run that produced the artifact.
    pub(super) record: &'a RunRecord,
    /// The alert the run itself asked for.
    pub(super) run_alert: Option<AlertSpec>,
    /// The developer-retry budget.
    pub(super) budget: u32,
    /// The artifact's sha256 (`None`: no artifact the gates could read).
    pub(super) artifact_sha: Option<&'a str>,
    /// The tree the verdict is about (`None` without a worktree).
    pub(super) judged: Option<&'a TestedTree>,
    /// What the task changed under suite paths, for a suite runner's
    /// verdict in a judge tree (added to every gate's reason).
    pub(super) suite_note: Option<&'a str>,
    /// The shadow runner's pair, in shadow mode.
    pub(super) shadow: Option<PlanShadow<'a>>,
}

/// What a job's end writes, decided from its gates.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct EndPlan {
    /// Pass when every gate passed.
    pub(super) verdict: Verdict,
    /// The transition table's move.
    pub(super) decision: Decision,
    /// The transition row, with every gate's decision and its evidence.
    pub(super) transition: NewTransition,
    /// The next stage's job (`None` at a terminal stage).
    pub(super) next: Option<NewJob>,
    /// The one alert to raise with the end, if any.
    pub(super) alert: Option<NewAlert>,
    /// The shadow runner's verdict beside the LLM's, in shadow mode.
    pub(super) shadow: Option<NewShadowVerdict>,
}

/// Turns a run's gate results and the facts around them into every row of
/// the job's end: the move, the transition with its gate decisions, the
/// next job, the alert and the shadow pairing.
///
/// # Errors
///
/// The transition table's, when no transition applies (the engine then
/// blocks the task with an `internal_error` alert).
pub(super) fn plan_end(facts: EndFacts<'_>) -> Result<EndPlan, TransitionError> {
    let EndFacts {
        stage,
        job,
        task,
        gates,
        record,
        run_alert,
        budget,
        artifact_sha,
        judged,
        suite_note,
        shadow,
    } = facts;
    let verdict = if gates.iter().all(|g| g.passed) {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    let decision = next_stage(stage, verdict, task.developer_retries, budget)?;
    let transition = NewTransition::new(task.id, stage, decision.to, status_at(decision.to))
        .with_developer_retries(decision.developer_retries)
        .with_decisions(
            gates
                .iter()
                .map(|g| {
                    GateDecision::new(
                        g.gate.name().to_owned(),
                        g.passed,
                        match suite_note {
                            Some(note) => format!("{}; {note}", g.reason),
                            None => g.reason.clone(),
                        },
                    )
                    .with_verdict(g.verdict.clone())
                    .with_artifact_sha256(artifact_sha.map(str::to_owned))
                    .with_commit_sha(judged.map(|tree| tree.commit.clone()))
                    .with_tree_clean(judged.map(|tree| tree.clean))
                    .with_sandbox(record.sandbox.map(|level| level.to_string()))
                })
                .collect(),
        );
    let next = decision
        .to
        .role()
        .map(|role| NewJob::new(task.id, decision.to, role));
    let alert = end_alert(stage, &task, gates, record, run_alert, budget, &decision).map(|a| {
        NewAlert::new(
            a.kind,
            restored_suite_hint(a.message, decision.to, suite_note, task.id),
        )
        .with_task(Some(task.id))
        .with_job(Some(job))
    });
    // Shadow mode: the runner's verdict beside the LLM's, as the gate took it.
    let shadow = shadow.map(|s| shadow_row(stage, verdict, judged, s));
    Ok(EndPlan {
        verdict,
        decision,
        transition,
        next,
        alert,
        shadow,
    })
}

/// A block whose suite run restored suite files the task changed says so,
/// and names the other way out: accepting the change
/// (`orch task approve-suite`), when the change is wanted.
fn restored_suite_hint(
    message: String,
    to: Stage,
    suite_note: Option<&str>,
    task: orch_store::TaskId,
) -> String {
    match suite_note {
        Some(note) if to == Stage::Blocked && note.contains("(restored)") => format!(
            "{message}. The task changed pinned suite files, which were restored for the run ({note}): if that change is wanted, accept it with `orch task approve-suite {task} --reason ...`, then `orch task retry {task}`"
        ),
        _ => message,
    }
}

/// What a job's end that blocks its task writes: the transition to
/// `blocked` (no gate decided it) and the alert that says why.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct BlockPlan {
    /// From the task's stage to `blocked`, its developer retries kept.
    pub(super) transition: NewTransition,
    /// The alert, about the task and the job.
    pub(super) alert: NewAlert,
}

/// Blocks `task` at the end of its job `job` with `alert`.
pub(super) fn plan_block(task: &Task, job: JobId, alert: &AlertSpec) -> BlockPlan {
    BlockPlan {
        transition: NewTransition::new(task.id, task.stage, Stage::Blocked, TaskStatus::Blocked)
            .with_developer_retries(task.developer_retries)
            .with_decisions(Vec::new()),
        alert: NewAlert::new(alert.kind, alert.message.clone())
            .with_task(Some(task.id))
            .with_job(Some(job)),
    }
}

/// The task's status at `stage`.
fn status_at(stage: Stage) -> TaskStatus {
    match stage {
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
    }
}

/// The one alert of a job's end: a blocked task's says why, and names the
/// run's own alert (e.g. the staging runner's spent retries), whose kind is
/// the more precise (deploy_refused, staging_runner_exhausted).
fn end_alert(
    stage: Stage,
    task: &PlanTask<'_>,
    gates: &[GateResult],
    record: &RunRecord,
    run_alert: Option<AlertSpec>,
    budget: u32,
    decision: &Decision,
) -> Option<AlertSpec> {
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
    match (run_alert, blocked_alert) {
        (Some(run), Some(blocked)) => Some(AlertSpec {
            kind: run.kind,
            message: format!("{} ({})", blocked.message, run.message),
        }),
        (one, other) => one.or(other),
    }
}

/// The shadow pairing row: the runner's verdict (and its re-run's) beside
/// the LLM's as the gates took it, with the commits each was about.
fn shadow_row(
    stage: Stage,
    verdict: Verdict,
    judged: Option<&TestedTree>,
    shadow: PlanShadow<'_>,
) -> NewShadowVerdict {
    let PlanShadow {
        runner_run,
        pair: ShadowPair { first, rerun },
        command_sha,
    } = shadow;
    NewShadowVerdict::new(
        stage,
        runner_run,
        if verdict == Verdict::Pass {
            VERDICT_PASSED
        } else {
            VERDICT_FAILED
        }
        .to_owned(),
    )
    .with_commit(first.commit.clone())
    .with_llm_commit(judged.map(|tree| tree.commit.clone()))
    .with_runner_verdict(first.verdict.map(str::to_owned))
    .with_command_sha(command_sha)
    .with_rerun_verdict(rerun.as_ref().and_then(|r| r.verdict).map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use orch_pipeline::{DecisionKind, GateResult, Stage, Verdict, gates_for};
    use orch_store::{AgentRunId, AlertKind, JobId, TaskId, TaskStatus, Transport};

    use orch_pipeline::Role;

    use super::{EndFacts, EndPlan, PlanShadow, PlanTask, plan_end};
    use crate::engine::shadow::ShadowPair;
    use crate::launch::{AlertSpec, RunOutcome, RunRecord, ShadowRun};
    use crate::worktree::TestedTree;

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

    /// The gates of `stage` on an artifact whose verdict line passes.
    fn passing(stage: Stage) -> Vec<GateResult> {
        let spec = stage.artifact().unwrap();
        let text = format!("# x\n\n{}: {}\n", spec.verdict_key, spec.pass_value);
        gates_for(stage)
            .iter()
            .map(|g| g.evaluate(Some(text.as_bytes())))
            .collect()
    }

    fn facts<'a>(
        stage: Stage,
        developer_retries: u32,
        gates: &'a [GateResult],
        record: &'a RunRecord,
    ) -> EndFacts<'a> {
        EndFacts {
            stage,
            job: JobId::new(11),
            task: PlanTask {
                id: TaskId::new(7),
                title: "fix the parser",
                developer_retries,
            },
            gates,
            record,
            run_alert: None,
            budget: 3,
            artifact_sha: None,
            judged: None,
            suite_note: None,
            shadow: None,
        }
    }

    fn alert_of(plan: &EndPlan) -> (AlertKind, &str) {
        let alert = plan.alert.as_ref().unwrap();
        assert_eq!(alert.task, Some(TaskId::new(7)));
        assert_eq!(alert.job, Some(JobId::new(11)));
        (alert.kind, &alert.message)
    }

    #[test]
    fn a_pass_advances_with_the_next_job_and_every_gates_evidence() {
        let gates = passing(Stage::Review);
        assert!(!gates.is_empty() && gates.iter().all(|g| g.passed));
        let run = record(RunOutcome::Passed);
        let judged = TestedTree {
            commit: "c0ffee".to_owned(),
            clean: true,
        };
        let plan = plan_end(EndFacts {
            artifact_sha: Some("ab12"),
            judged: Some(&judged),
            ..facts(Stage::Review, 1, &gates, &run)
        })
        .unwrap();
        assert_eq!(plan.verdict, Verdict::Pass);
        assert_eq!(plan.decision.kind, DecisionKind::Advance);
        let t = &plan.transition;
        assert_eq!(
            (t.task, t.from_stage.as_str(), t.to_stage.as_str()),
            (TaskId::new(7), "review", "testing")
        );
        assert_eq!((t.status, t.developer_retries), (TaskStatus::Active, 1));
        assert_eq!(t.decisions.len(), gates.len());
        for (d, g) in t.decisions.iter().zip(&gates) {
            assert_eq!(d.gate, g.gate.name());
            assert!(d.passed);
            assert_eq!(d.reason, g.reason);
            assert_eq!(d.artifact_sha256.as_deref(), Some("ab12"));
            assert_eq!(d.commit_sha.as_deref(), Some("c0ffee"));
            assert_eq!(d.tree_clean, Some(true));
        }
        let next = plan.next.unwrap();
        assert_eq!(
            (next.task, next.stage.as_str(), next.role.as_str()),
            (TaskId::new(7), "testing", "tester")
        );
        assert_eq!((plan.alert, plan.shadow), (None, None));
    }

    #[test]
    fn a_failed_review_within_the_budget_rolls_back_with_no_alert() {
        let gates = failing(Stage::Review);
        assert!(!gates.is_empty());
        let run = record(RunOutcome::Passed);
        let plan = plan_end(facts(Stage::Review, 0, &gates, &run)).unwrap();
        assert_eq!(plan.verdict, Verdict::Fail);
        assert_eq!(plan.decision.kind, DecisionKind::Rollback);
        assert_eq!(plan.decision.to, Stage::Development);
        assert_eq!(plan.transition.to_stage, Stage::Development);
        assert_eq!(plan.transition.developer_retries, 1);
        assert_eq!(plan.transition.status, TaskStatus::Active);
        assert_eq!(
            plan.next.map(|j| (j.stage, j.role)),
            Some((Stage::Development, Role::Developer))
        );
        assert_eq!(plan.alert, None);
    }

    #[test]
    fn a_spent_budget_blocks_with_its_alert_naming_the_failing_gates_and_the_run() {
        let gates = failing(Stage::Review);
        let run = record(RunOutcome::Failed);
        let plan = plan_end(facts(Stage::Review, 3, &gates, &run)).unwrap();
        assert_eq!(plan.decision.kind, DecisionKind::RetryBudgetSpent);
        assert_eq!(plan.transition.status, TaskStatus::Blocked);
        assert_eq!(plan.transition.to_stage, Stage::Blocked);
        assert_eq!(plan.next, None);
        let (kind, message) = alert_of(&plan);
        assert_eq!(kind, AlertKind::RetryBudgetSpent);
        assert!(
            message.starts_with(
                "task 7 (fix the parser) is blocked: its developer-retry budget (3) is spent ("
            ),
            "{message}"
        );
        assert!(
            message.contains("; the reviewer run: exit code 1)"),
            "{message}"
        );
    }

    #[test]
    fn a_failed_stage_without_a_rollback_blocks_with_stage_failed() {
        let gates = failing(Stage::Analysis);
        let run = record(RunOutcome::Passed);
        let plan = plan_end(facts(Stage::Analysis, 0, &gates, &run)).unwrap();
        assert_eq!(plan.transition.status, TaskStatus::Blocked);
        let (kind, message) = alert_of(&plan);
        assert_eq!(kind, AlertKind::StageFailed);
        assert!(
            message.contains("is blocked: stage analysis failed ("),
            "{message}"
        );
        // A run that passed is not named.
        assert!(!message.contains("the reviewer run"), "{message}");
    }

    #[test]
    fn the_runs_own_alert_keeps_its_kind_and_is_named_in_the_blocked_message() {
        let run_alert = AlertSpec {
            kind: AlertKind::InternalError,
            message: "the run's own words".to_owned(),
        };
        let gates = failing(Stage::Review);
        let run = record(RunOutcome::Passed);
        let plan = plan_end(EndFacts {
            run_alert: Some(run_alert.clone()),
            ..facts(Stage::Review, 3, &gates, &run)
        })
        .unwrap();
        let (kind, message) = alert_of(&plan);
        assert_eq!(kind, AlertKind::InternalError);
        assert!(message.ends_with(" (the run's own words)"), "{message}");
        // Not blocked: the run's alert is raised as it is.
        let plan = plan_end(EndFacts {
            run_alert: Some(run_alert),
            ..facts(Stage::Review, 0, &gates, &run)
        })
        .unwrap();
        assert_eq!(
            alert_of(&plan),
            (AlertKind::InternalError, "the run's own words")
        );
    }

    #[test]
    fn a_suite_note_is_added_to_every_gates_reason() {
        let gates = failing(Stage::Testing);
        let run = record(RunOutcome::Failed);
        let plan = plan_end(EndFacts {
            suite_note: Some("suite paths changed: none"),
            ..facts(Stage::Testing, 0, &gates, &run)
        })
        .unwrap();
        for (d, g) in plan.transition.decisions.iter().zip(&gates) {
            assert_eq!(d.reason, format!("{}; suite paths changed: none", g.reason));
        }
    }

    #[test]
    fn a_block_after_a_restored_suite_says_so_and_names_approve_suite() {
        let gates = failing(Stage::Testing);
        let run = record(RunOutcome::Failed);
        let note =
            "suite paths changed by the task since the base: modified (restored): tests/t.py";
        // The budget is spent: the fail blocks.
        let plan = plan_end(EndFacts {
            suite_note: Some(note),
            ..facts(Stage::Testing, 3, &gates, &run)
        })
        .unwrap();
        assert_eq!(plan.decision.to, Stage::Blocked);
        let (_, message) = alert_of(&plan);
        assert!(message.contains(note), "{message}");
        assert!(
            message.contains("`orch task approve-suite 7 --reason ...`"),
            "{message}"
        );
        // Nothing restored (only added files kept): no hint.
        let plan = plan_end(EndFacts {
            suite_note: Some("suite paths changed by the task since the base: added (kept): t.sh"),
            ..facts(Stage::Testing, 3, &gates, &run)
        })
        .unwrap();
        assert!(!alert_of(&plan).1.contains("approve-suite"));
    }

    #[test]
    fn a_shadow_pair_is_recorded_beside_the_llm_verdict_as_the_gates_took_it() {
        let shadow_run = |verdict| ShadowRun {
            record: record(RunOutcome::Passed),
            verdict: Some(verdict),
            commit: Some("c0ffee".to_owned()),
        };
        let pair = ShadowPair {
            first: shadow_run("FAILED"),
            rerun: Some(shadow_run("PASSED")),
        };
        let judged = TestedTree {
            commit: "c0ffee".to_owned(),
            clean: true,
        };
        let gates = passing(Stage::Testing);
        let run = record(RunOutcome::Passed);
        let plan = plan_end(EndFacts {
            judged: Some(&judged),
            shadow: Some(PlanShadow {
                runner_run: AgentRunId::new(5),
                pair: &pair,
                command_sha: Some("c5".to_owned()),
            }),
            ..facts(Stage::Testing, 0, &gates, &run)
        })
        .unwrap();
        let shadow = plan.shadow.unwrap();
        assert_eq!(shadow.stage, Stage::Testing);
        assert_eq!(shadow.runner_run, AgentRunId::new(5));
        assert_eq!(shadow.commit.as_deref(), Some("c0ffee"));
        assert_eq!(shadow.llm_commit.as_deref(), Some("c0ffee"));
        assert_eq!(shadow.runner_verdict.as_deref(), Some("FAILED"));
        assert_eq!(shadow.llm_verdict, "PASSED");
        assert_eq!(shadow.rerun_verdict.as_deref(), Some("PASSED"));
        assert_eq!(shadow.command_sha.as_deref(), Some("c5"));
        // The LLM's failing verdict is recorded as FAILED.
        let gates = failing(Stage::Testing);
        let plan = plan_end(EndFacts {
            shadow: Some(PlanShadow {
                runner_run: AgentRunId::new(5),
                pair: &pair,
                command_sha: None,
            }),
            ..facts(Stage::Testing, 0, &gates, &run)
        })
        .unwrap();
        let shadow = plan.shadow.unwrap();
        assert_eq!(shadow.llm_verdict, "FAILED");
        assert_eq!(shadow.llm_commit, None);
    }

    #[test]
    fn a_block_moves_the_task_from_its_stage_with_its_retries_and_the_alert() {
        // A stored row (`Task` is `#[non_exhaustive]`), moved to the case.
        let store = orch_store::Store::open_in_memory(orch_store::StoreOptions::default()).unwrap();
        let repo = store
            .add_repo(&orch_store::NewRepo::new("api", "/srv/api", "true"))
            .unwrap();
        let id = store
            .add_task(repo, "fix the parser", Stage::Deploy)
            .unwrap();
        let mut task = store.task(id).unwrap();
        task.id = TaskId::new(7);
        task.developer_retries = 2;
        let alert = AlertSpec {
            kind: AlertKind::InternalError,
            message: "why and what to do".to_owned(),
        };
        let plan = super::plan_block(&task, JobId::new(11), &alert);
        let t = &plan.transition;
        assert_eq!(
            (t.task, t.from_stage.as_str(), t.to_stage.as_str()),
            (TaskId::new(7), "deploy", "blocked")
        );
        assert_eq!((t.status, t.developer_retries), (TaskStatus::Blocked, 2));
        assert!(t.decisions.is_empty());
        assert_eq!(
            plan.alert,
            orch_store::NewAlert::new(AlertKind::InternalError, "why and what to do".to_owned())
                .with_task(Some(TaskId::new(7)))
                .with_job(Some(JobId::new(11)))
        );
    }

    #[test]
    fn a_terminal_stage_has_no_transition() {
        let run = record(RunOutcome::Passed);
        assert!(plan_end(facts(Stage::Done, 0, &[], &run)).is_err());
    }
}
