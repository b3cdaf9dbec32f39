//! Recognising an input's format from its first bytes: the first character, the top-level keys
//! and the keys of the first record are enough to tell the formats apart.

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
/// Keys of a GitLab pipeline object.
const GITLAB_KEYS: &[&str] = &["web_url", "iid", "project_id", "sha", "ref"];

/// What the first bytes show.
#[derive(Debug, Default)]
struct Shape {
    first: Option<u8>,
    /// Keys of the top-level object (when it is one).
    top_keys: Vec<String>,
    /// Keys of the first record: the first element of the array or of `workflow_runs`.
    record_keys: Vec<String>,
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
        let _ = Top {
            top_keys: &mut shape.top_keys,
            record_keys: &mut shape.record_keys,
        }
        .deserialize(&mut de);
        shape
    }

    fn top_has(&self, key: &str) -> bool {
        self.top_keys.iter().any(|k| k == key)
    }

    /// The format a record with these keys belongs to, if the keys say.
    fn mapping_of(keys: &[String]) -> Option<Format> {
        let any = |set: &[&str]| keys.iter().any(|k| set.contains(&k.as_str()));
        if any(NATIVE_KEYS) {
            None
        } else if any(GITHUB_KEYS) {
            Some(Format::Github)
        } else if any(GITLAB_KEYS) {
            Some(Format::Gitlab)
        } else {
            None
        }
    }
}

/// The format (detected unless `forced`) and how records are laid out in the input.
pub(crate) fn detect(
    prefix: &[u8],
    forced: Option<Format>,
    name: &str,
) -> Result<(Format, Container), InputError> {
    let shape = Shape::of(prefix);
    let expected = "expected a JSON array of runs, {\"workflow_runs\": [...]}, NDJSON (one run per line), or a GitHub Actions / GitLab export";
    let wrapped = shape.top_has("workflow_runs") || shape.top_has("total_count");
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
    if let Some(format) = forced {
        let container = match format {
            Format::Json => Container::Json,
            Format::Ndjson => Container::Lines,
            Format::Github | Format::Gitlab if object && !wrapped => Container::Lines,
            Format::Github | Format::Gitlab => Container::Json,
        };
        return Ok((format, container));
    }
    let detected = if !object {
        (
            Shape::mapping_of(&shape.record_keys).unwrap_or(Format::Json),
            Container::Json,
        )
    } else if shape.top_has("total_count") {
        (Format::Github, Container::Json)
    } else if wrapped {
        (
            Shape::mapping_of(&shape.record_keys).unwrap_or(Format::Json),
            Container::Json,
        )
    } else if NATIVE_KEYS.iter().any(|k| shape.top_has(k)) {
        (Format::Ndjson, Container::Lines)
    } else if let Some(format) = Shape::mapping_of(&shape.top_keys) {
        (format, Container::Lines)
    } else {
        // An object that is neither a run nor a wrapper: reading it says what is missing.
        (Format::Json, Container::Json)
    };
    Ok(detected)
}

/// The top-level value: records the keys of an object, and of the first record.
struct Top<'a> {
    top_keys: &'a mut Vec<String>,
    record_keys: &'a mut Vec<String>,
}

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

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        FirstRecord(self.record_keys).visit_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            let runs = key == "workflow_runs";
            self.top_keys.push(key);
            if runs {
                map.next_value_seed(FirstRecord(&mut *self.record_keys))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// An array: the keys of its first element, then stop.
struct FirstRecord<'a>(&'a mut Vec<String>);

impl<'de> DeserializeSeed<'de> for FirstRecord<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FirstRecord<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        seq.next_element_seed(Keys(self.0))?;
        // Enough seen: the rest of the input is not needed.
        Err(de::Error::custom("detection done"))
    }
}

/// An object: its keys, values skipped.
struct Keys<'a>(&'a mut Vec<String>);

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
        while let Some(key) = map.next_key::<String>()? {
            self.0.push(key);
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }

    // Not an object: no keys.
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
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
