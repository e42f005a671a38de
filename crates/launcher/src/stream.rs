//! What an agent CLI says on stdout while it runs, read line by line as it
//! arrives ([`AgentStream`], fed by `spawn`'s line observer), and whose fault
//! a run's failure was ([`classify`]).
//!
//! - **The terminal event** ends the run: Claude Code stream-json's
//!   `{"type":"result",…}`, Codex's `turn.completed` / `turn.failed`, Gemini
//!   stream-json's `{"type":"result",…}` or the end of Gemini `json`'s
//!   pretty-printed object (a line `}` closing a document opened by a line
//!   `{`). After it, a CLI that does not exit is ended after the linger.
//! - **Usage as it arrives**: Claude's `assistant` events carry their
//!   message's usage, repeated for each content block of one message id:
//!   each id counts once (its last report). The terminal event's totals
//!   replace these sums. Codex and Gemini report usage only in their
//!   terminal event: a run killed before it records none.
//! - **The model**: Claude's `system/init` event (or first `assistant`
//!   message) names it; otherwise the terminal event's usage does (Claude's
//!   `modelUsage`, Gemini's stats). Codex names none (`spawn` takes it from
//!   its command line or `config.toml`: `preset::codex_model`).
//! - **Errors the CLI reported**: Claude's `system/api_retry` (status and
//!   error name) and its result's `is_error`, `api_error_status`,
//!   `terminal_reason`; Codex's `error` events and `turn.failed` message;
//!   Gemini's `result` with `status: "error"` and its `error` object.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::usage::{Usage, claude_stream_model, parse_usage};

/// The most distinct Claude message ids counted (bounds memory against a
/// CLI printing endless ids; a real run has one per turn).
const MAX_MESSAGES: usize = 100_000;
/// The most bytes of one multi-line document (Gemini `json`) kept.
const MAX_DOCUMENT: usize = 4 * 1024 * 1024;
/// The longest error message kept, in characters.
const MAX_MESSAGE: usize = 300;

/// One message's tokens, as an `assistant` event reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Tokens {
    input: u64,
    output: u64,
    cache_read: u64,
    cache_write: u64,
}

/// What the stream said so far.
#[derive(Debug, Default)]
pub struct AgentStream {
    /// The terminal event was seen.
    terminal: bool,
    /// The terminal event said the run succeeded.
    succeeded: Option<bool>,
    /// The usage of the terminal event.
    final_usage: Option<Usage>,
    /// Claude: usage per assistant message id.
    messages: HashMap<String, Tokens>,
    /// The last HTTP status the CLI reported (Claude's `api_retry`
    /// `error_status`, its result's `api_error_status`).
    status: Option<u16>,
    /// The last error message the CLI reported.
    message: Option<String>,
    /// A multi-line document in progress (Gemini `json`).
    document: Option<Vec<u8>>,
    /// Claude: the model its `system/init` event (or first `assistant`
    /// message) named.
    model: Option<String>,
}

/// What [`AgentStream`] learned, for the run's record and its classification.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamReport {
    /// The CLI printed its terminal event.
    pub terminal: bool,
    /// What the terminal event said: success (`Some(true)`), failure
    /// (`Some(false)`), or none seen.
    pub succeeded: Option<bool>,
    /// Tokens and cost as far as the stream told them: the terminal event's
    /// totals, or else the sums of Claude's per-message usage.
    pub usage: Usage,
    /// The last HTTP status the CLI reported in an error.
    pub status: Option<u16>,
    /// The last error message the CLI reported.
    pub message: Option<String>,
}

impl AgentStream {
    /// Takes one stdout line; returns whether it was the terminal event.
    pub fn line(&mut self, line: &[u8]) -> bool {
        let trimmed = line.trim_ascii();
        if let Some(document) = &mut self.document {
            if document.len().saturating_add(line.len()) < MAX_DOCUMENT {
                document.extend_from_slice(line);
                document.push(b'\n');
            }
            if line == b"}" {
                let document = self.document.take().unwrap_or_default();
                if let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(&document) {
                    return self.object(&object, &document);
                }
            }
            return false;
        }
        if line == b"{" {
            self.document = Some(b"{\n".to_vec());
            return false;
        }
        if trimmed.first() != Some(&b'{') {
            return false;
        }
        match serde_json::from_slice::<Value>(trimmed) {
            Ok(Value::Object(object)) => self.object(&object, trimmed),
            Ok(_) | Err(_) => false,
        }
    }

