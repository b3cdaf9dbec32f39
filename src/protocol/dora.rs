//! Wire types of the DORA figures (`GET /api/dora`), computed by the server and read by
//! `mwctl dora`. Every figure comes with the counts it was computed from; docs/dora.md explains
//! each with a worked example.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// The forms [`parse_when`] takes, for resolutions.
pub const WHEN_FORMS: &str = "an RFC 3339 time (2025-03-01T00:00:00Z), a date (2025-03-01, midnight UTC) or an age (90d, 12h)";

/// A point in time as the DORA range (`from`, `to`) and list filters (`since`) take it: RFC
/// 3339, a date (midnight UTC), or an age before `now` (`90d`, `12h`, `2w`).
pub fn parse_when(raw: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let t = raw.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(t) {
        return Ok(at.to_utc());
    }
    if let Ok(date) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok(date.and_time(NaiveTime::MIN).and_utc());
    }
    let starts_like_an_age = t.chars().next().is_some_and(|c| c.is_ascii_digit());
    if starts_like_an_age && !t.contains(['-', ':']) {
        let age = crate::cli::parse_duration(t)?;
        return TimeDelta::from_std(age)
            .ok()
            .and_then(|age| now.checked_sub_signed(age))
            .ok_or_else(|| format!("{raw:?} reaches before the dates this server handles"));
    }
    Err(format!("{raw:?} is not a time; give {WHEN_FORMS}"))
}

/// How the range is cut: calendar days, ISO weeks (Monday to Sunday) or calendar months, in UTC.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    Day,
    #[default]
    Week,
    Month,
}

impl Interval {
    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Day => "day",
            Interval::Week => "week",
            Interval::Month => "month",
        }
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Interval {
    type Err = String;
    fn from_str(s: &str) -> Result<Interval, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "day" => Ok(Interval::Day),
            "week" => Ok(Interval::Week),
            "month" => Ok(Interval::Month),
            _ => Err(format!("unknown interval {s:?}; use day, week or month")),
        }
    }
}

/// `GET /api/dora`: the figures over `[from, to)`, in total and per interval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DoraReport {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub interval: Interval,
    /// The repository filter as given (any form `runs list --repo` takes), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    pub total: DoraFigures,
    /// In time order; the first and last may be cut by `from` and `to`.
    pub intervals: Vec<DoraInterval>,
    pub lead_time_for_changes: NotAvailable,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DoraInterval {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    #[serde(flatten)]
    pub figures: DoraFigures,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DoraFigures {
    pub deployment_frequency: DeploymentFrequency,
    pub change_failure_rate: ChangeFailureRate,
    pub time_to_restore: TimeToRestore,
    pub deployment_duration: DeploymentDuration,
}

/// Deployments whose final status is SUCCESS, started in the span.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DeploymentFrequency {
    pub deployments: u64,
    /// The span's length in days (fractional when cut by `from` or `to`).
    pub days: f64,
    /// `deployments / days`; none for an empty span.
    pub per_day: Option<f64>,
}

/// Deployments to which at least one incident is attributed, over deployments.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChangeFailureRate {
    pub deployments: u64,
    pub failed_deployments: u64,
    /// `failed_deployments / deployments`; none without deployments.
    pub rate: Option<f64>,
    /// Incidents (type INCIDENT) created in the span.
    pub incidents: u64,
    /// Of those, the ones no deployment could be attributed to (e.g. before any deployment).
    pub unattributed_incidents: u64,
}

/// `resolved_date - creation_date` over the resolved incidents created in the span.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TimeToRestore {
    pub resolved: u64,
    /// Incidents created in the span and not resolved: not in the mean or median.
    pub open: u64,
    pub mean_seconds: Option<f64>,
    pub median_seconds: Option<f64>,
}

/// Over the span's deployments that report a duration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DeploymentDuration {
    pub deployments: u64,
    /// Deployments without a duration: not in the figures.
    pub without_duration: u64,
    pub median_seconds: Option<f64>,
    /// Nearest rank: the smallest duration that at least 90% of durations do not exceed.
    pub p90_seconds: Option<i64>,
}

/// A figure the stored data cannot give, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NotAvailable {
    pub available: bool,
    pub reason: String,
}

impl NotAvailable {
    /// Lead time for changes: from a change's first commit to its deployment.
    pub fn lead_time() -> NotAvailable {
        NotAvailable {
            available: false,
            reason: "lead time for changes needs pull-request data (first commit, merge), which deployment webhooks do not carry; no stand-in figure is given".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_dates_or_ages() {
        let now = DateTime::parse_from_rfc3339("2025-03-10T12:00:00Z")
            .expect("valid")
            .to_utc();
        let at = |s: &str| parse_when(s, now);
        assert_eq!(
            at("2025-03-01T10:00:00+02:00").map(|t| t.to_rfc3339()),
            Ok("2025-03-01T08:00:00+00:00".to_owned())
        );
        assert_eq!(
            at("2025-03-01").map(|t| t.to_rfc3339()),
            Ok("2025-03-01T00:00:00+00:00".to_owned())
        );
        assert_eq!(
            at("90d").map(|t| t.to_rfc3339()),
            Ok("2024-12-10T12:00:00+00:00".to_owned())
        );
        assert_eq!(
            at(" 12h ").map(|t| t.to_rfc3339()),
            Ok("2025-03-10T00:00:00+00:00".to_owned())
        );
        for bad in ["yesterday", "2025-13-01", "", "-5d", "90x"] {
            let err = at(bad).expect_err(bad);
            assert!(!err.is_empty(), "{bad}: {err}");
        }
        let err = at("yesterday").expect_err("not a time");
        assert!(err.contains("RFC 3339"), "{err}");
    }

    #[test]
    fn intervals_parse_in_any_case() {
        assert_eq!("Week".parse::<Interval>(), Ok(Interval::Week));
        assert_eq!(" month ".parse::<Interval>(), Ok(Interval::Month));
        let err = "fortnight".parse::<Interval>().expect_err("unknown");
        assert!(err.contains("day, week or month"), "{err}");
    }
}
