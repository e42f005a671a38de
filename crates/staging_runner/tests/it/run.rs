//! The runner against real processes, no mocks: exits, signals, timeouts,
//! escapes from the process group, held pipes, tool errors and output. Every
//! test ends by proving that no process carrying its marker is alive.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers: a panic is the failure report"
)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use crate::common::Marker;
use orch_self_deploy::{ProcessExit, StagingStatus};
use orch_staging_runner::{
    Executed, Outcome, OutputLimits, RunSpec, Sidecar, SupervisorProgram, ToolError, ToolErrorKind,
    run,
};

fn executed(outcome: Outcome) -> Executed {
    match outcome {
        Outcome::Executed(executed) => executed,
        other @ (Outcome::Cancelled(_) | Outcome::ToolError(_)) => {
            panic!("expected an executed suite, got {other:?}")
        }
    }
}

fn tool_error(outcome: Outcome) -> ToolError {
    match outcome {
        Outcome::ToolError(error) => error,
        other @ (Outcome::Executed(_) | Outcome::Cancelled(_)) => {
            panic!("expected a tool error, got {other:?}")
        }
    }
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn exit_zero_passes_with_its_output() {
    let dir = tmp();
    let marker = Marker::new("exit0");
    let result = executed(run(&marker.spec("echo out; echo err >&2", dir.path())));
    assert_eq!(result.exit, ProcessExit::Code(0));
    assert_eq!(result.status(), StagingStatus::Passed);
    assert_eq!(result.reason(), "exit code 0");
    assert!(!result.timed_out);
    assert_eq!(
        result.output.head, b"out\nerr\n",
        "stdout and stderr merged in order"
    );
    assert_eq!(result.killed, 0);
    marker.assert_no_survivors();
}

#[test]
fn exit_codes_are_reported_exactly() {
    let dir = tmp();
    for code in [1, 42, 255] {
        let marker = Marker::new("codes");
        let result = executed(run(&marker.spec(&format!("exit {code}"), dir.path())));
        assert_eq!(result.exit, ProcessExit::Code(code));
        assert_eq!(result.status(), StagingStatus::Failed);
        assert_eq!(result.reason(), format!("exit code {code}"));
        marker.assert_no_survivors();
    }
}

#[test]
fn deaths_by_signal_are_reported_exactly() {
    let dir = tmp();
    // SIGSEGV, and a real-time signal that nix's waitpid could not represent.
    for (signal, expected) in [("SEGV", 11), ("40", 40)] {
        let marker = Marker::new("signal");
        let result = executed(run(&marker.spec(&format!("kill -{signal} $$"), dir.path())));
        assert_eq!(result.exit, ProcessExit::Signal(expected));
        assert_eq!(result.status(), StagingStatus::Failed);
        assert!(!result.timed_out);
        marker.assert_no_survivors();
    }
}

#[test]
fn a_timeout_kills_the_whole_tree() {
    let dir = tmp();
    let marker = Marker::new("timeout-tree");
    let spec = marker
        .spec(
            "sleep 300 & sleep 300 & (sleep 300 & sleep 300) & sh -c 'sleep 300 & sleep 300'",
            dir.path(),
        )
        .timeout(Some(Duration::from_millis(500)));
    let t0 = Instant::now();
    let result = executed(run(&spec));
    assert!(result.timed_out);
    assert_eq!(result.status(), StagingStatus::Failed);
    assert_eq!(result.reason(), "timeout");
    assert_eq!(
        result.exit,
        ProcessExit::Signal(15),
        "the shell died of SIGTERM"
    );
    assert!(result.duration >= Duration::from_millis(500));
    // The leader's duration is measured up to its death, which the timeout
    // caused: it cannot exceed the wall time of the whole run.
    assert!(result.duration <= t0.elapsed());
    assert!(result.killed >= 5, "left behind: {}", result.killed);
    assert_eq!(result.survivors, 0);
    marker.assert_no_survivors();
}

#[test]
fn a_suite_that_ignores_sigterm_is_killed_after_the_grace() {
    let dir = tmp();
    let marker = Marker::new("ignore-term");
    // The shell and everything it starts ignore SIGTERM.
    let spec = marker
        .spec("trap '' TERM; sleep 300 & sleep 300", dir.path())
        .timeout(Some(Duration::from_millis(300)))
        .grace(Duration::from_millis(300));
    let t0 = Instant::now();
    let result = executed(run(&spec));
    assert!(result.timed_out);
    assert_eq!(
        result.exit,
        ProcessExit::Signal(9),
        "SIGKILL after the grace"
    );
    assert!(t0.elapsed() >= Duration::from_millis(600));
    marker.assert_no_survivors();
}

#[test]
fn a_setsid_escape_is_killed_on_timeout() {
    let dir = tmp();
    let marker = Marker::new("setsid-timeout");
    let spec = marker
        .spec(
            "setsid sleep 300 & setsid -f sh -c 'trap \"\" TERM; sleep 300'; sleep 300",
            dir.path(),
        )
        .timeout(Some(Duration::from_millis(400)))
        .grace(Duration::from_millis(300));
    let result = executed(run(&spec));
    assert!(result.timed_out);
    marker.assert_no_survivors();
}

#[test]
fn a_setsid_escape_left_behind_by_a_passing_suite_is_killed() {
    let dir = tmp();
    let marker = Marker::new("setsid-leftover");
    let spec = marker.spec("setsid -f sleep 300 >/dev/null 2>&1; echo ok", dir.path());
    let result = executed(run(&spec));
    assert_eq!(result.status(), StagingStatus::Passed);
    assert_eq!(result.killed, 1);
    marker.assert_no_survivors();
}

#[test]
fn a_double_fork_daemon_is_killed() {
    let dir = tmp();
    let marker = Marker::new("daemon");
    // The classic daemon: fork, setsid, fork again, close stdio, ignore
    // SIGTERM. It holds no pipe, so only the subreaper can find it.
    let daemon = "( setsid sh -c '( trap \"\" TERM; while :; do sleep 1; done ) </dev/null >/dev/null 2>&1 &' & ); sleep 0.2; exit 0";
    let result = executed(run(&marker
        .spec(daemon, dir.path())
        .grace(Duration::from_millis(300))));
    assert_eq!(result.status(), StagingStatus::Passed);
    // The daemon loops forever: the run can only have ended because it was
    // found and killed.
    assert!(result.killed >= 1);
    marker.assert_no_survivors();
}

#[test]
fn a_grandchild_holding_the_pipe_does_not_hang_the_run() {
    let dir = tmp();
    let marker = Marker::new("held-pipe");
    let result = executed(run(&marker.spec("sleep 300 & echo done", dir.path())));
    assert_eq!(result.status(), StagingStatus::Passed);
    assert_eq!(result.output.head, b"done\n");
    // The run ended with the shell, not with the pipe: the grandchild that
    // still held stdout was alive then, and was killed (a runner waiting for
    // end-of-file would have seen it exit by itself, and killed nothing).
    assert_eq!(result.killed, 1);
    marker.assert_no_survivors();
}

#[test]
fn shell_126_and_127_are_tool_errors() {
    let dir = tmp();
    let script = dir.path().join("not-executable.sh");
    fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o644)).unwrap();

    let marker = Marker::new("126");
    let error = tool_error(run(&marker.spec("./not-executable.sh", dir.path())));
    assert_eq!(error.kind, ToolErrorKind::CommandNotExecutable);
    assert_eq!(error.exit, Some(ProcessExit::Code(126)));
    assert!(
        error.message.contains("Permission denied"),
        "{}",
        error.message
    );
    marker.assert_no_survivors();

    let marker = Marker::new("127");
    let error = tool_error(run(
        &marker.spec("no-such-program-anywhere --flag", dir.path())
    ));
    assert_eq!(error.kind, ToolErrorKind::CommandNotFound);
    assert_eq!(error.exit, Some(ProcessExit::Code(127)));
    assert!(error.message.contains("not found"), "{}", error.message);
    marker.assert_no_survivors();
}

