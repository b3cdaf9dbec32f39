//! JSON containers, streamed: a top-level array of records, an object whose `workflow_runs`
//! array holds them (other keys skipped), or several of these one after another (what
//! `gh api --paginate` and `glab api --paginate` print); with `pages`, a top-level array of
//! such objects or of arrays of records (what `gh api --paginate --slurp` prints).
//!
//! serde_json parses every value (each record, each key, each skipped value) from a slice of a
//! read buffer: its fast path. Parsing through `io::Read` (`from_reader` and a visitor) walks
//! the input byte by byte and measured six times slower, the difference between keeping up
//! with the server or not. This module only steps over the punctuation between values
//! (`[`, `,`, `]`, `{`, `:`, `}`). Memory: the buffer, one read chunk plus the largest record.

use std::io::Read;
use std::ops::{ControlFlow, Range};

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::source::MAX_RECORD_BYTES;
use super::{InputError, Record};

/// How much is read at a time.
const CHUNK: usize = 256 * 1024;

/// Hands every record of `reader` to `sink`, until the input ends or `sink` breaks. With
/// `pages`, the elements of top-level arrays are pages, not records.
pub(crate) fn read(
    reader: impl Read,
    name: &str,
    pages: bool,
    sink: &mut dyn FnMut(Record) -> ControlFlow<()>,
) -> Result<(), InputError> {
    let mut scanner = Scanner {
        reader,
        name,
        buf: Vec::with_capacity(2 * CHUNK),
        pos: 0,
        eof: false,
        dropped: 0,
        dropped_lines: 0,
        dropped_line_start: 0,
        records: 0,
    };
    match scanner.values(pages, sink) {
        Ok(()) | Err(Halt::Stopped) => Ok(()),
        Err(Halt::Failed(e)) => Err(e),
    }
}

/// Why scanning ended early.
enum Halt {
    /// The consumer wants no more records.
    Stopped,
    Failed(InputError),
}

impl From<InputError> for Halt {
    fn from(e: InputError) -> Halt {
        Halt::Failed(e)
    }
}

struct Scanner<'n, R> {
    reader: R,
    name: &'n str,
    buf: Vec<u8>,
    /// Next unread byte of `buf`.
    pos: usize,
    eof: bool,
    /// Bytes dropped from the front of `buf` so far; the newlines among them; where the line
    /// they end in starts. Only error messages need them.
    dropped: u64,
    dropped_lines: u64,
    dropped_line_start: u64,
    records: u64,
}

