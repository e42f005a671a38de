//! The pipeline contracts' integration tests: one test binary, one module per
//! contract (golden tables, transitions, the verdict-line grammar).
//!
//! One binary per package (matklad's "one integration-test crate"): the
//! files were separate test crates, each linking the package again. Run one
//! module with `cargo test -p orch-pipeline --test it MODULE::`.

mod examples;
mod golden;
mod transitions;
mod verdict_grammar;
