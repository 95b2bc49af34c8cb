//! The one key codec: how every record family is laid out in the tree. No other file spells a
//! tag or a separator.
//!
//! A key is a one-byte tag followed by parts, each preceded by a `\0` separator. Parts are
//! organization ids, resource ids, normalised values: none contains `\0` (ids are validated,
//! values come from JSON strings, which the store refuses to index when they hold a NUL).
//!
//! | tag | parts                          | value                         |
//! |-----|--------------------------------|-------------------------------|
//! | `o` | org                            | `Organization`                |
//! | `k` | org, key id                    | `ScimKey`                     |
//! | `d` | sha256(secret) hex             | org `\0` key id               |
//! | `u` | org, user id                   | `ResourceRecord`              |
//! | `g` | org, group id                  | `ResourceRecord`              |
//! | `n` | org, kind, unique value        | id (userName / displayName)   |
//! | `x` | org, kind, attr, value, id     | empty (secondary index)       |
//! | `m` | org, group, user               | empty (membership)            |
//! | `r` | org, user, group               | empty (reverse membership)    |
//! | `a` | org, newest id, record count   | activity blob                 |
//! | `c` | org, kind                      | count of users or groups      |
//! | `w` | sequence (8 bytes, no separator)| redo intent of a write group |
//! | `e` | sequence (8 bytes, no separator)| change-feed event             |
//! | `f` | (none)                         | highest event sequence trimmed|
//! | `F` | (none)                         | highest event sequence committed |
//! | `p` | app key id                     | `AppKey`                      |
//! | `q` | sha256(secret) hex             | app key id                    |
//! | `h` | endpoint id                    | `WebhookEndpoint`             |
//! | `i` | endpoint id, org               | `DeliveryState`               |
//! | `j` | endpoint id                    | recent delivery attempts      |
//! | `l` | endpoint id                    | `WebhookProgress`             |
//! | `s` | org or `*` (every org), URN    | `DeclaredSchema`              |
//! | `z` | name                           | scratch (benchmark ceilings)  |
//!
//! One file on purpose: every family's builders and the parser `check` uses must agree byte
//! for byte, so they stay side by side (a third of the file is the round-trip tests).

use crate::scim::schema::ResourceKind;

const SEP: u8 = 0;

const ORG: u8 = b'o';
const SCIM_KEY: u8 = b'k';
const DIGEST: u8 = b'd';
const USER: u8 = b'u';
const GROUP: u8 = b'g';
const UNIQUE: u8 = b'n';
const TERM: u8 = b'x';
const MEMBER: u8 = b'm';
const MEMBER_OF: u8 = b'r';
const ACTIVITY: u8 = b'a';
const COUNTER: u8 = b'c';
const INTENT: u8 = b'w';
const EVENT: u8 = b'e';
const EVENTS_TRIMMED: u8 = b'f';
const EVENTS_COMMITTED: u8 = b'F';
const APP_KEY: u8 = b'p';
const APP_DIGEST: u8 = b'q';
const WEBHOOK: u8 = b'h';
const DELIVERY: u8 = b'i';
const ATTEMPTS: u8 = b'j';
const PROGRESS: u8 = b'l';
const SCRATCH: u8 = b'z';
const SCHEMA: u8 = b's';
/// The scope part of a schema declared for every organization (org ids are slugs, never `*`).
const EVERY_ORG: &str = "*";

fn build(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + parts.iter().map(|p| p.len() + 1).sum::<usize>());
    k.push(tag);
    for p in parts {
        k.push(SEP);
        k.extend_from_slice(p);
    }
    k
}

/// The prefix of every key under `parts`, ending in a separator.
fn under(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = build(tag, parts);
    k.push(SEP);
    k
}

fn kind_tag(kind: ResourceKind) -> u8 {
    match kind {
        ResourceKind::User => USER,
        ResourceKind::Group => GROUP,
    }
}

fn kind_of(tag: u8) -> Option<ResourceKind> {
    match tag {
        USER => Some(ResourceKind::User),
        GROUP => Some(ResourceKind::Group),
        _ => None,
    }
}

