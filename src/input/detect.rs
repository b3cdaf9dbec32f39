//! Recognising an input's format from its first bytes, by its records: the keys of the first
//! few runs tell our runs, GitHub Actions runs and GitLab pipelines (or jobs) apart, whatever
//! wraps them (`{"total_count", "workflow_runs"}` pages hold our runs as well as GitHub's).
//! The layout comes from the first characters: an array of records, wrapper objects, an array
//! of pages (`gh api --paginate --slurp`), or one record per line.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{Container, Format, InputError};

/// Keys only our runs have.
const NATIVE_KEYS: &[&str] = &[
    "workflow_name",
    "workflow_run_unique_id",
    "workflow_run_conducted_at",
    "event_actor",
    "repo_urls",
    "repo_names",
];
/// Keys of a GitHub Actions workflow run object.
const GITHUB_KEYS: &[&str] = &[
    "run_started_at",
    "head_sha",
    "run_number",
    "run_attempt",
    "workflow_id",
    "conclusion",
];
/// Keys of a GitLab pipeline (or job) object.
const GITLAB_KEYS: &[&str] = &["web_url", "iid", "project_id", "sha", "ref"];
/// Keys of a PagerDuty incident (which has an `incident_key` too: it is looked at first).
const PAGERDUTY_KEYS: &[&str] = &[
    "incident_number",
    "last_status_change_at",
    "escalation_policy",
    "urgency",
];
/// Keys of an Opsgenie alert.
const OPSGENIE_KEYS: &[&str] = &["tinyId", "createdAt", "isSeen", "lastOccurredAt"];
/// Keys only our incidents have (they share `repo_urls` with runs: looked at before runs).
const INCIDENT_KEYS: &[&str] = &["incident_key", "creation_date", "resolved_date"];

/// The keys of the objects whose array holds the records: our runs and GitHub's pages
/// (`workflow_runs`), our incidents and PagerDuty's pages (`incidents`), Opsgenie's pages
/// (`data`).
pub(crate) const WRAPPER_KEYS: &[&str] = &["workflow_runs", "incidents", "data"];

fn is_wrapper(key: &str) -> bool {
    WRAPPER_KEYS.contains(&key)
}

/// Records looked at: the first that says what it is decides.
const PROBED_RECORDS: usize = 8;

/// What the first bytes show.
#[derive(Debug, Default)]
struct Shape {
    first: Option<u8>,
    /// Keys of the top-level object (when it is one).
    top_keys: Vec<String>,
    /// A top-level array holds pages (`{"workflow_runs": [...]}` objects or arrays of records),
    /// not records.
    pages: bool,
    /// Keys of the first records (empty for a record that is not an object).
    records: Vec<Vec<String>>,
}

impl Shape {
    fn of(prefix: &[u8]) -> Shape {
        let mut shape = Shape {
            first: prefix.iter().copied().find(|b| !b.is_ascii_whitespace()),
            ..Shape::default()
        };
        // The prefix is usually cut mid-value: the error at its end is expected, and what was
        // seen until then is all detection needs.
        let mut de = serde_json::Deserializer::from_slice(prefix);
        let top = Top(&mut shape).deserialize(&mut de);
        if top.is_ok() && shape.first == Some(b'{') && !shape.wrapped() {
            // Perhaps one record per line: the next lines say too (the first may be odd).
            shape.records.push(shape.top_keys.clone());
            while shape.records.len() < PROBED_RECORDS {
                shape.records.push(Vec::new());
                let Some(keys) = shape.records.last_mut() else {
                    break;
                };
                if Keys(keys, None).deserialize(&mut de).is_err() {
                    break;
                }
            }
        }
        shape
    }

    fn top_has(&self, key: &str) -> bool {
        self.top_keys.iter().any(|k| k == key)
    }

    /// A wrapper object (`{"workflow_runs": [...]}`, a page of an export), not a record.
    fn wrapped(&self) -> bool {
        self.top_keys.iter().any(|k| is_wrapper(k)) || self.top_has("total_count")
    }

    /// The format of the first record that says.
    fn records_format(&self) -> Option<Format> {
        self.records.iter().find_map(|keys| classify(keys))
    }
}

