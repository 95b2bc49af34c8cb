//! `org` and `domain` commands.

use std::io::{BufRead, IsTerminal, Write};

use serde_json::json;

use super::Failure;
use super::args::{DomainCommand, OnOff, OrgCommand};
use super::output::{domain_label, domains_line, org_json, print_json};
use crate::control::Control;
use crate::directory::Organization;
use crate::util::display_time;

fn print_org(org: &Organization, url: &str) {
    println!("id:             {}", org.id);
    println!("name:           {}", org.name);
    println!(
        "scim:           {}",
        if org.scim_enabled { "on" } else { "off" }
    );
    println!("domains:        {}", domains_line(&org.domains, "(none)"));
    println!("scim base url:  {url}");
    println!("created:        {}", display_time(org.created));
    println!("updated:        {}", display_time(org.updated));
}

/// The directory's size and how the organization's sync is going.
fn print_health(d: &crate::control::OrgHealth) {
    let h = &d.sync;
    println!(
        "directory:      {} users ({} active), {} groups",
        d.users, d.active_users, d.groups
    );
    match (h.last_request, &h.last_idp) {
        (Some(t), Some(idp)) => {
            println!("last request:   {} from {}", display_time(t), idp.label())
        }
        (Some(t), None) => println!("last request:   {}", display_time(t)),
        _ => println!("last request:   never"),
    }
    println!(
        "last 24 hours:  {} requests, {} errors",
        h.requests_24h, h.errors_24h
    );
    for u in &h.unmapped {
        println!(
            "not declared:   {} ({} requests in 7 days, last {}; declare it with scimdesk schema add)",
            u.name,
            u.count,
            display_time(u.last_seen)
        );
    }
}

pub async fn org(ops: &dyn Control, cmd: OrgCommand, json: bool) -> Result<(), Failure> {
    match cmd {
        OrgCommand::Create { id, name } => {
            let org = ops.create_org(&id, &name).await?;
            if json {
                print_json(&org_json(&org, &ops.scim_base_url(&org.id)));
            } else {
                println!("created organization {} ({})", org.id, org.name);
            }
        }
        OrgCommand::List => {
            let orgs = ops.list_orgs().await?;
            if json {
                print_json(&json!(
                    orgs.iter()
                        .map(|o| org_json(&o.org, &o.scim_base_url))
                        .collect::<Vec<_>>()
                ));
            } else if orgs.is_empty() {
                println!(
                    "no organizations yet: create one with `scimdesk org create ID --name NAME`"
                );
            } else {
                println!("{:<24} {:<28} {:<5} DOMAINS", "ID", "NAME", "SCIM");
                for o in orgs.iter().map(|s| &s.org) {
                    println!(
                        "{:<24} {:<28} {:<5} {}",
                        o.id,
                        o.name,
                        if o.scim_enabled { "on" } else { "off" },
                        domains_line(&o.domains, "-")
                    );
                }
            }
        }
        OrgCommand::Show { id } => {
            let detail = ops.org(&id).await?;
            let health = ops.org_health(&id).await?;
            if json {
                let mut v = org_json(&detail.org, &detail.scim_base_url);
                v["users"] = json!(health.users);
                v["active_users"] = json!(health.active_users);
                v["groups"] = json!(health.groups);
                v["sync"] = serde_json::to_value(&health.sync).unwrap_or_default();
                print_json(&v);
            } else {
                print_org(&detail.org, &detail.scim_base_url);
                print_health(&health);
            }
        }
        OrgCommand::Rename { id, name } => {
            let org = ops.rename_org(&id, &name).await?;
            if json {
                print_json(&org_json(&org, &ops.scim_base_url(&org.id)));
            } else {
                println!("renamed organization {} to {}", org.id, org.name);
            }
        }
        OrgCommand::Delete { id, yes } => {
            ops.org(&id).await?;
            if !yes {
                confirm_delete(&id)?;
            }
            ops.delete_org(&id).await?;
            if json {
                print_json(&json!({"id": id, "deleted": true}));
            } else {
                println!("deleted organization {id} and everything it owned");
            }
        }
        OrgCommand::Scim { id, state } => {
            let org = ops.set_scim(&id, matches!(state, OnOff::On)).await?;
            if json {
                print_json(&org_json(&org, &ops.scim_base_url(&org.id)));
            } else {
                println!(
                    "SCIM is now {} for {}",
                    if org.scim_enabled { "on" } else { "off" },
                    org.id
                );
                if org.scim_enabled && org.domains.is_empty() {
                    println!(
                        "warning: {} has no SCIM domains, so every user with an email address will be rejected",
                        org.id
                    );
                }
            }
        }
        OrgCommand::Guide { id, idp } => {
            use crate::control::guides::{self, GuideIdp};
            let Some(which) = GuideIdp::parse(&idp) else {
                return Err(Failure::usage(format!(
                    "unknown IdP {idp:?}: use one of {}",
                    GuideIdp::ALL.map(GuideIdp::name).join(", ")
                )));
            };
            let detail = ops.org(&id).await?;
            let text = guides::render(
                which,
                &guides::GuideFacts {
                    org: &detail.org.id,
                    org_name: &detail.org.name,
                    base_url: &detail.scim_base_url,
                    domains: &detail.org.domains,
                    scim_enabled: detail.org.scim_enabled,
                },
            );
            if json {
                print_json(&json!({"id": detail.org.id, "idp": which.name(), "guide": text}));
            } else {
                print!("{text}");
            }
        }
        OrgCommand::Url { id } => {
            let detail = ops.org(&id).await?;
            if json {
                print_json(&json!({"id": detail.org.id, "scim_base_url": detail.scim_base_url}));
            } else {
                println!("{}", detail.scim_base_url);
            }
        }
    }
    Ok(())
}

/// Asks the operator to type the id; refuses when there is no terminal to ask on.
fn confirm_delete(id: &str) -> Result<(), Failure> {
    if !std::io::stdin().is_terminal() {
        return Err(Failure::usage(format!(
            "refusing to delete {id} without confirmation: pass --yes"
        )));
    }
    eprint!(
        "This deletes organization {id} with all its users, groups and keys.\nType its id to confirm: "
    );
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Failure::refused(format!("cannot read the confirmation: {e}")))?;
    if answer.trim() != id {
        return Err(Failure::refused(format!(
            "not deleted: the id typed did not match {id}"
        )));
    }
    Ok(())
}

pub async fn domain(ops: &dyn Control, cmd: DomainCommand, json: bool) -> Result<(), Failure> {
    let (org, message) = match cmd {
        DomainCommand::Add { org, domain } => {
            let o = ops.add_domain(&org, &domain).await?;
            let added = crate::directory::rules::normalize_domain(&domain).unwrap_or(domain);
            (o, Some(format!("added {} to {org}", domain_label(&added))))
        }
        DomainCommand::Remove { org, domain } => {
            let o = ops.remove_domain(&org, &domain).await?;
            (o, Some(format!("removed {} from {org}", domain.trim())))
        }
        DomainCommand::List { org } => (ops.org(&org).await?.org, None),
    };
    if json {
        print_json(&json!({"id": org.id, "domains": org.domains}));
        return Ok(());
    }
    match message {
        Some(m) => println!("{m}"),
        None if org.domains.is_empty() => {
            println!(
                "{} has no SCIM domains: add one with `scimdesk domain add {} example.com`",
                org.id, org.id
            )
        }
        None => {
            for d in &org.domains {
                println!("{}", domain_label(d));
            }
        }
    }
    Ok(())
}
