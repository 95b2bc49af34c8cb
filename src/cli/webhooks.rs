//! `webhook` commands: endpoints that receive the change feed, signed.

use serde_json::json;

use super::Failure;
use super::args::WebhookCommand;
use super::output::print_json;
use crate::control::{Control, NewWebhook, ReplayFrom, WebhookInfo};
use crate::directory::Attempt;
use crate::util::{display_time, rfc3339};

pub fn webhook_json(w: &WebhookInfo) -> serde_json::Value {
    serde_json::to_value(w).unwrap_or_default()
}

/// Enabled, failing, waiting or disabled, in a few words.
pub fn state_label(w: &WebhookInfo) -> String {
    if !w.enabled {
        return match &w.disabled_reason {
            Some(r) => format!("disabled: {r}"),
            None => "disabled".into(),
        };
    }
    match (w.failing_since, w.next_retry) {
        (Some(since), Some(next)) => format!(
            "failing since {}, retry {}",
            display_time(since),
            display_time(next)
        ),
        (Some(since), None) => format!("failing since {}", display_time(since)),
        _ => "enabled".into(),
    }
}

pub fn backlog_label(w: &WebhookInfo) -> String {
    if w.backlog_estimated {
        format!("~{}", w.backlog)
    } else {
        w.backlog.to_string()
    }
}

/// An attempt on one line: time, event, status, latency, error.
pub fn attempt_line(a: &Attempt) -> String {
    let status = a
        .status
        .map(|s| s.to_string())
        .unwrap_or_else(|| "---".into());
    let org = if a.org.is_empty() { "-" } else { &a.org };
    format!(
        "{}  {:<16} {:<16} {status:>3} {:>8}  {}",
        display_time(a.at),
        a.event,
        org,
        format!("{:.1}ms", a.latency_ms),
        a.error.as_deref().unwrap_or("ok")
    )
}

/// `--since`: an RFC 3339 time or a duration ago.
fn since_time(text: &str) -> Result<time::OffsetDateTime, Failure> {
    if let Some(t) = crate::util::parse_rfc3339(text) {
        return Ok(t);
    }
    crate::config::parse_duration(text)
        .map(|d| crate::store::now() - d)
        .map_err(|_| {
            Failure::usage(format!(
                "invalid --since {text:?}: use a time like 2026-12-01T00:00:00Z or a duration like 2h"
            ))
        })
}

