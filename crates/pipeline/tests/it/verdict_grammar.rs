//! The verdict-line grammar (DESIGN §3.4): named cases and property tests.
//! Every case goes through the real gate, `check_staging_status`.

use orch_pipeline::{
    GateResult, Stage, VerdictError, check_staging_status, fenced_block, parse_verdict,
    render_verdict_line,
};
use proptest::prelude::*;

fn staging(text: impl AsRef<[u8]>) -> GateResult {
    check_staging_status(text.as_ref())
}

fn parse(text: impl AsRef<[u8]>) -> Result<&'static str, VerdictError> {
    let Some(spec) = Stage::DeployStaging.artifact() else {
        unreachable!("deploy-staging has an artifact");
    };
    parse_verdict(text.as_ref(), spec)
}

#[test]
fn a_single_line_passes_or_fails_by_its_value() {
    let pass = staging("# Staging log\n\nstaging_status: PASSED\n\nall good\n");
    assert!(pass.passed);
    assert_eq!(pass.verdict.as_deref(), Some("PASSED"));

    let fail = staging("staging_status: FAILED\n");
    assert!(!fail.passed);
    assert_eq!(fail.verdict.as_deref(), Some("FAILED"));
}

#[test]
fn missing_key_fails_closed() {
    for text in [
        "",
        "\n\n",
        "# Staging log\nall good\n",
        " staging_status: PASSED\n",
        "\tstaging_status: PASSED\n",
        "> staging_status: PASSED\n",
        "Staging_Status: PASSED\n",
        "staging_status : PASSED\n",
        "staging_statuses: PASSED\n",
        "the staging_status: PASSED\n",
    ] {
        let result = staging(text);
        assert!(!result.passed, "{text:?}");
        assert_eq!(result.verdict, None, "{text:?}");
        assert_eq!(
            parse(text),
            Err(VerdictError::Missing {
                key: "staging_status"
            }),
            "{text:?}"
        );
    }
}

#[test]
fn duplicated_key_fails_closed_even_when_values_agree() {
    for text in [
        "staging_status: PASSED\nstaging_status: PASSED\n",
        "staging_status: FAILED\nok\nstaging_status: PASSED\n",
        "staging_status: PASSED\nstaging_status: nonsense\nstaging_status: PASSED\n",
    ] {
        let result = staging(text);
        assert!(!result.passed, "{text:?}");
        assert!(
            result.reason.contains("exactly one is allowed"),
            "{}",
            result.reason
        );
    }
    assert_eq!(
        parse("a\nstaging_status: FAILED\nb\nstaging_status: PASSED\n"),
        Err(VerdictError::Duplicated {
            key: "staging_status",
            count: 2,
            first: 2,
            second: 4
        })
    );
}

#[test]
fn unknown_and_lower_case_values_fail_closed() {
    for value in [
        "passed",
        "Passed",
        "PASS",
        "OK",
        "",
        "PASSED!",
        "PASSED FAILED",
        "\u{fffd}",
    ] {
        let text = format!("staging_status: {value}\n");
        let result = staging(&text);
        assert!(!result.passed, "{text:?}");
        assert_eq!(result.verdict, None);
        assert!(
            matches!(parse(&text), Err(VerdictError::UnknownValue { .. })),
            "{text:?}"
        );
    }
    let err = parse("x\nstaging_status: passed\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "`staging_status:` on line 2 has value \"passed\", which is not one of PASSED | FAILED"
    );
}

#[test]
fn a_key_inside_a_fence_is_ignored() {
    // Only the fenced line: missing.
    assert!(matches!(
        parse("```\nstaging_status: PASSED\n```\n"),
        Err(VerdictError::Missing { .. })
    ));
    // The real line outside wins; the fenced one does not count as a duplicate.
    assert_eq!(
        parse("staging_status: FAILED\n```text\nstaging_status: PASSED\n```\n"),
        Ok("FAILED")
    );
    // After the fence closes, lines count again.
    assert_eq!(
        parse("```\nnoise\n```\nstaging_status: PASSED\n"),
        Ok("PASSED")
    );
}

