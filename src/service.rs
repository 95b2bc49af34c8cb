//! The running service: the SCIM listener, the application API's listener and the background
//! workers (event retention, webhook deliveries), started and stopped in one place for `scimdesk serve` and for the dashboard when
//! it serves. Both listeners are bound before anything runs, so a taken address is an error
//! before the first request.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::admin;
use crate::control::Local;
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
    /// The admin socket, when this service listens on one.
    pub admin_socket: Option<std::path::PathBuf>,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Service {
    /// Binds the configured listeners (SCIM, the application API, the admin socket) and
    /// starts serving.
    pub fn start(dir: Directory) -> Result<Service, ServeError> {
        let config = dir.config().clone();
        let scim = server::bind(config.server.listen).map_err(ServeError::Bind)?;
        let api = config
            .api
            .listen
            .map(server::bind)
            .transpose()
            .map_err(ServeError::Bind)?;
        let admin = admin::bind(&admin::socket_path(&config)).map_err(ServeError::Bind)?;
        Service::start_with_clock(dir, scim, api, Some(admin), Arc::new(SystemClock))
    }

    /// Starts serving on listeners the caller bound (no admin socket).
    pub fn start_on(
        dir: Directory,
        scim: tokio::net::TcpListener,
        api: Option<tokio::net::TcpListener>,
    ) -> Result<Service, ServeError> {
        Service::start_with_clock(dir, scim, api, None, Arc::new(SystemClock))
    }

    /// Starts serving on listeners the caller bound, with webhook retries timed by `clock`.
    pub fn start_with_clock(
        dir: Directory,
        scim: tokio::net::TcpListener,
        api: Option<tokio::net::TcpListener>,
        admin: Option<admin::AdminListener>,
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
                stop.clone(),
            )));
        }
        tasks.push(tokio::spawn(trim_events(dir.clone(), stop.clone())));
        tasks.push(tokio::spawn(webhooks::run(
            dir.clone(),
            client,
            clock,
            stop.clone(),
        )));
        let admin_socket = admin.as_ref().map(|a| a.path().to_path_buf());
        if let Some(listener) = admin {
            let hello = admin::wire::Hello {
                pid: std::process::id(),
                version: env!("CARGO_PKG_VERSION").to_string(),
                scim: scim_addr.to_string(),
                api: api_addr.map(|a| a.to_string()),
                public_url: dir.config().server.public_url.clone(),
            };
            let ops = Arc::new(Local::new(dir.clone(), "serving"));
            tasks.push(tokio::spawn(admin::serve(
                listener,
                ops,
                dir.clone(),
                hello,
                stop.clone(),
            )));
        }
        Ok(Service {
            dir,
            scim_addr,
            api_addr,
            admin_socket,
            stop,
            tasks,
        })
    }

    /// A token that stops the service when cancelled.
    pub fn stopper(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Stops accepting, lets in-flight requests finish (for `[server] shutdown_grace` at
    /// most), stops the workers, stores what activity is queued, flushes the store and removes
    /// the admin socket.
    pub async fn shutdown(self) {
        self.stop.cancel();
        let grace = self.dir.config().server.shutdown_grace;
        let deadline = tokio::time::Instant::now() + grace;
        for mut t in self.tasks {
            if tokio::time::timeout_at(deadline, &mut t).await.is_err() {
                tracing::warn!(
                    "a request was still running after the shutdown grace period: cut off"
                );
                t.abort();
            }
        }
        if let Err(e) = self.dir.close().await {
            tracing::error!(error = %e, "final flush failed");
        }
        if let Some(path) = &self.admin_socket {
            let _ = std::fs::remove_file(path);
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
