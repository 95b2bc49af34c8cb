//! Webhook endpoints as operators manage them: where they point (checked against addresses a
//! receiver must never be: link-local and cloud metadata), which events they take, their
//! signing secrets (sealed, see `secrets.rs`), enabling and replays; and what the delivery
//! workers read and save. Delivery itself (HTTP) lives in `crate::webhooks`.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use time::OffsetDateTime;

use super::secrets::{self, SealingKey};
use super::{Directory, Error, Result, feed, rules};
use crate::store::{
    self, Attempt, DeliverySave, DeliveryState, SealedSecret, StoredEvent, WebhookEndpoint,
    WebhookProgress, WriteRefused,
};

/// How long a rotated-out secret keeps signing beside the new one.
pub const ROTATION_OVERLAP: time::Duration = time::Duration::hours(24);

/// Events looked at when counting a backlog; beyond, the count is an estimate.
const BACKLOG_SCAN: usize = 100_000;

/// A newly added endpoint: the only moment its secret is shown.
#[derive(Debug, Clone)]
pub struct IssuedWebhook {
    pub endpoint: WebhookEndpoint,
    pub secret: String,
}

/// Events an endpoint has not received yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backlog {
    pub events: u64,
    /// True when `events` is an upper estimate (too many to count).
    pub estimated: bool,
}

/// What delivery workers are told when an operator acts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookSignal {
    /// Endpoints were added, removed or changed.
    Changed,
    /// Retry this endpoint's waiting deliveries now.
    RetryNow(String),
}

/// Hosts a receiver must never be, whatever they resolve to.
const METADATA_HOSTS: &[&str] = &["metadata.google.internal", "metadata.goog", "instance-data"];

/// Why a receiver may not be at `ip`: link-local (cloud metadata services live there), a
/// metadata address, or no address at all.
pub fn forbidden_ip(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(a) => forbidden_v4(a),
        IpAddr::V6(a) => {
            if let Some(v4) = a.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            const EC2_METADATA: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);
            if a == EC2_METADATA {
                Some("a cloud metadata address")
            } else if a.segments()[0] & 0xffc0 == 0xfe80 {
                Some("a link-local address")
            } else if a.is_unspecified() || a.is_multicast() {
                Some("not a receiver's address")
            } else {
                None
            }
        }
    }
}

fn forbidden_v4(a: Ipv4Addr) -> Option<&'static str> {
    if a.is_link_local() {
        Some("a link-local address (cloud metadata services live there)")
    } else if a == Ipv4Addr::new(100, 100, 100, 200) {
        Some("a cloud metadata address")
    } else if a.is_unspecified() || a.is_broadcast() || a.is_multicast() {
        Some("not a receiver's address")
    } else {
        None
    }
}

fn loopback_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(a) => a.is_loopback(),
        url::Host::Ipv6(a) => {
            a.is_loopback() || a.to_ipv4_mapped().is_some_and(|v| v.is_loopback())
        }
    }
}

/// Checks and normalises a receiver URL: https (plain http only to loopback unless
/// `allow_http`), no credentials, and no address a receiver must never be.
pub fn validate_webhook_url(text: &str, allow_http: bool) -> Result<String, String> {
    let url = url::Url::parse(text.trim()).map_err(|e| format!("invalid URL {text:?}: {e}"))?;
    let host = url
        .host()
        .ok_or_else(|| format!("invalid URL {text:?}: it names no host"))?;
    let refused = match &host {
        url::Host::Ipv4(a) => forbidden_ip((*a).into()),
        url::Host::Ipv6(a) => forbidden_ip((*a).into()),
        url::Host::Domain(d) => METADATA_HOSTS
            .iter()
            .any(|m| d.trim_end_matches('.').eq_ignore_ascii_case(m))
            .then_some("a cloud metadata host"),
    };
    if let Some(why) = refused {
        return Err(format!("{text:?} points at {why}: refused"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "{text:?} holds credentials: receivers authenticate scimdesk by its signature"
        ));
    }
    if url.fragment().is_some() {
        return Err(format!(
            "{text:?} has a fragment (#...), which is never sent"
        ));
    }
    match url.scheme() {
        "https" => {}
        "http" if allow_http || loopback_host(&host) => {}
        "http" => {
            return Err(format!(
                "{text:?} is plain http: use https (http is accepted only for loopback receivers, or with [webhooks] allow_http = true)"
            ));
        }
        other => return Err(format!("{text:?}: the scheme must be https, not {other}")),
    }
    Ok(url.to_string())
}

