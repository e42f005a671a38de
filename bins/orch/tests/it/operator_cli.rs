//! The operator's command line (issue 21), end to end with the real binary:
//! the human views on a real terminal (a pty made by `script`) against JSON
//! in a pipe or with `--json`; `--home` over `ORCH_HOME` over `.env`; the
//! exit codes of bad input; `serve --addr --workers`, its 130 and 143 on
//! real signals and a second Ctrl-C that cuts the grace short; `inventory
//! check` outside orch's tree; and `staging run` streaming its output while
//! the suite runs.
//!
//! Why `script` for the terminal: the choice between text and JSON is made
//! on `isatty(stdout)`, and only a real pty proves that path; util-linux's
//! `script` makes one without a new crate, and a flag forcing the human view
//! would test the flag, not the detection.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a panic is the failure report"
)]
#![expect(
    clippy::disallowed_methods,
    reason = "end-to-end tests start the real orch binary (and script)"
)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use orch_tests::{ProcessMarker, Reaper};
use serde_json::Value;

use crate::harness::describe;

const ORCH: &str = env!("CARGO_BIN_EXE_orch");
const AGENT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/agents/scripted-agent.sh"
);
const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/sample-repo");

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

    /// `orch ARGS` with a clean environment, in the world's folder, with
    /// ORCH_HOME set to its home.
    fn orch(&self, args: &[&str]) -> Command {
        let mut command = Command::new(ORCH);
        command
            .args(args)
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("ORCH_HOME", self.home())
            .env("ORCH_AGENT_CMD", format!("sh {AGENT}"))
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

    fn add_repo(&self) {
        let checkout = self.dir.path().join("checkout");
        self.json(&[
            "repo",
            "add",
            "calc",
            "--path",
            checkout.to_str().unwrap(),
            "--staging-cmd",
            "sh ./staging.sh",
        ]);
    }

    /// `orch ARGS` on a real terminal: `script` gives it a pty as stdout;
    /// returns what the terminal showed.
    fn on_a_terminal(&self, args: &[&str]) -> String {
        let line = std::iter::once(ORCH)
            .chain(args.iter().copied())
            .map(|word| format!("'{word}'"))
            .collect::<Vec<_>>()
            .join(" ");
        let output = Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("ORCH_HOME", self.home())
            .env(self.marker.env_key(), self.marker.token())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "script {line}: {}",
            describe(&output)
        );
        String::from_utf8_lossy(&output.stdout).replace("\r\n", "\n")
    }
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

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        assert!(Instant::now() < deadline, "{what} never happened");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn pid(child: &Child) -> Pid {
    Pid::from_raw(i32::try_from(child.id()).unwrap())
}

/// Reads `reader` line by line until a line contains `wanted`; returns
/// everything read. Panics when the stream ends first.
fn read_until(reader: &mut impl BufRead, wanted: &str) -> String {
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "the stream ended before {wanted:?}: {seen}"
        );
        seen.push_str(&line);
        if line.contains(wanted) {
            return seen;
        }
    }
}

#[test]
fn on_a_terminal_the_views_are_tables_and_in_a_pipe_json() {
    let world = World::new("human-views");
    world.add_repo();
    world.json(&["task", "add", "--repo", "calc", "--title", "ship it"]);

    let listed = world.on_a_terminal(&["task", "list"]);
    assert!(listed.starts_with("ID  WHERE"), "{listed}");
    assert!(
        listed.contains("1 task: 1 active, 0 blocked, 0 done"),
        "{listed}"
    );
    assert!(!listed.contains('{'), "{listed}");
    let shown = world.on_a_terminal(&["task", "show", "1"]);
    assert!(shown.starts_with("task 1 · ship it\n"), "{shown}");
    assert!(shown.contains("status   active at analysis"), "{shown}");
    let repos = world.on_a_terminal(&["repo", "list"]);
    assert!(repos.starts_with("NAME"), "{repos}");
    assert!(repos.contains("1 repository"), "{repos}");
    assert_eq!(world.on_a_terminal(&["alert", "list"]), "no open alerts\n");
    let queue = world.on_a_terminal(&["queue"]);
    assert!(queue.starts_with("queue at "), "{queue}");
    assert!(queue.contains("0 running, 1 queued"), "{queue}");

    // --json on a terminal, and any pipe, give the JSON documents.
    let forced = world.on_a_terminal(&["--json", "task", "list"]);
    let rows: Value = serde_json::from_str(forced.trim()).unwrap();
    assert_eq!(rows[0]["title"], "ship it");
    let piped = world.json(&["task", "list"]);
    assert_eq!(piped, rows);
    assert!(piped[0]["blocked"].is_null(), "{piped}");
    assert!(piped[0]["created"].is_string(), "{piped}");
    for args in [
        &["task", "show", "1"][..],
        &["repo", "list"],
        &["alert", "list"],
        &["queue"],
    ] {
        world.json(args);
    }
}

