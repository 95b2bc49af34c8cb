//! Signed webhooks: every change-feed event pushed to the vendor's application, at least once,
//! in order per endpoint and organization (Standard Webhooks signatures).
//!
//! The manager (started by `service`) keeps one worker (`worker.rs`) per enabled endpoint,
//! restarting it when the endpoint changes (a replay, a rotated secret) and stopping it when
//! the endpoint is disabled or removed. Every delivery goes through one pooled HTTP client
//! (`client.rs`); signatures are made in `sign.rs`; retry times are read from a [`Clock`].
//! Endpoints themselves (their URL rules, secrets, delivery state) belong to the directory.

mod client;
pub mod clock;
mod sign;
mod worker;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use client::{Client, Message, Reply, USER_AGENT};
pub use clock::{Clock, ManualClock, SystemClock};
pub use sign::{event_id, signature_header};

use crate::directory::{Attempt, Directory, WebhookEndpoint, WebhookSignal};
use worker::{Settings, Stopped, Worker};

/// How often endpoints are looked at even without a signal (a worker that failed is
/// restarted).
const RECONCILE_EVERY: Duration = Duration::from_secs(30);

/// What a worker's deliveries depend on: a change restarts it.
#[derive(PartialEq)]
struct Fingerprint {
    url: String,
    org: Option<String>,
    types: Vec<String>,
    secrets: Vec<String>,
    generation: u64,
}

impl Fingerprint {
    fn of(e: &WebhookEndpoint) -> Fingerprint {
        Fingerprint {
            url: e.url.clone(),
            org: e.org.clone(),
            types: e.types.clone(),
            secrets: e.secrets.iter().map(|s| s.sealed.clone()).collect(),
            generation: e.generation,
        }
    }
}

struct Running {
    fingerprint: Fingerprint,
    stop: CancellationToken,
    retry_now: mpsc::Sender<()>,
    task: JoinHandle<Stopped>,
}

impl Running {
    async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// Runs every enabled endpoint's deliveries until `stop` is cancelled.
pub async fn run(dir: Directory, client: Client, clock: Arc<dyn Clock>, stop: CancellationToken) {
    let config = &dir.config().webhooks;
    let settings = Settings {
        retries: config.retries.clone(),
        disable_after: config.disable_after,
    };
    let mut signals = dir.webhook_signals();
    let mut running: HashMap<String, Running> = HashMap::new();
    let mut every = tokio::time::interval(RECONCILE_EVERY);
    let mut look = true;
    loop {
        if std::mem::take(&mut look) {
            let start = |e: WebhookEndpoint| start_worker(&dir, e, &client, &clock, &settings);
            reconcile(&dir, &mut running, start).await;
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            signal = signals.recv() => match signal {
                Ok(WebhookSignal::Changed) | Err(broadcast::error::RecvError::Lagged(_)) => look = true,
                Ok(WebhookSignal::RetryNow(id)) => {
                    if let Some(r) = running.get(&id) {
                        let _ = r.retry_now.try_send(());
                    }
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            _ = every.tick() => look = true,
        }
    }
    for (_, r) in running.drain() {
        r.stop().await;
    }
}

/// Starts, restarts and stops workers to match the endpoints.
async fn reconcile(
    dir: &Directory,
    running: &mut HashMap<String, Running>,
    start: impl Fn(WebhookEndpoint) -> Option<Running>,
) {
    let endpoints = match dir.list_webhooks() {
        Ok(list) => list,
        Err(e) => {
            tracing::error!(error = %e, "cannot read webhook endpoints");
            return;
        }
    };
    let mut wanted: HashMap<String, WebhookEndpoint> = endpoints
        .into_iter()
        .filter(|e| e.enabled)
        .map(|e| (e.id.clone(), e))
        .collect();
    let ids: Vec<String> = running.keys().cloned().collect();
    for id in ids {
        let keep = wanted.get(&id).is_some_and(|e| {
            let r = &running[&id];
            r.fingerprint == Fingerprint::of(e) && !r.task.is_finished()
        });
        if keep {
            wanted.remove(&id);
        } else if let Some(r) = running.remove(&id) {
            r.stop().await;
        }
    }
    for (id, e) in wanted {
        if let Some(r) = start(e) {
            running.insert(id, r);
        }
    }
}

fn start_worker(
    dir: &Directory,
    e: WebhookEndpoint,
    client: &Client,
    clock: &Arc<dyn Clock>,
    settings: &Settings,
) -> Option<Running> {
    let fingerprint = Fingerprint::of(&e);
    let id = e.id.clone();
    let worker = match Worker::new(
        dir.clone(),
        e,
        client.clone(),
        clock.clone(),
        settings.clone(),
    ) {
        Ok(w) => w,
        Err(error) => {
            tracing::error!(endpoint = %id, error, "cannot start webhook deliveries");
            return None;
        }
    };
    let stop = CancellationToken::new();
    let (retry_now, retries) = mpsc::channel(1);
    let token = stop.clone();
    let task = tokio::spawn(async move {
        let stopped = worker.run(token, retries).await;
        if let Stopped::Failed(error) = &stopped {
            tracing::error!(endpoint = %id, error, "webhook deliveries stopped");
        }
        stopped
    });
    Some(Running {
        fingerprint,
        stop,
        retry_now,
        task,
    })
}

/// Sends a `webhook.test` event to an endpoint now (whether enabled or not) and records the
/// attempt; returns it.
pub async fn send_test(dir: &Directory, id: &str) -> Result<Attempt, crate::directory::Error> {
    let e = dir.get_webhook(id)?;
    let client = Client::new(&dir.config().webhooks).map_err(crate::directory::Error::Refused)?;
    let now = crate::store::now();
    let keys = dir.webhook_signing_keys(&e, now)?;
    let event_id = format!("evt_{}", uuid::Uuid::now_v7().simple());
    let body = serde_json::json!({
        "object": "event",
        "id": event_id,
        "type": "webhook.test",
        "organization": e.org,
        "occurred_at": crate::util::rfc3339(now),
        "data": {"endpoint": e.id, "url": e.url},
    });
    let body = bytes::Bytes::from(serde_json::to_vec(&body).unwrap_or_default());
    let timestamp = now.unix_timestamp();
    let signature = signature_header(
        keys.iter().map(|(k, _)| k.as_slice()),
        &event_id,
        timestamp,
        &body,
    );
    let reply = client
        .post(
            &e.url,
            &Message {
                id: event_id,
                timestamp,
                signature,
                body,
            },
        )
        .await;
    let attempt = Attempt {
        at: now,
        org: e.org.clone().unwrap_or_default(),
        event: "test".into(),
        status: reply.status,
        latency_ms: reply.latency.as_secs_f64() * 1000.0,
        error: reply.error,
    };
    dir.record_webhook_attempts(id, vec![attempt.clone()])?;
    Ok(attempt)
}