/// What a record with these keys is: one of our runs (`Json`), a GitHub run or a GitLab
/// pipeline; `None` when the keys do not say.
fn classify(keys: &[String]) -> Option<Format> {
    let any = |set: &[&str]| keys.iter().any(|k| set.contains(&k.as_str()));
    if any(PAGERDUTY_KEYS) {
        Some(Format::Pagerduty)
    } else if any(OPSGENIE_KEYS) {
        Some(Format::Opsgenie)
    } else if any(INCIDENT_KEYS) {
        Some(Format::Incidents)
    } else if any(NATIVE_KEYS) {
        Some(Format::Json)
    } else if any(GITHUB_KEYS) {
        Some(Format::Github)
    } else if any(GITLAB_KEYS) {
        Some(Format::Gitlab)
    } else {
        None
    }
}

/// The format (detected unless `forced`) and how records are laid out in the input.
pub(crate) fn detect(
    prefix: &[u8],
    forced: Option<Format>,
    name: &str,
) -> Result<(Format, Container), InputError> {
    let shape = Shape::of(prefix);
    let expected = "expected a JSON array of runs or incidents, {\"workflow_runs\": [...]}, {\"incidents\": [...]}, NDJSON (one per line), or a GitHub Actions / GitLab / PagerDuty / Opsgenie export";
    match shape.first {
        None => {
            return Err(InputError::new(
                format!("{name} is empty"),
                format!("{expected}; check that the export wrote something"),
            ));
        }
        Some(b'[' | b'{') => {}
        Some(other) => {
            let what = if other.is_ascii_graphic() {
                format!(
                    "{name} does not start with [ or {{ (it starts with {:?})",
                    other as char
                )
            } else {
                format!("{name} does not start with [ or {{ (it is not JSON text)")
            };
            return Err(InputError::new(what, expected));
        }
    }
    let object = shape.first == Some(b'{');
    // A top-level object that is not a wrapper is a record: one per line.
    let record_per_line = object && !shape.wrapped() && shape.records_format().is_some();
    let layout = if !object && shape.pages {
        Container::Pages
    } else {
        Container::Json
    };
    if let Some(format) = forced {
        let container = match format {
            Format::Ndjson => Container::Lines,
            Format::Json => layout,
            Format::Github
            | Format::Gitlab
            | Format::Incidents
            | Format::Pagerduty
            | Format::Opsgenie
                if object && !shape.wrapped() =>
            {
                Container::Lines
            }
            Format::Github
            | Format::Gitlab
            | Format::Incidents
            | Format::Pagerduty
            | Format::Opsgenie => layout,
        };
        return Ok((format, container));
    }
    let detected = if record_per_line {
        match shape.records_format() {
            Some(Format::Json) | None => (Format::Ndjson, Container::Lines),
            Some(export) => (export, Container::Lines),
        }
    } else {
        let format = shape
            .records_format()
            .unwrap_or(if shape.top_has("total_count") {
                // Pages with no runs in sight: what `gh api …/actions/runs` prints.
                Format::Github
            } else {
                // Reading says what is missing, if anything.
                Format::Json
            });
        (format, layout)
    };
    Ok(detected)
}

/// Detection has seen enough: the rest of the input is not needed.
fn done<E: de::Error>() -> E {
    de::Error::custom("detection done")
}

/// The top-level value: the keys of an object (and its records), or an array's records (or
/// pages).
struct Top<'a>(&'a mut Shape);

