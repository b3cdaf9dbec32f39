//! NDJSON (JSON Lines): one record per line; blank lines are skipped. Each line is handed over
//! as text and parsed later, by the validation stage, with its line number for errors.

use std::io::{BufRead, Read};
use std::ops::ControlFlow;

use super::source::MAX_RECORD_BYTES;
use super::{InputError, Record};

/// Hands every non-blank line of `reader` to `sink`, until the input ends or `sink` breaks.
pub(crate) fn read(
    mut reader: impl BufRead,
    name: &str,
    sink: &mut dyn FnMut(Record) -> ControlFlow<()>,
) -> Result<(), InputError> {
    let mut buf = Vec::new();
    let mut line = 0u64;
    let mut number = 0u64;
    loop {
        buf.clear();
        // Bounded: a line without an end cannot fill the memory.
        let n = (&mut reader)
            .take(MAX_RECORD_BYTES + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|e| InputError::io(name, &e))?;
        if n == 0 {
            return Ok(());
        }
        line += 1;
        if buf.len() as u64 > MAX_RECORD_BYTES {
            return Err(InputError::new(
                format!(
                    "{name}: line {line} is longer than {} MiB",
                    MAX_RECORD_BYTES >> 20
                ),
                "NDJSON has one run per line, a few hundred bytes each: check that this is a runs export (or pass --format)",
            ));
        }
        let text = std::str::from_utf8(&buf).map_err(|e| {
            InputError::new(
                format!(
                    "{name}: line {line}, column {}: not UTF-8 text",
                    e.valid_up_to() + 1
                ),
                "save the file as UTF-8 (e.g. `iconv -t UTF-8`)",
            )
        })?;
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let record = Record {
            number,
            line: Some(line),
            text: text.into(),
        };
        number += 1;
        if sink(record).is_break() {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8]) -> Result<Vec<(u64, Option<u64>, String)>, InputError> {
        let mut out = Vec::new();
        read(input, "f", &mut |r| {
            out.push((r.number, r.line, r.text.into()));
            ControlFlow::Continue(())
        })?;
        Ok(out)
    }

    #[test]
    fn records_are_numbered_and_blank_lines_skipped() {
        let got = lines(b"{\"a\":1}\r\n\n  {\"b\":2}  \n{\"c\":3}").expect("reads");
        assert_eq!(
            got,
            [
                (0, Some(1), "{\"a\":1}".to_owned()),
                (1, Some(3), "{\"b\":2}".to_owned()),
                (2, Some(4), "{\"c\":3}".to_owned()),
            ]
        );
    }

    #[test]
    fn hostile_lines_are_refused() {
        let err = lines(b"{}\n\xff\xfe\n").expect_err("not utf-8");
        assert!(
            err.what.contains("line 2, column 1: not UTF-8"),
            "{}",
            err.what
        );
        let long = vec![b'x'; MAX_RECORD_BYTES as usize + 10];
        let err = lines(&long).expect_err("too long");
        assert!(err.what.contains("line 1 is longer"), "{}", err.what);
    }
}
