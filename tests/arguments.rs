//! Property tests of every duration, time, number, status and boolean argument mwctl parses:
//! no value makes it panic; each is either taken, within its range, or refused with a message
//! that says how to fix it. Deploy steps take their values as text and judge them themselves
//! (a warning, never exit 2), so clap must accept any value there.
//!
//! Budget: `MW_FUZZ_CASES` cases per property (default 300; CI runs the default, a second).

mod common;

use std::time::Instant;

use chrono::{TimeDelta, Utc};
use clap::Parser;
use clap::error::ErrorKind;
use mwctl::cli::{
    Cli, Command, KeysCommand, MAX_DURATION, MAX_TIMEOUT, SendArgs, parse_any_status, parse_bool,
    parse_duration, parse_duration_secs, parse_final_status, parse_key_value, parse_time,
    parse_timeout,
};
use mwctl::protocol::validate::MAX_DURATION_SECS;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};

fn config() -> Config {
    let cases = std::env::var("MW_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(300);
    Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        ..Config::default()
    }
}

/// Any string of up to `max` characters (any Unicode scalar, control characters included).
fn any_text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..=max).prop_map(String::from_iter)
}

/// What people, pipelines and typos pass: numbers of any size and sign, with and without
/// units, timestamps with fields out of range, booleans, statuses, blanks and anything.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => any_text(24),
        2 => "-?[0-9]{1,30}",
        3 => "-?[0-9]{1,22}(ns|us|ms|s|sec|m|min|h|hr|d|days|w|M|y|years)?",
        1 => "[0-9]{1,12}(h|d) ?[0-9]{1,12}(m|s)",
        2 => "[0-9]{1,6}-[0-9]{1,2}-[0-9]{1,2}[T ][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\\.[0-9]{1,12})?(Z|[+-][0-9]{2}:?[0-9]{2})?",
        1 => "(true|false|TRUE|Yes|no|on|OFF|1|0|y|n|)",
        1 => "(success|FAILED|canceled|pending|running|0|1|137|-1|)",
        1 => "[ \t]{0,3}",
    ]
}

/// A refusal says what to do: "use e.g. 10s", "give it in seconds", "swap them"...
fn says_how(error: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        ["use ", "give ", "pass "]
            .iter()
            .any(|how| error.contains(how)),
        "no fix in {error:?}"
    );
    Ok(())
}

