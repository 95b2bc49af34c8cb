//! The change feed's events, in domain words: which event a change makes (one per resource it
//! changed), and the resources as the application API shows them (the `data` of an event is
//! exactly what the read API returns for that resource). Pure.

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use super::{Organization, ResourceRecord, ScimKey};
use crate::scim::schema::ResourceKind;
use crate::store::{NewEvent, ResourceUpdate};
use crate::util::rfc3339;

/// Every event type, for documentation and for validating `type` filters.
pub const EVENT_TYPES: &[&str] = &[
    "user.created",
    "user.updated",
    "user.deactivated",
    "user.reactivated",
    "user.deleted",
    "group.created",
    "group.updated",
    "group.deleted",
    "group.user_added",
    "group.user_removed",
    "organization.created",
    "organization.updated",
    "organization.deleted",
    "organization.scim_enabled",
    "organization.scim_disabled",
    "organization.domain_added",
    "organization.domain_removed",
    "organization.key_issued",
    "organization.key_revoked",
];

/// Parses an event type filter: comma-separated names (`user.created`) or families
/// (`user.*`); every one must name a type that exists.
pub fn parse_type_filter(text: &str) -> Result<Vec<String>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            let known = match t.strip_suffix(".*") {
                Some(f) => EVENT_TYPES.iter().any(|e| e.starts_with(&format!("{f}."))),
                None => EVENT_TYPES.contains(&t),
            };
            if known {
                Ok(t.to_string())
            } else {
                Err(format!(
                    "unknown event type {t:?}: use names like user.created or families like user.*"
                ))
            }
        })
        .collect()
}

/// Whether a filter from [`parse_type_filter`] takes events of type `t` (an empty one takes
/// every type).
pub fn type_matches(filter: &[String], t: &str) -> bool {
    filter.is_empty()
        || filter.iter().any(|want| match want.strip_suffix('*') {
            Some(prefix) => t.starts_with(prefix),
            None => want == t,
        })
}

/// An organization as the application API shows it.
pub fn org_view(org: &Organization) -> Value {
    json!({
        "object": "organization",
        "id": org.id,
        "name": org.name,
        "scim_enabled": org.scim_enabled,
        "domains": org.domains,
        "created_at": rfc3339(org.created),
        "updated_at": rfc3339(org.updated),
    })
}

/// A SCIM key as the application API shows it: never its digest.
pub fn key_view(k: &ScimKey) -> Value {
    json!({
        "object": "scim_key",
        "id": k.id,
        "organization": k.org_id,
        "name": k.name,
        "created_at": rfc3339(k.created),
        "revoked_at": k.revoked.map(rfc3339),
    })
}

/// A user or group as the application API shows it: `object`, `id`, `organization`, every
/// SCIM attribute under its SCIM name (extension attributes under their URN), `active` for
/// users (true unless the IdP said otherwise), `member_count` for groups, and
/// `created_at`/`updated_at`/`version`. Serializes from the record without copying it.
pub struct ResourceView<'a> {
    pub org: &'a str,
    pub kind: ResourceKind,
    pub rec: &'a ResourceRecord,
}

impl Serialize for ResourceView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let rec = self.rec;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry(
            "object",
            match self.kind {
                ResourceKind::User => "user",
                ResourceKind::Group => "group",
            },
        )?;
        m.serialize_entry("id", &rec.id)?;
        m.serialize_entry("organization", self.org)?;
        for (k, v) in &rec.attrs {
            m.serialize_entry(k, v)?;
        }
        match self.kind {
            ResourceKind::User if !rec.attrs.contains_key("active") => {
                m.serialize_entry("active", &true)?
            }
            ResourceKind::User => {}
            ResourceKind::Group => m.serialize_entry("member_count", &rec.member_count)?,
        }
        m.serialize_entry("created_at", &rfc3339(rec.created))?;
        m.serialize_entry("updated_at", &rfc3339(rec.modified))?;
        m.serialize_entry("version", &rec.etag())?;
        m.end()
    }
}

/// [`ResourceView`] as a JSON value (for the read API).
pub fn resource_view(org: &str, kind: ResourceKind, rec: &ResourceRecord) -> Value {
    serde_json::to_value(ResourceView { org, kind, rec }).unwrap_or(Value::Null)
}

/// Serializes an event's `data` or `previous` once.
fn raw(v: &impl Serialize) -> Box<RawValue> {
    serde_json::value::to_raw_value(v)
        .unwrap_or_else(|_| RawValue::from_string("null".into()).expect("null is JSON"))
}

fn event(
    t: &'static str,
    org: &str,
    data: Value,
    previous: Option<Value>,
    request: Option<&str>,
) -> NewEvent {
    raw_event(t, org, raw(&data), previous.map(|p| raw(&p)), request)
}

