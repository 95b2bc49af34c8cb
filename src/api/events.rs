//! `GET /api/v1/events`: the change feed, in commit order, resumable by cursor, with an
//! optional long poll.

use std::time::Duration;

use super::params::Query;
use super::{ApiError, Reply, json};
use crate::directory::feed;
use crate::directory::{AppKey, Directory};
use crate::store::{cursor, parse_cursor};

/// Longest long poll, in seconds.
pub const MAX_WAIT: u64 = 60;
/// Most events one request looks at while filtering, so a narrow filter over a long feed
/// answers in bounded time (the reply's cursor moves past what was looked at).
const SCAN: usize = 100_000;

/// Lists events after a cursor.
#[utoipa::path(
    get,
    path = "/api/v1/events",
    tag = "events",
    operation_id = "list_events",
    params(
        ("after" = Option<String>, Query, description = "A cursor: events after it are returned. `now` starts at the current head (no events; with `wait`, the first new ones). Without it, from the oldest event still retained."),
        ("limit" = Option<usize>, Query, description = "1 to 1000; 100 by default."),
        ("organization" = Option<String>, Query, description = "Only this organization's events (an organization-scoped key sees only its own)."),
        ("type" = Option<String>, Query, description = "Comma-separated event types or families: `user.created,group.*`."),
        ("wait" = Option<u64>, Query, description = "0 to 60 seconds: when nothing matches yet, answer as soon as something does, else after this long with no events and the same cursor."),
    ),
    responses(
        (status = 200, description = "A page of events", body = super::openapi::EventList),
        (status = 400, description = "A parameter is wrong; `param` names it", body = super::error::ErrorBody),
        (status = 401, description = "No valid application key", body = super::error::ErrorBody),
        (status = 404, description = "An organization-scoped key asked for another organization", body = super::error::ErrorBody),
        (status = 410, description = "The cursor is older than retention: read the directory again, then follow the feed from that read's events_cursor", body = super::error::ErrorBody),
    ),
    security(("application_key" = []))
)]
pub async fn list(
    dir: &Directory,
    key: &AppKey,
    q: Query,
    stop: &tokio_util::sync::CancellationToken,
) -> Result<Reply, ApiError> {
    q.allow(&["after", "limit", "organization", "type", "wait"])?;
    let limit = q.limit()?;
    let wait = match q.get("wait") {
        None => 0,
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|w| *w <= MAX_WAIT)
            .ok_or_else(|| {
                ApiError::param(
                    "wait",
                    "invalid_parameter",
                    format!("wait must be 0 to {MAX_WAIT} seconds, not {v:?}"),
                )
            })?,
    };
    let types = q
        .get("type")
        .map(|t| {
            feed::parse_type_filter(t).map_err(|m| ApiError::param("type", "invalid_parameter", m))
        })
        .transpose()?
        .unwrap_or_default();
    let org = match (key.org.as_deref(), q.get("organization")) {
        (Some(mine), Some(asked)) if mine != asked => {
            return Err(ApiError::not_found(format!("no organization {asked:?}")));
        }
        (Some(mine), _) => Some(mine.to_string()),
        (None, asked) => asked.map(str::to_string),
    };
    let bounds = dir.feed_bounds()?;
    let after = match q.get("after") {
        None => bounds.trimmed_through,
        Some("now") => bounds.head,
        Some(c) => parse_cursor(c).ok_or_else(|| {
            ApiError::param(
                "after",
                "invalid_cursor",
                "after is not an event cursor: use an event's cursor, a reply's next_cursor, or now",
            )
        })?,
    };
    if after < bounds.trimmed_through {
        return Err(ApiError::new(
            410,
            "cursor_expired",
            "events after this cursor are past retention: read the directory again with the read API and follow the feed from its events_cursor",
        ));
    }
    let wanted =
        |t: &str, o: &str| org.as_deref().is_none_or(|w| w == o) && feed::type_matches(&types, t);
    // A stopping server answers long polls with what there is.
    let page = tokio::select! {
        page = dir.wait_events(after, limit, SCAN.max(limit), wanted, Duration::from_secs(wait)) => page?,
        _ = stop.cancelled() => dir.events_after(after, limit, SCAN.max(limit), wanted)?,
    };
    let next = page.events.last().map_or(page.scanned_to, |e| e.seq);
    let mut body =
        Vec::with_capacity(64 + page.events.iter().map(|e| e.json.len() + 1).sum::<usize>());
    body.extend_from_slice(b"{\"data\":[");
    for (i, e) in page.events.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&e.json);
    }
    let more = page.more || next < page.scanned_to;
    body.extend_from_slice(
        format!(
            "],\"next_cursor\":\"{}\",\"has_more\":{more}}}",
            cursor(next)
        )
        .as_bytes(),
    );
    Ok(json(200, body))
}
