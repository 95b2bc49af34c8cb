//! The single writer: every write of the store runs here, and many writes share one sled
//! transaction and one flush.
//!
//! Measured here: each sled 0.34 transaction rolls the log's IO buffer twice (`pin_log`), so
//! one transaction per request caps writes at about 4,500/s whatever the flush strategy. The
//! writer drains every queued write, applies them in order inside one transaction (each write
//! staged in an overlay and kept only if it succeeds, so one refused write never undoes
//! another), then hands all of them to the group committer, which answers each after the
//! flush that covers it. Writes that must first scan (deleting a user with its memberships,
//! clearing a group, deleting an organization) run alone: the queue before them is committed,
//! their scan runs with no other write in flight, then their own transaction.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::mpsc;
use std::thread;

use sled::IVec;
use sled::transaction::{
    ConflictableTransactionError, TransactionError, TransactionalTree, UnabortableTransactionError,
};
use tokio::sync::oneshot;

use super::commit::Committer;
use super::{StoreError, WriteRefused};

/// Most writes applied in one transaction.
const MAX_GROUP: usize = 512;

/// A write's view of the store inside the shared transaction: reads see its own staged writes
/// and those of earlier writes in the group; its writes reach the transaction only if it
/// succeeds.
pub struct Staged<'t> {
    tx: &'t TransactionalTree,
    overlay: HashMap<Vec<u8>, Option<IVec>>,
}

pub type TxResult<T> = Result<T, UnabortableTransactionError>;

impl Staged<'_> {
    pub fn get(&self, key: &[u8]) -> TxResult<Option<IVec>> {
        match self.overlay.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.tx.get(key),
        }
    }

    pub fn insert(
        &mut self,
        key: impl Into<Vec<u8>>,
        value: impl Into<IVec>,
    ) -> TxResult<Option<IVec>> {
        let key = key.into();
        let old = self.get(&key)?;
        self.overlay.insert(key, Some(value.into()));
        Ok(old)
    }

    pub fn remove(&mut self, key: impl Into<Vec<u8>>) -> TxResult<Option<IVec>> {
        let key = key.into();
        let old = self.get(&key)?;
        self.overlay.insert(key, None);
        Ok(old)
    }

    fn commit(self) -> TxResult<()> {
        for (k, v) in self.overlay {
            match v {
                Some(v) => {
                    self.tx.insert(k, v)?;
                }
                None => {
                    self.tx.remove(k)?;
                }
            }
        }
        Ok(())
    }
}

/// What a write op returns: its outcome (refusals keep nothing), or a storage error that
/// fails the whole transaction (and is retried when it is a conflict).
pub type OpResult<R, E> = TxResult<Result<R, WriteRefused<E>>>;

type Reply<R, E> = oneshot::Sender<Result<Result<R, WriteRefused<E>>, StoreError>>;

