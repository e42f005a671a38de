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
            // A longer run with trailing blanks does close it.
            let text = format!(
                "{fence}info\nstaging_status: PASSED\n{fence}{marker} \t\nstaging_status: FAILED\n"
            );
            assert_eq!(parse(&text), Ok("FAILED"), "marker {marker} len {len}");
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
