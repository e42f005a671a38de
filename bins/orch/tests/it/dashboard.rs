//! The dashboard of `orch serve` (issue 24; docs/http.md, "Dashboard"):
//! its pages parsed as HTML (scraper) on a fixed store written through the
//! store's own API, and the protections of its actions — each refusal is a
//! `403` after which the database is unchanged. A real `orch serve`, a real
//! SQLite file, real HTTP over TCP.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a panic is the failure report"
)]
#![expect(
    clippy::disallowed_methods,
    reason = "these tests start the real orch binary"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use orch_store::{
    AlertKind, GateDecision, NewAgentRun, NewAlert, NewJob, NewRepo, NewTransition, Role, Stage,
    Store, TaskId, TaskStatus, Transport,
};
use scraper::{Html, Selector};

const ORCH: &str = env!("CARGO_BIN_EXE_orch");

/// The fixed store's tasks.
const ACTIVE: i64 = 1;
const CANCELLED: i64 = 2;
const STAGING_FAILED: i64 = 3;
const DONE: i64 = 4;

/// Writes the fixed store into `home/orch.db`: an active task at
/// development (no job: nothing for the workers to run), a task blocked by
/// a cancel with a $1.25 analyst run, a task blocked by a failed staging
/// gate with an open alert, and a done task.
fn fixed_store(dir: &Path) {
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let checkout = dir.join("app");
    std::fs::create_dir_all(&checkout).unwrap();
    let store = Store::open(home.join("orch.db")).unwrap();
    let repo = store
        .add_repo(&NewRepo::new(
            "app",
            checkout.to_string_lossy(),
            "make staging",
        ))
        .unwrap();
    assert_eq!(
        store
            .add_task(repo, "fix the parser", Stage::Development)
            .unwrap(),
        TaskId::new(ACTIVE)
    );
    let (cancelled, job) = store
        .create_task(
            repo,
            "add a --verbose flag",
            &NewJob::new(TaskId::new(0), Stage::Analysis, Role::Analyst),
        )
        .unwrap();
    assert_eq!(cancelled, TaskId::new(CANCELLED));
    store
        .record_agent_run(
            &NewAgentRun::new(
                job,
                cancelled,
                Role::Analyst,
                Stage::Analysis,
                Transport::Llm,
                "passed".to_owned(),
            )
            .with_started_ms(1_000)
            .with_ended_ms(3_500)
            .with_duration_ms(2_500)
            .with_exit_code(Some(0))
            .with_cost_usd(Some(1.25))
            .with_tokens_in(Some(1_200))
            .with_tokens_out(Some(340))
            .with_sandbox(Some("landlock: files, signals, tcp".to_owned()))
            .with_model(Some("model-x".to_owned()))
            .with_cost_source(Some("reported".to_owned())),
        )
        .unwrap();
    store.request_cancel(cancelled).unwrap();
    let failed = store
        .add_task(repo, "<b>upgrade</b> the parser", Stage::DeployStaging)
        .unwrap();
    assert_eq!(failed, TaskId::new(STAGING_FAILED));
    store
        .record_transition(
            &NewTransition::new(
                failed,
                Stage::DeployStaging,
                Stage::Blocked,
                TaskStatus::Blocked,
            )
            .with_developer_retries(3)
            .with_decisions(vec![
                GateDecision::new(
                    "check_staging_status".to_owned(),
                    false,
                    "staging_status: FAILED (3 tests failed)".to_owned(),
                )
                .with_verdict(Some("FAILED".to_owned()))
                .with_artifact_sha256(Some("a".repeat(64)))
                .with_commit_sha(Some("c".repeat(40)))
                .with_tree_clean(Some(true)),
            ]),
        )
        .unwrap();
    store
        .raise_alert(
            &NewAlert::new(
                AlertKind::RetryBudgetSpent,
                "task 3: the developer-retry budget is spent".to_owned(),
            )
            .with_task(Some(failed)),
        )
        .unwrap();
    let done = store.add_task(repo, "ship it", Stage::PostDeploy).unwrap();
    assert_eq!(done, TaskId::new(DONE));
    store
        .record_transition(
            &NewTransition::new(done, Stage::PostDeploy, Stage::Done, TaskStatus::Done)
                .with_developer_retries(0)
                .with_decisions(vec![]),
        )
        .unwrap();
    // What the running developer printed so far (more than a page shows),
    // and task 3's staging log.
    let artifact = |task: i64, stage: orch_pipeline::Stage| {
        home.join("tasks")
            .join(task.to_string())
            .join(stage.artifact().unwrap().file_name)
    };
    let developer = artifact(ACTIVE, orch_pipeline::Stage::Development);
    std::fs::create_dir_all(developer.parent().unwrap()).unwrap();
    let stem = developer.file_stem().unwrap().to_str().unwrap().to_owned();
    std::fs::write(
        developer.with_file_name(format!("{stem}.output.log")),
        format!(
            "{}<script>alert(1)</script> the last line\n",
            "compiling...\n".repeat(2_000)
        ),
    )
    .unwrap();
    let staging = artifact(STAGING_FAILED, orch_pipeline::Stage::DeployStaging);
    std::fs::create_dir_all(staging.parent().unwrap()).unwrap();
    std::fs::write(&staging, "3 tests failed\nstaging_status: FAILED\n").unwrap();
    // The active task's job, claimed by a worker of another process (no
    // boot file: serve leaves it to its lease, an hour).
    store
        .enqueue(&NewJob::new(
            TaskId::new(ACTIVE),
            Stage::Development,
            Role::Developer,
        ))
        .unwrap();
    store
        .claim(
            &orch_store::LeaseOwner::new("fixture-boot", "w9"),
            Duration::from_secs(3600),
        )
        .unwrap()
        .unwrap();
}

