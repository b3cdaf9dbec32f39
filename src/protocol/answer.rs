//! Ingest answers: what our server returns, and how a client reads ours or upstream Middleware's.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a request was rejected. Serialised as the protocol's `exception_type` string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExceptionType {
    /// Malformed JSON, wrong shape, invalid runs, too many runs.
    InvalidPayload,
    /// Missing, unknown, expired or revoked API key.
    Unauthorized,
    /// A valid key without the scope the endpoint needs.
    Forbidden,
    /// The body is over the server's size limit.
    PayloadTooLarge,
    /// A run names no repository linked on the server.
    UnknownRepo,
    /// A `webhook-signature` that does not verify, or a timestamp outside the window.
    InvalidSignature,
    /// The body is not JSON (wrong `Content-Type` or `Content-Encoding`).
    UnsupportedMediaType,
    /// The server could not store the request; retry later.
    ServerError,
    /// A `webhook-id` this key already used for a different body.
    WebhookIdReused,
}

impl ExceptionType {
    pub fn as_str(self) -> &'static str {
        match self {
            ExceptionType::InvalidPayload => "InvalidPayload",
            ExceptionType::Unauthorized => "Unauthorized",
            ExceptionType::Forbidden => "Forbidden",
            ExceptionType::PayloadTooLarge => "PayloadTooLarge",
            ExceptionType::UnknownRepo => "UnknownRepo",
            ExceptionType::InvalidSignature => "InvalidSignature",
            ExceptionType::UnsupportedMediaType => "UnsupportedMediaType",
            ExceptionType::ServerError => "ServerError",
            ExceptionType::WebhookIdReused => "WebhookIdReused",
        }
    }
}

impl fmt::Display for ExceptionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem with one run of a batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// Position of the run in `workflow_runs` (0-based).
    pub index: usize,
    pub field: String,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "run {}: {}: {}", self.index, self.field, self.message)
    }
}

/// Everything a rejection says, before the server attaches an event id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub error: String,
    pub resolution: String,
    pub exception_type: ExceptionType,
    #[serde(default)]
    pub errors: Vec<FieldError>,
}

impl Rejection {
    pub fn new(
        exception_type: ExceptionType,
        error: impl Into<String>,
        resolution: impl Into<String>,
    ) -> Rejection {
        Rejection {
            error: error.into(),
            resolution: resolution.into(),
            exception_type,
            errors: Vec::new(),
        }
    }
}

/// The server's answer to an ingest request (always sent with HTTP 200).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Answer {
    Accepted {
        event_id: String,
        accepted: usize,
        message: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        duplicate: bool,
    },
    Rejected {
        event_id: Option<String>,
        #[serde(flatten)]
        rejection: Rejection,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        duplicate: bool,
    },
}

impl Answer {
    pub fn accepted(event_id: impl Into<String>, accepted: usize) -> Answer {
        Answer::accepted_items(event_id, accepted, ("run", "runs"))
    }

    /// The answer to an accepted incidents request (its message counts incidents).
    pub fn accepted_incidents(event_id: impl Into<String>, accepted: usize) -> Answer {
        Answer::accepted_items(event_id, accepted, ("incident", "incidents"))
    }

    /// `nouns`: the item's name in the singular and the plural, for the message.
    fn accepted_items(
        event_id: impl Into<String>,
        accepted: usize,
        (one, many): (&str, &str),
    ) -> Answer {
        let noun = if accepted == 1 { one } else { many };
        Answer::Accepted {
            event_id: event_id.into(),
            accepted,
            message: format!("{accepted} {noun} accepted; processing asynchronously"),
            duplicate: false,
        }
    }

    pub fn rejected(event_id: Option<String>, rejection: Rejection) -> Answer {
        Answer::Rejected {
            event_id,
            rejection,
            duplicate: false,
        }
    }

    pub fn event_id(&self) -> Option<&str> {
        match self {
            Answer::Accepted { event_id, .. } => Some(event_id),
            Answer::Rejected { event_id, .. } => event_id.as_deref(),
        }
    }

    /// The same answer, marked as the reply to a repeated `webhook-id`.
    pub fn into_duplicate(mut self) -> Answer {
        match &mut self {
            Answer::Accepted { duplicate, .. } | Answer::Rejected { duplicate, .. } => {
                *duplicate = true
            }
        }
        self
    }
}

/// An ingest answer as a client reads it, from our server or from upstream Middleware
/// (`{"message","job_id"}` when accepted; `{"error","resolution","exception_type"}` when not).
///
/// Upstream's `job_id` names a job in its task queue, not an event anyone can look up or
/// prune: it is kept apart, never taken for an `event_id`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Receipt {
    Accepted {
        event_id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        job_id: Option<String>,
        accepted: Option<usize>,
        message: Option<String>,
        duplicate: bool,
    },
    Rejected {
        event_id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        job_id: Option<String>,
        error: String,
        resolution: Option<String>,
        exception_type: Option<String>,
        errors: Vec<FieldError>,
        duplicate: bool,
    },
}

