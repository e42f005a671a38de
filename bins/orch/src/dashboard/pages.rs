//! The pages as HTML (maud: compiled templates, every spliced text
//! escaped). No page needs JavaScript; `live.js` only refreshes `<main>`.

use maud::{DOCTYPE, Markup, html};
use orch_pipeline::Stage;

use super::Dashboard;
use super::data::{Blocked, Board, Card, Runners, TaskPage, Workers, at, short_duration};
use crate::roadmap_cache::Shown;

/// Which page a layout is for (the navigation marks it).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Nav {
    Board,
    Task,
    Runners,
    Workers,
    Error,
}

fn layout(title: &str, nav: Nav, body: &Markup) -> String {
    let item = |here: Nav, href: &str, text: &str| {
        html! {
            a href=(href) aria-current=[(nav == here).then_some("page")] { (text) }
        }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · orch" }
                link rel="stylesheet" href="/assets/style.css";
                @if nav != Nav::Error {
                    script src="/assets/live.js" defer {}
                }
            }
            body {
                header {
                    span.brand { "orch" }
                    nav {
                        (item(Nav::Board, "/", "Board"))
                        (item(Nav::Runners, "/runners", "Runners"))
                        (item(Nav::Workers, "/workers", "Workers"))
                    }
                    span.live #live { "live" }
                }
                main #main { (body) }
            }
        }
    }
    .into_string()
}

fn money(usd: f64) -> String {
    format!("${usd:.2}")
}

fn opt_money(usd: Option<f64>) -> String {
    usd.map_or_else(|| "—".to_owned(), money)
}

fn short_sha(sha: &str) -> &str {
    sha.get(..10).unwrap_or(sha)
}

/// The hidden token field of every action form.
fn token(dashboard: &Dashboard) -> Markup {
    html! { input type="hidden" name="token" value=(dashboard.csrf); }
}

/// The working stages, for a retry's choice.
fn stage_select(chosen: Option<&str>) -> Markup {
    html! {
        select name="stage" aria-label="stage" {
            @for stage in Stage::ALL.iter().filter(|s| s.role().is_some()) {
                option value=(stage.as_str()) selected[chosen == Some(stage.as_str())] { (stage.as_str()) }
            }
        }
    }
}

fn retry_form(dashboard: &Dashboard, id: i64, stopped_at: Option<&str>) -> Markup {
    html! {
        form.action method="post" action={ "/tasks/" (id) "/retry" } {
            (token(dashboard))
            (stage_select(stopped_at))
            input type="text" name="reason" placeholder="why" aria-label="reason";
            button type="submit" name="do" value="retry" { "Retry" }
        }
    }
}

fn abandon_form(dashboard: &Dashboard, id: i64) -> Markup {
    html! {
        form.action method="post" action={ "/tasks/" (id) "/abandon" } {
            (token(dashboard))
            input type="text" name="reason" placeholder="why" aria-label="reason";
            button.danger type="submit" name="do" value="abandon" { "Abandon" }
        }
    }
}

fn cancel_form(dashboard: &Dashboard, id: i64) -> Markup {
    html! {
        form.action method="post" action={ "/tasks/" (id) "/cancel" } {
            (token(dashboard))
            button.danger type="submit" name="do" value="cancel" { "Cancel" }
        }
    }
}

fn ack_form(dashboard: &Dashboard, id: i64, back: &str) -> Markup {
    html! {
        form.action method="post" action={ "/alerts/" (id) "/ack" } {
            (token(dashboard))
            input type="hidden" name="back" value=(back);
            button type="submit" name="do" value="ack" { "Acknowledge" }
        }
    }
}

fn card(card: &Card) -> Markup {
    html! {
        li.card data-task=(card.id) data-stage=(card.stage) data-status=(card.status.as_str()) {
            a href={ "/tasks/" (card.id) } { "#" (card.id) " " (card.title) }
            div.meta {
                span.repo { (card.repo) }
                span.age title="time in stage" { (short_duration(card.in_stage_ms)) }
                span.cost title="cost so far" { (money(card.cost_usd)) }
                @if let Some(role) = &card.running { span.running { (role) " running" } }
                @if card.abandoned { span.badge.abandoned { "abandoned" } }
            }
        }
    }
}