/// A running `orch serve` on the fixed store; stopped when dropped.
struct Serve {
    dir: tempfile::TempDir,
    child: Child,
    addr: String,
    port: u16,
}

impl Serve {
    fn start(extra: &[(&str, &str)]) -> Serve {
        let dir = tempfile::tempdir().unwrap();
        fixed_store(dir.path());
        let (child, addr) = spawn_serve(dir.path(), extra).unwrap_or_else(|e| panic!("{e}"));
        let port = addr.rsplit_once(':').unwrap().1.parse().unwrap();
        Serve {
            dir,
            child,
            addr: format!("127.0.0.1:{port}"),
            port,
        }
    }

    fn store(&self) -> Store {
        Store::open(self.dir.path().join("home/orch.db")).unwrap()
    }

    /// One request as given; the status, the head and the body.
    fn send(&self, request: &str) -> (u16, String, String) {
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        let answer = String::from_utf8(answer).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap();
        (status, head.to_owned(), body.to_owned())
    }

    fn get(&self, path: &str) -> (u16, String) {
        let (status, _, body) = self.send(&format!(
            "GET {path} HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n\r\n",
            self.port
        ));
        (status, body)
    }

    /// A page that must answer 200, parsed.
    fn page(&self, path: &str) -> Html {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "{path}: {body}");
        Html::parse_document(&body)
    }

    /// `POST path` with a form body and extra header lines.
    fn post(&self, path: &str, host: &str, headers: &[&str], form: &str) -> (u16, String, String) {
        let extra: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
        self.send(&format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
            form.len()
        ))
    }

    /// The token the pages embed in their forms.
    fn token(&self) -> String {
        let page = self.page(&format!("/tasks/{STAGING_FAILED}"));
        let tokens = select(&page, "form input[name=token]");
        tokens[0].value().attr("value").unwrap().to_owned()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// Starts `orch serve` on the home in `dir`; the child and the address it
/// printed, or what it said when it ended before listening.
fn spawn_serve(dir: &Path, extra: &[(&str, &str)]) -> Result<(Child, String), String> {
    let mut command = Command::new(ORCH);
    command
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("ORCH_HOME", dir.join("home"))
        .env("ORCH_AGENT", "custom")
        .env("ORCH_AGENT_CMD", "true")
        .env("ORCH_HTTP_ADDR", "127.0.0.1:0")
        .env("ORCH_WORKERS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (key, value) in extra {
        command.env(key, value);
    }
    let mut child = command.spawn().unwrap();
    let mut reader = BufReader::new(child.stderr.take().unwrap());
    let mut said = String::new();
    let mut line = String::new();
    let addr = loop {
        line.clear();
        if reader.read_line(&mut line).unwrap() == 0 {
            let status = child.wait().unwrap();
            return Err(format!("serve ended ({status}) before listening: {said}"));
        }
        said.push_str(&line);
        if let Some(rest) = line.split("HTTP on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    std::thread::spawn(move || {
        let mut sink = String::new();
        let _ = reader.read_to_string(&mut sink);
    });
    Ok((child, addr))
}

fn stop(child: &mut Child) {
    let _ = kill(
        Pid::from_raw(i32::try_from(child.id()).unwrap()),
        Signal::SIGTERM,
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn select<'a>(page: &'a Html, css: &str) -> Vec<scraper::ElementRef<'a>> {
    page.select(&Selector::parse(css).unwrap()).collect()
}

fn one<'a>(page: &'a Html, css: &str) -> scraper::ElementRef<'a> {
    let found = select(page, css);
    assert_eq!(found.len(), 1, "{css}: {} found", found.len());
    found[0]
}

