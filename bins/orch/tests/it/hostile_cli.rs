//! `orch staging run` against hostile suites and hostile arguments, end to
//! end with the real binary: credentials under other names, a forged pass as
//! root and as a user of its own, log paths that name folders, negative and
//! huge durations, Ctrl-C and SIGTERM, the default log location, what a
//! timeout log says, and terminal control bytes in the log.
//!
//! Every test that starts a suite ends by proving that no process carrying its
//! marker is alive; a test that finds one kills it (see [`Reaper`]) before it
//! fails, so a regression leaves nothing behind.

#![expect(
    clippy::disallowed_methods,
    reason = "this harness drives the real orch binary (and setpriv, cp) as processes"
)]
#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers: a panic is the failure report"
)]

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use orch_tests::{ProcessMarker, Reaper};
use serde_json::Value;

const ORCH: &str = env!("CARGO_BIN_EXE_orch");

/// The `exited` report of a passing suite, as the supervisor would write it.
const FORGED_PASS: &str = r#"{"event":"exited","code":0,"signal":null,"duration_ns":1,"timed_out":false,"cancelled":false}"#;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// `orch ARGS` in `dir`, marked, stdin from `/dev/null`.
fn orch(marker: &ProcessMarker, dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(ORCH);
    command
        .args(args)
        .current_dir(dir)
        .env(marker.env_key(), marker.token())
        .stdin(Stdio::null());
    command
}

/// `staging run --repo REPO --cmd CMD` followed by `extra`.
fn run_args<'a>(repo: &'a str, cmd: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["staging", "run", "--repo", repo, "--cmd", cmd];
    args.extend_from_slice(extra);
    args
}

fn read_in_thread(mut pipe: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// Spawns `command` with stdout and stderr piped and read in threads.
fn spawn_piped(command: &mut Command) -> (Child, JoinHandle<Vec<u8>>, JoinHandle<Vec<u8>>) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = read_in_thread(child.stdout.take().unwrap());
    let stderr = read_in_thread(child.stderr.take().unwrap());
    (child, stdout, stderr)
}

