//! Sync activity, pure: one record per SCIM request that names an existing organization, what
//! it did in plain words, and what it changed (records, IdP recognition, attribute diffs,
//! queries, and in `describe` how a request is narrated). The directory's activity log
//! records, stores and streams them.

pub mod describe;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// The identity provider behind a request, recognised from its User-Agent and shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "agent")]
pub enum Idp {
    Okta,
    Entra,
    OneLogin,
    JumpCloud,
    Google,
    Ping,
    /// Anything else, with the raw User-Agent ("" when none was sent).
    Other(String),
}

impl Idp {
    /// Recognises the IdP from the User-Agent, or from Entra's `aadOptscim062020` query flag.
    pub fn recognise(user_agent: &str, query: &str) -> Idp {
        let ua = user_agent.to_ascii_lowercase();
        let has = |s: &str| ua.contains(s);
        if has("okta") {
            Idp::Okta
        } else if has("microsoft")
            || has("azure")
            || has("entra")
            || has("aad")
            || query.contains("aadOptscim")
        {
            Idp::Entra
        } else if has("onelogin") {
            Idp::OneLogin
        } else if has("jumpcloud") {
            Idp::JumpCloud
        } else if has("google") {
            Idp::Google
        } else if has("ping") {
            Idp::Ping
        } else {
            Idp::Other(user_agent.chars().take(200).collect())
        }
    }

    /// A short label for tables.
    pub fn label(&self) -> String {
        match self {
            Idp::Okta => "Okta".into(),
            Idp::Entra => "Entra ID".into(),
            Idp::OneLogin => "OneLogin".into(),
            Idp::JumpCloud => "JumpCloud".into(),
            Idp::Google => "Google".into(),
            Idp::Ping => "Ping".into(),
            Idp::Other(a) if a.is_empty() => "other (no agent)".into(),
            Idp::Other(a) => format!("other: {a}"),
        }
    }

    /// Parses a command-line name (`okta`, `entra`, ...).
    pub fn parse_name(s: &str) -> Option<Idp> {
        Some(match s.to_ascii_lowercase().as_str() {
            "okta" => Idp::Okta,
            "entra" | "azure" | "microsoft" => Idp::Entra,
            "onelogin" => Idp::OneLogin,
            "jumpcloud" => Idp::JumpCloud,
            "google" => Idp::Google,
            "ping" => Idp::Ping,
            "other" => Idp::Other(String::new()),
            _ => return None,
        })
    }

    fn same_kind(&self, other: &Idp) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

/// One changed attribute of a write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub attr: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

/// One SCIM request as the operator sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityEvent {
    /// Time-ordered id.
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    pub org: String,
    pub key_id: Option<String>,
    pub idp: Idp,
    pub method: String,
    pub path: String,
    /// `User`, `Group`, or the discovery endpoint read.
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    /// The userName or displayName affected.
    pub subject: Option<String>,
    pub status: u16,
    pub latency_us: u64,
    pub summary: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    /// Attributes the request sent that no schema declares (`urn:…:badge`), left out of the
    /// resource.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<String>,
}

/// Success, client error or server error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    ClientError,
    ServerError,
}

impl ActivityEvent {
    pub fn outcome(&self) -> Outcome {
        match self.status {
            500.. => Outcome::ServerError,
            400..=499 => Outcome::ClientError,
            _ => Outcome::Success,
        }
    }

    pub fn is_error(&self) -> bool {
        self.status >= 400
    }

    /// A request that succeeded in changing something (not a read or a search).
    pub fn is_write(&self) -> bool {
        !self.is_error()
            && matches!(self.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE")
            && !self.path.contains(".search")
    }
}

/// What to read back, newest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ActivityQuery {
    pub org: Option<String>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub since: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub until: Option<OffsetDateTime>,
    pub outcome: Option<Outcome>,
    /// Any error (client or server) when set; combines with `outcome` by `and`.
    pub errors_only: bool,
    pub idp: Option<Idp>,
    pub resource_id: Option<String>,
    /// Matched case-insensitively against the subject.
    pub user_name: Option<String>,
    /// Only requests that changed something (successful writes).
    pub writes_only: bool,
    pub limit: usize,
}

