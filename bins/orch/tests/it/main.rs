//! The binary's integration tests: one test binary, one module per concern,
//! each driving the real `orch` executable (`CARGO_BIN_EXE_orch`).
//!
//! Kept apart: `big_output`, alone in its own binary so that
//! `getrusage(RUSAGE_CHILDREN)` sees only its processes.
//!
//! One binary per package (matklad's "one integration-test crate"): the
//! files were separate test crates, each linking the package again. Run one
//! module with `cargo test -p orch --test it MODULE::`.

mod dashboard;
mod e2e;
mod harness;
mod hostile_cli;
mod hostile_input;
mod http_bounds;
mod operator_cli;
mod operator_view;
mod registry;
mod roadmap;
mod soak;
mod staging_run;
