//! `orch agent check`: wiring of [`orch_launcher::check::check_agent`],
//! which holds the logic; this prints its report.

use std::time::Duration;

use orch_launcher::check::{CheckReport, check_agent};

use crate::cli::AgentCheckArgs;
use crate::commands::{Setup, check_sandbox, print_line, print_text};
use crate::{CliError, Ending};

/// Runs the check and prints one line per problem, then the agent's last
/// output; [`Ending::Done`] when the artifact was written, else
/// [`Ending::Failed`].
///
/// # Errors
///
/// [`CliError::Tool`] when the sandbox cannot be had or the check could not
/// run (its folders, git, its database).
pub(crate) fn check(setup: &Setup, args: &AgentCheckArgs) -> Result<Ending, CliError> {
    let config = setup.launcher();
    check_sandbox(config.sandbox.mode)?;
    print_line(&format!(
        "agent check: ORCH_AGENT={} — `{}` (sandbox {}, timeout {}s)",
        config.agent.preset, config.agent.command, config.sandbox.mode, args.timeout
    ))?;
    let report = check_agent(
        &config,
        &std::env::temp_dir(),
        Duration::from_secs(args.timeout),
    )
    .map_err(|error| CliError::Tool(error.to_string()))?;
    print_text(&render(&report))?;
    Ok(if report.artifact_written {
        Ending::Done
    } else {
        Ending::Failed
    })
}

/// The report as the operator reads it.
fn render(report: &CheckReport) -> String {
    let mut text = String::new();
    let notes: String = report
        .notes
        .iter()
        .map(|note| format!("note: {note}\n"))
        .collect();
    if report.artifact_written {
        text.push_str(&format!(
            "ok: the agent wrote its artifact in {:.1}s; it is ready for tasks\n",
            report.took.as_secs_f64()
        ));
        text.push_str(&notes);
        return text;
    }
    text.push_str(&notes);
    for finding in &report.findings {
        text.push_str(&format!("problem: {}\n", finding.message));
    }
    if !report.output_tail.trim().is_empty() {
        text.push_str("the agent's last output:\n");
        for line in report.output_tail.lines() {
            text.push_str(&format!("  | {line}\n"));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use orch_launcher::AgentKind;
    use orch_launcher::check::{Finding, FindingKind};

    #[test]
    fn the_report_says_one_line_per_problem_then_the_output() {
        let mut report = CheckReport {
            preset: AgentKind::Codex,
            command: "codex exec".to_owned(),
            artifact_written: false,
            outcome: Some("failed".to_owned()),
            exit_code: Some(1),
            findings: vec![Finding {
                kind: FindingKind::NotAuthenticated,
                message: "not logged in: 401; set OPENAI_API_KEY".to_owned(),
            }],
            notes: Vec::new(),
            output_tail: "turn.failed".to_owned(),
            took: Duration::from_secs(8),
        };
        assert_eq!(
            render(&report),
            "problem: not logged in: 401; set OPENAI_API_KEY\nthe agent's last output:\n  | turn.failed\n"
        );
        report.artifact_written = true;
        assert!(render(&report).starts_with("ok: "));
        report.notes = vec!["bound its retries".to_owned()];
        assert!(render(&report).ends_with("\nnote: bound its retries\n"));
    }
}
