//! Webhook endpoints, where each endpoint's delivery stands (its progress through the feed
//! and one state per organization stream), and its recent attempts.
//!
//! Delivery progress is saved without waiting (a duplicate after a crash is allowed, a skip is
//! not): a save is written only after the deliveries it records, as one atomic change of the
//! endpoint's progress and every stream state it names, and only while the endpoint exists
//! with the generation the deliveries belong to (a replay or a removal wins over a late save).

use super::{
    Attempt, DeliveryState, Outcome, Result, Staged, Store, WebhookEndpoint, WebhookProgress,
    WriteRefused, decode, encode, keys, or_refuse, refuse,
};

/// Recent attempts kept per endpoint.
pub const ATTEMPTS_KEPT: usize = 50;

/// Appends to the attempts under `ak`, keeping the newest [`ATTEMPTS_KEPT`].
fn add_attempts(st: &mut Staged<'_>, ak: Vec<u8>, new: Vec<Attempt>) -> Result<()> {
    if new.is_empty() {
        return Ok(());
    }
    let mut all: Vec<Attempt> = match st.get(&ak)? {
        Some(v) => decode(&ak, &v)?,
        None => Vec::new(),
    };
    all.extend(new);
    let excess = all.len().saturating_sub(ATTEMPTS_KEPT);
    all.drain(..excess);
    st.insert(ak, encode(&all)?)?;
    Ok(())
}

/// One save of an endpoint's delivery progress.
#[derive(Debug, Clone, Default)]
pub struct DeliverySave {
    pub progress: WebhookProgress,
    /// Stream states that changed since the last save.
    pub states: Vec<(String, DeliveryState)>,
    /// Attempts made since the last save, oldest first.
    pub attempts: Vec<Attempt>,
}

impl Store {
    pub async fn insert_webhook(&self, e: &WebhookEndpoint) -> Result<Outcome<()>> {
        let k = keys::webhook(&e.id);
        let org = e.org.as_deref().map(keys::org);
        let progress = WebhookProgress {
            generation: e.generation,
            swept: e.from,
            ..Default::default()
        };
        let (v, p, id) = (encode(e)?, encode(&progress)?, e.id.clone());
        self.writer()
            .write(move |st| {
                if let Some(org) = org
                    && !st.contains(&org)?
                {
                    return refuse(WriteRefused::OrgMissing);
                }
                if st.contains(&k)? {
                    return refuse(WriteRefused::Taken(id.clone()));
                }
                st.insert(k, v)?;
                st.insert(keys::progress(&id), p)?;
                Ok(Ok(()))
            })
            .await
    }

    pub fn list_webhooks(&self) -> Result<Vec<WebhookEndpoint>> {
        self.tree()
            .scan_prefix(keys::all_webhooks())
            .map(|item| {
                let (k, v) = item?;
                decode(&k, &v)
            })
            .collect()
    }

    pub fn get_webhook(&self, id: &str) -> Result<Option<WebhookEndpoint>> {
        self.get_decoded(&keys::webhook(id))
    }

