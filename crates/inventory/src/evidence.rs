//! Shadow evidence that decides: per repository and test command, whether
//! the pairs recorded in shadow mode are enough to switch a suite runner
//! `on`.
//!
//! **What counts.** Only pairs whose two verdicts are about the same commit
//! and where the runner produced a verdict are compared; a pair without a
//! runner verdict (the suite could not run) or on another commit is shown
//! but never in a denominator. Only the pairs of the repository's *current*
//! test command count: a pair judged with another command is evidence about
//! another oracle.
//!
//! **The direction that matters.** Switching the runner `on` lets the
//! runner's verdict decide. The risk it adds is a runner PASSED where the
//! LLM said FAILED: mode `on` would let those through. Its count `k` in `n`
//! compared pairs gets an exact one-sided 95% upper bound on its rate, the
//! Clopper–Pearson bound (the `p` at which `P(X ≤ k | n, p) = 5%`); with
//! `k = 0` it is `1 − 0.05^(1/n)`, about `3/n` (the rule of three). The
//! other direction (the runner FAILED, the LLM PASSED) sends a task back
//! that the LLM would have advanced: a cost, not a risk, and shown.
//!
//! **The decision** ([`SwitchPolicy`]): ready when `n` reaches the minimum
//! sample and the bound is at most the tolerated rate; otherwise the number
//! of further pairs that would make it so if none of them is a let-through.
//! With the defaults (300 pairs, 1%), 0 in 300 is ready (bound 0.99%); one
//! pair, whatever it says, is not.
//!
//! Agreement and Cohen's kappa (agreement beyond what the two verdicts'
//! base rates give by chance) are shown beside it; kappa is undefined when
//! both sides gave a single verdict throughout.

use std::fmt;

use serde::Serialize;

/// The pairs of one repository and one test command (the store's counts).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ShadowPairs {
    /// The repository.
    pub repo: String,
    /// The test command's digest (`None`: recorded before digests were kept).
    pub command_sha: Option<String>,
    /// Same commit, both PASSED.
    pub both_passed: u64,
    /// Same commit, both FAILED.
    pub both_failed: u64,
    /// Same commit, the runner FAILED and the LLM PASSED.
    pub runner_only_failed: u64,
    /// Same commit, the runner PASSED and the LLM FAILED.
    pub llm_only_failed: u64,
    /// Same commit, no runner verdict.
    pub runner_no_verdict: u64,
    /// Different commits.
    pub other_commit: u64,
    /// Same commit, a disagreement that the runner's re-run on that commit
    /// contradicted: the suite is flaky there. In no other field and in no
    /// denominator.
    pub flaky: u64,
}

impl ShadowPairs {
    /// The compared pairs: same commit, both verdicts.
    #[must_use]
    pub fn compared(&self) -> u64 {
        self.both_passed + self.both_failed + self.runner_only_failed + self.llm_only_failed
    }

    /// The share of compared pairs that agree.
    #[must_use]
    pub fn agreement(&self) -> Option<f64> {
        let n = self.compared();
        (n > 0).then(|| (self.both_passed + self.both_failed) as f64 / n as f64)
    }

    /// Cohen's kappa over the compared pairs; `None` before the first, or
    /// when chance agreement is 1 (both sides said one verdict throughout).
    #[must_use]
    pub fn kappa(&self) -> Option<f64> {
        let n = self.compared() as f64;
        if n == 0.0 {
            return None;
        }
        let observed = (self.both_passed + self.both_failed) as f64 / n;
        let llm_passed = (self.both_passed + self.runner_only_failed) as f64 / n;
        let runner_passed = (self.both_passed + self.llm_only_failed) as f64 / n;
        let chance = llm_passed * runner_passed + (1.0 - llm_passed) * (1.0 - runner_passed);
        ((1.0 - chance).abs() > f64::EPSILON).then(|| (observed - chance) / (1.0 - chance))
    }
}

/// When shadow evidence is enough to switch a runner `on`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SwitchPolicy {
    /// The fewest compared pairs a decision rests on.
    pub min_pairs: u64,
    /// The highest tolerated rate of let-throughs (runner PASSED, LLM
    /// FAILED), as the upper bound must show it.
    pub max_rate: f64,
    /// The one-sided confidence of the bound (0.95).
    pub confidence: f64,
}

