//! Organization records, and deleting an organization with everything it owns.

use super::{
    AppKey, NewEvent, Organization, Outcome, Result, ScimKey, Store, WriteRefused, decode, encode,
    keys, or_refuse, refuse,
};

impl Store {
    pub fn get_org(&self, id: &str) -> Result<Option<Organization>> {
        self.get_decoded(&keys::org(id))
    }

    pub fn list_orgs(&self) -> Result<Vec<Organization>> {
        self.tree()
            .scan_prefix(keys::all_orgs())
            .map(|item| {
                let (k, v) = item?;
                decode(&k, &v)
            })
            .collect()
    }

    /// Inserts `org` unless its id is taken (`Taken` with the id), with its events.
    pub async fn create_org(
        &self,
        org: &Organization,
        events: Vec<NewEvent>,
    ) -> Result<Outcome<()>> {
        let k = keys::org(&org.id);
        let v = encode(org)?;
        let id = org.id.clone();
        self.writer()
            .write(move |st| {
                if st.contains(&k)? {
                    return refuse(WriteRefused::Taken(id));
                }
                st.insert(k, v)?;
                st.emit(events);
                Ok(Ok(()))
            })
            .await
    }

    /// Applies `f` to the organization atomically; `f` also says what events the change makes.
    pub async fn update_org<E: Send + 'static>(
        &self,
        id: &str,
        f: impl FnOnce(Organization) -> std::result::Result<(Organization, Vec<NewEvent>), E>
        + Send
        + 'static,
    ) -> Result<Outcome<Organization, E>> {
        let k = keys::org(id);
        self.writer()
            .write(move |st| {
                let Some(v) = st.get(&k)? else {
                    return refuse(WriteRefused::OrgMissing);
                };
                let org: Organization = decode(&k, &v)?;
                let (org, events) = or_refuse!(f(org).map_err(WriteRefused::Rejected));
                st.insert(k, encode(&org)?)?;
                st.emit(events);
                Ok(Ok(org))
            })
            .await
    }

    /// Deletes the organization and everything it owns (application keys scoped to it
    /// included), atomically, with the events `events(org)` makes. False if absent.
    pub async fn delete_org(
        &self,
        id: &str,
        events: impl FnOnce(&Organization) -> Vec<NewEvent> + Send + 'static,
    ) -> Result<bool> {
        let org_id = id.to_string();
        let scan = move |tree: &sled::Tree| -> Result<Vec<Vec<u8>>> {
            let mut doomed = vec![keys::org(&org_id)];
            for prefix in keys::owned_by(&org_id) {
                for k in tree.scan_prefix(prefix).keys() {
                    doomed.push(k?.to_vec());
                }
            }
            for item in tree.scan_prefix(keys::scim_keys_of(&org_id)) {
                let (k, v) = item?;
                let rec: ScimKey = decode(&k, &v)?;
                doomed.push(keys::digest(&rec.digest));
            }
            for item in tree.scan_prefix(keys::all_app_keys()) {
                let (k, v) = item?;
                let rec: AppKey = decode(&k, &v)?;
                if rec.org.as_deref() == Some(org_id.as_str()) {
                    doomed.push(k.to_vec());
                    doomed.push(keys::app_digest(&rec.digest));
                }
            }
            Ok(doomed)
        };
        let org_key = keys::org(id);
        let existed = self
            .writer()
            .write_after_scan(scan, move |st, doomed: &Vec<Vec<u8>>| {
                let Some(v) = st.get(&org_key)? else {
                    return refuse::<bool, ()>(WriteRefused::OrgMissing);
                };
                let org: Organization = decode(&org_key, &v)?;
                for k in doomed {
                    st.remove(k.clone())?;
                }
                st.emit(events(&org));
                Ok(Ok(true))
            })
            .await?;
        self.forget_org_ids(id);
        Ok(existed.unwrap_or(false))
    }
}
