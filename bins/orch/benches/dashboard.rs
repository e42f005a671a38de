//! The dashboard's pages under a long history: 100,000 agent runs over
//! 10,000 tasks (20 repositories; 9,500 done, 300 blocked with an open alert
//! each for 20 of them, 200 active across the working stages), served by a
//! real `orch serve` (release build) over real HTTP. Each page is fetched
//! `ROUNDS` times in turn, one client, each on a fresh connection; the
//! nearest-rank median, p99 and max are printed per page, with `/queue`
//! beside them for comparison (docs/benchmarks.md, "HTTP: the dashboard's
//! pages").
//!
//! `cargo bench -p orch --bench dashboard`

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "bench code: a panic is the failure report"
)]
#![expect(
    clippy::disallowed_methods,
    reason = "the bench starts the real orch binary"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ORCH: &str = env!("CARGO_BIN_EXE_orch");
const TASKS: i64 = 10_000;
const RUNS_PER_TASK: i64 = 10;
const ROUNDS: usize = 300;
const WORKING: [(&str, &str); 8] = [
    ("analysis", "analyst"),
    ("architecture", "architect"),
    ("development", "developer"),
    ("review", "reviewer"),
    ("testing", "tester"),
    ("deploy-staging", "staging-runner"),
    ("deploy", "deployer"),
    ("post-deploy", "post-deploy-monitor"),
];

/// Writes the history straight into the file the store made (one
/// transaction): the schema is the store's, the rows are plain inserts.
fn populate(db: &Path) {
    drop(orch_store::Store::open(db).unwrap());
    let mut conn = rusqlite::Connection::open(db).unwrap();
    let tx = conn.transaction().unwrap();
    let t0: i64 = 1_767_225_600_000;
    for r in 1..=20 {
        tx.execute(
            "INSERT INTO repos (id, name, path, staging_command, created_ms) VALUES (?1, ?2, ?3, 'make staging', ?4)",
            rusqlite::params![r, format!("repo-{r}"), format!("/srv/repo-{r}"), t0],
        )
        .unwrap();
    }
    for t in 1..=TASKS {
        let (stage, status) = match t {
            t if t > TASKS - 200 => {
                let (stage, _) = WORKING[usize::try_from(t % 8).unwrap()];
                (stage, "active")
            }
            t if t > TASKS - 500 => ("blocked", "blocked"),
            _ => ("done", "done"),
        };
        let at = t0 + t * 60_000;
        tx.execute(
            "INSERT INTO tasks (id, repo_id, title, stage, status, created_ms, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            rusqlite::params![t, t % 20 + 1, format!("task number {t}"), stage, status, at, at + 30_000],
        )
        .unwrap();
        tx.execute(
            "INSERT INTO jobs (id, task_id, stage, role, state, max_attempts, run_after_ms, created_ms, updated_ms) VALUES (?1, ?1, 'development', 'developer', 'done', 3, ?2, ?2, ?2)",
            rusqlite::params![t, at],
        )
        .unwrap();
        for (i, (from, to)) in [("analysis", "development"), ("development", stage)]
            .iter()
            .enumerate()
        {
            tx.execute(
                "INSERT INTO transitions (task_id, job_id, from_stage, to_stage, at_ms, reason) VALUES (?1, ?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![t, from, to, at + i64::try_from(i).unwrap() * 1000, (*to == "blocked").then_some("the developer-retry budget is spent")],
            )
            .unwrap();
        }
        for k in 0..RUNS_PER_TASK {
            let (run_stage, role) = WORKING[usize::try_from(k % 8).unwrap()];
            tx.execute(
                "INSERT INTO agent_runs (job_id, task_id, role, stage, transport, started_ms, ended_ms, duration_ms, exit_code, outcome, cost_usd, tokens_in, tokens_out) VALUES (?1, ?1, ?2, ?3, 'llm', ?4, ?5, 2500, 0, ?6, 0.05, 1200, 300)",
                rusqlite::params![t, role, run_stage, at, at + 2500, if k % 7 == 0 { "failed" } else { "passed" }],
            )
            .unwrap();
        }
        if status == "blocked" && t % 15 == 0 {
            tx.execute(
                "INSERT INTO alerts (kind, message, task_id, created_ms) VALUES ('retry_budget_spent', 'the budget is spent', ?1, ?2)",
                rusqlite::params![t, at],
            )
            .unwrap();
        }
    }
    tx.commit().unwrap();
}

fn get(addr: &str, path: &str) -> (u16, usize) {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let status = String::from_utf8_lossy(&answer[..12.min(answer.len())])
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if status != 200 {
        eprintln!("{path}: {}", String::from_utf8_lossy(&answer));
    }
    (status, answer.len())
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("dashboard: bench");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let started = Instant::now();
    populate(&home.join("orch.db"));
    println!(
        "history written: {TASKS} tasks, {} agent runs, in {:.1} s",
        TASKS * RUNS_PER_TASK,
        started.elapsed().as_secs_f64()
    );
    let mut child = Command::new(ORCH)
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("ORCH_HOME", &home)
        .env("ORCH_AGENT", "custom")
        .env("ORCH_AGENT_CMD", "true")
        .env("ORCH_HTTP_ADDR", "127.0.0.1:0")
        .env("ORCH_WORKERS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let addr = loop {
        line.clear();
        if reader.read_line(&mut line).unwrap() == 0 {
            panic!("serve ended before listening");
        }
        if let Some(rest) = line.split("HTTP on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    std::thread::spawn(move || {
        let mut sink = String::new();
        let _ = reader.read_to_string(&mut sink);
    });
    let pages = [
        "/",
        "/tasks/9990",
        "/tasks/9700",
        "/runners",
        "/runners/roadmap",
        "/workers",
        "/queue",
    ];
    println!("| page | bytes | first | median | p99 | max |\n|---|---|---|---|---|---|");
    for page in pages {
        // The first fetch, untimed in the rounds: for the roadmap, the cold
        // computation its cache keeps (dashboard::roadmap).
        let start = Instant::now();
        let (status, bytes) = get(&addr, page);
        let first = start.elapsed();
        assert_eq!(status, 200, "{page}");
        let mut times: Vec<Duration> = (0..ROUNDS)
            .map(|_| {
                let start = Instant::now();
                let (status, _) = get(&addr, page);
                assert_eq!(status, 200);
                start.elapsed()
            })
            .collect();
        times.sort();
        let rank = |p: f64| times[((p * ROUNDS as f64).ceil() as usize).clamp(1, ROUNDS) - 1];
        println!(
            "| `{page}` | {bytes} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
            first.as_secs_f64() * 1e3,
            rank(0.5).as_secs_f64() * 1e3,
            rank(0.99).as_secs_f64() * 1e3,
            times[ROUNDS - 1].as_secs_f64() * 1e3
        );
    }
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = child.wait();
}
