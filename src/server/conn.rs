//! The SCIM listener's connection loop: warp's service on hyper's HTTP/1.1 connections, with
//! graceful shutdown, and one repair hyper offers no hook for.
//!
//! hyper refuses a request line longer than 64 KiB itself, before any handler runs, with a
//! bodiless `414 URI Too Long` (a filter of a few thousand clauses gets there). An IdP's log
//! then shows an empty reply. [`UriGuard`] sits between hyper and the socket and replaces that
//! one response, as hyper writes it, with a SCIM error body (hyper closes the connection after
//! it either way). Nothing scimdesk itself answers is a 414, and a response body never starts
//! with a status line, so nothing else is touched.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::scim::schema::ERROR_SCHEMA;

/// The start of hyper's own answer to an over-long request line.
const HYPER_414: &[u8] = b"HTTP/1.1 414 ";

/// The whole response sent instead.
fn scim_414() -> Vec<u8> {
    let body = serde_json::json!({
        "schemas": [ERROR_SCHEMA],
        "status": "414",
        "detail": format!(
            "the request URL is longer than 65534 bytes (a filter may have at most {} bytes)",
            crate::scim::filter::MAX_FILTER_LEN
        ),
    })
    .to_string();
    format!(
        "HTTP/1.1 414 URI Too Long\r\ncontent-type: application/scim+json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A connection whose bodiless 414 from hyper becomes a SCIM error (see the module's note).
pub struct UriGuard<T> {
    inner: T,
    /// The replacement being written, and how much of it is out.
    replacing: Option<(Vec<u8>, usize)>,
}

impl<T> UriGuard<T> {
    pub fn new(inner: T) -> UriGuard<T> {
        UriGuard {
            inner,
            replacing: None,
        }
    }
}

impl<T: AsyncWrite + Unpin> UriGuard<T> {
    /// Writes what is left of the replacement; Ready once it is all out.
    fn drive(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, at)) = &mut self.replacing {
            if *at >= bytes.len() {
                return Poll::Ready(Ok(()));
            }
            match Pin::new(&mut self.inner).poll_write(cx, &bytes[*at..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *at += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for UriGuard<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for UriGuard<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.replacing.is_none() && buf.starts_with(HYPER_414) {
            this.replacing = Some((scim_414(), 0));
        }
        if this.replacing.is_some() {
            // hyper's own bytes are dropped: the replacement stands for them.
            return match this.drive(cx) {
                Poll::Ready(Ok(())) => Poll::Ready(Ok(buf.len())),
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            };
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match this.drive(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.inner).poll_flush(cx),
            other => other,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match this.drive(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.inner).poll_shutdown(cx),
            other => other,
        }
    }
}

/// Serves `filter` on `listener` until `shutdown` resolves, then waits for the connections'
/// requests in flight to finish (the caller bounds how long).
pub async fn serve<F>(
    filter: F,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) where
    F: warp::Filter + Clone + Send + Sync + 'static,
    F::Extract: warp::Reply,
{
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(warp::service(filter.clone()));
        let io = hyper_util::rt::TokioIo::new(UriGuard::new(stream));
        let conn = hyper::server::conn::http1::Builder::new().serve_connection(io, service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
