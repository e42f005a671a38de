//! `orch serve`'s HTTP server under hostile clients, over real TCP against
//! the real binary: pipelined floods, more idle connections than the cap,
//! oversized heads, `Connection: close`, and the `Host` check against DNS
//! rebinding (docs/http.md).

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a panic is the failure report"
)]
#![expect(
    clippy::disallowed_methods,
    reason = "end-to-end tests start the real orch binary"
)]

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const ORCH: &str = env!("CARGO_BIN_EXE_orch");

/// A running `orch serve` on an empty home; killed (SIGTERM, then reaped)
/// when dropped.
struct Serve {
    _dir: tempfile::TempDir,
    child: Child,
    /// Where it listens, as it printed it.
    addr: String,
    /// The port alone.
    port: u16,
}

impl Serve {
    fn start(extra: &[(&str, &str)]) -> Serve {
        let dir = tempfile::tempdir().unwrap();
        let mut command = Command::new(ORCH);
        command
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .env("ORCH_HOME", dir.path().join("home"))
            .env("ORCH_AGENT", "custom")
            .env("ORCH_AGENT_CMD", "true")
            .env("ORCH_HTTP_ADDR", "127.0.0.1:0")
            .env("ORCH_WORKERS", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in extra {
            command.env(key, value);
        }
        let mut child = command.spawn().unwrap();
        let mut reader = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        let addr = loop {
            line.clear();
            if reader.read_line(&mut line).unwrap() == 0 {
                panic!("serve ended before listening: {line}");
            }
            if let Some(rest) = line.split("HTTP on http://").nth(1) {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        std::thread::spawn(move || {
            let mut sink = String::new();
            let _ = reader.read_to_string(&mut sink);
        });
        let port = addr.rsplit_once(':').unwrap().1.parse().unwrap();
        // An address bound to every interface is reached on loopback.
        let addr = format!("127.0.0.1:{port}");
        Serve {
            _dir: dir,
            child,
            addr,
            port,
        }
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.id()).unwrap())
    }

    /// The server process's resident memory, in KiB.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .map(|rest| rest.trim().trim_end_matches("kB").trim().parse().unwrap())
            .unwrap()
    }

    /// Sends `request` as is and reads until the server closes the
    /// connection (10 s at most).
    fn raw(&self, request: &[u8]) -> String {
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(request).unwrap();
        let mut answer = Vec::new();
        if let Err(error) = stream.read_to_end(&mut answer) {
            panic!(
                "the server did not close the connection: {error}; read so far: {}",
                String::from_utf8_lossy(&answer)
            );
        }
        String::from_utf8(answer).unwrap()
    }