#[test]
fn a_missing_working_directory_is_a_tool_error() {
    let dir = tmp();
    let marker = Marker::new("no-dir");
    let missing = dir.path().join("gone");
    let error = tool_error(run(&marker.spec("true", &missing)));
    assert_eq!(error.kind, ToolErrorKind::WorkingDirMissing);
    assert!(error.message.contains("gone"));
    let file = dir.path().join("a-file");
    fs::write(&file, "").unwrap();
    let error = tool_error(run(&marker.spec("true", &file)));
    assert_eq!(error.kind, ToolErrorKind::WorkingDirMissing);
    marker.assert_no_survivors();
}

#[test]
fn an_empty_command_is_a_tool_error_not_a_green() {
    for command in ["", "  \n\t"] {
        let error = tool_error(run(
            &RunSpec::new(command, "/").supervisor(crate::common::supervisor())
        ));
        assert_eq!(error.kind, ToolErrorKind::InvalidCommand);
    }
    let error = tool_error(run(
        &RunSpec::new("true\0", "/").supervisor(crate::common::supervisor())
    ));
    assert_eq!(error.kind, ToolErrorKind::InvalidCommand);
}

#[test]
fn a_broken_supervisor_is_a_tool_error_never_a_panic() {
    let dir = tmp();
    let missing = RunSpec::new("true", dir.path())
        .supervisor(SupervisorProgram::Path("/nonexistent/supervisor".into()));
    assert_eq!(
        tool_error(run(&missing)).kind,
        ToolErrorKind::SupervisorUnavailable
    );
    // A program that is not a supervisor at all: it ends without answering
    // the handshake.
    let impostor =
        RunSpec::new("true", dir.path()).supervisor(SupervisorProgram::Path("/bin/true".into()));
    let error = tool_error(run(&impostor));
    assert_eq!(error.kind, ToolErrorKind::SupervisorUnavailable);
    assert!(
        error
            .message
            .contains("call orch_process::supervisor::main_if_requested() first in main"),
        "{}",
        error.message
    );
}