pub async fn webhook(ops: &dyn Control, cmd: WebhookCommand, json: bool) -> Result<(), Failure> {
    match cmd {
        WebhookCommand::Add {
            url,
            org,
            events,
            from,
        } => {
            let added = ops
                .add_webhook(&NewWebhook {
                    url,
                    org,
                    events,
                    from,
                })
                .await?;
            let w = &added.webhook;
            if json {
                print_json(&json!({"id": w.id, "secret": added.secret}));
            } else {
                println!(
                    "added webhook endpoint {} -> {} ({} events of {})",
                    w.id,
                    w.url,
                    if w.types.is_empty() {
                        "all".to_string()
                    } else {
                        w.types.join(", ")
                    },
                    w.org.as_deref().unwrap_or("every organization")
                );
                println!();
                println!("  signing secret:  {}", added.secret);
                println!();
                println!(
                    "Copy the secret now: it cannot be shown again. Receivers verify each delivery's webhook-signature header with it (Standard Webhooks)."
                );
            }
        }
        WebhookCommand::List => {
            let list = ops.list_webhooks().await?;
            if json {
                print_json(&json!(list.iter().map(webhook_json).collect::<Vec<_>>()));
            } else if list.is_empty() {
                println!("no webhook endpoints: add one with `scimdesk webhook add URL`");
            } else {
                println!(
                    "{:<17} {:<16} {:>8} {:<25} {:<40} URL",
                    "ID", "ORGANIZATION", "BACKLOG", "LAST SUCCESS", "STATE"
                );
                for w in &list {
                    println!(
                        "{:<17} {:<16} {:>8} {:<25} {:<40} {}",
                        w.id,
                        w.org.as_deref().unwrap_or("(all)"),
                        backlog_label(w),
                        w.last_success
                            .map(display_time)
                            .unwrap_or_else(|| "never".into()),
                        state_label(w),
                        w.url
                    );
                    if let Some(f) = &w.last_failure {
                        println!("{:<17} last failure: {}", "", attempt_line(f));
                    }
                }
            }
        }
        WebhookCommand::Show { id } => {
            let d = ops.webhook(&id).await?;
            if json {
                print_json(&serde_json::to_value(&d).unwrap_or_default());
                return Ok(());
            }
            let w = &d.info;
            println!("{}  {}", w.id, w.url);
            println!(
                "  organization:  {}",
                w.org.as_deref().unwrap_or("every organization")
            );
            println!(
                "  events:        {}",
                if w.types.is_empty() {
                    "all".to_string()
                } else {
                    w.types.join(", ")
                }
            );
            println!("  state:         {}", state_label(w));
            println!("  backlog:       {}", backlog_label(w));
            println!("  delivered:     {} (gave up on {})", w.delivered, w.failed);
            if let Some(t) = w.old_secret_expires {
                println!(
                    "  secrets:       2 sign until {} (rotation)",
                    display_time(t)
                );
            }
            if !d.streams.is_empty() {
                println!();
                println!(
                    "  {:<16} {:<17} {:>9} {:>6} {:>8}  NEXT RETRY",
                    "ORGANIZATION", "CURSOR", "DELIVERED", "FAILED", "ATTEMPTS"
                );
                for s in &d.streams {
                    println!(
                        "  {:<16} {:<17} {:>9} {:>6} {:>8}  {}",
                        s.org,
                        s.cursor,
                        s.delivered,
                        s.failed,
                        s.attempts,
                        s.next_retry.map(display_time).unwrap_or_default()
                    );
                }
            }
            if !d.attempts.is_empty() {
                println!();
                println!("  recent attempts, newest first:");
                for a in &d.attempts {
                    println!("  {}", attempt_line(a));
                }
            }
        }
        WebhookCommand::Remove { id } => {
            ops.remove_webhook(&id).await?;
            if json {
                print_json(&json!({"id": id, "removed": true}));
            } else {
                println!("removed webhook endpoint {id}");
            }
        }
        WebhookCommand::Disable { id } => {
            let w = ops.set_webhook_enabled(&id, false).await?;
            if json {
                print_json(&webhook_json(&w));
            } else {
                println!("disabled webhook endpoint {id}: events wait until it is enabled");
            }
        }
        WebhookCommand::Enable { id } => {
            let w = ops.set_webhook_enabled(&id, true).await?;
            if json {
                print_json(&webhook_json(&w));
            } else {
                println!(
                    "enabled webhook endpoint {id}; backlog {}",
                    backlog_label(&w)
                );
            }
        }
        WebhookCommand::RotateSecret { id } => {
            let secret = ops.rotate_webhook_secret(&id).await?;
            if json {
                print_json(&json!({"id": id, "secret": secret}));
            } else {
                println!("new signing secret for {id}:");
                println!();
                println!("  signing secret:  {secret}");
                println!();
                println!(
                    "Copy it now: it cannot be shown again. The old secret also signs for the next 24 hours, so receivers can switch without missing a delivery."
                );
            }
        }
        WebhookCommand::Test { id } => {
            let a = ops.test_webhook(&id).await?;
            let ok = a.status.is_some_and(|s| (200..300).contains(&s));
            if json {
                print_json(&json!({
                    "id": id,
                    "delivered": ok,
                    "status": a.status,
                    "latency_ms": a.latency_ms,
                    "error": a.error,
                    "at": rfc3339(a.at),
                }));
            } else if ok {
                println!(
                    "test event delivered: {} in {:.1}ms",
                    a.status.unwrap_or_default(),
                    a.latency_ms
                );
            }
            if !ok {
                return Err(Failure::refused(format!(
                    "test event not delivered: {}",
                    a.error.as_deref().unwrap_or("no reply")
                )));
            }
        }
        WebhookCommand::Replay { id, after, since } => {
            let from = match (after, since) {
                (Some(c), _) => ReplayFrom::After(c),
                (None, Some(t)) => ReplayFrom::Since(since_time(&t)?),
                (None, None) => return Err(Failure::usage("give --after CURSOR or --since TIME")),
            };
            let w = ops.replay_webhook(&id, &from).await?;
            if json {
                print_json(&webhook_json(&w));
            } else {
                println!(
                    "webhook endpoint {id} will deliver {} events again{}",
                    backlog_label(&w),
                    if w.enabled { "" } else { " once enabled" }
                );
            }
        }
    }
    Ok(())
}
