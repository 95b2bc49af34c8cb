//! The operator's operations (organizations, domains, keys, the directory as the dashboard
//! browses it, activity, the consistency check) as one async trait, so the dashboard and every
//! command work the same whether they hold the store themselves ([`Local`]) or talk to a
//! running server. Values here are plain, serializable views: no secret digests, no store
//! types.

pub mod guides;
mod local;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

pub use local::Local;

use crate::activity::{ActivityEvent, ActivityQuery};
use crate::directory::{self, CheckReport, Organization, ScimKey};
use crate::scim::schema::ResourceKind;

/// What kind of refusal an operation met; the command line turns every one into exit code 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    NotFound,
    AlreadyExists,
    Invalid,
    Refused,
    /// The store could not be used (in use by another process, failing I/O).
    Unavailable,
}

/// A refused or failed operation, with a message for the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
        }
    }
}

impl From<directory::Error> for Error {
    fn from(e: directory::Error) -> Error {
        use directory::Error as D;
        let kind = match &e {
            D::NotFound(_) => ErrorKind::NotFound,
            D::Conflict { .. } | D::AlreadyExists(_) => ErrorKind::AlreadyExists,
            D::Invalid(_) | D::DomainNotAllowed { .. } => ErrorKind::Invalid,
            D::Refused(_) | D::PreconditionFailed | D::ScimDisabled | D::Unauthorized(_) => {
                ErrorKind::Refused
            }
            D::Store(_) => ErrorKind::Unavailable,
        };
        Error::new(kind, e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A SCIM key as operators see it: everything but the digest of its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInfo {
    pub id: String,
    pub org_id: String,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub last_used: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub revoked: Option<OffsetDateTime>,
}

impl KeyInfo {
    pub fn is_active(&self) -> bool {
        self.revoked.is_none()
    }
}

impl From<&ScimKey> for KeyInfo {
    fn from(k: &ScimKey) -> KeyInfo {
        KeyInfo {
            id: k.id.clone(),
            org_id: k.org_id.clone(),
            name: k.name.clone(),
            created: k.created,
            last_used: k.last_used,
            revoked: k.revoked,
        }
    }
}

/// A key just issued: its secret, shown once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssuedKey {
    pub key: KeyInfo,
    pub secret: String,
    pub scim_base_url: String,
}

/// An application key as operators see it: everything but the digest of its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppKeyInfo {
    pub id: String,
    pub name: String,
    /// The one organization it reads; None: every organization.
    pub org: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub last_used: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub revoked: Option<OffsetDateTime>,
}

impl AppKeyInfo {
    pub fn is_active(&self) -> bool {
        self.revoked.is_none()
    }
}

impl From<&crate::directory::AppKey> for AppKeyInfo {
    fn from(k: &crate::directory::AppKey) -> AppKeyInfo {
        AppKeyInfo {
            id: k.id.clone(),
            name: k.name.clone(),
            org: k.org.clone(),
            created: k.created,
            last_used: k.last_used,
            revoked: k.revoked,
        }
    }
}

/// An application key just issued: its secret, shown once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssuedAppKey {
    pub key: AppKeyInfo,
    pub secret: String,
}

/// Which events to read.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EventQuery {
    pub org: Option<String>,
    /// A type filter: `user.*,group.user_added` (empty: every type).
    pub types: Option<String>,
    /// A cursor, or `now`; None: from the oldest retained.
    pub after: Option<String>,
    pub limit: usize,
    /// Seconds to wait for a first matching event.
    pub wait: u64,
}

/// A page of the change feed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventBatch {
    /// The events exactly as the application API serves them.
    pub events: Vec<Value>,
    pub next_cursor: String,
    pub has_more: bool,
}

/// An organization's part of the change feed, for its screen.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FeedSummary {
    /// The feed's head: the cursor of the newest durable event.
    pub head: String,
    pub org_events_last_hour: usize,
}

