//! Cost and token usage, read from what an LLM agent CLI printed on stdout.
//!
//! [`parse_usage`] recognises four output formats, whatever the agent's exit
//! code was (Claude Code prints its result and exits 1 on `error_max_turns`):
//!
//! - **Claude Code `--output-format json`** ([`UsageFormat::ClaudeJson`]): one
//!   object with `"type": "result"`, `subtype`, `is_error`, `num_turns`,
//!   `total_cost_usd` (older versions: `cost_usd`) and `usage` with
//!   `input_tokens`, `output_tokens`, `cache_creation_input_tokens` and
//!   `cache_read_input_tokens`. Leading or trailing whitespace and stray lines
//!   around the object are tolerated. With `--verbose` the CLI prints an array
//!   of messages instead; its last `result` element is read.
//! - **Claude Code `--output-format stream-json`**
//!   ([`UsageFormat::ClaudeStreamJson`]): JSON lines; the *last* line whose
//!   `type` is `result` is read, with the same fields as above. The
//!   `assistant` lines carry per-message `usage` too; they are ignored, since
//!   the result already holds the run's totals.
//! - **Codex `codex exec --json`** ([`UsageFormat::CodexJsonl`]): JSON lines;
//!   each `turn.completed` event carries `usage` with `input_tokens`,
//!   `cached_input_tokens` and `output_tokens`. Codex fills that `usage` from
//!   the thread's *running total* (not from the turn alone), so the figures of
//!   the **last** `turn.completed` are taken; summing the events would count
//!   the earlier turns again. `turns` is the number of `turn.completed`
//!   events. This format reports no cost, so `cost_usd` stays `None`. A
//!   `turn.failed` after the last `turn.completed` is reported in
//!   `reported_error`.
//! - **Gemini CLI `--output-format json`** ([`UsageFormat::GeminiJson`]): one
//!   (pretty-printed) object whose `stats.models.<model name>.tokens` holds
//!   `prompt`, `candidates`, `total`, `cached`, `thoughts` and `tool`, each a
//!   session total for that model; they are summed over the models. No cost,
//!   no turn count. An `error` object beside the stats is reported in
//!   `reported_error`.
//!
//! **The model** ([`Usage::model`]) is the one the CLI named: Claude Code's
//! stream-json `system/init` event (`model`), else its first `assistant`
//! message's `message.model`, else the result's `modelUsage` entry with the
//! most tokens (the only place `--output-format json` names it); Gemini's
//! `stats.models` entry with the most tokens (the main model: a run also
//! spends a few tokens on its router's); Codex names none (`spawn` then
//! takes it from Codex's command line or `config.toml`). Its `init` event's
//! `model` is not read: Gemini says `auto` there.
//!
//! **Prices**: [`estimate_cost`] prices a run that reported tokens but no
//! dollars from `ORCH_AGENT_PRICES`, by its exact model, else the `*` entry;
//! a cost the CLI reported itself (Claude Code) is never replaced.
//!
//! The token fields keep each agent's own meaning of "input": Claude's
//! `input_tokens` excludes the tokens read from or written to the prompt
//! cache, while Codex's `input_tokens` and Gemini's `prompt` include the
//! cached ones (reported again, as a part, in `cache_read_tokens`).
//!
//! The rule for everything else: **unknown output leaves cost and tokens
//! empty, never an error.** Empty output, binary garbage, JSON of another
//! shape, a negative, fractional or oversized number, or a string where a
//! number belongs leave the affected fields `None`; [`parse_usage`] never
//! fails and never panics. A cost is kept only when finite and not negative;
//! a token count only when it is a whole number that fits `u64`.
//!
//! The work is linear in the size of the output: every line is parsed on its
//! own (lines that are not JSON are skipped), and only when no line was
//! recognised is the output searched for one multi-line document, with a
//! bounded number of failed attempts.

use serde_json::{Map, Value};

use crate::config::ModelPrice;