impl Default for SwitchPolicy {
    fn default() -> Self {
        SwitchPolicy {
            min_pairs: 300,
            max_rate: 0.01,
            confidence: 0.95,
        }
    }
}

/// The exact (Clopper–Pearson) one-sided upper confidence bound of a
/// binomial rate: `k` events in `n` trials. `1` when `n == 0` or `k >= n`.
#[must_use]
pub fn upper_bound(k: u64, n: u64, confidence: f64) -> f64 {
    if n == 0 || k >= n {
        return 1.0;
    }
    let alpha = 1.0 - confidence;
    if k == 0 {
        return 1.0 - alpha.powf(1.0 / n as f64);
    }
    // P(X <= k | n, p) falls as p rises: bisect for alpha.
    let (mut lo, mut hi) = (k as f64 / n as f64, 1.0);
    for _ in 0..200 {
        let mid = f64::midpoint(lo, hi);
        if binomial_cdf(k, n, mid) > alpha {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

/// `P(X <= k)` for `X ~ Binomial(n, p)`, summed in log space.
fn binomial_cdf(k: u64, n: u64, p: f64) -> f64 {
    if p <= 0.0 {
        return 1.0;
    }
    if p >= 1.0 {
        return if k >= n { 1.0 } else { 0.0 };
    }
    let (lp, lq) = (p.ln(), (1.0 - p).ln());
    let mut log_term = n as f64 * lq;
    let mut sum = log_term.exp();
    for i in 0..k {
        log_term += ((n - i) as f64).ln() - ((i + 1) as f64).ln() + lp - lq;
        sum += log_term.exp();
    }
    sum.min(1.0)
}

/// What the evidence says for one repository.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "decision", rename_all = "kebab-case")]
pub enum Recommendation {
    /// Enough pairs, and the bound is within the policy.
    Ready {
        /// Compared pairs.
        pairs: u64,
        /// The upper bound of the let-through rate.
        bound: f64,
    },
    /// More pairs are needed.
    NeedMore {
        /// How many more, if none of them is a let-through.
        more: u64,
        /// The bound now.
        bound: f64,
    },
    /// The repository has no test command: there is no runner to switch.
    NoTestCommand,
}

impl fmt::Display for Recommendation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Recommendation::Ready { pairs, bound } => write!(
                f,
                "ready to switch: {pairs} pairs, bound {}",
                percent(*bound)
            ),
            Recommendation::NeedMore { more, bound } => {
                write!(f, "need {more} more pairs (bound now {})", percent(*bound))
            }
            Recommendation::NoTestCommand => {
                f.write_str("no test command: the LLM tester serves it (repo update --test-cmd)")
            }
        }
    }
}

/// `0.99%`, `100%`.
fn percent(rate: f64) -> String {
    let p = 100.0 * rate;
    if p >= 10.0 {
        format!("{p:.0}%")
    } else {
        format!("{p:.2}%")
    }
}

/// The evidence and the decision for one repository.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RepoDecision {
    /// The repository.
    pub repo: String,
    /// Its current test command's digest (`None`: it has none).
    pub command_sha: Option<String>,
    /// The counts for that command.
    pub pairs: ShadowPairs,
    /// Compared pairs (same commit, both verdicts).
    pub compared: u64,
    /// Their agreement.
    pub agreement: Option<f64>,
    /// Cohen's kappa.
    pub kappa: Option<f64>,
    /// Runner PASSED where the LLM FAILED: what mode `on` would let through.
    pub let_through: u64,
    /// Its rate's upper bound (Clopper–Pearson, one-sided).
    pub bound: f64,
    /// Pairs of other commands of the repository: not counted.
    pub other_commands: u64,
    /// What to do.
    pub recommendation: Recommendation,
}

