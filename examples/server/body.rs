//! Reading ingest bodies within the size limit, and their encodings.

use axum::body::Body;
use http_body_util::BodyExt;
use mwctl::protocol::gzip::{self, DecompressError};

/// Why a body could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    /// Over the limit (before or after decompression).
    TooLarge,
    /// The connection failed mid-body, or gzip data is corrupt.
    Broken(String),
}

/// How far past the limit an oversize body is still read (and discarded), so that the client,
/// still sending, gets our answer instead of a reset connection.
fn drain_cap(limit: usize) -> usize {
    limit.saturating_mul(4).max(16 << 20)
}

/// Reads the whole body if it is at most `limit` bytes. Past the limit nothing more is kept.
pub async fn read_limited(
    mut body: Body,
    limit: usize,
    content_length: Option<u64>,
) -> Result<Vec<u8>, BodyError> {
    let cap = drain_cap(limit);
    if content_length.is_some_and(|n| n > cap as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut buf = Vec::with_capacity(content_length.map_or(0, |n| (n as usize).min(limit)));
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyError::Broken(e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen = seen.saturating_add(data.len());
        if seen <= limit {
            buf.extend_from_slice(&data);
        } else {
            buf = Vec::new();
            if seen > cap {
                break;
            }
        }
    }
    if seen > limit {
        Err(BodyError::TooLarge)
    } else {
        Ok(buf)
    }
}

/// Decompresses gzip data, refusing more than `limit` bytes of output (a zip bomb).
pub fn gunzip(data: &[u8], limit: usize) -> Result<Vec<u8>, BodyError> {
    gzip::decompress(data, limit).map_err(|e| match e {
        DecompressError::TooLarge(_) => BodyError::TooLarge,
        DecompressError::Corrupt(e) => {
            BodyError::Broken(format!("the body is not valid gzip: {e}"))
        }
    })
}

/// `application/json`, with parameters, or any `type/subtype+json`.
pub fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .split_once('/')
            .is_some_and(|(kind, subtype)| !kind.is_empty() && subtype.ends_with("+json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(data).expect("in memory");
        encoder.finish().expect("in memory")
    }

    #[test]
    fn json_content_types() {
        for ok in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/vnd.mwctl+json",
        ] {
            assert!(is_json(ok), "{ok}");
        }
        for bad in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "json",
            "",
        ] {
            assert!(!is_json(bad), "{bad}");
        }
    }

    #[test]
    fn gzip_within_and_over_the_limit() {
        let data = vec![b'x'; 10_000];
        assert_eq!(gunzip(&gz(&data), 10_000).expect("fits"), data);
        assert_eq!(gunzip(&gz(&data), 9_999), Err(BodyError::TooLarge));
        assert!(matches!(
            gunzip(b"not gzip", 100),
            Err(BodyError::Broken(_))
        ));
    }

    #[tokio::test]
    async fn bodies_within_and_over_the_limit() {
        let read = |n: usize, limit| read_limited(Body::from(vec![b'a'; n]), limit, None);
        assert_eq!(read(10, 10).await.expect("fits").len(), 10);
        assert_eq!(read(11, 10).await, Err(BodyError::TooLarge));
        assert_eq!(
            read_limited(Body::empty(), 10, Some(1 << 40)).await,
            Err(BodyError::TooLarge)
        );
    }
}
