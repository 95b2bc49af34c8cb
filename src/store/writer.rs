//! The single writer: every write of the store runs here, and many writes share one atomic
//! group and one flush.
//!
//! Measured here: each sled 0.34 transaction (and each `apply_batch`) rolls the log's IO buffer
//! twice, which capped writes at about 5,000/s with one small transaction per group. The writer
//! therefore does not use sled transactions. It drains every queued write and runs them in
//! order: each write reads through the group's staged changes and stages its own, which the
//! group keeps only if the write succeeds (a refused write never undoes another). The group's
//! changes are then made atomic with a redo intent: one key (`w` + sequence) holding every
//! change is inserted first, the changes are applied as plain inserts and removes, and the
//! intent is removed last. sled recovers a prefix of its log, so after a crash either the
//! intent is absent (and so is every change after it) or it is present and [`recover`] applies
//! it again. The group commit (`commit.rs`) then answers each write after the flush that
//! covers it.
//!
//! Being the only writer also makes scans safe: a write that must first scan (deleting a user
//! with its memberships, clearing a group, deleting an organization) runs alone, after the
//! writes queued before it are applied, with no other write in flight.
//!
//! One file on purpose: the staged view, the group loop, the redo intent and its recovery are
//! one protocol; splitting them would spread its invariants across files.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;

use sled::IVec;
use tokio::sync::oneshot;

use super::commit::Committer;
use super::events::{EventHead, NewEvent};
use super::{Error, Outcome, WriteRefused, keys};

/// Most writes applied in one group.
const MAX_GROUP: usize = 1024;

/// What a write op returns: its outcome (refusals keep nothing), or an error. An engine error
/// (I/O) fails the op's whole group; any other error fails the op alone.
pub type OpResult<R, E> = Result<Outcome<R, E>, Error>;

/// Staged changes: a key's new value, None when removed.
type Changes = HashMap<Vec<u8>, Option<IVec>>;

/// One applied group's changes, in the order they were applied.
pub type Tapped = Vec<(Vec<u8>, Option<IVec>)>;

/// A copy of every change the writer applies, while a snapshot needs one (see
/// `snapshot.rs`): sent after the change is in the tree, group by group, in order.
#[derive(Default)]
pub struct Tap {
    on: std::sync::atomic::AtomicBool,
    to: std::sync::Mutex<Option<(mpsc::Sender<Tapped>, bool)>>,
}

impl Tap {
    /// Starts sending applied changes to `to`. Called on the writer thread, between groups.
    pub fn open(&self, to: mpsc::Sender<Tapped>) {
        *self.to.lock().unwrap_or_else(|p| p.into_inner()) = Some((to, false));
        self.on.store(true, std::sync::atomic::Ordering::Release);
    }

    /// Stops; false when a group failed halfway meanwhile (its changes are not all known).
    pub fn close(&self) -> bool {
        self.on.store(false, std::sync::atomic::Ordering::Release);
        self.to
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .is_some_and(|(_, broken)| !broken)
    }

    fn record(&self, parts: &[&Changes]) {
        if !self.on.load(std::sync::atomic::Ordering::Acquire) {
            return;
        }
        if let Some((to, _)) = self.to.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            let batch: Tapped = parts
                .iter()
                .flat_map(|c| c.iter().map(|(k, v)| (k.clone(), v.clone())))
                .collect();
            let _ = to.send(batch);
        }
    }

    fn broken(&self) {
        if let Some((_, broken)) = self.to.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            *broken = true;
        }
    }
}

/// A write's view of the store: reads see the group's staged changes and its own; its own
/// changes join the group only if it succeeds.
pub struct Staged<'g> {
    tree: &'g sled::Tree,
    group: &'g Changes,
    group_loose: &'g Changes,
    own: Changes,
    own_loose: Changes,
    own_events: Vec<NewEvent>,
}

