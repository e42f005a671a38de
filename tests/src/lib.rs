//! Shared test support for the orch workspace, and the home of its
//! workspace-wide checks.
//!
//! This package holds no product code. Its library gives every crate's tests
//! the same two tools, so that no crate writes them again:
//! - [`assert_golden`]: compare a contract, rendered as text, with its
//!   checked-in golden file, reporting the first difference and how to update
//!   the file deliberately (`UPDATE_GOLDEN=1`);
//! - [`ProcessMarker`]: a token unique to one test that the processes it
//!   starts carry in their environment, and [`ProcessMarker::survivors`], the
//!   scan of `/proc` that proves none of them outlived the test;
//! - [`model_server`]: a scripted stand-in for the Anthropic, OpenAI and
//!   Gemini model APIs on loopback, so that the real agent CLIs can run in
//!   tests (also as the binary `orch-model-server`, for running them by hand).
//!
//! Its `tests/` folder checks the codebase itself (every crate documented, no
//! `todo!` or `dbg!` left behind, the dependency graph of the design, docs
//! that name every golden file and crate) and runs the `orch` binary end to
//! end.
//!
//! ```
//! let marker = orch_tests::ProcessMarker::new("doc");
//! assert_eq!(marker.env_key(), "TEST_PROCESS_MARKER");
//! assert!(marker.survivors().is_empty());
//! assert!(orch_tests::workspace_root().join("Cargo.toml").is_file());
//! ```
//!
//! What it never does: it depends on no other orch crate (any crate may take
//! it as a dev-dependency), and nothing but tests uses it.

pub mod model_server;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// The workspace's root folder (the one holding the virtual `Cargo.toml`).
#[must_use]
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// The built example program `name` of the package under test, beside the
/// running test binary (`target/<profile>/examples/<name>`): `cargo test -p
/// <package>` builds a package's examples with its tests, so a test can run
/// each one and an example cannot rot.
///
/// # Errors
///
/// What is missing and how to build it, when the program is not there (for
/// example after `cargo test --test it` alone, which builds no example).
pub fn example_program(name: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the test binary: {e}"))?;
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| format!("{} has no profile folder", exe.display()))?;
    let program = profile.join("examples").join(name);
    if program.is_file() {
        Ok(program)
    } else {
        Err(format!(
            "{} is missing: build the examples with `cargo build -p <package> --examples` (`cargo test -p <package>` does; `--test it` alone does not)",
            program.display()
        ))
    }
}

/// Compares `actual` with the golden file at `golden`, byte for byte.
///
/// With `UPDATE_GOLDEN` set in the environment the file is (re)written with
/// `actual` first, so the comparison passes and `git diff` shows the change
/// for review. `how_to_update` is printed on a mismatch: the command to rerun
/// and anything else a deliberate change needs (a migration, say).
///
/// # Panics
///
/// When the file cannot be read or written, or differs from `actual`: the
/// message names the first differing line. That is the test's failure report.
#[expect(
    clippy::panic,
    reason = "a test assertion: the panic is the failure report"
)]
pub fn assert_golden(golden: &Path, actual: &str, how_to_update: &str) {
    if std::env::var_os("UPDATE_GOLDEN").is_some()
        && let Err(error) = fs::write(golden, actual)
    {
        panic!("cannot write golden file {}: {error}", golden.display());
    }
    let expected = match fs::read(golden) {
        Ok(bytes) => bytes,
        Err(error) => panic!(
            "cannot read golden file {}: {error}\ncreate it deliberately: {how_to_update}",
            golden.display()
        ),
    };
    if expected == actual.as_bytes() {
        return;
    }
    let expected = String::from_utf8_lossy(&expected);
    let (line, want, got) = expected
        .lines()
        .map(Some)
        .chain(std::iter::repeat(None))
        .zip(actual.lines().map(Some).chain(std::iter::repeat(None)))
        .enumerate()
        .find(|(_, (want, got))| want != got)
        .map_or((0, None, None), |(i, (want, got))| (i + 1, want, got));
    panic!(
        "a contract drifted from its golden file {}.\n\
         First difference at line {line} (or in line endings):\n  golden: {want:?}\n  actual: {got:?}\n\
         If the change is deliberate: {how_to_update}; review the diff of the golden file and \
         add a CHANGELOG.md entry naming the contract.",
        golden.display()
    );
}