fn text(element: scraper::ElementRef<'_>) -> String {
    element.text().collect::<String>()
}

#[test]
fn the_board_puts_blocked_tasks_and_alerts_first_then_one_column_per_stage() {
    let serve = Serve::start(&[]);
    let board = serve.page("/");
    // Attention first: the section comes before the columns.
    let sections: Vec<String> = select(&board, "main > section")
        .iter()
        .map(|s| s.value().attr("id").unwrap().to_owned())
        .collect();
    assert_eq!(sections, ["attention", "stages", "done"]);
    // Both blocked tasks, each with its reason and the commands that unblock it.
    let blocked = select(&board, "#attention li.blocked");
    let ids: Vec<&str> = blocked
        .iter()
        .map(|b| b.value().attr("data-task").unwrap())
        .collect();
    assert_eq!(ids, ["3", "2"], "newest first");
    let staging = text(blocked[0]);
    assert!(
        staging.contains("check_staging_status: staging_status: FAILED (3 tests failed)"),
        "{staging}"
    );
    assert!(
        staging.contains("orch task retry 3 --stage deploy-staging --reason"),
        "{staging}"
    );
    assert!(staging.contains("orch task abandon 3"), "{staging}");
    assert!(text(blocked[1]).contains("cancelled"));
    assert!(text(blocked[1]).contains("$1.25"), "the task's cost");
    // A title is text, never markup.
    assert!(select(&board, "#attention li.blocked b").is_empty());
    assert!(staging.contains("<b>upgrade</b> the parser"), "{staging}");
    // The open alert, with its acknowledge form.
    let alert = one(&board, "#attention li.alert");
    assert!(text(alert).contains("retry_budget_spent"));
    assert_eq!(
        select(&board, "#attention li.alert form[action$='/ack']").len(),
        1
    );
    // One column per working stage, in pipeline order; the active task in
    // its column with its time in stage and cost.
    let columns: Vec<&str> = select(&board, "#stages .column")
        .iter()
        .map(|c| c.value().attr("data-stage").unwrap())
        .collect();
    assert_eq!(
        columns,
        [
            "analysis",
            "architecture",
            "development",
            "review",
            "testing",
            "deploy-staging",
            "deploy",
            "post-deploy"
        ]
    );
    let card = one(&board, ".column[data-stage=development] li.card");
    assert_eq!(card.value().attr("data-task"), Some("1"));
    assert_eq!(select(&board, ".column li.card").len(), 1);
    assert!(one(&board, ".column li.card .age").text().count() > 0);
    assert_eq!(text(one(&board, ".column li.card .cost")), "$0.00");
    // The done task is listed apart.
    assert_eq!(
        one(&board, "#done li.card").value().attr("data-task"),
        Some("4")
    );
    // The script and sheet are the server's own.
    let (status, script) = serve.get("/assets/live.js");
    assert_eq!(status, 200);
    assert!(script.contains("DOMParser"));
    assert_eq!(serve.get("/assets/style.css").0, 200);
    assert_eq!(serve.get("/nope").0, 404);
    assert_eq!(serve.get("/tasks/99").0, 404);
    assert_eq!(serve.get("/tasks/x").0, 404);
}

