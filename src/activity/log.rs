//! Recording and streaming activity without slowing the requests it describes.
//!
//! [`ActivityLog::record`] never blocks: it publishes the event on a broadcast channel (the live
//! feed; a slow subscriber loses events and is told how many) and queues it for a writer thread
//! that stores events in batches and enforces retention. A full queue drops the event with a
//! warning and a count; a storage failure is logged, never returned to the IdP.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::broadcast;

use super::{ActivityEvent, ActivityQuery};
use crate::store::{Store, StoreError};

/// How much activity to keep.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub max_age: time::Duration,
    pub max_per_org: usize,
}

impl Retention {
    pub fn from_config(c: &crate::config::ActivityConfig) -> Retention {
        Retention {
            max_age: c.max_age,
            max_per_org: c.max_records_per_org,
        }
    }
}

/// Events queued for storage before new ones are dropped.
const QUEUE: usize = 65_536;
/// Events the live feed buffers per subscriber before a slow one starts missing them.
const LIVE: usize = 4_096;
/// Most events written in one batch.
const BATCH: usize = 2_048;
/// Most records in one stored blob: sled writes values of more than about 128 KB as separate
/// files, which is slow; 32 records stay around 25 KB.
const BLOB_RECORDS: usize = 32;
/// How long the writer gathers records before storing a batch.
const GATHER: Duration = Duration::from_millis(50);
/// How often age-based retention runs.
const AGE_SWEEP: Duration = Duration::from_secs(30);

/// An event on its way to storage, already serialized by the thread that recorded it: the
/// writer then frees three allocations per event instead of every string and value inside it
/// (freeing another thread's allocations is what recording cost the request path, measured).
struct Queued {
    org: String,
    id: String,
    json: Vec<u8>,
}

pub struct ActivityLog {
    queue: Mutex<Option<SyncSender<Queued>>>,
    live: broadcast::Sender<Arc<ActivityEvent>>,
    dropped: AtomicU64,
    writer: Mutex<Option<JoinHandle<()>>>,
    store: Store,
    enabled: bool,
}

impl ActivityLog {
    /// Starts the writer thread over `store`.
    pub fn start(store: Store, retention: Retention) -> std::io::Result<ActivityLog> {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let (live, _) = broadcast::channel(LIVE);
        let writer_store = store.clone();
        let writer = std::thread::Builder::new()
            .name("scimdesk-activity".into())
            .spawn(move || write_loop(writer_store, rx, retention))?;
        Ok(ActivityLog {
            queue: Mutex::new(Some(tx)),
            live,
            dropped: AtomicU64::new(0),
            writer: Mutex::new(Some(writer)),
            store,
            enabled: true,
        })
    }

    /// A log that records nothing (`[activity] enabled = false`); queries still read the store.
    pub fn disabled(store: Store) -> ActivityLog {
        let (live, _) = broadcast::channel(1);
        ActivityLog {
            queue: Mutex::new(None),
            live,
            dropped: AtomicU64::new(0),
            writer: Mutex::new(None),
            store,
            enabled: false,
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Publishes and queues one event. Never blocks and never fails the caller.
    pub fn record(&self, event: ActivityEvent) {
        if !self.enabled {
            return;
        }
        let queued = match serde_json::to_vec(&event) {
            Ok(json) => Queued {
                org: event.org.clone(),
                id: event.id.clone(),
                json,
            },
            Err(e) => {
                tracing::error!(error = %e, "could not encode activity");
                return;
            }
        };
        // No subscribers is not an error.
        let _ = self.live.send(Arc::new(event));
        let queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let Some(tx) = queue.as_ref() else { return };
        match tx.try_send(queued) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    tracing::warn!(dropped = n, "activity queue full: records dropped");
                }
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    /// A live feed of every event from now on. A receiver that falls behind gets
    /// `RecvError::Lagged(n)`: what it missed is still in the store.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<ActivityEvent>> {
        self.live.subscribe()
    }

    /// Events dropped because the storage queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Stored events, newest first.
    pub fn query(&self, q: &ActivityQuery) -> Result<Vec<ActivityEvent>, StoreError> {
        query(&self.store, q)
    }

    /// Stops the writer after it has stored everything queued.
    pub fn close(&self) {
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(w) = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = w.join();
        }
    }
}

