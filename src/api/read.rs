//! The read API: organizations, users, groups and memberships, as the change feed's events
//! show them, paged by keyset cursors (stable while writes happen: a walk sees every record
//! that exists throughout, once). Every list carries `events_cursor`, the feed's head read
//! before the list: read everything, then follow the feed from there, and nothing is missed.

use serde::Serialize;
use serde_json::Value;

use super::params::{Query, list_cursor};
use super::{ApiError, Reply, json};
use crate::directory::feed::{org_view, resource_view};
use crate::directory::{AppKey, Directory, Organization};
use crate::scim::schema::ResourceKind;
use crate::store::cursor;

/// A page of a list.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ListReply {
    #[schema(value_type = Vec<Object>)]
    pub data: Vec<Value>,
    /// Pass as `after` for the next page; null when this is the last.
    pub next_cursor: Option<String>,
    pub has_more: bool,
    /// The change feed's head when this page was read: follow `/events?after=` from it.
    pub events_cursor: String,
}

fn reply<T: Serialize>(body: &T) -> Result<Reply, ApiError> {
    Ok(json(200, serde_json::to_vec(body).unwrap_or_default()))
}

/// The organization if the key may see it, else 404 (never 403: another organization's
/// existence is not revealed).
fn visible(dir: &Directory, key: &AppKey, org: &str) -> Result<Organization, ApiError> {
    if !key.sees(org) {
        return Err(ApiError::not_found(format!("no organization {org:?}")));
    }
    dir.get_org(org).map_err(ApiError::from)
}

/// Builds a page from up to `limit + 1` items: the extra one only says there is more.
fn page(mut items: Vec<(String, Value)>, limit: usize, events_cursor: u64) -> ListReply {
    let has_more = items.len() > limit;
    items.truncate(limit);
    ListReply {
        next_cursor: if has_more {
            items.last().map(|(k, _)| list_cursor(k))
        } else {
            None
        },
        has_more,
        data: items.into_iter().map(|(_, v)| v).collect(),
        events_cursor: cursor(events_cursor),
    }
}

/// Lists the organizations the key may see.
#[utoipa::path(get, path = "/api/v1/organizations", tag = "directory",
    params(
        ("limit" = Option<usize>, Query, description = "1 to 1000; 100 by default."),
        ("after" = Option<String>, Query, description = "The previous page's next_cursor."),
    ),
    responses(
        (status = 200, description = "Organizations, by id", body = ListReply),
        (status = 400, body = super::error::ErrorBody), (status = 401, body = super::error::ErrorBody),
    ),
    security(("application_key" = [])))]
pub fn organizations(dir: &Directory, key: &AppKey, q: Query) -> Result<Reply, ApiError> {
    q.allow(&["limit", "after"])?;
    let (limit, after) = (q.limit()?, q.list_cursor()?);
    let head = dir.feed_bounds()?.head;
    let orgs = dir
        .orgs_after(after.as_deref(), usize::MAX)?
        .into_iter()
        .filter(|o| key.sees(&o.id))
        .take(limit + 1)
        .map(|o| (o.id.clone(), org_view(&o)))
        .collect();
    reply(&page(orgs, limit, head))
}

/// One organization.
#[utoipa::path(get, path = "/api/v1/organizations/{org}", tag = "directory",
    params(("org" = String, Path, description = "Organization id")),
    responses((status = 200, description = "The organization", body = Object),
        (status = 404, body = super::error::ErrorBody)),
    security(("application_key" = [])))]
pub fn organization(dir: &Directory, key: &AppKey, org: &str, q: Query) -> Result<Reply, ApiError> {
    q.allow(&[])?;
    reply(&org_view(&visible(dir, key, org)?))
}

/// Users or groups, by id, keyset-paged, optionally only active or inactive users.
fn resources(
    dir: &Directory,
    key: &AppKey,
    org: &str,
    kind: ResourceKind,
    q: Query,
) -> Result<Reply, ApiError> {
    let known: &[&str] = match kind {
        ResourceKind::User => &["limit", "after", "active"],
        ResourceKind::Group => &["limit", "after"],
    };
    q.allow(known)?;
    let (limit, mut after) = (q.limit()?, q.list_cursor()?);
    let active = q.flag("active")?;
    visible(dir, key, org)?;
    let head = dir.feed_bounds()?.head;
    let mut items = Vec::new();
    while items.len() <= limit {
        let batch = dir.resources_after(org, kind, after.as_deref(), limit + 1)?;
        let Some(last) = batch.last() else { break };
        after = Some(last.id.clone());
        let full = batch.len() > limit;
        for rec in batch {
            let v = resource_view(org, kind, &rec);
            if active.is_none_or(|a| v["active"].as_bool() == Some(a)) {
                items.push((rec.id, v));
            }
        }
        if !full {
            break;
        }
    }
    reply(&page(items, limit, head))
}

/// An organization's users, by id (creation order).
#[utoipa::path(get, path = "/api/v1/organizations/{org}/users", tag = "directory",
    params(("org" = String, Path, description = "Organization id"),
        ("limit" = Option<usize>, Query, description = "1 to 1000; 100 by default."),
        ("after" = Option<String>, Query, description = "The previous page's next_cursor."),
        ("active" = Option<bool>, Query, description = "Only active (true) or deactivated (false) users.")),
    responses((status = 200, description = "Users", body = ListReply),
        (status = 400, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)),
    security(("application_key" = [])))]
