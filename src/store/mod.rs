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
//! | `a` org activity-id                   | activity record (JSON)       |
//! | `A` activity-id                       | org (newest-first across all)|
//!
//! Single-record writes run in sled transactions. Writes that must first scan (deleting a user
//! with its memberships, clearing a group, deleting an organization) hold the `structure` lock
//! exclusively so no concurrent write can add a key the scan missed; every other write holds it
//! shared. Callers make a write durable with [`Store::durable`] before acknowledging it.

mod commit;
mod records;

pub use records::now;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

pub use commit::Committer;
pub use records::{IndexEntries, Kind, Organization, ResourceRecord, ScimKey};

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

struct Inner {
    db: sled::Db,
    tree: sled::Tree,
    committer: Committer,
    path: PathBuf,
    structure: RwLock<()>,
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

type TxResult<T, E> = std::result::Result<T, ConflictableTransactionError<WriteRefused<E>>>;

fn refuse<T, E>(why: WriteRefused<E>) -> TxResult<T, E> {
    Err(ConflictableTransactionError::Abort(why))
}

fn tx_decode<T: serde::de::DeserializeOwned, E>(k: &[u8], v: &[u8]) -> TxResult<T, E> {
    decode(k, v)
        .map_err(|e| ConflictableTransactionError::Storage(sled::Error::Unsupported(e.to_string())))
}

fn finish<T, E>(
    r: std::result::Result<T, TransactionError<WriteRefused<E>>>,
) -> Result<Result<T, WriteRefused<E>>> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(TransactionError::Abort(why)) => Ok(Err(why)),
        Err(TransactionError::Storage(e)) => Err(StoreError::Sled(e)),
    }
}

