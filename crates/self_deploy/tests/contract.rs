//! The exit-code contract (DESIGN §3.7), tested exhaustively.

use orch_self_deploy::{ProcessExit, StagingStatus, map_exit_code_to_status};

#[test]
fn only_exit_zero_is_passed_for_every_unix_code() {
    for code in 0..=255 {
        let expected = if code == 0 {
            StagingStatus::Passed
        } else {
            StagingStatus::Failed
        };
        assert_eq!(
            map_exit_code_to_status(ProcessExit::Code(code)),
            expected,
            "exit code {code}"
        );
    }
}

#[test]
fn negative_and_wide_codes_are_failed() {
    for code in [
        -1,
        -2,
        -127,
        -128,
        -255,
        -256,
        i32::MIN,
        256,
        257,
        65_536,
        i32::MAX,
    ] {
        assert_eq!(
            map_exit_code_to_status(ProcessExit::Code(code)),
            StagingStatus::Failed,
            "exit code {code}"
        );
    }
}

#[test]
fn every_signal_is_failed_even_signal_zero() {
    for signal in (0..=64).chain([-1, i32::MIN, i32::MAX]) {
        assert_eq!(
            map_exit_code_to_status(ProcessExit::Signal(signal)),
            StagingStatus::Failed,
            "signal {signal}"
        );
    }
}

#[test]
fn verdict_text_is_exact() {
    assert_eq!(StagingStatus::Passed.to_string(), "PASSED");
    assert_eq!(StagingStatus::Failed.to_string(), "FAILED");
    for bad in [
        "passed", "Passed", "PASSED ", " PASSED", "PASS", "OK", "", "FAILED\n", "failed",
    ] {
        let err = bad.parse::<StagingStatus>().unwrap_err();
        assert_eq!(err.found, bad);
        assert!(
            err.to_string()
                .contains("expected exactly PASSED or FAILED")
        );
    }
}

#[cfg(unix)]
#[test]
fn real_exit_statuses_map_through_the_contract() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;

    // Raw wait statuses as the kernel reports them: code << 8 for an exit,
    // the signal number in the low bits for a death by signal.
    assert_eq!(
        ProcessExit::from(ExitStatus::from_raw(0)),
        ProcessExit::Code(0)
    );
    assert_eq!(
        ProcessExit::from(ExitStatus::from_raw(42 << 8)),
        ProcessExit::Code(42)
    );
    assert_eq!(
        ProcessExit::from(ExitStatus::from_raw(11)),
        ProcessExit::Signal(11)
    );
    assert_eq!(
        map_exit_code_to_status(ExitStatus::from_raw(9).into()),
        StagingStatus::Failed
    );
    // A stopped-process status has neither code nor signal: never green.
    let stopped = ExitStatus::from_raw(0x137f);
    assert_eq!(
        map_exit_code_to_status(stopped.into()),
        StagingStatus::Failed
    );
}

/// The example runs, so that it cannot rot.
#[test]
#[expect(
    clippy::disallowed_methods,
    reason = "the test runs the example program cargo built"
)]
fn the_example_runs_offline_and_succeeds() {
    let program = orch_tests::example_program("exit_contract").unwrap();
    let output = std::process::Command::new(&program).output().unwrap();
    assert!(
        output.status.success() && !output.stdout.is_empty(),
        "{:?}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