fn raw_event(
    t: &'static str,
    org: &str,
    data: Box<RawValue>,
    previous: Option<Box<RawValue>>,
    request: Option<&str>,
) -> NewEvent {
    NewEvent::new(t, org, &data, previous.as_deref(), request)
}

/// The prior values of the top-level attributes that differ (null: it was absent).
fn previous(before: &Map<String, Value>, after: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in before {
        if after.get(k) != Some(v) {
            out.insert(k.clone(), v.clone());
        }
    }
    for k in after.keys() {
        if !before.contains_key(k) {
            out.insert(k.clone(), Value::Null);
        }
    }
    out
}

fn active(attrs: &Map<String, Value>) -> bool {
    attrs.get("active").and_then(Value::as_bool).unwrap_or(true)
}

fn membership(
    t: &'static str,
    org: &str,
    group: (&str, &str),
    user: (&str, &str),
    request: Option<&str>,
) -> NewEvent {
    event(
        t,
        org,
        json!({
            "group": {"id": group.0, "displayName": group.1},
            "user": {"id": user.0, "userName": user.1},
        }),
        None,
        request,
    )
}

/// The events of a create, replace or patch of a user or group: one for the resource if its
/// own attributes changed (a user's change of `active` is `user.deactivated` or
/// `user.reactivated` alone, its `previous` holding every attribute the write changed), and
/// one per member added or removed. A write that changes nothing makes none.
pub fn resource_written(
    org: &str,
    kind: ResourceKind,
    u: &ResourceUpdate,
    request: Option<&str>,
) -> Vec<NewEvent> {
    let mut out = Vec::new();
    let data = || {
        raw(&ResourceView {
            org,
            kind,
            rec: &u.after,
        })
    };
    let (created, updated) = match kind {
        ResourceKind::User => ("user.created", "user.updated"),
        ResourceKind::Group => ("group.created", "group.updated"),
    };
    match &u.before {
        None => out.push(raw_event(created, org, data(), None, request)),
        Some(before) => {
            let prev = previous(&before.attrs, &u.after.attrs);
            if !prev.is_empty() {
                let t = match kind {
                    ResourceKind::User if active(&before.attrs) && !active(&u.after.attrs) => {
                        "user.deactivated"
                    }
                    ResourceKind::User if !active(&before.attrs) && active(&u.after.attrs) => {
                        "user.reactivated"
                    }
                    _ => updated,
                };
                out.push(raw_event(t, org, data(), Some(raw(&prev)), request));
            }
        }
    }
    if kind == ResourceKind::Group {
        let group_name = u
            .after
            .attrs
            .get("displayName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let name = |id: &str| {
            u.members
                .names
                .get(id)
                .map(String::as_str)
                .unwrap_or_default()
        };
        for user in &u.members.added {
            out.push(membership(
                "group.user_added",
                org,
                (&u.after.id, group_name),
                (user, name(user)),
                request,
            ));
        }
        for user in &u.members.removed {
            out.push(membership(
                "group.user_removed",
                org,
                (&u.after.id, group_name),
                (user, name(user)),
                request,
            ));
        }
    }
    out
}

/// The events of a delete: `user.deleted` (and `group.user_removed` for each group the user
/// was in) or `group.deleted` (a deleted group's memberships go with it, without events).
pub fn resource_deleted(
    org: &str,
    kind: ResourceKind,
    rec: &ResourceRecord,
    groups: &[(String, String)],
    request: Option<&str>,
) -> Vec<NewEvent> {
    let t = match kind {
        ResourceKind::User => "user.deleted",
        ResourceKind::Group => "group.deleted",
    };
    let mut out = vec![raw_event(
        t,
        org,
        raw(&ResourceView { org, kind, rec }),
        None,
        request,
    )];
    let user_name = rec
        .attrs
        .get("userName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    for (gid, gname) in groups {
        out.push(membership(
            "group.user_removed",
            org,
            (gid, gname),
            (&rec.id, user_name),
            request,
        ));
    }
    out
}

pub fn org_created(org: &Organization) -> Vec<NewEvent> {
    vec![event(
        "organization.created",
        &org.id,
        org_view(org),
        None,
        None,
    )]
}

pub fn org_deleted(org: &Organization) -> Vec<NewEvent> {
    vec![event(
        "organization.deleted",
        &org.id,
        org_view(org),
        None,
        None,
    )]
}

