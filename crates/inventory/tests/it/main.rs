//! The inventory's integration tests: one test binary, one module per concern
//! (drift checks, the repository scan, the roadmap).
//!
//! One binary per package (matklad's "one integration-test crate"): the
//! files were separate test crates, each linking the package again. Run one
//! module with `cargo test -p orch-inventory --test it MODULE::`.

mod drift;
mod examples;
mod repository;
mod roadmap;