impl Staged<'_> {
    pub fn get(&self, key: &[u8]) -> Result<Option<IVec>, Error> {
        for layer in [&self.own, &self.own_loose, self.group, self.group_loose] {
            if let Some(v) = layer.get(key) {
                return Ok(v.clone());
            }
        }
        Ok(self.tree.get(key)?)
    }

    pub fn contains(&self, key: &[u8]) -> Result<bool, Error> {
        Ok(self.get(key)?.is_some())
    }

    /// The keys under `prefix` as this write sees them (the tree with the group's and this
    /// write's changes), in key order. Costs the group's staged changes besides the range
    /// read: for rare writes (a user's rename), not for every one.
    pub fn keys_with_prefix(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
        let mut keys = std::collections::BTreeSet::new();
        for k in self.tree.scan_prefix(prefix).keys() {
            keys.insert(k?.to_vec());
        }
        for layer in [&self.own, &self.own_loose, self.group, self.group_loose] {
            for k in layer.keys().filter(|k| k.starts_with(prefix)) {
                keys.insert(k.clone());
            }
        }
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            if self.get(&k)?.is_some() {
                out.push(k);
            }
        }
        Ok(out)
    }

    pub fn insert(
        &mut self,
        key: impl Into<Vec<u8>>,
        value: impl Into<IVec>,
    ) -> Result<Option<IVec>, Error> {
        let key = key.into();
        let old = self.get(&key)?;
        self.own.insert(key, Some(value.into()));
        Ok(old)
    }

    pub fn remove(&mut self, key: impl Into<Vec<u8>>) -> Result<Option<IVec>, Error> {
        let key = key.into();
        let old = self.get(&key)?;
        self.own.insert(key, None);
        Ok(old)
    }

    /// Inserts a value that needs no atomicity with the rest of its group (an activity blob:
    /// each stands alone). It is applied after the group's atomic changes and left out of the
    /// redo intent, so its bytes are written once, not twice.
    pub fn insert_loose(&mut self, key: impl Into<Vec<u8>>, value: impl Into<IVec>) {
        self.own_loose.insert(key.into(), Some(value.into()));
    }

    /// Adds a change-feed event to this write: it is numbered and stored in the same atomic
    /// group as the write's changes, and only if the write succeeds.
    pub fn emit(&mut self, events: impl IntoIterator<Item = NewEvent>) {
        self.own_events.extend(events);
    }

    /// Removes a key outside the group's atomic changes (see [`Staged::insert_loose`]).
    pub fn remove_loose(&mut self, key: impl Into<Vec<u8>>) {
        self.own_loose.insert(key.into(), None);
    }
}

type Reply<R, E> = oneshot::Sender<OpResult<R, E>>;

