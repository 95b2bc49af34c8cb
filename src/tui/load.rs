//! Loading what the screens show, through the operator's [`Control`](crate::control::Control):
//! the same whether the dashboard holds the store or talks to a running server. Only the
//! visible rows of a directory are read.

use std::sync::Arc;

use serde_json::Value;

use super::app::App;
use super::views::{DetailView, FEED_LEN, OrgPane, OrgView, Rates};
use crate::activity::ActivityQuery;
use crate::control::{MEMBER_PAGE, ResourceDetail};
use crate::scim::schema::ResourceKind;

impl App {
    pub async fn refresh_orgs(&mut self) {
        match self.ops.list_orgs().await {
            Ok(orgs) => {
                self.orgs = orgs;
                self.org_sel = self.org_sel.min(self.orgs.len().saturating_sub(1));
            }
            Err(e) => self.fail(e.message),
        }
    }

    pub(super) async fn load_org(&mut self, id: &str) {
        let (pane, ds, ks, aks) = self
            .org
            .as_ref()
            .filter(|o| o.org.id == id)
            .map(|o| (o.pane, o.domain_sel, o.key_sel, o.app_key_sel))
            .unwrap_or((OrgPane::Domains, 0, 0, 0));
        let detail = match self.ops.org(id).await {
            Ok(d) => d,
            Err(e) => {
                self.fail(e.message);
                return;
            }
        };
        let feed = self.ops.feed_summary(id).await.ok();
        let health = self.ops.org_health(id).await.unwrap_or_default();
        let all_app_keys = self.ops.list_app_keys().await.unwrap_or_default();
        let global_app_keys = all_app_keys
            .iter()
            .filter(|k| k.org.is_none() && k.is_active())
            .count();
        let app_keys: Vec<_> = all_app_keys
            .into_iter()
            .filter(|k| k.org.as_deref() == Some(id))
            .collect();
        self.org = Some(OrgView {
            app_key_sel: aks.min(app_keys.len().saturating_sub(1)),
            feed,
            app_keys,
            global_app_keys,
            domain_sel: ds.min(detail.org.domains.len().saturating_sub(1)),
            key_sel: ks.min(detail.keys.len().saturating_sub(1)),
            url: detail.scim_base_url,
            org: detail.org,
            keys: detail.keys,
            rejected_last_hour: detail.rejected_last_hour,
            health: health.sync,
            users: health.users,
            active_users: health.active_users,
            groups: health.groups,
            pane,
        });
    }

    /// Reads the declared schemas.
    pub(super) async fn load_schemas(&mut self) {
        match self.ops.list_schemas().await {
            Ok(list) => {
                self.schemas.selected = self.schemas.selected.min(list.len().saturating_sub(1));
                self.schemas.list = list;
            }
            Err(e) => self.fail(e.message),
        }
    }

    /// Reads the endpoints and the selected one's streams and attempts.
    pub(super) async fn load_webhooks(&mut self) {
        match self.ops.list_webhooks().await {
            Ok(list) => {
                self.webhooks.list = list;
                self.webhooks.selected = self
                    .webhooks
                    .selected
                    .min(self.webhooks.list.len().saturating_sub(1));
            }
            Err(e) => return self.fail(e.message),
        }
        self.webhooks.detail = match self.webhooks.current().map(|w| w.id.clone()) {
            Some(id) => self.ops.webhook(&id).await.ok(),
            None => None,
        };
    }

    /// Fills the feed from the store (at start, and after the live feed skipped events).
    pub async fn reload_activity(&mut self) {
        let q = ActivityQuery {
            since: Some(crate::store::now() - time::Duration::hours(1)),
            limit: FEED_LEN,
            ..Default::default()
        };
        match self.ops.activity(&q).await {
            Ok(events) => {
                self.activity.rates = Rates::new(crate::store::now());
                for e in events.iter().rev() {
                    self.activity.rates.add(e);
                }
                self.activity.events = events.into_iter().map(Arc::new).collect();
            }
            Err(e) => self.fail(e.message),
        }
    }

