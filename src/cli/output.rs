//! How results are printed: JSON documents for `--json`, labels for people.

use serde_json::json;

use crate::control::KeyInfo;
use crate::directory::Organization;
use crate::util::rfc3339;

pub fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

pub fn org_json(org: &Organization, scim_base_url: &str) -> serde_json::Value {
    json!({
        "id": org.id,
        "name": org.name,
        "scim_enabled": org.scim_enabled,
        "domains": org.domains,
        "scim_base_url": scim_base_url,
        "created": rfc3339(org.created),
        "updated": rfc3339(org.updated),
    })
}

pub fn key_json(key: &KeyInfo) -> serde_json::Value {
    json!({
        "id": key.id,
        "name": key.name,
        "created": rfc3339(key.created),
        "last_used": key.last_used.map(rfc3339),
        "revoked": key.revoked.map(rfc3339),
    })
}

/// A domain as listed: `*` says what it means.
pub fn domain_label(d: &str) -> String {
    if d == "*" {
        "* (any domain: for testing only)".to_string()
    } else {
        d.to_string()
    }
}

/// Domains joined for a table cell, or `empty` when there are none.
pub fn domains_line(domains: &[String], empty: &str) -> String {
    if domains.is_empty() {
        empty.to_string()
    } else {
        domains
            .iter()
            .map(|d| domain_label(d))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
