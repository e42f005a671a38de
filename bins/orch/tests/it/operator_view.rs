//! The operator's view (issue 21), end to end with the real binary: blank
//! commands refused by `repo add` and `repo update`, `orch repo check`
//! running a repository's commands once in a throwaway worktree without
//! writing the checkout, and the new user's path — the README's quick start
//! (`orch demo`), then `repo add` of a repository with a typo in its staging
//! command, which `repo check` reports before any task is spent on it.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a panic is the failure report"
)]
#![expect(
    clippy::disallowed_methods,
    reason = "end-to-end tests start the real orch binary and git"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use orch_tests::ProcessMarker;
use serde_json::Value;

use crate::harness::{describe, git};

const ORCH: &str = env!("CARGO_BIN_EXE_orch");
const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/sample-repo");
const AGENT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/agents/scripted-agent.sh"
);

/// A home and a git checkout of the sample repository.
struct World {
    dir: tempfile::TempDir,
    marker: ProcessMarker,
}

impl World {
    fn new(test: &str) -> World {
        let dir = tempfile::tempdir().unwrap();
        let world = World {
            dir,
            marker: ProcessMarker::new(test),
        };
        let checkout = world.checkout();
        std::fs::create_dir_all(&checkout).unwrap();
        for entry in std::fs::read_dir(SAMPLE).unwrap().flatten() {
            std::fs::copy(entry.path(), checkout.join(entry.file_name())).unwrap();
        }
        git(&checkout, &["init", "-q", "-b", "main"]);
        git(&checkout, &["add", "-A"]);
        git(
            &checkout,
            &[
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "commit",
                "-qm",
                "sample",
            ],
        );
        world
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn checkout(&self) -> PathBuf {
        self.dir.path().join("checkout")
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
            .env("ORCH_POST_DEPLOY_PROBES", "1")
            .env("ORCH_POST_DEPLOY_WINDOW_SECS", "0")
            .env(
                "ORCH_SANDBOX_AGENT_DIRS",
                self.dir.path().join("agent-state"),
            )
            .env(self.marker.env_key(), self.marker.token())
            .stdin(Stdio::null());
        command
    }

    /// `orch ARGS` on a real terminal (`script` gives it a pty as stdout,
    /// so it prints its human text): the exit code and what it showed.
    fn on_a_terminal(&self, args: &[&str]) -> (Option<i32>, String) {
        let line = std::iter::once(ORCH)
            .chain(args.iter().copied())
            .map(|word| format!("'{word}'"))
            .collect::<Vec<_>>()
            .join(" ");
        let mut command = self.orch(&[]);
        let command = command.env_remove("COLUMNS");
        let output = Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .env_clear()
            .envs(command.get_envs().filter_map(|(k, v)| Some((k, v?))))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).replace("\r\n", "\n"),
        )
    }

    fn run(&self, args: &[&str]) -> Output {
        self.orch(args).output().unwrap()
    }

    fn repo_add(&self, name: &str, staging: &str, extra: &[&str]) -> Output {
        let checkout = self.checkout();
        let mut args = vec![
            "repo",
            "add",
            name,
            "--path",
            checkout.to_str().unwrap(),
            "--staging-cmd",
            staging,
        ];
        args.extend_from_slice(extra);
        self.run(&args)
    }
}

fn json_of(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}): {}", describe(output)))
}

/// Every file of the checkout with its bytes, `.git` left out.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.file_name() == ".git" {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            files.extend(snapshot(&entry.path()));
        } else {
            files.push((entry.path(), std::fs::read(entry.path()).unwrap()));
        }
    }
    files.sort();
    files
}

#[test]
fn repo_add_and_update_refuse_blank_commands() {
    let world = World::new("blank-commands");
    for blank in ["", "   ", "\t"] {
        let output = world.repo_add("api", blank, &[]);
        assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--staging-cmd is blank"), "{stderr}");
    }
    for flag in ["--test-cmd", "--setup-cmd", "--deploy-cmd", "--health-cmd"] {
        let output = world.repo_add("api", "sh ./staging.sh", &[flag, "  "]);
        assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(&format!("{flag} is blank")), "{stderr}");
    }
    // Nothing was stored.
    let listed = world.run(&["repo", "list"]);
    assert_eq!(
        json_of(&listed),
        serde_json::json!([]),
        "{}",
        describe(&listed)
    );
    // Added for real, then an update to a blank staging command is refused.
    let added = world.repo_add("api", "sh ./staging.sh", &[]);
    assert!(added.status.success(), "{}", describe(&added));
    let output = world.run(&["repo", "update", "api", "--staging-cmd", " "]);
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    let listed = json_of(&world.run(&["repo", "list"]));
    assert_eq!(listed[0]["staging_cmd"], "sh ./staging.sh", "{listed}");
}

