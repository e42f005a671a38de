//! The verdict-line grammar (DESIGN §3.4): how a verdict is written into an
//! artifact, and how it is read back.
//!
//! A verdict line counts only where a person reading the rendered markdown
//! would see it as a plain line of text: it is `KEY: VALUE` at column 0, on a
//! source line of a top-level paragraph. The reader hands the block and inline
//! structure to a real CommonMark parser ([`pulldown_cmark`]) instead of
//! keeping rules of its own, so a line inside a code block, an HTML block or
//! comment, a block quote (lazy continuation lines included), a list, a heading
//! (setext headings included), a table or a footnote never counts.
//!
//! The rules, in full:
//! - A UTF-8 byte-order mark at the very start of the artifact is ignored.
//!   Lines end at `\n`, `\r\n` or a lone `\r`, as in CommonMark; line numbers
//!   in errors are 1-based source line numbers counted that way. A lone `\r`
//!   is handed to the parser as `\n` (the same byte count, so offsets stay),
//!   because pulldown-cmark 0.13 reads a fence's info string across a lone
//!   `\r` and would miss a code block that CommonMark sees.
//! - Bytes that are not valid UTF-8 are decoded with
//!   [`String::from_utf8_lossy`]: each invalid sequence becomes one U+FFFD and
//!   every ASCII byte stays, so the lines, their order and every markdown
//!   marker are unchanged. A line holding invalid bytes therefore never starts
//!   with a key it did not start with, and its value carries U+FFFD, which no
//!   accepted value contains: invalid bytes can never make a verdict pass.
//! - A candidate line starts with `KEY:` at column 0: the key's first byte is
//!   the line's first byte and the colon follows the key at once. Its value is
//!   the rest of the line with spaces and tabs trimmed at both ends.
//! - The artifact is parsed with
//!   `pulldown_cmark::Parser::new_ext(text, options).into_offset_iter()`. A
//!   top-level paragraph is one whose `Start(Paragraph)` comes at nesting
//!   depth 0. A candidate counts only when the whole `KEY: VALUE` span of its
//!   line (from the key up to the value's last non-blank byte) is covered by
//!   `Text` events that are direct children of one top-level paragraph. So a
//!   key or value inside an inline code span, a link, emphasis, strikethrough,
//!   inline HTML or an HTML comment does not count; in particular an inline
//!   HTML comment opened earlier in the paragraph and closed on a later line
//!   hides the whole line, as it does from a reader. A line right under a
//!   sentence of the same paragraph still counts.
//! - A candidate after raw HTML does not count: when an HTML block or inline
//!   HTML (a comment included) starts anywhere before the line. Raw HTML can
//!   open an element that hides or restyles everything after it (`<details>`,
//!   `<div hidden>`, `<style>`), and the markdown parser does not model HTML
//!   elements, so the reader does not try to tell harmless HTML from the rest.
//! - The artifact is read twice: as plain CommonMark (`Options::empty()`) and
//!   as GitHub renders it (tables, strikethrough, task lists, footnotes, GFM
//!   alerts and math). pulldown-cmark keeps a fenced code block open when the
//!   closing fence is followed by a tab, where GitHub (and CommonMark 0.31.2)
//!   closes it, so the GitHub reading sees such tabs as spaces. pulldown-cmark
//!   starts a table only under a header row that holds a pipe, GitHub also
//!   under one without, so in the GitHub reading a line does not count when a
//!   table delimiter row (`|-|`, `:-:`) of its paragraph comes before it or
//!   right after it. If the two readings count different lines, the reader
//!   fails with [`VerdictError::Ambiguous`] naming the first such line.
//! - Exactly one counting line per key. None, two or more, or a value that is
//!   not one of the artifact's accepted values (matched exactly: `passed` is
//!   not `PASSED`) is a [`VerdictError`], which a gate treats as failure.
//!
//! When no line starts with `KEY:` at all, the reader answers
//! [`VerdictError::Missing`] without parsing. It never panics, whatever the
//! bytes.

use std::borrow::Cow;
use std::ops::Range;

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

use crate::artifact::ArtifactSpec;

