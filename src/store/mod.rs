//! The store owns the embedded sled database: records, indexes, the key layout and durability.
//! No other module names sled.
//!
//! Every write goes through one writer thread (`writer.rs`), which applies many writes as one
//! atomic group and answers each only after the group commit (`commit.rs`) has flushed it: a
//! write method's future resolves when the write is durable. Reads go straight to sled.
//! `keys.rs` is the one codec for every key; each record family has its file (`orgs.rs`,
//! `credentials.rs`, `resources.rs`, `memberships.rs`, `activity.rs`).

mod activity;
mod app_keys;
mod backup;
mod check;
mod commit;
mod credentials;
mod events;
mod keys;
mod memberships;
mod orgs;
mod records;
mod resources;
mod schemas;
mod webhooks;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use activity::ActivityBlob;
pub use backup::{BackupStats, create_backup_file, restore, verify_backup};
pub use check::CheckReport;
pub use events::{EventHead, EventPage, NewEvent, StoredEvent, cursor, parse_cursor};
pub use memberships::{MemberChange, MembershipReport};
pub use records::{
    AppKey, Attempt, DeclaredSchema, DeliveryState, IndexEntries, Organization, ResourceRecord,
    ScimKey, SealedSecret, WebhookEndpoint, WebhookProgress, now,
};
pub use resources::ResourceUpdate;
pub use webhooks::{ATTEMPTS_KEPT, DeliverySave};
use writer::{OpResult, Staged, Writer};

use commit::Committer;

/// What can go wrong below the directory.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error("the store at {0} is in use by a running scimdesk (only one process can open it)")]
    InUse(PathBuf),
    #[error("storage I/O error: {0}")]
    Io(String),
    #[error("storage error: {0}")]
    Engine(String),
    #[error("corrupt record under key {key:?}: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("cannot encode a record: {0}")]
    Encode(String),
    #[error("the store's writer has stopped")]
    Stopped,
    #[error("{0}")]
    Flush(String),
}

impl From<sled::Error> for Error {
    fn from(e: sled::Error) -> Error {
        match e {
            sled::Error::Io(io) => Error::Io(io.to_string()),
            sled::Error::Corruption { .. } => Error::Corrupt {
                key: String::new(),
                reason: e.to_string(),
            },
            other => Error::Engine(other.to_string()),
        }
    }
}

impl Error {
    /// Errors of the engine itself (I/O, the log): they fail a whole write group. Other errors
    /// (a record that cannot be decoded or encoded) fail only the write that met them.
    fn is_engine(&self) -> bool {
        matches!(self, Error::Io(_) | Error::Engine(_))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a conditional write did not happen. The store reports; the directory decides.
#[derive(Debug, PartialEq, Eq)]
pub enum WriteRefused<E> {
    /// The organization does not exist (any more).
    OrgMissing,
    /// The record to change does not exist.
    NotFound,
    /// Another record already holds the unique value (or id); its id.
    Taken(String),
    /// The caller's update function refused.
    Rejected(E),
}

/// The sled tree that holds everything.
const TREE: &str = "scimdesk";

/// A conditional write's outcome: done, or refused without changing anything.
pub type Outcome<T, E = ()> = std::result::Result<T, WriteRefused<E>>;

/// A handle to an open store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    ids: resources::IdLists,
    head: Arc<EventHead>,
    /// Taken on drop: the writer finishes its queue before the final flush.
    writer: Option<Writer>,
    /// Taken on drop after the writer: only the committer ever flushes while it runs
    /// (concurrent sled flushes can hang, sled #1308).
    committer: Option<Arc<Committer>>,
    tree: sled::Tree,
    db: sled::Db,
    path: PathBuf,
    /// Copies of applied changes while a snapshot runs.
    tap: Arc<writer::Tap>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.writer.take();
        self.committer.take();
        // Now alone: a last flush also waits for sled's IO threads, so the store's lock is
        // free when this returns.
        let _ = self.db.flush();
    }
}

fn decode<T: serde::de::DeserializeOwned>(k: &[u8], v: &[u8]) -> Result<T> {
    serde_json::from_slice(v).map_err(|e| Error::Corrupt {
        key: String::from_utf8_lossy(k).into_owned(),
        reason: e.to_string(),
    })
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::Encode(e.to_string()))
}

fn refuse<T, E>(why: WriteRefused<E>) -> OpResult<T, E> {
    Ok(Err(why))
}

/// Unwraps a value or refuses the write.
macro_rules! or_refuse {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(why) => return Ok(Err(why)),
        }
    };
}
use or_refuse;

