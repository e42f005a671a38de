//! The process machinery's integration tests: one test binary, one module per
//! concern (`exec`: runs and their ends; `sandbox`: what the kernel enforces).
//!
//! One binary per package (matklad's "one integration-test crate"): the
//! files were separate test crates, each linking the package again. Run one
//! module with `cargo test -p orch-process --test it MODULE::`.

mod examples;
mod exec;
mod sandbox;
