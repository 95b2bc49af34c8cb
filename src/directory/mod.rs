//! Provisioning rules over the store: organizations, domains, keys, users, groups and
//! memberships. The server, the dashboard and the command line all change data through here;
//! every mutating method returns only after its write is durable (group commit).

pub mod resources;
pub mod rules;

use std::sync::Arc;

use crate::activity::{ActivityLog, Retention};
use crate::config::Config;
use crate::store::{self, Organization, ScimKey, Store, StoreError, WriteRefused};

/// What went wrong, in terms an operator or an IdP can act on.
#[derive(Debug, thiserror::Error)]
pub enum DirError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type Result<T, E = DirError> = std::result::Result<T, E>;

/// A freshly issued key: the only moment its secret exists outside the IdP.
#[derive(Debug, Clone)]
pub struct IssuedKey {
    pub key: ScimKey,
    pub secret: String,
}

/// Why a bearer token was refused. The client always sees the same 401; operators see this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    Missing,
    Malformed,
    UnknownKey,
    Revoked(String),
    OtherOrganization(String),
}

impl std::fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthFailure::Missing => f.write_str("no bearer token"),
            AuthFailure::Malformed => f.write_str("malformed Authorization header"),
            AuthFailure::UnknownKey => f.write_str("unknown key"),
            AuthFailure::Revoked(id) => write!(f, "revoked key {id}"),
            AuthFailure::OtherOrganization(id) => write!(f, "key {id} of another organization"),
        }
    }
}

/// The directory over one open store.
#[derive(Clone)]
pub struct Directory {
    store: Store,
    config: Arc<Config>,
    activity: Arc<ActivityLog>,
}

fn unknown_org(id: &str) -> DirError {
    DirError::NotFound(format!("no organization with id {id:?}"))
}

impl Directory {
    /// Opens the store named by the configuration.
    pub fn open(config: Config) -> Result<Directory> {
        let store = Store::open(&config.store.data_dir, config.store.cache_capacity)?;
        let activity = if config.activity.enabled {
            ActivityLog::start(store.clone(), Retention::from_config(&config.activity))
                .map_err(|e| DirError::Store(StoreError::Sled(e.into())))?
        } else {
            ActivityLog::disabled(store.clone())
        };
        Ok(Directory {
            store,
            config: Arc::new(config),
            activity: Arc::new(activity),
        })
    }

