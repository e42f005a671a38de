//! The launcher's integration tests that need no process of their own: one
//! test binary, one module per concern.
//!
//! Kept apart, each its own `harness = false` binary (see Cargo.toml): `engine`,
//! `worktree`, `agents` and `agent_env` run orch's supervised runs from a test
//! program, whose `main` must call `orch_process::supervisor::main_if_requested`
//! before the test harness starts; they share `tests/common`.
//!
//! One binary per package (matklad's "one integration-test crate"): the
//! files were separate test crates, each linking the package again. Run one
//! module with `cargo test -p orch-launcher --test it MODULE::`.

mod builders;
mod repos;
mod stream;
mod task_log;
mod usage;
mod views;
