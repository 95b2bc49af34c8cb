//! The SCIM HTTP server: binding, the warp filter around [`routes`], graceful shutdown and
//! logging setup. Errors become HTTP replies here and nowhere below.

mod conn;
pub mod error;
pub mod http;
pub mod routes;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use warp::Filter;

use crate::directory::Directory;
use error::ApiError;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The store could not be opened (in use by another process, unreadable).
    #[error(transparent)]
    Open(#[from] crate::directory::Error),
    /// The listen address is taken or invalid.
    #[error("{0}")]
    Bind(String),
    /// The webhook client cannot be built (an unreadable `[webhooks] ca_file`).
    #[error("{0}")]
    Webhooks(String),
}

/// The whole server as one warp filter: every request reaches [`routes::handle`].
pub fn filter(
    dir: Directory,
) -> impl Filter<Extract = (http::Reply,), Error = std::convert::Infallible> + Clone {
    let state = Arc::new(routes::State { dir });
    warp::any()
        .map(move || state.clone())
        .and(warp::method())
        .and(warp::path::full())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::headers_cloned())
        .and(warp::body::stream())
        .then(
            |state: Arc<routes::State>,
             method,
             path: warp::path::FullPath,
             query,
             headers,
             body| async move {
                let req = routes::Request {
                    method,
                    path: path.as_str().to_string(),
                    query,
                    headers,
                };
                routes::handle(state, req, Box::pin(body)).await
            },
        )
        .recover(|_: warp::Rejection| async {
            // Unreachable with a catch-all route; kept so any rejection is still a SCIM error.
            Ok::<_, std::convert::Infallible>(http::error(&ApiError::not_found("no such endpoint")))
        })
        .unify()
}

/// Binds `addr`; errors are one line naming the address.
pub fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, String> {
    let std_listener =
        std::net::TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    std_listener
        .set_nonblocking(true)
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    tokio::net::TcpListener::from_std(std_listener)
        .map_err(|e| format!("cannot listen on {addr}: {e}"))
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish and flushes the store.
pub async fn serve(
    dir: Directory,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    conn::serve(filter(dir.clone()), listener, shutdown).await;
    if let Err(e) = dir.durable().await {
        tracing::error!(error = %e, "final flush failed");
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SCIMDESK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colours only for a person at a terminal; a service manager's log gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}