/// Cost and tokens an agent run reported; every field optional.
///
/// `Usage::default()` (every field `None`) is what unknown output gives.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Usage {
    /// The run's cost in US dollars as the agent reported it (Claude Code's
    /// `total_cost_usd`, or `cost_usd` in older versions); finite and never
    /// negative. Codex and Gemini report none.
    pub cost_usd: Option<f64>,
    /// Input tokens as the agent counts them: Claude Code's excludes cache
    /// reads and writes; Codex's and Gemini's (`prompt`) include cached tokens.
    pub input_tokens: Option<u64>,
    /// Output tokens (Gemini: `candidates`, without `thoughts`).
    pub output_tokens: Option<u64>,
    /// Input tokens served from the prompt cache (Claude Code:
    /// `cache_read_input_tokens`; Codex: `cached_input_tokens`; Gemini:
    /// `cached`).
    pub cache_read_tokens: Option<u64>,
    /// Input tokens written to the prompt cache (Claude Code only:
    /// `cache_creation_input_tokens`).
    pub cache_creation_tokens: Option<u64>,
    /// Turns the agent took (Claude Code: `num_turns`; Codex: the number of
    /// `turn.completed` events); Gemini reports none.
    pub turns: Option<u64>,
    /// The agent said its run failed (Claude Code `is_error: true`), and its subtype/reason if given.
    ///
    /// Claude Code: the `subtype` (such as `error_max_turns`), or, when the
    /// subtype is `success` or absent, the first line of `result`, or
    /// `is_error`. Codex: the message of a `turn.failed` that came after the
    /// last `turn.completed`. Gemini: the `type` (or message) of its `error`
    /// object. At most 200 characters, one line.
    pub reported_error: Option<String>,
    /// Which format was recognised; `None` for unknown output.
    pub format: Option<UsageFormat>,
    /// The model the run used, as the CLI named it (see the
    /// [module documentation](self)); `None` when it named none (Codex).
    /// One line, not empty, at most 200 characters.
    pub model: Option<String>,
    /// Whether `cost_usd` is orch's estimate from `ORCH_AGENT_PRICES`
    /// ([`estimate_cost`]) rather than the CLI's own figure; `false` when
    /// there is no cost. [`Usage::cost_source`] names it for the record.
    pub cost_estimated: bool,
}

impl Usage {
    /// Where `cost_usd` came from, as `agent_runs.cost_source` records it:
    /// `reported` (the CLI's own figure), `estimated` (orch's, from its
    /// price table), or `None` without a cost.
    #[must_use]
    pub fn cost_source(&self) -> Option<&'static str> {
        self.cost_usd.map(|_| {
            if self.cost_estimated {
                "estimated"
            } else {
                "reported"
            }
        })
    }
}

/// The agent output formats [`parse_usage`] recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum UsageFormat {
    /// Claude Code `--output-format json`: one `result` object (or, with
    /// `--verbose`, one array of messages ending in one).
    ClaudeJson,
    /// Claude Code `--output-format stream-json`: JSON lines ending in a
    /// `result` line.
    ClaudeStreamJson,
    /// Codex `codex exec --json`: JSON lines of thread events.
    CodexJsonl,
    /// Gemini CLI `--output-format json`: one object with `stats.models`.
    GeminiJson,
}

/// Reads cost and token usage out of an agent CLI's stdout.
///
/// Never fails and never panics, whatever the bytes: unknown output gives `Usage::default()`.
/// See the [module documentation](self) for the formats and the fields each
/// one fills.
#[must_use]
pub fn parse_usage(stdout: &[u8]) -> Usage {
    let mut by_line = Scan::default();
    for line in stdout.split(|&b| b == b'\n') {
        let line = line.trim_ascii();
        if !matches!(line.first(), Some(b'{' | b'[')) {
            continue;
        }
        if let Ok(value) = serde_json::from_slice::<Value>(line) {
            by_line.observe_document(&value);
        }
    }
    if let Some(usage) = by_line.finish() {
        return usage;
    }
    let mut by_document = Scan::default();
    scan_documents(stdout, &mut by_document);
    by_document.finish().unwrap_or_default()
}

/// How many times the multi-line search may fail to parse a document before
/// it gives up: each failure can cost a pass over the rest of the output.
const MAX_DOCUMENT_FAILURES: usize = 16;

/// The longest `reported_error` kept, in characters.
const MAX_REASON_CHARS: usize = 200;

