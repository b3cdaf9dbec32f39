//! Serving HTTP/1.1 connections within limits, so that slow, idle or greedy clients cannot take
//! the server's capacity:
//! - at most `max_connections` at once (more wait in the kernel's backlog until one ends);
//! - at most `max_per_client` of them from one client address: more are closed at once, so a
//!   single client never holds every slot ([`clients`]);
//! - a request's headers must arrive within `header_timeout` (which also closes keep-alive
//!   connections idle that long);
//! - a request body must keep up `min_body_rate` ([`min_rate`]); the router adds a timeout on
//!   pauses ([`crate::app::Config::body_timeout`]) and on the whole request.
//!
//! A connection whose request was answered before its body was read (an ingest request with a
//! bad key, a body that was too slow) is closed gracefully: we stop writing, then read and
//! discard what the client still sends for a moment, so that it reads our answer instead of a
//! reset. Graceful shutdown: stop accepting, let requests in flight finish.

mod clients;
mod min_rate;

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use hyper::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tower::Service;

pub use clients::ClientSlots;
pub use min_rate::MinRate;
use min_rate::MinRateBody;

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections served at once.
    pub max_connections: usize,
    /// Connections served at once from one client (see [`clients`] for who counts as one);
    /// at most half of `max_connections` (see [`Limits::per_client`]).
    pub max_per_client: usize,
    /// Longest wait for a request's headers, from the connection's start or its last answer.
    pub header_timeout: Duration,
    /// The slowest a request body may arrive.
    pub min_body_rate: MinRate,
}

impl Limits {
    /// The cap per client in force: `max_per_client`, but at most half of `max_connections`
    /// (at least 1), so that one client always leaves room for others.
    pub fn per_client(&self) -> usize {
        self.max_per_client.min(self.max_connections / 2).max(1)
    }
}

/// How long connections still open at shutdown may take to finish their requests.
const DRAIN: Duration = Duration::from_secs(30);
/// After answering a request whose body was not read: how long, and how much, we read and
/// discard before closing (a close with unread data resets the connection, and the client
/// may lose our answer).
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 16 << 20;
/// At most one warning this often about refused connections.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// Accepts and serves connections until `shutdown` completes, then waits (up to 30 s) for
/// requests in flight.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let clients = ClientSlots::new(limits.per_client());
    // `closing` tells connections to finish; `open` counts them (a receiver each).
    let (closing, _) = watch::channel(false);
    let (open_tx, open_rx) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    let mut warned_full = false;
    let mut refused = Refused::default();
    loop {
        // A free slot first: while all are taken, new connections wait in the backlog.
        let permit = match Arc::clone(&permits).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if !warned_full {
                    tracing::warn!(
                        "all {} connections in use; new ones wait (--max-connections)",
                        limits.max_connections
                    );
                    warned_full = true;
                }
                tokio::select! {
                    permit = Arc::clone(&permits).acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => break,
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was taken:
                    // pause briefly rather than spin.
                    tracing::warn!("cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Over its client's cap: closed at once (dropping the stream and the permit).
        let Some(client_slot) = clients.try_take(peer.ip()) else {
            refused.note(peer.ip(), limits.per_client());
            continue;
        };
        if permits.available_permits() > 0 {
            warned_full = false;
        }
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let mut closing = closing.subscribe();
        let open = open_rx.clone();
        tokio::spawn(async move {
            serve_connection(stream, router, limits, &mut closing).await;
            drop(client_slot);
            drop(permit);
            drop(open);
        });
    }
    drop(listener);
    let _ = closing.send(true);
    drop(open_rx);
    if tokio::time::timeout(DRAIN, open_tx.closed()).await.is_err() {
        tracing::warn!("shutdown: connections still open after 30 s; closing them");
    }
}

/// Serves one connection's requests until it ends (or `closing` changes: then the request in
/// flight finishes first), and closes it.
async fn serve_connection(
    stream: TcpStream,
    router: Router,
    limits: Limits,
    closing: &mut watch::Receiver<bool>,
) {
    // Set when a request body is dropped before its end.
    let unread = Arc::new(AtomicBool::new(false));
    let service = {
        let unread = Arc::clone(&unread);
        hyper::service::service_fn(move |request: Request<Incoming>| {
            let request = request.map(|body| {
                Body::new(MinRateBody::new(
                    body,
                    limits.min_body_rate,
                    Arc::clone(&unread),
                ))
            });
            // The router is always ready; boxed so that the connection is `Unpin` (below).
            Box::pin(router.clone().call(request))
        })
    };
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let mut conn = builder.serve_connection(TokioIo::new(stream), service);
    // Served without hyper's own shutdown, to take the stream back and close it ourselves.
    // Errors here are the client's (a reset, a header timeout): nothing to log.
    tokio::select! {
        _ = std::future::poll_fn(|cx| conn.poll_without_shutdown(cx)) => {}
        _ = closing.changed() => {
            std::pin::Pin::new(&mut conn).graceful_shutdown();
            let _ = std::future::poll_fn(|cx| conn.poll_without_shutdown(cx)).await;
        }
    }
    let mut stream = conn.into_parts().io.into_inner();
    if unread.load(Ordering::Relaxed) {
        linger(stream).await;
    } else {
        let _ = stream.shutdown().await;
    }
}

/// Closes a connection whose client may still be sending: stop writing (the client sees the
/// end of our answer), then read and discard until the client closes too, for at most
/// [`LINGER`] and [`LINGER_BYTES`].
async fn linger(mut stream: TcpStream) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let deadline = tokio::time::Instant::now() + LINGER;
    let mut buf = vec![0u8; 16 << 10];
    let mut left = LINGER_BYTES;
    while left > 0 {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => left = left.saturating_sub(n),
            _ => break,
        }
    }
}

/// Counts connections refused over a client's cap, and warns now and then.
#[derive(Default)]
struct Refused {
    since_warning: u64,
    warned_at: Option<Instant>,
}

impl Refused {
    fn note(&mut self, client: IpAddr, cap: usize) {
        self.since_warning += 1;
        if self.warned_at.is_some_and(|at| at.elapsed() < WARN_EVERY) {
            return;
        }
        tracing::warn!(
            "refused {} connection(s) over --max-connections-per-client {cap}, the latest from {client}",
            self.since_warning
        );
        self.since_warning = 0;
        self.warned_at = Some(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_connections: usize, max_per_client: usize) -> Limits {
        Limits {
            max_connections,
            max_per_client,
            header_timeout: Duration::from_secs(10),
            min_body_rate: MinRate {
                bytes_per_sec: 1024,
                grace: Duration::from_secs(5),
            },
        }
    }

    #[test]
    fn one_client_gets_at_most_half_the_connections() {
        assert_eq!(limits(512, 64).per_client(), 64);
        assert_eq!(limits(512, 600).per_client(), 256);
        assert_eq!(limits(16, 64).per_client(), 8);
        assert_eq!(limits(3, 64).per_client(), 1);
        assert_eq!(limits(1, 64).per_client(), 1);
    }
}
