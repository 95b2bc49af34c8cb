//! SCIM API key records and the digest index that authenticates a request in one read.

use super::writer::{OpResult, Staged};
use super::{
    NewEvent, Outcome, Result, ScimKey, Store, WriteRefused, decode, encode, keys, or_refuse,
    refuse,
};

impl Store {
    /// Stores a new key and its digest index atomically, with its events.
    pub async fn insert_key(&self, k: &ScimKey, events: Vec<NewEvent>) -> Result<Outcome<()>> {
        let org_key = keys::org(&k.org_id);
        let rec_key = keys::scim_key(&k.org_id, &k.id);
        let digest_key = keys::digest(&k.digest);
        let digest_val = keys::digest_target(&k.org_id, &k.id);
        let v = encode(k)?;
        let id = k.id.clone();
        self.writer()
            .write(move |st| {
                if !st.contains(&org_key)? {
                    return refuse(WriteRefused::OrgMissing);
                }
                if st.contains(&rec_key)? || st.contains(&digest_key)? {
                    return refuse(WriteRefused::Taken(id));
                }
                st.insert(rec_key, v)?;
                st.insert(digest_key, digest_val)?;
                st.emit(events);
                Ok(Ok(()))
            })
            .await
    }

    pub fn list_keys(&self, org: &str) -> Result<Vec<ScimKey>> {
        self.tree()
            .scan_prefix(keys::scim_keys_of(org))
            .map(|item| {
                let (k, v) = item?;
                decode(&k, &v)
            })
            .collect()
    }

    pub fn get_key(&self, org: &str, key_id: &str) -> Result<Option<ScimKey>> {
        self.get_decoded(&keys::scim_key(org, key_id))
    }

    /// One indexed read: the key whose secret has this hex SHA-256 digest.
    pub fn key_by_digest(&self, digest_hex: &str) -> Result<Option<ScimKey>> {
        let Some(v) = self.tree().get(keys::digest(digest_hex))? else {
            return Ok(None);
        };
        match keys::parse_digest_target(&v) {
            Some((org, id)) => self.get_key(&org, &id),
            None => Ok(None),
        }
    }

    fn key_update<E: Send + 'static>(
        org: &str,
        key_id: &str,
        f: impl FnOnce(ScimKey) -> std::result::Result<(ScimKey, Vec<NewEvent>), E> + Send + 'static,
    ) -> impl FnOnce(&mut Staged<'_>) -> OpResult<ScimKey, E> + Send + 'static {
        let k = keys::scim_key(org, key_id);
        move |st| {
            let Some(v) = st.get(&k)? else {
                return refuse(WriteRefused::NotFound);
            };
            let rec: ScimKey = decode(&k, &v)?;
            let (rec, events) = or_refuse!(f(rec).map_err(WriteRefused::Rejected));
            st.insert(k, encode(&rec)?)?;
            st.emit(events);
            Ok(Ok(rec))
        }
    }

    /// Applies `f` to a key record atomically; `f` also says what events the change makes.
    pub async fn update_key<E: Send + 'static>(
        &self,
        org: &str,
        key_id: &str,
        f: impl FnOnce(ScimKey) -> std::result::Result<(ScimKey, Vec<NewEvent>), E> + Send + 'static,
    ) -> Result<Outcome<ScimKey, E>> {
        self.writer().write(Self::key_update(org, key_id, f)).await
    }

    /// Like [`Store::update_key`] without waiting for it (bookkeeping such as the last use).
    pub fn update_key_detached<E: Send + 'static>(
        &self,
        org: &str,
        key_id: &str,
        f: impl FnOnce(ScimKey) -> std::result::Result<ScimKey, E> + Send + 'static,
    ) -> Result<()> {
        self.writer()
            .write_detached(Self::key_update(org, key_id, move |k| {
                f(k).map(|k| (k, Vec::new()))
            }))
    }
}
