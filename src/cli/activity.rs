//! `activity` (stored records, newest first) and `check`.

use super::args::ActivityArgs;
use super::output::print_json;
use super::{Failure, operate};
use crate::activity::{ActivityQuery, Idp, describe_change, one_line};
use crate::config::Config;
use crate::control::Control;

pub use crate::config::parse_duration;

pub async fn run(config: Config, args: ActivityArgs, json: bool) -> Result<(), Failure> {
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
    let follow = args.follow;
    let ops = if follow {
        let remote = super::attach(&config).await?.ok_or_else(|| {
            Failure::usage(
                "--follow streams what a running server records: start `scimdesk serve` (or the dashboard) first",
            )
        })?;
        Box::new(remote) as Box<dyn Control>
    } else {
        operate(config).await?
    };
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
    if follow {
        return follow_activity(ops.as_ref(), &query, json).await;
    }
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

/// Prints what the running server records as it happens, until it stops (or Ctrl-C).
async fn follow_activity(
    ops: &dyn Control,
    query: &ActivityQuery,
    json: bool,
) -> Result<(), Failure> {
    use crate::control::FeedItem;
    let mut feed = ops.follow().await?;
    let mut shown = 0u64;
    loop {
        let item = tokio::select! {
            item = feed.next() => item,
            _ = crate::server::shutdown_signal() => return Ok(()),
        };
        match item {
            Some(FeedItem::Event(e) | FeedItem::Shown(e)) => {
                shown += 1;
                if !query.matches(&e) {
                    continue;
                }
                if json {
                    println!("{}", serde_json::to_string(&*e).unwrap_or_default());
                } else {
                    println!("{}", one_line(&e));
                }
            }
            Some(FeedItem::Tally(minutes)) => {
                let total: u64 = minutes.iter().map(|(_, r, _)| r).sum();
                let unseen = total.saturating_sub(std::mem::take(&mut shown));
                if unseen > 0 && !json {
                    println!(
                        "... {unseen} more requests in the last tenth of a second, not shown (stored)"
                    );
                }
            }
            Some(FeedItem::Missed(n)) => {
                if !json {
                    println!("... {n} requests not shown (stored)");
                }
            }
            None => {
                eprintln!("scimdesk: the server stopped");
                return Ok(());
            }
        }
    }
}
