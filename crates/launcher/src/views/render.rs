//! The views as text for people: what `orch` prints when stdout is a
//! terminal (`task list|show`, `repo list`, `alert list`, `queue`). The JSON
//! stays the contract for programs; this text may change between versions.
//!
//! Every function takes the typed view and a "now" (milliseconds since the
//! epoch) for the relative times, so the text is a pure function of both:
//! `tests/render.rs` pins it with golden files on a fixed clock.
//!
//! Times are shown as `2026-01-02 03:04:09Z (5m ago)`: the absolute time in
//! UTC, to the second, and how long ago. Roles are shown once each: the role
//! that served a job, with the pipeline role beside it when they differ
//! (`staging-runner (deployer)`, [`role_label`]).

use std::fmt::Write as _;
use std::time::UNIX_EPOCH;

use super::{AlertView, RepoView, TaskSummary, TaskView};

/// The longest title or message cell of a table, in characters; longer
/// ones end with `…`.
const CELL_MAX: usize = 60;

/// Text from outside (a suite's output, a title, an agent's reason) made
/// safe for a terminal, keeping its line breaks: every control character
/// (C0 but `\n`, ESC, DEL, C1) is shown as a visible escape (`\x1b`,
/// `\u{9b}`), so nothing printed can move the cursor, retitle the window or
/// clear the screen. A tab stays.
#[must_use]
pub fn clean_block(text: &str) -> String {
    clean(text, false)
}

/// [`clean_block`] for one-line fields (titles, reasons, the `work` lines):
/// line breaks are shown as `\n` too, so a field cannot forge a line.
#[must_use]
pub fn clean_line(text: &str) -> String {
    clean(text, true)
}