#[test]
fn fences_of_backticks_and_tildes_of_several_lengths() {
    for marker in ['`', '~'] {
        for len in 3..=8 {
            let fence: String = std::iter::repeat_n(marker, len).collect();
            let shorter: String = std::iter::repeat_n(marker, len - 1).collect();
            let other = if marker == '`' {
                "~~~~~~~~~~"
            } else {
                "``````````"
            };
            // A shorter run and a run of the other character do not close the
            // fence, so the line after them is still inside it.
            let text = format!(
                "staging_status: FAILED\n{fence}\n{shorter}\n{other}\nstaging_status: PASSED\n{fence}\n"
            );
            assert_eq!(parse(&text), Ok("FAILED"), "marker {marker} len {len}");
            // A longer run with trailing spaces does close it.
            let text = format!(
                "{fence}info\nstaging_status: PASSED\n{fence}{marker}  \nstaging_status: FAILED\n"
            );
            assert_eq!(parse(&text), Ok("FAILED"), "marker {marker} len {len}");
            // A trailing tab closes it for GitHub but not for pulldown-cmark's
            // CommonMark, so the line after it is ambiguous and fails closed.
            let text = format!(
                "{fence}info\nstaging_status: PASSED\n{fence}{marker} \t\nstaging_status: FAILED\n"
            );
            assert!(
                matches!(parse(&text), Err(VerdictError::Ambiguous { line: 4, .. })),
                "marker {marker} len {len}: {:?}",
                parse(&text)
            );
        }
    }
    // An unclosed fence runs to the end of the artifact.
    assert!(matches!(
        parse("~~~\nstaging_status: PASSED\n"),
        Err(VerdictError::Missing { .. })
    ));
    // Indented by four spaces is not a fence.
    assert_eq!(parse("    ```\nstaging_status: PASSED\n"), Ok("PASSED"));
    // Indented by up to three spaces is one.
    assert!(parse("   ```\nstaging_status: PASSED\n").is_err());
}

#[test]
fn trailing_spaces_crlf_and_bom_are_tolerated() {
    assert_eq!(parse("staging_status: PASSED   \n"), Ok("PASSED"));
    assert_eq!(parse("staging_status:\tPASSED\t\n"), Ok("PASSED"));
    assert_eq!(parse("staging_status:PASSED"), Ok("PASSED"));
    assert_eq!(
        parse("# log\r\nstaging_status: PASSED\r\nend\r\n"),
        Ok("PASSED")
    );
    assert_eq!(
        parse("```\r\nstaging_status: FAILED\r\n```\r\nstaging_status: PASSED\r\n"),
        Ok("PASSED")
    );
    assert_eq!(parse("\u{feff}staging_status: PASSED\n"), Ok("PASSED"));
    // A BOM anywhere but the very start is content, so that line is not at column 0.
    assert!(parse("x\n\u{feff}staging_status: PASSED\n").is_err());
}

#[test]
fn non_utf8_bytes_never_panic_and_never_pass() {
    let mut text = b"\xff\xfe garbage \xc3\x28\n".to_vec();
    text.extend_from_slice(b"staging_status: PASSED\n\x80\x81\n");
    assert_eq!(parse(&text), Ok("PASSED"));

    let bad_value = b"staging_status: PASS\xffED\n";
    let result = staging(bad_value);
    assert!(!result.passed);
    assert!(
        result.reason.contains("PASS\u{fffd}ED"),
        "{}",
        result.reason
    );

    let nul = b"staging_status: PASSED\0\n";
    assert!(!staging(nul).passed);
}

#[test]
fn a_100_mb_artifact_is_read_in_one_pass() {
    let line = b"suite output line that goes on for a while, 0123456789 abcdefghij\n";
    let mut text = Vec::with_capacity(100 * 1024 * 1024 + 64);
    text.extend_from_slice(b"staging_status: FAILED\n```text\n");
    while text.len() < 100 * 1024 * 1024 {
        text.extend_from_slice(line);
    }
    text.extend_from_slice(b"staging_status: PASSED\n```\n");
    assert!(text.len() >= 100 * 1024 * 1024);
    let result = staging(&text);
    assert!(!result.passed);
    assert_eq!(result.verdict.as_deref(), Some("FAILED"));
}

#[test]
fn writer_and_reader_agree() {
    let body = "staging_status: PASSED\n```\n~~~~~\n````````````` \nstaging_status: PASSED\r\n\0\n";
    let artifact = format!(
        "# Staging log\n\n{}\n{}",
        render_verdict_line("staging_status", "FAILED"),
        fenced_block("text", body)
    );
    assert_eq!(parse(&artifact), Ok("FAILED"));
    assert!(fenced_block("te`x\nt", "").starts_with("```text\n"));
}

