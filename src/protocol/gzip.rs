//! `Content-Encoding: gzip` request bodies: compressed by `mwctl send --compress`, expanded by
//! the server within its body limit (the server also keeps bodies at rest this way).

use std::cell::RefCell;
use std::io::Read;

use flate2::read::MultiGzDecoder;
use flate2::{Compress, Compression, FlushCompress, Status};

thread_local! {
    // One compressor per thread, reused: a new one zeroes a few hundred KiB of state, which
    // costs more than compressing a batch.
    static COMPRESSOR: RefCell<Compress> =
        RefCell::new(Compress::new_gzip(Compression::fast(), 15));
}

/// gzip of `data`, fast rather than small: backfills are CPU-bound. `None` if the compressor
/// fails, which compressing to memory does not.
pub fn compress(data: &[u8]) -> Option<Vec<u8>> {
    COMPRESSOR.with_borrow_mut(|compressor| {
        compressor.reset();
        let mut out = Vec::with_capacity(data.len() / 4 + 64);
        loop {
            let done = usize::try_from(compressor.total_in()).unwrap_or(data.len());
            let rest = data.get(done..).unwrap_or_default();
            match compressor.compress_vec(rest, &mut out, FlushCompress::Finish) {
                Ok(Status::StreamEnd) => return Some(out),
                // The output is full: more room, and on.
                Ok(_) => out.reserve(out.capacity().max(4096)),
                Err(_) => return None,
            }
        }
    })
}

/// Why gzip data could not be expanded.
#[derive(Debug, thiserror::Error)]
pub enum DecompressError {
    #[error("not valid gzip: {0}")]
    Corrupt(#[from] std::io::Error),
    /// More than the limit once expanded (a zip bomb, or merely too big).
    #[error("more than {0} bytes once decompressed")]
    TooLarge(usize),
}

/// The data `gzip` (one member or several) holds, refusing more than `limit` bytes of it.
pub fn decompress(gzip: &[u8], limit: usize) -> Result<Vec<u8>, DecompressError> {
    let mut out = Vec::with_capacity(gzip.len().saturating_mul(6).min(limit));
    MultiGzDecoder::new(gzip)
        .take((limit as u64).saturating_add(1))
        .read_to_end(&mut out)?;
    if out.len() > limit {
        return Err(DecompressError::TooLarge(limit));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_the_reused_compressor() {
        let body = br#"{"workflow_runs":[{"workflow_name":"deploy"}]}"#.repeat(1000);
        for _ in 0..2 {
            let packed = compress(&body).expect("compresses");
            assert!(packed.len() < body.len() / 10, "{}", packed.len());
            assert_eq!(decompress(&packed, body.len()).expect("valid"), body);
        }
    }

    #[test]
    fn corrupt_and_oversized_data_is_refused() {
        assert!(matches!(
            decompress(b"not gzip", 100),
            Err(DecompressError::Corrupt(_))
        ));
        let bomb = compress(&vec![b'a'; 1 << 20]).expect("compresses");
        assert!(matches!(
            decompress(&bomb, 1000),
            Err(DecompressError::TooLarge(1000))
        ));
    }
}
