//! `orch queue`: the queue's JSON view (built by [`crate::queue`], the same
//! as `GET /queue`), printed once; on a terminal, a short summary of it.

use std::fmt::Write as _;

use orch_launcher::views::render::{ago, cut, duration, table, when};
use serde_json::Value;

use super::{Globals, Setup, now_ms, print_view};
use crate::{CliError, Ending};

/// `orch queue`.
pub(crate) fn show(setup: &Setup, globals: &Globals) -> Result<Ending, CliError> {
    let store = setup.open_store()?;
    let value = crate::queue::queue_json(&store, &setup.launcher())
        .map_err(|error| CliError::Tool(error.to_string()))?;
    print_view(globals, &value, || render(&value, now_ms()))?;
    Ok(Ending::Done)
}

/// The queue document as text for people: the job counts, the running jobs
/// (with how long they have run), the next queued and deferred ones, the
/// open alerts, and one line per suite runner. Reads the document
/// defensively: a field it lacks shows as `-`.
pub(crate) fn render(queue: &Value, now_ms: i64) -> String {
    let text = |v: &Value, key: &str| match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "-".to_owned(),
        Some(other) => other.to_string(),
    };
    let num = |v: &Value, key: &str| v.get(key).and_then(Value::as_i64).unwrap_or(0);
    let list = |key: &str| {
        queue
            .get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let mut out = String::new();
    let counts = queue.get("counts").cloned().unwrap_or(Value::Null);
    let _ = writeln!(
        out,
        "queue at {}: {} running, {} queued, {} done, {} failed (jobs)",
        when(&text(queue, "at"), now_ms),
        num(&counts, "running"),
        num(&counts, "queued"),
        num(&counts, "done"),
        num(&counts, "failed"),
    );
    let running = list("running");
    if !running.is_empty() {
        out.push_str("\nrunning\n");
        let rows: Vec<Vec<String>> = running
            .iter()
            .map(|j| {
                vec![
                    text(j, "job"),
                    text(j, "task"),
                    text(j, "repo"),
                    text(j, "stage"),
                    text(j, "role"),
                    text(j, "worker"),
                    duration(num(j, "elapsed_ms")),
                ]
            })
            .collect();
        indent(
            &mut out,
            &table(
                &[
                    "JOB",
                    "TASK",
                    "REPO",
                    "STAGE",
                    "ROLE",
                    "WORKER",
                    "RUNNING FOR",
                ],
                &rows,
            ),
        );
    }
    for (key, title) in [("queued", "queued"), ("deferred", "deferred")] {
        let jobs = list(key);
        if jobs.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{title}");
        let rows: Vec<Vec<String>> = jobs
            .iter()
            .map(|j| {
                vec![
                    text(j, "job"),
                    text(j, "task"),
                    text(j, "repo"),
                    text(j, "stage"),
                    text(j, "role"),
                    due(&text(j, "run_after"), now_ms),
                    cut(&text(j, "last_error"), 60),
                ]
            })
            .collect();
        indent(
            &mut out,
            &table(
                &["JOB", "TASK", "REPO", "STAGE", "ROLE", "DUE", "LAST ERROR"],
                &rows,
            ),
        );
    }
    let alerts = list("alerts");
    if !alerts.is_empty() {
        let _ = writeln!(out, "\nopen alerts ({})", num(queue, "alerts_total"));
        let rows: Vec<Vec<String>> = alerts
            .iter()
            .map(|a| {
                vec![
                    text(a, "id"),
                    when(&text(a, "at"), now_ms),
                    text(a, "kind"),
                    text(a, "task"),
                    cut(&text(a, "message"), 80),
                ]
            })
            .collect();
        indent(
            &mut out,
            &table(&["ID", "RAISED", "KIND", "TASK", "MESSAGE"], &rows),
        );
    }
    out.push('\n');
    for (key, name) in [
        ("staging_runner", "staging-runner"),
        ("test_runner", "test-runner"),
    ] {
        let Some(runner) = queue.get(key) else {
            continue;
        };
        let enabled = runner
            .get("enabled")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        // The global mode, then each repository that overrides it.
        let overrides: Vec<String> = runner
            .get("repo_modes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|m| format!("{} {}", text(m, "repo"), text(m, "mode")))
            .collect();
        let mode = runner
            .get("mode")
            .and_then(Value::as_str)
            .map(|m| {
                if overrides.is_empty() {
                    format!(" (mode {m})")
                } else {
                    format!(" (mode {m}; repos: {})", overrides.join(", "))
                }
            })
            .unwrap_or_default();
        let cancelled = runner
            .get("cancelled")
            .and_then(Value::as_u64)
            .filter(|n| *n > 0)
            .map(|n| format!(", {n} cancelled"))
            .unwrap_or_default();
        let _ = write!(
            out,
            "{name}{mode}: {} · {} run{}: {} passed, {} failed, {} timed out, {} tool errors{cancelled}, {} fell back to the LLM",
            if enabled { "on" } else { "off" },
            num(runner, "runs"),
            if runner.get("runs").and_then(Value::as_u64) == Some(1) {
                ""
            } else {
                "s"
            },
            num(runner, "passed"),
            num(runner, "failed"),
            num(runner, "timed_out"),
            num(runner, "tool_errors"),
            num(runner, "fallbacks_to_llm"),
        );
        match runner.get("last_run") {
            Some(last) if last.is_object() => {
                let _ = writeln!(
                    out,
                    " · last: task {} {} {}",
                    text(last, "task"),
                    text(last, "status"),
                    when(&text(last, "at"), now_ms)
                );
            }
            _ => out.push('\n'),
        }
    }
    if let Some(sandbox) = queue.get("sandbox") {
        let _ = writeln!(out, "sandbox: {}", text(sandbox, "mode"));
    }
    out
}

/// When a queued job may run: `now` when due, else `in 5m`.
fn due(run_after: &str, now_ms: i64) -> String {
    match humantime::parse_rfc3339(run_after)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_millis()).ok())
    {
        Some(at) if at > now_ms => ago(now_ms - at),
        Some(_) => "now".to_owned(),
        None => run_after.to_owned(),
    }
}

fn indent(out: &mut String, text: &str) {
    for line in text.lines() {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
}
