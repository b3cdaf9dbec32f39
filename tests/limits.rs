//! Server limits against misbehaving clients, over raw TCP: slow headers, a body that stalls or
//! trickles, more connections than the caps, requests without a usable key. A slow or greedy
//! client must not hold a connection slot for long, nor starve other clients, and the server
//! must stay healthy.
//!
//! Clients are told apart by their address: every 127.0.0.0/8 address reaches the loopback
//! interface on Linux, so a socket bound to 127.0.0.2 before it connects is another client
//! than mwctl and reqwest (127.0.0.1).

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::Server;
use tokio::io::AsyncWriteExt;

const REPO: &str = "https://github.com/acme/shop";

fn connect(server: &Server) -> TcpStream {
    connect_from("127.0.0.1", server)
}

/// A connection to the server from `source` (a loopback address).
fn connect_from(source: &str, server: &Server) -> TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("runtime");
    let stream = runtime
        .block_on(async {
            let stream = tcp_from(source, server.port()).await?;
            stream.into_std()
        })
        .expect("connects");
    stream.set_nonblocking(false).expect("blocking");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream
}

async fn tcp_from(source: &str, port: u16) -> std::io::Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    let source: SocketAddr = format!("{source}:0").parse().expect("an address");
    socket.bind(source)?;
    socket.connect(([127, 0, 0, 1], port).into()).await
}

/// GET /healthz over a new connection from `source`: the answer, or why there was none.
fn healthz_from(source: &str, server: &Server) -> String {
    let mut stream = connect_from(source, server);
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("writes");
    read_to_close(&mut stream)
}

/// Reads until the server closes the connection (or 10 s pass): what it sent.
fn read_to_close(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the server did not close the connection: {e}"),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// Reads one answer (its headers and a Content-Length body), leaving the connection open.
fn read_answer(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_owned())
                })
                .and_then(|v| v.parse::<usize>().ok())
                .expect("a Content-Length");
            if body.len() >= length {
                return text;
            }
        }
        match stream.read(&mut buf) {
            Ok(0) => panic!("closed before a whole answer: {text}"),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("no answer: {e}; so far: {text}"),
        }
    }
}

fn healthz(server: &Server, timeout: Duration) -> Result<u16, reqwest::Error> {
    reqwest::blocking::Client::builder()
        .timeout(timeout)
        .build()
        .expect("client")
        .get(format!("{}/healthz", server.url))
        .send()
        .map(|r| r.status().as_u16())
}

#[test]
fn slow_headers_are_cut_off_and_free_their_slot() {
    let server = Server::start_with(&["--max-connections", "4", "--header-timeout", "1s"]);
    // Four slowloris connections from two clients (at most half the slots each) take every
    // slot, trickling a header byte now and then.
    let slow: Vec<_> = ["127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.3"]
        .into_iter()
        .map(|source| {
            let mut stream = connect_from(source, &server);
            stream
                .write_all(b"POST /public/webhook/workflow HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .expect("writes");
            stream
        })
        .collect();
    let trickle: Vec<_> = slow
        .into_iter()
        .map(|mut stream| {
            std::thread::spawn(move || {
                let started = Instant::now();
                // Keeps sending until the server hangs up (or 10 s: the test then fails).
                while started.elapsed() < Duration::from_secs(10) {
                    if stream.write_all(b"a").is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                let sent_for = started.elapsed();
                let answer = read_to_close(&mut stream);
                (sent_for, answer)
            })
        })
        .collect();
    // A normal request gets through once the header timeout frees a slot.
    let started = Instant::now();
    assert_eq!(
        healthz(&server, Duration::from_secs(8)).expect("served"),
        200
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "healthz took {:?}",
        started.elapsed()
    );
    for handle in trickle {
        let (sent_for, answer) = handle.join().expect("thread");
        assert!(
            sent_for < Duration::from_secs(5),
            "a trickling client was cut off only after {sent_for:?}"
        );
        assert!(!answer.contains("200 OK"), "no answer to half a request");
    }
}

#[test]
fn a_body_that_stalls_is_answered_and_the_connection_closed() {
    let server = Server::start_with(&["--body-timeout", "1s"]);
    let mut stream = connect(&server);
    let started = Instant::now();
    write!(
        stream,
        "POST /public/webhook/workflow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         X-API-KEY: {}\r\nContent-Length: 1000\r\n\r\n{{\"workflow_runs\": [",
        server.admin_key
    )
    .expect("writes");
    let answer = read_to_close(&mut stream);
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"status\":\"rejected\""), "{answer}");
    assert!(answer.contains("InvalidPayload"), "{answer}");
    assert!(answer.contains("resolution"), "{answer}");
    assert_eq!(
        healthz(&server, Duration::from_secs(5)).expect("alive"),
        200
    );
    assert!(server.runs().is_empty());
}