/// Waits at most `limit` for `child`; past it, kills it and every marked
/// process and fails: a hang is reported, never waited out.
fn wait_bounded(child: &mut Child, marker: &ProcessMarker, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let survivors = marker.survivors();
            drop(Reaper(marker));
            panic!("orch did not exit within {limit:?}; marked processes: {survivors:#?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `command` to its end, bounded by `limit`.
fn output_bounded(command: &mut Command, marker: &ProcessMarker, limit: Duration) -> Output {
    let (mut child, stdout, stderr) = spawn_piped(command);
    let status = wait_bounded(&mut child, marker, limit);
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

fn describe(output: &Output) -> String {
    format!(
        "exit {:?}, stdout {:?}, stderr {:?}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The one JSON object on stdout, if there is one.
fn json_of(output: &Output) -> Option<Value> {
    serde_json::from_slice(&output.stdout).ok()
}

fn read_lossy(path: &Path) -> String {
    fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

/// Every path under `root`, relative, sorted.
fn listing(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path.clone());
            }
            out.push(path.strip_prefix(root).unwrap().to_path_buf());
        }
    }
    out.sort();
    out
}

// --- 4: credentials under other names -------------------------------------

#[test]
fn credentials_by_other_names_never_reach_the_suite() {
    let dir = tmp();
    let marker = ProcessMarker::new("credentials");
    let reaper = Reaper(&marker);
    let log = dir.path().join("15-staging-log.md");
    let secrets = [
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_BEARER_TOKEN_BEDROCK",
        "HF_TOKEN",
        "CLAUDE_CODE_OAUTH_TOKEN",
        "GEMINI_API_KEY",
        "COHERE_API_KEY",
        "MY_SERVICE_PASSWORD",
        "DB_SECRET_KEY",
    ];
    let ordinary = [
        ("PATH", "/usr/local/bin:/usr/bin:/bin"),
        ("HOME", "/home/suite-home"),
        ("LANG", "C.UTF-8"),
        ("TERM", "xterm-256color"),
        ("USER", "suite-user"),
        ("TMPDIR", "/tmp"),
        ("MY_APP_MODE", "1"),
    ];
    let mut command = orch(
        &marker,
        dir.path(),
        &run_args(
            path_str(dir.path()),
            "env",
            &["--log", path_str(&log), "--timeout", "10", "--grace", "0.3"],
        ),
    );
    for key in secrets {
        command.env(key, format!("leaked-value-of-{key}"));
    }
    for (key, value) in ordinary {
        command.env(key, value);
    }
    let output = output_bounded(&mut command, &marker, Duration::from_secs(60));
    let survivors = marker.survivors();
    drop(reaper);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let sidecar = orch_staging_runner::sidecar_path_for(&log);
    let text = format!("{}\n{}", read_lossy(&log), read_lossy(&sidecar));
    let leaked: Vec<&str> = secrets
        .iter()
        .copied()
        .filter(|key| {
            text.lines()
                .any(|line| line.starts_with(&format!("{key}=")))
                || text.contains(&format!("leaked-value-of-{key}"))
        })
        .collect();
    assert!(
        leaked.is_empty(),
        "credentials reached the suite: {leaked:?}\n{text}"
    );
    let missing: Vec<&str> = ordinary
        .iter()
        .filter(|(key, value)| {
            if *key == "MY_APP_MODE" {
                !text.lines().any(|line| line == format!("{key}={value}"))
            } else {
                !text
                    .lines()
                    .any(|line| line.starts_with(&format!("{key}=")))
            }
        })
        .map(|(key, _)| *key)
        .collect();
    assert!(
        missing.is_empty(),
        "ordinary variables did not reach the suite: {missing:?}\n{text}"
    );
    assert!(survivors.is_empty(), "survivors: {survivors:#?}");
    assert!(marker.survivors().is_empty());
}

// --- 1 and 6: a forged pass, as root and as a user of its own ---------------

/// A suite that prints its uid, then exits 1 and leaves a straggler behind
/// that ignores SIGTERM, waits until the shell is reaped and its true `exited`
/// report written, and then writes a forged `exited 0` into the supervisor's
/// report pipe through `/proc/SUPERVISOR/fd/N`, trying
/// every descriptor the supervisor may hold (the report pipe is fd 3; it was
/// fd 2 before the fix).
fn straggler_forging_a_pass() -> String {
    format!(
        "echo \"uid=$(id -u)\"; sup=$PPID; me=$$
# Ignored from birth (an inherited disposition): a trap set inside the
# subshell could come after the supervisor's SIGTERM.
trap '' TERM
(
  n=0; while [ -e /proc/$me ] && [ $n -lt 500 ]; do sleep 0.01; n=$((n+1)); done
  sleep 0.1
  for n in 0 1 2 3 4 5 6 7; do
    if printf '%s\\n' '{FORGED_PASS}' 2>/dev/null >/proc/$sup/fd/$n; then echo forge-written; else echo forge-refused; fi
  done
) &
exit 1"
    )
}

/// Runs the forging suite through `orch staging run` (under `wrapper`, if
/// any) in `work` and checks that it never passes.
fn assert_forged_pass_fails(
    marker: &ProcessMarker,
    work: &Path,
    program: &Path,
    wrapper: &[&str],
    uid: u32,
) {
    let reaper = Reaper(marker);
    let log = work.join("15-staging-log.md");
    let script = straggler_forging_a_pass();
    let mut args: Vec<&str> = wrapper.to_vec();
    args.push(path_str(program));
    args.extend(run_args(
        path_str(work),
        &script,
        &["--log", path_str(&log), "--timeout", "10", "--grace", "5"],
    ));
    let mut command = Command::new(args[0]);
    command
        .args(&args[1..])
        .current_dir(work)
        .env(marker.env_key(), marker.token())
        .stdin(Stdio::null());
    let output = output_bounded(&mut command, marker, Duration::from_secs(60));
    let survivors = marker.survivors();
    drop(reaper);
    let text = read_lossy(&log);
    let sidecar = read_lossy(&orch_staging_runner::sidecar_path_for(&log));
    assert!(
        sidecar.contains(&format!("uid={uid}\n")),
        "the suite did not run as uid {uid}: {sidecar:?} / {}",
        describe(&output)
    );
    // The first defence: the supervisor is non-dumpable and the suite has no
    // CAP_SYS_PTRACE, so not one of its descriptors can even be opened.
    assert!(
        sidecar.contains("forge-refused") && !sidecar.contains("forge-written"),
        "the suite could open a descriptor of its supervisor (uid {uid}): {sidecar}"
    );
    let status = json_of(&output).map(|json| json["status"].clone());
    assert_ne!(
        output.status.code(),
        Some(0),
        "a suite that exited 1 and forged a report passed (uid {uid}): {}\nsuite output: {sidecar}",
        describe(&output)
    );
    assert_ne!(status, Some(Value::from("PASSED")), "{}", describe(&output));
    assert!(
        !text.contains("staging_status: PASSED"),
        "the log says PASSED (uid {uid}):\n{text}"
    );
    assert!(survivors.is_empty(), "survivors: {survivors:#?}");
    assert!(marker.survivors().is_empty());
}

#[test]
fn a_straggler_cannot_forge_a_pass_as_root() {
    if !running_as_root() {
        println!("SKIPPED a_straggler_cannot_forge_a_pass_as_root: this test needs root");
        return;
    }
    let work = tmp();
    let marker = ProcessMarker::new("forge-root");
    assert_forged_pass_fails(&marker, work.path(), Path::new(ORCH), &[], 0);
}

/// Makes `work` writable by everyone and puts there a copy of `orch` that uid
/// 65534 can execute whatever the permissions of the target folder. Copied by
/// `cp`, so that no descriptor of this process ever has it open for writing
/// (which would make exec fail with ETXTBSY).
fn orch_for_nobody(work: &Path) -> PathBuf {
    fs::set_permissions(work, fs::Permissions::from_mode(0o777)).unwrap();
    let program = work.join("orch");
    let copied = Command::new("cp").arg(ORCH).arg(&program).status().unwrap();
    assert!(copied.success(), "cp {ORCH} failed");
    fs::set_permissions(&program, fs::Permissions::from_mode(0o755)).unwrap();
    program
}

/// Whether this process's effective uid is 0 (from `/proc/self/status`).
fn running_as_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

fn find_setpriv() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/bin")])
        .map(|dir| dir.join("setpriv"))
        .find(|candidate| candidate.is_file())
}

#[test]
fn a_straggler_cannot_forge_a_pass_as_a_user_of_its_own() {
    // The same user as the supervisor, without root's CAP_SYS_PTRACE: only a
    // non-dumpable supervisor (or a protocol that ignores forged lines) stops
    // this one.
    if !running_as_root() {
        println!(
            "SKIPPED a_straggler_cannot_forge_a_pass_as_a_user_of_its_own: needs root to switch to uid 65534"
        );
        return;
    }
    let Some(setpriv) = find_setpriv() else {
        println!(
            "SKIPPED a_straggler_cannot_forge_a_pass_as_a_user_of_its_own: setpriv (util-linux) is not installed"
        );
        return;
    };
    let work = tmp();
    let program = orch_for_nobody(work.path());
    let marker = ProcessMarker::new("forge-nobody");
    assert_forged_pass_fails(
        &marker,
        work.path(),
        &program,
        &[
            path_str(&setpriv),
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
        ],
        65534,
    );
}

// --- 7: --log naming a folder ----------------------------------------------

#[test]
fn a_log_path_naming_a_folder_is_a_usage_error_before_the_suite_runs() {
    let work = tmp();
    let marker = ProcessMarker::new("log-folder");
    let reaper = Reaper(&marker);
    let repo = work.path().join("repo");
    let logs = work.path().join("logs");
    fs::create_dir(&repo).unwrap();
    fs::create_dir(&logs).unwrap();
    let cases = [
        (path_str(&logs).to_owned(), "logs"),
        (format!("{}/", path_str(&logs)), "logs"),
        (format!("{}/fresh/", path_str(work.path())), "fresh"),
    ];
    let mut problems = Vec::new();
    for (i, (log, name)) in cases.iter().enumerate() {
        let ran = work.path().join(format!("suite-ran-{i}"));
        let cmd = format!("touch '{}'", path_str(&ran));
        let mut command = orch(
            &marker,
            work.path(),
            &run_args(
                path_str(&repo),
                &cmd,
                &["--log", log, "--timeout", "10", "--grace", "0.3"],
            ),
        );
        let output = output_bounded(&mut command, &marker, Duration::from_secs(60));
        if output.status.code() != Some(3) {
            problems.push(format!(
                "--log {log:?}: not a usage error: {}",
                describe(&output)
            ));
        }
        if !output.stdout.is_empty() {
            problems.push(format!("--log {log:?}: a usage error printed on stdout"));
        }
        if ran.exists() {
            problems.push(format!("--log {log:?}: the suite ran"));
        }
        let beside = work.path().join(format!("{name}.output.log"));
        if beside.exists() {
            problems.push(format!(
                "--log {log:?}: {} was created beside the folder",
                beside.display()
            ));
        }
    }
    let survivors = marker.survivors();
    drop(reaper);
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(survivors.is_empty(), "survivors: {survivors:#?}");
}

// --- 8: negative and huge durations ----------------------------------------

#[test]
fn negative_and_huge_durations_get_the_programs_own_message() {
    let work = tmp();
    let marker = ProcessMarker::new("durations");
    let reaper = Reaper(&marker);
    let ran = work.path().join("suite-ran");
    let cmd = format!("touch '{}'", path_str(&ran));
    let cases: [(&[&str], &[&str]); 5] = [
        (&["--timeout", "-5"], &["negative"]),
        (&["--timeout=-5"], &["negative"]),
        (&["--grace", "-1"], &["negative"]),
        (&["--grace=-1"], &["negative"]),
        (&["--timeout", "1e20"], &["range", "too large"]),
    ];
    let mut problems = Vec::new();
    for (extra, any_of) in cases {
        let mut args = run_args(path_str(work.path()), &cmd, extra);
        args.extend(["--log", "15-staging-log.md"]);
        let output = output_bounded(
            &mut orch(&marker, work.path(), &args),
            &marker,
            Duration::from_secs(30),
        );
        let stderr = String::from_utf8_lossy(&output.stderr).to_lowercase();
        if output.status.code() != Some(3) {
            problems.push(format!("{extra:?}: not exit 3: {}", describe(&output)));
        }
        if !any_of.iter().any(|needle| stderr.contains(needle)) {
            problems.push(format!(
                "{extra:?}: the message does not say {any_of:?}: {stderr:?}"
            ));
        }
        if stderr.contains("unexpected argument") {
            problems.push(format!(
                "{extra:?}: clap's unexpected-argument message: {stderr:?}"
            ));
        }
        if !output.stdout.is_empty() {
            problems.push(format!("{extra:?}: a usage error printed on stdout"));
        }
    }
    let survivors = marker.survivors();
    drop(reaper);
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(!ran.exists(), "the suite ran despite a bad duration");
    assert!(survivors.is_empty(), "survivors: {survivors:#?}");
}

// --- 9: SIGINT and SIGTERM to orch -----------------------------------------

fn a_signal_cancels_the_run(signal: Signal, expected_code: i32) {
    let dir = tmp();
    let marker = ProcessMarker::new(&format!("cancel-{}", signal.as_str()));
    let reaper = Reaper(&marker);
    let log = dir.path().join("15-staging-log.md");
    let mut command = orch(
        &marker,
        dir.path(),
        &run_args(
            path_str(dir.path()),
            "sleep 300",
            &["--log", path_str(&log), "--timeout", "10", "--grace", "0.3"],
        ),
    );
    let (mut child, stdout, stderr) = spawn_piped(&mut command);
    // Signal only once the suite really runs.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !marker
        .survivors()
        .iter()
        .any(|line| line.contains(": sleep 300"))
    {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            drop(Reaper(&marker));
            panic!("the suite never started: {:?}", marker.survivors());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    kill(Pid::from_raw(i32::try_from(child.id()).unwrap()), signal).unwrap();
    let status = wait_bounded(&mut child, &marker, Duration::from_secs(20));
    // What is alive the moment orch exited.
    let survivors = marker.survivors();
    drop(reaper);
    let output = Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    };
    let text = read_lossy(&log);
    assert_eq!(
        output.status.code(),
        Some(expected_code),
        "orch after {signal}: {}",
        describe(&output)
    );
    let json = json_of(&output)
        .unwrap_or_else(|| panic!("no JSON summary after {signal}: {}", describe(&output)));
    assert_ne!(json["status"], "PASSED", "{json}");
    assert!(
        log.is_file(),
        "no log after {signal}: {}",
        describe(&output)
    );
    assert!(
        text.contains("cancelled"),
        "the log does not say cancelled:\n{text}"
    );
    assert!(!text.contains("staging_status: PASSED"), "{text}");
    assert!(
        survivors.is_empty(),
        "processes outlived orch after {signal}: {survivors:#?}"
    );
    assert!(marker.survivors().is_empty());
}

#[test]
fn sigint_cancels_the_run_with_130_a_summary_and_a_log() {
    a_signal_cancels_the_run(Signal::SIGINT, 130);
}

#[test]
fn sigterm_cancels_the_run_with_143_a_summary_and_a_log() {
    a_signal_cancels_the_run(Signal::SIGTERM, 143);
}

// --- 10: the default log location ------------------------------------------

#[test]
fn the_default_log_never_dirties_the_checkout() {
    let repo = tmp();
    let home = tmp();
    let marker = ProcessMarker::new("default-log");
    let reaper = Reaper(&marker);
    fs::write(repo.path().join("README"), "a checkout\n").unwrap();
    let before = listing(repo.path());
    let mut command = orch(
        &marker,
        repo.path(),
        &run_args(
            path_str(repo.path()),
            "true",
            &["--timeout", "10", "--grace", "0.3"],
        ),
    );
    command.env("ORCH_HOME", home.path());
    let output = output_bounded(&mut command, &marker, Duration::from_secs(60));
    let survivors = marker.survivors();
    drop(reaper);
    let after = listing(repo.path());
    assert_eq!(
        after,
        before,
        "the run wrote into the checkout (the current directory): {}",
        describe(&output)
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let logs: Vec<PathBuf> = listing(home.path())
        .into_iter()
        .filter(|path| path.file_name().is_some_and(|n| n == "15-staging-log.md"))
        .collect();
    assert!(
        !logs.is_empty(),
        "no 15-staging-log.md under ORCH_HOME: {:?}",
        listing(home.path())
    );
    assert!(survivors.is_empty(), "survivors: {survivors:#?}");
}

// --- 11: a timeout log names the limit and the killed processes --------------

#[test]
fn a_timeout_log_names_the_limit_and_the_killed_processes() {
    let dir = tmp();
    let marker = ProcessMarker::new("timeout-log");
    let reaper = Reaper(&marker);
    let log = dir.path().join("15-staging-log.md");
    // The command text never spells `sleep 300`: only a list of the killed
    // processes can put it in the log.
    let mut command = orch(
        &marker,
        dir.path(),
        &run_args(
            path_str(dir.path()),
            "s=sleep; $s 300 & $s 301 & wait",
            &[
                "--log",
                path_str(&log),
                "--timeout",
                "0.5",
                "--grace",
                "0.3",
            ],
        ),
    );
    let output = output_bounded(&mut command, &marker, Duration::from_secs(60));
    let survivors = marker.survivors();
    drop(reaper);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let text = read_lossy(&log);
    let names_the_limit = text.lines().any(|line| {
        let lower = line.to_lowercase();
        (lower.contains("timeout") || lower.contains("limit"))
            && ["0.5 s", "0.5s", "500 ms", "500ms", "0.500 s"]
                .iter()
                .any(|limit| line.contains(limit))
    });
    assert!(
        names_the_limit,
        "the log does not name the 0.5 s limit:\n{text}"
    );
    for killed in ["sleep 300", "sleep 301"] {
        assert!(
            text.contains(killed),
            "the log does not name the killed process {killed:?}:\n{text}"
        );
    }
    assert!(survivors.is_empty(), "survivors: {survivors:#?}");
}

// --- 12: ANSI colour and carriage returns -----------------------------------

#[test]
fn ansi_colour_and_carriage_returns_are_cleaned_in_the_log_only() {
    let dir = tmp();
    let marker = ProcessMarker::new("ansi");
    let reaper = Reaper(&marker);
    let log = dir.path().join("15-staging-log.md");
    let mut command = orch(
        &marker,
        dir.path(),
        &run_args(
            path_str(dir.path()),
            r"printf '\033[31mred\033[0m\n'; printf 'progress 10%%\rprogress 100%%\n'",
            &["--log", path_str(&log), "--timeout", "10", "--grace", "0.3"],
        ),
    );
    let output = output_bounded(&mut command, &marker, Duration::from_secs(60));
    let survivors = marker.survivors();
    drop(reaper);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let json = json_of(&output).unwrap();
    let bytes = fs::read(&log).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("red"), "{text}");
    assert!(
        !bytes.contains(&0x1b),
        "the log holds an ESC byte (terminal control from the suite):\n{text:?}"
    );
    assert!(text.contains("progress 100%"), "{text:?}");
    assert!(
        !text.contains("progress 10%\r"),
        "the log keeps a carriage-return overwrite:\n{text:?}"
    );
    assert!(
        !bytes.contains(&b'\r'),
        "the log holds a bare carriage return:\n{text:?}"
    );
    let sidecar = PathBuf::from(json["sidecar"].as_str().unwrap());
    let raw = fs::read(&sidecar).unwrap();
    assert!(
        raw.contains(&0x1b),
        "the sidecar lost the raw bytes: {raw:?}"
    );
    assert!(
        raw.windows(13).any(|w| w == b"progress 10%\r"),
        "the sidecar lost the raw bytes: {raw:?}"
    );
    assert!(survivors.is_empty(), "survivors: {survivors:#?}");
}

// --- secrets read from the ancestors, and the pass-through list ------------

#[test]
fn the_suite_cannot_read_secrets_from_its_ancestors() {
    // orch and its supervisor hold the secrets in their own environment and
    // memory. Both are non-dumpable, so a suite of the same (non-root) user
    // cannot read /proc/PID/environ or /proc/PID/mem of either. (Root can
    // read any process's environ on Linux even without CAP_SYS_PTRACE: see
    // the threat model in docs/staging-runner.md. As root only /proc/PID/mem
    // is closed, and that is checked too.)
    if !running_as_root() {
        println!(
            "SKIPPED the_suite_cannot_read_secrets_from_its_ancestors: needs root to switch to uid 65534"
        );
        return;
    }
    let Some(setpriv) = find_setpriv() else {
        println!(
            "SKIPPED the_suite_cannot_read_secrets_from_its_ancestors: setpriv (util-linux) is not installed"
        );
        return;
    };
    let work = tmp();
    let program = orch_for_nobody(work.path());
    let script = "sup=$PPID; orch=$(cut -d' ' -f4 /proc/$sup/stat); echo \"uid=$(id -u)\"
        for pid in $sup $orch; do
          if tr '\\0' '\\n' </proc/$pid/environ 2>/dev/null; then echo environ-read; else echo environ-refused; fi
          if head -c 1 /proc/$pid/mem >/dev/null 2>&1; then echo mem-read; else echo mem-refused; fi
        done";
    for (who, wrapper) in [
        (
            "nobody",
            vec![
                path_str(&setpriv),
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--",
            ],
        ),
        ("root", Vec::new()),
    ] {
        let marker = ProcessMarker::new(&format!("ancestors-{who}"));
        let reaper = Reaper(&marker);
        let log = work.path().join(format!("{who}.md"));
        let mut args = wrapper.clone();
        args.push(path_str(&program));
        args.extend(run_args(
            path_str(work.path()),
            script,
            &["--log", path_str(&log), "--timeout", "10", "--grace", "0.3"],
        ));
        let mut command = Command::new(args[0]);
        command
            .args(&args[1..])
            .current_dir(work.path())
            .env(marker.env_key(), marker.token())
            .env("ANTHROPIC_API_KEY", "leaked-anthropic-key")
            .stdin(Stdio::null());
        let output = output_bounded(&mut command, &marker, Duration::from_secs(60));
        let survivors = marker.survivors();
        drop(reaper);
        let printed = read_lossy(&orch_staging_runner::sidecar_path_for(&log));
        assert_eq!(
            output.status.code(),
            Some(0),
            "{who}: {}",
            describe(&output)
        );
        assert_eq!(
            printed.matches("mem-refused").count(),
            2,
            "{who}: {printed}"
        );
        if who == "nobody" {
            assert!(printed.starts_with("uid=65534\n"), "{printed}");
            assert!(!printed.contains("leaked-anthropic-key"), "{printed}");
            assert_eq!(printed.matches("environ-refused").count(), 2, "{printed}");
        }
        assert!(survivors.is_empty(), "survivors: {survivors:#?}");
    }
}

#[test]
fn a_credential_the_repository_names_is_passed_through() {
    let dir = tmp();
    let marker = ProcessMarker::new("pass-env");
    let reaper = Reaper(&marker);
    let log = dir.path().join("15-staging-log.md");
    let mut command = orch(
        &marker,
        dir.path(),
        &run_args(
            path_str(dir.path()),
            "env",
            &[
                "--log",
                path_str(&log),
                "--pass-env",
                "NPM_TOKEN,github_token",
                "--timeout",
                "10",
            ],
        ),
    );
    command
        .env("NPM_TOKEN", "needed-npm")
        .env("GITHUB_TOKEN", "needed-github")
        .env("GH_TOKEN", "not-needed");
    let output = output_bounded(&mut command, &marker, Duration::from_secs(60));
    let survivors = marker.survivors();
    drop(reaper);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let printed = read_lossy(&orch_staging_runner::sidecar_path_for(&log));
    assert!(printed.contains("NPM_TOKEN=needed-npm\n"), "{printed}");
    assert!(
        printed.contains("GITHUB_TOKEN=needed-github\n"),
        "{printed}"
    );
    assert!(!printed.contains("not-needed"), "{printed}");
    assert!(survivors.is_empty(), "survivors: {survivors:#?}");
}
