//! The verdict-line grammar (DESIGN §3.4): how a verdict is written into an
//! artifact, and how it is read back.
//!
//! A verdict line is `KEY: VALUE` starting at column 0, outside fenced code
//! blocks. The reader works on raw bytes, so an artifact that is not valid
//! UTF-8, carries a byte-order mark, uses CRLF line ends or is hundreds of
//! megabytes long is read the same way as a tidy one, in one pass and without
//! copying it.
//!
//! The rules, in full:
//! - Lines end at `\n`; one trailing `\r` is dropped. A UTF-8 byte-order mark
//!   at the very start of the artifact is ignored.
//! - A fenced code block opens with a line of at most three spaces of
//!   indentation followed by three or more backticks or tildes (a backtick
//!   fence's info string may not contain a backtick), and closes with a line of
//!   at most three spaces of indentation followed by at least as many of the
//!   same character and nothing but spaces or tabs. A fence never closed runs
//!   to the end of the artifact. Nothing inside a fence is a verdict line.
//! - Outside fences, a line that starts with `KEY:` (the key at column 0,
//!   immediately followed by the colon) is a verdict line for that key. Its
//!   value is the rest of the line with spaces and tabs trimmed at both ends.
//! - Exactly one verdict line per key. None, two or more, or a value that is not
//!   one of the artifact's accepted values (matched exactly: `passed` is not
//!   `PASSED`) is a [`VerdictError`], which a gate treats as failure.

use crate::artifact::ArtifactSpec;

/// Why no verdict could be read: every variant makes the gate fail closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerdictError {
    /// No verdict line for the key outside fenced code blocks.
    #[error(
        "no `{key}:` verdict line at column 0 outside code fences; the role must write exactly one line `{key}: VALUE`"
    )]
    Missing {
        /// The verdict key looked for.
        key: &'static str,
    },
    /// More than one verdict line for the key.
    #[error(
        "{count} `{key}:` verdict lines (first on lines {first} and {second}); exactly one is allowed"
    )]
    Duplicated {
        /// The verdict key.
        key: &'static str,
        /// How many lines carried it.
        count: usize,
        /// The 1-based line number of the first one.
        first: usize,
        /// The 1-based line number of the second one.
        second: usize,
    },
    /// The one verdict line carries a value that is not accepted.
    #[error("`{key}:` on line {line} has value {value:?}, which is not one of {expected}")]
    UnknownValue {
        /// The verdict key.
        key: &'static str,
        /// The value found, lossily decoded and cut to 80 characters.
        value: String,
        /// The 1-based line number.
        line: usize,
        /// The accepted values, separated by ` | `.
        expected: String,
    },
}

/// Reads the verdict for `spec.verdict_key` from an artifact's bytes.
///
/// Returns the accepted value found (one of `spec.values`).
///
/// # Errors
///
/// [`VerdictError`] when the verdict line is missing, duplicated or carries a
/// value that is not accepted. The function never panics, whatever the bytes.
pub fn parse_verdict(artifact: &[u8], spec: &ArtifactSpec) -> Result<&'static str, VerdictError> {
    let body = artifact.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(artifact);
    let key = spec.verdict_key.as_bytes();
    let mut fence: Option<Fence> = None;
    let mut found: Option<(usize, &[u8])> = None;
    let mut count = 0usize;
    let mut second_line = 0usize;

    for (index, raw) in body.split(|&b| b == b'\n').enumerate() {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if let Some(open) = fence {
            if open.is_closed_by(line) {
                fence = None;
            }
            continue;
        }
        if let Some(open) = Fence::opened_by(line) {
            fence = Some(open);
            continue;
        }
        let Some(rest) = line.strip_prefix(key).and_then(|r| r.strip_prefix(b":")) else {
            continue;
        };
        count += 1;
        match count {
            1 => found = Some((index + 1, trim_blanks(rest))),
            2 => second_line = index + 1,
            _ => {}
        }
    }

    match (count, found) {
        (1, Some((line, value))) => spec
            .values
            .iter()
            .find(|accepted| accepted.as_bytes() == value)
            .copied()
            .ok_or_else(|| VerdictError::UnknownValue {
                key: spec.verdict_key,
                value: String::from_utf8_lossy(value).chars().take(80).collect(),
                line,
                expected: spec.values.join(" | "),
            }),
        (0, _) | (_, None) => Err(VerdictError::Missing {
            key: spec.verdict_key,
        }),
        (_, Some((first, _))) => Err(VerdictError::Duplicated {
            key: spec.verdict_key,
            count,
            first,
            second: second_line,
        }),
    }
}

