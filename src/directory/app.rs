//! What the vendor's application may read: application keys (issued, listed, revoked,
//! authenticated), the change feed, and keyset-paged listings of the directory.

use super::{AuthFailure, Directory, Error, Organization, ResourceRecord, Result, rules};
use crate::scim::schema::ResourceKind;
use crate::store::{self, AppKey, EventPage, WriteRefused};

/// A freshly issued application key: the only moment its secret exists.
#[derive(Debug, Clone)]
pub struct IssuedAppKey {
    pub key: AppKey,
    pub secret: String,
}

/// The feed's position: what a reader may ask for next.
#[derive(Debug, Clone, Copy)]
pub struct FeedBounds {
    /// The newest durable event's number (0: none yet).
    pub head: u64,
    /// The highest number retention removed (0: none); a reader after an older number
    /// has missed events and must read the directory again.
    pub trimmed_through: u64,
}

impl Directory {
    /// Issues an application key for every organization (`org` None) or one.
    pub async fn issue_app_key(&self, name: &str, org: Option<&str>) -> Result<IssuedAppKey> {
        let name = rules::validate_display_name("key name", name).map_err(Error::invalid)?;
        if let Some(o) = org {
            self.get_org(o)?;
        }
        loop {
            let secret = rules::new_app_secret();
            let key = AppKey {
                id: rules::new_app_key_id(),
                name: name.clone(),
                org: org.map(str::to_string),
                digest: rules::secret_digest(&secret),
                created: store::now(),
                last_used: None,
                revoked: None,
            };
            match self.store.insert_app_key(&key).await? {
                Ok(()) => return Ok(IssuedAppKey { key, secret }),
                Err(WriteRefused::Taken(_)) => continue,
                Err(_) => {
                    return Err(Error::NotFound(format!(
                        "no organization with id {:?}",
                        org.unwrap_or_default()
                    )));
                }
            }
        }
    }

    /// Every application key, oldest first.
    pub fn list_app_keys(&self) -> Result<Vec<AppKey>> {
        let mut keys = self.store.list_app_keys()?;
        keys.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        Ok(keys)
    }

    pub async fn revoke_app_key(&self, id: &str) -> Result<AppKey> {
        let revoked = self
            .store
            .update_app_key(id, |mut k| {
                if k.revoked.is_some() {
                    return Err(format!("application key {} is already revoked", k.id));
                }
                k.revoked = Some(store::now());
                Ok(k)
            })
            .await?;
        match revoked {
            Ok(k) => Ok(k),
            Err(WriteRefused::Rejected(m)) => Err(Error::Refused(m)),
            Err(_) => Err(Error::NotFound(format!("no application key {id:?}"))),
        }
    }

    /// The active application key whose secret this is: one indexed read and a constant-time
    /// comparison; every failure is `Unauthorized`.
    pub fn authenticate_app(&self, secret: &str) -> Result<AppKey> {
        let digest = rules::secret_digest(secret);
        let key = match self.store.app_key_by_digest(&digest)? {
            Some(k) if rules::digests_match(&k.digest, &digest) => k,
            _ => return Err(Error::Unauthorized(AuthFailure::UnknownKey)),
        };
        if !key.is_active() {
            return Err(Error::Unauthorized(AuthFailure::Revoked(key.id)));
        }
        let now = store::now();
        if key
            .last_used
            .is_none_or(|t| now - t > time::Duration::seconds(5))
        {
            self.store.touch_app_key(&key.id, now)?;
        }
        Ok(key)
    }

    pub fn feed_bounds(&self) -> Result<FeedBounds> {
        Ok(FeedBounds {
            head: self.store.event_head().durable(),
            trimmed_through: self.store.events_trimmed_through()?,
        })
    }

    /// The newest durable event's number.
    pub fn feed_head(&self) -> u64 {
        self.store.event_head().durable()
    }

    /// A receiver told each time the feed's durable head moves.
    pub fn watch_feed(&self) -> tokio::sync::watch::Receiver<u64> {
        self.store.event_head().watch()
    }

    /// Durable events after number `after` that `wanted(type, org)` accepts.
    pub fn events_after(
        &self,
        after: u64,
        limit: usize,
        scan: usize,
        wanted: impl Fn(&str, &str) -> bool,
    ) -> Result<EventPage> {
        Ok(self.store.events_after(after, limit, scan, wanted)?)
    }

    /// Like [`Directory::events_after`], waiting up to `wait` for a matching event when none
    /// is there yet (a long poll): answers as soon as one is durable.
    pub async fn wait_events(
        &self,
        mut after: u64,
        limit: usize,
        scan: usize,
        wanted: impl Fn(&str, &str) -> bool,
        wait: std::time::Duration,
    ) -> Result<EventPage> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut head = self.watch_feed();
        loop {
            head.mark_unchanged();
            let page = self.events_after(after, limit, scan, &wanted)?;
            if !page.events.is_empty() || page.more || tokio::time::Instant::now() >= deadline {
                return Ok(page);
            }
            after = page.scanned_to;
            // Nothing yet: sleep until the head moves or the wait is over.
            let _ = tokio::time::timeout_at(deadline, head.changed()).await;
        }
    }

    /// How many of an organization's events are newer than `since`.
    pub fn count_events_since(&self, org: &str, since: time::OffsetDateTime) -> Result<usize> {
        let ms = (since.unix_timestamp_nanos() / 1_000_000).max(0) as u64;
        Ok(self.store.count_events_since(ms, |o| o == org)?)
    }

    /// Removes events older than `max_age` and beyond `max_events`, `batch` at a time;
    /// returns how many went.
    pub async fn trim_events(&self, batch: usize) -> Result<usize> {
        let cutoff = store::now() - self.config().events.retention;
        let cutoff_ms = (cutoff.unix_timestamp_nanos() / 1_000_000).max(0) as u64;
        Ok(self
            .store
            .trim_events(cutoff_ms, self.config().events.max_events, batch)
            .await?)
    }

    /// Up to `limit` organizations after the id `after`, in id order.
    pub fn orgs_after(&self, after: Option<&str>, limit: usize) -> Result<Vec<Organization>> {
        Ok(self
            .list_orgs()?
            .into_iter()
            .filter(|o| after.is_none_or(|a| o.id.as_str() > a))
            .take(limit)
            .collect())
    }

    /// Up to `limit` users or groups after the id `after`, in id order (creation order):
    /// a walk page by page sees every record that exists throughout, once.
    pub fn resources_after(
        &self,
        org: &str,
        kind: ResourceKind,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ResourceRecord>> {
        Ok(self.store.resources_after(org, kind, after, limit)?)
    }

    /// Up to `limit` member ids of a group after the user id `after`, in id order.
    pub fn members_after(
        &self,
        org: &str,
        group: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>> {
        Ok(self.store.members_after(org, group, after, limit)?)
    }

    /// The ids of the groups a user belongs to, in id order.
    pub fn groups_of(&self, org: &str, user: &str) -> Result<Vec<String>> {
        Ok(self.store.groups_of(org, user)?)
    }
}
