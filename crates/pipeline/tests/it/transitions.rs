//! Invariants of `STAGE_TRANSITIONS` and the developer-retry budget (DESIGN §3.5).

use std::collections::{BTreeSet, VecDeque};

use orch_pipeline::{DecisionKind, STAGE_TRANSITIONS, Stage, TransitionError, Verdict, next_stage};

fn successors(stage: Stage) -> impl Iterator<Item = Stage> {
    STAGE_TRANSITIONS
        .iter()
        .filter(move |t| t.from == stage)
        .map(|t| t.to)
}

fn reachable_from(start: Stage) -> BTreeSet<Stage> {
    let mut seen = BTreeSet::from([start]);
    let mut queue = VecDeque::from([start]);
    while let Some(stage) = queue.pop_front() {
        for next in successors(stage) {
            if seen.insert(next) {
                queue.push_back(next);
            }
        }
    }
    seen
}

#[test]
fn every_working_stage_has_exactly_one_row_per_verdict() {
    for stage in Stage::ALL {
        for verdict in Verdict::ALL {
            let rows = STAGE_TRANSITIONS
                .iter()
                .filter(|t| t.from == stage && t.verdict == verdict)
                .count();
            assert_eq!(rows, usize::from(!stage.is_terminal()), "{stage} {verdict}");
        }
    }
}

#[test]
fn every_stage_is_reachable_from_analysis() {
    let reachable = reachable_from(Stage::Analysis);
    for stage in Stage::ALL {
        assert!(
            reachable.contains(&stage),
            "{stage} is unreachable from analysis"
        );
    }
}

#[test]
fn done_is_reachable_from_every_working_stage() {
    for stage in Stage::ALL.into_iter().filter(|s| !s.is_terminal()) {
        assert!(
            reachable_from(stage).contains(&Stage::Done),
            "done unreachable from {stage}"
        );
    }
}

#[test]
fn passing_every_stage_walks_the_pipeline_in_order() {
    let mut stage = Stage::Analysis;
    let mut walked = vec![stage];
    while !stage.is_terminal() {
        stage = next_stage(stage, Verdict::Pass, 0, 3).unwrap().to;
        walked.push(stage);
    }
    assert_eq!(walked, Stage::ALL[..9].to_vec());
}

#[test]
fn every_rollback_targets_development() {
    let rollbacks: Vec<_> = STAGE_TRANSITIONS
        .iter()
        .filter(|t| t.verdict == Verdict::Fail && !t.to.is_terminal())
        .collect();
    assert!(!rollbacks.is_empty());
    for t in &rollbacks {
        assert_eq!(t.to, Stage::Development, "{} fail -> {}", t.from, t.to);
        assert!(t.is_rollback());
    }
    for stage in [Stage::Review, Stage::Testing, Stage::DeployStaging] {
        let decision = next_stage(stage, Verdict::Fail, 0, 3).unwrap();
        assert_eq!(decision.to, Stage::Development, "{stage}");
        assert_eq!(decision.kind, DecisionKind::Rollback);
        assert_eq!(decision.developer_retries, 1);
    }
}

#[test]
fn the_retry_budget_ends_in_blocked() {
    for budget in 0..=5 {
        let mut retries = 0;
        let mut rollbacks = 0;
        loop {
            let decision =
                next_stage(Stage::DeployStaging, Verdict::Fail, retries, budget).unwrap();
            retries = decision.developer_retries;
            match decision.kind {
                DecisionKind::Rollback => rollbacks += 1,
                DecisionKind::RetryBudgetSpent => {
                    assert_eq!(decision.to, Stage::Blocked);
                    break;
                }
                DecisionKind::Advance => panic!("a failure must not advance"),
            }
            assert!(
                rollbacks <= budget,
                "more rollbacks than the budget {budget}"
            );
        }
        assert_eq!(rollbacks, budget);
        assert_eq!(retries, budget);
    }
}

#[test]
fn passing_does_not_spend_the_budget_even_when_spent() {
    let decision = next_stage(Stage::DeployStaging, Verdict::Pass, 3, 3).unwrap();
    assert_eq!(decision.to, Stage::Deploy);
    assert_eq!(decision.developer_retries, 3);
}

#[test]
fn terminal_states_have_no_next_stage() {
    for stage in [Stage::Done, Stage::Blocked] {
        for verdict in Verdict::ALL {
            let err = next_stage(stage, verdict, 0, 3).unwrap_err();
            assert_eq!(err, TransitionError::Terminal(stage));
            assert!(err.to_string().contains("terminal state"));
        }
    }
}

#[test]
fn retries_saturate_instead_of_overflowing() {
    let decision = next_stage(Stage::Review, Verdict::Fail, u32::MAX, u32::MAX).unwrap();
    assert_eq!(decision.to, Stage::Blocked);
}
