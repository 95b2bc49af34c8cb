//! Activity blobs: one value per organization per recording batch, under `a` org newest-id
//! count. One insert per batch instead of one per request keeps recording cheap (sled copies a
//! leaf on every insert); the count in the key makes counting and trimming read keys only.
//!
//! Blobs are written through the writer like everything else (so a blob never outlives the
//! organization it belongs to), as loose changes: each blob stands alone, so none is copied
//! into a group's redo intent. The calls here block the calling thread (the activity log's
//! own) until the blobs are durable.

use super::writer::OpResult;
use super::{Error, Result, Store, keys};

/// A compressed batch of one organization's activity records.
#[derive(Debug, Clone)]
pub struct ActivityBlob {
    pub org: String,
    /// The id of the newest record in the blob (ids are time-ordered).
    pub newest_id: String,
    pub count: usize,
    pub bytes: Vec<u8>,
}

impl Store {
    /// Runs a write from a thread outside the async runtime and waits until it is durable.
    fn write_blocking<R: Send + 'static>(
        &self,
        op: impl FnOnce(&mut super::Staged<'_>) -> OpResult<R, ()> + Send + 'static,
    ) -> Result<R> {
        self.writer()
            .write_blocking(op)?
            .map_err(|_| Error::Stopped)
    }

    /// Stores activity blobs; returns how many records were stored. Blobs of organizations
    /// that no longer exist are dropped.
    pub fn append_activity(&self, blobs: Vec<ActivityBlob>) -> Result<usize> {
        self.write_blocking(move |st| {
            let mut stored = 0;
            for b in blobs {
                if st.contains(&keys::org(&b.org))? {
                    st.insert_loose(keys::activity_blob(&b.org, &b.newest_id, b.count), b.bytes);
                    stored += b.count;
                }
            }
            Ok(Ok(stored))
        })
    }

    /// How many activity records an organization has (reads keys only).
    pub fn activity_count(&self, org: &str) -> Result<usize> {
        let mut n = 0;
        for k in self.tree().scan_prefix(keys::activity_of(org)).keys() {
            n += keys::parse_activity_blob(&k?).1;
        }
        Ok(n)
    }

    /// Removes an organization's oldest activity records: every blob whose records are all
    /// older than `before_id`, then the oldest records until at most `keep` remain, given that
    /// it holds `total`. A blob only partly over the limit is rewritten by
    /// `drop_oldest(bytes, k)`, which returns the blob without its `k` oldest records. Returns
    /// how many records went.
    pub fn trim_activity(
        &self,
        org: &str,
        before_id: &str,
        keep: usize,
        total: usize,
        drop_oldest: impl Fn(&[u8], usize) -> Option<Vec<u8>>,
    ) -> Result<usize> {
        // Plan with plain reads, then apply the plan through the writer. Only the activity
        // log's thread writes blobs, so the plan holds unless the organization is deleted
        // meanwhile, and then every key it names is gone and nothing is written back.
        let mut total = total;
        let mut removed = 0;
        let mut doomed = Vec::new();
        let mut shrunk = None;
        for item in self.tree().scan_prefix(keys::activity_of(org)) {
            let (k, v) = item?;
            let (newest, n) = keys::parse_activity_blob(&k);
            let excess = total.saturating_sub(keep);
            if newest.as_str() < before_id || excess >= n {
                doomed.push(k.to_vec());
                total -= n;
                removed += n;
                continue;
            }
            if excess > 0
                && let Some(smaller) = drop_oldest(&v, excess)
            {
                shrunk = Some((
                    k.to_vec(),
                    keys::activity_blob(org, &newest, n - excess),
                    smaller,
                ));
                removed += excess;
            }
            break;
        }
        if doomed.is_empty() && shrunk.is_none() {
            return Ok(0);
        }
        self.write_blocking(move |st| {
            for k in doomed {
                st.remove_loose(k);
            }
            // The shrunk blob is an atomic change, written before the loose removal of the
            // original: a crash between keeps records twice, never loses one meant to stay.
            if let Some((old, new, bytes)) = shrunk
                && st.contains(&old)?
            {
                st.insert(new, bytes)?;
                st.remove_loose(old);
            }
            Ok(Ok(()))
        })?;
        Ok(removed)
    }

    /// An organization's activity blobs, newest first.
    pub fn activity_blobs(&self, org: &str) -> impl Iterator<Item = Result<Vec<u8>>> + '_ {
        self.tree()
            .scan_prefix(keys::activity_of(org))
            .rev()
            .map(|item| item.map(|(_, v)| v.to_vec()).map_err(Error::from))
    }
}