/// One queued write, type-erased.
trait Job: Send {
    /// Raw reads before the write, with no other write in flight. Only exclusive jobs.
    fn prepare(&mut self, _tree: &sled::Tree) -> Result<(), Error> {
        Ok(())
    }
    fn exclusive(&self) -> bool {
        false
    }
    /// Runs the write against the staged view: Ok(true) when its changes are to be kept. An
    /// engine error is returned (it fails the group); the op's other errors are kept as its
    /// answer and Ok(false) returned.
    fn run(&mut self, st: &mut Staged<'_>) -> Result<bool, Error>;
    /// Answers the caller once the flush covering the write is done (or failed).
    fn finish(self: Box<Self>, flushed: Result<(), Error>);
}

/// Holds the op until it runs (ops run exactly once: the writer never retries).
struct OpCell<R, E, F> {
    op: Option<F>,
    outcome: Option<OpResult<R, E>>,
    reply: Option<Reply<R, E>>,
}

impl<R, E, F> Job for OpCell<R, E, F>
where
    R: Send + 'static,
    E: Send + 'static,
    F: FnOnce(&mut Staged<'_>) -> OpResult<R, E> + Send + 'static,
{
    fn run(&mut self, st: &mut Staged<'_>) -> Result<bool, Error> {
        let Some(op) = self.op.take() else {
            return Ok(false);
        };
        match op(st) {
            Err(e) if e.is_engine() => Err(e),
            outcome => {
                let keep = matches!(outcome, Ok(Ok(_)));
                self.outcome = Some(outcome);
                Ok(keep)
            }
        }
    }

    fn finish(self: Box<Self>, flushed: Result<(), Error>) {
        let result = match (flushed, self.outcome) {
            (Err(e), _) => Err(e),
            (Ok(()), Some(outcome)) => outcome,
            (Ok(()), None) => Err(Error::Flush("the write was not applied".into())),
        };
        if let Some(reply) = self.reply {
            let _ = reply.send(result);
        }
    }
}

/// A write that first scans: the scan's result is handed to the op, which then runs like any
/// other.
type BoxedOp<R, E> = Box<dyn FnOnce(&mut Staged<'_>) -> OpResult<R, E> + Send>;

struct ScanOp<S, F, R, E> {
    scan: Option<(S, F)>,
    cell: OpCell<R, E, BoxedOp<R, E>>,
}

impl<P, R, E, S, F> Job for ScanOp<S, F, R, E>
where
    P: Send + 'static,
    R: Send + 'static,
    E: Send + 'static,
    S: FnOnce(&sled::Tree) -> Result<P, Error> + Send + 'static,
    F: FnOnce(&mut Staged<'_>, &P) -> OpResult<R, E> + Send + 'static,
{
    fn exclusive(&self) -> bool {
        true
    }

    fn prepare(&mut self, tree: &sled::Tree) -> Result<(), Error> {
        if let Some((scan, op)) = self.scan.take() {
            let scanned = scan(tree)?;
            self.cell.op = Some(Box::new(move |st| op(st, &scanned)));
        }
        Ok(())
    }

    fn run(&mut self, st: &mut Staged<'_>) -> Result<bool, Error> {
        self.cell.run(st)
    }

    fn finish(self: Box<Self>, flushed: Result<(), Error>) {
        Box::new(self.cell).finish(flushed)
    }
}

/// Handle to the writer thread; dropping it stops the thread after the queued writes.
pub struct Writer {
    queue: Option<mpsc::Sender<Box<dyn Job>>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.queue.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Writer {
    /// Starts the writer; the next event it writes is number `head + 1`, and `head` advances
    /// as groups with events become durable.
    pub fn start(
        tree: sled::Tree,
        committer: Arc<Committer>,
        head: Arc<EventHead>,
        tap: Arc<Tap>,
    ) -> std::io::Result<Writer> {
        let (queue, jobs) = mpsc::channel::<Box<dyn Job>>();
        let thread = thread::Builder::new()
            .name("scimdesk-writer".into())
            .spawn(move || run(tree, committer, head, tap, jobs))?;
        Ok(Writer {
            queue: Some(queue),
            thread: Some(thread),
        })
    }

    fn send(&self, job: Box<dyn Job>) -> Result<(), Error> {
        self.queue
            .as_ref()
            .ok_or(Error::Stopped)?
            .send(job)
            .map_err(|_| Error::Stopped)
    }

    /// Queues a write; resolves once it is applied and flushed.
    pub async fn write<R, E, F>(&self, op: F) -> OpResult<R, E>
    where
        R: Send + 'static,
        E: Send + 'static,
        F: FnOnce(&mut Staged<'_>) -> OpResult<R, E> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.send(Box::new(OpCell {
            op: Some(op),
            outcome: None,
            reply: Some(tx),
        }))?;
        rx.await.map_err(|_| Error::Stopped)?
    }

    /// [`Writer::write`] for a thread outside the async runtime: blocks until the write is
    /// applied and flushed.
    pub fn write_blocking<R, E, F>(&self, op: F) -> OpResult<R, E>
    where
        R: Send + 'static,
        E: Send + 'static,
        F: FnOnce(&mut Staged<'_>) -> OpResult<R, E> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.send(Box::new(OpCell {
            op: Some(op),
            outcome: None,
            reply: Some(tx),
        }))?;
        rx.blocking_recv().map_err(|_| Error::Stopped)?
    }

    /// Queues a write without waiting for it (bookkeeping such as a key's last use).
    pub fn write_detached<R, E, F>(&self, op: F) -> Result<(), Error>
    where
        R: Send + 'static,
        E: Send + 'static,
        F: FnOnce(&mut Staged<'_>) -> OpResult<R, E> + Send + 'static,
    {
        self.send(Box::new(OpCell {
            op: Some(op),
            outcome: None,
            reply: None,
        }))
    }

    /// Queues a write that first scans the tree with no other write in flight.
    pub async fn write_after_scan<P, R, E, S, F>(&self, scan: S, op: F) -> OpResult<R, E>
    where
        P: Send + 'static,
        R: Send + 'static,
        E: Send + 'static,
        S: FnOnce(&sled::Tree) -> Result<P, Error> + Send + 'static,
        F: FnOnce(&mut Staged<'_>, &P) -> OpResult<R, E> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.send(Box::new(ScanOp {
            scan: Some((scan, op)),
            cell: OpCell {
                op: None,
                outcome: None,
                reply: Some(tx),
            },
        }))?;
        rx.await.map_err(|_| Error::Stopped)?
    }
}