/// The last part of a key: the id an index entry points at.
pub fn last_part(k: &[u8]) -> String {
    let start = k.iter().rposition(|&b| b == SEP).map_or(0, |i| i + 1);
    String::from_utf8_lossy(&k[start..]).into_owned()
}

pub fn org(org: &str) -> Vec<u8> {
    build(ORG, &[org.as_bytes()])
}

pub fn all_orgs() -> Vec<u8> {
    vec![ORG, SEP]
}

pub fn scim_key(org: &str, key_id: &str) -> Vec<u8> {
    build(SCIM_KEY, &[org.as_bytes(), key_id.as_bytes()])
}

pub fn scim_keys_of(org: &str) -> Vec<u8> {
    under(SCIM_KEY, &[org.as_bytes()])
}

pub fn digest(digest_hex: &str) -> Vec<u8> {
    build(DIGEST, &[digest_hex.as_bytes()])
}

/// The value of a digest entry: which key of which organization it names.
pub fn digest_target(org: &str, key_id: &str) -> Vec<u8> {
    [org.as_bytes(), &[SEP], key_id.as_bytes()].concat()
}

/// (org, key id) from a digest entry's value.
pub fn parse_digest_target(v: &[u8]) -> Option<(String, String)> {
    let split = v.iter().position(|&b| b == SEP)?;
    Some((
        String::from_utf8_lossy(&v[..split]).into_owned(),
        String::from_utf8_lossy(&v[split + 1..]).into_owned(),
    ))
}

pub fn record(org: &str, kind: ResourceKind, id: &str) -> Vec<u8> {
    build(kind_tag(kind), &[org.as_bytes(), id.as_bytes()])
}

pub fn records_of(org: &str, kind: ResourceKind) -> Vec<u8> {
    under(kind_tag(kind), &[org.as_bytes()])
}

pub fn unique(org: &str, kind: ResourceKind, value: &str) -> Vec<u8> {
    build(
        UNIQUE,
        &[org.as_bytes(), &[kind_tag(kind)], value.as_bytes()],
    )
}

pub fn term(org: &str, kind: ResourceKind, attr: &str, value: &str, id: &str) -> Vec<u8> {
    build(
        TERM,
        &[
            org.as_bytes(),
            &[kind_tag(kind)],
            attr.as_bytes(),
            value.as_bytes(),
            id.as_bytes(),
        ],
    )
}

/// Every index entry for one (attr, value): the ids are the keys' last parts.
pub fn terms_of(org: &str, kind: ResourceKind, attr: &str, value: &str) -> Vec<u8> {
    under(
        TERM,
        &[
            org.as_bytes(),
            &[kind_tag(kind)],
            attr.as_bytes(),
            value.as_bytes(),
        ],
    )
}

pub fn member(org: &str, group: &str, user: &str) -> Vec<u8> {
    build(MEMBER, &[org.as_bytes(), group.as_bytes(), user.as_bytes()])
}

pub fn members_of(org: &str, group: &str) -> Vec<u8> {
    under(MEMBER, &[org.as_bytes(), group.as_bytes()])
}

pub fn member_of(org: &str, user: &str, group: &str) -> Vec<u8> {
    build(
        MEMBER_OF,
        &[org.as_bytes(), user.as_bytes(), group.as_bytes()],
    )
}

pub fn groups_of(org: &str, user: &str) -> Vec<u8> {
    under(MEMBER_OF, &[org.as_bytes(), user.as_bytes()])
}

pub fn counter(org: &str, kind: ResourceKind) -> Vec<u8> {
    build(COUNTER, &[org.as_bytes(), &[kind_tag(kind)]])
}

pub fn activity_blob(org: &str, newest_id: &str, count: usize) -> Vec<u8> {
    build(
        ACTIVITY,
        &[
            org.as_bytes(),
            newest_id.as_bytes(),
            count.to_string().as_bytes(),
        ],
    )
}

pub fn activity_of(org: &str) -> Vec<u8> {
    under(ACTIVITY, &[org.as_bytes()])
}

/// (newest id, record count) of an activity blob key.
pub fn parse_activity_blob(k: &[u8]) -> (String, usize) {
    let p: Vec<&[u8]> = k.split(|b| *b == SEP).collect();
    let id = p
        .get(2)
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    let n = p
        .get(3)
        .and_then(|b| std::str::from_utf8(b).ok()?.parse().ok())
        .unwrap_or(0);
    (id, n)
}