/// Why no verdict could be read: every variant makes the gate fail closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerdictError {
    /// No verdict line for the key in a top-level paragraph.
    #[error(
        "no `{key}:` verdict line at column 0 in a top-level paragraph (lines in code blocks, HTML, block quotes, lists, headings or tables, and lines after raw HTML, do not count); the role must write exactly one line `{key}: VALUE`, on its own between blank lines"
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
    /// A `KEY:` line is a verdict line in one markdown reading of the artifact
    /// and not in the other, so what a reader sees depends on the renderer.
    #[error(
        "`{key}:` on line {line} is a verdict line when the artifact is read as {counted_by} but not when read as {ignored_by}; write the verdict line on its own, separated by blank lines, outside any other markdown construct"
    )]
    Ambiguous {
        /// The verdict key.
        key: &'static str,
        /// The 1-based line number of the first line the readings disagree on.
        line: usize,
        /// The reading in which the line counts.
        counted_by: &'static str,
        /// The reading in which it does not.
        ignored_by: &'static str,
    },
}

/// One way of reading an artifact's markdown: a name for messages, the parser
/// options, and whether to correct for where pulldown-cmark reads differently
/// from GitHub's renderer.
#[derive(Debug, Clone, Copy)]
struct Reading {
    name: &'static str,
    options: Options,
    like_github: bool,
}

/// The CommonMark specification, with no extension, as pulldown-cmark reads it.
const COMMONMARK: Reading = Reading {
    name: "plain CommonMark",
    options: Options::empty(),
    like_github: false,
};

/// The extensions GitHub renders artifacts with. GitHub also renders alerts
/// and math, which can hide or wrap a line, so they are read here too.
const GITHUB: Reading = Reading {
    name: "GitHub Flavored Markdown",
    options: Options::ENABLE_TABLES
        .union(Options::ENABLE_STRIKETHROUGH)
        .union(Options::ENABLE_TASKLISTS)
        .union(Options::ENABLE_FOOTNOTES)
        .union(Options::ENABLE_GFM)
        .union(Options::ENABLE_MATH),
    like_github: true,
};

/// A source line that starts with `KEY:` at column 0, as byte offsets into
/// the decoded text.
#[derive(Debug, Clone)]
struct Candidate {
    /// The line's first byte, which is the key's first byte.
    start: usize,
    /// Just past the `KEY: VALUE` span: past the value's last non-blank byte,
    /// or past the colon when the value is empty.
    end: usize,
    /// The value, blanks trimmed at both ends.
    value: Range<usize>,
}

/// Reads the verdict for `spec.verdict_key` from an artifact's bytes.
///
/// Returns the accepted value found (one of `spec.values`).
///
/// # Errors
///
/// [`VerdictError`] when the verdict line is missing, duplicated, carries a
/// value that is not accepted, or counts in one markdown reading of the
/// artifact and not in the other. The function never panics, whatever the
/// bytes.
pub fn parse_verdict(artifact: &[u8], spec: &ArtifactSpec) -> Result<&'static str, VerdictError> {
    let key = spec.verdict_key;
    let body = artifact.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(artifact);
    // Valid UTF-8, the usual case, is borrowed as it is. Lossy decoding keeps
    // every ASCII byte and every line (see the module documentation), so the
    // reading of the decoded text is the reading of the artifact.
    let decoded = match std::str::from_utf8(body) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(body),
    };
    // The cheap pre-check: with no line starting with `KEY:`, nothing is
    // parsed at all.
    let candidates = find_candidates(&decoded, key);
    if candidates.is_empty() {
        return Err(VerdictError::Missing { key });
    }
    let text = with_lone_cr_as_lf(&decoded);
    let bytes = text.as_bytes();

    let plain = counting_lines(&text, &candidates, COMMONMARK);
    let github = counting_lines(&text, &candidates, GITHUB);
    if let Some((candidate, counted_in_plain)) = candidates
        .iter()
        .zip(plain.iter().zip(&github))
        .find_map(|(candidate, (p, g))| (p != g).then_some((candidate, *p)))
    {
        let (counted_by, ignored_by) = if counted_in_plain {
            (COMMONMARK.name, GITHUB.name)
        } else {
            (GITHUB.name, COMMONMARK.name)
        };
        return Err(VerdictError::Ambiguous {
            key,
            line: line_number(bytes, candidate.start),
            counted_by,
            ignored_by,
        });
    }

    let mut counting = candidates
        .iter()
        .zip(&plain)
        .filter_map(|(candidate, &counts)| counts.then_some(candidate));
    let Some(found) = counting.next() else {
        return Err(VerdictError::Missing { key });
    };
    if let Some(second) = counting.next() {
        return Err(VerdictError::Duplicated {
            key,
            count: 2 + counting.count(),
            first: line_number(bytes, found.start),
            second: line_number(bytes, second.start),
        });
    }
    let value = bytes.get(found.value.clone()).unwrap_or_default();
    spec.values
        .iter()
        .find(|accepted| accepted.as_bytes() == value)
        .copied()
        .ok_or_else(|| VerdictError::UnknownValue {
            key,
            value: String::from_utf8_lossy(value).chars().take(80).collect(),
            line: line_number(bytes, found.start),
            expected: spec.values.join(" | "),
        })
}

