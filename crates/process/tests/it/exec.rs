//! The process machinery (`orch_process::exec`) against real
//! processes: argv and shell programs, stdin bytes, separate streams, cancel
//! from another thread, the environment policy, what a child can reach of its
//! supervisor, and the cross-check of the supervisor's report against its
//! exit status (with stand-in supervisors that lie, written as shell scripts).

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers: a panic is the failure report"
)]

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use orch_process::exec::{
    self, Ending, EnvPolicy, ExecOutcome, ExecSpec, Finished, LineAction, LineObserver,
    OutputClocks, Program, Stall, Streams, SupervisorProgram, ToolError, ToolErrorKind,
};
use orch_self_deploy::ProcessExit;
use orch_tests::ProcessMarker;

/// The crate's own supervisor binary.
fn supervisor() -> SupervisorProgram {
    SupervisorProgram::Path(PathBuf::from(env!("CARGO_BIN_EXE_orch-supervisor")))
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// A spec carrying the test's marker, with short limits.
fn spec(marker: &ProcessMarker, program: Program, dir: &Path) -> ExecSpec {
    let mut env = EnvPolicy::scrubbed();
    env.set
        .push((marker.env_key().into(), marker.token().into()));
    ExecSpec::new(program, dir)
        .supervisor(supervisor())
        .env(env)
        .timeout(Some(Duration::from_secs(30)))
        .grace(Duration::from_millis(300))
}

fn shell(text: &str) -> Program {
    Program::Shell(text.to_owned())
}

fn argv(items: &[&str]) -> Program {
    Program::Argv(items.iter().map(OsString::from).collect())
}

fn finished(outcome: ExecOutcome) -> Finished {
    match outcome {
        ExecOutcome::Finished(finished) => finished,
        ExecOutcome::Failed(error) => panic!("expected a finished run, got {error:?}"),
    }
}

fn failed(outcome: ExecOutcome) -> ToolError {
    match outcome {
        ExecOutcome::Failed(error) => error,
        ExecOutcome::Finished(finished) => panic!("expected a failure, got {finished:?}"),
    }
}

fn printed(finished: &Finished) -> String {
    let mut bytes = finished.output.head.clone();
    bytes.extend_from_slice(&finished.output.tail);
    String::from_utf8(bytes).unwrap()
}

#[test]
fn a_program_runs_with_its_arguments_without_a_shell() {
    let dir = tmp();
    let marker = ProcessMarker::new("argv");
    let run = finished(exec::run(&spec(
        &marker,
        argv(&["printf", "%s|", "a b", "$HOME", "'quoted'"]),
        dir.path(),
    )));
    assert_eq!(run.ending, Ending::Exited(ProcessExit::Code(0)));
    assert_eq!(
        printed(&run),
        "a b|$HOME|'quoted'|",
        "no shell expanded anything"
    );
    marker.assert_no_survivors();
}

#[test]
fn a_missing_or_unexecutable_program_is_a_failure_to_start() {
    let dir = tmp();
    let marker = ProcessMarker::new("argv-missing");
    let error = failed(exec::run(&spec(
        &marker,
        argv(&["definitely-not-a-program-anywhere"]),
        dir.path(),
    )));
    assert_eq!(error.kind, ToolErrorKind::CommandNotFound);
    let script = dir.path().join("not-executable");
    fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o644)).unwrap();
    let error = failed(exec::run(&spec(
        &marker,
        Program::Argv(vec![script.into()]),
        dir.path(),
    )));
    assert_eq!(error.kind, ToolErrorKind::CommandNotExecutable);
    assert_eq!(
        failed(exec::run(&spec(
            &marker,
            Program::Argv(Vec::new()),
            dir.path()
        )))
        .kind,
        ToolErrorKind::InvalidCommand
    );
    marker.assert_no_survivors();
}

#[test]
fn the_machinery_reports_126_and_127_as_plain_exits() {
    // Only the staging layer reads the shell's 126/127 as tool errors.
    let dir = tmp();
    let marker = ProcessMarker::new("plain-127");
    let run = finished(exec::run(&spec(&marker, shell("exit 127"), dir.path())));
    assert_eq!(run.ending, Ending::Exited(ProcessExit::Code(127)));
    marker.assert_no_survivors();
}

