//! The roadmap written out: as JSON, and as text (the summary, the figures
//! table, the ranked candidates and the notes).

use std::fmt::{self, Write as _};

use super::Roadmap;

fn usd(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), |v| format!("${v:.4}"))
}

fn secs(ms: Option<f64>) -> String {
    ms.map_or_else(|| "—".to_owned(), |v| format!("{:.1} s", v / 1000.0))
}

impl Roadmap {
    /// The roadmap as pretty-printed JSON.
    ///
    /// # Errors
    ///
    /// Only what `serde_json` reports for a value it cannot write (none of
    /// this type's fields is such a value; non-finite numbers become `null`).
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self)
    }

    /// The roadmap as text: the summary, the figures table, the ranked
    /// candidates and the notes.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "LLM determinization roadmap");
        let _ = writeln!(out, "{}", self.summary);
        let _ = writeln!(out);
        let _ = writeln!(out, "Figures per role and transport");
        if self.figures.is_empty() {
            let _ = writeln!(out, "  (none)");
        } else {
            let _ = writeln!(
                out,
                "  {:<20} {:<15} {:<13} {:<17} {:>6} {:>6} {:>10} {:>10} {:>8} {:>7} {:>7} {:>11}",
                "role",
                "stage",
                "transport",
                "class",
                "runs",
                "tasks",
                "mean time",
                "mean cost",
                "verdicts",
                "FAILED",
                "exit≠0",
                "exit≠0 cost"
            );
            for f in &self.figures {
                let _ = writeln!(
                    out,
                    "  {:<20} {:<15} {:<13} {:<17} {:>6} {:>6} {:>10} {:>10} {:>8} {:>7} {:>7} {:>11}{}",
                    f.role,
                    f.stage,
                    f.transport.as_str(),
                    f.class,
                    f.runs,
                    f.tasks,
                    secs(Some(f.mean_duration_ms)),
                    usd(f.mean_cost_usd),
                    f.verdicts.map_or_else(|| "—".to_owned(), |v| v.to_string()),
                    f.failed_verdicts
                        .map_or_else(|| "—".to_owned(), |v| v.to_string()),
                    f.failed_runs,
                    usd(f.failed_cost_usd),
                    if f.notes.is_empty() {
                        String::new()
                    } else {
                        format!("  ({})", f.notes.join("; "))
                    }
                );
            }
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "Candidates (avoidable LLM control paths), best first");
        if self.candidates.is_empty() {
            let _ = writeln!(out, "  (none: the inventory has no avoidable call site)");
        } else {
            let _ = writeln!(
                out,
                "  {:<2} {:<4} {:<10} {:<15} {:>8} {:>10} {:>13} {:>13} {:>13} {:>13}  status",
                "#",
                "site",
                "role",
                "stage",
                "LLM runs",
                "total $",
                "saving/task",
                "time/task",
                "fail $/task",
                "score/task"
            );
            for c in &self.candidates {
                let status = &c.status;
                let _ = writeln!(
                    out,
                    "  {:<2} {:<4} {:<10} {:<15} {:>8} {:>10} {:>13} {:>13} {:>13} {:>13}  {status}",
                    c.rank,
                    c.id,
                    c.role,
                    c.stage,
                    c.llm_runs,
                    usd(c.addressable_usd),
                    usd(c.saving_usd_per_task),
                    secs(c.saving_ms_per_task),
                    usd(c.failure_cost_usd_per_task),
                    usd(c.score_usd_per_task),
                );
                if let Some(v) = &c.verdicts {
                    let _ = writeln!(
                        out,
                        "       - LLM verdicts: {} PASSED, {} FAILED (their jobs cost {}, the FAILED ones {}); the rollback loops its FAILED verdicts started cost {}{}",
                        v.passed,
                        v.failed,
                        usd(Some(v.verdict_spend_usd)),
                        usd(Some(v.failed_spend_usd)),
                        usd(Some(v.failed_loops_usd)),
                        if v.open_loops > 0 {
                            format!(" ({} still open)", v.open_loops)
                        } else {
                            String::new()
                        }
                    );
                    let caught: Vec<String> = v
                        .caught_at
                        .iter()
                        .map(|(stage, n)| format!("{n} at {stage}"))
                        .collect();
                    let _ = writeln!(
                        out,
                        "       - false PASSes (the next deterministic verdict on the same commit FAILED): {}{}; the loops they let happen cost {}; {} PASSED not checked by a deterministic verdict on their commit",
                        v.false_passes,
                        if caught.is_empty() {
                            String::new()
                        } else {
                            format!(", caught {}", caught.join(", "))
                        },
                        usd(Some(v.false_pass_loops_usd)),
                        v.unchecked_passes
                    );
                }
                if let Some(shadow) = &c.shadow {
                    let _ = writeln!(
                        out,
                        "       - shadow agreement (all repositories, all commands): {}",
                        shadow.describe()
                    );
                }
                for repo in &c.repos {
                    let spent = if c.verdicts.is_some() {
                        format!(
                            "{} LLM verdicts ({}); ",
                            repo.llm_verdicts,
                            usd(Some(repo.llm_verdict_spend_usd))
                        )
                    } else {
                        String::new()
                    };
                    let _ = writeln!(
                        out,
                        "       - {}: {spent}runner {}; the LLM runs because {}",
                        repo.repo,
                        repo.state.as_str(),
                        repo.why_llm
                    );
                    if let Some(evidence) = &repo.evidence {
                        let _ = writeln!(out, "           {}", evidence.describe());
                    }
                }
                for note in &c.notes {
                    let _ = writeln!(out, "       - {note}");
                }
            }
        }
        if self
            .candidates
            .iter()
            .any(|c| c.repos.iter().any(|r| r.evidence.is_some()))
        {
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "Shadow evidence: pairs on the same commit with a runner verdict, of the repository's current test command; \"let through\" = the runner PASSED where the LLM FAILED (what mode on would let through), bounded by the exact one-sided {:.0}% Clopper-Pearson upper bound (0 in n: about 3/n); ready to switch at {} pairs or more with the bound at most {}%.",
                100.0 * self.policy.confidence,
                self.policy.min_pairs,
                100.0 * self.policy.max_rate
            );
        }
        if !self.notes.is_empty() {
            let _ = writeln!(out);
            let _ = writeln!(out, "Notes");
            for note in &self.notes {
                let _ = writeln!(out, "  - {note}");
            }
        }
        out
    }
}

impl fmt::Display for Roadmap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}