    /// The sync activity log: record, stream, query.
    pub fn activity(&self) -> &ActivityLog {
        &self.activity
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Waits for every write so far to be on disk.
    pub async fn durable(&self) -> Result<()> {
        Ok(self.store.durable().await?)
    }

    pub fn scim_base_url(&self, org_id: &str) -> String {
        self.config.scim_base_url(org_id)
    }

    // ----- organizations -----

    pub async fn create_org(&self, id: &str, name: &str) -> Result<Organization> {
        rules::validate_org_id(id).map_err(DirError::Invalid)?;
        let name =
            rules::validate_display_name("organization name", name).map_err(DirError::Invalid)?;
        let now = store::now();
        let org = Organization {
            id: id.to_string(),
            name,
            scim_enabled: false,
            domains: Vec::new(),
            created: now,
            updated: now,
        };
        match self.store.create_org(&org).await? {
            Ok(()) => Ok(org),
            Err(_) => Err(DirError::Conflict(format!(
                "an organization with id {id:?} already exists"
            ))),
        }
    }

    pub fn get_org(&self, id: &str) -> Result<Organization> {
        self.store.get_org(id)?.ok_or_else(|| unknown_org(id))
    }

    pub fn list_orgs(&self) -> Result<Vec<Organization>> {
        Ok(self.store.list_orgs()?)
    }

    async fn update_org(
        &self,
        id: &str,
        f: impl Fn(Organization) -> Result<Organization, String> + Send + 'static,
    ) -> Result<Organization> {
        let updated = self
            .store
            .update_org(id, move |mut org| {
                org = f(org)?;
                org.updated = store::now();
                Ok(org)
            })
            .await?;
        match updated {
            Ok(org) => Ok(org),
            Err(WriteRefused::Rejected(msg)) => Err(DirError::Invalid(msg)),
            Err(_) => Err(unknown_org(id)),
        }
    }

    pub async fn rename_org(&self, id: &str, name: &str) -> Result<Organization> {
        let name =
            rules::validate_display_name("organization name", name).map_err(DirError::Invalid)?;
        self.update_org(id, move |mut org| {
            org.name = name.clone();
            Ok(org)
        })
        .await
    }

    pub async fn set_scim_enabled(&self, id: &str, enabled: bool) -> Result<Organization> {
        self.update_org(id, move |mut org| {
            org.scim_enabled = enabled;
            Ok(org)
        })
        .await
    }

    /// Deletes an organization and everything it owns, atomically.
    pub async fn delete_org(&self, id: &str) -> Result<()> {
        if !self.store.delete_org(id).await? {
            return Err(unknown_org(id));
        }
        Ok(())
    }

    // ----- domains -----

    pub async fn add_domain(&self, org: &str, domain: &str) -> Result<Organization> {
        let domain = rules::normalize_domain(domain).map_err(DirError::Invalid)?;
        self.get_org(org)?;
        let org_id = org.to_string();
        let result = self
            .update_org(org, move |mut o| {
                if o.domains.contains(&domain) {
                    return Err(format!("{domain} is already a SCIM domain of {org_id}"));
                }
                o.domains.push(domain.clone());
                o.domains.sort();
                Ok(o)
            })
            .await;
        match result {
            Err(DirError::Invalid(msg)) => Err(DirError::Conflict(msg)),
            other => other,
        }
    }

    pub async fn remove_domain(&self, org: &str, domain: &str) -> Result<Organization> {
        let wanted = rules::normalize_domain(domain).unwrap_or_else(|_| domain.trim().to_string());
        self.get_org(org)?;
        let org_id = org.to_string();
        let result = self
            .update_org(org, move |mut o| {
                let before = o.domains.len();
                o.domains.retain(|d| *d != wanted);
                if o.domains.len() == before {
                    return Err(format!("{wanted} is not a SCIM domain of {org_id}"));
                }
                Ok(o)
            })
            .await;
        match result {
            Err(DirError::Invalid(msg)) => Err(DirError::NotFound(msg)),
            other => other,
        }
    }

    // ----- keys -----

    /// Issues a key: returns the secret once; only its digest is stored.
    pub async fn issue_key(&self, org: &str, name: Option<&str>) -> Result<IssuedKey> {
        self.get_org(org)?;
        let name = match name {
            Some(n) => rules::validate_display_name("key name", n).map_err(DirError::Invalid)?,
            None => format!("key issued {}", crate::util::display_time(store::now())),
        };
        loop {
            let secret = rules::new_secret().map_err(DirError::Invalid)?;
            let key = ScimKey {
                id: rules::new_key_id().map_err(DirError::Invalid)?,
                org_id: org.to_string(),
                name: name.clone(),
                digest: rules::secret_digest(&secret),
                created: store::now(),
                last_used: None,
                revoked: None,
            };
            match self.store.insert_key(&key).await? {
                Ok(()) => return Ok(IssuedKey { key, secret }),
                // A key id collision (48 random bits): draw again.
                Err(WriteRefused::Taken(_)) => continue,
                Err(_) => return Err(unknown_org(org)),
            }
        }
    }

    pub fn list_keys(&self, org: &str) -> Result<Vec<ScimKey>> {
        self.get_org(org)?;
        Ok(self.store.list_keys(org)?)
    }

    /// Revokes a key permanently.
    pub async fn revoke_key(&self, org: &str, key_id: &str) -> Result<ScimKey> {
        self.get_org(org)?;
        let id = key_id.to_string();
        let revoked = self
            .store
            .update_key(org, key_id, move |mut k| {
                if k.revoked.is_some() {
                    return Err(format!("key {id} is already revoked"));
                }
                k.revoked = Some(store::now());
                Ok(k)
            })
            .await?;
        match revoked {
            Ok(k) => Ok(k),
            Err(WriteRefused::Rejected(msg)) => Err(DirError::Conflict(msg)),
            Err(_) => Err(DirError::NotFound(format!(
                "organization {org} has no key {key_id:?}"
            ))),
        }
    }

    /// The active key of `org` whose secret is `secret`, or None. The secret's digest is looked
    /// up with one indexed read and compared in constant time; every failure looks the same.
    pub fn authenticate(&self, org: &str, secret: &str) -> Result<Option<ScimKey>> {
        Ok(self.authenticate_detailed(org, secret)?.ok())
    }

    /// Like [`Directory::authenticate`], saying why a secret was refused.
    pub fn authenticate_detailed(
        &self,
        org: &str,
        secret: &str,
    ) -> Result<Result<ScimKey, AuthFailure>> {
        let digest = rules::secret_digest(secret);
        let Some(key) = self.store.key_by_digest(&digest)? else {
            return Ok(Err(AuthFailure::UnknownKey));
        };
        if !rules::digests_match(&key.digest, &digest) {
            return Ok(Err(AuthFailure::UnknownKey));
        }
        if key.org_id != org {
            return Ok(Err(AuthFailure::OtherOrganization(key.id)));
        }
        if !key.is_active() {
            return Ok(Err(AuthFailure::Revoked(key.id)));
        }
        Ok(Ok(key))
    }

    /// Records that a key was used. Not flushed per request; written at most every few seconds.
    pub fn touch_key(&self, key: &ScimKey) -> Result<()> {
        let now = store::now();
        let stale = key
            .last_used
            .is_none_or(|t| (now - t) > time::Duration::seconds(5));
        if stale {
            self.store
                .update_key_detached(&key.org_id, &key.id, move |mut k| {
                    k.last_used = Some(now);
                    Ok::<_, ()>(k)
                })?;
        }
        Ok(())
    }
}
