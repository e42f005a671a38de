//! The HTTP server of `orch serve`: `GET /queue` (JSON), `GET /healthz`,
//! `GET /metrics` (Prometheus text); other paths 404, other methods 405.
//!
//! A small HTTP/1.1 server on `std::net`, bounded everywhere (docs/http.md):
//!
//! - One acceptor thread; at most [`MAX_CONNECTIONS`] open connections, each
//!   read by a thread of its own. A connection past the cap evicts the oldest
//!   one that is only waiting for a request; when none waits, the newcomer
//!   gets a quick `503` and is closed. Idle or trickling clients therefore
//!   never lock others out.
//! - A connection reads **one** request at a time: its head (at most
//!   [`MAX_HEAD_BYTES`], within [`HEAD_TIMEOUT`]), then waits for the answer
//!   and writes it (within [`WRITE_TIMEOUT`]) before it reads the next one.
//!   Pipelined requests stay in the socket; what is buffered is bounded by
//!   the head cap.
//! - Answers that need the database are made by a fixed pool of
//!   [`HANDLERS`] threads, each with its own connection, fed by a queue of at
//!   most [`MAX_QUEUED`] requests (past it: `503`). Workers never serve HTTP
//!   and handlers never claim jobs.
//! - HTTP/1.1 connections are kept open unless the client says
//!   `Connection: close` (honoured: the answer says so and the connection is
//!   closed after it); HTTP/1.0 ones are closed after one answer.
//! - The `Host` header must name loopback (`localhost`, `127.0.0.1`,
//!   `[::1]`, any port) or an entry of `ORCH_HTTP_ALLOWED_HOSTS`, so that a
//!   web page cannot reach the API through DNS rebinding (`403` otherwise).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use orch_launcher::{Health, LauncherConfig, Monitor};

use crate::commands::Setup;
use crate::web::{Answer, Context, Method, Request, answer};
use crate::{CliError, queue};

