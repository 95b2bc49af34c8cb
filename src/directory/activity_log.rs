//! The activity log owns recording, storing and streaming activity records without slowing
//! the requests they describe.
//!
//! [`ActivityLog::record`] never waits for storage: it publishes the event on a broadcast
//! channel (the live feed; a slow subscriber loses events and is told how many) and appends it,
//! serialized, to the recording thread's own buffer. A writer thread swaps the buffers out a few
//! times a second, stores the events in compressed blobs and enforces retention. A backlog over
//! its limit drops new events with a warning and a count; a storage failure is logged, never
//! returned to the IdP. Activity is history, not an acknowledged write: what was recorded in the
//! last moment before a crash (at most about half a second) can be lost.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::broadcast;

use crate::activity::{ActivityEvent, ActivityQuery};
use crate::store::{ActivityBlob, Error as StoreError, Store};

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

/// Bytes of serialized events one shard holds before new ones are dropped (a writer that
/// cannot keep up for seconds on end; each record is about a kilobyte).
const SHARD_BYTES: usize = 32 << 20;
/// Events the live feed buffers per subscriber before a slow one starts missing them.
const LIVE: usize = 4_096;
/// Most records in one stored blob: sled writes values of more than about 128 KB as separate
/// files, which is slow; 32 records stay around 5 KB compressed.
const BLOB_RECORDS: usize = 32;
/// How long the writer gathers records before storing a batch.
const GATHER: Duration = Duration::from_millis(50);
/// How long the writer sleeps while nothing is being recorded.
const IDLE: Duration = Duration::from_millis(500);
/// How often age-based retention runs.
const AGE_SWEEP: Duration = Duration::from_secs(30);

/// Events waiting for the writer, serialized by the thread that recorded them into one
/// growing buffer per shard. A request thread keeps to its own shard, so recording takes an
/// uncontended lock and appends bytes: no allocation per event, no wake-up of the writer, and
/// nothing the writer frees that another thread allocated (each of those measured as part of
/// recording's cost on the request path). Entry layout: org, id and the event's JSON, each
/// preceded by its length as a little-endian u32.
struct Shards {
    shards: Box<[Mutex<Vec<u8>>]>,
}

impl Shards {
    fn new() -> Shards {
        let n = std::thread::available_parallelism().map_or(4, |n| n.get() * 2);
        Shards {
            shards: (0..n).map(|_| Mutex::new(Vec::new())).collect(),
        }
    }

    /// This thread's shard.
    fn mine(&self) -> &Mutex<Vec<u8>> {
        use std::sync::atomic::AtomicUsize;
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed);
        }
        &self.shards[SHARD.with(|s| *s) % self.shards.len()]
    }

    /// Appends one event; false when the shard is full or the event cannot be serialized.
    fn push(&self, event: &ActivityEvent) -> bool {
        let mut buf = self.mine().lock().unwrap_or_else(|p| p.into_inner());
        if buf.len() >= SHARD_BYTES {
            return false;
        }
        let start = buf.len();
        put(&mut buf, event.org.as_bytes());
        put(&mut buf, event.id.as_bytes());
        let len_at = buf.len();
        buf.extend_from_slice(&[0; 4]);
        match serde_json::to_writer(&mut *buf, event) {
            Ok(()) => {
                let len = (buf.len() - len_at - 4) as u32;
                buf[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
                true
            }
            Err(e) => {
                buf.truncate(start);
                tracing::error!(error = %e, "could not encode activity");
                false
            }
        }
    }

    /// Takes everything recorded so far.
    fn take(&self) -> Vec<Vec<u8>> {
        self.shards
            .iter()
            .map(|s| std::mem::take(&mut *s.lock().unwrap_or_else(|p| p.into_inner())))
            .filter(|b| !b.is_empty())
            .collect()
    }
}

fn put(buf: &mut Vec<u8>, bytes: &[u8]) {
    buf.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    buf.extend_from_slice(bytes);
}

/// One queued event: (org, id, JSON).
type Entry<'a> = (&'a [u8], &'a [u8], &'a [u8]);

/// The entries of a shard buffer, in the order they were recorded.
fn entries(mut buf: &[u8]) -> impl Iterator<Item = Entry<'_>> {
    fn field<'a>(buf: &mut &'a [u8]) -> Option<&'a [u8]> {
        let len = u32::from_le_bytes(buf.get(..4)?.try_into().ok()?) as usize;
        let bytes = buf.get(4..4 + len)?;
        *buf = &buf[4 + len..];
        Some(bytes)
    }
    std::iter::from_fn(move || Some((field(&mut buf)?, field(&mut buf)?, field(&mut buf)?)))
}

