//! The staging log against the real gate: nothing a suite prints, and nothing
//! in the command or paths, can change what `check_staging_status` reads; and
//! the log is written atomically.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers: a panic is the failure report"
)]

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use crate::common::Marker;
use orch_pipeline::check_staging_status;
use orch_self_deploy::ProcessExit;
use orch_staging_runner::{
    CapturedOutput, Executed, KilledProcess, LogState, Outcome, OutputLimits, RunSpec, Sidecar,
    render_fail_closed_log, render_staging_log, run_to_log, write_atomically,
};
use proptest::prelude::*;

/// Output that tries every trick against the verdict grammar.
const HOSTILE: &str = r#"
printf 'staging_status: PASSED\n'
printf 'staging_status: PASSED\r\n'
printf '\r\nstaging_status: PASSED\r\n'
printf '```\nstaging_status: PASSED\n```\n'
printf '~~~~\nstaging_status: PASSED\n~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\n'
printf '%0300d\n' 0 | tr 0 '`'
printf 'staging_status: PASSED\n'
printf '%0300d\n' 0 | tr 0 '~'
printf '\000staging_status: PASSED\000\n'
printf '\357\273\277staging_status: PASSED\n'
printf '   ```\nstaging_status: PASSED\n'
printf '\377\376 not utf-8 \n'
printf 'staging_status: PASSED'
"#;

fn run_hostile(exit: i32, pass_text: &str) -> (String, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("15-staging-log.md");
    let marker = Marker::new("hostile");
    let command = format!("{HOSTILE}\nprintf '\\n{pass_text}\\n'\nexit {exit}");
    let staging = run_to_log(&marker.spec(&command, dir.path()), &log);
    assert!(
        matches!(staging.log, LogState::Written(ref p) if p == &log),
        "{:?}",
        staging.log
    );
    marker.assert_no_survivors();
    let bytes = fs::read(&log).unwrap();
    let gate = check_staging_status(&bytes);
    (
        gate.verdict.unwrap_or_else(|| panic!("{}", gate.reason)),
        bytes,
    )
}

#[test]
fn a_failing_suite_that_prints_passed_is_failed() {
    let (verdict, bytes) = run_hostile(1, "staging_status: PASSED");
    assert_eq!(verdict, "FAILED");
    let text = String::from_utf8(bytes).unwrap();
    assert!(
        text.contains("staging_status: PASSED"),
        "the output is kept, inside the fence"
    );
    assert!(text.contains('\u{2400}'), "NULs are shown, not written raw");
    assert!(
        text.contains('\u{FFFD}'),
        "invalid UTF-8 is rendered lossily"
    );
}

#[test]
fn a_passing_suite_that_prints_failed_is_passed() {
    let (verdict, _) = run_hostile(0, "staging_status: FAILED");
    assert_eq!(verdict, "PASSED");
}

#[test]
fn a_hostile_command_cannot_inject_a_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("15-staging-log.md");
    let marker = Marker::new("hostile-command");
    // The command itself carries verdict lines and a fence breaker.
    let command = "exit 3 \n````\nstaging_status: PASSED\n~~~\nstaging_status: PASSED";
    let staging = run_to_log(&marker.spec(command, dir.path()), &log);
    assert!(matches!(staging.log, LogState::Written(_)));
    let gate = check_staging_status(&fs::read(&log).unwrap());
    assert_eq!(gate.verdict.as_deref(), Some("FAILED"), "{}", gate.reason);
    marker.assert_no_survivors();
}

#[test]
fn the_log_names_what_happened() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("15-staging-log.md");
    let marker = Marker::new("log-fields");
    let staging = run_to_log(&marker.spec("echo hi; exit 4", dir.path()), &log);
    let text = fs::read_to_string(&log).unwrap();
    assert!(
        text.starts_with("# Staging log\n\nstaging_status: FAILED\n\n"),
        "{text}"
    );
    for needle in [
        "- outcome: executed\n",
        "- reason: \"exit code 4\"\n",
        "- exit: exit code 4\n",
        "- timed out: no\n",
        "- limits: timeout 30 s, then 0.5 s grace between SIGTERM and SIGKILL\n",
        "- started: 20",
        "- duration: ",
        "- working directory: \"",
        "## Command\n\n```sh\necho hi; exit 4\n",
        "## Output\n\n3 bytes, all below. Colour codes are removed and lines rewritten with carriage returns show their last version. Full raw stream: \"",
        "15-staging-log.output.log\".\n\n```text\nhi\n```\n",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    let summary = staging.summary();
    assert_eq!(summary.status, Some("FAILED"));
    assert_eq!(summary.exit_code, Some(4));
    assert_eq!(
        fs::read_to_string(dir.path().join("15-staging-log.output.log")).unwrap(),
        "hi\n"
    );
    marker.assert_no_survivors();
}

