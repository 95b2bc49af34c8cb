//! `schema` commands: extension schemas operators declare.

use super::Failure;
use super::args::{SchemaCommand, SchemaResource};
use super::output::print_json;
use crate::control::{Control, SchemaInfo};
use crate::scim::schema::ResourceKind;
use crate::util::display_time;

fn scope(s: &SchemaInfo) -> String {
    match &s.org {
        Some(o) => format!("organization {o}"),
        None => "every organization".to_string(),
    }
}

pub async fn schema(ops: &dyn Control, cmd: SchemaCommand, json: bool) -> Result<(), Failure> {
    match cmd {
        SchemaCommand::Add {
            file,
            org,
            resource,
        } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| Failure::refused(format!("cannot read {}: {e}", file.display())))?;
            let kind = resource.map(|r| match r {
                SchemaResource::User => ResourceKind::User,
                SchemaResource::Group => ResourceKind::Group,
            });
            let s = ops
                .declare_schema(&text, org.as_deref(), kind)
                .await
                .map_err(|e| Failure::refused(format!("{}: {}", file.display(), e.message)))?;
            if json {
                print_json(&serde_json::to_value(&s).unwrap_or_default());
            } else {
                println!(
                    "{} {} ({}) for {}: {} {} attributes: {}",
                    if s.replaced { "replaced" } else { "declared" },
                    s.urn,
                    s.name,
                    scope(&s),
                    s.attributes.len(),
                    s.kind.resource_type(),
                    s.attributes.join(", ")
                );
            }
        }
        SchemaCommand::List => {
            let list = ops.list_schemas().await?;
            if json {
                print_json(&serde_json::to_value(&list).unwrap_or_default());
            } else if list.is_empty() {
                println!("no extension schemas: declare one with `scimdesk schema add FILE.json`");
            } else {
                println!(
                    "{:<64} {:<6} {:<16} {:<25} ATTRIBUTES",
                    "URN", "OF", "ORGANIZATION", "DECLARED"
                );
                for s in &list {
                    println!(
                        "{:<64} {:<6} {:<16} {:<25} {}",
                        s.urn,
                        s.kind.resource_type(),
                        s.org.as_deref().unwrap_or("(all)"),
                        display_time(s.declared),
                        s.attributes.join(", ")
                    );
                }
            }
        }
        SchemaCommand::Show { urn, org } => {
            let s = ops
                .list_schemas()
                .await?
                .into_iter()
                .find(|s| s.org == org && s.urn.eq_ignore_ascii_case(&urn))
                .ok_or_else(|| {
                    Failure::refused(format!(
                        "no schema {urn} is declared for {}",
                        org.as_deref()
                            .map_or("every organization".to_string(), |o| format!(
                                "organization {o}"
                            ))
                    ))
                })?;
            print_json(&s.document);
        }
        SchemaCommand::Remove { urn, org, force } => {
            let s = ops.remove_schema(&urn, org.as_deref(), force).await?;
            if json {
                print_json(&serde_json::to_value(&s).unwrap_or_default());
            } else {
                println!("removed {} for {}", s.urn, scope(&s));
            }
        }
    }
    Ok(())
}