impl SwitchPolicy {
    /// The decision for a repository from the pairs of its current command.
    #[must_use]
    pub fn decide(&self, pairs: &ShadowPairs) -> (f64, Recommendation) {
        let n = pairs.compared();
        let k = pairs.llm_only_failed;
        let bound = upper_bound(k, n, self.confidence);
        if n >= self.min_pairs && bound <= self.max_rate {
            return (bound, Recommendation::Ready { pairs: n, bound });
        }
        // The smallest total that would do, if no further let-through came.
        let ok = |total: u64| {
            total >= self.min_pairs && upper_bound(k, total, self.confidence) <= self.max_rate
        };
        let mut hi = n.max(self.min_pairs).max(1);
        while !ok(hi) {
            hi = hi.saturating_mul(2);
            if hi == u64::MAX {
                break;
            }
        }
        let mut lo = n;
        while lo + 1 < hi {
            let mid = lo + (hi - lo) / 2;
            if ok(mid) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        (
            bound,
            Recommendation::NeedMore {
                more: hi - n,
                bound,
            },
        )
    }

    /// One decision per repository: `repos` are the repositories with the
    /// digest of their current test command (`None`: none), `pairs` the
    /// store's counts per repository and command.
    #[must_use]
    pub fn decisions(
        &self,
        repos: &[(String, Option<String>)],
        pairs: &[ShadowPairs],
    ) -> Vec<RepoDecision> {
        repos
            .iter()
            .map(|(repo, sha)| {
                let mine: Vec<&ShadowPairs> = pairs.iter().filter(|p| p.repo == *repo).collect();
                let current = sha
                    .as_ref()
                    .and_then(|s| mine.iter().find(|p| p.command_sha.as_ref() == Some(s)))
                    .map(|p| (*p).clone())
                    .unwrap_or_else(|| ShadowPairs {
                        repo: repo.clone(),
                        command_sha: sha.clone(),
                        ..ShadowPairs::default()
                    });
                let other_commands = mine
                    .iter()
                    .filter(|p| sha.is_none() || p.command_sha != *sha)
                    .map(|p| p.compared() + p.runner_no_verdict + p.other_commit + p.flaky)
                    .sum();
                let (bound, recommendation) = match sha {
                    None => (1.0, Recommendation::NoTestCommand),
                    Some(_) => self.decide(&current),
                };
                RepoDecision {
                    repo: repo.clone(),
                    command_sha: sha.clone(),
                    compared: current.compared(),
                    agreement: current.agreement(),
                    kappa: current.kappa(),
                    let_through: current.llm_only_failed,
                    bound,
                    other_commands,
                    recommendation,
                    pairs: current,
                }
            })
            .collect()
    }
}

impl RepoDecision {
    /// One line: `repo demo (a1b2c3d4): 300 pairs, 300 agree (100.0%),
    /// kappa 1.00, 0 let through (bound 0.99%), 0 sent back; ready to switch…`.
    #[must_use]
    pub fn describe(&self) -> String {
        if self.recommendation == Recommendation::NoTestCommand {
            let mut line = format!("repo {}: {}", self.repo, self.recommendation);
            if self.other_commands > 0 {
                line.push_str(&format!(
                    "; {} pairs of an earlier test command not counted",
                    self.other_commands
                ));
            }
            return line;
        }
        let sha = self
            .command_sha
            .as_deref()
            .map(|s| format!(" (test command {})", &s[..s.len().min(8)]))
            .unwrap_or_default();
        let agree = self.pairs.both_passed + self.pairs.both_failed;
        let rate = self
            .agreement
            .map(|a| format!(" ({:.1}%)", 100.0 * a))
            .unwrap_or_default();
        let kappa = self
            .kappa
            .map_or_else(|| "kappa undefined".to_owned(), |k| format!("kappa {k:.2}"));
        let mut line = format!(
            "repo {}{sha}: {} pairs, {agree} agree{rate}, {kappa}, {} let through by the runner (bound {}), {} sent back by the runner",
            self.repo,
            self.compared,
            self.let_through,
            percent(self.bound),
            self.pairs.runner_only_failed,
        );
        let excluded = self.pairs.runner_no_verdict + self.pairs.other_commit;
        if excluded > 0 {
            line.push_str(&format!(
                ", {excluded} not compared (no runner verdict or another commit)"
            ));
        }
        if self.pairs.flaky > 0 {
            line.push_str(&format!(
                ", {} flaky (the runner's re-run on the same commit gave the other verdict; not compared)",
                self.pairs.flaky
            ));
        }
        if self.other_commands > 0 {
            line.push_str(&format!(
                ", {} of another test command not counted",
                self.other_commands
            ));
        }
        line.push_str(&format!("; {}", self.recommendation));
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(both_passed: u64, llm_only_failed: u64) -> ShadowPairs {
        ShadowPairs {
            repo: "demo".into(),
            command_sha: Some("a".repeat(64)),
            both_passed,
            llm_only_failed,
            ..ShadowPairs::default()
        }
    }

    #[test]
    fn zero_in_three_hundred_is_ready() {
        let policy = SwitchPolicy::default();
        let (bound, decision) = policy.decide(&pairs(300, 0));
        assert!((bound - (1.0 - 0.05f64.powf(1.0 / 300.0))).abs() < 1e-12);
        assert!(bound < 0.01 && bound > 0.0099, "{bound}");
        assert_eq!(
            decision.to_string(),
            "ready to switch: 300 pairs, bound 0.99%"
        );
    }

    #[test]
    fn one_pair_is_not_enough_whatever_it_says() {
        let policy = SwitchPolicy::default();
        let (bound, decision) = policy.decide(&pairs(0, 1));
        assert_eq!(bound, 1.0);
        // 1 let-through: the bound reaches 1% at 473 pairs.
        assert_eq!(decision.to_string(), "need 472 more pairs (bound now 100%)");
        let (_, agreeing) = policy.decide(&pairs(1, 0));
        assert_eq!(agreeing.to_string(), "need 299 more pairs (bound now 95%)");
        // 0 in 299 is not yet enough: the minimum and the bound.
        assert!(matches!(
            policy.decide(&pairs(299, 0)).1,
            Recommendation::NeedMore { more: 1, .. }
        ));
    }

    #[test]
    fn the_bound_is_clopper_pearson() {
        // Known values: 1 in 10 → 0.3942; 5 in 100 → 0.1023 (one-sided 95%).
        assert!((upper_bound(1, 10, 0.95) - 0.3942).abs() < 1e-3);
        assert!((upper_bound(5, 100, 0.95) - 0.1023).abs() < 1e-3);
        assert_eq!(upper_bound(0, 0, 0.95), 1.0);
        // The rule of three.
        assert!((upper_bound(0, 3000, 0.95) * 3000.0 - 3.0).abs() < 0.01);
    }

    #[test]
    fn kappa_and_agreement_follow_their_definitions() {
        let p = ShadowPairs {
            both_passed: 20,
            runner_only_failed: 5,
            llm_only_failed: 10,
            both_failed: 15,
            runner_no_verdict: 7,
            other_commit: 3,
            ..ShadowPairs::default()
        };
        assert_eq!(p.compared(), 50, "pairs without a runner verdict excluded");
        assert!((p.agreement().unwrap() - 0.7).abs() < 1e-12);
        assert!((p.kappa().unwrap() - 0.4).abs() < 1e-12);
        assert_eq!(pairs(10, 0).kappa(), None, "one verdict throughout");
    }

    /// A flaky pair is out of the denominator and said apart: 300 agreeing
    /// pairs and 5 flaky ones are ready, as 300 alone are.
    #[test]
    fn flaky_pairs_are_counted_apart_and_out_of_the_decision() {
        let policy = SwitchPolicy::default();
        let sha = "c".repeat(64);
        let mut p = pairs(300, 0);
        p.command_sha = Some(sha.clone());
        p.flaky = 5;
        assert_eq!(p.compared(), 300);
        let decided = policy.decisions(&[("demo".to_owned(), Some(sha))], &[p]);
        assert_eq!(decided[0].compared, 300);
        assert!(
            matches!(decided[0].recommendation, Recommendation::Ready { .. }),
            "{:?}",
            decided[0].recommendation
        );
        let line = decided[0].describe();
        assert!(line.contains(", 5 flaky (the runner's re-run"), "{line}");
    }

    #[test]
    fn only_the_current_commands_pairs_count() {
        let policy = SwitchPolicy::default();
        let current = "c".repeat(64);
        let mut old = pairs(500, 0);
        old.command_sha = Some("b".repeat(64));
        let mut now = pairs(10, 0);
        now.command_sha = Some(current.clone());
        let decisions = policy.decisions(
            &[("demo".into(), Some(current)), ("lib".into(), None)],
            &[old, now],
        );
        assert_eq!(decisions[0].compared, 10);
        assert_eq!(decisions[0].other_commands, 500);
        assert!(matches!(
            decisions[0].recommendation,
            Recommendation::NeedMore { more: 290, .. }
        ));
        assert_eq!(decisions[1].recommendation, Recommendation::NoTestCommand);
    }
}
