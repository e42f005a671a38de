//! What the kernel sandbox costs a run: the figures in docs/benchmarks.md
//! ("Sandbox"). A benchmark, not a test: it prints medians and asserts
//! nothing about time.
//!
//! ```text
//! cargo bench -p orch-process --bench sandbox
//! ```
//!
//! One interleaved loop (so that the machine's noise falls on every variant
//! alike) runs `true` through the whole machinery — supervisor, pipes,
//! reaping — four ways: without a sandbox; with a task's policy (a writable
//! worktree and private temp folder, orch's home hidden, the network on);
//! the same with the network off (a network namespace with its loopback
//! brought up); and the same policy with `readable_roots` splitting a deep
//! home (`/tmp/a/b/c/d/home`). The difference of medians is the sandbox's
//! cost per run.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "a benchmark harness: a panic is the failure report"
)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use orch_process::exec::{
    self, ExecOutcome, ExecSpec, Network, Program, SandboxMode, SandboxPolicy, SupervisorProgram,
};

const ROUNDS: usize = 400;

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    orch_process::supervisor::main_if_requested();
    let top = tempfile::tempdir().unwrap();
    let root = top.path().canonicalize().unwrap();
    let worktree = root.join("home/worktrees/1");
    let tmp = root.join("home/runs/1/tmp");
    let deep = root.join("a/b/c/d/home");
    for dir in [&worktree, &tmp, &deep] {
        std::fs::create_dir_all(dir).unwrap();
    }
    let task = SandboxPolicy::new(SandboxMode::Required)
        .writable(&worktree)
        .writable(&tmp)
        .hidden(root.join("home"));
    let variants: Vec<(&str, SandboxPolicy)> = vec![
        ("no sandbox", SandboxPolicy::off()),
        ("sandbox, network on", task.clone()),
        ("sandbox, network off", task.clone().network(Network::Off)),
        (
            "sandbox, deep hidden home",
            SandboxPolicy::new(SandboxMode::Required)
                .writable(&worktree)
                .hidden(&deep),
        ),
    ];
    let supervisor = SupervisorProgram::Path(PathBuf::from(env!("CARGO_BIN_EXE_orch-supervisor")));
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); variants.len()];
    for round in 0..ROUNDS + 20 {
        for (i, (name, policy)) in variants.iter().enumerate() {
            let spec = ExecSpec::new(Program::Shell("true".into()), &worktree)
                .supervisor(supervisor.clone())
                .sandbox(policy.clone());
            let t0 = Instant::now();
            let outcome = exec::run(&spec);
            let took = t0.elapsed();
            let ExecOutcome::Finished(_) = outcome else {
                panic!("{name}: {outcome:?}");
            };
            // The first rounds warm caches and are not counted.
            if round >= 20 {
                samples[i].push(took);
            }
        }
    }
    let base = median(&mut samples[0]);
    println!("sandbox cost per run, median of {ROUNDS} interleaved runs of `true`:");
    for (i, (name, _)) in variants.iter().enumerate() {
        let m = median(&mut samples[i]);
        let extra = m.as_secs_f64() - base.as_secs_f64();
        println!(
            "  {name:<28} {:>10}   {:+.3} ms   ratio {:.2}",
            ms(m),
            extra * 1000.0,
            m.as_secs_f64() / base.as_secs_f64()
        );
    }
}
