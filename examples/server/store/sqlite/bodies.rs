//! Request bodies at rest: gzip-compressed. JSON runs shrink five to ten times, and every byte
//! stored is written twice (WAL, then checkpoint) and read again by the worker. Compression
//! happens outside the writer lock, with one reused compressor per thread: a fresh one zeroes
//! a few hundred KiB of state, which cost more than compressing.

use std::borrow::Cow;
use std::cell::RefCell;
use std::io::Read;

use flate2::read::MultiGzDecoder;
use flate2::{Compress, Compression, FlushCompress, Status};

use crate::store::{StoreError, StoreResult};

/// Bodies smaller than this are stored as they are.
const COMPRESS_FROM: usize = 1024;
/// gzip's magic number; a JSON body never starts with it.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

thread_local! {
    static COMPRESSOR: RefCell<Compress> =
        RefCell::new(Compress::new_gzip(Compression::fast(), 15));
}

/// The form a body is stored in.
pub fn pack(body: &[u8]) -> Cow<'_, [u8]> {
    if body.len() < COMPRESS_FROM {
        return Cow::Borrowed(body);
    }
    COMPRESSOR.with_borrow_mut(|compressor| {
        compressor.reset();
        let mut packed = Vec::with_capacity(body.len() / 4 + 64);
        loop {
            let done = usize::try_from(compressor.total_in()).unwrap_or(body.len());
            let rest = body.get(done..).unwrap_or_default();
            match compressor.compress_vec(rest, &mut packed, FlushCompress::Finish) {
                Ok(Status::StreamEnd) => return Cow::Owned(packed),
                // The output is full: more room, and on.
                Ok(_) => packed.reserve(packed.capacity().max(4096)),
                // Compressing to memory does not fail; if it did, the body is kept as it is.
                Err(_) => return Cow::Borrowed(body),
            }
        }
    })
}

/// A stored body as it was received.
pub fn unpack(stored: Vec<u8>) -> StoreResult<Vec<u8>> {
    if !stored.starts_with(&GZIP_MAGIC) {
        return Ok(stored);
    }
    let mut body = Vec::with_capacity(stored.len() * 6);
    match MultiGzDecoder::new(&stored[..]).read_to_end(&mut body) {
        Ok(_) => Ok(body),
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
