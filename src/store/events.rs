//! The change feed's events: written by the writer in the same atomic group as the change
//! that caused them (so never one without the other, across a crash), numbered in commit
//! order, and read back only up to the durable head (the last event whose group has been
//! flushed), so a reader never sees an event that a crash could take back.
//!
//! A stored event is a small header (version, time in milliseconds, type, organization) and
//! the event's JSON without its cursor, LZ4-compressed (events repeat the same keys, and every
//! byte stored joins the log acknowledged writes wait for); a read decompresses it and puts the
//! cursor, which is the event's number, back in. Filters read headers only. Nothing about an
//! event is left for the writer thread to do but to number it.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use serde_json::value::RawValue;
use tokio::sync::watch;

use super::writer::OpResult;
use super::{Error, Result, Store, keys};

/// An event a write makes, encoded and compressed where it is made (off the writer thread when
/// it can be: a create's event is built before the write is queued); the writer only numbers it.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_type: &'static str,
    pub org: String,
    /// The stored form.
    bytes: Vec<u8>,
}

impl NewEvent {
    /// An event of `event_type` about `org`, happening now: `data` is the resource as the
    /// application API shows it, `previous` the prior values of what changed (updated events),
    /// `request_id` the activity record of the SCIM request that caused it.
    pub fn new(
        event_type: &'static str,
        org: &str,
        data: &RawValue,
        previous: Option<&RawValue>,
        request_id: Option<&str>,
    ) -> NewEvent {
        let at = super::now();
        let envelope = Envelope {
            object: "event",
            id: format!("evt_{}", uuid::Uuid::now_v7().simple()),
            event_type,
            organization: org,
            occurred_at: crate::util::rfc3339(at),
            data,
            previous,
            request_id,
        };
        // Writing JSON of strings and raw JSON into memory cannot fail.
        let json = serde_json::to_vec(&envelope).unwrap_or_default();
        // The cursor goes back in right after `id`, before anything a caller wrote.
        const AFTER_ID: &[u8] = b",\"type\":";
        let splice = json
            .windows(AFTER_ID.len())
            .position(|w| w == AFTER_ID)
            .unwrap_or(json.len().saturating_sub(1));
        let ms = (at.unix_timestamp_nanos() / 1_000_000).max(0) as u64;
        let mut bytes = Vec::with_capacity(64 + json.len() / 2);
        bytes.push(VERSION);
        bytes.extend_from_slice(&ms.to_be_bytes());
        // Header fields are short by construction (types are constants, organization ids at
        // most 63 bytes); a longer one would be cut, never fail the write.
        for field in [event_type.as_bytes(), org.as_bytes()] {
            let field = &field[..field.len().min(255)];
            bytes.push(field.len() as u8);
            bytes.extend_from_slice(field);
        }
        bytes.extend_from_slice(&(splice as u32).to_be_bytes());
        bytes.extend_from_slice(&lz4_flex::compress_prepend_size(&json));
        NewEvent {
            event_type,
            org: org.to_string(),
            bytes,
        }
    }

    /// The stored form.
    pub(super) fn stored(&self) -> &[u8] {
        &self.bytes
    }

    /// The event's JSON as it will be served (with a cursor of zeros), for tests and logs.
    pub fn json(&self) -> serde_json::Value {
        decode(&self.bytes)
            .and_then(|(_, _, _, body)| served(0, body))
            .and_then(|json| serde_json::from_slice(&json).ok())
            .unwrap_or_default()
    }
}

/// The JSON served for event `seq` from its stored body: decompressed, with its cursor.
fn served(seq: u64, body: &[u8]) -> Option<Vec<u8>> {
    let splice = u32::from_be_bytes(body.get(..4)?.try_into().ok()?) as usize;
    let json = lz4_flex::decompress_size_prepended(body.get(4..)?).ok()?;
    let (head, tail) = (json.get(..splice)?, json.get(splice..)?);
    let mut out = Vec::with_capacity(json.len() + 32);
    out.extend_from_slice(head);
    out.extend_from_slice(b",\"cursor\":\"");
    out.extend_from_slice(cursor(seq).as_bytes());
    out.push(b'"');
    out.extend_from_slice(tail);
    Some(out)
}

