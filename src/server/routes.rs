//! Request routing and handlers. One catch-all warp filter hands every request to [`handle`],
//! which routes by method and path itself: SCIM wants the same error body for every failure
//! (unknown route 404, wrong method 405, auth 401) and warp's combinators cannot tell a 404
//! from a 405 reliably. Handlers call the directory and nothing below it.

use std::sync::Arc;

use serde_json::{Value, json};
use warp::http::{HeaderMap, Method, header};

use super::http::{self, Reply};
use crate::directory::Directory;
use crate::directory::resources::Page;
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
    match route(&state, &req, body).await {
        Ok(reply) => reply,
        Err(e) => http::error(&e),
    }
}

async fn route<S, B>(state: &State, req: &Request, body: S) -> Result<Reply, ScimError>
where
    S: futures_util::Stream<Item = Result<B, warp::Error>> + Unpin,
    B: bytes::Buf,
{
    let segments: Vec<&str> = req.path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["healthz"] => healthz(state, &req.method),
        ["scim", "v2", org, rest @ ..] => {
            let org = authenticate(state, org, &req.headers)?;
            let rest: Option<Vec<String>> = rest.iter().map(|s| http::decode_segment(s)).collect();
            let rest = rest.ok_or_else(|| ScimError::not_found("no such endpoint"))?;
            let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
            scim(state, req, &org, &rest, body).await
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
) -> Result<Organization, ScimError> {
    let header = http::single_header(headers, &header::AUTHORIZATION)
        .map_err(|_| ScimError::unauthorized())?
        .ok_or_else(ScimError::unauthorized)?;
    let token = match header.trim().split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => return Err(ScimError::unauthorized()),
    };
    let key = state
        .dir
        .authenticate(org_id, token)
        .map_err(|e| {
            tracing::error!(error = %e, "authentication lookup failed");
            ScimError::internal()
        })?
        .ok_or_else(ScimError::unauthorized)?;
    let org = state
        .dir
        .get_org(org_id)
        .map_err(|_| ScimError::unauthorized())?;
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
) -> Result<Reply, ScimError>
where
    S: futures_util::Stream<Item = Result<B, warp::Error>> + Unpin,
    B: bytes::Buf,
{
    let dir = &state.dir;
    let base = dir.scim_base_url(&org.id);
    let m = &req.method;
    let lower: Vec<String> = rest.iter().map(|s| s.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    match lower.as_slice() {
        ["serviceproviderconfig"] => {
            if !is_get(m) {
                return Ok(http::method_not_allowed("GET"));
            }
            let c = dir.config();
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
            search_all(dir, org, &params)
        }
        [collection] => {
            let kind =
                endpoint(collection).ok_or_else(|| ScimError::not_found("no such endpoint"))?;
            if is_get(m) {
                let query = http::parse_query(&req.query)?;
                let params = ListParams::from_query(&query, dir.list_limits())?;
                Ok(list_reply(dir.list_resources(&org.id, kind, &params)?))
            } else if m == Method::POST {
                let body = read_json(state, req, body).await?;
                let out = dir.create_resource(org, kind, &body).await?;
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
            if m != Method::POST {
                return Ok(http::method_not_allowed("POST"));
            }
            let params =
                ListParams::from_search(&read_json(state, req, body).await?, dir.list_limits())?;
            Ok(list_reply(dir.list_resources(&org.id, kind, &params)?))
        }
        [collection, _] => {
            let kind =
                endpoint(collection).ok_or_else(|| ScimError::not_found("no such endpoint"))?;
            resource(state, req, org, kind, rest[1], body).await
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
) -> Result<Reply, ScimError>
where
    S: futures_util::Stream<Item = Result<B, warp::Error>> + Unpin,
    B: bytes::Buf,
{
    let dir = &state.dir;
    let m = &req.method;
    let mut projection = projection(req)?;
    let out = if is_get(m) {
        let rec = dir.get_resource(&org.id, kind, id)?;
        if let Ok(Some(tags)) = http::single_header(&req.headers, &header::IF_NONE_MATCH) {
            let etag = rec.etag();
            if tags.split(',').any(|t| t.trim() == etag || t.trim() == "*") {
                return Ok(http::with_header(http::empty(304), header::ETAG, &etag));
            }
        }
        rec
    } else if m == Method::PUT {
        let body = read_json(state, req, body).await?;
        dir.replace_resource(org, kind, id, &body, if_match(req)?)
            .await?
            .after
    } else if m == Method::PATCH {
        let body = read_json(state, req, body).await?;
        let ops = patch::parse_request(&body)?;
        let out = dir
            .patch_resource(org, kind, id, &ops, if_match(req)?)
            .await?;
        // A group's PATCH reply leaves members out unless asked for, so a membership change
        // costs the same whatever the group's size.
        if kind == Kind::Group && projection.attributes.is_empty() {
            projection.excluded.push("members".into());
        }
        out.after
    } else if m == Method::DELETE {
        dir.delete_resource(org, kind, id, if_match(req)?).await?;
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
