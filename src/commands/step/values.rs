//! The values of deploy commands that clap takes as text: parsed here, so that one that
//! cannot be used is a warning (and its default), never a usage error. They often come from
//! the environment or a pipeline expression (`MW_TIMEOUT`, `${{ job.status }}`).

use std::time::Duration;

use serde::Serialize;

use crate::cli::{DeliveryArgs, parse_bool, parse_key_value, parse_timeout};

/// `--timeout` when none (or no usable one) is given.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A value from a flag or the environment that could not be used: a warning, after which
/// the command goes on with `instead` (with `--strict`: an error, and nothing is sent).
#[derive(Clone, Debug, Serialize)]
pub(crate) struct BadValue {
    /// The flag and its variable, e.g. `--timeout / MW_TIMEOUT`.
    pub flag: &'static str,
    /// The value as given.
    pub value: String,
    /// What is wrong with it and how to fix it.
    pub error: String,
    /// What the command did instead.
    pub instead: String,
}

/// A flag's text, unless absent or blank (an unset variable in a pipeline expression).
pub(crate) fn given(raw: &Option<String>) -> Option<&str> {
    raw.as_deref().filter(|v| !v.trim().is_empty())
}

/// [`DeliveryArgs`] parsed: an unusable value is reported and replaced by its default.
#[derive(Clone, Debug)]
pub(crate) struct Delivery {
    pub timeout: Duration,
    pub strict: bool,
    pub dry_run: bool,
}

impl Delivery {
    pub fn parse(args: &DeliveryArgs, bad: &mut Vec<BadValue>) -> Delivery {
        let strict = match given(&args.strict).map(|raw| (raw, parse_bool(raw))) {
            None => false,
            Some((_, Ok(strict))) => strict.unwrap_or(false),
            Some((raw, Err(error))) => {
                // Unclear is not a request to fail the pipeline.
                bad.push(BadValue {
                    flag: "--strict / MW_STRICT",
                    value: raw.to_owned(),
                    error,
                    instead: "counted it as false: not strict".to_owned(),
                });
                false
            }
        };
        let timeout = match given(&args.timeout).map(|raw| (raw, parse_timeout(raw))) {
            None => DEFAULT_TIMEOUT,
            Some((_, Ok(timeout))) => timeout,
            Some((raw, Err(error))) => {
                bad.push(BadValue {
                    flag: "--timeout / MW_TIMEOUT",
                    value: raw.to_owned(),
                    error,
                    instead: format!("used {}", humantime::format_duration(DEFAULT_TIMEOUT)),
                });
                DEFAULT_TIMEOUT
            }
        };
        Delivery {
            timeout,
            strict,
            dry_run: args.dry_run,
        }
    }
}

/// `--meta KEY=VALUE` entries; a malformed one is left out, with a warning.
pub(crate) fn parse_meta(raw: &[String], bad: &mut Vec<BadValue>) -> Vec<(String, String)> {
    raw.iter()
        // `--meta $UNSET`: not given.
        .filter(|entry| !entry.trim().is_empty())
        .filter_map(|entry| match parse_key_value(entry) {
            Ok(pair) => Some(pair),
            Err(error) => {
                bad.push(BadValue {
                    flag: "--meta",
                    value: entry.clone(),
                    error,
                    instead: "left it out".to_owned(),
                });
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(timeout: Option<&str>, strict: Option<&str>) -> (Delivery, Vec<BadValue>) {
        let args = DeliveryArgs {
            timeout: timeout.map(str::to_owned),
            strict: strict.map(str::to_owned),
            dry_run: false,
        };
        let mut bad = Vec::new();
        (Delivery::parse(&args, &mut bad), bad)
    }

    #[test]
    fn bad_values_fall_back_to_their_defaults() {
        let (d, bad) = delivery(Some("soon"), Some("maybe"));
        assert_eq!((d.timeout, d.strict), (DEFAULT_TIMEOUT, false));
        let flags: Vec<&str> = bad.iter().map(|b| b.flag).collect();
        assert_eq!(flags, ["--strict / MW_STRICT", "--timeout / MW_TIMEOUT"]);

        let (d, bad) = delivery(Some(" "), Some(""));
        assert_eq!((d.timeout, d.strict), (DEFAULT_TIMEOUT, false));
        assert!(bad.is_empty(), "blank is unset, not bad");

        let (d, bad) = delivery(Some("2s"), Some("ON"));
        assert_eq!((d.timeout, d.strict), (Duration::from_secs(2), true));
        assert!(bad.is_empty());
    }

    #[test]
    fn meta_skips_blanks_and_reports_the_malformed() {
        let mut bad = Vec::new();
        let raw = ["env=prod", "", "novalue", "=x", "a=b=c"].map(str::to_owned);
        let meta = parse_meta(&raw, &mut bad);
        assert_eq!(
            meta,
            [("env".into(), "prod".into()), ("a".into(), "b=c".into())]
        );
        let values: Vec<&str> = bad.iter().map(|b| b.value.as_str()).collect();
        assert_eq!(values, ["novalue", "=x"]);
    }
}
