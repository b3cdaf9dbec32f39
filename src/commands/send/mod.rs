//! `mwctl send FILE|-`: streams a runs file or export to the server in validated, signed
//! batches, several in flight at once, resumably.
//!
//! Three stages: a thread reads records, a thread validates each batch and builds its request
//! ([`prepare`]), and this task sends them through the client's pipeline and keeps the
//! books (summary, checkpoint, rejects file, progress bar).

mod checkpoint;
mod prepare;
mod rejects;
mod summary;

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::Utc;
use tokio::sync::mpsc;

use self::checkpoint::{Acked, Checkpoint, Ended, Previous};
use self::prepare::Prepared;
use self::rejects::RejectsFile;
use self::summary::{Outcome, Remaining, Summary};
pub(crate) use self::summary::{not_remembered_note, print_repositories};
use super::validate::{open, print_errors, print_rejects};
use super::{Ctx, ExitStatus};
use crate::cli::SendArgs;
use crate::client::pipeline::{Delivery, OnRetry, Outgoing, Pipeline};
use crate::client::{ApiError, RetryPolicy, batch_webhook_id};
use crate::input::{Checker, Format, Input, InputError, Kind};
use crate::protocol::gzip;
use crate::protocol::repo::strip_credentials_in_text;
use crate::protocol::{FieldError, Receipt};
use crate::report::{Printer, Progress, Verbosity, inert};

/// How often the progress bar and the checkpoint catch up.
const TICK: Duration = Duration::from_millis(200);

pub async fn run(args: SendArgs, ctx: &Ctx) -> anyhow::Result<ExitStatus> {
    let started = Instant::now();
    let p = &ctx.printer;
    let (input, overrides) = open(&args.input)?;
    let name = input.name().to_owned();
    if args.resume && input.identity().is_none() {
        p.warn(
            "--resume needs a file: stdin cannot be read again from where it stopped; save the export to a file and send that",
        );
        return Ok(ExitStatus::Usage);
    }
    let client = if args.dry_run {
        None
    } else {
        Some(ctx.client(args.timeout)?)
    };
    let mut checkpoint = match (&client, input.identity()) {
        (Some(client), Some(identity)) => Some(Checkpoint::new(
            client.base_url(),
            identity,
            input.format(),
            args.batch_size,
            &overrides,
        )?),
        _ => None,
    };
    let acked = match &mut checkpoint {
        Some(checkpoint) => resume_point(checkpoint, args.resume, p)?,
        None => Acked::default(),
    };
    let rejects = args
        .rejects
        .as_deref()
        .map(RejectsFile::create)
        .transpose()?;
    p.verbose(format!("reading {name} as {}", input.format().describe()));

    let progress = Progress::new(p, input.size(), input.format().kind().noun());
    let meter = input.meter();
    let summary = Summary {
        file: name.clone(),
        format: Some(input.format()),
        dry_run: args.dry_run,
        rejects_file: rejects.as_ref().map(|r| r.path().display().to_string()),
        ..Summary::default()
    };
    let format = input.format();
    let checker = Checker::new(&name, format, overrides, Utc::now());
    let concurrency = usize::from(args.concurrency);
    let (tx, rx) = mpsc::channel(concurrency);
    prepare::spawn(
        input,
        checker,
        prepare::Options {
            kind: format.kind(),
            batch_size: usize::from(args.batch_size),
            compress: args.compress,
            skip_invalid: args.skip_invalid,
            acked: Arc::new(acked),
        },
        tx,
    )
    .context("cannot start the reading threads")?;

    let pipeline = client.map(|client| {
        Pipeline::new(
            client,
            concurrency,
            RetryPolicy::BACKFILL,
            retry_notes(p, &progress),
        )
    });
    let mut backfill = Backfill {
        p,
        kind: format.kind(),
        progress: &progress,
        skip_invalid: args.skip_invalid,
        stdin: args.input.file.as_os_str() == "-",
        summary,
        checkpoint,
        rejects,
        pipeline,
        sent: HashMap::new(),
        stopping: false,
        input_read: false,
        compression_noted: false,
    };
    let mut interrupts = interrupts();
    backfill.drive(rx, &meter, started, &mut interrupts).await?;
    let rest = match (backfill.input_read, backfill.stdin, args.dry_run) {
        (false, false, false) => Rest::File {
            input: &args.input.file,
            format,
            read: backfill.summary.read,
        },
        (false, true, false) => Rest::Stdin,
        _ => Rest::None,
    };
    backfill.finish(ctx, started, rest, &mut interrupts).await
}

