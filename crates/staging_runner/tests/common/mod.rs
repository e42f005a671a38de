//! Helpers shared by the integration tests: the supervisor binary, a unique
//! marker per test, and the scan of `/proc` that proves no process survived.
//!
//! Every test gives its suite a unique marker ([`orch_tests::ProcessMarker`])
//! in the environment, which every descendant inherits, and in the command
//! text (so the shell's own argv carries it). Tests run in parallel and each
//! only looks for its own marker, so they cannot see each other.

use std::path::{Path, PathBuf};
use std::time::Duration;

use orch_staging_runner::{RunSpec, SupervisorProgram};
use orch_tests::ProcessMarker;

/// The crate's own supervisor binary.
pub(crate) fn supervisor() -> SupervisorProgram {
    SupervisorProgram::Path(PathBuf::from(env!("CARGO_BIN_EXE_orch-staging-supervisor")))
}

/// A test's process marker (see [`ProcessMarker`]) and specs that carry it.
#[derive(Debug, Clone)]
pub(crate) struct Marker(pub(crate) ProcessMarker);

impl Marker {
    pub(crate) fn new(test: &str) -> Marker {
        Marker(ProcessMarker::new(test))
    }

    /// A spec for `command`, marked (in the environment and in the command
    /// text, so the shell's own argv carries it), with short limits.
    pub(crate) fn spec(&self, command: &str, dir: &Path) -> RunSpec {
        RunSpec::new(format!("{command}\n# {}", self.0.token()), dir)
            .supervisor(supervisor())
            .env(self.0.env_key(), self.0.token())
            .timeout(Some(Duration::from_secs(30)))
            .grace(Duration::from_millis(500))
    }

    /// Fails the test when any process carrying the marker is alive.
    pub(crate) fn assert_no_survivors(&self) {
        self.0.assert_no_survivors();
    }
}