impl Store {
    /// Opens (creating if needed) the store in `dir` with a page cache of `cache_capacity` bytes.
    pub fn open(dir: &Path, cache_capacity: u64) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(|e| Error::Io(e.to_string()))?;
        let open = || {
            sled::Config::new()
                .path(dir)
                .cache_capacity(cache_capacity)
                .mode(sled::Mode::HighThroughput)
                // Only the group committer flushes: sled's own background flusher would be a
                // second, concurrent flusher (sled #1308), and the committer already flushes as
                // soon as anything waits to be durable.
                .flush_every_ms(None)
                .open()
                .map_err(|e| match e {
                    sled::Error::Io(ref io)
                        if io.to_string().contains("could not acquire lock") =>
                    {
                        Error::InUse(dir.to_path_buf())
                    }
                    other => Error::from(other),
                })
        };
        // A store just closed in this process can stay locked for a moment while sled's IO
        // threads let go of it; another process holding it is reported after the retries.
        let mut attempt = 0;
        let db = loop {
            match open() {
                Err(Error::InUse(_)) if attempt < 10 => {
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                other => break other?,
            }
        };
        let tree = db.open_tree(TREE)?;
        writer::recover(&tree)?;
        // Everything in the store at open is durable, events included.
        let last_event = tree
            .scan_prefix(keys::all_events())
            .keys()
            .next_back()
            .transpose()?
            .and_then(|k| keys::parse_event(&k))
            .unwrap_or(0);
        // Numbers are never reused, even when retention has removed every event.
        let trimmed = tree
            .get(keys::events_trimmed())?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map_or(0, u64::from_be_bytes);
        let head = Arc::new(EventHead::new(last_event.max(trimmed)));
        let committer =
            Arc::new(Committer::start(db.clone()).map_err(|e| Error::Io(e.to_string()))?);
        let tap = Arc::new(writer::Tap::default());
        let writer = Writer::start(tree.clone(), committer.clone(), head.clone(), tap.clone())
            .map_err(|e| Error::Io(e.to_string()))?;
        Ok(Store {
            inner: Arc::new(Inner {
                ids: resources::IdLists::default(),
                head,
                writer: Some(writer),
                committer: Some(committer),
                tree,
                db,
                path: dir.to_path_buf(),
                tap,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn writer(&self) -> &Writer {
        self.inner
            .writer
            .as_ref()
            .expect("the writer lives as long as the store")
    }

    fn tree(&self) -> &sled::Tree {
        &self.inner.tree
    }

    /// Waits until every write queued before this call (detached ones included) is applied
    /// and flushed to disk: an empty write through the writer, which applies writes in order
    /// and answers after the flush that covers them.
    pub async fn durable(&self) -> Result<()> {
        let barrier: writer::OpResult<(), ()> = self.writer().write(|_| Ok(Ok(()))).await;
        barrier?.map_err(|_| Error::Stopped)
    }

    /// Blocking form of [`Store::durable`].
    pub fn durable_blocking(&self) -> Result<()> {
        let barrier: writer::OpResult<(), ()> = self.writer().write_blocking(|_| Ok(Ok(())));
        barrier?.map_err(|_| Error::Stopped)
    }

    /// Bytes the database occupies on disk.
    pub fn size_on_disk(&self) -> Result<u64> {
        Ok(self.inner.db.size_on_disk()?)
    }

    /// One read of the tree: Ok when the store answers.
    pub fn health(&self) -> Result<()> {
        self.tree().get(keys::org(""))?;
        Ok(())
    }

    /// Keys under `prefix`.
    fn scan_keys(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>> {
        self.tree()
            .scan_prefix(prefix)
            .keys()
            .map(|k| Ok(k?.to_vec()))
            .collect()
    }

    /// Decodes the record under `key`, if any.
    fn get_decoded<T: serde::de::DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>> {
        match self.tree().get(key)? {
            Some(v) => Ok(Some(decode(key, &v)?)),
            None => Ok(None),
        }
    }

    /// Writes `value` under a scratch key outside every organization, durably, through the
    /// same writer and group commit as every other write: the benchmark's durable-write
    /// ceiling.
    pub async fn write_scratch(&self, name: &[u8], value: &[u8]) -> Result<()> {
        let (k, v) = (keys::scratch(name), value.to_vec());
        self.writer()
            .write(move |st| {
                st.insert(k, v)?;
                Ok(Ok::<(), WriteRefused<()>>(()))
            })
            .await?
            .map_err(|_| Error::Stopped)
    }
}

#[cfg(test)]
mod tests;
