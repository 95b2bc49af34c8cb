//! The admin socket's server: binding it safely, refusing other users, and answering calls,
//! the live activity stream and backups with the running server's own [`Control`].

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::Frame;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use super::wire::{self, Call, Hello, Line};
use crate::control::{Control, Error, ErrorKind};
use crate::directory::Directory;

/// Largest call body read.
const MAX_CALL: usize = 16 << 20;
/// How often the activity stream sends what it gathered.
const BATCH: Duration = Duration::from_millis(100);
/// Records shown per batch of the activity stream (all are counted).
const SHOWN_PER_BATCH: usize = 100;

/// A bound admin socket, removed when the server stops.
pub struct AdminListener {
    listener: tokio::net::UnixListener,
    path: PathBuf,
    /// The user the socket belongs to: this server's.
    owner: u32,
}

impl AdminListener {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Binds the admin socket at `path`: refuses a directory other users may write to, replaces a
/// socket left by a server that is gone, refuses when a live server answers on it, and makes
/// the socket owner-only.
pub fn bind(path: &Path) -> Result<AdminListener, String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    if let Some(why) = super::unsafe_dir(dir) {
        return Err(format!("refusing to serve: {why}"));
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) => {
            use std::os::unix::fs::FileTypeExt;
            if !meta.file_type().is_socket() {
                return Err(format!(
                    "{} exists and is not a socket: move it away or set [admin] socket",
                    path.display()
                ));
            }
            match std::os::unix::net::UnixStream::connect(path) {
                Ok(_) => {
                    return Err(format!("another scimdesk is serving on {}", path.display()));
                }
                // Nobody listens: a server that was killed left it.
                Err(_) => std::fs::remove_file(path).map_err(|e| {
                    format!("cannot replace the stale socket {}: {e}", path.display())
                })?,
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{}: {e}", path.display())),
    }
    let listener = tokio::net::UnixListener::bind(path)
        .map_err(|e| format!("cannot listen on the admin socket {}: {e}", path.display()))?;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let owner = std::fs::metadata(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .uid();
    Ok(AdminListener {
        listener,
        path: path.to_path_buf(),
        owner,
    })
}

/// What every connection shares.
struct State {
    ops: Arc<dyn Control>,
    dir: Directory,
    hello: Hello,
    stop: CancellationToken,
}

/// Serves the admin API until `stop`, then removes the socket.
pub async fn serve(
    listener: AdminListener,
    ops: Arc<dyn Control>,
    dir: Directory,
    hello: Hello,
    stop: CancellationToken,
) {
    let state = Arc::new(State {
        ops,
        dir,
        hello,
        stop: stop.clone(),
    });
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "admin socket accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if !same_user(&stream, listener.owner) {
            tracing::warn!("refused an admin connection from another user");
            continue;
        }
        let (state, stop) = (state.clone(), stop.clone());
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(&state, req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
        // Forget finished connections as we go.
        while connections.try_join_next().is_some() {}
    }
    // Calls in flight finish (streams end with the stop); the socket goes.
    while tokio::time::timeout(Duration::from_secs(10), connections.join_next())
        .await
        .ok()
        .flatten()
        .is_some()
    {}
    connections.abort_all();
    let _ = std::fs::remove_file(&listener.path);
}

/// Whether the peer runs as the socket's owner (this server's user) or as root.
fn same_user(stream: &tokio::net::UnixStream, owner: u32) -> bool {
    match stream.peer_cred() {
        Ok(cred) => cred.uid() == owner || cred.uid() == 0,
        Err(_) => false,
    }
}

/// A reply body: whole, or streamed from a channel.
pub enum Body {
    Full(Option<Bytes>),
    Stream(mpsc::Receiver<Bytes>),
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Body::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::Stream(rx) => rx.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b)))),
        }
    }
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut r = Response::new(Body::Full(Some(Bytes::from(
        serde_json::to_vec(value).unwrap_or_default(),
    ))));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

fn error(e: &Error) -> Response<Body> {
    let status = match e.kind {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::AlreadyExists | ErrorKind::Refused => StatusCode::CONFLICT,
        ErrorKind::Invalid => StatusCode::BAD_REQUEST,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    };
    json(status, &serde_json::json!({ "error": e }))
}

