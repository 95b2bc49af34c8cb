//! Declared extension schemas (for one organization or every one).

use super::{DeclaredSchema, Result, Store, WriteRefused, decode, encode, keys, refuse};

impl Store {
    /// Stores a declared schema, replacing one of the same URN and scope; the organization it
    /// is declared for must exist. Returns whether one was replaced.
    pub async fn put_schema(&self, d: &DeclaredSchema) -> Result<super::Outcome<bool>> {
        let k = keys::schema(d.org.as_deref(), &d.urn);
        let org = d.org.as_deref().map(keys::org);
        let v = encode(d)?;
        self.writer()
            .write(move |st| {
                if let Some(org) = org
                    && !st.contains(&org)?
                {
                    return refuse(WriteRefused::OrgMissing);
                }
                let replaced = st.contains(&k)?;
                st.insert(k, v)?;
                Ok(Ok(replaced))
            })
            .await
    }

    /// Removes a declared schema; false when there was none.
    pub async fn remove_schema(&self, org: Option<&str>, urn: &str) -> Result<bool> {
        let k = keys::schema(org, urn);
        let removed = self
            .writer()
            .write(move |st| {
                if !st.contains(&k)? {
                    return refuse::<bool, ()>(WriteRefused::NotFound);
                }
                st.remove(k)?;
                Ok(Ok(true))
            })
            .await?;
        Ok(removed.unwrap_or(false))
    }

    /// Every declared schema, those for every organization first, then by organization and URN.
    pub fn list_schemas(&self) -> Result<Vec<DeclaredSchema>> {
        self.tree()
            .scan_prefix(keys::all_schemas())
            .map(|item| {
                let (k, v) = item?;
                decode(&k, &v)
            })
            .collect()
    }
}
