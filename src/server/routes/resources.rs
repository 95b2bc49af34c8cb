//! `/Users`, `/Groups`, their members and `.search`: list, create, read, replace, patch,
//! delete (RFC 7644 §3.3-3.6).

use serde_json::{Value, json};
use warp::http::{Method, header};

use super::{Body, Request, State, Trace};
use crate::activity::describe::{self, Written};
use crate::directory::{Directory, Organization, Page, WriteOutcome};
use crate::scim::list::ListParams;
use crate::scim::patch;
use crate::scim::resource::Projection;
use crate::scim::schema::{LIST_SCHEMA, ResourceKind};
use crate::server::error::ApiError;
use crate::server::http::{self, Reply};

fn is_get(m: &Method) -> bool {
    m == Method::GET || m == Method::HEAD
}

fn projection(req: &Request) -> Result<Projection, ApiError> {
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

async fn read_json(state: &State, req: &Request, body: impl Body) -> Result<Value, ApiError> {
    let limit = state.dir.config().server.max_body_bytes;
    let bytes = http::read_body(&req.headers, body, limit).await?;
    Ok(http::parse_json(&bytes)?)
}

fn if_match(req: &Request) -> Result<Option<&str>, ApiError> {
    http::single_header(&req.headers, &header::IF_MATCH)
        .map_err(|_| ApiError::new(400, "If-Match must be given once, as text"))
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

fn list_summary(kind: ResourceKind, params: &ListParams, page: &Page) -> String {
    describe::list(
        kind,
        params.filter.as_ref(),
        page.start_index,
        page.resources.len(),
        page.total,
    )
}

/// Fills the summary and changed attributes of a write.
fn describe_write(kind: ResourceKind, verb: &str, out: &WriteOutcome, trace: &mut Trace) {
    if !trace.recording {
        return;
    }
    let narration = describe::write(
        verb,
        &Written {
            kind,
            id: &out.after.id,
            before: out.before.as_ref().map(|b| &b.attrs),
            after: &out.after.attrs,
            added: &out.members.added,
            removed: &out.members.removed,
            unknown: &out.members.unknown,
        },
    );
    trace.subject = Some(narration.subject);
    trace.resource_id = Some(out.after.id.clone());
    trace.summary = Some(narration.summary);
    trace.changes = narration.changes;
}

/// `GET` (list) and `POST` (create) on `/Users` or `/Groups`.
pub async fn collection(
    state: &State,
    req: &Request,
    org: &Organization,
    kind: ResourceKind,
    body: impl Body,
    trace: &mut Trace,
) -> Result<Reply, ApiError> {
    let dir = &state.dir;
    if is_get(&req.method) {
        let query = http::parse_query(&req.query)?;
        let params = ListParams::from_query(&query, dir.list_limits())?;
        let page = dir.list_resources(&org.id, kind, &params)?;
        trace.summary = Some(list_summary(kind, &params, &page));
        Ok(list_reply(page))
    } else if req.method == Method::POST {
        let body = read_json(state, req, body).await?;
        trace.subject = describe::subject_from_body(kind, &body);
        let mut ignored = Vec::new();
        let out = dir
            .create_resource_noting(org, kind, &body, trace.request(), &mut ignored)
            .await?;
        describe_write(kind, "created", &out, trace);
        trace.ignored = ignored;
        let rendered = dir.render(&org.id, kind, &out.after, &projection(req)?)?;
        let location = dir.location(&org.id, kind, &out.after.id);
        let reply = http::with_header(http::json(201, &rendered), header::LOCATION, &location);
        Ok(http::with_header(reply, header::ETAG, &out.after.etag()))
    } else {
        Ok(http::method_not_allowed("GET, POST"))
    }
}

/// `POST /Users/.search` or `/Groups/.search`.
pub async fn search(
    state: &State,
    req: &Request,
    org: &Organization,
    kind: ResourceKind,
    body: impl Body,
    trace: &mut Trace,
) -> Result<Reply, ApiError> {
    if req.method != Method::POST {
        return Ok(http::method_not_allowed("POST"));
    }
    let dir = &state.dir;
    let params = ListParams::from_search(&read_json(state, req, body).await?, dir.list_limits())?;
    let page = dir.list_resources(&org.id, kind, &params)?;
    trace.summary = Some(list_summary(kind, &params, &page));
    Ok(list_reply(page))
}

/// `POST /.search` at the root: Users then Groups, paged together.
pub async fn search_all(
    state: &State,
    req: &Request,
    org: &Organization,
    body: impl Body,
    trace: &mut Trace,
) -> Result<Reply, ApiError> {
    if req.method != Method::POST {
        return Ok(http::method_not_allowed("POST"));
    }
    let dir: &Directory = &state.dir;
    let params = ListParams::from_search(&read_json(state, req, body).await?, dir.list_limits())?;
    let all = ListParams {
        start_index: 1,
        count: usize::MAX,
        ..params.clone()
    };
    let mut resources = Vec::new();
    let mut total = 0;
    for kind in ResourceKind::ALL {
        let page = dir.list_resources(&org.id, kind, &all)?;
        total += page.total;
        resources.extend(page.resources);
    }
    let resources: Vec<Value> = resources
        .into_iter()
        .skip(params.start_index - 1)
        .take(params.count)
        .collect();
    trace.summary = Some(describe::search(
        "searched all resources",
        params.filter.as_ref(),
    ));
    Ok(list_reply(Page {
        total,
        start_index: params.start_index,
        resources,
    }))
}

/// `GET`, `PUT`, `PATCH`, `DELETE` on one user or group.
pub async fn one(
    state: &State,
    req: &Request,
    org: &Organization,
    kind: ResourceKind,
    id: &str,
    body: impl Body,
    trace: &mut Trace,
) -> Result<Reply, ApiError> {
    let dir = &state.dir;
    let m = &req.method;
    let projection = projection(req)?;
    // Read it first: a GET answers from it, and a failed write is still attributed to it.
    let current = dir.get_resource(&org.id, kind, id);
    if let Ok(rec) = &current {
        trace.subject = describe::subject_of(kind, &rec.attrs);
    }
    let subject = |trace: &Trace| trace.subject.clone().unwrap_or_else(|| id.to_string());
    let out = if is_get(m) {
        let rec = current?;
        trace.summary = Some(describe::one("read", kind, &subject(trace)));
        if let Ok(Some(tags)) = http::single_header(&req.headers, &header::IF_NONE_MATCH) {
            let etag = rec.etag();
            if tags.split(',').any(|t| t.trim() == etag || t.trim() == "*") {
                return Ok(http::with_header(http::empty(304), header::ETAG, &etag));
            }
        }
        rec
    } else if m == Method::PUT {
        let body = read_json(state, req, body).await?;
        let mut ignored = Vec::new();
        let out = dir
            .replace_resource_noting(
                org,
                kind,
                id,
                &body,
                if_match(req)?,
                trace.request(),
                &mut ignored,
            )
            .await?;
        describe_write(kind, "replaced", &out, trace);
        trace.ignored = ignored;
        out.after
    } else if m == Method::PATCH {
        let body = read_json(state, req, body).await?;
        let ops = patch::parse_request(&body)?;
        let out = dir
            .patch_resource(org, kind, id, &ops, if_match(req)?, trace.request())
            .await?;
        describe_write(kind, "updated", &out, trace);
        if trace.recording {
            trace.ignored = dir.ignored_in_patch(&org.id, kind, &ops);
        }
        // A group's PATCH answers 204 (RFC 7644 §3.5.2 allows the whole resource or nothing;
        // the whole resource would cost the group's size) unless `attributes` asks for some.
        if kind == ResourceKind::Group && projection.attributes.is_empty() {
            return Ok(http::with_header(
                http::empty(204),
                header::ETAG,
                &out.after.etag(),
            ));
        }
        out.after
    } else if m == Method::DELETE {
        let gone = dir
            .delete_resource(org, kind, id, if_match(req)?, trace.request())
            .await?;
        if trace.recording {
            trace.changes = crate::activity::diff(Some(&gone.attrs), None);
        }
        trace.summary = Some(describe::one("deleted", kind, &subject(trace)));
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