fn blocked_item(dashboard: &Dashboard, blocked: &Blocked) -> Markup {
    let id = blocked.card.id;
    let stage_flag = blocked
        .stopped_at
        .as_deref()
        .map(|s| format!(" --stage {s}"))
        .unwrap_or_default();
    html! {
        li.blocked data-task=(id) {
            div.head {
                a href={ "/tasks/" (id) } { "#" (id) " " (blocked.card.title) }
                span.repo { (blocked.card.repo) }
                span.age { "blocked " (short_duration(blocked.card.in_stage_ms)) }
                span.cost { (money(blocked.card.cost_usd)) }
            }
            p.reason { (blocked.reason) }
            p.commands {
                code { "orch task retry " (id) (stage_flag) " --reason '...'" }
                " or "
                code { "orch task abandon " (id) " --reason '...'" }
            }
            @if !dashboard.read_only {
                div.actions {
                    (retry_form(dashboard, id, blocked.stopped_at.as_deref()))
                    (abandon_form(dashboard, id))
                }
            }
        }
    }
}

fn alert_list(dashboard: &Dashboard, alerts: &[orch_store::Alert], now: i64, back: &str) -> Markup {
    html! {
        ul.alerts {
            @for alert in alerts {
                li.alert data-alert=(alert.id.get()) {
                    span.kind { (alert.kind.as_str()) }
                    " "
                    @if let Some(task) = alert.task {
                        a href={ "/tasks/" (task.get()) } { "task #" (task.get()) }
                        " "
                    }
                    span.age { (short_duration(now - alert.created_ms)) " ago" }
                    p { (alert.message) }
                    @if !dashboard.read_only { (ack_form(dashboard, alert.id.get(), back)) }
                }
            }
        }
    }
}

/// The Board: attention first, then one column per stage.
pub(super) fn board(board: &Board, dashboard: &Dashboard) -> String {
    let body = html! {
        h1 { "Board" }
        p.counts {
            @for (state, n) in &board.counts { span { (state) " " strong { (n) } } " " }
        }
        section #attention {
            h2 { "Needs you" }
            @if board.blocked.is_empty() && board.alerts.is_empty() {
                p.quiet { "Nothing is blocked and no alert is open." }
            }
            @if !board.blocked.is_empty() {
                h3 { "Blocked tasks (" (board.blocked.len()) ")" }
                ul.blocked-list { @for b in &board.blocked { (blocked_item(dashboard, b)) } }
            }
            @if !board.alerts.is_empty() {
                h3 { "Open alerts (" (board.open_alerts_total) ")" }
                (alert_list(dashboard, &board.alerts, board.at_ms, "/"))
            }
        }
        section #stages {
            h2 { "Tasks by stage" }
            div.columns {
                @for (stage, cards) in &board.columns {
                    div.column data-stage=(stage.as_str()) {
                        h3 { (stage.as_str()) " " span.n { (cards.len()) } }
                        ul { @for c in cards { (card(c)) } }
                    }
                }
            }
        }
        section #done {
            h2 { "Done and closed (newest)" }
            ul.done { @for c in &board.done { (card(c)) } }
        }
    };
    layout("Board", Nav::Board, &body)
}