/// A webhook endpoint as operators see it: no secret, only how many sign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookInfo {
    pub id: String,
    pub url: String,
    /// The one organization whose events it receives; None: every organization's.
    pub org: Option<String>,
    /// Event type filter; empty: every type.
    pub types: Vec<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// Secrets signing now (two while a rotated-out one still signs).
    pub signing_secrets: usize,
    /// When the rotated-out secret stops signing.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub old_secret_expires: Option<OffsetDateTime>,
    /// Events not yet delivered (an upper estimate when `backlog_estimated`).
    pub backlog: u64,
    pub backlog_estimated: bool,
    pub delivered: u64,
    /// Events given up on after every retry.
    pub failed: u64,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub last_success: Option<OffsetDateTime>,
    /// The newest failed attempt.
    pub last_failure: Option<directory::Attempt>,
    /// The earliest retry waiting.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub next_retry: Option<OffsetDateTime>,
    /// Since when every attempt has failed.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub failing_since: Option<OffsetDateTime>,
}

/// One organization's delivery stream of an endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamInfo {
    pub org: String,
    /// The last event delivered or given up on.
    pub cursor: String,
    pub delivered: u64,
    pub failed: u64,
    /// Failed attempts at the next event.
    pub attempts: u32,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub next_retry: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub last_success: Option<OffsetDateTime>,
    pub last_failure: Option<directory::Attempt>,
}

/// An endpoint in full: its streams and recent attempts (newest first).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookDetail {
    pub info: WebhookInfo,
    pub streams: Vec<StreamInfo>,
    pub attempts: Vec<directory::Attempt>,
}

/// An endpoint just added: its signing secret, shown once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddedWebhook {
    pub webhook: WebhookInfo,
    pub secret: String,
}

/// Where a replay starts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ReplayFrom {
    /// After this cursor.
    After(String),
    /// With the first event at or after this time.
    Since(#[serde(with = "time::serde::rfc3339")] OffsetDateTime),
}

/// A new endpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NewWebhook {
    pub url: String,
    pub org: Option<String>,
    /// `user.*,group.user_added`; None: every type.
    pub events: Option<String>,
    /// Start after this cursor instead of the feed's head.
    pub from: Option<String>,
}

/// One line of the organizations table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrgSummary {
    pub org: Organization,
    pub scim_base_url: String,
    pub active_keys: usize,
    pub users: usize,
    pub groups: usize,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub last_sync: Option<OffsetDateTime>,
}

/// One organization in full, as its screen shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrgDetail {
    pub org: Organization,
    pub scim_base_url: String,
    pub keys: Vec<KeyInfo>,
    /// IdP requests answered with a client error in the last hour.
    pub rejected_last_hour: usize,
}

/// How an organization's sync is going, and the size of its directory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OrgHealth {
    /// Requests, errors, the last IdP and unmapped attributes.
    pub sync: directory::SyncHealth,
    pub users: usize,
    /// Users whose `active` is not false.
    pub active_users: usize,
    pub groups: usize,
}

/// A declared extension schema as operators see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchemaInfo {
    pub urn: String,
    pub name: String,
    /// None: declared for every organization.
    pub org: Option<String>,
    pub kind: ResourceKind,
    /// Top-level attribute names.
    pub attributes: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub declared: OffsetDateTime,
    /// `schema add` replaced a declaration of the same URN and scope.
    #[serde(default)]
    pub replaced: bool,
    /// The schema document as `/Schemas` serves it (without `meta`).
    pub document: Value,
}

impl From<&directory::DeclaredSchema> for SchemaInfo {
    fn from(d: &directory::DeclaredSchema) -> SchemaInfo {
        let attributes = d.document["attributes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        SchemaInfo {
            urn: d.urn.clone(),
            name: d.document["name"].as_str().unwrap_or_default().to_string(),
            org: d.org.clone(),
            kind: d.kind,
            attributes,
            declared: d.declared,
            replaced: false,
            document: d.document.clone(),
        }
    }
}