/// Looks for JSON documents spanning several lines (Gemini pretty-prints its
/// output), each starting on a line whose first non-blank byte opens an object
/// or an array; a document that parses is skipped past whole.
fn scan_documents(stdout: &[u8], scan: &mut Scan) {
    let mut line_start = 0;
    let mut failures = 0;
    while let Some(rest) = stdout.get(line_start..) {
        if rest.is_empty() {
            break;
        }
        let line_len = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        let indent = rest
            .iter()
            .take(line_len)
            .take_while(|b| b.is_ascii_whitespace())
            .count();
        let mut next_line = line_start.saturating_add(line_len).saturating_add(1);
        if let Some(doc) = rest.get(indent..)
            && matches!(doc.first(), Some(b'{' | b'['))
        {
            let mut values = serde_json::Deserializer::from_slice(doc).into_iter::<Value>();
            if let Some(Ok(value)) = values.next() {
                scan.observe_document(&value);
                let end = line_start
                    .saturating_add(indent)
                    .saturating_add(values.byte_offset());
                let tail = stdout.get(end..).unwrap_or_default();
                next_line = tail
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(stdout.len(), |i| end.saturating_add(i).saturating_add(1));
            } else {
                failures += 1;
                if failures >= MAX_DOCUMENT_FAILURES {
                    break;
                }
            }
        }
        line_start = next_line;
    }
}

/// What the documents seen so far said, format by format.
#[derive(Default)]
struct Scan {
    /// The last Claude Code `result` seen.
    claude: Option<Usage>,
    /// Top-level `result` documents seen (an array's elements not counted).
    claude_result_documents: u64,
    /// A top-level document of a kind only stream-json prints was seen.
    claude_stream_evidence: bool,
    /// Codex: the `usage` of the last `turn.completed`.
    codex_usage: Option<CodexUsage>,
    /// Codex: `turn.completed` events seen.
    codex_turns: u64,
    /// Codex: a `turn.failed` seen after the last `turn.completed`.
    codex_failure: Option<String>,
    /// Codex: any turn event seen.
    codex_seen: bool,
    /// The last Gemini stats document seen.
    gemini: Option<Usage>,
    /// Claude stream-json: the model its `system/init` event or, failing
    /// that, its first `assistant` message named.
    claude_model: Option<String>,
}

/// The three counts of a Codex `turn.completed` event.
struct CodexUsage {
    input: Option<u64>,
    cached: Option<u64>,
    output: Option<u64>,
}

