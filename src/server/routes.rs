//! Request routing and handlers. One catch-all warp filter hands every request to [`handle`],
//! which routes by method and path itself: SCIM wants the same error body for every failure
//! (unknown route 404, wrong method 405, auth 401) and warp's combinators cannot tell a 404
//! from a 405 reliably. Handlers call the directory and nothing below it.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use warp::http::{HeaderMap, Method, header};

use super::http::{self, Reply};
use crate::activity::{ActivityEvent, Change, Idp};
use crate::directory::resources::{Page, WriteOutcome};
use crate::directory::{AuthFailure, Directory};
use crate::scim::discovery;
use crate::scim::error::ScimError;
use crate::scim::list::ListParams;
use crate::scim::patch;
use crate::scim::resource::Projection;
use crate::scim::schema::LIST_SCHEMA;
use crate::store::{Kind, Organization};

/// Shared by every request.
pub struct State {
    pub dir: Directory,
}

/// What handling a request found out, for its activity record.
#[derive(Default)]
pub struct Trace {
    /// Whether the request will be recorded: describing it is skipped when not.
    recording: bool,
    /// Set once the path names an existing organization: only then is the request recorded.
    org: Option<String>,
    key_id: Option<String>,
    auth_failure: Option<AuthFailure>,
    resource_type: Option<String>,
    resource_id: Option<String>,
    subject: Option<String>,
    summary: Option<String>,
    changes: Vec<Change>,
}

/// A request after warp has taken it apart.
pub struct Request {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
}

