//! Hostile suites against the runner: a suite is untrusted code, and nothing it
//! does — forging the supervisor's reports, killing or stopping its
//! supervisor, planting links where the runner writes — may turn a failure
//! into a pass, hang the run, leave a process behind, or make the runner write
//! outside its files. Real processes only, no mocks; every test ends by
//! proving that no process carrying its marker is alive.
//!
//! A test that finds a survivor kills it (see [`Reaper`]) before it fails, so
//! that a regression does not leave `sleep 300`s behind for the rest of the run.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers: a panic is the failure report"
)]

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::Marker;
use orch_staging_runner::{LogState, Outcome, RunSpec, run, run_to_log, sidecar_path_for};
use orch_tests::Reaper;

/// The `exited` report of a passing suite, as the supervisor would write it.
const FORGED_PASS: &str = r#"{"event":"exited","code":0,"signal":null,"duration_ns":1,"timed_out":false,"cancelled":false}"#;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn is_pass(outcome: &Outcome) -> bool {
    outcome.status().is_some_and(|status| status.is_passed())
}

/// Runs `spec` in a thread and waits at most `hard_limit` for it: a hang is a
/// failure of its own, reported, never a test that runs for ever.
fn run_bounded(spec: &RunSpec, marker: &Marker, hard_limit: Duration) -> (Outcome, Duration) {
    let (sender, receiver) = mpsc::channel();
    let spec = spec.clone();
    let t0 = Instant::now();
    std::thread::spawn(move || {
        let outcome = run(&spec);
        let _ = sender.send((outcome, t0.elapsed()));
    });
    match receiver.recv_timeout(hard_limit) {
        Ok(done) => done,
        Err(_) => {
            let survivors = marker.0.survivors();
            drop(Reaper(&marker.0));
            panic!("run did not return within {hard_limit:?}; marked processes: {survivors:#?}");
        }
    }
}

