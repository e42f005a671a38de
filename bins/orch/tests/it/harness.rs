//! What the binary's tests share: a failed command described with its exit
//! and both streams, and git run as a user would at a shell. One copy here
//! instead of one per test file.

#![expect(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]
#![expect(
    clippy::disallowed_methods,
    reason = "the tests run git in their fixtures as a user would"
)]

use std::path::Path;
use std::process::{Command, Output};

/// A command's exit code and both of its streams, for a failure message.
pub(crate) fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs git in `dir` for the test (as a user would at a shell) and returns
/// its stdout; the test fails when git does.
pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(["-c", "user.name=test", "-c", "user.email=test@localhost"])
        .args(args)
        .current_dir(dir)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        describe(&output)
    );
    String::from_utf8(output.stdout).unwrap()
}
