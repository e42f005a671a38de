//! A **scripted stand-in for a model API** on loopback, for running the real
//! agent CLIs (Claude Code, Codex CLI, Gemini CLI) in tests: no model, no
//! network. It speaks just enough of three APIs:
//!
//! - the Anthropic Messages API (`POST /v1/messages`, streaming SSE and
//!   plain JSON; `POST /v1/messages/count_tokens`),
//! - the OpenAI Responses API (`POST /v1/responses`, SSE),
//! - the Gemini API (`POST /v1beta/models/{model}:streamGenerateContent`,
//!   `:generateContent`, `:countTokens`).
//!
//! Every answer follows a [`Script`] the test chooses. The happy one,
//! [`Script::WriteArtifact`], plays one task in two model turns: the first
//! asks the CLI's own write or shell tool to write the artifact (the path and
//! the verdict key come from orch's prompt: `write your artifact to: PATH`
//! and ``verdict line: `KEY: VALUE` ``), the second, once the tool's result
//! is in the conversation, ends the turn with text. Each turn reports the
//! fixed usage of [`TOOL_TURN`] and [`FINAL_TURN`], so that a test can assert
//! what orch recorded. Requests that are not the agent's main loop (no tools
//! offered, or no orch prompt in them: title generation, topic checks,
//! routing) get a short text answer with the usage of [`SIDE_TURN`].
//! The failure scripts answer every model request with 401, 529/503, 500, a
//! stream that stalls after its first event, or a complete stream whose
//! connection is then kept open; [`Script::BackgroundThenEnd`] also starts a
//! background process through the CLI's shell tool before ending the turn,
//! and [`Script::NoArtifact`] ends the turn at once without writing.
//!
//! Every request is logged ([`ModelServer::requests`]); an unknown one gets
//! a 404 and is logged as such, which is how one finds what a CLI needs.
//!
//! ```no_run
//! use orch_tests::model_server::{ModelServer, Script};
//! let server = ModelServer::start(Script::WriteArtifact).unwrap();
//! println!("ANTHROPIC_BASE_URL={}", server.url());
//! ```

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// What the server answers to every model request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Script {
    /// A tool call that writes the artifact, then a final text turn.
    WriteArtifact,
    /// 401: the API key is refused.
    Unauthorized,
    /// Anthropic 529 `overloaded_error`; OpenAI and Gemini 503.
    Overloaded,
    /// 500.
    ServerError,
    /// A stream that sends its first event and then nothing, never ending.
    StallMidStream,
    /// The [`Script::WriteArtifact`] streams, complete, but the HTTP body is
    /// never ended (no last chunk) and the connection is kept open.
    HangAfterEnd,
    /// As [`Script::WriteArtifact`], but the tool call also starts a
    /// background process (`sleep` for [`BACKGROUND_SECS`], its argument
    /// ending in [`BACKGROUND_MARK`] and the server's port so that a test can
    /// find it) through the CLI's shell tool, then the turn ends: a CLI that
    /// waits for its shell's children prints its result and stays alive.
    BackgroundThenEnd,
    /// The model ends its turn with text at once: no tool call, no artifact.
    NoArtifact,
}

/// How long the background process of [`Script::BackgroundThenEnd`] sleeps.
pub const BACKGROUND_SECS: u32 = 150;

/// What the background process's `sleep` argument ends in, before the
/// server's port: `sleep 150.0<MARK><PORT>`, a valid duration that names it.
pub const BACKGROUND_MARK: &str = "0707";

impl Script {
    /// Every script, for listings.
    pub const ALL: [Script; 8] = [
        Script::WriteArtifact,
        Script::Unauthorized,
        Script::Overloaded,
        Script::ServerError,
        Script::StallMidStream,
        Script::HangAfterEnd,
        Script::BackgroundThenEnd,
        Script::NoArtifact,
    ];