impl Writer {
    /// Runs `f` on the writer thread between two groups, with no write in flight, and waits
    /// for it (blocking: not from an async task).
    pub fn between_groups_blocking<P: Send + 'static>(
        &self,
        f: impl FnOnce(&sled::Tree) -> Result<P, Error> + Send + 'static,
    ) -> Result<P, Error> {
        let (tx, rx) = oneshot::channel();
        let job = ScanOp {
            scan: Some((
                move |tree: &sled::Tree| {
                    let _ = tx.send(f(tree));
                    Ok(())
                },
                |_: &mut Staged<'_>, _: &()| Ok(Ok::<(), WriteRefused<()>>(())),
            )),
            cell: OpCell {
                op: None,
                outcome: None,
                reply: None,
            },
        };
        self.send(Box::new(job))?;
        rx.blocking_recv().map_err(|_| Error::Stopped)?
    }
}

/// The writer's counters: the next redo intent and the next event number.
struct Sequences {
    intent: u64,
    event: u64,
}

fn run(
    tree: sled::Tree,
    committer: Arc<Committer>,
    head: Arc<EventHead>,
    tap: Arc<Tap>,
    jobs: mpsc::Receiver<Box<dyn Job>>,
) {
    let mut seq = Sequences {
        intent: next_intent(&tree),
        event: head.durable() + 1,
    };
    let ctx = Ctx {
        tree: &tree,
        committer: &committer,
        head,
        tap: &tap,
    };
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        let mut group: Vec<Box<dyn Job>> = Vec::new();
        for mut job in batch {
            if job.exclusive() {
                apply(&ctx, std::mem::take(&mut group), &mut seq);
                if let Err(e) = job.prepare(&tree) {
                    job.finish(Err(e));
                    continue;
                }
                apply(&ctx, vec![job], &mut seq);
            } else {
                group.push(job);
            }
        }
        apply(&ctx, group, &mut seq);
    }
}

fn next_intent(tree: &sled::Tree) -> u64 {
    tree.scan_prefix(keys::all_intents())
        .keys()
        .next_back()
        .and_then(|k| k.ok())
        .and_then(|k| keys::parse_intent(&k))
        .map_or(0, |n| n + 1)
}

/// What every group is applied with.
struct Ctx<'a> {
    tree: &'a sled::Tree,
    committer: &'a Committer,
    head: Arc<EventHead>,
    tap: &'a Tap,
}

