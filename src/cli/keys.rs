//! `key` commands: issue (the secret is printed once), list, revoke.

use serde_json::json;

use super::Failure;
use super::args::KeyCommand;
use super::output::{key_json, print_json};
use crate::control::Control;
use crate::util::display_time;

pub async fn key(ops: &dyn Control, cmd: KeyCommand, json: bool) -> Result<(), Failure> {
    match cmd {
        KeyCommand::Issue { org, name } => {
            let issued = ops.issue_key(&org, name.as_deref()).await?;
            let url = &issued.scim_base_url;
            if json {
                print_json(&json!({
                    "id": issued.key.id,
                    "name": issued.key.name,
                    "secret": issued.secret,
                    "scim_base_url": url,
                }));
            } else {
                println!(
                    "issued key {} ({}) for {org}",
                    issued.key.id, issued.key.name
                );
                println!();
                println!("  secret:         {}", issued.secret);
                println!("  scim base url:  {url}");
                println!();
                println!(
                    "Copy the secret now: it is stored only as a hash and cannot be shown again."
                );
            }
        }
        KeyCommand::List { org } => {
            let keys = ops.list_keys(&org).await?;
            if json {
                print_json(&json!(keys.iter().map(key_json).collect::<Vec<_>>()));
            } else if keys.is_empty() {
                println!("{org} has no keys: issue one with `scimdesk key issue {org}`");
            } else {
                println!(
                    "{:<18} {:<28} {:<25} {:<25} STATUS",
                    "ID", "NAME", "CREATED", "LAST USED"
                );
                for k in &keys {
                    println!(
                        "{:<18} {:<28} {:<25} {:<25} {}",
                        k.id,
                        k.name,
                        display_time(k.created),
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
        KeyCommand::Revoke { org, key_id } => {
            let k = ops.revoke_key(&org, &key_id).await?;
            if json {
                print_json(&key_json(&k));
            } else {
                println!(
                    "revoked key {} ({}); IdPs using it now get 401",
                    k.id, k.name
                );
            }
        }
    }
    Ok(())
}