/// Routes and answers one request. Never panics on client input; store failures are 500s
/// without internals.
pub async fn handle<S, B>(state: Arc<State>, req: Request, body: S) -> Reply
where
    S: futures_util::Stream<Item = Result<B, warp::Error>> + Unpin,
    B: bytes::Buf,
{
    let started = Instant::now();
    let mut trace = Trace {
        recording: state.dir.activity().is_enabled(),
        ..Trace::default()
    };
    let (reply, error) = match route(&state, &req, body, &mut trace).await {
        Ok(reply) => (reply, None),
        Err(e) => (http::error(&e), Some(e)),
    };
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
    error: Option<ScimError>,
    started: Instant,
) {
    let agent = req
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let summary = match (&error, trace.summary) {
        (Some(e), _) if e.status == 401 => format!(
            "401: {}",
            trace
                .auth_failure
                .map(|f| f.to_string())
                .unwrap_or_else(|| "refused".into())
        ),
        (Some(e), _) if e.status == 403 => format!("403: {}", e.detail),
        (Some(e), _) if e.status >= 500 => format!("{}: server error", e.status),
        (Some(e), _) => format!("rejected: {}", e.detail),
        (None, Some(s)) => s,
        (None, None) => format!("{} {}", req.method, req.path),
    };
    let path = if req.query.is_empty() {
        req.path.clone()
    } else {
        format!("{}?{}", req.path, req.query)
    };
    state.dir.activity().record(ActivityEvent {
        id: crate::directory::rules::new_resource_id(),
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

async fn route<S, B>(
    state: &State,
    req: &Request,
    body: S,
    trace: &mut Trace,
) -> Result<Reply, ScimError>
where
    S: futures_util::Stream<Item = Result<B, warp::Error>> + Unpin,
    B: bytes::Buf,
{
    let segments: Vec<&str> = req.path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["healthz"] => healthz(state, &req.method),
        ["scim", "v2", org, rest @ ..] => {
            let org = authenticate(state, org, &req.headers, trace)?;
            let rest: Option<Vec<String>> = rest.iter().map(|s| http::decode_segment(s)).collect();
            let rest = rest.ok_or_else(|| ScimError::not_found("no such endpoint"))?;
            let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
            scim(state, req, &org, &rest, body, trace).await
        }
        _ => Err(ScimError::not_found(
            "no such endpoint: SCIM lives under /scim/v2/{organization}",
        )),
    }
}

fn healthz(state: &State, method: &Method) -> Result<Reply, ScimError> {
    if method != Method::GET && method != Method::HEAD {
        return Ok(http::method_not_allowed("GET"));
    }
    state.dir.store().get_org("").map_err(|e| {
        tracing::error!(error = %e, "health check: store unreadable");
        ScimError::new(503, None, "the store is not available")
    })?;
    Ok(http::json(200, &json!({"status": "ok"})))
}

/// Bearer authentication. Every failure (no header, malformed, unknown or revoked secret,
/// another organization's key, unknown organization) is the same 401.
fn authenticate(
    state: &State,
    org_id: &str,
    headers: &HeaderMap,
    trace: &mut Trace,
) -> Result<Organization, ScimError> {
    // The organization is looked up first only to attribute the request; an unknown one gets
    // the same 401 as a bad token.
    let known = state.dir.get_org(org_id).ok();
    trace.org = known.as_ref().map(|o| o.id.clone());
    let mut refuse = |why: AuthFailure| {
        trace.auth_failure = Some(why);
        ScimError::unauthorized()
    };
    let header = match http::single_header(headers, &header::AUTHORIZATION) {
        Ok(Some(h)) => h,
        Ok(None) => return Err(refuse(AuthFailure::Missing)),
        Err(_) => return Err(refuse(AuthFailure::Malformed)),
    };
    let token = match header.trim().split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => return Err(refuse(AuthFailure::Malformed)),
    };
    let key = match state.dir.authenticate_detailed(org_id, token) {
        Ok(Ok(key)) => key,
        Ok(Err(why)) => return Err(refuse(why)),
        Err(e) => {
            tracing::error!(error = %e, "authentication lookup failed");
            return Err(ScimError::internal());
        }
    };
    let org = known.ok_or_else(|| refuse(AuthFailure::UnknownKey))?;
    trace.key_id = Some(key.id.clone());
    if !org.scim_enabled {
        return Err(ScimError::new(
            403,
            None,
            "SCIM is disabled for this organization",
        ));
    }
    if let Err(e) = state.dir.touch_key(&key) {
        tracing::warn!(error = %e, key = %key.id, "could not record key use");
    }
    Ok(org)
}

fn is_get(m: &Method) -> bool {
    m == Method::GET || m == Method::HEAD
}

fn endpoint(segment: &str) -> Option<Kind> {
    if segment.eq_ignore_ascii_case("Users") {
        Some(Kind::User)
    } else if segment.eq_ignore_ascii_case("Groups") {
        Some(Kind::Group)
    } else {
        None
    }
}

async fn scim<S, B>(
    state: &State,
    req: &Request,
    org: &Organization,
    rest: &[&str],
    body: S,
    trace: &mut Trace,
) -> Result<Reply, ScimError>
where
    S: futures_util::Stream<Item = Result<B, warp::Error>> + Unpin,
    B: bytes::Buf,
{
    let dir = &state.dir;
    let base = dir.scim_base_url(&org.id);
    if let Some(first) = rest.first() {
        trace.resource_type = Some(first.to_string());
    }
    let m = &req.method;
    let lower: Vec<String> = rest.iter().map(|s| s.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    match lower.as_slice() {
        ["serviceproviderconfig"] => {
            if !is_get(m) {
                return Ok(http::method_not_allowed("GET"));
            }
            let c = dir.config();
            trace.summary = Some("read ServiceProviderConfig".into());
            Ok(http::json(
                200,
                &discovery::service_provider_config(
                    &base,
                    c.scim.max_results,
                    c.server.max_body_bytes,
                ),
            ))
        }
        ["resourcetypes"] | ["schemas"] => {
            if !is_get(m) {
                return Ok(http::method_not_allowed("GET"));
            }
            let items = if lower[0] == "schemas" {
                discovery::schemas(&base)
            } else {
                discovery::resource_types(&base)
            };
            trace.summary = Some(format!("read {}", rest[0]));
            Ok(http::json(200, &discovery::list_all(items)))
        }
        ["resourcetypes", _] | ["schemas", _] => {
            if !is_get(m) {
                return Ok(http::method_not_allowed("GET"));
            }
            let items = if lower[0] == "schemas" {
                discovery::schemas(&base)
            } else {
                discovery::resource_types(&base)
            };
            let wanted = rest[1];
            trace.summary = Some(format!("read {} {wanted}", rest[0]));
            items
                .into_iter()
                .find(|i| {
                    i["id"]
                        .as_str()
                        .is_some_and(|id| id.eq_ignore_ascii_case(wanted))
                })
                .map(|i| http::json(200, &i))
                .ok_or_else(|| ScimError::not_found(format!("{} {wanted} not found", rest[0])))
        }
        ["me"] => Err(ScimError::new(
            501,
            None,
            "/Me is not supported: scimdesk has no user authentication",
        )),
        ["bulk"] => Err(ScimError::new(
            501,
            None,
            "/Bulk is not supported (see ServiceProviderConfig)",
        )),
        [".search"] => {
            if m != Method::POST {
                return Ok(http::method_not_allowed("POST"));
            }
            let params =
                ListParams::from_search(&read_json(state, req, body).await?, dir.list_limits())?;
            let reply = search_all(dir, org, &params)?;
            trace.summary = Some(describe_list("searched all resources", &params));
            Ok(reply)
        }
        [collection] => {
            let kind =
                endpoint(collection).ok_or_else(|| ScimError::not_found("no such endpoint"))?;
            trace.resource_type = Some(kind.resource_type().into());
            if is_get(m) {
                let query = http::parse_query(&req.query)?;
                let params = ListParams::from_query(&query, dir.list_limits())?;
                let page = dir.list_resources(&org.id, kind, &params)?;
                trace.summary = Some(list_summary(kind, &params, &page));
                Ok(list_reply(page))
            } else if m == Method::POST {
                let body = read_json(state, req, body).await?;
                subject_from_body(kind, &body, trace);
                let out = dir.create_resource(org, kind, &body).await?;
                describe_write(kind, "created", &out, trace);
                let projection = projection(req)?;
                let rendered = dir.render(&org.id, kind, &out.after, &projection)?;
                let location = dir.location(&org.id, kind, &out.after.id);
                let reply =
                    http::with_header(http::json(201, &rendered), header::LOCATION, &location);
                Ok(http::with_header(reply, header::ETAG, &out.after.etag()))
            } else {
                Ok(http::method_not_allowed("GET, POST"))
            }
        }
        [collection, ".search"] => {
            let kind =
                endpoint(collection).ok_or_else(|| ScimError::not_found("no such endpoint"))?;
            trace.resource_type = Some(kind.resource_type().into());
            if m != Method::POST {
                return Ok(http::method_not_allowed("POST"));
            }
            let params =
                ListParams::from_search(&read_json(state, req, body).await?, dir.list_limits())?;
            let page = dir.list_resources(&org.id, kind, &params)?;
            trace.summary = Some(list_summary(kind, &params, &page));
            Ok(list_reply(page))
        }
        [collection, _] => {
            let kind =
                endpoint(collection).ok_or_else(|| ScimError::not_found("no such endpoint"))?;
            trace.resource_type = Some(kind.resource_type().into());
            trace.resource_id = Some(rest[1].to_string());
            resource(state, req, org, kind, rest[1], body, trace).await
        }
        _ => Err(ScimError::not_found("no such endpoint")),
    }
}

fn projection(req: &Request) -> Result<Projection, ScimError> {
    let query = http::parse_query(&req.query)?;
    let get = |n: &str| {
        query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.as_str())
    };
    Ok(Projection::parse(
        get("attributes"),
        get("excludedAttributes"),
    ))
}

async fn read_json<S, B>(state: &State, req: &Request, body: S) -> Result<Value, ScimError>
where
    S: futures_util::Stream<Item = Result<B, warp::Error>> + Unpin,
    B: bytes::Buf,
{
    let limit = state.dir.config().server.max_body_bytes;
    let bytes = http::read_body(&req.headers, body, limit).await?;
    http::parse_json(&bytes)
}

fn if_match(req: &Request) -> Result<Option<&str>, ScimError> {
    http::single_header(&req.headers, &header::IF_MATCH)
        .map_err(|_| ScimError::bad_request("If-Match must be given once, as text"))
}

async fn resource<S, B>(
    state: &State,
    req: &Request,
    org: &Organization,
    kind: Kind,
    id: &str,
    body: S,
    trace: &mut Trace,
) -> Result<Reply, ScimError>
where
    S: futures_util::Stream<Item = Result<B, warp::Error>> + Unpin,
    B: bytes::Buf,
{
    let dir = &state.dir;
    let m = &req.method;
    let mut projection = projection(req)?;
    // Read it first: a GET answers from it, and a failed write is still attributed to it.
    let current = dir.get_resource(&org.id, kind, id);
    if let Ok(rec) = &current {
        trace.subject = subject_of(kind, &rec.attrs);
    }
    let out = if is_get(m) {
        let rec = current?;
        trace.summary = Some(format!(
            "read {} {}",
            kind.resource_type().to_lowercase(),
            trace.subject.as_deref().unwrap_or(id)
        ));
        if let Ok(Some(tags)) = http::single_header(&req.headers, &header::IF_NONE_MATCH) {
            let etag = rec.etag();
            if tags.split(',').any(|t| t.trim() == etag || t.trim() == "*") {
                return Ok(http::with_header(http::empty(304), header::ETAG, &etag));
            }
        }
        rec
    } else if m == Method::PUT {
        let body = read_json(state, req, body).await?;
        let out = dir
            .replace_resource(org, kind, id, &body, if_match(req)?)
            .await?;
        describe_write(kind, "replaced", &out, trace);
        out.after
    } else if m == Method::PATCH {
        let body = read_json(state, req, body).await?;
        let ops = patch::parse_request(&body)?;
        let out = dir
            .patch_resource(org, kind, id, &ops, if_match(req)?)
            .await?;
        describe_write(kind, "updated", &out, trace);
        // A group's PATCH reply leaves members out unless asked for, so a membership change
        // costs the same whatever the group's size.
        if kind == Kind::Group && projection.attributes.is_empty() {
            projection.excluded.push("members".into());
        }
        out.after
    } else if m == Method::DELETE {
        let gone = dir.delete_resource(org, kind, id, if_match(req)?).await?;
        if trace.recording {
            trace.changes = crate::activity::diff(Some(&gone.attrs), None);
        }
        trace.summary = Some(format!(
            "deleted {} {}",
            kind.resource_type().to_lowercase(),
            trace.subject.as_deref().unwrap_or(id)
        ));
        return Ok(http::empty(204));
    } else {
        return Ok(http::method_not_allowed("GET, PUT, PATCH, DELETE"));
    };
    let rendered = dir.render(&org.id, kind, &out, &projection)?;
    Ok(http::with_header(
        http::json(200, &rendered),
        header::ETAG,
        &out.etag(),
    ))
}

fn list_reply(page: Page) -> Reply {
    http::json(
        200,
        &json!({
            "schemas": [LIST_SCHEMA],
            "totalResults": page.total,
            "itemsPerPage": page.resources.len(),
            "startIndex": page.start_index,
            "Resources": page.resources,
        }),
    )
}

/// `POST /.search` at the root: Users then Groups, paged together.
fn search_all(
    dir: &Directory,
    org: &Organization,
    params: &ListParams,
) -> Result<Reply, ScimError> {
    let all = ListParams {
        start_index: 1,
        count: usize::MAX,
        ..params.clone()
    };
    let mut resources = Vec::new();
    let mut total = 0;
    for kind in [Kind::User, Kind::Group] {
        let page = dir.list_resources(&org.id, kind, &all)?;
        total += page.total;
        resources.extend(page.resources);
    }
    let resources: Vec<Value> = resources
        .into_iter()
        .skip(params.start_index - 1)
        .take(params.count)
        .collect();
    Ok(list_reply(Page {
        total,
        start_index: params.start_index,
        resources,
    }))
}

/// The userName of a user or displayName of a group.
fn subject_of(kind: Kind, attrs: &serde_json::Map<String, Value>) -> Option<String> {
    let name = match kind {
        Kind::User => "userName",
        Kind::Group => "displayName",
    };
    attrs.get(name).and_then(Value::as_str).map(str::to_string)
}

/// Names the subject of a create from its body, before it is validated, so a rejected create
/// still says whom it was for.
fn subject_from_body(kind: Kind, body: &Value, trace: &mut Trace) {
    let name = match kind {
        Kind::User => "userName",
        Kind::Group => "displayName",
    };
    trace.subject = body
        .as_object()
        .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
        .and_then(|(_, v)| v.as_str())
        .map(|s| s.chars().take(256).collect());
}

fn describe_list(what: &str, params: &ListParams) -> String {
    match &params.filter {
        Some(f) => format!("{what} where {f}"),
        None => what.to_string(),
    }
}

fn list_summary(kind: Kind, params: &ListParams, page: &Page) -> String {
    let noun = kind.endpoint().to_lowercase();
    match &params.filter {
        Some(f) => format!("looked up {noun} where {f}: {} found", page.total),
        None => format!(
            "listed {noun} {}-{} of {}",
            page.start_index,
            page.start_index + page.resources.len().saturating_sub(1),
            page.total
        ),
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// Most member ids kept in one activity record.
const MEMBER_IDS_RECORDED: usize = 50;

/// Fills the summary and changed attributes of a write.
fn describe_write(kind: Kind, verb: &str, out: &WriteOutcome, trace: &mut Trace) {
    if !trace.recording {
        return;
    }
    let before = out.before.as_ref().map(|b| &b.attrs);
    let after = &out.after.attrs;
    let name = subject_of(kind, after).unwrap_or_else(|| out.after.id.clone());
    trace.subject = Some(name.clone());
    trace.resource_id = Some(out.after.id.clone());
    trace.changes = crate::activity::diff(before, Some(after));
    let report = &out.members;
    let ids = |v: &[String]| {
        Some(json!(
            v.iter().take(MEMBER_IDS_RECORDED).collect::<Vec<_>>()
        ))
    };
    if !report.added.is_empty() {
        trace.changes.push(Change {
            attr: "members.added".into(),
            old: None,
            new: ids(&report.added),
        });
    }
    if !report.removed.is_empty() {
        trace.changes.push(Change {
            attr: "members.removed".into(),
            old: ids(&report.removed),
            new: None,
        });
    }
    if !report.unknown.is_empty() {
        trace.changes.push(Change {
            attr: "members.skipped".into(),
            old: None,
            new: ids(&report.unknown),
        });
    }
    let active = |m: Option<&serde_json::Map<String, Value>>| {
        m.and_then(|m| m.get("active")).and_then(Value::as_bool)
    };
    let mut parts = Vec::new();
    match (kind, before) {
        (Kind::User, None) => parts.push(format!("created user {name}")),
        (Kind::User, Some(_))
            if active(before) != Some(false) && active(Some(after)) == Some(false) =>
        {
            parts.push(format!("deactivated {name}"))
        }
        (Kind::User, Some(_))
            if active(before) == Some(false) && active(Some(after)) != Some(false) =>
        {
            parts.push(format!("reactivated {name}"))
        }
        (Kind::Group, None) => parts.push(format!(
            "created group {name} with {}",
            plural(report.added.len(), "member", "members")
        )),
        (Kind::Group, Some(old)) => {
            let old_name = old
                .get("displayName")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if old_name != name {
                parts.push(format!("renamed group {old_name} to {name}"));
            }
            if !report.added.is_empty() {
                parts.push(format!(
                    "added {} to {name}",
                    plural(report.added.len(), "member", "members")
                ));
            }
            if !report.removed.is_empty() {
                parts.push(format!(
                    "removed {} from {name}",
                    plural(report.removed.len(), "member", "members")
                ));
            }
        }
        _ => {}
    }
    if !report.unknown.is_empty() {
        parts.push(format!(
            "skipped {}",
            plural(report.unknown.len(), "unknown id", "unknown ids")
        ));
    }
    let attr_changes: Vec<&str> = trace
        .changes
        .iter()
        .map(|c| c.attr.as_str())
        .filter(|a| !a.starts_with("members.") && *a != "active" && *a != "displayName")
        .collect();
    if before.is_some() && parts.is_empty() {
        if attr_changes.is_empty() && trace.changes.is_empty() {
            parts.push(format!(
                "{verb} {} {name}: no change",
                kind.resource_type().to_lowercase()
            ));
        } else {
            parts.push(format!(
                "{verb} {} {name}: {}",
                kind.resource_type().to_lowercase(),
                attr_changes.join(", ")
            ));
        }
    } else if before.is_some() && !attr_changes.is_empty() {
        parts.push(format!("changed {}", attr_changes.join(", ")));
    }
    trace.summary = Some(parts.join(", "));
}