#[test]
fn stdin_bytes_arrive_whole_and_then_end_of_file() {
    let dir = tmp();
    let marker = ProcessMarker::new("stdin");
    // 3 MiB: many times a pipe's buffer, so the bytes cross in many writes.
    let bytes: Vec<u8> = (0..3 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let out = dir.path().join("copy");
    let run = finished(exec::run(
        &spec(
            &marker,
            shell(&format!("cat > '{}'", out.display())),
            dir.path(),
        )
        .stdin(bytes.clone()),
    ));
    assert_eq!(
        run.ending,
        Ending::Exited(ProcessExit::Code(0)),
        "cat saw end-of-file"
    );
    assert_eq!(fs::read(&out).unwrap(), bytes);

    // A program that never reads its stdin neither blocks the run nor loses
    // its verdict.
    let run = finished(exec::run(
        &spec(&marker, shell("exit 3"), dir.path()).stdin(bytes),
    ));
    assert_eq!(run.ending, Ending::Exited(ProcessExit::Code(3)));

    // No stdin bytes: /dev/null.
    let run = finished(exec::run(&spec(&marker, shell("wc -c"), dir.path())));
    assert_eq!(printed(&run).trim(), "0");
    marker.assert_no_survivors();
}

#[test]
fn separate_streams_keep_stdout_whole_and_both_in_the_output() {
    let dir = tmp();
    let marker = ProcessMarker::new("streams");
    let run = finished(exec::run(
        &spec(
            &marker,
            shell("echo '{\"result\":1}'; echo progress >&2; echo done"),
            dir.path(),
        )
        .streams(Streams::Separate { stdout_cap: 1024 }),
    ));
    let stdout = run.stdout.clone().unwrap();
    assert_eq!(stdout.bytes, b"{\"result\":1}\ndone\n");
    assert!(!stdout.truncated());
    let all = printed(&run);
    assert!(
        all.contains("progress\n") && all.contains("done\n"),
        "{all}"
    );

    let run = finished(exec::run(
        &spec(&marker, shell("head -c 5000 /dev/zero"), dir.path())
            .streams(Streams::Separate { stdout_cap: 100 }),
    ));
    let stdout = run.stdout.unwrap();
    assert_eq!((stdout.bytes.len(), stdout.total_bytes), (100, 5000));
    assert!(stdout.truncated());
    assert_eq!(run.output.total_bytes, 5000);
    // Merged streams have no separate stdout.
    let run = finished(exec::run(&spec(&marker, shell("echo x"), dir.path())));
    assert_eq!(run.stdout, None);
    marker.assert_no_survivors();
}

#[test]
fn cancel_from_another_thread_ends_the_whole_tree() {
    let dir = tmp();
    let marker = ProcessMarker::new("cancel");
    let handle = exec::start(
        &spec(
            &marker,
            shell("setsid sleep 300 & sleep 300 & trap '' TERM; sleep 300"),
            dir.path(),
        )
        .timeout(Some(Duration::from_secs(300))),
    );
    let canceller = handle.canceller();
    let watcher = marker.clone();
    std::thread::spawn(move || {
        // Cancel once the tree is up: both sleeps exec'd (the shell ignores
        // SIGTERM and waits in its own `sleep 300`).
        let deadline = Instant::now() + Duration::from_secs(20);
        let sleeping =
            |lines: Vec<String>| lines.iter().filter(|l| l.contains(": sleep 300")).count();
        while sleeping(watcher.survivors()) < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        canceller.cancel();
    });
    let t0 = Instant::now();
    let run = finished(handle.wait());
    assert!(
        matches!(run.ending, Ending::Cancelled(_)),
        "{:?}",
        run.ending
    );
    assert!(t0.elapsed() < Duration::from_secs(60));
    assert!(run.cleanup.killed >= 2, "{:?}", run.cleanup);
    marker.assert_no_survivors();
}

#[test]
fn a_cancel_before_the_wait_or_after_the_end_is_harmless() {
    let dir = tmp();
    let marker = ProcessMarker::new("cancel-early");
    let handle = exec::start(&spec(&marker, shell("sleep 300"), dir.path()));
    handle.canceller().cancel();
    let run = finished(handle.wait());
    assert!(
        matches!(run.ending, Ending::Cancelled(_)),
        "{:?}",
        run.ending
    );

    let handle = exec::start(&spec(&marker, shell("exit 0"), dir.path()));
    let canceller = handle.canceller();
    let run = finished(handle.wait());
    canceller.cancel();
    assert!(canceller.is_cancelled());
    assert_eq!(run.ending, Ending::Exited(ProcessExit::Code(0)));

    // A run that could not start has nothing to cancel.
    let handle = exec::start(&spec(&marker, shell("true"), &dir.path().join("missing")));
    handle.canceller().cancel();
    assert_eq!(failed(handle.wait()).kind, ToolErrorKind::WorkingDirMissing);
    marker.assert_no_survivors();
}

#[test]
fn a_policy_that_does_not_scrub_passes_an_agent_its_key() {
    let dir = tmp();
    let marker = ProcessMarker::new("env-policy");
    let mut env = EnvPolicy::default();
    env.set.push(("ANTHROPIC_API_KEY".into(), "sk-test".into()));
    env.set
        .push((marker.env_key().into(), marker.token().into()));
    let run = finished(exec::run(
        &spec(
            &marker,
            shell("echo \"key=$ANTHROPIC_API_KEY\""),
            dir.path(),
        )
        .env(env),
    ));
    assert_eq!(printed(&run), "key=sk-test\n");
    marker.assert_no_survivors();
}

#[test]
fn the_child_cannot_open_its_supervisor_and_holds_no_ptrace_capability() {
    // The first defence against a forged verdict, checked from inside: the
    // supervisor is non-dumpable, so /proc/PPID/fd (and, for a user of its
    // own, /proc/PPID/environ) are closed to the child, and the child has
    // CAP_SYS_PTRACE in none of its sets (which matters when we run as root,
    // as CI does).
    let dir = tmp();
    let marker = ProcessMarker::new("reach");
    let run = finished(exec::run(&spec(
        &marker,
        shell(
            "for n in 0 1 2 3 4; do if : 2>/dev/null >/proc/$PPID/fd/$n; then echo open-$n; fi; done
             if cat /proc/$PPID/environ >/dev/null 2>&1; then echo environ-read; fi
             grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' /proc/self/status",
        ),
        dir.path(),
    )));
    let text = printed(&run);
    assert!(!text.contains("open-"), "{text}");
    // Root may read any process's environ on Linux, even without
    // CAP_SYS_PTRACE (the threat model in docs/staging-runner.md says so);
    // a user of its own may not read a non-dumpable one's.
    let root = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
    });
    if !root {
        assert!(!text.contains("environ-read"), "{text}");
    }
    const CAP_SYS_PTRACE: u32 = 19;
    for line in text.lines().filter(|l| l.starts_with("Cap")) {
        let (name, hex) = line.split_once(':').unwrap();
        let bits = u64::from_str_radix(hex.trim(), 16).unwrap();
        assert_eq!(
            bits & (1 << CAP_SYS_PTRACE),
            0,
            "{name} holds CAP_SYS_PTRACE"
        );
    }
    marker.assert_no_survivors();
}