impl<R: Read> Scanner<'_, R> {
    /// Top-level values until the end of the input.
    fn values(
        &mut self,
        pages: bool,
        sink: &mut dyn FnMut(Record) -> ControlFlow<()>,
    ) -> Result<(), Halt> {
        while self.skip_whitespace()? {
            match self.buf[self.pos] {
                b'[' if pages => {
                    self.pos += 1;
                    self.pages(sink)?;
                }
                b'[' => {
                    self.pos += 1;
                    self.array(sink)?;
                }
                b'{' => {
                    self.pos += 1;
                    self.object(sink)?;
                }
                other => {
                    return Err(self.error_here(
                        format!("expected [ or {{ (more runs), found {}", shown(other)),
                        "the input must hold only arrays of runs or {\"workflow_runs\": [...]} objects: remove what follows them",
                    ));
                }
            }
        }
        Ok(())
    }

    /// The elements of an array, its `[` read.
    fn array(&mut self, sink: &mut dyn FnMut(Record) -> ControlFlow<()>) -> Result<(), Halt> {
        let mut first = true;
        loop {
            let records = self.records;
            let more = self.next_element(first, "an array", |found| {
                (
                    format!(
                        "expected , or ] after record {}, found {found}",
                        records.saturating_sub(1)
                    ),
                    "fix the JSON at that spot: records are separated by commas",
                )
            })?;
            if !more {
                return Ok(());
            }
            first = false;
            let range = self.value::<IgnoredAny>()?.1;
            let text = std::str::from_utf8(&self.buf[range.clone()]).map_err(|e| {
                self.error_at(
                    range.start + e.valid_up_to(),
                    "not UTF-8 text".to_owned(),
                    "save the file as UTF-8 (e.g. `iconv -t UTF-8`)",
                )
            })?;
            let record = Record {
                number: self.records,
                line: None,
                text: text.into(),
            };
            self.records += 1;
            if sink(record).is_break() {
                return Err(Halt::Stopped);
            }
        }
    }

    /// The elements of an array of pages, its `[` read: each a `{"workflow_runs": [...]}`
    /// object or an array of records.
    fn pages(&mut self, sink: &mut dyn FnMut(Record) -> ControlFlow<()>) -> Result<(), Halt> {
        let mut first = true;
        loop {
            let more = self.next_element(first, "an array of pages", |found| {
                (
                    format!("expected , or ] between pages, found {found}"),
                    "fix the JSON at that spot: pages are separated by commas",
                )
            })?;
            if !more {
                return Ok(());
            }
            first = false;
            match self.buf[self.pos] {
                b'{' => {
                    self.pos += 1;
                    self.object(sink)?;
                }
                b'[' => {
                    self.pos += 1;
                    self.array(sink)?;
                }
                other => {
                    return Err(self.error_here(
                        format!(
                            "expected a page ({{\"workflow_runs\": [...]}} or an array of runs), found {}",
                            shown(other)
                        ),
                        "an array of pages (gh api --paginate --slurp) must hold only pages; pass --format if the file is something else",
                    ));
                }
            }
        }
    }

    /// Steps to the next element of an array whose `[` is read: false at its `]` (consumed),
    /// true before an element (its `,` consumed). `unexpected` says what else was found.
    fn next_element(
        &mut self,
        first: bool,
        what: &str,
        unexpected: impl FnOnce(String) -> (String, &'static str),
    ) -> Result<bool, Halt> {
        self.require_more(what)?;
        match self.buf[self.pos] {
            b']' => {
                self.pos += 1;
                Ok(false)
            }
            b',' if !first => {
                self.pos += 1;
                self.require_more(what)?;
                Ok(true)
            }
            _ if first => Ok(true),
            other => {
                let (message, fix) = unexpected(shown(other));
                Err(self.error_here(message, fix))
            }
        }
    }

    /// The members of an object, its `{` read: records from `workflow_runs`, the rest skipped.
    fn object(&mut self, sink: &mut dyn FnMut(Record) -> ControlFlow<()>) -> Result<(), Halt> {
        let start = self.pos.saturating_sub(1);
        let mut first = true;
        let mut found = false;
        loop {
            self.require_more("an object")?;
            match self.buf[self.pos] {
                b'}' => {
                    self.pos += 1;
                    break;
                }
                b',' if !first => {
                    self.pos += 1;
                    self.require_more("an object")?;
                }
                _ if first => {}
                other => {
                    return Err(self.error_here(
                        format!("expected , or }} in an object, found {}", shown(other)),
                        "fix the JSON at that spot",
                    ));
                }
            }
            first = false;
            let key = self.value::<String>()?.0;
            self.require_more("an object")?;
            if self.buf[self.pos] != b':' {
                return Err(self.error_here(
                    format!("expected : after the key {key:?}"),
                    "fix the JSON at that spot",
                ));
            }
            self.pos += 1;
            self.require_more("an object")?;
            if super::detect::WRAPPER_KEYS.contains(&key.as_str()) && !found {
                found = true;
                if self.buf[self.pos] != b'[' {
                    return Err(self.error_here(
                        format!("{key} is not an array"),
                        "it must be an array of records (runs, incidents or alerts)",
                    ));
                }
                self.pos += 1;
                self.array(sink)?;
            } else {
                self.value::<IgnoredAny>()?;
            }
        }
        if found {
            Ok(())
        } else {
            Err(self.error_at(
                start,
                "the object has no workflow_runs (or incidents, data) array".to_owned(),
                "expected a JSON array of runs or incidents, {\"workflow_runs\": [...]}, {\"incidents\": [...]}, NDJSON (one per line), or a GitHub / GitLab / PagerDuty / Opsgenie export (see --format)",
            ))
        }
    }

    /// Parses one value at the current position (whitespace skipped), reading more input as
    /// long as the value runs past the buffer; the value and where its text is in `buf`.
    fn value<T: for<'de> Deserialize<'de>>(&mut self) -> Result<(T, Range<usize>), Halt> {
        loop {
            let slice = &self.buf[self.pos..];
            let mut stream = serde_json::Deserializer::from_slice(slice).into_iter::<T>();
            let parsed = stream.next();
            let end = stream.byte_offset();
            match parsed {
                // A value that ends exactly at the end of the buffer may be cut short (a
                // number): look again with more input.
                Some(Ok(value)) if end < slice.len() || self.eof => {
                    let range = self.pos..self.pos + end;
                    self.pos += end;
                    return Ok((value, range));
                }
                Some(Err(e)) if !e.is_eof() || self.eof => {
                    return Err(self.json_error(self.pos, &e));
                }
                _ => {
                    if slice.len() as u64 > MAX_RECORD_BYTES {
                        return Err(self.error_here(
                            format!(
                                "record {} is larger than {} MiB",
                                self.records,
                                MAX_RECORD_BYTES >> 20
                            ),
                            "a run is a few hundred bytes: check that this is a runs export (or pass --format)",
                        ));
                    }
                    self.fill()?;
                }
            }
        }
    }

    /// Skips whitespace, reading as needed; false at the end of the input.
    fn skip_whitespace(&mut self) -> Result<bool, Halt> {
        loop {
            while let Some(b) = self.buf.get(self.pos) {
                if !b.is_ascii_whitespace() {
                    return Ok(true);
                }
                self.pos += 1;
            }
            if self.eof {
                return Ok(false);
            }
            self.fill()?;
        }
    }

    /// Like [`Scanner::skip_whitespace`], where the input may not end (inside `what`).
    fn require_more(&mut self, what: &str) -> Result<(), Halt> {
        if self.skip_whitespace()? {
            return Ok(());
        }
        Err(self.error_here(
            format!("the input ends inside {what}"),
            "the file ends in the middle of a value: it was cut short (an interrupted export or download?); export it again",
        ))
    }

    /// Drops what was parsed and reads another chunk.
    fn fill(&mut self) -> Result<(), Halt> {
        let done = &self.buf[..self.pos];
        let newlines = done.iter().filter(|&&b| b == b'\n').count() as u64;
        if let Some(last) = done.iter().rposition(|&b| b == b'\n') {
            self.dropped_line_start = self.dropped + last as u64 + 1;
        }
        self.dropped_lines += newlines;
        self.dropped += self.pos as u64;
        self.buf.drain(..self.pos);
        self.pos = 0;
        let filled = self.buf.len();
        self.buf.resize(filled + CHUNK, 0);
        let n = loop {
            match self.reader.read(&mut self.buf[filled..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.buf.truncate(filled);
                    return Err(InputError::io(self.name, &e).into());
                }
            }
        };
        self.buf.truncate(filled + n);
        self.eof = n == 0;
        Ok(())
    }

    /// Line and column (from 1) of `buf[offset]`, or of a position that serde_json gives
    /// relative to a slice starting there.
    fn line_column(&self, offset: usize, relative: Option<(usize, usize)>) -> (u64, u64) {
        let before = &self.buf[..offset];
        let lines = self.dropped_lines + before.iter().filter(|&&b| b == b'\n').count() as u64;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(self.dropped_line_start, |i| self.dropped + i as u64 + 1);
        let column_here = self.dropped + offset as u64 - line_start;
        match relative {
            None => (lines + 1, column_here + 1),
            Some((1, column)) => (lines + 1, column_here + column as u64),
            Some((line, column)) => (lines + line as u64, column as u64),
        }
    }

    fn error_at(&self, offset: usize, what: String, fix: &str) -> Halt {
        let (line, column) = self.line_column(offset, None);
        Halt::Failed(InputError::new(
            format!("{}: line {line}, column {column}: {what}", self.name),
            fix,
        ))
    }

    fn error_here(&self, what: String, fix: &str) -> Halt {
        self.error_at(self.pos, what, fix)
    }

    fn json_error(&self, offset: usize, e: &serde_json::Error) -> Halt {
        let (line, column) = self.line_column(offset, Some((e.line().max(1), e.column())));
        Halt::Failed(InputError::json_at(
            self.name,
            &format!("line {line}, column {column}"),
            e,
        ))
    }
}