/// The part of the input a send did not read.
enum Rest<'a> {
    /// All of it was read.
    None,
    /// A file, from record `read` on: it can be counted.
    File {
        input: &'a std::path::Path,
        format: Format,
        read: u64,
    },
    /// Stdin: gone.
    Stdin,
}

impl Rest<'_> {
    /// Records of the input past those read, by reading the file again (only when a send
    /// stopped early). `Err` describes the rest that could not be counted, and why.
    async fn count(self, interrupts: &mut mpsc::UnboundedReceiver<()>) -> Result<u64, String> {
        let (path, format, read) = match self {
            Rest::None => return Ok(0),
            Rest::Stdin => return Err("the rest of stdin, which cannot be read again".to_owned()),
            Rest::File {
                input,
                format,
                read,
            } => (input.to_owned(), format, read),
        };
        let counting = tokio::task::spawn_blocking(move || -> Result<u64, String> {
            let input = Input::open(&path, Some(format)).map_err(|e| e.what)?;
            let mut total = 0u64;
            input
                .read_batches(crate::protocol::MAX_RUNS_PER_BATCH, |batch| {
                    total += batch.records.len() as u64;
                    std::ops::ControlFlow::Continue(())
                })
                .map_err(|e| e.what)?;
            Ok(total)
        });
        let uncounted = |why: &str| format!("the rest of the file, not counted ({why})");
        tokio::select! {
            total = counting => match total {
                Ok(Ok(total)) => Ok(total.saturating_sub(read)),
                Ok(Err(e)) => Err(uncounted(&e)),
                Err(e) => Err(uncounted(&e.to_string())),
            },
            Some(()) = interrupts.recv() => Err(uncounted("Ctrl-C")),
        }
    }
}

/// Where to start: what the checkpoint says was acknowledged, with `--resume`. An error when
/// the only checkpoints of the file were written with other options: resuming with these
/// would cut the input into other batches, none of which the server would recognise.
fn resume_point(checkpoint: &mut Checkpoint, resume: bool, p: &Printer) -> anyhow::Result<Acked> {
    Ok(match (checkpoint.previous(), resume) {
        (Previous::Found(earlier), true) => {
            let batches = earlier.acked.len();
            p.info(format!(
                "Resuming: {batches} {} ({} runs) accepted before; skipping {}.",
                if batches == 1 { "batch" } else { "batches" },
                earlier.accepted_runs,
                if batches == 1 { "it" } else { "them" }
            ));
            checkpoint.resume_from(&earlier);
            earlier.acked
        }
        (Previous::Found(earlier), false) if !earlier.acked.is_empty() => {
            p.info(format!(
                "{}; pass --resume to skip what was accepted (sending everything again is safe: the server recognises it).",
                earlier.describe()
            ));
            Acked::default()
        }
        (Previous::Stale(why), true) => {
            p.warn(format!(
                "not resuming: {why}; sending everything (the server recognises the batches it already has)"
            ));
            Acked::default()
        }
        (Previous::None, true) => {
            let others = checkpoint.other_settings();
            if !others.is_empty() {
                bail!(
                    "nothing to resume with these options: this file's checkpoint was written with {}; pass the same options to resume from it, or drop --resume to send everything",
                    others.join(", or with ")
                );
            }
            p.info("Nothing to resume for this file: sending everything.");
            Acked::default()
        }
        _ => Acked::default(),
    })
}

/// Says each retry, above the progress bar.
fn retry_notes(p: &Printer, progress: &Progress) -> OnRetry {
    let progress = progress.clone();
    let quiet = p.verbosity == Verbosity::Quiet;
    Arc::new(move |index: u64, e: &ApiError, wait: Duration| {
        if !quiet {
            progress.suspend(|| {
                // The error may quote the server: shown inert.
                let e = e.to_string();
                eprintln!(
                    "batch {index}: {}; retrying in {:.1}s",
                    inert::cell(&e),
                    wait.as_secs_f64()
                );
            });
        }
    })
}

/// A request in flight: where its runs came from.
struct Sent {
    first_record: u64,
    records: u64,
    /// Record number of each run, in body order.
    runs: Vec<u64>,
    spans: Vec<Range<usize>>,
    /// Sent again without the runs the server refused (at most once).
    retried_without_refused: bool,
}