/// One row of the directory browser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceRow {
    pub id: String,
    /// userName or displayName.
    pub name: String,
    /// A user's display name (or given and family name).
    pub display: String,
    /// Users only.
    pub active: Option<bool>,
    /// A user's externalId, a group's member count.
    pub extra: String,
}

/// A user or group in full, with its last change and (groups) a page of members.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResourceDetail {
    pub kind: ResourceKind,
    pub id: String,
    pub title: String,
    pub active: Option<bool>,
    #[serde(with = "time::serde::rfc3339")]
    pub modified: OffsetDateTime,
    /// The SCIM representation, without members.
    pub resource: Value,
    /// The newest write recorded for it, if activity still holds one.
    pub last_change: Option<ActivityEvent>,
    pub member_count: u64,
    /// (id, userName) of the members on the requested page.
    pub members: Vec<(String, Option<String>)>,
}

/// Members shown per page of a group's detail.
pub const MEMBER_PAGE: usize = 20;

/// A live activity record, or a note that some were missed (they are stored).
#[derive(Debug, Clone)]
pub enum FeedItem {
    /// A record, to show and to count.
    Event(Arc<ActivityEvent>),
    /// A record to show; it is counted by a [`FeedItem::Tally`] (a running server sends the
    /// newest records of each tenth of a second and exact counts of all of them).
    Shown(Arc<ActivityEvent>),
    /// Exact counts: (unix minute, requests, errors).
    Tally(Vec<(i64, u64, u64)>),
    Missed(u64),
}

/// Live activity as it happens.
#[async_trait::async_trait]
pub trait ActivityFeed: Send {
    /// The next record; None when the source has gone.
    async fn next(&mut self) -> Option<FeedItem>;
}

/// Everything an operator can do, wherever the store is.
#[async_trait::async_trait]
pub trait Control: Send + Sync {
    /// Where this runs, for the dashboard's footer ("serving on 127.0.0.1:8080").
    fn mode(&self) -> String;

    /// The SCIM base URL of an organization, as typed into its IdP.
    fn scim_base_url(&self, org: &str) -> String;

    async fn list_orgs(&self) -> Result<Vec<OrgSummary>>;
    async fn org(&self, id: &str) -> Result<OrgDetail>;
    /// How its sync is going. The first time for an organization (in a process) this waits
    /// for the activity records of the last moment to be stored, up to a second or two.
    async fn org_health(&self, id: &str) -> Result<OrgHealth>;
    async fn create_org(&self, id: &str, name: &str) -> Result<Organization>;
    async fn rename_org(&self, id: &str, name: &str) -> Result<Organization>;
    async fn delete_org(&self, id: &str) -> Result<()>;
    async fn set_scim(&self, id: &str, enabled: bool) -> Result<Organization>;
    async fn add_domain(&self, org: &str, domain: &str) -> Result<Organization>;
    async fn remove_domain(&self, org: &str, domain: &str) -> Result<Organization>;

    async fn issue_key(&self, org: &str, name: Option<&str>) -> Result<IssuedKey>;
    async fn list_keys(&self, org: &str) -> Result<Vec<KeyInfo>>;
    async fn revoke_key(&self, org: &str, key_id: &str) -> Result<KeyInfo>;

    /// Ids of one kind in list order, all or those a search (a SCIM filter or a plain word)
    /// finds.
    async fn resource_ids(
        &self,
        org: &str,
        kind: ResourceKind,
        search: Option<&str>,
    ) -> Result<Vec<String>>;
    /// The rows for these ids (ids that no longer exist are left out).
    async fn resource_rows(
        &self,
        org: &str,
        kind: ResourceKind,
        ids: &[String],
    ) -> Result<Vec<ResourceRow>>;
    async fn resource_detail(
        &self,
        org: &str,
        kind: ResourceKind,
        id: &str,
        member_page: usize,
    ) -> Result<ResourceDetail>;