    /// Applies `f` to an endpoint atomically.
    pub async fn update_webhook<E: Send + 'static>(
        &self,
        id: &str,
        f: impl FnOnce(WebhookEndpoint) -> std::result::Result<WebhookEndpoint, E> + Send + 'static,
    ) -> Result<Outcome<WebhookEndpoint, E>> {
        let k = keys::webhook(id);
        self.writer()
            .write(move |st| {
                let Some(v) = st.get(&k)? else {
                    return refuse(WriteRefused::NotFound);
                };
                let e = or_refuse!(f(decode(&k, &v)?).map_err(WriteRefused::Rejected));
                st.insert(k, encode(&e)?)?;
                Ok(Ok(e))
            })
            .await
    }

    /// Starts an endpoint's deliveries again after event `after`: a new generation, no stream
    /// states, the feed swept from `after` (its health is kept).
    pub async fn replay_webhook(&self, id: &str, after: u64) -> Result<Outcome<WebhookEndpoint>> {
        let (k, pk) = (keys::webhook(id), keys::progress(id));
        let scan = self.deliveries_scan(id);
        self.writer()
            .write_after_scan(scan, move |st, states: &Vec<Vec<u8>>| {
                let Some(v) = st.get(&k)? else {
                    return refuse(WriteRefused::NotFound);
                };
                let mut e: WebhookEndpoint = decode(&k, &v)?;
                e.generation += 1;
                e.from = after;
                let old: WebhookProgress = match st.get(&pk)? {
                    Some(v) => decode(&pk, &v)?,
                    None => WebhookProgress::default(),
                };
                let progress = WebhookProgress {
                    generation: e.generation,
                    swept: after,
                    ..old
                };
                for s in states {
                    st.remove(s.clone())?;
                }
                st.insert(pk, encode(&progress)?)?;
                st.insert(k, encode(&e)?)?;
                Ok(Ok(e))
            })
            .await
    }

    fn deliveries_scan(
        &self,
        id: &str,
    ) -> impl FnOnce(&sled::Tree) -> Result<Vec<Vec<u8>>> + Send + 'static {
        let prefix = keys::deliveries_of(id);
        move |tree: &sled::Tree| {
            tree.scan_prefix(prefix)
                .keys()
                .map(|k| Ok(k?.to_vec()))
                .collect()
        }
    }

    /// Removes an endpoint with its progress, stream states and attempts. False if absent.
    pub async fn delete_webhook(&self, id: &str) -> Result<bool> {
        let (k, attempts, progress) = (keys::webhook(id), keys::attempts(id), keys::progress(id));
        let gone = self
            .writer()
            .write_after_scan(
                self.deliveries_scan(id),
                move |st, states: &Vec<Vec<u8>>| {
                    if !st.contains(&k)? {
                        return refuse::<bool, ()>(WriteRefused::NotFound);
                    }
                    st.remove(k)?;
                    st.remove(attempts)?;
                    st.remove(progress)?;
                    for s in states {
                        st.remove(s.clone())?;
                    }
                    Ok(Ok(true))
                },
            )
            .await?;
        Ok(gone.unwrap_or(false))
    }

    pub fn delivery_progress(&self, endpoint: &str) -> Result<Option<WebhookProgress>> {
        self.get_decoded(&keys::progress(endpoint))
    }

    /// Every organization stream's delivery state of an endpoint, by organization id.
    pub fn delivery_states(&self, endpoint: &str) -> Result<Vec<(String, DeliveryState)>> {
        self.tree()
            .scan_prefix(keys::deliveries_of(endpoint))
            .map(|item| {
                let (k, v) = item?;
                Ok((keys::last_part(&k), decode(&k, &v)?))
            })
            .collect()
    }

    /// Records delivery progress without waiting for it; kept only if the endpoint still
    /// exists with `save.progress.generation`.
    pub fn save_deliveries(&self, endpoint: &str, save: DeliverySave) -> Result<()> {
        let (owner, pk, ak) = (
            keys::webhook(endpoint),
            keys::progress(endpoint),
            keys::attempts(endpoint),
        );
        let generation = save.progress.generation;
        let progress = encode(&save.progress)?;
        let mut states = Vec::with_capacity(save.states.len());
        for (org, s) in &save.states {
            states.push((keys::delivery(endpoint, org), encode(s)?));
        }
        let new_attempts = save.attempts;
        self.writer().write_detached(move |st| {
            let Some(v) = st.get(&owner)? else {
                return refuse::<(), ()>(WriteRefused::NotFound);
            };
            let e: WebhookEndpoint = decode(&owner, &v)?;
            if e.generation != generation {
                return refuse(WriteRefused::NotFound);
            }
            st.insert(pk, progress)?;
            for (k, v) in states {
                st.insert(k, v)?;
            }
            add_attempts(st, ak, new_attempts)?;
            Ok(Ok(()))
        })
    }

    /// Adds attempts made outside deliveries (a test event) to an endpoint's recent ones,
    /// without waiting.
    pub fn record_attempts(&self, endpoint: &str, new: Vec<Attempt>) -> Result<()> {
        let (owner, ak) = (keys::webhook(endpoint), keys::attempts(endpoint));
        self.writer().write_detached(move |st| {
            if !st.contains(&owner)? {
                return refuse::<(), ()>(WriteRefused::NotFound);
            }
            add_attempts(st, ak, new)?;
            Ok(Ok(()))
        })
    }

    /// An endpoint's recent attempts, oldest first.
    pub fn attempts(&self, endpoint: &str) -> Result<Vec<Attempt>> {
        Ok(self
            .get_decoded::<Vec<Attempt>>(&keys::attempts(endpoint))?
            .unwrap_or_default())
    }
}
