//! `activity` (stored records, newest first) and `check`.

use super::args::ActivityArgs;
use super::output::print_json;
use super::{Failure, operate};
use crate::activity::{ActivityQuery, Idp, describe_change, one_line};
use crate::config::Config;
use crate::control::Control;

pub use crate::config::parse_duration;

pub async fn run(config: Config, args: ActivityArgs, json: bool) -> Result<(), Failure> {
    if args.follow {
        return Err(Failure::usage(
            "--follow needs the running server, which holds the store: run `scimdesk serve --log-activity` to stream activity as it happens",
        ));
    }
    let since = args
        .since
        .as_deref()
        .map(parse_duration)
        .transpose()
        .map_err(Failure::usage)?
        .map(|d| crate::store::now() - d);
    let idp = match args.idp.as_deref() {
        None => None,
        Some(name) => Some(Idp::parse_name(name).ok_or_else(|| {
            Failure::usage(format!(
                "unknown IdP {name:?}: use okta, entra, onelogin, jumpcloud, google, ping or other"
            ))
        })?),
    };
    let ops = operate(config)?;
    if let Some(org) = &args.org {
        ops.org(org).await?;
    }
    let query = ActivityQuery {
        org: args.org,
        since,
        errors_only: args.errors,
        idp,
        user_name: args.user,
        resource_id: args.resource,
        limit: args.limit,
        ..Default::default()
    };
    let events = ops.activity(&query).await?;
    if json {
        print_json(&serde_json::to_value(&events).unwrap_or_default());
    } else if events.is_empty() {
        println!("no activity recorded that matches");
    } else {
        for e in &events {
            println!("{}", one_line(e));
            for c in &e.changes {
                println!("{:>28}{}", "", describe_change(c));
            }
        }
    }
    Ok(())
}

pub async fn check(ops: &dyn Control, json: bool) -> Result<(), Failure> {
    let report = ops.check().await?;
    if json {
        print_json(&serde_json::to_value(&report).unwrap_or_default());
    } else {
        println!(
            "{} organizations, {} users, {} groups, {} memberships, {} keys, {} activity records, {} events, {} application keys, {} webhook endpoints",
            report.organizations,
            report.users,
            report.groups,
            report.memberships,
            report.keys,
            report.activity_records,
            report.events,
            report.app_keys,
            report.webhooks
        );
        for p in &report.problems {
            println!("problem: {p}");
        }
    }
    if report.problems.is_empty() {
        if !json {
            println!("the store is consistent");
        }
        Ok(())
    } else {
        Err(Failure::refused(format!(
            "the store has {} problem(s)",
            report.problems.len()
        )))
    }
}