impl Scan {
    /// Takes in one top-level JSON document: an object, or an array whose
    /// object elements are taken in turn.
    fn observe_document(&mut self, value: &Value) {
        match value {
            Value::Object(object) => {
                if let Some(kind) = object.get("type").and_then(Value::as_str) {
                    if is_claude_result(object) {
                        self.claude_result_documents += 1;
                    }
                    if matches!(kind, "system" | "assistant" | "user" | "stream_event") {
                        self.claude_stream_evidence = true;
                    }
                    if let Some(model) = claude_stream_model(object) {
                        // The init event comes first and names the model
                        // the run was started with: the first name wins.
                        self.claude_model.get_or_insert(model);
                    }
                }
                self.observe_object(object);
            }
            Value::Array(elements) => {
                for element in elements {
                    if let Value::Object(object) = element {
                        self.observe_object(object);
                    }
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
        }
    }

    fn observe_object(&mut self, object: &Map<String, Value>) {
        match object.get("type").and_then(Value::as_str) {
            Some("result") if is_claude_result(object) => {
                self.claude = Some(claude_usage(object));
            }
            Some("turn.completed") => {
                self.codex_seen = true;
                self.codex_turns = self.codex_turns.saturating_add(1);
                self.codex_failure = None;
                let usage = object.get("usage").and_then(Value::as_object);
                let field = |key: &str| usage.and_then(|u| u.get(key)).and_then(token_count);
                self.codex_usage = Some(CodexUsage {
                    input: field("input_tokens"),
                    cached: field("cached_input_tokens"),
                    output: field("output_tokens"),
                });
            }
            Some("turn.failed") => {
                self.codex_seen = true;
                let message = object
                    .get("error")
                    .and_then(|e| e.get("message"))
                    .and_then(Value::as_str)
                    .and_then(one_line);
                self.codex_failure = Some(message.unwrap_or_else(|| "turn.failed".to_owned()));
            }
            _ => {
                if let Some(usage) = gemini_usage(object) {
                    self.gemini = Some(usage);
                }
            }
        }
    }

    /// The usage of the format recognised, if any: Claude Code first, then
    /// Codex, then Gemini (an output mixing them is not one any CLI prints).
    fn finish(self) -> Option<Usage> {
        if let Some(mut usage) = self.claude {
            if let Some(model) = self.claude_model {
                usage.model = Some(model);
            }
            let stream = self.claude_stream_evidence || self.claude_result_documents > 1;
            usage.format = Some(if stream {
                UsageFormat::ClaudeStreamJson
            } else {
                UsageFormat::ClaudeJson
            });
            return Some(usage);
        }
        if self.codex_seen {
            let counts = self.codex_usage;
            return Some(Usage {
                cost_usd: None,
                input_tokens: counts.as_ref().and_then(|c| c.input),
                output_tokens: counts.as_ref().and_then(|c| c.output),
                cache_read_tokens: counts.as_ref().and_then(|c| c.cached),
                cache_creation_tokens: None,
                turns: (self.codex_turns > 0).then_some(self.codex_turns),
                reported_error: self.codex_failure,
                format: Some(UsageFormat::CodexJsonl),
                // Codex's events name no model (docs/agents.md).
                model: None,
                cost_estimated: false,
            });
        }
        self.gemini
    }
}

/// A Claude Code result: `"type": "result"` and at least one field only such
/// a result has (Gemini's stream-json also prints a `result` event, with none
/// of them).
fn is_claude_result(object: &Map<String, Value>) -> bool {
    object.get("type").and_then(Value::as_str) == Some("result")
        && [
            "subtype",
            "is_error",
            "num_turns",
            "total_cost_usd",
            "cost_usd",
            "usage",
        ]
        .iter()
        .any(|key| object.contains_key(*key))
}

fn claude_usage(object: &Map<String, Value>) -> Usage {
    let cost = if object.contains_key("total_cost_usd") {
        object.get("total_cost_usd")
    } else {
        object.get("cost_usd")
    };
    let usage = object.get("usage").and_then(Value::as_object);
    let field = |key: &str| usage.and_then(|u| u.get(key)).and_then(token_count);
    Usage {
        cost_usd: cost.and_then(cost_usd),
        input_tokens: field("input_tokens"),
        output_tokens: field("output_tokens"),
        cache_read_tokens: field("cache_read_input_tokens"),
        cache_creation_tokens: field("cache_creation_input_tokens"),
        turns: object.get("num_turns").and_then(token_count),
        reported_error: claude_reported_error(object),
        format: None,
        model: object
            .get("modelUsage")
            .and_then(Value::as_object)
            .and_then(|models| {
                main_model(models, |usage| {
                    [
                        "inputTokens",
                        "outputTokens",
                        "cacheReadInputTokens",
                        "cacheCreationInputTokens",
                    ]
                    .iter()
                    .filter_map(|key| usage.get(*key).and_then(token_count))
                    .fold(0u64, u64::saturating_add)
                })
            }),
        cost_estimated: false,
    }
}

/// The model a Claude Code stream-json event names: `system/init`'s `model`,
/// or an `assistant` event's `message.model`.
pub(crate) fn claude_stream_model(object: &Map<String, Value>) -> Option<String> {
    let named = match object.get("type").and_then(Value::as_str) {
        Some("system") if object.get("subtype").and_then(Value::as_str) == Some("init") => {
            object.get("model")
        }
        Some("assistant") => object.get("message").and_then(|m| m.get("model")),
        _ => None,
    };
    named.and_then(Value::as_str).and_then(one_line)
}

/// The name of the entry of `models` that spent the most tokens (as
/// `tokens` counts them): the run's main model. A tie goes to the name that
/// sorts first, so the answer does not depend on the map's order.
fn main_model(models: &Map<String, Value>, tokens: impl Fn(&Value) -> u64) -> Option<String> {
    models
        .iter()
        .filter_map(|(name, usage)| one_line(name).map(|name| (name, tokens(usage))))
        .max_by(|(a, a_tokens), (b, b_tokens)| a_tokens.cmp(b_tokens).then_with(|| b.cmp(a)))
        .map(|(name, _)| name)
}

/// Claude Code's own word that the run failed: `is_error: true`, or (when
/// `is_error` is absent) an `error…` subtype.
fn claude_reported_error(object: &Map<String, Value>) -> Option<String> {
    let subtype = object
        .get("subtype")
        .and_then(Value::as_str)
        .and_then(one_line);
    let failed = match object.get("is_error").and_then(Value::as_bool) {
        Some(is_error) => is_error,
        None => subtype.as_deref().is_some_and(|s| s.starts_with("error")),
    };
    if !failed {
        return None;
    }
    let reason = subtype
        .filter(|s| s != "success")
        .or_else(|| {
            object
                .get("result")
                .and_then(Value::as_str)
                .and_then(one_line)
        })
        .unwrap_or_else(|| "is_error".to_owned());
    Some(reason)
}

/// Gemini CLI's JSON output: an object whose `stats.models` is an object.
fn gemini_usage(object: &Map<String, Value>) -> Option<Usage> {
    let models = object
        .get("stats")
        .and_then(|s| s.get("models"))
        .and_then(Value::as_object)?;
    let sum = |key: &str| {
        sum_counts(models.values().map(|model| {
            model
                .get("tokens")
                .and_then(Value::as_object)
                .and_then(|tokens| tokens.get(key))
        }))
    };
    let reported_error = object.get("error").and_then(Value::as_object).map(|error| {
        ["type", "message"]
            .iter()
            .find_map(|key| error.get(*key).and_then(Value::as_str).and_then(one_line))
            .unwrap_or_else(|| "error".to_owned())
    });
    // Gemini stream-json's `result` event: flat totals beside the models
    // (`stats.input_tokens`, `output_tokens`, `cached`), which sum them.
    let stats = object.get("stats");
    let flat = |key: &str| stats.and_then(|s| s.get(key)).and_then(token_count);
    let (input, output, cached) = if object.get("type").and_then(Value::as_str) == Some("result") {
        (flat("input_tokens"), flat("output_tokens"), flat("cached"))
    } else {
        (sum("prompt"), sum("candidates"), sum("cached"))
    };
    // `json` counts a model's tokens in `tokens.total`, `stream-json` in
    // `total_tokens`.
    let model = main_model(models, |usage| {
        usage
            .get("tokens")
            .and_then(|t| t.get("total"))
            .or_else(|| usage.get("total_tokens"))
            .and_then(token_count)
            .unwrap_or(0)
    });
    Some(Usage {
        cost_usd: None,
        input_tokens: input,
        output_tokens: output,
        cache_read_tokens: cached,
        cache_creation_tokens: None,
        turns: None,
        reported_error,
        format: Some(UsageFormat::GeminiJson),
        model,
        cost_estimated: false,
    })
}

/// The estimated cost of a run that reported tokens but no dollars, from
/// `prices` (US dollars per million tokens): the entry of the run's exact
/// model, else the `*` entry, else none (`None`). A run whose CLI reported
/// its cost (Claude Code) keeps it: a list price is never better than the
/// CLI's own bill, so such a run is never re-priced. `None` also when no
/// input tokens were reported, or the figure is not finite.
///
/// Input is priced by each CLI's meaning of it: Claude's `input_tokens`
/// excludes the cache reads and writes, Codex's and Gemini's include the
/// cache reads. Cache reads are priced at the entry's cache rate, or as
/// input without one; cache writes as input (no CLI that needs an estimate
/// reports them, and the list has no rate for them).
#[must_use]
pub fn estimate_cost(usage: &Usage, prices: &[ModelPrice]) -> Option<f64> {
    if usage.cost_usd.is_some() {
        return usage.cost_usd;
    }
    let price = usage
        .model
        .as_deref()
        .and_then(|model| prices.iter().find(|p| p.model == model))
        .or_else(|| prices.iter().find(|p| p.model == "*"))?;
    let input = usage.input_tokens?;
    let cached = usage.cache_read_tokens.unwrap_or(0);
    let written = usage.cache_creation_tokens.unwrap_or(0);
    let uncached = match usage.format {
        Some(UsageFormat::ClaudeJson | UsageFormat::ClaudeStreamJson) => {
            input.saturating_add(written)
        }
        Some(UsageFormat::CodexJsonl | UsageFormat::GeminiJson) | None => {
            input.saturating_sub(cached).saturating_add(written)
        }
    };
    let output = usage.output_tokens.unwrap_or(0);
    let cached_rate = price.cache_read.unwrap_or(price.input);
    // Token counts stay far below 2^53: the f64 products are exact enough
    // for an estimate in dollars.
    let cost = (uncached as f64 * price.input
        + cached as f64 * cached_rate
        + output as f64 * price.output)
        / 1e6;
    (cost.is_finite() && cost >= 0.0).then_some(cost)
}

/// Sums the counts present: an absent or `null` one is skipped, but one that
/// is not a valid count (or a sum past `u64::MAX`) makes the whole sum
/// unknown, since a partial sum would understate the run. `None` when no count
/// is present at all.
fn sum_counts<'a>(values: impl Iterator<Item = Option<&'a Value>>) -> Option<u64> {
    let mut total: Option<u64> = None;
    for value in values.flatten() {
        if value.is_null() {
            continue;
        }
        let count = token_count(value)?;
        total = Some(total.unwrap_or(0).checked_add(count)?);
    }
    total
}

/// A token count: a JSON integer from 0 to `u64::MAX`.
fn token_count(value: &Value) -> Option<u64> {
    value.as_u64()
}

/// A cost: a JSON number, finite and not negative (`-0` read as `0`).
fn cost_usd(value: &Value) -> Option<f64> {
    let cost = value.as_f64()?;
    (cost.is_finite() && cost >= 0.0).then_some(cost + 0.0)
}

/// The first non-blank line of `text`, trimmed and cut to
/// [`MAX_REASON_CHARS`] characters; `None` when there is none.
fn one_line(text: &str) -> Option<String> {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    Some(line.chars().take(MAX_REASON_CHARS).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn token_counts_are_whole_non_negative_and_fit_u64() {
        assert_eq!(token_count(&json!(0)), Some(0));
        assert_eq!(token_count(&json!(u64::MAX)), Some(u64::MAX));
        assert_eq!(token_count(&json!(-1)), None);
        assert_eq!(token_count(&json!(1.5)), None);
        assert_eq!(token_count(&json!(12.0)), None);
        assert_eq!(token_count(&json!("12")), None);
        assert_eq!(token_count(&Value::Null), None);
    }

    #[test]
    fn costs_are_finite_and_not_negative() {
        assert_eq!(cost_usd(&json!(0.25)), Some(0.25));
        assert_eq!(cost_usd(&json!(3)), Some(3.0));
        assert_eq!(cost_usd(&json!(-0.01)), None);
        assert_eq!(cost_usd(&json!("0.25")), None);
        assert_eq!(cost_usd(&json!(null)), None);
        let negative_zero = cost_usd(&json!(-0.0));
        assert_eq!(negative_zero, Some(0.0));
        assert!(negative_zero.is_some_and(f64::is_sign_positive));
    }

    #[test]
    fn sums_skip_absent_counts_and_poison_on_invalid_ones() {
        let a = json!(2);
        let b = json!(3);
        let bad = json!(-1);
        let null = Value::Null;
        let big = json!(u64::MAX);
        assert_eq!(sum_counts([Some(&a), None, Some(&b)].into_iter()), Some(5));
        assert_eq!(sum_counts([Some(&a), Some(&null)].into_iter()), Some(2));
        assert_eq!(sum_counts([None, None].into_iter()), None);
        assert_eq!(sum_counts([Some(&a), Some(&bad)].into_iter()), None);
        assert_eq!(sum_counts([Some(&a), Some(&big)].into_iter()), None);
    }

    #[test]
    fn a_reason_is_one_bounded_line() {
        assert_eq!(one_line("\n  first  \nsecond").as_deref(), Some("first"));
        assert_eq!(one_line(" \n\t\n"), None);
        let long = "é".repeat(500);
        assert_eq!(one_line(&long).map(|s| s.chars().count()), Some(200));
    }

    #[test]
    fn the_document_search_gives_up_after_bounded_failures() {
        let mut text = "{\"a\":[\n".repeat(MAX_DOCUMENT_FAILURES + 1);
        text.push_str("{\"stats\":{\"models\":{}}}\n");
        let mut scan = Scan::default();
        scan_documents(text.as_bytes(), &mut scan);
        assert!(scan.gemini.is_none());
    }

    #[test]
    fn the_document_search_skips_past_a_parsed_document() {
        let text =
            b"noise\n{\"x\":\n{\"type\": \"turn.completed\"}}\n{\"stats\":\n {\"models\": {}}}\n";
        let mut scan = Scan::default();
        scan_documents(text, &mut scan);
        assert!(!scan.codex_seen);
        assert!(scan.gemini.is_some());
    }
}