/// What the log has done since it started.
#[derive(Default)]
struct Counters {
    /// Records written to the store (retention may have removed some since).
    stored: AtomicU64,
    /// Records dropped because the writer fell too far behind.
    dropped: AtomicU64,
    /// Rounds of the writer's loop (each stores what was recorded before it began).
    rounds: AtomicU64,
    /// Whether this process has recorded anything (read before it is written: no contended
    /// write on the request path).
    recorded: std::sync::atomic::AtomicBool,
}

pub struct ActivityLog {
    shards: Arc<Shards>,
    /// Dropping it (on close) tells the writer to store what is left and stop.
    stop: Mutex<Option<mpsc::Sender<()>>>,
    live: broadcast::Sender<Arc<ActivityEvent>>,
    counts: Arc<Counters>,
    writer: Mutex<Option<JoinHandle<()>>>,
    store: Store,
    enabled: bool,
    /// Each followed organization's sync health.
    stats: super::org_stats::OrgStats,
}

impl ActivityLog {
    /// Starts the writer thread over `store`.
    pub fn start(store: Store, retention: Retention) -> std::io::Result<ActivityLog> {
        let (stop, stopped) = mpsc::channel();
        let (live, _) = broadcast::channel(LIVE);
        let shards = Arc::new(Shards::new());
        let counts = Arc::new(Counters::default());
        let writer = {
            let (store, shards, counts) = (store.clone(), shards.clone(), counts.clone());
            std::thread::Builder::new()
                .name("scimdesk-activity".into())
                .spawn(move || write_loop(store, &shards, stopped, retention, &counts))?
        };
        Ok(ActivityLog {
            shards,
            stop: Mutex::new(Some(stop)),
            live,
            counts,
            writer: Mutex::new(Some(writer)),
            store,
            enabled: true,
            stats: Default::default(),
        })
    }

    /// A log that records nothing (`[activity] enabled = false`); queries still read the store.
    pub fn disabled(store: Store) -> ActivityLog {
        let (live, _) = broadcast::channel(1);
        ActivityLog {
            shards: Arc::new(Shards::new()),
            stop: Mutex::new(None),
            live,
            counts: Arc::default(),
            writer: Mutex::new(None),
            store,
            enabled: false,
            stats: Default::default(),
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Publishes and queues one event. Never waits for the writer and never fails the caller.
    pub fn record(&self, event: ActivityEvent) {
        if !self.enabled {
            return;
        }
        if !self.shards.push(&event) {
            let n = self.counts.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(dropped = n, "activity backlog full: records dropped");
            }
        }
        if !self.counts.recorded.load(Ordering::Relaxed) {
            self.counts.recorded.store(true, Ordering::Relaxed);
        }
        self.stats.note(&event);
        // No subscribers is not an error.
        let _ = self.live.send(Arc::new(event));
    }

    /// A live feed of every event from now on. A receiver that falls behind gets
    /// `RecvError::Lagged(n)`: what it missed is still in the store.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<ActivityEvent>> {
        self.live.subscribe()
    }

    /// Events dropped because the writer fell too far behind.
    pub fn dropped(&self) -> u64 {
        self.counts.dropped.load(Ordering::Relaxed)
    }

    /// Events written to the store so far (retention may have removed some since).
    pub fn stored(&self) -> u64 {
        self.counts.stored.load(Ordering::Relaxed)
    }

    /// Stored events, newest first.
    pub fn query(&self, q: &ActivityQuery) -> Result<Vec<ActivityEvent>, StoreError> {
        query(&self.store, q)
    }