fn assert_missing(text: impl AsRef<[u8]>) {
    let text = text.as_ref();
    let shown = String::from_utf8_lossy(text);
    let result = staging(text);
    assert!(!result.passed, "{shown:?}");
    assert_eq!(result.verdict, None, "{shown:?}");
    assert_eq!(
        parse(text),
        Err(VerdictError::Missing {
            key: "staging_status"
        }),
        "{shown:?}"
    );
}

fn assert_ambiguous(text: &str, line: usize) {
    let result = staging(text);
    assert!(!result.passed, "{text:?}");
    assert_eq!(result.verdict, None, "{text:?}");
    let parsed = parse(text);
    assert!(
        matches!(parsed, Err(VerdictError::Ambiguous { key: "staging_status", line: found, .. }) if found == line),
        "{text:?}: expected Ambiguous on line {line}, got {parsed:?}"
    );
    assert!(
        result
            .reason
            .contains("write the verdict line on its own, separated by blank lines"),
        "{}",
        result.reason
    );
}

// Golden case 1: a lone CR ends a line, so the fence after it opens a code
// block that hides the verdict. The old reader saw one line `intro\r```` and
// passed.
#[test]
fn golden_a_lone_cr_before_a_fence_hides_the_verdict() {
    assert_missing("intro\r```\nstaging_status: PASSED\n");
    assert_missing("intro\r~~~\rstaging_status: PASSED\r");
    // pulldown-cmark 0.13 reads a fence's info string across a lone CR; the
    // reader hands it `\n` instead, so this is a code block as CommonMark says.
    assert_missing("```\rstaging_status: PASSED\r```");
    assert_eq!(
        parse("```\rstaging_status: PASSED\r```\rstaging_status: FAILED\r"),
        Ok("FAILED")
    );
    // A lone CR counts as a line ending for line numbers too.
    assert_eq!(
        parse("a\rb\r\nstaging_status: passed\n"),
        Err(VerdictError::UnknownValue {
            key: "staging_status",
            value: "passed".to_owned(),
            line: 3,
            expected: "PASSED | FAILED".to_owned(),
        })
    );
}

// Golden case 2: a verdict inside an HTML comment or an HTML block is not seen.
#[test]
fn golden_a_verdict_inside_an_html_comment_or_block_is_missing() {
    assert_missing("<!--\nstaging_status: PASSED\n-->\n");
    assert_missing("<pre>\nstaging_status: PASSED\n</pre>\n");
    assert_missing("<div>\nstaging_status: PASSED\n</div>\n");
    // An HTML comment runs over blank lines until `-->`.
    assert_missing("<!--\n\nstaging_status: PASSED\n\n-->\n");
    // A block-level tag interrupts a paragraph.
    assert_missing("Result:\n<div>\nstaging_status: PASSED\n</div>\n");
}

// Golden case 3: a lazy continuation line belongs to the block quote.
#[test]
fn golden_a_lazy_continuation_of_a_block_quote_is_missing() {
    assert_missing("> staging_status: FAILED\nstaging_status: PASSED\n");
    assert_missing("> quoted\nstaging_status: PASSED\n");
    // After a blank line the quote is over and the line counts.
    assert_eq!(
        parse("> staging_status: FAILED\n\nstaging_status: PASSED\n"),
        Ok("PASSED")
    );
}

// Golden case 4.
#[test]
fn golden_a_line_right_under_a_sentence_of_the_same_paragraph_counts() {
    assert_eq!(
        parse("All checks ran.\nstaging_status: PASSED\n"),
        Ok("PASSED")
    );
    assert_eq!(parse("All good.\nstaging_status: PASSED\n"), Ok("PASSED"));
    assert_eq!(
        parse("All good.\nstaging_status: FAILED\nSee below.\n"),
        Ok("FAILED")
    );
    // A hard line break before it changes nothing.
    assert_eq!(parse("All good.  \nstaging_status: PASSED\n"), Ok("PASSED"));
}

// Golden case 5: `---` or `===` under the line makes it a setext heading.
#[test]
fn golden_a_setext_heading_is_missing() {
    assert_missing("staging_status: PASSED\n---\n");
    assert_missing("staging_status: PASSED\n===\n");
    assert_missing("All good.\nstaging_status: PASSED\n-\n");
    // After a blank line `---` is a thematic break, not an underline.
    assert_eq!(parse("staging_status: PASSED\n\n---\n"), Ok("PASSED"));
    // An ATX heading is not a paragraph either.
    assert_missing("# staging_status: PASSED\n");
}