/// A stand-in supervisor: a shell script that speaks the protocol (reports on
/// fd 3) and lies, to check that the runner trusts a report only when the
/// supervisor's exit status agrees.
fn lying_supervisor(dir: &Path, name: &str, reports: &[&str], exit: i32) -> PathBuf {
    let script = dir.join(name);
    // The handshake first, as the real supervisor does.
    let mut text = String::from("#!/bin/sh\nprintf '%s\\n' '{\"event\":\"hello\"}' >&3\n");
    for report in reports {
        text.push_str(&format!("printf '%s\\n' '{report}' >&3\n"));
    }
    text.push_str(&format!("exit {exit}\n"));
    fs::write(&script, text).unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    script
}

const STARTED: &str = r#"{"event":"started","pid":1}"#;
const DONE: &str = r#"{"event":"done","killed":0,"listed":[],"survivors":0}"#;
fn exited(code: i32, cancelled: bool) -> String {
    format!(
        r#"{{"event":"exited","code":{code},"signal":null,"duration_ns":5,"timed_out":false,"cancelled":{cancelled}}}"#
    )
}

#[test]
fn a_report_that_disagrees_with_the_exit_status_is_never_trusted() {
    let dir = tmp();
    let marker = ProcessMarker::new("liar");
    let pass = exited(0, false);
    let fail = exited(1, false);
    let cancelled = exited(0, true);
    let cases: [(&str, Vec<&str>, i32, ToolErrorKind); 5] = [
        // A forged pass: the report says exit 0, the status says "not passed".
        (
            "forged-pass",
            vec![STARTED, &pass, DONE],
            1,
            ToolErrorKind::Tampered,
        ),
        // A forged failure: no pass without a passing report either.
        (
            "forged-fail",
            vec![STARTED, &fail, DONE],
            0,
            ToolErrorKind::Tampered,
        ),
        // A cancel nobody asked for.
        (
            "forged-cancel",
            vec![STARTED, &cancelled, DONE],
            3,
            ToolErrorKind::Tampered,
        ),
        // A status the protocol does not use.
        (
            "odd-status",
            vec![STARTED, &pass, DONE],
            42,
            ToolErrorKind::SupervisorFailed,
        ),
        // A pass without the end of its report.
        (
            "no-done",
            vec![STARTED, &pass],
            0,
            ToolErrorKind::SupervisorFailed,
        ),
    ];
    for (name, reports, exit, kind) in cases {
        let script = lying_supervisor(dir.path(), name, &reports, exit);
        let error = failed(exec::run(
            &spec(&marker, shell("true"), dir.path()).supervisor(SupervisorProgram::Path(script)),
        ));
        assert_eq!(error.kind, kind, "{name}: {}", error.message);
    }
    // First report wins: a second `exited` cannot replace the first.
    let script = lying_supervisor(
        dir.path(),
        "second-report",
        &[STARTED, &fail, &pass, DONE],
        1,
    );
    let run = finished(exec::run(
        &spec(&marker, shell("true"), dir.path()).supervisor(SupervisorProgram::Path(script)),
    ));
    assert_eq!(run.ending, Ending::Exited(ProcessExit::Code(1)));
    // And an honest report with its status is taken as it is.
    let script = lying_supervisor(dir.path(), "honest", &[STARTED, &pass, DONE], 0);
    let run = finished(exec::run(
        &spec(&marker, shell("true"), dir.path()).supervisor(SupervisorProgram::Path(script)),
    ));
    assert_eq!(run.ending, Ending::Exited(ProcessExit::Code(0)));
    marker.assert_no_survivors();
}

