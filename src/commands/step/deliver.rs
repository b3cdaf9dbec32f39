//! Sending a draft within the command's deadline, and turning every outcome into an exit
//! status that never fails the pipeline unless `--strict`.

use std::cell::RefCell;

use super::report::{self, Outcome};
use super::{Ctx, Deadline, Delivery, ExitStatus, Problem, Step};
use crate::client::{RetryPolicy, new_webhook_id};
use crate::protocol::Receipt;
use crate::report::ci::CiReporter;

/// Whether the server accepted the item (so `finish` may forget its state), and the exit
/// status.
pub(crate) struct Delivered {
    pub status: ExitStatus,
    pub accepted: bool,
}

/// Validates, sends (unless `--dry-run`) and reports the draft.
pub(crate) async fn deliver<D: Step>(
    ctx: &Ctx,
    draft: D,
    delivery: &Delivery,
    deadline: Deadline,
) -> Delivered {
    let reporter = CiReporter::detect();
    report::bad_values(&reporter, &draft, delivery.strict);
    let built = draft.build();
    // With -o json, a run that cannot be built gets only the problem's report: one JSON
    // document on stdout, which names every field's source too.
    if delivery.dry_run && (built.is_ok() || !ctx.printer.json) {
        report::explain(ctx, &draft, built.as_ref().ok(), deadline);
    }
    let run = match built {
        Ok(item) => item,
        Err(problem) => {
            return failed(ctx, &reporter, &draft, None, problem, delivery, deadline);
        }
    };
    // --strict sends nothing built from a value it could not use.
    let refused = draft.refused_by(delivery);
    if delivery.dry_run {
        return Delivered {
            status: if refused {
                ExitStatus::Failure
            } else {
                ExitStatus::Success
            },
            accepted: false,
        };
    }
    if refused {
        let n = draft.bad_values().len();
        let problem = Problem::new(
            format!(
                "{n} value{} could not be used (see above), so nothing was sent",
                if n == 1 { "" } else { "s" }
            ),
            format!(
                "fix the values above, or leave out --strict to send the {} with their defaults",
                D::ITEM_KEY
            ),
        );
        return failed(
            ctx,
            &reporter,
            &draft,
            Some(&run),
            problem,
            delivery,
            deadline,
        );
    }
    report::show_fields(ctx, &reporter, &draft, &run);
    // Later steps can refer to the item whether or not it gets through.
    for (name, value) in draft.outputs(&run) {
        reporter.set_output(name, &value);
    }

    let budget = deadline.remaining();
    // What went wrong before the deadline cut the retries short, to say why in the end.
    let last_error = RefCell::new(None);
    let answer = tokio::time::timeout(budget, send::<D>(ctx, &run, budget, &last_error)).await;
    let answer = answer.unwrap_or_else(|_| {
        let mut error = format!(
            "no answer within {} (--timeout)",
            humantime::format_duration(deadline.budget)
        );
        if let Some(last) = last_error.take() {
            error.push_str(&format!("; last attempt: {last}"));
        }
        Err(Problem::new(
            error,
            "the server may be down or overloaded; check `mwctl config show` and the \
             server, or raise --timeout",
        ))
    });
    let receipt = match answer {
        Ok(receipt) => receipt,
        Err(problem) => {
            return failed(
                ctx,
                &reporter,
                &draft,
                Some(&run),
                problem,
                delivery,
                deadline,
            );
        }
    };
    if let Some(id) = receipt.event_id() {
        reporter.set_output("event_id", id);
    }
    match receipt {
        Receipt::Accepted {
            event_id,
            duplicate,
            ..
        } => {
            report::accepted(
                ctx,
                &reporter,
                &draft,
                &run,
                Outcome {
                    event_id,
                    duplicate,
                    deadline,
                },
            );
            Delivered {
                status: ExitStatus::Success,
                accepted: true,
            }
        }
        Receipt::Rejected {
            error,
            resolution,
            errors,
            exception_type,
            ..
        } => {
            let mut error = format!(
                "the server rejected the {}{}: {error}",
                D::ITEM_KEY,
                exception_type
                    .map(|t| format!(" ({t})"))
                    .unwrap_or_default()
            );
            if !errors.is_empty() {
                let detail: Vec<String> = errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect();
                error.push_str(&format!(" [{}]", detail.join("; ")));
            }
            let problem = Problem {
                outcome: "rejected",
                error,
                resolution,
            };
            failed(
                ctx,
                &reporter,
                &draft,
                Some(&run),
                problem,
                delivery,
                deadline,
            )
        }
    }
}

/// One signed request, with quick retries while the deadline allows.
async fn send<D: Step>(
    ctx: &Ctx,
    item: &D::Item,
    budget: std::time::Duration,
    last_error: &RefCell<Option<String>>,
) -> Result<Receipt, Problem> {
    let client = ctx.client(budget).map_err(|e| Problem {
        outcome: "failed",
        error: format!("{e:#}"),
        resolution: None,
    })?;
    let body = serde_json::to_vec(&serde_json::json!({ D::BODY_KEY: [item] }))
        .map_err(|e| Problem::new(e.to_string(), "report this as a bug"))?;
    let outcome = client
        .send_to(
            D::PATH,
            &body,
            &new_webhook_id(),
            RetryPolicy::PIPELINE,
            |e, wait| {
                ctx.printer
                    .verbose(format!("{e}; retrying in {:.1}s", wait.as_secs_f64()));
                *last_error.borrow_mut() = Some(e.to_string());
            },
        )
        .await
        .map_err(|e| Problem {
            outcome: "failed",
            resolution: e.resolution(),
            error: e.to_string(),
        })?;
    Ok(outcome.receipt)
}

/// Reports a problem loudly; exit 0 unless `--strict`.
fn failed<D: Step>(
    ctx: &Ctx,
    reporter: &CiReporter,
    draft: &D,
    run: Option<&D::Item>,
    problem: Problem,
    delivery: &Delivery,
    deadline: Deadline,
) -> Delivered {
    report::problem(
        ctx,
        reporter,
        draft,
        run,
        problem,
        delivery.strict,
        deadline,
    );
    Delivered {
        status: if delivery.strict {
            ExitStatus::Failure
        } else {
            ExitStatus::Success
        },
        accepted: false,
    }
}
