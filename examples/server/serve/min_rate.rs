//! Request bodies that must keep up a minimum rate (`--min-body-rate` after `--body-grace`),
//! so that a client trickling its body cannot hold a connection for long: per-pause timeouts
//! alone let a byte every few seconds through.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// How fast a body must arrive: from the moment the server first waits for it, `grace` to get
/// going, then on average at least `bytes_per_sec` since that moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MinRate {
    pub bytes_per_sec: u64,
    pub grace: Duration,
}

impl MinRate {
    /// When a body with `received` bytes so far, first awaited at `started`, falls too far
    /// behind.
    fn deadline(self, started: Instant, received: u64) -> Instant {
        let behind = Duration::from_secs_f64(received as f64 / self.bytes_per_sec.max(1) as f64);
        started + self.grace + behind
    }
}

/// The error a too-slow body ends with.
#[derive(Debug)]
pub struct TooSlow(MinRate);

impl std::fmt::Display for TooSlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the body arrived slower than {} bytes/s (after the first {:?})",
            self.0.bytes_per_sec, self.0.grace
        )
    }
}

impl std::error::Error for TooSlow {}

/// A request body held to a [`MinRate`]. When it is dropped before its end (the server
/// answered without reading it all, or it was too slow), it sets `unread`, so that the
/// connection is closed in a way that lets the client read the answer.
pub struct MinRateBody<B> {
    inner: B,
    rate: MinRate,
    /// When the server first waited for data, and the timer set from it.
    timer: Option<(Instant, Pin<Box<Sleep>>)>,
    received: u64,
    /// No more frames will be returned (the end, an error, or too slow).
    ended: bool,
    /// The whole body was read.
    complete: bool,
    unread: Arc<AtomicBool>,
}

impl<B: Body + Unpin> MinRateBody<B> {
    pub fn new(inner: B, rate: MinRate, unread: Arc<AtomicBool>) -> MinRateBody<B> {
        MinRateBody {
            complete: inner.is_end_stream(),
            inner,
            rate,
            timer: None,
            received: 0,
            ended: false,
            unread,
        }
    }
}

impl<B> Body for MinRateBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received = this.received.saturating_add(data.len() as u64);
                    if let Some((started, sleep)) = &mut this.timer {
                        let deadline = this.rate.deadline(*started, this.received);
                        sleep.as_mut().reset(deadline);
                    }
                }
                this.complete = this.inner.is_end_stream();
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.ended = true;
                Poll::Ready(Some(Err(e.into())))
            }
            Poll::Ready(None) => {
                this.ended = true;
                this.complete = true;
                Poll::Ready(None)
            }
            Poll::Pending => {
                let rate = this.rate;
                let received = this.received;
                let (_, sleep) = this.timer.get_or_insert_with(|| {
                    let started = Instant::now();
                    let sleep = tokio::time::sleep_until(rate.deadline(started, received));
                    (started, Box::pin(sleep))
                });
                ready!(sleep.as_mut().poll(cx));
                this.ended = true;
                Poll::Ready(Some(Err(Box::new(TooSlow(rate)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for MinRateBody<B> {
    fn drop(&mut self) {
        if !self.complete {
            self.unread.store(true, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use tokio::sync::mpsc;

    /// A body fed through a channel; ends when the sender drops.
    struct Fed(mpsc::Receiver<Bytes>);

    impl Body for Fed {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            self.0
                .poll_recv(cx)
                .map(|data| data.map(|d| Ok(Frame::data(d))))
        }
    }

    const RATE: MinRate = MinRate {
        bytes_per_sec: 100,
        grace: Duration::from_millis(200),
    };

    /// Sends `chunks` of `size` bytes, `every` apart, then ends the body.
    fn feed(chunks: usize, size: usize, every: Duration) -> (Fed, Arc<AtomicBool>) {
        let (tx, rx) = mpsc::channel(1);
        tokio::spawn(async move {
            for _ in 0..chunks {
                tokio::time::sleep(every).await;
                if tx.send(Bytes::from(vec![b'x'; size])).await.is_err() {
                    return;
                }
            }
        });
        (Fed(rx), Arc::new(AtomicBool::new(false)))
    }

    #[tokio::test]
    async fn a_body_at_the_rate_is_read_whole() {
        // 10 bytes every 20 ms: 500 bytes/s, for 400 ms (twice the grace).
        let (fed, unread) = feed(20, 10, Duration::from_millis(20));
        let body = MinRateBody::new(fed, RATE, Arc::clone(&unread));
        let read = body.collect().await.expect("fast enough").to_bytes();
        assert_eq!(read.len(), 200);
        assert!(!unread.load(Ordering::Relaxed));
    }

    #[tokio::test]
    async fn a_trickle_is_cut_off_after_the_grace() {
        // A byte every 50 ms: 20 bytes/s. Behind 100 bytes/s from 200 ms + (bytes / 100) s
        // on: after about 250 ms.
        let (fed, unread) = feed(100, 1, Duration::from_millis(50));
        let started = std::time::Instant::now();
        let body = MinRateBody::new(fed, RATE, Arc::clone(&unread));
        let error = body.collect().await.expect_err("too slow");
        let elapsed = started.elapsed();
        assert!(
            error.to_string().contains("slower than 100 bytes/s"),
            "{error}"
        );
        assert!(
            elapsed >= Duration::from_millis(200) && elapsed < Duration::from_millis(1500),
            "cut off after {elapsed:?}"
        );
        assert!(unread.load(Ordering::Relaxed), "the rest is unread");
    }

    #[tokio::test]
    async fn a_body_left_unread_is_flagged() {
        let (fed, unread) = feed(3, 10, Duration::from_millis(1));
        let mut body = MinRateBody::new(fed, RATE, Arc::clone(&unread));
        body.frame().await.expect("a frame").expect("data");
        drop(body);
        assert!(unread.load(Ordering::Relaxed));

        // An empty body is whole without being read.
        let unread = Arc::new(AtomicBool::new(false));
        drop(MinRateBody::new(
            http_body_util::Empty::<Bytes>::new(),
            RATE,
            Arc::clone(&unread),
        ));
        assert!(!unread.load(Ordering::Relaxed));
    }
}