// Golden case 6: code blocks, list items, code spans, inline HTML and other
// inline constructs that span the line hide it.
#[test]
fn golden_code_lists_code_spans_and_inline_html_are_missing() {
    for text in [
        "text\n\n    staging_status: PASSED\n",
        "- staging_status: PASSED\n",
        "* staging_status: PASSED\n",
        "+ staging_status: PASSED\n",
        "1. staging_status: PASSED\n",
        "1) staging_status: PASSED\n",
        "- item\nstaging_status: PASSED\n",
        "`a\nstaging_status: PASSED\n`\n",
        "``\nstaging_status: PASSED\n``\n",
        "text <!--\nstaging_status: PASSED\n-->\n",
        "*a\nstaging_status: PASSED\nb*\n",
        "**a\nstaging_status: PASSED\nb**\n",
        "[a\nstaging_status: PASSED\n](https://example.invalid)\n",
    ] {
        assert_missing(text);
    }
    // An indented code block ends at a line at column 0, which then counts.
    assert_eq!(parse("    code\nstaging_status: PASSED\n"), Ok("PASSED"));
    // A code span that closes before the line does not hide it.
    assert_eq!(parse("`a`\nstaging_status: PASSED\n"), Ok("PASSED"));
}

// Golden case 7: a GFM table. A table after the verdict's paragraph leaves it
// alone in both readings; a table the line would be a row of exists only for
// GitHub, so the readings disagree and the reader fails closed.
#[test]
fn golden_readings_that_disagree_fail_closed() {
    // Plain CommonMark: one paragraph of three lines. GitHub: the verdict's
    // paragraph, then a one-column table. The line counts in both.
    assert_eq!(parse("staging_status: PASSED\n|a|\n|-|\n"), Ok("PASSED"));
    // GitHub reads the line as a table row.
    assert_ambiguous("a|b\n-|-\nstaging_status: PASSED\n", 3);
    // GitHub also reads a header row without a pipe, pulldown-cmark does not:
    // the line is a table header for GitHub.
    assert_ambiguous("staging_status: PASSED\n|-|\n", 1);
    assert_ambiguous("staging_status: PASSED\n:-:\n", 1);
    assert_ambiguous("All good.\nstaging_status: PASSED\n| --- |\n", 2);
    assert_ambiguous("x\n|-|\nstaging_status: PASSED\n", 3);
    assert_ambiguous("| a |\n| - |\nstaging_status: PASSED\n", 3);
    // Strikethrough, a footnote's lazy continuation and display math exist
    // only for GitHub.
    assert_ambiguous("~~a\nstaging_status: PASSED\nb~~\n", 2);
    assert_ambiguous("[^1]: a note\nstaging_status: PASSED\n", 2);
    assert_ambiguous("$$\nstaging_status: PASSED\n$$\n", 2);
    // A tab after a closing fence: GitHub closes the fence, pulldown-cmark
    // does not.
    assert_ambiguous("```\nx\n```\t\nstaging_status: FAILED\n", 4);
    // The forged case this guards against: for GitHub, FAILED is the verdict
    // and PASSED sits in a code block; pulldown-cmark alone would read PASSED.
    assert_ambiguous(
        "```\nx\n```\t\nstaging_status: FAILED\n```\nstaging_status: PASSED\n```\n",
        4,
    );
    // Disagreement wins over a duplicate: the writer must fix the layout.
    assert_ambiguous(
        "staging_status: FAILED\n\na|b\n-|-\nstaging_status: PASSED\n",
        5,
    );
    let message = parse("~~a\nstaging_status: PASSED\nb~~\n")
        .unwrap_err()
        .to_string();
    assert_eq!(
        message,
        "`staging_status:` on line 2 is a verdict line when the artifact is read as plain CommonMark but not when read as GitHub Flavored Markdown; write the verdict line on its own, separated by blank lines, outside any other markdown construct"
    );
}