impl Store {
    /// Opens (creating if needed) the store in `dir` with a page cache of `cache_capacity` bytes.
    pub fn open(dir: &Path, cache_capacity: u64) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Sled(sled::Error::Io(e)))?;
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_capacity)
            .mode(sled::Mode::HighThroughput)
            .open()
            .map_err(|e| match e {
                sled::Error::Io(ref io) if io.to_string().contains("could not acquire lock") => {
                    StoreError::InUse(dir.to_path_buf())
                }
                other => StoreError::Sled(other),
            })?;
        let tree = db.open_tree("scimdesk")?;
        let committer = Committer::start(db.clone()).map_err(|e| StoreError::Sled(e.into()))?;
        Ok(Store {
            inner: Arc::new(Inner {
                db,
                tree,
                committer,
                path: dir.to_path_buf(),
                structure: RwLock::new(()),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Waits until every write made before this call is flushed to disk (group commit).
    pub async fn durable(&self) -> Result<()> {
        self.inner
            .committer
            .durable()
            .await
            .map_err(StoreError::Durability)
    }

    /// Blocking form of [`Store::durable`].
    pub fn durable_blocking(&self) -> Result<()> {
        self.inner
            .committer
            .durable_blocking()
            .map_err(StoreError::Durability)
    }

    /// Flushes synchronously (used at shutdown).
    pub fn flush(&self) -> Result<()> {
        self.inner.db.flush()?;
        Ok(())
    }

    /// Bytes the database occupies on disk.
    pub fn size_on_disk(&self) -> Result<u64> {
        Ok(self.inner.db.size_on_disk()?)
    }

    fn shared(&self) -> std::sync::RwLockReadGuard<'_, ()> {
        self.inner
            .structure
            .read()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn exclusive(&self) -> std::sync::RwLockWriteGuard<'_, ()> {
        self.inner
            .structure
            .write()
            .unwrap_or_else(|p| p.into_inner())
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
    pub fn create_org(&self, org: &Organization) -> Result<Result<(), WriteRefused<()>>> {
        let _g = self.shared();
        let k = key(b'o', &[org.id.as_bytes()]);
        let v = encode(org);
        finish(self.inner.tree.transaction(|t| {
            if t.get(&k)?.is_some() {
                return refuse(WriteRefused::Taken(org.id.clone()));
            }
            t.insert(k.as_slice(), v.as_slice())?;
            Ok(())
        }))
    }

    /// Applies `f` to the organization atomically.
    pub fn update_org<E>(
        &self,
        id: &str,
        f: impl Fn(Organization) -> std::result::Result<Organization, E>,
    ) -> Result<Result<Organization, WriteRefused<E>>> {
        let k = key(b'o', &[id.as_bytes()]);
        finish(self.inner.tree.transaction(|t| {
            let Some(v) = t.get(&k)? else {
                return refuse(WriteRefused::OrgMissing);
            };
            let org: Organization = tx_decode(&k, &v)?;
            let org = match f(org) {
                Ok(o) => o,
                Err(e) => return refuse(WriteRefused::Rejected(e)),
            };
            t.insert(k.as_slice(), encode(&org))?;
            Ok(org)
        }))
    }

    /// Deletes the organization and everything it owns in one atomic batch. False if absent.
    pub fn delete_org(&self, id: &str) -> Result<bool> {
        let _g = self.exclusive();
        let org_key = key(b'o', &[id.as_bytes()]);
        if self.inner.tree.get(&org_key)?.is_none() {
            return Ok(false);
        }
        let mut batch = sled::Batch::default();
        batch.remove(org_key);
        for tag in [b'k', b'u', b'g', b'n', b'x', b'm', b'r'] {
            for k in self.scan_keys(&prefix(tag, &[id.as_bytes()]))? {
                batch.remove(k);
            }
        }
        for k in self.scan_keys(&prefix(b'a', &[id.as_bytes()]))? {
            batch.remove(key(b'A', &[last_part(&k).as_bytes()]));
            batch.remove(k);
        }
        for key_record in self.list_keys(id)? {
            batch.remove(key(b'd', &[key_record.digest.as_bytes()]));
        }
        self.inner.tree.apply_batch(batch)?;
        Ok(true)
    }

    // ----- SCIM API keys -----

    /// Stores a new key and its digest index atomically.
    pub fn insert_key(&self, k: &ScimKey) -> Result<Result<(), WriteRefused<()>>> {
        let _g = self.shared();
        let org_key = key(b'o', &[k.org_id.as_bytes()]);
        let rec_key = key(b'k', &[k.org_id.as_bytes(), k.id.as_bytes()]);
        let digest_key = key(b'd', &[k.digest.as_bytes()]);
        let digest_val = [k.org_id.as_bytes(), &[SEP], k.id.as_bytes()].concat();
        let v = encode(k);
        finish(self.inner.tree.transaction(|t| {
            if t.get(&org_key)?.is_none() {
                return refuse(WriteRefused::OrgMissing);
            }
            if t.get(&rec_key)?.is_some() || t.get(&digest_key)?.is_some() {
                return refuse(WriteRefused::Taken(k.id.clone()));
            }
            t.insert(rec_key.as_slice(), v.as_slice())?;
            t.insert(digest_key.as_slice(), digest_val.as_slice())?;
            Ok(())
        }))
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

    /// Applies `f` to a key record atomically.
    pub fn update_key<E>(
        &self,
        org: &str,
        key_id: &str,
        f: impl Fn(ScimKey) -> std::result::Result<ScimKey, E>,
    ) -> Result<Result<ScimKey, WriteRefused<E>>> {
        let k = key(b'k', &[org.as_bytes(), key_id.as_bytes()]);
        finish(self.inner.tree.transaction(|t| {
            let Some(v) = t.get(&k)? else {
                return refuse(WriteRefused::NotFound);
            };
            let rec: ScimKey = tx_decode(&k, &v)?;
            let rec = match f(rec) {
                Ok(r) => r,
                Err(e) => return refuse(WriteRefused::Rejected(e)),
            };
            t.insert(k.as_slice(), encode(&rec))?;
            Ok(rec)
        }))
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
        Ok(self
            .scan_keys(&prefix(kind.tag(), &[org.as_bytes()]))?
            .iter()
            .map(|k| last_part(k))
            .collect())
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

    pub fn count_resources(&self, org: &str, kind: Kind) -> Result<usize> {
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

    fn write_index<E>(
        t: &TransactionalTree,
        org: &str,
        kind: Kind,
        id: &str,
        old: Option<&IndexEntries>,
        new: &IndexEntries,
    ) -> TxResult<(), E> {
        if let Some(old) = old {
            if old.unique != new.unique {
                t.remove(Self::unique_key(org, kind, &old.unique))?;
            }
            for (attr, value) in &old.terms {
                t.remove(Self::term_key(org, kind, attr, value, id))?;
            }
        }
        let uk = Self::unique_key(org, kind, &new.unique);
        if let Some(holder) = t.get(&uk)?
            && holder.as_ref() != id.as_bytes()
        {
            return refuse(WriteRefused::Taken(
                String::from_utf8_lossy(&holder).into_owned(),
            ));
        }
        t.insert(uk, id.as_bytes())?;
        for (attr, value) in &new.terms {
            t.insert(Self::term_key(org, kind, attr, value, id), &[] as &[u8])?;
        }
        Ok(())
    }

    /// Inserts a new user or group with its index entries, unless the organization is gone or
    /// its unique value is taken. Concurrent creates of one unique value: exactly one succeeds.
    ///
    /// A group may be created with `members` in the same transaction; unknown ids are skipped
    /// and reported.
    pub fn create_resource(
        &self,
        org: &str,
        kind: Kind,
        rec: &ResourceRecord,
        members: &[String],
    ) -> Result<Result<(ResourceRecord, MembershipReport), WriteRefused<()>>> {
        let _g = self.shared();
        let org_key = key(b'o', &[org.as_bytes()]);
        let k = Self::record_key(org, kind, &rec.id);
        let change = MemberChange {
            add: members.to_vec(),
            ..Default::default()
        };
        finish(self.inner.tree.transaction(|t| {
            if t.get(&org_key)?.is_none() {
                return refuse(WriteRefused::OrgMissing);
            }
            if t.get(&k)?.is_some() {
                return refuse(WriteRefused::Taken(rec.id.clone()));
            }
            Self::write_index(t, org, kind, &rec.id, None, &rec.index)?;
            let mut rec = rec.clone();
            rec.member_count = 0;
            let report = Self::apply_members(t, org, &rec.id, &mut rec.member_count, &change, &[])?;
            t.insert(k.as_slice(), encode(&rec))?;
            Ok((rec, report))
        }))
    }

    /// Replaces a record with `f(current)` atomically, moving its index entries.
    pub fn update_resource<E>(
        &self,
        org: &str,
        kind: Kind,
        id: &str,
        f: impl Fn(ResourceRecord) -> std::result::Result<ResourceRecord, E>,
    ) -> Result<Result<ResourceRecord, WriteRefused<E>>> {
        self.change_group_inner(org, kind, id, f, &MemberChange::default(), &[])
            .map(|r| r.map(|(rec, _)| rec))
    }

    /// Deletes a user (with every membership it has) or a group (with its member list).
    /// Returns false when it did not exist.
    pub fn delete_resource(&self, org: &str, kind: Kind, id: &str) -> Result<bool> {
        let _g = self.exclusive();
        let k = Self::record_key(org, kind, id);
        let links: Vec<String> = match kind {
            Kind::User => self.groups_of(org, id)?,
            Kind::Group => self
                .scan_keys(&prefix(b'm', &[org.as_bytes(), id.as_bytes()]))?
                .iter()
                .map(|k| last_part(k))
                .collect(),
        };
        let now = records::now();
        let r = finish::<bool, ()>(self.inner.tree.transaction(|t| {
            let Some(v) = t.get(&k)? else {
                return Ok(false);
            };
            let rec: ResourceRecord = tx_decode(&k, &v)?;
            t.remove(Self::unique_key(org, kind, &rec.index.unique))?;
            for (attr, value) in &rec.index.terms {
                t.remove(Self::term_key(org, kind, attr, value, id))?;
            }
            t.remove(k.as_slice())?;
            for other in &links {
                let (user, group) = match kind {
                    Kind::User => (id, other.as_str()),
                    Kind::Group => (other.as_str(), id),
                };
                t.remove(key(
                    b'm',
                    &[org.as_bytes(), group.as_bytes(), user.as_bytes()],
                ))?;
                t.remove(key(
                    b'r',
                    &[org.as_bytes(), user.as_bytes(), group.as_bytes()],
                ))?;
                if kind == Kind::User {
                    // The group's member list changed: new version, one member fewer.
                    let gk = Self::record_key(org, Kind::Group, group);
                    if let Some(gv) = t.get(&gk)? {
                        let mut g: ResourceRecord = tx_decode(&gk, &gv)?;
                        g.member_count = g.member_count.saturating_sub(1);
                        g.touch(now);
                        t.insert(gk, encode(&g))?;
                    }
                }
            }
            Ok(true)
        }))?;
        Ok(r.unwrap_or(false))
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

    /// Changes a group's attributes with `f` and its members with `change`, all or nothing.
    /// Adding or removing one member costs the same whatever the group's size; only `clear`
    /// reads the current member list. Unknown user ids in `change.add` are skipped and reported.
    pub fn change_group<E>(
        &self,
        org: &str,
        id: &str,
        f: impl Fn(ResourceRecord) -> std::result::Result<ResourceRecord, E>,
        change: &MemberChange,
    ) -> Result<Result<(ResourceRecord, MembershipReport), WriteRefused<E>>> {
        if change.clear {
            let _g = self.exclusive();
            let current = self.members(org, id, 0, usize::MAX)?;
            self.change_group_locked(org, Kind::Group, id, f, change, &current)
        } else {
            self.change_group_inner(org, Kind::Group, id, f, change, &[])
        }
    }

    fn change_group_inner<E>(
        &self,
        org: &str,
        kind: Kind,
        id: &str,
        f: impl Fn(ResourceRecord) -> std::result::Result<ResourceRecord, E>,
        change: &MemberChange,
        current: &[String],
    ) -> Result<Result<(ResourceRecord, MembershipReport), WriteRefused<E>>> {
        let _g = self.shared();
        self.change_group_locked(org, kind, id, f, change, current)
    }

    /// Applies a member change inside a transaction, keeping `count` and both directions of
    /// the membership in step. Reports net additions and removals.
    fn apply_members<E>(
        t: &TransactionalTree,
        org: &str,
        group: &str,
        count: &mut u64,
        change: &MemberChange,
        current: &[String],
    ) -> TxResult<MembershipReport, E> {
        let (ob, gb) = (org.as_bytes(), group.as_bytes());
        let mut report = MembershipReport::default();
        let mut dropped = std::collections::HashSet::new();
        let cleared: &[String] = if change.clear { current } else { &[] };
        let to_drop = cleared.iter().chain(&change.remove);
        for user in to_drop {
            if t.remove(key(b'm', &[ob, gb, user.as_bytes()]))?.is_some() {
                t.remove(key(b'r', &[ob, user.as_bytes(), gb]))?;
                *count = count.saturating_sub(1);
                dropped.insert(user.as_str());
            }
        }
        let mut readded = std::collections::HashSet::new();
        for user in &change.add {
            if t.get(Self::record_key(org, Kind::User, user))?.is_none() {
                report.unknown.push(user.clone());
                continue;
            }
            if t.insert(key(b'm', &[ob, gb, user.as_bytes()]), &[] as &[u8])?
                .is_none()
            {
                t.insert(key(b'r', &[ob, user.as_bytes(), gb]), &[] as &[u8])?;
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

    fn change_group_locked<E>(
        &self,
        org: &str,
        kind: Kind,
        id: &str,
        f: impl Fn(ResourceRecord) -> std::result::Result<ResourceRecord, E>,
        change: &MemberChange,
        current: &[String],
    ) -> Result<Result<(ResourceRecord, MembershipReport), WriteRefused<E>>> {
        let k = Self::record_key(org, kind, id);
        finish(self.inner.tree.transaction(|t| {
            let Some(v) = t.get(&k)? else {
                return refuse(WriteRefused::NotFound);
            };
            let old: ResourceRecord = tx_decode(&k, &v)?;
            let old_index = old.index.clone();
            let mut rec = match f(old) {
                Ok(r) => r,
                Err(e) => return refuse(WriteRefused::Rejected(e)),
            };
            Self::write_index(t, org, kind, id, Some(&old_index), &rec.index)?;
            let report = Self::apply_members(t, org, id, &mut rec.member_count, change, current)?;
            t.insert(k.as_slice(), encode(&rec))?;
            Ok((rec, report))
        }))
    }

    /// Writes a value under a scratch key outside every organization (tag `z`). Used by the
    /// benchmark to measure the durable-write ceiling through the same group commit.
    pub fn put_scratch(&self, name: &[u8], value: &[u8]) -> Result<()> {
        self.inner.tree.insert(key(b'z', &[name]), value)?;
        Ok(())
    }

    // ----- activity -----

    /// Appends activity records `(org, time-ordered id, JSON)` in one batch. Not flushed here:
    /// activity is written off the request path and reaches disk with the next flush.
    pub fn append_activity(&self, records: &[(String, String, Vec<u8>)]) -> Result<()> {
        let mut batch = sled::Batch::default();
        for (org, id, json) in records {
            batch.insert(key(b'a', &[org.as_bytes(), id.as_bytes()]), json.as_slice());
            batch.insert(key(b'A', &[id.as_bytes()]), org.as_bytes());
        }
        self.inner.tree.apply_batch(batch)?;
        Ok(())
    }

    /// How many activity records an organization has.
    pub fn activity_count(&self, org: &str) -> Result<usize> {
        let mut n = 0;
        for k in self
            .inner
            .tree
            .scan_prefix(prefix(b'a', &[org.as_bytes()]))
            .keys()
        {
            k?;
            n += 1;
        }
        Ok(n)
    }

    /// Removes an organization's oldest activity records: all with ids below `before_id`, then
    /// more until at most `keep` remain. Returns how many were removed.
    pub fn trim_activity(&self, org: &str, before_id: &str, keep: usize) -> Result<usize> {
        let total = self.activity_count(org)?;
        let mut excess = total.saturating_sub(keep);
        let mut batch = sled::Batch::default();
        let mut removed = 0;
        for k in self
            .inner
            .tree
            .scan_prefix(prefix(b'a', &[org.as_bytes()]))
            .keys()
        {
            let k = k?;
            let id = last_part(&k);
            if excess == 0 && id.as_str() >= before_id {
                break;
            }
            batch.remove(key(b'A', &[id.as_bytes()]));
            batch.remove(k);
            excess = excess.saturating_sub(1);
            removed += 1;
        }
        if removed > 0 {
            self.inner.tree.apply_batch(batch)?;
        }
        Ok(removed)
    }

    /// Activity records newest first (of one organization, or of all), until `f` returns false.
    pub fn recent_activity(
        &self,
        org: Option<&str>,
        mut f: impl FnMut(&[u8]) -> bool,
    ) -> Result<()> {
        match org {
            Some(org) => {
                for item in self
                    .inner
                    .tree
                    .scan_prefix(prefix(b'a', &[org.as_bytes()]))
                    .rev()
                {
                    let (_, v) = item?;
                    if !f(&v) {
                        break;
                    }
                }
            }
            None => {
                for item in self.inner.tree.scan_prefix([b'A', SEP]).rev() {
                    let (k, org) = item?;
                    let id = last_part(&k);
                    if let Some(v) = self.inner.tree.get(key(b'a', &[&org, id.as_bytes()]))?
                        && !f(&v)
                    {
                        break;
                    }
                }
            }
        }
        Ok(())
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
