//! The sled store: records, key layout, indexes and durability. Nothing else touches sled.
//!
//! One tree holds everything, under one-byte tags followed by `\0`-separated parts:
//!
//! | key                                   | value                        |
//! |---------------------------------------|------------------------------|
//! | `o` org                               | [`Organization`]             |
//! | `k` org key_id                        | [`ScimKey`]                  |
//! | `d` sha256(secret)                    | org `\0` key_id              |
//! | `u`/`g` org id                        | [`ResourceRecord`]           |
//! | `n` org kind unique-value             | id (userName / displayName)  |
//! | `x` org kind attr value id            | empty (secondary index)      |
//! | `m` org group user                    | empty (membership)           |
//! | `r` org user group                    | empty (reverse membership)   |
//! | `a` org newest-id count               | activity records (JSON list) |
//! | `c` org kind                          | number of users or groups    |
//! | `w` sequence                          | redo intent of a write group |
//!
//! Every write goes through one writer thread (`writer.rs`), which applies many writes as one
//! atomic group and answers each only after the group commit (`commit.rs`) has flushed it: a
//! write method's future resolves when the write is durable. Reads go straight to sled.

mod check;
mod commit;
mod records;
mod writer;

pub use records::now;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sled::IVec;

pub use check::CheckReport;
pub use commit::Committer;
pub use records::{IndexEntries, Kind, Organization, ResourceRecord, ScimKey};
pub use writer::{OpResult, Staged};
use writer::{TxResult, Writer};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store at {0} is in use by a running scimdesk (only one process can open it)")]
    InUse(PathBuf),
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    #[error("corrupt record under key {key:?}: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("{0}")]
    Durability(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Why a conditional write did not happen. The store reports; the directory decides.
#[derive(Debug, PartialEq, Eq)]
pub enum WriteRefused<E> {
    /// The organization does not exist (any more).
    OrgMissing,
    /// The record to change does not exist.
    NotFound,
    /// Another record of the organization already holds the unique value; its id.
    Taken(String),
    /// The caller's update function refused.
    Rejected(E),
}

/// The outcome of a membership change on one group.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MembershipReport {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Ids that were asked to be added but name no user of the organization.
    pub unknown: Vec<String>,
}

/// A net change to a group's members: first `clear` (remove everyone), then `remove`, then `add`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MemberChange {
    pub clear: bool,
    pub remove: Vec<String>,
    pub add: Vec<String>,
}

impl MemberChange {
    pub fn is_empty(&self) -> bool {
        !self.clear && self.remove.is_empty() && self.add.is_empty()
    }
}

#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

/// Every user or group id of one organization in list order, held in memory once read, so a page
/// at any offset costs the page, not the offset. Writes keep it current.
type IdLists = std::sync::Mutex<std::collections::HashMap<(String, Kind), Vec<String>>>;

struct Inner {
    ids: IdLists,
    /// Taken on drop: the writer finishes its queue before the final flush.
    writer: Option<Writer>,
    /// Taken on drop after the writer: only the committer ever flushes while it runs
    /// (concurrent sled flushes can hang, sled #1308).
    committer: Option<Arc<Committer>>,
    tree: sled::Tree,
    db: sled::Db,
    path: PathBuf,
}

impl Inner {
    fn committer(&self) -> &Committer {
        self.committer
            .as_ref()
            .expect("the committer lives as long as the store")
    }

    fn writer(&self) -> &Writer {
        self.writer
            .as_ref()
            .expect("the writer lives as long as the store")
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.writer.take();
        self.committer.take();
        // Now alone: a last flush also waits for sled's IO threads, so the store's lock is
        // free when this returns.
        let _ = self.db.flush();
    }
}

const SEP: u8 = 0;

fn key(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + parts.iter().map(|p| p.len() + 1).sum::<usize>());
    k.push(tag);
    for p in parts {
        k.push(SEP);
        k.extend_from_slice(p);
    }
    k
}

/// The prefix of every key under `parts`, ending in a separator.
fn prefix(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = key(tag, parts);
    k.push(SEP);
    k
}

fn last_part(k: &[u8]) -> String {
    let start = k.iter().rposition(|&b| b == SEP).map_or(0, |i| i + 1);
    String::from_utf8_lossy(&k[start..]).into_owned()
}

fn decode<T: serde::de::DeserializeOwned>(k: &[u8], v: &[u8]) -> Result<T> {
    serde_json::from_slice(v).map_err(|e| StoreError::Corrupt {
        key: String::from_utf8_lossy(k).into_owned(),
        reason: e.to_string(),
    })
}

fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("records serialize")
}

fn refuse<T, E>(why: WriteRefused<E>) -> OpResult<T, E> {
    Ok(Err(why))
}

/// Decodes inside a write; a corrupt record fails the write.
fn tx_decode<T: serde::de::DeserializeOwned>(k: &[u8], v: &[u8]) -> TxResult<T> {
    decode(k, v).map_err(|e| sled::Error::Unsupported(e.to_string()))
}

/// Unwraps a value or refuses the write.
macro_rules! or_refuse {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(why) => return Ok(Err(why)),
        }
    };
}

impl Store {
    /// Opens (creating if needed) the store in `dir` with a page cache of `cache_capacity` bytes.
    pub fn open(dir: &Path, cache_capacity: u64) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Sled(sled::Error::Io(e)))?;
        let open = || {
            sled::Config::new()
                .path(dir)
                .cache_capacity(cache_capacity)
                .mode(sled::Mode::HighThroughput)
                .open()
                .map_err(|e| match e {
                    sled::Error::Io(ref io)
                        if io.to_string().contains("could not acquire lock") =>
                    {
                        StoreError::InUse(dir.to_path_buf())
                    }
                    other => StoreError::Sled(other),
                })
        };
        // A store just closed in this process can stay locked for a moment while sled's IO
        // threads let go of it; another process holding it is reported after the retries.
        let mut attempt = 0;
        let db = loop {
            match open() {
                Err(StoreError::InUse(_)) if attempt < 10 => {
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                other => break other?,
            }
        };
        let tree = db.open_tree("scimdesk")?;
        writer::recover(&tree)?;
        let committer =
            Arc::new(Committer::start(db.clone()).map_err(|e| StoreError::Sled(e.into()))?);
        let writer = Writer::start(tree.clone(), committer.clone())
            .map_err(|e| StoreError::Sled(e.into()))?;
        Ok(Store {
            inner: Arc::new(Inner {
                ids: IdLists::default(),
                writer: Some(writer),
                committer: Some(committer),
                tree,
                db,
                path: dir.to_path_buf(),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Waits until every write made before this call is flushed to disk (group commit).
    pub async fn durable(&self) -> Result<()> {
        self.inner
            .committer()
            .durable()
            .await
            .map_err(StoreError::Durability)
    }

    /// Blocking form of [`Store::durable`].
    pub fn durable_blocking(&self) -> Result<()> {
        self.inner
            .committer()
            .durable_blocking()
            .map_err(StoreError::Durability)
    }

    /// Bytes the database occupies on disk.
    pub fn size_on_disk(&self) -> Result<u64> {
        Ok(self.inner.db.size_on_disk()?)
    }

    fn scan_keys(&self, p: &[u8]) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        for item in self.inner.tree.scan_prefix(p).keys() {
            out.push(item?.to_vec());
        }
        Ok(out)
    }

    // ----- organizations -----

    pub fn get_org(&self, id: &str) -> Result<Option<Organization>> {
        let k = key(b'o', &[id.as_bytes()]);
        match self.inner.tree.get(&k)? {
            Some(v) => Ok(Some(decode(&k, &v)?)),
            None => Ok(None),
        }
    }

    pub fn list_orgs(&self) -> Result<Vec<Organization>> {
        let mut out = Vec::new();
        for item in self.inner.tree.scan_prefix([b'o', SEP]) {
            let (k, v) = item?;
            out.push(decode(&k, &v)?);
        }
        Ok(out)
    }

    /// Inserts `org` unless its id is taken (`Taken` with the id).
    pub async fn create_org(&self, org: &Organization) -> Result<Result<(), WriteRefused<()>>> {
        let k = key(b'o', &[org.id.as_bytes()]);
        let v = encode(org);
        let id = org.id.clone();
        self.inner
            .writer()
            .write(move |st| {
                if st.get(&k)?.is_some() {
                    return refuse(WriteRefused::Taken(id.clone()));
                }
                st.insert(k.clone(), v.clone())?;
                Ok(Ok(()))
            })
            .await
    }

    /// Applies `f` to the organization atomically.
    pub async fn update_org<E: Send + 'static>(
        &self,
        id: &str,
        f: impl Fn(Organization) -> std::result::Result<Organization, E> + Send + 'static,
    ) -> Result<Result<Organization, WriteRefused<E>>> {
        let k = key(b'o', &[id.as_bytes()]);
        self.inner
            .writer()
            .write(move |st| {
                let Some(v) = st.get(&k)? else {
                    return refuse(WriteRefused::OrgMissing);
                };
                let org: Organization = tx_decode(&k, &v)?;
                let org = or_refuse!(f(org).map_err(WriteRefused::Rejected));
                st.insert(k.clone(), encode(&org))?;
                Ok(Ok(org))
            })
            .await
    }

    /// Deletes the organization and everything it owns, atomically. False if absent.
    pub async fn delete_org(&self, id: &str) -> Result<bool> {
        let org_id = id.to_string();
        let scan = move |tree: &sled::Tree| -> Result<Vec<Vec<u8>>> {
            let o = org_id.as_bytes();
            let mut doomed = vec![key(b'o', &[o])];
            for tag in [b'k', b'u', b'g', b'n', b'x', b'm', b'r', b'c', b'a'] {
                for k in tree.scan_prefix(prefix(tag, &[o])).keys() {
                    doomed.push(k?.to_vec());
                }
            }
            for item in tree.scan_prefix(prefix(b'k', &[o])) {
                let (k, v) = item?;
                let rec: ScimKey = decode(&k, &v)?;
                doomed.push(key(b'd', &[rec.digest.as_bytes()]));
            }
            Ok(doomed)
        };
        let org_key = key(b'o', &[id.as_bytes()]);
        let existed = self
            .inner
            .writer()
            .write_after_scan(scan, move |st, doomed: &Vec<Vec<u8>>| {
                if st.get(&org_key)?.is_none() {
                    return refuse::<bool, ()>(WriteRefused::OrgMissing);
                }
                for k in doomed {
                    st.remove(k.clone())?;
                }
                Ok(Ok(true))
            })
            .await?;
        let mut lists = self.inner.ids.lock().unwrap_or_else(|p| p.into_inner());
        lists.retain(|(o, _), _| o != id);
        Ok(existed.unwrap_or(false))
    }

    // ----- SCIM API keys -----

    /// Stores a new key and its digest index atomically.
    pub async fn insert_key(&self, k: &ScimKey) -> Result<Result<(), WriteRefused<()>>> {
        let org_key = key(b'o', &[k.org_id.as_bytes()]);
        let rec_key = key(b'k', &[k.org_id.as_bytes(), k.id.as_bytes()]);
        let digest_key = key(b'd', &[k.digest.as_bytes()]);
        let digest_val = [k.org_id.as_bytes(), &[SEP], k.id.as_bytes()].concat();
        let v = encode(k);
        let id = k.id.clone();
        self.inner
            .writer()
            .write(move |st| {
                if st.get(&org_key)?.is_none() {
                    return refuse(WriteRefused::OrgMissing);
                }
                if st.get(&rec_key)?.is_some() || st.get(&digest_key)?.is_some() {
                    return refuse(WriteRefused::Taken(id.clone()));
                }
                st.insert(rec_key.clone(), v.clone())?;
                st.insert(digest_key.clone(), digest_val.clone())?;
                Ok(Ok(()))
            })
            .await
    }

    pub fn list_keys(&self, org: &str) -> Result<Vec<ScimKey>> {
        let mut out = Vec::new();
        for item in self.inner.tree.scan_prefix(prefix(b'k', &[org.as_bytes()])) {
            let (k, v) = item?;
            out.push(decode(&k, &v)?);
        }
        Ok(out)
    }

    pub fn get_key(&self, org: &str, key_id: &str) -> Result<Option<ScimKey>> {
        let k = key(b'k', &[org.as_bytes(), key_id.as_bytes()]);
        match self.inner.tree.get(&k)? {
            Some(v) => Ok(Some(decode(&k, &v)?)),
            None => Ok(None),
        }
    }

    /// One indexed read: the key whose secret has this hex SHA-256 digest.
    pub fn key_by_digest(&self, digest_hex: &str) -> Result<Option<ScimKey>> {
        let Some(v) = self.inner.tree.get(key(b'd', &[digest_hex.as_bytes()]))? else {
            return Ok(None);
        };
        let Some(split) = v.iter().position(|&b| b == SEP) else {
            return Ok(None);
        };
        let org = String::from_utf8_lossy(&v[..split]);
        let id = String::from_utf8_lossy(&v[split + 1..]);
        self.get_key(&org, &id)
    }

    fn key_update<E: Send + 'static>(
        org: &str,
        key_id: &str,
        f: impl Fn(ScimKey) -> std::result::Result<ScimKey, E> + Send + 'static,
    ) -> impl Fn(&mut Staged<'_>) -> OpResult<ScimKey, E> + Send + 'static {
        let k = key(b'k', &[org.as_bytes(), key_id.as_bytes()]);
        move |st| {
            let Some(v) = st.get(&k)? else {
                return refuse(WriteRefused::NotFound);
            };
            let rec: ScimKey = tx_decode(&k, &v)?;
            let rec = or_refuse!(f(rec).map_err(WriteRefused::Rejected));
            st.insert(k.clone(), encode(&rec))?;
            Ok(Ok(rec))
        }
    }

    /// Applies `f` to a key record atomically.
    pub async fn update_key<E: Send + 'static>(
        &self,
        org: &str,
        key_id: &str,
        f: impl Fn(ScimKey) -> std::result::Result<ScimKey, E> + Send + 'static,
    ) -> Result<Result<ScimKey, WriteRefused<E>>> {
        self.inner
            .writer()
            .write(Self::key_update(org, key_id, f))
            .await
    }

    /// Like [`Store::update_key`] without waiting for it (bookkeeping such as the last use).
    pub fn update_key_detached<E: Send + 'static>(
        &self,
        org: &str,
        key_id: &str,
        f: impl Fn(ScimKey) -> std::result::Result<ScimKey, E> + Send + 'static,
    ) -> Result<()> {
        self.inner
            .writer()
            .write_detached(Self::key_update(org, key_id, f))
    }

    // ----- users and groups -----

    fn record_key(org: &str, kind: Kind, id: &str) -> Vec<u8> {
        key(kind.tag(), &[org.as_bytes(), id.as_bytes()])
    }

    fn unique_key(org: &str, kind: Kind, value: &str) -> Vec<u8> {
        key(b'n', &[org.as_bytes(), &[kind.tag()], value.as_bytes()])
    }

    fn term_key(org: &str, kind: Kind, attr: &str, value: &str, id: &str) -> Vec<u8> {
        key(
            b'x',
            &[
                org.as_bytes(),
                &[kind.tag()],
                attr.as_bytes(),
                value.as_bytes(),
                id.as_bytes(),
            ],
        )
    }

    pub fn get_resource(&self, org: &str, kind: Kind, id: &str) -> Result<Option<ResourceRecord>> {
        let k = Self::record_key(org, kind, id);
        match self.inner.tree.get(&k)? {
            Some(v) => Ok(Some(decode(&k, &v)?)),
            None => Ok(None),
        }
    }

    /// Ids whose index entry for `attr` equals the normalised `value`. One range read.
    pub fn lookup(&self, org: &str, kind: Kind, attr: &str, value: &str) -> Result<Vec<String>> {
        let p = prefix(
            b'x',
            &[
                org.as_bytes(),
                &[kind.tag()],
                attr.as_bytes(),
                value.as_bytes(),
            ],
        );
        Ok(self.scan_keys(&p)?.iter().map(|k| last_part(k)).collect())
    }

    /// The id holding a unique value, if any.
    pub fn lookup_unique(&self, org: &str, kind: Kind, value: &str) -> Result<Option<String>> {
        Ok(self
            .inner
            .tree
            .get(Self::unique_key(org, kind, value))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// All ids of one kind in key order (creation order, as ids are time-ordered).
    pub fn resource_ids(&self, org: &str, kind: Kind) -> Result<Vec<String>> {
        self.with_ids(org, kind, |ids| ids.to_vec())
    }

    /// Runs `f` on the id list of one organization and kind, reading it on first use.
    fn with_ids<T>(&self, org: &str, kind: Kind, f: impl FnOnce(&[String]) -> T) -> Result<T> {
        let mut lists = self.inner.ids.lock().unwrap_or_else(|p| p.into_inner());
        let key = (org.to_string(), kind);
        if !lists.contains_key(&key) {
            let ids = self
                .scan_keys(&prefix(kind.tag(), &[org.as_bytes()]))?
                .iter()
                .map(|k| last_part(k))
                .collect();
            lists.insert(key.clone(), ids);
        }
        Ok(f(&lists[&key]))
    }

    /// Keeps a loaded id list current after a create (`added`) or delete.
    fn note_id(&self, org: &str, kind: Kind, id: &str, added: bool) {
        let mut lists = self.inner.ids.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(ids) = lists.get_mut(&(org.to_string(), kind)) {
            match (ids.binary_search_by(|x| x.as_str().cmp(id)), added) {
                (Err(at), true) => ids.insert(at, id.to_string()),
                (Ok(at), false) => {
                    ids.remove(at);
                }
                _ => {}
            }
        }
    }

    /// Calls `f` on every record of one kind in key order until it returns false.
    pub fn for_each_resource(
        &self,
        org: &str,
        kind: Kind,
        mut f: impl FnMut(ResourceRecord) -> bool,
    ) -> Result<()> {
        for item in self
            .inner
            .tree
            .scan_prefix(prefix(kind.tag(), &[org.as_bytes()]))
        {
            let (k, v) = item?;
            if !f(decode(&k, &v)?) {
                break;
            }
        }
        Ok(())
    }

    fn counter_key(org: &str, kind: Kind) -> Vec<u8> {
        key(b'c', &[org.as_bytes(), &[kind.tag()]])
    }

    fn read_counter(v: Option<&[u8]>) -> u64 {
        v.and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_be_bytes)
    }

    /// How many users or groups an organization has: one read (the count is kept by writes).
    pub fn count_resources(&self, org: &str, kind: Kind) -> Result<usize> {
        let v = self.inner.tree.get(Self::counter_key(org, kind))?;
        Ok(Self::read_counter(v.as_deref()) as usize)
    }

    /// Counts by scanning, for `check` to compare with the kept count.
    pub fn count_resources_by_scan(&self, org: &str, kind: Kind) -> Result<usize> {
        let mut n = 0;
        for item in self
            .inner
            .tree
            .scan_prefix(prefix(kind.tag(), &[org.as_bytes()]))
            .keys()
        {
            item?;
            n += 1;
        }
        Ok(n)
    }

    fn add_to_counter(st: &mut Staged<'_>, org: &str, kind: Kind, delta: i64) -> TxResult<()> {
        let k = Self::counter_key(org, kind);
        let n = Self::read_counter(st.get(&k)?.as_deref()) as i64;
        st.insert(k, (n + delta).max(0).to_be_bytes().to_vec())?;
        Ok(())
    }

    /// A page of ids of one kind in list order: skip `skip`, take at most `take`, without
    /// reading the rest.
    pub fn resource_page(
        &self,
        org: &str,
        kind: Kind,
        skip: usize,
        take: usize,
    ) -> Result<(usize, Vec<String>)> {
        self.with_ids(org, kind, |ids| {
            let page = ids.iter().skip(skip).take(take).cloned().collect();
            (ids.len(), page)
        })
    }

    /// Moves a record's index entries from `old` to `new`, refusing a unique value another
    /// record holds.
    fn write_index<E>(
        st: &mut Staged<'_>,
        org: &str,
        kind: Kind,
        id: &str,
        old: Option<&IndexEntries>,
        new: &IndexEntries,
    ) -> OpResult<(), E> {
        let uk = Self::unique_key(org, kind, &new.unique);
        if let Some(holder) = st.get(&uk)?
            && holder.as_ref() != id.as_bytes()
        {
            return refuse(WriteRefused::Taken(
                String::from_utf8_lossy(&holder).into_owned(),
            ));
        }
        if let Some(old) = old {
            if old.unique != new.unique {
                st.remove(Self::unique_key(org, kind, &old.unique))?;
            }
            for (attr, value) in &old.terms {
                st.remove(Self::term_key(org, kind, attr, value, id))?;
            }
        }
        st.insert(uk, id.as_bytes())?;
        for (attr, value) in &new.terms {
            st.insert(Self::term_key(org, kind, attr, value, id), &[] as &[u8])?;
        }
        Ok(Ok(()))
    }

    /// Inserts a new user or group with its index entries, unless the organization is gone or
    /// its unique value is taken. Concurrent creates of one unique value: exactly one succeeds.
    ///
    /// A group may be created with `members` in the same write; unknown ids are skipped
    /// and reported.
    pub async fn create_resource(
        &self,
        org: &str,
        kind: Kind,
        rec: &ResourceRecord,
        members: &[String],
    ) -> Result<Result<(ResourceRecord, MembershipReport), WriteRefused<()>>> {
        let org = org.to_string();
        let org_id = org.clone();
        let org_key = key(b'o', &[org.as_bytes()]);
        let k = Self::record_key(&org, kind, &rec.id);
        let change = MemberChange {
            add: members.to_vec(),
            ..Default::default()
        };
        let rec = rec.clone();
        self.inner
            .writer()
            .write(move |st| {
                if st.get(&org_key)?.is_none() {
                    return refuse(WriteRefused::OrgMissing);
                }
                if st.get(&k)?.is_some() {
                    return refuse(WriteRefused::Taken(rec.id.clone()));
                }
                or_refuse!(Self::write_index(
                    st, &org, kind, &rec.id, None, &rec.index
                )?);
                let mut rec = rec.clone();
                rec.member_count = 0;
                let report =
                    Self::apply_members(st, &org, &rec.id, &mut rec.member_count, &change, &[])?;
                st.insert(k.clone(), encode(&rec))?;
                Self::add_to_counter(st, &org, kind, 1)?;
                Ok(Ok((rec, report)))
            })
            .await
            .inspect(|r| {
                if let Ok((rec, _)) = r {
                    self.note_id(&org_id, kind, &rec.id, true);
                }
            })
    }

    /// Deletes a user (with every membership it has) or a group (with its member list).
    /// Returns false when it did not exist.
    pub async fn delete_resource(&self, org: &str, kind: Kind, id: &str) -> Result<bool> {
        let (org_id, id_str) = (org, id);
        let (o, i) = (org.to_string(), id.to_string());
        // The other side of every link: a user's groups, or a group's members.
        let scan = move |tree: &sled::Tree| -> Result<Vec<String>> {
            let tag = match kind {
                Kind::User => b'r',
                Kind::Group => b'm',
            };
            let mut out = Vec::new();
            for k in tree
                .scan_prefix(prefix(tag, &[o.as_bytes(), i.as_bytes()]))
                .keys()
            {
                out.push(last_part(&k?));
            }
            Ok(out)
        };
        let (org, id) = (org.to_string(), id.to_string());
        let k = Self::record_key(&org, kind, &id);
        let now = records::now();
        let r = self
            .inner
            .writer()
            .write_after_scan(scan, move |st, links: &Vec<String>| {
                let Some(v) = st.get(&k)? else {
                    return refuse::<bool, ()>(WriteRefused::NotFound);
                };
                let rec: ResourceRecord = tx_decode(&k, &v)?;
                st.remove(Self::unique_key(&org, kind, &rec.index.unique))?;
                for (attr, value) in &rec.index.terms {
                    st.remove(Self::term_key(&org, kind, attr, value, &id))?;
                }
                st.remove(k.clone())?;
                Self::add_to_counter(st, &org, kind, -1)?;
                let ob = org.as_bytes();
                for other in links {
                    let (user, group) = match kind {
                        Kind::User => (id.as_str(), other.as_str()),
                        Kind::Group => (other.as_str(), id.as_str()),
                    };
                    st.remove(key(b'm', &[ob, group.as_bytes(), user.as_bytes()]))?;
                    st.remove(key(b'r', &[ob, user.as_bytes(), group.as_bytes()]))?;
                    if kind == Kind::User {
                        // The group's member list changed: new version, one member fewer.
                        let gk = Self::record_key(&org, Kind::Group, group);
                        if let Some(gv) = st.get(&gk)? {
                            let mut g: ResourceRecord = tx_decode(&gk, &gv)?;
                            g.member_count = g.member_count.saturating_sub(1);
                            g.touch(now);
                            st.insert(gk, encode(&g))?;
                        }
                    }
                }
                Ok(Ok(true))
            })
            .await?;
        let deleted = r.unwrap_or(false);
        if deleted {
            self.note_id(org_id, kind, id_str, false);
        }
        Ok(deleted)
    }

    // ----- membership -----

    /// Ids of the groups a user belongs to.
    pub fn groups_of(&self, org: &str, user: &str) -> Result<Vec<String>> {
        Ok(self
            .scan_keys(&prefix(b'r', &[org.as_bytes(), user.as_bytes()]))?
            .iter()
            .map(|k| last_part(k))
            .collect())
    }

    /// A page of a group's member ids in id order: skip `skip`, take at most `take`.
    pub fn members(&self, org: &str, group: &str, skip: usize, take: usize) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for k in self
            .inner
            .tree
            .scan_prefix(prefix(b'm', &[org.as_bytes(), group.as_bytes()]))
            .keys()
            .skip(skip)
            .take(take)
        {
            out.push(last_part(&k?));
        }
        Ok(out)
    }

    pub fn is_member(&self, org: &str, group: &str, user: &str) -> Result<bool> {
        Ok(self.inner.tree.contains_key(key(
            b'm',
            &[org.as_bytes(), group.as_bytes(), user.as_bytes()],
        ))?)
    }

    /// Applies a member change inside a write, keeping `count` and both directions of the
    /// membership in step. Reports net additions and removals.
    fn apply_members(
        st: &mut Staged<'_>,
        org: &str,
        group: &str,
        count: &mut u64,
        change: &MemberChange,
        current: &[String],
    ) -> TxResult<MembershipReport> {
        let (ob, gb) = (org.as_bytes(), group.as_bytes());
        let mut report = MembershipReport::default();
        let mut dropped = std::collections::HashSet::new();
        let cleared: &[String] = if change.clear { current } else { &[] };
        for user in cleared.iter().chain(&change.remove) {
            if st.remove(key(b'm', &[ob, gb, user.as_bytes()]))?.is_some() {
                st.remove(key(b'r', &[ob, user.as_bytes(), gb]))?;
                *count = count.saturating_sub(1);
                dropped.insert(user.as_str());
            }
        }
        let mut readded = std::collections::HashSet::new();
        for user in &change.add {
            if st.get(&Self::record_key(org, Kind::User, user))?.is_none() {
                report.unknown.push(user.clone());
                continue;
            }
            if st
                .insert(key(b'm', &[ob, gb, user.as_bytes()]), &[] as &[u8])?
                .is_none()
            {
                st.insert(key(b'r', &[ob, user.as_bytes(), gb]), &[] as &[u8])?;
                *count += 1;
                if dropped.contains(user.as_str()) {
                    readded.insert(user.as_str());
                } else {
                    report.added.push(user.clone());
                }
            }
        }
        report.removed = dropped
            .into_iter()
            .filter(|u| !readded.contains(u))
            .map(str::to_string)
            .collect();
        report.removed.sort();
        Ok(report)
    }

    /// The body of an update: `f` computes the new record from the current one; index entries
    /// and members follow. Returns the record before and after.
    #[allow(clippy::type_complexity)]
    fn update_op<E: Send + 'static>(
        org: &str,
        kind: Kind,
        id: &str,
        f: impl Fn(&ResourceRecord) -> std::result::Result<ResourceRecord, E> + Send + 'static,
        change: MemberChange,
    ) -> impl Fn(
        &mut Staged<'_>,
        &Vec<String>,
    ) -> OpResult<(ResourceRecord, ResourceRecord, MembershipReport), E>
    + Send
    + 'static {
        let (org, id) = (org.to_string(), id.to_string());
        let k = Self::record_key(&org, kind, &id);
        move |st, current| {
            let Some(v) = st.get(&k)? else {
                return refuse(WriteRefused::NotFound);
            };
            let old: ResourceRecord = tx_decode(&k, &v)?;
            let mut rec = or_refuse!(f(&old).map_err(WriteRefused::Rejected));
            or_refuse!(Self::write_index(
                st,
                &org,
                kind,
                &id,
                Some(&old.index),
                &rec.index
            )?);
            let report =
                Self::apply_members(st, &org, &id, &mut rec.member_count, &change, current)?;
            st.insert(k.clone(), encode(&rec))?;
            Ok(Ok((old, rec, report)))
        }
    }

    /// Replaces a user or group with `f(current)` and changes a group's members, all or
    /// nothing; returns the record before and after and what happened to the members.
    /// Adding or removing one member costs the same whatever the group's size; only `clear`
    /// reads the current member list. Unknown user ids in `change.add` are skipped and reported.
    #[allow(clippy::type_complexity)]
    pub async fn update_resource<E: Send + 'static>(
        &self,
        org: &str,
        kind: Kind,
        id: &str,
        f: impl Fn(&ResourceRecord) -> std::result::Result<ResourceRecord, E> + Send + 'static,
        change: MemberChange,
    ) -> Result<Result<(ResourceRecord, ResourceRecord, MembershipReport), WriteRefused<E>>> {
        let clear = change.clear;
        let op = Self::update_op(org, kind, id, f, change);
        if clear {
            let (o, g) = (org.to_string(), id.to_string());
            let scan = move |tree: &sled::Tree| -> Result<Vec<String>> {
                let mut out = Vec::new();
                for k in tree
                    .scan_prefix(prefix(b'm', &[o.as_bytes(), g.as_bytes()]))
                    .keys()
                {
                    out.push(last_part(&k?));
                }
                Ok(out)
            };
            self.inner.writer().write_after_scan(scan, op).await
        } else {
            let none = Vec::new();
            self.inner.writer().write(move |st| op(st, &none)).await
        }
    }

    /// Writes a value under a scratch key outside every organization (tag `z`). Used by the
    /// benchmark to measure the durable-write ceiling through the same group commit.
    pub fn put_scratch(&self, name: &[u8], value: &[u8]) -> Result<()> {
        self.inner.tree.insert(key(b'z', &[name]), value)?;
        Ok(())
    }

    // ----- activity -----
    //
    // Activity is stored in blobs: one value per organization per writer batch, under
    // `a` org newest-id count. One insert per batch instead of one per request keeps recording
    // cheap (sled copies a leaf on every insert); the count in the key makes counting and
    // trimming read keys only.

    fn blob_key(org: &str, newest_id: &str, count: usize) -> Vec<u8> {
        key(
            b'a',
            &[
                org.as_bytes(),
                newest_id.as_bytes(),
                count.to_string().as_bytes(),
            ],
        )
    }

    /// (newest id, record count) from a blob key.
    fn blob_parts(k: &[u8]) -> (String, usize) {
        let p: Vec<&[u8]> = k.split(|b| *b == SEP).collect();
        let id = p
            .get(2)
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        let n = p
            .get(3)
            .and_then(|b| std::str::from_utf8(b).ok()?.parse().ok())
            .unwrap_or(0);
        (id, n)
    }

    /// Stores activity blobs `(org, newest id in the blob, record count, bytes)` in one batch.
    /// Not flushed here: activity is written off the request path and reaches disk with the
    /// next flush.
    pub fn append_activity(&self, blobs: &[(String, String, usize, Vec<u8>)]) -> Result<()> {
        // Plain inserts, each blob whole: a sled batch (or transaction) would switch sled into
        // taking a global lock around every later read and write (measured: creates with
        // recording on fell to 55-75% of recording off).
        for (org, newest, count, bytes) in blobs {
            self.inner
                .tree
                .insert(Self::blob_key(org, newest, *count), bytes.as_slice())?;
        }
        Ok(())
    }

    /// How many activity records an organization has (reads keys only).
    pub fn activity_count(&self, org: &str) -> Result<usize> {
        let mut n = 0;
        for k in self
            .inner
            .tree
            .scan_prefix(prefix(b'a', &[org.as_bytes()]))
            .keys()
        {
            n += Self::blob_parts(&k?).1;
        }
        Ok(n)
    }

    /// Removes an organization's oldest activity records: every blob whose records are all
    /// older than `before_id`, then the oldest records until at most `keep` remain. A blob
    /// that is only partly over the limit is rewritten by `drop_oldest(bytes, k)`, which
    /// returns the blob without its `k` oldest records. Returns how many records went.
    pub fn trim_activity(
        &self,
        org: &str,
        before_id: &str,
        keep: usize,
        total: usize,
        drop_oldest: impl Fn(&[u8], usize) -> Option<Vec<u8>>,
    ) -> Result<usize> {
        let mut total = total;
        let mut removed = 0;
        for item in self.inner.tree.scan_prefix(prefix(b'a', &[org.as_bytes()])) {
            let (k, v) = item?;
            let (newest, n) = Self::blob_parts(&k);
            let excess = total.saturating_sub(keep);
            if newest.as_str() < before_id || excess >= n {
                self.inner.tree.remove(k)?;
                total -= n;
                removed += n;
                continue;
            }
            if excess > 0
                && let Some(smaller) = drop_oldest(&v, excess)
            {
                // The shrunk blob first: a crash between the two keeps records, never loses
                // ones that were meant to stay.
                self.inner
                    .tree
                    .insert(Self::blob_key(org, &newest, n - excess), smaller)?;
                self.inner.tree.remove(k)?;
                removed += excess;
            }
            break;
        }
        Ok(removed)
    }

    /// An organization's activity blobs, newest first.
    pub fn activity_blobs(&self, org: &str) -> impl Iterator<Item = Result<IVec>> + '_ {
        self.inner
            .tree
            .scan_prefix(prefix(b'a', &[org.as_bytes()]))
            .rev()
            .map(|item| item.map(|(_, v)| v).map_err(StoreError::from))
    }

    /// Every key of the store as (tag, parts) for consistency checks: raw access for `check`.
    pub fn raw_entries(&self) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>)>> + '_ {
        self.inner.tree.iter().map(|r| {
            r.map(|(k, v)| (k.to_vec(), v.to_vec()))
                .map_err(StoreError::from)
        })
    }
}

#[cfg(test)]
mod tests;