#[test]
fn home_flag_beats_orch_home_which_beats_dot_env() {
    let world = World::new("home-and-env");
    let from_file = world.dir.path().join("from-dot-env");
    let from_env = world.dir.path().join("from-env");
    let from_flag = world.dir.path().join("from-flag");
    std::fs::write(
        world.dir.path().join(".env"),
        format!(
            "# as .env.example says\nORCH_HOME={}\nORCH_WORKERS=3\n",
            from_file.display()
        ),
    )
    .unwrap();
    let ran = |command: &mut Command| {
        let output = command.output().unwrap();
        assert!(output.status.success(), "{}", describe(&output));
    };
    // .env alone.
    ran(world.orch(&["task", "list"]).env_remove("ORCH_HOME"));
    assert!(from_file.join("orch.db").is_file());
    // The real environment wins over .env.
    ran(world.orch(&["task", "list"]).env("ORCH_HOME", &from_env));
    assert!(from_env.join("orch.db").is_file());
    // --home wins over both.
    ran(world
        .orch(&["--home", from_flag.to_str().unwrap(), "task", "list"])
        .env("ORCH_HOME", &from_env));
    ran(&mut world.orch(&["task", "list", "--home", from_flag.to_str().unwrap()]));
    assert!(from_flag.join("orch.db").is_file());

    // A .env that cannot be parsed stops the command (exit 2), naming it.
    std::fs::write(world.dir.path().join(".env"), "ORCH_HOME='unclosed\n").unwrap();
    let output = world.run(&["task", "list"]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains(".env"),
        "{}",
        describe(&output)
    );
}

