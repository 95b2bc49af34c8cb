//! Consistency check of a store: every index, reference and count agrees with the records.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::keys::{self, Parsed};
use super::{AppKey, ResourceRecord, Result, ScimKey, Store, decode};
use crate::scim::schema::ResourceKind;

/// What `check` found.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct CheckReport {
    pub organizations: usize,
    pub users: usize,
    pub groups: usize,
    pub memberships: usize,
    pub keys: usize,
    pub activity_records: usize,
    #[serde(default)]
    pub events: usize,
    #[serde(default)]
    pub app_keys: usize,
    /// Declared extension schemas.
    #[serde(default)]
    pub schemas: usize,
    #[serde(default)]
    pub webhooks: usize,
    /// One line per problem; empty when the store is consistent.
    pub problems: Vec<String>,
}

type RecordId = (String, ResourceKind, String);

impl Store {
    /// Reads the whole store and reports every disagreement between records and indexes.
    /// Writes made while it reads can look like disagreements: use it on a store nobody
    /// writes to, or [`Store::check_between_writes`].
    pub fn check(&self) -> Result<CheckReport> {
        check_tree(self.tree())
    }

    /// [`Store::check`] on the writer thread, between two groups: writes wait until it is
    /// done, so what it reads is one consistent state of a running store.
    pub async fn check_between_writes(&self) -> Result<CheckReport> {
        let checked: super::writer::OpResult<CheckReport, ()> = self
            .writer()
            .write_after_scan(check_tree, |_, report: &CheckReport| Ok(Ok(report.clone())))
            .await;
        checked?.map_err(|_| super::Error::Stopped)
    }
}

