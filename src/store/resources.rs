//! Users and groups: their records, unique and secondary indexes, per-organization counts and
//! the in-memory id lists that make a page cost the page.

use std::collections::HashMap;
use std::sync::Mutex;

use super::memberships::{MemberChange, MembershipReport};
use super::writer::{OpResult, Staged};
use super::{
    IndexEntries, NewEvent, Outcome, ResourceRecord, Result, Store, WriteRefused, decode, encode,
    keys, or_refuse, refuse,
};
use crate::scim::schema::ResourceKind;

/// Every user or group id of one organization in list order, held in memory once read, so a page
/// at any offset costs the page, not the offset. Writes keep it current.
pub(super) type IdLists = Mutex<HashMap<(String, ResourceKind), Vec<String>>>;

/// A written user or group: the record before (None for a create) and after, and for a group
/// what happened to its members.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceUpdate {
    pub before: Option<ResourceRecord>,
    pub after: ResourceRecord,
    pub members: MembershipReport,
}

fn read_counter(v: Option<&[u8]>) -> u64 {
    v.and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_be_bytes)
}

impl Store {
    pub fn get_resource(
        &self,
        org: &str,
        kind: ResourceKind,
        id: &str,
    ) -> Result<Option<ResourceRecord>> {
        self.get_decoded(&keys::record(org, kind, id))
    }

    /// Ids whose index entry for `attr` equals the normalised `value`. One range read.
    pub fn lookup(
        &self,
        org: &str,
        kind: ResourceKind,
        attr: &str,
        value: &str,
    ) -> Result<Vec<String>> {
        Ok(self
            .scan_keys(&keys::terms_of(org, kind, attr, value))?
            .iter()
            .map(|k| keys::last_part(k))
            .collect())
    }

