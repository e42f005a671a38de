//! `orch staging run` end to end: the real binary, real suites, its JSON, its
//! exit codes, its environment scrubbing, and a `kill -9` of orch itself.

#![expect(
    clippy::disallowed_methods,
    reason = "this harness drives the real orch binary as a process"
)]
#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers: a panic is the failure report"
)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use orch_tests::ProcessMarker;
use serde_json::Value;

const ORCH: &str = env!("CARGO_BIN_EXE_orch");

fn marker(test: &str) -> ProcessMarker {
    ProcessMarker::new(test)
}

/// orch run in `dir`, with its home (where the default log goes) in
/// `dir/home`.
fn orch(marker: &ProcessMarker, dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(ORCH);
    command
        .args(args)
        .current_dir(dir)
        .env("ORCH_HOME", dir.join("home"))
        .env(marker.env_key(), marker.token())
        .stdin(Stdio::null());
    command
}

/// Where the default log of a run with `--repo dir` lands.
fn default_log(dir: &Path) -> PathBuf {
    dir.join("home/staging")
        .join(dir.file_name().unwrap())
        .join("15-staging-log.md")
}

/// `staging run --repo REPO --cmd CMD` followed by `extra`.
fn run_args<'a>(repo: &'a str, cmd: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["staging", "run", "--repo", repo, "--cmd", cmd];
    args.extend_from_slice(extra);
    args
}

fn staging_run(marker: &ProcessMarker, dir: &Path, cmd: &str, extra: &[&str]) -> (Output, Value) {
    let repo = dir.to_str().unwrap();
    let mut extra = extra.to_vec();
    extra.extend_from_slice(&["--grace", "0.5"]);
    let output = orch(marker, dir, &run_args(repo, cmd, &extra))
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}): {:?} / stderr {:?}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output, json)
}

#[test]
fn a_passing_suite_exits_0_with_the_full_summary() {
    let dir = tempfile::tempdir().unwrap();
    let marker = marker("pass");
    let (output, json) = staging_run(&marker, dir.path(), "echo hello", &[]);
    assert_eq!(output.status.code(), Some(0));
    let mut keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = [
        "outcome",
        "status",
        "exit_code",
        "signal",
        "timed_out",
        "duration_ms",
        "output_bytes",
        "reason",
        "log",
        "sidecar",
        "error_kind",
    ];
    keys.sort_unstable();
    expected.sort_unstable();
    assert_eq!(keys, expected);
    assert_eq!(json["outcome"], "executed");
    assert_eq!(json["status"], "PASSED");
    assert_eq!(json["exit_code"], 0);
    assert_eq!(json["signal"], Value::Null);
    assert_eq!(json["timed_out"], false);
    assert_eq!(json["output_bytes"], 6);
    assert_eq!(json["reason"], "exit code 0");
    // The default log is under orch's home, outside the checkout.
    let log = default_log(dir.path());
    assert_eq!(json["log"], log.to_str().unwrap());
    let gate = orch_pipeline::check_staging_status(&fs::read(&log).unwrap());
    assert!(gate.passed, "{}", gate.reason);
    assert_eq!(
        fs::read_to_string(log.with_file_name("15-staging-log.output.log")).unwrap(),
        "hello\n"
    );
    assert!(marker.survivors().is_empty());
}

#[test]
fn a_failing_suite_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let marker = marker("fail");
    let log = dir.path().join("logs/15-staging-log.md");
    fs::create_dir(dir.path().join("logs")).unwrap();
    let (output, json) = staging_run(
        &marker,
        dir.path(),
        "kill -SEGV $$",
        &["--log", log.to_str().unwrap()],
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(json["status"], "FAILED");
    assert_eq!(json["exit_code"], Value::Null);
    assert_eq!(json["signal"], 11);
    assert_eq!(json["reason"], "killed by signal 11 (SIGSEGV)");
    assert_eq!(json["log"], log.to_str().unwrap());
    let gate = orch_pipeline::check_staging_status(&fs::read(&log).unwrap());
    assert_eq!(gate.verdict.as_deref(), Some("FAILED"));
    assert!(marker.survivors().is_empty());
}