/// One task.
pub(super) fn task(page: &TaskPage, dashboard: &Dashboard) -> String {
    let v = &page.view;
    let id = v.id;
    let abandoned = page.task.abandoned_ms;
    let body = html! {
        h1 { "#" (id) " " (v.title) }
        p.summary {
            span.badge.(v.status) { (v.status) }
            @if let Some(ms) = abandoned { " " span.badge.abandoned title=(at(ms)) { "abandoned" } }
            " at " strong.stage { (v.stage) }
            " · " (v.repo)
            " · cost " strong { (money(v.cost_usd)) }
            " · developer retries " (v.developer_retries)
        }
        @if !dashboard.read_only {
            div.actions #task-actions {
                @if v.status != "active" && abandoned.is_none() {
                    (retry_form(dashboard, id, page.stopped_at.as_deref()))
                }
                @if v.status == "active" { (cancel_form(dashboard, id)) }
                @if v.status == "blocked" && abandoned.is_none() { (abandon_form(dashboard, id)) }
            }
        }
        @if !page.alerts.is_empty() {
            section #alerts { h2 { "Open alerts" } (alert_list(dashboard, &page.alerts, page.at_ms, &format!("/tasks/{id}"))) }
        }
        section #branch {
            h2 { "Branch" }
            dl {
                dt { "isolation" } dd { (v.worktree.isolation) }
                @if let Some(b) = &v.worktree.branch { dt { "branch" } dd { code { (b) } } }
                @if let Some(c) = &v.worktree.base_commit { dt { "base" } dd { code { (short_sha(c)) } } }
                @if let Some(c) = &v.worktree.head_commit { dt { "head" } dd { code { (short_sha(c)) } } }
                @if let Some(p) = &v.worktree.path { dt { "worktree" } dd { code { (p) } } }
                @if let Some(m) = &v.worktree.merge { dt { "merge" } dd { code.merge { (m) } } }
            }
        }
        section #timeline {
            h2 { "Stage timeline" }
            table {
                thead { tr { th { "time" } th { "from" } th { "to" } th { "by" } th { "gate" } th { "verdict" } th { "reason" } th { "commit" } } }
                tbody {
                    @for t in &v.transitions {
                        @if t.gates.is_empty() {
                            tr { td { (t.at) } td { (t.from) } td { (t.to) } td { (t.actor.as_deref().unwrap_or("engine")) } td {} td {} td { (t.reason.as_deref().unwrap_or("")) } td {} }
                        }
                        @for g in &t.gates {
                            tr.gate.failed[!g.passed] {
                                td { (t.at) } td { (t.from) } td { (t.to) } td { (t.actor.as_deref().unwrap_or("engine")) }
                                td { (g.gate) }
                                td { (g.verdict.as_deref().unwrap_or(if g.passed { "pass" } else { "fail" })) }
                                td { (g.reason) @if let Some(r) = &t.reason { br; small { (r) } } }
                                td { @if let Some(c) = &g.commit { code { (short_sha(c)) } } }
                            }
                        }
                    }
                }
            }
        }
        section #runs {
            h2 { "Runs (" (v.runs.len()) ")" }
            table {
                thead { tr { th { "run" } th { "stage" } th { "role" } th { "transport" } th { "outcome" } th { "duration" } th { "cost" } th { "tokens in/out" } th { "model" } th { "sandbox" } } }
                tbody {
                    @for r in &v.runs {
                        tr {
                            td { (r.id) } td { (r.stage) } td { (r.role) } td { (r.transport) } td { (r.outcome) }
                            td { (short_duration(r.duration_ms)) }
                            td { (opt_money(r.cost_usd)) }
                            td { (r.tokens_in.map_or_else(|| "—".to_owned(), |t| t.to_string())) " / " (r.tokens_out.map_or_else(|| "—".to_owned(), |t| t.to_string())) }
                            td { (r.model.as_deref().unwrap_or("")) }
                            td { (r.sandbox.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
        section #tail {
            @match &page.tail {
                Some((stage, text)) => {
                    h2 { "Output of " (stage) @if page.live { " (running, live)" } }
                    pre.log { (text) }
                }
                None => { h2 { "Output" } p.quiet { "No role has written output yet." } }
            }
        }
        section #staging-log {
            h2 { "Staging log" }
            @match &page.staging_log {
                Some(text) => { pre.log { (text) } }
                None => { p.quiet { "No staging run yet." } }
            }
        }
        section #shadows {
            h2 { "Shadow pairs" }
            @if page.shadows.is_empty() { p.quiet { "None: the test runner ran in shadow mode for no job of this task." } }
            @else {
                table {
                    thead { tr { th { "job" } th { "stage" } th { "runner" } th { "LLM" } th { "rerun" } th { "commit" } th { "time" } } }
                    tbody {
                        @for s in &page.shadows {
                            tr {
                                td { (s.job.get()) } td { (s.stage) }
                                td { (s.runner_verdict.as_deref().unwrap_or("no verdict")) }
                                td { (s.llm_verdict) }
                                td { (s.rerun_verdict.as_deref().unwrap_or("")) }
                                td { @if let Some(c) = &s.commit { code { (short_sha(c)) } } }
                                td { (at(s.created_ms)) }
                            }
                        }
                    }
                }
            }
        }
    };
    layout(&format!("#{id} {}", v.title), Nav::Task, &body)
}

fn counters(name: &str, s: &orch_store::SuiteRunnerStats) -> Markup {
    html! {
        tr {
            th { (name) } td { (s.runs) } td { (s.passed) } td { (s.failed) } td { (s.timed_out) }
            td { (s.tool_errors) } td { (s.deferred) } td { (s.exhausted) } td { (s.fallbacks_to_llm) }
            td { (s.cancelled) }
        }
    }
}

/// The suite runners, shadow agreement, switch decisions, the roadmap.
pub(super) fn runners(page: &Runners) -> String {
    let snap = &page.snapshot;
    let agreement = &snap.test_runner_agreement;
    let decisions = crate::queue::decisions(snap);
    let text = |v: &serde_json::Value, key: &str| match v.get(key) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let body = html! {
        h1 { "Runners" }
        section #counters {
            h2 { "Suite runners" }
            table {
                thead { tr { th {} th { "runs" } th { "passed" } th { "failed" } th { "timed out" } th { "tool errors" } th { "deferred" } th { "exhausted" } th { "to LLM" } th { "cancelled" } } }
                tbody {
                    (counters("staging runner", &snap.staging_runner))
                    (counters("test runner", &snap.test_runner))
                }
            }
        }
        section #agreement {
            h2 { "Shadow agreement (testing)" }
            p {
                "pairs " strong { (agreement.runs) } ", agree " strong { (agreement.agree) }
                ", runner only failed " (agreement.runner_only_failed)
                ", LLM only failed " (agreement.llm_only_failed)
                ", runner gave no verdict " (agreement.runner_no_verdict)
                ", other commit " (agreement.other_commit)
                @if let Some(rate) = agreement.rate() { " · agreement " strong { (format!("{:.1}%", rate * 100.0)) } }
            }
        }
        section #switch {
            h2 { "Switch the test runner on?" }
            @if decisions.is_empty() { p.quiet { "No repository has shadow pairs yet." } }
            @else {
                table {
                    thead { tr { th { "repository" } th { "compared" } th { "agreement" } th { "decision" } th { "why" } } }
                    tbody {
                        @for d in &decisions {
                            tr data-decision=(text(d, "decision")) {
                                td { (text(d, "repo")) } td { (text(d, "compared")) } td { (text(d, "agreement")) }
                                td { strong { (text(d, "decision")) } } td { (text(d, "summary")) }
                            }
                        }
                    }
                }
            }
        }
        section #roadmap {
            h2 { "Roadmap" }
            p { a href="/runners/roadmap" { "The roadmap" } " (what " code { "orch roadmap" } " prints: every role's runs, cost and false passes, which to make deterministic next; it reads the whole history, so it is a page of its own)." }
        }
    };
    layout("Runners", Nav::Runners, &body)
}