#[test]
fn connections_over_the_cap_wait_for_a_free_slot() {
    let server = Server::start_with(&["--max-connections", "2", "--header-timeout", "60s"]);
    // Two clients (one connection each at most: half the slots) hold both slots, idle.
    let first = connect_from("127.0.0.2", &server);
    let second = connect_from("127.0.0.3", &server);
    // A third client waits in the backlog.
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        healthz(&server, Duration::from_millis(700)).is_err(),
        "a third connection was served past --max-connections 2"
    );
    drop(first);
    let started = Instant::now();
    assert_eq!(
        healthz(&server, Duration::from_secs(5)).expect("served once a slot is free"),
        200
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(second);
}

#[test]
fn oversized_headers_are_refused_without_harm() {
    let server = Server::start();
    let mut stream = connect(&server);
    let huge = "a".repeat(1 << 20);
    let _ = write!(
        stream,
        "POST /public/webhook/workflow HTTP/1.1\r\nHost: x\r\nX-Big: {huge}\r\n\r\n"
    );
    let answer = read_to_close(&mut stream);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );
    assert_eq!(
        healthz(&server, Duration::from_secs(5)).expect("alive"),
        200
    );
}

/// Connections from one client address that each send a request's headers and then trickle
/// its body, a byte a second (quicker than `--body-timeout`, so no pause ever times out).
struct SlowClients {
    runtime: tokio::runtime::Runtime,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl SlowClients {
    /// `connections` of them from `source`; three in four carry `key` (a valid key: their
    /// bodies are read), the others no key.
    fn start(server: &Server, source: &str, connections: usize, key: &str) -> SlowClients {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let port = server.port();
        let streams = runtime.block_on(async {
            let mut streams = Vec::new();
            for i in 0..connections {
                let mut stream = tcp_from(source, port).await.expect("connects");
                let key = if i % 4 != 0 {
                    format!("X-API-KEY: {key}\r\n")
                } else {
                    String::new()
                };
                let head = format!(
                    "POST /public/webhook/workflow HTTP/1.1\r\nHost: x\r\n\
                     Content-Type: application/json\r\nContent-Length: 100000\r\n{key}\r\n{{"
                );
                // A connection the server already closed may refuse the write.
                if stream.write_all(head.as_bytes()).await.is_ok() {
                    streams.push(stream);
                }
            }
            streams
        });
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = std::sync::Arc::clone(&stop);
        runtime.spawn(async move {
            let mut streams = streams;
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let mut open = Vec::with_capacity(streams.len());
                for mut stream in streams {
                    if stream.write_all(b" ").await.is_ok() {
                        open.push(stream);
                    }
                }
                streams = open;
            }
        });
        SlowClients { runtime, stop }
    }

    fn stop(self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.runtime.shutdown_background();
    }
}