#[derive(Deserialize)]
struct AnyAnswer {
    status: Option<String>,
    event_id: Option<String>,
    job_id: Option<serde_json::Value>,
    accepted: Option<usize>,
    message: Option<String>,
    error: Option<String>,
    resolution: Option<String>,
    exception_type: Option<String>,
    #[serde(default)]
    errors: Vec<FieldError>,
    #[serde(default)]
    duplicate: bool,
}

impl Receipt {
    /// Reads an ingest answer body. `None` when it is not a JSON object of either shape
    /// (a proxy's HTML error page, say), which the caller treats as a server fault.
    pub fn parse(body: &[u8]) -> Option<Receipt> {
        let any: AnyAnswer = serde_json::from_slice(body).ok()?;
        let event_id = any.event_id;
        let job_id = any.job_id.map(|id| match id {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        });
        let rejected = any.error.is_some() || any.status.as_deref() == Some("rejected");
        if rejected {
            Some(Receipt::Rejected {
                event_id,
                job_id,
                error: any
                    .error
                    .or(any.message)
                    .unwrap_or_else(|| "rejected without a reason".to_owned()),
                resolution: any.resolution,
                exception_type: any.exception_type,
                errors: any.errors,
                duplicate: any.duplicate,
            })
        } else if any.status.as_deref().is_none_or(|s| s == "accepted")
            && (any.message.is_some()
                || event_id.is_some()
                || job_id.is_some()
                || any.accepted.is_some())
        {
            Some(Receipt::Accepted {
                event_id,
                job_id,
                accepted: any.accepted,
                message: any.message,
                duplicate: any.duplicate,
            })
        } else {
            None
        }
    }

    pub fn event_id(&self) -> Option<&str> {
        match self {
            Receipt::Accepted { event_id, .. } | Receipt::Rejected { event_id, .. } => {
                event_id.as_deref()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_incidents_are_counted_as_incidents() {
        let Answer::Accepted { message, .. } = Answer::accepted_incidents("evt_1", 2) else {
            panic!("accepted");
        };
        assert_eq!(message, "2 incidents accepted; processing asynchronously");
        let Answer::Accepted { message, .. } = Answer::accepted_incidents("evt_1", 1) else {
            panic!("accepted");
        };
        assert!(message.starts_with("1 incident accepted"), "{message}");
    }

    #[test]
    fn accepted_wire_shape() {
        let json = serde_json::to_value(Answer::accepted("evt_1", 3)).expect("serialises");
        assert_eq!(json["status"], "accepted");
        assert_eq!(json["event_id"], "evt_1");
        assert_eq!(json["accepted"], 3);
        assert!(json.get("duplicate").is_none());
    }

    #[test]
    fn rejected_wire_shape() {
        let mut rejection = Rejection::new(ExceptionType::InvalidPayload, "bad", "fix it");
        rejection.errors.push(FieldError {
            index: 3,
            field: "status".into(),
            message: "m".into(),
        });
        let json =
            serde_json::to_value(Answer::rejected(None, rejection).into_duplicate()).expect("ok");
        assert_eq!(json["status"], "rejected");
        assert_eq!(json["event_id"], serde_json::Value::Null);
        assert_eq!(json["exception_type"], "InvalidPayload");
        assert_eq!(json["errors"][0]["index"], 3);
        assert_eq!(json["duplicate"], true);
    }

    #[test]
    fn reads_our_answers() {
        let body = serde_json::to_vec(&Answer::accepted("evt_9", 2)).expect("ok");
        assert!(matches!(
            Receipt::parse(&body),
            Some(Receipt::Accepted { event_id: Some(id), accepted: Some(2), .. }) if id == "evt_9"
        ));
    }

    #[test]
    fn reads_upstream_answers() {
        let ok = br#"{"message":"Job enqueued successfully","job_id":4127}"#;
        let receipt = Receipt::parse(ok);
        assert!(matches!(
            &receipt,
            Some(Receipt::Accepted { event_id: None, job_id: Some(job), .. }) if job == "4127"
        ));
        assert_eq!(receipt.and_then(|r| r.event_id().map(str::to_owned)), None);
        let err = br#"{"error":"Invalid API key","resolution":"Check the key","exception_type":"Unauthorized"}"#;
        assert!(matches!(
            Receipt::parse(err),
            Some(Receipt::Rejected { exception_type: Some(t), resolution: Some(_), .. }) if t == "Unauthorized"
        ));
    }

    #[test]
    fn unreadable_answers() {
        assert_eq!(Receipt::parse(b"<html>502</html>"), None);
        assert_eq!(Receipt::parse(b"{}"), None);
        assert_eq!(Receipt::parse(b"[1]"), None);
    }
}