/// Runs a group's writes, numbers and stores their events with their changes, applies it all
/// atomically, then has the committer answer each write after its flush (and move the feed's
/// durable head past the group's events).
fn apply(ctx: &Ctx, mut group: Vec<Box<dyn Job>>, seq: &mut Sequences) {
    if group.is_empty() {
        return;
    }
    let tree = ctx.tree;
    let mut changes = Changes::new();
    let mut loose = Changes::new();
    let mut events: Vec<NewEvent> = Vec::new();
    let mut failure = None;
    for job in group.iter_mut() {
        let mut staged = Staged {
            tree,
            group: &changes,
            group_loose: &loose,
            own: Changes::new(),
            own_loose: Changes::new(),
            own_events: Vec::new(),
        };
        match job.run(&mut staged) {
            Ok(true) => {
                let Staged {
                    own,
                    own_loose,
                    own_events,
                    ..
                } = staged;
                for k in own.keys() {
                    loose.remove(k);
                }
                changes.extend(own);
                loose.extend(own_loose);
                events.extend(own_events);
            }
            Ok(false) => {}
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let first_event = seq.event;
    let applied = match failure {
        Some(e) => Err(e),
        None => number_events(&mut changes, events, &mut seq.event).and_then(|numbered| {
            let written = write_loose(tree, &numbered)
                .and_then(|()| write_atomically(tree, &changes, &mut seq.intent))
                .and_then(|()| write_loose(tree, &loose));
            match &written {
                Ok(()) => ctx.tap.record(&[&numbered, &changes, &loose]),
                Err(_) => ctx.tap.broken(),
            }
            written
        }),
    };
    let last_event = seq.event - 1;
    match applied {
        Ok(()) => {
            let head = (last_event >= first_event).then(|| ctx.head.clone());
            ctx.committer.after_flush(Box::new(move |flushed| {
                if let (Ok(()), Some(head)) = (&flushed, head) {
                    head.advance(last_event);
                }
                for job in group {
                    job.finish(flushed.clone().map_err(Error::Flush));
                }
            }))
        }
        Err(e) => {
            // Nothing of the group was written: its numbers are free again.
            seq.event = first_event;
            tracing::error!(error = %e, "a group of writes failed");
            for job in group {
                job.finish(Err(e.clone()));
            }
        }
    }
}

/// Gives each event the next number. The events are written before the group's redo intent
/// and are not copied into it (an event is about a kilobyte, and most groups make one per
/// write); what makes them atomic with their change is the committed mark, staged with the
/// group's changes: after a crash, events above the mark belong to a group that never
/// committed and [`recover`] removes them.
fn number_events(
    changes: &mut Changes,
    events: Vec<NewEvent>,
    next: &mut u64,
) -> Result<Changes, Error> {
    let mut numbered = Changes::new();
    if events.is_empty() {
        return Ok(numbered);
    }
    for e in events {
        numbered.insert(keys::event(*next), Some(IVec::from(e.stored())));
        *next += 1;
    }
    changes.insert(
        keys::events_committed(),
        Some(IVec::from(&(*next - 1).to_be_bytes()[..])),
    );
    Ok(numbered)
}

fn write_loose(tree: &sled::Tree, loose: &Changes) -> Result<(), Error> {
    for (k, v) in loose {
        match v {
            Some(v) => tree.insert(k.as_slice(), v.clone())?,
            None => tree.remove(k.as_slice())?,
        };
    }
    Ok(())
}

/// Encodes changes as `[1|0][key len u32][key][value len u32][value]` entries.
fn encode_intent(changes: &Changes) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        changes
            .iter()
            .map(|(k, v)| 9 + k.len() + v.as_ref().map_or(0, |v| v.len()))
            .sum(),
    );
    for (k, v) in changes {
        out.push(u8::from(v.is_some()));
        out.extend_from_slice(&(k.len() as u32).to_be_bytes());
        out.extend_from_slice(k);
        let v = v.as_deref().unwrap_or_default();
        out.extend_from_slice(&(v.len() as u32).to_be_bytes());
        out.extend_from_slice(v);
    }
    out
}

/// One change of a redo intent: a key and its new value (None: removed).
type Change = (Vec<u8>, Option<Vec<u8>>);

fn decode_intent(bytes: &[u8]) -> Option<Vec<Change>> {
    let mut out = Vec::new();
    let mut rest = bytes;
    let take = |rest: &mut &[u8], n: usize| -> Option<Vec<u8>> {
        let (a, b) = (rest.get(..n)?, rest.get(n..)?);
        *rest = b;
        Some(a.to_vec())
    };
    while !rest.is_empty() {
        let present = take(&mut rest, 1)?[0] == 1;
        let klen = u32::from_be_bytes(take(&mut rest, 4)?.try_into().ok()?) as usize;
        let key = take(&mut rest, klen)?;
        let vlen = u32::from_be_bytes(take(&mut rest, 4)?.try_into().ok()?) as usize;
        let value = take(&mut rest, vlen)?;
        out.push((key, present.then_some(value)));
    }
    Some(out)
}