/// Every source line of `text` that starts with `KEY:`, in order.
fn find_candidates(text: &str, key: &str) -> Vec<Candidate> {
    let bytes = text.as_bytes();
    let needle = format!("{key}:");
    // The needle ends in its only colon (keys hold none), so no two matches
    // can overlap and the non-overlapping search misses no line start.
    text.match_indices(needle.as_str())
        .map(|(start, _)| start)
        .filter(|&start| start == 0 || matches!(bytes.get(start - 1), Some(b'\n' | b'\r')))
        .map(|start| {
            let after = start + needle.len();
            let rest = bytes.get(after..).unwrap_or_default();
            let line_end = rest
                .iter()
                .position(|&b| b == b'\n' || b == b'\r')
                .map_or(bytes.len(), |i| after + i);
            let value = trim_blanks_range(bytes, after..line_end);
            let end = if value.is_empty() { after } else { value.end };
            Candidate { start, end, value }
        })
        .collect()
}

/// For each candidate, whether it counts in `reading` of `text`: whether its
/// `KEY: VALUE` span is covered by `Text` events that are direct children of
/// one top-level paragraph, with no raw HTML before it (and, in a reading
/// like GitHub's, no table delimiter row that could make it part of a table).
fn counting_lines(text: &str, candidates: &[Candidate], reading: Reading) -> Vec<bool> {
    let text = if reading.like_github {
        with_closing_fence_tabs_as_spaces(text)
    } else {
        Cow::Borrowed(text)
    };
    let mut counts = vec![false; candidates.len()];
    // The span of the open top-level paragraph.
    let mut paragraph = 0..0;
    let mut depth = 0usize;
    // Where the first raw HTML starts; candidates from there on do not count.
    let mut first_html = usize::MAX;
    // The candidates whose lines start inside the open top-level paragraph,
    // as indices into `candidates`. `None` outside such a paragraph, and also
    // inside one that holds no candidate, whose text is then not collected.
    let mut open: Option<Range<usize>> = None;
    // The paragraph's direct-child `Text` spans that touch a candidate's
    // span, and the first candidate a later `Text` event can still touch.
    let mut texts: Vec<Range<usize>> = Vec::new();
    let mut next = 0usize;
    for (event, span) in Parser::new_ext(&text, reading.options).into_offset_iter() {
        #[expect(
            clippy::wildcard_enum_match_arm,
            reason = "only nesting, paragraphs, raw HTML and text matter; every other event of pulldown-cmark's large enum is skipped alike"
        )]
        match event {
            Event::Start(Tag::HtmlBlock) => {
                first_html = first_html.min(span.start);
                depth += 1;
            }
            Event::InlineHtml(_) | Event::Html(_) => first_html = first_html.min(span.start),
            Event::Start(tag) => {
                if depth == 0 && matches!(tag, Tag::Paragraph) {
                    let first = candidates.partition_point(|c| c.start < span.start);
                    let last = candidates.partition_point(|c| c.start < span.end);
                    open = (first < last).then_some(first..last);
                    next = first;
                    paragraph = span.clone();
                    texts.clear();
                }
                depth += 1;
            }
            Event::End(tag) => {
                depth = depth.saturating_sub(1);
                if depth == 0
                    && matches!(tag, TagEnd::Paragraph)
                    && let Some(inside) = open.take()
                    && let (Some(slots), Some(lines)) =
                        (counts.get_mut(inside.clone()), candidates.get(inside))
                {
                    if !texts.is_sorted_by_key(|t| t.start) {
                        texts.sort_unstable_by_key(|t| t.start);
                    }
                    let table_rows = if reading.like_github {
                        delimiter_rows(text.as_bytes(), paragraph.clone())
                    } else {
                        Vec::new()
                    };
                    for (slot, line) in slots.iter_mut().zip(lines) {
                        *slot = line.start < first_html
                            && is_covered(&texts, line.start..line.end)
                            && !may_be_in_a_table(text.as_bytes(), line, &table_rows);
                    }
                }
            }
            Event::Text(_) if depth == 1 => {
                // Text events come in source order, so the text before the
                // next candidate's span is dropped as it streams past, and a
                // paragraph of 100 MB keeps a few spans, not millions. Were
                // the order ever different, a span would be missing and the
                // candidate would not count: the safe side.
                if let Some(inside) = &open {
                    while next < inside.end
                        && candidates.get(next).is_some_and(|c| c.end <= span.start)
                    {
                        next += 1;
                    }
                    if next < inside.end && candidates.get(next).is_some_and(|c| c.start < span.end)
                    {
                        texts.push(span);
                    }
                }
            }
            _ => {}
        }
    }
    counts
}

