//! The run model: what a client may send (`RawRun`, lenient) and what validation yields (`Run`).

use std::fmt;
use std::marker::PhantomData;
use std::sync::LazyLock;

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, Datelike, FixedOffset, Timelike};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The final or pending state of a workflow run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RunStatus {
    Success,
    Failure,
    Pending,
    Cancelled,
}

impl RunStatus {
    /// The wire spelling (`SUCCESS`, ...), which is also what the server stores.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Success => "SUCCESS",
            RunStatus::Failure => "FAILURE",
            RunStatus::Pending => "PENDING",
            RunStatus::Cancelled => "CANCELLED",
        }
    }

    /// Parses the protocol's spellings, case-insensitively (`CANCELED` too).
    pub fn parse(s: &str) -> Option<RunStatus> {
        match s.trim().to_ascii_uppercase().as_str() {
            "SUCCESS" => Some(RunStatus::Success),
            "FAILURE" => Some(RunStatus::Failure),
            "PENDING" => Some(RunStatus::Pending),
            "CANCELLED" | "CANCELED" => Some(RunStatus::Cancelled),
            _ => None,
        }
    }

    pub fn is_final(self) -> bool {
        self != RunStatus::Pending
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated run, ready to send or to store. Serialises to the wire format.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub workflow_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repo_urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repo_names: Vec<String>,
    pub event_actor: String,
    pub head_branch: String,
    pub workflow_run_unique_id: String,
    pub status: RunStatus,
    #[serde(serialize_with = "serialize_wire_time")]
    pub workflow_run_conducted_at: DateTime<FixedOffset>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_sha: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Map<String, Value>>,
}

/// A time as mwctl sends it: `2024-05-01T12:30:00+00:00`, microseconds only when there are
/// some. Upstream Middleware parses it with Python 3.9's `datetime.fromisoformat`, which takes
/// neither `Z` nor `+0200` nor nanoseconds; this form every ISO 8601 reader takes.
pub fn wire_time(at: &DateTime<FixedOffset>) -> String {
    fast_wire_time(at).unwrap_or_else(|| chrono_wire_time(at))
}

/// [`wire_time`] written digit by digit: every run's time is formatted on the way in (to know
/// whether it is in wire form), and chrono's formatting machinery was a tenth of validating a
/// run. `None` for what it does not cover (years outside 0..=9999, leap seconds, offsets with
/// seconds), which chrono formats.
fn fast_wire_time(at: &DateTime<FixedOffset>) -> Option<String> {
    let local = at.naive_local();
    let year = u32::try_from(local.year()).ok().filter(|y| *y <= 9999)?;
    let nanos = at.timestamp_subsec_nanos();
    let offset = at.offset().local_minus_utc();
    if nanos >= 1_000_000_000 || offset % 60 != 0 {
        return None;
    }
    let mut out = String::with_capacity(32);
    push_digits(&mut out, year, 4);
    for (separator, n) in [
        ('-', local.month()),
        ('-', local.day()),
        ('T', local.hour()),
        (':', local.minute()),
        (':', local.second()),
    ] {
        out.push(separator);
        push_digits(&mut out, n, 2);
    }
    if nanos != 0 {
        out.push('.');
        push_digits(&mut out, nanos / 1000, 6);
    }
    out.push(if offset < 0 { '-' } else { '+' });
    let minutes = offset.unsigned_abs() / 60;
    push_digits(&mut out, minutes / 60, 2);
    out.push(':');
    push_digits(&mut out, minutes % 60, 2);
    Some(out)
}

/// The last `width` decimal digits of `n`, zero-padded.
fn push_digits(out: &mut String, n: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = (n / 10u32.pow(place)) % 10;
        out.push(char::from(b'0' + digit as u8));
    }
}

fn chrono_wire_time(at: &DateTime<FixedOffset>) -> String {
    // The formats parsed once, not per call: parsing the format string cost more than
    // formatting.
    static WHOLE: LazyLock<Vec<Item<'static>>> =
        LazyLock::new(|| StrftimeItems::new("%Y-%m-%dT%H:%M:%S%:z").collect());
    static MICROS: LazyLock<Vec<Item<'static>>> =
        LazyLock::new(|| StrftimeItems::new("%Y-%m-%dT%H:%M:%S%.6f%:z").collect());
    let items = if at.timestamp_subsec_nanos() == 0 {
        &WHOLE
    } else {
        &MICROS
    };
    at.format_with_items(items.iter()).to_string()
}