impl Sent {
    /// The JSON of the run at `position` in `body` (this request's body).
    fn run_text<'b>(&self, body: &'b [u8], position: usize) -> &'b str {
        self.spans
            .get(position)
            .and_then(|span| std::str::from_utf8(body.get(span.clone())?).ok())
            .unwrap_or("null")
    }

    fn describe(&self, index: u64) -> String {
        match self.records {
            0 | 1 => format!("batch {index} (record {})", self.first_record),
            n => format!(
                "batch {index} (records {}-{})",
                self.first_record,
                self.first_record + n - 1
            ),
        }
    }
}

/// What the server said when it refused a request.
struct Refusal {
    event_id: Option<String>,
    error: String,
    resolution: Option<String>,
    exception_type: Option<String>,
    errors: Vec<FieldError>,
}

/// The sending task's state.
struct Backfill<'a> {
    p: &'a Printer,
    /// Runs or incidents.
    kind: Kind,
    progress: &'a Progress,
    skip_invalid: bool,
    stdin: bool,
    summary: Summary,
    checkpoint: Option<Checkpoint>,
    rejects: Option<RejectsFile>,
    /// `None` on a dry run.
    pipeline: Option<Pipeline>,
    sent: HashMap<u64, Sent>,
    /// No new batch is taken: the input ended badly, a batch failed, or Ctrl-C.
    stopping: bool,
    /// Every record of the input was read.
    input_read: bool,
    /// The note that the server takes no compressed bodies was printed.
    compression_noted: bool,
}