/// `text` with every tab that follows a closing-fence-like run at the end of
/// a line turned into a space, so that pulldown-cmark closes the fence there
/// as GitHub does. The result has the same length and lines as `text`.
///
/// A line qualifies when it ends in three or more backticks or tildes and
/// blanks holding a tab, with only spaces, tabs and `>` before the run. Such a
/// line, when it does not close a fence, opens one (whose info string is
/// blank either way) or is code or HTML content, so the change affects
/// nothing but fence closing.
fn with_closing_fence_tabs_as_spaces(text: &str) -> Cow<'_, str> {
    if !text.as_bytes().contains(&b'\t') {
        return Cow::Borrowed(text);
    }
    let mut tabs = Vec::new();
    let mut line_start = 0;
    for line in text.split_inclusive(['\n', '\r']) {
        let content = line.trim_end_matches(['\n', '\r']);
        let kept = content.trim_end_matches([' ', '\t']);
        let blanks = content.get(kept.len()..).unwrap_or_default();
        if blanks.contains('\t') && ends_in_fence_run(kept) {
            let first_blank = line_start + kept.len();
            tabs.extend(
                blanks
                    .bytes()
                    .enumerate()
                    .filter(|&(_, b)| b == b'\t')
                    .map(|(i, _)| first_blank + i),
            );
        }
        line_start += line.len();
    }
    with_ascii_replaced(text, &tabs, b' ')
}

/// `text` with every lone `\r` turned into `\n`. CommonMark reads both as
/// the same line ending, but pulldown-cmark 0.13 reads a fence's info string
/// across a lone `\r` (so ```` ```\rkey: PASSED\r``` ```` is a paragraph to
/// it, not a code block). The result has the same length and lines as `text`.
fn with_lone_cr_as_lf(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    if !bytes.contains(&b'\r') {
        return Cow::Borrowed(text);
    }
    let lone: Vec<usize> = bytes
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\r' && bytes.get(i + 1) != Some(&b'\n'))
        .map(|(i, _)| i)
        .collect();
    with_ascii_replaced(text, &lone, b'\n')
}

/// `text` with the ASCII bytes at `positions` replaced by the ASCII byte
/// `with`, so the length, the offsets and the char boundaries stay.
fn with_ascii_replaced<'a>(text: &'a str, positions: &[usize], with: u8) -> Cow<'a, str> {
    if positions.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut bytes = text.as_bytes().to_vec();
    for &at in positions {
        if let Some(byte) = bytes.get_mut(at).filter(|b| b.is_ascii()) {
            *byte = with;
        }
    }
    // Swapping one ASCII byte for another keeps the text valid UTF-8, so the
    // fallback to the text as it was is never taken.
    String::from_utf8(bytes).map_or(Cow::Borrowed(text), Cow::Owned)
}

/// Whether `line` (trailing blanks already removed) is a run of three or more
/// backticks or tildes after nothing but spaces, tabs and `>`.
fn ends_in_fence_run(line: &str) -> bool {
    let Some(marker) = line.chars().next_back().filter(|c| matches!(c, '`' | '~')) else {
        return false;
    };
    let before = line.trim_end_matches(marker);
    line.len() - before.len() >= 3 && before.chars().all(|c| matches!(c, ' ' | '\t' | '>'))
}