/// Request handler threads (database answers).
pub(crate) const HANDLERS: usize = 4;
/// Open connections at most.
pub(crate) const MAX_CONNECTIONS: usize = 256;
/// Requests waiting for a handler at most.
pub(crate) const MAX_QUEUED: usize = 64;
/// The largest request head (request line and headers) read.
pub(crate) const MAX_HEAD_BYTES: usize = 8 * 1024;
/// How long a connection may take to send a whole request head (and how long
/// a kept-open connection may stay silent).
pub(crate) const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long writing an answer may take.
pub(crate) const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request body read (a dashboard action's form).
pub(crate) const MAX_BODY_BYTES: usize = 8 * 1024;
/// Requests answered on one connection before it is closed.
pub(crate) const MAX_REQUESTS_PER_CONNECTION: u32 = 1000;
/// The stack of a connection thread: it parses and writes, nothing more.
const CONNECTION_STACK: usize = 128 * 1024;

/// The bound server.
pub(crate) struct Http {
    listener: Arc<TcpListener>,
    addr: SocketAddr,
    db: std::path::PathBuf,
    launcher: LauncherConfig,
    hosts: Arc<HostRule>,
    connections: Arc<Connections>,
    stopped: Arc<AtomicBool>,
    dashboard: Arc<crate::dashboard::Dashboard>,
}

/// The dashboard's roadmap cache: `orch roadmap`'s text on `setup`'s
/// database and launcher configuration.
fn roadmap_cache(setup: &Setup) -> crate::roadmap_cache::RoadmapCache {
    let db = setup.db.clone();
    let launcher = setup.launcher();
    let says = |e: CliError| {
        if let CliError::Tool(why) | CliError::BadArgument(why) = e {
            why
        } else {
            format!("{e:?}")
        }
    };
    crate::roadmap_cache::RoadmapCache::new(
        Box::new(move || crate::commands::open_store(&db).map_err(says)),
        Box::new(move |store| {
            crate::commands::inventory::build_roadmap(store, &launcher)
                .map(|r| r.to_text())
                .map_err(says)
        }),
    )
}

impl Http {
    /// Binds `ORCH_HTTP_ADDR`.
    ///
    /// # Errors
    ///
    /// [`CliError::Tool`] when the address cannot be bound.
    pub(crate) fn bind(setup: &Setup) -> Result<Http, CliError> {
        let cannot = |error: std::io::Error| {
            CliError::Tool(format!(
                "cannot listen on {} (serve --addr, or ORCH_HTTP_ADDR): {error}; pick a free port",
                setup.config.http_addr
            ))
        };
        let listener = TcpListener::bind(&setup.config.http_addr).map_err(cannot)?;
        let addr = listener.local_addr().map_err(cannot)?;
        if !addr.ip().is_loopback() && setup.config.http_token.is_none() {
            // Checked with the configuration too; said again here so that no
            // path binds off loopback without a token.
            return Err(CliError::Tool(format!(
                "refusing to serve on {addr} without ORCH_HTTP_TOKEN: off loopback, anyone who reaches the address could act on the queue; set ORCH_HTTP_TOKEN to a long random secret, or bind 127.0.0.1"
            )));
        }
        let dashboard = crate::dashboard::Dashboard::new(
            setup.config.http_read_only,
            setup.config.http_token.clone(),
            roadmap_cache(setup),
        )
        .map_err(|error| CliError::Tool(format!("cannot make the dashboard's token: {error}")))?;
        Ok(Http {
            listener: Arc::new(listener),
            addr,
            db: setup.db.clone(),
            launcher: setup.launcher(),
            hosts: Arc::new(HostRule {
                loopback_bind: addr.ip().is_loopback(),
                allowed: setup.config.http_allowed_hosts(),
            }),
            connections: Arc::new(Connections::default()),
            stopped: Arc::new(AtomicBool::new(false)),
            dashboard: Arc::new(dashboard),
        })
    }

    /// The address it listens on.
    pub(crate) fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// Starts the acceptor and the handler pool; they end when `stopping` is
    /// set or [`Http::stop`] is called.
    ///
    /// # Errors
    ///
    /// [`CliError::Tool`] when a thread or a database connection cannot be had.
    pub(crate) fn start(
        &self,
        stopping: &Arc<AtomicBool>,
        monitor: &Monitor,
    ) -> Result<Vec<JoinHandle<()>>, CliError> {
        let cannot =
            |error: std::io::Error| CliError::Tool(format!("cannot start an HTTP thread: {error}"));
        let (queue, jobs) = mpsc::sync_channel::<Job>(MAX_QUEUED);
        let jobs = Arc::new(Mutex::new(jobs));
        let mut threads = Vec::with_capacity(HANDLERS + 1);
        for i in 0..HANDLERS {
            let jobs = Arc::clone(&jobs);
            let store = crate::commands::open_store(&self.db)?;
            let launcher = self.launcher.clone();
            let stopping = Arc::clone(stopping);
            let stopped = Arc::clone(&self.stopped);
            let monitor = monitor.clone();
            let dashboard = Arc::clone(&self.dashboard);
            let thread = thread::Builder::new()
                .name(format!("http-{i}"))
                .spawn(move || {
                    let context = Context {
                        store: &store,
                        launcher: &launcher,
                        monitor: &monitor,
                        dashboard: &dashboard,
                    };
                    handler(&jobs, &context, &stopping, &stopped);
                })
                .map_err(cannot)?;
            threads.push(thread);
        }
        let acceptor = Acceptor {
            listener: Arc::clone(&self.listener),
            queue,
            hosts: Arc::clone(&self.hosts),
            connections: Arc::clone(&self.connections),
            stopping: Arc::clone(stopping),
            stopped: Arc::clone(&self.stopped),
            bearer: self.dashboard.bearer.clone().map(Arc::new),
        };
        let thread = thread::Builder::new()
            .name("http-accept".to_owned())
            .spawn(move || acceptor.run())
            .map_err(cannot)?;
        threads.push(thread);
        Ok(threads)
    }

    /// Stops accepting, closes every open connection and wakes the handlers.
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        // Wake the acceptor blocked in accept(): a connection to ourselves.
        let _ = TcpStream::connect_timeout(&wake_addr(self.addr), Duration::from_secs(1));
        self.connections.close_all();
    }
}