/// A short public endpoint id such as `whk_3f9a1c0b7d2e`.
fn new_webhook_id() -> String {
    format!("whk_{}", hex::encode(rules::random_bytes::<6>()))
}

impl Directory {
    /// The data directory's sealing key, loaded (or created) on first use.
    fn sealing_key(&self) -> Result<std::sync::Arc<SealingKey>> {
        let mut slot = self.sealing.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = slot.as_ref() {
            return Ok(k.clone());
        }
        let key = SealingKey::load_or_create(&self.config.store.data_dir)
            .map_err(|e| Error::Store(store::Error::Io(e.to_string())))?;
        let key = std::sync::Arc::new(key);
        *slot = Some(key.clone());
        Ok(key)
    }

    fn signal_webhooks(&self, s: WebhookSignal) {
        if s == WebhookSignal::Changed {
            self.webhook_epoch
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        // No worker listening (the command line) is fine: one reads the store when it starts.
        let _ = self.webhook_signals.send(s);
    }

    /// Changes when any endpoint changes (read before acting on an endpoint read earlier).
    pub fn webhook_epoch(&self) -> u64 {
        self.webhook_epoch.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Tells delivery workers what operators do.
    pub fn webhook_signals(&self) -> tokio::sync::broadcast::Receiver<WebhookSignal> {
        self.webhook_signals.subscribe()
    }

    /// Adds an endpoint receiving events after the feed's current head (or after `from`),
    /// of every organization or `org`'s, of the types `events` names (`user.*,
    /// group.user_added`; all when None).
    pub async fn add_webhook(
        &self,
        url: &str,
        org: Option<&str>,
        events: Option<&str>,
        from: Option<u64>,
    ) -> Result<IssuedWebhook> {
        let url =
            validate_webhook_url(url, self.config.webhooks.allow_http).map_err(Error::invalid)?;
        let types = match events {
            Some(text) => feed::parse_type_filter(text).map_err(Error::invalid)?,
            None => Vec::new(),
        };
        if let Some(o) = org {
            self.get_org(o)?;
        }
        let head = self.store.event_head().durable();
        let from = match from {
            Some(c) if c > head => {
                return Err(Error::invalid(format!(
                    "cursor {} is beyond the newest event ({})",
                    store::cursor(c),
                    store::cursor(head)
                )));
            }
            Some(c) => c,
            None => head,
        };
        let key = self.sealing_key()?;
        loop {
            let id = new_webhook_id();
            let (secret, bytes) = secrets::new_webhook_secret();
            let now = store::now();
            let endpoint = WebhookEndpoint {
                url: url.clone(),
                org: org.map(str::to_string),
                types: types.clone(),
                secrets: vec![SealedSecret {
                    sealed: key.seal(&id, &bytes),
                    created: now,
                    expires: None,
                }],
                enabled: true,
                disabled_reason: None,
                created: now,
                from,
                generation: 0,
                id,
            };
            match self.store.insert_webhook(&endpoint).await? {
                Ok(()) => {
                    self.signal_webhooks(WebhookSignal::Changed);
                    return Ok(IssuedWebhook { endpoint, secret });
                }
                Err(WriteRefused::Taken(_)) => continue,
                Err(_) => {
                    return Err(Error::NotFound(format!(
                        "no organization with id {:?}",
                        org.unwrap_or_default()
                    )));
                }
            }
        }
    }

    /// Every endpoint, oldest first.
    pub fn list_webhooks(&self) -> Result<Vec<WebhookEndpoint>> {
        let mut list = self.store.list_webhooks()?;
        list.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        Ok(list)
    }

    pub fn get_webhook(&self, id: &str) -> Result<WebhookEndpoint> {
        self.store
            .get_webhook(id)?
            .ok_or_else(|| Error::NotFound(format!("no webhook endpoint {id:?}")))
    }

    /// Removes an endpoint; its deliveries stop.
    pub async fn remove_webhook(&self, id: &str) -> Result<()> {
        if !self.store.delete_webhook(id).await? {
            return Err(Error::NotFound(format!("no webhook endpoint {id:?}")));
        }
        self.signal_webhooks(WebhookSignal::Changed);
        Ok(())
    }

    /// Enables or disables an endpoint (`reason` says why it was disabled). Enabling forgets
    /// past failures and retries what was waiting at once.
    pub async fn set_webhook_enabled(
        &self,
        id: &str,
        enabled: bool,
        reason: Option<String>,
    ) -> Result<WebhookEndpoint> {
        let changed = self
            .store
            .update_webhook(id, move |mut e| {
                if e.enabled == enabled {
                    let state = if enabled { "enabled" } else { "disabled" };
                    return Err(format!("webhook endpoint {} is already {state}", e.id));
                }
                e.enabled = enabled;
                e.disabled_reason = if enabled { None } else { reason };
                Ok(e)
            })
            .await?;
        let e = match changed {
            Ok(e) => e,
            Err(WriteRefused::Rejected(m)) => return Err(Error::Refused(m)),
            Err(_) => return Err(Error::NotFound(format!("no webhook endpoint {id:?}"))),
        };
        self.signal_webhooks(WebhookSignal::Changed);
        if enabled {
            self.signal_webhooks(WebhookSignal::RetryNow(id.to_string()));
        }
        Ok(e)
    }

    /// A new signing secret for an endpoint (returned once); the current one keeps signing
    /// beside it for [`ROTATION_OVERLAP`], then stops.
    pub async fn rotate_webhook_secret(&self, id: &str) -> Result<String> {
        let key = self.sealing_key()?;
        let (secret, bytes) = secrets::new_webhook_secret();
        let now = store::now();
        let sealed = key.seal(id, &bytes);
        let changed = self
            .store
            .update_webhook(id, move |mut e| {
                // Secrets that already expired go; the current ones expire after the overlap.
                e.secrets.retain(|s| s.expires.is_none_or(|x| x > now));
                for s in &mut e.secrets {
                    let end = now + ROTATION_OVERLAP;
                    s.expires = Some(s.expires.map_or(end, |x| x.min(end)));
                }
                e.secrets.push(SealedSecret {
                    sealed,
                    created: now,
                    expires: None,
                });
                Ok::<_, ()>(e)
            })
            .await?;
        match changed {
            Ok(_) => {
                self.signal_webhooks(WebhookSignal::Changed);
                Ok(secret)
            }
            Err(_) => Err(Error::NotFound(format!("no webhook endpoint {id:?}"))),
        }
    }

    /// Delivers again every event after number `after` (to an enabled endpoint; a disabled
    /// one starts there when enabled).
    pub async fn replay_webhook(&self, id: &str, after: u64) -> Result<WebhookEndpoint> {
        let bounds = self.feed_bounds()?;
        if after > bounds.head {
            return Err(Error::invalid(format!(
                "cursor {} is beyond the newest event ({})",
                store::cursor(after),
                store::cursor(bounds.head)
            )));
        }
        match self.store.replay_webhook(id, after).await? {
            Ok(e) => {
                self.signal_webhooks(WebhookSignal::Changed);
                Ok(e)
            }
            Err(_) => Err(Error::NotFound(format!("no webhook endpoint {id:?}"))),
        }
    }

    /// The number to replay after for "every event since `since`".
    pub fn event_before(&self, since: OffsetDateTime) -> Result<u64> {
        let ms = (since.unix_timestamp_nanos() / 1_000_000).max(0) as u64;
        Ok(self.store.event_before(ms)?)
    }

    /// Asks the endpoint's worker to retry what is waiting now.
    pub fn retry_webhook_now(&self, id: &str) -> Result<()> {
        self.get_webhook(id)?;
        self.signal_webhooks(WebhookSignal::RetryNow(id.to_string()));
        Ok(())
    }

    /// The keys of the secrets that sign for `e` at `now`.
    pub fn webhook_signing_keys(
        &self,
        e: &WebhookEndpoint,
        now: OffsetDateTime,
    ) -> Result<Vec<(Vec<u8>, Option<OffsetDateTime>)>> {
        let key = self.sealing_key()?;
        e.signing(now)
            .map(|s| {
                key.open(&e.id, &s.sealed)
                    .map(|k| (k, s.expires))
                    .map_err(|err| {
                        Error::Store(store::Error::Corrupt {
                            key: format!("webhook {}", e.id),
                            reason: err.to_string(),
                        })
                    })
            })
            .collect()
    }

    pub fn delivery_progress(&self, e: &WebhookEndpoint) -> Result<WebhookProgress> {
        Ok(self
            .store
            .delivery_progress(&e.id)?
            .filter(|p| p.generation == e.generation)
            .unwrap_or(WebhookProgress {
                generation: e.generation,
                swept: e.from,
                ..Default::default()
            }))
    }

    pub fn delivery_states(&self, id: &str) -> Result<Vec<(String, DeliveryState)>> {
        Ok(self.store.delivery_states(id)?)
    }

    /// Queues a save of delivery progress (see [`store::DeliverySave`]).
    pub fn save_deliveries(&self, id: &str, save: DeliverySave) -> Result<()> {
        Ok(self.store.save_deliveries(id, save)?)
    }

    pub fn record_webhook_attempts(&self, id: &str, attempts: Vec<Attempt>) -> Result<()> {
        Ok(self.store.record_attempts(id, attempts)?)
    }

    /// An endpoint's recent attempts, oldest first.
    pub fn webhook_attempts(&self, id: &str) -> Result<Vec<Attempt>> {
        Ok(self.store.attempts(id)?)
    }

    /// Whether endpoint `e` takes an event of type `t` about organization `org`.
    pub fn webhook_wants(e: &WebhookEndpoint, t: &str, org: &str) -> bool {
        e.org.as_deref().is_none_or(|o| o == org) && feed::type_matches(&e.types, t)
    }

    /// The numbers and organizations of up to `limit` durable events after `after` that `e`
    /// takes (looking at no more than `scan`), and the last number looked at.
    pub fn webhook_events_after(
        &self,
        e: &WebhookEndpoint,
        org: Option<&str>,
        after: u64,
        limit: usize,
        scan: usize,
    ) -> Result<(Vec<(u64, String)>, u64)> {
        Ok(self.store.event_refs_after(after, limit, scan, |t, o| {
            org.is_none_or(|x| x == o) && Self::webhook_wants(e, t, o)
        })?)
    }

    /// Durable event number `seq`, unless retention removed it.
    pub fn event(&self, seq: u64) -> Result<Option<StoredEvent>> {
        Ok(self.store.event(seq)?)
    }

    /// How many events `e` has still to deliver.
    pub fn webhook_backlog(&self, e: &WebhookEndpoint) -> Result<Backlog> {
        let progress = self.delivery_progress(e)?;
        let cursors: HashMap<String, u64> = self
            .delivery_states(&e.id)?
            .into_iter()
            .map(|(org, s)| (org, s.cursor))
            .collect();
        let start = cursors.values().copied().fold(progress.swept, u64::min);
        let (refs, scanned_to) =
            self.webhook_events_after(e, None, start, BACKLOG_SCAN, BACKLOG_SCAN)?;
        let events = refs
            .iter()
            .filter(|(seq, org)| *seq > cursors.get(org).copied().unwrap_or(progress.swept))
            .count() as u64;
        let head = self.store.event_head().durable();
        Ok(Backlog {
            events: events + head.saturating_sub(scanned_to),
            estimated: scanned_to < head,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receiver_urls() {
        for ok in [
            "https://app.example.com/hooks/scim",
            "https://10.0.0.5:8443/x?tenant=1",
            "http://127.0.0.1:9000/hook",
            "http://localhost/hook",
            "http://[::1]:9000/",
        ] {
            assert!(validate_webhook_url(ok, false).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("http://app.example.com/hook", "plain http"),
            ("ftp://app.example.com/", "scheme"),
            ("https://169.254.169.254/latest/meta-data", "link-local"),
            ("https://0xA9FEA9FE/", "link-local"),
            ("http://[fd00:ec2::254]/", "metadata"),
            ("https://[fe80::1]/", "link-local"),
            ("https://[::ffff:169.254.169.254]/", "link-local"),
            (
                "https://metadata.google.internal/computeMetadata/v1/",
                "metadata",
            ),
            ("https://100.100.100.200/", "metadata"),
            ("https://user:pw@app.example.com/", "credentials"),
            ("https://app.example.com/#x", "fragment"),
            ("not a url", "invalid URL"),
            ("https://0.0.0.0/", "not a receiver"),
        ] {
            let err = validate_webhook_url(bad, false).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
        assert!(validate_webhook_url("http://app.example.com/hook", true).is_ok());
        assert!(
            validate_webhook_url("http://169.254.169.254/", true).is_err(),
            "allow_http does not open metadata"
        );
        assert_eq!(
            validate_webhook_url("https://APP.example.com", false).unwrap(),
            "https://app.example.com/"
        );
    }
}