pub fn users(dir: &Directory, key: &AppKey, org: &str, q: Query) -> Result<Reply, ApiError> {
    resources(dir, key, org, ResourceKind::User, q)
}

/// An organization's groups, by id (creation order).
#[utoipa::path(get, path = "/api/v1/organizations/{org}/groups", tag = "directory",
    params(("org" = String, Path, description = "Organization id"),
        ("limit" = Option<usize>, Query, description = "1 to 1000; 100 by default."),
        ("after" = Option<String>, Query, description = "The previous page's next_cursor.")),
    responses((status = 200, description = "Groups", body = ListReply),
        (status = 400, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)),
    security(("application_key" = [])))]
pub fn groups(dir: &Directory, key: &AppKey, org: &str, q: Query) -> Result<Reply, ApiError> {
    resources(dir, key, org, ResourceKind::Group, q)
}

fn one(
    dir: &Directory,
    key: &AppKey,
    org: &str,
    kind: ResourceKind,
    id: &str,
    q: Query,
) -> Result<Reply, ApiError> {
    q.allow(&[])?;
    visible(dir, key, org)?;
    let rec = dir.get_resource(org, kind, id)?;
    reply(&resource_view(org, kind, &rec))
}

/// One user.
#[utoipa::path(get, path = "/api/v1/organizations/{org}/users/{id}", tag = "directory",
    params(("org" = String, Path, description = "Organization id"), ("id" = String, Path, description = "User id")),
    responses((status = 200, description = "The user", body = Object), (status = 404, body = super::error::ErrorBody)),
    security(("application_key" = [])))]
pub fn user(
    dir: &Directory,
    key: &AppKey,
    org: &str,
    id: &str,
    q: Query,
) -> Result<Reply, ApiError> {
    one(dir, key, org, ResourceKind::User, id, q)
}

/// One group (its members are a list of their own).
#[utoipa::path(get, path = "/api/v1/organizations/{org}/groups/{id}", tag = "directory",
    params(("org" = String, Path, description = "Organization id"), ("id" = String, Path, description = "Group id")),
    responses((status = 200, description = "The group", body = Object), (status = 404, body = super::error::ErrorBody)),
    security(("application_key" = [])))]
pub fn group(
    dir: &Directory,
    key: &AppKey,
    org: &str,
    id: &str,
    q: Query,
) -> Result<Reply, ApiError> {
    one(dir, key, org, ResourceKind::Group, id, q)
}

/// A group's members (users), by id.
#[utoipa::path(get, path = "/api/v1/organizations/{org}/groups/{id}/members", tag = "directory",
    params(("org" = String, Path, description = "Organization id"), ("id" = String, Path, description = "Group id"),
        ("limit" = Option<usize>, Query, description = "1 to 1000; 100 by default."),
        ("after" = Option<String>, Query, description = "The previous page's next_cursor.")),
    responses((status = 200, description = "Users who are members", body = ListReply),
        (status = 400, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)),
    security(("application_key" = [])))]
pub fn group_members(
    dir: &Directory,
    key: &AppKey,
    org: &str,
    id: &str,
    q: Query,
) -> Result<Reply, ApiError> {
    q.allow(&["limit", "after"])?;
    let (limit, after) = (q.limit()?, q.list_cursor()?);
    visible(dir, key, org)?;
    let head = dir.feed_bounds()?.head;
    dir.get_resource(org, ResourceKind::Group, id)?;
    let mut items = Vec::new();
    for uid in dir.members_after(org, id, after.as_deref(), limit + 1)? {
        // A member deleted between the two reads is simply not listed.
        if let Ok(rec) = dir.get_resource(org, ResourceKind::User, &uid) {
            items.push((uid, resource_view(org, ResourceKind::User, &rec)));
        }
    }
    reply(&page(items, limit, head))
}

/// The groups a user belongs to, by id.
#[utoipa::path(get, path = "/api/v1/organizations/{org}/users/{id}/groups", tag = "directory",
    params(("org" = String, Path, description = "Organization id"), ("id" = String, Path, description = "User id"),
        ("limit" = Option<usize>, Query, description = "1 to 1000; 100 by default."),
        ("after" = Option<String>, Query, description = "The previous page's next_cursor.")),
    responses((status = 200, description = "Groups the user is in", body = ListReply),
        (status = 400, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)),
    security(("application_key" = [])))]
pub fn user_groups(
    dir: &Directory,
    key: &AppKey,
    org: &str,
    id: &str,
    q: Query,
) -> Result<Reply, ApiError> {
    q.allow(&["limit", "after"])?;
    let (limit, after) = (q.limit()?, q.list_cursor()?);
    visible(dir, key, org)?;
    let head = dir.feed_bounds()?.head;
    dir.get_resource(org, ResourceKind::User, id)?;
    let mut items = Vec::new();
    for gid in dir.groups_of(org, id)? {
        if after.as_deref().is_some_and(|a| gid.as_str() <= a) {
            continue;
        }
        if let Ok(rec) = dir.get_resource(org, ResourceKind::Group, &gid) {
            items.push((gid, resource_view(org, ResourceKind::Group, &rec)));
        }
        if items.len() > limit {
            break;
        }
    }
    reply(&page(items, limit, head))
}
