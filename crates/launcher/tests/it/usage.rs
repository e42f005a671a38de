//! `parse_usage` against reconstructed agent outputs (see
//! `tests/fixtures/agent-output/README.md`), hostile numbers, garbage, and a
//! few hundred deterministic pseudo-random inputs.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic is the failure report"
)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use orch_launcher::ModelPrice;
use orch_launcher::usage::{Usage, UsageFormat, estimate_cost, parse_usage};
use serde_json::{Value, json};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/agent-output")
        .join(name);
    std::fs::read(path).unwrap()
}

fn parse_str(text: &str) -> Usage {
    parse_usage(text.as_bytes())
}

/// Costs come from a decimal in JSON; compare them to within rounding.
fn assert_cost(actual: Option<f64>, expected: f64) {
    let actual = actual.unwrap();
    assert!(
        (actual - expected).abs() < 1e-12,
        "cost {actual} != {expected}"
    );
}

/// The usage with the cost taken out, for an exact comparison of the rest.
fn without_cost(usage: &Usage) -> Usage {
    Usage {
        cost_usd: None,
        ..usage.clone()
    }
}

// --- Claude Code --output-format json ----------------------------------------

#[test]
fn claude_json_success_gives_cost_tokens_and_turns() {
    let usage = parse_usage(&fixture("claude-json-success.json"));
    assert_cost(usage.cost_usd, 0.139_887_75);
    assert_eq!(
        without_cost(&usage),
        Usage {
            cost_usd: None,
            input_tokens: Some(31),
            output_tokens: Some(2417),
            cache_read_tokens: Some(184_220),
            cache_creation_tokens: Some(12_873),
            turns: Some(7),
            reported_error: None,
            format: Some(UsageFormat::ClaudeJson),
            model: Some("claude-sonnet-4-5-20250929".to_owned()),
            cost_estimated: false,
        }
    );
}

#[test]
fn claude_json_error_max_turns_still_gives_its_cost_and_reports_the_error() {
    let usage = parse_usage(&fixture("claude-json-error-max-turns.json"));
    assert_cost(usage.cost_usd, 0.275_863_65);
    assert_eq!(
        without_cost(&usage),
        Usage {
            cost_usd: None,
            input_tokens: Some(52),
            output_tokens: Some(5230),
            cache_read_tokens: Some(402_388),
            cache_creation_tokens: Some(20_411),
            turns: Some(11),
            reported_error: Some("error_max_turns".to_owned()),
            format: Some(UsageFormat::ClaudeJson),
            model: Some("claude-sonnet-4-5-20250929".to_owned()),
            cost_estimated: false,
        }
    );
}

#[test]
fn claude_json_is_found_behind_whitespace_and_a_stray_line() {
    let clean = parse_usage(&fixture("claude-json-success.json"));
    let body = String::from_utf8(fixture("claude-json-success.json")).unwrap();
    for text in [
        format!("\n\n   {}  \n\n", body.trim()),
        format!("Warning: could not refresh the plugin cache\n{body}"),
        format!("\u{1b}[2K\r\n{}\r\n", body.trim()),
        format!("{}   trailing words on the same line\n", body.trim()),
        format!("stray line\n{}\nanother stray line\n", body.trim()),
    ] {
        assert_eq!(parse_str(&text), clean, "{text:?}");
    }
}

#[test]
fn claude_json_from_an_older_version_reads_cost_usd() {
    let text = r#"{"type":"result","subtype":"success","cost_usd":0.0734,"is_error":false,"duration_ms":9312,"duration_api_ms":8801,"num_turns":2,"result":"Done.","session_id":"f0c1d2e3-0000-4000-8000-0123456789ab"}"#;
    let usage = parse_str(text);
    assert_cost(usage.cost_usd, 0.0734);
    assert_eq!(usage.turns, Some(2));
    assert_eq!(usage.input_tokens, None);
    assert_eq!(usage.format, Some(UsageFormat::ClaudeJson));
}