    fn object(&mut self, object: &Map<String, Value>, raw: &[u8]) -> bool {
        if self.model.is_none() {
            self.model = claude_stream_model(object);
        }
        let kind = object.get("type").and_then(Value::as_str);
        match kind {
            Some("assistant") => {
                self.assistant(object);
                false
            }
            Some("system") => {
                if object.get("subtype").and_then(Value::as_str) == Some("api_retry") {
                    if let Some(status) = object.get("error_status").and_then(status) {
                        self.status = Some(status);
                    }
                    if let Some(error) = object.get("error").and_then(Value::as_str) {
                        self.message = Some(cut(error));
                    }
                }
                false
            }
            Some("error") => {
                if let Some(message) = object.get("message").and_then(Value::as_str) {
                    self.message = Some(cut(message));
                }
                false
            }
            Some("turn.completed") => self.terminal(true, raw),
            Some("turn.failed") => {
                if let Some(message) = object
                    .get("error")
                    .and_then(|e| e.get("message"))
                    .and_then(Value::as_str)
                {
                    self.message = Some(cut(message));
                }
                self.terminal(false, raw)
            }
            Some("result") => {
                // Claude: `is_error`; Gemini stream-json: `status`.
                let failed = object.get("is_error").and_then(Value::as_bool) == Some(true)
                    || object
                        .get("status")
                        .and_then(Value::as_str)
                        .is_some_and(|s| s != "success");
                if let Some(status) = object.get("api_error_status").and_then(status) {
                    self.status = Some(status);
                }
                if failed && let Some(message) = error_message(object) {
                    self.message = Some(message);
                }
                self.terminal(!failed, raw)
            }
            _ => {
                // Gemini `json`: one object with its stats (and an `error`
                // object when the run failed).
                if object.contains_key("stats")
                    && (object.contains_key("response") || object.contains_key("error"))
                {
                    let failed = object.get("error").is_some_and(|e| !e.is_null());
                    if failed && let Some(message) = error_message(object) {
                        self.message = Some(message);
                    }
                    return self.terminal(!failed, raw);
                }
                false
            }
        }
    }

    fn terminal(&mut self, succeeded: bool, raw: &[u8]) -> bool {
        self.terminal = true;
        self.succeeded = Some(succeeded);
        let usage = parse_usage(raw);
        if usage.format.is_some() {
            self.final_usage = Some(usage);
        }
        true
    }

    fn assistant(&mut self, object: &Map<String, Value>) {
        let Some(message) = object.get("message").and_then(Value::as_object) else {
            return;
        };
        let Some(usage) = message.get("usage").and_then(Value::as_object) else {
            return;
        };
        let id = message
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        if self.messages.len() >= MAX_MESSAGES && !self.messages.contains_key(&id) {
            return;
        }
        let count = |key: &str| usage.get(key).and_then(Value::as_u64).unwrap_or(0);
        // The last report of a message is its fullest.
        self.messages.insert(
            id,
            Tokens {
                input: count("input_tokens"),
                output: count("output_tokens"),
                cache_read: count("cache_read_input_tokens"),
                cache_write: count("cache_creation_input_tokens"),
            },
        );
    }

    /// What the stream said, as far as it went.
    #[must_use]
    pub fn report(&self) -> StreamReport {
        let mut usage = match &self.final_usage {
            Some(usage) => usage.clone(),
            None if !self.messages.is_empty() => {
                let sum = self
                    .messages
                    .values()
                    .fold(Tokens::default(), |a, t| Tokens {
                        input: a.input.saturating_add(t.input),
                        output: a.output.saturating_add(t.output),
                        cache_read: a.cache_read.saturating_add(t.cache_read),
                        cache_write: a.cache_write.saturating_add(t.cache_write),
                    });
                Usage {
                    input_tokens: Some(sum.input),
                    output_tokens: Some(sum.output),
                    cache_read_tokens: Some(sum.cache_read),
                    cache_creation_tokens: Some(sum.cache_write),
                    format: Some(crate::usage::UsageFormat::ClaudeStreamJson),
                    ..Usage::default()
                }
            }
            None => Usage::default(),
        };
        // The init event's model is the run's, as `parse_usage` reads it
        // from the whole stdout; the terminal event alone names it only in
        // Claude's `modelUsage` and Gemini's stats.
        if let Some(model) = &self.model {
            usage.model = Some(model.clone());
        }
        StreamReport {
            terminal: self.terminal,
            succeeded: self.succeeded,
            usage,
            status: self.status,
            message: self.message.clone(),
        }
    }
}

/// An HTTP status in a JSON number.
fn status(value: &Value) -> Option<u16> {
    value.as_u64().and_then(|n| u16::try_from(n).ok())
}

fn cut(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(MAX_MESSAGE)
        .collect()
}

/// The error text of a failed result: an `error` object's message, or the
/// `result` text, or `subtype`.
fn error_message(object: &Map<String, Value>) -> Option<String> {
    let error = object.get("error");
    error
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .or_else(|| error.and_then(Value::as_str))
        .or_else(|| object.get("result").and_then(Value::as_str))
        .or_else(|| object.get("subtype").and_then(Value::as_str))
        .map(cut)
        .or_else(|| error.map(|e| cut(&e.to_string())))
}

