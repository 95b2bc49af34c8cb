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