fn clean(text: &str, fold_newlines: bool) -> String {
    let unsafe_char = |c: char| c.is_control() && (fold_newlines || (c != '\n' && c != '\t'));
    if !text.chars().any(unsafe_char) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' if fold_newlines => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' if fold_newlines => out.push_str("\\t"),
            c if unsafe_char(c) => {
                let code = u32::from(c);
                if code < 0x80 {
                    let _ = write!(out, "\\x{code:02x}");
                } else {
                    let _ = write!(out, "\\u{{{code:x}}}");
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// `served_by` with the pipeline `role` beside it when they differ
/// (`staging-runner (deployer)`), else the role alone.
#[must_use]
pub fn role_label(served_by: Option<&str>, role: &str) -> String {
    match served_by {
        Some(served) if served != role => format!("{served} ({role})"),
        _ => role.to_owned(),
    }
}

/// An RFC 3339 time (as the views hold them) as `2026-01-02 03:04:09Z (5m
/// ago)`; text that is not such a time is shown as it is.
#[must_use]
pub fn when(at: &str, now_ms: i64) -> String {
    let Ok(time) = humantime::parse_rfc3339(at) else {
        return at.to_owned();
    };
    let Ok(since_epoch) = time.duration_since(UNIX_EPOCH) else {
        return at.to_owned();
    };
    let at_ms = i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX);
    let short = at
        .get(..19)
        .map_or_else(|| at.to_owned(), |s| s.replace('T', " "));
    format!("{short}Z ({})", ago(now_ms.saturating_sub(at_ms)))
}

/// A span in milliseconds as `just now`, `42s ago`, `5m ago`, `3h ago`,
/// `2d ago` (`in 5m` for a time ahead).
#[must_use]
pub fn ago(ms: i64) -> String {
    let ahead = ms < 0;
    let secs = ms.unsigned_abs() / 1000;
    let span = match secs {
        0 => return "just now".to_owned(),
        1..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86_400 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    };
    if ahead {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

/// A duration in milliseconds as `850ms`, `2.5s`, `3m 20s`.
#[must_use]
pub fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    match ms {
        0..1000 => format!("{ms}ms"),
        1000..60_000 => format!("{:.1}s", ms as f64 / 1000.0),
        _ => format!("{}m {}s", ms / 60_000, (ms % 60_000) / 1000),
    }
}

/// `text` cut to `max` characters, ending with `…` when cut; line breaks
/// become spaces.
#[must_use]
pub fn cut(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    if flat.chars().count() <= max {
        return flat;
    }
    let mut out: String = flat.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A table: the headers, then one line per row, columns padded to their
/// widest cell (in characters) and two spaces apart; the last column is not
/// padded. Each line ends with a newline.
#[must_use]
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(width) = widths.get_mut(i) {
                *width = (*width).max(cell.chars().count());
            }
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut out = String::new();
        let cells: Vec<&str> = cells.collect();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                let pad = widths
                    .get(i)
                    .copied()
                    .unwrap_or(0)
                    .saturating_sub(cell.chars().count());
                out.push_str(cell);
                out.push_str(&" ".repeat(pad + 2));
            }
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
        out
    };
    let mut out = line(&mut headers.iter().copied());
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    out
}

/// Where a task is, in a few words: `testing`, `done`, `blocked at
/// testing`.
fn place(status: &str, stage: &str, blocked: Option<&super::BlockedView>) -> String {
    match (status, blocked) {
        ("blocked", Some(b)) if b.unblock.is_none() => {
            format!("abandoned (was blocked at {})", b.stage)
        }
        ("blocked", Some(b)) => format!("blocked at {}", b.stage),
        ("active", _) => stage.to_owned(),
        (status, _) => status.to_owned(),
    }
}

/// The task list: a table (id, where it is, repository, last change,
/// title), a count by status, and for each blocked task why and the command
/// that unblocks it.
#[must_use]
pub fn task_list(tasks: &[TaskSummary], now_ms: i64) -> String {
    if tasks.is_empty() {
        return "no tasks; add one with `orch task add --repo NAME --title TEXT`\n".to_owned();
    }
    let rows: Vec<Vec<String>> = tasks
        .iter()
        .map(|t| {
            vec![
                t.id.to_string(),
                place(&t.status, &t.stage, t.blocked.as_ref()),
                t.repo.clone(),
                when(&t.updated, now_ms),
                cut(&clean_line(&t.title), CELL_MAX),
            ]
        })
        .collect();
    let mut out = table(&["ID", "WHERE", "REPO", "CHANGED", "TITLE"], &rows);
    let count = |status: &str| tasks.iter().filter(|t| t.status == status).count();
    let _ = writeln!(
        out,
        "{} task{}: {} active, {} blocked, {} done",
        tasks.len(),
        if tasks.len() == 1 { "" } else { "s" },
        count("active"),
        count("blocked"),
        count("done")
    );
    for task in tasks {
        if let Some(blocked) = &task.blocked {
            let reason = cut(&clean_line(&blocked.reason), 2 * CELL_MAX);
            let _ = match &blocked.unblock {
                Some(unblock) => writeln!(
                    out,
                    "task {} blocked at {}: {reason} (unblock: {unblock})",
                    task.id, blocked.stage,
                ),
                None => writeln!(
                    out,
                    "task {} abandoned (was blocked at {}): {reason}",
                    task.id, blocked.stage,
                ),
            };
        }
    }
    out
}

/// One task, for people: where it is (for a blocked task the stage, why,
/// when, and the command that unblocks it), cost, branch, then its history
/// (each transition with its time, actor and the gates' reasons), its jobs
/// (the role that served each) and its runs.
#[must_use]
pub fn task(view: &TaskView, now_ms: i64) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "task {} · {}", view.id, clean_line(&view.title));
    let mut fields: Vec<(&str, String)> = vec![("repo", view.repo.clone())];
    match &view.blocked {
        Some(blocked) => {
            fields.push(("status", place("blocked", "", Some(blocked))));
            fields.push(("since", when(&blocked.at, now_ms)));
            fields.push(("why", clean_line(&blocked.reason)));
            if let Some(unblock) = &blocked.unblock {
                fields.push(("unblock", unblock.clone()));
            }
        }
        None if view.status == "active" => {
            fields.push(("status", format!("active at {}", view.stage)));
            let running = view
                .jobs
                .iter()
                .rev()
                .find(|j| j.state == "running" || j.state == "queued");
            if let Some(job) = running {
                fields.push((
                    "job",
                    format!(
                        "{} {} · {} since {}",
                        job.id,
                        job.state,
                        role_label(job.served_by.as_deref(), &job.role),
                        when(job.started.as_deref().unwrap_or(&job.updated), now_ms)
                    ),
                ));
            }
        }
        None => fields.push(("status", view.status.clone())),
    }
    fields.push(("added", when(&view.created, now_ms)));
    fields.push(("changed", when(&view.updated, now_ms)));
    fields.push((
        "cost",
        format!(
            "${:.4} over {} run{} · developer retries {}",
            view.cost_usd,
            view.runs.len(),
            if view.runs.len() == 1 { "" } else { "s" },
            view.developer_retries
        ),
    ));
    let tree = &view.worktree;
    fields.push((
        "branch",
        tree.branch.clone().unwrap_or_else(|| {
            if tree.isolation == "checkout" {
                "none: it works in the repository's own folder".to_owned()
            } else {
                "none yet".to_owned()
            }
        }),
    ));
    if let Some(path) = &tree.path {
        fields.push(("worktree", path.clone()));
    }
    // A branch whose head is its base carries no work: nothing to merge.
    let unchanged = tree.base_commit.is_some() && tree.base_commit == tree.head_commit;
    if let (Some(base), head) = (&tree.base_commit, &tree.head_commit) {
        fields.push((
            "commits",
            format!(
                "base {} · head {}{}",
                short_sha(base),
                head.as_deref().map_or("none yet", short_sha),
                if unchanged {
                    " · no changes (head = base)"
                } else {
                    ""
                }
            ),
        ));
    }
    if let Some(merge) = tree.merge.as_ref().filter(|_| !unchanged) {
        fields.push(("merge", merge.clone()));
    }
    let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (key, value) in &fields {
        let _ = writeln!(out, "  {key:<width$}  {value}");
    }

    out.push_str("\nhistory\n");
    if view.transitions.is_empty() {
        out.push_str("  nothing yet: the first stage has not ended\n");
    }
    for t in &view.transitions {
        let actor = t.actor.as_deref().unwrap_or("engine");
        let _ = writeln!(
            out,
            "  {}  {} → {}  by {actor}",
            when(&t.at, now_ms),
            t.from,
            t.to
        );
        if let Some(reason) = &t.reason {
            let _ = writeln!(out, "      reason: {}", clean_line(reason));
        }
        for gate in &t.gates {
            let _ = writeln!(
                out,
                "      {} {}: {}",
                if gate.passed { "pass" } else { "FAIL" },
                gate.gate,
                clean_line(&gate.reason)
            );
        }
    }

    if !view.jobs.is_empty() {
        out.push_str("\njobs\n");
        let rows: Vec<Vec<String>> = view
            .jobs
            .iter()
            .map(|j| {
                vec![
                    j.id.to_string(),
                    j.stage.clone(),
                    role_label(j.served_by.as_deref(), &j.role),
                    j.state.clone(),
                    when(&j.updated, now_ms),
                ]
            })
            .collect();
        push_indented(
            &mut out,
            &table(&["JOB", "STAGE", "SERVED BY", "STATE", "CHANGED"], &rows),
        );
    }
    if !view.runs.is_empty() {
        out.push_str("\nruns\n");
        let rows: Vec<Vec<String>> = view
            .runs
            .iter()
            .map(|r| {
                let pipeline_role = view
                    .jobs
                    .iter()
                    .find(|j| j.id == r.job)
                    .map_or(r.role.as_str(), |j| j.role.as_str());
                vec![
                    r.id.to_string(),
                    r.job.to_string(),
                    r.stage.clone(),
                    role_label(Some(&r.role), pipeline_role),
                    r.transport.clone(),
                    r.outcome.clone(),
                    when(&r.started, now_ms),
                    duration(r.duration_ms),
                    r.cost_usd
                        .map_or_else(|| "-".to_owned(), |c| format!("${c:.4}")),
                ]
            })
            .collect();
        push_indented(
            &mut out,
            &table(
                &[
                    "RUN", "JOB", "STAGE", "ROLE", "HOW", "OUTCOME", "STARTED", "TOOK", "COST",
                ],
                &rows,
            ),
        );
    }
    if !view.artifacts.is_empty() {
        out.push_str("\nartifacts\n");
        for artifact in &view.artifacts {
            let _ = writeln!(out, "  {artifact}");
        }
    }
    out
}

