//! How each organization's sync is going, kept in memory from its activity records: requests
//! and errors per hour for the last day, the last request and the IdP that made it, and the
//! attributes IdPs sent that no schema declares, per day for the last week.
//!
//! An organization's figures are read from its stored records the first time someone asks
//! (the organization screen, `org show`), then kept current as requests are recorded; records
//! still on their way to the store at that moment can be missed, so the figures are a health
//! indicator, not an audit.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::activity::{ActivityEvent, ActivityQuery, Idp};

/// Hours of request counts kept.
const HOURS: i64 = 24;
/// Days of unmapped attributes kept.
const DAYS: i64 = 7;
/// Most distinct unmapped attribute names kept per organization.
const MAX_UNMAPPED: usize = 200;

/// An attribute IdPs sent that no schema declares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unmapped {
    /// `urn:…:badge` under an extension URN, the bare name otherwise.
    pub name: String,
    /// Requests that sent it in the last 7 days.
    pub count: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen: OffsetDateTime,
}

/// An organization's sync health.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncHealth {
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub last_request: Option<OffsetDateTime>,
    /// The IdP the last request looked like (from its User-Agent).
    pub last_idp: Option<Idp>,
    pub requests_24h: u64,
    pub errors_24h: u64,
    /// Most sent first.
    pub unmapped: Vec<Unmapped>,
}

#[derive(Default)]
struct Stats {
    /// While the stored records are being read: the ids counted as they were recorded.
    filling: Option<HashSet<String>>,
    /// Hour number -> (requests, errors).
    hours: BTreeMap<i64, (u64, u64)>,
    last: Option<(OffsetDateTime, Idp)>,
    /// Name -> day number -> count, and when it was last seen.
    unmapped: HashMap<String, (BTreeMap<i64, u64>, OffsetDateTime)>,
}

impl Stats {
    fn note(&mut self, e: &ActivityEvent) {
        let hour = e.time.unix_timestamp().div_euclid(3600);
        let h = self.hours.entry(hour).or_default();
        h.0 += 1;
        if e.is_error() {
            h.1 += 1;
        }
        if self.last.as_ref().is_none_or(|(t, _)| e.time >= *t) {
            self.last = Some((e.time, e.idp.clone()));
        }
        let day = e.time.unix_timestamp().div_euclid(86_400);
        for name in &e.ignored {
            if !self.unmapped.contains_key(name) && self.unmapped.len() >= MAX_UNMAPPED {
                continue;
            }
            let (days, seen) = self
                .unmapped
                .entry(name.clone())
                .or_insert_with(|| (BTreeMap::new(), e.time));
            *days.entry(day).or_default() += 1;
            if e.time > *seen {
                *seen = e.time;
            }
        }
    }

    fn health(&mut self, now: OffsetDateTime) -> SyncHealth {
        let hour = now.unix_timestamp().div_euclid(3600);
        let day = now.unix_timestamp().div_euclid(86_400);
        self.hours.retain(|h, _| *h > hour - HOURS);
        for (days, _) in self.unmapped.values_mut() {
            days.retain(|d, _| *d > day - DAYS);
        }
        self.unmapped.retain(|_, (days, _)| !days.is_empty());
        let (requests_24h, errors_24h) = self
            .hours
            .values()
            .fold((0, 0), |(r, e), (r2, e2)| (r + r2, e + e2));
        let mut unmapped: Vec<Unmapped> = self
            .unmapped
            .iter()
            .map(|(name, (days, seen))| Unmapped {
                name: name.clone(),
                count: days.values().sum(),
                last_seen: *seen,
            })
            .collect();
        unmapped.sort_by(|a, b| b.count.cmp(&a.count).then(a.name.cmp(&b.name)));
        SyncHealth {
            last_request: self.last.as_ref().map(|(t, _)| *t),
            last_idp: self.last.as_ref().map(|(_, i)| i.clone()),
            requests_24h,
            errors_24h,
            unmapped,
        }
    }
}

/// Every organization's figures that someone has asked for.
#[derive(Default)]
pub struct OrgStats {
    orgs: Mutex<HashMap<String, Stats>>,
    /// Whether any organization is followed: until then, recording takes no lock here.
    any: AtomicBool,
}