/// Intent first, changes, intent removed last: after a crash the group is either absent or
/// redone by [`recover`].
fn write_atomically(tree: &sled::Tree, changes: &Changes, seq: &mut u64) -> Result<(), Error> {
    if changes.is_empty() {
        return Ok(());
    }
    let single = changes.len() == 1;
    let key = keys::intent(*seq);
    if !single {
        *seq += 1;
        tree.insert(&key, encode_intent(changes))?;
    }
    write_loose(tree, changes)?;
    if !single {
        tree.remove(&key)?;
    }
    Ok(())
}

/// Redoes the groups a crash interrupted. Runs at open, before any write.
pub fn recover(tree: &sled::Tree) -> Result<usize, Error> {
    let mut redone = 0;
    for item in tree.scan_prefix(keys::all_intents()) {
        let (key, bytes) = item?;
        let Some(changes) = decode_intent(&bytes) else {
            return Err(Error::Corrupt {
                key: String::from_utf8_lossy(&key).into_owned(),
                reason: "unreadable redo intent".into(),
            });
        };
        for (k, v) in changes {
            match v {
                Some(v) => {
                    tree.insert(k, v)?;
                }
                None => {
                    tree.remove(k)?;
                }
            }
        }
        tree.remove(&key)?;
        redone += 1;
    }
    // Events above the committed mark were written for a group that never committed.
    let last_event = tree
        .scan_prefix(keys::all_events())
        .keys()
        .next_back()
        .transpose()?
        .and_then(|k| keys::parse_event(&k));
    let mut orphans = 0;
    match tree.get(keys::events_committed())? {
        Some(v) => {
            let committed = <[u8; 8]>::try_from(v.as_ref()).map_or(u64::MAX, u64::from_be_bytes);
            for k in tree
                .range(keys::event(committed.saturating_add(1))..)
                .keys()
            {
                let k = k?;
                if keys::parse_event(&k).is_none() {
                    break;
                }
                tree.remove(k)?;
                orphans += 1;
            }
        }
        // A store from before the mark existed: every event in it committed with its group.
        None => {
            tree.insert(
                keys::events_committed(),
                &last_event.unwrap_or(0).to_be_bytes()[..],
            )?;
        }
    }
    if redone > 0 || orphans > 0 {
        tree.flush()?;
        tracing::warn!(
            groups = redone,
            orphan_events = orphans,
            "redid writes interrupted by a crash"
        );
    }
    Ok(redone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intents_round_trip_and_recovery_redoes_them() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let tree = db.open_tree("t").unwrap();
        tree.insert("gone", "x").unwrap();
        let mut changes = Changes::new();
        changes.insert(b"a".to_vec(), Some(IVec::from(&b"1"[..])));
        changes.insert(b"gone".to_vec(), None);
        changes.insert(b"empty".to_vec(), Some(IVec::from(&b""[..])));
        let bytes = encode_intent(&changes);
        let mut decoded = decode_intent(&bytes).unwrap();
        decoded.sort();
        assert_eq!(
            decoded,
            vec![
                (b"a".to_vec(), Some(b"1".to_vec())),
                (b"empty".to_vec(), Some(Vec::new())),
                (b"gone".to_vec(), None)
            ]
        );
        assert!(decode_intent(&bytes[..bytes.len() - 1]).is_none());
        // A crash right after the intent was written: recovery finishes the group.
        tree.insert(keys::intent(7), bytes).unwrap();
        assert_eq!(recover(&tree).unwrap(), 1);
        assert_eq!(tree.get("a").unwrap().as_deref(), Some(&b"1"[..]));
        assert!(tree.get("gone").unwrap().is_none());
        assert_eq!(tree.scan_prefix(keys::all_intents()).count(), 0);
        assert_eq!(next_intent(&tree), 0);
        tree.insert(keys::intent(41), vec![]).unwrap();
        assert_eq!(next_intent(&tree), 42);
    }
}
