//! One endpoint's deliveries.
//!
//! The worker reads the feed once, in order (the *sweep*), and hands each event the endpoint
//! takes to its organization's *lane*. A lane delivers one event at a time, in cursor order:
//! the next is not sent before the current one is acknowledged (2xx) or given up after every
//! retry. Lanes proceed independently, so one organization's failing events never hold up
//! another's, and at most `CONCURRENCY` lanes have a delivery in flight.
//!
//! Memory stays flat whatever the backlog: a lane queues at most `QUEUE` event numbers (not
//! events); when its queue is full it *overflows* and later reads its own events back from the
//! feed until it has caught up with the sweep.
//!
//! Progress is saved every `SAVE_EVERY` (and when the worker stops) as one atomic write of the
//! sweep and every lane state that changed: an organization without a saved state has nothing
//! pending up to the saved sweep, and a lane's saved cursor never passes an event that was not
//! acknowledged or given up. After a crash, delivery resumes from the saved cursors: nothing is
//! skipped; what was delivered after the last save is delivered again (receivers dedupe by
//! `webhook-id`).
//!
//! One file on purpose: sweep, lanes, overflow and saved progress share one state machine
//! whose ordering guarantee holds only taken together.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::client::{Client, Message, Reply};
use super::clock::Clock;
use super::sign;
use crate::activity::{ActivityEvent, Idp};
use crate::directory::{
    Attempt, DeliverySave, DeliveryState, Directory, WebhookEndpoint, WebhookProgress,
};
use crate::store::{self, ATTEMPTS_KEPT};

/// Event numbers a lane queues before it overflows.
const QUEUE: usize = 1024;
/// Lanes with a delivery in flight at once, per endpoint.
const CONCURRENCY: usize = 16;
/// Events the sweep takes per step, and looks at.
const SWEEP_TAKE: usize = 4096;
const SWEEP_SCAN: usize = 16_384;
/// How often progress is saved.
const SAVE_EVERY: Duration = Duration::from_millis(100);

/// What the worker needs besides the endpoint.
#[derive(Clone)]
pub struct Settings {
    pub retries: Vec<Duration>,
    pub disable_after: time::Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing to send.
    Idle,
    /// In the ready queue.
    Ready,
    InFlight,
    /// Waiting for its retry time.
    Waiting,
}

struct Lane {
    state: DeliveryState,
    /// The event being delivered (kept across retries).
    current: Option<u64>,
    queue: VecDeque<u64>,
    /// Every event of this lane numbered up to here is delivered, given up, current or queued.
    high: u64,
    /// Events after `high` may be in the feed that are not queued: read them back.
    overflowed: bool,
    phase: Phase,
}

impl Lane {
    fn has_work(&self) -> bool {
        self.current.is_some() || !self.queue.is_empty() || self.overflowed
    }
}

/// Why a worker stopped on its own.
#[derive(Debug)]
pub enum Stopped {
    /// Told to.
    Asked,
    /// It disabled its endpoint (a 410, or failing too long).
    Disabled,
    /// It could not go on (the store failed, a secret could not be opened).
    Failed(String),
}

struct Done {
    org: String,
    seq: u64,
    at: OffsetDateTime,
    reply: Reply,
}

pub struct Worker {
    dir: Directory,
    endpoint: WebhookEndpoint,
    /// The directory's webhook epoch when `endpoint` and `keys` were read.
    epoch: u64,
    keys: Vec<(Vec<u8>, Option<OffsetDateTime>)>,
    client: Client,
    clock: Arc<dyn Clock>,
    settings: Settings,
    progress: WebhookProgress,
    lanes: HashMap<String, Lane>,
    ready: VecDeque<String>,
    timers: BTreeSet<(OffsetDateTime, String)>,
    inflight: JoinSet<Done>,
    dirty: HashSet<String>,
    progress_dirty: bool,
    attempts: VecDeque<Attempt>,
}

