//! A suite that prints 1 GiB: the orch process's peak memory stays under
//! 32 MiB, every byte is counted, and the sidecar is cut at 64 MiB.
//!
//! Alone in its own test binary, so that `getrusage(RUSAGE_CHILDREN)` sees only
//! this test's processes: orch, its supervisor, the shell and `head`. Their
//! largest peak RSS is an upper bound of orch's.

#![expect(
    clippy::disallowed_methods,
    reason = "this harness drives the real orch binary as a process"
)]

use std::fs;
use std::process::{Command, Stdio};
use std::time::Instant;

use nix::sys::resource::{UsageWho, getrusage};

#[test]
fn one_gib_of_output_keeps_orch_under_32_mib() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_orch"))
        .args([
            "staging",
            "run",
            "--repo",
            dir.path().to_str().unwrap(),
            "--cmd",
            "head -c 1073741824 /dev/zero",
            "--log",
            "15-staging-log.md",
        ])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let elapsed = t0.elapsed();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["output_bytes"], 1u64 << 30);

    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).unwrap();
    let peak_kib = usage.max_rss();
    println!("1 GiB through orch in {elapsed:?}; largest child peak RSS {peak_kib} KiB");
    assert!(peak_kib < 32 * 1024, "peak RSS {peak_kib} KiB");

    let sidecar = fs::metadata(dir.path().join("15-staging-log.output.log")).unwrap();
    let note = sidecar.len() - (64 << 20);
    assert!(note > 0 && note < 512, "sidecar is {} bytes", sidecar.len());
    let log = fs::read(dir.path().join("15-staging-log.md")).unwrap();
    // Head and tail only: 320 KiB of output, each byte at most 3 bytes of
    // UTF-8 once rendered (NUL is shown as U+2400).
    assert!(
        log.len() < 3 * 320 * 1024 + 4096,
        "the log is {} bytes",
        log.len()
    );
    assert!(orch_pipeline::check_staging_status(&log).passed);
}
