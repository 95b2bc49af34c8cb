//! SCIM API keys: issuing (the secret exists once, outside), revoking, and authenticating a
//! bearer token in one indexed read and a constant-time comparison.

use super::{AuthFailure, Directory, Error, Organization, Result, ScimKey, feed, rules};
use crate::store::{self, WriteRefused};

/// A freshly issued key: the only moment its secret exists outside the IdP.
#[derive(Debug, Clone)]
pub struct IssuedKey {
    pub key: ScimKey,
    pub secret: String,
}

impl Directory {
    /// Issues a key: returns the secret once; only its digest is stored.
    pub async fn issue_key(&self, org: &str, name: Option<&str>) -> Result<IssuedKey> {
        self.get_org(org)?;
        let name = match name {
            Some(n) => rules::validate_display_name("key name", n).map_err(Error::invalid)?,
            None => format!("key issued {}", crate::util::display_time(store::now())),
        };
        loop {
            let secret = rules::new_secret();
            let key = ScimKey {
                id: rules::new_key_id(),
                org_id: org.to_string(),
                name: name.clone(),
                digest: rules::secret_digest(&secret),
                created: store::now(),
                last_used: None,
                revoked: None,
            };
            let events = self.feed(|| feed::key_issued(&key));
            match self.store.insert_key(&key, events).await? {
                Ok(()) => return Ok(IssuedKey { key, secret }),
                // A key id collision (48 random bits): draw again.
                Err(WriteRefused::Taken(_)) => continue,
                Err(_) => return Err(Error::NotFound(format!("no organization with id {org:?}"))),
            }
        }
    }

    /// An organization's keys, oldest first.
    pub fn list_keys(&self, org: &str) -> Result<Vec<ScimKey>> {
        self.get_org(org)?;
        let mut keys = self.store.list_keys(org)?;
        keys.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        Ok(keys)
    }

    /// Revokes a key permanently.
    pub async fn revoke_key(&self, org: &str, key_id: &str) -> Result<ScimKey> {
        self.get_org(org)?;
        let on = self.events_on();
        let revoked = self
            .store
            .update_key(org, key_id, move |mut k| {
                if k.revoked.is_some() {
                    return Err(format!("key {} is already revoked", k.id));
                }
                k.revoked = Some(store::now());
                let events = if on {
                    feed::key_revoked(&k)
                } else {
                    Vec::new()
                };
                Ok((k, events))
            })
            .await?;
        match revoked {
            Ok(k) => Ok(k),
            Err(WriteRefused::Rejected(msg)) => Err(Error::Refused(msg)),
            Err(_) => Err(Error::NotFound(format!(
                "organization {org} has no key {key_id:?}"
            ))),
        }
    }

    /// The active key of `org` whose secret is `secret`. The secret's digest is looked up with
    /// one indexed read and compared in constant time; every failure is `Unauthorized` with
    /// the reason for the operator.
    pub fn authenticate(&self, org: Option<&Organization>, secret: &str) -> Result<ScimKey> {
        let refuse = |why| Err(Error::Unauthorized(why));
        let digest = rules::secret_digest(secret);
        let Some(key) = self.store.key_by_digest(&digest)? else {
            return refuse(AuthFailure::UnknownKey);
        };
        if !rules::digests_match(&key.digest, &digest) {
            return refuse(AuthFailure::UnknownKey);
        }
        let Some(org) = org else {
            return refuse(AuthFailure::UnknownOrganization);
        };
        if key.org_id != org.id {
            return refuse(AuthFailure::OtherOrganization(key.id));
        }
        if !key.is_active() {
            return refuse(AuthFailure::Revoked(key.id));
        }
        Ok(key)
    }

    /// Refuses SCIM traffic for an organization that has it turned off.
    pub fn require_scim(&self, org: &Organization) -> Result<()> {
        if org.scim_enabled {
            Ok(())
        } else {
            Err(Error::ScimDisabled)
        }
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