#[test]
fn raw_html_before_the_verdict_hides_it() {
    // A collapsed `<details>` hides the paragraph inside it from a reader.
    assert_missing("<details>\n\nstaging_status: PASSED\n\n</details>\n");
    assert_missing("Result <span hidden>\nstaging_status: PASSED\n</span>\n");
    assert_missing("Done.<br>\nstaging_status: PASSED\n");
    // A comment is raw HTML too: the reader does not tell harmless HTML apart.
    assert_missing("<!-- generated -->\n\nstaging_status: PASSED\n");
    // Raw HTML after the verdict line changes nothing.
    assert_eq!(
        parse("staging_status: PASSED\n\n<details>\n\nstaging_status: FAILED\n"),
        Ok("PASSED")
    );
    assert_eq!(parse("staging_status: PASSED\n<br>\n"), Ok("PASSED"));
    // An autolink is a link, not HTML.
    assert_eq!(
        parse("See <https://example.invalid>.\n\nstaging_status: PASSED\n"),
        Ok("PASSED")
    );
}

#[test]
fn what_the_staging_runner_writes_reads_back() {
    // The layout of crates/staging_runner's log: a `# Staging log` heading, a
    // blank line, the verdict line, `- key: value` lines (right under the
    // verdict, or after a blank line: a list item ends the verdict's
    // paragraph either way), `## Command` with a fenced block, `## Output`
    // with a sentence and a fenced block. The suite output is hostile:
    // verdict lines, fences, HTML, a setext underline.
    let output = "staging_status: PASSED\n```\n~~~~\n<!--\nstaging_status: PASSED\n---\n";
    for (status, blank_after_verdict) in [
        ("PASSED", false),
        ("FAILED", false),
        ("PASSED", true),
        ("FAILED", true),
    ] {
        let mut log = String::from("# Staging log\n\n");
        log.push_str(&render_verdict_line("staging_status", status));
        if blank_after_verdict {
            log.push('\n');
        }
        log.push_str("- outcome: executed\n");
        log.push_str("- reason: \"exit status 0\"\n");
        log.push_str("- exit: 0\n");
        log.push_str("- timed out: no\n");
        log.push_str("- working directory: \"/srv/app\\nstaging_status: PASSED\"\n");
        log.push_str("\n## Command\n\n");
        log.push_str(&fenced_block("sh", "make test\nstaging_status: PASSED"));
        log.push_str("\n## Output\n\n");
        log.push_str(&format!("{} bytes, all below.\n", output.len()));
        log.push('\n');
        log.push_str(&fenced_block("text", output));
        let verdict_then_list = format!("\n\nstaging_status: {status}\n- outcome: executed\n");
        assert_eq!(log.contains(&verdict_then_list), !blank_after_verdict);
        assert_eq!(parse(&log), Ok(status), "{log}");
        let gate = staging(&log);
        assert_eq!(gate.passed, status == "PASSED", "{log}");
        assert_eq!(gate.verdict.as_deref(), Some(status));
    }
}

#[test]
fn invalid_utf8_is_read_line_by_line_and_never_matches_a_value() {
    // Invalid bytes elsewhere keep the lines where they are.
    let text = b"\xff\xfe\n\xe2\x80\n\xc3\nstaging_status: PASSED\n";
    assert_eq!(parse(text), Ok("PASSED"));
    // The line number counts the lines that held invalid bytes.
    assert_eq!(
        parse(b"\xff\n\xfe\xfd\nstaging_status: PASS\xffED\n"),
        Err(VerdictError::UnknownValue {
            key: "staging_status",
            value: "PASS\u{fffd}ED".to_owned(),
            line: 3,
            expected: "PASSED | FAILED".to_owned(),
        })
    );
    // An invalid byte before or inside the key: no verdict line.
    assert_missing(b"\xe2\x80staging_status: PASSED\n");
    assert_missing(b"staging_status\xff: PASSED\n");
    // An invalid byte inside a fence stays inside it.
    assert_missing(b"```\xff\nstaging_status: PASSED\n");
    assert_eq!(
        parse(b"```\n\xff\n```\nstaging_status: FAILED\n"),
        Ok("FAILED")
    );
}

#[test]
fn line_numbers_count_lf_crlf_and_lone_cr_alike() {
    assert_eq!(
        parse("a\r\nb\rstaging_status: FAILED\r\nc\nstaging_status: PASSED\n"),
        Err(VerdictError::Duplicated {
            key: "staging_status",
            count: 2,
            first: 3,
            second: 5
        })
    );
    assert_eq!(
        parse("\u{feff}x\rstaging_status: FAILED\rstaging_status: PASSED\rstaging_status: FAILED"),
        Err(VerdictError::Duplicated {
            key: "staging_status",
            count: 3,
            first: 2,
            second: 3
        })
    );
}

