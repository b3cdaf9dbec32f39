//! `mwctl deploy record`: a deployment that already happened, in one request.

use super::fields::Fields;
use super::{Ctx, ExitStatus, deliver, draft};
use crate::ci::{self, Field};
use crate::cli::RecordArgs;
use crate::client::content_webhook_id;

pub async fn run(args: RecordArgs, ctx: &Ctx) -> anyhow::Result<ExitStatus> {
    let facts = ci::detect();
    let duration = match (args.duration, args.finished_at) {
        (Some(d), _) => Some(d as i64),
        (None, Some(end)) => {
            let secs = (end - args.started_at).num_seconds();
            if secs < 0 {
                anyhow::bail!("--finished-at is before --started-at");
            }
            Some(secs)
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
    let fallback = Fields {
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
        &fallback,
        &facts,
        args.status,
        args.started_at,
        duration,
    );
    let (status, _) = deliver(ctx, draft, &args.delivery).await;
    Ok(status)
}
