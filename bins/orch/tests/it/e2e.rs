//! The real `orch` binary end to end: configuration errors, the CLI driving a
//! task through every stage, `serve` with real HTTP requests, shutdown on
//! SIGTERM, and two processes sharing one database. The agent is
//! `examples/agents/scripted-agent.sh`, the scripted stand-in for an LLM
//! agent CLI that `orch demo` uses.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a panic is the failure report"
)]
#![expect(
    clippy::disallowed_methods,
    reason = "end-to-end tests start the real orch binary"
)]

use crate::harness::{describe, git};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use orch_tests::{ProcessMarker, Reaper};
use serde_json::Value;

const ORCH: &str = env!("CARGO_BIN_EXE_orch");
const AGENT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/agents/scripted-agent.sh"
);
const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/sample-repo");

/// A home, a checkout of the sample repository, and the environment orch
/// gets (nothing of the test's own ORCH_* leaks in).
struct World {
    dir: tempfile::TempDir,
    marker: ProcessMarker,
}

impl World {
    fn new(test: &str) -> World {
        let dir = tempfile::tempdir().unwrap();
        let checkout = dir.path().join("checkout");
        std::fs::create_dir_all(&checkout).unwrap();
        for entry in std::fs::read_dir(SAMPLE).unwrap().flatten() {
            std::fs::copy(entry.path(), checkout.join(entry.file_name())).unwrap();
        }
        World {
            dir,
            marker: ProcessMarker::new(test),
        }
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn checkout(&self) -> PathBuf {
        self.dir.path().join("checkout")
    }

    /// The planned stand-in agent's state folder (see `planned_agent`).
    fn agent_state(&self) -> PathBuf {
        self.dir.path().join("agent-state")
    }

    fn orch(&self, args: &[&str]) -> Command {
        let mut command = Command::new(ORCH);
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("ORCH_HOME", self.home())
            .env("ORCH_AGENT_CMD", format!("sh {AGENT}"))
            .env("ORCH_LEASE_SECS", "5")
            .env("ORCH_POST_DEPLOY_PROBES", "1")
            .env("ORCH_POST_DEPLOY_WINDOW_SECS", "0")
            // The planned stand-in agent keeps its plan and run counts in
            // this folder, read-only to agents unless declared as their
            // state (a real agent CLI's ~/.claude is declared by default).
            .env("ORCH_SANDBOX_AGENT_DIRS", self.agent_state())
            .env(self.marker.env_key(), self.marker.token())
            .stdin(Stdio::null());
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.orch(args).output().unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "orch {args:?}: {}",
            describe(&output)
        );
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!("orch {args:?} printed no JSON ({e}): {}", describe(&output))
        })
    }

    /// Another copy of the sample repository, in `<dir>/<name>`: a folder is
    /// registered under one name only.
    fn sample_copy(&self, name: &str) -> PathBuf {
        let copy = self.dir.path().join(name);
        std::fs::create_dir_all(&copy).unwrap();
        for entry in std::fs::read_dir(SAMPLE).unwrap().flatten() {
            std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
        }
        copy
    }

    fn add_repo(&self, name: &str, staging: &str) {
        self.add_repo_in(name, staging, &self.checkout());
    }

    fn add_repo_in(&self, name: &str, staging: &str, folder: &std::path::Path) {
        self.json(&[
            "repo",
            "add",
            name,
            "--path",
            folder.to_str().unwrap(),
            "--staging-cmd",
            staging,
            "--deploy-cmd",
            "true",
            "--health-cmd",
            "sh ./calc.sh 1 1",
        ]);
    }
}