impl ActivityQuery {
    /// True when `e` passes every condition except the limit and the time range's lower end.
    pub fn matches(&self, e: &ActivityEvent) -> bool {
        self.org.as_ref().is_none_or(|o| *o == e.org)
            && self.since.is_none_or(|t| e.time >= t)
            && self.until.is_none_or(|t| e.time <= t)
            && self.outcome.is_none_or(|o| e.outcome() == o)
            && (!self.errors_only || e.is_error())
            && self.idp.as_ref().is_none_or(|i| i.same_kind(&e.idp))
            && self
                .resource_id
                .as_ref()
                .is_none_or(|r| e.resource_id.as_ref() == Some(r))
            && (!self.writes_only || e.is_write())
            && self.user_name.as_ref().is_none_or(|u| {
                e.subject
                    .as_ref()
                    .is_some_and(|s| s.eq_ignore_ascii_case(u))
            })
    }
}

/// Flattens attributes to `path -> value` (complex single values by sub-attribute, extension
/// attributes by URN path; multi-valued attributes whole), borrowing the values. The
/// definition [`diff`] follows (and is tested against).
#[cfg(test)]
fn flatten<'a>(attrs: &'a Map<String, Value>, prefix: &str, out: &mut Vec<(String, &'a Value)>) {
    for (k, v) in attrs {
        let path = format!("{prefix}{k}");
        match v {
            Value::Object(inner) => flatten(inner, &sub_prefix(k, &path), out),
            other => out.push((path, other)),
        }
    }
}

/// Names the sub-attributes of `path`: `name.givenName`, and for an extension schema
/// `urn:...:User:department`.
fn sub_prefix(key: &str, path: &str) -> String {
    if key.starts_with("urn:") {
        format!("{path}:")
    } else {
        format!("{path}.")
    }
}

/// The attributes that differ between two versions, in a stable order. `password` never
/// appears (it is never stored, and is filtered here too). Runs on the request path of every
/// recorded write, so it walks both versions side by side and skips equal subtrees without
/// copying or naming anything: only changed values get a path and a copy.
pub fn diff(old: Option<&Map<String, Value>>, new: Option<&Map<String, Value>>) -> Vec<Change> {
    let empty = Map::new();
    let mut out = Vec::new();
    diff_maps(old.unwrap_or(&empty), new.unwrap_or(&empty), "", &mut out);
    out.sort_by(|a, b| a.attr.cmp(&b.attr));
    out.dedup_by(|later, first| later.attr == first.attr);
    out
}

fn diff_maps(a: &Map<String, Value>, b: &Map<String, Value>, prefix: &str, out: &mut Vec<Change>) {
    for (k, va) in a {
        match b.get(k) {
            Some(vb) if va == vb => {}
            vb => diff_values(k, Some(va), vb, prefix, out),
        }
    }
    for (k, vb) in b {
        if !a.contains_key(k) {
            diff_values(k, None, Some(vb), prefix, out);
        }
    }
}

/// One attribute that differs: complex values are compared by sub-attribute (as [`flatten`]
/// names them), anything else whole.
fn diff_values(k: &str, a: Option<&Value>, b: Option<&Value>, prefix: &str, out: &mut Vec<Change>) {
    let path = format!("{prefix}{k}");
    fn split(v: Option<&Value>) -> (Option<&Map<String, Value>>, Option<&Value>) {
        match v {
            Some(Value::Object(m)) => (Some(m), None),
            other => (None, other),
        }
    }
    let ((ma, sa), (mb, sb)) = (split(a), split(b));
    if ma.is_some() || mb.is_some() {
        let empty = Map::new();
        diff_maps(
            ma.unwrap_or(&empty),
            mb.unwrap_or(&empty),
            &sub_prefix(k, &path),
            out,
        );
    }
    if sa != sb && !path.eq_ignore_ascii_case("password") {
        out.push(Change {
            attr: path,
            old: sa.cloned(),
            new: sb.cloned(),
        });
    }
}

/// One line per record for terminals and logs.
pub fn one_line(e: &ActivityEvent) -> String {
    format!(
        "{}  {:<16} {:<12} {:<6} {:>3} {:>8}  {}",
        crate::util::display_time(e.time),
        e.org,
        e.idp.label(),
        e.method,
        e.status,
        format!("{:.1}ms", e.latency_us as f64 / 1000.0),
        e.summary
    )
}

