//! Application keys (the application API's credentials) and the digest index that
//! authenticates a request in one read.

use super::{
    AppKey, Outcome, Result, Store, WriteRefused, decode, encode, keys, or_refuse, refuse,
};

impl Store {
    /// Stores a new application key and its digest index, unless its id or digest is taken or
    /// the organization it is scoped to does not exist.
    pub async fn insert_app_key(&self, k: &AppKey) -> Result<Outcome<()>> {
        let rec = keys::app_key(&k.id);
        let digest = keys::app_digest(&k.digest);
        let org = k.org.as_deref().map(keys::org);
        let (v, id) = (encode(k)?, k.id.clone());
        self.writer()
            .write(move |st| {
                if let Some(org) = org
                    && !st.contains(&org)?
                {
                    return refuse(WriteRefused::OrgMissing);
                }
                if st.contains(&rec)? || st.contains(&digest)? {
                    return refuse(WriteRefused::Taken(id.clone()));
                }
                st.insert(rec, v)?;
                st.insert(digest, id.into_bytes())?;
                Ok(Ok(()))
            })
            .await
    }

    pub fn list_app_keys(&self) -> Result<Vec<AppKey>> {
        self.tree()
            .scan_prefix(keys::all_app_keys())
            .map(|item| {
                let (k, v) = item?;
                decode(&k, &v)
            })
            .collect()
    }

    /// One indexed read: the application key whose secret has this digest.
    pub fn app_key_by_digest(&self, digest_hex: &str) -> Result<Option<AppKey>> {
        let Some(id) = self.tree().get(keys::app_digest(digest_hex))? else {
            return Ok(None);
        };
        self.get_decoded(&keys::app_key(&String::from_utf8_lossy(&id)))
    }

    /// Applies `f` to an application key atomically.
    pub async fn update_app_key<E: Send + 'static>(
        &self,
        id: &str,
        f: impl FnOnce(AppKey) -> std::result::Result<AppKey, E> + Send + 'static,
    ) -> Result<Outcome<AppKey, E>> {
        let k = keys::app_key(id);
        self.writer()
            .write(move |st| {
                let Some(v) = st.get(&k)? else {
                    return refuse(WriteRefused::NotFound);
                };
                let rec = or_refuse!(f(decode(&k, &v)?).map_err(WriteRefused::Rejected));
                st.insert(k, encode(&rec)?)?;
                Ok(Ok(rec))
            })
            .await
    }

    /// Records a key's last use without waiting for it.
    pub fn touch_app_key(&self, id: &str, at: time::OffsetDateTime) -> Result<()> {
        let k = keys::app_key(id);
        self.writer().write_detached(move |st| {
            let Some(v) = st.get(&k)? else {
                return refuse::<(), ()>(WriteRefused::NotFound);
            };
            let mut rec: AppKey = decode(&k, &v)?;
            rec.last_used = Some(at);
            st.insert(k, encode(&rec)?)?;
            Ok(Ok(()))
        })
    }
}