    /// The id holding a unique value, if any.
    pub fn lookup_unique(
        &self,
        org: &str,
        kind: ResourceKind,
        value: &str,
    ) -> Result<Option<String>> {
        Ok(self
            .tree()
            .get(keys::unique(org, kind, value))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// All ids of one kind in key order (creation order, as ids are time-ordered).
    pub fn resource_ids(&self, org: &str, kind: ResourceKind) -> Result<Vec<String>> {
        self.with_ids(org, kind, |ids| ids.to_vec())
    }

    /// A page of ids of one kind in list order: skip `skip`, take at most `take`, without
    /// reading the rest. Also returns how many there are.
    pub fn resource_page(
        &self,
        org: &str,
        kind: ResourceKind,
        skip: usize,
        take: usize,
    ) -> Result<(usize, Vec<String>)> {
        self.with_ids(org, kind, |ids| {
            let page = ids.iter().skip(skip).take(take).cloned().collect();
            (ids.len(), page)
        })
    }

    /// Runs `f` on the id list of one organization and kind, reading it on first use.
    fn with_ids<T>(
        &self,
        org: &str,
        kind: ResourceKind,
        f: impl FnOnce(&[String]) -> T,
    ) -> Result<T> {
        let mut lists = self.inner.ids.lock().unwrap_or_else(|p| p.into_inner());
        let key = (org.to_string(), kind);
        if !lists.contains_key(&key) {
            let ids = self
                .scan_keys(&keys::records_of(org, kind))?
                .iter()
                .map(|k| keys::last_part(k))
                .collect();
            lists.insert(key.clone(), ids);
        }
        Ok(f(&lists[&key]))
    }

    /// Keeps a loaded id list current after a create (`added`) or delete.
    fn note_id(&self, org: &str, kind: ResourceKind, id: &str, added: bool) {
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

    /// Drops a deleted organization's id lists.
    pub(super) fn forget_org_ids(&self, org: &str) {
        let mut lists = self.inner.ids.lock().unwrap_or_else(|p| p.into_inner());
        lists.retain(|(o, _), _| o != org);
    }

    /// Up to `limit` records of one kind in key order, starting after the id `after`.
    pub fn resources_after(
        &self,
        org: &str,
        kind: ResourceKind,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ResourceRecord>> {
        let prefix = keys::records_of(org, kind);
        let start = match after {
            Some(id) => {
                let mut k = keys::record(org, kind, id);
                k.push(0); // just past `id`
                k
            }
            None => prefix.clone(),
        };
        let mut out = Vec::new();
        for item in self.tree().range(start..) {
            let (k, v) = item?;
            if !k.starts_with(&prefix) || out.len() >= limit {
                break;
            }
            out.push(decode(&k, &v)?);
        }
        Ok(out)
    }

    /// How many users or groups an organization has: one read (writes keep the count).
    pub fn count_resources(&self, org: &str, kind: ResourceKind) -> Result<usize> {
        let v = self.tree().get(keys::counter(org, kind))?;
        Ok(read_counter(v.as_deref()) as usize)
    }

    /// Counts by scanning, for `check` to compare with the kept count.
    pub fn count_resources_by_scan(&self, org: &str, kind: ResourceKind) -> Result<usize> {
        let mut n = 0;
        for k in self.tree().scan_prefix(keys::records_of(org, kind)).keys() {
            k?;
            n += 1;
        }
        Ok(n)
    }

    fn add_to_counter(
        st: &mut Staged<'_>,
        org: &str,
        kind: ResourceKind,
        delta: i64,
    ) -> Result<()> {
        let k = keys::counter(org, kind);
        let n = read_counter(st.get(&k)?.as_deref()) as i64;
        st.insert(k, (n + delta).max(0).to_be_bytes().to_vec())?;
        Ok(())
    }

    /// Moves a record's index entries from `old` to `new`, refusing a unique value another
    /// record holds.
    fn write_index<E>(
        st: &mut Staged<'_>,
        org: &str,
        kind: ResourceKind,
        id: &str,
        old: Option<&IndexEntries>,
        new: &IndexEntries,
    ) -> OpResult<(), E> {
        let held: Vec<String> = new.unique_values().collect();
        for value in &held {
            if let Some(holder) = st.get(&keys::unique(org, kind, value))?
                && holder.as_ref() != id.as_bytes()
            {
                return refuse(WriteRefused::Taken(
                    String::from_utf8_lossy(&holder).into_owned(),
                ));
            }
        }
        if let Some(old) = old {
            for value in old.unique_values() {
                if !held.contains(&value) {
                    st.remove(keys::unique(org, kind, &value))?;
                }
            }
            for (attr, value) in &old.terms {
                st.remove(keys::term(org, kind, attr, value, id))?;
            }
        }
        for value in &held {
            st.insert(keys::unique(org, kind, value), id.as_bytes())?;
        }
        for (attr, value) in &new.terms {
            st.insert(keys::term(org, kind, attr, value, id), &[] as &[u8])?;
        }
        Ok(Ok(()))
    }

    /// Inserts a new user or group with its index entries, unless the organization is gone or
    /// its unique value (or id) is taken. Concurrent creates of one unique value: exactly one
    /// succeeds.
    ///
    /// A group may be created with `members` in the same write; unknown ids are skipped
    /// and reported.
    pub async fn create_resource(
        &self,
        org: &str,
        kind: ResourceKind,
        rec: &ResourceRecord,
        members: &[String],
        events: impl FnOnce(&ResourceUpdate) -> Vec<NewEvent> + Send + 'static,
    ) -> Result<Outcome<ResourceUpdate>> {
        let org_id = org.to_string();
        let org_key = keys::org(org);
        let k = keys::record(org, kind, &rec.id);
        let change = MemberChange {
            add: members.to_vec(),
            ..Default::default()
        };
        let mut rec = rec.clone();
        let o = org_id.clone();
        let created = self
            .writer()
            .write(move |st| {
                if !st.contains(&org_key)? {
                    return refuse(WriteRefused::OrgMissing);
                }
                if st.contains(&k)? {
                    return refuse(WriteRefused::Taken(rec.id.clone()));
                }
                or_refuse!(Self::write_index(st, &o, kind, &rec.id, None, &rec.index)?);
                rec.member_count = 0;
                let members =
                    Self::apply_members(st, &o, &rec.id, &mut rec.member_count, &change, &[])?;
                st.insert(k, encode(&rec)?)?;
                Self::add_to_counter(st, &o, kind, 1)?;
                let created = ResourceUpdate {
                    before: None,
                    after: rec,
                    members,
                };
                st.emit(events(&created));
                Ok(Ok(created))
            })
            .await?;
        if let Ok(u) = &created {
            self.note_id(&org_id, kind, &u.after.id, true);
        }
        Ok(created)
    }

    /// Deletes a user (with every membership it has) or a group (with its member list), if
    /// `check` accepts the current record, with the events `events(record, groups)` makes
    /// (`groups`: the (id, displayName) of every group a deleted user was in). Returns the
    /// deleted record.
    pub async fn delete_resource<E: Send + 'static>(
        &self,
        org: &str,
        kind: ResourceKind,
        id: &str,
        check: impl FnOnce(&ResourceRecord) -> std::result::Result<(), E> + Send + 'static,
        events: impl FnOnce(&ResourceRecord, &[(String, String)]) -> Vec<NewEvent> + Send + 'static,
    ) -> Result<Outcome<ResourceRecord, E>> {
        let (o, i) = (org.to_string(), id.to_string());
        // The other side of every link: a user's groups, or a group's members.
        let scan = move |tree: &sled::Tree| -> Result<Vec<String>> {
            let prefix = match kind {
                ResourceKind::User => keys::groups_of(&o, &i),
                ResourceKind::Group => keys::members_of(&o, &i),
            };
            tree.scan_prefix(prefix)
                .keys()
                .map(|k| Ok(keys::last_part(&k?)))
                .collect()
        };
        let (o, i) = (org.to_string(), id.to_string());
        let k = keys::record(org, kind, id);
        let now = super::now();
        let deleted = self
            .writer()
            .write_after_scan(scan, move |st, links: &Vec<String>| {
                let Some(v) = st.get(&k)? else {
                    return refuse(WriteRefused::NotFound);
                };
                let rec: ResourceRecord = decode(&k, &v)?;
                or_refuse!(check(&rec).map_err(WriteRefused::Rejected));
                for value in rec.index.unique_values() {
                    st.remove(keys::unique(&o, kind, &value))?;
                }
                for (attr, value) in &rec.index.terms {
                    st.remove(keys::term(&o, kind, attr, value, &i))?;
                }
                st.remove(k)?;
                Self::add_to_counter(st, &o, kind, -1)?;
                let mut groups = Vec::new();
                for other in links {
                    let (user, group) = match kind {
                        ResourceKind::User => (i.as_str(), other.as_str()),
                        ResourceKind::Group => (other.as_str(), i.as_str()),
                    };
                    st.remove(keys::member(&o, group, user))?;
                    st.remove(keys::member_of(&o, user, group))?;
                    if kind == ResourceKind::User {
                        // The group's member list changed: new version, one member fewer.
                        let gk = keys::record(&o, ResourceKind::Group, group);
                        if let Some(gv) = st.get(&gk)? {
                            let mut g: ResourceRecord = decode(&gk, &gv)?;
                            g.member_count = g.member_count.saturating_sub(1);
                            g.touch(now);
                            st.insert(gk, encode(&g)?)?;
                            let name = g.attrs.get("displayName").and_then(|v| v.as_str());
                            groups.push((group.to_string(), name.unwrap_or_default().to_string()));
                        }
                    }
                }
                st.emit(events(&rec, &groups));
                Ok(Ok(rec))
            })
            .await?;
        if deleted.is_ok() {
            self.note_id(org, kind, id, false);
        }
        Ok(deleted)
    }

    /// The body of an update: `f` computes the new record from the current one; index entries
    /// and members follow.
    fn update_op<E: Send + 'static>(
        org: &str,
        kind: ResourceKind,
        id: &str,
        f: impl FnOnce(&ResourceRecord) -> std::result::Result<ResourceRecord, E> + Send + 'static,
        change: MemberChange,
        events: impl FnOnce(&ResourceUpdate) -> Vec<NewEvent> + Send + 'static,
    ) -> impl FnOnce(&mut Staged<'_>, &Vec<String>) -> OpResult<ResourceUpdate, E> + Send + 'static
    {
        let (org, id) = (org.to_string(), id.to_string());
        let k = keys::record(&org, kind, &id);
        move |st, current| {
            let Some(v) = st.get(&k)? else {
                return refuse(WriteRefused::NotFound);
            };
            let old: ResourceRecord = decode(&k, &v)?;
            let mut rec = or_refuse!(f(&old).map_err(WriteRefused::Rejected));
            or_refuse!(Self::write_index(
                st,
                &org,
                kind,
                &id,
                Some(&old.index),
                &rec.index
            )?);
            let members =
                Self::apply_members(st, &org, &id, &mut rec.member_count, &change, current)?;
            if kind == ResourceKind::User {
                Self::follow_display(st, &org, &old, &rec)?;
            }
            st.insert(k, encode(&rec)?)?;
            let updated = ResourceUpdate {
                before: Some(old),
                after: rec,
                members,
            };
            st.emit(events(&updated));
            Ok(Ok(updated))
        }
    }

    /// Replaces a user or group with `f(current)` and changes a group's members, all or
    /// nothing, with the events `events(update)` makes. Adding or removing one member costs the same whatever the group's size; only
    /// `clear` reads the current member list. Unknown user ids in `change.add` are skipped and
    /// reported.
    pub async fn update_resource<E: Send + 'static>(
        &self,
        org: &str,
        kind: ResourceKind,
        id: &str,
        f: impl FnOnce(&ResourceRecord) -> std::result::Result<ResourceRecord, E> + Send + 'static,
        change: MemberChange,
        events: impl FnOnce(&ResourceUpdate) -> Vec<NewEvent> + Send + 'static,
    ) -> Result<Outcome<ResourceUpdate, E>> {
        let clear = change.clear;
        let op = Self::update_op(org, kind, id, f, change, events);
        if clear {
            let prefix = keys::members_of(org, id);
            let scan = move |tree: &sled::Tree| -> Result<Vec<String>> {
                tree.scan_prefix(prefix)
                    .keys()
                    .map(|k| Ok(keys::last_part(&k?)))
                    .collect()
            };
            self.writer().write_after_scan(scan, op).await
        } else {
            self.writer().write(move |st| op(st, &Vec::new())).await
        }
    }
}