/// An event as stored: its number, header fields and served JSON.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub seq: u64,
    pub occurred_ms: u64,
    pub event_type: String,
    pub org: String,
    pub json: Vec<u8>,
}

/// The opaque cursor of event number `seq` (0: before the first event). Cursors sort like the
/// numbers they stand for.
pub fn cursor(seq: u64) -> String {
    format!("{seq:016x}")
}

pub fn parse_cursor(s: &str) -> Option<u64> {
    (s.len() == 16
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
    .then(|| u64::from_str_radix(s, 16).ok())
    .flatten()
}

#[derive(Serialize)]
struct Envelope<'a> {
    object: &'static str,
    id: String,
    #[serde(rename = "type")]
    event_type: &'a str,
    organization: &'a str,
    occurred_at: String,
    data: &'a RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    previous: Option<&'a RawValue>,
    request_id: Option<&'a str>,
}

const VERSION: u8 = 2;

/// (milliseconds, type, organization, body) of a stored event.
fn decode(v: &[u8]) -> Option<(u64, &str, &str, &[u8])> {
    if *v.first()? != VERSION {
        return None;
    }
    let ms = u64::from_be_bytes(v.get(1..9)?.try_into().ok()?);
    let mut at = 9;
    let mut field = || -> Option<&str> {
        let len = *v.get(at)? as usize;
        let s = std::str::from_utf8(v.get(at + 1..at + 1 + len)?).ok()?;
        at += 1 + len;
        Some(s)
    };
    let (t, o) = (field()?, field()?);
    Some((ms, t, o, v.get(at..)?))
}

/// Where the feed stands: the number of the last event that is durable, and a channel that
/// tells waiting readers when it moves.
pub struct EventHead {
    durable: AtomicU64,
    moved: watch::Sender<u64>,
}

impl EventHead {
    pub(super) fn new(at: u64) -> EventHead {
        EventHead {
            durable: AtomicU64::new(at),
            moved: watch::Sender::new(at),
        }
    }

    /// Called after a flush that covered events up to `seq`.
    pub(super) fn advance(&self, seq: u64) {
        let before = self.durable.fetch_max(seq, Ordering::AcqRel);
        if seq > before {
            self.moved.send_replace(seq);
        }
    }

    pub fn durable(&self) -> u64 {
        self.durable.load(Ordering::Acquire)
    }

    /// A receiver that sees every advance from now on.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.moved.subscribe()
    }
}

/// A page of the feed.
#[derive(Debug, Default)]
pub struct EventPage {
    pub events: Vec<StoredEvent>,
    /// The last event number looked at (matching or not); the next page starts after it.
    pub scanned_to: u64,
    /// Whether durable events after `scanned_to` exist.
    pub more: bool,
}

impl Store {
    /// The feed's durable head and its watch.
    pub fn event_head(&self) -> &EventHead {
        &self.inner.head
    }

    /// The highest event number removed by retention (0: none).
    pub fn events_trimmed_through(&self) -> Result<u64> {
        Ok(self
            .tree()
            .get(keys::events_trimmed())?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map_or(0, u64::from_be_bytes))
    }

    /// The oldest retained event's number and the newest's, if any.
    pub fn event_bounds(&self) -> Result<Option<(u64, u64)>> {
        let mut range = self.tree().scan_prefix(keys::all_events()).keys();
        let first = match range.next() {
            Some(k) => keys::parse_event(&k?),
            None => return Ok(None),
        };
        let last = match range.next_back() {
            Some(k) => keys::parse_event(&k?),
            None => first,
        };
        Ok(first.zip(last))
    }

