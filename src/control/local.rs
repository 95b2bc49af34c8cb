//! [`Control`] over a directory this process holds.

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::broadcast;

use super::{
    ActivityFeed, AddedWebhook, AppKeyInfo, Control, Error, ErrorKind, EventBatch, EventQuery,
    FeedItem, FeedSummary, IssuedAppKey, IssuedKey, KeyInfo, MEMBER_PAGE, NewWebhook, OrgDetail,
    OrgHealth, OrgSummary, ReplayFrom, ResourceDetail, ResourceRow, Result, SchemaInfo, StreamInfo,
    WebhookDetail, WebhookInfo, search_filter,
};
use crate::activity::{ActivityEvent, ActivityQuery, Outcome};
use crate::directory::feed;
use crate::directory::{Attempt, CheckReport, Directory, Organization, WebhookEndpoint};
use crate::scim::list::ListParams;
use crate::scim::resource::Projection;
use crate::scim::schema::ResourceKind;
use crate::store::{cursor, parse_cursor};

/// The operator's operations on a directory opened by this process.
#[derive(Clone)]
pub struct Local {
    dir: Directory,
    mode: String,
}

impl Local {
    /// `mode` says where this runs, for the dashboard's footer.
    pub fn new(dir: Directory, mode: impl Into<String>) -> Local {
        Local {
            dir,
            mode: mode.into(),
        }
    }

    pub fn directory(&self) -> &Directory {
        &self.dir
    }

    fn last_activity(&self, org: &str) -> Option<time::OffsetDateTime> {
        self.dir
            .activity()
            .query(&ActivityQuery {
                org: Some(org.to_string()),
                limit: 1,
                ..Default::default()
            })
            .ok()
            .and_then(|v| v.first().map(|e| e.time))
    }
}

/// An endpoint as operators see it, with its delivery state summed over its streams.
fn webhook_info(dir: &Directory, e: &WebhookEndpoint) -> Result<WebhookInfo> {
    let now = crate::store::now();
    let progress = dir.delivery_progress(e)?;
    let states = dir.delivery_states(&e.id)?;
    let backlog = dir.webhook_backlog(e)?;
    let signing: Vec<_> = e.signing(now).collect();
    Ok(WebhookInfo {
        id: e.id.clone(),
        url: e.url.clone(),
        org: e.org.clone(),
        types: e.types.clone(),
        enabled: e.enabled,
        disabled_reason: e.disabled_reason.clone(),
        created: e.created,
        signing_secrets: signing.len(),
        old_secret_expires: signing.iter().filter_map(|s| s.expires).min(),
        backlog: backlog.events,
        backlog_estimated: backlog.estimated,
        delivered: states.iter().map(|(_, s)| s.delivered).sum(),
        failed: states.iter().map(|(_, s)| s.failed).sum(),
        last_success: progress.last_success,
        last_failure: states
            .iter()
            .filter_map(|(_, s)| s.last_failure.clone())
            .max_by_key(|a| a.at),
        next_retry: states.iter().filter_map(|(_, s)| s.next_retry).min(),
        failing_since: progress.failing_since,
    })
}

