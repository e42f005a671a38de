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

use orch_pipeline::{fenced_block, render_verdict_line};
use orch_self_deploy::StagingStatus;

use crate::outcome::Outcome;
use crate::spec::{LogLabel, RunSpec};
use orch_process::describe_exit;
use orch_process::exec::{CapturedOutput, Sidecar};

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

/// Renders the staging log of a suite that executed or was cancelled;
/// `None` for a tool error, which has no verdict (nothing false is written).
///
/// The verdict comes first, then one `- key: value` line each (values that
/// come from outside are quoted onto one line), then the processes that were
/// killed, the command and the output, each inside a fence nothing in it can
/// close. The output is shown as a terminal would show it: colour and cursor
/// escapes removed, a line rewritten with carriage returns shown as its last
/// version, and the head and tail cut at line boundaries when one is near;
/// the sidecar file keeps the raw bytes.
#[must_use]
pub fn render_staging_log(spec: &RunSpec, outcome: &Outcome) -> Option<String> {
    let (executed, cancelled) = match outcome {
        Outcome::Executed(executed) => (executed, false),
        Outcome::Cancelled(executed) => (executed, true),
        Outcome::ToolError(_) => return None,
    };
    let status = if cancelled {
        StagingStatus::Failed
    } else {
        executed.status()
    };
    let mut out = header(spec.label, status);
    out.push_str(if cancelled {
        "- outcome: cancelled (the run was stopped before the suite ended)\n"
    } else {
        "- outcome: executed\n"
    });
    out.push_str(&format!("- reason: {}\n", one_line(&outcome.reason())));
    out.push_str(&format!("- exit: {}\n", describe_exit(executed.exit)));
    out.push_str(&format!(
        "- timed out: {}\n",
        if executed.timed_out { "yes" } else { "no" }
    ));
    out.push_str(&format!("- limits: {}\n", describe_limits(spec)));
    out.push_str(&format!("- started: {}\n", rfc3339(executed.started_at)));
    out.push_str(&format!(
        "- duration: {:.3} s\n",
        executed.duration.as_secs_f64()
    ));
    out.push_str(&format!(
        "- working directory: {}\n",
        one_line(&spec.working_dir.to_string_lossy())
    ));
    out.push_str(&format!("- sandbox: {}\n", executed.sandbox));
    push_facts(&mut out, &spec.facts);
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
    if !executed.killed_processes.is_empty() {
        out.push_str("\n## Processes killed\n\n");
        let total = executed
            .killed_processes
            .len()
            .max(executed.killed as usize);
        out.push_str(&format!(
            "Still running when the suite {} and then signalled{}:\n\n",
            if executed.timed_out {
                "reached its time limit"
            } else if cancelled {
                "was cancelled"
            } else {
                "ended"
            },
            if total > executed.killed_processes.len() {
                format!(" (the first {} named)", executed.killed_processes.len())
            } else {
                String::new()
            }
        ));
        let list: String = executed
            .killed_processes
            .iter()
            .map(|p| format!("pid {}: {}\n", p.pid, p.command))
            .collect();
        out.push_str(&fenced_block("text", &list));
    }
    out.push_str("\n## Command\n\n");
    out.push_str(&fenced_block("sh", &spec.command));
    out.push_str("\n## Output\n\n");
    let (head, tail, omitted) = cut_at_lines(&executed.output);
    out.push_str(&describe_output(
        &executed.output,
        head.len(),
        tail.len(),
        omitted,
    ));
    out.push('\n');
    out.push_str(&fenced_block("text", &render_output(head, tail, omitted)));
    Some(out)
}

/// `timeout 1800 s, then 5 s grace before SIGKILL`, or `no timeout`.
fn describe_limits(spec: &RunSpec) -> String {
    match spec.timeout {
        Some(timeout) => format!(
            "timeout {} s, then {} s grace between SIGTERM and SIGKILL",
            timeout.as_secs_f64(),
            spec.grace.as_secs_f64()
        ),
        None => format!(
            "no timeout; {} s grace between SIGTERM and SIGKILL",
            spec.grace.as_secs_f64()
        ),
    }
}

/// Renders the fail-closed staging log for a suite that could not be run
/// (for example when the infrastructure retries are spent): `staging_status:
/// FAILED` with the reason. Never a green verdict.
#[must_use]
pub fn render_fail_closed_log(
    command: &str,
    working_dir: &Path,
    reason: &str,
    facts: &[(String, String)],
    at: SystemTime,
) -> String {
    render_fail_closed_log_as(LogLabel::STAGING, command, working_dir, reason, facts, at)
}

/// [`render_fail_closed_log`] under another heading and verdict key (the
/// test runner's `# Test report`, `test_status: FAILED`).
#[must_use]
pub fn render_fail_closed_log_as(
    label: LogLabel,
    command: &str,
    working_dir: &Path,
    reason: &str,
    facts: &[(String, String)],
    at: SystemTime,
) -> String {
    let mut out = header(label, StagingStatus::Failed);
    out.push_str("- outcome: tool error (the suite did not execute)\n");
    out.push_str(&format!("- reason: {}\n", one_line(reason)));
    out.push_str(&format!("- written: {}\n", rfc3339(at)));
    out.push_str(&format!(
        "- working directory: {}\n",
        one_line(&working_dir.to_string_lossy())
    ));
    push_facts(&mut out, facts);
    out.push_str("\n## Command\n\n");
    out.push_str(&fenced_block("sh", command));
    out
}

/// One `- NAME: VALUE` line per fact, each folded onto one line.
fn push_facts(out: &mut String, facts: &[(String, String)]) {
    for (name, value) in facts {
        let name = name.replace(|c: char| c.is_control() || c == ':', " ");
        out.push_str(&format!("- {name}: {}\n", one_line(value)));
    }
}