#[test]
fn a_timeout_exits_1_and_leaves_no_process() {
    let dir = tempfile::tempdir().unwrap();
    let marker = marker("timeout");
    let (output, json) = staging_run(
        &marker,
        dir.path(),
        "setsid sleep 300 & trap '' TERM; sleep 300",
        &["--timeout", "0.3"],
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(json["timed_out"], true);
    assert_eq!(json["reason"], "timeout");
    assert_eq!(json["signal"], 9);
    assert!(marker.survivors().is_empty(), "{:?}", marker.survivors());
}

#[test]
fn tool_errors_exit_2_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let marker = marker("tool-error");
    let missing = dir.path().join("no-checkout");
    let output = orch(
        &marker,
        dir.path(),
        &run_args(missing.to_str().unwrap(), "true", &[]),
    )
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["outcome"], "tool_error");
    assert_eq!(json["status"], Value::Null);
    assert_eq!(json["log"], Value::Null);
    assert_eq!(json["error_kind"], "working-dir-missing");
    assert!(!default_log(&missing).exists());

    let (output, json) = staging_run(&marker, dir.path(), "definitely-not-a-program", &[]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(json["error_kind"], "command-not-found");
    assert_eq!(json["exit_code"], 127);
    assert_eq!(json["status"], Value::Null);
    assert!(!default_log(dir.path()).exists());
    assert!(marker.survivors().is_empty());
}

#[test]
fn usage_errors_exit_3_not_2() {
    let dir = tempfile::tempdir().unwrap();
    let marker = marker("usage");
    for args in [
        &[][..],
        &["staging"],
        &["staging", "run"],
        &["staging", "run", "--repo", "."],
        &[
            "staging",
            "run",
            "--repo",
            ".",
            "--cmd",
            "true",
            "--timeout",
            "soon",
        ],
        &[
            "staging",
            "run",
            "--repo",
            ".",
            "--cmd",
            "true",
            "--timeout",
            "0",
        ],
        &["staging", "run", "--repo", ".", "--cmd", "true", "--bogus"],
        &[
            "staging",
            "run",
            "--repo",
            ".",
            "--cmd",
            "true",
            "--log",
            "no/such/dir/log.md",
        ],
    ] {
        let output = orch(&marker, dir.path(), args).output().unwrap();
        assert_eq!(output.status.code(), Some(3), "{args:?}: {output:?}");
        assert!(output.stdout.is_empty(), "{args:?}: nothing on stdout");
    }
}

#[test]
fn help_explains_every_flag_and_the_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let output = orch(&marker("help"), dir.path(), &["staging", "run", "--help"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let help = String::from_utf8(output.stdout).unwrap();
    for needle in [
        "--repo <DIR>",
        "--cmd <CMD>",
        "--timeout <SECS>",
        "--grace <SECS>",
        "--log <PATH>",
        "--scrub-env <KEY>",
        "--pass-env <KEY>",
        "[default: 1800]",
        "[default: 5]",
        "$ORCH_HOME/staging/",
        "Exit codes:",
        "0    success",
        "1    the work ran and failed",
        "2    tool error",
        "3    usage error",
        "130  interrupted by SIGINT",
        "143  terminated by SIGTERM",
    ] {
        assert!(help.contains(needle), "help lacks {needle:?}:\n{help}");
    }
}

#[test]
fn secrets_never_reach_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    let marker = marker("env");
    let output = orch(
        &marker,
        dir.path(),
        &run_args(
            dir.path().to_str().unwrap(),
            "env",
            &["--scrub-env", "MY_DEPLOY_TOKEN"],
        ),
    )
    .env("ORCH_DB_PATH", "secret-orch-db")
    .env("ORCH_STAGING_RUNNER_REPOS", "secret-orch-repos")
    .env("ANTHROPIC_API_KEY", "secret-anthropic")
    .env("OPENAI_API_KEY", "secret-openai")
    .env("GEMINI_API_KEY", "secret-gemini")
    .env("MY_DEPLOY_TOKEN", "secret-custom")
    .env("KEEP_ME", "visible")
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let env =
        fs::read_to_string(default_log(dir.path()).with_file_name("15-staging-log.output.log"))
            .unwrap();
    assert!(env.contains("KEEP_ME=visible"), "{env}");
    assert!(!env.contains("secret-"), "a secret leaked:\n{env}");
    // The run's own marker is the one ORCH_ key a suite sees: it names the
    // run, not the orchestrator's configuration.
    let leaked: Vec<&str> = env
        .lines()
        .filter(|line| line.starts_with("ORCH_") && !line.starts_with("ORCH_RUN_MARKER="))
        .collect();
    assert!(leaked.is_empty(), "an ORCH_ key leaked: {leaked:?}");
}

