//! Request bodies at rest: gzip-compressed. JSON runs shrink five to ten times, and every byte
//! stored is written twice (WAL, then checkpoint) and read again by the worker: on a backfill
//! that IO was the server's largest cost. Compression happens outside the writer lock.

use std::borrow::Cow;
use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

use crate::store::{StoreError, StoreResult};

/// Bodies smaller than this are stored as they are.
const COMPRESS_FROM: usize = 1024;
/// gzip's magic number; a JSON body never starts with it.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The form a body is stored in.
pub fn pack(body: &[u8]) -> Cow<'_, [u8]> {
    if body.len() < COMPRESS_FROM || body.starts_with(&GZIP_MAGIC) {
        return Cow::Borrowed(body);
    }
    let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 6), Compression::fast());
    match encoder.write_all(body).and_then(|()| encoder.finish()) {
        Ok(packed) => Cow::Owned(packed),
        // Writing to memory does not fail; if it did, the body is kept as it is.
        Err(_) => Cow::Borrowed(body),
    }
}

/// A stored body as it was received.
pub fn unpack(stored: Vec<u8>) -> StoreResult<Vec<u8>> {
    if !stored.starts_with(&GZIP_MAGIC) {
        return Ok(stored);
    }
    let mut body = Vec::with_capacity(stored.len() * 6);
    GzDecoder::new(&stored[..])
        .read_to_end(&mut body)
        .map_err(|e| StoreError::Other(format!("a stored body is corrupt: {e}")))?;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_round_trip() {
        let big = br#"{"workflow_runs":[{"workflow_name":"deploy"}]}"#.repeat(100);
        let packed = pack(&big);
        assert!(packed.len() < big.len() / 4, "{}", packed.len());
        assert_eq!(unpack(packed.into_owned()).expect("valid"), big);
        let small = br#"{"workflow_runs":[]}"#;
        assert_eq!(&*pack(small), small);
        assert_eq!(unpack(small.to_vec()).expect("as is"), small);
    }
}