/// The address to connect to in order to reach a listener bound to `addr`
/// (an unspecified address is reached on loopback).
fn wake_addr(addr: SocketAddr) -> SocketAddr {
    let mut wake = addr;
    if addr.ip().is_unspecified() {
        wake.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    wake
}

/// Which `Host` headers are answered.
#[derive(Debug)]
struct HostRule {
    /// The server listens on a loopback address.
    loopback_bind: bool,
    /// `ORCH_HTTP_ALLOWED_HOSTS`: names (lower case), each with or without a
    /// port.
    allowed: Vec<String>,
}

impl HostRule {
    /// Whether a request with this `Host` value is answered: a loopback name
    /// (any port), or an allow-list entry (an entry without a port allows
    /// every port).
    fn admits(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        let name = host_name(&host);
        if matches!(name, "localhost" | "127.0.0.1" | "[::1]") {
            return true;
        }
        self.allowed
            .iter()
            .any(|entry| *entry == host || *entry == name)
    }

    /// The `403` body for a refused `host`.
    fn refusal(&self, host: &str) -> String {
        if self.loopback_bind {
            format!(
                "Host {host:?} is not allowed: this server answers only requests addressed to localhost, 127.0.0.1 or [::1] (DNS rebinding protection); to reach it under another name, add the name to ORCH_HTTP_ALLOWED_HOSTS\n"
            )
        } else {
            format!(
                "Host {host:?} is not allowed: this server answers requests addressed to localhost, 127.0.0.1, [::1] or a name in ORCH_HTTP_ALLOWED_HOSTS (DNS rebinding protection); add the name there to reach it this way\n"
            )
        }
    }
}

/// The name of a `Host` value without its port: `[::1]:80` → `[::1]`,
/// `localhost:7878` → `localhost`.
fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// A request for a handler, with where to send the answer.
struct Job {
    request: Request,
    reply: SyncSender<Answer>,
}

/// One handler: answers queued requests until stopped.
fn handler(
    jobs: &Mutex<Receiver<Job>>,
    context: &Context<'_>,
    stopping: &AtomicBool,
    stopped: &AtomicBool,
) {
    while !stopping.load(Ordering::SeqCst) && !stopped.load(Ordering::SeqCst) {
        let next = lock(jobs).recv_timeout(Duration::from_millis(200));
        match next {
            Ok(job) => {
                let reply = route(&job.request, context);
                let _ = job.reply.send(reply);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The open connections, so that the cap can be kept and a stop can close
/// them.
#[derive(Default)]
struct Connections {
    next: AtomicU64,
    open: Mutex<HashMap<u64, Open>>,
}

/// One open connection.
struct Open {
    /// A handle on its socket, to shut it down from outside.
    stream: TcpStream,
    /// Since when it has been waiting for a request head (`None`: it is
    /// being answered).
    waiting_since: Option<Instant>,
}

impl Connections {
    /// Registers `stream`, making room by evicting the connection that has
    /// waited longest for a request when the cap is reached. `None` when
    /// every connection is busy being answered.
    fn admit(&self, stream: &TcpStream) -> Option<u64> {
        let handle = stream.try_clone().ok()?;
        let mut open = lock(&self.open);
        if open.len() >= MAX_CONNECTIONS {
            let oldest = open
                .iter()
                .filter_map(|(id, conn)| conn.waiting_since.map(|since| (since, *id)))
                .min()
                .map(|(_, id)| id)?;
            if let Some(evicted) = open.remove(&oldest) {
                let _ = evicted.stream.shutdown(Shutdown::Both);
            }
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        open.insert(
            id,
            Open {
                stream: handle,
                waiting_since: Some(Instant::now()),
            },
        );
        Some(id)
    }

    /// Marks connection `id` as waiting for a request, or being answered.
    fn set_waiting(&self, id: u64, waiting: bool) {
        if let Some(conn) = lock(&self.open).get_mut(&id) {
            conn.waiting_since = waiting.then(Instant::now);
        }
    }

    fn remove(&self, id: u64) {
        lock(&self.open).remove(&id);
    }

    fn close_all(&self) {
        for (_, conn) in lock(&self.open).drain() {
            let _ = conn.stream.shutdown(Shutdown::Both);
        }
    }
}

/// The accepting thread's share.
struct Acceptor {
    listener: Arc<TcpListener>,
    queue: SyncSender<Job>,
    hosts: Arc<HostRule>,
    connections: Arc<Connections>,
    stopping: Arc<AtomicBool>,
    stopped: Arc<AtomicBool>,
    /// `ORCH_HTTP_TOKEN`: every request but `/healthz` must carry it.
    bearer: Option<Arc<String>>,
}

impl Acceptor {
    fn stop_asked(&self) -> bool {
        self.stopping.load(Ordering::SeqCst) || self.stopped.load(Ordering::SeqCst)
    }

    fn run(&self) {
        // A blocking accept: `Http::stop` wakes it with a connection of its
        // own; a stop asked by signal (`stopping`) is seen at the next
        // connection, and the handlers end on it by themselves.
        loop {
            let accepted = self.listener.accept();
            if self.stop_asked() {
                break;
            }
            let Ok((stream, _)) = accepted else {
                // Out of descriptors, or a connection reset before accept:
                // wait a little rather than spin.
                thread::sleep(Duration::from_millis(20));
                continue;
            };
            self.take(stream);
        }
        self.connections.close_all();
    }

    /// Gives `stream` a thread of its own, or a quick `503`.
    fn take(&self, stream: TcpStream) {
        let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
        let _ = stream.set_nodelay(true);
        let Some(id) = self.connections.admit(&stream) else {
            refuse_busy(stream);
            return;
        };
        let queue = self.queue.clone();
        let hosts = Arc::clone(&self.hosts);
        let connections = Arc::clone(&self.connections);
        let stopped = Arc::clone(&self.stopped);
        let stopping = Arc::clone(&self.stopping);
        let bearer = self.bearer.clone();
        let spawned = thread::Builder::new()
            .name("http-conn".to_owned())
            .stack_size(CONNECTION_STACK)
            .spawn({
                let connections = Arc::clone(&connections);
                move || {
                    let conn = Connection {
                        id,
                        queue,
                        hosts,
                        connections: Arc::clone(&connections),
                        stopped,
                        stopping,
                        bearer,
                    };
                    conn.serve(stream);
                    connections.remove(id);
                }
            });
        if spawned.is_err() {
            // The closure (and the stream) is gone with the error.
            connections.remove(id);
        }
    }
}

/// A `503` for a connection past the cap, written without blocking for long.
fn refuse_busy(mut stream: TcpStream) {
    let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
    let reply = answer(
        503,
        "text/plain; charset=utf-8",
        format!("too many open connections (at most {MAX_CONNECTIONS}); try again\n"),
    );
    let _ = write_answer(&mut stream, &reply, false, false);
    let _ = stream.shutdown(Shutdown::Both);
}

/// A parsed request head.
#[derive(Debug)]
struct Head {
    method: Method,
    target: String,
    /// HTTP/1.1 (else 1.0).
    http11: bool,
    host: Option<String>,
    /// The client said `Connection: close`.
    close: bool,
    /// The client said `Connection: keep-alive`.
    keep_alive: bool,
    /// A body follows (`Content-Length` > 0 or `Transfer-Encoding`); only a
    /// `POST`'s is read (at most [`MAX_BODY_BYTES`]), and the connection is
    /// closed after the answer.
    body: bool,
    /// `Content-Length`, when sent and a number.
    content_length: Option<usize>,
    origin: Option<String>,
    sec_fetch_site: Option<String>,
    authorization: Option<String>,
}

/// Why no request head could be had.
#[derive(Debug)]
enum HeadError {
    /// The client closed the connection between requests.
    Closed,
    /// It stayed silent (or trickled) past [`HEAD_TIMEOUT`], or the socket
    /// failed: closed without an answer.
    Gone,
    /// The head is larger than [`MAX_HEAD_BYTES`].
    TooLarge,
    /// The head is not HTTP/1.x.
    Bad(String),
    /// Another HTTP version.
    Version(String),
}

/// One connection's thread.
struct Connection {
    id: u64,
    queue: SyncSender<Job>,
    hosts: Arc<HostRule>,
    connections: Arc<Connections>,
    stopped: Arc<AtomicBool>,
    stopping: Arc<AtomicBool>,
    bearer: Option<Arc<String>>,
}

impl Connection {
    fn serve(&self, stream: TcpStream) {
        // One descriptor per connection here (and one in the registry):
        // answers are written through the reader's own socket.
        let mut reader = BufReader::with_capacity(MAX_HEAD_BYTES, stream);
        if self.exchange(&mut reader) {
            close_gently(&mut reader);
        }
    }

    /// Answers requests one at a time until the connection is to be closed;
    /// whether it should be closed gently (an answer was written).
    fn exchange(&self, reader: &mut BufReader<TcpStream>) -> bool {
        for served in 1..=MAX_REQUESTS_PER_CONNECTION {
            self.connections.set_waiting(self.id, true);
            let head = read_head(reader);
            self.connections.set_waiting(self.id, false);
            let refusal = match head {
                Ok(head) => {
                    let stopping =
                        self.stopped.load(Ordering::SeqCst) || self.stopping.load(Ordering::SeqCst);
                    let keep = (head.http11 || head.keep_alive)
                        && !head.close
                        && !head.body
                        && !stopping
                        && served < MAX_REQUESTS_PER_CONNECTION;
                    let reply = self.answer(&head, reader);
                    let keep = keep && reply.status < 500 && reply.status != 400;
                    let head_only = head.method == Method::Head;
                    if write_answer(reader.get_mut(), &reply, head_only, keep).is_err() {
                        return false;
                    }
                    if keep {
                        continue;
                    }
                    return true;
                }
                Err(HeadError::Closed | HeadError::Gone) => return false,
                Err(HeadError::TooLarge) => answer(
                    431,
                    "text/plain; charset=utf-8",
                    format!("the request head is larger than {MAX_HEAD_BYTES} bytes\n"),
                ),
                Err(HeadError::Bad(why)) => {
                    answer(400, "text/plain; charset=utf-8", format!("{why}\n"))
                }
                Err(HeadError::Version(version)) => answer(
                    505,
                    "text/plain; charset=utf-8",
                    format!("{version:?} is not served; use HTTP/1.1 or HTTP/1.0\n"),
                ),
            };
            return write_answer(reader.get_mut(), &refusal, false, false).is_ok();
        }
        true
    }

    /// The answer to one request: the `Host` check, the bearer token, then
    /// a handler's.
    fn answer(&self, head: &Head, reader: &mut BufReader<TcpStream>) -> Answer {
        let Some(host) = &head.host else {
            return answer(
                400,
                "text/plain; charset=utf-8",
                "the request has no Host header; send Host: localhost\n".to_owned(),
            );
        };
        if !self.hosts.admits(host) {
            return answer(403, "text/plain; charset=utf-8", self.hosts.refusal(host));
        }
        let path = head.target.split('?').next().unwrap_or_default();
        if let Some(bearer) = &self.bearer
            && path != "/healthz"
            && !crate::dashboard::bearer_matches(head.authorization.as_deref(), bearer)
        {
            return answer(
                401,
                "text/plain; charset=utf-8",
                "this server needs the ORCH_HTTP_TOKEN bearer token: send Authorization: Bearer TOKEN (or put it behind a proxy that adds it)\n".to_owned(),
            );
        }
        // Only an action's form is read; any other body is left unread, and
        // the connection closed after the answer.
        let body = if head.method == Method::Post && crate::dashboard::is_action(path) {
            match read_body(reader, head.content_length) {
                Ok(body) => body,
                Err(refusal) => return refusal,
            }
        } else {
            Vec::new()
        };
        let (reply, wait) = mpsc::sync_channel(1);
        let job = Job {
            request: Request {
                method: head.method.clone(),
                target: head.target.clone(),
                host: host.clone(),
                origin: head.origin.clone(),
                sec_fetch_site: head.sec_fetch_site.clone(),
                body,
            },
            reply,
        };
        match self.queue.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return answer(
                    503,
                    "text/plain; charset=utf-8",
                    format!("too many requests waiting (at most {MAX_QUEUED}); try again\n"),
                );
            }
            Err(TrySendError::Disconnected(_)) => return stopping_answer(),
        }
        wait.recv().unwrap_or_else(|_| stopping_answer())
    }
}

fn stopping_answer() -> Answer {
    answer(
        503,
        "text/plain; charset=utf-8",
        "orch serve is stopping\n".to_owned(),
    )
}

/// Closes a connection after its last answer without losing that answer:
/// the write side is shut, then what the client still sends (pipelined
/// requests, the rest of a refused head) is read and dropped for a short
/// bounded while, so that the kernel does not reset the connection and
/// discard the answer before the client has read it.
/// Reads a `POST`'s body of `length` bytes (at most [`MAX_BODY_BYTES`],
/// within [`HEAD_TIMEOUT`]); a refusal to write back otherwise.
fn read_body(reader: &mut BufReader<TcpStream>, length: Option<usize>) -> Result<Vec<u8>, Answer> {
    let Some(length) = length else {
        return Err(answer(
            411,
            "text/plain; charset=utf-8",
            "a POST needs a Content-Length (no chunked bodies)\n".to_owned(),
        ));
    };
    if length > MAX_BODY_BYTES {
        return Err(answer(
            413,
            "text/plain; charset=utf-8",
            format!("the request body is larger than {MAX_BODY_BYTES} bytes\n"),
        ));
    }
    let gone = || {
        answer(
            400,
            "text/plain; charset=utf-8",
            format!("the request body did not arrive ({length} bytes announced)\n"),
        )
    };
    reader
        .get_ref()
        .set_read_timeout(Some(HEAD_TIMEOUT))
        .map_err(|_| gone())?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body).map_err(|_| gone())?;
    Ok(body)
}

fn close_gently(reader: &mut BufReader<TcpStream>) {
    const LINGER: Duration = Duration::from_millis(500);
    const DRAIN_BYTES: usize = 256 * 1024;
    let _ = reader.get_ref().shutdown(Shutdown::Write);
    let until = Instant::now().checked_add(LINGER);
    let mut drained = reader.buffer().len();
    reader.consume(drained);
    let mut sink = [0u8; 4096];
    while drained < DRAIN_BYTES {
        let left = until.map_or(Duration::ZERO, |until| {
            until.saturating_duration_since(Instant::now())
        });
        if left.is_zero() || reader.get_ref().set_read_timeout(Some(left)).is_err() {
            break;
        }
        match reader.get_mut().read(&mut sink) {
            Ok(0) => break,
            Ok(n) => drained += n,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
}

/// Reads one request head, within [`HEAD_TIMEOUT`] in all and at most
/// [`MAX_HEAD_BYTES`]; what is read past it stays in the reader's buffer
/// (bounded by its capacity) for the next request.
fn read_head(reader: &mut BufReader<TcpStream>) -> Result<Head, HeadError> {
    let deadline = Instant::now().checked_add(HEAD_TIMEOUT);
    let mut head: Vec<u8> = Vec::new();
    loop {
        let left = deadline
            .map(|deadline| deadline.saturating_duration_since(Instant::now()))
            .unwrap_or(HEAD_TIMEOUT);
        if left.is_zero() {
            return Err(HeadError::Gone);
        }
        if reader.get_ref().set_read_timeout(Some(left)).is_err() {
            return Err(HeadError::Gone);
        }
        let buf = match reader.fill_buf() {
            Ok(buf) => buf,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return Err(HeadError::Gone),
        };
        if buf.is_empty() {
            return Err(if head.is_empty() {
                HeadError::Closed
            } else {
                HeadError::Gone
            });
        }
        let mut used = 0;
        let mut complete = false;
        for &byte in buf {
            used += 1;
            // Empty lines before a request are allowed (RFC 9112 2.2).
            if head.is_empty() && matches!(byte, b'\r' | b'\n') {
                continue;
            }
            head.push(byte);
            if head.ends_with(b"\r\n\r\n") || head.ends_with(b"\n\n") {
                complete = true;
                break;
            }
            if head.len() >= MAX_HEAD_BYTES {
                break;
            }
        }
        reader.consume(used);
        if complete {
            return parse_head(&head);
        }
        if head.len() >= MAX_HEAD_BYTES {
            return Err(HeadError::TooLarge);
        }
    }
}

/// Parses a complete head (request line, headers, empty line).
fn parse_head(bytes: &[u8]) -> Result<Head, HeadError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| HeadError::Bad("the request head is not UTF-8 text".to_owned()))?;
    let mut lines = text.split('\n').map(|line| line.trim_end_matches('\r'));
    let line = lines.next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::Bad(format!(
            "{line:?} is not a request line (METHOD /path HTTP/1.1)"
        )));
    };
    if method.is_empty() || !target.starts_with('/') {
        return Err(HeadError::Bad(format!(
            "{line:?} is not a request line (METHOD /path HTTP/1.1)"
        )));
    }
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        other if other.starts_with("HTTP/") => return Err(HeadError::Version(other.to_owned())),
        _ => {
            return Err(HeadError::Bad(format!(
                "{line:?} is not a request line (METHOD /path HTTP/1.1)"
            )));
        }
    };
    let mut head = Head {
        method: match method {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            other => Method::Other(other.to_owned()),
        },
        target: target.to_owned(),
        http11,
        host: None,
        close: false,
        keep_alive: false,
        body: false,
        content_length: None,
        origin: None,
        sec_fetch_site: None,
        authorization: None,
    };
    for line in lines.filter(|line| !line.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return Err(HeadError::Bad(format!("{line:?} is not a header line")));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("host") {
            if head.host.is_some() {
                return Err(HeadError::Bad(
                    "the request has two Host headers".to_owned(),
                ));
            }
            head.host = Some(value.to_owned());
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                head.close |= token.eq_ignore_ascii_case("close");
                head.keep_alive |= token.eq_ignore_ascii_case("keep-alive");
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            head.body |= value != "0";
            head.content_length = value.parse().ok();
        } else if name.eq_ignore_ascii_case("origin") {
            head.origin = Some(value.to_owned());
        } else if name.eq_ignore_ascii_case("sec-fetch-site") {
            head.sec_fetch_site = Some(value.to_ascii_lowercase());
        } else if name.eq_ignore_ascii_case("authorization") {
            head.authorization = Some(value.to_owned());
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            head.body = true;
        }
    }
    Ok(head)
}

