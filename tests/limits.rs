//! Server limits against misbehaving clients, over raw TCP: slow headers, a body that stalls,
//! more connections than the cap. A slow client must not hold a connection slot for long, and
//! the server must stay healthy.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::Server;

fn connect(server: &Server) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", server.port())).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream
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

fn healthz(server: &Server, timeout: Duration) -> Result<u16, reqwest::Error> {
    mwctl::client::install_crypto_provider();
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
    // Four slowloris clients take every slot, trickling a header byte now and then.
    let slow: Vec<_> = (0..4)
        .map(|_| {
            let mut stream = connect(&server);
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
    let first = connect(&server);
    let second = connect(&server);
    // Both slots are held by idle connections: a third client waits in the backlog.
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
