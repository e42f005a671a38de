//! The store's integration tests: one test binary (one link, one run), one
//! module per concern, the shared fixture in `common` (a store in a temp
//! folder, a repository, a task, job helpers).
//!
//! One binary per package (matklad's "one integration-test crate"): the
//! files were separate test crates, each linking the package again. Run one
//! module with `cargo test -p orch-store --test it MODULE::`.

mod boots;
mod builders;
mod common;
mod effects;
mod examples;
mod golden;
mod isolation;
mod kinds;
mod operator;
mod queue;
mod records;
mod snapshot;
mod tidy;