/// Routes one request.
fn route(request: &Request, context: &Context<'_>) -> Answer {
    let (method, url) = (&request.method, request.target.as_str());
    let (store, launcher, monitor) = (context.store, context.launcher, context.monitor);
    let path = url.split('?').next().unwrap_or(url);
    let known = matches!(path, "/queue" | "/healthz" | "/metrics");
    if !known {
        if let Some(reply) = crate::dashboard::route(request, path, context) {
            return reply;
        }
        return answer(
            404,
            "text/plain; charset=utf-8",
            format!("no such path {path:?}; try / (the dashboard), /queue, /healthz or /metrics\n"),
        );
    }
    if !matches!(method, Method::Get | Method::Head) {
        let mut refused = answer(
            405,
            "text/plain; charset=utf-8",
            "only GET is allowed here\n".to_owned(),
        );
        refused.allow = true;
        return refused;
    }
    match path {
        "/healthz" => {
            let health = monitor.health(store);
            let status = if health.is_ok() { 200 } else { 503 };
            answer(status, "text/plain; charset=utf-8", healthz(&health))
        }
        "/queue" => match queue::queue_json(store, launcher) {
            Ok(mut value) => {
                let at = orch_launcher::epoch_ms(std::time::SystemTime::now());
                queue::with_workers(&mut value, &monitor.beats(), at);
                answer(200, "application/json", format!("{value}\n"))
            }
            Err(error) => answer(
                503,
                "text/plain; charset=utf-8",
                format!("the database does not answer: {error}\n"),
            ),
        },
        _ => match queue::metrics(store, launcher) {
            Ok(text) => answer(
                200,
                "text/plain; version=0.0.4; charset=utf-8",
                text + &worker_metrics(&monitor.health(store)),
            ),
            Err(error) => answer(
                503,
                "text/plain; charset=utf-8",
                format!("the database does not answer: {error}\n"),
            ),
        },
    }
}