#[test]
fn one_client_cannot_starve_the_others() {
    let server = Server::start();
    server.link(REPO);
    let (_, key) = server.create_key("ci", &["--scope", "deployments"]);
    // More connections than --max-connections (512), all from 127.0.0.2.
    let attack = SlowClients::start(&server, "127.0.0.2", 1000, &key);
    std::thread::sleep(Duration::from_millis(500));

    // A signed deployment from another client (mwctl, from 127.0.0.1) is answered at once.
    let started = Instant::now();
    server
        .mwctl()
        .args(["deploy", "record", "--status", "success", "--strict"])
        .args(["--repo", REPO, "--branch", "main", "--commit", "0123abcd"])
        .args(["--started-at", "2025-03-01T10:00:00Z"])
        .args(["--finished-at", "2025-03-01T10:04:30Z"])
        .assert()
        .code(0);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "the deploy took {took:?}");

    // The health check too, from 127.0.0.1 and from 127.0.0.3.
    let started = Instant::now();
    assert_eq!(
        healthz(&server, Duration::from_secs(5)).expect("served"),
        200
    );
    let answer = healthz_from("127.0.0.3", &server);
    let took = started.elapsed();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        took < Duration::from_secs(1),
        "two health checks took {took:?}"
    );

    attack.stop();
    server.wait_processed();
    let runs = server.runs();
    assert_eq!(runs.len(), 1, "the deployment is stored");
    assert_eq!(runs[0].duration, Some(270));
    assert!(
        server
            .log()
            .contains("over --max-connections-per-client 64, the latest from 127.0.0.2"),
        "the greedy client's extra connections were refused"
    );
}

#[test]
fn connections_over_a_clients_cap_are_closed_at_once() {
    let server = Server::start_with(&[
        "--max-connections-per-client",
        "3",
        "--header-timeout",
        "60s",
    ]);
    // Three idle connections: 127.0.0.2's cap.
    let mut held: Vec<_> = (0..3).map(|_| connect_from("127.0.0.2", &server)).collect();
    std::thread::sleep(Duration::from_millis(200));

    // A fourth from 127.0.0.2 is closed at once, unanswered, and holds no slot.
    let started = Instant::now();
    let answer = healthz_from("127.0.0.2", &server);
    assert!(
        answer.is_empty(),
        "a fourth connection was served: {answer}"
    );
    assert!(started.elapsed() < Duration::from_secs(1));

    // Other clients are served.
    assert!(healthz_from("127.0.0.3", &server).starts_with("HTTP/1.1 200"));
    assert_eq!(
        healthz(&server, Duration::from_secs(5)).expect("served"),
        200
    );

    // Once one of its connections ends, 127.0.0.2 gets a place again.
    drop(held.pop());
    std::thread::sleep(Duration::from_millis(200));
    assert!(healthz_from("127.0.0.2", &server).starts_with("HTTP/1.1 200"));
    assert!(
        server
            .log()
            .contains("over --max-connections-per-client 3, the latest from 127.0.0.2")
    );
}

/// Sends an ingest request's headers (with `key`, announcing `length` bytes), and no body.
fn headers_only(server: &Server, key: Option<&str>, length: u64) -> TcpStream {
    let mut stream = connect(server);
    let key = key.map_or(String::new(), |k| format!("X-API-KEY: {k}\r\n"));
    write!(
        stream,
        "POST /public/webhook/workflow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         webhook-id: msg_1\r\nContent-Length: {length}\r\n{key}\r\n"
    )
    .expect("writes");
    stream
}