/// Renders a change as `attr: old -> new` for one-line views.
pub fn describe_change(c: &Change) -> String {
    let show = |v: &Option<Value>| match v {
        None => "(none)".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    format!("{}: {} -> {}", c.attr, show(&c.old), show(&c.new))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn recognises_idps() {
        assert_eq!(Idp::recognise("Okta SCIM Client 1.0.0", ""), Idp::Okta);
        assert_eq!(
            Idp::recognise("Microsoft.Identity.Provisioning", ""),
            Idp::Entra
        );
        assert_eq!(Idp::recognise("", "filter=x&aadOptscim062020"), Idp::Entra);
        assert_eq!(Idp::recognise("OneLogin-SCIM/1.0", ""), Idp::OneLogin);
        assert_eq!(Idp::recognise("JumpCloud SCIM", ""), Idp::JumpCloud);
        assert_eq!(Idp::recognise("Google-Cloud-Identity", ""), Idp::Google);
        assert_eq!(Idp::recognise("PingFederate/11", ""), Idp::Ping);
        assert_eq!(
            Idp::recognise("curl/8.0", ""),
            Idp::Other("curl/8.0".into())
        );
        assert_eq!(Idp::recognise("curl/8.0", "").label(), "other: curl/8.0");
    }

    /// The plain definition `diff` must agree with: every name on either side, in order,
    /// compared by value.
    fn diff_model(old: &Map<String, Value>, new: &Map<String, Value>) -> Vec<Change> {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        flatten(old, "", &mut a);
        flatten(new, "", &mut b);
        let mut names: Vec<&String> = a.iter().chain(b.iter()).map(|(k, _)| k).collect();
        names.sort();
        names.dedup();
        names
            .into_iter()
            .filter(|n| !n.eq_ignore_ascii_case("password"))
            .filter_map(|n| {
                let old = a.iter().find(|(k, _)| k == n).map(|(_, v)| (*v).clone());
                let new = b.iter().find(|(k, _)| k == n).map(|(_, v)| (*v).clone());
                (old != new).then(|| Change {
                    attr: n.clone(),
                    old,
                    new,
                })
            })
            .collect()
    }

    fn attrs() -> impl proptest::strategy::Strategy<Value = Map<String, Value>> {
        use proptest::prelude::*;
        // Top-level names first; sub-attribute names only appear nested.
        const NAMES: [&str; 10] = [
            "userName",
            "active",
            "title",
            "password",
            "emails",
            "name",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            "givenName",
            "familyName",
            "department",
        ];
        let name = |n: usize| prop::sample::select(&NAMES[..n]).prop_map(String::from);
        let leaf = prop_oneof![
            any::<bool>().prop_map(Value::from),
            "[ab]{0,2}".prop_map(Value::from),
            Just(Value::Null),
            prop::collection::vec("[ab]{0,1}".prop_map(Value::from), 0..2).prop_map(Value::from),
        ];
        let value = leaf.prop_recursive(2, 12, 4, move |inner| {
            prop::collection::btree_map(name(NAMES.len()), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect()))
        });
        prop::collection::btree_map(name(7), value, 0..6).prop_map(|m| m.into_iter().collect())
    }

    proptest::proptest! {
        #[test]
        fn diff_agrees_with_its_plain_definition(old in attrs(), new in attrs()) {
            proptest::prop_assert_eq!(diff(Some(&old), Some(&new)), diff_model(&old, &new));
            proptest::prop_assert_eq!(diff(None, Some(&new)), diff_model(&Map::new(), &new));
            proptest::prop_assert_eq!(diff(Some(&old), None), diff_model(&old, &Map::new()));
        }
    }

    #[test]
    fn diffs_flatten_complex_and_extension_attributes() {
        let old = json!({"userName": "a", "active": true, "name": {"givenName": "A", "familyName": "B"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"}});
        let new = json!({"userName": "a", "active": false, "name": {"givenName": "Ann", "familyName": "B"},
            "title": "Boss", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Sales"}});
        let changes = diff(old.as_object(), new.as_object());
        let names: Vec<&str> = changes.iter().map(|c| c.attr.as_str()).collect();
        assert_eq!(
            names,
            [
                "active",
                "name.givenName",
                "title",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"
            ]
        );
        assert_eq!(describe_change(&changes[0]), "active: true -> false");
        assert_eq!(describe_change(&changes[2]), "title: (none) -> Boss");
        let with_password = json!({"password": "x"});
        assert!(diff(None, with_password.as_object()).is_empty());
    }
}