    /// The script's name: `write-artifact`, `unauthorized`, `overloaded`,
    /// `server-error`, `stall`, `hang-after-end`, `background-then-end`,
    /// `no-artifact`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Script::WriteArtifact => "write-artifact",
            Script::Unauthorized => "unauthorized",
            Script::Overloaded => "overloaded",
            Script::ServerError => "server-error",
            Script::StallMidStream => "stall",
            Script::HangAfterEnd => "hang-after-end",
            Script::BackgroundThenEnd => "background-then-end",
            Script::NoArtifact => "no-artifact",
        }
    }

    /// The script called `name`.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Script> {
        Script::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// The usage one scripted model turn reports. `input` is reported as each
/// API counts input: Anthropic's `input_tokens` (without the cache),
/// OpenAI's `input_tokens` and Gemini's `promptTokenCount` (each of which,
/// by its API's definition, includes the cached part `cache_read`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TurnUsage {
    /// Input tokens.
    pub input: u64,
    /// Output tokens.
    pub output: u64,
    /// Input tokens read from the prompt cache.
    pub cache_read: u64,
    /// Input tokens written to the prompt cache (Anthropic only).
    pub cache_write: u64,
}

/// The first turn of [`Script::WriteArtifact`]: the tool call.
pub const TOOL_TURN: TurnUsage = TurnUsage {
    input: 1200,
    output: 80,
    cache_read: 300,
    cache_write: 150,
};

/// The second turn of [`Script::WriteArtifact`]: the final text.
pub const FINAL_TURN: TurnUsage = TurnUsage {
    input: 1500,
    output: 40,
    cache_read: 400,
    cache_write: 0,
};

/// Any request outside the agent's main loop (a title, a topic check).
pub const SIDE_TURN: TurnUsage = TurnUsage {
    input: 7,
    output: 3,
    cache_read: 0,
    cache_write: 0,
};

/// The text of the final turn.
pub const FINAL_TEXT: &str = "Done: the scripted model wrote the artifact.";

/// Which API a request was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// Anthropic Messages.
    Anthropic,
    /// OpenAI Responses.
    OpenAi,
    /// Gemini.
    Gemini,
    /// Nothing the server knows.
    Unknown,
}

/// What the server made of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The tool call of the first turn.
    ToolTurn,
    /// The final text turn.
    FinalTurn,
    /// A short text for a request outside the main loop.
    SideTurn,
    /// A token count.
    CountTokens,
    /// A scripted failure, with its HTTP status.
    Failure(u16),
    /// A stalled stream.
    Stalled,
    /// Unknown: 404.
    NotFound,
}

/// One request, as logged.
#[derive(Debug, Clone)]
pub struct Logged {
    /// When it arrived, since the server started.
    pub at: Duration,
    /// `POST`, `GET`…
    pub method: String,
    /// The path and query.
    pub url: String,
    /// Which API.
    pub api: Api,
    /// What was answered.
    pub answer: Answer,
    /// The request's headers, `name: value` (authorization values masked).
    pub headers: Vec<String>,
    /// The request's body, as text.
    pub body: String,
}

struct Shared {
    script: Script,
    started: Instant,
    log: Mutex<Vec<Logged>>,
    stop: AtomicBool,
    ids: AtomicU64,
    /// Every request, one JSON line each, when set.
    log_file: Option<PathBuf>,
    /// The port it listens on.
    port: u16,
}

/// The running server; stopped (and its held streams released) on drop.
pub struct ModelServer {
    url: String,
    shared: Arc<Shared>,
    server: Arc<tiny_http::Server>,
    accept: Option<JoinHandle<()>>,
}

impl ModelServer {
    /// Starts `script` on a random loopback port.
    ///
    /// # Errors
    ///
    /// The port could not be bound.
    pub fn start(script: Script) -> io::Result<ModelServer> {
        ModelServer::start_on(script, 0, None)
    }

