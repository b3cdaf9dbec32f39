//! The producing half of `send`, on two threads of its own: one reads records, the other
//! validates each batch and builds its request. Bounded channels between the stages and to
//! the sender give backpressure: reading never runs more than a few batches ahead of sending.

use std::ops::Range;
use std::sync::Arc;
use std::sync::mpsc::{SyncSender, sync_channel};

use tokio::sync::mpsc::Sender;

use super::checkpoint::Acked;
use crate::client::batch_webhook_id;
use crate::client::pipeline::Outgoing;
use crate::input::{Checker, Input, InputError, Kind, Reject, Repositories};
use crate::protocol::gzip;

/// Batches read ahead of validation.
const READ_AHEAD: usize = 2;

pub struct Options {
    /// Runs or incidents: the request's array and endpoint.
    pub kind: Kind,
    pub batch_size: usize,
    pub compress: bool,
    /// Invalid runs are set aside instead of stopping the send.
    pub skip_invalid: bool,
    /// Batches acknowledged before (`--resume`): validated, but no request is built.
    pub acked: Arc<Acked>,
}

/// One batch, validated.
pub struct Prepared {
    pub index: u64,
    pub first_record: u64,
    pub records: u64,
    /// Valid runs in the batch.
    pub runs: u64,
    pub rejects: Vec<Reject>,
    /// The repositories of the valid runs.
    pub repositories: Repositories,
    /// The request for the valid runs; `None` when there are none, or when the batch was
    /// acknowledged before.
    pub request: Option<Request>,
    pub acked_before: bool,
    /// So far, runs whose ids the repeat check could not remember (see
    /// [`crate::input::REMEMBERED_IDS`]).
    pub unremembered: u64,
}

/// A request and where each of its runs came from.
pub struct Request {
    pub outgoing: Outgoing,
    /// Record number of each run, in body order.
    pub records: Vec<u64>,
    /// Where each run's JSON is in the body.
    pub spans: Vec<Range<usize>>,
}

/// Starts the two threads. Batches arrive on `out` in input order; the channel closes at the
/// end of the input, after an input error (sent as `Err`), after a batch with invalid runs
/// unless `skip_invalid`, or as soon as the receiver is dropped.
pub fn spawn(
    input: Input,
    mut checker: Checker,
    options: Options,
    out: Sender<Result<Prepared, InputError>>,
) -> std::io::Result<()> {
    let (records_tx, records_rx) = sync_channel(READ_AHEAD);
    let batch_size = options.batch_size;
    std::thread::Builder::new()
        .name("mwctl-read".to_owned())
        .spawn(move || read(input, batch_size, &records_tx))?;
    std::thread::Builder::new()
        .name("mwctl-validate".to_owned())
        .spawn(move || {
            for item in records_rx {
                let prepared = item.and_then(|batch| {
                    let checked = checker.check(batch)?;
                    let acked_before = options.acked.contains(checked.index);
                    let request = (!acked_before && !checked.runs.is_empty()).then(|| {
                        build(options.kind, checked.index, &checked.runs, options.compress)
                    });
                    Ok(Prepared {
                        index: checked.index,
                        first_record: checked.first_record,
                        records: checked.records,
                        runs: checked.runs.len() as u64,
                        rejects: checked.rejects,
                        repositories: checked.repositories,
                        request,
                        acked_before,
                        unremembered: checker.unremembered(),
                    })
                });
                let last = match &prepared {
                    Ok(p) => !p.rejects.is_empty() && !options.skip_invalid,
                    Err(_) => true,
                };
                if out.blocking_send(prepared).is_err() || last {
                    return;
                }
            }
        })?;
    Ok(())
}

fn read(
    input: Input,
    batch_size: usize,
    records_tx: &SyncSender<Result<crate::input::RecordBatch, InputError>>,
) {
    let result = input.read_batches(batch_size, |batch| {
        if records_tx.send(Ok(batch)).is_err() {
            std::ops::ControlFlow::Break(())
        } else {
            std::ops::ControlFlow::Continue(())
        }
    });
    if let Err(e) = result {
        let _ = records_tx.send(Err(e));
    }
}

/// `{"workflow_runs":[...]}` (or `{"incidents":[...]}`) from the records' JSON, its
/// webhook-id, and its gzip form.
pub(super) fn build(
    kind: Kind,
    index: u64,
    runs: &[crate::input::CheckedRun],
    compress: bool,
) -> Request {
    let size: usize = runs.iter().map(|r| r.json.len() + 1).sum();
    let mut json = Vec::with_capacity(size + 24);
    json.extend_from_slice(format!("{{\"{}\":[", kind.body_key()).as_bytes());
    let mut spans = Vec::with_capacity(runs.len());
    for (i, run) in runs.iter().enumerate() {
        if i > 0 {
            json.push(b',');
        }
        let start = json.len();
        json.extend_from_slice(run.json.as_bytes());
        spans.push(start..json.len());
    }
    json.extend_from_slice(b"]}");
    let webhook_id = batch_webhook_id(index, &json);
    let gzip = compress.then(|| gzip::compress(&json)).flatten();
    Request {
        outgoing: Outgoing {
            index,
            path: kind.path(),
            webhook_id,
            json,
            gzip,
        },
        records: runs.iter().map(|r| r.record).collect(),
        spans,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::CheckedRun;

    #[test]
    fn requests_are_the_runs_in_a_wrapper() {
        let runs = [
            CheckedRun {
                record: 4,
                json: r#"{"a":1}"#.into(),
            },
            CheckedRun {
                record: 6,
                json: r#"{"b":2}"#.into(),
            },
        ];
        let request = build(Kind::Runs, 2, &runs, false);
        assert_eq!(
            request.outgoing.json,
            br#"{"workflow_runs":[{"a":1},{"b":2}]}"#
        );
        assert_eq!(request.records, [4, 6]);
        assert_eq!(
            &request.outgoing.json[request.spans[1].clone()],
            br#"{"b":2}"#
        );
        assert_eq!(
            request.outgoing.webhook_id,
            batch_webhook_id(2, &request.outgoing.json)
        );
        assert!(build(Kind::Runs, 2, &runs, true).outgoing.gzip.is_some());
        let incidents = build(Kind::Incidents, 2, &runs, false);
        assert_eq!(
            incidents.outgoing.json,
            br#"{"incidents":[{"a":1},{"b":2}]}"#
        );
        assert_eq!(
            incidents.outgoing.path,
            crate::protocol::incident::INCIDENTS_PATH
        );
    }
}
