//! `mwctl deploy record`: a deployment that already happened, in one request.

use super::deliver::deliver;
use super::fields::Fields;
use super::{Ctx, Deadline, ExitStatus, draft, time_field};
use crate::ci::{self, Field};
use crate::cli::RecordArgs;
use crate::client::content_webhook_id;

pub async fn run(args: RecordArgs, ctx: &Ctx) -> anyhow::Result<ExitStatus> {
    let deadline = Deadline::new(args.delivery.timeout);
    let facts = ci::detect();
    let duration = match (args.duration, args.finished_at) {
        (Some(d), _) => Some(Field::new(d.to_string(), "--duration")),
        (None, Some(end)) => {
            let secs = (end - args.started_at).num_seconds();
            if secs < 0 {
                anyhow::bail!(
                    "--finished-at is before --started-at; swap them or pass --duration SECONDS"
                );
            }
            Some(Field::new(secs.to_string(), "--finished-at - --started-at"))
        }
        (None, None) => None,
    };
    // Outside CI, the id derives from what identifies the deployment, so recording the same
    // one twice updates it instead of counting it twice.
    let workflow = args
        .fields
        .workflow
        .clone()
        .unwrap_or_else(|| "deploy".to_owned());
    let derived = Fields {
        run_id: facts.run_id.is_none().then(|| {
            let id = content_webhook_id(&[
                workflow.as_bytes(),
                args.fields.repo.as_deref().unwrap_or_default().as_bytes(),
                args.started_at.to_rfc3339().as_bytes(),
            ]);
            Field::new(
                format!("record-{}", &id[4..20]),
                "derived from workflow, repo and start time",
            )
        }),
        ..Fields::default()
    };
    let draft = draft(
        "deploy record",
        &args.fields,
        &derived,
        &facts,
        Ok(Field::new(args.status.as_str(), "--status")),
        time_field(args.started_at, "--started-at"),
        duration,
    );
    Ok(deliver(ctx, draft, &args.delivery, deadline).await.status)
}