#[test]
fn the_task_page_shows_its_timeline_runs_branch_and_actions() {
    let serve = Serve::start(&[]);
    let page = serve.page(&format!("/tasks/{CANCELLED}"));
    assert!(text(one(&page, "h1")).contains("add a --verbose flag"));
    let rows = select(&page, "#timeline tbody tr");
    assert_eq!(rows.len(), 1, "one transition: the cancel");
    let row = text(rows[0]);
    assert!(row.contains("analysis") && row.contains("blocked") && row.contains("operator"));
    assert!(row.contains("cancelled"), "{row}");
    let run = text(one(&page, "#runs tbody tr"));
    for shown in ["analyst", "passed", "$1.25", "1200 / 340", "model-x", "2s"] {
        assert!(run.contains(shown), "{shown} in {run}");
    }
    assert!(text(one(&page, "#branch")).contains("checkout"));
    // A blocked task offers retry (at the stage it stopped at) and abandon.
    let retry = one(&page, "#task-actions form[action='/tasks/2/retry']");
    let chosen = retry
        .select(&Selector::parse("option[selected]").unwrap())
        .next()
        .unwrap();
    assert_eq!(chosen.value().attr("value"), Some("analysis"));
    one(&page, "#task-actions form[action='/tasks/2/abandon']");
    assert!(select(&page, "#task-actions form[action='/tasks/2/cancel']").is_empty());
    // Every form carries the same per-process token.
    let tokens: Vec<&str> = select(&page, "form input[name=token]")
        .iter()
        .map(|i| i.value().attr("value").unwrap())
        .collect();
    assert!(tokens.len() >= 2);
    assert!(tokens.iter().all(|t| t.len() == 32 && *t == tokens[0]));
    // The failed gate's verdict, reason and commit on the other task.
    let page = serve.page(&format!("/tasks/{STAGING_FAILED}"));
    let gate = text(one(&page, "#timeline tbody tr.failed"));
    for shown in [
        "check_staging_status",
        "FAILED",
        "3 tests failed",
        "cccccccccc",
    ] {
        assert!(gate.contains(shown), "{shown} in {gate}");
    }
    one(&page, "#alerts li.alert");
    let staging = text(one(&page, "#staging-log pre"));
    assert!(staging.contains("staging_status: FAILED"), "{staging}");
    // An active task: the running role's output, its end only, as text;
    // it offers cancel only.
    let page = serve.page(&format!("/tasks/{ACTIVE}"));
    let heading = text(one(&page, "#tail h2"));
    assert!(
        heading.contains("development") && heading.contains("running, live"),
        "{heading}"
    );
    let tail = text(one(&page, "#tail pre"));
    assert!(
        tail.ends_with("<script>alert(1)</script> the last line\n"),
        "{tail}"
    );
    assert!(tail.contains("bytes are left out"), "{}", &tail[..200]);
    assert!(tail.len() < 17 * 1024, "{}", tail.len());
    assert!(select(&page, "main script").is_empty(), "the log is text");
    one(&page, "#task-actions form[action='/tasks/1/cancel']");
    assert_eq!(select(&page, "#task-actions form").len(), 1);
}

#[test]
fn the_runners_and_workers_pages_show_their_figures() {
    let serve = Serve::start(&[]);
    let runners = serve.page("/runners");
    let rows = select(&runners, "#counters tbody tr");
    assert_eq!(rows.len(), 2);
    assert!(text(rows[0]).contains("staging runner"));
    one(&runners, "#agreement");
    one(&runners, "#switch");
    one(&runners, "#roadmap a[href='/runners/roadmap']");
    let roadmap = serve.page("/runners/roadmap");
    assert!(
        text(one(&roadmap, "pre.roadmap")).contains("analyst"),
        "the roadmap lists the roles"
    );
    let workers = serve.page("/workers");
    let summary = text(one(&workers, "p.summary"));
    assert!(summary.contains("1 of 1 live"), "{summary}");
    assert!(summary.contains("sandbox mode"), "{summary}");
    let running = text(one(&workers, "#jobs tbody tr"));
    for shown in ["w9", "fixture-boot", "#1", "development", "developer"] {
        assert!(running.contains(shown), "{shown} in {running}");
    }
    assert!(
        text(one(&workers, "#jobs td.heartbeat")).ends_with(" ago"),
        "{running}"
    );
    // The board says who is running.
    let board = serve.page("/");
    assert_eq!(
        text(one(
            &board,
            ".column[data-stage=development] li.card .running"
        )),
        "developer running"
    );
}