impl<'de> DeserializeSeed<'de> for Top<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array or an object")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let shape = self.0;
        match seq.next_element_seed(FirstElement(&mut *shape))? {
            // A record: the next ones too.
            Some(true) => Records(&mut shape.records).visit_seq(seq),
            _ => Ok(()),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let shape = self.0;
        while let Some(key) = map.next_key::<String>()? {
            let runs = is_wrapper(&key);
            shape.top_keys.push(key);
            if runs {
                map.next_value_seed(Records(&mut shape.records))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// The first element of a top-level array: a record (true; its keys are in `shape.records`),
/// or a page, whose records it reads (false; `shape.pages` is set).
struct FirstElement<'a>(&'a mut Shape);

impl<'de> DeserializeSeed<'de> for FirstElement<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FirstElement<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a record or a page")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let shape = self.0;
        // Filled as keys come, so that a record cut by the end of the prefix still counts.
        shape.records.push(Vec::new());
        while let Some(key) = map.next_key::<String>()? {
            if key == "workflow_runs" || key == "total_count" {
                // `gh api --paginate --slurp`: an array of pages.
                shape.pages = true;
            }
            if key == "workflow_runs" {
                shape.records.pop();
                map.next_value_seed(Records(&mut shape.records))?;
                return Err(done());
            }
            if let Some(keys) = shape.records.last_mut() {
                keys.push(key);
            }
            map.next_value::<IgnoredAny>()?;
        }
        if shape.pages {
            shape.records.pop();
        }
        Ok(!shape.pages)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        // An array of arrays of records (pages), when it starts with a record object; any
        // other array is a record that is not a run (reading reports it).
        let shape = self.0;
        shape.records.push(Vec::new());
        if let Some(keys) = shape.records.last_mut() {
            // Sets `pages` as soon as it sees an object (the prefix may end inside it), and
            // takes it back unless the object is a record of a known kind.
            seq.next_element_seed(Keys(keys, Some(&mut shape.pages)))?;
            shape.pages &= classify(keys).is_some();
        }
        if !shape.pages {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(true);
        }
        Records(&mut shape.records).visit_seq(seq)?;
        Ok(false)
    }

    // Not an object: a record without keys (reading reports it).
    fn visit_str<E: de::Error>(self, _: &str) -> Result<bool, E> {
        Ok(self.record())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<bool, E> {
        Ok(self.record())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<bool, E> {
        Ok(self.record())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<bool, E> {
        Ok(self.record())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<bool, E> {
        Ok(self.record())
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(self.record())
    }
}

impl FirstElement<'_> {
    fn record(self) -> bool {
        self.0.records.push(Vec::new());
        true
    }
}

/// An array of records: the keys of the first few, then stop.
struct Records<'a>(&'a mut Vec<Vec<String>>);

impl<'de> DeserializeSeed<'de> for Records<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Records<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while self.0.len() < PROBED_RECORDS {
            // Filled as keys come, so that a record cut by the end of the prefix still counts.
            self.0.push(Vec::new());
            let Some(keys) = self.0.last_mut() else {
                return Ok(());
            };
            if seq.next_element_seed(Keys(keys, None))?.is_none() {
                self.0.pop();
                return Ok(());
            }
        }
        Err(done())
    }
}

/// An object: its keys, values skipped (and, if given a flag, that it was an object).
struct Keys<'a>(&'a mut Vec<String>, Option<&'a mut bool>);

