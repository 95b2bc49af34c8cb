//! Request routing. One catch-all warp filter hands every request to [`handle`], which routes
//! by method and path itself: SCIM wants the same error body for every failure (unknown route
//! 404, wrong method 405, auth 401) and warp's combinators cannot tell a 404 from a 405
//! reliably. Handlers call the directory and nothing below it; `discovery`, `health` and
//! `resources` hold them.

mod discovery;
mod health;
mod resources;

use std::sync::Arc;
use std::time::Instant;

use warp::http::{HeaderMap, Method, header};

use super::error::ApiError;
use super::http::{self, Reply};
use crate::activity::{ActivityEvent, Change, Idp};
use crate::directory::{AuthFailure, Directory, Organization};
use crate::scim::schema::ResourceKind;

/// Shared by every request.
pub struct State {
    pub dir: Directory,
}

/// What handling a request found out, for its activity record.
#[derive(Default)]
pub struct Trace {
    /// The id of the request's activity record, given to the events its writes make.
    id: String,
    /// Whether the request will be recorded: describing it is skipped when not.
    recording: bool,
    /// Set once the path names an existing organization: only then is the request recorded.
    org: Option<String>,
    key_id: Option<String>,
    resource_type: Option<String>,
    resource_id: Option<String>,
    subject: Option<String>,
    summary: Option<String>,
    changes: Vec<Change>,
    /// Attributes sent that no schema declares.
    ignored: Vec<String>,
}

/// A request after warp has taken it apart.
pub struct Request {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
}

/// The body of a request, read only by the handlers that need it.
pub trait Body:
    futures_util::Stream<Item = Result<Self::Chunk, warp::Error>> + Unpin + Send
{
    type Chunk: bytes::Buf;
}

impl Trace {
    /// The activity record events may point to (none when nothing is recorded).
    fn request(&self) -> Option<&str> {
        self.recording.then_some(self.id.as_str())
    }
}

impl<S, B> Body for S
where
    S: futures_util::Stream<Item = Result<B, warp::Error>> + Unpin + Send,
    B: bytes::Buf,
{
    type Chunk = B;
}

/// Routes and answers one request. Never panics on client input; store failures are 500s
/// without internals.
pub async fn handle(state: Arc<State>, req: Request, body: impl Body) -> Reply {
    let started = Instant::now();
    let mut trace = Trace {
        id: crate::directory::rules::new_resource_id(),
        recording: state.dir.activity().is_enabled(),
        ..Trace::default()
    };
    let (reply, error) = match route(&state, &req, body, &mut trace).await {
        Ok(reply) => (reply, None),
        Err(e) => (http::error(&e), Some(e)),
    };
    tracing::debug!(
        org = trace.org.as_deref().unwrap_or("-"),
        method = %req.method,
        path = %req.path,
        status = reply.status().as_u16(),
        latency_us = started.elapsed().as_micros() as u64,
        "request"
    );
    if let Some(org) = trace.org.take()
        && trace.recording
    {
        record(
            &state,
            &req,
            org,
            trace,
            reply.status().as_u16(),
            error,
            started,
        );
    }
    reply
}

/// Builds the activity record of a finished request and hands it to the log (non-blocking).
fn record(
    state: &State,
    req: &Request,
    org: String,
    trace: Trace,
    status: u16,
    error: Option<ApiError>,
    started: Instant,
) {
    let agent = req
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let summary = match (error, trace.summary) {
        (Some(e), _) if e.status == 401 => format!(
            "401: {}",
            e.auth
                .map(|f| f.to_string())
                .unwrap_or_else(|| "refused".into())
        ),
        (Some(e), _) if e.status == 403 => format!("403: {}", e.detail),
        (Some(e), _) if e.status >= 500 => format!("{}: server error", e.status),
        (Some(e), _) => format!("rejected: {}", e.detail),
        (None, Some(s)) if !trace.ignored.is_empty() => {
            format!("{s}; ignored: {}", trace.ignored.join(", "))
        }
        (None, Some(s)) => s,
        (None, None) => format!("{} {}", req.method, req.path),
    };
    let path = if req.query.is_empty() {
        req.path.clone()
    } else {
        format!("{}?{}", req.path, req.query)
    };
    state.dir.activity().record(ActivityEvent {
        id: trace.id,
        time: crate::store::now(),
        org,
        key_id: trace.key_id,
        idp: Idp::recognise(agent, &req.query),
        method: req.method.to_string(),
        path: clip(path, 2_000),
        resource_type: trace.resource_type,
        resource_id: trace.resource_id,
        subject: trace.subject,
        status,
        latency_us: started.elapsed().as_micros() as u64,
        summary: clip(summary, 500),
        changes: trace.changes,
        ignored: trace.ignored,
    });
}