impl Worker {
    pub fn new(
        dir: Directory,
        endpoint: WebhookEndpoint,
        client: Client,
        clock: Arc<dyn Clock>,
        settings: Settings,
    ) -> Result<Worker, String> {
        let epoch = dir.webhook_epoch();
        let keys = dir
            .webhook_signing_keys(&endpoint, clock.now())
            .map_err(|e| e.to_string())?;
        let progress = dir
            .delivery_progress(&endpoint)
            .map_err(|e| e.to_string())?;
        let mut w = Worker {
            epoch,
            keys,
            client,
            settings,
            lanes: HashMap::new(),
            ready: VecDeque::new(),
            timers: BTreeSet::new(),
            inflight: JoinSet::new(),
            dirty: HashSet::new(),
            progress_dirty: false,
            attempts: VecDeque::new(),
            progress,
            endpoint,
            dir,
            clock,
        };
        for (org, state) in w
            .dir
            .delivery_states(&w.endpoint.id)
            .map_err(|e| e.to_string())?
        {
            let lane = Lane {
                high: state.cursor,
                overflowed: state.cursor < w.progress.swept,
                current: None,
                queue: VecDeque::new(),
                phase: Phase::Idle,
                state,
            };
            let retry_at = lane.state.next_retry;
            let has_work = lane.has_work();
            w.lanes.insert(org.clone(), lane);
            match retry_at {
                Some(t) if has_work => w.wait(&org, t),
                _ if has_work => w.make_ready(&org),
                _ => {}
            }
        }
        Ok(w)
    }

