//! mwctl: send deployment and workflow-run data from any CI to Middleware.
//!
//! The library holds what the `mwctl` binary and the companion server (`examples/server`)
//! share: the wire protocol ([`protocol`]), and the client side's parts.

pub mod ci;
pub mod cli;
pub mod client;
pub mod commands;
pub mod fsutil;
pub mod input;
pub mod protocol;
pub mod report;
pub mod settings;