/// The body of `/healthz`: `ok` or `unhealthy`, then one line per check
/// (docs/http.md).
fn healthz(health: &Health) -> String {
    let check = |result: &Result<(), String>, good: &str| match result {
        Ok(()) => good.to_owned(),
        Err(why) => format!("FAILED: {why}"),
    };
    format!(
        "{}\nworkers: {} of {} live\npanics: {}\ndatabase writable: {}\ndatabase file: {}\n",
        if health.is_ok() { "ok" } else { "unhealthy" },
        health.live,
        health.workers,
        health.panics,
        check(&health.writable, "yes"),
        check(&health.same_file, "the one opened at start"),
    )
}

/// The workers' lines of `/metrics`.
fn worker_metrics(health: &Health) -> String {
    format!(
        "orch_workers {}\norch_workers_live {}\norch_worker_panics_total {}\norch_database_writable {}\norch_database_replaced {}\n",
        health.workers,
        health.live,
        health.panics,
        u8::from(health.writable.is_ok()),
        u8::from(health.same_file.is_err()),
    )
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        303 => "See Other",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        505 => "HTTP Version Not Supported",
        _ => "Service Unavailable",
    }
}

/// Writes `reply`, saying whether the connection stays open.
fn write_answer(
    writer: &mut TcpStream,
    reply: &Answer,
    head_only: bool,
    keep: bool,
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: {}\r\nCache-Control: no-store\r\n",
        reply.status,
        reason(reply.status),
        reply.content_type,
        reply.body.len(),
        if keep { "keep-alive" } else { "close" },
    );
    if reply.allow {
        head.push_str("Allow: GET, HEAD\r\n");
    }
    if let Some(location) = &reply.location {
        head.push_str(&format!("Location: {location}\r\n"));
    }
    if reply.content_type.starts_with("text/html") {
        // The dashboard's pages: no framing by other sites, no inline
        // script or style but its own files, no referrer to other sites.
        head.push_str("X-Frame-Options: DENY\r\nContent-Security-Policy: default-src 'self'; frame-ancestors 'none'; form-action 'self'\r\nReferrer-Policy: same-origin\r\nX-Content-Type-Options: nosniff\r\n");
    }
    head.push_str("\r\n");
    writer.write_all(head.as_bytes())?;
    if !head_only {
        writer.write_all(reply.body.as_bytes())?;
    }
    writer.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::valid_host_entry;

    fn rule(loopback_bind: bool, allowed: &[&str]) -> HostRule {
        HostRule {
            loopback_bind,
            allowed: allowed.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn loopback_names_are_admitted_with_or_without_a_port() {
        let rule = rule(true, &[]);
        for host in [
            "localhost",
            "LOCALHOST:7878",
            "127.0.0.1",
            "127.0.0.1:1",
            "[::1]",
            "[::1]:7878",
        ] {
            assert!(rule.admits(host), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:7878",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "",
            "[::2]:7878",
            "localhost:x",
        ] {
            assert!(!rule.admits(host), "{host}");
        }
    }

    #[test]
    fn the_allow_list_admits_its_names_and_ports() {
        let rule = rule(false, &["orch.internal", "ci.example:8080"]);
        assert!(rule.admits("orch.internal"));
        assert!(rule.admits("ORCH.internal:7878"));
        assert!(rule.admits("ci.example:8080"));
        assert!(!rule.admits("ci.example:8081"));
        assert!(!rule.admits("ci.example"));
        assert!(!rule.admits("evil.example"));
        assert!(
            rule.refusal("evil.example")
                .contains("ORCH_HTTP_ALLOWED_HOSTS")
        );
    }

    #[test]
    fn heads_are_parsed_and_bad_ones_refused() {
        let head =
            parse_head(b"GET /queue HTTP/1.1\r\nHost: x\r\nConnection: Close\r\n\r\n").unwrap();
        assert_eq!(head.method, Method::Get);
        assert!(head.http11 && head.close && !head.body);
        assert_eq!(head.host.as_deref(), Some("x"));
        assert!(matches!(
            parse_head(b"GET /queue HTTP/2.0\r\n\r\n"),
            Err(HeadError::Version(_))
        ));
        assert!(matches!(
            parse_head(b"GET /queue\r\n\r\n"),
            Err(HeadError::Bad(_))
        ));
        assert!(matches!(
            parse_head(b"GET /q HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            Err(HeadError::Bad(_))
        ));
        let posted = parse_head(b"POST /queue HTTP/1.0\r\nContent-Length: 3\r\n\r\n").unwrap();
        assert!(!posted.http11 && posted.body);
        assert_eq!(posted.method, Method::Post);
    }

    #[test]
    fn allow_list_entries_are_checked() {
        assert!(valid_host_entry("orch.example.com"));
        assert!(valid_host_entry("orch.example.com:8080"));
        assert!(valid_host_entry("[fd00::1]:7878"));
        assert!(!valid_host_entry(""));
        assert!(!valid_host_entry("*"));
        assert!(!valid_host_entry("http://orch.example.com"));
        assert!(!valid_host_entry("a b"));
    }

    fn health(live: usize, panics: u64) -> Health {
        Health::new(2, live, panics)
    }

    #[test]
    fn healthz_names_each_check_and_a_dead_worker_is_unhealthy() {
        assert_eq!(
            healthz(&health(2, 1)),
            "ok\nworkers: 2 of 2 live\npanics: 1\ndatabase writable: yes\ndatabase file: the one opened at start\n"
        );
        let dead = health(1, 0);
        assert!(!dead.is_ok());
        assert!(healthz(&dead).starts_with("unhealthy\nworkers: 1 of 2 live\n"));
        let locked = health(2, 0).with_writable(Err("database is locked".to_owned()));
        assert!(!locked.is_ok());
        assert!(
            healthz(&locked).contains("database writable: FAILED: database is locked\n"),
            "{}",
            healthz(&locked)
        );
        assert!(worker_metrics(&locked).contains("orch_database_writable 0\n"));
        assert!(worker_metrics(&dead).contains("orch_workers_live 1\n"));
    }
}