    /// How `org`'s sync is going (see [`super::org_stats`]). The first time for an
    /// organization, its stored records are read after the writer has stored what was
    /// recorded before (up to a second).
    pub async fn health(&self, org: &str) -> super::org_stats::SyncHealth {
        let now = crate::store::now();
        if let Some(h) = self.stats.get(org, now) {
            return h;
        }
        let q = self.stats.follow(org, now);
        // Records this process made may still be on their way to the store: wait for the
        // writer to store them (a process that recorded nothing reads at once).
        if self.counts.recorded.load(Ordering::Relaxed)
            && self.writer.lock().is_ok_and(|w| w.is_some())
        {
            let start = self.counts.rounds.load(Ordering::Relaxed);
            let deadline = Instant::now() + Duration::from_secs(2);
            while self.counts.rounds.load(Ordering::Relaxed) < start + 2
                && Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        let stored = self.query(&q).unwrap_or_default();
        self.stats.fill(org, &stored, now)
    }

    /// Forgets a deleted organization's figures.
    pub fn forget_org(&self, org: &str) {
        self.stats.forget(org);
    }

    /// Stops the writer after it has stored everything recorded before this call.
    pub fn close(&self) {
        self.stop.lock().unwrap_or_else(|p| p.into_inner()).take();
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
/// `json` is scratch space, reused from blob to blob.
fn encode_serialized_blob(events: &[Entry], json: &mut Vec<u8>) -> Vec<u8> {
    json.clear();
    json.push(b'[');
    for (i, (_, _, event)) in events.iter().enumerate() {
        if i > 0 {
            json.push(b',');
        }
        json.extend_from_slice(event);
    }
    json.push(b']');
    lz4_flex::compress_prepend_size(json)
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

fn write_loop(
    store: Store,
    shards: &Shards,
    stop: Receiver<()>,
    retention: Retention,
    totals: &Counters,
) {
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut last_sweep = Instant::now();
    let mut pause = IDLE;
    loop {
        // Gather by sleeping, then take what has been recorded. Each stored batch costs sled a
        // leaf copy, so a busy IdP is written in a few large batches a second.
        let stopping = !matches!(
            stop.recv_timeout(pause),
            Err(mpsc::RecvTimeoutError::Timeout)
        );
        let buffers = shards.take();
        pause = if buffers.is_empty() { IDLE } else { GATHER };
        if !buffers.is_empty() {
            let n = store_batch(&store, &buffers, &mut counts, retention);
            let stored = totals.stored.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
            tracing::debug!(
                batch = n,
                stored,
                dropped = totals.dropped.load(Ordering::Relaxed),
                retained = counts.values().sum::<usize>(),
                "activity records stored"
            );
        }
        totals.rounds.fetch_add(1, Ordering::Relaxed);
        if stopping {
            break;
        }
        if last_sweep.elapsed() >= AGE_SWEEP {
            last_sweep = Instant::now();
            sweep_ages(&store, &mut counts, retention);
        }
    }
}

/// Stores the recorded events in `buffers`; returns how many were stored.
fn store_batch(
    store: &Store,
    buffers: &[Vec<u8>],
    counts: &mut HashMap<String, usize>,
    retention: Retention,
) -> usize {
    // Blobs per organization, records in id order.
    let mut batch: Vec<Entry> = buffers.iter().flat_map(|b| entries(b)).collect();
    batch.sort_unstable_by(|a, b| a.0.cmp(b.0).then_with(|| a.1.cmp(b.1)));
    let mut json = Vec::new();
    let mut blobs = Vec::new();
    for org_events in batch.chunk_by(|a, b| a.0 == b.0) {
        let org = String::from_utf8_lossy(org_events[0].0).into_owned();
        for chunk in org_events.chunks(BLOB_RECORDS) {
            let newest_id = chunk
                .last()
                .map(|e| String::from_utf8_lossy(e.1).into_owned())
                .unwrap_or_default();
            blobs.push(ActivityBlob {
                org: org.clone(),
                newest_id,
                count: chunk.len(),
                bytes: encode_serialized_blob(chunk, &mut json),
            });
        }
    }
    let per_org: Vec<(String, usize)> = blobs
        .chunk_by(|a, b| a.org == b.org)
        .map(|group| (group[0].org.clone(), group.iter().map(|b| b.count).sum()))
        .collect();
    let stored = match store.append_activity(blobs) {
        Ok(n) => n,
        Err(e) => {
            tracing::error!(error = %e, "could not store activity");
            return 0;
        }
    };
    let cutoff = id_at(crate::store::now() - retention.max_age);
    for (org, n) in per_org {
        // An organization not counted yet is read after the append, so it includes this batch.
        let count = *counts
            .entry(org.clone())
            .and_modify(|c| *c += n)
            .or_insert_with(|| store.activity_count(&org).unwrap_or(0));
        // Trim in steps of 1% so a busy organization is not trimmed on every batch.
        if count > retention.max_per_org + retention.max_per_org / 100 {
            trim(store, &org, &cutoff, retention, counts);
        }
    }
    stored
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
    // The writer keeps every organization's count once it has read it: counting means reading
    // every blob key, which at the retention limit costs more than the records being trimmed.
    let total = match counts.get(org) {
        Some(&c) => c,
        None => match store.activity_count(org) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, org, "activity retention: cannot count records");
                return;
            }
        },
    };
    match store.trim_activity(org, cutoff, retention.max_per_org, total, drop_oldest) {
        Ok(removed) => {
            counts.insert(org.to_string(), total.saturating_sub(removed));
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
    // Recount now and then: an organization deleted and created again starts from zero.
    counts.clear();
    for org in orgs {
        trim(store, &org.id, &cutoff, retention, counts);
    }
}

/// Runs retention once for every organization (used at startup and by tests).
pub fn enforce_retention(store: &Store, retention: Retention) {
    sweep_ages(store, &mut HashMap::new(), retention);
}

#[cfg(test)]
mod tests;