async fn handle(state: &State, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let Some(rest) = path.strip_prefix("/admin/v1/") else {
        return error(&Error::new(
            ErrorKind::NotFound,
            format!("no {path} here: the admin API is under /admin/v1/"),
        ));
    };
    match (req.method(), rest) {
        (&Method::GET, "hello") => json(
            StatusCode::OK,
            &serde_json::to_value(&state.hello).unwrap_or_default(),
        ),
        (&Method::GET, "activity/stream") => activity_stream(state),
        (&Method::GET, "backup") => backup(state),
        (&Method::POST, op) if !op.contains('/') => {
            let op = op.to_string();
            let body = match read_body(req).await {
                Ok(b) => b,
                Err(e) => return error(&e),
            };
            let args = if body.is_empty() {
                serde_json::Value::Null
            } else {
                match serde_json::from_slice(&body) {
                    Ok(v) => v,
                    Err(e) => {
                        return error(&Error::new(
                            ErrorKind::Invalid,
                            format!("the body is not JSON: {e}"),
                        ));
                    }
                }
            };
            let call = match Call::join(&op, args) {
                Ok(c) => c,
                Err(e) => return error(&Error::new(ErrorKind::Invalid, e)),
            };
            match wire::answer(state.ops.as_ref(), call).await {
                Ok(v) => json(StatusCode::OK, &v),
                Err(e) => error(&e),
            }
        }
        _ => error(&Error::new(
            ErrorKind::NotFound,
            format!("no {} {path}", req.method()),
        )),
    }
}

async fn read_body(req: Request<Incoming>) -> Result<Bytes, Error> {
    let limited = http_body_util::Limited::new(req.into_body(), MAX_CALL);
    limited
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| Error::new(ErrorKind::Invalid, format!("cannot read the call: {e}")))
}

/// JSON lines: every tenth of a second, the newest records gathered (at most a hundred) and
/// exact counts of all of them; ends when the client goes or the server stops.
fn activity_stream(state: &State) -> Response<Body> {
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    let mut feed = state.dir.activity().subscribe();
    let stop = state.stop.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(BATCH);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut shown: VecDeque<Arc<crate::activity::ActivityEvent>> = VecDeque::new();
        let mut counts: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
        let mut missed = 0;
        loop {
            // Woken once a tenth of a second, not once a record: the records gathered since
            // are taken from the live feed at once (it holds 4,096 per subscriber).
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tx.closed() => return,
                _ = tick.tick() => {}
            }
            loop {
                match feed.try_recv() {
                    Ok(e) => {
                        let c = counts
                            .entry(e.time.unix_timestamp().div_euclid(60))
                            .or_default();
                        c.0 += 1;
                        c.1 += u64::from(e.is_error());
                        if shown.len() == SHOWN_PER_BATCH {
                            shown.pop_front();
                        }
                        shown.push_back(e);
                    }
                    Err(broadcast::error::TryRecvError::Lagged(n)) => missed += n,
                    Err(broadcast::error::TryRecvError::Empty) => break,
                    Err(broadcast::error::TryRecvError::Closed) => return,
                }
            }
            if shown.is_empty() && missed == 0 {
                continue;
            }
            let mut out = Vec::new();
            let mut line = |l: &Line| {
                out.extend(serde_json::to_vec(l).unwrap_or_default());
                out.push(b'\n');
            };
            if missed > 0 {
                line(&Line::Missed(std::mem::take(&mut missed)));
            }
            for e in shown.drain(..) {
                line(&Line::Event(Box::new((*e).clone())));
            }
            line(&Line::Tally {
                minutes: std::mem::take(&mut counts)
                    .into_iter()
                    .map(|(m, (r, e))| (m, r, e))
                    .collect(),
                at: crate::store::now(),
            });
            if tx.send(Bytes::from(out)).await.is_err() {
                return;
            }
        }
    });
    let mut r = Response::new(Body::Stream(rx));
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/x-ndjson"),
    );
    r
}

/// Writes into a channel in chunks (the backup runs on a blocking thread).
struct ChannelWriter {
    tx: mpsc::Sender<Bytes>,
    buf: Vec<u8>,
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 256 << 10 {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buf));
        self.tx
            .blocking_send(chunk)
            .map_err(|_| std::io::Error::other("the client went away"))
    }
}

/// The backup file's bytes as they are made; a failure ends the stream early (the client
/// checks the file it wrote).
fn backup(state: &State) -> Response<Body> {
    let (tx, rx) = mpsc::channel::<Bytes>(8);
    let dir = state.dir.clone();
    tokio::task::spawn_blocking(move || {
        let out = ChannelWriter {
            tx,
            buf: Vec::new(),
        };
        if let Err(e) = dir.backup(out, |_| {}) {
            tracing::error!(error = %e, "backup failed");
        }
    });
    let mut r = Response::new(Body::Stream(rx));
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/octet-stream"),
    );
    r
}