#[test]
fn ingest_without_a_usable_key_is_answered_without_reading_the_body() {
    let server = Server::start();
    let (_, revoked) = server.create_key("old", &["--scope", "deployments"]);
    let revoked_id = server.get("/api/keys")[0]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    server
        .mwctl()
        .args(["keys", "revoke", &revoked_id])
        .assert()
        .code(0);
    let (_, admin_only) = server.create_key("ops", &["--scope", "admin"]);

    // A body of 10 MB announced and never sent: the answer comes from the headers alone, and
    // the connection is closed after it.
    for (key, error) in [
        (None, "missing API key"),
        (Some("mwk_not_a_key"), "invalid API key"),
        (Some(revoked.as_str()), "revoked"),
    ] {
        let started = Instant::now();
        let mut stream = headers_only(&server, key, 10_000_000);
        let answer = read_to_close(&mut stream);
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(1),
            "{key:?}: answered after {took:?}"
        );
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.contains("connection: close"), "{answer}");
        assert!(
            answer.contains("\"exception_type\":\"Unauthorized\""),
            "{answer}"
        );
        assert!(answer.contains("\"event_id\":null"), "{answer}");
        assert!(answer.contains(error), "{answer}");
    }

    // A key without the deployments scope: refused at once too, stored without a body.
    let started = Instant::now();
    let mut stream = headers_only(&server, Some(&admin_only), 10_000_000);
    let answer = read_to_close(&mut stream);
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(
        answer.contains("\"exception_type\":\"Forbidden\""),
        "{answer}"
    );
    let events = server.events();
    assert_eq!(events.len(), 1, "only the Forbidden request is stored");
    let detail = server.get(&format!("/api/events/{}", events[0].id));
    assert_eq!(detail["status"], "REJECTED");
    assert_eq!(detail["webhook_id"], "msg_1");
    assert!(detail["body"].is_null(), "{detail}");

    // A client that sends its whole (large) body anyway still reads the answer, not a reset.
    let (status, answer) = server.ingest(Some("mwk_not_a_key"), vec![b' '; 4 << 20]);
    assert_eq!(status, 200);
    assert_eq!(answer["exception_type"], "Unauthorized", "{answer}");
    assert!(server.runs().is_empty());
}

#[test]
fn a_body_that_trickles_is_cut_off() {
    // The defaults: 1 KiB/s after 5 s.
    let server = Server::start();
    let mut stream = headers_only(&server, Some(&server.admin_key), 100_000);
    let started = Instant::now();
    // A byte every 200 ms: never a pause as long as --body-timeout, but 5 bytes/s.
    stream.write_all(b"{").expect("writes");
    let mut writer = stream.try_clone().expect("clone");
    let trickle = std::thread::spawn(move || {
        while started.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(200));
            if writer.write_all(b" ").is_err() {
                break;
            }
        }
    });
    let answer = read_answer(&mut stream);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(5) && took < Duration::from_secs(7),
        "cut off after {took:?}"
    );
    // The connection is closed after the answer (once the client stops sending, or 2 s).
    read_to_close(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains("\"exception_type\":\"InvalidPayload\""),
        "{answer}"
    );
    assert!(answer.contains("slower than 1024 bytes/s"), "{answer}");
    trickle.join().expect("trickle");
    assert!(server.events().is_empty(), "nothing stored");
    assert_eq!(
        healthz(&server, Duration::from_secs(5)).expect("alive"),
        200
    );
}

#[test]
fn a_body_at_a_fair_rate_is_read_whole() {
    let server = Server::start_with(&["--min-body-rate", "200", "--body-grace", "1s"]);
    server.link(REPO);
    let body =
        serde_json::json!({ "workflow_runs": [common::run_json(REPO, "slow-1", "SUCCESS")] })
            .to_string();
    let mut stream = headers_only(&server, Some(&server.admin_key), body.len() as u64);
    // 50 bytes every 100 ms (500 bytes/s) for about a second: slow, but over the rate.
    for chunk in body.as_bytes().chunks(50) {
        std::thread::sleep(Duration::from_millis(100));
        stream.write_all(chunk).expect("writes");
    }
    let answer = read_answer(&mut stream);
    assert!(answer.contains("\"status\":\"accepted\""), "{answer}");
}

#[test]
fn a_slow_admin_api_body_gets_a_408() {
    let server = Server::start_with(&["--min-body-rate", "100", "--body-grace", "500ms"]);
    let mut stream = connect(&server);
    let started = Instant::now();
    write!(
        stream,
        "POST /api/keys HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         X-API-KEY: {}\r\nContent-Length: 1000\r\n\r\n{{",
        server.admin_key
    )
    .expect("writes");
    let mut writer = stream.try_clone().expect("clone");
    let trickle = std::thread::spawn(move || {
        while started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(200));
            if writer.write_all(b" ").is_err() {
                break;
            }
        }
    });
    let answer = read_answer(&mut stream);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "cut off after {took:?}");
    read_to_close(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("slower than 100 bytes/s"), "{answer}");
    assert!(answer.contains("--min-body-rate"), "{answer}");
    trickle.join().expect("trickle");
}