fn text(attrs: &serde_json::Map<String, Value>, k: &str) -> String {
    attrs
        .get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

struct LocalFeed(broadcast::Receiver<Arc<ActivityEvent>>);

#[async_trait::async_trait]
impl ActivityFeed for LocalFeed {
    async fn next(&mut self) -> Option<FeedItem> {
        match self.0.recv().await {
            Ok(e) => Some(FeedItem::Event(e)),
            Err(broadcast::error::RecvError::Lagged(n)) => Some(FeedItem::Missed(n)),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

#[async_trait::async_trait]
impl Control for Local {
    fn mode(&self) -> String {
        self.mode.clone()
    }

    fn scim_base_url(&self, org: &str) -> String {
        self.dir.scim_base_url(org)
    }

    async fn list_orgs(&self) -> Result<Vec<OrgSummary>> {
        let mut out = Vec::new();
        for org in self.dir.list_orgs()? {
            let keys = self.dir.list_keys(&org.id)?;
            out.push(OrgSummary {
                scim_base_url: self.dir.scim_base_url(&org.id),
                active_keys: keys.iter().filter(|k| k.is_active()).count(),
                users: self.dir.count_resources(&org.id, ResourceKind::User)?,
                groups: self.dir.count_resources(&org.id, ResourceKind::Group)?,
                last_sync: self.last_activity(&org.id),
                org,
            });
        }
        Ok(out)
    }

    async fn org(&self, id: &str) -> Result<OrgDetail> {
        let org = self.dir.get_org(id)?;
        let keys = self.dir.list_keys(id)?.iter().map(KeyInfo::from).collect();
        let rejected_last_hour = self
            .dir
            .activity()
            .query(&ActivityQuery {
                org: Some(id.to_string()),
                since: Some(crate::store::now() - time::Duration::hours(1)),
                outcome: Some(Outcome::ClientError),
                ..Default::default()
            })
            .map(|v| v.len())
            .unwrap_or(0);
        Ok(OrgDetail {
            scim_base_url: self.dir.scim_base_url(id),
            org,
            keys,
            rejected_last_hour,
        })
    }

    async fn org_health(&self, id: &str) -> Result<OrgHealth> {
        self.dir.get_org(id)?;
        let users = self.dir.count_resources(id, ResourceKind::User)?;
        Ok(OrgHealth {
            sync: self.dir.activity().health(id).await,
            users,
            active_users: users.saturating_sub(self.dir.count_inactive_users(id)?),
            groups: self.dir.count_resources(id, ResourceKind::Group)?,
        })
    }

    async fn create_org(&self, id: &str, name: &str) -> Result<Organization> {
        Ok(self.dir.create_org(id, name).await?)
    }

    async fn rename_org(&self, id: &str, name: &str) -> Result<Organization> {
        Ok(self.dir.rename_org(id, name).await?)
    }

    async fn delete_org(&self, id: &str) -> Result<()> {
        Ok(self.dir.delete_org(id).await?)
    }

    async fn set_scim(&self, id: &str, enabled: bool) -> Result<Organization> {
        Ok(self.dir.set_scim_enabled(id, enabled).await?)
    }

    async fn add_domain(&self, org: &str, domain: &str) -> Result<Organization> {
        Ok(self.dir.add_domain(org, domain).await?)
    }

    async fn remove_domain(&self, org: &str, domain: &str) -> Result<Organization> {
        Ok(self.dir.remove_domain(org, domain).await?)
    }

    async fn issue_key(&self, org: &str, name: Option<&str>) -> Result<IssuedKey> {
        let issued = self.dir.issue_key(org, name).await?;
        Ok(IssuedKey {
            key: KeyInfo::from(&issued.key),
            secret: issued.secret,
            scim_base_url: self.dir.scim_base_url(org),
        })
    }

    async fn list_keys(&self, org: &str) -> Result<Vec<KeyInfo>> {
        Ok(self.dir.list_keys(org)?.iter().map(KeyInfo::from).collect())
    }

    async fn revoke_key(&self, org: &str, key_id: &str) -> Result<KeyInfo> {
        Ok(KeyInfo::from(&self.dir.revoke_key(org, key_id).await?))
    }

    async fn resource_ids(
        &self,
        org: &str,
        kind: ResourceKind,
        search: Option<&str>,
    ) -> Result<Vec<String>> {
        let Some(text) = search else {
            return Ok(self.dir.resource_ids(org, kind)?);
        };
        let limits = self.dir.list_limits();
        let pairs = vec![
            ("filter".to_string(), search_filter(kind, text)),
            ("count".to_string(), limits.max_results.to_string()),
            ("attributes".to_string(), "id".to_string()),
        ];
        let params =
            ListParams::from_query(&pairs, limits).map_err(crate::directory::Error::from)?;
        let page = self.dir.list_resources(org, kind, &params)?;
        Ok(page
            .resources
            .iter()
            .filter_map(|r| r["id"].as_str().map(str::to_string))
            .collect())
    }

    async fn resource_rows(
        &self,
        org: &str,
        kind: ResourceKind,
        ids: &[String],
    ) -> Result<Vec<ResourceRow>> {
        let mut rows = Vec::with_capacity(ids.len());
        for id in ids {
            let Ok(rec) = self.dir.get_resource(org, kind, id) else {
                continue;
            };
            let a = &rec.attrs;
            rows.push(match kind {
                ResourceKind::User => ResourceRow {
                    id: id.clone(),
                    name: text(a, "userName"),
                    display: {
                        let d = text(a, "displayName");
                        if d.is_empty() {
                            let part = |k: &str| {
                                a.get("name")
                                    .and_then(|n| n.get(k))
                                    .and_then(Value::as_str)
                                    .unwrap_or_default()
                            };
                            format!("{} {}", part("givenName"), part("familyName"))
                                .trim()
                                .to_string()
                        } else {
                            d
                        }
                    },
                    active: Some(a.get("active").and_then(Value::as_bool).unwrap_or(true)),
                    extra: text(a, "externalId"),
                },
                ResourceKind::Group => ResourceRow {
                    id: id.clone(),
                    name: text(a, "displayName"),
                    display: String::new(),
                    active: None,
                    extra: format!("{} members", rec.member_count),
                },
            });
        }
        Ok(rows)
    }

    async fn resource_detail(
        &self,
        org: &str,
        kind: ResourceKind,
        id: &str,
        member_page: usize,
    ) -> Result<ResourceDetail> {
        let rec = self.dir.get_resource(org, kind, id)?;
        let projection = Projection {
            attributes: Vec::new(),
            excluded: vec!["members".into()],
        };
        let resource = self.dir.render(org, kind, &rec, &projection)?;
        let last_change = self
            .dir
            .activity()
            .query(&ActivityQuery {
                org: Some(org.to_string()),
                resource_id: Some(id.to_string()),
                writes_only: true,
                limit: 1,
                ..Default::default()
            })
            .map_err(crate::directory::Error::from)?
            .into_iter()
            .next();
        let mut members = Vec::new();
        if kind == ResourceKind::Group {
            for uid in self
                .dir
                .members_page(org, id, member_page * MEMBER_PAGE, MEMBER_PAGE)?
            {
                let name = self
                    .dir
                    .get_resource(org, ResourceKind::User, &uid)
                    .ok()
                    .map(|u| text(&u.attrs, "userName"));
                members.push((uid, name));
            }
        }
        let title = match text(&rec.attrs, kind.name_attr()) {
            t if t.is_empty() => id.to_string(),
            t => t,
        };
        Ok(ResourceDetail {
            kind,
            id: id.to_string(),
            title,
            active: (kind == ResourceKind::User).then(|| {
                rec.attrs
                    .get("active")
                    .and_then(Value::as_bool)
                    .unwrap_or(true)
            }),
            modified: rec.modified,
            resource,
            last_change,
            member_count: rec.member_count,
            members,
        })
    }

    async fn activity(&self, query: &ActivityQuery) -> Result<Vec<ActivityEvent>> {
        Ok(self
            .dir
            .activity()
            .query(query)
            .map_err(crate::directory::Error::from)?)
    }

    async fn follow(&self) -> Result<Box<dyn ActivityFeed>> {
        Ok(Box::new(LocalFeed(self.dir.activity().subscribe())))
    }

    async fn check(&self) -> Result<CheckReport> {
        Ok(self.dir.check_between_writes().await?)
    }

    async fn backup(
        &self,
        out: Box<dyn std::io::Write + Send>,
        progress: Box<dyn FnMut(u64) + Send>,
    ) -> Result<crate::store::BackupStats> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || dir.backup(out, progress))
            .await
            .map_err(|e| Error::new(ErrorKind::Unavailable, e.to_string()))?
            .map_err(Error::from)
    }

    async fn issue_app_key(&self, name: &str, org: Option<&str>) -> Result<IssuedAppKey> {
        let issued = self.dir.issue_app_key(name, org).await?;
        Ok(IssuedAppKey {
            key: AppKeyInfo::from(&issued.key),
            secret: issued.secret,
        })
    }

    async fn list_app_keys(&self) -> Result<Vec<AppKeyInfo>> {
        Ok(self
            .dir
            .list_app_keys()?
            .iter()
            .map(AppKeyInfo::from)
            .collect())
    }

    async fn revoke_app_key(&self, id: &str) -> Result<AppKeyInfo> {
        Ok(AppKeyInfo::from(&self.dir.revoke_app_key(id).await?))
    }

    async fn events(&self, q: &EventQuery) -> Result<EventBatch> {
        let types = match q.types.as_deref() {
            Some(t) => feed::parse_type_filter(t).map_err(|m| Error::new(ErrorKind::Invalid, m))?,
            None => Vec::new(),
        };
        let bounds = self.dir.feed_bounds()?;
        let after = match q.after.as_deref() {
            None => bounds.trimmed_through,
            Some("now") => bounds.head,
            Some(c) => parse_cursor(c).ok_or_else(|| {
                Error::new(ErrorKind::Invalid, format!("{c:?} is not an event cursor"))
            })?,
        };
        if after < bounds.trimmed_through {
            return Err(Error::new(
                ErrorKind::Refused,
                "the events after this cursor are past retention",
            ));
        }
        let org = q.org.clone();
        let wanted = move |t: &str, o: &str| {
            org.as_deref().is_none_or(|w| w == o) && feed::type_matches(&types, t)
        };
        let page = self
            .dir
            .wait_events(
                after,
                q.limit.clamp(1, 1000),
                100_000,
                wanted,
                std::time::Duration::from_secs(q.wait.min(60)),
            )
            .await?;
        let next = page.events.last().map_or(page.scanned_to, |e| e.seq);
        Ok(EventBatch {
            has_more: page.more || next < page.scanned_to,
            next_cursor: cursor(next),
            events: page
                .events
                .iter()
                .filter_map(|e| serde_json::from_slice(&e.json).ok())
                .collect(),
        })
    }

    async fn declare_schema(
        &self,
        document: &str,
        org: Option<&str>,
        kind: Option<ResourceKind>,
    ) -> Result<SchemaInfo> {
        let done = self.dir.declare_schema(document, org, kind).await?;
        let mut info = SchemaInfo::from(&done.schema);
        info.replaced = done.replaced;
        Ok(info)
    }

    async fn list_schemas(&self) -> Result<Vec<SchemaInfo>> {
        Ok(self
            .dir
            .list_schemas()?
            .iter()
            .map(SchemaInfo::from)
            .collect())
    }

    async fn remove_schema(&self, urn: &str, org: Option<&str>, force: bool) -> Result<SchemaInfo> {
        Ok(SchemaInfo::from(
            &self.dir.remove_schema(urn, org, force).await?,
        ))
    }

    async fn export_page(
        &self,
        org: &str,
        kind: ResourceKind,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<serde_json::Value>> {
        self.dir.get_org(org)?;
        let mut out = Vec::new();
        for rec in self.dir.resources_after(org, kind, after, limit)? {
            let mut view = feed::resource_view(org, kind, &rec);
            if kind == ResourceKind::Group {
                let mut members = Vec::with_capacity(rec.member_count as usize);
                let mut last: Option<String> = None;
                loop {
                    let page = self
                        .dir
                        .members_after(org, &rec.id, last.as_deref(), 10_000)?;
                    let full = page.len() == 10_000;
                    last = page.last().cloned();
                    members.extend(page.into_iter().map(serde_json::Value::String));
                    if !full {
                        break;
                    }
                }
                view["members"] = serde_json::Value::Array(members);
            }
            out.push(view);
        }
        Ok(out)
    }

    async fn feed_summary(&self, org: &str) -> Result<FeedSummary> {
        Ok(FeedSummary {
            head: cursor(self.dir.feed_bounds()?.head),
            org_events_last_hour: self
                .dir
                .count_events_since(org, crate::store::now() - time::Duration::hours(1))?,
        })
    }

    async fn add_webhook(&self, new: &NewWebhook) -> Result<AddedWebhook> {
        let from = match new.from.as_deref() {
            None => None,
            Some(c) => Some(parse_cursor(c).ok_or_else(|| {
                Error::new(
                    ErrorKind::Invalid,
                    format!("invalid cursor {c:?}: use one from `scimdesk events` (16 hex digits)"),
                )
            })?),
        };
        let added = self
            .dir
            .add_webhook(&new.url, new.org.as_deref(), new.events.as_deref(), from)
            .await?;
        Ok(AddedWebhook {
            webhook: webhook_info(&self.dir, &added.endpoint)?,
            secret: added.secret,
        })
    }

    async fn list_webhooks(&self) -> Result<Vec<WebhookInfo>> {
        self.dir
            .list_webhooks()?
            .iter()
            .map(|e| webhook_info(&self.dir, e))
            .collect()
    }

    async fn webhook(&self, id: &str) -> Result<WebhookDetail> {
        let e = self.dir.get_webhook(id)?;
        let streams = self
            .dir
            .delivery_states(id)?
            .into_iter()
            .map(|(org, s)| StreamInfo {
                org,
                cursor: cursor(s.cursor),
                delivered: s.delivered,
                failed: s.failed,
                attempts: s.attempts,
                next_retry: s.next_retry,
                last_success: s.last_success,
                last_failure: s.last_failure,
            })
            .collect();
        let mut attempts: Vec<Attempt> = self.dir.webhook_attempts(id)?;
        attempts.reverse();
        Ok(WebhookDetail {
            info: webhook_info(&self.dir, &e)?,
            streams,
            attempts,
        })
    }

    async fn remove_webhook(&self, id: &str) -> Result<()> {
        Ok(self.dir.remove_webhook(id).await?)
    }

    async fn set_webhook_enabled(&self, id: &str, enabled: bool) -> Result<WebhookInfo> {
        let reason = (!enabled).then(|| {
            format!(
                "disabled by an operator on {}",
                crate::util::display_time(crate::store::now())
            )
        });
        let e = self.dir.set_webhook_enabled(id, enabled, reason).await?;
        webhook_info(&self.dir, &e)
    }

    async fn rotate_webhook_secret(&self, id: &str) -> Result<String> {
        Ok(self.dir.rotate_webhook_secret(id).await?)
    }

    async fn test_webhook(&self, id: &str) -> Result<Attempt> {
        Ok(crate::webhooks::send_test(&self.dir, id).await?)
    }

    async fn replay_webhook(&self, id: &str, from: &ReplayFrom) -> Result<WebhookInfo> {
        let after = match from {
            ReplayFrom::After(c) => parse_cursor(c).ok_or_else(|| {
                Error::new(
                    ErrorKind::Invalid,
                    format!("invalid cursor {c:?}: use one from `scimdesk events` (16 hex digits)"),
                )
            })?,
            ReplayFrom::Since(t) => self.dir.event_before(*t)?,
        };
        let e = self.dir.replay_webhook(id, after).await?;
        webhook_info(&self.dir, &e)
    }

    async fn retry_webhook_now(&self, id: &str) -> Result<()> {
        Ok(self.dir.retry_webhook_now(id)?)
    }
}
