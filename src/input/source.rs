//! Opening an input (a file or stdin): its identity for checkpoints, the first bytes for format
//! detection, and a byte meter that drives the progress bar and bounds the size of one record.

use std::fs::File;
use std::io::{self, Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use super::InputError;

/// How much of the input format detection looks at.
const PREFIX_BYTES: usize = 64 * 1024;
/// The largest record (one run, one export object). A run is a few hundred bytes and a GitHub
/// run object a few KiB; the limit keeps memory bounded whatever the input holds.
pub const MAX_RECORD_BYTES: u64 = 1024 * 1024;

/// Which version of which file: what a checkpoint is keyed by.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileIdentity {
    /// Canonical path.
    pub path: PathBuf,
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub modified_ns: u64,
}

impl FileIdentity {
    fn of(path: &Path, file: &File) -> io::Result<FileIdentity> {
        let meta = file.metadata()?;
        let modified_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        Ok(FileIdentity {
            path: std::fs::canonicalize(path)?,
            size: meta.len(),
            modified_ns,
        })
    }
}

/// Bytes read so far, shared with whoever shows progress.
#[derive(Debug, Default)]
pub struct Meter {
    read: AtomicU64,
}

impl Meter {
    /// Bytes of the input read so far.
    pub fn bytes_read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }
}

/// Counts what passes through.
struct Counting<R> {
    inner: R,
    meter: Arc<Meter>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.meter.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// An opened input, its first bytes already read (and kept) for format detection.
pub struct Source {
    /// How messages name it: the path as given, or `stdin`.
    pub name: String,
    /// `None` for stdin.
    pub identity: Option<FileIdentity>,
    /// The first bytes (without a UTF-8 byte order mark), for detection.
    pub prefix: Vec<u8>,
    pub meter: Arc<Meter>,
    rest: Box<dyn Read + Send>,
}

impl Source {
    /// Opens `path`, or stdin for `-`.
    pub fn open(path: &Path) -> Result<Source, InputError> {
        if path.as_os_str() == "-" {
            return Source::start("stdin".to_owned(), None, Box::new(io::stdin()));
        }
        let name = path.display().to_string();
        let file = File::open(path).map_err(|e| {
            InputError::new(
                format!("cannot open {name}: {e}"),
                "check the path (use - to read stdin)",
            )
        })?;
        if file.metadata().is_ok_and(|m| m.is_dir()) {
            return Err(InputError::new(
                format!("{name} is a directory"),
                "give the runs file itself",
            ));
        }
        let identity = FileIdentity::of(path, &file).map_err(|e| InputError::io(&name, &e))?;
        Source::start(name, Some(identity), Box::new(file))
    }

    /// Any reader (a pipe, a test's bytes), named `name` in messages; it has no identity.
    pub fn from_reader(name: &str, reader: Box<dyn Read + Send>) -> Result<Source, InputError> {
        Source::start(name.to_owned(), None, reader)
    }

    /// Reads the first bytes (for detection), without a UTF-8 byte order mark.
    fn start(
        name: String,
        identity: Option<FileIdentity>,
        mut rest: Box<dyn Read + Send>,
    ) -> Result<Source, InputError> {
        let mut prefix = Vec::with_capacity(PREFIX_BYTES);
        (&mut rest)
            .take(PREFIX_BYTES as u64)
            .read_to_end(&mut prefix)
            .map_err(|e| InputError::io(&name, &e))?;
        if prefix.starts_with(b"\xEF\xBB\xBF") {
            prefix.drain(..3);
        }
        Ok(Source {
            name,
            identity,
            prefix,
            meter: Arc::new(Meter::default()),
            rest,
        })
    }

    /// The size in bytes, when known (files).
    pub fn size(&self) -> Option<u64> {
        self.identity.as_ref().map(|id| id.size)
    }

    /// The whole input, from the first byte, metered.
    pub(crate) fn into_reader(self) -> (impl Read + Send, Arc<Meter>) {
        let counting = Counting {
            inner: Cursor::new(self.prefix).chain(self.rest),
            meter: Arc::clone(&self.meter),
        };
        (counting, self.meter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_have_an_identity_and_lose_their_bom() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("runs.json");
        std::fs::write(&path, b"\xEF\xBB\xBF[1]").expect("write");
        let source = Source::open(&path).expect("opens");
        assert_eq!(source.prefix, b"[1]");
        let identity = source.identity.clone().expect("a file");
        assert_eq!(identity.size, 6);
        assert!(identity.path.is_absolute());
        let (mut reader, meter) = source.into_reader();
        let mut all = String::new();
        reader.read_to_string(&mut all).expect("reads");
        assert_eq!(all, "[1]");
        assert_eq!(meter.bytes_read(), 3);
    }

    #[test]
    fn missing_files_and_directories_say_so() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = Source::open(&dir.path().join("nope.json"))
            .err()
            .expect("fails");
        assert!(missing.what.contains("cannot open"), "{}", missing.what);
        let directory = Source::open(dir.path()).err().expect("fails");
        assert!(
            directory.what.contains("is a directory"),
            "{}",
            directory.what
        );
    }
}