impl OrgStats {
    /// Counts a recorded request (for organizations already followed).
    pub fn note(&self, e: &ActivityEvent) {
        if !self.any.load(Ordering::Relaxed) {
            return;
        }
        let mut orgs = self.orgs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = orgs.get_mut(&e.org) {
            if let Some(seen) = &mut s.filling {
                seen.insert(e.id.clone());
            }
            s.note(e);
        }
    }

    /// `org`'s health if it is followed and filled.
    pub fn get(&self, org: &str, now: OffsetDateTime) -> Option<SyncHealth> {
        let mut orgs = self.orgs.lock().unwrap_or_else(|p| p.into_inner());
        orgs.get_mut(org)
            .filter(|s| s.filling.is_none())
            .map(|s| s.health(now))
    }

    /// Starts counting `org`'s requests as they are recorded; [`OrgStats::fill`] then adds
    /// the stored ones. Returns the query that reads them.
    pub fn follow(&self, org: &str, now: OffsetDateTime) -> ActivityQuery {
        let mut orgs = self.orgs.lock().unwrap_or_else(|p| p.into_inner());
        orgs.entry(org.to_string()).or_insert_with(|| Stats {
            filling: Some(HashSet::new()),
            ..Stats::default()
        });
        self.any.store(true, Ordering::Relaxed);
        ActivityQuery {
            org: Some(org.to_string()),
            since: Some(now - time::Duration::days(DAYS)),
            ..Default::default()
        }
    }

    /// Adds the stored records of a followed organization (those counted as they were
    /// recorded are not counted twice) and returns its health.
    pub fn fill(&self, org: &str, stored: &[ActivityEvent], now: OffsetDateTime) -> SyncHealth {
        let mut orgs = self.orgs.lock().unwrap_or_else(|p| p.into_inner());
        let s = orgs.entry(org.to_string()).or_default();
        if let Some(seen) = s.filling.take() {
            for e in stored.iter().filter(|e| !seen.contains(&e.id)) {
                s.note(e);
            }
        }
        s.health(now)
    }

    /// Forgets a deleted organization.
    pub fn forget(&self, org: &str) {
        self.orgs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(org);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(org: &str, at: OffsetDateTime, status: u16, ignored: &[&str]) -> ActivityEvent {
        ActivityEvent {
            id: format!("{at}{status}"),
            time: at,
            org: org.into(),
            key_id: None,
            idp: Idp::Okta,
            method: "POST".into(),
            path: "/".into(),
            resource_type: None,
            resource_id: None,
            subject: None,
            status,
            latency_us: 1,
            summary: String::new(),
            changes: vec![],
            ignored: ignored.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn counts_the_last_day_and_unmapped_attributes_of_the_last_week() {
        let now = crate::store::now();
        let stats = OrgStats::default();
        // Recorded while the stored records are read: counted once.
        let q = stats.follow("acme", now);
        let racing = event(
            "acme",
            now - time::Duration::hours(2),
            400,
            &["badge", "urn:x:y"],
        );
        stats.note(&racing);
        let stored = [
            event("acme", now - time::Duration::hours(30), 201, &["badge"]),
            racing.clone(),
            event("acme", now - time::Duration::days(8), 201, &["old"]),
        ];
        assert!(stats.get("acme", now).is_none(), "not filled yet");
        let read: Vec<ActivityEvent> = stored
            .iter()
            .filter(|e| q.matches(e) && q.since.is_none_or(|t| e.time >= t))
            .cloned()
            .collect();
        let h = stats.fill("acme", &read, now);
        assert_eq!((h.requests_24h, h.errors_24h), (1, 1));
        assert_eq!(h.unmapped.len(), 2);
        assert_eq!(
            (h.unmapped[0].name.as_str(), h.unmapped[0].count),
            ("badge", 2)
        );
        // Followed from now on: new records count without reading the store again.
        stats.note(&event("acme", now, 201, &["urn:x:y"]));
        stats.note(&event("other", now, 500, &[]));
        let h = stats.get("acme", now).unwrap();
        assert_eq!((h.requests_24h, h.errors_24h), (2, 1));
        assert_eq!(h.last_request, Some(now));
        assert_eq!(h.last_idp, Some(Idp::Okta));
        let y = h.unmapped.iter().find(|u| u.name == "urn:x:y").unwrap();
        assert_eq!(y.count, 2);
    }
}
