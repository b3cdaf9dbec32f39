//! The processing rules, once for every backend: pure functions, no I/O. [`crate::ops`] and the
//! worker read through a [`crate::store::Tx`], ask these what to write, and write it.
//!
//! - [`resolve`]: which linked repositories a run designates;
//! - [`runs`]: the fields a run brings, and how they merge over a stored run (a PENDING run never
//!   overwrites a final status; a final status over a stored PENDING run gets the duration
//!   inferred from when it started);
//! - [`incidents`]: the fields an incident report brings, and how they merge (the status only
//!   moves forward; a reopen says so);
//! - [`prune`]: which events can be pruned, and what pruning one deletes;
//! - [`keys`]: which keys may be revoked (never the last usable admin key).
//! - [`dora`]: the DORA figures from stored deployments and incidents.

pub mod dora;
pub mod incidents;
pub mod keys;
pub mod prune;
pub mod resolve;
pub mod runs;

pub use resolve::{resolve_incidents, resolve_runs, unknown_repo_of, unresolved_reason};
pub use runs::{WORKFLOW_PROVIDER, WORKFLOW_TYPE, fields_of, merge};