/// How the run's process ended, as the classifier needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// It exited with this code.
    Exit(i32),
    /// A signal ended it by itself.
    Signal,
    /// It printed its terminal event and was ended after the linger.
    Lingered,
    /// The wall clock ended it.
    TimedOut,
    /// An output clock ended it (no first output, or silence).
    Stalled,
}

/// Whose fault a run's end was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// No infrastructure fault: the role's own result (its artifact, its
    /// exit, its timeout) decides.
    Role,
    /// The CLI could not authenticate: nothing will change until an
    /// operator fixes the key.
    Authentication(String),
    /// The model is overloaded or rate-limited (429, 503, 529).
    Overloaded(String),
    /// The model's server failed (500 and other 5xx).
    ServerError(String),
    /// The model's server could not be reached.
    Network(String),
    /// No output for too long.
    Stall,
}

impl Fault {
    /// Whether it is worth waiting and trying again.
    #[must_use]
    pub const fn transient(&self) -> bool {
        match self {
            Fault::Role | Fault::Authentication(_) => false,
            Fault::Overloaded(_) | Fault::ServerError(_) | Fault::Network(_) | Fault::Stall => true,
        }
    }
}

/// Sorts a run's end by whose fault it was, from the CLI's own report: the
/// terminal event, the statuses and messages of its errors, its exit code
/// (Gemini exits 41 without credentials) and the last words on stderr.
///
/// A run whose terminal event said success is the role's, whatever retries
/// came before. A stall is an infrastructure fault. A run that failed or was
/// ended with an error the CLI reported is sorted by that error; with none,
/// it is the role's.
#[must_use]
pub fn classify(end: RunEnd, report: &StreamReport, stderr: &str) -> Fault {
    if report.succeeded == Some(true) {
        return Fault::Role;
    }
    if matches!(end, RunEnd::Exit(0)) && report.succeeded.is_none() {
        return Fault::Role;
    }
    let message = report.message.clone().unwrap_or_default();
    let said = if message.is_empty() {
        last_line(stderr)
    } else {
        message.clone()
    };
    let status = report.status.or_else(|| status_in(&message));
    if let Some(status) = status {
        match status {
            401 | 403 => return Fault::Authentication(said),
            408 | 429 | 503 | 529 => return Fault::Overloaded(said),
            500..=599 => return Fault::ServerError(said),
            _ => {}
        }
    }
    let lower = format!("{message}\n{stderr}").to_lowercase();
    let any = |needles: &[&str]| needles.iter().any(|n| lower.contains(n));
    if any(&[
        "authentication",
        "unauthorized",
        "invalid x-api-key",
        "invalid api key",
        "api key not valid",
        "api_key_invalid",
    ]) || matches!(end, RunEnd::Exit(41))
    {
        return Fault::Authentication(said);
    }
    if any(&[
        "overloaded",
        "at capacity",
        "rate limit",
        "rate_limit",
        "quota",
    ]) {
        return Fault::Overloaded(said);
    }
    if any(&["high demand", "server_error", "internal server error"]) {
        return Fault::ServerError(said);
    }
    if any(&[
        "econnrefused",
        "enotfound",
        "econnreset",
        "fetch failed",
        "connection refused",
        "error sending request",
    ]) {
        return Fault::Network(said);
    }
    if end == RunEnd::Stalled {
        return Fault::Stall;
    }
    Fault::Role
}

/// An HTTP error status named in a message: "status 401", "401 Unauthorized".
fn status_in(message: &str) -> Option<u16> {
    let words: Vec<&str> = message
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    words.iter().enumerate().find_map(|(i, word)| {
        let code = word
            .parse::<u16>()
            .ok()
            .filter(|c| (400..600).contains(c))?;
        let before = i.checked_sub(1).and_then(|j| words.get(j)).copied();
        let after = words.get(i + 1).copied();
        let named = before.is_some_and(|w| w.eq_ignore_ascii_case("status"))
            || after.is_some_and(|w| {
                [
                    "unauthorized",
                    "forbidden",
                    "too",
                    "internal",
                    "service",
                    "bad",
                    "gateway",
                ]
                .iter()
                .any(|n| w.eq_ignore_ascii_case(n))
            });
        named.then_some(code)
    })
}

fn last_line(text: &str) -> String {
    cut(text
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_is_read_only_where_it_is_named() {
        assert_eq!(
            status_in("unexpected status 401 Unauthorized: invalid x-api-key"),
            Some(401)
        );
        assert_eq!(status_in("got 503 Service Unavailable"), Some(503));
        assert_eq!(status_in("wrote 404 lines"), None);
    }
}
