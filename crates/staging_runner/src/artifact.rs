//! The staging log (`15-staging-log.md`): rendering and the atomic write.
//!
//! The verdict line is written with the pipeline's own writer
//! ([`orch_pipeline::render_verdict_line`]) and everything that comes from
//! outside — the command, the output — goes inside fenced blocks made by
//! [`orch_pipeline::fenced_block`], whose fence is longer than any backtick or
//! tilde run in them. Every other line starts with `- ` or `#`, and every
//! value in them is escaped onto one line, so no text the suite prints or the
//! configuration holds can add, remove or hide a verdict line.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use orch_pipeline::{STAGING_STATUS_KEY, fenced_block, render_verdict_line};
use orch_self_deploy::StagingStatus;

use crate::outcome::{CapturedOutput, Executed, Sidecar, describe_exit};

/// The sidecar file beside a staging log: `15-staging-log.md` →
/// `15-staging-log.output.log`.
#[must_use]
pub fn sidecar_path_for(log: &Path) -> PathBuf {
    let stem = log.file_stem().map_or_else(
        || "staging-log".into(),
        |s| s.to_string_lossy().into_owned(),
    );
    log.with_file_name(format!("{stem}.output.log"))
}

/// Renders the staging log of a suite that executed.
#[must_use]
pub fn render_staging_log(command: &str, working_dir: &Path, executed: &Executed) -> String {
    let status = executed.status();
    let mut out = header(status);
    out.push_str("- outcome: executed\n");
    out.push_str(&format!("- reason: {}\n", one_line(&executed.reason())));
    out.push_str(&format!("- exit: {}\n", describe_exit(executed.exit)));
    out.push_str(&format!(
        "- timed out: {}\n",
        if executed.timed_out { "yes" } else { "no" }
    ));
    out.push_str(&format!("- started: {}\n", rfc3339(executed.started_at)));
    out.push_str(&format!(
        "- duration: {:.3} s\n",
        executed.duration.as_secs_f64()
    ));
    out.push_str(&format!(
        "- working directory: {}\n",
        one_line(&working_dir.to_string_lossy())
    ));
    if executed.killed > 0 {
        out.push_str(&format!(
            "- processes left running and killed: {}\n",
            executed.killed
        ));
    }
    if executed.survivors > 0 {
        out.push_str(&format!(
            "- processes that could not be killed: {}\n",
            executed.survivors
        ));
    }
    out.push_str("\n## Command\n\n");
    out.push_str(&fenced_block("sh", command));
    out.push_str("\n## Output\n\n");
    out.push_str(&describe_output(&executed.output));
    out.push('\n');
    out.push_str(&fenced_block("text", &render_output(&executed.output)));
    out
}

/// Renders the fail-closed staging log for a suite that could not be run
/// (for example when the infrastructure retries are spent): `staging_status:
/// FAILED` with the reason. Never a green verdict.
#[must_use]
pub fn render_fail_closed_log(
    command: &str,
    working_dir: &Path,
    reason: &str,
    at: SystemTime,
) -> String {
    let mut out = header(StagingStatus::Failed);
    out.push_str("- outcome: tool error (the suite did not execute)\n");
    out.push_str(&format!("- reason: {}\n", one_line(reason)));
    out.push_str(&format!("- written: {}\n", rfc3339(at)));
    out.push_str(&format!(
        "- working directory: {}\n",
        one_line(&working_dir.to_string_lossy())
    ));
    out.push_str("\n## Command\n\n");
    out.push_str(&fenced_block("sh", command));
    out
}

fn header(status: StagingStatus) -> String {
    let mut out = String::from("# Staging log\n\n");
    out.push_str(&render_verdict_line(STAGING_STATUS_KEY, status.as_str()));
    out.push('\n');
    out
}

/// A value on one line: quoted, with line breaks and control characters
/// escaped, so it can never start a line of its own.
fn one_line(value: &str) -> String {
    format!("{value:?}")
}

