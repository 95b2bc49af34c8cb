//! `app-key` commands (the application API's keys) and `events` (the change feed).

use serde_json::json;

use super::Failure;
use super::args::{AppKeyCommand, EventsArgs};
use super::output::print_json;
use crate::control::{AppKeyInfo, Control, EventQuery};
use crate::util::{display_time, rfc3339};

fn app_key_json(k: &AppKeyInfo) -> serde_json::Value {
    json!({
        "id": k.id,
        "name": k.name,
        "org": k.org,
        "created": rfc3339(k.created),
        "last_used": k.last_used.map(rfc3339),
        "revoked": k.revoked.map(rfc3339),
    })
}

pub async fn app_key(ops: &dyn Control, cmd: AppKeyCommand, json: bool) -> Result<(), Failure> {
    match cmd {
        AppKeyCommand::Issue { name, org } => {
            let issued = ops.issue_app_key(&name, org.as_deref()).await?;
            if json {
                print_json(&json!({"id": issued.key.id, "secret": issued.secret}));
            } else {
                println!(
                    "issued application key {} ({}) for {}",
                    issued.key.id,
                    issued.key.name,
                    org.as_deref().unwrap_or("every organization")
                );
                println!();
                println!("  secret:  {}", issued.secret);
                println!();
                println!(
                    "Copy the secret now: it is stored only as a hash and cannot be shown again."
                );
            }
        }
        AppKeyCommand::List => {
            let keys = ops.list_app_keys().await?;
            if json {
                print_json(&json!(keys.iter().map(app_key_json).collect::<Vec<_>>()));
            } else if keys.is_empty() {
                println!(
                    "no application keys: issue one with `scimdesk app-key issue --name NAME`"
                );
            } else {
                println!(
                    "{:<20} {:<24} {:<16} {:<25} STATUS",
                    "ID", "NAME", "ORGANIZATION", "LAST USED"
                );
                for k in &keys {
                    println!(
                        "{:<20} {:<24} {:<16} {:<25} {}",
                        k.id,
                        k.name,
                        k.org.as_deref().unwrap_or("(all)"),
                        k.last_used
                            .map(display_time)
                            .unwrap_or_else(|| "never".into()),
                        match k.revoked {
                            Some(t) => format!("revoked {}", display_time(t)),
                            None => "active".into(),
                        }
                    );
                }
            }
        }
        AppKeyCommand::Revoke { id } => {
            let k = ops.revoke_app_key(&id).await?;
            if json {
                print_json(&app_key_json(&k));
            } else {
                println!("revoked application key {} ({})", k.id, k.name);
            }
        }
    }
    Ok(())
}

/// One event as a line for people: time, cursor, type, organization, what it is about.
fn event_line(e: &serde_json::Value) -> String {
    let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let d = &e["data"];
    let about = if d.get("group").is_some() {
        format!(
            "{} in {}",
            s(&d["user"]["userName"]),
            s(&d["group"]["displayName"])
        )
    } else {
        [
            &d["userName"],
            &d["displayName"],
            &d["domain"],
            &d["name"],
            &d["id"],
        ]
        .into_iter()
        .map(s)
        .find(|t| !t.is_empty())
        .unwrap_or_default()
    };
    format!(
        "{}  {}  {:<28} {:<16} {about}",
        s(&e["occurred_at"]),
        s(&e["cursor"]),
        s(&e["type"]),
        s(&e["organization"]),
    )
}

pub async fn events(ops: &dyn Control, args: EventsArgs, json: bool) -> Result<(), Failure> {
    let mut query = EventQuery {
        org: args.org,
        types: args.types,
        after: args.after,
        limit: if args.follow {
            1000
        } else {
            args.limit.clamp(1, 1000)
        },
        wait: if args.follow { 30 } else { 0 },
    };
    let mut printed = 0;
    loop {
        let batch = ops.events(&query).await?;
        for e in &batch.events {
            if json {
                println!("{}", serde_json::to_string(e).unwrap_or_default());
            } else {
                println!("{}", event_line(e));
            }
        }
        printed += batch.events.len();
        query.after = Some(batch.next_cursor);
        if !args.follow && (!batch.has_more || printed >= args.limit) {
            if printed == 0 && !json {
                println!("no events match");
            }
            return Ok(());
        }
        if !args.follow {
            query.limit = (args.limit - printed).clamp(1, 1000);
        }
    }
}