/// One queued write, type-erased.
trait Job: Send {
    /// Raw reads before the transaction, with no other write in flight. Only exclusive jobs.
    fn prepare(&mut self, _tree: &sled::Tree) -> Result<(), StoreError> {
        Ok(())
    }
    fn exclusive(&self) -> bool {
        false
    }
    /// Runs inside the transaction; may run again if the transaction retries.
    fn run(&mut self, st: &mut Staged<'_>) -> TxResult<bool>;
    /// Answers the caller once the flush covering the write is done (or failed).
    fn finish(self: Box<Self>, flushed: Result<(), StoreError>);
}

struct Op<R, E, F> {
    op: F,
    outcome: Option<Result<R, WriteRefused<E>>>,
    reply: Option<Reply<R, E>>,
}

impl<R, E, F> Job for Op<R, E, F>
where
    R: Send + 'static,
    E: Send + 'static,
    F: Fn(&mut Staged<'_>) -> OpResult<R, E> + Send + 'static,
{
    fn run(&mut self, st: &mut Staged<'_>) -> TxResult<bool> {
        let outcome = (self.op)(st)?;
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        Ok(ok)
    }

    fn finish(mut self: Box<Self>, flushed: Result<(), StoreError>) {
        let answer = match (flushed, self.outcome.take()) {
            (Err(e), _) => Err(e),
            (Ok(()), Some(outcome)) => Ok(outcome),
            (Ok(()), None) => Err(StoreError::Durability("the write was not applied".into())),
        };
        if let Some(reply) = self.reply.take() {
            let _ = reply.send(answer);
        }
    }
}

struct ScanOp<P, R, E, S, F> {
    scan: Option<S>,
    scanned: Option<P>,
    op: F,
    outcome: Option<Result<R, WriteRefused<E>>>,
    reply: Option<Reply<R, E>>,
}

impl<P, R, E, S, F> Job for ScanOp<P, R, E, S, F>
where
    P: Send + 'static,
    R: Send + 'static,
    E: Send + 'static,
    S: FnOnce(&sled::Tree) -> Result<P, StoreError> + Send + 'static,
    F: Fn(&mut Staged<'_>, &P) -> OpResult<R, E> + Send + 'static,
{
    fn exclusive(&self) -> bool {
        true
    }

    fn prepare(&mut self, tree: &sled::Tree) -> Result<(), StoreError> {
        if let Some(scan) = self.scan.take() {
            self.scanned = Some(scan(tree)?);
        }
        Ok(())
    }

    fn run(&mut self, st: &mut Staged<'_>) -> TxResult<bool> {
        let Some(scanned) = self.scanned.as_ref() else {
            return Ok(false);
        };
        let outcome = (self.op)(st, scanned)?;
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        Ok(ok)
    }

    fn finish(mut self: Box<Self>, flushed: Result<(), StoreError>) {
        let answer = match (flushed, self.outcome.take()) {
            (Err(e), _) => Err(e),
            (Ok(()), Some(outcome)) => Ok(outcome),
            (Ok(()), None) => Err(StoreError::Durability("the write was not applied".into())),
        };
        if let Some(reply) = self.reply.take() {
            let _ = reply.send(answer);
        }
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
    pub fn start(
        tree: sled::Tree,
        committer: std::sync::Arc<Committer>,
    ) -> std::io::Result<Writer> {
        let (queue, jobs) = mpsc::channel::<Box<dyn Job>>();
        let thread = thread::Builder::new()
            .name("scimdesk-writer".into())
            .spawn(move || run(tree, committer, jobs))?;
        Ok(Writer {
            queue: Some(queue),
            thread: Some(thread),
        })
    }

    fn send(&self, job: Box<dyn Job>) -> Result<(), StoreError> {
        self.queue
            .as_ref()
            .ok_or_else(|| StoreError::Durability("the writer has stopped".into()))?
            .send(job)
            .map_err(|_| StoreError::Durability("the writer has stopped".into()))
    }

    /// Queues a write; resolves once it is applied and flushed.
    pub async fn write<R, E, F>(&self, op: F) -> Result<Result<R, WriteRefused<E>>, StoreError>
    where
        R: Send + 'static,
        E: Send + 'static,
        F: Fn(&mut Staged<'_>) -> OpResult<R, E> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.send(Box::new(Op {
            op,
            outcome: None,
            reply: Some(tx),
        }))?;
        rx.await
            .map_err(|_| StoreError::Durability("the writer has stopped".into()))?
    }

    /// Queues a write without waiting for it (used for bookkeeping such as a key's last use).
    pub fn write_detached<R, E, F>(&self, op: F) -> Result<(), StoreError>
    where
        R: Send + 'static,
        E: Send + 'static,
        F: Fn(&mut Staged<'_>) -> OpResult<R, E> + Send + 'static,
    {
        self.send(Box::new(Op {
            op,
            outcome: None,
            reply: None,
        }))
    }

    /// Queues a write that first scans the tree with no other write in flight.
    pub async fn write_after_scan<P, R, E, S, F>(
        &self,
        scan: S,
        op: F,
    ) -> Result<Result<R, WriteRefused<E>>, StoreError>
    where
        P: Send + 'static,
        R: Send + 'static,
        E: Send + 'static,
        S: FnOnce(&sled::Tree) -> Result<P, StoreError> + Send + 'static,
        F: Fn(&mut Staged<'_>, &P) -> OpResult<R, E> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.send(Box::new(ScanOp {
            scan: Some(scan),
            scanned: None,
            op,
            outcome: None,
            reply: Some(tx),
        }))?;
        rx.await
            .map_err(|_| StoreError::Durability("the writer has stopped".into()))?
    }
}

fn run(tree: sled::Tree, committer: std::sync::Arc<Committer>, jobs: mpsc::Receiver<Box<dyn Job>>) {
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
                commit(&tree, &committer, std::mem::take(&mut group));
                if let Err(e) = job.prepare(&tree) {
                    job.finish(Err(e));
                    continue;
                }
                commit(&tree, &committer, vec![job]);
            } else {
                group.push(job);
            }
        }
        commit(&tree, &committer, group);
    }
}

/// Applies a group in one transaction, then has the committer answer each after its flush.
fn commit(tree: &sled::Tree, committer: &Committer, group: Vec<Box<dyn Job>>) {
    if group.is_empty() {
        return;
    }
    let jobs = RefCell::new(group);
    let result: Result<(), TransactionError<()>> = tree.transaction(|tx| {
        for job in jobs.borrow_mut().iter_mut() {
            let mut staged = Staged {
                tx,
                overlay: HashMap::new(),
            };
            if job
                .run(&mut staged)
                .map_err(ConflictableTransactionError::from)?
            {
                staged.commit()?;
            }
        }
        Ok(())
    });
    let jobs = jobs.into_inner();
    match result {
        Ok(()) => committer.after_flush(Box::new(move |flushed| {
            for job in jobs {
                job.finish(flushed.clone().map_err(StoreError::Durability));
            }
        })),
        Err(e) => {
            let message = match e {
                TransactionError::Storage(e) => e.to_string(),
                TransactionError::Abort(()) => "aborted".into(),
            };
            tracing::error!(error = %message, "a write transaction failed");
            for job in jobs {
                job.finish(Err(StoreError::Durability(format!(
                    "storage error: {message}"
                ))));
            }
        }
    }
}