impl Drop for ActivityLog {
    fn drop(&mut self) {
        self.close();
    }
}

/// A stored blob: the records as JSON, LZ4-compressed (similar records compress several times,
/// and every byte stored joins the log that acknowledged writes wait to flush).
fn encode_blob(events: &[ActivityEvent]) -> Result<Vec<u8>, serde_json::Error> {
    Ok(lz4_flex::compress_prepend_size(&serde_json::to_vec(
        events,
    )?))
}

/// [`encode_blob`] for events already serialized one by one: the same JSON array.
fn encode_serialized_blob(events: &[Queued]) -> Vec<u8> {
    let len = events.iter().map(|q| q.json.len() + 1).sum::<usize>() + 2;
    let mut json = Vec::with_capacity(len);
    json.push(b'[');
    for (i, q) in events.iter().enumerate() {
        if i > 0 {
            json.push(b',');
        }
        json.extend_from_slice(&q.json);
    }
    json.push(b']');
    lz4_flex::compress_prepend_size(&json)
}

fn decode_blob(bytes: &[u8]) -> Result<Vec<ActivityEvent>, String> {
    let json = lz4_flex::decompress_size_prepended(bytes).map_err(|e| e.to_string())?;
    serde_json::from_slice(&json).map_err(|e| e.to_string())
}

/// One organization's stored events, newest first, decoding a blob at a time.
fn org_events<'s>(store: &'s Store, org: &str) -> impl Iterator<Item = ActivityEvent> + 's {
    store.activity_blobs(org).flat_map(|blob| {
        let events: Vec<ActivityEvent> = match blob.map(|b| decode_blob(&b)) {
            Ok(Ok(events)) => events,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "skipped an unreadable activity blob");
                Vec::new()
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not read activity");
                Vec::new()
            }
        };
        events.into_iter().rev()
    })
}

/// Reads stored events newest first (merging organizations by id, which is time-ordered).
pub fn query(store: &Store, q: &ActivityQuery) -> Result<Vec<ActivityEvent>, StoreError> {
    let limit = if q.limit == 0 { usize::MAX } else { q.limit };
    let orgs = match &q.org {
        Some(o) => vec![o.clone()],
        None => store.list_orgs()?.into_iter().map(|o| o.id).collect(),
    };
    let mut feeds: Vec<_> = orgs
        .iter()
        .map(|o| org_events(store, o).peekable())
        .collect();
    let mut out = Vec::new();
    while out.len() < limit {
        let newest = feeds
            .iter_mut()
            .enumerate()
            .filter_map(|(i, f)| f.peek().map(|e| (i, e.id.clone())))
            .max_by(|a, b| a.1.cmp(&b.1));
        let Some((i, _)) = newest else { break };
        let Some(e) = feeds[i].next() else { break };
        if q.since.is_some_and(|t| e.time < t) {
            break; // newest first: everything after is older still
        }
        if q.matches(&e) {
            out.push(e);
        }
    }
    Ok(out)
}

/// The smallest id made at `t` (ids start with their creation time in milliseconds).
fn id_at(t: time::OffsetDateTime) -> String {
    let ms = (t.unix_timestamp_nanos() / 1_000_000).max(0) as u64;
    format!("{:08x}-{:04x}", ms >> 16, ms & 0xffff)
}

fn write_loop(store: Store, rx: Receiver<Queued>, retention: Retention) {
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut last_sweep = Instant::now();
    let mut batch = Vec::with_capacity(BATCH);
    // True when the last batch was full: the queue is behind, so do not pause before the next.
    let mut behind = false;
    loop {
        match rx.recv_timeout(AGE_SWEEP) {
            Ok(e) => batch.push(e),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if !batch.is_empty() {
            // Gather by sleeping, then take what has queued. Waiting on the queue instead
            // would wake this thread once per request: a context switch per SCIM write, which
            // measured as most of recording's cost. Each stored batch also costs sled a leaf
            // copy, so a busy IdP is written in a few large batches a second.
            if !behind {
                std::thread::sleep(GATHER);
            }
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(e) => batch.push(e),
                    Err(_) => break,
                }
            }
            behind = batch.len() == BATCH;
            store_batch(&store, &mut batch, &mut counts, retention);
        }
        if last_sweep.elapsed() >= AGE_SWEEP {
            last_sweep = Instant::now();
            sweep_ages(&store, &mut counts, retention);
        }
    }
}