/// The roadmap page is cached (issue 24, helper L): the first request
/// computes it and says so with its time; after new runs the next request
/// still serves the kept text (and starts one refresh), a later one the
/// refreshed text. Freshness is driven by the history's newest ids, not by
/// waiting out an age.
#[test]
fn the_roadmap_page_is_kept_and_refreshed_in_the_background_when_the_history_grows() {
    let serve = Serve::start(&[]);
    let first = serve.page("/runners/roadmap");
    let said = text(one(&first, "p.computed"));
    assert!(said.starts_with("computed at 20"), "{said}");
    assert!(said.contains(" ago)"), "{said}");
    assert!(said.contains("on this request"), "{said}");
    let before = text(one(&first, "pre.roadmap"));
    // Unchanged history: the same text, not recomputed.
    let again = serve.page("/runners/roadmap");
    let said = text(one(&again, "p.computed"));
    assert!(!said.contains("on this request"), "{said}");
    assert!(!said.contains("refresh"), "{said}");
    assert_eq!(text(one(&again, "pre.roadmap")), before);
    // New runs: a second analyst run, with its cost.
    let store = serve.store();
    let repo = store.repos().unwrap()[0].id;
    let (task, job) = store
        .create_task(
            repo,
            "another analysed task",
            &NewJob::new(TaskId::new(0), Stage::Analysis, Role::Analyst),
        )
        .unwrap();
    store
        .record_agent_run(
            &NewAgentRun::new(
                job,
                task,
                Role::Analyst,
                Stage::Analysis,
                Transport::Llm,
                "passed".to_owned(),
            )
            .with_started_ms(5_000)
            .with_ended_ms(9_000)
            .with_duration_ms(4_000)
            .with_exit_code(Some(0))
            .with_cost_usd(Some(2.5)),
        )
        .unwrap();
    let stale = serve.page("/runners/roadmap");
    assert_eq!(
        text(one(&stale, "pre.roadmap")),
        before,
        "the request that finds the history grown serves the kept text"
    );
    let said = text(one(&stale, "p.computed"));
    assert!(said.contains("a refresh is under way"), "{said}");
    // A later request serves the refreshed text (polled: the refresh runs
    // on its own thread; the bound only ends a hung test).
    let give_up = Instant::now() + Duration::from_secs(120);
    let after = loop {
        let page = serve.page("/runners/roadmap");
        let now = text(one(&page, "pre.roadmap"));
        if now != before {
            break now;
        }
        assert!(Instant::now() < give_up, "the roadmap was never refreshed");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(after.contains("analyst"), "{after}");
    assert!(select(&serve.page("/runners/roadmap"), "p.error").is_empty());
}

/// The protections of an action: each refused with 403, and the database
/// unchanged after it; then the same action, well formed, is done.
#[test]
fn an_action_without_the_token_from_another_origin_or_host_is_refused_and_changes_nothing() {
    let serve = Serve::start(&[]);
    let token = serve.token();
    let host = format!("localhost:{}", serve.port);
    let origin = format!("Origin: http://{host}");
    let path = format!("/tasks/{STAGING_FAILED}/retry");
    let good = format!("token={token}&stage=development&reason=fixed");
    let before = || {
        let store = serve.store();
        let task = store.task(TaskId::new(STAGING_FAILED)).unwrap();
        let history = store.transitions(task.id).unwrap().len();
        (
            task.status,
            task.stage,
            history,
            store.open_alerts().unwrap().len(),
        )
    };
    let state = before();
    assert_eq!(state.0, TaskStatus::Blocked);
    let refused: [(&str, String, Vec<String>, String); 7] = [
        (
            "no token",
            host.clone(),
            vec![origin.clone()],
            "stage=development".to_owned(),
        ),
        (
            "a wrong token",
            host.clone(),
            vec![origin.clone()],
            format!("token={}&stage=development", "0".repeat(32)),
        ),
        (
            "another origin",
            host.clone(),
            vec!["Origin: http://evil.example".to_owned()],
            good.clone(),
        ),
        (
            "another origin, same site claimed",
            host.clone(),
            vec![
                "Origin: http://evil.example".to_owned(),
                "Sec-Fetch-Site: same-origin".to_owned(),
            ],
            good.clone(),
        ),
        (
            "a cross-site fetch without Origin",
            host.clone(),
            vec!["Sec-Fetch-Site: cross-site".to_owned()],
            good.clone(),
        ),
        (
            "neither Origin nor Sec-Fetch-Site",
            host.clone(),
            vec![],
            good.clone(),
        ),
        (
            "a rebinding host",
            format!("evil.example:{}", serve.port),
            vec![format!("Origin: http://evil.example:{}", serve.port)],
            good.clone(),
        ),
    ];
    for (what, host, headers, form) in &refused {
        let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
        let (status, _, body) = serve.post(&path, host, &headers, form);
        assert_eq!(status, 403, "{what}: {body}");
        assert_eq!(before(), state, "{what} changed the database");
    }
    // Acknowledging an alert is guarded the same way.
    let alert = serve.store().open_alerts().unwrap()[0].id.get();
    let (status, _, _) = serve.post(&format!("/alerts/{alert}/ack"), &host, &[], &good);
    assert_eq!(status, 403);
    assert_eq!(before(), state);
    // A GET cannot act.
    assert_eq!(serve.get(&path).0, 405);
    // From the page itself: done, and sent back to the task.
    let (status, head, body) = serve.post(&path, &host, &[&origin], &good);
    assert_eq!(status, 303, "{body}");
    assert!(head.contains("Location: /tasks/3"), "{head}");
    let store = serve.store();
    let last = store
        .transitions(TaskId::new(STAGING_FAILED))
        .unwrap()
        .into_iter()
        .find(|t| t.from_stage == Stage::Blocked)
        .unwrap();
    assert_eq!(last.to_stage, Stage::Development);
    assert_eq!(last.reason.as_deref(), Some("fixed (dashboard)"));
    // The retry acknowledged the task's alert (a worker running the
    // retried job may raise a new one meanwhile).
    assert!(
        store
            .open_alerts()
            .unwrap()
            .iter()
            .all(|a| a.id.get() != alert),
        "the retry acknowledged it"
    );
    // Sec-Fetch-Site: same-origin without Origin is the page too.
    let (status, _, body) = serve.post(
        &format!("/tasks/{CANCELLED}/abandon"),
        &host,
        &["Sec-Fetch-Site: same-origin"],
        &format!("token={token}&reason=not+needed"),
    );
    assert_eq!(status, 303, "{body}");
    assert!(
        store
            .task(TaskId::new(CANCELLED))
            .unwrap()
            .abandoned_ms
            .is_some()
    );
    // A refused state is said, not hidden: abandoning again is a conflict.
    let (status, _, body) = serve.post(
        &format!("/tasks/{CANCELLED}/abandon"),
        &host,
        &[&origin],
        &format!("token={token}"),
    );
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("abandoned already"), "{body}");
}