/// The repositories: a table (name, when added, checkout, staging and test
/// commands, test-runner mode, network).
#[must_use]
pub fn repo_list(repos: &[RepoView], now_ms: i64) -> String {
    if repos.is_empty() {
        return "no repositories; add one with `orch repo add NAME --path DIR --staging-cmd CMD`\n"
            .to_owned();
    }
    let rows: Vec<Vec<String>> = repos
        .iter()
        .map(|r| {
            vec![
                r.name.clone(),
                when(&r.created, now_ms),
                r.path.clone(),
                cut(&r.staging_cmd, 40),
                r.test_cmd
                    .as_deref()
                    .map_or_else(|| "-".to_owned(), |c| cut(c, 40)),
                r.test_runner
                    .clone()
                    .unwrap_or_else(|| "default".to_owned()),
                r.suite_network.clone(),
            ]
        })
        .collect();
    let mut out = table(
        &[
            "NAME", "ADDED", "PATH", "STAGING", "TEST", "RUNNER", "NETWORK",
        ],
        &rows,
    );
    let _ = writeln!(
        out,
        "{} repositor{}",
        repos.len(),
        if repos.len() == 1 { "y" } else { "ies" }
    );
    out
}

/// The alerts: a table (id, when raised, kind, task, message; and when
/// acknowledged, for `--all`), then how to acknowledge them.
#[must_use]
pub fn alert_list(alerts: &[AlertView], now_ms: i64) -> String {
    if alerts.is_empty() {
        return "no open alerts\n".to_owned();
    }
    let any_acked = alerts.iter().any(|a| a.acknowledged.is_some());
    let rows: Vec<Vec<String>> = alerts
        .iter()
        .map(|a| {
            let mut row = vec![
                a.id.to_string(),
                when(&a.at, now_ms),
                a.kind.clone(),
                a.task.map_or_else(|| "-".to_owned(), |t| t.to_string()),
            ];
            if any_acked {
                row.push(
                    a.acknowledged
                        .as_deref()
                        .map_or_else(|| "open".to_owned(), |at| when(at, now_ms)),
                );
            }
            row.push(cut(&clean_line(&a.message), 2 * CELL_MAX));
            row
        })
        .collect();
    let mut headers = vec!["ID", "RAISED", "KIND", "TASK"];
    if any_acked {
        headers.push("ACKNOWLEDGED");
    }
    headers.push("MESSAGE");
    let mut out = table(&headers, &rows);
    let open = alerts.iter().filter(|a| a.acknowledged.is_none()).count();
    if open == 0 {
        let _ = writeln!(out, "0 open; the whole message: `orch alert list --json`");
    } else {
        let _ = writeln!(
            out,
            "{open} open; the whole message: `orch alert list --json`; acknowledge: `orch alert ack ID` (or --all)"
        );
    }
    out
}