/// The start offsets of the lines within `paragraph` that GitHub would read
/// as a table's delimiter row: cells of `-` with an optional `:` at either
/// end, separated by `|`, with optional outer pipes (`|-|`, `:-:`,
/// `| --- | :-: |`).
///
/// pulldown-cmark starts a table only under a header row that holds a pipe;
/// GitHub also under a row without one, so `KEY: VALUE` over `|-|` is a table
/// header there and a paragraph line here.
fn delimiter_rows(bytes: &[u8], paragraph: Range<usize>) -> Vec<usize> {
    let Some(inside) = bytes.get(paragraph.clone()) else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    let mut line_start = paragraph.start;
    for line in inside.split(|&b| b == b'\n') {
        if is_delimiter_row(line) {
            rows.push(line_start);
        }
        line_start += line.len() + 1;
    }
    rows
}

/// Whether `line` (its line ending removed or not) is a table delimiter row.
fn is_delimiter_row(line: &[u8]) -> bool {
    // Most lines hold a letter early on, and this turns them away at once.
    if !line
        .iter()
        .all(|b| matches!(b, b'|' | b':' | b'-' | b' ' | b'\t' | b'\r'))
    {
        return false;
    }
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let row = bytes_in(line, trim_blanks_range(line, 0..line.len()));
    let row = row.strip_prefix(b"|").unwrap_or(row);
    let row = row.strip_suffix(b"|").unwrap_or(row);
    !row.is_empty()
        && row.split(|&b| b == b'|').all(|cell| {
            let cell = bytes_in(cell, trim_blanks_range(cell, 0..cell.len()));
            let cell = cell.strip_prefix(b":").unwrap_or(cell);
            let cell = cell.strip_suffix(b":").unwrap_or(cell);
            !cell.is_empty() && cell.iter().all(|&b| b == b'-')
        })
}

/// Whether GitHub may read `line` as part of a table: a delimiter row of its
/// paragraph comes before it (it may be a body row) or right after it (it may
/// be the header row). Where the delimiter row does not in fact match, this
/// errs on the side of not counting.
fn may_be_in_a_table(bytes: &[u8], line: &Candidate, rows: &[usize]) -> bool {
    let next_line = bytes
        .get(line.start..)
        .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
        .map(|i| line.start + i + 1);
    rows.iter()
        .any(|&row| row < line.start || Some(row) == next_line)
}

/// The bytes of `range` within `bytes`, or none when it is out of bounds.
fn bytes_in(bytes: &[u8], range: Range<usize>) -> &[u8] {
    bytes.get(range).unwrap_or_default()
}

/// Whether `texts`, sorted by start, cover every byte of the non-empty `span`
/// with no gap.
fn is_covered(texts: &[Range<usize>], span: Range<usize>) -> bool {
    let mut reached = span.start;
    for text in texts {
        if text.start > reached {
            break;
        }
        reached = reached.max(text.end);
        if reached >= span.end {
            return true;
        }
    }
    false
}

