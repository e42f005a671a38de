//! Costs by verdict: what an LLM verdict at an avoidable site set off.
//!
//! From the gate-decided transitions and the runs of every task, in order:
//!
//! - a **FAILED verdict** (a gate of the stage did not pass — a verdict,
//!   never a non-zero exit) starts a **rollback loop**: every run of the task
//!   after that verdict's job, up to and including the job of the task's next
//!   verdict at the same stage (to the task's last run when there is none yet:
//!   the loop is *open*). Its cost is attributed to the verdict that started
//!   it; a second FAILED there starts the next loop, so loops never overlap;
//! - a **false PASS** is an LLM PASSED whose commit the next deterministic
//!   verdict of the task *on the same commit* judged FAILED (a suite runner
//!   later in the pipeline, or the test runner); the loop that FAILED started
//!   is attributed to the false PASS that let the commit through. A PASSED
//!   that no later deterministic verdict judged on its commit is *unchecked*.

use std::collections::BTreeMap;

use serde::Serialize;

/// One gate-decided transition (the store's `verdict_history`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerdictRecord {
    /// The task.
    pub task: i64,
    /// Its repository.
    pub repo: String,
    /// The stage decided.
    pub stage: String,
    /// The job's role.
    pub role: String,
    /// The passing verdict.
    pub passed: bool,
    /// The commit judged.
    pub commit: Option<String>,
    /// An LLM decided it.
    pub llm: bool,
    /// The job's runs' cost.
    pub cost_usd: f64,
    /// The job's last run id.
    pub last_run: Option<i64>,
}

/// One run's cost, by task and id.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RunCostRecord {
    /// The task.
    pub task: i64,
    /// The run's id.
    pub run: i64,
    /// Its cost.
    pub cost_usd: Option<f64>,
}

/// What the LLM verdicts at one site set off.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VerdictCosts {
    /// LLM PASSED verdicts.
    pub passed: u64,
    /// LLM FAILED verdicts.
    pub failed: u64,
    /// What the LLM's verdict jobs cost (all of them, failures included).
    pub verdict_spend_usd: f64,
    /// What the FAILED verdicts' jobs cost.
    pub failed_spend_usd: f64,
    /// What the rollback loops the FAILED verdicts started cost.
    pub failed_loops_usd: f64,
    /// Of those loops, how many are still open.
    pub open_loops: u64,
    /// PASSED verdicts the next deterministic verdict on the same commit
    /// judged FAILED.
    pub false_passes: u64,
    /// The stages where they were caught, with counts.
    pub caught_at: BTreeMap<String, u64>,
    /// What the loops the false PASSes let happen cost.
    pub false_pass_loops_usd: f64,
    /// PASSED verdicts no later deterministic verdict judged on their commit.
    pub unchecked_passes: u64,
    /// Per repository: LLM verdicts and their jobs' cost.
    pub per_repo: BTreeMap<String, (u64, f64)>,
}

/// The runs of `task` after run `after`, up to and including `until`.
fn loop_cost(runs: &[RunCostRecord], task: i64, after: Option<i64>, until: Option<i64>) -> f64 {
    runs.iter()
        .filter(|r| {
            r.task == task && after.is_none_or(|a| r.run > a) && until.is_none_or(|u| r.run <= u)
        })
        .filter_map(|r| r.cost_usd)
        .sum()
}

/// The cost of the loop the FAILED verdict at `at` started, and whether it
/// is still open.
fn failed_loop(verdicts: &[VerdictRecord], runs: &[RunCostRecord], at: usize) -> (f64, bool) {
    let v = &verdicts[at];
    let close = verdicts[at + 1..]
        .iter()
        .find(|w| w.task == v.task && w.stage == v.stage);
    (
        loop_cost(runs, v.task, v.last_run, close.and_then(|w| w.last_run)),
        close.is_none(),
    )
}

/// The LLM verdicts of `role` at `stage` and what they set off.
#[must_use]
pub fn verdict_costs(
    role: &str,
    stage: &str,
    verdicts: &[VerdictRecord],
    runs: &[RunCostRecord],
) -> VerdictCosts {
    let mut out = VerdictCosts::default();
    for (i, v) in verdicts.iter().enumerate() {
        if !(v.llm && v.stage == stage && v.role == role) {
            continue;
        }
        out.verdict_spend_usd += v.cost_usd;
        let repo = out.per_repo.entry(v.repo.clone()).or_default();
        repo.0 += 1;
        repo.1 += v.cost_usd;
        if !v.passed {
            out.failed += 1;
            out.failed_spend_usd += v.cost_usd;
            let (cost, open) = failed_loop(verdicts, runs, i);
            out.failed_loops_usd += cost;
            out.open_loops += u64::from(open);
            continue;
        }
        out.passed += 1;
        let Some(commit) = &v.commit else {
            out.unchecked_passes += 1;
            continue;
        };
        let check = verdicts[i + 1..]
            .iter()
            .position(|w| w.task == v.task && !w.llm && w.commit.as_ref() == Some(commit))
            .map(|j| i + 1 + j);
        match check {
            None => out.unchecked_passes += 1,
            Some(j) if verdicts[j].passed => {}
            Some(j) => {
                out.false_passes += 1;
                *out.caught_at.entry(verdicts[j].stage.clone()).or_default() += 1;
                out.false_pass_loops_usd += failed_loop(verdicts, runs, j).0;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(
        task: i64,
        stage: &str,
        passed: bool,
        llm: bool,
        commit: &str,
        last_run: i64,
    ) -> VerdictRecord {
        VerdictRecord {
            task,
            repo: "r".into(),
            stage: stage.into(),
            role: if stage == "testing" {
                "tester"
            } else {
                "deployer"
            }
            .into(),
            passed,
            commit: Some(commit.into()),
            llm,
            cost_usd: 0.5,
            last_run: Some(last_run),
        }
    }

    fn runs(task: i64, costs: &[f64]) -> Vec<RunCostRecord> {
        costs
            .iter()
            .enumerate()
            .map(|(i, c)| RunCostRecord {
                task,
                run: i as i64 + 1,
                cost_usd: Some(*c),
            })
            .collect()
    }

    #[test]
    fn an_open_loop_runs_to_the_last_run_and_an_unchecked_pass_is_counted() {
        // Run 1: the FAILED verdict; runs 2-3 after it, no later verdict.
        let verdicts = [v(1, "testing", false, true, "a", 1)];
        let costs = verdict_costs("tester", "testing", &verdicts, &runs(1, &[0.5, 1.0, 2.0]));
        assert_eq!((costs.failed, costs.open_loops), (1, 1));
        assert!((costs.failed_loops_usd - 3.0).abs() < 1e-12);
        // A PASSED whose commit no deterministic verdict judged; one whose
        // commit a later deterministic verdict on another commit FAILED.
        let verdicts = [
            v(2, "testing", true, true, "b", 1),
            v(2, "deploy-staging", false, false, "c", 2),
        ];
        let costs = verdict_costs("tester", "testing", &verdicts, &runs(2, &[0.5, 0.0]));
        assert_eq!(
            (costs.passed, costs.false_passes, costs.unchecked_passes),
            (1, 0, 1)
        );
    }
}