pub fn scratch(name: &[u8]) -> Vec<u8> {
    build(SCRATCH, &[name])
}

/// Redo intents sort by sequence under this prefix.
pub fn all_intents() -> Vec<u8> {
    vec![INTENT, SEP]
}

pub fn intent(seq: u64) -> Vec<u8> {
    [&[INTENT, SEP][..], &seq.to_be_bytes()].concat()
}

pub fn parse_intent(k: &[u8]) -> Option<u64> {
    k.get(2..)?.try_into().ok().map(u64::from_be_bytes)
}

/// Events sort by sequence under this prefix.
pub fn all_events() -> Vec<u8> {
    vec![EVENT, SEP]
}

pub fn event(seq: u64) -> Vec<u8> {
    [&[EVENT, SEP][..], &seq.to_be_bytes()].concat()
}

pub fn parse_event(k: &[u8]) -> Option<u64> {
    (k.first() == Some(&EVENT))
        .then(|| k.get(2..)?.try_into().ok().map(u64::from_be_bytes))
        .flatten()
}

/// The one key holding the highest event sequence whose group committed.
pub fn events_committed() -> Vec<u8> {
    vec![EVENTS_COMMITTED]
}

/// The one key holding the highest event sequence trimmed so far.
pub fn events_trimmed() -> Vec<u8> {
    vec![EVENTS_TRIMMED]
}

pub fn app_key(id: &str) -> Vec<u8> {
    build(APP_KEY, &[id.as_bytes()])
}

pub fn all_app_keys() -> Vec<u8> {
    vec![APP_KEY, SEP]
}

pub fn app_digest(digest_hex: &str) -> Vec<u8> {
    build(APP_DIGEST, &[digest_hex.as_bytes()])
}

pub fn webhook(id: &str) -> Vec<u8> {
    build(WEBHOOK, &[id.as_bytes()])
}

pub fn all_webhooks() -> Vec<u8> {
    vec![WEBHOOK, SEP]
}

pub fn delivery(endpoint: &str, org: &str) -> Vec<u8> {
    build(DELIVERY, &[endpoint.as_bytes(), org.as_bytes()])
}

pub fn deliveries_of(endpoint: &str) -> Vec<u8> {
    under(DELIVERY, &[endpoint.as_bytes()])
}

pub fn attempts(endpoint: &str) -> Vec<u8> {
    build(ATTEMPTS, &[endpoint.as_bytes()])
}

pub fn progress(endpoint: &str) -> Vec<u8> {
    build(PROGRESS, &[endpoint.as_bytes()])
}

/// Every prefix under which an organization owns keys: all but its own record (see [`org`])
/// and its keys' digests (keyed by digest).
/// A declared extension schema: for one organization, or for every one (`org` None).
pub fn schema(org: Option<&str>, urn: &str) -> Vec<u8> {
    build(
        SCHEMA,
        &[org.unwrap_or(EVERY_ORG).as_bytes(), urn.as_bytes()],
    )
}

pub fn all_schemas() -> Vec<u8> {
    vec![SCHEMA, SEP]
}

pub fn owned_by(org: &str) -> Vec<Vec<u8>> {
    [
        SCIM_KEY, USER, GROUP, UNIQUE, TERM, MEMBER, MEMBER_OF, COUNTER, ACTIVITY, SCHEMA,
    ]
    .into_iter()
    .map(|tag| under(tag, &[org.as_bytes()]))
    .collect()
}

/// A key taken apart, for the consistency check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Org(String),
    ScimKey {
        org: String,
        id: String,
    },
    Digest(String),
    Record {
        org: String,
        kind: ResourceKind,
        id: String,
    },
    Unique {
        org: String,
        kind: ResourceKind,
        value: String,
    },
    Term {
        org: String,
        kind: ResourceKind,
        attr: String,
        value: String,
        id: String,
    },
    Member {
        org: String,
        group: String,
        user: String,
    },
    MemberOf {
        org: String,
        user: String,
        group: String,
    },
    Counter {
        org: String,
        kind: ResourceKind,
    },
    Activity {
        org: String,
        newest: String,
        count: usize,
    },
    Intent,
    Event(u64),
    EventsTrimmed,
    EventsCommitted,
    AppKey(String),
    AppDigest(String),
    Webhook(String),
    Delivery {
        endpoint: String,
        org: String,
    },
    Attempts(String),
    Progress(String),
    Scratch,
    /// A declared schema; `org` None: for every organization.
    Schema {
        org: Option<String>,
        urn: String,
    },
}

