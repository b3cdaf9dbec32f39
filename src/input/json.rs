//! JSON containers, streamed: a top-level array of records, an object whose `workflow_runs`
//! array holds them (other keys skipped), or several of these one after another (what
//! `gh api --paginate` and `glab api --paginate` print). A serde visitor walks the arrays and
//! hands over each element as its raw JSON text, so memory stays bounded by one record.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::BufRead;
use std::ops::ControlFlow;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::source::{MAX_RECORD_BYTES, Meter, RecordTooLarge};
use super::{InputError, Record};

/// Marks the error that unwinds the parser when the consumer wants no more records.
const STOPPED: &str = "mwctl: reading stopped";

/// Hands every record of `reader` to `sink`, until the input ends or `sink` breaks.
pub(crate) fn read(
    reader: impl BufRead,
    meter: &Meter,
    name: &str,
    sink: &mut dyn FnMut(Record) -> ControlFlow<()>,
) -> Result<(), InputError> {
    let mut de = serde_json::Deserializer::from_reader(reader);
    let state = State {
        meter,
        sink: RefCell::new(sink),
        records: Cell::new(0),
        stopped: Cell::new(false),
    };
    loop {
        if let Err(e) = Container(&state).deserialize(&mut de) {
            return if state.stopped.get() {
                Ok(())
            } else {
                Err(error(name, e, state.records.get()))
            };
        }
        // Another value may follow (a paginated export); only whitespace may end the input.
        match de.end() {
            Ok(()) => return Ok(()),
            Err(e) if e.is_syntax() => continue,
            Err(e) => return Err(error(name, e, state.records.get())),
        }
    }
}

fn error(name: &str, e: serde_json::Error, records: u64) -> InputError {
    if !e.is_io() {
        return InputError::json(name, &e, records);
    }
    let io = std::io::Error::from(e);
    if RecordTooLarge::is(&io) {
        InputError::new(
            format!(
                "{name}: record {records} is larger than {} MiB",
                MAX_RECORD_BYTES >> 20
            ),
            "a run is a few hundred bytes: check that this is a runs export (or pass --format)",
        )
    } else {
        InputError::io(name, &io)
    }
}

struct State<'a> {
    meter: &'a Meter,
    sink: RefCell<&'a mut dyn FnMut(Record) -> ControlFlow<()>>,
    records: Cell<u64>,
    stopped: Cell<bool>,
}

impl State<'_> {
    /// Reads the elements of one array as records.
    fn elements<'de, A: SeqAccess<'de>>(&self, mut seq: A) -> Result<(), A::Error> {
        loop {
            self.meter.record_start();
            let element = seq.next_element::<Box<RawValue>>();
            self.meter.record_end();
            let Some(raw) = element? else {
                return Ok(());
            };
            let number = self.records.get();
            self.records.set(number + 1);
            let record = Record {
                number,
                line: None,
                text: raw.into(),
            };
            if (self.sink.borrow_mut())(record).is_break() {
                self.stopped.set(true);
                return Err(de::Error::custom(STOPPED));
            }
        }
    }
}

/// One top-level value: an array of records or an object with `workflow_runs`.
struct Container<'s, 'a>(&'s State<'a>);

impl<'de> DeserializeSeed<'de> for Container<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Container<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of runs or an object with a workflow_runs array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        self.0.elements(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut found = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "workflow_runs" && !found {
                found = true;
                map.next_value_seed(Runs(self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if found {
            Ok(())
        } else {
            Err(de::Error::custom("the object has no workflow_runs array"))
        }
    }
}

/// The value of `workflow_runs`.
struct Runs<'s, 'a>(&'s State<'a>);

impl<'de> DeserializeSeed<'de> for Runs<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Runs<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of runs in workflow_runs")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        self.0.elements(seq)
    }
}