/// A suite whose main shell exits 1 and leaves a straggler behind that
/// ignores SIGTERM, waits until the shell is reaped and the true `exited`
/// report is written, and then writes a forged `exited 0` into the
/// supervisor's report pipe through `/proc/SUPERVISOR/fd/N`, trying
/// every descriptor the supervisor may hold (the report pipe is fd 3; it was
/// fd 2 before the fix).
fn straggler_forging_a_pass() -> String {
    format!(
        "sup=$PPID; me=$$
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

fn assert_never_passed(what: &str, outcome: &Outcome, state: &LogState, log: &Path) {
    let text = fs::read_to_string(log).unwrap_or_default();
    let printed = match outcome {
        Outcome::Executed(executed) | Outcome::Cancelled(executed) => {
            String::from_utf8_lossy(&executed.output.head).into_owned()
        }
        Outcome::ToolError(error) => error.message.clone(),
    };
    assert!(
        !is_pass(outcome),
        "{what}: a suite that exited 1 was reported PASSED (suite printed {printed:?}): {outcome:?}"
    );
    assert!(
        !text.contains("staging_status: PASSED"),
        "{what}: the log says PASSED:\n{text}"
    );
    if let LogState::Written(path) = state {
        assert_eq!(path, log);
    }
}

#[test]
fn a_straggler_cannot_forge_a_pass_through_the_report_pipe() {
    let dir = tmp();
    let marker = Marker::new("forge-straggler");
    let reaper = Reaper(&marker.0);
    let log = dir.path().join("15-staging-log.md");
    let spec = marker
        .spec(&straggler_forging_a_pass(), dir.path())
        .timeout(Some(Duration::from_secs(10)))
        .grace(Duration::from_secs(5));
    let staging = run_to_log(&spec, &log);
    let survivors = marker.0.survivors();
    drop(reaper);
    assert_never_passed("straggler", &staging.outcome, &staging.log, &log);
    // The first defence: the supervisor is non-dumpable and the suite has no
    // CAP_SYS_PTRACE, so not one of its descriptors can even be opened.
    let printed = fs::read_to_string(sidecar_path_for(&log)).unwrap();
    assert!(
        printed.contains("forge-refused") && !printed.contains("forge-written"),
        "the suite could open a descriptor of its supervisor: {printed}"
    );
    assert!(survivors.is_empty(), "survivors: {survivors:#?}");
    marker.assert_no_survivors();
}

#[test]
fn a_suite_that_forges_a_pass_and_kills_its_supervisor_does_not_pass() {
    let dir = tmp();
    let marker = Marker::new("forge-kill");
    let reaper = Reaper(&marker.0);
    let log = dir.path().join("15-staging-log.md");
    let command = format!(
        "for n in 0 1 2 3 4 5 6 7; do printf '%s\\n' '{FORGED_PASS}' 2>/dev/null >/proc/$PPID/fd/$n; done; kill -9 $PPID; exit 1"
    );
    let spec = marker
        .spec(&command, dir.path())
        .timeout(Some(Duration::from_secs(10)))
        .grace(Duration::from_millis(300));
    let staging = run_to_log(&spec, &log);
    let survivors = marker.0.survivors();
    drop(reaper);
    assert_never_passed(
        "forge then kill -9 the supervisor",
        &staging.outcome,
        &staging.log,
        &log,
    );
    assert!(survivors.is_empty(), "survivors: {survivors:#?}");
    marker.assert_no_survivors();
}

#[test]
fn a_suite_that_kills_its_supervisor_leaves_no_process() {
    let dir = tmp();
    let marker = Marker::new("kill-supervisor");
    let reaper = Reaper(&marker.0);
    let (timeout, grace) = (Duration::from_secs(5), Duration::from_millis(300));
    let spec = marker
        .spec("sleep 300 & kill -9 $PPID; sleep 300", dir.path())
        .timeout(Some(timeout))
        .grace(grace);
    let (outcome, elapsed) = run_bounded(&spec, &marker, Duration::from_secs(60));
    // What is alive the moment `run` returned: `run` promises that nothing is.
    let survivors = marker.0.survivors();
    drop(reaper);
    let bound = timeout + grace + Duration::from_secs(5);
    assert!(
        elapsed <= bound,
        "run took {elapsed:?}, more than {bound:?}"
    );
    assert!(!is_pass(&outcome), "passed: {outcome:?}");
    assert!(
        survivors.is_empty(),
        "processes outlived the run after the suite killed its supervisor: {survivors:#?}"
    );
    marker.assert_no_survivors();
}

#[test]
fn a_suite_that_stops_its_supervisor_is_ended_in_time_and_leaves_no_process() {
    let dir = tmp();
    let marker = Marker::new("stop-supervisor");
    let reaper = Reaper(&marker.0);
    let (timeout, grace) = (Duration::from_secs(5), Duration::from_millis(300));
    // One process in the suite's group, one that left it: both must end.
    let spec = marker
        .spec(
            "sleep 300 & setsid sleep 300 & kill -STOP $PPID; sleep 300",
            dir.path(),
        )
        .timeout(Some(timeout))
        .grace(grace);
    let (outcome, elapsed) = run_bounded(&spec, &marker, Duration::from_secs(60));
    let survivors = marker.0.survivors();
    drop(reaper);
    let bound = timeout + grace + Duration::from_secs(5);
    assert!(
        elapsed <= bound,
        "run took {elapsed:?} with a stopped supervisor, more than timeout + grace + 5 s = {bound:?} \
         (and left {survivors:?})"
    );
    assert!(!is_pass(&outcome), "passed: {outcome:?}");
    assert!(
        survivors.is_empty(),
        "processes outlived the run after the suite stopped its supervisor: {survivors:#?}"
    );
    marker.assert_no_survivors();
}

#[test]
fn a_planted_link_does_not_redirect_the_sidecar() {
    let dir = tmp();
    let elsewhere = tmp();
    let marker = Marker::new("planted-symlink");
    let reaper = Reaper(&marker.0);
    let victim = elsewhere.path().join("victim.txt");
    fs::write(&victim, "precious\n").unwrap();
    let log_victim = elsewhere.path().join("log-victim.txt");
    fs::write(&log_victim, "also precious\n").unwrap();

    let log = dir.path().join("15-staging-log.md");
    let sidecar = sidecar_path_for(&log);
    assert_eq!(sidecar, dir.path().join("15-staging-log.output.log"));
    symlink(&victim, &sidecar).unwrap();
    symlink(&log_victim, &log).unwrap();

    let spec = marker.spec("echo overwritten-by-the-suite", dir.path());
    let staging = run_to_log(&spec, &log);
    drop(reaper);

    assert_eq!(
        fs::read_to_string(&victim).unwrap(),
        "precious\n",
        "the sidecar followed a planted symlink and overwrote its target ({:?})",
        staging.outcome
    );
    assert_eq!(
        fs::read_to_string(&log_victim).unwrap(),
        "also precious\n",
        "the log followed a planted symlink"
    );
    // Written or not, the sidecar is never written through the link: either the
    // link is still there (and its target unchanged, above), or a regular file
    // replaced it.
    let meta = fs::symlink_metadata(&sidecar).unwrap();
    assert!(
        meta.file_type().is_symlink() || meta.is_file(),
        "the sidecar is neither the untouched link nor a regular file: {meta:?}"
    );
    marker.assert_no_survivors();
}

#[test]
fn a_planted_hard_link_does_not_redirect_the_sidecar() {
    // Root may hard-link any file of the same filesystem: opening the sidecar
    // path for writing without replacing it would truncate the victim.
    let dir = tmp();
    let marker = Marker::new("planted-hardlink");
    let reaper = Reaper(&marker.0);
    let victim = dir.path().join("victim.txt");
    fs::write(&victim, "precious\n").unwrap();
    let log = dir.path().join("15-staging-log.md");
    fs::hard_link(&victim, sidecar_path_for(&log)).unwrap();

    let spec = marker.spec("echo overwritten-by-the-suite", dir.path());
    let staging = run_to_log(&spec, &log);
    drop(reaper);
    assert_eq!(
        fs::read_to_string(&victim).unwrap(),
        "precious\n",
        "the sidecar was written through a planted hard link ({:?})",
        staging.outcome
    );
    marker.assert_no_survivors();
}
