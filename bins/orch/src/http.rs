//! The HTTP server of `orch serve`: `GET /queue` (JSON), `GET /healthz`,
//! `GET /metrics` (Prometheus text); other paths 404, other methods 405.
//!
//! tiny_http reads each connection on a thread of its own and queues complete
//! requests; a small fixed pool of our threads ([`HANDLERS`]), each with its
//! own database connection, answers them, so idle or trickling connections
//! never hold a handler and no handler ever touches a worker. Every response
//! is written by us with `Connection: close` (tiny_http does not let a
//! response set that header), so no connection lingers after its answer.
//! Limits that remain (docs/http.md): tiny_http has no read timeout and no
//! header-size limit, and spends a thread per open connection; the server
//! binds to loopback by default for that reason.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use orch_launcher::{Health, LauncherConfig, Monitor};
use orch_store::Store;

use crate::commands::Setup;
use crate::{CliError, queue};

/// Request handler threads.
pub(crate) const HANDLERS: usize = 4;

/// The bound server.
pub(crate) struct Http {
    server: Arc<tiny_http::Server>,
    db: std::path::PathBuf,
    launcher: LauncherConfig,
}

impl Http {
    /// Binds `ORCH_HTTP_ADDR`.
    ///
    /// # Errors
    ///
    /// [`CliError::Tool`] when the address cannot be bound.
    pub(crate) fn bind(setup: &Setup) -> Result<Http, CliError> {
        let server = tiny_http::Server::http(&setup.config.http_addr).map_err(|error| {
            CliError::Tool(format!(
                "cannot listen on {} (ORCH_HTTP_ADDR): {error}; pick a free port",
                setup.config.http_addr
            ))
        })?;
        Ok(Http {
            server: Arc::new(server),
            db: setup.db.clone(),
            launcher: setup.launcher(),
        })
    }

    /// The address it listens on.
    pub(crate) fn addr(&self) -> String {
        self.server.server_addr().to_string()
    }

    /// Starts the handler pool; the handlers end when `stopping` is set or
    /// [`Http::stop`] unblocks them.
    ///
    /// # Errors
    ///
    /// [`CliError::Tool`] when a thread or a database connection cannot be had.
    pub(crate) fn start(
        &self,
        stopping: &Arc<AtomicBool>,
        monitor: &Monitor,
    ) -> Result<Vec<JoinHandle<()>>, CliError> {
        let mut threads = Vec::with_capacity(HANDLERS);
        for i in 0..HANDLERS {
            let server = Arc::clone(&self.server);
            let store = crate::commands::open_store(&self.db)?;
            let launcher = self.launcher.clone();
            let stopping = Arc::clone(stopping);
            let monitor = monitor.clone();
            let thread = thread::Builder::new()
                .name(format!("http-{i}"))
                .spawn(move || {
                    while !stopping.load(Ordering::SeqCst) {
                        match server.recv_timeout(Duration::from_millis(200)) {
                            Ok(Some(request)) => handle(request, &store, &launcher, &monitor),
                            Ok(None) => {}
                            Err(_) => break,
                        }
                    }
                })
                .map_err(|error| CliError::Tool(format!("cannot start an HTTP thread: {error}")))?;
            threads.push(thread);
        }
        Ok(threads)
    }

    /// Wakes every handler blocked in `recv`.
    pub(crate) fn stop(&self) {
        for _ in 0..HANDLERS {
            self.server.unblock();
        }
    }
}

/// A response: status, content type, body.
struct Answer {
    status: u16,
    content_type: &'static str,
    body: String,
    allow: bool,
}

fn answer(status: u16, content_type: &'static str, body: String) -> Answer {
    Answer {
        status,
        content_type,
        body,
        allow: false,
    }
}

/// Routes one request.
fn route(
    method: &tiny_http::Method,
    url: &str,
    store: &Store,
    launcher: &LauncherConfig,
    monitor: &Monitor,
) -> Answer {
    let path = url.split('?').next().unwrap_or(url);
    let known = matches!(path, "/queue" | "/healthz" | "/metrics");
    if !known {
        return answer(
            404,
            "text/plain; charset=utf-8",
            format!("no such path {path:?}; try /queue, /healthz or /metrics\n"),
        );
    }
    if !matches!(method, tiny_http::Method::Get | tiny_http::Method::Head) {
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
            Ok(value) => answer(200, "application/json", format!("{value}\n")),
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
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Service Unavailable",
    }
}

/// Answers with `Connection: close`, written by hand: tiny_http would keep
/// the connection open.
fn handle(
    request: tiny_http::Request,
    store: &Store,
    launcher: &LauncherConfig,
    monitor: &Monitor,
) {
    let head_only = *request.method() == tiny_http::Method::Head;
    let reply = route(request.method(), request.url(), store, launcher, monitor);
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n",
        reply.status,
        reason(reply.status),
        reply.content_type,
        reply.body.len()
    );
    if reply.allow {
        head.push_str("Allow: GET, HEAD\r\n");
    }
    head.push_str("\r\n");
    let mut writer = request.into_writer();
    let _ = writer.write_all(head.as_bytes());
    if !head_only {
        let _ = writer.write_all(reply.body.as_bytes());
    }
    let _ = writer.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(live: usize, panics: u64) -> Health {
        Health {
            workers: 2,
            live,
            panics,
            writable: Ok(()),
            same_file: Ok(()),
        }
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
        let locked = Health {
            writable: Err("database is locked".to_owned()),
            ..health(2, 0)
        };
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
