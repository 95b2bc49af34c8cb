//! Organizations and their SCIM domains.

use super::{Directory, Error, Organization, Result, feed, rules};
use crate::store::{self, WriteRefused};

fn unknown_org(id: &str) -> Error {
    Error::NotFound(format!("no organization with id {id:?}"))
}

/// Why an organization update refused, before it becomes an [`Error`].
enum Refusal {
    AlreadyExists(String),
    NotFound(String),
}

impl Directory {
    pub async fn create_org(&self, id: &str, name: &str) -> Result<Organization> {
        rules::validate_org_id(id).map_err(Error::invalid)?;
        let name =
            rules::validate_display_name("organization name", name).map_err(Error::invalid)?;
        let now = store::now();
        let org = Organization {
            id: id.to_string(),
            name,
            scim_enabled: false,
            domains: Vec::new(),
            created: now,
            updated: now,
        };
        let events = self.feed(|| feed::org_created(&org));
        match self.store.create_org(&org, events).await? {
            Ok(()) => Ok(org),
            Err(_) => Err(Error::AlreadyExists(format!(
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
        f: impl FnOnce(Organization) -> std::result::Result<Organization, Refusal> + Send + 'static,
    ) -> Result<Organization> {
        let on = self.events_on();
        let updated = self
            .store
            .update_org(id, move |before| {
                let mut org = f(before.clone())?;
                org.updated = store::now();
                let events = if on {
                    feed::org_changed(&before, &org)
                } else {
                    Vec::new()
                };
                Ok((org, events))
            })
            .await?;
        match updated {
            Ok(org) => Ok(org),
            Err(WriteRefused::Rejected(Refusal::AlreadyExists(msg))) => {
                Err(Error::AlreadyExists(msg))
            }
            Err(WriteRefused::Rejected(Refusal::NotFound(msg))) => Err(Error::NotFound(msg)),
            Err(_) => Err(unknown_org(id)),
        }
    }

    pub async fn rename_org(&self, id: &str, name: &str) -> Result<Organization> {
        let name =
            rules::validate_display_name("organization name", name).map_err(Error::invalid)?;
        self.update_org(id, move |mut org| {
            org.name = name;
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
        let on = self.events_on();
        let events = move |org: &Organization| {
            if on {
                feed::org_deleted(org)
            } else {
                Vec::new()
            }
        };
        if !self.store.delete_org(id, events).await? {
            return Err(unknown_org(id));
        }
        self.schemas_changed()?;
        self.activity.forget_org(id);
        Ok(())
    }

    pub async fn add_domain(&self, org: &str, domain: &str) -> Result<Organization> {
        let domain = rules::normalize_domain(domain).map_err(Error::invalid)?;
        let org_id = org.to_string();
        self.update_org(org, move |mut o| {
            if o.domains.contains(&domain) {
                return Err(Refusal::AlreadyExists(format!(
                    "{domain} is already a SCIM domain of {org_id}"
                )));
            }
            o.domains.push(domain);
            o.domains.sort();
            Ok(o)
        })
        .await
    }

    pub async fn remove_domain(&self, org: &str, domain: &str) -> Result<Organization> {
        let wanted = rules::normalize_domain(domain).unwrap_or_else(|_| domain.trim().to_string());
        let org_id = org.to_string();
        self.update_org(org, move |mut o| {
            let before = o.domains.len();
            o.domains.retain(|d| *d != wanted);
            if o.domains.len() == before {
                return Err(Refusal::NotFound(format!(
                    "{wanted} is not a SCIM domain of {org_id}"
                )));
            }
            Ok(o)
        })
        .await
    }
}