#[test]
fn total_cost_usd_wins_over_cost_usd() {
    let usage = parse_str(r#"{"type":"result","total_cost_usd":0.5,"cost_usd":0.25}"#);
    assert_cost(usage.cost_usd, 0.5);
}

#[test]
fn claude_json_verbose_array_reads_its_result_element() {
    let result = String::from_utf8(fixture("claude-json-success.json")).unwrap();
    let text = format!(
        r#"[{{"type":"system","subtype":"init","session_id":"s"}},{{"type":"assistant","message":{{"usage":{{"input_tokens":9,"output_tokens":9}}}}}},{}]"#,
        result.trim()
    );
    assert_eq!(
        parse_str(&text),
        parse_usage(&fixture("claude-json-success.json"))
    );
}

#[test]
fn claude_is_error_with_a_success_subtype_reports_the_result_line() {
    let text = r#"{"type":"result","subtype":"success","is_error":true,"duration_ms":412,"num_turns":1,"result":"API Error: 529 {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\"}}\nretry later","session_id":"s","total_cost_usd":0}"#;
    let usage = parse_str(text);
    assert_eq!(
        usage.reported_error.as_deref(),
        Some(r#"API Error: 529 {"type":"error","error":{"type":"overloaded_error"}}"#)
    );
    assert_eq!(usage.cost_usd, Some(0.0));
    assert_eq!(usage.turns, Some(1));

    let bare = parse_str(r#"{"type":"result","is_error":true}"#);
    assert_eq!(bare.reported_error.as_deref(), Some("is_error"));
    assert_eq!(bare.format, Some(UsageFormat::ClaudeJson));
}

#[test]
fn claude_error_subtype_without_is_error_is_reported_but_is_error_false_wins() {
    let implied = parse_str(r#"{"type":"result","subtype":"error_during_execution"}"#);
    assert_eq!(
        implied.reported_error.as_deref(),
        Some("error_during_execution")
    );
    let denied =
        parse_str(r#"{"type":"result","subtype":"error_during_execution","is_error":false}"#);
    assert_eq!(denied.reported_error, None);
    let fine = parse_str(r#"{"type":"result","subtype":"success","is_error":false}"#);
    assert_eq!(fine.reported_error, None);
}

// --- Claude Code --output-format stream-json ---------------------------------

#[test]
fn claude_stream_json_reads_the_result_line_not_the_assistant_usage() {
    let usage = parse_usage(&fixture("claude-stream-json.jsonl"));
    assert_cost(usage.cost_usd, 0.047_421_45);
    assert_eq!(
        without_cost(&usage),
        Usage {
            cost_usd: None,
            input_tokens: Some(15),
            output_tokens: Some(341),
            cache_read_tokens: Some(48_584),
            cache_creation_tokens: Some(7383),
            turns: Some(3),
            reported_error: None,
            format: Some(UsageFormat::ClaudeStreamJson),
            model: Some("claude-sonnet-4-5-20250929".to_owned()),
            cost_estimated: false,
        }
    );
}

#[test]
fn claude_stream_json_takes_the_last_result() {
    let mut text = String::from_utf8(fixture("claude-stream-json.jsonl")).unwrap();
    text.push_str(
        r#"{"type":"user","message":{"role":"user","content":"now add a test"},"session_id":"s"}"#,
    );
    text.push('\n');
    text.push_str(r#"{"type":"result","subtype":"error_max_turns","is_error":true,"num_turns":9,"session_id":"s","total_cost_usd":0.125,"usage":{"input_tokens":40,"cache_creation_input_tokens":900,"cache_read_input_tokens":70000,"output_tokens":800}}"#);
    text.push('\n');
    text.push_str("not json: the process was killed here {\"type\":\"result\"\n");
    let usage = parse_str(&text);
    assert_cost(usage.cost_usd, 0.125);
    assert_eq!(
        without_cost(&usage),
        Usage {
            cost_usd: None,
            input_tokens: Some(40),
            output_tokens: Some(800),
            cache_read_tokens: Some(70_000),
            cache_creation_tokens: Some(900),
            turns: Some(9),
            reported_error: Some("error_max_turns".to_owned()),
            format: Some(UsageFormat::ClaudeStreamJson),
            model: Some("claude-sonnet-4-5-20250929".to_owned()),
            cost_estimated: false,
        }
    );
}

#[test]
fn claude_stream_json_cut_before_its_result_is_unknown() {
    let text = String::from_utf8(fixture("claude-stream-json.jsonl")).unwrap();
    let without_result: String = text
        .lines()
        .filter(|l| !l.contains(r#""type":"result""#))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(parse_str(&without_result), Usage::default());
}

// --- Codex exec --json --------------------------------------------------------

#[test]
fn codex_exec_gives_tokens_and_no_cost() {
    let usage = parse_usage(&fixture("codex-exec.jsonl"));
    assert_eq!(
        usage,
        Usage {
            cost_usd: None,
            input_tokens: Some(48_731),
            output_tokens: Some(1894),
            cache_read_tokens: Some(41_216),
            cache_creation_tokens: None,
            turns: Some(1),
            reported_error: None,
            format: Some(UsageFormat::CodexJsonl),
            model: None,
            cost_estimated: false,
        }
    );
}

/// Codex fills `turn.completed.usage` from the thread's running total, so a
/// second turn's figures already include the first's: the last event is taken,
/// never the sum.
#[test]
fn codex_takes_the_last_turn_completed_because_usage_is_cumulative() {
    let text = concat!(
        r#"{"type":"thread.started","thread_id":"0199c3e7-4a2b-7d10-9f35-6b8e2c4d1a07"}"#,
        "\n",
        r#"{"type":"turn.started"}"#,
        "\n",
        r#"{"type":"turn.completed","usage":{"input_tokens":1000,"cached_input_tokens":800,"output_tokens":100}}"#,
        "\n",
        r#"{"type":"turn.started"}"#,
        "\n",
        r#"{"type":"item.completed","item":{"id":"item_3","type":"agent_message","text":"Done."}}"#,
        "\n",
        r#"{"type":"turn.completed","usage":{"input_tokens":2500,"cached_input_tokens":1900,"output_tokens":260}}"#,
        "\n",
    );
    assert_eq!(
        parse_str(text),
        Usage {
            cost_usd: None,
            input_tokens: Some(2500),
            output_tokens: Some(260),
            cache_read_tokens: Some(1900),
            cache_creation_tokens: None,
            turns: Some(2),
            reported_error: None,
            format: Some(UsageFormat::CodexJsonl),
            model: None,
            cost_estimated: false,
        }
    );
}

#[test]
fn codex_turn_failed_is_reported() {
    let text = concat!(
        r#"{"type":"thread.started","thread_id":"t"}"#,
        "\n",
        r#"{"type":"turn.started"}"#,
        "\n",
        r#"{"type":"error","message":"stream disconnected before completion"}"#,
        "\n",
        r#"{"type":"turn.failed","error":{"message":"stream disconnected before completion: Transport error"}}"#,
        "\n",
    );
    assert_eq!(
        parse_str(text),
        Usage {
            reported_error: Some(
                "stream disconnected before completion: Transport error".to_owned()
            ),
            format: Some(UsageFormat::CodexJsonl),
            model: None,
            ..Usage::default()
        }
    );

    let mut recovered = String::from(text);
    recovered.push_str(r#"{"type":"turn.completed","usage":{"input_tokens":5,"cached_input_tokens":0,"output_tokens":1}}"#);
    assert_eq!(parse_str(&recovered).reported_error, None);
}

// --- Gemini CLI --output-format json --------------------------------------------

#[test]
fn gemini_json_sums_tokens_over_its_two_models() {
    let usage = parse_usage(&fixture("gemini-json.json"));
    assert_eq!(
        usage,
        Usage {
            cost_usd: None,
            input_tokens: Some(48_213 + 3120),
            output_tokens: Some(1822 + 58),
            cache_read_tokens: Some(31_040),
            cache_creation_tokens: None,
            turns: None,
            reported_error: None,
            format: Some(UsageFormat::GeminiJson),
            model: Some("gemini-2.5-pro".to_owned()),
            cost_estimated: false,
        }
    );
}

#[test]
fn gemini_json_is_found_after_warning_lines_and_on_one_line() {
    let expected = parse_usage(&fixture("gemini-json.json"));
    let body = String::from_utf8(fixture("gemini-json.json")).unwrap();
    let noisy = format!(
        "Warning: 256-color support not detected.\nYOLO mode is enabled.\nAttempt 1 failed with status 503. Retrying... {{\"error\":503}}\n{{ broken\n{body}\n"
    );
    assert_eq!(parse_str(&noisy), expected);

    let compact: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(parse_str(&compact.to_string()), expected);
}

#[test]
fn gemini_error_object_is_reported() {
    let text = json!({
        "session_id": "s",
        "stats": {"models": {"gemini-2.5-pro": {"tokens": {"prompt": 10, "candidates": 0, "cached": 0}}}},
        "error": {"type": "FatalTurnLimitedError", "message": "Reached max session turns", "code": 53}
    })
    .to_string();
    let usage = parse_str(&text);
    assert_eq!(
        usage.reported_error.as_deref(),
        Some("FatalTurnLimitedError")
    );
    assert_eq!(usage.input_tokens, Some(10));
}

#[test]
fn gemini_invalid_count_in_one_model_leaves_that_sum_unknown() {
    let text = json!({
        "stats": {"models": {
            "a": {"tokens": {"prompt": 10, "candidates": 5, "cached": -3}},
            "b": {"tokens": {"prompt": 7, "candidates": "many"}},
            "c": {"api": {"totalRequests": 1}}
        }}
    })
    .to_string();
    let usage = parse_str(&text);
    assert_eq!(usage.input_tokens, Some(17));
    assert_eq!(usage.output_tokens, None);
    assert_eq!(usage.cache_read_tokens, None);
    assert_eq!(usage.format, Some(UsageFormat::GeminiJson));
}

#[test]
fn gemini_stream_json_result_is_not_mistaken_for_claude() {
    let text = r#"{"type":"result","timestamp":"2025-10-01T12:00:00.000Z","status":"success","stats":{"total_tokens":20,"input_tokens":12,"output_tokens":8,"duration_ms":234,"tool_calls":0}}"#;
    assert_eq!(parse_str(text), Usage::default());
}

// --- hostile numbers and unknown output ------------------------------------------

#[test]
fn bad_numbers_leave_their_fields_empty() {
    let text = r#"{"type":"result","subtype":"success","is_error":false,"num_turns":-2,"total_cost_usd":-0.5,"usage":{"input_tokens":1.5,"output_tokens":"12","cache_read_input_tokens":18446744073709551616,"cache_creation_input_tokens":null}}"#;
    assert_eq!(
        parse_str(text),
        Usage {
            format: Some(UsageFormat::ClaudeJson),
            ..Usage::default()
        }
    );
    for cost in [
        r#""NaN""#,
        r#""Infinity""#,
        "null",
        "true",
        r#"{"usd":1}"#,
        "[1]",
    ] {
        let text = format!(r#"{{"type":"result","total_cost_usd":{cost}}}"#);
        assert_eq!(parse_str(&text).cost_usd, None, "{cost}");
    }
    let max = parse_str(&format!(
        r#"{{"type":"result","num_turns":{},"total_cost_usd":1e300}}"#,
        u64::MAX
    ));
    assert_eq!(max.turns, Some(u64::MAX));
    assert_cost(max.cost_usd.map(|c| c / 1e300), 1.0);
}

#[test]
fn json_that_is_not_valid_json_is_skipped() {
    // Bare NaN and an out-of-range float are not JSON: the line is ignored.
    assert_eq!(
        parse_str(r#"{"type":"result","total_cost_usd":NaN}"#),
        Usage::default()
    );
    assert_eq!(
        parse_str(r#"{"type":"result","total_cost_usd":1e400}"#),
        Usage::default()
    );
}

#[test]
fn codex_bad_counts_stay_empty_and_u64_max_fits() {
    let text = format!(
        r#"{{"type":"turn.completed","usage":{{"input_tokens":-1,"cached_input_tokens":{},"output_tokens":2.0}}}}"#,
        u64::MAX
    );
    assert_eq!(
        parse_str(&text),
        Usage {
            cache_read_tokens: Some(u64::MAX),
            turns: Some(1),
            format: Some(UsageFormat::CodexJsonl),
            model: None,
            ..Usage::default()
        }
    );
}

#[test]
fn unknown_output_gives_the_default() {
    let nested = "[".repeat(100_000);
    let cases: Vec<&[u8]> = vec![
        b"",
        b"   \n\t\r\n",
        b"Done! I fixed the bug.\n",
        b"\x00\x01\x02\xff\xfe\xfd{\x80\x81}\n",
        b"{}",
        b"[]",
        b"null",
        b"42",
        b"\"result\"",
        br#"{"type":"assistant","message":{"usage":{"input_tokens":5}}}"#,
        br#"{"type":"result"}"#,
        br#"{"usage":{"input_tokens":5,"output_tokens":6},"total_cost_usd":1}"#,
        br#"{"stats":{"models":[1,2]}}"#,
        br#"{"type":"thread.started","thread_id":"t"}"#,
        br#"{"type":"turn.completed""#,
        nested.as_bytes(),
    ];
    for case in cases {
        assert_eq!(
            parse_usage(case),
            Usage::default(),
            "{:?}",
            String::from_utf8_lossy(case)
        );
    }
}

#[test]
fn invalid_utf8_inside_a_json_line_skips_that_line_only() {
    let mut text = b"{\"type\":\"assistant\",\"text\":\"\xff\xfe\"}\n".to_vec();
    text.extend_from_slice(&fixture("codex-exec.jsonl"));
    assert_eq!(
        parse_usage(&text),
        parse_usage(&fixture("codex-exec.jsonl"))
    );
}

#[test]
fn usage_serializes_with_its_field_names() {
    let usage = parse_usage(&fixture("codex-exec.jsonl"));
    let value = serde_json::to_value(&usage).unwrap();
    assert_eq!(value["format"], json!("CodexJsonl"));
    assert_eq!(value["cost_usd"], Value::Null);
    assert_eq!(value["cache_read_tokens"], json!(41_216));
}

// --- bounded work -----------------------------------------------------------------

#[test]
fn hostile_large_output_is_handled_in_linear_time() {
    // Many unterminated documents whose parse runs to the end of the output:
    // a search that retried each of them would be quadratic.
    let mut text = "{\"a\":[0,\n".repeat(64);
    text.push_str(&"0,\n".repeat(200_000));
    text.push_str(&"{\"type\":\"result\",\n".repeat(1000));
    let started = Instant::now();
    assert_eq!(parse_str(&text), Usage::default());
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?} on {} bytes",
        started.elapsed(),
        text.len()
    );
}

// --- deterministic pseudo-random inputs ---------------------------------------------

/// xorshift64*: a fixed sequence, so a failure replays exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n.max(1)).unwrap()).unwrap()
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const KEYS: &[&str] = &[
    "type",
    "subtype",
    "is_error",
    "num_turns",
    "total_cost_usd",
    "cost_usd",
    "usage",
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "cached_input_tokens",
    "stats",
    "models",
    "tokens",
    "prompt",
    "candidates",
    "cached",
    "error",
    "message",
    "result",
    "x",
];

const STRINGS: &[&str] = &[
    "result",
    "turn.completed",
    "turn.failed",
    "assistant",
    "system",
    "success",
    "error_max_turns",
    "",
    "NaN",
    "12",
];

/// A random JSON value built from the keys and strings the parser looks for,
/// with hostile numbers among the leaves.
fn random_json(rng: &mut Rng, depth: u32) -> Value {
    let leaf_only = depth >= 4;
    match rng.below(if leaf_only { 6 } else { 8 }) {
        0 => json!(rng.next() % 100_000),
        1 => json!(-i64::try_from(rng.next() % 1000).unwrap() - 1),
        2 => json!(*rng.pick(&[
            0.5,
            -0.25,
            1e300,
            -1e300,
            f64::MIN_POSITIVE,
            0.0,
            -0.0,
            12.0
        ])),
        3 => json!(*rng.pick(STRINGS)),
        4 => json!(*rng.pick(&[u64::MAX, 0, 1])),
        5 => rng.pick(&[Value::Null, json!(true), json!(false)]).clone(),
        6 => Value::Array(
            (0..rng.below(4))
                .map(|_| random_json(rng, depth + 1))
                .collect(),
        ),
        _ => Value::Object(
            (0..rng.below(6))
                .map(|_| ((*rng.pick(KEYS)).to_owned(), random_json(rng, depth + 1)))
                .collect(),
        ),
    }
}

/// An object with each of `keys` (or, one time in five, not) set to a random
/// leaf.
fn random_object(rng: &mut Rng, keys: &[&str]) -> Value {
    let mut object = serde_json::Map::new();
    for key in keys {
        if rng.below(5) != 0 {
            object.insert((*key).to_owned(), random_json(rng, 4));
        }
    }
    Value::Object(object)
}

/// A value shaped like one of the recognised outputs, with some fields left
/// out and random (often hostile) leaves.
fn random_shaped_json(rng: &mut Rng) -> Value {
    match rng.below(3) {
        0 => {
            let mut result = random_object(
                rng,
                &[
                    "subtype",
                    "is_error",
                    "num_turns",
                    "total_cost_usd",
                    "cost_usd",
                    "result",
                ],
            );
            result["type"] = json!("result");
            result["usage"] = random_object(
                rng,
                &[
                    "input_tokens",
                    "output_tokens",
                    "cache_read_input_tokens",
                    "cache_creation_input_tokens",
                ],
            );
            result
        }
        1 => {
            let kind = *rng.pick(&["turn.completed", "turn.failed"]);
            let usage = random_object(
                rng,
                &["input_tokens", "cached_input_tokens", "output_tokens"],
            );
            let error = random_object(rng, &["message"]);
            json!({"type": kind, "usage": usage, "error": error})
        }
        _ => {
            let mut models = serde_json::Map::new();
            for i in 0..rng.below(3) {
                let tokens = random_object(rng, &["prompt", "candidates", "cached", "total"]);
                models.insert(format!("model-{i}"), json!({"tokens": tokens}));
            }
            json!({"response": "ok", "stats": {"models": models}})
        }
    }
}

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut bytes = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(6) {
            0 if !bytes.is_empty() => {
                let i = at.min(bytes.len() - 1);
                bytes[i] = u8::try_from(rng.next() & 0xff).unwrap();
            }
            1 => bytes.truncate(at),
            2 => {
                let end = (at + rng.below(64)).min(bytes.len());
                bytes.drain(at..end);
            }
            3 => bytes.insert(at, *rng.pick(b"-{}[]\",:\n0.e9")),
            4 => {
                let end = (at + rng.below(256)).min(bytes.len());
                let copy = bytes[at..end].to_vec();
                bytes.splice(at..at, copy);
            }
            _ => {
                let extra: Vec<u8> = (0..rng.below(16))
                    .map(|_| u8::try_from(rng.next() & 0xff).unwrap())
                    .collect();
                bytes.splice(at..at, extra);
            }
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// What must hold for any input: no field without the key it comes from (the
/// generators never write escaped keys), a sane cost, nothing set without a
/// recognised format, and the same answer twice.
fn check_invariants(input: &[u8]) {
    let usage = parse_usage(input);
    let has = |needles: &[&str]| needles.iter().any(|n| contains(input, n));
    let context = || String::from_utf8_lossy(input).into_owned();
    if let Some(cost) = usage.cost_usd {
        assert!(cost.is_finite() && cost >= 0.0, "{cost}: {}", context());
        assert!(has(&["cost_usd"]), "{}", context());
    }
    if usage.input_tokens.is_some() {
        assert!(has(&["input_tokens", "prompt"]), "{}", context());
    }
    if usage.output_tokens.is_some() {
        assert!(has(&["output_tokens", "candidates"]), "{}", context());
    }
    if usage.cache_read_tokens.is_some() {
        assert!(has(&["cache_read_input_tokens", "cached"]), "{}", context());
    }
    if usage.cache_creation_tokens.is_some() {
        assert!(has(&["cache_creation_input_tokens"]), "{}", context());
    }
    if usage.turns.is_some() {
        assert!(has(&["num_turns", "turn.completed"]), "{}", context());
    }
    if let Some(reason) = &usage.reported_error {
        assert!(has(&["error", "turn.failed"]), "{}", context());
        assert!(reason.chars().count() <= 200 && !reason.contains('\n'));
    }
    if usage.format.is_none() {
        assert_eq!(usage, Usage::default(), "{}", context());
    } else {
        assert!(has(&["result", "turn.", "stats"]), "{}", context());
    }
    assert_eq!(
        parse_usage(input),
        usage,
        "not deterministic: {}",
        context()
    );
}

#[test]
fn random_bytes_never_panic_and_set_nothing_unfounded() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..300 {
        let len = rng.below(600);
        let bytes: Vec<u8> = (0..len)
            .map(|_| u8::try_from(rng.next() & 0xff).unwrap())
            .collect();
        check_invariants(&bytes);
    }
}

#[test]
fn mutated_fixtures_never_panic_and_set_nothing_unfounded() {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let fixtures: Vec<Vec<u8>> = [
        "claude-json-success.json",
        "claude-json-error-max-turns.json",
        "claude-stream-json.jsonl",
        "codex-exec.jsonl",
        "gemini-json.json",
    ]
    .iter()
    .map(|name| fixture(name))
    .collect();
    for _ in 0..400 {
        let base = rng.pick(&fixtures).clone();
        check_invariants(&mutate(&mut rng, &base));
    }
}

#[test]
fn random_json_never_panics_and_sets_nothing_unfounded() {
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    let mut recognised = 0;
    for _ in 0..400 {
        let mut text = String::new();
        for _ in 0..=rng.below(3) {
            let mut value = if rng.below(2) == 0 {
                random_shaped_json(&mut rng)
            } else {
                random_json(&mut rng, 0)
            };
            if let Value::Object(map) = &mut value
                && rng.below(2) == 0
            {
                map.insert("type".to_owned(), json!(*rng.pick(STRINGS)));
            }
            if rng.below(3) == 0 {
                text.push_str(&serde_json::to_string_pretty(&value).unwrap());
            } else {
                text.push_str(&value.to_string());
            }
            text.push('\n');
        }
        check_invariants(text.as_bytes());
        if parse_str(&text).format.is_some() {
            recognised += 1;
        }
    }
    // The generator must reach the parser's recognised shapes, or this test
    // proves nothing beyond "no panic".
    assert!(recognised > 100, "only {recognised} inputs recognised");
}

// --- recordings of the real CLIs against the scripted model server ---------
//
// Each was printed by the pinned CLI (tests/agents) for the two scripted
// turns of `orch_tests::model_server` (tool turn: 1200 in, 80 out, 300 cache
// read, 150 cache write; final turn: 1500 in, 40 out, 400 cache read), so
// every number below is what the server reported (docs/agents.md).

#[test]
fn real_claude_stream_json_gives_the_served_tokens_and_its_cost() {
    let usage = parse_usage(&fixture("real-claude-2.1.332-stream-json.jsonl"));
    assert_cost(usage.cost_usd, 0.01409);
    assert_eq!(usage.format, Some(UsageFormat::ClaudeStreamJson));
    assert_eq!(
        (
            usage.input_tokens,
            usage.output_tokens,
            usage.cache_read_tokens,
            usage.cache_creation_tokens,
            usage.turns,
            usage.reported_error,
        ),
        (Some(2700), Some(120), Some(700), Some(150), Some(2), None)
    );
}

#[test]
fn real_claude_killed_while_retrying_reports_nothing() {
    // 529 on every request: api_retry lines and no result before the kill.
    let usage = parse_usage(&fixture("real-claude-2.1.332-stream-json-529-killed.jsonl"));
    assert_eq!(usage.cost_usd, None);
    assert_eq!(usage.input_tokens, None);
}

#[test]
fn real_codex_exec_gives_the_served_tokens() {
    let usage = parse_usage(&fixture("real-codex-0.171.0-exec.jsonl"));
    assert_eq!(usage.format, Some(UsageFormat::CodexJsonl));
    assert_eq!(
        (
            usage.cost_usd,
            usage.input_tokens,
            usage.output_tokens,
            usage.cache_read_tokens,
            usage.turns,
            usage.reported_error,
        ),
        (None, Some(2700), Some(120), Some(700), Some(1), None)
    );
}

#[test]
fn real_codex_failures_report_the_turn_failed_message() {
    for (name, said) in [
        ("real-codex-0.171.0-exec-401.jsonl", "401 Unauthorized"),
        ("real-codex-0.171.0-exec-503.jsonl", "at capacity"),
        ("real-codex-0.171.0-exec-500.jsonl", "high demand"),
    ] {
        let usage = parse_usage(&fixture(name));
        assert_eq!(usage.input_tokens, None, "{name}");
        assert!(
            usage
                .reported_error
                .as_deref()
                .is_some_and(|e| e.contains(said)),
            "{name}: {usage:?}"
        );
    }
}

#[test]
fn real_gemini_json_gives_the_served_tokens_of_both_models() {
    // The router's side call (7 in, 3 out) and the two turns.
    let usage = parse_usage(&fixture("real-gemini-0.61.0-json.json"));
    assert_eq!(usage.format, Some(UsageFormat::GeminiJson));
    assert_eq!(
        (
            usage.cost_usd,
            usage.input_tokens,
            usage.output_tokens,
            usage.cache_read_tokens,
        ),
        (None, Some(2707), Some(123), Some(700))
    );
}

// --- the model, and prices per model -----------------------------------------

#[test]
fn the_model_is_read_from_each_real_cli_output() {
    for (name, model) in [
        // system/init's `model` (and every assistant message's).
        (
            "real-claude-2.1.332-stream-json.jsonl",
            Some("claude-opus-5-5"),
        ),
        // Codex's events name no model.
        ("real-codex-0.171.0-exec.jsonl", None),
        // The main model, not the router's (7 + 3 tokens).
        ("real-gemini-0.61.0-json.json", Some("gemini-3.8-flash")),
        // Its init event says `auto`; the result's stats name the models.
        (
            "real-gemini-0.61.0-stream-json.jsonl",
            Some("gemini-3.8-flash"),
        ),
    ] {
        assert_eq!(
            parse_usage(&fixture(name)).model.as_deref(),
            model,
            "{name}"
        );
    }
}

#[test]
fn claudes_json_names_its_model_only_in_model_usage_and_the_biggest_wins() {
    let text = r#"{"type":"result","subtype":"success","is_error":false,"total_cost_usd":0.5,"modelUsage":{"claude-haiku-4-5":{"inputTokens":900,"outputTokens":10},"claude-opus-5-5":{"inputTokens":100,"outputTokens":2000,"cacheReadInputTokens":5000}}}"#;
    assert_eq!(parse_str(text).model.as_deref(), Some("claude-opus-5-5"));
    // The init event, when there is one, names the model the run asked for.
    let stream = format!(
        "{}\n{text}\n",
        r#"{"type":"system","subtype":"init","model":"claude-sonnet-4-5"}"#
    );
    assert_eq!(
        parse_str(&stream).model.as_deref(),
        Some("claude-sonnet-4-5")
    );
    // A name that is blank is no name.
    let blank = r#"{"type":"result","subtype":"success","modelUsage":{" ":{"inputTokens":9}}}"#;
    assert_eq!(parse_str(blank).model, None);
}

fn price(model: &str, input: f64, output: f64, cache_read: Option<f64>) -> ModelPrice {
    ModelPrice::new(model, input, output, cache_read)
}

#[test]
fn a_run_is_priced_by_its_exact_model_first() {
    // Gemini: 2707 in of which 700 cached, 123 out, main model gemini-3.8-flash.
    let usage = parse_usage(&fixture("real-gemini-0.61.0-json.json"));
    let prices = [
        price("*", 100.0, 100.0, None),
        price("gemini-3.8-flash", 0.3, 2.5, Some(0.03)),
    ];
    let expected = (2007.0 * 0.3 + 700.0 * 0.03 + 123.0 * 2.5) / 1e6;
    assert_cost(estimate_cost(&usage, &prices), expected);
}

#[test]
fn a_run_of_another_or_no_model_falls_back_to_the_star_entry() {
    // Codex names no model; its input includes the 700 cached tokens, priced
    // as input when the entry has no cache rate.
    let codex = parse_usage(&fixture("real-codex-0.171.0-exec.jsonl"));
    let (input, output) = (codex.input_tokens.unwrap(), codex.output_tokens.unwrap());
    let prices = [
        price("gemini-3.8-flash", 100.0, 100.0, None),
        price("*", 1.25, 10.0, None),
    ];
    assert_cost(
        estimate_cost(&codex, &prices),
        (input as f64 * 1.25 + output as f64 * 10.0) / 1e6,
    );
    let gemini = Usage {
        model: Some("gemini-unknown".to_owned()),
        ..parse_usage(&fixture("real-gemini-0.61.0-json.json"))
    };
    assert_cost(
        estimate_cost(&gemini, &prices),
        (2707.0 * 1.25 + 123.0 * 10.0) / 1e6,
    );
}

#[test]
fn without_a_matching_entry_or_tokens_there_is_no_estimate() {
    let gemini = parse_usage(&fixture("real-gemini-0.61.0-json.json"));
    assert_eq!(estimate_cost(&gemini, &[]), None);
    assert_eq!(
        estimate_cost(&gemini, &[price("gemini-2.5-pro", 1.0, 1.0, None)]),
        None,
        "another model's price is not this run's"
    );
    let no_tokens = Usage {
        input_tokens: None,
        ..gemini
    };
    assert_eq!(
        estimate_cost(&no_tokens, &[price("*", 1.0, 1.0, None)]),
        None
    );
}

#[test]
fn a_cost_claude_reported_is_never_re_priced() {
    let usage = parse_usage(&fixture("real-claude-2.1.332-stream-json.jsonl"));
    assert_eq!(usage.cost_usd, Some(0.01409));
    let prices = [
        price("claude-opus-5-5", 1000.0, 1000.0, Some(1000.0)),
        price("*", 1000.0, 1000.0, None),
    ];
    assert_eq!(estimate_cost(&usage, &prices), Some(0.01409));
}

#[test]
fn a_claude_run_without_its_cost_is_priced_with_its_cache_apart() {
    // A run killed before its result: the stream's sums, no dollars. Claude's
    // input excludes the cache reads and writes; writes are priced as input.
    let usage = Usage {
        input_tokens: Some(100),
        output_tokens: Some(10),
        cache_read_tokens: Some(1000),
        cache_creation_tokens: Some(200),
        format: Some(UsageFormat::ClaudeStreamJson),
        model: Some("claude-opus-5-5".to_owned()),
        ..Usage::default()
    };
    let prices = [price("claude-opus-5-5", 3.0, 15.0, Some(0.3))];
    assert_cost(
        estimate_cost(&usage, &prices),
        (300.0 * 3.0 + 1000.0 * 0.3 + 10.0 * 15.0) / 1e6,
    );
}