impl<'de> DeserializeSeed<'de> for Keys<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Keys<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if let Some(object) = self.1 {
            *object = true;
        }
        while let Some(key) = map.next_key::<String>()? {
            self.0.push(key);
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }

    // Not an object: no keys.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auto(text: &str) -> (Format, Container) {
        detect(text.as_bytes(), None, "f").expect("detected")
    }

    #[test]
    fn our_formats() {
        let run = r#"{"workflow_name":"d","status":"SUCCESS"}"#;
        assert_eq!(auto(&format!("[{run}]")), (Format::Json, Container::Json));
        assert_eq!(auto("[]"), (Format::Json, Container::Json));
        assert_eq!(
            auto(&format!(" {{\"x\": 1, \"workflow_runs\": [{run}]}}")),
            (Format::Json, Container::Json)
        );
        assert_eq!(
            auto(&format!("{run}\n{run}\n")),
            (Format::Ndjson, Container::Lines)
        );
        // Cut mid-record, as a 64 KiB prefix of a big file is.
        assert_eq!(
            auto(r#"[{"workflow_name":"d","sta"#),
            (Format::Json, Container::Json)
        );
    }

    #[test]
    fn exports() {
        let gh = r#"{"id":1,"name":"ci","head_sha":"abc","run_started_at":"2024-01-01T00:00:00Z"}"#;
        assert_eq!(
            auto(&format!(
                "{{\"total_count\":2,\"workflow_runs\":[{gh}]}}{{\"total_count\":2,\"workflow_runs\":[{gh}]}}"
            )),
            (Format::Github, Container::Json)
        );
        assert_eq!(
            auto(&format!("{{\"workflow_runs\":[{gh}]}}")),
            (Format::Github, Container::Json)
        );
        assert_eq!(
            auto(&format!("{gh}\n{gh}")),
            (Format::Github, Container::Lines)
        );
        let gl = r#"{"id":1,"iid":2,"project_id":3,"sha":"abc","ref":"main","status":"success","web_url":"https://gitlab.com/a/b/-/pipelines/1"}"#;
        assert_eq!(auto(&format!("[{gl}]")), (Format::Gitlab, Container::Json));
    }

    #[test]
    fn records_decide_not_the_keys_around_them() {
        let run =
            r#"{"workflow_name":"d","repo_urls":["https://github.com/a/b"],"status":"SUCCESS"}"#;
        let gh = r#"{"id":1,"name":"ci","head_sha":"abc","run_started_at":"2024-01-01T00:00:00Z"}"#;
        // Our runs in GitHub's page wrapper.
        assert_eq!(
            auto(&format!(
                "{{\"total_count\": 3, \"workflow_runs\": [{run}]}}"
            )),
            (Format::Json, Container::Json)
        );
        // `gh api --paginate --slurp`: an array of pages.
        assert_eq!(
            auto(&format!(
                "[{{\"total_count\":2,\"workflow_runs\":[{gh}]}},{{\"total_count\":2,\"workflow_runs\":[{gh}]}}]"
            )),
            (Format::Github, Container::Pages)
        );
        assert_eq!(
            auto(&format!(
                "[{{\"total_count\":1,\"workflow_runs\":[{run}]}}]"
            )),
            (Format::Json, Container::Pages)
        );
        // Arrays of arrays (a slurp of an endpoint that lists arrays).
        let gl = r#"{"id":1,"iid":2,"project_id":3,"sha":"abc","ref":"main","status":"success"}"#;
        assert_eq!(
            auto(&format!("[[{gl}],[{gl}]]")),
            (Format::Gitlab, Container::Pages)
        );
        // ... but an array that starts with another array is records, not pages.
        assert_eq!(
            auto(&format!("[[], {run}]")),
            (Format::Json, Container::Json)
        );
        assert_eq!(auto("[[1, 2], 3]"), (Format::Json, Container::Json));
        assert_eq!(
            auto(&format!("[[{{}}], {run}]")),
            (Format::Json, Container::Json)
        );
        // A first record that says nothing: the next ones decide.
        assert_eq!(
            auto(&format!("[{{}}, 3, {gh}]")),
            (Format::Github, Container::Json)
        );
        // One record per line whose first line says nothing: the next lines decide.
        assert_eq!(
            auto(&format!("{{\"note\": 1}}\n{gh}\n{gh}\n")),
            (Format::Github, Container::Lines)
        );
        assert_eq!(
            auto(&format!("{{}}\n{run}\n")),
            (Format::Ndjson, Container::Lines)
        );
        // Empty pages of an export: GitHub's wrapper.
        assert_eq!(
            auto("{\"total_count\": 0, \"workflow_runs\": []}"),
            (Format::Github, Container::Json)
        );
    }

    #[test]
    fn forced_formats_pick_the_layout() {
        let gl = r#"{"id":1,"sha":"abc"}"#;
        let forced = |text: &str, f| detect(text.as_bytes(), Some(f), "f").expect("ok");
        assert_eq!(
            forced(&format!("[{gl}]"), Format::Gitlab).1,
            Container::Json
        );
        assert_eq!(
            forced(&format!("{gl}\n"), Format::Gitlab).1,
            Container::Lines
        );
        assert_eq!(forced("[1]", Format::Ndjson).1, Container::Lines);
    }

    #[test]
    fn not_json() {
        for (text, says) in [
            ("", "is empty"),
            ("  \n ", "is empty"),
            ("id,name\n1,x", "starts with 'i'"),
            ("\u{1}\u{2}", "not JSON text"),
        ] {
            let err = detect(text.as_bytes(), None, "f").expect_err("refused");
            assert!(err.what.contains(says), "{text:?}: {}", err.what);
        }
    }
}