fn serialize_wire_time<S: serde::Serializer>(
    at: &DateTime<FixedOffset>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&wire_time(at))
}

/// A run as received: every field kept as raw JSON so that validation can report a wrong type
/// per field instead of failing the whole batch. Unknown fields are ignored.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct RawRun {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow_name: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repo_urls: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repo_names: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_actor: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head_branch: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow_run_unique_id: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow_run_conducted_at: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html_url: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit_sha: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
}

/// One element of a JSON array of records: an object read as `T`, or something else that
/// validation reports by index (a string, a number, an array...). Export readers use it with
/// their own record types; `workflow_runs` arrays with [`RawRun`].
#[derive(Debug)]
pub enum Element<T> {
    Object(Box<T>),
    NotAnObject(&'static str),
}

/// One element of a `workflow_runs` array.
pub type RunElement = Element<RawRun>;

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Element<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ElementVisitor(PhantomData))
    }
}

struct ElementVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ElementVisitor<T> {
    type Value = Element<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a run object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Element<T>, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map))
            .map(|raw| Element::Object(Box::new(raw)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Element<T>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Element::NotAnObject("an array"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Element<T>, E> {
        Ok(Element::NotAnObject("a string"))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Element<T>, E> {
        Ok(Element::NotAnObject("a boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Element<T>, E> {
        Ok(Element::NotAnObject("a number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Element<T>, E> {
        Ok(Element::NotAnObject("a number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Element<T>, E> {
        Ok(Element::NotAnObject("a number"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Element<T>, E> {
        Ok(Element::NotAnObject("null"))
    }
}

/// Names a JSON value's type the way error messages say it.
pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_spellings() {
        assert_eq!(RunStatus::parse("success"), Some(RunStatus::Success));
        assert_eq!(RunStatus::parse("Canceled"), Some(RunStatus::Cancelled));
        assert_eq!(RunStatus::parse("CANCELLED"), Some(RunStatus::Cancelled));
        assert_eq!(RunStatus::parse("done"), None);
    }

    #[test]
    fn wire_times() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).expect("valid");
        assert_eq!(
            wire_time(&at("2024-05-01T12:30:00Z")),
            "2024-05-01T12:30:00+00:00"
        );
        assert_eq!(
            wire_time(&at("2024-05-01T12:30:00.1234567-05:30")),
            "2024-05-01T12:30:00.123456-05:30"
        );
    }

    #[test]
    fn wire_times_written_by_hand_are_chrono_s() {
        let mut checked = 0;
        // Times spread over the years (and a step that is not a whole second), and the edges.
        let spread = (0..2_000i64).map(|i| i * 1_234_567_891 - 62_000_000_000);
        for secs in spread.chain([0, -62_167_219_200, 253_402_300_799]) {
            for nanos in [0, 1, 999, 1_000, 500_000_000, 999_999_999] {
                for offset in [0, 3_600, -19_800, 50_400, -43_200, 61, -7_260] {
                    let Some(utc) = DateTime::from_timestamp(secs, nanos) else {
                        continue;
                    };
                    let Some(zone) = FixedOffset::east_opt(offset) else {
                        continue;
                    };
                    let at = utc.with_timezone(&zone);
                    assert_eq!(wire_time(&at), chrono_wire_time(&at), "{at:?}");
                    checked += 1;
                }
            }
        }
        // Outside what is written by hand: chrono's.
        let far = DateTime::from_timestamp(400_000_000_000, 0).expect("year 14645");
        let far = far.fixed_offset();
        assert!(fast_wire_time(&far).is_none());
        assert_eq!(wire_time(&far), chrono_wire_time(&far));
        assert!(checked > 80_000, "{checked}");
    }

    #[test]
    fn elements_of_any_type_parse() {
        let items: Vec<RunElement> = serde_json::from_str(
            r#"[{"workflow_name":"x","extra":[1]}, "s", 3, null, [1,2], true]"#,
        )
        .expect("parses");
        assert!(matches!(&items[0], RunElement::Object(raw) if raw.workflow_name.is_some()));
        let kinds: Vec<_> = items[1..]
            .iter()
            .map(|e| match e {
                RunElement::NotAnObject(kind) => *kind,
                RunElement::Object(_) => "object",
            })
            .collect();
        assert_eq!(
            kinds,
            ["a string", "a number", "null", "an array", "a boolean"]
        );
    }
}