#[test]
fn read_only_hides_the_actions_and_refuses_every_post() {
    let serve = Serve::start(&[("ORCH_HTTP_READ_ONLY", "true")]);
    for path in ["/", "/tasks/3", "/tasks/2", "/tasks/1"] {
        let page = serve.page(path);
        assert!(select(&page, "form").is_empty(), "{path} shows a form");
    }
    let host = format!("localhost:{}", serve.port);
    let (status, _, body) = serve.post(
        "/tasks/3/retry",
        &host,
        &[&format!("Origin: http://{host}")],
        "token=whatever",
    );
    assert_eq!(status, 403);
    assert!(body.contains("ORCH_HTTP_READ_ONLY"), "{body}");
    assert_eq!(
        serve.store().task(TaskId::new(3)).unwrap().status,
        TaskStatus::Blocked
    );
}

#[test]
fn off_loopback_serve_needs_a_bearer_token_and_every_request_but_healthz_carries_it() {
    let dir = tempfile::tempdir().unwrap();
    fixed_store(dir.path());
    let refused = spawn_serve(dir.path(), &[("ORCH_HTTP_ADDR", "0.0.0.0:0")]).unwrap_err();
    assert!(refused.contains("exit status: 2"), "{refused}");
    assert!(refused.contains("ORCH_HTTP_TOKEN"), "{refused}");
    let short = spawn_serve(
        dir.path(),
        &[
            ("ORCH_HTTP_ADDR", "0.0.0.0:0"),
            ("ORCH_HTTP_TOKEN", "short"),
        ],
    )
    .unwrap_err();
    assert!(short.contains("ORCH_HTTP_TOKEN"), "{short}");
    let token = "a-long-random-secret-0123456789";
    let serve = Serve::start(&[("ORCH_HTTP_ADDR", "0.0.0.0:0"), ("ORCH_HTTP_TOKEN", token)]);
    let request = |path: &str, auth: &str| {
        serve.send(&format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n"
        ))
    };
    assert_eq!(request("/healthz", "").0, 200);
    for path in ["/", "/queue", "/tasks/1"] {
        let (status, _, body) = request(path, "");
        assert_eq!(status, 401, "{path}: {body}");
        assert!(body.contains("ORCH_HTTP_TOKEN"));
        assert_eq!(
            request(path, "Authorization: Bearer wrong-secret\r\n").0,
            401
        );
        assert_eq!(
            request(path, &format!("Authorization: Bearer {token}\r\n")).0,
            200,
            "{path}"
        );
    }
}