impl Parsed {
    /// The organization that owns the key, if any.
    pub fn org(&self) -> Option<&str> {
        match self {
            Parsed::Org(o)
            | Parsed::ScimKey { org: o, .. }
            | Parsed::Record { org: o, .. }
            | Parsed::Unique { org: o, .. }
            | Parsed::Term { org: o, .. }
            | Parsed::Member { org: o, .. }
            | Parsed::MemberOf { org: o, .. }
            | Parsed::Counter { org: o, .. }
            | Parsed::Activity { org: o, .. }
            | Parsed::Schema { org: Some(o), .. } => Some(o),
            Parsed::Digest(_)
            | Parsed::Intent
            | Parsed::Event(_)
            | Parsed::EventsTrimmed
            | Parsed::EventsCommitted
            | Parsed::AppKey(_)
            | Parsed::AppDigest(_)
            | Parsed::Webhook(_)
            | Parsed::Delivery { .. }
            | Parsed::Attempts(_)
            | Parsed::Progress(_)
            | Parsed::Scratch
            | Parsed::Schema { org: None, .. } => None,
        }
    }
}

/// Takes a key apart; None for a key no family writes.
pub fn parse(k: &[u8]) -> Option<Parsed> {
    let tag = *k.first()?;
    match tag {
        INTENT => return Some(Parsed::Intent),
        EVENT => return parse_event(k).map(Parsed::Event),
        EVENTS_TRIMMED if k.len() == 1 => return Some(Parsed::EventsTrimmed),
        EVENTS_COMMITTED if k.len() == 1 => return Some(Parsed::EventsCommitted),
        _ => {}
    }
    let parts: Vec<String> = k
        .get(2..)?
        .split(|b| *b == SEP)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    let kind = |s: &str| kind_of(*s.as_bytes().first()?);
    let p = |i: usize| parts.get(i).cloned();
    Some(match (tag, parts.len()) {
        (ORG, 1) => Parsed::Org(p(0)?),
        (SCIM_KEY, 2) => Parsed::ScimKey {
            org: p(0)?,
            id: p(1)?,
        },
        (DIGEST, 1) => Parsed::Digest(p(0)?),
        (USER | GROUP, 2) => Parsed::Record {
            org: p(0)?,
            kind: kind_of(tag)?,
            id: p(1)?,
        },
        (UNIQUE, n) if n >= 3 => Parsed::Unique {
            org: p(0)?,
            kind: kind(&parts[1])?,
            value: parts[2..].join("\0"),
        },
        (TERM, n) if n >= 5 => Parsed::Term {
            org: p(0)?,
            kind: kind(&parts[1])?,
            attr: p(2)?,
            value: parts[3..n - 1].join("\0"),
            id: p(n - 1)?,
        },
        (MEMBER, 3) => Parsed::Member {
            org: p(0)?,
            group: p(1)?,
            user: p(2)?,
        },
        (MEMBER_OF, 3) => Parsed::MemberOf {
            org: p(0)?,
            user: p(1)?,
            group: p(2)?,
        },
        (COUNTER, 2) => Parsed::Counter {
            org: p(0)?,
            kind: kind(&parts[1])?,
        },
        (ACTIVITY, 3) => {
            let (newest, count) = parse_activity_blob(k);
            Parsed::Activity {
                org: p(0)?,
                newest,
                count,
            }
        }
        (APP_KEY, 1) => Parsed::AppKey(p(0)?),
        (APP_DIGEST, 1) => Parsed::AppDigest(p(0)?),
        (WEBHOOK, 1) => Parsed::Webhook(p(0)?),
        (DELIVERY, 2) => Parsed::Delivery {
            endpoint: p(0)?,
            org: p(1)?,
        },
        (ATTEMPTS, 1) => Parsed::Attempts(p(0)?),
        (PROGRESS, 1) => Parsed::Progress(p(0)?),
        (SCRATCH, _) => Parsed::Scratch,
        (SCHEMA, 2) => Parsed::Schema {
            org: Some(p(0)?).filter(|o| o != EVERY_ORG),
            urn: p(1)?,
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_parses_back() {
        let u = ResourceKind::User;
        let g = ResourceKind::Group;
        let cases = [
            (org("acme"), Parsed::Org("acme".into())),
            (
                scim_key("acme", "key_1"),
                Parsed::ScimKey {
                    org: "acme".into(),
                    id: "key_1".into(),
                },
            ),
            (digest("ab12"), Parsed::Digest("ab12".into())),
            (
                record("acme", g, "g1"),
                Parsed::Record {
                    org: "acme".into(),
                    kind: g,
                    id: "g1".into(),
                },
            ),
            (
                unique("acme", u, "a@b.c"),
                Parsed::Unique {
                    org: "acme".into(),
                    kind: u,
                    value: "a@b.c".into(),
                },
            ),
            (
                term("acme", u, "externalId", "e1", "u1"),
                Parsed::Term {
                    org: "acme".into(),
                    kind: u,
                    attr: "externalId".into(),
                    value: "e1".into(),
                    id: "u1".into(),
                },
            ),
            (
                member("acme", "g1", "u1"),
                Parsed::Member {
                    org: "acme".into(),
                    group: "g1".into(),
                    user: "u1".into(),
                },
            ),
            (
                member_of("acme", "u1", "g1"),
                Parsed::MemberOf {
                    org: "acme".into(),
                    user: "u1".into(),
                    group: "g1".into(),
                },
            ),
            (
                counter("acme", u),
                Parsed::Counter {
                    org: "acme".into(),
                    kind: u,
                },
            ),
            (
                activity_blob("acme", "0190", 32),
                Parsed::Activity {
                    org: "acme".into(),
                    newest: "0190".into(),
                    count: 32,
                },
            ),
            (intent(7), Parsed::Intent),
            (event(9), Parsed::Event(9)),
            (events_trimmed(), Parsed::EventsTrimmed),
            (events_committed(), Parsed::EventsCommitted),
            (app_key("appkey_1"), Parsed::AppKey("appkey_1".into())),
            (
                schema(Some("acme"), "urn:x:2.0:User"),
                Parsed::Schema {
                    org: Some("acme".into()),
                    urn: "urn:x:2.0:User".into(),
                },
            ),
            (
                schema(None, "urn:x:2.0:User"),
                Parsed::Schema {
                    org: None,
                    urn: "urn:x:2.0:User".into(),
                },
            ),
            (app_digest("ab"), Parsed::AppDigest("ab".into())),
            (webhook("whk_1"), Parsed::Webhook("whk_1".into())),
            (
                delivery("whk_1", "acme"),
                Parsed::Delivery {
                    endpoint: "whk_1".into(),
                    org: "acme".into(),
                },
            ),
            (attempts("whk_1"), Parsed::Attempts("whk_1".into())),
            (progress("whk_1"), Parsed::Progress("whk_1".into())),
            (scratch(b"x"), Parsed::Scratch),
        ];
        for (k, want) in cases {
            assert_eq!(parse(&k), Some(want.clone()), "{k:?}");
            if want.org().is_some() && !matches!(want, Parsed::Org(_)) {
                assert!(
                    owned_by("acme").iter().any(|p| k.starts_with(p)),
                    "{want:?} is not under an owned prefix"
                );
                assert!(!owned_by("acm").iter().any(|p| k.starts_with(p)));
            }
        }
        assert_eq!(parse_intent(&intent(41)), Some(41));
        assert!(intent(1) < intent(2) && intent(255) < intent(256));
        assert_eq!(last_part(&term("a", u, "x", "v", "id9")), "id9");
        assert_eq!(
            parse_digest_target(&digest_target("acme", "key_1")),
            Some(("acme".into(), "key_1".into()))
        );
    }
}