#[test]
fn stdin_is_null() {
    let dir = tmp();
    let marker = Marker::new("stdin");
    // `cat` would wait for ever on a terminal or an open pipe; and the suite
    // has no controlling terminal to open (the supervisor called setsid).
    let command = "cat; test -t 0 || echo not-a-tty; (: </dev/tty) 2>/dev/null || echo no-ctty";
    let result = executed(run(&marker.spec(command, dir.path())));
    assert_eq!(result.output.head, b"not-a-tty\nno-ctty\n");
    marker.assert_no_survivors();
}

#[test]
fn binary_output_is_kept_byte_for_byte() {
    let dir = tmp();
    let marker = Marker::new("binary");
    let result = executed(run(
        &marker.spec(r"printf 'a\000b\377\376c\r\n'", dir.path())
    ));
    assert_eq!(result.output.head, b"a\0b\xff\xfec\r\n");
    marker.assert_no_survivors();
}

#[test]
fn large_output_keeps_head_and_tail_and_cuts_the_sidecar() {
    let dir = tmp();
    let sidecar = dir.path().join("out.log");
    let marker = Marker::new("large");
    let limits = OutputLimits::new(1000, 2000, 100_000);
    let spec = marker
        .spec(
            "printf START; head -c 5000000 /dev/zero | tr '\\0' x; printf END",
            dir.path(),
        )
        .limits(limits)
        .sidecar(&sidecar);
    let result = executed(run(&spec));
    let output = &result.output;
    assert_eq!(output.total_bytes, 5_000_008);
    assert_eq!(output.head.len(), 1000);
    assert!(output.head.starts_with(b"STARTxxx"));
    assert_eq!(output.tail.len(), 2000);
    assert!(output.tail.ends_with(b"xxxEND"));
    assert_eq!(output.omitted_bytes, 5_000_008 - 3000);
    assert_eq!(
        output.sidecar,
        Sidecar::Written {
            path: sidecar.clone(),
            bytes: 100_000,
            cut: true
        }
    );
    let text = fs::read_to_string(&sidecar).unwrap();
    assert!(text.contains("output cut here at 100000 bytes"));
    assert!(text.ends_with("printed 5000008 bytes in total]\n"));
    marker.assert_no_survivors();
}

