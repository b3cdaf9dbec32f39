//! Request bodies at rest: gzip-compressed. JSON runs shrink five to ten times, and every byte
//! stored is written twice (WAL, then checkpoint) and read again by the worker. Compression
//! happens outside the writer lock, with one reused compressor per thread: a fresh one zeroes
//! a few hundred KiB of state, which cost more than compressing.

use std::borrow::Cow;

use mwctl::protocol::gzip;

use crate::store::{StoreError, StoreResult};

/// Bodies smaller than this are stored as they are.
const COMPRESS_FROM: usize = 1024;
/// gzip's magic number; a JSON body never starts with it.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The form a body is stored in.
pub fn pack(body: &[u8]) -> Cow<'_, [u8]> {
    if body.len() < COMPRESS_FROM {
        return Cow::Borrowed(body);
    }
    // Compressing to memory does not fail; if it did, the body is kept as it is.
    gzip::compress(body).map_or(Cow::Borrowed(body), Cow::Owned)
}

/// A stored body as it was received.
pub fn unpack(stored: Vec<u8>) -> StoreResult<Vec<u8>> {
    if !stored.starts_with(&GZIP_MAGIC) {
        return Ok(stored);
    }
    // Stored bodies were within the body limit when they arrived.
    match gzip::decompress(&stored, usize::MAX) {
        Ok(body) => Ok(body),
        // A small body kept as it was received that merely starts like gzip (only refused
        // requests can have such bodies).
        Err(_) if stored.len() < COMPRESS_FROM => Ok(stored),
        Err(e) => Err(StoreError::Other(format!("a stored body is corrupt: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_round_trip() {
        let big = br#"{"workflow_runs":[{"workflow_name":"deploy"}]}"#.repeat(100);
        for _ in 0..2 {
            // The second time with the reused compressor.
            let packed = pack(&big);
            assert!(packed.len() < big.len() / 4, "{}", packed.len());
            assert_eq!(unpack(packed.into_owned()).expect("valid"), big);
        }
        let incompressible: Vec<u8> = (0..200_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        assert_eq!(
            unpack(pack(&incompressible).into_owned()).expect("valid"),
            incompressible
        );
        let small = br#"{"workflow_runs":[]}"#;
        assert_eq!(&*pack(small), small);
        assert_eq!(unpack(small.to_vec()).expect("as is"), small);
        let odd = b"\x1f\x8bnot gzip".to_vec();
        assert_eq!(unpack(odd.clone()).expect("as is"), odd);
    }
}