/// A byte as error messages show it.
fn shown(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("{:?}", b as char)
    } else {
        format!("byte 0x{b:02x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads through a reader that returns at most `chunk` bytes a call, as pipes do.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.len().min(self.1).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn records(input: &str, chunk: usize) -> Result<Vec<String>, InputError> {
        records_in(input, chunk, false)
    }

    fn records_in(input: &str, chunk: usize, pages: bool) -> Result<Vec<String>, InputError> {
        let mut out = Vec::new();
        read(Trickle(input.as_bytes(), chunk), "f", pages, &mut |r| {
            out.push(r.text.into_string());
            ControlFlow::Continue(())
        })?;
        Ok(out)
    }

    #[test]
    fn values_split_across_reads_are_whole() {
        let input =
            "[1234567, {\"a\": \"x\\\"y\"}, true, null]\n{\"n\": 12345, \"workflow_runs\": [9876]}";
        for chunk in [1, 2, 3, 7, 4096] {
            assert_eq!(
                records(input, chunk).expect("reads"),
                ["1234567", "{\"a\": \"x\\\"y\"}", "true", "null", "9876"],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn arrays_of_pages() {
        let input =
            "[{\"total_count\": 3, \"workflow_runs\": [1, 2]}, [3], {\"workflow_runs\": []}]";
        for chunk in [1, 5, 4096] {
            assert_eq!(
                records_in(input, chunk, true).expect("reads"),
                ["1", "2", "3"],
                "chunk {chunk}"
            );
        }
        let err = records_in("[{\"workflow_runs\": [1]}, 7]", 4096, true).expect_err("bad");
        assert!(err.what.contains("expected a page"), "{}", err.what);
    }

    #[test]
    fn errors_have_absolute_positions() {
        // The bad spot is far past the first reads.
        let mut input = String::from("[");
        for _ in 0..5000 {
            input.push_str("{\"a\": 1},\n");
        }
        input.push_str("{\"a\": ]");
        let err = records(&input, 1000).expect_err("bad");
        assert!(
            err.what.starts_with("f: line 5001, column 7:"),
            "{}",
            err.what
        );
        let err = records("[1,\n 2 3]", 2).expect_err("bad");
        assert!(
            err.what.starts_with("f: line 2, column 4: expected , or ]"),
            "{}",
            err.what
        );
        let err = records("[\"\u{e9}\", \"a\u{0}\"]", 3).expect_err("control char");
        assert!(err.what.contains("line 1"), "{}", err.what);
    }
}