#[test]
fn the_sidecar_can_be_tailed_while_the_suite_runs() {
    let dir = tmp();
    let sidecar = dir.path().join("out.log");
    let marker = Marker::new("tail");
    let spec = marker
        .spec("echo first; sleep 1; echo second", dir.path())
        .sidecar(&sidecar);
    let handle = std::thread::spawn(move || run(&spec));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = fs::read_to_string(&sidecar).unwrap_or_default();
        if text == "first\n" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "sidecar never showed the first line: {text:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!handle.is_finished(), "the suite should still be running");
    let result = executed(handle.join().unwrap());
    assert_eq!(fs::read_to_string(&sidecar).unwrap(), "first\nsecond\n");
    assert_eq!(result.output.head, b"first\nsecond\n");
    marker.assert_no_survivors();
}

#[test]
fn duration_is_the_suites_own_time() {
    let dir = tmp();
    let marker = Marker::new("duration");
    let t0 = Instant::now();
    let result = executed(run(&marker.spec("sleep 0.3", dir.path())));
    let wall = t0.elapsed();
    // The suite's own time: at least what it slept, and within the run's
    // wall time (the runner's start-up and clean-up are not counted in it).
    // How small the runner's overhead is, is measured in docs/benchmarks.md.
    assert!(
        result.duration >= Duration::from_millis(300),
        "{:?}",
        result.duration
    );
    assert!(
        result.duration < wall,
        "{:?} vs wall {wall:?}",
        result.duration
    );
    marker.assert_no_survivors();
}

#[test]
fn the_environment_is_passed_minus_scrubbed_keys() {
    let dir = tmp();
    let marker = Marker::new("env");
    let spec = marker
        .spec(
            "echo \"home=$HOME path=${PATH:+set} extra=$EXTRA_SECRET given=$GIVEN\"",
            dir.path(),
        )
        .env("EXTRA_SECRET", "s3cret")
        .env("GIVEN", "yes");
    let result = executed(run(&spec.clone().scrub("HOME")));
    assert_eq!(
        String::from_utf8_lossy(&result.output.head),
        "home= path=set extra=s3cret given=yes\n"
    );
    marker.assert_no_survivors();
}

#[test]
fn the_working_directory_is_the_suites_cwd() {
    let dir = tmp();
    let marker = Marker::new("cwd");
    let result = executed(run(&marker.spec("pwd -P", dir.path())));
    let expected = format!("{}\n", fs::canonicalize(dir.path()).unwrap().display());
    assert_eq!(String::from_utf8_lossy(&result.output.head), expected);
    marker.assert_no_survivors();
}

#[test]
fn the_suite_starts_with_default_sigpipe() {
    let dir = tmp();
    let marker = Marker::new("sigpipe");
    // With SIGPIPE ignored, `yes` would print "Broken pipe" errors.
    let result = executed(run(&marker.spec("yes | head -n 2", dir.path())));
    assert_eq!(result.output.head, b"y\ny\n");
    marker.assert_no_survivors();
}

#[test]
fn a_timeout_beyond_the_clock_is_no_timeout_not_a_panic() {
    let dir = tmp();
    let marker = Marker::new("huge-timeout");
    let result = executed(run(&marker
        .spec("exit 0", dir.path())
        .timeout(Some(Duration::MAX))));
    assert_eq!(result.status(), StagingStatus::Passed);
    let result = executed(run(&marker.spec("exit 0", dir.path()).timeout(None)));
    assert_eq!(result.status(), StagingStatus::Passed);
    marker.assert_no_survivors();
}