    /// Starts `script` on loopback `port` (0: any), logging every request
    /// as a JSON line to `log_file` when given.
    ///
    /// # Errors
    ///
    /// The port could not be bound.
    pub fn start_on(
        script: Script,
        port: u16,
        log_file: Option<PathBuf>,
    ) -> io::Result<ModelServer> {
        let server = tiny_http::Server::http(("127.0.0.1", port)).map_err(io::Error::other)?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::other("not an IP listener"))?;
        let server = Arc::new(server);
        let shared = Arc::new(Shared {
            script,
            started: Instant::now(),
            log: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            ids: AtomicU64::new(1),
            log_file,
            port: addr.port(),
        });
        let accept = {
            let server = Arc::clone(&server);
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                while !shared.stop.load(Ordering::SeqCst) {
                    match server.recv_timeout(Duration::from_millis(100)) {
                        Ok(Some(request)) => {
                            let shared = Arc::clone(&shared);
                            std::thread::spawn(move || serve(&shared, request));
                        }
                        Ok(None) => {}
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
        };
        Ok(ModelServer {
            url: format!("http://{addr}"),
            shared,
            server,
            accept: Some(accept),
        })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The script it plays.
    #[must_use]
    pub fn script(&self) -> Script {
        self.shared.script
    }

    /// Every request so far, oldest first.
    #[must_use]
    pub fn requests(&self) -> Vec<Logged> {
        self.shared
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits until the process is told to stop (forever, for the binary).
    pub fn wait(&self) {
        while !self.shared.stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for ModelServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.server.unblock();
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// Holds a stream open until the server stops (at most ten minutes).
fn hold(shared: &Shared) {
    let until = Instant::now() + Duration::from_secs(600);
    while !shared.stop.load(Ordering::SeqCst) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn serve(shared: &Shared, mut request: tiny_http::Request) {
    let mut body = Vec::new();
    let _ = request.as_reader().read_to_end(&mut body);
    let method = request.method().to_string();
    let url = request.url().to_owned();
    let headers: Vec<String> = request
        .headers()
        .iter()
        .map(|h| {
            let name = h.field.as_str().as_str().to_owned();
            let lower = name.to_ascii_lowercase();
            let value = if lower.contains("auth") || lower.contains("key") {
                format!("<{} bytes>", h.value.as_str().len())
            } else {
                h.value.as_str().to_owned()
            };
            format!("{name}: {value}")
        })
        .collect();
    let text = String::from_utf8_lossy(&body).into_owned();
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = url.split('?').next().unwrap_or("").to_owned();
    let (api, endpoint) = classify(&method, &path);
    let answer = decide(shared.script, api, endpoint, &json);
    let entry = Logged {
        at: shared.started.elapsed(),
        method,
        url,
        api,
        answer: answer.clone(),
        headers,
        body: text,
    };
    log(shared, &entry);
    let mut writer = request.into_writer();
    let _ = respond(shared, &mut writer, api, endpoint, &answer, &json, &path);
    let _ = writer.flush();
}

fn log(shared: &Shared, entry: &Logged) {
    if let Some(file) = &shared.log_file {
        let line = json!({
            "at_ms": u64::try_from(entry.at.as_millis()).unwrap_or(u64::MAX),
            "method": entry.method,
            "url": entry.url,
            "api": format!("{:?}", entry.api),
            "answer": format!("{:?}", entry.answer),
            "headers": entry.headers,
            "body": serde_json::from_str::<Value>(&entry.body).unwrap_or_else(|_| Value::String(entry.body.clone())),
        });
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)
        {
            let _ = writeln!(f, "{line}");
        }
    }
    shared
        .log
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(entry.clone());
}

/// The endpoint kinds the server knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    /// A model call that streams (SSE).
    Stream,
    /// A model call answered with one JSON document.
    Plain,
    /// Token counting.
    Count,
    /// Anything else.
    Other,
}

fn classify(method: &str, path: &str) -> (Api, Endpoint) {
    if method != "POST" {
        return (Api::Unknown, Endpoint::Other);
    }
    if path.ends_with("/messages/count_tokens") {
        (Api::Anthropic, Endpoint::Count)
    } else if path.ends_with("/messages") {
        // Streaming or not is in the body; decided when answering.
        (Api::Anthropic, Endpoint::Plain)
    } else if path.ends_with("/responses") {
        (Api::OpenAi, Endpoint::Stream)
    } else if path.ends_with(":streamGenerateContent") {
        (Api::Gemini, Endpoint::Stream)
    } else if path.ends_with(":generateContent") {
        (Api::Gemini, Endpoint::Plain)
    } else if path.ends_with(":countTokens") {
        (Api::Gemini, Endpoint::Count)
    } else {
        (Api::Unknown, Endpoint::Other)
    }
}

fn decide(script: Script, api: Api, endpoint: Endpoint, body: &Value) -> Answer {
    match (api, endpoint) {
        (Api::Unknown, _) | (_, Endpoint::Other) => return Answer::NotFound,
        (_, Endpoint::Count) => return Answer::CountTokens,
        _ => {}
    }
    let status_overloaded = if api == Api::Anthropic { 529 } else { 503 };
    match script {
        Script::Unauthorized => return Answer::Failure(401),
        Script::Overloaded => return Answer::Failure(status_overloaded),
        Script::ServerError => return Answer::Failure(500),
        Script::StallMidStream => return Answer::Stalled,
        Script::WriteArtifact | Script::HangAfterEnd | Script::BackgroundThenEnd => {}
        Script::NoArtifact => {
            return if has_tools(api, body) && collect(body).contains(ARTIFACT_MARKER) {
                Answer::FinalTurn
            } else {
                Answer::SideTurn
            };
        }
    }
    let mut text = String::new();
    collect_text(body, &mut text);
    if !has_tools(api, body) || !text.contains(ARTIFACT_MARKER) {
        Answer::SideTurn
    } else if has_tool_result(api, body) {
        Answer::FinalTurn
    } else {
        Answer::ToolTurn
    }
}

const ARTIFACT_MARKER: &str = "write your artifact to: ";

/// Every string in `value`, each followed by a newline.
fn collect(value: &Value) -> String {
    let mut text = String::new();
    collect_text(value, &mut text);
    text
}

/// Every string in `value`, each followed by a newline.
fn collect_text(value: &Value, out: &mut String) {
    match value {
        Value::String(s) => {
            out.push_str(s);
            out.push('\n');
        }
        Value::Array(items) => items.iter().for_each(|v| collect_text(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_text(v, out)),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// The names of the tools the request offers.
fn tool_names(api: Api, body: &Value) -> Vec<String> {
    let tools = body.get("tools").and_then(Value::as_array);
    let mut names = Vec::new();
    for tool in tools.into_iter().flatten() {
        match api {
            Api::Gemini => {
                for decl in tool
                    .get("functionDeclarations")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(name) = decl.get("name").and_then(Value::as_str) {
                        names.push(name.to_owned());
                    }
                }
            }
            Api::Anthropic | Api::OpenAi | Api::Unknown => {
                let name = tool
                    .get("name")
                    .or_else(|| tool.get("function").and_then(|f| f.get("name")))
                    .and_then(Value::as_str)
                    .or_else(|| tool.get("type").and_then(Value::as_str));
                if let Some(name) = name {
                    names.push(name.to_owned());
                }
            }
        }
    }
    names
}

fn has_tools(api: Api, body: &Value) -> bool {
    !tool_names(api, body).is_empty()
}

fn has_tool_result(api: Api, body: &Value) -> bool {
    let any = |list: Option<&Vec<Value>>, test: &dyn Fn(&Value) -> bool| {
        list.into_iter().flatten().any(test)
    };
    match api {
        Api::Anthropic => any(body.get("messages").and_then(Value::as_array), &|message| {
            message
                .get("content")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|block| block.get("type").and_then(Value::as_str) == Some("tool_result"))
        }),
        Api::OpenAi => any(body.get("input").and_then(Value::as_array), &|item| {
            item.get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.ends_with("_call_output"))
        }),
        Api::Gemini => any(body.get("contents").and_then(Value::as_array), &|content| {
            content
                .get("parts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|part| part.get("functionResponse").is_some())
        }),
        Api::Unknown => false,
    }
}

/// The artifact path and the verdict line the prompt asks for.
fn artifact_and_verdict(body: &Value) -> (String, String) {
    let mut text = String::new();
    collect_text(body, &mut text);
    let path = text
        .split(ARTIFACT_MARKER)
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .unwrap_or("artifact.md")
        .trim()
        .to_owned();
    // "- verdict line: `KEY: VALUE` with VALUE one of A, B; `PASS` lets the task advance"
    let line = text.split("verdict line: `").nth(1).unwrap_or("");
    let key = line.split(':').next().unwrap_or("status").trim();
    let pass = line
        .split("; `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .unwrap_or("PASSED");
    (path, format!("{key}: {pass}"))
}

/// The artifact the scripted model writes.
fn artifact_text(verdict: &str) -> String {
    format!(
        "# Scripted artifact\n\nWritten by the scripted stand-in model through the agent CLI's own tool.\n\n{verdict}\n"
    )
}

/// Single-quoted for `sh`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The tool call that writes the artifact: (tool name, arguments), from the
/// tools the request offers.
///
/// With `background` (a shell command), the call is always to the shell
/// tool, which writes the artifact and then starts `background` with `&`.
fn tool_call(api: Api, body: &Value, background: Option<&str>) -> (String, Value) {
    let (path, verdict) = artifact_and_verdict(body);
    let content = artifact_text(&verdict);
    let shell = format!("printf '%s' {} > {}", sh_quote(&content), sh_quote(&path));
    let (shell, in_background) = match background {
        // Claude Code waits for its own background jobs (its Bash tool's
        // `run_in_background`), not for a plain `&`.
        Some(background) if api == Api::Anthropic => (format!("{shell}; {background}"), true),
        // Elsewhere as one would start a daemon: its output away from the
        // tool's pipe, so that the tool call itself returns.
        Some(background) => (
            format!("{shell}; nohup {background} > /dev/null 2>&1 &"),
            false,
        ),
        None => (shell, false),
    };
    let names = tool_names(api, body);
    let offered = |name: &str| names.iter().any(|n| n == name);
    // A write tool cannot start the background process.
    let write_offered = |name: &str| background.is_none() && offered(name);
    match api {
        Api::Anthropic if write_offered("Write") => (
            "Write".into(),
            json!({"file_path": path, "content": content}),
        ),
        Api::Anthropic if in_background => (
            "Bash".into(),
            json!({"command": shell, "run_in_background": true}),
        ),
        Api::Anthropic => ("Bash".into(), json!({"command": shell})),
        Api::Gemini if write_offered("write_file") => (
            "write_file".into(),
            json!({"file_path": path, "content": content}),
        ),
        Api::Gemini => ("run_shell_command".into(), json!({"command": shell})),
        Api::OpenAi if offered("exec_command") => ("exec_command".into(), json!({"cmd": shell})),
        Api::OpenAi | Api::Unknown => (
            "shell".into(),
            json!({"command": ["bash", "-lc", shell], "workdir": null}),
        ),
    }
}

fn model_of(body: &Value, path: &str) -> String {
    body.get("model")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| {
            path.split("/models/")
                .nth(1)
                .and_then(|m| m.split(':').next())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "scripted-model".into())
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        401 => "Unauthorized",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        529 => "Overloaded",
        _ => "Status",
    }
}

fn write_json(w: &mut dyn Write, status: u16, body: &Value) -> io::Result<()> {
    let text = body.to_string();
    write!(
        w,
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
        reason(status),
        text.len()
    )?;
    w.flush()
}

fn start_stream(w: &mut dyn Write) -> io::Result<()> {
    write!(
        w,
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n"
    )?;
    w.flush()
}

fn chunk(w: &mut dyn Write, data: &str) -> io::Result<()> {
    write!(w, "{:x}\r\n{data}\r\n", data.len())?;
    w.flush()
}

fn end_stream(w: &mut dyn Write) -> io::Result<()> {
    write!(w, "0\r\n\r\n")?;
    w.flush()
}

fn error_body(api: Api, status: u16) -> Value {
    let (kind, message) = match status {
        401 => ("authentication_error", "invalid x-api-key"),
        529 => ("overloaded_error", "Overloaded"),
        503 => (
            "server_is_overloaded",
            "The model is overloaded. Please try again later.",
        ),
        404 => (
            "not_found_error",
            "the scripted model server does not know this request",
        ),
        _ => ("api_error", "Internal server error"),
    };
    match api {
        Api::Anthropic | Api::Unknown => {
            json!({"type": "error", "error": {"type": kind, "message": message}})
        }
        Api::OpenAi => json!({"error": {"message": message, "type": kind, "param": null,
            "code": if status == 401 { "invalid_api_key" } else { kind }}}),
        Api::Gemini => {
            json!({"error": {"code": status, "message": message, "status": match status {
                401 => "UNAUTHENTICATED",
                503 => "UNAVAILABLE",
                404 => "NOT_FOUND",
                _ => "INTERNAL",
            }}})
        }
    }
}

fn respond(
    shared: &Shared,
    w: &mut dyn Write,
    api: Api,
    endpoint: Endpoint,
    answer: &Answer,
    body: &Value,
    path: &str,
) -> io::Result<()> {
    let usage = match answer {
        Answer::ToolTurn => TOOL_TURN,
        Answer::FinalTurn => FINAL_TURN,
        Answer::SideTurn
        | Answer::CountTokens
        | Answer::Failure(_)
        | Answer::Stalled
        | Answer::NotFound => SIDE_TURN,
    };
    let id = shared.ids.fetch_add(1, Ordering::SeqCst);
    let model = model_of(body, path);
    let streaming = endpoint == Endpoint::Stream
        || (api == Api::Anthropic && body.get("stream").and_then(Value::as_bool) == Some(true));
    let content = match answer {
        Answer::NotFound => return write_json(w, 404, &error_body(api, 404)),
        Answer::Failure(status) => return write_json(w, *status, &error_body(api, *status)),
        Answer::CountTokens => {
            let count = if api == Api::Gemini {
                json!({"totalTokens": 100})
            } else {
                json!({"input_tokens": 100})
            };
            return write_json(w, 200, &count);
        }
        Answer::Stalled => {
            if streaming {
                start_stream(w)?;
                let first = match api {
                    Api::Anthropic => sse(
                        Some("message_start"),
                        &anthropic_message(id, &model, &[], None, usage),
                    ),
                    Api::OpenAi => sse(
                        Some("response.created"),
                        &json!({"type": "response.created", "response": openai_response(id, &model, &[], None)}),
                    ),
                    Api::Gemini | Api::Unknown => String::new(),
                };
                if !first.is_empty() {
                    chunk(w, &first)?;
                }
            }
            hold(shared);
            return Ok(());
        }
        Answer::ToolTurn => {
            let background = (shared.script == Script::BackgroundThenEnd)
                .then(|| format!("sleep {BACKGROUND_SECS}.0{BACKGROUND_MARK}{}", shared.port));
            let (name, input) = tool_call(api, body, background.as_deref());
            Content::Tool(name, input)
        }
        Answer::FinalTurn => Content::Text(FINAL_TEXT.to_owned()),
        Answer::SideTurn => Content::Text(side_text(body)),
    };
    let hang = shared.script == Script::HangAfterEnd;
    let events = match api {
        Api::Anthropic if streaming => anthropic_stream(id, &model, &content, usage),
        Api::Anthropic => {
            let blocks = [anthropic_block(id, &content)];
            return write_json(
                w,
                200,
                &anthropic_message(id, &model, &blocks, Some(stop_reason(&content)), usage),
            );
        }
        Api::OpenAi => openai_stream(id, &model, &content, usage),
        Api::Gemini if streaming => vec![sse(None, &gemini_chunk(&model, &content, usage))],
        Api::Gemini => return write_json(w, 200, &gemini_chunk(&model, &content, usage)),
        Api::Unknown => return write_json(w, 404, &error_body(api, 404)),
    };
    start_stream(w)?;
    for event in events {
        chunk(w, &event)?;
    }
    if hang {
        hold(shared);
        return Ok(());
    }
    end_stream(w)
}

/// A side request's answer: "OK", or, when it asks for JSON of a schema
/// (Gemini's model router: `generationConfig.responseJsonSchema`), the
/// smallest instance of it.
fn side_text(body: &Value) -> String {
    let config = body.get("generationConfig");
    let schema = config.and_then(|c| {
        c.get("responseJsonSchema")
            .or_else(|| c.get("responseSchema"))
    });
    match schema {
        Some(schema) => instance(schema).to_string(),
        None => "OK".to_owned(),
    }
}

/// A value of `schema` (an OpenAPI-like subset): every required property
/// filled with the least value of its type.
fn instance(schema: &Value) -> Value {
    let kind = schema
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("object")
        .to_ascii_lowercase();
    match kind.as_str() {
        "string" => schema
            .get("enum")
            .and_then(Value::as_array)
            .and_then(|e| e.first().cloned())
            .unwrap_or_else(|| json!("scripted")),
        "integer" | "number" => json!(1),
        "boolean" => json!(false),
        "array" => json!([]),
        _ => {
            let mut object = serde_json::Map::new();
            let properties = schema.get("properties").and_then(Value::as_object);
            for name in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                let sub = properties.and_then(|p| p.get(name)).unwrap_or(&Value::Null);
                object.insert(name.to_owned(), instance(sub));
            }
            Value::Object(object)
        }
    }
}

enum Content {
    Tool(String, Value),
    Text(String),
}

fn stop_reason(content: &Content) -> &'static str {
    match content {
        Content::Tool(..) => "tool_use",
        Content::Text(_) => "end_turn",
    }
}

fn sse(event: Option<&str>, data: &Value) -> String {
    let mut out = String::new();
    if let Some(event) = event {
        let _ = writeln!(out, "event: {event}");
    }
    let _ = write!(out, "data: {data}\n\n");
    out
}

fn anthropic_usage(usage: TurnUsage) -> Value {
    json!({
        "input_tokens": usage.input,
        "output_tokens": usage.output,
        "cache_creation_input_tokens": usage.cache_write,
        "cache_read_input_tokens": usage.cache_read,
    })
}

fn anthropic_message(
    id: u64,
    model: &str,
    content: &[Value],
    stop: Option<&str>,
    usage: TurnUsage,
) -> Value {
    let mut start_usage = anthropic_usage(usage);
    if stop.is_none() {
        // message_start: the output so far.
        start_usage["output_tokens"] = json!(1);
        return json!({"type": "message_start", "message": {
            "id": format!("msg_scripted_{id}"), "type": "message", "role": "assistant",
            "model": model, "content": content, "stop_reason": null, "stop_sequence": null,
            "usage": start_usage}});
    }
    json!({
        "id": format!("msg_scripted_{id}"), "type": "message", "role": "assistant",
        "model": model, "content": content, "stop_reason": stop, "stop_sequence": null,
        "usage": anthropic_usage(usage)})
}

fn anthropic_block(id: u64, content: &Content) -> Value {
    match content {
        Content::Tool(name, input) => json!({"type": "tool_use",
            "id": format!("toolu_scripted_{id}"), "name": name, "input": input}),
        Content::Text(text) => json!({"type": "text", "text": text}),
    }
}

fn anthropic_stream(id: u64, model: &str, content: &Content, usage: TurnUsage) -> Vec<String> {
    let (start, delta) = match content {
        Content::Tool(name, input) => (
            json!({"type": "tool_use", "id": format!("toolu_scripted_{id}"), "name": name, "input": {}}),
            json!({"type": "input_json_delta", "partial_json": input.to_string()}),
        ),
        Content::Text(text) => (
            json!({"type": "text", "text": ""}),
            json!({"type": "text_delta", "text": text}),
        ),
    };
    vec![
        sse(
            Some("message_start"),
            &anthropic_message(id, model, &[], None, usage),
        ),
        sse(
            Some("content_block_start"),
            &json!({"type": "content_block_start", "index": 0, "content_block": start}),
        ),
        sse(
            Some("content_block_delta"),
            &json!({"type": "content_block_delta", "index": 0, "delta": delta}),
        ),
        sse(
            Some("content_block_stop"),
            &json!({"type": "content_block_stop", "index": 0}),
        ),
        sse(
            Some("message_delta"),
            &json!({"type": "message_delta",
                "delta": {"stop_reason": stop_reason(content), "stop_sequence": null},
                "usage": anthropic_usage(usage)}),
        ),
        sse(Some("message_stop"), &json!({"type": "message_stop"})),
    ]
}

fn openai_response(id: u64, model: &str, output: &[Value], usage: Option<TurnUsage>) -> Value {
    let mut response = json!({
        "id": format!("resp_scripted_{id}"), "object": "response",
        "created_at": 1_700_000_000, "model": model,
        "status": if usage.is_some() { "completed" } else { "in_progress" },
        "output": output,
    });
    if let Some(u) = usage {
        response["usage"] = json!({
            "input_tokens": u.input,
            "input_tokens_details": {"cached_tokens": u.cache_read},
            "output_tokens": u.output,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": u.input + u.output,
        });
    }
    response
}

fn openai_stream(id: u64, model: &str, content: &Content, usage: TurnUsage) -> Vec<String> {
    let item = match content {
        Content::Tool(name, input) => {
            json!({"type": "function_call", "id": format!("fc_scripted_{id}"),
            "call_id": format!("call_scripted_{id}"), "name": name,
            "arguments": input.to_string(), "status": "completed"})
        }
        Content::Text(text) => json!({"type": "message", "id": format!("msg_scripted_{id}"),
            "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}),
    };
    let mut events = vec![
        sse(
            Some("response.created"),
            &json!({"type": "response.created", "response": openai_response(id, model, &[], None)}),
        ),
        sse(
            Some("response.output_item.added"),
            &json!({"type": "response.output_item.added", "output_index": 0, "item": item}),
        ),
    ];
    if let Content::Text(text) = content {
        events.push(sse(
            Some("response.output_text.delta"),
            &json!({"type": "response.output_text.delta", "output_index": 0,
                "content_index": 0, "item_id": format!("msg_scripted_{id}"), "delta": text}),
        ));
    }
    events.push(sse(
        Some("response.output_item.done"),
        &json!({"type": "response.output_item.done", "output_index": 0, "item": item}),
    ));
    events.push(sse(
        Some("response.completed"),
        &json!({"type": "response.completed",
            "response": openai_response(id, model, std::slice::from_ref(&item), Some(usage))}),
    ));
    events
}

fn gemini_chunk(model: &str, content: &Content, usage: TurnUsage) -> Value {
    let part = match content {
        Content::Tool(name, args) => json!({"functionCall": {"name": name, "args": args}}),
        Content::Text(text) => json!({"text": text}),
    };
    json!({
        "candidates": [{"content": {"role": "model", "parts": [part]},
            "finishReason": "STOP", "index": 0}],
        "usageMetadata": {
            "promptTokenCount": usage.input,
            "candidatesTokenCount": usage.output,
            "cachedContentTokenCount": usage.cache_read,
            "totalTokenCount": usage.input + usage.output,
        },
        "modelVersion": model,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prompt_gives_the_path_and_the_verdict() {
        let body = json!({"messages": [{"role": "user", "content":
            "x\n- write your artifact to: /tmp/a b/01-analysis.md\n- verdict line: `analysis_status: VALUE` with VALUE one of PASSED, FAILED; `PASSED` lets the task advance\n"}]});
        let (path, verdict) = artifact_and_verdict(&body);
        assert_eq!(path, "/tmp/a b/01-analysis.md");
        assert_eq!(verdict, "analysis_status: PASSED");
    }

    #[test]
    fn script_names_round_trip() {
        for script in Script::ALL {
            assert_eq!(Script::from_name(script.name()), Some(script));
        }
    }
}