/// At most `max` characters of `s` (without copying when it is already short enough).
fn clip(s: String, max: usize) -> String {
    if s.len() <= max {
        s
    } else {
        s.chars().take(max).collect()
    }
}

async fn route(
    state: &State,
    req: &Request,
    body: impl Body,
    trace: &mut Trace,
) -> Result<Reply, ApiError> {
    let segments: Vec<&str> = req.path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["healthz"] => health::healthz(state, &req.method),
        ["scim", "v2", org, rest @ ..] => {
            let org = authenticate(state, org, &req.headers, trace)?;
            let rest: Option<Vec<String>> = rest.iter().map(|s| http::decode_segment(s)).collect();
            let rest = rest.ok_or_else(|| ApiError::not_found("no such endpoint"))?;
            let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
            scim(state, req, &org, &rest, body, trace).await
        }
        _ => Err(ApiError::not_found(
            "no such endpoint: SCIM lives under /scim/v2/{organization}",
        )),
    }
}

/// Bearer authentication. Every failure (no header, malformed, unknown or revoked secret,
/// another organization's key, unknown organization) is the same 401.
fn authenticate(
    state: &State,
    org_id: &str,
    headers: &HeaderMap,
    trace: &mut Trace,
) -> Result<Organization, ApiError> {
    // The organization is looked up first only to attribute the request; an unknown one gets
    // the same 401 as a bad token.
    let known = state.dir.get_org(org_id).ok();
    trace.org = known.as_ref().map(|o| o.id.clone());
    let header = match http::single_header(headers, &header::AUTHORIZATION) {
        Ok(Some(h)) => h,
        Ok(None) => return Err(ApiError::unauthorized(AuthFailure::Missing)),
        Err(_) => return Err(ApiError::unauthorized(AuthFailure::Malformed)),
    };
    let token = match header.trim().split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => return Err(ApiError::unauthorized(AuthFailure::Malformed)),
    };
    let key = state.dir.authenticate(known.as_ref(), token)?;
    trace.key_id = Some(key.id.clone());
    let org = known.ok_or_else(|| ApiError::unauthorized(AuthFailure::UnknownOrganization))?;
    state.dir.require_scim(&org)?;
    if let Err(e) = state.dir.touch_key(&key) {
        tracing::warn!(error = %e, key = %key.id, "could not record key use");
    }
    Ok(org)
}

async fn scim(
    state: &State,
    req: &Request,
    org: &Organization,
    rest: &[&str],
    body: impl Body,
    trace: &mut Trace,
) -> Result<Reply, ApiError> {
    if let Some(first) = rest.first() {
        trace.resource_type = Some(first.to_string());
    }
    let lower: Vec<String> = rest.iter().map(|s| s.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    match lower.as_slice() {
        ["serviceproviderconfig"] | ["resourcetypes" | "schemas", ..] => {
            discovery::handle(state, req, org, rest, trace)
        }
        ["me"] => Err(ApiError::new(
            501,
            "/Me is not supported: scimdesk has no user authentication",
        )),
        ["bulk"] => Err(ApiError::new(
            501,
            "/Bulk is not supported (see ServiceProviderConfig)",
        )),
        [".search"] => resources::search_all(state, req, org, body, trace).await,
        [collection, tail @ ..] => {
            let kind = ResourceKind::from_endpoint(collection)
                .ok_or_else(|| ApiError::not_found("no such endpoint"))?;
            trace.resource_type = Some(kind.resource_type().into());
            match tail {
                [] => resources::collection(state, req, org, kind, body, trace).await,
                [".search"] => resources::search(state, req, org, kind, body, trace).await,
                [_] => {
                    // The id as given: ids are matched case-sensitively.
                    let id = rest[1];
                    trace.resource_id = Some(id.to_string());
                    resources::one(state, req, org, kind, id, body, trace).await
                }
                _ => Err(ApiError::not_found("no such endpoint")),
            }
        }
        [] => Err(ApiError::not_found("no such endpoint")),
    }
}