/// A spec with separate streams and an observer that records each line and
/// asks for the end `linger` after a line reading `DONE`.
fn observed(
    marker: &ProcessMarker,
    program: Program,
    dir: &Path,
    linger: Duration,
) -> (ExecSpec, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = std::sync::Arc::clone(&seen);
    let observer = LineObserver::new(move |line: &[u8]| {
        let text = String::from_utf8_lossy(line).into_owned();
        let done = text == "DONE";
        log.lock().unwrap().push(text);
        if done {
            LineAction::EndAfter(linger)
        } else {
            LineAction::Continue
        }
    });
    let spec = spec(marker, program, dir)
        .streams(Streams::Separate {
            stdout_cap: 1 << 16,
        })
        .observer(observer);
    (spec, seen)
}

#[test]
fn the_observer_sees_stdout_lines_as_they_arrive_and_ends_a_program_that_lingers() {
    let dir = tmp();
    let marker = ProcessMarker::new("observer-linger");
    // The program says it is done, then does not exit (as a CLI waiting on
    // a connection kept open), and leaves a child behind.
    let (spec, seen) = observed(
        &marker,
        shell(
            "printf 'one\\ntw'; sleep 0.2; printf 'o\\nDONE\\n'; echo noise >&2; sleep 300 & sleep 300",
        ),
        dir.path(),
        Duration::from_millis(500),
    );
    let t0 = Instant::now();
    let run = finished(exec::run(&spec.timeout(Some(Duration::from_secs(60)))));
    let took = t0.elapsed();
    assert!(
        matches!(run.ending, Ending::Dismissed(_)),
        "{:?}",
        run.ending
    );
    // The linger, the grace, and no more: not the 60 s timeout.
    assert!(took >= Duration::from_millis(500), "{took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    // Lines whole, as split across writes; stderr is not shown to it.
    assert_eq!(*seen.lock().unwrap(), ["one", "two", "DONE"]);
    assert!(run.cleanup.killed >= 1, "{:?}", run.cleanup);
    marker.assert_no_survivors();
}

#[test]
fn a_program_that_exits_within_its_linger_ends_as_it_exited() {
    let dir = tmp();
    let marker = ProcessMarker::new("observer-exit");
    // The last line has no newline: it is still shown when stdout closes.
    let (spec, seen) = observed(
        &marker,
        shell("echo start; printf DONE; exit 3"),
        dir.path(),
        Duration::from_secs(30),
    );
    let t0 = Instant::now();
    let run = finished(exec::run(&spec));
    assert_eq!(run.ending, Ending::Exited(ProcessExit::Code(3)));
    assert!(t0.elapsed() < Duration::from_secs(10));
    assert_eq!(*seen.lock().unwrap(), ["start", "DONE"]);
    assert_eq!(run.stdout.unwrap().bytes, b"start\nDONE");
}

#[test]
fn no_first_output_within_its_clock_is_a_stall() {
    let dir = tmp();
    let marker = ProcessMarker::new("clock-first");
    let limit = Duration::from_millis(400);
    let t0 = Instant::now();
    let run = finished(exec::run(
        &spec(&marker, shell("sleep 300"), dir.path())
            .streams(Streams::Separate { stdout_cap: 1024 })
            .clocks(OutputClocks::new(
                Some(limit),
                Some(Duration::from_secs(60)),
            )),
    ));
    assert!(
        matches!(run.ending, Ending::Stalled(_, Stall::NoFirstOutput(l)) if l == limit),
        "{:?}",
        run.ending
    );
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    marker.assert_no_survivors();
}

#[test]
fn silence_after_output_is_a_stall_and_steady_output_is_not() {
    let dir = tmp();
    let marker = ProcessMarker::new("clock-idle");
    let clocks = OutputClocks::new(
        Some(Duration::from_secs(60)),
        Some(Duration::from_millis(700)),
    );
    // Merged streams: stderr counts as output too.
    let t0 = Instant::now();
    let run = finished(exec::run(
        &spec(&marker, shell("echo hello >&2; sleep 300"), dir.path()).clocks(clocks),
    ));
    assert!(
        matches!(run.ending, Ending::Stalled(_, Stall::Silent(_))),
        "{:?}",
        run.ending
    );
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    assert!(printed(&run).contains("hello"));

    // A line every 0.2 s for 2 s: longer than the idle limit in all, never
    // silent that long.
    let run = finished(exec::run(
        &spec(
            &marker,
            shell("i=0; while [ $i -lt 10 ]; do echo $i; sleep 0.2; i=$((i+1)); done"),
            dir.path(),
        )
        .clocks(clocks),
    ));
    assert_eq!(run.ending, Ending::Exited(ProcessExit::Code(0)));
    marker.assert_no_survivors();
}

/// The example program that embeds this crate but forgets
/// `main_if_requested` (`examples/forgets_main_if_requested.rs`); `cargo
/// test` builds the package's examples beside the test binaries.
fn forgetful_program() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile = exe.parent().and_then(Path::parent).unwrap();
    let program = profile.join("examples/forgets_main_if_requested");
    assert!(
        program.is_file(),
        "{} is missing: build it with `cargo build -p orch-process --examples` (`cargo test -p orch-process` does; `--test it` alone does not)",
        program.display()
    );
    program
}

