//! Group memberships, kept in both directions (a group's members, a user's groups) so either
//! side is one range read and a change to one member costs the same in any group.

use std::collections::{HashMap, HashSet};

use super::writer::Staged;
use super::{ResourceRecord, Result, Store, decode, keys};
use crate::scim::schema::ResourceKind;

/// The outcome of a membership change on one group.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MembershipReport {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Ids that were asked to be added but name no user of the organization.
    pub unknown: Vec<String>,
    /// The userName of every user added or removed, by id (for the change feed).
    pub names: HashMap<String, String>,
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

/// How a member is shown in its groups' `members[].display` (RFC 7643 §4.2): the user's
/// displayName, else userName. Stored with each membership so a group renders in one range read.
pub fn member_display(rec: &ResourceRecord) -> String {
    rec.attrs
        .get("displayName")
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| user_name(rec))
}

fn user_name(rec: &ResourceRecord) -> String {
    rec.attrs
        .get("userName")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string()
}

impl Store {
    /// Ids of the groups a user belongs to.
    pub fn groups_of(&self, org: &str, user: &str) -> Result<Vec<String>> {
        Ok(self
            .scan_keys(&keys::groups_of(org, user))?
            .iter()
            .map(|k| keys::last_part(k))
            .collect())
    }

    /// A page of a group's member ids in id order: skip `skip`, take at most `take`.
    pub fn members(&self, org: &str, group: &str, skip: usize, take: usize) -> Result<Vec<String>> {
        self.tree()
            .scan_prefix(keys::members_of(org, group))
            .keys()
            .skip(skip)
            .take(take)
            .map(|k| Ok(keys::last_part(&k?)))
            .collect()
    }

    /// A page of a group's members in id order with their display (None for a membership
    /// stored before displays were kept: it gets one when the user is next written or re-added).
    pub fn members_with_display(
        &self,
        org: &str,
        group: &str,
        skip: usize,
        take: usize,
    ) -> Result<Vec<(String, Option<String>)>> {
        self.tree()
            .scan_prefix(keys::members_of(org, group))
            .skip(skip)
            .take(take)
            .map(|item| {
                let (k, v) = item?;
                let display = (!v.is_empty()).then(|| String::from_utf8_lossy(&v).into_owned());
                Ok((keys::last_part(&k), display))
            })
            .collect()
    }

    /// Up to `take` of a group's member ids after the user id `after`, in id order.
    pub fn members_after(
        &self,
        org: &str,
        group: &str,
        after: Option<&str>,
        take: usize,
    ) -> Result<Vec<String>> {
        let prefix = keys::members_of(org, group);
        let start = match after {
            Some(user) => {
                let mut k = keys::member(org, group, user);
                k.push(0); // the smallest key after `user`
                k
            }
            None => prefix.clone(),
        };
        let mut out = Vec::new();
        for k in self.tree().range(start..).keys() {
            let k = k?;
            if !k.starts_with(&prefix) || out.len() >= take {
                break;
            }
            out.push(keys::last_part(&k));
        }
        Ok(out)
    }

    pub fn is_member(&self, org: &str, group: &str, user: &str) -> Result<bool> {
        Ok(self.tree().contains_key(keys::member(org, group, user))?)
    }

    /// Applies a member change inside a write, keeping `count` and both directions of the
    /// membership in step. Reports net additions and removals.
    pub(super) fn apply_members(
        st: &mut Staged<'_>,
        org: &str,
        group: &str,
        count: &mut u64,
        change: &MemberChange,
        current: &[String],
    ) -> Result<MembershipReport> {
        let mut report = MembershipReport::default();
        let mut dropped = HashSet::new();
        let cleared: &[String] = if change.clear { current } else { &[] };
        for user in cleared.iter().chain(&change.remove) {
            if st.remove(keys::member(org, group, user))?.is_some() {
                st.remove(keys::member_of(org, user, group))?;
                *count = count.saturating_sub(1);
                dropped.insert(user.as_str());
                let k = keys::record(org, ResourceKind::User, user);
                if let Some(v) = st.get(&k)? {
                    report
                        .names
                        .insert(user.clone(), user_name(&decode(&k, &v)?));
                }
            }
        }
        let mut readded = HashSet::new();
        for user in &change.add {
            let k = keys::record(org, ResourceKind::User, user);
            let Some(v) = st.get(&k)? else {
                report.unknown.push(user.clone());
                continue;
            };
            let rec: ResourceRecord = decode(&k, &v)?;
            if st
                .insert(
                    keys::member(org, group, user),
                    member_display(&rec).into_bytes(),
                )?
                .is_none()
            {
                st.insert(keys::member_of(org, user, group), &[] as &[u8])?;
                *count += 1;
                if dropped.contains(user.as_str()) {
                    readded.insert(user.as_str());
                } else {
                    report.added.push(user.clone());
                    report.names.insert(user.clone(), user_name(&rec));
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

    /// Inside a user's write: when its display changed, the display kept with each of its
    /// memberships follows.
    pub(super) fn follow_display(
        st: &mut Staged<'_>,
        org: &str,
        old: &ResourceRecord,
        new: &ResourceRecord,
    ) -> Result<()> {
        let display = member_display(new);
        if display == member_display(old) {
            return Ok(());
        }
        for k in st.keys_with_prefix(&keys::groups_of(org, &new.id))? {
            let group = keys::last_part(&k);
            st.insert(
                keys::member(org, &group, &new.id),
                display.clone().into_bytes(),
            )?;
        }
        Ok(())
    }
}