/// `orch roadmap`'s text, as the cache keeps it (`roadmap`): when it was
/// computed, whether a refresh is under way, the last error.
pub(super) fn roadmap(shown: &Shown) -> String {
    let ago = short_duration(shown.now_ms - shown.at_ms);
    let body = html! {
        h1 { "Roadmap" }
        @if shown.text.is_some() {
            p.computed {
                "computed at " time { (at(shown.at_ms)) } " (" (ago) " ago)"
                @if shown.cold { "; on this request: the first since serve started" }
                @if shown.refreshing { "; the history has grown since: a refresh is under way, reload for it" }
            }
        } @else if shown.refreshing {
            p.computed { "the roadmap is being computed (the first time since serve started); reload in a moment" }
        }
        @if let Some((when, why)) = &shown.error {
            p.error { "the last computation, at " (at(*when)) ", failed: " (why) }
        }
        @if let Some(text) = &shown.text { pre.roadmap { (text) } }
    };
    layout("Roadmap", Nav::Runners, &body)
}

/// The workers: their jobs, leases and the sandbox in force.
pub(super) fn workers(page: &Workers) -> String {
    let health = &page.health;
    let body = html! {
        h1 { "Workers" }
        p.summary {
            "workers " strong { (health.live) " of " (health.workers) " live" }
            " · panics " (health.panics)
            " · database writable: " (if health.writable.is_ok() { "yes" } else { "NO" })
            " · sandbox mode " strong.sandbox { (page.sandbox_mode) }
        }
        section #jobs {
            h2 { "Running jobs (" (page.running.len()) ")" }
            @if page.running.is_empty() { p.quiet { "No job is running." } }
            @else {
                table {
                    thead { tr { th { "worker" } th { "boot" } th { "job" } th { "task" } th { "stage" } th { "role" } th { "running for" } th { "last heartbeat" } th { "lease until" } th { "sandbox enforced" } } }
                    tbody {
                        @for j in &page.running {
                            tr {
                                td { (j.owner.worker) } td { code { (j.owner.boot_id) } }
                                td { (j.id.get()) }
                                td { a href={ "/tasks/" (j.task.get()) } { "#" (j.task.get()) } " " (j.repo) }
                                td { (j.stage) } td { (j.role) }
                                td { (j.elapsed_ms.map(short_duration).unwrap_or_default()) }
                                td.heartbeat { @if let Some(beat) = page.heartbeats.get(&j.id.get()) { (short_duration(page.at_ms - beat)) " ago" } }
                                td { (at(j.lease_expires_ms)) " (in " (short_duration(j.lease_expires_ms - page.at_ms)) ")" }
                                td { (page.enforced.get(&j.id.get()).map_or("not recorded yet", String::as_str)) }
                            }
                        }
                    }
                }
            }
        }
    };
    layout("Workers", Nav::Workers, &body)
}

/// An error page.
pub(super) fn error(status: u16, message: &str) -> String {
    let body = html! {
        h1 { "Error " (status) }
        p.error { (message) }
        p { a href="/" { "Back to the board" } }
    };
    layout(&format!("Error {status}"), Nav::Error, &body)
}
