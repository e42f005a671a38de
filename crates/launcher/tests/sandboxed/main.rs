//! The launcher's tests that run orch's supervised runs from the test program
//! itself (the engine's numbered cases, task isolation in git worktrees): one
//! `harness = false` binary, because its `main` must call
//! `orch_process::supervisor::main_if_requested` before the libtest-mimic
//! harness starts. Each module registers its cases in `trials()`; run one
//! with `cargo test -p orch-launcher --test sandboxed NAME`.
//!
//! `agents` and `agent_env` stay binaries of their own: each runs itself
//! again with a seeded process environment (the workspace allows no `unsafe`
//! `set_var`), once per scenario.

use libtest_mimic::Arguments;

#[path = "../common/mod.rs"]
mod common;
mod engine;
mod worktree;

fn main() {
    orch_process::supervisor::main_if_requested();
    let args = Arguments::from_args();
    let mut trials = engine::trials();
    trials.extend(worktree::trials());
    libtest_mimic::run(&args, trials).exit();
}
