//! The wire protocol, shared by mwctl and the companion server: the run model, validation,
//! answers, repository references and request signing.

pub mod admin;
pub mod answer;
pub mod dora;
pub mod gzip;
pub mod incident;
pub mod repo;
pub mod repo_filter;
pub mod run;
pub mod signing;
pub mod validate;

pub use answer::{Answer, ExceptionType, FieldError, Receipt, Rejection};
pub use incident::{Incident, IncidentStatus, IncidentType, parse_incident_batch};
pub use repo::{RepoName, RepoRef, strip_credentials};
pub use repo_filter::{REPO_FILTER_FORMS, RepoFilter};
pub use run::{Element, RawRun, Run, RunElement, RunStatus};
pub use validate::{MAX_RUNS_PER_BATCH, parse_batch, validate_batch, validate_run};

/// The ingest path, as upstream Middleware names it.
pub const INGEST_PATH: &str = "/public/webhook/workflow";
/// The alias our server also answers on.
pub const INGEST_PATH_ALIAS: &str = "/public/webhook/deployments";
