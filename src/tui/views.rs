//! The dashboard's state, screen by screen: what each view holds. Drawing reads these;
//! only `App::update` and the loaders change them.

use std::collections::VecDeque;
use std::sync::Arc;

use time::OffsetDateTime;

use crate::activity::ActivityEvent;
use crate::control::{
    AppKeyInfo, FeedSummary, KeyInfo, OrgSummary, ResourceRow, WebhookDetail, WebhookInfo,
};
use crate::directory::Organization;
use crate::scim::schema::ResourceKind;

/// How many activity records the dashboard keeps in memory.
pub const FEED_LEN: usize = 2_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Orgs,
    Org,
    Directory,
    Detail,
    Activity,
    ActivityDetail,
    Webhooks,
    /// "Connect an IdP": the setup guide for the organization open.
    Guide,
    /// Declared extension schemas.
    Schemas,
}

/// The schemas screen: every declared extension schema.
#[derive(Debug, Clone, Default)]
pub struct SchemasView {
    pub list: Vec<crate::control::SchemaInfo>,
    pub selected: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgPane {
    Domains,
    Keys,
    AppKeys,
}

impl OrgPane {
    /// The pane Tab moves to.
    pub fn next(self) -> OrgPane {
        match self {
            OrgPane::Domains => OrgPane::Keys,
            OrgPane::Keys => OrgPane::AppKeys,
            OrgPane::AppKeys => OrgPane::Domains,
        }
    }
}

/// One line of the organizations table.
pub type OrgRow = OrgSummary;

/// The organization screen.
#[derive(Debug, Clone)]
pub struct OrgView {
    pub org: Organization,
    pub url: String,
    pub keys: Vec<KeyInfo>,
    pub rejected_last_hour: usize,
    /// Requests, errors, the last IdP and unmapped attributes.
    pub health: crate::directory::SyncHealth,
    pub users: usize,
    pub active_users: usize,
    pub groups: usize,
    pub pane: OrgPane,
    pub domain_sel: usize,
    pub key_sel: usize,
    /// The change feed's head and this organization's recent events.
    pub feed: Option<FeedSummary>,
    /// Application keys scoped to this organization.
    pub app_keys: Vec<AppKeyInfo>,
    /// Application keys that read every organization (this one included).
    pub global_app_keys: usize,
    pub app_key_sel: usize,
}

impl OrgView {
    /// Plain-words warnings for the operator.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if !self.org.scim_enabled {
            w.push("SCIM is off: IdP requests are refused with 403. Press s to turn it on.".into());
        }
        if self.org.scim_enabled && self.org.domains.is_empty() {
            w.push("SCIM is on but no domains are set: every user with an email address will be rejected.".into());
        }
        if self.org.scim_enabled && !self.keys.iter().any(KeyInfo::is_active) {
            w.push("SCIM is on but there is no active key: the IdP cannot connect. Press i to issue one.".into());
        }
        if self.rejected_last_hour > 0 {
            w.push(format!(
                "{} IdP request{} rejected in the last hour. Press l to see the activity.",
                self.rejected_last_hour,
                if self.rejected_last_hour == 1 {
                    " was"
                } else {
                    "s were"
                }
            ));
        }
        w
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirTab {
    Users,
    Groups,
}

impl DirTab {
    pub fn kind(self) -> ResourceKind {
        match self {
            DirTab::Users => ResourceKind::User,
            DirTab::Groups => ResourceKind::Group,
        }
    }
}

/// One visible row of the directory.
pub type DirRow = ResourceRow;

/// The directory screen: the ids in order (cheap to hold), and only the visible rows loaded.
#[derive(Debug, Clone)]
pub struct DirView {
    pub org: String,
    pub tab: DirTab,
    pub search: Option<String>,
    pub ids: Vec<String>,
    pub selected: usize,
    pub offset: usize,
    pub rows: Vec<DirRow>,
    pub error: Option<String>,
}

/// A user or group in full.
#[derive(Debug, Clone)]
pub struct DetailView {
    pub kind: ResourceKind,
    pub id: String,
    pub title: String,
    pub lines: Vec<String>,
    pub scroll: usize,
    /// Groups: total members and the page shown.
    pub member_count: u64,
    pub member_page: usize,
}

/// Requests and errors per minute for the last hour.
#[derive(Debug, Clone)]
pub struct Rates {
    /// Minute (unix minutes) of the last bucket.
    pub last_minute: i64,
    pub requests: VecDeque<u64>,
    pub errors: VecDeque<u64>,
}

impl Rates {
    pub fn new(now: OffsetDateTime) -> Rates {
        Rates {
            last_minute: now.unix_timestamp().div_euclid(60),
            requests: VecDeque::from(vec![0; 60]),
            errors: VecDeque::from(vec![0; 60]),
        }
    }

    fn advance(&mut self, minute: i64) {
        while self.last_minute < minute {
            self.last_minute += 1;
            self.requests.pop_front();
            self.requests.push_back(0);
            self.errors.pop_front();
            self.errors.push_back(0);
            if minute - self.last_minute > 60 {
                self.last_minute = minute - 60;
            }
        }
    }

    pub fn add(&mut self, e: &ActivityEvent) {
        let minute = e.time.unix_timestamp().div_euclid(60);
        self.add_counts(minute, 1, u64::from(e.is_error()));
    }

    /// Adds `requests` (of which `errors` failed) to unix minute `minute`.
    pub fn add_counts(&mut self, minute: i64, requests: u64, errors: u64) {
        self.advance(minute);
        let age = self.last_minute - minute;
        if (0..60).contains(&age) {
            let i = 59 - age as usize;
            self.requests[i] += requests;
            self.errors[i] += errors;
        }
    }

    pub fn tick(&mut self, now: OffsetDateTime) {
        self.advance(now.unix_timestamp().div_euclid(60));
    }
}

/// The activity screen: newest first.
#[derive(Debug, Clone)]
pub struct ActivityView {
    pub org: Option<String>,
    pub events: VecDeque<Arc<ActivityEvent>>,
    pub paused: bool,
    /// Events that arrived while paused (shown on resume).
    pub held: Vec<Arc<ActivityEvent>>,
    pub errors_only: bool,
    pub selected: usize,
    /// Events the live feed skipped because the dashboard fell behind (reloaded from the store).
    pub missed: u64,
    pub rates: Rates,
    /// Requests seen in the last few seconds (when, how many), for the live rate.
    pub recent: VecDeque<(OffsetDateTime, u64)>,
}

impl ActivityView {
    pub fn visible(&self) -> Vec<&Arc<ActivityEvent>> {
        self.events
            .iter()
            .filter(|e| self.org.as_ref().is_none_or(|o| *o == e.org))
            .filter(|e| !self.errors_only || e.is_error())
            .collect()
    }

    /// Requests per second over the last 10 seconds.
    pub fn rate(&self, now: OffsetDateTime) -> f64 {
        let from = now - time::Duration::seconds(10);
        self.recent
            .iter()
            .filter(|(t, _)| *t >= from)
            .map(|(_, n)| *n)
            .sum::<u64>() as f64
            / 10.0
    }
}

/// The webhooks screen: every endpoint, and the selected one in full.
#[derive(Debug, Clone, Default)]
pub struct WebhooksView {
    pub list: Vec<WebhookInfo>,
    pub selected: usize,
    /// The selected endpoint's streams and recent attempts.
    pub detail: Option<WebhookDetail>,
}

impl WebhooksView {
    pub fn current(&self) -> Option<&WebhookInfo> {
        self.list.get(self.selected)
    }
}
