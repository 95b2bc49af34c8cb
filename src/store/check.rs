//! Consistency check of a store: every index, reference and count agrees with the records.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{Kind, ResourceRecord, Result, ScimKey, Store, decode, last_part};

/// What `check` found.
#[derive(Debug, Default, serde::Serialize)]
pub struct CheckReport {
    pub organizations: usize,
    pub users: usize,
    pub groups: usize,
    pub memberships: usize,
    pub keys: usize,
    pub activity_records: usize,
    /// One line per problem; empty when the store is consistent.
    pub problems: Vec<String>,
}

fn parts(k: &[u8]) -> Vec<String> {
    k.get(2..)
        .unwrap_or_default()
        .split(|b| *b == 0)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect()
}

impl Store {
    /// Reads the whole store and reports every disagreement between records and indexes.
    pub fn check(&self) -> Result<CheckReport> {
        let mut r = CheckReport::default();
        let mut orgs = HashSet::new();
        let mut records: HashMap<(String, Kind, String), ResourceRecord> = HashMap::new();
        let mut unique: HashMap<(String, u8, String), String> = HashMap::new();
        let mut terms: HashSet<(String, u8, String, String, String)> = HashSet::new();
        let mut members: HashSet<(String, String, String)> = HashSet::new();
        let mut reverse: HashSet<(String, String, String)> = HashSet::new();
        let mut counters: BTreeMap<(String, u8), u64> = BTreeMap::new();
        let mut keys: Vec<ScimKey> = Vec::new();
        let mut digests: HashMap<String, (String, String)> = HashMap::new();
        let mut owned: Vec<(u8, String, String)> = Vec::new();
        for item in self.raw_entries() {
            let (k, v) = item?;
            let tag = k[0];
            let p = parts(&k);
            let shown = String::from_utf8_lossy(&k).replace('\0', "/");
            match tag {
                b'o' => {
                    orgs.insert(p[0].clone());
                }
                b'u' | b'g' => {
                    let kind = if tag == b'u' { Kind::User } else { Kind::Group };
                    match decode::<ResourceRecord>(&k, &v) {
                        Ok(rec) => {
                            if p.get(1) != Some(&rec.id) {
                                r.problems.push(format!(
                                    "{shown}: record id {} differs from its key",
                                    rec.id
                                ));
                            }
                            records.insert((p[0].clone(), kind, rec.id.clone()), rec);
                        }
                        Err(e) => r.problems.push(format!("{shown}: {e}")),
                    }
                }
                b'n' if p.len() >= 3 => {
                    let kind = p[1].as_bytes().first().copied().unwrap_or(0);
                    unique.insert(
                        (p[0].clone(), kind, p[2..].join("\0")),
                        String::from_utf8_lossy(&v).into_owned(),
                    );
                }
                b'x' if p.len() >= 5 => {
                    let kind = p[1].as_bytes().first().copied().unwrap_or(0);
                    let id = last_part(&k);
                    let value = p[3..p.len() - 1].join("\0");
                    terms.insert((p[0].clone(), kind, p[2].clone(), value, id));
                }
                b'm' if p.len() == 3 => {
                    members.insert((p[0].clone(), p[1].clone(), p[2].clone()));
                }
                b'r' if p.len() == 3 => {
                    reverse.insert((p[0].clone(), p[2].clone(), p[1].clone()));
                }
                b'c' if p.len() == 2 => {
                    let kind = p[1].as_bytes().first().copied().unwrap_or(0);
                    counters.insert(
                        (p[0].clone(), kind),
                        <[u8; 8]>::try_from(v.as_slice()).map_or(u64::MAX, u64::from_be_bytes),
                    );
                }
                b'k' => match decode::<ScimKey>(&k, &v) {
                    Ok(key) => keys.push(key),
                    Err(e) => r.problems.push(format!("{shown}: {e}")),
                },
                b'd' => {
                    let val = String::from_utf8_lossy(&v).into_owned();
                    let (org, id) = val.split_once('\0').unwrap_or((&val, ""));
                    digests.insert(p[0].clone(), (org.to_string(), id.to_string()));
                }
                b'a' => r.activity_records += 1,
                b'w' => r
                    .problems
                    .push(format!("{shown}: an unfinished write group remains")),
                b'z' => {}
                _ => r.problems.push(format!("{shown}: unknown key")),
            }
            if matches!(
                tag,
                b'k' | b'u' | b'g' | b'n' | b'x' | b'm' | b'r' | b'c' | b'a'
            ) {
                owned.push((tag, p.first().cloned().unwrap_or_default(), shown));
            }
        }
        r.organizations = orgs.len();
        for (tag, org, shown) in &owned {
            if !orgs.contains(org) {
                r.problems.push(format!(
                    "{shown}: belongs to missing organization {org} ({})",
                    *tag as char
                ));
            }
        }
        // Records against their unique and term indexes.
        let mut counted: HashMap<(String, u8), u64> = HashMap::new();
        for ((org, kind, id), rec) in &records {
            let t = kind.tag();
            *counted.entry((org.clone(), t)).or_default() += 1;
            match kind {
                Kind::User => r.users += 1,
                Kind::Group => r.groups += 1,
            }
            match unique.get(&(org.clone(), t, rec.index.unique.clone())) {
                Some(holder) if holder == id => {}
                Some(holder) => r.problems.push(format!(
                    "{org}: {} {id}: unique value held by {holder}",
                    kind.resource_type()
                )),
                None => r.problems.push(format!(
                    "{org}: {} {id}: unique value {:?} not indexed",
                    kind.resource_type(),
                    rec.index.unique
                )),
            }
            for (attr, value) in &rec.index.terms {
                if !terms.contains(&(org.clone(), t, attr.clone(), value.clone(), id.clone())) {
                    r.problems.push(format!(
                        "{org}: {} {id}: {attr} {value:?} not indexed",
                        kind.resource_type()
                    ));
                }
            }
            if *kind == Kind::Group {
                let actual = members
                    .iter()
                    .filter(|(o, g, _)| o == org && g == id)
                    .count() as u64;
                if actual != rec.member_count {
                    r.problems.push(format!(
                        "{org}: group {id}: member count {} but {actual} members",
                        rec.member_count
                    ));
                }
            }
        }
        for ((org, t, value), holder) in &unique {
            let kind = if *t == b'u' { Kind::User } else { Kind::Group };
            match records.get(&(org.clone(), kind, holder.clone())) {
                Some(rec) if rec.index.unique == *value => {}
                Some(_) => r.problems.push(format!(
                    "{org}: unique entry {value:?} points to {holder}, which holds another value"
                )),
                None => r.problems.push(format!(
                    "{org}: unique entry {value:?} points to missing {holder}"
                )),
            }
        }
        for (org, t, attr, value, id) in &terms {
            let kind = if *t == b'u' { Kind::User } else { Kind::Group };
            let ok = records
                .get(&(org.clone(), kind, id.clone()))
                .is_some_and(|rec| rec.index.terms.iter().any(|(a, v)| a == attr && v == value));
            if !ok {
                r.problems.push(format!(
                    "{org}: index entry {attr}={value:?} points to {id}, which does not have it"
                ));
            }
        }
        // Memberships in both directions, between existing users and groups.
        r.memberships = members.len();
        for (org, group, user) in &members {
            if !records.contains_key(&(org.clone(), Kind::Group, group.clone())) {
                r.problems.push(format!(
                    "{org}: membership of {user} in missing group {group}"
                ));
            }
            if !records.contains_key(&(org.clone(), Kind::User, user.clone())) {
                r.problems
                    .push(format!("{org}: group {group} lists missing user {user}"));
            }
            if !reverse.contains(&(org.clone(), group.clone(), user.clone())) {
                r.problems.push(format!(
                    "{org}: membership {group}/{user} has no reverse entry"
                ));
            }
        }
        for (org, group, user) in &reverse {
            if !members.contains(&(org.clone(), group.clone(), user.clone())) {
                r.problems.push(format!(
                    "{org}: reverse entry {user}/{group} has no membership"
                ));
            }
        }
        // Kept counts.
        for org in &orgs {
            for t in [b'u', b'g'] {
                let kept = counters.get(&(org.clone(), t)).copied().unwrap_or(0);
                let actual = counted.get(&(org.clone(), t)).copied().unwrap_or(0);
                if kept != actual {
                    r.problems.push(format!(
                        "{org}: kept count of {} is {kept} but there are {actual}",
                        if t == b'u' { "users" } else { "groups" }
                    ));
                }
            }
        }
        // Keys and their digest index.
        r.keys = keys.len();
        for key in &keys {
            match digests.get(&key.digest) {
                Some((org, id)) if *org == key.org_id && *id == key.id => {}
                _ => r.problems.push(format!(
                    "{}: key {} has no digest index entry",
                    key.org_id, key.id
                )),
            }
        }
        for (digest, (org, id)) in &digests {
            if !keys
                .iter()
                .any(|k| k.org_id == *org && k.id == *id && k.digest == *digest)
            {
                r.problems
                    .push(format!("digest entry points to missing key {org}/{id}"));
            }
        }
        r.problems.sort();
        Ok(r)
    }
}