impl Backfill<'_> {
    async fn drive(
        &mut self,
        mut batches: mpsc::Receiver<Result<Prepared, InputError>>,
        meter: &crate::input::Meter,
        started: Instant,
        interrupts: &mut mpsc::UnboundedReceiver<()>,
    ) -> anyhow::Result<()> {
        let mut tick = tokio::time::interval(TICK);
        let mut input_done = false;
        loop {
            let in_flight = self.pipeline.as_ref().map_or(0, Pipeline::in_flight);
            if (input_done || self.stopping) && in_flight == 0 {
                return Ok(());
            }
            let room = self.pipeline.as_ref().is_none_or(Pipeline::has_room);
            tokio::select! {
                biased;
                Some(()) = interrupts.recv() => {
                    if self.summary.interrupted {
                        // The second Ctrl-C: no more waiting.
                        if let Some(pipeline) = &mut self.pipeline {
                            pipeline.abort();
                        }
                        return Ok(());
                    }
                    self.summary.interrupted = true;
                    self.stopping = true;
                    self.note(|| eprintln!(
                        "interrupted: waiting for the requests in flight (Ctrl-C again to quit at once)"
                    ));
                }
                Some(delivery) = next(&mut self.pipeline), if in_flight > 0 => {
                    self.delivered(delivery)?;
                }
                item = batches.recv(), if !self.stopping && !input_done && room => match item {
                    None => {
                        input_done = true;
                        self.input_read = true;
                    }
                    Some(Ok(prepared)) => self.prepared(prepared)?,
                    Some(Err(e)) => self.stop(e.what, Some(e.fix)),
                },
                _ = tick.tick() => self.tick(meter, started)?,
            }
        }
    }

    fn note(&self, print: impl FnOnce()) {
        self.progress.suspend(print);
    }

    fn stop(&mut self, error: String, resolution: Option<String>) {
        self.stopping = true;
        if self.summary.error.is_none() {
            self.summary.error = Some(error);
            self.summary.resolution = resolution;
        }
    }

    fn tick(&mut self, meter: &crate::input::Meter, started: Instant) -> anyhow::Result<()> {
        let retries = self.pipeline.as_ref().map_or(0, Pipeline::retries);
        let elapsed = started.elapsed().as_secs_f64();
        let accepted = self.summary.accepted;
        self.progress.update(
            meter.bytes_read(),
            accepted,
            accepted as f64 / elapsed.max(0.001),
            retries,
        );
        if let Some(checkpoint) = &mut self.checkpoint {
            checkpoint.save_if_due()?;
        }
        Ok(())
    }

    /// A validated batch: set its invalid runs aside (or stop), then send the rest.
    fn prepared(&mut self, mut batch: Prepared) -> anyhow::Result<()> {
        self.summary.ids_not_remembered = batch.unremembered;
        self.summary
            .repositories
            .merge(std::mem::take(&mut batch.repositories));
        self.summary.read += batch.records;
        self.summary.valid += batch.runs;
        self.summary.invalid += batch.rejects.len() as u64;
        if !batch.rejects.is_empty() {
            if let (true, Some(file)) = (self.skip_invalid, &mut self.rejects) {
                for reject in &batch.rejects {
                    file.invalid(reject)?;
                }
            } else {
                self.note(|| print_rejects(self.p, &batch.rejects, 20));
                self.summary
                    .add_errors(batch.rejects.iter().flat_map(|r| r.errors.iter().cloned()));
                let first = batch.rejects[0].record;
                let others = batch.rejects.len() - 1;
                let more = match others {
                    0 => String::new(),
                    1 => " (and 1 more in the same batch)".to_owned(),
                    n => format!(" (and {n} more in the same batch)"),
                };
                self.stop(
                    format!(
                        "record {first} is invalid{more}; stopped before sending its batch (records {}-{})",
                        batch.first_record,
                        batch.first_record + batch.records.saturating_sub(1)
                    ),
                    Some(
                        "correct the runs listed (`mwctl validate` lists every problem), or pass --skip-invalid --rejects FILE to send the valid runs and set the invalid ones aside"
                            .to_owned(),
                    ),
                );
                return Ok(());
            }
        }
        if batch.acked_before {
            self.summary.resumed += batch.runs;
            return Ok(());
        }
        let (Some(request), Some(pipeline)) = (batch.request, &mut self.pipeline) else {
            return Ok(());
        };
        self.summary.sent += request.records.len() as u64;
        self.sent.insert(
            batch.index,
            Sent {
                first_record: batch.first_record,
                records: batch.records,
                runs: request.records,
                spans: request.spans,
                retried_without_refused: false,
            },
        );
        pipeline.submit(request.outgoing);
        Ok(())
    }

    /// The end of one request.
    fn delivered(&mut self, delivery: Delivery) -> anyhow::Result<()> {
        let Delivery { batch, outcome } = delivery;
        let Some(sent) = self.sent.remove(&batch.index) else {
            return Ok(());
        };
        let runs = sent.runs.len() as u64;
        let what = sent.describe(batch.index);
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(e) => {
                self.stop(
                    strip_credentials_in_text(&format!("{what}: {e}")),
                    e.resolution(),
                );
                return Ok(());
            }
        };
        self.summary.batches += 1;
        if outcome.compression_refused && !self.compression_noted {
            self.compression_noted = true;
            self.summary.compression_refused = true;
            self.note(|| {
                self.p.warn(
                    "the server does not take compressed bodies (it refused Content-Encoding: gzip); sending the rest uncompressed (drop --compress for this server)",
                );
            });
        }
        if let Some(id) = outcome.receipt.event_id() {
            self.summary.event_ids.push(id.to_owned());
        }
        match &outcome.receipt {
            Receipt::Accepted {
                job_id: Some(job), ..
            }
            | Receipt::Rejected {
                job_id: Some(job), ..
            } => self.summary.job_ids.push(job.clone()),
            _ => {}
        }
        match outcome.receipt {
            Receipt::Accepted { duplicate, .. } => {
                self.summary.accepted += runs;
                if duplicate {
                    self.summary.duplicates += runs;
                }
                // A batch sent again without the runs the server refused is not all on the
                // server: --resume must send it again.
                if let Some(checkpoint) = &mut self.checkpoint
                    && !sent.retried_without_refused
                {
                    checkpoint.insert(batch.index, runs);
                }
                self.note(|| {
                    self.p.verbose(format!(
                        "{what}: {runs} runs accepted{}",
                        if duplicate { " (already stored)" } else { "" }
                    ));
                });
            }
            Receipt::Rejected {
                event_id,
                error,
                resolution,
                exception_type,
                errors,
                ..
            } => self.rejected(
                batch,
                sent,
                Refusal {
                    event_id,
                    error,
                    resolution,
                    exception_type,
                    errors,
                },
            )?,
        }
        Ok(())
    }

    /// A request the server refused. Its runs are not stored. With --skip-invalid, the runs
    /// it names are set aside and the others sent again (once); otherwise the send stops.
    fn rejected(&mut self, batch: Outgoing, sent: Sent, refusal: Refusal) -> anyhow::Result<()> {
        let Refusal {
            event_id,
            error,
            resolution,
            exception_type,
            errors,
        } = refusal;
        let what = sent.describe(batch.index);
        // Positions in the body become record numbers; what the server quotes keeps no
        // credentials.
        let by_record: Vec<FieldError> = errors
            .iter()
            .filter_map(|e| {
                Some(FieldError {
                    index: usize::try_from(*sent.runs.get(e.index)?).ok()?,
                    field: e.field.clone(),
                    message: strip_credentials_in_text(&e.message),
                })
            })
            .collect();
        let error = strip_credentials_in_text(&error);
        let resolution = resolution.map(|r| strip_credentials_in_text(&r));
        let named_runs = errors.iter().filter(|e| e.index < sent.runs.len());
        let refused: std::collections::BTreeSet<usize> = named_runs.map(|e| e.index).collect();
        let per_run = !refused.is_empty() && by_record.len() == errors.len();
        let set_aside = self.skip_invalid
            && self.rejects.is_some()
            && (per_run || (errors.is_empty() && about_the_runs(exception_type.as_deref())));
        let Some(file) = self.rejects.as_mut().filter(|_| set_aside) else {
            self.summary.rejected += sent.runs.len() as u64;
            self.note(|| print_errors(self.p, &by_record, 20));
            self.summary.add_errors(by_record);
            self.stop(format!("{what} rejected: {error}"), resolution);
            return Ok(());
        };
        if !per_run {
            // The server named no run (upstream Middleware never does): every run of the
            // batch is set aside with the batch's reason.
            let reason = match &resolution {
                Some(resolution) => format!("{what} was rejected: {error} (to fix: {resolution})"),
                None => format!("{what} was rejected: {error}"),
            };
            for (position, &record) in sent.runs.iter().enumerate() {
                let reason = [FieldError {
                    index: usize::try_from(record).unwrap_or(usize::MAX),
                    field: self.kind.body_key().to_owned(),
                    message: reason.clone(),
                }];
                let text = sent.run_text(&batch.json, position);
                file.refused(record, &reason, text, event_id.as_deref())?;
            }
            self.summary.rejected += sent.runs.len() as u64;
            return Ok(());
        }
        for &position in &refused {
            let record = sent.runs[position];
            let mine: Vec<FieldError> = errors
                .iter()
                .filter(|e| e.index == position)
                .map(|e| FieldError {
                    index: usize::try_from(record).unwrap_or(usize::MAX),
                    ..e.clone()
                })
                .collect();
            let text = sent.run_text(&batch.json, position);
            file.refused(record, &mine, text, event_id.as_deref())?;
        }
        self.summary.rejected += refused.len() as u64;
        let keep: Vec<usize> = (0..sent.runs.len())
            .filter(|i| !refused.contains(i))
            .collect();
        if keep.is_empty() {
            return Ok(());
        }
        if sent.retried_without_refused {
            // Refused a second time: set the rest aside too, with the batch's reason.
            for &position in &keep {
                let record = sent.runs[position];
                let reason = [FieldError {
                    index: usize::try_from(record).unwrap_or(usize::MAX),
                    field: self.kind.body_key().to_owned(),
                    message: format!("{what} was rejected twice: {error}"),
                }];
                let text = sent.run_text(&batch.json, position);
                file.refused(record, &reason, text, event_id.as_deref())?;
            }
            self.summary.rejected += keep.len() as u64;
            return Ok(());
        }
        self.resend_without(batch, sent, &keep);
        Ok(())
    }

    /// Sends the runs at `keep` of a refused batch again, as a request of their own.
    fn resend_without(&mut self, batch: Outgoing, sent: Sent, keep: &[usize]) {
        let mut json = Vec::with_capacity(batch.json.len());
        json.extend_from_slice(format!("{{\"{}\":[", self.kind.body_key()).as_bytes());
        let mut runs = Vec::with_capacity(keep.len());
        let mut spans = Vec::with_capacity(keep.len());
        for &position in keep {
            let Some(text) = sent
                .spans
                .get(position)
                .and_then(|s| batch.json.get(s.clone()))
            else {
                continue;
            };
            if !spans.is_empty() {
                json.push(b',');
            }
            let start = json.len();
            json.extend_from_slice(text);
            spans.push(start..json.len());
            runs.push(sent.runs[position]);
        }
        json.extend_from_slice(b"]}");
        let outgoing = Outgoing {
            index: batch.index,
            path: self.kind.path(),
            webhook_id: batch_webhook_id(batch.index, &json),
            gzip: batch.gzip.as_ref().and_then(|_| gzip::compress(&json)),
            json,
        };
        self.sent.insert(
            batch.index,
            Sent {
                runs,
                spans,
                retried_without_refused: true,
                ..sent
            },
        );
        if let Some(pipeline) = &mut self.pipeline {
            pipeline.submit(outgoing);
        }
    }

    async fn finish(
        mut self,
        ctx: &Ctx,
        started: Instant,
        rest: Rest<'_>,
        interrupts: &mut mpsc::UnboundedReceiver<()>,
    ) -> anyhow::Result<ExitStatus> {
        self.progress.finish();
        let summary = &mut self.summary;
        summary.retries = self.pipeline.as_ref().map_or(0, Pipeline::retries);
        summary.elapsed_secs = started.elapsed().as_secs_f64();
        summary.runs_per_sec = summary.accepted as f64 / summary.elapsed_secs.max(0.001);
        if let Some(file) = &mut self.rejects {
            file.finish()?;
        }
        summary.outcome = summary.decide_outcome(self.input_read);
        if summary.outcome != Outcome::Complete && summary.outcome != Outcome::DryRun {
            if let Rest::File { .. } = rest {
                // Counting re-reads the file: say why the wait.
                ctx.printer
                    .verbose("counting the runs not read yet (Ctrl-C to skip)…");
            }
            let unread = rest.count(interrupts).await;
            summary.remaining = Some(Remaining::new(summary, unread));
        }
        if summary.error.is_some() && summary.sent == 0 && !summary.dry_run {
            summary.error = summary
                .error
                .take()
                .map(|e| format!("{e}; nothing was sent"));
        }
        let mut acked = false;
        if let Some(checkpoint) = &mut self.checkpoint {
            if summary.outcome == Outcome::Complete {
                checkpoint.remove();
            } else if !checkpoint.acked().is_empty() {
                checkpoint.set_ended(match summary.outcome {
                    Outcome::Interrupted => Ended::Interrupted,
                    Outcome::Refused => Ended::Refused {
                        runs: summary.rejected,
                    },
                    _ => Ended::Stopped {
                        reason: summary
                            .error
                            .clone()
                            .unwrap_or_else(|| "not every run was accepted".to_owned()),
                    },
                });
                checkpoint.save()?;
                summary.checkpoint = Some(checkpoint.path().display().to_string());
                acked = true;
            }
        }
        if !matches!(summary.outcome, Outcome::Complete | Outcome::DryRun) && !self.stdin {
            summary.resume_command = command_line(acked);
        }
        let summary = &self.summary;
        ctx.printer.data(summary, |p| summary.print(p))?;
        Ok(match summary.outcome {
            Outcome::Complete | Outcome::DryRun => ExitStatus::Success,
            Outcome::Interrupted => ExitStatus::Interrupted,
            Outcome::Refused | Outcome::Stopped => ExitStatus::Failure,
        })
    }
}

