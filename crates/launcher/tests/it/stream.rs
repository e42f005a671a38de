//! The agent stream reader and the fault classifier
//! (`orch_launcher::stream`) on the recorded stdout of the real CLIs
//! (`tests/fixtures/agent-output/real-*`, see its README).

#![expect(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use orch_launcher::stream::{AgentStream, Fault, RunEnd, StreamReport, classify};

fn fed(name: &str) -> (StreamReport, usize) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/agent-output")
        .join(name);
    let bytes = std::fs::read(path).unwrap();
    let mut stream = AgentStream::default();
    let mut terminal_at = 0;
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if stream.line(line) && terminal_at == 0 {
            terminal_at = i + 1;
        }
    }
    (stream.report(), terminal_at)
}

#[test]
fn claudes_result_is_terminal_and_its_totals_win() {
    let (report, at) = fed("real-claude-2.1.332-stream-json.jsonl");
    assert!(report.terminal && at > 0);
    assert_eq!(report.succeeded, Some(true));
    assert_eq!(report.usage.input_tokens, Some(2700));
    assert_eq!(report.usage.output_tokens, Some(120));
    assert_eq!(report.usage.cache_read_tokens, Some(700));
    assert_eq!(report.usage.cache_creation_tokens, Some(150));
    assert_eq!(report.usage.cost_usd, Some(0.01409));
    assert_eq!(classify(RunEnd::Exit(0), &report, ""), Fault::Role);
}

#[test]
fn a_claude_run_killed_while_retrying_529_is_overloaded() {
    let (report, at) = fed("real-claude-2.1.332-stream-json-529-killed.jsonl");
    assert!(!report.terminal && at == 0);
    assert_eq!(report.status, Some(529));
    assert!(matches!(
        classify(RunEnd::TimedOut, &report, ""),
        Fault::Overloaded(_)
    ));
    assert!(matches!(
        classify(RunEnd::Stalled, &report, ""),
        Fault::Overloaded(_)
    ));
}

#[test]
fn codex_failures_are_sorted_from_their_messages() {
    let (report, _) = fed("real-codex-0.171.0-exec-401.jsonl");
    assert!(report.terminal && report.succeeded == Some(false));
    let Fault::Authentication(said) = classify(RunEnd::Exit(1), &report, "") else {
        panic!("{report:?}");
    };
    assert!(said.contains("401 Unauthorized"), "{said}");
    let (report, _) = fed("real-codex-0.171.0-exec-503.jsonl");
    assert!(matches!(
        classify(RunEnd::Exit(1), &report, ""),
        Fault::Overloaded(said) if said.contains("at capacity")
    ));
    let (report, _) = fed("real-codex-0.171.0-exec-500.jsonl");
    assert!(matches!(
        classify(RunEnd::Exit(1), &report, ""),
        Fault::ServerError(said) if said.contains("high demand")
    ));
    let (report, _) = fed("real-codex-0.171.0-exec.jsonl");
    assert_eq!(report.usage.input_tokens, Some(2700));
    assert_eq!(classify(RunEnd::Exit(0), &report, ""), Fault::Role);
}

#[test]
fn gemini_stream_json_and_json_are_read() {
    let (report, at) = fed("real-gemini-0.61.0-stream-json.jsonl");
    assert!(report.terminal && at > 0 && report.succeeded == Some(true));
    assert_eq!(report.usage.input_tokens, Some(2707));
    assert_eq!(report.usage.output_tokens, Some(123));
    assert_eq!(report.usage.cache_read_tokens, Some(700));
    // The pretty-printed json document ends at its closing line.
    let (report, at) = fed("real-gemini-0.61.0-json.json");
    assert!(report.terminal && at > 1, "{report:?}");
    assert_eq!(report.usage.input_tokens, Some(2707));
    // No key: Gemini exits 41.
    assert!(matches!(
        classify(RunEnd::Exit(41), &StreamReport::default(), "no API key"),
        Fault::Authentication(_)
    ));
}

#[test]
fn a_stall_without_an_error_is_a_stall_and_a_plain_failure_is_the_roles() {
    let silent = StreamReport::default();
    assert_eq!(classify(RunEnd::Stalled, &silent, ""), Fault::Stall);
    assert_eq!(
        classify(RunEnd::Exit(1), &silent, "tests failed"),
        Fault::Role
    );
    assert_eq!(classify(RunEnd::TimedOut, &silent, ""), Fault::Role);
}

#[test]
fn the_stream_names_the_model_of_each_real_cli() {
    for (name, model) in [
        (
            "real-claude-2.1.332-stream-json.jsonl",
            Some("claude-opus-5-5"),
        ),
        // Killed before its result: the init event named it.
        (
            "real-claude-2.1.332-stream-json-529-killed.jsonl",
            Some("claude-opus-5-5"),
        ),
        ("real-codex-0.171.0-exec.jsonl", None),
        ("real-gemini-0.61.0-json.json", Some("gemini-3.8-flash")),
        (
            "real-gemini-0.61.0-stream-json.jsonl",
            Some("gemini-3.8-flash"),
        ),
    ] {
        let (report, _) = fed(name);
        assert_eq!(report.usage.model.as_deref(), model, "{name}");
    }
}

#[test]
fn the_stream_keeps_claudes_cache_tokens() {
    let (report, _) = fed("real-claude-2.1.332-stream-json.jsonl");
    assert_eq!(
        (
            report.usage.cache_read_tokens,
            report.usage.cache_creation_tokens
        ),
        (Some(700), Some(150))
    );
    let (report, _) = fed("real-codex-0.171.0-exec.jsonl");
    assert_eq!(report.usage.cache_read_tokens, Some(700));
    let (report, _) = fed("real-gemini-0.61.0-stream-json.jsonl");
    assert_eq!(report.usage.cache_read_tokens, Some(700));
}