#[test]
fn bad_input_gets_the_documented_exit_codes() {
    let world = World::new("exit-codes");
    world.add_repo();
    // 2: an unknown repository, task or alert (a tool error, as the table
    // says), one line on stderr.
    for args in [
        &["task", "add", "--repo", "nope", "--title", "x"][..],
        &["task", "list", "--repo", "nope"],
        &["task", "show", "99"],
        &["alert", "ack", "99"],
    ] {
        let output = world.run(args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            describe(&output)
        );
        let said = String::from_utf8_lossy(&output.stderr);
        assert_eq!(said.lines().count(), 1, "{said}");
        assert!(output.stdout.is_empty(), "{}", describe(&output));
    }
    // 3: bad arguments, clap's or ours.
    for args in [
        &["task", "add", "--repo", "calc", "--title", " "][..],
        &["task", "list", "--status", "nope"],
        &["serve", "--workers", "0"],
        &["serve", "--addr", "nowhere"],
        &["nope"],
    ] {
        let output = world.run(args);
        assert_eq!(
            output.status.code(),
            Some(3),
            "{args:?}: {}",
            describe(&output)
        );
    }
    // 4: refused by the state (a retry of a task still queued).
    world.json(&["task", "add", "--repo", "calc", "--title", "x"]);
    let output = world.run(&["task", "retry", "1"]);
    assert_eq!(output.status.code(), Some(4), "{}", describe(&output));
    // 1: the work ran and failed (a gate that reads FAILED).
    let log = world.dir.path().join("15-staging-log.md");
    std::fs::write(&log, "staging_status: FAILED\n").unwrap();
    let output = world.run(&[
        "gate",
        "check",
        "--stage",
        "deploy-staging",
        log.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    // 0: help.
    assert_eq!(world.run(&["--help"]).status.code(), Some(0));
}

#[test]
fn inventory_check_outside_orchs_tree_says_so_in_one_line_and_exits_2() {
    let world = World::new("inventory-outside");
    let output = world.run(&["inventory", "check"]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let said = String::from_utf8_lossy(&output.stderr);
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(said.contains("is not orch's source tree"), "{said}");
    assert!(output.stdout.is_empty(), "{}", describe(&output));
}

/// `serve --addr HOST:0 --workers N` (the flags over the environment);
/// returns the child and its stderr, read up to the line that says where it
/// listens.
fn serve(
    world: &World,
    workers: &str,
    env: &[(&str, &str)],
) -> (Child, BufReader<std::process::ChildStderr>, String) {
    let mut command = world.orch(&["serve", "--addr", "127.0.0.1:0", "--workers", workers]);
    command
        // Addresses this machine cannot bind, and too many workers: the
        // flags must win.
        .env("ORCH_HTTP_ADDR", "192.0.2.1:7878")
        .env("ORCH_WORKERS", "9")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let said = read_until(&mut stderr, "HTTP on http://");
    (child, stderr, said)
}

#[test]
fn serve_takes_addr_and_workers_and_exits_130_or_143_on_a_signal() {
    let world = World::new("serve-signals");
    for (signal, code) in [(Signal::SIGINT, 130), (Signal::SIGTERM, 143)] {
        let (mut child, mut stderr, said) = serve(&world, "1", &[]);
        assert!(
            said.contains("orch serve: 1 worker, HTTP on http://127.0.0.1:")
                && said.contains("(the dashboard at /;"),
            "{said}"
        );
        kill(pid(&child), signal).unwrap();
        let mut rest = String::new();
        stderr.read_to_string(&mut rest).unwrap();
        assert_eq!(
            wait_exit(&mut child, Duration::from_secs(60)).code(),
            Some(code),
            "{signal}: {rest}"
        );
        assert!(rest.contains("orch serve: stopped"), "{rest}");
    }
}

#[test]
fn a_second_ctrl_c_stops_the_running_jobs_at_once() {
    let world = World::new("serve-second-signal");
    let _reaper = Reaper(&world.marker);
    world.add_repo();
    let agent = world.dir.path().join("slow-agent.sh");
    std::fs::write(&agent, "echo working\nexec sleep 600\n").unwrap();
    world.json(&["task", "add", "--repo", "calc", "--title", "slow"]);
    let agent_cmd = format!("sh {}", agent.display());
    let (mut child, mut stderr, _) = serve(&world, "1", &[("ORCH_AGENT_CMD", &agent_cmd)]);
    wait_for("the agent runs", || {
        world.json(&["queue"])["counts"]["running"] == 1
    });
    kill(pid(&child), Signal::SIGINT).unwrap();
    read_until(&mut stderr, "Ctrl-C again to stop them now");
    // The first Ctrl-C left the job its grace: it still runs.
    assert_eq!(world.json(&["queue"])["counts"]["running"], 1);
    kill(pid(&child), Signal::SIGINT).unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(
        rest.contains("second signal: stopping the running jobs now"),
        "{rest}"
    );
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(60)).code(),
        Some(130),
        "{rest}"
    );
    // The job was given back to the queue, and the agent's tree is gone.
    let queue = world.json(&["queue"]);
    assert_eq!(queue["counts"]["running"], 0, "{queue}");
    assert_eq!(queue["counts"]["queued"], 1, "{queue}");
    let survivors = world.marker.survivors();
    assert!(survivors.is_empty(), "{survivors:#?}");
}

#[test]
fn staging_run_streams_the_suites_output_while_it_runs_unless_quiet() {
    let world = World::new("staging-stream");
    let go = world.dir.path().join("go");
    let cmd = format!(
        "echo first-line; while [ ! -e {} ]; do sleep 0.05; done; echo last-line",
        go.display()
    );
    let log = world.dir.path().join("log.md");
    let mut child = world
        .orch(&[
            "staging",
            "run",
            "--repo",
            ".",
            "--cmd",
            &cmd,
            "--timeout",
            "120",
            "--log",
            log.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    read_until(&mut stderr, "first-line");
    // The suite waits for `go`: what was read came while it ran.
    assert!(
        child.try_wait().unwrap().is_none(),
        "the suite ended before its first line was shown"
    );
    std::fs::write(&go, "").unwrap();
    read_until(&mut stderr, "last-line");
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(120)).code(),
        Some(0)
    );
    let summary: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(summary["status"], "PASSED", "{stdout}");

    // --quiet: nothing on stderr, the summary alone on stdout.
    let output = world.run(&[
        "staging",
        "run",
        "--quiet",
        "--repo",
        ".",
        "--cmd",
        "echo hidden-line",
        "--log",
        log.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains("hidden-line"),
        "{}",
        describe(&output)
    );
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["status"], "PASSED");
    assert!(Path::new(summary["sidecar"].as_str().unwrap()).is_file());
}

// ----- issue 21, the new user's findings (branch i21-polish) -----

/// A task blocked at its first stage: added, then its queued job cancelled.
fn blocked_task(world: &World) {
    world.add_repo();
    world.json(&["task", "add", "--repo", "calc", "--title", "ship it"]);
    let cancelled = world.json(&["task", "cancel", "1"]);
    assert_eq!(cancelled["status"], "blocked", "{cancelled}");
}

#[test]
fn i21_nothing_past_staging_is_retried_without_a_staging_pass() {
    let world = World::new("i21-retry");
    world.add_repo();
    world.json(&["task", "add", "--repo", "calc", "--title", "ship it"]);
    // Still queued: the refusal names the real task, not "ID".
    let active = world.run(&["task", "retry", "1"]);
    assert_eq!(active.status.code(), Some(4), "{}", describe(&active));
    assert!(
        String::from_utf8_lossy(&active.stderr).contains("`orch task cancel 1`"),
        "{}",
        describe(&active)
    );
    world.json(&["task", "cancel", "1"]);
    // Blocked at analysis, never staged: neither deploy nor post-deploy.
    for stage in ["deploy", "post-deploy"] {
        let refused = world.run(&["task", "retry", "1", "--stage", stage]);
        assert_eq!(refused.status.code(), Some(4), "{}", describe(&refused));
        let err = String::from_utf8_lossy(&refused.stderr);
        assert!(
            err.contains(&format!("cannot be retried into {stage}"))
                && err.contains("staging never judged it"),
            "{err}"
        );
    }
    // The task was left as it was.
    let shown = world.json(&["task", "show", "1"]);
    assert_eq!(shown["status"], "blocked", "{shown}");
    // --stage names only the working stages.
    for bad in ["done", "bogus"] {
        let refused = world.run(&["task", "retry", "1", "--stage", bad]);
        assert_eq!(refused.status.code(), Some(3), "{}", describe(&refused));
        let err = String::from_utf8_lossy(&refused.stderr);
        assert!(
            err.contains("deploy-staging, deploy, post-deploy")
                && !err.contains("done,")
                && !err.contains("blocked"),
            "{err}"
        );
    }
}

#[test]
fn i21_an_abandoned_task_says_so_everywhere() {
    let world = World::new("i21-abandoned");
    blocked_task(&world);
    world.json(&["task", "abandon", "1", "--reason", "superseded"]);

    let shown = world.json(&["task", "show", "1"]);
    assert_eq!(shown["blocked"]["stage"], "analysis", "{shown}");
    assert!(shown["blocked"]["unblock"].is_null(), "{shown}");
    let human = world.on_a_terminal(&["task", "show", "1"]);
    assert!(
        human.contains("abandoned (was blocked at analysis)"),
        "{human}"
    );
    assert!(!human.contains("unblock"), "{human}");
    let listed = world.on_a_terminal(&["task", "list"]);
    assert!(
        listed.contains("abandoned (was blocked at analysis)") && !listed.contains("unblock"),
        "{listed}"
    );

    // Not stuck: out of --status blocked, in --status abandoned.
    let blocked = world.json(&["task", "list", "--status", "blocked"]);
    assert_eq!(blocked.as_array().unwrap().len(), 0, "{blocked}");
    let none = world.on_a_terminal(&["task", "list", "--status", "blocked"]);
    assert_eq!(none, "no blocked tasks\n");
    let abandoned = world.json(&["task", "list", "--status", "abandoned"]);
    assert_eq!(abandoned.as_array().unwrap().len(), 1, "{abandoned}");

    // Finished: the repository can go.
    let removed = world.run(&["repo", "remove", "calc"]);
    assert!(removed.status.success(), "{}", describe(&removed));
}

#[test]
fn i21_titles_and_reasons_cannot_drive_the_terminal() {
    let world = World::new("i21-escapes");
    world.add_repo();
    world.json(&[
        "task",
        "add",
        "--repo",
        "calc",
        "--title",
        "evil\u{1b}[2J\u{1b}]0;pwned\u{7}\nsecond line\u{9b}",
    ]);
    world.json(&["task", "cancel", "1"]);
    for args in [&["task", "show", "1"][..], &["task", "list"][..]] {
        let shown = world.on_a_terminal(args);
        assert!(
            !shown.contains(['\u{1b}', '\u{7}', '\u{9b}']),
            "{args:?}: {shown:?}"
        );
        assert!(shown.contains("evil\\x1b[2J\\x1b]0;pwned\\x07"), "{shown}");
        assert!(!shown.contains("\nsecond line"), "{shown}");
    }
    // The JSON keeps the title as it was given.
    let json = world.json(&["task", "show", "1"]);
    assert_eq!(
        json["title"],
        "evil\u{1b}[2J\u{1b}]0;pwned\u{7}\nsecond line\u{9b}"
    );
}

/// `orch ARGS` with its stdout a pipe whose reader is gone.
fn into_a_closed_pipe(world: &World, args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    world
        .orch(args)
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

#[test]
fn i21_a_closed_pipe_is_a_clean_error_never_a_panic() {
    let world = World::new("i21-pipe");
    world.add_repo();
    world.json(&["task", "add", "--repo", "calc", "--title", "ship it"]);
    for args in [
        &["roadmap"][..],
        &["inventory", "show"][..],
        &["work", "--until-idle"][..],
    ] {
        let output = into_a_closed_pipe(&world, args);
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("cannot print the result"), "{args:?}: {err}");
    }
}