// The real browser: headless Chromium driven through the DevTools protocol
// over a WebSocket (a minimal client below: the test needs text frames
// only).

/// A WebSocket to one DevTools target.
struct DevTools {
    stream: TcpStream,
    next: u64,
}

impl DevTools {
    /// Connects to `ws://host:port/path`.
    fn connect(url: &str) -> DevTools {
        let rest = url.strip_prefix("ws://").unwrap();
        let (authority, path) = rest.split_at(rest.find('/').unwrap());
        let mut stream = TcpStream::connect(authority).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .unwrap();
        // The handshake's answer, byte by byte up to its blank line, so
        // that no frame is read with it.
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head);
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        DevTools { stream, next: 0 }
    }

    /// Sends one masked text frame.
    fn send_text(&mut self, text: &str) {
        let payload = text.as_bytes();
        let mut frame = vec![0x81u8];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | u8::try_from(n).unwrap()),
            n if n <= 0xffff => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&u16::try_from(n).unwrap().to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let mask = [0x12u8, 0x34, 0x56, 0x78];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&frame).unwrap();
    }

    /// Reads one whole message (continuation frames joined).
    fn read_message(&mut self) -> String {
        let mut message = Vec::new();
        loop {
            let mut head = [0u8; 2];
            self.stream.read_exact(&mut head).unwrap();
            let fin = head[0] & 0x80 != 0;
            let opcode = head[0] & 0x0f;
            let len = match head[1] & 0x7f {
                126 => {
                    let mut n = [0u8; 2];
                    self.stream.read_exact(&mut n).unwrap();
                    u64::from(u16::from_be_bytes(n))
                }
                127 => {
                    let mut n = [0u8; 8];
                    self.stream.read_exact(&mut n).unwrap();
                    u64::from_be_bytes(n)
                }
                n => u64::from(n),
            };
            let mut payload = vec![0u8; usize::try_from(len).unwrap()];
            self.stream.read_exact(&mut payload).unwrap();
            assert_ne!(opcode, 0x8, "DevTools closed the connection");
            if opcode == 0x9 || opcode == 0xA {
                continue;
            }
            message.extend_from_slice(&payload);
            if fin {
                return String::from_utf8(message).unwrap();
            }
        }
    }

    /// Calls `method` and returns its result (events in between are
    /// skipped).
    fn call(&mut self, method: &str, params: serde_json::Value) -> serde_json::Value {
        self.next += 1;
        let id = self.next;
        let request = serde_json::json!({"id": id, "method": method, "params": params});
        self.send_text(&request.to_string());
        loop {
            let message: serde_json::Value = serde_json::from_str(&self.read_message()).unwrap();
            if message["id"] == id {
                assert!(message.get("error").is_none(), "{method}: {message}");
                return message["result"].clone();
            }
        }
    }

    /// Evaluates `expression` in the page; its value.
    fn eval(&mut self, expression: &str) -> serde_json::Value {
        let result = self.call(
            "Runtime.evaluate",
            serde_json::json!({"expression": expression, "returnByValue": true}),
        );
        result["result"]["value"].clone()
    }

    /// Waits (a minute at most) until `expression` is true in the page.
    fn wait_for(&mut self, what: &str, expression: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.eval(expression) == serde_json::Value::Bool(true) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let page = self.eval("document.documentElement.outerHTML");
        panic!("{what}: not seen within a minute; the page is {page}");
    }
}

/// Standard base64, as DevTools sends a screenshot.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let digits: Vec<u8> = text
        .bytes()
        .filter(|c| *c != b'=' && !c.is_ascii_whitespace())
        .map(value)
        .collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, d)| n | u32::from(*d) << (18 - 6 * i));
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