fn check_tree(tree: &sled::Tree) -> Result<CheckReport> {
    let mut r = CheckReport::default();
    let mut orgs = HashSet::new();
    let mut records: HashMap<RecordId, ResourceRecord> = HashMap::new();
    let mut unique: HashMap<(String, ResourceKind, String), String> = HashMap::new();
    let mut terms: HashSet<(String, ResourceKind, String, String, String)> = HashSet::new();
    let mut members: HashSet<(String, String, String)> = HashSet::new();
    // The display kept with a membership (memberships stored before displays were kept have
    // none).
    let mut displays: HashMap<(String, String, String), String> = HashMap::new();
    let mut reverse: HashSet<(String, String, String)> = HashSet::new();
    let mut counters: BTreeMap<(String, ResourceKind), u64> = BTreeMap::new();
    let mut scim_keys: Vec<ScimKey> = Vec::new();
    let mut digests: HashMap<String, (String, String)> = HashMap::new();
    let mut owned: Vec<(String, String)> = Vec::new();
    let mut events: Vec<u64> = Vec::new();
    let mut trimmed = 0u64;
    let mut committed = None;
    let mut app_keys: Vec<AppKey> = Vec::new();
    let mut app_digests: HashMap<String, String> = HashMap::new();
    let mut webhooks: HashMap<String, crate::store::WebhookEndpoint> = HashMap::new();
    let mut deliveries: Vec<(String, String, crate::store::DeliveryState)> = Vec::new();
    let mut attempt_lists: Vec<String> = Vec::new();
    let mut progresses: Vec<(String, crate::store::WebhookProgress)> = Vec::new();
    for item in tree.iter() {
        let (k, v) = item?;
        let shown = String::from_utf8_lossy(&k).replace('\0', "/");
        let Some(parsed) = keys::parse(&k) else {
            r.problems.push(format!("{shown}: unknown key"));
            continue;
        };
        if let Some(org) = parsed.org()
            && !matches!(parsed, Parsed::Org(_))
        {
            owned.push((org.to_string(), shown.clone()));
        }
        match parsed {
            Parsed::Org(org) => {
                orgs.insert(org);
            }
            Parsed::Record { org, kind, id } => match decode::<ResourceRecord>(&k, &v) {
                Ok(rec) => {
                    if id != rec.id {
                        r.problems.push(format!(
                            "{shown}: record id {} differs from its key",
                            rec.id
                        ));
                    }
                    records.insert((org, kind, rec.id.clone()), rec);
                }
                Err(e) => r.problems.push(format!("{shown}: {e}")),
            },
            Parsed::Unique { org, kind, value } => {
                unique.insert((org, kind, value), String::from_utf8_lossy(&v).into_owned());
            }
            Parsed::Term {
                org,
                kind,
                attr,
                value,
                id,
            } => {
                terms.insert((org, kind, attr, value, id));
            }
            Parsed::Member { org, group, user } => {
                if !v.is_empty() {
                    displays.insert(
                        (org.clone(), group.clone(), user.clone()),
                        String::from_utf8_lossy(&v).into_owned(),
                    );
                }
                members.insert((org, group, user));
            }
            Parsed::MemberOf { org, user, group } => {
                reverse.insert((org, group, user));
            }
            Parsed::Counter { org, kind } => {
                counters.insert(
                    (org, kind),
                    <[u8; 8]>::try_from(v.as_ref()).map_or(u64::MAX, u64::from_be_bytes),
                );
            }
            Parsed::ScimKey { .. } => match decode::<ScimKey>(&k, &v) {
                Ok(key) => scim_keys.push(key),
                Err(e) => r.problems.push(format!("{shown}: {e}")),
            },
            Parsed::Digest(digest) => match keys::parse_digest_target(&v) {
                Some(target) => {
                    digests.insert(digest, target);
                }
                None => r.problems.push(format!("{shown}: unreadable digest entry")),
            },
            Parsed::Activity { count, .. } => r.activity_records += count,
            Parsed::Intent => r
                .problems
                .push(format!("{shown}: an unfinished write group remains")),
            Parsed::Event(seq) => events.push(seq),
            Parsed::EventsTrimmed => {
                trimmed = <[u8; 8]>::try_from(v.as_ref()).map_or(u64::MAX, u64::from_be_bytes);
            }
            Parsed::EventsCommitted => {
                committed =
                    Some(<[u8; 8]>::try_from(v.as_ref()).map_or(u64::MAX, u64::from_be_bytes));
            }
            Parsed::AppKey(_) => match decode::<AppKey>(&k, &v) {
                Ok(key) => app_keys.push(key),
                Err(e) => r.problems.push(format!("{shown}: {e}")),
            },
            Parsed::AppDigest(digest) => {
                app_digests.insert(digest, String::from_utf8_lossy(&v).into_owned());
            }
            Parsed::Webhook(id) => match decode::<crate::store::WebhookEndpoint>(&k, &v) {
                Ok(e) => {
                    webhooks.insert(id, e);
                }
                Err(e) => r.problems.push(format!("{shown}: {e}")),
            },
            Parsed::Delivery { endpoint, org } => {
                match decode::<crate::store::DeliveryState>(&k, &v) {
                    Ok(d) => deliveries.push((endpoint, org, d)),
                    Err(e) => r.problems.push(format!("{shown}: {e}")),
                }
            }
            Parsed::Attempts(endpoint) => attempt_lists.push(endpoint),
            Parsed::Progress(endpoint) => match decode::<crate::store::WebhookProgress>(&k, &v) {
                Ok(p) => progresses.push((endpoint, p)),
                Err(e) => r.problems.push(format!("{shown}: {e}")),
            },
            Parsed::Scratch => {}
            Parsed::Schema { urn, .. } => match decode::<crate::store::DeclaredSchema>(&k, &v) {
                Ok(d) if d.urn == urn => r.schemas += 1,
                Ok(d) => r.problems.push(format!(
                    "{shown}: holds the schema {} under another URN",
                    d.urn
                )),
                Err(e) => r.problems.push(format!("{shown}: {e}")),
            },
        }
    }
    r.organizations = orgs.len();
    for (org, shown) in &owned {
        if !orgs.contains(org) {
            r.problems
                .push(format!("{shown}: belongs to missing organization {org}"));
        }
    }
    // Records against their unique and term indexes.
    let mut counted: HashMap<(String, ResourceKind), u64> = HashMap::new();
    let mut group_sizes: HashMap<(&str, &str), u64> = HashMap::new();
    for (org, group, _) in &members {
        *group_sizes.entry((org, group)).or_default() += 1;
    }
    for ((org, kind, id), rec) in &records {
        *counted.entry((org.clone(), *kind)).or_default() += 1;
        match kind {
            ResourceKind::User => r.users += 1,
            ResourceKind::Group => r.groups += 1,
        }
        let name = kind.resource_type();
        for value in rec.index.unique_values() {
            match unique.get(&(org.clone(), *kind, value.clone())) {
                Some(holder) if holder == id => {}
                Some(holder) => r
                    .problems
                    .push(format!("{org}: {name} {id}: unique value held by {holder}")),
                None => r.problems.push(format!(
                    "{org}: {name} {id}: unique value {value:?} not indexed"
                )),
            }
        }
        for (attr, value) in &rec.index.terms {
            if !terms.contains(&(org.clone(), *kind, attr.clone(), value.clone(), id.clone())) {
                r.problems
                    .push(format!("{org}: {name} {id}: {attr} {value:?} not indexed"));
            }
        }
        if *kind == ResourceKind::Group {
            let actual = group_sizes
                .get(&(org.as_str(), id.as_str()))
                .copied()
                .unwrap_or(0);
            if actual != rec.member_count {
                r.problems.push(format!(
                    "{org}: group {id}: member count {} but {actual} members",
                    rec.member_count
                ));
            }
        }
    }
    for ((org, kind, value), holder) in &unique {
        match records.get(&(org.clone(), *kind, holder.clone())) {
            Some(rec) if rec.index.unique_values().any(|v| v == *value) => {}
            Some(_) => r.problems.push(format!(
                "{org}: unique entry {value:?} points to {holder}, which holds another value"
            )),
            None => r.problems.push(format!(
                "{org}: unique entry {value:?} points to missing {holder}"
            )),
        }
    }
    for (org, kind, attr, value, id) in &terms {
        let ok = records
            .get(&(org.clone(), *kind, id.clone()))
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
        if !records.contains_key(&(org.clone(), ResourceKind::Group, group.clone())) {
            r.problems.push(format!(
                "{org}: membership of {user} in missing group {group}"
            ));
        }
        match records.get(&(org.clone(), ResourceKind::User, user.clone())) {
            None => r
                .problems
                .push(format!("{org}: group {group} lists missing user {user}")),
            Some(rec) => {
                if let Some(shown) = displays.get(&(org.clone(), group.clone(), user.clone()))
                    && *shown != super::memberships::member_display(rec)
                {
                    r.problems.push(format!(
                        "{org}: group {group} shows {user} as {shown:?}, not {:?}",
                        super::memberships::member_display(rec)
                    ));
                }
            }
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
        for kind in ResourceKind::ALL {
            let kept = counters.get(&(org.clone(), kind)).copied().unwrap_or(0);
            let actual = counted.get(&(org.clone(), kind)).copied().unwrap_or(0);
            if kept != actual {
                r.problems.push(format!(
                    "{org}: kept count of {} is {kept} but there are {actual}",
                    kind.endpoint().to_lowercase()
                ));
            }
        }
    }
    // Keys and their digest index.
    r.keys = scim_keys.len();
    for key in &scim_keys {
        match digests.get(&key.digest) {
            Some((org, id)) if *org == key.org_id && *id == key.id => {}
            _ => r.problems.push(format!(
                "{}: key {} has no digest index entry",
                key.org_id, key.id
            )),
        }
    }
    for (digest, (org, id)) in &digests {
        if !scim_keys
            .iter()
            .any(|k| k.org_id == *org && k.id == *id && k.digest == *digest)
        {
            r.problems
                .push(format!("digest entry points to missing key {org}/{id}"));
        }
    }
    // The feed: numbered without gaps after what retention removed.
    r.events = events.len();
    if let Some(&first) = events.first() {
        if first <= trimmed {
            r.problems.push(format!(
                "event {first} is at or below the trimmed mark {trimmed}"
            ));
        }
        if let Some(&last) = events.last()
            && committed.is_some_and(|c| last > c)
        {
            r.problems.push(format!(
                "event {last} is above the committed mark: its write never committed"
            ));
        }
        if let Some(w) = events.windows(2).find(|w| w[1] != w[0] + 1) {
            r.problems.push(format!(
                "events jump from {} to {}: a gap in the feed",
                w[0], w[1]
            ));
        }
    }
    // Application keys and their digest index; a scoped key's organization exists.
    r.app_keys = app_keys.len();
    for key in &app_keys {
        if app_digests.get(&key.digest) != Some(&key.id) {
            r.problems
                .push(format!("app key {} has no digest index entry", key.id));
        }
        if let Some(org) = &key.org
            && !orgs.contains(org)
        {
            r.problems.push(format!(
                "app key {} is scoped to missing organization {org}",
                key.id
            ));
        }
    }
    for (digest, id) in &app_digests {
        if !app_keys.iter().any(|k| k.id == *id && k.digest == *digest) {
            r.problems
                .push(format!("app digest entry points to missing key {id}"));
        }
    }
    // Webhooks: delivery states belong to existing endpoints and stand within the feed.
    r.webhooks = webhooks.len();
    let last_event = events.last().copied().unwrap_or(trimmed);
    for e in webhooks.values() {
        if e.secrets.is_empty() {
            r.problems
                .push(format!("webhook {} has no signing secret", e.id));
        }
    }
    let feed_end = last_event.max(committed.unwrap_or(0));
    for (endpoint, org, d) in &deliveries {
        let Some(e) = webhooks.get(endpoint) else {
            r.problems.push(format!(
                "delivery state {endpoint}/{org} of a missing webhook"
            ));
            continue;
        };
        if d.cursor > feed_end {
            r.problems.push(format!(
                    "webhook {endpoint} ({org}) has delivered up to event {} beyond the feed's last, {feed_end}",
                    d.cursor
                ));
        }
        if d.cursor < e.from {
            r.problems.push(format!(
                "webhook {endpoint} ({org}) stands at event {} before the endpoint's start, {}",
                d.cursor, e.from
            ));
        }
    }
    for (endpoint, p) in &progresses {
        let Some(e) = webhooks.get(endpoint) else {
            continue;
        };
        if p.generation != e.generation {
            r.problems.push(format!(
                "webhook {endpoint}'s progress is of generation {}, the endpoint's is {}",
                p.generation, e.generation
            ));
        }
        if p.swept > feed_end {
            r.problems.push(format!(
                "webhook {endpoint} has read the feed up to event {} beyond its last, {feed_end}",
                p.swept
            ));
        }
    }
    for e in webhooks.values() {
        if !progresses.iter().any(|(id, _)| *id == e.id) {
            r.problems
                .push(format!("webhook {} has no delivery progress", e.id));
        }
    }
    for endpoint in attempt_lists
        .iter()
        .chain(progresses.iter().map(|(id, _)| id))
    {
        if !webhooks.contains_key(endpoint) {
            r.problems.push(format!(
                "delivery progress or attempts of a missing webhook {endpoint}"
            ));
        }
    }
    r.problems.sort();
    Ok(r)
}