fn store_batch(
    store: &Store,
    batch: &mut Vec<Queued>,
    counts: &mut HashMap<String, usize>,
    retention: Retention,
) {
    // Blobs per organization, records in id order.
    batch.sort_unstable_by(|a, b| a.org.cmp(&b.org).then_with(|| a.id.cmp(&b.id)));
    let mut blobs = Vec::new();
    for org_events in batch.chunk_by(|a, b| a.org == b.org) {
        for chunk in org_events.chunks(BLOB_RECORDS) {
            let newest = chunk.last().map(|e| e.id.clone()).unwrap_or_default();
            blobs.push((
                chunk[0].org.clone(),
                newest,
                chunk.len(),
                encode_serialized_blob(chunk),
            ));
        }
    }
    batch.clear();
    if let Err(e) = store.append_activity(&blobs) {
        tracing::error!(error = %e, blobs = blobs.len(), "could not store activity");
        return;
    }
    let cutoff = id_at(crate::store::now() - retention.max_age);
    for (org, _, n, _) in &blobs {
        let count = match counts.get_mut(org) {
            Some(c) => {
                *c += n;
                *c
            }
            None => {
                let c = store.activity_count(org).unwrap_or(0);
                counts.insert(org.clone(), c);
                c
            }
        };
        // Trim in steps of 1% so a busy organization is not trimmed on every batch.
        if count > retention.max_per_org + retention.max_per_org / 100 {
            trim(store, org, &cutoff, retention, counts);
        }
    }
}

fn trim(
    store: &Store,
    org: &str,
    cutoff: &str,
    retention: Retention,
    counts: &mut HashMap<String, usize>,
) {
    let drop_oldest = |bytes: &[u8], k: usize| -> Option<Vec<u8>> {
        let mut events: Vec<ActivityEvent> = decode_blob(bytes).ok()?;
        events.drain(..k.min(events.len()));
        encode_blob(&events).ok()
    };
    match store.trim_activity(org, cutoff, retention.max_per_org, drop_oldest) {
        Ok(removed) => {
            if let Some(c) = counts.get_mut(org) {
                *c = c.saturating_sub(removed);
            }
        }
        Err(e) => tracing::error!(error = %e, org, "activity retention failed"),
    }
}

fn sweep_ages(store: &Store, counts: &mut HashMap<String, usize>, retention: Retention) {
    let cutoff = id_at(crate::store::now() - retention.max_age);
    let orgs = match store.list_orgs() {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(error = %e, "activity retention: cannot list organizations");
            return;
        }
    };
    for org in orgs {
        trim(store, &org.id, &cutoff, retention, counts);
    }
}

