//! Staging runner benchmarks: the figures quoted in docs/benchmarks.md
//! ("Staging runner"). Benchmarks, not tests: they print medians and assert
//! nothing about time.
//!
//! ```text
//! cargo bench -p orch-staging-runner --bench staging
//! ```
//!
//! 1. Overhead per run on a trivial suite (`true`), measured side by side in
//!    one interleaved loop: the runner (`run`, supervisor included) against
//!    plain `sh -c true` and GNU `timeout 60 sh -c true`, each with its output
//!    captured through a pipe.
//! 2. Tree kill: a suite that ignores SIGTERM and starts N `sleep`s that
//!    ignore it too; timeout 3 s, grace 0.2 s. The figure is the time from the
//!    end of the grace (start + timeout + grace) until `run` returned with
//!    every process gone, so it includes the supervisor's start-up (the
//!    1-process row shows that fixed part).
//! 3. 1 GiB of output: wall time, and the bench process's peak RSS (VmHWM),
//!    which is the runner's since the runner runs in this process.

#![expect(
    clippy::disallowed_methods,
    reason = "the baselines (sh, GNU timeout) are spawned directly"
)]
#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "a benchmark harness: a panic is the failure report"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use orch_staging_runner::{Outcome, RunSpec, SupervisorProgram, run};

fn supervisor() -> SupervisorProgram {
    SupervisorProgram::Path(PathBuf::from(env!("CARGO_BIN_EXE_orch-staging-supervisor")))
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort_unstable();
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn time_command(program: &str, args: &[&str]) -> Duration {
    let t0 = Instant::now();
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let elapsed = t0.elapsed();
    assert!(output.status.success());
    elapsed
}

fn overhead(dir: &Path) {
    const ROUNDS: usize = 300;
    let spec = RunSpec::new("true", dir)
        .supervisor(supervisor())
        .timeout(Some(Duration::from_secs(60)));
    let mut runner = Vec::with_capacity(ROUNDS);
    let mut plain = Vec::with_capacity(ROUNDS);
    let mut gnu = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS + 20 {
        let mut samples = [Duration::ZERO; 3];
        // Rotate the order so no contender always runs first.
        for slot in 0..3 {
            let which = (slot + round) % 3;
            samples[which] = match which {
                0 => {
                    let t0 = Instant::now();
                    let outcome = run(&spec);
                    let elapsed = t0.elapsed();
                    assert!(matches!(outcome, Outcome::Executed(_)));
                    elapsed
                }
                1 => time_command("sh", &["-c", "true"]),
                _ => time_command("timeout", &["60", "sh", "-c", "true"]),
            };
        }
        if round >= 20 {
            runner.push(samples[0]);
            plain.push(samples[1]);
            gnu.push(samples[2]);
        }
    }
    let (r, p, g) = (median(&mut runner), median(&mut plain), median(&mut gnu));
    println!("\n## overhead per run, trivial suite `true` ({ROUNDS} interleaved rounds)");
    println!(
        "runner (run + supervisor)  median {}  p90 {}",
        ms(r),
        ms(percentile(&mut runner, 0.9))
    );
    println!(
        "sh -c true                 median {}  p90 {}",
        ms(p),
        ms(percentile(&mut plain, 0.9))
    );
    println!(
        "timeout 60 sh -c true      median {}  p90 {}",
        ms(g),
        ms(percentile(&mut gnu, 0.9))
    );
    println!(
        "runner - sh: {}   runner - timeout: {}",
        ms(r.saturating_sub(p)),
        ms(r.saturating_sub(g))
    );
}

fn tree_kill(dir: &Path) {
    const RUNS: usize = 5;
    let timeout = Duration::from_secs(3);
    let grace = Duration::from_millis(200);
    let cases = [
        ("1 process", "trap '' TERM; echo ready; exec sleep 300"),
        (
            "200 sleeps in the group",
            "trap '' TERM; i=0; while [ $i -lt 200 ]; do sleep 300 & i=$((i+1)); done; echo ready; wait",
        ),
        (
            "100 in the group + 100 setsid escapees",
            "trap '' TERM; i=0; while [ $i -lt 100 ]; do sleep 300 & setsid sleep 300 & i=$((i+1)); done; echo ready; wait",
        ),
    ];
    println!("\n## tree kill: end of grace until run() returns, every process gone ({RUNS} runs)");
    for (name, command) in cases {
        let spec = RunSpec::new(command, dir)
            .supervisor(supervisor())
            .timeout(Some(timeout))
            .grace(grace);
        let mut after_grace = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            let t0 = Instant::now();
            let outcome = run(&spec);
            let elapsed = t0.elapsed();
            let Outcome::Executed(executed) = outcome else {
                panic!("{outcome:?}")
            };
            assert!(executed.timed_out);
            assert_eq!(executed.survivors, 0);
            assert!(
                executed.output.head.ends_with(b"ready\n"),
                "the tree was not fully started before the timeout"
            );
            after_grace.push(elapsed.saturating_sub(timeout + grace));
        }
        let low = *after_grace.iter().min().unwrap();
        let high = *after_grace.iter().max().unwrap();
        println!(
            "{name:<40} median {}  (min {}, max {})",
            ms(median(&mut after_grace)),
            ms(low),
            ms(high)
        );
    }
}

fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn big_output(dir: &Path) {
    const RUNS: usize = 3;
    let before = vm_hwm_kib();
    let spec = RunSpec::new("head -c 1073741824 /dev/zero", dir)
        .supervisor(supervisor())
        .sidecar(dir.join("big.output.log"));
    let mut runner = Vec::with_capacity(RUNS);
    let mut pipe = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let t0 = Instant::now();
        let Outcome::Executed(executed) = run(&spec) else {
            panic!("1 GiB run failed")
        };
        runner.push(t0.elapsed());
        assert_eq!(executed.output.total_bytes, 1 << 30);
        pipe.push(time_command(
            "sh",
            &["-c", "head -c 1073741824 /dev/zero | cat > /dev/null"],
        ));
    }
    let after = vm_hwm_kib();
    println!("\n## 1 GiB of output ({RUNS} runs)");
    println!(
        "runner (capture + 64 MiB sidecar)   median {}",
        ms(median(&mut runner))
    );
    println!(
        "baseline: head | cat > /dev/null    median {}",
        ms(median(&mut pipe))
    );
    println!(
        "runner peak RSS (VmHWM of this process): {:.1} MiB (before: {:.1} MiB)",
        after as f64 / 1024.0,
        before as f64 / 1024.0
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would pass none.
    // Either way there is nothing to filter: run everything.
    let dir = tempfile::tempdir().unwrap();
    println!(
        "# staging runner benchmarks ({} cores)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    big_output(dir.path());
    overhead(dir.path());
    tree_kill(dir.path());
}