    /// Up to `limit` durable events after number `after` that `wanted(type, org)` accepts,
    /// looking at no more than `scan` events.
    pub fn events_after(
        &self,
        after: u64,
        limit: usize,
        scan: usize,
        wanted: impl Fn(&str, &str) -> bool,
    ) -> Result<EventPage> {
        let head = self.event_head().durable();
        let mut page = EventPage {
            scanned_to: after,
            ..Default::default()
        };
        if after >= head {
            return Ok(page);
        }
        let end = keys::event(head);
        let mut looked = 0;
        for item in self.tree().range(keys::event(after + 1)..=end) {
            let (k, v) = item?;
            let Some(seq) = keys::parse_event(&k) else {
                break;
            };
            let corrupt = || Error::Corrupt {
                key: format!("event {seq}"),
                reason: "unreadable event".into(),
            };
            let (ms, t, o, body) = decode(&v).ok_or_else(corrupt)?;
            page.scanned_to = seq;
            looked += 1;
            if wanted(t, o) {
                page.events.push(StoredEvent {
                    seq,
                    occurred_ms: ms,
                    event_type: t.to_string(),
                    org: o.to_string(),
                    json: served(seq, body).ok_or_else(corrupt)?,
                });
            }
            if page.events.len() >= limit || looked >= scan {
                break;
            }
        }
        page.more = page.scanned_to < head;
        Ok(page)
    }

    /// Like [`Store::events_after`], reading headers only: the numbers and organizations of
    /// up to `limit` matching events, and the last number looked at.
    pub fn event_refs_after(
        &self,
        after: u64,
        limit: usize,
        scan: usize,
        wanted: impl Fn(&str, &str) -> bool,
    ) -> Result<(Vec<(u64, String)>, u64)> {
        let head = self.event_head().durable();
        let (mut refs, mut scanned_to) = (Vec::new(), after);
        if after >= head {
            return Ok((refs, scanned_to));
        }
        for (looked, item) in self
            .tree()
            .range(keys::event(after + 1)..=keys::event(head))
            .enumerate()
        {
            let (k, v) = item?;
            let Some(seq) = keys::parse_event(&k) else {
                break;
            };
            let (_, t, o, _) = decode(&v).ok_or_else(|| Error::Corrupt {
                key: format!("event {seq}"),
                reason: "unreadable event".into(),
            })?;
            scanned_to = seq;
            if wanted(t, o) {
                refs.push((seq, o.to_string()));
            }
            if refs.len() >= limit || looked + 1 >= scan {
                break;
            }
        }
        Ok((refs, scanned_to))
    }

    /// The number of the last stored event that happened before `since_ms` (reading forward
    /// from the oldest), or the one before the oldest stored event when none did.
    pub fn event_before(&self, since_ms: u64) -> Result<u64> {
        let mut last = self.events_trimmed_through()?;
        for item in self.tree().scan_prefix(keys::all_events()) {
            let (k, v) = item?;
            let Some(seq) = keys::parse_event(&k) else {
                break;
            };
            match decode(&v) {
                Some((ms, ..)) if ms < since_ms => last = seq,
                _ => break,
            }
        }
        Ok(last)
    }

    /// Durable event number `seq`, if it is (still) stored.
    pub fn event(&self, seq: u64) -> Result<Option<StoredEvent>> {
        if seq == 0 || seq > self.event_head().durable() {
            return Ok(None);
        }
        let Some(v) = self.tree().get(keys::event(seq))? else {
            return Ok(None);
        };
        let corrupt = || Error::Corrupt {
            key: format!("event {seq}"),
            reason: "unreadable event".into(),
        };
        let (ms, t, o, body) = decode(&v).ok_or_else(corrupt)?;
        Ok(Some(StoredEvent {
            seq,
            occurred_ms: ms,
            event_type: t.to_string(),
            org: o.to_string(),
            json: served(seq, body).ok_or_else(corrupt)?,
        }))
    }