    pub(super) async fn load_directory(&mut self) {
        let Some(view) = self.directory.as_mut() else {
            return;
        };
        view.error = None;
        let ids = self
            .ops
            .resource_ids(&view.org, view.tab.kind(), view.search.as_deref())
            .await;
        match ids {
            Ok(ids) => view.ids = ids,
            Err(e) => {
                view.ids = Vec::new();
                view.error = Some(e.message);
            }
        }
        view.selected = view.selected.min(view.ids.len().saturating_sub(1));
        self.load_rows().await;
    }

    /// Loads only the rows on screen.
    pub async fn load_rows(&mut self) {
        let page = self.page_size.max(1);
        let Some(view) = self.directory.as_mut() else {
            return;
        };
        if view.selected < view.offset {
            view.offset = view.selected;
        } else if view.selected >= view.offset + page {
            view.offset = view.selected + 1 - page;
        }
        let visible: Vec<String> = view
            .ids
            .iter()
            .skip(view.offset)
            .take(page)
            .cloned()
            .collect();
        match self
            .ops
            .resource_rows(&view.org, view.tab.kind(), &visible)
            .await
        {
            Ok(rows) => view.rows = rows,
            Err(e) => view.error = Some(e.message),
        }
    }

    pub(super) async fn load_detail(&mut self, kind: ResourceKind, id: &str, member_page: usize) {
        let Some(org) = self.directory.as_ref().map(|d| d.org.clone()) else {
            return;
        };
        match self.ops.resource_detail(&org, kind, id, member_page).await {
            Ok(d) => self.detail = Some(detail_view(d, member_page)),
            Err(e) => self.fail(e.message),
        }
    }
}

/// The lines of a user's or group's detail screen.
fn detail_view(d: ResourceDetail, member_page: usize) -> DetailView {
    let mut lines = Vec::new();
    if let Some(active) = d.active {
        lines.push(format!(
            "state: {}",
            if active { "active" } else { "DEACTIVATED" }
        ));
    }
    lines.push(match &d.last_change {
        Some(e) => format!(
            "last change: {} by {} (key {}): {}",
            crate::util::display_time(e.time),
            e.idp.label(),
            e.key_id.as_deref().unwrap_or("?"),
            e.summary
        ),
        None => format!(
            "last change: {} (no activity record kept)",
            crate::util::display_time(d.modified)
        ),
    });
    lines.push(String::new());
    flatten_lines(&d.resource, "", &mut lines);
    if d.kind == ResourceKind::Group {
        lines.push(String::new());
        lines.push(format!("members: {}", d.member_count));
        for (uid, name) in &d.members {
            lines.push(format!(
                "  {}  {uid}",
                name.as_deref().unwrap_or("(unknown)")
            ));
        }
        let pages = (d.member_count as usize).div_ceil(MEMBER_PAGE).max(1);
        lines.push(format!(
            "  page {} of {pages} (n / p for next / previous)",
            member_page + 1
        ));
    }
    DetailView {
        kind: d.kind,
        id: d.id,
        title: d.title,
        lines,
        scroll: 0,
        member_count: d.member_count,
        member_page,
    }
}

/// Renders JSON as indented `name: value` lines.
fn flatten_lines(v: &Value, indent: &str, out: &mut Vec<String>) {
    let Some(obj) = v.as_object() else { return };
    for (k, v) in obj {
        match v {
            Value::Object(_) => {
                out.push(format!("{indent}{k}:"));
                flatten_lines(v, &format!("{indent}  "), out);
            }
            Value::Array(items) => {
                out.push(format!("{indent}{k}:"));
                for item in items {
                    match item {
                        Value::Object(o) => {
                            let parts: Vec<String> = o
                                .iter()
                                .map(|(k, v)| match v {
                                    Value::String(s) => format!("{k}={s}"),
                                    other => format!("{k}={other}"),
                                })
                                .collect();
                            out.push(format!("{indent}  - {}", parts.join("  ")));
                        }
                        Value::String(s) => out.push(format!("{indent}  - {s}")),
                        other => out.push(format!("{indent}  - {other}")),
                    }
                }
            }
            Value::String(s) => out.push(format!("{indent}{k}: {s}")),
            other => out.push(format!("{indent}{k}: {other}")),
        }
    }
}
