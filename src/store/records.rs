//! The records the store persists, as JSON values under the keys `keys.rs` lays out.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// A customer of the vendor: the tenant every user, group and key belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Organization {
    pub id: String,
    pub name: String,
    pub scim_enabled: bool,
    /// Lowercased DNS names, or `*` for any domain. No duplicates.
    pub domains: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated: OffsetDateTime,
}

/// A SCIM API key. Only the SHA-256 digest of its secret is kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScimKey {
    pub id: String,
    pub org_id: String,
    pub name: String,
    /// Lowercase hex SHA-256 of the secret.
    pub digest: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub last_used: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub revoked: Option<OffsetDateTime>,
}

impl ScimKey {
    pub fn is_active(&self) -> bool {
        self.revoked.is_none()
    }
}

/// What a record is findable by: its unique value (lowercased userName or displayName) and
/// other exact-match terms (attribute name, normalised value).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntries {
    pub unique: String,
    pub terms: Vec<(String, String)>,
    /// Terms (also in `terms`) no other record of the organization may hold: attributes a
    /// declared schema marks `uniqueness: server`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unique_terms: Vec<(String, String)>,
}

impl IndexEntries {
    /// The value under which a unique term is held in the unique index: the attribute and
    /// value joined by NUL, which no userName or displayName contains.
    pub fn unique_term_value(attr: &str, value: &str) -> String {
        format!("{attr}\0{value}")
    }

    /// Every value this record holds in the unique index.
    pub fn unique_values(&self) -> impl Iterator<Item = String> + '_ {
        std::iter::once(self.unique.clone()).chain(
            self.unique_terms
                .iter()
                .map(|(a, v)| IndexEntries::unique_term_value(a, v)),
        )
    }
}

/// A stored User or Group: its SCIM attributes (without id, meta, schemas, groups or members)
/// and bookkeeping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceRecord {
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub modified: OffsetDateTime,
    /// Incremented on every write; the ETag is derived from it.
    pub version: u64,
    pub attrs: serde_json::Map<String, serde_json::Value>,
    pub index: IndexEntries,
    /// Groups only: how many members the group has.
    #[serde(default)]
    pub member_count: u64,
}

impl ResourceRecord {
    /// Marks the record as written at `at`: a new version.
    pub fn touch(&mut self, at: OffsetDateTime) {
        self.modified = at;
        self.version += 1;
    }

    /// The weak ETag for the current version.
    pub fn etag(&self) -> String {
        format!("W/\"{}\"", self.version)
    }
}

/// An extension schema an operator declared: for one organization or every one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeclaredSchema {
    pub org: Option<String>,
    pub kind: crate::scim::schema::ResourceKind,
    pub urn: String,
    /// The RFC 7643 §7 schema document, validated and with its defaults filled in.
    pub document: serde_json::Value,
    #[serde(with = "time::serde::rfc3339")]
    pub declared: OffsetDateTime,
}

/// An application key: what the vendor's application authenticates with on the application
/// API. Only the SHA-256 digest of its secret is kept. `org` scopes it to one organization;
/// None reads every organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppKey {
    pub id: String,
    pub name: String,
    pub org: Option<String>,
    /// Lowercase hex SHA-256 of the secret.
    pub digest: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub last_used: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub revoked: Option<OffsetDateTime>,
}

impl AppKey {
    pub fn is_active(&self) -> bool {
        self.revoked.is_none()
    }

    /// Whether this key may read `org`'s data.
    pub fn sees(&self, org: &str) -> bool {
        self.org.as_deref().is_none_or(|o| o == org)
    }
}

/// A webhook endpoint: where events are pushed, which ones, and its signing secrets (sealed:
/// only their encryption is stored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    pub id: String,
    pub url: String,
    /// Only this organization's events; None: every organization's.
    pub org: Option<String>,
    /// Event type filter (`user.*`, `group.user_added`); empty: every type.
    pub types: Vec<String>,
    pub secrets: Vec<SealedSecret>,
    pub enabled: bool,
    /// Why it was disabled (by an operator, a 410, five days of failures).
    pub disabled_reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// Deliveries start after this event number.
    pub from: u64,
    /// Bumped by a replay: streams start again from `from`.
    pub generation: u64,
}

impl WebhookEndpoint {
    /// The secrets that sign now (a rotated-out secret signs until it expires).
    pub fn signing(&self, now: OffsetDateTime) -> impl Iterator<Item = &SealedSecret> {
        self.secrets
            .iter()
            .filter(move |s| s.expires.is_none_or(|e| e > now))
    }
}

/// A signing secret, encrypted under the data directory's key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SealedSecret {
    pub sealed: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub expires: Option<OffsetDateTime>,
}

/// Where one endpoint's deliveries of one organization's events stand.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeliveryState {
    /// The last event delivered or given up on.
    pub cursor: u64,
    /// Failed attempts at the event after `cursor`.
    pub attempts: u32,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub next_retry: Option<OffsetDateTime>,
    /// Since when every attempt has failed (None after any success).
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub failing_since: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub last_success: Option<OffsetDateTime>,
    pub last_failure: Option<Attempt>,
    pub delivered: u64,
    /// Events given up on after every retry.
    pub failed: u64,
}

/// Where an endpoint's reading of the feed stands, and its health.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WebhookProgress {
    /// The endpoint generation (see [`WebhookEndpoint::generation`]) this belongs to.
    pub generation: u64,
    /// Every event up to here has been handed to its organization's stream: an organization
    /// without a delivery state has nothing pending up to here.
    pub swept: u64,
    /// Since when every attempt has failed (None after any success).
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub failing_since: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub last_success: Option<OffsetDateTime>,
}

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub org: String,
    /// The event's cursor (or `test`).
    pub event: String,
    /// The receiver's status; None when there was no reply (timeout, connection).
    pub status: Option<u16>,
    pub latency_ms: f64,
    /// What went wrong, and the start of the reply's body.
    pub error: Option<String>,
}