/// The first 12 characters of a commit.
fn short_sha(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

fn push_indented(out: &mut String, text: &str) {
    for line in text.lines() {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_as_people_say_them() {
        assert_eq!(ago(0), "just now");
        assert_eq!(ago(42_000), "42s ago");
        assert_eq!(ago(5 * 60_000 + 10), "5m ago");
        assert_eq!(ago(3 * 3_600_000), "3h ago");
        assert_eq!(ago(2 * 86_400_000), "2d ago");
        assert_eq!(ago(-120_000), "in 2m");
        assert_eq!(duration(850), "850ms");
        assert_eq!(duration(2500), "2.5s");
        assert_eq!(duration(200_000), "3m 20s");
    }

    #[test]
    fn times_show_absolute_and_relative() {
        let at = "2026-01-02T03:04:09.178Z";
        let at_ms = 1_767_323_049_178;
        assert_eq!(when(at, at_ms + 65_000), "2026-01-02 03:04:09Z (1m ago)");
        assert_eq!(when("not a time", 0), "not a time");
    }

    #[test]
    fn a_role_is_named_once_with_the_pipeline_role_beside() {
        assert_eq!(
            role_label(Some("staging-runner"), "deployer"),
            "staging-runner (deployer)"
        );
        assert_eq!(role_label(Some("deployer"), "deployer"), "deployer");
        assert_eq!(role_label(None, "tester"), "tester");
    }

    #[test]
    fn tables_pad_by_characters_and_cut_long_cells() {
        let text = table(
            &["A", "B"],
            &[
                vec!["→→".to_owned(), "x".to_owned()],
                vec!["abcd".to_owned(), "y".to_owned()],
            ],
        );
        assert_eq!(text, "A     B\n→→    x\nabcd  y\n");
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("a\nb", 10), "a b");
    }

    #[test]
    fn control_characters_are_made_visible() {
        let hostile = "a\u{1b}]0;pwned\u{7}\u{1b}[31mRED\r\nnext\u{7f}\u{9b}2J\tz";
        assert_eq!(
            super::clean_block(hostile),
            "a\\x1b]0;pwned\\x07\\x1b[31mRED\\r\nnext\\x7f\\u{9b}2J\tz"
        );
        assert_eq!(
            super::clean_line(hostile),
            "a\\x1b]0;pwned\\x07\\x1b[31mRED\\r\\nnext\\x7f\\u{9b}2J\\tz"
        );
        assert_eq!(super::clean_line("plain · ünïcode"), "plain · ünïcode");
    }
}
