//! The run model: what a client may send (`RawRun`, lenient) and what validation yields (`Run`).

use std::fmt;
use std::marker::PhantomData;
use std::sync::LazyLock;

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, FixedOffset};
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
    // The formats parsed once, not per call: every run's time goes through here twice (validated,
    // then sent or stored), and parsing the format string cost more than formatting.
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
