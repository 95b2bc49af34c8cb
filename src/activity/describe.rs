//! How a request is narrated for the operator: the one-line summaries ("created user
//! alice@acme.com", "added 3 members to Engineering, skipped 1 unknown id") and the changed
//! attributes of a write. Pure.

use serde_json::{Map, Value, json};

use super::{Change, diff};
use crate::scim::filter::Filter;
use crate::scim::schema::ResourceKind;

/// Most member ids kept in one activity record.
pub const MEMBER_IDS_RECORDED: usize = 50;

/// A write as the directory reports it.
pub struct Written<'a> {
    pub kind: ResourceKind,
    pub id: &'a str,
    pub before: Option<&'a Map<String, Value>>,
    pub after: &'a Map<String, Value>,
    pub added: &'a [String],
    pub removed: &'a [String],
    /// Member ids that were asked for but name no user.
    pub unknown: &'a [String],
}

/// What the activity record of a write says.
pub struct Narration {
    pub subject: String,
    pub summary: String,
    pub changes: Vec<Change>,
}

/// The userName of a user or displayName of a group.
pub fn subject_of(kind: ResourceKind, attrs: &Map<String, Value>) -> Option<String> {
    attrs
        .get(kind.name_attr())
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// The subject named in a create's body, before it is validated, so a rejected create still
/// says whom it was for.
pub fn subject_from_body(kind: ResourceKind, body: &Value) -> Option<String> {
    body.as_object()
        .and_then(|o| {
            o.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(kind.name_attr()))
        })
        .and_then(|(_, v)| v.as_str())
        .map(|s| s.chars().take(256).collect())
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// `searched all resources where ...`.
pub fn search(what: &str, filter: Option<&Filter>) -> String {
    match filter {
        Some(f) => format!("{what} where {f}"),
        None => what.to_string(),
    }
}

/// `looked up users where ...: 1 found` or `listed users 1-100 of 250`.
pub fn list(
    kind: ResourceKind,
    filter: Option<&Filter>,
    start: usize,
    shown: usize,
    total: usize,
) -> String {
    let noun = kind.endpoint().to_lowercase();
    match filter {
        Some(f) => format!("looked up {noun} where {f}: {total} found"),
        None => format!(
            "listed {noun} {start}-{} of {total}",
            start + shown.saturating_sub(1)
        ),
    }
}

/// `read user alice@acme.com`, `deleted group Engineering`.
pub fn one(verb: &str, kind: ResourceKind, subject: &str) -> String {
    format!("{verb} {} {subject}", kind.resource_type().to_lowercase())
}

/// Summary and changed attributes of a create (`verb` "created"), replace or patch.
pub fn write(verb: &str, w: &Written) -> Narration {
    let name = subject_of(w.kind, w.after).unwrap_or_else(|| w.id.to_string());
    let mut changes = diff(w.before, Some(w.after));
    let ids = |v: &[String]| {
        Some(json!(
            v.iter().take(MEMBER_IDS_RECORDED).collect::<Vec<_>>()
        ))
    };
    if !w.added.is_empty() {
        changes.push(Change {
            attr: "members.added".into(),
            old: None,
            new: ids(w.added),
        });
    }
    if !w.removed.is_empty() {
        changes.push(Change {
            attr: "members.removed".into(),
            old: ids(w.removed),
            new: None,
        });
    }
    if !w.unknown.is_empty() {
        changes.push(Change {
            attr: "members.skipped".into(),
            old: None,
            new: ids(w.unknown),
        });
    }
    let active =
        |m: Option<&Map<String, Value>>| m.and_then(|m| m.get("active")).and_then(Value::as_bool);
    let mut parts = Vec::new();
    match (w.kind, w.before) {
        (ResourceKind::User, None) => parts.push(format!("created user {name}")),
        (ResourceKind::User, Some(_))
            if active(w.before) != Some(false) && active(Some(w.after)) == Some(false) =>
        {
            parts.push(format!("deactivated {name}"))
        }
        (ResourceKind::User, Some(_))
            if active(w.before) == Some(false) && active(Some(w.after)) != Some(false) =>
        {
            parts.push(format!("reactivated {name}"))
        }
        (ResourceKind::Group, None) => parts.push(format!(
            "created group {name} with {}",
            plural(w.added.len(), "member", "members")
        )),
        (ResourceKind::Group, Some(old)) => {
            let old_name = old
                .get("displayName")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if old_name != name {
                parts.push(format!("renamed group {old_name} to {name}"));
            }
            if !w.added.is_empty() {
                parts.push(format!(
                    "added {} to {name}",
                    plural(w.added.len(), "member", "members")
                ));
            }
            if !w.removed.is_empty() {
                parts.push(format!(
                    "removed {} from {name}",
                    plural(w.removed.len(), "member", "members")
                ));
            }
        }
        _ => {}
    }
    if !w.unknown.is_empty() {
        parts.push(format!(
            "skipped {}",
            plural(w.unknown.len(), "unknown id", "unknown ids")
        ));
    }
    let attr_changes: Vec<&str> = changes
        .iter()
        .map(|c| c.attr.as_str())
        .filter(|a| !a.starts_with("members.") && *a != "active" && *a != "displayName")
        .collect();
    if w.before.is_some() && parts.is_empty() {
        let what = w.kind.resource_type().to_lowercase();
        if changes.is_empty() {
            parts.push(format!("{verb} {what} {name}: no change"));
        } else {
            parts.push(format!("{verb} {what} {name}: {}", attr_changes.join(", ")));
        }
    } else if w.before.is_some() && !attr_changes.is_empty() {
        parts.push(format!("changed {}", attr_changes.join(", ")));
    }
    Narration {
        subject: name,
        summary: parts.join(", "),
        changes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn writes_are_narrated_in_plain_words() {
        let before = attrs(json!({"userName": "bob@acme.com", "active": true}));
        let after = attrs(json!({"userName": "bob@acme.com", "active": false, "title": "x"}));
        let n = write(
            "updated",
            &Written {
                kind: ResourceKind::User,
                id: "u1",
                before: Some(&before),
                after: &after,
                added: &[],
                removed: &[],
                unknown: &[],
            },
        );
        assert_eq!(n.summary, "deactivated bob@acme.com, changed title");
        let group = attrs(json!({"displayName": "Eng"}));
        let n = write(
            "updated",
            &Written {
                kind: ResourceKind::Group,
                id: "g1",
                before: Some(&group),
                after: &group,
                added: &["a".into(), "b".into(), "c".into()],
                removed: &[],
                unknown: &["zz".into()],
            },
        );
        assert_eq!(n.summary, "added 3 members to Eng, skipped 1 unknown id");
        assert_eq!(n.subject, "Eng");
        let n = write(
            "replaced",
            &Written {
                kind: ResourceKind::User,
                id: "u1",
                before: Some(&before),
                after: &before,
                added: &[],
                removed: &[],
                unknown: &[],
            },
        );
        assert_eq!(n.summary, "replaced user bob@acme.com: no change");
    }
}
