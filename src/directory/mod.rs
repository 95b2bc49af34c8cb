//! The directory owns the provisioning rules: organizations, domains, keys, users, groups and
//! memberships, and it is the only way to the store. The server, the dashboard and the command
//! line all read and change data through here; every mutating method returns only after its
//! write is durable (group commit).

pub mod activity_log;
mod app;
mod credentials;
mod error;
pub mod feed;
mod index;
mod member_ops;
mod org_stats;
mod orgs;
mod query;
pub mod resources;
pub mod rules;
mod schemas;
pub mod secrets;
mod webhooks;

use std::sync::Arc;

pub use crate::store::{AppKey, EventPage, StoredEvent};
pub use crate::store::{Attempt, DeliverySave, DeliveryState, WebhookEndpoint, WebhookProgress};
pub use crate::store::{
    CheckReport, DeclaredSchema, IndexEntries, MembershipReport, Organization, ResourceRecord,
    ScimKey,
};
pub use app::{FeedBounds, IssuedAppKey};
pub use credentials::IssuedKey;
pub use error::{AuthFailure, Error, Result};
pub use org_stats::{SyncHealth, Unmapped};
pub use query::Page;
pub use resources::WriteOutcome;
pub use schemas::SchemaDeclared;
pub use webhooks::{
    Backlog, IssuedWebhook, ROTATION_OVERLAP, WebhookSignal, forbidden_ip, validate_webhook_url,
};

use crate::config::Config;
use crate::store::Store;
pub use activity_log::{ActivityLog, Retention};

/// The directory over one open store.
#[derive(Clone)]
pub struct Directory {
    store: Store,
    config: Arc<Config>,
    activity: Arc<ActivityLog>,
    /// The webhook secrets' sealing key, read on first use.
    sealing: Arc<std::sync::Mutex<Option<Arc<secrets::SealingKey>>>>,
    webhook_signals: tokio::sync::broadcast::Sender<WebhookSignal>,
    /// Bumped by every change to an endpoint, before its operation returns.
    webhook_epoch: Arc<std::sync::atomic::AtomicU64>,
    /// Declared extension schemas and each organization's schemas.
    schemas: Arc<schemas::SchemaCache>,
    /// Each organization's count of deactivated users, and when it was counted.
    inactive: Arc<std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, usize)>>>,
}

impl Directory {
    /// Opens the store named by the configuration.
    pub fn open(config: Config) -> Result<Directory> {
        let store = Store::open(&config.store.data_dir, config.store.cache_capacity)?;
        tracing::debug!(path = %config.store.data_dir.display(), "store opened");
        let activity = if config.activity.enabled {
            ActivityLog::start(store.clone(), Retention::from_config(&config.activity))
                .map_err(|e| Error::Store(crate::store::Error::Io(e.to_string())))?
        } else {
            ActivityLog::disabled(store.clone())
        };
        let schemas = Arc::new(schemas::SchemaCache::load(&store)?);
        Ok(Directory {
            store,
            schemas,
            inactive: Arc::default(),
            config: Arc::new(config),
            activity: Arc::new(activity),
            sealing: Arc::default(),
            webhook_signals: tokio::sync::broadcast::Sender::new(64),
            webhook_epoch: Arc::default(),
        })
    }

    /// The sync activity log: record, stream, query.
    pub fn activity(&self) -> &ActivityLog {
        &self.activity
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Waits for every write so far to be on disk.
    pub async fn durable(&self) -> Result<()> {
        Ok(self.store.durable().await?)
    }

    /// Whether the store answers a read.
    pub fn health(&self) -> Result<()> {
        Ok(self.store.health()?)
    }

    /// Reads the whole store and reports every disagreement between records and indexes.
    pub fn check(&self) -> Result<CheckReport> {
        Ok(self.store.check()?)
    }

    /// [`Directory::check`] of one consistent state while the store is in use: writes wait
    /// while it reads.
    pub async fn check_between_writes(&self) -> Result<CheckReport> {
        Ok(self.store.check_between_writes().await?)
    }

    /// Writes a consistent backup (the store and the webhook secrets' key) to `out` while
    /// writes go on; `progress(bytes)` as it goes. Blocking: run it on a blocking thread.
    pub fn backup(
        &self,
        out: impl std::io::Write,
        progress: impl FnMut(u64),
    ) -> Result<crate::store::BackupStats> {
        let key = self.config.store.data_dir.join(secrets::KEY_FILE);
        let mut files = Vec::new();
        match std::fs::read(&key) {
            Ok(bytes) => files.push((secrets::KEY_FILE, bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::Store(crate::store::Error::Io(format!(
                    "{}: {e}",
                    key.display()
                ))));
            }
        }
        Ok(self.store.backup(&files, out, progress)?)
    }

    /// Bytes the store occupies on disk.
    pub fn size_on_disk(&self) -> Result<u64> {
        Ok(self.store.size_on_disk()?)
    }

    /// Stores what activity is still queued, then flushes everything: the last step of a
    /// shutdown.
    pub async fn close(&self) -> Result<()> {
        self.activity.close();
        self.durable().await
    }

    pub fn scim_base_url(&self, org_id: &str) -> String {
        self.config.scim_base_url(org_id)
    }

    /// Whether changes write events (`[events] enabled`).
    pub(crate) fn events_on(&self) -> bool {
        self.config.events.enabled
    }

    /// The events `make` builds, when the feed is on.
    fn feed(
        &self,
        make: impl FnOnce() -> Vec<crate::store::NewEvent>,
    ) -> Vec<crate::store::NewEvent> {
        if self.events_on() { make() } else { Vec::new() }
    }
}