/// Runs retention once for every organization (used at startup and by tests).
pub fn enforce_retention(store: &Store, retention: Retention) {
    sweep_ages(store, &mut HashMap::new(), retention);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activity::Idp;

    fn event(org: &str, n: usize) -> ActivityEvent {
        ActivityEvent {
            id: crate::directory::rules::new_resource_id(),
            time: crate::store::now(),
            org: org.into(),
            key_id: None,
            idp: Idp::Okta,
            method: "GET".into(),
            path: format!("/scim/v2/{org}/Users/{n}"),
            resource_type: Some("User".into()),
            resource_id: Some(n.to_string()),
            subject: Some(format!("u{n}@acme.com")),
            status: if n.is_multiple_of(2) { 200 } else { 404 },
            latency_us: 10,
            summary: format!("event {n}"),
            changes: vec![],
        }
    }

    fn org(store: &Store, id: &str) {
        let now = crate::store::now();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(store.create_org(&crate::store::Organization {
            id: id.into(),
            name: id.into(),
            scim_enabled: true,
            domains: vec![],
            created: now,
            updated: now,
        }))
        .unwrap()
        .unwrap();
    }

    fn wait_until(mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !f() {
            assert!(Instant::now() < deadline, "timed out");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn a_subscriber_that_never_reads_does_not_block_recording() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 8 << 20).unwrap();
        org(&store, "acme");
        let retention = Retention {
            max_age: time::Duration::days(1),
            max_per_org: 100_000,
        };
        let log = ActivityLog::start(store.clone(), retention).unwrap();
        let mut idle = log.subscribe();
        let started = Instant::now();
        for n in 0..(LIVE * 3) {
            log.record(event("acme", n));
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        // The idle subscriber is told how much it missed...
        match idle.try_recv() {
            Err(broadcast::error::TryRecvError::Lagged(missed)) => {
                assert_eq!(missed as usize, LIVE * 2)
            }
            other => panic!("expected Lagged, got {other:?}"),
        }
        // ...and everything is in the store.
        wait_until(|| store.activity_count("acme").unwrap() == LIVE * 3);
        assert_eq!(log.dropped(), 0);
    }

    #[test]
    fn events_serialized_one_by_one_make_the_same_blob_as_a_batch() {
        let mut events: Vec<ActivityEvent> = (0..5).map(|n| event("acme", n)).collect();
        events[1].changes = crate::activity::diff(
            None,
            serde_json::json!({"userName": "a@acme.com", "name": {"givenName": "Ä \"q\""}})
                .as_object(),
        );
        let queued: Vec<Queued> = events
            .iter()
            .map(|e| Queued {
                org: e.org.clone(),
                id: e.id.clone(),
                json: serde_json::to_vec(e).unwrap(),
            })
            .collect();
        let one_by_one = encode_serialized_blob(&queued);
        assert_eq!(one_by_one, encode_blob(&events).unwrap());
        assert_eq!(decode_blob(&one_by_one).unwrap(), events);
        assert_eq!(decode_blob(&encode_serialized_blob(&[])).unwrap(), vec![]);
    }

    #[test]
    fn queries_are_newest_first_and_filtered() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 8 << 20).unwrap();
        org(&store, "acme");
        org(&store, "globex");
        let retention = Retention {
            max_age: time::Duration::days(1),
            max_per_org: 1000,
        };
        let log = ActivityLog::start(store.clone(), retention).unwrap();
        for n in 0..10 {
            log.record(event("acme", n));
            log.record(event("globex", n));
        }
        log.close();
        let all = query(
            &store,
            &ActivityQuery {
                limit: 100,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(all.len(), 20);
        assert!(
            all.windows(2).all(|w| w[0].id > w[1].id),
            "not newest first"
        );
        let acme = query(
            &store,
            &ActivityQuery {
                org: Some("acme".into()),
                limit: 3,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            acme.iter().map(|e| e.summary.as_str()).collect::<Vec<_>>(),
            ["event 9", "event 8", "event 7"]
        );
        let errors = query(
            &store,
            &ActivityQuery {
                org: Some("acme".into()),
                errors_only: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(errors.len(), 5);
        let one = query(
            &store,
            &ActivityQuery {
                user_name: Some("U4@acme.com".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(one.len(), 2);
        let none = query(
            &store,
            &ActivityQuery {
                since: Some(crate::store::now() + time::Duration::hours(1)),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn retention_keeps_counts_and_ages_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 8 << 20).unwrap();
        org(&store, "acme");
        let retention = Retention {
            max_age: time::Duration::days(1),
            max_per_org: 100,
        };
        let log = ActivityLog::start(store.clone(), retention).unwrap();
        for n in 0..1000 {
            log.record(event("acme", n));
        }
        log.close();
        let kept = query(
            &store,
            &ActivityQuery {
                org: Some("acme".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(kept.len(), 100);
        assert_eq!(store.activity_count("acme").unwrap(), 100);
        assert_eq!(kept[0].summary, "event 999", "the newest are kept");
        // Age: with a zero maximum age everything goes.
        enforce_retention(
            &store,
            Retention {
                max_age: time::Duration::ZERO,
                max_per_org: 100,
            },
        );
        assert_eq!(store.activity_count("acme").unwrap(), 0);
        assert!(query(&store, &ActivityQuery::default()).unwrap().is_empty());
    }
}