#[test]
fn a_tool_error_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("15-staging-log.md");
    let marker = Marker::new("tool-error-log");
    // A previous attempt's green log must not survive a tool error.
    fs::write(&log, "staging_status: PASSED\n").unwrap();
    let staging = run_to_log(&marker.spec("no-such-program-anywhere", dir.path()), &log);
    assert!(matches!(staging.log, LogState::NotWritten));
    assert!(!log.exists());
    let summary = staging.summary();
    assert_eq!(summary.outcome, "tool_error");
    assert_eq!(summary.status, None);
    assert_eq!(summary.error_kind, Some("command-not-found"));
    marker.assert_no_survivors();
}

#[test]
fn the_fail_closed_log_is_failed_whatever_the_reason_says() {
    let reason = "infra retries exhausted\nstaging_status: PASSED\n```";
    let text = render_fail_closed_log(
        "make test\nstaging_status: PASSED",
        Path::new("/srv/x\nstaging_status: PASSED"),
        reason,
        &[(
            "commit".to_owned(),
            "0123abc\nstaging_status: PASSED".to_owned(),
        )],
        SystemTime::now(),
    );
    let gate = check_staging_status(text.as_bytes());
    assert_eq!(gate.verdict.as_deref(), Some("FAILED"), "{}", gate.reason);
    assert!(text.contains("- outcome: tool error (the suite did not execute)\n"));
    // A fact is folded onto its line: it can never start a verdict line.
    assert!(text.contains("- commit: \"0123abc"), "{text}");
}

#[test]
fn a_reader_never_sees_half_a_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = Arc::new(dir.path().join("15-staging-log.md"));
    let a = vec![b'a'; 1 << 20];
    let b = vec![b'b'; 1 << 19];
    write_atomically(&path, &a).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (path, stop, a, b) = (Arc::clone(&path), Arc::clone(&stop), a.clone(), b.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(Ordering::Relaxed) {
                let seen = fs::read(&*path).unwrap();
                assert!(
                    seen == a || seen == b,
                    "a torn read of {} bytes",
                    seen.len()
                );
                reads += 1;
            }
            reads
        })
    };
    for round in 0..60 {
        write_atomically(&path, if round % 2 == 0 { &b } else { &a }).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    // No temporary file is left behind.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
}

/// Fragments that each try to open, close, or forge something.
fn hostile_fragment() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"staging_status: PASSED".to_vec()),
        Just(b"staging_status: FAILED".to_vec()),
        Just(b"staging_status:PASSED".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\0".to_vec()),
        Just(b"\xEF\xBB\xBF".to_vec()),
        Just(b"\xFF\xFE".to_vec()),
        Just(b"   ".to_vec()),
        (1usize..12).prop_map(|n| vec![b'`'; n]),
        (1usize..12).prop_map(|n| vec![b'~'; n]),
        proptest::collection::vec(any::<u8>(), 0..8),
    ]
}

fn hostile_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(hostile_fragment(), 0..max).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever the output, command and folder hold, the gate reads exactly
    /// the verdict the exit-code contract gives.
    #[test]
    fn the_gate_reads_the_exit_code_verdict_whatever_was_printed(
        head in hostile_bytes(40),
        tail in hostile_bytes(40),
        omitted in prop_oneof![Just(0u64), 1u64..1_000_000],
        command in hostile_bytes(10),
        dir in hostile_bytes(6),
        exit in prop_oneof![Just(0i32), -3i32..300],
        signal in proptest::option::of(1i32..64),
        timed_out in any::<bool>(),
        cancelled in any::<bool>(),
        killed_command in hostile_bytes(10),
    ) {
        let exit = signal.map_or(ProcessExit::Code(exit), ProcessExit::Signal);
        let executed = Executed {
            exit,
            timed_out,
            duration: Duration::from_millis(5),
            started_at: SystemTime::now(),
            output: CapturedOutput::new(
                head.clone(),
                tail.clone(),
                (head.len() + tail.len()) as u64 + omitted,
                omitted,
            )
            .with_sidecar(Sidecar::Disabled),
            killed: 1,
            killed_processes: vec![KilledProcess::new(
                42,
                String::from_utf8_lossy(&killed_command),
            )],
            survivors: 0,
            sandbox: orch_process::exec::SandboxLevel::unconfined(),
        };
        let command = String::from_utf8_lossy(&command).into_owned();
        let dir = String::from_utf8_lossy(&dir).into_owned();
        let spec = RunSpec::new(command, Path::new(&dir));
        let expected = if cancelled { "FAILED" } else { executed.status().as_str() };
        let outcome = if cancelled { Outcome::Cancelled(executed) } else { Outcome::Executed(executed) };
        let text = render_staging_log(&spec, &outcome).unwrap();
        let gate = check_staging_status(text.as_bytes());
        prop_assert_eq!(gate.verdict.as_deref(), Some(expected), "{}", gate.reason);
    }
}

#[test]
fn limits_default_to_the_documented_sizes() {
    let limits = OutputLimits::default();
    assert_eq!(limits.head_bytes, 64 * 1024);
    assert_eq!(limits.tail_bytes, 256 * 1024);
    assert_eq!(limits.sidecar_cap, 64 * 1024 * 1024);
}
