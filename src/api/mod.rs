//! The application API: what the vendor's own application reads (the change feed and the
//! directory), on its own listener (`[api] listen`), authenticated with application keys.
//! Lists are envelopes with opaque cursors; every error is one JSON shape
//! (`{"error": {"code", "message", "param"}}`); every reply carries `x-request-id`. The
//! OpenAPI 3.1 document is generated from the handlers' declarations (`openapi.rs`).

mod error;
mod events;
pub mod openapi;
mod params;
mod read;

use std::sync::Arc;
use std::time::Instant;

use warp::Filter;
use warp::http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};

pub use error::ApiError;

use crate::directory::{AppKey, Directory};

pub type Reply = Response<Vec<u8>>;

/// Shared by every request.
pub struct State {
    pub dir: Directory,
    /// Cancelled when the service stops: long polls answer at once.
    pub stop: tokio_util::sync::CancellationToken,
}

/// A JSON reply.
pub(crate) fn json(status: u16, body: Vec<u8>) -> Reply {
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// The whole API as one warp filter.
pub fn filter(
    dir: Directory,
    stop: tokio_util::sync::CancellationToken,
) -> impl Filter<Extract = (Reply,), Error = std::convert::Infallible> + Clone {
    let state = Arc::new(State { dir, stop });
    warp::any()
        .map(move || state.clone())
        .and(warp::method())
        .and(warp::path::full())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::headers_cloned())
        .then(
            |state: Arc<State>,
             method: Method,
             path: warp::path::FullPath,
             query: String,
             headers: HeaderMap| async move {
                handle(&state, &method, path.as_str(), &query, &headers).await
            },
        )
}

/// Serves the API until `stop` is cancelled (long polls then answer at once).
pub async fn serve(
    dir: Directory,
    listener: tokio::net::TcpListener,
    stop: tokio_util::sync::CancellationToken,
) {
    warp::serve(filter(dir, stop.clone()))
        .incoming(listener)
        .graceful(stop.cancelled_owned())
        .run()
        .await;
}

async fn handle(
    state: &State,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
) -> Reply {
    let started = Instant::now();
    let request_id = crate::directory::rules::new_resource_id();
    let mut reply = match route(state, method, path, query, headers).await {
        Ok(r) => r,
        Err(e) => e.reply(),
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        reply.headers_mut().insert("x-request-id", v);
    }
    tracing::debug!(
        request_id,
        method = %method,
        path,
        status = reply.status().as_u16(),
        latency_us = started.elapsed().as_micros() as u64,
        "api request"
    );
    reply
}

/// The application key of a request, or the 401 every failure gets.
fn authenticate(state: &State, headers: &HeaderMap) -> Result<AppKey, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| {
            let (scheme, token) = h.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .ok_or_else(ApiError::unauthorized)?;
    state.dir.authenticate_app(token).map_err(ApiError::from)
}

async fn route(
    state: &State,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
) -> Result<Reply, ApiError> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let Some(rest) = segments.strip_prefix(&["api", "v1"]) else {
        return Err(ApiError::not_found(
            "no such endpoint: the API lives under /api/v1",
        ));
    };
    if method != Method::GET && method != Method::HEAD {
        return Err(ApiError::new(
            405,
            "method_not_allowed",
            "only GET is supported",
        ));
    }
    if rest == ["openapi.json"] {
        return Ok(json(200, openapi::document().into_bytes()));
    }
    let key = authenticate(state, headers)?;
    let q = params::Query::parse(query)?;
    let segs: Option<Vec<String>> = rest
        .iter()
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .ok()
                .map(|c| c.into_owned())
        })
        .collect();
    let segs = segs.ok_or_else(|| ApiError::not_found("no such endpoint"))?;
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let dir = &state.dir;
    match segs.as_slice() {
        ["events"] => events::list(dir, &key, q, &state.stop).await,
        ["organizations"] => read::organizations(dir, &key, q),
        ["organizations", org] => read::organization(dir, &key, org, q),
        ["organizations", org, "users"] => read::users(dir, &key, org, q),
        ["organizations", org, "users", id] => read::user(dir, &key, org, id, q),
        ["organizations", org, "users", id, "groups"] => read::user_groups(dir, &key, org, id, q),
        ["organizations", org, "groups"] => read::groups(dir, &key, org, q),
        ["organizations", org, "groups", id] => read::group(dir, &key, org, id, q),
        ["organizations", org, "groups", id, "members"] => {
            read::group_members(dir, &key, org, id, q)
        }
        _ => Err(ApiError::not_found("no such endpoint")),
    }
}