/// The events of a change to an organization's own fields: its name, SCIM switch, domains.
pub fn org_changed(before: &Organization, after: &Organization) -> Vec<NewEvent> {
    let mut out = Vec::new();
    let data = || org_view(after);
    if before.name != after.name {
        out.push(event(
            "organization.updated",
            &after.id,
            data(),
            Some(json!({"name": before.name})),
            None,
        ));
    }
    if before.scim_enabled != after.scim_enabled {
        let t = if after.scim_enabled {
            "organization.scim_enabled"
        } else {
            "organization.scim_disabled"
        };
        out.push(event(t, &after.id, data(), None, None));
    }
    for d in after.domains.iter().filter(|d| !before.domains.contains(d)) {
        let mut v = data();
        v["domain"] = json!(d);
        out.push(event(
            "organization.domain_added",
            &after.id,
            v,
            Some(json!({"domains": before.domains})),
            None,
        ));
    }
    for d in before.domains.iter().filter(|d| !after.domains.contains(d)) {
        let mut v = data();
        v["domain"] = json!(d);
        out.push(event(
            "organization.domain_removed",
            &after.id,
            v,
            Some(json!({"domains": before.domains})),
            None,
        ));
    }
    out
}

pub fn key_issued(k: &ScimKey) -> Vec<NewEvent> {
    vec![event(
        "organization.key_issued",
        &k.org_id,
        key_view(k),
        None,
        None,
    )]
}

pub fn key_revoked(k: &ScimKey) -> Vec<NewEvent> {
    vec![event(
        "organization.key_revoked",
        &k.org_id,
        key_view(k),
        None,
        None,
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MembershipReport;

    fn rec(id: &str, attrs: Value) -> ResourceRecord {
        ResourceRecord {
            id: id.into(),
            created: crate::store::now(),
            modified: crate::store::now(),
            version: 1,
            attrs: attrs.as_object().unwrap().clone(),
            index: Default::default(),
            member_count: 0,
        }
    }

    fn update(before: Option<Value>, after: Value) -> ResourceUpdate {
        ResourceUpdate {
            before: before.map(|b| rec("u1", b)),
            after: rec("u1", after),
            members: MembershipReport::default(),
        }
    }

    fn types(events: &[NewEvent]) -> Vec<&str> {
        events.iter().map(|e| e.event_type).collect()
    }

    #[test]
    fn a_deactivation_is_one_event_with_everything_it_changed() {
        let u = update(
            Some(json!({"userName": "a@x.com", "title": "Dev"})),
            json!({"userName": "a@x.com", "title": "Ex", "active": false}),
        );
        let e = resource_written("acme", ResourceKind::User, &u, Some("req1"));
        assert_eq!(types(&e), ["user.deactivated"]);
        let v = e[0].json();
        assert_eq!(v["previous"], json!({"title": "Dev", "active": null}));
        assert_eq!(v["data"]["active"], false);
        assert_eq!(v["data"]["object"], "user");
        assert_eq!(v["request_id"], "req1");
        let back = update(
            Some(json!({"userName": "a@x.com", "active": false})),
            json!({"userName": "a@x.com", "active": true}),
        );
        assert_eq!(
            types(&resource_written("acme", ResourceKind::User, &back, None)),
            ["user.reactivated"]
        );
    }

    #[test]
    fn type_filters_take_names_and_families() {
        let t = parse_type_filter("user.*, group.user_added").unwrap();
        assert!(type_matches(&t, "user.deactivated"));
        assert!(type_matches(&t, "group.user_added"));
        assert!(!type_matches(&t, "group.user_removed"));
        assert!(type_matches(&[], "anything"));
        assert!(parse_type_filter("users.*").is_err());
        assert!(parse_type_filter("user.create").is_err());
    }

    #[test]
    fn a_write_that_changes_nothing_makes_no_event() {
        let same = json!({"userName": "a@x.com"});
        let u = update(Some(same.clone()), same);
        assert!(resource_written("acme", ResourceKind::User, &u, None).is_empty());
    }

    #[test]
    fn membership_changes_are_one_event_per_member() {
        let mut u = update(
            Some(json!({"displayName": "Eng"})),
            json!({"displayName": "Eng"}),
        );
        u.members.added = (0..500).map(|i| format!("u{i}")).collect();
        u.members.removed = vec!["old".into()];
        u.members.names.insert("u7".into(), "seven@x.com".into());
        let e = resource_written("acme", ResourceKind::Group, &u, None);
        assert_eq!(
            e.len(),
            501,
            "no group.updated: the group's own attributes did not change"
        );
        assert_eq!(e[7].event_type, "group.user_added");
        assert_eq!(
            e[7].json()["data"],
            json!({"group": {"id": "u1", "displayName": "Eng"}, "user": {"id": "u7", "userName": "seven@x.com"}})
        );
        assert_eq!(e[500].event_type, "group.user_removed");
    }

    #[test]
    fn organization_changes_name_their_event() {
        let now = crate::store::now();
        let before = Organization {
            id: "acme".into(),
            name: "Acme".into(),
            scim_enabled: false,
            domains: vec!["a.com".into()],
            created: now,
            updated: now,
        };
        let mut after = before.clone();
        after.scim_enabled = true;
        after.domains = vec!["b.com".into()];
        assert_eq!(
            types(&org_changed(&before, &after)),
            [
                "organization.scim_enabled",
                "organization.domain_added",
                "organization.domain_removed"
            ]
        );
    }
}