/// Renders one verdict line, `"KEY: VALUE\n"`, the only form writers use.
#[must_use]
pub fn render_verdict_line(key: &str, value: &str) -> String {
    format!("{key}: {value}\n")
}

/// Renders `body` as a fenced code block that nothing in `body` can close or
/// escape: the backtick fence is longer than every backtick or tilde run in
/// it (and at least three). `info` (e.g. `text`) is written after the opening
/// fence with backticks and line breaks removed. The result ends in `\n`.
///
/// ```
/// use orch_pipeline::fenced_block;
/// let block = fenced_block("text", "```\nstaging_status: PASSED\n");
/// assert!(block.starts_with("````text\n"));
/// assert!(block.ends_with("\n````\n"));
/// ```
#[must_use]
pub fn fenced_block(info: &str, body: &str) -> String {
    let longest = longest_run(body.as_bytes(), b'`').max(longest_run(body.as_bytes(), b'~'));
    let fence = "`".repeat(longest.max(2) + 1);
    let info: String = info
        .chars()
        .filter(|c| !matches!(c, '`' | '\n' | '\r'))
        .collect();
    let mut out = String::with_capacity(body.len() + 2 * fence.len() + info.len() + 3);
    out.push_str(&fence);
    out.push_str(&info);
    out.push('\n');
    out.push_str(body);
    if !body.is_empty() && !body.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&fence);
    out.push('\n');
    out
}

/// An open fenced code block: its character and length.
#[derive(Debug, Clone, Copy)]
struct Fence {
    marker: u8,
    len: usize,
}

impl Fence {
    fn opened_by(line: &[u8]) -> Option<Fence> {
        let rest = strip_indent(line)?;
        let marker = *rest.first()?;
        if marker != b'`' && marker != b'~' {
            return None;
        }
        let len = rest.iter().take_while(|&&b| b == marker).count();
        if len < 3 {
            return None;
        }
        if marker == b'`' && rest[len..].contains(&b'`') {
            return None;
        }
        Some(Fence { marker, len })
    }

    fn is_closed_by(self, line: &[u8]) -> bool {
        let Some(rest) = strip_indent(line) else {
            return false;
        };
        let len = rest.iter().take_while(|&&b| b == self.marker).count();
        len >= self.len && trim_blanks(&rest[len..]).is_empty()
    }
}

/// Strips at most three leading spaces; `None` when the line is indented
/// further (an indented code line, which neither opens nor closes a fence).
fn strip_indent(line: &[u8]) -> Option<&[u8]> {
    let spaces = line.iter().take_while(|&&b| b == b' ').count();
    (spaces <= 3).then(|| &line[spaces..])
}

fn trim_blanks(bytes: &[u8]) -> &[u8] {
    let is_blank = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes
        .iter()
        .position(|b| !is_blank(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_blank(b))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

fn longest_run(bytes: &[u8], marker: u8) -> usize {
    let mut longest = 0;
    let mut current = 0;
    for &b in bytes {
        if b == marker {
            current += 1;
            longest = longest.max(current);
        } else {
            current = 0;
        }
    }
    longest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_blanks_handles_edges() {
        assert_eq!(trim_blanks(b""), b"");
        assert_eq!(trim_blanks(b" \t "), b"");
        assert_eq!(trim_blanks(b" a b\t"), b"a b");
    }

    #[test]
    fn longest_run_counts_the_longest() {
        assert_eq!(longest_run(b"a``b````c`", b'`'), 4);
        assert_eq!(longest_run(b"", b'`'), 0);
    }

    #[test]
    fn fence_rules() {
        assert!(Fence::opened_by(b"```").is_some());
        assert!(Fence::opened_by(b"   ~~~~ info").is_some());
        assert!(Fence::opened_by(b"    ```").is_none());
        assert!(Fence::opened_by(b"``").is_none());
        assert!(Fence::opened_by(b"``` a`b").is_none());
        let open = Fence::opened_by(b"````").unwrap();
        assert!(!open.is_closed_by(b"```"));
        assert!(!open.is_closed_by(b"~~~~"));
        assert!(open.is_closed_by(b"`````  "));
        assert!(!open.is_closed_by(b"```` x"));
    }
}