#[test]
fn repo_check_runs_each_command_once_and_never_writes_the_checkout() {
    let world = World::new("repo-check");
    // Every command writes into its tree: none of it may reach the checkout.
    let added = world.repo_add(
        "api",
        "echo staged > staged.txt && sh ./staging.sh",
        &[
            "--setup-cmd",
            "echo set > setup.txt",
            "--test-cmd",
            "echo tested > tested.txt && sh ./test.sh",
        ],
    );
    assert!(added.status.success(), "{}", describe(&added));
    let before = snapshot(&world.checkout());
    let output = world.run(&["repo", "check", "api", "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let report = json_of(&output);
    assert_eq!(report["passed"], true, "{report}");
    assert_eq!(report["tree"], "worktree", "{report}");
    let head = git(&world.checkout(), &["rev-parse", "HEAD"]);
    assert_eq!(report["commit"], head.trim(), "{report}");
    let commands = report["commands"].as_array().unwrap();
    let names: Vec<&str> = commands
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["setup", "test", "staging"], "{report}");
    for command in commands {
        assert_eq!(command["outcome"], "passed", "{report}");
        assert_eq!(command["exit_code"], 0, "{report}");
        assert!(command["duration_ms"].is_u64(), "{report}");
    }
    assert_eq!(
        commands[2]["timeout_key"],
        "ORCH_STAGING_RUNNER_TIMEOUT_SECS"
    );
    // The checkout is as it was; the throwaway worktree is gone.
    assert_eq!(snapshot(&world.checkout()), before);
    assert_eq!(git(&world.checkout(), &["status", "--porcelain"]), "");
    let worktrees = git(&world.checkout(), &["worktree", "list", "--porcelain"]);
    assert_eq!(
        worktrees.matches("worktree ").count(),
        1,
        "only the checkout: {worktrees}"
    );
    let checks = world.home().join("checks");
    let left: Vec<_> = std::fs::read_dir(&checks)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");

    // A failing test command: exit 1, the failure and its output said.
    let updated = world.run(&["repo", "update", "api", "--test-cmd", "echo boom; exit 3"]);
    assert!(updated.status.success(), "{}", describe(&updated));
    let (code, text) = world.on_a_terminal(&["repo", "check", "api"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("test    failed "), "{text}");
    assert!(text.contains("exit 3"), "{text}");
    assert!(text.contains("| boom"), "{text}");
    assert!(text.contains("staging passed "), "{text}");

    // An unknown repository is said, exit 2.
    let output = world.run(&["repo", "check", "nope"]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("no repository \"nope\""),
        "{}",
        describe(&output)
    );
}

/// The new user's path: the README's quick start (the demo, in a home of
/// its own), then their own repository with a typo in its staging command:
/// `repo check` reports it (127, the command named, the fix) before any
/// task is spent on it.
#[test]
fn the_new_users_path_demo_then_repo_check_finds_a_typo() {
    let world = World::new("new-user");
    let demo = world.run(&["demo", "--home", world.home().to_str().unwrap()]);
    assert_eq!(demo.status.code(), Some(0), "{}", describe(&demo));
    let added = world.repo_add("mine", "carg test", &["--test-cmd", "sh ./test.sh"]);
    assert!(added.status.success(), "{}", describe(&added));
    let output = world.run(&["repo", "check", "mine", "--json"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let report = json_of(&output);
    assert_eq!(report["passed"], false, "{report}");
    let staging = &report["commands"][1];
    assert_eq!(staging["name"], "staging", "{report}");
    assert_eq!(staging["command"], "carg test", "{report}");
    assert_eq!(staging["outcome"], "cannot_run", "{report}");
    assert_eq!(staging["exit_code"], 127, "{report}");
    let detail = staging["detail"].as_str().unwrap();
    assert!(
        detail.contains("orch repo update mine --staging-cmd"),
        "{detail}"
    );
    assert_eq!(report["commands"][0]["outcome"], "passed", "{report}");
    // The human report says it too.
    let (_, text) = world.on_a_terminal(&["repo", "check", "mine"]);
    assert!(text.contains("staging cannot_run exit 127 "), "{text}");
    assert!(text.contains("carg test"), "{text}");
}

/// `orch serve` on a free port with two workers; its stdout lines come on
/// the channel. Returns the child, the address and the lines.
fn serve(world: &World) -> (Child, String, mpsc::Receiver<String>) {
    let mut command = world.orch(&["serve"]);
    command
        .env("ORCH_HTTP_ADDR", "127.0.0.1:0")
        .env("ORCH_WORKERS", "2")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut reader = BufReader::new(child.stderr.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(60);
    let addr = loop {
        assert!(
            Instant::now() < deadline,
            "serve never said where it listens"
        );
        let mut line = String::new();
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
    let (send, lines) = mpsc::channel();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    (child, addr, lines)
}

/// `GET path`: the body.
fn get(addr: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned()
}

/// A UTC time to the millisecond, as the serve log's lines begin:
/// `2026-12-06T22:30:00.123Z`.
fn starts_with_utc(line: &str) -> bool {
    let bytes = line.as_bytes();
    bytes.len() > 25
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes[10] == b'T'
        && bytes[13] == b':'
        && bytes[16] == b':'
        && bytes[23] == b'Z'
        && bytes[24] == b' '
        && line[..4].bytes().all(|b| b.is_ascii_digit())
}

/// The serve log says each job's start and end with the UTC time, the
/// task's title, stage, role, duration and cost; `/queue` counts tasks by
/// status and shows each worker's last heartbeat.
#[test]
fn serve_logs_each_job_and_queue_shows_tasks_and_worker_heartbeats() {
    let world = World::new("serve-log");
    let added = world.repo_add("calc", "sh ./staging.sh", &["--test-cmd", "sh ./test.sh"]);
    assert!(added.status.success(), "{}", describe(&added));
    let task = world.run(&[
        "task",
        "add",
        "--repo",
        "calc",
        "--title",
        "add rate limits",
    ]);
    assert!(task.status.success(), "{}", describe(&task));
    let (mut child, addr, lines) = serve(&world);
    let deadline = Instant::now() + Duration::from_secs(240);
    let queue = loop {
        let body = get(&addr, "/queue");
        let queue: Value = serde_json::from_str(&body).unwrap();
        if queue["tasks"]["done"] == 1 {
            break queue;
        }
        assert!(
            Instant::now() < deadline,
            "the task never finished: {queue}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(queue["tasks"]["active"], 0, "{queue}");
    assert_eq!(queue["tasks"]["blocked"], 0, "{queue}");
    let workers = queue["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 2, "{queue}");
    for worker in workers {
        assert_eq!(worker["alive"], true, "{queue}");
        assert!(
            worker["last_heartbeat"].as_str().unwrap().ends_with('Z'),
            "{queue}"
        );
        assert!(worker["seconds_ago"].as_f64().unwrap() < 60.0, "{queue}");
    }
    kill(
        Pid::from_raw(i32::try_from(child.id()).unwrap()),
        Signal::SIGTERM,
    )
    .unwrap();
    let _ = child.wait();
    let said: Vec<String> = lines.try_iter().collect();
    let starts: Vec<&String> = said.iter().filter(|l| l.contains(" start · ")).collect();
    let ends: Vec<&String> = said.iter().filter(|l| l.contains(" end · ")).collect();
    assert_eq!(starts.len(), 8, "{said:#?}");
    assert_eq!(ends.len(), 8, "{said:#?}");
    for line in starts.iter().chain(&ends) {
        assert!(starts_with_utc(line), "{line}");
        assert!(line.contains("task 1 \"add rate limits\""), "{line}");
    }
    assert!(
        starts
            .iter()
            .any(|l| l.contains(" · analysis · analyst · job 1 attempt 1 · worker-")),
        "{said:#?}"
    );
    // The LLM's runs say their cost; the suite runners' say they have none.
    assert!(
        ends.iter()
            .any(|l| l.contains("analysis → architecture · analyst") && l.contains(" s · $0.")),
        "{said:#?}"
    );
    assert!(
        ends.iter()
            .any(|l| l.contains("deploy-staging → deploy · staging-runner")
                && l.contains(" s · no cost · ")),
        "{said:#?}"
    );
}

/// `tmux -L SOCKET ARGS`, on the test's own server.
fn tmux(socket: &str, args: &[&str]) -> Output {
    Command::new("tmux")
        .arg("-L")
        .arg(socket)
        .args(args)
        .output()
        .unwrap()
}

/// Ends the test's tmux server however the test ends.
struct TmuxServer(String);

impl Drop for TmuxServer {
    fn drop(&mut self) {
        let _ = tmux(&self.0, &["kill-server"]);
    }
}

/// `orch task log --follow` in a real terminal (a tmux pane), started while
/// the task's first job is still queued: it follows the task from stage to
/// stage — each job under its header, the shadow runner's output beside the
/// tester's — and ends, exit 0, when the task is done.
#[test]
fn task_log_follow_in_a_terminal_follows_the_task_across_stages_until_done() {
    let world = World::new("follow-tmux");
    let added = world.repo_add("calc", "sh ./staging.sh", &["--test-cmd", "sh ./test.sh"]);
    assert!(added.status.success(), "{}", describe(&added));
    let task = world.run(&["task", "add", "--repo", "calc", "--title", "follow me"]);
    assert!(task.status.success(), "{}", describe(&task));
    let socket = format!("orch-test-{}", std::process::id());
    let _server = TmuxServer(socket.clone());
    let env = format!(
        "env -i PATH='{}' HOME='{}' ORCH_HOME='{}'",
        std::env::var("PATH").unwrap_or_default(),
        world.dir.path().display(),
        world.home().display()
    );
    let command = format!("{env} {ORCH} task log 1 --follow; echo FOLLOW-ENDED $?; sleep 600");
    let started = tmux(
        &socket,
        &[
            "new-session",
            "-d",
            "-s",
            "follow",
            "-x",
            "250",
            "-y",
            "50",
            &command,
        ],
    );
    assert!(started.status.success(), "{}", describe(&started));
    let _ = tmux(&socket, &["set-option", "-g", "history-limit", "100000"]);
    let work = world.run(&["work", "--until-idle"]);
    assert!(work.status.success(), "{}", describe(&work));
    let deadline = Instant::now() + Duration::from_secs(60);
    let screen = loop {
        let captured = tmux(
            &socket,
            &["capture-pane", "-p", "-J", "-S", "-", "-t", "follow"],
        );
        let text = String::from_utf8_lossy(&captured.stdout).into_owned();
        if text.contains("FOLLOW-ENDED") {
            break text;
        }
        assert!(Instant::now() < deadline, "the follow never ended:\n{text}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(screen.contains("FOLLOW-ENDED 0"), "{screen}");
    let headers: Vec<&str> = screen.lines().filter(|l| l.starts_with("==> ")).collect();
    assert_eq!(
        headers,
        [
            "==> analysis · analyst · job 1 <==",
            "==> architecture · architect · job 2 <==",
            "==> development · developer · job 3 <==",
            "==> review · reviewer · job 4 <==",
            "==> testing · tester · job 5 <==",
            "==> testing · shadow runner · job 5 <==",
            "==> deploy-staging · deployer · job 6 <==",
            "==> deploy · deploy-finalizer · job 7 <==",
            "==> post-deploy · post-deploy-monitor · job 8 <==",
            "==> task 1 is done <==",
        ],
        "{screen}"
    );
    // The runners' output is there: the shadow test run and the staging
    // suite, then the post-deploy stage's artifact (it prints nothing).
    assert!(screen.contains("all tests passed"), "{screen}");
    assert!(screen.contains("test_status: PASSED"), "{screen}");
    assert!(screen.contains("all checks passed"), "{screen}");
    assert!(screen.contains("post_deploy_status: HEALTHY"), "{screen}");

    // `task log` on the done task shows its last stage's output, and a
    // finished stage's when named.
    let log = world.run(&["task", "log", "1"]);
    assert!(log.status.success(), "{}", describe(&log));
    assert!(
        !String::from_utf8_lossy(&log.stderr).contains("no output"),
        "{}",
        describe(&log)
    );
    assert!(!log.stdout.is_empty(), "{}", describe(&log));
    let staged = world.run(&["task", "log", "1", "--stage", "deploy-staging"]);
    assert!(
        String::from_utf8_lossy(&staged.stdout).contains("passed"),
        "{}",
        describe(&staged)
    );
}

/// `orch work --until-idle` with the test runner's deferrals due at once and
/// one infra retry.
fn work_until_idle(world: &World) -> Output {
    world
        .orch(&["work", "--until-idle"])
        .env("ORCH_TEST_RUNNER_DEFER_SECS", "0")
        .env("ORCH_TEST_RUNNER_INFRA_RETRIES", "1")
        .output()
        .unwrap()
}

/// Issue 21, findings #4 and #7 of the tester's report: a typo in the test
/// command (the shell exits 127). In the default shadow mode the run is a
/// tool error in `/queue`'s counters (the buckets add up to the runs), the
/// agreement is unknown (null, not 0.0), and `orch queue`'s line says the
/// same as the JSON. With the runner `on` for the repository, the task
/// blocks at testing after its infra retries with an alert naming
/// `orch repo update NAME --test-cmd`, never sent back to the developer;
/// `orch queue`'s header names the repository's own mode.
#[test]
fn a_typo_in_the_test_command_is_counted_in_shadow_and_blocks_when_on() {
    let world = World::new("test-cmd-typo");
    let added = world.repo_add(
        "calc",
        "sh ./staging.sh",
        &["--test-cmd", "pyhton3 -m pytest -q"],
    );
    assert!(added.status.success(), "{}", describe(&added));
    let task = world.run(&["task", "add", "--repo", "calc", "--title", "in shadow"]);
    assert!(task.status.success(), "{}", describe(&task));
    let work = work_until_idle(&world);
    assert!(work.status.success(), "{}", describe(&work));
    let queue = json_of(&world.run(&["queue", "--json"]));
    let runner = &queue["test_runner"];
    assert_eq!(runner["mode"], "shadow", "{runner}");
    assert_eq!(runner["runs"], 1, "{runner}");
    assert_eq!(runner["tool_errors"], 1, "{runner}");
    let buckets: u64 = [
        "passed",
        "failed",
        "timed_out",
        "tool_errors",
        "fallbacks_to_llm",
        "cancelled",
        "other",
    ]
    .iter()
    .map(|key| runner[*key].as_u64().unwrap())
    .sum();
    assert_eq!(Some(buckets), runner["runs"].as_u64(), "{runner}");
    assert_eq!(runner["last_run"]["status"], "tool_error", "{runner}");
    assert_eq!(runner["shadow"]["runner_no_verdict"], 1, "{runner}");
    assert!(
        runner["shadow"]["agreement"].is_null(),
        "nothing compared: {runner}"
    );
    assert!(
        queue["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "shadow_runner_unavailable"),
        "{queue}"
    );
    let (_, text) = world.on_a_terminal(&["queue"]);
    assert!(
        text.contains(
            "test-runner (mode shadow): on · 1 run: 0 passed, 0 failed, 0 timed out, 1 tool errors"
        ),
        "{text}"
    );

    // The runner on for this repository: blocked, not rolled back.
    let on = world.run(&["repo", "update", "calc", "--test-runner", "on"]);
    assert!(on.status.success(), "{}", describe(&on));
    let task = world.run(&["task", "add", "--repo", "calc", "--title", "runner on"]);
    assert!(task.status.success(), "{}", describe(&task));
    let work = work_until_idle(&world);
    assert!(work.status.success(), "{}", describe(&work));
    let shown = json_of(&world.run(&["task", "show", "2", "--json"]));
    assert_eq!(shown["status"], "blocked", "{shown}");
    assert_eq!(shown["blocked"]["stage"], "testing", "{shown}");
    assert_eq!(shown["developer_retries"], 0, "{shown}");
    let back_to_development = shown["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["to"] == "development" && t["from"] == "testing");
    assert!(!back_to_development, "never rolled back: {shown}");
    let queue = json_of(&world.run(&["queue", "--json"]));
    let exhausted: Vec<&Value> = queue["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "test_runner_exhausted" && a["task"] == 2)
        .collect();
    assert_eq!(exhausted.len(), 1, "{queue}");
    let message = exhausted[0]["message"].as_str().unwrap();
    assert!(
        message.contains("orch repo update calc --test-cmd"),
        "{message}"
    );
    assert!(message.contains("orch task retry 2"), "{message}");
    assert_eq!(
        queue["test_runner"]["repo_modes"],
        serde_json::json!([{"repo": "calc", "mode": "on"}]),
        "{queue}"
    );
    let (_, text) = world.on_a_terminal(&["queue"]);
    assert!(
        text.contains("test-runner (mode shadow; repos: calc on): on · "),
        "{text}"
    );
}