/// Whether clap may take `value` for a flag's value: not when it starts with `-` (then it
/// reads as a flag), except a negative number where the flag allows one.
fn looks_like_a_flag(value: &str, negative_numbers: bool) -> bool {
    value.starts_with('-') && !(negative_numbers && value[1..].parse::<f64>().is_ok())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn durations_are_in_range_or_say_how_to_fix(s in value()) {
        match parse_duration(&s) {
            Ok(d) => {
                prop_assert!(d <= MAX_DURATION);
                // What `keys create --expires` does with it.
                let delta = TimeDelta::from_std(d).expect("fits a TimeDelta");
                prop_assert!(Utc::now().checked_add_signed(delta).is_some());
            }
            Err(e) => says_how(&e)?,
        }
        match parse_timeout(&s) {
            Ok(d) => {
                prop_assert!(!d.is_zero() && d <= MAX_TIMEOUT);
                prop_assert!(Instant::now().checked_add(d).is_some());
            }
            Err(e) => says_how(&e)?,
        }
        match parse_duration_secs(&s) {
            Ok(secs) => {
                prop_assert!((0..=MAX_DURATION_SECS).contains(&secs));
                prop_assert!(parse_duration(&s).is_ok());
            }
            Err(e) => says_how(&e)?,
        }
    }

    #[test]
    fn times_read_back_or_say_how_to_fix(s in value()) {
        match parse_time(&s) {
            Ok(at) => {
                let again = parse_time(&at.to_rfc3339()).expect("reads back");
                prop_assert_eq!(again, at);
                // What deploy steps do with it.
                let _ = (Utc::now().fixed_offset() - at).num_seconds();
            }
            Err(e) => says_how(&e)?,
        }
    }

    #[test]
    fn statuses_booleans_and_meta_are_taken_or_say_how_to_fix(s in value()) {
        if let Err(e) = parse_final_status(&s) {
            says_how(&e)?;
        }
        if let Err(e) = parse_any_status(&s) {
            says_how(&e)?;
        }
        match parse_bool(&s) {
            Ok(None) => prop_assert!(s.trim().is_empty()),
            Ok(Some(_)) => {}
            Err(e) => says_how(&e)?,
        }
        match parse_key_value(&format!("k{s}")) {
            Ok((k, _)) => prop_assert!(!k.is_empty() && k == k.trim()),
            Err(e) => says_how(&e)?,
        }
        if let Err(e) = parse_key_value(&s) {
            says_how(&e)?;
        }
    }

    #[test]
    fn clap_takes_deploy_values_whatever_they_are(s in value()) {
        for (argv, negative_numbers) in [
            (vec!["deploy", "start", "--timeout", &s], true),
            (vec!["deploy", "start", "--started-at", &s], false),
            (vec!["deploy", "finish", "--duration", &s], true),
            (vec!["deploy", "finish", "--status", &s], true),
            (vec!["deploy", "record", "--status", &s, "--started-at", "2025-01-01T00:00:00Z"], true),
            (vec!["deploy", "record", "--status", "success", "--started-at", &s], false),
            (vec!["deploy", "record", "--status", "success", "--started-at", "2025-01-01T00:00:00Z", "--finished-at", &s], false),
            (vec!["deploy", "record", "--status", "success", "--started-at", "2025-01-01T00:00:00Z", "--duration", &s], true),
            (vec!["deploy", "start", "--meta", &s], false),
        ] {
            let parsed = Cli::try_parse_from(std::iter::once("mwctl").chain(argv.iter().copied()));
            match parsed {
                Ok(_) => {}
                Err(e) if looks_like_a_flag(&s, negative_numbers) => {
                    prop_assert_eq!(e.kind(), ErrorKind::UnknownArgument, "{:?}: {}", argv, e);
                }
                Err(e) => prop_assert!(false, "{:?}: {}", argv, e),
            }
        }
        let strict = format!("--strict={s}");
        prop_assert!(Cli::try_parse_from(["mwctl", "deploy", "start", &strict]).is_ok());
    }

    #[test]
    fn clap_numbers_are_in_range_or_refused_by_name(s in value()) {
        let send = |flag: &str| Cli::try_parse_from(["mwctl", "send", "f.json", flag, &s]);
        let send_args = |cli: Cli| match cli.command {
            Command::Send(args) => args,
            other => panic!("unexpected {other:?}"),
        };
        let refused = |e: clap::Error, flag: &str| -> Result<(), TestCaseError> {
            prop_assert!(
                matches!(
                    e.kind(),
                    ErrorKind::ValueValidation | ErrorKind::InvalidValue | ErrorKind::UnknownArgument
                ),
                "{flag} {s:?}: {e}"
            );
            let text = e.to_string();
            prop_assert!(text.contains(flag) || text.contains("unexpected argument"), "{flag}: {text}");
            Ok(())
        };
        match send("--batch-size") {
            Ok(cli) => {
                let SendArgs { batch_size, .. } = send_args(cli);
                prop_assert!((1..=500).contains(&batch_size));
            }
            Err(e) => refused(e, "--batch-size")?,
        }
        match send("--concurrency") {
            Ok(cli) => prop_assert!((1..=64).contains(&send_args(cli).concurrency)),
            Err(e) => refused(e, "--concurrency")?,
        }
        match send("--timeout") {
            Ok(cli) => {
                let timeout = send_args(cli).timeout;
                prop_assert!(!timeout.is_zero() && timeout <= MAX_TIMEOUT);
            }
            Err(e) => refused(e, "--timeout")?,
        }
        match Cli::try_parse_from(["mwctl", "keys", "create", "--name", "k", "--expires", &s]) {
            Ok(cli) => match cli.command {
                Command::Keys(KeysCommand::Create(args)) => {
                    prop_assert!(args.expires.is_some_and(|d| d <= MAX_DURATION));
                }
                other => panic!("unexpected {other:?}"),
            },
            Err(e) => refused(e, "--expires")?,
        }
        for command in ["runs", "events"] {
            if let Err(e) = Cli::try_parse_from(["mwctl", command, "list", "--limit", &s]) {
                refused(e, "--limit")?;
            }
        }
    }
}

#[test]
fn a_lifetime_too_long_for_the_clock_is_a_usage_error_not_a_panic() {
    let home = tempfile::tempdir().expect("tempdir");
    let out = common::mwctl_isolated(home.path())
        .args([
            "keys",
            "create",
            "--name",
            "ci",
            "--expires",
            "100000000000d",
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("\"100000000000d\" is more than 100 years; use e.g. 10s, 5m, 90d"),
        "{stderr}"
    );
}
