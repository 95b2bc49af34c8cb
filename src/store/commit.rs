//! Group commit: the one place that makes writes durable.
//!
//! sled 0.34.7's `flush_async` deadlocks when several tasks call it at once (sled #1308), and a
//! flush per writer caps throughput at one fsync per write. Instead, waiters are queued after
//! their writes are applied; a single committer thread drains every waiter queued so far, runs
//! one blocking `flush()`, and answers them all. A waiter is only answered by a flush that
//! started after it was queued, so its write is covered.

use std::sync::mpsc;
use std::thread;

pub type FlushResult = Result<(), String>;

/// Called with the result of the flush that covers the writes made before it was queued.
pub type Waiter = Box<dyn FnOnce(FlushResult) + Send>;

/// Handle to the committer thread. Dropping it stops the thread and waits for it, so the
/// database is released when the store is.
pub struct Committer {
    queue: Option<mpsc::Sender<Waiter>>,
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
    /// Starts the committer thread for `db`. The thread ends when the handle is dropped.
    pub fn start(db: sled::Db) -> std::io::Result<Committer> {
        let (queue, waiting) = mpsc::channel::<Waiter>();
        let thread = thread::Builder::new()
            .name("scimdesk-commit".into())
            .spawn(move || run(db, waiting))?;
        Ok(Committer {
            queue: Some(queue),
            thread: Some(thread),
        })
    }

    /// Calls `waiter` after the next flush.
    pub fn after_flush(&self, waiter: Waiter) {
        match self.queue.as_ref() {
            Some(q) => {
                if let Err(mpsc::SendError(w)) = q.send(waiter) {
                    w(Err("the committer has stopped".into()));
                }
            }
            None => waiter(Err("the committer has stopped".into())),
        }
    }
}

fn run(db: sled::Db, waiting: mpsc::Receiver<Waiter>) {
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
            waiter(result.clone());
        }
    }
}
