//! Workspace-wide checks for orch, kept as ordinary `#[test]`s so that
//! `cargo test --workspace` runs them.
//!
//! This package holds no product code. Its `tests/` folder checks the
//! codebase itself (every crate documented, no `todo!` or `dbg!` left behind,
//! every config key in `.env.example`) and runs the `orch` binary end to end
//! with real processes, real SQLite files and real HTTP.
//!
//! ```
//! assert!(orch_tests::workspace_root().join("Cargo.toml").is_file());
//! ```

use std::path::{Path, PathBuf};

/// The workspace's root folder (the one holding the virtual `Cargo.toml`).
#[must_use]
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}