/// The 1-based number of the source line that starts at byte `offset`: one
/// plus the line endings before it, `\r\n` counting once.
fn line_number(bytes: &[u8], offset: usize) -> usize {
    let before = bytes.get(..offset).unwrap_or(bytes);
    let mut lines = 1;
    for (index, &byte) in before.iter().enumerate() {
        let ends_line = byte == b'\n' || (byte == b'\r' && bytes.get(index + 1) != Some(&b'\n'));
        if ends_line {
            lines += 1;
        }
    }
    lines
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

/// `range` within `bytes` with spaces and tabs trimmed at both ends.
fn trim_blanks_range(bytes: &[u8], range: Range<usize>) -> Range<usize> {
    let is_blank = |b: &u8| *b == b' ' || *b == b'\t';
    let slice = bytes.get(range.clone()).unwrap_or_default();
    let start = slice
        .iter()
        .position(|b| !is_blank(b))
        .unwrap_or(slice.len());
    let end = slice
        .iter()
        .rposition(|b| !is_blank(b))
        .map_or(start, |i| i + 1);
    range.start + start..range.start + end
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
    fn trim_blanks_range_handles_edges() {
        assert_eq!(trim_blanks_range(b"", 0..0), 0..0);
        assert_eq!(trim_blanks_range(b"x \t ", 1..4), 4..4);
        assert_eq!(trim_blanks_range(b"k: a b\t", 2..7), 3..6);
        assert_eq!(trim_blanks_range(b"ab", 1..9), 1..1);
    }

    #[test]
    fn longest_run_counts_the_longest() {
        assert_eq!(longest_run(b"a``b````c`", b'`'), 4);
        assert_eq!(longest_run(b"", b'`'), 0);
    }

    #[test]
    fn line_numbers_count_every_line_ending_once() {
        let text = b"a\nb\r\nc\rd\n\ne";
        assert_eq!(line_number(text, 0), 1);
        assert_eq!(line_number(text, 2), 2);
        assert_eq!(line_number(text, 5), 3);
        assert_eq!(line_number(text, 7), 4);
        assert_eq!(line_number(text, 10), 6);
    }

    #[test]
    fn coverage_needs_text_from_the_first_byte_to_the_last_without_a_gap() {
        let covered = |texts: &[(usize, usize)], span: Range<usize>| {
            let texts: Vec<Range<usize>> = texts.iter().map(|&(a, b)| a..b).collect();
            is_covered(&texts, span)
        };
        assert!(covered(&[(0, 3), (3, 8)], 0..8));
        assert!(covered(&[(0, 10)], 2..5));
        assert!(covered(&[(0, 4), (2, 9)], 1..9));
        assert!(!covered(&[(0, 3), (4, 8)], 0..8));
        assert!(!covered(&[(1, 8)], 0..8));
        assert!(!covered(&[(0, 7)], 0..8));
        assert!(!covered(&[], 0..8));
    }

    #[test]
    fn candidates_start_at_column_zero_after_any_line_ending() {
        let text = "k: A\nx k: B\r k: C\rk:  D \t\r\nk:\nkk: E";
        let found: Vec<(usize, &str)> = find_candidates(text, "k")
            .into_iter()
            .map(|c| (c.start, &text[c.value]))
            .collect();
        assert_eq!(found, vec![(0, "A"), (18, "D"), (27, "")]);
    }

    #[test]
    fn only_tabs_after_a_closing_fence_like_run_become_spaces() {
        assert_eq!(
            with_closing_fence_tabs_as_spaces("a\tb\n```\t \t\r\n> ~~~\t\r  ````\t"),
            "a\tb\n```   \r\n> ~~~ \r  ```` "
        );
        for unchanged in [
            "no tab at all\n```\n",
            "``\t\n",
            "x```\t\n",
            "```info\t\n",
            "- ```\t\n",
            "``` ```\t\n",
            "\t```\n",
        ] {
            assert!(
                matches!(
                    with_closing_fence_tabs_as_spaces(unchanged),
                    Cow::Borrowed(_)
                ),
                "{unchanged:?}"
            );
        }
    }

    #[test]
    fn only_a_lone_cr_becomes_a_line_feed() {
        assert_eq!(with_lone_cr_as_lf("a\rb\r\nc\r\r\n\r"), "a\nb\r\nc\n\r\n\n");
        assert!(matches!(with_lone_cr_as_lf("a\r\nb\n"), Cow::Borrowed(_)));
    }

    #[test]
    fn fence_runs_are_three_or_more_of_one_marker() {
        assert!(ends_in_fence_run("```"));
        assert!(ends_in_fence_run(" >  ~~~~"));
        assert!(!ends_in_fence_run("``"));
        assert!(!ends_in_fence_run("~~`"));
        assert!(!ends_in_fence_run("a```"));
        assert!(!ends_in_fence_run(""));
    }

    #[test]
    fn delimiter_rows_are_cells_of_dashes_between_pipes() {
        for row in [
            "|-|",
            ":-:",
            "-:",
            "| --- | :-: |",
            "---|---",
            " |-| \r",
            "-",
        ] {
            assert!(is_delimiter_row(row.as_bytes()), "{row:?}");
        }
        for row in ["", "|", "||", "|a|", "- x", "|-|-x|", "::", "|:|", "-- -"] {
            assert!(!is_delimiter_row(row.as_bytes()), "{row:?}");
        }
        let text = b"a\n|-|\nb\n  :-:\n";
        assert_eq!(delimiter_rows(text, 0..text.len()), vec![2, 8]);
    }

    #[test]
    fn the_two_readings_differ() {
        assert!(COMMONMARK.options.is_empty());
        assert!(
            GITHUB
                .options
                .contains(Options::ENABLE_TABLES | Options::ENABLE_FOOTNOTES)
        );
    }
}