    /// `GET path` with this `Host` (none: no header) and `Connection: close`;
    /// the status and the whole answer.
    fn get(&self, path: &str, host: Option<&str>) -> (u16, String) {
        let host = host.map_or_else(String::new, |h| format!("Host: {h}\r\n"));
        let answer =
            self.raw(format!("GET {path} HTTP/1.1\r\n{host}Connection: close\r\n\r\n").as_bytes());
        (status(&answer), answer)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = kill(self.pid(), Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn status(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"))
}

/// Every status line in `answer`, in order.
fn statuses(answer: &str) -> Vec<u16> {
    answer
        .match_indices("HTTP/1.1 ")
        .map(|(at, _)| status(&answer[at..]))
        .collect()
}

#[test]
fn pipelined_requests_that_are_never_read_do_not_grow_the_server_or_stall_healthz() {
    let serve = Serve::start(&[]);
    let before = serve.rss_kib();
    let request = b"GET /queue HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let burst: Vec<u8> = request.repeat(500);
    // Four clients pipeline GET /queue as fast as the server takes them
    // and never read an answer, for 3 s (the old server buffered every one:
    // about 1 GB in 3 s).
    let flooders: Vec<_> = (0..4)
        .map(|_| {
            let addr = serve.addr.clone();
            let burst = burst.clone();
            std::thread::spawn(move || {
                let mut stream = TcpStream::connect(&addr).unwrap();
                stream
                    .set_write_timeout(Some(Duration::from_millis(100)))
                    .unwrap();
                let until = Instant::now() + Duration::from_secs(3);
                let mut sent = 0usize;
                while Instant::now() < until {
                    match stream.write(&burst) {
                        Ok(n) => sent += n,
                        Err(error)
                            if matches!(
                                error.kind(),
                                ErrorKind::WouldBlock | ErrorKind::TimedOut
                            ) => {}
                        // The server closed a client that never reads.
                        Err(_) => break,
                    }
                }
                (stream, sent)
            })
        })
        .collect();
    let mut peak = before;
    let mut healthz = Vec::new();
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        peak = peak.max(serve.rss_kib());
        healthz.push(serve.get("/healthz", Some("localhost")).0);
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut sent = 0;
    let mut streams = Vec::new();
    for flooder in flooders {
        let (stream, n) = flooder.join().unwrap();
        sent += n;
        streams.push(stream);
    }
    peak = peak.max(serve.rss_kib());
    eprintln!("serve RSS: {before} KiB before, {peak} KiB at the peak; {sent} bytes pipelined");
    // /healthz answered throughout, on its own connections.
    assert!(!healthz.is_empty());
    assert!(healthz.iter().all(|s| *s == 200), "{healthz:?}");
    assert!(sent > 0);
    assert!(
        peak < 200 * 1024,
        "the server grew to {peak} KiB (from {before} KiB) under {sent} bytes of pipelined requests"
    );
    drop(streams);
    assert_eq!(serve.get("/healthz", Some("localhost")).0, 200);
}

#[test]
fn more_idle_connections_than_the_cap_do_not_lock_out_healthz() {
    let serve = Serve::start(&[]);
    // 300 connections, more than the cap (256): half send nothing, half
    // half a request line.
    let mut idle = Vec::new();
    for i in 0..300 {
        let mut stream = TcpStream::connect(&serve.addr).unwrap();
        if i % 2 == 0 {
            stream.write_all(b"GET /que").unwrap();
        }
        idle.push(stream);
    }
    for path in ["/healthz", "/queue", "/healthz"] {
        let (status, answer) = serve.get(path, Some("localhost"));
        assert_eq!(status, 200, "{answer}");
    }
    drop(idle);
}

#[test]
fn connection_close_is_honoured_and_kept_connections_answer_in_order() {
    let serve = Serve::start(&[]);
    // Connection: close: one answer, saying so, then the server closes
    // (`raw` reads to the end).
    let (status, answer) = serve.get("/healthz", Some("localhost"));
    assert_eq!(status, 200);
    assert!(answer.contains("Connection: close\r\n"), "{answer}");
    assert_eq!(statuses(&answer), [200]);
    // Three pipelined requests, the last asking to close: three answers in
    // order, then the end.
    let answer = serve.raw(
        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n\
          GET /nope HTTP/1.1\r\nHost: localhost\r\n\r\n\
          GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(statuses(&answer), [200, 404, 200], "{answer}");
    // A kept connection answers a request, then the next one.
    let mut stream = TcpStream::connect(&serve.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    for _ in 0..2 {
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let mut head = String::new();
        loop {
            let mut line = String::new();
            assert!(reader.read_line(&mut line).unwrap() > 0, "closed: {head}");
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(head.contains("Connection: keep-alive"), "{head}");
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("Content-Length: "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no Content-Length: {head}"));
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body).unwrap();
        assert!(
            body.starts_with(b"ok\n"),
            "{}",
            String::from_utf8_lossy(&body)
        );
    }
    // A body is never read: the answer comes, then the connection closes,
    // so the body cannot be taken for the next request.
    let answer = serve.raw(
        b"POST /queue HTTP/1.1\r\nHost: localhost\r\nContent-Length: 44\r\n\r\n\
          GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert_eq!(statuses(&answer), [405], "{answer}");
    assert!(answer.contains("Allow: GET, HEAD"), "{answer}");
    // HTTP/1.0 is answered once and closed.
    let answer = serve.raw(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n");
    assert_eq!(statuses(&answer), [200], "{answer}");
}

#[test]
fn an_oversized_or_broken_head_is_refused_and_closed() {
    let serve = Serve::start(&[]);
    let mut request = b"GET /queue HTTP/1.1\r\nHost: localhost\r\n".to_vec();
    for i in 0..400 {
        request.extend_from_slice(format!("X-Pad-{i}: {}\r\n", "a".repeat(40)).as_bytes());
    }
    request.extend_from_slice(b"\r\n");
    let answer = serve.raw(&request);
    assert_eq!(status(&answer), 431, "{answer}");
    assert!(answer.contains("8192 bytes"), "{answer}");
    let answer = serve.raw(b"HELLO\r\n\r\n");
    assert_eq!(status(&answer), 400, "{answer}");
    let answer = serve.raw(b"GET /healthz HTTP/2.0\r\nHost: localhost\r\n\r\n");
    assert_eq!(status(&answer), 505, "{answer}");
    // The server is fine.
    assert_eq!(serve.get("/healthz", Some("localhost")).0, 200);
}

#[test]
fn a_foreign_host_is_refused_on_loopback() {
    let serve = Serve::start(&[]);
    let port = serve.port;
    for host in [
        "localhost".to_owned(),
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
    ] {
        let (status, answer) = serve.get("/queue", Some(&host));
        assert_eq!(status, 200, "{host}: {answer}");
    }
    // A DNS-rebinding page: its own name, resolved to 127.0.0.1.
    for host in [
        format!("evil.example:{port}"),
        "localhost.evil.example".to_owned(),
    ] {
        let (status, answer) = serve.get("/queue", Some(&host));
        assert_eq!(status, 403, "{host}: {answer}");
        assert!(answer.contains("is not allowed"), "{answer}");
        assert!(answer.contains("ORCH_HTTP_ALLOWED_HOSTS"), "{answer}");
        assert!(!answer.contains("\"counts\""), "{answer}");
    }
    let (status, answer) = serve.get("/queue", None);
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("no Host header"), "{answer}");
}

#[test]
fn off_loopback_only_the_allowed_hosts_are_answered() {
    let serve = Serve::start(&[
        ("ORCH_HTTP_ADDR", "0.0.0.0:0"),
        // Off loopback, serve starts only with a bearer token; /healthz
        // needs none.
        ("ORCH_HTTP_TOKEN", "a-long-random-secret-0123456789"),
        ("ORCH_HTTP_ALLOWED_HOSTS", "orch.test, ci.test:9"),
    ]);
    let port = serve.port;
    for host in [
        format!("orch.test:{port}"),
        "ORCH.TEST".to_owned(),
        "ci.test:9".to_owned(),
        format!("localhost:{port}"),
    ] {
        let (status, answer) = serve.get("/healthz", Some(&host));
        assert_eq!(status, 200, "{host}: {answer}");
    }
    for host in [format!("evil.example:{port}"), format!("ci.test:{port}")] {
        let (status, answer) = serve.get("/healthz", Some(&host));
        assert_eq!(status, 403, "{host}: {answer}");
        assert!(answer.contains("ORCH_HTTP_ALLOWED_HOSTS"), "{answer}");
    }
}

#[test]
fn a_bad_allowed_host_stops_serve_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(ORCH)
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("ORCH_HOME", dir.path().join("home"))
        .env("ORCH_HTTP_ALLOWED_HOSTS", "http://orch.test/")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ORCH_HTTP_ALLOWED_HOSTS"), "{stderr}");
}