/// Whether a rejection that names no run is about the runs of the batch (they are set aside
/// with --skip-invalid and the send goes on) rather than about the request (the key, the
/// signature, the server: every batch would meet it, so the send stops).
fn about_the_runs(exception_type: Option<&str>) -> bool {
    matches!(
        exception_type,
        Some(
            "InvalidPayload"
                | "InvalidPayloadError"
                | "UnknownRepo"
                | "PayloadTooLarge"
                | "PayloadLimitExceededError"
        )
    )
}

/// This very command, to run again: with `--resume` when a checkpoint has batches to skip,
/// without it otherwise; an `--api-key` value is left out (it is a secret). Quoted for a POSIX
/// shell.
fn command_line(resume: bool) -> Option<String> {
    let mut words: Vec<String> = Vec::new();
    let mut args = std::env::args_os().map(|a| a.to_string_lossy().into_owned());
    while let Some(arg) = args.next() {
        if arg == "--api-key" {
            args.next();
            continue;
        }
        if arg.starts_with("--api-key=") || arg == "--resume" {
            continue;
        }
        words.push(arg);
    }
    if words.is_empty() {
        return None;
    }
    if resume {
        words.push("--resume".to_owned());
    }
    shlex::try_join(words.iter().map(String::as_str)).ok()
}

/// The next delivery, for `select!` (only polled while requests are in flight).
async fn next(pipeline: &mut Option<Pipeline>) -> Option<Delivery> {
    match pipeline {
        Some(pipeline) => pipeline.next().await,
        None => None,
    }
}

/// Ctrl-C presses, as messages (the first one stops gracefully, the second stops waiting).
fn interrupts() -> mpsc::UnboundedReceiver<()> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            if tx.send(()).is_err() {
                return;
            }
        }
    });
    rx
}