    /// How many events newer than `since_ms` `wanted(org)` accepts (reads back from the newest).
    pub fn count_events_since(
        &self,
        since_ms: u64,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<usize> {
        let mut n = 0;
        for item in self.tree().scan_prefix(keys::all_events()).rev() {
            let (_, v) = item?;
            match decode(&v) {
                Some((ms, _, o, _)) if ms >= since_ms => n += usize::from(wanted(o)),
                _ => break,
            }
        }
        Ok(n)
    }

    /// Removes the oldest events: those older than `cutoff_ms`, and the oldest beyond `keep`,
    /// at most `batch` per call, through the writer (a small write that never holds up SCIM
    /// writes for long). Returns how many went.
    pub async fn trim_events(&self, cutoff_ms: u64, keep: u64, batch: usize) -> Result<usize> {
        let Some((first, last)) = self.event_bounds()? else {
            return Ok(0);
        };
        let total = last - first + 1;
        let mut doomed = Vec::new();
        for item in self.tree().scan_prefix(keys::all_events()).take(batch) {
            let (k, v) = item?;
            let Some(seq) = keys::parse_event(&k) else {
                break;
            };
            let over = total.saturating_sub(keep) > seq - first;
            let old = decode(&v).is_some_and(|(ms, ..)| ms < cutoff_ms);
            if !over && !old {
                break;
            }
            doomed.push(seq);
        }
        let Some(&through) = doomed.last() else {
            return Ok(0);
        };
        let n = doomed.len();
        let outcome: OpResult<(), ()> = self
            .writer()
            .write(move |st| {
                for seq in doomed {
                    st.remove(keys::event(seq))?;
                }
                st.insert(keys::events_trimmed(), through.to_be_bytes().to_vec())?;
                Ok(Ok(()))
            })
            .await;
        outcome?.map_err(|_| Error::Stopped)?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v_at(json: &[u8]) -> &str {
        let v: serde_json::Value = serde_json::from_slice(json).unwrap();
        Box::leak(
            v["occurred_at"]
                .as_str()
                .unwrap()
                .to_string()
                .into_boxed_str(),
        )
    }

    #[test]
    fn cursors_sort_like_numbers_and_parse_strictly() {
        assert!(cursor(9) < cursor(10) && cursor(255) < cursor(256));
        assert_eq!(parse_cursor(&cursor(12345)), Some(12345));
        for bad in [
            "",
            "12",
            "000000000000000G",
            "000000000000000A",
            "0000000000000000a",
        ] {
            assert_eq!(parse_cursor(bad), None, "{bad}");
        }
    }

    #[test]
    fn stored_events_keep_header_and_json() {
        let data = serde_json::value::to_raw_value(&serde_json::json!({"id": "u1", "cursor": "x"}))
            .unwrap();
        let e = NewEvent::new("user.created", "acme", &data, None, Some("r1"));
        let (ms, t, o, body) = decode(e.stored()).unwrap();
        let json = &served(7, body).unwrap()[..];
        assert_eq!((t, o), ("user.created", "acme"));
        let at = crate::util::parse_rfc3339(v_at(json)).unwrap();
        assert_eq!(ms as i128, at.unix_timestamp_nanos() / 1_000_000);
        let v: serde_json::Value = serde_json::from_slice(json).unwrap();
        assert_eq!(v["object"], "event");
        assert_eq!(v["cursor"], cursor(7));
        assert_eq!(v["type"], "user.created");
        assert_eq!(
            v["data"]["cursor"], "x",
            "only the envelope's cursor is stamped"
        );
        assert_eq!(v["data"]["id"], "u1");
        assert_eq!(v["request_id"], "r1");
        assert!(v.get("previous").is_none());
        assert!(v["id"].as_str().unwrap().starts_with("evt_"));
    }
}