fn header(label: LogLabel, status: StagingStatus) -> String {
    let mut out = format!("# {}\n\n", label.title.replace(['\n', '\r'], " "));
    out.push_str(&render_verdict_line(label.verdict_key, status.as_str()));
    out.push('\n');
    out
}

/// A value on one line: quoted, with line breaks and control characters
/// escaped, so it can never start a line of its own.
fn one_line(value: &str) -> String {
    format!("{value:?}")
}

/// How far from a cut a line boundary is looked for.
const LINE_CUT_REACH: usize = 4096;

/// The kept head and tail, cut at line boundaries when the middle was
/// omitted and a boundary is within [`LINE_CUT_REACH`] bytes of the cut; the
/// bytes cut off are added to the omitted count.
fn cut_at_lines(output: &CapturedOutput) -> (&[u8], &[u8], u64) {
    let (mut head, mut tail) = (output.head.as_slice(), output.tail.as_slice());
    if output.omitted_bytes == 0 {
        return (head, tail, 0);
    }
    let mut omitted = output.omitted_bytes;
    if !head.ends_with(b"\n") {
        let reach = head.len().saturating_sub(LINE_CUT_REACH);
        if let Some(at) = head[reach..].iter().rposition(|b| *b == b'\n') {
            let keep = reach + at + 1;
            omitted += (head.len() - keep) as u64;
            head = &head[..keep];
        }
    }
    let reach = tail.len().min(LINE_CUT_REACH);
    if let Some(at) = tail[..reach].iter().position(|b| *b == b'\n') {
        omitted += (at + 1) as u64;
        tail = &tail[at + 1..];
    }
    (head, tail, omitted)
}

fn describe_output(output: &CapturedOutput, head: usize, tail: usize, omitted: u64) -> String {
    let mut text = if omitted > 0 {
        format!(
            "{} bytes; below are the first {head} and the last {tail}, the {omitted} in between are omitted.",
            output.total_bytes,
        )
    } else {
        format!("{} bytes, all below.", output.total_bytes)
    };
    text.push_str(" Colour codes are removed and lines rewritten with carriage returns show their last version.");
    match &output.sidecar {
        Sidecar::Disabled => {}
        Sidecar::Written { path, bytes, cut } => {
            text.push_str(&format!(
                " Full raw stream{}: {}.",
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

/// The kept output as a terminal would show it, the omitted middle marked.
fn render_output(head: &[u8], tail: &[u8], omitted: u64) -> String {
    let mut text = as_shown(head);
    if omitted > 0 {
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&format!("[... {omitted} bytes omitted ...]\n"));
    }
    text.push_str(&as_shown(tail));
    text
}

/// Terminal output as a reader would see it: escape sequences (colours,
/// cursor moves, titles) dropped by the `vte` parser, a line rewritten after
/// a carriage return shown as its last version, tabs and line ends kept,
/// other control bytes dropped, NUL shown as `␀` (a NUL makes many tools
/// treat the whole log as binary), invalid UTF-8 as U+FFFD.
fn as_shown(bytes: &[u8]) -> String {
    #[derive(Default)]
    struct Screen {
        text: String,
        /// Where the current line starts in `text`.
        line_start: usize,
        /// A carriage return was seen: the next character rewrites the line.
        rewind: bool,
    }
    impl vte::Perform for Screen {
        fn print(&mut self, c: char) {
            if self.rewind {
                self.text.truncate(self.line_start);
                self.rewind = false;
            }
            self.text.push(c);
        }
        fn execute(&mut self, byte: u8) {
            match byte {
                b'\n' => {
                    self.text.push('\n');
                    self.line_start = self.text.len();
                    self.rewind = false;
                }
                b'\r' => self.rewind = true,
                b'\t' => self.print('\t'),
                0 => self.print('\u{2400}'),
                _ => {}
            }
        }
    }
    let mut screen = Screen::default();
    vte::Parser::new().advance(&mut screen, bytes);
    screen.text
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
    fn output_is_shown_as_a_terminal_shows_it() {
        assert_eq!(as_shown(b"\x1b[31mred\x1b[0m\n"), "red\n");
        assert_eq!(
            as_shown(b"progress 10%\rprogress 100%\n"),
            "progress 100%\n"
        );
        assert_eq!(as_shown(b"crlf line\r\nnext\n"), "crlf line\nnext\n");
        assert_eq!(as_shown(b"a\tb\x07\x00c\n"), "a\tb\u{2400}c\n");
        assert_eq!(as_shown(b"\x1b]0;title\x07ok"), "ok");
        assert_eq!(as_shown(b"bad \xff byte"), "bad \u{fffd} byte");
    }

    #[test]
    fn head_and_tail_are_cut_at_line_boundaries_when_one_is_near() {
        let output = CapturedOutput::new(
            b"line 1\nline 2\npart".to_vec(),
            b"ial\nline 9\n".to_vec(),
            1000,
            972,
        );
        let (head, tail, omitted) = cut_at_lines(&output);
        assert_eq!(head, b"line 1\nline 2\n");
        assert_eq!(tail, b"line 9\n");
        assert_eq!(omitted, 972 + 4 + 4);
        let whole = CapturedOutput::new(b"abc".to_vec(), b"def".to_vec(), 6, 0);
        assert_eq!(cut_at_lines(&whole), (&b"abc"[..], &b"def"[..], 0));
        let far = CapturedOutput::new(
            [b"x\n".as_slice(), &[b'y'; 5000]].concat(),
            vec![b'z'; 10],
            9000,
            3988,
        );
        let (head, tail, _) = cut_at_lines(&far);
        assert_eq!(head.len(), 5002, "no boundary near the cut: kept as is");
        assert_eq!(tail.len(), 10);
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
