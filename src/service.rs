//! The running service: the SCIM listener, the application API's listener and the background
//! workers (event retention, webhook deliveries), started and stopped in one place for `scimdesk serve` and for the dashboard when
//! it serves. Both listeners are bound before anything runs, so a taken address is an error
//! before the first request.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::directory::Directory;
use crate::server::{self, ServeError};
use crate::webhooks::{self, Clock, SystemClock};

/// How often event retention runs (it also runs in batches until nothing is left to trim).
const TRIM_EVERY: Duration = Duration::from_secs(10);
/// Events removed per write.
const TRIM_BATCH: usize = 10_000;

pub struct Service {
    dir: Directory,
    pub scim_addr: SocketAddr,
    pub api_addr: Option<SocketAddr>,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Service {
    /// Binds the configured listeners and starts serving.
    pub fn start(dir: Directory) -> Result<Service, ServeError> {
        let config = dir.config().clone();
        let scim = server::bind(config.server.listen).map_err(ServeError::Bind)?;
        let api = config
            .api
            .listen
            .map(server::bind)
            .transpose()
            .map_err(ServeError::Bind)?;
        Service::start_on(dir, scim, api)
    }

    /// Starts serving on listeners the caller bound.
    pub fn start_on(
        dir: Directory,
        scim: tokio::net::TcpListener,
        api: Option<tokio::net::TcpListener>,
    ) -> Result<Service, ServeError> {
        Service::start_with_clock(dir, scim, api, Arc::new(SystemClock))
    }

    /// [`Service::start_on`] with webhook retries timed by `clock` (tests).
    pub fn start_with_clock(
        dir: Directory,
        scim: tokio::net::TcpListener,
        api: Option<tokio::net::TcpListener>,
        clock: Arc<dyn Clock>,
    ) -> Result<Service, ServeError> {
        let client = webhooks::Client::new(&dir.config().webhooks).map_err(ServeError::Webhooks)?;
        let stop = CancellationToken::new();
        let scim_addr = scim
            .local_addr()
            .map_err(|e| ServeError::Bind(e.to_string()))?;
        let api_addr = api.as_ref().and_then(|l| l.local_addr().ok());
        let mut tasks = vec![tokio::spawn(server::serve(
            dir.clone(),
            scim,
            stop.clone().cancelled_owned(),
        ))];
        if let Some(api) = api {
            tasks.push(tokio::spawn(crate::api::serve(
                dir.clone(),
                api,
                stop.clone().cancelled_owned(),
            )));
        }
        tasks.push(tokio::spawn(trim_events(dir.clone(), stop.clone())));
        tasks.push(tokio::spawn(webhooks::run(
            dir.clone(),
            client,
            clock,
            stop.clone(),
        )));
        Ok(Service {
            dir,
            scim_addr,
            api_addr,
            stop,
            tasks,
        })
    }

    /// A token that stops the service when cancelled.
    pub fn stopper(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Stops accepting, lets in-flight requests finish, stops the workers, stores what
    /// activity is queued and flushes the store.
    pub async fn shutdown(self) {
        self.stop.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
        if let Err(e) = self.dir.close().await {
            tracing::error!(error = %e, "final flush failed");
        }
    }
}

/// Event retention: every few seconds, trims by age and count in small writes until nothing
/// is left to trim.
async fn trim_events(dir: Directory, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(TRIM_EVERY) => {}
        }
        loop {
            match dir.trim_events(TRIM_BATCH).await {
                Ok(0) => break,
                Ok(n) => tracing::debug!(events = n, "events trimmed"),
                Err(e) => {
                    tracing::error!(error = %e, "event retention failed");
                    break;
                }
            }
            if stop.is_cancelled() {
                return;
            }
        }
    }
}
