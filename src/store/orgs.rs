//! Organization records, and deleting an organization with everything it owns.

use super::{
    Organization, Outcome, Result, ScimKey, Store, WriteRefused, decode, encode, keys, or_refuse,
    refuse,
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

    /// Inserts `org` unless its id is taken (`Taken` with the id).
    pub async fn create_org(&self, org: &Organization) -> Result<Outcome<()>> {
        let k = keys::org(&org.id);
        let v = encode(org)?;
        let id = org.id.clone();
        self.writer()
            .write(move |st| {
                if st.contains(&k)? {
                    return refuse(WriteRefused::Taken(id));
                }
                st.insert(k, v)?;
                Ok(Ok(()))
            })
            .await
    }

    /// Applies `f` to the organization atomically.
    pub async fn update_org<E: Send + 'static>(
        &self,
        id: &str,
        f: impl FnOnce(Organization) -> std::result::Result<Organization, E> + Send + 'static,
    ) -> Result<Outcome<Organization, E>> {
        let k = keys::org(id);
        self.writer()
            .write(move |st| {
                let Some(v) = st.get(&k)? else {
                    return refuse(WriteRefused::OrgMissing);
                };
                let org: Organization = decode(&k, &v)?;
                let org = or_refuse!(f(org).map_err(WriteRefused::Rejected));
                st.insert(k, encode(&org)?)?;
                Ok(Ok(org))
            })
            .await
    }

    /// Deletes the organization and everything it owns, atomically. False if absent.
    pub async fn delete_org(&self, id: &str) -> Result<bool> {
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
            Ok(doomed)
        };
        let org_key = keys::org(id);
        let existed = self
            .writer()
            .write_after_scan(scan, move |st, doomed: &Vec<Vec<u8>>| {
                if !st.contains(&org_key)? {
                    return refuse::<bool, ()>(WriteRefused::OrgMissing);
                }
                for k in doomed {
                    st.remove(k.clone())?;
                }
                Ok(Ok(true))
            })
            .await?;
        self.forget_org_ids(id);
        Ok(existed.unwrap_or(false))
    }
}