/// A headless Chromium with its DevTools port; killed when dropped.
struct Chromium {
    child: Child,
    _profile: tempfile::TempDir,
    devtools: String,
}

impl Chromium {
    fn start() -> Chromium {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new("chromium")
            .args([
                "--headless",
                // Chromium's own sandbox (its namespaces and seccomp setup)
                // refuses to start as root, and CI runs as root: the page
                // is our own dashboard, so its sandbox is not what this test
                // is about. orch's kernel sandbox is not involved here.
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--remote-debugging-port=0",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "cannot start chromium ({error}): this test needs Debian's chromium package (apt-get install chromium; .ci/run installs it)"
                )
            });
        let mut reader = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        let devtools = loop {
            line.clear();
            if reader.read_line(&mut line).unwrap() == 0 {
                panic!("chromium ended before it listened for DevTools");
            }
            if let Some(url) = line.trim().strip_prefix("DevTools listening on ") {
                break url.to_owned();
            }
        };
        std::thread::spawn(move || {
            let mut sink = String::new();
            let _ = reader.read_to_string(&mut sink);
        });
        Chromium {
            child,
            _profile: profile,
            devtools,
        }
    }

    /// The page target's DevTools WebSocket.
    fn page(&self) -> DevTools {
        let authority = self
            .devtools
            .strip_prefix("ws://")
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        let mut stream = TcpStream::connect(&authority).unwrap();
        write!(
            stream,
            "GET /json/list HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        // DevTools keeps the connection open: read the head, then exactly
        // Content-Length bytes.
        let mut reader = BufReader::new(stream);
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body).unwrap();
        let targets: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let page = targets
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "page")
            .unwrap_or_else(|| panic!("no page target: {targets}"));
        DevTools::connect(page["webSocketDebuggerUrl"].as_str().unwrap())
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// The whole loop in a real browser: load the board, open the blocked
/// task from its card, retry it at a stage with the page's own form, see
/// it active, and save a screenshot (target/dashboard/retried.png).
#[test]
fn a_real_browser_loads_the_board_opens_a_task_and_retries_it() {
    let serve = Serve::start(&[]);
    let chromium = Chromium::start();
    let mut page = chromium.page();
    page.call("Page.enable", serde_json::json!({}));
    let board = format!("http://localhost:{}/", serve.port);
    page.call("Page.navigate", serde_json::json!({"url": board}));
    page.wait_for(
        "the board with the blocked task",
        "document.readyState === 'complete' && !!document.querySelector('#attention li.blocked[data-task=\"3\"] a')",
    );
    page.eval("document.querySelector('#attention li.blocked[data-task=\"3\"] a').click()");
    page.wait_for(
        "the task page",
        "location.pathname === '/tasks/3' && document.readyState === 'complete' && !!document.querySelector('#task-actions form[action=\"/tasks/3/retry\"]')",
    );
    page.eval(
        "(() => { const f = document.querySelector('#task-actions form[action=\"/tasks/3/retry\"]');\
           f.querySelector('select[name=stage]').value = 'development';\
           f.querySelector('input[name=reason]').value = 'retried in a browser';\
           f.querySelector('button').click(); return true; })()",
    );
    page.wait_for(
        "the task retried",
        // The operator's transition in the timeline (a worker may already
        // have moved the task on: the history keeps the retry).
        "location.pathname === '/tasks/3' && document.readyState === 'complete' && document.querySelector('#timeline').textContent.includes('retried in a browser (dashboard)')",
    );
    let store = serve.store();
    let retry = store
        .transitions(TaskId::new(STAGING_FAILED))
        .unwrap()
        .into_iter()
        .find(|t| t.from_stage == Stage::Blocked)
        .expect("the browser's retry is in the history");
    assert_eq!(retry.to_stage, Stage::Development);
    assert_eq!(
        retry.reason.as_deref(),
        Some("retried in a browser (dashboard)")
    );
    let shot = page.call(
        "Page.captureScreenshot",
        serde_json::json!({"format": "png"}),
    );
    let png = base64_decode(shot["data"].as_str().unwrap());
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/dashboard");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("retried.png"), &png).unwrap();
}

#[test]
fn base64_decodes_what_devtools_sends() {
    assert_eq!(base64_decode("aGVsbG8="), b"hello");
    assert_eq!(base64_decode("aGk="), b"hi");
    assert_eq!(base64_decode("YWJj"), b"abc");
}