    /// Delivers until `stop` is cancelled or the endpoint is disabled; saves progress last.
    pub async fn run(
        mut self,
        stop: CancellationToken,
        mut retry_now: mpsc::Receiver<()>,
    ) -> Stopped {
        let mut head = self.dir.watch_feed();
        let mut save = tokio::time::interval(SAVE_EVERY);
        save.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let outcome = loop {
            head.mark_unchanged();
            let behind = self.progress.swept < self.dir.feed_head();
            if behind && let Err(e) = self.sweep() {
                break Stopped::Failed(e);
            }
            if self.dir.webhook_epoch() != self.epoch {
                match self.reread() {
                    Ok(true) => {}
                    Ok(false) => break Stopped::Asked,
                    Err(e) => break Stopped::Failed(e),
                }
            }
            if let Err(e) = self.start_deliveries() {
                break Stopped::Failed(e);
            }
            let behind = self.progress.swept < self.dir.feed_head();
            let startable = !self.ready.is_empty() && self.inflight.len() < CONCURRENCY;
            let next_timer = self.timers.first().map(|(t, _)| *t);
            let timer = async {
                match next_timer {
                    Some(t) => self.clock.sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = stop.cancelled() => break Stopped::Asked,
                Some(done) = self.inflight.join_next(), if !self.inflight.is_empty() => {
                    let Ok(done) = done else { continue };
                    if let Some(stopped) = self.finish(done).await {
                        break stopped;
                    }
                }
                Some(()) = retry_now.recv() => self.retry_now(),
                _ = save.tick() => self.save(),
                _ = timer => self.fire_timers(),
                changed = head.changed() => {
                    if changed.is_err() {
                        break Stopped::Asked;
                    }
                }
                _ = std::future::ready(()), if behind || startable => {}
            }
        };
        self.inflight.abort_all();
        self.save();
        outcome
    }

    /// Reads the endpoint again after a change: a new secret is used from the next delivery;
    /// false when the worker must stop (the endpoint was disabled, removed, or changed in what
    /// its deliveries depend on: the manager starts another).
    fn reread(&mut self) -> Result<bool, String> {
        let epoch = self.dir.webhook_epoch();
        let e = match self.dir.get_webhook(&self.endpoint.id) {
            Ok(e) => e,
            Err(crate::directory::Error::NotFound(_)) => return Ok(false),
            Err(e) => return Err(e.to_string()),
        };
        let same = e.enabled
            && e.generation == self.endpoint.generation
            && e.url == self.endpoint.url
            && e.org == self.endpoint.org
            && e.types == self.endpoint.types;
        if !same {
            return Ok(false);
        }
        if e.secrets != self.endpoint.secrets {
            self.keys = self
                .dir
                .webhook_signing_keys(&e, self.clock.now())
                .map_err(|e| e.to_string())?;
        }
        self.endpoint = e;
        self.epoch = epoch;
        Ok(true)
    }

    fn make_ready(&mut self, org: &str) {
        if let Some(lane) = self.lanes.get_mut(org)
            && matches!(lane.phase, Phase::Idle)
        {
            lane.phase = Phase::Ready;
            self.ready.push_back(org.to_string());
        }
    }

    fn wait(&mut self, org: &str, at: OffsetDateTime) {
        if let Some(lane) = self.lanes.get_mut(org) {
            lane.phase = Phase::Waiting;
            lane.state.next_retry = Some(at);
            self.timers.insert((at, org.to_string()));
        }
    }

    /// Hands the next events of the feed to their lanes.
    fn sweep(&mut self) -> Result<(), String> {
        let (refs, scanned_to) = self
            .dir
            .webhook_events_after(
                &self.endpoint,
                None,
                self.progress.swept,
                SWEEP_TAKE,
                SWEEP_SCAN,
            )
            .map_err(|e| e.to_string())?;
        for (seq, org) in refs {
            let lane = self.lanes.entry(org.clone()).or_insert_with(|| {
                self.dirty.insert(org.clone());
                Lane {
                    state: DeliveryState {
                        cursor: seq - 1,
                        ..Default::default()
                    },
                    current: None,
                    queue: VecDeque::new(),
                    high: seq - 1,
                    overflowed: false,
                    phase: Phase::Idle,
                }
            });
            if lane.overflowed || seq <= lane.high {
                continue;
            }
            if lane.queue.len() >= QUEUE {
                lane.overflowed = true;
            } else {
                lane.queue.push_back(seq);
                lane.high = seq;
            }
            self.make_ready(&org);
        }
        if scanned_to > self.progress.swept {
            self.progress.swept = scanned_to;
            self.progress_dirty = true;
        }
        Ok(())
    }

    /// The lane's next event: its current one, its queue's first, or read back from the feed.
    fn next_event(&mut self, org: &str) -> Result<Option<u64>, String> {
        let swept = self.progress.swept;
        let Some(lane) = self.lanes.get_mut(org) else {
            return Ok(None);
        };
        if let Some(seq) = lane.current {
            return Ok(Some(seq));
        }
        // A few pages at most per call, so one lane's catching up never stalls the rest.
        for _ in 0..4 {
            if let Some(seq) = lane.queue.pop_front() {
                lane.current = Some(seq);
                return Ok(Some(seq));
            }
            if !lane.overflowed {
                return Ok(None);
            }
            let (refs, scanned_to) = self
                .dir
                .webhook_events_after(&self.endpoint, Some(org), lane.high, QUEUE, SWEEP_SCAN)
                .map_err(|e| e.to_string())?;
            lane.queue.extend(refs.iter().map(|(seq, _)| *seq));
            lane.high = lane.high.max(scanned_to);
            if lane.high >= swept {
                lane.overflowed = false;
            }
        }
        let next = lane.queue.pop_front();
        lane.current = next;
        Ok(next)
    }

    /// Starts deliveries from ready lanes, up to the concurrency limit.
    fn start_deliveries(&mut self) -> Result<(), String> {
        while self.inflight.len() < CONCURRENCY {
            let Some(org) = self.ready.pop_front() else {
                break;
            };
            let Some(seq) = self.next_event(&org)? else {
                let Some(lane) = self.lanes.get_mut(&org) else {
                    continue;
                };
                lane.phase = Phase::Idle;
                if lane.overflowed {
                    // Still reading through other organizations' events: come back to it
                    // after the other branches of the loop had their turn.
                    self.make_ready(&org);
                    break;
                }
                continue;
            };
            let Some(event) = self.dir.event(seq).map_err(|e| e.to_string())? else {
                // Retention removed it before it could be delivered.
                self.skip_expired(&org, seq);
                continue;
            };
            let now = self.clock.now();
            let body = Bytes::from(event.json);
            let id = sign::event_id(&body).unwrap_or_default().to_string();
            let timestamp = now.unix_timestamp();
            let keys = self
                .keys
                .iter()
                .filter(|(_, expires)| expires.is_none_or(|x| x > now))
                .map(|(k, _)| k.as_slice());
            let signature = sign::signature_header(keys, &id, timestamp, &body);
            let msg = Message {
                id,
                timestamp,
                signature,
                body,
            };
            let (client, url) = (self.client.clone(), self.endpoint.url.clone());
            if let Some(lane) = self.lanes.get_mut(&org) {
                lane.phase = Phase::InFlight;
            }
            self.inflight.spawn(async move {
                let reply = client.post(&url, &msg).await;
                Done {
                    org,
                    seq,
                    at: now,
                    reply,
                }
            });
        }
        Ok(())
    }

    fn skip_expired(&mut self, org: &str, seq: u64) {
        tracing::warn!(endpoint = %self.endpoint.id, org, event = seq, "event expired before delivery");
        if let Some(lane) = self.lanes.get_mut(org) {
            lane.current = None;
            lane.state.cursor = lane.state.cursor.max(seq);
            lane.state.failed += 1;
            lane.phase = Phase::Idle;
            self.dirty.insert(org.to_string());
        }
        self.make_ready(org);
    }

    /// Takes a delivery's outcome; Some when the worker must stop.
    async fn finish(&mut self, done: Done) -> Option<Stopped> {
        let Done {
            org,
            seq,
            at,
            reply,
        } = done;
        let now = self.clock.now();
        let attempt = Attempt {
            at,
            org: org.clone(),
            event: store::cursor(seq),
            status: reply.status,
            latency_ms: reply.latency.as_secs_f64() * 1000.0,
            error: reply.error.clone(),
        };
        self.attempts.push_back(attempt.clone());
        if self.attempts.len() > ATTEMPTS_KEPT {
            self.attempts.pop_front();
        }
        self.dirty.insert(org.clone());
        self.progress_dirty = true;
        let retries = self.settings.retries.clone();
        let lane = self.lanes.get_mut(&org)?;
        lane.phase = Phase::Idle;
        if reply.delivered() {
            lane.current = None;
            lane.state.cursor = seq;
            lane.state.attempts = 0;
            lane.state.next_retry = None;
            lane.state.failing_since = None;
            lane.state.last_success = Some(now);
            lane.state.delivered += 1;
            self.progress.failing_since = None;
            self.progress.last_success = Some(now);
            if lane.has_work() {
                self.make_ready(&org);
            }
            return None;
        }
        lane.state.last_failure = Some(attempt);
        lane.state.failing_since.get_or_insert(now);
        let failing_since = *self.progress.failing_since.get_or_insert(now);
        if reply.gone() {
            let reason = format!(
                "the receiver answered 410 Gone on {}",
                crate::util::display_time(now)
            );
            return Some(self.disable(reason).await);
        }
        lane.state.attempts += 1;
        let attempts = lane.state.attempts as usize;
        if attempts > retries.len() {
            // Given up: the event is marked failed and the lane moves on.
            lane.current = None;
            lane.state.cursor = seq;
            lane.state.attempts = 0;
            lane.state.next_retry = None;
            lane.state.failed += 1;
            if lane.has_work() {
                self.make_ready(&org);
            }
            self.record_give_up(&org, seq, attempts, &reply);
        } else {
            let delay = jitter(retries[attempts - 1]);
            self.wait(&org, now + delay);
        }
        if now - failing_since >= self.settings.disable_after {
            let reason = format!(
                "failing since {} without a success",
                crate::util::display_time(failing_since)
            );
            return Some(self.disable(reason).await);
        }
        None
    }

    async fn disable(&mut self, reason: String) -> Stopped {
        tracing::warn!(endpoint = %self.endpoint.id, reason, "webhook endpoint disabled");
        if let Err(e) = self
            .dir
            .set_webhook_enabled(&self.endpoint.id, false, Some(reason))
            .await
        {
            tracing::error!(endpoint = %self.endpoint.id, error = %e, "cannot disable webhook endpoint");
        }
        Stopped::Disabled
    }

    /// An activity record for the organization: an event its application will not receive.
    fn record_give_up(&self, org: &str, seq: u64, attempts: usize, reply: &Reply) {
        let event_type = self
            .dir
            .event(seq)
            .ok()
            .flatten()
            .map(|e| e.event_type)
            .unwrap_or_default();
        let why = reply.error.clone().unwrap_or_else(|| "no reply".into());
        let target = url::Url::parse(&self.endpoint.url)
            .map(|u| format!("{}{}", u.origin().ascii_serialization(), u.path()))
            .unwrap_or_default();
        self.dir.activity().record(ActivityEvent {
            id: crate::directory::rules::new_resource_id(),
            time: self.clock.now(),
            org: org.to_string(),
            key_id: None,
            idp: Idp::Other("scimdesk webhooks".into()),
            method: "POST".into(),
            path: target,
            resource_type: Some("Webhook".into()),
            resource_id: Some(self.endpoint.id.clone()),
            subject: Some(format!("{event_type} {}", store::cursor(seq))),
            // The receiver's status; a gateway's when it gave none (504 timed out, 502 other).
            status: reply.status.unwrap_or_else(|| {
                if why.starts_with("no reply within") {
                    504
                } else {
                    502
                }
            }),
            latency_us: reply.latency.as_micros() as u64,
            summary: format!(
                "webhook {} gave up on event {} ({event_type}) after {attempts} attempts: {why}",
                self.endpoint.id,
                store::cursor(seq)
            ),
            changes: Vec::new(),
            ignored: Vec::new(),
        });
    }

    /// Lanes whose retry time has come are ready.
    fn fire_timers(&mut self) {
        let now = self.clock.now();
        while let Some((t, org)) = self.timers.first().cloned() {
            if t > now {
                break;
            }
            self.timers.pop_first();
            self.wake(&org, t);
        }
    }

    /// Every waiting lane is ready now.
    fn retry_now(&mut self) {
        for (t, org) in std::mem::take(&mut self.timers) {
            self.wake(&org, t);
        }
    }

    fn wake(&mut self, org: &str, t: OffsetDateTime) {
        if let Some(lane) = self.lanes.get_mut(org)
            && lane.phase == Phase::Waiting
            && lane.state.next_retry == Some(t)
        {
            lane.phase = Phase::Idle;
            lane.state.next_retry = None;
            self.dirty.insert(org.to_string());
            self.make_ready(org);
        }
    }

    /// Queues a save of what changed since the last one.
    fn save(&mut self) {
        if self.dirty.is_empty() && !self.progress_dirty && self.attempts.is_empty() {
            return;
        }
        let states = self
            .dirty
            .drain()
            .filter_map(|org| self.lanes.get(&org).map(|l| (org, l.state.clone())))
            .collect();
        let save = DeliverySave {
            progress: self.progress.clone(),
            states,
            attempts: self.attempts.drain(..).collect(),
        };
        self.progress_dirty = false;
        if let Err(e) = self.dir.save_deliveries(&self.endpoint.id, save) {
            tracing::error!(endpoint = %self.endpoint.id, error = %e, "cannot save delivery progress");
        }
    }
}

/// `d` give or take up to 20%.
fn jitter(d: Duration) -> time::Duration {
    let factor = 0.8 + 0.4 * fastrand::f64();
    time::Duration::try_from(d.mul_f64(factor)).unwrap_or(time::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_a_fifth() {
        for _ in 0..1000 {
            let j = jitter(Duration::from_secs(300)).as_seconds_f64();
            assert!((240.0..=360.0).contains(&j), "{j}");
        }
    }
}
