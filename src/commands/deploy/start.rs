//! `mwctl deploy start`: a PENDING run, and the state `finish` picks up.

use super::fields::Fields;
use super::state::{self, DeployState};
use super::{Ctx, Deadline, Draft, ExitStatus, now, time_field};
use crate::ci::{self, Field};
use crate::cli::{StartArgs, parse_time};
use crate::client::new_webhook_id;
use crate::commands::step::Step;
use crate::commands::step::deliver::deliver;
use crate::commands::step::values::{BadValue, Delivery, given, parse_meta};

pub async fn run(args: StartArgs, ctx: &Ctx) -> anyhow::Result<ExitStatus> {
    let mut bad = Vec::new();
    let delivery = Delivery::parse(&args.delivery, &mut bad);
    let deadline = Deadline::new(delivery.timeout);
    let facts = ci::detect();
    let started = given(&args.started_at).and_then(|raw| match parse_time(raw) {
        Ok(at) => Some(at),
        Err(error) => {
            bad.push(BadValue {
                flag: "--started-at",
                value: raw.to_owned(),
                error,
                instead: "used the current time".to_owned(),
            });
            None
        }
    });
    let (started_at, started_source) = match started {
        Some(at) => (at, "--started-at"),
        None => (now(), "now"),
    };
    // Outside CI there is no run id to reuse: make one, and keep it in the state for finish.
    let generated = Fields {
        run_id: facts.run_id.is_none().then(|| {
            let id = new_webhook_id();
            Field::new(format!("local-{}", &id[4..20]), "generated")
        }),
        ..Fields::default()
    };
    let meta = parse_meta(&args.fields.meta, &mut bad);
    let fields = Fields::resolve(&args.fields, &generated, &facts);
    let mut draft = Draft::new("deploy start", fields, &facts, meta, bad);
    draft.status = Ok(Field::new("PENDING", "deploy start"));
    draft.conducted_at = Ok(time_field(started_at, started_source));

    // Saved before sending: finish must work even when start could not reach the server.
    // Not when --strict refuses to send because of a bad value: there is no start to finish.
    let sends = !delivery.dry_run && !draft.refused_by(&delivery);
    if sends && let Some(started) = DeployState::new(&draft.fields, started_at) {
        let path = state::path(args.state.state_file.as_deref(), &facts);
        match state::save(&path, &started) {
            Ok(()) => ctx
                .printer
                .verbose(format!("state for deploy finish: {}", path.display())),
            Err(e) => ctx.printer.warn(format!(
                "{e:#}; deploy finish will not find this start (pass --state-file or set \
                 MW_STATE_FILE to a writable path)"
            )),
        }
    }

    Ok(deliver(ctx, draft, &delivery, deadline).await.status)
}
