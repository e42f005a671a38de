//! The staging runner's integration tests: one test binary, one module per
//! concern, the shared marker helpers in `tests/common`.
//!
//! Kept apart: `hostile_fds`, alone in its own binary because an inheritable
//! descriptor leaks into every child any thread of the test process starts.
//!
//! One binary per package (matklad's "one integration-test crate"): the
//! files were separate test crates, each linking the package again. Run one
//! module with `cargo test -p orch-staging-runner --test it MODULE::`.

mod artifact;
mod builders;
#[path = "../common/mod.rs"]
mod common;
mod examples;
mod hostile;
mod run;