#[test]
fn a_bad_config_value_exits_2_naming_the_full_key() {
    let world = World::new("bad-config");
    for args in [
        &["queue"][..],
        &["task", "list"],
        &["work", "--until-idle"],
        &["serve"],
    ] {
        let output = world
            .orch(args)
            .env("ORCH_STAGING_RUNNER_TIMEOUT_SECS", "abc")
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            describe(&output)
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("ORCH_STAGING_RUNNER_TIMEOUT_SECS"),
            "{stderr}"
        );
        assert!(stderr.contains("a whole number of seconds"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn a_task_goes_through_every_stage_from_the_command_line() {
    let world = World::new("cli-pipeline");
    world.add_repo("calc", "sh ./staging.sh");
    let task = world.json(&["task", "add", "--repo", "calc", "--title", "ship it"]);
    let id = task["id"].as_i64().unwrap();
    let output = world.run(&["work", "--until-idle"]);
    assert!(output.status.success(), "{}", describe(&output));
    let lines = String::from_utf8_lossy(&output.stdout);
    // One start and one end line per job.
    assert_eq!(
        lines.lines().filter(|l| l.contains(" end · ")).count(),
        8,
        "{lines}"
    );
    assert_eq!(
        lines.lines().filter(|l| l.contains(" start · ")).count(),
        8,
        "{lines}"
    );
    assert!(
        lines.contains("deploy-staging → deploy · staging-runner (deployer) · PASSED"),
        "{lines}"
    );
    let shown = world.json(&["task", "show", &id.to_string()]);
    assert_eq!(shown["status"], "done");
    assert_eq!(shown["stage"], "done");
    assert_eq!(shown["repo"], "calc");
    assert_eq!(shown["developer_retries"], 0);
    assert!(shown["cost_usd"].as_f64().unwrap() > 0.0, "{shown}");
    // Each run shows its tokens, prompt-cache tokens and model; the
    // stand-in reports tokens but no cache and names no model: null, not 0.
    let llm_run = &shown["runs"][0];
    assert!(llm_run["tokens_in"].is_u64(), "{llm_run}");
    for unreported in ["cache_read_tokens", "cache_write_tokens", "model"] {
        assert!(
            llm_run.get(unreported).is_some_and(Value::is_null),
            "{unreported}: {llm_run}"
        );
    }
    // The stand-in prints its cost: every cost shown is the CLI's own
    // (`reported`), and a run without a cost has no source.
    let runs = shown["runs"].as_array().unwrap();
    assert!(runs.iter().any(|r| r["cost_usd"].is_f64()), "{shown}");
    for run in runs {
        let expected = if run["cost_usd"].is_f64() {
            Value::from("reported")
        } else {
            Value::Null
        };
        assert_eq!(run["cost_source"], expected, "{run}");
    }
    let transitions = shown["transitions"].as_array().unwrap();
    assert_eq!(transitions.len(), 8);
    assert_eq!(transitions[0]["from"], "analysis");
    assert_eq!(transitions[7]["to"], "done");
    let gate = &transitions[5]["gates"][0];
    assert_eq!(gate["gate"], "check_staging_status");
    assert_eq!(gate["verdict"], "PASSED");
    assert_eq!(gate["artifact_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(shown["artifacts"].as_array().unwrap().len(), 8);
    // Unknown tasks and repos are told, not panicked over.
    let output = world.run(&["task", "show", "99"]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let output = world.run(&["task", "add", "--repo", "nope", "--title", "x"]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
}

#[test]
fn with_the_switch_off_staging_goes_through_spawn() {
    let world = World::new("switch-off");
    world.add_repo("calc", "sh ./staging.sh");
    world.json(&["task", "add", "--repo", "calc", "--title", "llm staging"]);
    let output = world
        .orch(&["work", "--until-idle"])
        .env("ORCH_STAGING_RUNNER_ENABLED", "false")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    let lines = String::from_utf8_lossy(&output.stdout);
    assert!(
        lines.contains("deploy-staging → deploy · deployer · PASSED"),
        "{lines}"
    );
    let queue = world.json(&["queue"]);
    assert_eq!(
        queue["staging_runner"]["enabled"], true,
        "the queue reports the env of its own run"
    );
    assert_eq!(queue["staging_runner"]["runs"], 0, "{queue}");
}

#[test]
fn gate_check_prints_what_the_gate_reads() {
    let world = World::new("gate-check");
    let file = world.dir.path().join("15-staging-log.md");
    std::fs::write(&file, "# Staging log\n\nstaging_status: FAILED\n").unwrap();
    let output = world.run(&[
        "gate",
        "check",
        "--stage",
        "deploy-staging",
        file.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["passed"], false);
    assert_eq!(json["gates"][0]["verdict"], "FAILED");
    std::fs::write(&file, "staging_status: PASSED\n").unwrap();
    assert_eq!(
        world.json(&[
            "gate",
            "check",
            "--stage",
            "deploy-staging",
            file.to_str().unwrap()
        ])["passed"],
        true
    );
    let output = world.run(&[
        "gate",
        "check",
        "--stage",
        "nowhere",
        file.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
}

/// `orch serve` on a free loopback port; returns the child and the address.
fn serve(world: &World, extra: &[(&str, &str)]) -> (Child, String) {
    let mut command = world.orch(&["serve"]);
    command
        .env("ORCH_HTTP_ADDR", "127.0.0.1:0")
        .env("ORCH_WORKERS", "2")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in extra {
        command.env(k, v);
    }
    let mut child = command.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut reader = BufReader::new(stderr);
    let mut line = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr = loop {
        line.clear();
        assert!(
            Instant::now() < deadline,
            "serve never said where it listens"
        );
        if reader.read_line(&mut line).unwrap() == 0 {
            panic!("serve ended before listening: {line}");
        }
        if let Some(rest) = line.split("HTTP on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    // Keep draining stderr so serve never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = String::new();
        let _ = reader.read_to_string(&mut sink);
    });
    (child, addr)
}

/// One HTTP request; returns (status, headers, body). The body is read by
/// its Content-Length: the server says `Connection: close`, and a client
/// that honours it closes its side once the body is in.
fn http(addr: &str, method: &str, path: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        head.push_str(&line);
    }
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .map_or(0, |n| n.trim().parse().unwrap());
    let mut body = vec![0u8; if method == "HEAD" { 0 } else { length }];
    reader.read_exact(&mut body).unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head, String::from_utf8(body).unwrap())
}

fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("orch did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn serve_answers_real_http_and_stops_on_sigterm() {
    let world = World::new("serve-http");
    let _reaper = Reaper(&world.marker);
    world.add_repo("calc", "sh ./staging.sh");
    world.json(&["task", "add", "--repo", "calc", "--title", "served"]);
    let (mut child, addr) = serve(&world, &[]);
    // The task goes through while we watch /queue.
    let deadline = Instant::now() + Duration::from_secs(60);
    let queue = loop {
        let (status, head, body) = http(&addr, "GET", "/queue");
        assert_eq!(status, 200, "{head}");
        assert!(head.contains("Connection: close"), "{head}");
        assert!(head.contains("application/json"), "{head}");
        let queue: Value = serde_json::from_str(&body).unwrap();
        if queue["staging_runner"]["passed"] == 1
            && queue["counts"]["running"] == 0
            && queue["counts"]["queued"] == 0
        {
            break queue;
        }
        assert!(
            Instant::now() < deadline,
            "the task never finished: {queue}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(queue["staging_runner"]["runs"], 1, "{queue}");
    assert_eq!(
        queue["staging_runner"]["last_run"]["status"], "passed",
        "{queue}"
    );
    let (status, _, body) = http(&addr, "GET", "/healthz");
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("ok\nworkers: 2 of 2 live\n"), "{body}");
    let (status, _, body) = http(&addr, "GET", "/metrics");
    assert_eq!(status, 200);
    assert!(body.contains("orch_staging_runner_runs_total 1"), "{body}");
    assert!(body.contains("orch_jobs{state=\"done\"} 8"), "{body}");
    assert_eq!(http(&addr, "GET", "/nope").0, 404);
    assert_eq!(http(&addr, "POST", "/queue").0, 405);
    kill(
        Pid::from_raw(i32::try_from(child.id()).unwrap()),
        Signal::SIGTERM,
    )
    .unwrap();
    let status = wait_exit(&mut child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(143));
}

#[test]
fn idle_and_trickling_connections_do_not_stall_the_server() {
    let world = World::new("serve-idle");
    let _reaper = Reaper(&world.marker);
    let (mut child, addr) = serve(&world, &[]);
    // 200 connections: half send nothing, half send half a request line.
    let mut idle = Vec::new();
    for i in 0..200 {
        let mut stream = TcpStream::connect(&addr).unwrap();
        if i % 2 == 0 {
            stream.write_all(b"GET /que").unwrap();
        }
        idle.push(stream);
    }
    for path in ["/healthz", "/queue", "/healthz"] {
        let t0 = Instant::now();
        let (status, _, _) = http(&addr, "GET", path);
        assert_eq!(status, 200);
        // A hang check, not a benchmark: a stalled server would time out.
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "{path} took {:?}",
            t0.elapsed()
        );
    }
    drop(idle);
    kill(
        Pid::from_raw(i32::try_from(child.id()).unwrap()),
        Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(30)).code(),
        Some(143)
    );
}

#[test]
fn sigterm_during_a_running_suite_leaves_no_process_behind() {
    let world = World::new("serve-sigterm");
    let reaper = Reaper(&world.marker);
    // The suite hangs (and ignores SIGTERM); the task starts at staging.
    world.add_repo("calc", "trap '' TERM; sleep 300");
    world.json(&["task", "add", "--repo", "calc", "--title", "hang"]);
    let (mut child, addr) = serve(&world, &[("ORCH_STAGING_RUNNER_GRACE_SECS", "1")]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, _, body) = http(&addr, "GET", "/queue");
        let queue: Value = serde_json::from_str(&body).unwrap();
        let running = queue["running"].as_array().unwrap();
        if running.iter().any(|r| r["stage"] == "deploy-staging") {
            break;
        }
        assert!(Instant::now() < deadline, "staging never started: {queue}");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    kill(
        Pid::from_raw(i32::try_from(child.id()).unwrap()),
        Signal::SIGTERM,
    )
    .unwrap();
    // The grace (10 s) passes, then the tree is cancelled.
    let status = wait_exit(&mut child, Duration::from_secs(60));
    assert_eq!(status.code(), Some(143));
    let survivors = world.marker.survivors();
    drop(reaper);
    assert!(
        survivors.is_empty(),
        "processes outlived serve: {survivors:#?}"
    );
    // The job was given back, not lost.
    let queue = world.json(&["queue"]);
    assert_eq!(queue["counts"]["queued"], 1, "{queue}");
    assert_eq!(queue["counts"]["running"], 0, "{queue}");
}

#[test]
fn two_processes_on_one_database_never_run_a_job_twice() {
    let world = World::new("two-processes");
    let _reaper = Reaper(&world.marker);
    world.add_repo("calc", "sh ./staging.sh");
    for i in 0..4 {
        world.json(&[
            "task",
            "add",
            "--repo",
            "calc",
            "--title",
            &format!("task {i}"),
        ]);
    }
    let (mut child, _addr) = serve(&world, &[]);
    let worker = world.orch(&["work", "--until-idle"]).output().unwrap();
    assert!(worker.status.success(), "{}", describe(&worker));
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let list = world.json(&["task", "list"]);
        if list
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["status"] == "done")
        {
            break;
        }
        assert!(Instant::now() < deadline, "tasks never finished: {list}");
        std::thread::sleep(Duration::from_millis(200));
    }
    kill(
        Pid::from_raw(i32::try_from(child.id()).unwrap()),
        Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(30)).code(),
        Some(143)
    );
    // Every task: exactly 8 transitions, one run per stage, nothing doubled.
    for id in 1..=4 {
        let shown = world.json(&["task", "show", &id.to_string()]);
        assert_eq!(shown["transitions"].as_array().unwrap().len(), 8, "{shown}");
    }
    let queue = world.json(&["queue"]);
    assert_eq!(queue["staging_runner"]["runs"], 4, "{queue}");
    assert_eq!(queue["counts"]["failed"], 0, "{queue}");
}

/// Crash safety, the soak: 25 `kill -9` of `serve` at random moments under
/// 24 tasks, then `work --until-idle`. No task is lost: each ends `done`, or
/// `blocked` as poison (one of its jobs lost its worker three times) with an
/// open alert naming it and `orch task retry`, after which it ends `done`.
/// No transition is doubled (each task's history is one unbroken chain of
/// the expected length), and no agent or suite process outlives its dead
/// orch. The figures are printed for docs/benchmarks.md.
#[test]
fn kill_9_of_serve_under_load_loses_nothing() {
    const TASKS: i64 = 24;
    const KILLS: u64 = 25;
    let world = World::new("crash");
    let reaper = Reaper(&world.marker);
    // A git repository: the kills land in worktree creation and commits too.
    world.git_init();
    // A suite that takes a moment, so kills land during suites too.
    world.add_repo("calc", "sleep 0.2; sh ./staging.sh");
    for i in 0..TASKS {
        world.json(&[
            "task",
            "add",
            "--repo",
            "calc",
            "--title",
            &format!("crash {i}"),
        ]);
    }
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rescue_waits = Vec::new();
    let t_soak = Instant::now();
    for _ in 0..KILLS {
        let t0 = Instant::now();
        let (mut child, addr) = serve(&world, &[]);
        // At the next start the dead boot's jobs are rescued at once: no job
        // of an earlier boot stays running past the first look.
        let (_, _, body) = http(&addr, "GET", "/queue");
        let queue: Value = serde_json::from_str(&body).unwrap();
        let stale = queue["running"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|job| {
                !job["worker"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("boot-{}-", child.id()))
            })
            .count();
        assert_eq!(stale, 0, "a dead boot's job was still running: {queue}");
        rescue_waits.push(t0.elapsed());
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(150 + seed % 600));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // The supervisors see end-of-file and end their trees: only the
        // still-running processes of the dead run may linger, briefly.
        let deadline = Instant::now() + Duration::from_secs(15);
        while !world.marker.survivors().is_empty() {
            assert!(
                Instant::now() < deadline,
                "processes outlived their killed orch: {:#?}",
                world.marker.survivors()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // `work --until-idle` stops when no job is due; a job a kill left
    // deferred (say, its worktree could not be made while git was killed)
    // is due only after its backoff, so drain until nothing is queued or
    // running, within a bound that a lost task still fails.
    let drain = Instant::now();
    loop {
        let output = world.run(&["work", "--until-idle"]);
        assert!(output.status.success(), "{}", describe(&output));
        let queue = world.json(&["queue"]);
        // A job the last kill left running is rescued once its dead
        // boot is seen or its lease (5 s) expires: it counts until then.
        let idle = queue["counts"]["queued"] == 0 && queue["counts"]["running"] == 0;
        if idle || drain.elapsed() > Duration::from_secs(150) {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let alerts = world.json(&["alert", "list", "--limit", "1000"]);
    let mut done = 0;
    let mut poisoned = Vec::new();
    for id in 1..=TASKS {
        let shown = world.task(id);
        let stages = chain(&shown);
        match shown["status"].as_str().unwrap() {
            "done" => {
                assert_eq!(stages.len(), 9, "{shown}");
                // Whatever the kills cut short, what was deployed is the
                // branch's tip, and staging tested exactly that commit.
                let tip = git(
                    &world.checkout(),
                    &["rev-parse", &format!("orch/task-{id}")],
                );
                let staging = shown["transitions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|t| t["from"] == "deploy-staging")
                    .unwrap();
                assert_eq!(staging["gates"][0]["commit"], tip.trim(), "{shown}");
                assert_eq!(staging["gates"][0]["tree_clean"], true, "{shown}");
                done += 1;
            }
            "blocked" => {
                // Poison, or a kill between a deploy's recorded start and
                // its end: that deploy is never run again by itself.
                let alert = alerts.as_array().unwrap().iter().find(|a| {
                    (a["kind"] == "poison_job" || a["kind"] == "deploy_interrupted")
                        && a["task"] == id
                });
                let message = alert
                    .and_then(|a| a["message"].as_str())
                    .unwrap_or_else(|| {
                        panic!("task {id} blocked without a poison alert: {alerts}")
                    });
                assert!(
                    message.contains(&format!("orch task retry {id}")),
                    "{message}"
                );
                poisoned.push(id);
            }
            other => panic!(
                "task {id} left {other}: {shown}\nqueue: {}",
                world.json(&["queue"])
            ),
        }
    }
    for id in &poisoned {
        world.json(&[
            "task",
            "retry",
            &id.to_string(),
            "--reason",
            "after the soak",
        ]);
    }
    let output = world.run(&["work", "--until-idle"]);
    assert!(output.status.success(), "{}", describe(&output));
    for id in 1..=TASKS {
        let shown = world.task(id);
        assert_eq!(
            shown["status"], "done",
            "task {id} after its retry: {shown}"
        );
        let stages = chain(&shown);
        let blocks = stages.iter().filter(|s| *s == "blocked").count();
        assert_eq!(blocks, usize::from(poisoned.contains(&id)), "{shown}");
        // Each block adds two transitions: into blocked, and the retry out.
        assert_eq!(
            stages.len(),
            9 + 2 * blocks,
            "a doubled transition: {shown}"
        );
    }
    let queue = world.json(&["queue"]);
    assert_eq!(queue["counts"]["running"], 0, "{queue}");
    assert_eq!(queue["counts"]["queued"], 0, "{queue}");
    assert_eq!(
        git(&world.checkout(), &["status", "--porcelain"]),
        "",
        "the checkout was written"
    );
    assert_eq!(
        queue["alerts_total"], 0,
        "the retries resolved the alerts: {queue}"
    );
    let survivors = world.marker.survivors();
    drop(reaper);
    assert!(survivors.is_empty(), "{survivors:#?}");
    println!(
        "crash soak: {TASKS} tasks, {KILLS} kill -9 of serve, {done} done, {} blocked as poison and done after `orch task retry`, 0 lost, 0 doubled; slowest start to first /queue {:?}; whole soak {:?}",
        poisoned.len(),
        rescue_waits.iter().max().unwrap(),
        t_soak.elapsed()
    );
}

#[test]
fn the_inventory_commands_check_show_and_rank() {
    let world = World::new("inventory");
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let output = world.run(&["inventory", "check", "--root", root]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("no drift"));
    let shown = world.json(&["inventory", "show", "--json"]);
    let sites = shown["call_sites"].as_array().unwrap();
    assert_eq!(sites.len(), 6, "{shown}");
    let class = |role: &str| {
        sites
            .iter()
            .find(|s| s["role"] == role)
            .map(|s| s["classification"].as_str().unwrap().to_owned())
            .unwrap()
    };
    assert_eq!(class("deployer"), "avoidable");
    assert_eq!(class("tester"), "avoidable");
    assert_eq!(class("reviewer"), "keep");
    assert_eq!(class("analyst"), "not-control-path");
    // A folder that is not orch's source tree is a tool error, said in
    // one line.
    let output = world.run(&[
        "inventory",
        "check",
        "--root",
        world.dir.path().to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    // A tree whose pipeline tables differ from the binary's is refused, not
    // checked against the binary's tables.
    let other = world.dir.path().join("other-tree");
    for file in [
        "docs/architecture/llm-call-sites.md",
        "crates/pipeline/src/stage.rs",
        "crates/pipeline/src/artifact.rs",
        "crates/pipeline/src/gate.rs",
        "crates/pipeline/src/transition.rs",
    ] {
        let to = other.join(file);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        let text = std::fs::read_to_string(std::path::Path::new(root).join(file)).unwrap();
        std::fs::write(to, text.replace("\"10-test-report.md\"", "\"10-tests.md\"")).unwrap();
    }
    let output = world.run(&["inventory", "check", "--root", other.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(4), "{}", describe(&output));
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("other pipeline tables than this binary")
            && said.contains(
                "crates/pipeline/src/artifact.rs: the pipeline tables (const ARTIFACTS) differ"
            ),
        "{said}"
    );
    // The roadmap on an empty database says so and exits 0.
    world.json(&["task", "list"]);
    let output = world.run(&["roadmap"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let text = String::from_utf8_lossy(&output.stdout).to_lowercase();
    assert!(
        text.contains("no run") || text.contains("empty") || text.contains("no agent"),
        "{text}"
    );
    let json = world.json(&["roadmap", "--json"]);
    assert!(json.is_object(), "{json}");
}

// ---------------------------------------------------------------------------
// The operator's loop: retry, cancel, acknowledge, follow.

/// The launcher's scripted stand-in agent, whose plan file scripts each
/// role's runs (SLEEP, HALF, EXIT1, ...).
const PLANNED_AGENT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../crates/launcher/tests/fixtures/scripted-agent.sh"
);

impl World {
    /// A state folder for the planned agent with `plan`, and the
    /// ORCH_AGENT_CMD that runs it.
    fn planned_agent(&self, plan: &str) -> String {
        let state = self.agent_state();
        std::fs::create_dir_all(&state).unwrap();
        std::fs::write(state.join("plan"), plan).unwrap();
        format!("sh {PLANNED_AGENT} {}", state.display())
    }

    /// Runs orch with `env` on top of the world's, and returns its output.
    fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = self.orch(args);
        for (k, v) in env {
            command.env(k, v);
        }
        command.output().unwrap()
    }

    fn task(&self, id: i64) -> Value {
        self.json(&["task", "show", &id.to_string()])
    }
}

/// Waits until `ready` holds, failing with `what` after a minute.
fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        assert!(Instant::now() < deadline, "{what} never happened");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One unbroken chain of transitions from analysis, returned as the stages.
fn chain(shown: &Value) -> Vec<String> {
    let mut at = "analysis".to_owned();
    let mut stages = vec![at.clone()];
    for t in shown["transitions"].as_array().unwrap() {
        assert_eq!(
            t["from"],
            at.as_str(),
            "a doubled or broken history: {shown}"
        );
        at = t["to"].as_str().unwrap().to_owned();
        stages.push(at.clone());
    }
    stages
}

fn code(output: &Output) -> Option<i32> {
    output.status.code()
}

#[test]
fn retry_after_each_kind_of_block_ends_done_and_ack_hides_alerts_across_a_restart() {
    let world = World::new("retry-kinds");
    let _reaper = Reaper(&world.marker);
    // 1: its suite fails with no developer retry left (retry budget spent);
    // 2: its suite cannot run, with no infra retry (infra exhaustion);
    // 3: its checkout is gone, so the agent cannot start (agent unavailable).
    world.add_repo("failing", "exit 1");
    world.add_repo_in(
        "no-tool",
        "no-such-command-anywhere",
        &world.sample_copy("no-tool"),
    );
    let gone = world.dir.path().join("gone");
    std::fs::create_dir_all(&gone).unwrap();
    world.json(&[
        "repo",
        "add",
        "vanished",
        "--path",
        gone.to_str().unwrap(),
        "--staging-cmd",
        "sh ./staging.sh",
    ]);
    std::fs::remove_dir(&gone).unwrap();
    for repo in ["failing", "no-tool", "vanished"] {
        world.json(&["task", "add", "--repo", repo, "--title", repo]);
    }
    let strict = [
        ("ORCH_DEVELOPER_RETRIES", "0"),
        ("ORCH_STAGING_RUNNER_INFRA_RETRIES", "0"),
        ("ORCH_AGENT_INFRA_RETRIES", "0"),
    ];
    let output = world.run_with(&["work", "--until-idle"], &strict);
    assert!(output.status.success(), "{}", describe(&output));
    let blocked = world.json(&["task", "list", "--status", "blocked"]);
    assert_eq!(blocked.as_array().unwrap().len(), 3, "{blocked}");
    let kinds: Vec<String> = world
        .json(&["alert", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap().to_owned())
        .collect();
    for kind in ["retry_budget_spent", "agent_unavailable"] {
        assert!(kinds.iter().any(|k| k == kind), "{kinds:?}");
    }
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    // Task 2's block says its suite could not run (the infra retries).
    let alerts = world.json(&["alert", "list"]);
    let infra = alerts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["task"] == 2)
        .unwrap();
    assert!(
        infra["message"]
            .as_str()
            .unwrap()
            .contains("could not be run"),
        "{infra}"
    );
    assert_eq!(world.task(1)["stage"], "blocked");
    assert_eq!(chain(&world.task(3)), ["analysis", "blocked"]);

    // Acknowledging one hides it from /queue, and it stays hidden after a
    // restart of serve.
    let first = world.json(&["alert", "list"])[0]["id"].as_i64().unwrap();
    assert_eq!(
        world.json(&["alert", "ack", &first.to_string()])["acknowledged"][0],
        first
    );
    let (mut child, addr) = serve(&world, &[("ORCH_WORKERS", "1")]);
    let (_, _, body) = http(&addr, "GET", "/queue");
    let queue: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(queue["alerts_total"], 2, "{queue}");
    assert!(
        queue["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["id"] != first),
        "{queue}"
    );
    kill(
        Pid::from_raw(i32::try_from(child.id()).unwrap()),
        Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(30)).code(),
        Some(143)
    );
    assert_eq!(world.json(&["queue"])["alerts_total"], 2);
    assert_eq!(
        world
            .json(&["alert", "list", "--all"])
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // Wrong states and unknown ids are told apart by their exit codes.
    assert_eq!(code(&world.run(&["task", "cancel", "1"])), Some(4));
    assert_eq!(code(&world.run(&["task", "retry", "99"])), Some(2));
    assert_eq!(code(&world.run(&["task", "cancel", "99"])), Some(2));
    assert_eq!(code(&world.run(&["alert", "ack", "99"])), Some(2));
    assert_eq!(
        code(&world.run(&["repo", "update", "nope", "--staging-cmd", "x"])),
        Some(2)
    );
    assert_eq!(
        code(&world.run(&["task", "retry", "1", "--stage", "done"])),
        Some(3)
    );
    assert_eq!(
        code(&world.run(&["task", "list", "--status", "nope"])),
        Some(3)
    );

    // Fix each cause, retry each where it stopped, and all three end done.
    world.json(&[
        "repo",
        "update",
        "failing",
        "--staging-cmd",
        "sh ./staging.sh",
    ]);
    world.json(&[
        "repo",
        "update",
        "no-tool",
        "--staging-cmd",
        "sh ./staging.sh",
    ]);
    // A folder of its own: the checkout is registered as "failing".
    let checkout = world.sample_copy("found-again");
    let updated = world.json(&[
        "repo",
        "update",
        "vanished",
        "--path",
        checkout.to_str().unwrap(),
    ]);
    assert_eq!(updated["path"], checkout.to_str().unwrap());
    assert_eq!(updated["staging_cmd"], "sh ./staging.sh", "{updated}");
    let retried = world.json(&["task", "retry", "1", "--reason", "fixed the suite"]);
    assert_eq!(
        (retried["stage"].as_str(), retried["from"].as_str()),
        (Some("deploy-staging"), Some("blocked"))
    );
    assert_eq!(
        retried["acknowledged_alerts"].as_array().unwrap().len() + 1,
        1 + usize::from(first != 1),
        "{retried}"
    );
    let retried = world.json(&["task", "retry", "2", "--reset-retries"]);
    assert_eq!(retried["stage"], "deploy-staging");
    assert_eq!(retried["developer_retries"], 0);
    assert_eq!(world.json(&["task", "retry", "3"])["stage"], "analysis");
    // Active now: a second retry is refused, nothing written.
    let again = world.run(&["task", "retry", "3"]);
    assert_eq!(code(&again), Some(4), "{}", describe(&again));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("orch task cancel"),
        "{}",
        describe(&again)
    );
    assert_eq!(code(&world.run(&["repo", "remove", "vanished"])), Some(4));
    let output = world.run_with(&["work", "--until-idle"], &strict);
    assert!(output.status.success(), "{}", describe(&output));
    for id in 1..=3 {
        let shown = world.task(id);
        assert_eq!(shown["status"], "done", "{shown}");
        let stages = chain(&shown);
        assert_eq!(stages.last().unwrap(), "done");
        let by_operator: Vec<&Value> = shown["transitions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["actor"] == "operator")
            .collect();
        assert_eq!(by_operator.len(), 1, "{shown}");
        assert_eq!(by_operator[0]["from"], "blocked");
    }
    assert_eq!(world.task(1)["transitions"][6]["reason"], "fixed the suite");
    // Every alert was resolved by the ack or the retries.
    assert_eq!(world.json(&["queue"])["alerts_total"], 0);
    assert!(
        world
            .json(&["alert", "list"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    // A repository whose tasks have all ended can go, with their history.
    let removed = world.json(&["repo", "remove", "vanished"]);
    assert_eq!(removed["tasks"], serde_json::json!([3]));
    assert_eq!(
        world
            .json(&["task", "list", "--repo", "failing"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(code(&world.run(&["task", "show", "3"])), Some(2));
    assert!(!world.home().join("tasks/3").exists());
}

#[test]
fn cancel_ends_the_running_tree_keeps_no_half_artifact_and_log_follows_the_run() {
    let world = World::new("cancel");
    let reaper = Reaper(&world.marker);
    world.add_repo("calc", "sh ./staging.sh");
    // The analyst writes a passing artifact, then hangs; its second run passes.
    let agent = world.planned_agent("analyst HALF COMPLETE\n");
    world.json(&["task", "add", "--repo", "calc", "--title", "hangs"]);
    let (mut child, addr) = serve(
        &world,
        &[("ORCH_AGENT_CMD", agent.as_str()), ("ORCH_WORKERS", "1")],
    );
    wait_for("the analyst running", || {
        let (_, _, body) = http(&addr, "GET", "/queue");
        let queue: Value = serde_json::from_str(&body).unwrap();
        queue["running"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["stage"] == "analysis")
    });
    // `task log --follow` shows the agent's output while it runs ...
    let mut follow = world
        .orch(&["task", "log", "1", "--follow"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(follow.stdout.take().unwrap());
    let mut line = String::new();
    lines.read_line(&mut line).unwrap();
    // It follows the task: a header names the stage's job first.
    assert_eq!(line, "==> analysis · analyst · job 1 <==\n");
    line.clear();
    lines.read_line(&mut line).unwrap();
    assert!(line.contains("total_cost_usd"), "{line:?}");
    assert!(
        world.json(&["queue"])["running"].as_array().unwrap().len() == 1,
        "the output was shown while the agent ran"
    );
    // The agent writes its artifact in its run's output folder (the task
    // folder is read-only to it); orch takes it only when the run ends.
    assert!(world.home().join("runs/job-1/out/01-analysis.md").is_file());
    assert!(!world.home().join("tasks/1/01-analysis.md").exists());
    // ... and the cancel ends the run's tree, then the job, then the follow.
    let cancelled = world.json(&["task", "cancel", "1"]);
    assert_eq!(cancelled["was"], "running", "{cancelled}");
    assert_eq!(cancelled["status"], "blocked");
    assert_eq!(cancelled["reason"], "cancelled");
    let status = wait_exit(&mut follow, Duration::from_secs(30));
    assert!(status.success());
    let serve_pid = child.id().to_string();
    let survivors: Vec<String> = world
        .marker
        .survivors()
        .into_iter()
        .filter(|s| s.split_whitespace().next() != Some(serve_pid.as_str()))
        .collect();
    assert!(
        survivors.is_empty(),
        "processes outlived the cancel: {survivors:#?}"
    );
    // Nothing half-written is kept as the stage's artifact: it is archived.
    let shown = world.task(1);
    assert_eq!(shown["status"], "blocked");
    assert!(shown["artifacts"].as_array().unwrap().is_empty(), "{shown}");
    assert!(
        world
            .home()
            .join("tasks/1/attempts/1/01-analysis.md")
            .is_file()
    );
    let last = shown["transitions"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (last["actor"].as_str(), last["reason"].as_str()),
        (Some("operator"), Some("cancelled"))
    );
    assert_eq!(last["from"], "analysis");
    // Recorded, not open: the operator asked for it.
    assert!(
        world
            .json(&["alert", "list"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        world.json(&["alert", "list", "--all"])[0]["kind"],
        "cancelled"
    );
    // The log without --follow reads the archived output.
    let log = world.run(&["task", "log", "1"]);
    assert!(
        String::from_utf8_lossy(&log.stdout).contains("total_cost_usd"),
        "{}",
        describe(&log)
    );
    // A cancel of what has ended is refused.
    let again = world.run(&["task", "cancel", "1"]);
    assert_eq!(code(&again), Some(4), "{}", describe(&again));
    // Retried, it runs to the end under the same serve.
    assert_eq!(world.json(&["task", "retry", "1"])["stage"], "analysis");
    wait_for("the retried task done", || {
        world.task(1)["status"] == "done"
    });
    chain(&world.task(1));
    kill(
        Pid::from_raw(i32::try_from(child.id()).unwrap()),
        Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(30)).code(),
        Some(143)
    );
    // A queued job (no serve running) is cancelled at once.
    world.json(&["task", "add", "--repo", "calc", "--title", "queued"]);
    let cancelled = world.json(&["task", "cancel", "2"]);
    assert_eq!(
        (cancelled["was"].as_str(), cancelled["status"].as_str()),
        (Some("queued"), Some("blocked"))
    );
    let survivors = world.marker.survivors();
    drop(reaper);
    assert!(survivors.is_empty(), "{survivors:#?}");
}

/// Issue 20, the lost cancel: the cancel arrives after the staging suite
/// has ended, while its worker waits to write the job's end (the database
/// is write-locked by another connection at that moment, which records the
/// cancel as `orch task cancel` does). The task must end cancelled, never
/// go on to deploy, and `task cancel` never reports it done.
#[test]
fn a_cancel_that_arrives_before_the_job_end_is_written_is_not_lost() {
    let world = World::new("late-cancel");
    let _reaper = Reaper(&world.marker);
    let flags = world.dir.path().join("flags");
    std::fs::create_dir_all(&flags).unwrap();
    let (ready, go, ended, ledger) = (
        flags.join("ready"),
        flags.join("go"),
        flags.join("ended"),
        flags.join("ledger"),
    );
    let staging = format!(
        "touch {ready}; while [ ! -e {go} ]; do sleep 0.01; done; touch {ended}",
        ready = ready.display(),
        go = go.display(),
        ended = ended.display()
    );
    let deploy = format!("echo deployed >> {}", ledger.display());
    let checkout = world.checkout();
    world.json(&[
        "repo",
        "add",
        "calc",
        "--path",
        checkout.to_str().unwrap(),
        "--staging-cmd",
        &staging,
        "--deploy-cmd",
        &deploy,
    ]);
    world.json(&["task", "add", "--repo", "calc", "--title", "cancelled late"]);
    let mut work = world
        .orch(&["work", "--until-idle"])
        .env("ORCH_SANDBOX", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the staging suite running", || ready.exists());
    let db = rusqlite::Connection::open(world.home().join("orch.db")).unwrap();
    db.busy_timeout(Duration::from_secs(30)).unwrap();
    db.execute_batch("BEGIN IMMEDIATE").unwrap();
    std::fs::write(&go, "").unwrap();
    wait_for("the staging suite ended", || ended.exists());
    // The worker now waits for the lock to write the job's end (its
    // heartbeat stopped with the run).
    std::thread::sleep(Duration::from_millis(500));
    let asked = db
        .execute(
            "UPDATE jobs SET cancel_requested_ms = 1 WHERE task_id = 1 AND state = 'running'",
            [],
        )
        .unwrap();
    assert_eq!(asked, 1, "the staging job was not running");
    db.execute_batch("COMMIT").unwrap();
    let status = wait_exit(&mut work, Duration::from_secs(60));
    let mut stderr = String::new();
    work.stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{status:?}: {stderr}");
    let shown = world.task(1);
    assert_eq!(shown["status"], "blocked", "{shown}");
    let last = shown["transitions"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (last["from"].as_str(), last["reason"].as_str()),
        (Some("deploy-staging"), Some("cancelled")),
        "{shown}"
    );
    assert!(!ledger.exists(), "a cancelled task was deployed");
    let again = world.run(&["task", "cancel", "1"]);
    assert_eq!(code(&again), Some(4), "{}", describe(&again));
    assert!(
        !String::from_utf8_lossy(&again.stdout).contains("\"done\""),
        "{}",
        describe(&again)
    );
}

/// Issue 20, a lost cancel through a slow `ORCH_GIT`: the real `orch task
/// cancel` arrives after the role's process ended, while orch's git is
/// still reading the tree the role left (before the job's end is written).
/// The cancel is not lost: the task ends blocked `cancelled`, the CLI says
/// so and exits 0, and nothing runs after it. (The code before issue 20
/// passed this one too — it read the request after git; the window it lost
/// is pinned by `a_cancel_that_arrives_before_the_job_end_is_written_is_not_lost`,
/// which holds the database's write lock instead.)
#[test]
fn a_cancel_during_a_slow_git_after_the_role_is_not_lost() {
    let world = World::new("slow-git-cancel");
    let _reaper = Reaper(&world.marker);
    world.git_init();
    let flags = world.agent_state();
    std::fs::create_dir_all(&flags).unwrap();
    let (armed, waiting, go) = (flags.join("armed"), flags.join("waiting"), flags.join("go"));
    // The stand-in agent arms the slow git as its last act.
    let agent = world.dir.path().join("arming-agent.sh");
    std::fs::write(
        &agent,
        format!(
            "#!/bin/sh\n# SCRIPTED STAND-IN FOR AN LLM AGENT (tests): the demo's, then arms the slow git.\n\
             sh {AGENT} \"$@\"; code=$?\ntouch {armed}\nexit $code\n",
            armed = armed.display()
        ),
    )
    .unwrap();
    // orch's git: once armed, its first `status` (orch reading what the
    // role changed) waits until the test says go.
    let slow_git = world.dir.path().join("slow-git.sh");
    std::fs::write(
        &slow_git,
        format!(
            "#!/bin/sh\ncase \" $* \" in *\" status \"*)\n\
             \tif [ -e {armed} ] && [ ! -e {go} ]; then touch {waiting}; while [ ! -e {go} ]; do sleep 0.01; done; fi;;\n\
             esac\nexec git \"$@\"\n",
            armed = armed.display(),
            go = go.display(),
            waiting = waiting.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &slow_git,
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755),
    )
    .unwrap();
    let checkout = world.checkout();
    world.json(&[
        "repo",
        "add",
        "calc",
        "--path",
        checkout.to_str().unwrap(),
        "--staging-cmd",
        "true",
    ]);
    world.json(&[
        "task",
        "add",
        "--repo",
        "calc",
        "--title",
        "cancelled in git",
    ]);
    let mut work = world
        .orch(&["work", "--until-idle"])
        .env("ORCH_AGENT_CMD", format!("sh {}", agent.display()))
        .env("ORCH_GIT", format!("{}", slow_git.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("orch's git reading the analyst's tree", || waiting.exists());
    let cancel = world
        .orch(&["task", "cancel", "1", "--wait", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The request is recorded before git goes on.
    wait_for("the cancel recorded", || {
        let db = rusqlite::Connection::open(world.home().join("orch.db")).unwrap();
        db.query_row(
            "SELECT count(*) FROM jobs WHERE task_id = 1 AND cancel_requested_ms IS NOT NULL",
            [],
            |row| row.get::<_, i64>(0),
        )
        .unwrap()
            == 1
    });
    std::fs::write(&go, "").unwrap();
    let said = cancel.wait_with_output().unwrap();
    let status = wait_exit(&mut work, Duration::from_secs(60));
    let mut stderr = String::new();
    work.stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{status:?}: {stderr}");
    assert_eq!(code(&said), Some(0), "{}", describe(&said));
    let printed: Value = serde_json::from_slice(&said.stdout).unwrap();
    assert_eq!(
        (printed["status"].as_str(), printed["reason"].as_str()),
        (Some("blocked"), Some("cancelled")),
        "{printed}"
    );
    let shown = world.task(1);
    assert_eq!(shown["status"], "blocked", "{shown}");
    let last = shown["transitions"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (last["from"].as_str(), last["reason"].as_str()),
        (Some("analysis"), Some("cancelled")),
        "{shown}"
    );
}

/// Issue 20, the deploy guard for a folder that is not a git repository: a
/// task that never passed staging cannot be retried into deploy (exit 4,
/// saying why, nothing written); into staging it can.
#[test]
fn a_retry_into_deploy_without_a_staging_pass_is_refused() {
    let world = World::new("deploy-guard");
    world.add_repo("calc", "sh ./staging.sh");
    world.json(&["task", "add", "--repo", "calc", "--title", "not tested"]);
    let cancelled = world.json(&["task", "cancel", "1"]);
    assert_eq!(cancelled["status"], "blocked", "{cancelled}");
    let before = world.task(1);
    let refused = world.run(&[
        "task", "retry", "1", "--stage", "deploy", "--reason", "ship",
    ]);
    assert_eq!(code(&refused), Some(4), "{}", describe(&refused));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("staging never judged it") && said.contains("--stage deploy-staging"),
        "{}",
        describe(&refused)
    );
    assert_eq!(world.task(1), before, "the refused retry wrote something");
    let retried = world.json(&["task", "retry", "1", "--stage", "deploy-staging"]);
    assert_eq!(retried["stage"], "deploy-staging");
}

/// Issue 21 (i21): post-deploy watches what deploy put out. A task whose
/// staging passed but whose deploy failed (blocked at deploy) cannot be
/// retried into post-deploy, which would mark it done; into deploy it can.
#[test]
fn i21_a_retry_into_post_deploy_needs_a_passing_deploy() {
    let world = World::new("post-deploy-guard");
    let checkout = world.checkout();
    world.json(&[
        "repo",
        "add",
        "calc",
        "--path",
        checkout.to_str().unwrap(),
        "--staging-cmd",
        "sh ./staging.sh",
        "--deploy-cmd",
        "exit 1",
    ]);
    world.json(&["task", "add", "--repo", "calc", "--title", "deploy fails"]);
    let work = world
        .orch(&["work", "--until-idle"])
        .env("ORCH_SANDBOX", "off")
        .output()
        .unwrap();
    assert!(work.status.success(), "{}", describe(&work));
    let task = world.task(1);
    assert_eq!(task["blocked"]["stage"], "deploy", "{task}");
    let refused = world.run(&["task", "retry", "1", "--stage", "post-deploy"]);
    assert_eq!(code(&refused), Some(4), "{}", describe(&refused));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("its latest deploy did not pass") && said.contains("--stage deploy"),
        "{}",
        describe(&refused)
    );
    assert_eq!(world.task(1), task, "the refused retry wrote something");
    let retried = world.json(&["task", "retry", "1", "--stage", "deploy"]);
    assert_eq!(retried["stage"], "deploy");
}

/// Issue 20, a deploy at most once through the binary: `orch work` is
/// killed (-9) while its deploy command runs, after the command appended to
/// a ledger. The next process rescues the dead boot's job at once and does
/// not run the deploy again: the task is blocked `deploy_interrupted`,
/// naming what to check, and the ledger has one line. The operator's retry
/// deploys again.
#[test]
fn a_deploy_killed_mid_run_is_never_run_again_by_itself() {
    let world = World::new("deploy-once");
    let _reaper = Reaper(&world.marker);
    let flags = world.dir.path().join("flags");
    std::fs::create_dir_all(&flags).unwrap();
    let (ledger, hang) = (flags.join("ledger"), flags.join("hang"));
    std::fs::write(&hang, "").unwrap();
    let deploy = format!(
        "echo deployed >> {ledger}; if [ -e {hang} ]; then sleep 60; fi",
        ledger = ledger.display(),
        hang = hang.display()
    );
    let checkout = world.checkout();
    world.json(&[
        "repo",
        "add",
        "calc",
        "--path",
        checkout.to_str().unwrap(),
        "--staging-cmd",
        "sh ./staging.sh",
        "--deploy-cmd",
        &deploy,
    ]);
    world.json(&["task", "add", "--repo", "calc", "--title", "deploy once"]);
    let mut work = world
        .orch(&["work", "--until-idle"])
        .env("ORCH_SANDBOX", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = || {
        std::fs::read_to_string(&ledger)
            .unwrap_or_default()
            .lines()
            .count()
    };
    wait_for("the deploy command running", || lines() == 1);
    work.kill().unwrap(); // SIGKILL
    work.wait().unwrap();
    wait_for("the dead run's processes gone", || {
        world.marker.survivors().is_empty()
    });
    assert_eq!(lines(), 1);
    let output = world.run_with(&["work", "--until-idle"], &[("ORCH_SANDBOX", "off")]);
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(lines(), 1, "the interrupted deploy ran again");
    let shown = world.task(1);
    assert_eq!(shown["status"], "blocked", "{shown}");
    let alerts = world.json(&["alert", "list"]);
    let alert = alerts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "deploy_interrupted")
        .unwrap_or_else(|| panic!("no deploy_interrupted alert: {alerts}"));
    let message = alert["message"].as_str().unwrap();
    assert!(
        message.contains("not run again") && message.contains("orch task retry 1"),
        "{message}"
    );
    // The operator checked the target and decides to deploy again.
    std::fs::remove_file(&hang).unwrap();
    let retried = world.json(&["task", "retry", "1", "--reason", "not live: deploy again"]);
    assert_eq!(retried["stage"], "deploy", "{retried}");
    let output = world.run_with(&["work", "--until-idle"], &[("ORCH_SANDBOX", "off")]);
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(lines(), 2, "the operator's retry did not deploy");
    assert_eq!(world.task(1)["status"], "done");
}

#[test]
fn a_job_that_loses_its_worker_three_times_is_poison_and_retry_finishes_it() {
    let world = World::new("poison");
    let reaper = Reaper(&world.marker);
    world.add_repo("calc", "sh ./staging.sh");
    let agent = world.planned_agent("analyst SLEEP SLEEP SLEEP COMPLETE\n");
    world.json(&["task", "add", "--repo", "calc", "--title", "poison"]);
    for round in 1..=3 {
        let (mut child, addr) = serve(
            &world,
            &[("ORCH_AGENT_CMD", agent.as_str()), ("ORCH_WORKERS", "1")],
        );
        let me = format!("boot-{}-", child.id());
        wait_for(&format!("round {round}'s claim"), || {
            let (_, _, body) = http(&addr, "GET", "/queue");
            let queue: Value = serde_json::from_str(&body).unwrap();
            queue["running"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["worker"].as_str().unwrap().contains(&me))
        });
        // The agent itself is running (its run counted), not only the claim.
        let count = world.dir.path().join("agent-state/analyst.count");
        wait_for(&format!("round {round}'s agent"), || {
            std::fs::read_to_string(&count).is_ok_and(|n| n.trim() == round.to_string())
        });
        child.kill().unwrap(); // SIGKILL: a crash, not a stop
        child.wait().unwrap();
        wait_for("the dead run's processes gone", || {
            world.marker.survivors().is_empty()
        });
    }
    // The next process to start rescues the third lost claim: poison.
    let output = world.run_with(
        &["work", "--until-idle"],
        &[("ORCH_AGENT_CMD", agent.as_str())],
    );
    assert!(output.status.success(), "{}", describe(&output));
    let shown = world.task(1);
    assert_eq!(shown["status"], "blocked", "{shown}");
    let alerts = world.json(&["alert", "list"]);
    let poison = &alerts.as_array().unwrap()[0];
    assert_eq!(poison["kind"], "poison_job");
    assert_eq!(poison["task"], 1);
    assert!(
        poison["message"]
            .as_str()
            .unwrap()
            .contains("orch task retry 1"),
        "{poison}"
    );
    let last = shown["transitions"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (last["actor"].as_str(), last["reason"].as_str()),
        (Some("rescue"), Some("poison"))
    );
    // Retried: a fresh job with a fresh rescue budget, and the plan's fourth
    // analyst run passes.
    let retried = world.json(&["task", "retry", "1"]);
    assert_eq!(retried["stage"], "analysis");
    assert_eq!(
        retried["acknowledged_alerts"],
        serde_json::json!([poison["id"]])
    );
    let output = world.run_with(
        &["work", "--until-idle"],
        &[("ORCH_AGENT_CMD", agent.as_str())],
    );
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(world.task(1)["status"], "done");
    let stages = chain(&world.task(1));
    assert_eq!(stages.len(), 11, "{stages:?}");
    let survivors = world.marker.survivors();
    drop(reaper);
    assert!(survivors.is_empty(), "{survivors:#?}");
}

// ---------------------------------------------------------------------------
// Task isolation: a git worktree per task, verdicts bound to commits.

/// Every file of a checkout outside `.git`, with its bytes: what "the user's
/// checkout is unchanged" compares.
fn files_of(dir: &std::path::Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).unwrap().flatten() {
            let path = entry.path();
            if entry.file_name() == ".git" {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

impl World {
    /// Makes the checkout a git repository with one commit; returns it.
    fn git_init(&self) -> String {
        let checkout = self.checkout();
        git(&checkout, &["init", "--quiet", "--initial-branch=main"]);
        git(&checkout, &["add", "--all"]);
        git(&checkout, &["commit", "--quiet", "-m", "the sample"]);
        git(&checkout, &["rev-parse", "HEAD"]).trim().to_owned()
    }

    /// A scripted stand-in agent (no LLM) whose developer writes
    /// `change-<task id>.txt` in the folder it works in, then plays the
    /// demo's stand-in for everything else.
    fn change_writing_agent(&self) -> String {
        let script = self.dir.path().join("change-writing-agent.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\n# SCRIPTED STAND-IN FOR AN LLM AGENT (tests): the developer writes one file.\n\
                 if [ \"$ORCH_ROLE\" = developer ]; then\n\
                 \techo \"task $ORCH_TASK_ID\" > \"$ORCH_REPO_PATH/change-$ORCH_TASK_ID.txt\"\n\
                 fi\n\
                 exec sh {AGENT}\n"
            ),
        )
        .unwrap();
        format!("sh {}", script.display())
    }
}

#[test]
fn six_tasks_on_one_repository_with_four_workers_each_test_and_keep_only_their_own_change() {
    const TASKS: i64 = 6;
    let world = World::new("isolation");
    let reaper = Reaper(&world.marker);
    let checkout = world.checkout();
    let base = world.git_init();
    let before = files_of(&checkout);
    // Fails as soon as a tree holds another task's change besides its own.
    world.add_repo(
        "calc",
        "n=$(ls change-*.txt 2>/dev/null | wc -l); [ \"$n\" -le 1 ] && sh ./staging.sh",
    );
    for i in 0..TASKS {
        let added = world.json(&[
            "task",
            "add",
            "--repo",
            "calc",
            "--title",
            &format!("change {i}"),
        ]);
        assert_eq!(added["isolation"], "worktree", "{added}");
        assert_eq!(added["base_commit"], base.as_str(), "{added}");
    }
    let agent = world.change_writing_agent();
    let (mut child, addr) = serve(&world, &[("ORCH_WORKERS", "4"), ("ORCH_AGENT_CMD", &agent)]);
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let (_, _, body) = http(&addr, "GET", "/queue");
        let queue: Value = serde_json::from_str(&body).unwrap();
        let counts = &queue["counts"];
        if counts["queued"] == 0 && counts["running"] == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the tasks never finished: {queue}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    kill(
        Pid::from_raw(i32::try_from(child.id()).unwrap()),
        Signal::SIGTERM,
    )
    .unwrap();
    assert!(wait_exit(&mut child, Duration::from_secs(30)).code() == Some(143));

    let mut tested = std::collections::HashSet::new();
    for id in 1..=TASKS {
        let shown = world.json(&["task", "show", &id.to_string()]);
        assert_eq!(shown["status"], "done", "{shown}");
        assert_eq!(
            shown["developer_retries"], 0,
            "no task saw another's change: {shown}"
        );
        let branch = format!("orch/task-{id}");
        assert_eq!(shown["worktree"]["branch"], branch.as_str());
        assert_eq!(shown["worktree"]["path"], Value::Null, "removed at done");
        assert!(
            shown["worktree"]["merge"]
                .as_str()
                .unwrap()
                .ends_with(&format!("merge {branch}")),
            "{shown}"
        );
        // The branch holds exactly this task's change.
        let changed = git(
            &checkout,
            &["diff", "--name-only", &format!("{base}..{branch}")],
        );
        assert_eq!(
            changed.trim(),
            format!("change-{id}.txt"),
            "branch {branch}"
        );
        // The staging log names the commit it ran on: the branch's tip.
        let log =
            std::fs::read_to_string(world.home().join(format!("tasks/{id}/15-staging-log.md")))
                .unwrap();
        let tip = git(&checkout, &["rev-parse", &branch]).trim().to_owned();
        assert!(log.contains(&format!("- commit: \"{tip}\"")), "{log}");
        assert!(log.contains("- tree: \"clean\""), "{log}");
        assert!(tested.insert(tip.clone()), "two tasks tested one commit");
        // The gate evidence keeps the commit beside the artifact's sha256.
        let staging = shown["transitions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["from"] == "deploy-staging")
            .unwrap();
        assert_eq!(staging["gates"][0]["commit"], tip.as_str(), "{staging}");
        assert_eq!(staging["gates"][0]["tree_clean"], true);
        // The developer's job ended on the commit orch made for it.
        let developer = shown["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["role"] == "developer")
            .unwrap();
        assert_eq!(developer["start_commit"], base.as_str());
        assert_eq!(developer["end_commit"], tip.as_str());
        let author = git(&checkout, &["log", "-1", "--format=%an|%s", &branch]);
        assert_eq!(
            author.trim(),
            format!("orch|orch: task {id} development (developer)")
        );
    }
    // The user's checkout: same HEAD, same files, nothing uncommitted.
    assert_eq!(git(&checkout, &["rev-parse", "HEAD"]).trim(), base);
    assert_eq!(git(&checkout, &["status", "--porcelain"]), "");
    assert_eq!(files_of(&checkout), before, "the checkout's files changed");
    assert_eq!(
        git(&checkout, &["symbolic-ref", "HEAD"]).trim(),
        "refs/heads/main"
    );
    drop(reaper);
}

#[test]
fn repo_add_says_how_a_folder_is_isolated_and_refuses_what_cannot_work() {
    let world = World::new("repo-add-isolation");
    // Not a git repository: said, and its tasks share the folder.
    let plain = world.json(&[
        "repo",
        "add",
        "plain",
        "--path",
        world.sample_copy("plain").to_str().unwrap(),
        "--staging-cmd",
        "true",
    ]);
    assert_eq!(plain["isolation"]["kind"], "checkout", "{plain}");
    assert!(
        plain["isolation"]["note"]
            .as_str()
            .unwrap()
            .contains("not a git repository")
    );
    let task = world.json(&["task", "add", "--repo", "plain", "--title", "t"]);
    assert_eq!(task["isolation"], "checkout", "{task}");

    let base = world.git_init();
    // A base that names nothing is refused before anything is stored.
    let output = world.run(&[
        "repo",
        "add",
        "bad",
        "--path",
        world.checkout().to_str().unwrap(),
        "--staging-cmd",
        "true",
        "--base",
        "no-such-branch",
    ]);
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("no-such-branch"),
        "{}",
        describe(&output)
    );
    assert_eq!(world.json(&["repo", "list"]).as_array().unwrap().len(), 1);
    // A folder inside the repository: add its top instead.
    let sub = world.checkout().join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    let output = world.run(&[
        "repo",
        "add",
        "sub",
        "--path",
        sub.to_str().unwrap(),
        "--staging-cmd",
        "true",
    ]);
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("not its top folder"),
        "{}",
        describe(&output)
    );
    // repo update checks the folder and base it would leave in force.
    let output = world.run(&["repo", "update", "plain", "--path", sub.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    let output = world.run(&["repo", "update", "plain", "--base", "no-such-branch"]);
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    let output = world.run(&["repo", "update", "nosuch", "--base", "HEAD"]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    // A blank name is told as such, not as SQLite's constraint.
    let output = world.run(&[
        "repo",
        "add",
        " ",
        "--path",
        world.checkout().to_str().unwrap(),
        "--staging-cmd",
        "true",
    ]);
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("name is blank"),
        "{}",
        describe(&output)
    );
    // git missing from PATH on a git repository: said, with what to do.
    let output = world
        .orch(&[
            "repo",
            "add",
            "nogit",
            "--path",
            world.checkout().to_str().unwrap(),
            "--staging-cmd",
            "true",
        ])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("ORCH_GIT"),
        "{}",
        describe(&output)
    );
    // A good base: the tag is resolved when each task is created.
    git(&world.checkout(), &["tag", "v1"]);
    let repo = world.json(&[
        "repo",
        "add",
        "tagged",
        "--path",
        world.checkout().to_str().unwrap(),
        "--staging-cmd",
        "true",
        "--base",
        "v1",
    ]);
    assert_eq!(repo["base"], "v1");
    assert_eq!(repo["isolation"]["base_commit_now"], base.as_str());
    // A dirty checkout: the task starts from HEAD without the edit, and says so.
    std::fs::write(world.checkout().join("calc.sh"), "edited by the user\n").unwrap();
    let task = world.json(&[
        "task", "add", "--repo", "tagged", "--title", "t", "--base", "HEAD",
    ]);
    assert_eq!(task["base_commit"], base.as_str());
    assert!(
        task["notes"][0].as_str().unwrap().contains("uncommitted"),
        "{task}"
    );
    let output = world.run(&[
        "task", "add", "--repo", "tagged", "--title", "t", "--base", "nope",
    ]);
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
}

#[test]
fn start_up_removes_the_worktrees_of_tasks_that_no_longer_exist() {
    let world = World::new("sweep");
    world.git_init();
    world.add_repo("calc", "sh ./staging.sh");
    world.json(&[
        "task",
        "add",
        "--repo",
        "calc",
        "--title",
        "kept",
        "--keep-worktree",
    ]);
    let output = world.run(&["work", "--until-idle"]);
    assert!(output.status.success(), "{}", describe(&output));
    let kept = world.home().join("worktrees/1");
    assert!(kept.join("calc.sh").is_file(), "--keep-worktree keeps it");
    // A worktree whose task is gone (another database, say).
    let stray = world.home().join("worktrees/77");
    git(
        &world.checkout(),
        &[
            "worktree",
            "add",
            "--quiet",
            "-b",
            "stray",
            stray.to_str().unwrap(),
        ],
    );
    let output = world.run(&["work", "--until-idle"]);
    assert!(output.status.success(), "{}", describe(&output));
    assert!(!stray.exists(), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("removed the worktree"));
    assert!(kept.is_dir(), "a kept worktree of a done task stays");
    // Removing the repository removes its tasks' worktrees (a later task may
    // get a removed one's id); the branches stay.
    let removed = world.json(&["repo", "remove", "calc"]);
    assert_eq!(
        removed["kept_worktrees"],
        serde_json::json!([]),
        "{removed}"
    );
    assert!(!kept.exists(), "the kept worktree went with its repository");
    assert_eq!(
        git(&world.checkout(), &["branch", "--list", "orch/task-1"]).trim(),
        "orch/task-1"
    );
    assert_eq!(
        git(&world.checkout(), &["branch", "--list", "stray"]).trim(),
        "stray",
        "its branch stays"
    );
}

#[test]
fn the_demo_serves_one_testing_stage_by_the_test_runner_and_the_shadow_demo_measures_agreement() {
    let world = World::new("demo");
    // repo add --test-cmd: stored and shown; a blank one is refused.
    let checkout = world.checkout();
    let path = checkout.to_str().unwrap();
    let added = world.json(&[
        "repo",
        "add",
        "calc",
        "--path",
        path,
        "--staging-cmd",
        "true",
        "--test-cmd",
        "sh ./test.sh",
    ]);
    assert_eq!(added["test_cmd"], "sh ./test.sh", "{added}");
    let elsewhere = world.sample_copy("blank");
    let blank = world.run(&[
        "repo",
        "add",
        "blank",
        "--path",
        elsewhere.to_str().unwrap(),
        "--staging-cmd",
        "true",
        "--test-cmd",
        " ",
    ]);
    assert_eq!(blank.status.code(), Some(3), "{}", describe(&blank));
    assert!(
        String::from_utf8_lossy(&blank.stderr).contains("--test-cmd is blank"),
        "{}",
        describe(&blank)
    );
    let on = world.dir.path().join("demo-on");
    let output = world.run(&["demo", "--home", on.to_str().unwrap()]);
    assert!(output.status.success(), "{}", describe(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("task 1 · testing → deploy-staging · test-runner (tester) · PASSED"),
        "{text}"
    );
    assert!(
        text.contains("task 2 · testing → deploy-staging · tester · PASSED"),
        "the other tasks keep the LLM tester: {text}"
    );
    // i21: the suggested commands name this binary (no `orch` on PATH after
    // `cargo run`), and a branch with no commit says so, with no merge line.
    assert!(text.contains(&format!(" {ORCH} task show 1")), "{text}");
    let summary = &text[text.find("\ntask 1: done").unwrap()..];
    let second = summary.lines().nth(2).unwrap();
    assert!(
        second.contains("no changes (head = base), nothing to merge")
            && !second.contains("merge: git"),
        "{text}"
    );
    // /queue shows both runners' blocks.
    let start = text.find("GET /queue:\n").unwrap() + "GET /queue:\n".len();
    let end = start + text[start..].find("\n\n").unwrap();
    let queue: Value = serde_json::from_str(&text[start..end]).unwrap();
    assert_eq!(queue["test_runner"]["mode"], "on", "{queue}");
    assert_eq!(queue["test_runner"]["passed"], 1, "{queue}");
    assert_eq!(queue["staging_runner"]["runs"], 3, "{queue}");
    assert_eq!(queue["test_runner"]["shadow"]["runs"], 0, "{queue}");

    // In shadow mode the stand-in tester decides, and orch roadmap reports
    // the agreement from the database.
    let shadow = world.dir.path().join("demo-shadow");
    let output = world.run(&[
        "demo",
        "--home",
        shadow.to_str().unwrap(),
        "--test-runner",
        "shadow",
    ]);
    assert!(output.status.success(), "{}", describe(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("task 1 · testing → deploy-staging · tester · PASSED"),
        "{text}"
    );
    // /queue says what orch roadmap says below: one pair is not enough.
    let start = text.find("GET /queue:\n").unwrap() + "GET /queue:\n".len();
    let end = start + text[start..].find("\n\n").unwrap();
    let queue: Value = serde_json::from_str(&text[start..end]).unwrap();
    let decisions = queue["test_runner"]["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 1, "{queue}");
    assert_eq!(decisions[0]["compared"], 1, "{queue}");
    assert_eq!(decisions[0]["decision"], "need-more", "{queue}");
    assert_eq!(decisions[0]["more"], 299, "{queue}");
    assert_eq!(
        decisions[0]["summary"], "need 299 more pairs (bound now 95%)",
        "{queue}"
    );
    let db = shadow.join("orch.db");
    let output = world.run(&["roadmap", "--db", db.to_str().unwrap()]);
    assert!(output.status.success(), "{}", describe(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains(
            "shadow agreement (all repositories, all commands): 1 runs, 1 agree (100.0%), 0 runner-only FAILED, 0 LLM-only FAILED"
        ),
        "{text}"
    );
    // One agreeing pair is not evidence enough to switch.
    assert!(
        text.contains("1 pairs, 1 agree (100.0%), kappa undefined, 0 let through by the runner (bound 95%), 0 sent back by the runner; need 299 more pairs (bound now 95%)"),
        "{text}"
    );
    // A mode that is none is a bad argument (exit 3), named.
    let output = world.run(&["demo", "--test-runner", "sometimes"]);
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("expected off, shadow or on"),
        "{}",
        describe(&output)
    );
}

#[test]
fn an_agent_that_times_out_is_said_to_have_timed_out() {
    let world = World::new("agent-timeout");
    world.add_repo("calc", "sh ./staging.sh");
    world.json(&["task", "add", "--repo", "calc", "--title", "slow"]);
    let output = world
        .orch(&["work", "--until-idle"])
        .env("ORCH_AGENT_CMD", "sleep 30")
        .env("ORCH_AGENT_TIMEOUT_SECS", "1")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    let lines = String::from_utf8_lossy(&output.stdout);
    assert!(lines.contains("the run: timeout after 1s"), "{lines}");
    let alerts = world.json(&["alert", "list"]);
    let message = alerts[0]["message"].as_str().unwrap();
    assert!(message.contains("timeout after 1s"), "{message}");
    assert!(message.contains("orch task retry 1"), "{message}");
    // The blocked task waits for its operator: its repository is not removed
    // under it, unless blocked tasks may go too.
    let output = world.run(&["repo", "remove", "calc"]);
    assert_eq!(output.status.code(), Some(4), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--blocked-too"));
    let removed = world.json(&["repo", "remove", "calc", "--blocked-too"]);
    assert_eq!(removed["tasks"], serde_json::json!([1]), "{removed}");
    // And a limit of 0, which would end every run at once, is refused.
    let output = world
        .orch(&["work", "--until-idle"])
        .env("ORCH_AGENT_TIMEOUT_SECS", "0")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("ORCH_AGENT_TIMEOUT_SECS"));
}

/// `repo add --suite --setup-cmd`, `repo update --suite ''`, and `task
/// approve-suite`'s refusals, with the binary: bad globs are usage errors
/// (3), a task that changed nothing under its suite paths or is not a git
/// task is refused (4), an unknown task is a tool error (2).
#[test]
fn suite_and_setup_flags_and_approve_suite_refusals() {
    let world = World::new("suite-flags");
    let plain = world.dir.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let checkout = world.checkout();
    git(&checkout, &["init", "--quiet", "-b", "main"]);
    git(&checkout, &["add", "--all"]);
    git(&checkout, &["commit", "--quiet", "-m", "sample"]);
    for bad in ["/etc/*", "../x", ":(exclude)tests", "**", "tests/[a"] {
        let output = world.run(&[
            "repo",
            "add",
            "api",
            "--path",
            checkout.to_str().unwrap(),
            "--staging-cmd",
            "true",
            "--suite",
            bad,
        ]);
        assert_eq!(
            output.status.code(),
            Some(3),
            "{bad}: {}",
            describe(&output)
        );
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("--suite"),
            "{}",
            describe(&output)
        );
    }
    let added = world.json(&[
        "repo",
        "add",
        "api",
        "--path",
        checkout.to_str().unwrap(),
        "--staging-cmd",
        "test -f .setup-done",
        "--suite",
        "tests/**, staging.sh",
        "--setup-cmd",
        "true",
    ]);
    assert_eq!(
        added["suite"],
        serde_json::json!(["tests/**", "staging.sh"]),
        "{added}"
    );
    // The setup's file must be ignored: say so in the repository.
    std::fs::write(checkout.join(".gitignore"), ".setup-done\n").unwrap();
    git(&checkout, &["add", ".gitignore"]);
    git(
        &checkout,
        &["commit", "--quiet", "-m", "ignore the setup's file"],
    );
    world.json(&["repo", "update", "api", "--setup-cmd", "touch .setup-done"]);
    let listed = world.json(&["repo", "list"]);
    assert_eq!(listed[0]["setup_cmd"], "touch .setup-done", "{listed}");
    world.json(&["task", "add", "--repo", "api", "--title", "no suite change"]);
    world.json(&[
        "repo",
        "add",
        "plain",
        "--path",
        plain.to_str().unwrap(),
        "--staging-cmd",
        "true",
    ]);
    world.json(&["task", "add", "--repo", "plain", "--title", "not git"]);
    let output = world.run(&["work", "--until-idle"]);
    assert!(output.status.success(), "{}", describe(&output));
    let shown = world.json(&["task", "show", "1"]);
    assert_eq!(shown["status"], "done", "{shown}");
    // The staging log names the pinned suite and the judge tree.
    let log = std::fs::read_to_string(world.home().join("tasks/1/15-staging-log.md")).unwrap();
    assert!(
        log.contains("- suite: \"pinned (tests/**,staging.sh)"),
        "{log}"
    );
    assert!(
        log.contains("- suite changed by the task: \"none\""),
        "{log}"
    );
    let refused = world.run(&["task", "approve-suite", "1"]);
    assert_eq!(refused.status.code(), Some(4), "{}", describe(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("changed nothing"),
        "{}",
        describe(&refused)
    );
    let refused = world.run(&["task", "approve-suite", "2"]);
    assert_eq!(refused.status.code(), Some(4), "{}", describe(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("not a git task"),
        "{}",
        describe(&refused)
    );
    assert_eq!(code(&world.run(&["task", "approve-suite", "99"])), Some(2));
    // --suite '' unpins: the next log says so.
    let updated = world.json(&["repo", "update", "api", "--suite", ""]);
    assert_eq!(updated["suite"], serde_json::json!([]), "{updated}");
    let help = world.run(&["repo", "add", "--help"]);
    assert!(String::from_utf8_lossy(&help.stdout).contains("approve-suite"));
}

// ---------------------------------------------------------------------------
// The kernel sandbox.

#[test]
fn sandbox_settings_are_checked_and_shown() {
    let world = World::new("sandbox-flags");
    // A bad mode stops every command that runs work, naming the key (exit 2).
    for args in [
        &["work", "--until-idle"][..],
        &["serve"],
        &["demo", "--home", "/nonexistent/never-made"],
    ] {
        let output = world
            .orch(args)
            .env("ORCH_SANDBOX", "strict")
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            describe(&output)
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("ORCH_SANDBOX"), "{stderr}");
        assert!(stderr.contains("required, best-effort or off"), "{stderr}");
    }
    let output = world
        .orch(&["work", "--until-idle"])
        .env("ORCH_SANDBOX_CACHE_DIRS", "relative/cache")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("ORCH_SANDBOX_CACHE_DIRS"));

    // --network and --cache-dir are stored and shown.
    let target = world.dir.path().join("srv-app");
    std::fs::create_dir_all(&target).unwrap();
    let checkout = world.checkout();
    let path = checkout.to_str().unwrap();
    let added = world.json(&[
        "repo",
        "add",
        "calc",
        "--path",
        path,
        "--staging-cmd",
        "true",
        "--network",
        "on",
        "--cache-dir",
        target.to_str().unwrap(),
    ]);
    assert_eq!(added["suite_network"], "on", "{added}");
    assert_eq!(added["cache_dirs"][0], target.to_str().unwrap(), "{added}");
    let listed = world.json(&["repo", "list"]);
    assert_eq!(listed[0]["suite_network"], "on", "{listed}");
    let plain = world.sample_copy("plain");
    let defaults = world.json(&[
        "repo",
        "add",
        "plain",
        "--path",
        plain.to_str().unwrap(),
        "--staging-cmd",
        "true",
    ]);
    assert_eq!(defaults["suite_network"], "off", "the default: {defaults}");
    assert_eq!(defaults["cache_dirs"], serde_json::json!([]), "{defaults}");
    // Refused, exit 3, each with the folder named: relative, missing, orch's
    // home or a folder holding it, and a network that is neither.
    let home = world.home();
    std::fs::create_dir_all(&home).unwrap();
    for (flag, value, said) in [
        ("--cache-dir", "srv-app".to_owned(), "absolute"),
        (
            "--cache-dir",
            world.dir.path().join("missing").display().to_string(),
            "no such folder",
        ),
        ("--cache-dir", home.display().to_string(), "orch's home"),
        (
            "--cache-dir",
            world.dir.path().display().to_string(),
            "orch's home",
        ),
        ("--network", "sometimes".to_owned(), "on or off"),
    ] {
        let output = world.run(&["repo", "update", "calc", flag, &value]);
        assert_eq!(
            output.status.code(),
            Some(3),
            "{flag} {value}: {}",
            describe(&output)
        );
        assert!(
            String::from_utf8_lossy(&output.stderr).contains(said),
            "{flag} {value}: {}",
            describe(&output)
        );
    }
    // An empty --cache-dir clears the list; --network off turns it off.
    let updated = world.json(&[
        "repo",
        "update",
        "calc",
        "--cache-dir",
        "",
        "--network",
        "off",
    ]);
    assert_eq!(updated["cache_dirs"], serde_json::json!([]), "{updated}");
    assert_eq!(updated["suite_network"], "off", "{updated}");
    // /queue says the mode in force and the kernel's ABI.
    let queue = world.json(&["queue"]);
    assert_eq!(queue["sandbox"]["required_abi"], 6, "{queue}");
    assert!(queue["sandbox"]["landlock_abi"].is_u64(), "{queue}");
    let queue = world.run_with(&["queue"], &[("ORCH_SANDBOX", "off")]);
    let queue: Value = serde_json::from_slice(&queue.stdout).unwrap();
    assert_eq!(queue["sandbox"]["mode"], "off", "{queue}");
}

/// A staging suite that tries to write the user's checkout and to connect to
/// `port` on 127.0.0.1, and says how each attempt went, then runs the real
/// suite.
const PROBE: &str = r#"#!/bin/sh
# Hostile on purpose (tests): what a staging suite must not be able to do.
if echo pwned > "$1/pwned" 2>/dev/null; then echo "write: succeeded"; else echo "write: denied"; fi
if perl -MIO::Socket::INET -e 'exit(IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $ARGV[0], Proto => "tcp", Timeout => 5) ? 0 : 1)' "$2"; then
    echo "connect: succeeded"
else
    echo "connect: failed"
fi
sh ./staging.sh
"#;

#[test]
fn a_staging_suite_cannot_write_the_checkout_or_reach_the_network_unless_allowed() {
    // A test of the sandbox that cannot run is a failure, never a skip:
    // this project's machines and CI have Landlock ABI 7.
    if let Err(why) = orch_process::sandbox::check_required() {
        panic!("this test needs a kernel that enforces the sandbox: {why}");
    }
    let world = World::new("sandbox-suite");
    let checkout = world.checkout();
    std::fs::write(checkout.join("probe.sh"), PROBE).unwrap();
    world.git_init();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    world.add_repo(
        "calc",
        &format!("sh ./probe.sh {} {port}", checkout.display()),
    );
    let run_task = |title: &str| -> (i64, String) {
        let id = world.json(&["task", "add", "--repo", "calc", "--title", title])["id"]
            .as_i64()
            .unwrap();
        let output = world.run_with(&["work", "--until-idle"], &[("ORCH_SANDBOX", "required")]);
        assert!(output.status.success(), "{}", describe(&output));
        let log =
            std::fs::read_to_string(world.home().join(format!("tasks/{id}/15-staging-log.md")))
                .unwrap();
        (id, log)
    };

    // Network off (the default): both attempts fail, and say why.
    let (id, log) = run_task("confined");
    assert!(log.contains("staging_status: PASSED"), "{log}");
    assert!(
        log.contains("- sandbox: required: landlock abi ")
            && log.contains("filesystem full, network namespace"),
        "{log}"
    );
    assert!(log.contains("write: denied"), "{log}");
    assert!(log.contains("connect: failed"), "{log}");
    assert!(!checkout.join("pwned").exists(), "the checkout was written");
    assert_eq!(
        listener.accept().map(|_| ()).unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock,
        "a connection arrived from a suite without network"
    );
    let shown = world.task(id);
    assert_eq!(shown["status"], "done", "{shown}");
    let staging = shown["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["from"] == "deploy-staging")
        .unwrap();
    let evidence = staging["gates"][0]["sandbox"].as_str().unwrap_or_default();
    assert!(
        evidence.starts_with("required: landlock abi ") && evidence.contains("network namespace"),
        "the gate's evidence: {shown}"
    );
    for run in shown["runs"].as_array().unwrap() {
        let level = run["sandbox"].as_str().unwrap_or_default();
        assert!(
            level.starts_with("required: "),
            "every run is confined: {run}"
        );
    }

    // --network on: the connection goes through; the checkout stays closed.
    world.json(&["repo", "update", "calc", "--network", "on"]);
    let (_, log) = run_task("networked");
    assert!(log.contains("connect: succeeded"), "{log}");
    assert!(log.contains("network host"), "{log}");
    assert!(log.contains("write: denied"), "{log}");
    assert!(!checkout.join("pwned").exists(), "the checkout was written");
    listener.set_nonblocking(false).unwrap();
    let accepted = std::thread::spawn(move || listener.accept().is_ok());
    assert!(accepted.join().unwrap(), "no connection arrived");
}

/// `orch work` stopped by `signal` while its agent runs: it exits with the
/// shell's code for the signal within a few seconds, ends the run's tree,
/// gives the job back (no rescue, no poison), and a later `work` finishes it.
fn work_stops_on(signal: Signal, expected: i32) {
    let world = World::new(&format!("work-{signal}"));
    let reaper = Reaper(&world.marker);
    world.add_repo("calc", "sh ./staging.sh");
    // The analyst's first run hangs (after reporting spend); its second passes.
    let agent = world.planned_agent("analyst SLEEP COMPLETE\n");
    world.json(&["task", "add", "--repo", "calc", "--title", "stopped"]);
    let mut child = world
        .orch(&["work"])
        .env("ORCH_AGENT_CMD", &agent)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let count = world.agent_state().join("analyst.count");
    wait_for("the analyst running", || {
        std::fs::read_to_string(&count).is_ok_and(|n| n.trim() == "1")
    });
    kill(Pid::from_raw(i32::try_from(child.id()).unwrap()), signal).unwrap();
    let t0 = Instant::now();
    let status = wait_exit(&mut child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(expected), "after {signal}");
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "work took {:?} to stop",
        t0.elapsed()
    );
    let survivors = world.marker.survivors();
    assert!(
        survivors.is_empty(),
        "processes outlived work: {survivors:#?}"
    );
    // Given back: queued at analysis, neither failed nor poisoned.
    let queue = world.json(&["queue"]);
    assert_eq!(queue["counts"]["queued"], 1, "{queue}");
    assert_eq!(queue["counts"]["running"], 0, "{queue}");
    let shown = world.task(1);
    assert_eq!(
        (shown["stage"].as_str(), shown["status"].as_str()),
        (Some("analysis"), Some("active")),
        "{shown}"
    );
    assert!(
        shown["transitions"].as_array().unwrap().is_empty(),
        "{shown}"
    );
    assert!(
        world
            .json(&["alert", "list", "--all"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    // A later worker finishes it from where it stopped.
    let output = world.run_with(
        &["work", "--until-idle"],
        &[("ORCH_AGENT_CMD", agent.as_str())],
    );
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(world.task(1)["status"], "done");
    // Straight from analysis to done: the stop left no transition behind.
    assert_eq!(chain(&world.task(1)).len(), 9);
    let survivors = world.marker.survivors();
    drop(reaper);
    assert!(survivors.is_empty(), "{survivors:#?}");
}

#[test]
fn work_stops_on_sigterm_gives_the_job_back_and_exits_143() {
    work_stops_on(Signal::SIGTERM, 143);
}

#[test]
fn work_stops_on_sigint_gives_the_job_back_and_exits_130() {
    work_stops_on(Signal::SIGINT, 130);
}

/// The running jobs of `queue` as (task, worker).
fn running(queue: &Value) -> Vec<(i64, String)> {
    queue["running"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["task"].as_i64().unwrap(),
                r["worker"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Issue 20, "rescue starves": the rescue of dead boots runs on a timer of
/// its own, not on an idle worker. A `work` process dies (kill -9) holding a
/// job while `serve`'s only worker is busy with a hanging agent; the dead
/// process's job is rescued (queued again) all the same. Leases are long, so
/// only the dead-boot rescue can do it.
#[test]
fn a_dead_processs_job_is_rescued_while_every_worker_is_busy() {
    let world = World::new("rescue-busy");
    let _reaper = Reaper(&world.marker);
    // A git repository: its tasks run side by side, each in its worktree.
    world.git_init();
    world.add_repo("calc", "sh ./staging.sh");
    let agent = world.planned_agent("analyst SLEEP\n");
    world.json(&["task", "add", "--repo", "calc", "--title", "victim"]);
    let mut victim = world.orch(&["work"]);
    victim
        .env("ORCH_AGENT_CMD", &agent)
        .env("ORCH_LEASE_SECS", "600")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut victim = victim.spawn().unwrap();
    wait_for("the victim runs task 1", || {
        running(&world.json(&["queue"]))
            .iter()
            .any(|(t, _)| *t == 1)
    });
    world.json(&["task", "add", "--repo", "calc", "--title", "busy"]);
    let (mut child, _addr) = serve(
        &world,
        &[
            ("ORCH_WORKERS", "1"),
            ("ORCH_AGENT_CMD", &agent),
            ("ORCH_LEASE_SECS", "600"),
        ],
    );
    let serve_boot = format!("boot-{}-", child.id());
    wait_for("serve's only worker runs task 2", || {
        running(&world.json(&["queue"]))
            .iter()
            .any(|(t, w)| *t == 2 && w.contains(&serve_boot))
    });
    victim.kill().unwrap(); // SIGKILL
    victim.wait().unwrap();
    wait_for("the dead process's job is rescued", || {
        let queue = world.json(&["queue"]);
        let now = running(&queue);
        now.len() == 1 && now[0].0 == 2 && queue["counts"]["queued"] == 1
    });
    // serve's worker is still busy with task 2 all along.
    let queue = world.json(&["queue"]);
    assert!(
        running(&queue)
            .iter()
            .any(|(t, w)| *t == 2 && w.contains(&serve_boot)),
        "{queue}"
    );
    kill(
        Pid::from_raw(i32::try_from(child.id()).unwrap()),
        Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(60)).code(),
        Some(143)
    );
}

/// Issue 20, "stopped process": `serve` is stopped (SIGSTOP) past its lease
/// while its agent goes on writing in the task's worktree; a second orch
/// process rescues the job by lease expiry but must not run it in the same
/// worktree while the first lives: it finds the run lock held and gives the
/// job back, spending no retry. SIGCONT: the first process sees its lease
/// lost at its next tick, cancels its run and writes nothing; the second
/// then runs the job. The agents' ledger shows no two runs at once, and the
/// task's history is one unbroken chain.
#[test]
fn a_process_stopped_past_its_lease_never_has_its_job_run_twice_at_once() {
    let world = World::new("sigstop");
    let reaper = Reaper(&world.marker);
    world.git_init();
    world.add_repo("calc", "sh ./staging.sh");
    let state = world.agent_state();
    std::fs::create_dir_all(&state).unwrap();
    // The analyst writes a ledger in the task's worktree, a line every
    // 0.1 s for 10 s; orch commits it with the analysis.
    let ledger = world.home().join("worktrees").join("1").join("ledger.txt");
    let script = state.join("ledger-agent.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n# SCRIPTED STAND-IN FOR AN LLM AGENT (tests): the analyst writes a ledger line every 0.1 s for 10 s.\n\
             if [ \"$ORCH_STAGE\" = analysis ]; then\n\
             \ti=0\n\
             \twhile [ $i -lt 100 ]; do echo \"$$ $i\" >> \"$ORCH_REPO_PATH/ledger.txt\"; i=$((i + 1)); sleep 0.1; done\n\
             fi\n\
             exec sh {AGENT}\n"
        ),
    )
    .unwrap();
    let agent = format!("sh {}", script.display());
    world.json(&["task", "add", "--repo", "calc", "--title", "stopped"]);
    let (mut first, _addr) = serve(
        &world,
        &[
            ("ORCH_WORKERS", "1"),
            ("ORCH_AGENT_CMD", &agent),
            ("ORCH_LEASE_SECS", "3"),
        ],
    );
    wait_for("the first agent writes", || {
        std::fs::read_to_string(&ledger).is_ok_and(|l| !l.is_empty())
    });
    let first_pid = Pid::from_raw(i32::try_from(first.id()).unwrap());
    kill(first_pid, Signal::SIGSTOP).unwrap();
    let mut second = world.orch(&["work"]);
    second
        .env("ORCH_AGENT_CMD", &agent)
        .env("ORCH_LEASE_SECS", "3")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut second = second.spawn().unwrap();
    // The second process rescues the job (its lease expired) and takes it
    // up: it must find the worktree locked by the stopped one's live run
    // (without the lock it would run the job beside the first agent).
    let first_boot = format!("boot-{}-", first.id());
    let locked = |queue: &Value| {
        queue["queued"].as_array().unwrap().iter().any(|j| {
            j["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("in use by a run that still lives"))
        })
    };
    wait_for("the second process takes the job up", || {
        let queue = world.json(&["queue"]);
        locked(&queue)
            || running(&queue)
                .iter()
                .any(|(t, w)| *t == 1 && !w.contains(&first_boot))
    });
    // Time for a second agent, had one started, to write beside the first.
    std::thread::sleep(Duration::from_secs(1));
    let queue = world.json(&["queue"]);
    if locked(&queue) {
        assert_eq!(
            queue["queued"][0]["infra_attempts"], 0,
            "a retry was spent: {queue}"
        );
    }
    kill(first_pid, Signal::SIGCONT).unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let shown = loop {
        let shown = world.task(1);
        if shown["status"] != "active" {
            break shown;
        }
        assert!(
            Instant::now() < deadline,
            "the task never finished: {shown}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    // One writer at a time in the worktree: each agent's lines are one
    // unbroken block (the ledger as the task's branch holds it).
    let lines = git(&world.checkout(), &["show", "orch/task-1:ledger.txt"]);
    let mut blocks: Vec<&str> = Vec::new();
    for line in lines.lines() {
        let pid = line.split(' ').next().unwrap();
        if blocks.last() != Some(&pid) {
            assert!(
                !blocks.contains(&pid),
                "two agents wrote the worktree's ledger at once:\n{lines}"
            );
            blocks.push(pid);
        }
    }
    assert_eq!(shown["status"], "done", "{shown}");
    assert_eq!(chain(&shown).len(), 9, "{shown}");
    assert_eq!(blocks.len(), 2, "{lines}");
    for (child, code) in [(&mut first, 143), (&mut second, 143)] {
        kill(
            Pid::from_raw(i32::try_from(child.id()).unwrap()),
            Signal::SIGTERM,
        )
        .unwrap();
        assert_eq!(wait_exit(child, Duration::from_secs(60)).code(), Some(code));
    }
    let survivors = world.marker.survivors();
    drop(reaper);
    assert!(survivors.is_empty(), "{survivors:#?}");
}

/// `ORCH_WORKTREE_INFRA_RETRIES` is the budget of deferrals when a task's
/// worktree cannot be made: with the default (3) a broken `ORCH_GIT` leaves
/// the task deferred; with 0 it is blocked `worktree_unavailable` at once.
#[test]
fn the_worktree_retry_budget_is_a_setting() {
    let world = World::new("worktree-budget");
    let _reaper = Reaper(&world.marker);
    world.git_init();
    world.add_repo("calc", "sh ./staging.sh");
    world.json(&["task", "add", "--repo", "calc", "--title", "deferred"]);
    world.json(&["task", "add", "--repo", "calc", "--title", "blocked"]);
    let work = |budget: Option<&str>| {
        let mut command = world.orch(&["work", "--until-idle"]);
        command.env("ORCH_GIT", "/nonexistent/git");
        if let Some(budget) = budget {
            command.env("ORCH_WORKTREE_INFRA_RETRIES", budget);
        }
        let output = command.output().unwrap();
        assert!(output.status.success(), "{}", describe(&output));
    };
    work(None);
    for id in [1, 2] {
        let shown = world.task(id);
        assert_eq!(shown["status"], "active", "{shown}");
    }
    world.json(&["task", "cancel", "1"]);
    // Task 2's job is deferred for the backoff: make it due now.
    let db = rusqlite::Connection::open(world.home().join("orch.db")).unwrap();
    db.execute(
        "UPDATE jobs SET run_after_ms = 0 WHERE task_id = 2 AND state = 'queued'",
        [],
    )
    .unwrap();
    drop(db);
    work(Some("0"));
    let shown = world.task(2);
    assert_eq!(shown["status"], "blocked", "{shown}");
    let alerts = world.json(&["alert", "list"]);
    assert!(
        alerts
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "worktree_unavailable" && a["task"] == 2),
        "{alerts}"
    );
}

/// Issue 20, "missing boot file", from the live process's side: a `serve`
/// whose own boot file is deleted makes and locks it again at its next
/// rescue tick, so other processes read it as alive again (meanwhile
/// unknown, never dead) and it goes on rescuing dead boots itself.
#[test]
fn a_deleted_boot_file_of_a_live_serve_is_made_and_locked_again() {
    let world = World::new("boot-file-restored");
    let _reaper = Reaper(&world.marker);
    world.add_repo("calc", "sh ./staging.sh");
    let (mut child, addr) = serve(&world, &[]);
    let boots = world.home().join("orch.db.boots");
    let own = || {
        std::fs::read_dir(&boots)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.to_string_lossy()
                    .contains(&format!("boot-{}-", child.id()))
            })
            .collect::<Vec<_>>()
    };
    let files = own();
    assert_eq!(files.len(), 1, "serve's boot file: {files:?}");
    let file = files[0].clone();
    std::fs::remove_file(&file).unwrap();
    wait_for("the boot file made again", || file.exists());
    // Locked by serve: a lock try from here would block.
    let opened = std::fs::OpenOptions::new().read(true).open(&file).unwrap();
    let tried = nix::fcntl::Flock::lock(opened, nix::fcntl::FlockArg::LockExclusiveNonblock);
    assert!(tried.is_err(), "the boot file is not locked by serve");
    let (status, _, body) = http(&addr, "GET", "/healthz");
    assert_eq!(status, 200, "{body}");
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    wait_exit(&mut child, Duration::from_secs(30));
}

/// Issue 20, "replaced database": `/healthz` answers 503 once the database
/// file at the path is not the one `serve` opened (a backup restored with
/// `mv`), and says so; the workers and the writable database are reported.
#[test]
fn healthz_says_503_when_the_database_file_is_replaced() {
    let world = World::new("healthz-replaced");
    let _reaper = Reaper(&world.marker);
    let (mut child, addr) = serve(&world, &[]);
    let (status, _, body) = http(&addr, "GET", "/healthz");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        "ok\nworkers: 2 of 2 live\npanics: 0\ndatabase writable: yes\ndatabase file: the one opened at start\n"
    );
    let (_, _, metrics) = http(&addr, "GET", "/metrics");
    assert!(metrics.contains("orch_workers_live 2\n"), "{metrics}");
    assert!(
        metrics.contains("orch_worker_panics_total 0\n"),
        "{metrics}"
    );
    assert!(metrics.contains("orch_database_replaced 0\n"), "{metrics}");
    // A backup restored over the path.
    let db = world.home().join("orch.db");
    let backup = world.dir.path().join("backup.db");
    std::fs::copy(&db, &backup).unwrap();
    std::fs::rename(&backup, &db).unwrap();
    let (status, _, body) = http(&addr, "GET", "/healthz");
    assert_eq!(status, 503, "{body}");
    assert!(body.starts_with("unhealthy\n"), "{body}");
    assert!(
        body.contains("database file: FAILED:")
            && body.contains("no longer the file opened at start"),
        "{body}"
    );
    let (_, _, metrics) = http(&addr, "GET", "/metrics");
    assert!(metrics.contains("orch_database_replaced 1\n"), "{metrics}");
    kill(
        Pid::from_raw(i32::try_from(child.id()).unwrap()),
        Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(30)).code(),
        Some(143)
    );
}

/// Issue 20, "busy disk": while another process holds the database
/// write-locked past the busy timeout, `/healthz` answers 503 saying the
/// database cannot be written; once the lock is given back, 200 again.
#[test]
fn healthz_says_503_while_the_database_is_write_locked() {
    let world = World::new("healthz-locked");
    let _reaper = Reaper(&world.marker);
    let (mut child, addr) = serve(&world, &[]);
    assert_eq!(http(&addr, "GET", "/healthz").0, 200);
    let db = rusqlite::Connection::open(world.home().join("orch.db")).unwrap();
    db.execute_batch("BEGIN IMMEDIATE").unwrap();
    let (status, _, body) = http(&addr, "GET", "/healthz");
    assert_eq!(status, 503, "{body}");
    assert!(
        body.starts_with("unhealthy\n") && body.contains("database writable: FAILED: "),
        "{body}"
    );
    db.execute_batch("ROLLBACK").unwrap();
    let (status, _, body) = http(&addr, "GET", "/healthz");
    assert_eq!(status, 200, "{body}");
    kill(
        Pid::from_raw(i32::try_from(child.id()).unwrap()),
        Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(30)).code(),
        Some(143)
    );
}

/// `orch task abandon`: a blocked git task is closed for good. It stays in
/// the history (blocked, abandoned, the operator's transition with the
/// reason), its worktree folder is removed and its branch kept, its alerts
/// are acknowledged, and retry and a second abandon are refused (exit 4);
/// an active task cannot be abandoned.
#[test]
fn abandon_closes_a_blocked_task_removes_its_worktree_and_keeps_its_branch() {
    let world = World::new("abandon");
    let _reaper = Reaper(&world.marker);
    world.git_init();
    world.add_repo("calc", "exit 1");
    let added = world.json(&["task", "add", "--repo", "calc", "--title", "doomed"]);
    assert_eq!(added["isolation"], "worktree", "{added}");
    let output = world.run_with(
        &["work", "--until-idle"],
        &[("ORCH_DEVELOPER_RETRIES", "0")],
    );
    assert!(output.status.success(), "{}", describe(&output));
    let shown = world.task(1);
    assert_eq!(shown["status"], "blocked", "{shown}");
    let branch = shown["worktree"]["branch"].as_str().unwrap().to_owned();
    let folder = PathBuf::from(shown["worktree"]["path"].as_str().unwrap());
    assert!(
        folder.is_dir(),
        "a blocked task keeps its worktree: {shown}"
    );
    assert_eq!(world.json(&["alert", "list"]).as_array().unwrap().len(), 1);
    // An active task is refused, nothing written.
    world.json(&["task", "add", "--repo", "calc", "--title", "busy"]);
    let active = world.run(&["task", "abandon", "2"]);
    assert_eq!(code(&active), Some(4), "{}", describe(&active));
    assert!(
        String::from_utf8_lossy(&active.stderr).contains("orch task cancel"),
        "{}",
        describe(&active)
    );
    // A blank reason is a usage error.
    assert_eq!(
        code(&world.run(&["task", "abandon", "1", "--reason", " "])),
        Some(3)
    );
    let abandoned = world.json(&["task", "abandon", "1", "--reason", "superseded by #2"]);
    assert_eq!(abandoned["worktree"], "removed", "{abandoned}");
    assert_eq!(abandoned["branch"], branch.as_str());
    assert_eq!(
        abandoned["acknowledged_alerts"].as_array().unwrap().len(),
        1
    );
    assert!(!folder.exists(), "the worktree folder is removed");
    assert_eq!(
        git(&world.checkout(), &["branch", "--list", &branch]).trim(),
        branch,
        "the branch is kept"
    );
    assert!(
        world
            .json(&["alert", "list"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    let shown = world.task(1);
    assert_eq!(shown["status"], "blocked");
    assert_eq!(shown["worktree"]["path"], Value::Null, "{shown}");
    let last = shown["transitions"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["actor"], "operator");
    assert_eq!(
        last["reason"],
        "abandoned by the operator: superseded by #2"
    );
    // Closed: no retry, no second abandon; unknown ids exit 2.
    let retry = world.run(&["task", "retry", "1"]);
    assert_eq!(code(&retry), Some(4), "{}", describe(&retry));
    assert!(String::from_utf8_lossy(&retry.stderr).contains("abandoned"));
    assert_eq!(code(&world.run(&["task", "abandon", "1"])), Some(4));
    assert_eq!(code(&world.run(&["task", "abandon", "99"])), Some(2));
}