#[test]
fn a_program_that_forgets_main_if_requested_gets_the_handshake_error_not_a_fork_loop() {
    let dir = tmp();
    let marker = ProcessMarker::new("forgetful");
    let count = dir.path().join("starts");
    let mut spec = spec(&marker, shell("true"), dir.path())
        .supervisor(SupervisorProgram::Path(forgetful_program()));
    spec.env
        .set
        .push(("FORGETFUL_COUNT".into(), count.clone().into()));
    let error = failed(exec::run(&spec));
    assert_eq!(
        error.kind,
        ToolErrorKind::SupervisorUnavailable,
        "{}",
        error.message
    );
    assert!(
        error.message.contains("did not answer orch's handshake"),
        "{}",
        error.message
    );
    assert!(
        error
            .message
            .contains("call orch_process::supervisor::main_if_requested() first in main"),
        "{}",
        error.message
    );
    // Started once as the supervisor; the run its own main started in turn
    // was refused, so it never re-executed itself.
    let starts = fs::read_to_string(&count).unwrap();
    assert_eq!(starts.lines().count(), 1, "started {starts:?}");
    // Its own main said why (it prints the refusal on stdout, which is the
    // run's output).
    let output = error
        .output
        .map(|o| String::from_utf8_lossy(&o.head).into_owned());
    assert!(
        output
            .as_deref()
            .is_some_and(|o| o.contains("runs its own main") && o.contains("first in main")),
        "{output:?}"
    );
    marker.assert_no_survivors();
}

#[test]
fn a_supervisor_that_never_answers_the_handshake_is_ended_with_the_error() {
    // A program that runs on (a server's main, say) instead of supervising:
    // the runner does not wait for its timeout, it ends it after the
    // handshake bound, with what it started.
    let dir = tmp();
    let marker = ProcessMarker::new("silent-supervisor");
    let script = dir.path().join("silent");
    fs::write(&script, "#!/bin/sh\nsleep 600 &\nsleep 600\n").unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let error = failed(exec::run(
        &spec(&marker, shell("true"), dir.path())
            .timeout(Some(Duration::from_secs(3600)))
            .supervisor(SupervisorProgram::Path(script)),
    ));
    assert_eq!(
        error.kind,
        ToolErrorKind::SupervisorUnavailable,
        "{}",
        error.message
    );
    assert!(
        error.message.contains("did not answer within"),
        "{}",
        error.message
    );
    assert!(error.message.contains("first in main"), "{}", error.message);
    marker.assert_no_survivors();
}