#[test]
fn kill_9_of_orch_leaves_no_suite_process() {
    let dir = tempfile::tempdir().unwrap();
    let marker = marker("kill9");
    let mut child = orch(
        &marker,
        dir.path(),
        &run_args(
            dir.path().to_str().unwrap(),
            "setsid sleep 300 & sleep 300 & trap '' TERM; sleep 300",
            &["--grace", "0.3"],
        ),
    )
    .stdout(Stdio::null())
    .spawn()
    .unwrap();
    // orch, the supervisor, the shell and three sleeps carry the marker.
    // Generous bounds on waits that end as soon as the condition holds.
    let deadline = Instant::now() + Duration::from_secs(30);
    while marker.survivors().len() < 6 {
        assert!(
            Instant::now() < deadline,
            "suite never started: {:?}",
            marker.survivors()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // The supervisor sees end-of-file on its control pipe, SIGTERMs the tree,
    // waits the 0.3 s grace, SIGKILLs what is left.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !marker.survivors().is_empty() {
        assert!(
            Instant::now() < deadline,
            "survivors: {:?}",
            marker.survivors()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn inherited_ignored_signals_do_not_blind_the_supervisor() {
    // orch started with SIGCHLD and SIGTERM ignored (as under some process
    // managers): ignored dispositions survive exec, so without a reset the
    // kernel would reap the suite before its exit is read, and SIGTERM would
    // do nothing.
    let dir = tempfile::tempdir().unwrap();
    let marker = marker("ignored-signals");
    let repo = dir.path().to_str().unwrap();
    let run = |cmd: &str, extra: &[&str]| {
        let mut args = vec![
            "-e",
            "$SIG{CHLD} = 'IGNORE'; $SIG{TERM} = 'IGNORE'; exec @ARGV or die",
            ORCH,
        ];
        args.extend(run_args(repo, cmd, extra));
        let output = Command::new("perl")
            .args(&args)
            .current_dir(dir.path())
            .env("ORCH_HOME", dir.path().join("home"))
            .env(marker.env_key(), marker.token())
            .output()
            .unwrap();
        let json: Value = serde_json::from_slice(&output.stdout).unwrap();
        (output.status.code(), json, output.stderr)
    };
    let (code, json, stderr) = run("exit 7", &[]);
    assert_eq!(code, Some(1), "{json} {}", String::from_utf8_lossy(&stderr));
    assert_eq!(json["exit_code"], 7);
    let (code, json, stderr) = run("sleep 300", &["--timeout", "0.2", "--grace", "5"]);
    assert_eq!(code, Some(1), "{json} {}", String::from_utf8_lossy(&stderr));
    assert_eq!(json["signal"], 15, "SIGTERM worked, no SIGKILL needed");
    assert!(marker.survivors().is_empty());
}
