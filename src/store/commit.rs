//! Group commit: the one place that makes writes durable.
//!
//! sled 0.34.7's `flush_async` deadlocks when several tasks call it at once (sled #1308), and a
//! flush per writer caps throughput at one fsync per write. Instead, writers enqueue a waiter
//! after applying their write; a single committer thread drains every waiter queued so far, runs
//! one blocking `flush()`, and wakes them all. A waiter is only woken by a flush that started
//! after it was queued, so its write is covered.

use std::sync::mpsc;
use std::thread;

use tokio::sync::oneshot;

type FlushResult = Result<(), String>;

/// Handle to the committer thread. Dropping it stops the thread and waits for it, so the
/// database is released when the store is.
pub struct Committer {
    queue: Option<mpsc::Sender<oneshot::Sender<FlushResult>>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Drop for Committer {
    fn drop(&mut self) {
        self.queue.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Committer {
    /// Starts the committer thread for `db`. The thread ends when every handle is dropped.
    pub fn start(db: sled::Db) -> std::io::Result<Committer> {
        let (queue, waiting) = mpsc::channel::<oneshot::Sender<FlushResult>>();
        let thread = thread::Builder::new()
            .name("scimdesk-commit".into())
            .spawn(move || run(db, waiting))?;
        Ok(Committer {
            queue: Some(queue),
            thread: Some(thread),
        })
    }

    fn enqueue(&self) -> Result<oneshot::Receiver<FlushResult>, String> {
        let (tx, rx) = oneshot::channel();
        let queue = self.queue.as_ref().ok_or("the committer has stopped")?;
        queue
            .send(tx)
            .map_err(|_| "the committer has stopped".to_string())?;
        Ok(rx)
    }

    /// Resolves once every write this thread applied before the call is on disk.
    pub async fn durable(&self) -> Result<(), String> {
        let rx = self.enqueue()?;
        rx.await
            .map_err(|_| "the committer has stopped".to_string())?
    }

    /// Blocking form of [`Committer::durable`] for code outside an async runtime.
    pub fn durable_blocking(&self) -> Result<(), String> {
        let rx = self.enqueue()?;
        rx.blocking_recv()
            .map_err(|_| "the committer has stopped".to_string())?
    }
}

fn run(db: sled::Db, waiting: mpsc::Receiver<oneshot::Sender<FlushResult>>) {
    let mut batch = Vec::new();
    while let Ok(first) = waiting.recv() {
        batch.push(first);
        while let Ok(next) = waiting.try_recv() {
            batch.push(next);
        }
        let result = db.flush().map(|_| ()).map_err(|e| {
            tracing::error!(error = %e, "flushing the store failed");
            format!("flushing the store failed: {e}")
        });
        for waiter in batch.drain(..) {
            // A writer that gave up waiting is not an error.
            let _ = waiter.send(result.clone());
        }
    }
}