    /// Stored activity, newest first.
    async fn activity(&self, query: &ActivityQuery) -> Result<Vec<ActivityEvent>>;
    /// Live activity from now on.
    async fn follow(&self) -> Result<Box<dyn ActivityFeed>>;

    /// Reads the whole store and reports every inconsistency.
    async fn check(&self) -> Result<CheckReport>;

    /// Declares an extension schema from its JSON document, for one organization or every one;
    /// `kind` None: the URN says which resource type it extends.
    async fn declare_schema(
        &self,
        document: &str,
        org: Option<&str>,
        kind: Option<ResourceKind>,
    ) -> Result<SchemaInfo>;
    async fn list_schemas(&self) -> Result<Vec<SchemaInfo>>;
    /// Removes a declaration; refused while stored resources carry its values unless `force`.
    async fn remove_schema(&self, urn: &str, org: Option<&str>, force: bool) -> Result<SchemaInfo>;

    /// Up to `limit` users or groups of `org` after the id `after`, in id order, as the
    /// application API shows them; a group also lists its member ids (`members`).
    async fn export_page(
        &self,
        org: &str,
        kind: ResourceKind,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<serde_json::Value>>;

    /// Writes a consistent backup of the running store to `out` (writes go on meanwhile);
    /// `progress(bytes)` is called as it goes.
    async fn backup(
        &self,
        out: Box<dyn std::io::Write + Send>,
        progress: Box<dyn FnMut(u64) + Send>,
    ) -> Result<crate::store::BackupStats>;

    async fn issue_app_key(&self, name: &str, org: Option<&str>) -> Result<IssuedAppKey>;
    async fn list_app_keys(&self) -> Result<Vec<AppKeyInfo>>;
    async fn revoke_app_key(&self, id: &str) -> Result<AppKeyInfo>;

    /// A page of the change feed (waiting up to `query.wait` seconds for a first event).
    async fn events(&self, query: &EventQuery) -> Result<EventBatch>;
    async fn feed_summary(&self, org: &str) -> Result<FeedSummary>;

    async fn add_webhook(&self, new: &NewWebhook) -> Result<AddedWebhook>;
    async fn list_webhooks(&self) -> Result<Vec<WebhookInfo>>;
    async fn webhook(&self, id: &str) -> Result<WebhookDetail>;
    async fn remove_webhook(&self, id: &str) -> Result<()>;
    async fn set_webhook_enabled(&self, id: &str, enabled: bool) -> Result<WebhookInfo>;
    /// A new signing secret, returned once; the old one signs beside it for a day.
    async fn rotate_webhook_secret(&self, id: &str) -> Result<String>;
    /// Sends a `webhook.test` event now and returns the attempt.
    async fn test_webhook(&self, id: &str) -> Result<directory::Attempt>;
    async fn replay_webhook(&self, id: &str, from: &ReplayFrom) -> Result<WebhookInfo>;
    /// Retries the endpoint's waiting deliveries now (when the service runs in this process).
    async fn retry_webhook_now(&self, id: &str) -> Result<()>;
}

/// A plain word becomes a filter over the usual name attributes; anything that parses as a
/// filter is used as one.
pub fn search_filter(kind: ResourceKind, text: &str) -> String {
    const OPERATORS: [&str; 13] = [
        "eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr", "and", "or", "not",
    ];
    let looks_like_filter = text
        .split_whitespace()
        .skip(1)
        .any(|w| OPERATORS.iter().any(|op| w.eq_ignore_ascii_case(op)));
    if looks_like_filter {
        return text.to_string();
    }
    let quoted = serde_json::to_string(text).unwrap_or_default();
    match kind {
        ResourceKind::User => format!(
            "userName co {quoted} or displayName co {quoted} or name.givenName co {quoted} or name.familyName co {quoted} or emails.value co {quoted} or externalId eq {quoted}"
        ),
        ResourceKind::Group => format!("displayName co {quoted} or externalId eq {quoted}"),
    }
}