#[test]
fn a_long_paragraph_full_of_inline_markup_is_read_in_one_pass_per_reading() {
    // One paragraph of 10 MB with inline markup everywhere: the inline parser
    // walks all of it, once per reading. (10 MB rather than 100 keeps a debug
    // test run short: pulldown-cmark unoptimised reads such text at a few
    // MB/s; the figures are in docs/contracts.md §4.)
    let line = b"output *with* `code`, [links](x) and <b>html</b> 0123456789\n";
    let mut text = Vec::with_capacity(10 * 1024 * 1024 + 128);
    text.extend_from_slice(b"staging_status: FAILED\n");
    while text.len() < 10 * 1024 * 1024 {
        text.extend_from_slice(line);
    }
    text.extend_from_slice(b"staging_status: PASSED\n");
    // The second line comes after inline HTML, so only the first counts.
    assert_eq!(parse(&text), Ok("FAILED"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any bytes at all: the gate returns, and passes only when exactly one
    /// verdict line says PASSED.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let result = staging(&bytes);
        if result.passed {
            prop_assert_eq!(parse(&bytes), Ok("PASSED"));
            prop_assert_eq!(result.verdict.as_deref(), Some("PASSED"));
        }
    }

    /// Text built from verdict-like pieces (the shrinker finds structure that
    /// random bytes rarely hit).
    #[test]
    fn structured_text_never_panics(parts in proptest::collection::vec(
        prop_oneof![
            Just("staging_status: PASSED"), Just("staging_status: FAILED"),
            Just("staging_status: passed"), Just("```"), Just("````"), Just("~~~"),
            Just("   ```"), Just("    ```"), Just("\r"), Just("text"), Just(""), Just("\u{feff}"),
        ], 0..24)) {
        let text = parts.join("\n");
        let result = staging(&text);
        prop_assert_eq!(result.passed, parse(&text) == Ok("PASSED"));
    }

    /// Markdown constructs around verdict lines: the reader never panics, and
    /// the three line endings CommonMark knows read alike, line numbers
    /// included.
    #[test]
    fn markdown_pieces_read_alike_with_any_line_ending(parts in proptest::collection::vec(
        prop_oneof![
            Just("staging_status: PASSED"), Just("staging_status: FAILED"),
            Just("staging_status: passed"), Just("```"), Just("```\t"), Just("~~~"),
            Just("    code"), Just("> quote"), Just("- item"), Just("1. item"),
            Just("<!--"), Just("-->"), Just("<div>"), Just("<br>"), Just("---"),
            Just("==="), Just("|a|"), Just("|-|"), Just("a|b"), Just("~~"), Just("$$"),
            Just("[^1]: note"), Just("[a]: /url"), Just("`"), Just("*"), Just("text"),
            Just(""), Just("  "),
        ], 0..24)) {
        let lf = parts.join("\n");
        let expected = parse(&lf);
        prop_assert_eq!(staging(&lf).passed, expected == Ok("PASSED"));
        prop_assert_eq!(parse(parts.join("\r\n")), expected.clone());
        prop_assert_eq!(parse(parts.join("\r")), expected);
    }

    /// Whatever a suite prints, inside `fenced_block` it cannot change the
    /// verdict a writer put before it.
    #[test]
    fn fenced_output_cannot_forge_a_verdict(
        body in proptest::collection::vec(
            prop_oneof![
                Just("staging_status: PASSED".to_owned()),
                "[`~]{1,12}".prop_map(|s| s),
                "[`~ a-z:\r\t]{0,20}".prop_map(|s| s),
                any::<String>(),
            ],
            0..16,
        ),
        failed in any::<bool>(),
    ) {
        let body = body.join("\n");
        let value = if failed { "FAILED" } else { "PASSED" };
        let artifact = format!(
            "{}{}",
            render_verdict_line("staging_status", value),
            fenced_block("text", &body)
        );
        prop_assert_eq!(parse(&artifact), Ok(value));
        // And with text after the block, nothing inside leaks out either.
        let artifact = format!("{artifact}trailer\n");
        prop_assert_eq!(parse(&artifact), Ok(value));
    }
}