/// A token unique to one test in one run, carried by every process the test
/// starts (in the environment, which descendants inherit, under
/// [`ProcessMarker::env_key`]), so that a scan of `/proc` can tell whether any
/// of them is still alive. Tests run in parallel and each looks only for its
/// own token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessMarker {
    token: String,
}

impl ProcessMarker {
    /// A new marker; `test` (a short name) makes it readable in reports.
    #[must_use]
    pub fn new(test: &str) -> ProcessMarker {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        ProcessMarker {
            token: format!(
                "orch-test-{}-{test}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ),
        }
    }

    /// The environment key that carries the token: `TEST_PROCESS_MARKER`.
    ///
    /// Deliberately not an `ORCH_*` key: the staging runner scrubs those from a
    /// suite's environment, and a marker set on `orch` itself must reach every
    /// process the suite starts.
    #[must_use]
    pub fn env_key(&self) -> &'static str {
        "TEST_PROCESS_MARKER"
    }

    /// The token itself.
    #[must_use]
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Every live process (zombies excluded) other than this one whose
    /// environment carries the marker or whose command line contains the
    /// token, each as `pid STATE: command line`.
    #[must_use]
    pub fn survivors(&self) -> Vec<String> {
        let env_needle = format!("{}={}", self.env_key(), self.token).into_bytes();
        let needle = self.token.as_bytes();
        let Ok(entries) = fs::read_dir("/proc") else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if pid == std::process::id() {
                continue;
            }
            let dir = entry.path();
            // A process that exits during the scan has no files left: skip it.
            let Ok(stat) = fs::read_to_string(dir.join("stat")) else {
                continue;
            };
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .unwrap_or("?");
            if state == "Z" || state == "X" {
                continue;
            }
            let environ = fs::read(dir.join("environ")).unwrap_or_default();
            let cmdline = fs::read(dir.join("cmdline")).unwrap_or_default();
            if contains(&environ, &env_needle) || contains(&cmdline, needle) {
                found.push(format!(
                    "{pid} {state}: {}",
                    String::from_utf8_lossy(&cmdline).replace('\0', " ")
                ));
            }
        }
        found
    }

    /// Fails the test when any process carrying the marker is alive.
    ///
    /// # Panics
    ///
    /// When a survivor is found, listing them all.
    pub fn assert_no_survivors(&self) {
        let survivors = self.survivors();
        assert!(
            survivors.is_empty(),
            "processes outlived the run: {survivors:#?}"
        );
    }

    /// SIGKILLs every process carrying the marker, in a few rounds (a process
    /// may fork while its parent is killed). For clean-up after a failure:
    /// a regression must not leave processes behind for the other tests.
    pub fn kill_survivors(&self) {
        use nix::sys::signal::{Signal, kill};
        use nix::unistd::Pid;
        for _ in 0..5 {
            let found = self.survivors();
            if found.is_empty() {
                return;
            }
            for line in &found {
                if let Some(pid) = line
                    .split_whitespace()
                    .next()
                    .and_then(|pid| pid.parse::<i32>().ok())
                {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

/// Kills every process carrying its marker when dropped
/// ([`ProcessMarker::kill_survivors`]), even when the test fails on an
/// assertion first. Take the survivors you want to assert on before it drops.
#[derive(Debug)]
pub struct Reaper<'a>(pub &'a ProcessMarker);

impl Drop for Reaper<'_> {
    fn drop(&mut self) {
        self.0.kill_survivors();
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