fn describe_output(output: &CapturedOutput) -> String {
    let mut text = if output.omitted_bytes > 0 {
        format!(
            "{} bytes; below are the first {} and the last {}, the {} in between are omitted.",
            output.total_bytes,
            output.head.len(),
            output.tail.len(),
            output.omitted_bytes
        )
    } else {
        format!("{} bytes, all below.", output.total_bytes)
    };
    match &output.sidecar {
        Sidecar::Disabled => {}
        Sidecar::Written { path, bytes, cut } => {
            text.push_str(&format!(
                " Full stream{}: {}.",
                if *cut {
                    format!(" (cut at {bytes} bytes)")
                } else {
                    String::new()
                },
                one_line(&path.to_string_lossy())
            ));
        }
        Sidecar::Failed { path, error } => {
            text.push_str(&format!(
                " The full stream could not be kept in {}: {}.",
                one_line(&path.to_string_lossy()),
                one_line(error)
            ));
        }
    }
    text.push('\n');
    text
}

/// The kept output as text: lossy UTF-8, NUL shown as `␀` (a NUL makes many
/// tools treat the whole log as binary), the omitted middle marked.
fn render_output(output: &CapturedOutput) -> String {
    let mut text = lossy(&output.head);
    if output.omitted_bytes > 0 {
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&format!(
            "[... {} bytes omitted ...]\n",
            output.omitted_bytes
        ));
    }
    text.push_str(&lossy(&output.tail));
    text
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace('\0', "\u{2400}")
}

/// `2026-11-22T01:02:03.456Z`: RFC 3339 in UTC with milliseconds. An instant
/// before 1970 (a clock gone wrong) is written as the epoch rather than failing
/// the log.
#[must_use]
pub(crate) fn rfc3339(at: SystemTime) -> String {
    let at = if at < UNIX_EPOCH { UNIX_EPOCH } else { at };
    humantime::format_rfc3339_millis(at).to_string()
}

/// The step of an atomic write that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteStep {
    /// Creating the temporary file beside the target.
    CreateTemp,
    /// Writing the bytes.
    Write,
    /// Flushing the file to disk.
    SyncFile,
    /// Renaming the temporary file over the target.
    Rename,
    /// Flushing the folder entry to disk.
    SyncDir,
}

impl std::fmt::Display for WriteStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WriteStep::CreateTemp => "create a temporary file",
            WriteStep::Write => "write",
            WriteStep::SyncFile => "flush to disk",
            WriteStep::Rename => "rename into place",
            WriteStep::SyncDir => "flush the folder",
        })
    }
}

/// An atomic write failed; the target is unchanged (or, after
/// [`WriteStep::SyncDir`], replaced but maybe not yet durable).
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot {step} for {path}: {source}; check that the folder exists, is writable and has free space"
)]
pub struct WriteError {
    /// The file being written.
    pub path: PathBuf,
    /// The step that failed.
    pub step: WriteStep,
    /// The underlying error.
    #[source]
    pub source: io::Error,
}

/// Writes `bytes` to `path` so that a reader sees the old file or the whole
/// new one, never a part: a temporary file in the same folder, fsync, rename,
/// fsync of the folder.
///
/// # Errors
///
/// [`WriteError`] naming the step that failed; the temporary file is removed.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let fail = |step, source| WriteError {
        path: path.to_path_buf(),
        step,
        source,
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().map_or_else(
        || "staging-log".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    let temp = dir.join(format!(".{name}.tmp.{}.{nanos}", std::process::id()));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp)
        .map_err(|e| fail(WriteStep::CreateTemp, e))?;
    let written = file
        .write_all(bytes)
        .map_err(|e| fail(WriteStep::Write, e))
        .and_then(|()| file.sync_all().map_err(|e| fail(WriteStep::SyncFile, e)))
        .and_then(|()| fs::rename(&temp, path).map_err(|e| fail(WriteStep::Rename, e)));
    if let Err(error) = written {
        let _ = fs::remove_file(&temp);
        return Err(error);
    }
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| fail(WriteStep::SyncDir, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(951_782_400_123); // leap day 2000
        assert_eq!(rfc3339(t), "2000-02-29T00:00:00.123Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_798_761_599);
        assert_eq!(rfc3339(t), "2026-12-31T23:59:59.000Z");
    }

    #[test]
    fn sidecar_sits_beside_the_log() {
        assert_eq!(
            sidecar_path_for(Path::new("/t/15-staging-log.md")),
            Path::new("/t/15-staging-log.output.log")
        );
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.md");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        let error = write_atomically(&dir.path().join("no/such/log.md"), b"x").unwrap_err();
        assert_eq!(error.step, WriteStep::CreateTemp);
        assert!(
            error
                .to_string()
                .starts_with("cannot create a temporary file for")
        );
    }
}
