//! Dashboard state. Keys become [`Action`]s ([`App::handle_key`]); actions change state and call
//! the directory ([`App::update`]); drawing (`screens`) only reads. Writes are awaited, so the
//! screen says "saved" only once they are durable.

use std::collections::VecDeque;
use std::sync::Arc;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use serde_json::Value;
use time::OffsetDateTime;

use crate::activity::{ActivityEvent, ActivityQuery, Outcome};
use crate::directory::Directory;
use crate::scim::list::ListParams;
use crate::scim::resource::Projection;
use crate::store::{Kind, Organization, ScimKey};

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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgPane {
    Domains,
    Keys,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputPurpose {
    CreateOrg,
    RenameOrg(String),
    AddDomain(String),
    IssueKey(String),
    Search,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmPurpose {
    /// Type the id to confirm.
    DeleteOrg(String),
    RevokeKey {
        org: String,
        key_id: String,
    },
    RemoveDomain {
        org: String,
        domain: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub label: &'static str,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dialog {
    Input {
        purpose: InputPurpose,
        title: String,
        fields: Vec<Field>,
        focus: usize,
        error: Option<String>,
    },
    Confirm {
        purpose: ConfirmPurpose,
        message: String,
        typed: String,
        error: Option<String>,
    },
    Secret {
        key_id: String,
        name: String,
        secret: String,
        url: String,
    },
    Help,
}

/// Everything a key can ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Quit,
    Back,
    Help,
    GoOrgs,
    GoActivity,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Open,
    NewOrg,
    RenameOrg,
    DeleteOrg,
    ToggleScim,
    SwitchPane,
    Add,
    Remove,
    IssueKey,
    OpenDirectory,
    OrgActivity,
    Copy,
    Search,
    TogglePause,
    ToggleErrors,
    Refresh,
    // Inside dialogs.
    Type(char),
    Backspace,
    NextField,
    Submit,
    Cancel,
}

/// One line of the organizations table.
#[derive(Debug, Clone)]
pub struct OrgRow {
    pub org: Organization,
    pub active_keys: usize,
    pub users: usize,
    pub groups: usize,
    pub last_sync: Option<OffsetDateTime>,
}

/// The organization screen.
#[derive(Debug, Clone)]
pub struct OrgView {
    pub org: Organization,
    pub url: String,
    pub keys: Vec<ScimKey>,
    pub rejected_last_hour: usize,
    pub pane: OrgPane,
    pub domain_sel: usize,
    pub key_sel: usize,
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
        if self.org.scim_enabled && !self.keys.iter().any(ScimKey::is_active) {
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
    pub fn kind(self) -> Kind {
        match self {
            DirTab::Users => Kind::User,
            DirTab::Groups => Kind::Group,
        }
    }
}

/// One visible row of the directory.
#[derive(Debug, Clone)]
pub struct DirRow {
    pub id: String,
    pub name: String,
    pub display: String,
    pub active: Option<bool>,
    pub extra: String,
}

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
    pub kind: Kind,
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
        self.advance(minute);
        let age = self.last_minute - minute;
        if (0..60).contains(&age) {
            let i = 59 - age as usize;
            self.requests[i] += 1;
            if e.is_error() {
                self.errors[i] += 1;
            }
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
    /// Events seen in the last few seconds, for the live rate.
    pub recent: VecDeque<OffsetDateTime>,
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
        self.recent.iter().filter(|t| **t >= from).count() as f64 / 10.0
    }
}

pub struct App {
    pub dir: Directory,
    pub stack: Vec<Screen>,
    pub dialog: Option<Dialog>,
    pub status: Option<(String, bool)>,
    pub orgs: Vec<OrgRow>,
    pub org_sel: usize,
    pub org: Option<OrgView>,
    pub directory: Option<DirView>,
    pub detail: Option<DetailView>,
    pub activity: ActivityView,
    pub quit: bool,
    /// Text to put on the clipboard with OSC 52 at the next draw.
    pub clipboard: Option<String>,
    /// Rows the current list shows (set by drawing code through `set_page_size`).
    pub page_size: usize,
    pub listen: String,
    /// Activity arrived since the counts on screen were read.
    pub stale: bool,
}

fn err_text(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl App {
    pub fn new(dir: Directory, listen: String) -> App {
        let now = crate::store::now();
        let mut app = App {
            dir,
            stack: vec![Screen::Orgs],
            dialog: None,
            status: None,
            orgs: Vec::new(),
            org_sel: 0,
            org: None,
            directory: None,
            detail: None,
            activity: ActivityView {
                org: None,
                events: VecDeque::new(),
                paused: false,
                held: Vec::new(),
                errors_only: false,
                selected: 0,
                missed: 0,
                rates: Rates::new(now),
                recent: VecDeque::new(),
            },
            quit: false,
            clipboard: None,
            page_size: 15,
            listen,
            stale: false,
        };
        app.refresh_orgs();
        app.reload_activity();
        app
    }

    pub fn screen(&self) -> Screen {
        *self.stack.last().unwrap_or(&Screen::Orgs)
    }

    fn say(&mut self, text: impl Into<String>) {
        self.status = Some((text.into(), false));
    }

    fn fail(&mut self, text: impl Into<String>) {
        self.status = Some((text.into(), true));
    }

    // ----- loading -----

    pub fn refresh_orgs(&mut self) {
        match self.dir.list_orgs() {
            Ok(orgs) => {
                self.orgs = orgs
                    .into_iter()
                    .map(|org| {
                        let keys = self.dir.list_keys(&org.id).unwrap_or_default();
                        let last_sync = self
                            .dir
                            .activity()
                            .query(&ActivityQuery {
                                org: Some(org.id.clone()),
                                limit: 1,
                                ..Default::default()
                            })
                            .ok()
                            .and_then(|v| v.first().map(|e| e.time));
                        OrgRow {
                            active_keys: keys.iter().filter(|k| k.is_active()).count(),
                            users: self.dir.count_resources(&org.id, Kind::User).unwrap_or(0),
                            groups: self.dir.count_resources(&org.id, Kind::Group).unwrap_or(0),
                            last_sync,
                            org,
                        }
                    })
                    .collect();
                self.org_sel = self.org_sel.min(self.orgs.len().saturating_sub(1));
            }
            Err(e) => self.fail(err_text(e)),
        }
    }

    fn load_org(&mut self, id: &str) {
        let (pane, ds, ks) = self
            .org
            .as_ref()
            .filter(|o| o.org.id == id)
            .map(|o| (o.pane, o.domain_sel, o.key_sel))
            .unwrap_or((OrgPane::Domains, 0, 0));
        let org = match self.dir.get_org(id) {
            Ok(o) => o,
            Err(e) => {
                self.fail(err_text(e));
                return;
            }
        };
        let keys = self.dir.list_keys(id).unwrap_or_default();
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
        let domain_sel = ds.min(org.domains.len().saturating_sub(1));
        let key_sel = ks.min(keys.len().saturating_sub(1));
        self.org = Some(OrgView {
            url: self.dir.scim_base_url(id),
            org,
            keys,
            rejected_last_hour,
            pane,
            domain_sel,
            key_sel,
        });
    }

    /// Fills the feed from the store (at start, and after the live feed skipped events).
    pub fn reload_activity(&mut self) {
        let q = ActivityQuery {
            since: Some(crate::store::now() - time::Duration::hours(1)),
            limit: FEED_LEN,
            ..Default::default()
        };
        match self.dir.activity().query(&q) {
            Ok(events) => {
                let now = crate::store::now();
                self.activity.rates = Rates::new(now);
                for e in events.iter().rev() {
                    self.activity.rates.add(e);
                }
                self.activity.events = events.into_iter().map(Arc::new).collect();
            }
            Err(e) => self.fail(err_text(e)),
        }
    }

    /// A live event from the feed.
    pub fn on_activity(&mut self, e: Arc<ActivityEvent>) {
        self.stale = true;
        self.activity.rates.add(&e);
        self.activity.recent.push_back(e.time);
        while self.activity.recent.len() > 10_000 {
            self.activity.recent.pop_front();
        }
        if self.activity.paused {
            self.activity.held.push(e);
            if self.activity.held.len() > FEED_LEN {
                self.activity.held.remove(0);
            }
            return;
        }
        self.push_event(e);
    }

    fn push_event(&mut self, e: Arc<ActivityEvent>) {
        self.activity.events.push_front(e);
        if self.activity.events.len() > FEED_LEN {
            self.activity.events.pop_back();
        }
        // Keep the operator's selection on the same record while new ones arrive above it.
        if self.screen() == Screen::Activity && self.activity.selected > 0 {
            self.activity.selected += 1;
        }
    }

    /// The live feed reported that it skipped `n` events.
    pub fn on_missed(&mut self, n: u64) {
        self.activity.missed += n;
        self.reload_activity();
    }

    fn load_directory(&mut self) {
        let Some(view) = self.directory.as_mut() else {
            return;
        };
        let kind = view.tab.kind();
        view.error = None;
        let ids = match &view.search {
            None => self.dir.resource_ids(&view.org, kind).map_err(|e| e.detail),
            Some(text) => {
                let filter = search_filter(kind, text);
                let pairs = vec![
                    ("filter".to_string(), filter),
                    (
                        "count".to_string(),
                        self.dir.list_limits().max_results.to_string(),
                    ),
                    ("attributes".to_string(), "id".to_string()),
                ];
                ListParams::from_query(&pairs, self.dir.list_limits())
                    .map_err(|e| e.detail)
                    .and_then(|p| {
                        self.dir
                            .list_resources(&view.org, kind, &p)
                            .map_err(|e| e.detail)
                    })
                    .map(|page| {
                        page.resources
                            .iter()
                            .filter_map(|r| r["id"].as_str().map(str::to_string))
                            .collect()
                    })
            }
        };
        match ids {
            Ok(ids) => view.ids = ids,
            Err(e) => {
                view.ids = Vec::new();
                view.error = Some(e);
            }
        }
        view.selected = view.selected.min(view.ids.len().saturating_sub(1));
        self.load_rows();
    }

    /// Loads only the rows on screen.
    pub fn load_rows(&mut self) {
        let page = self.page_size.max(1);
        let Some(view) = self.directory.as_mut() else {
            return;
        };
        if view.selected < view.offset {
            view.offset = view.selected;
        } else if view.selected >= view.offset + page {
            view.offset = view.selected + 1 - page;
        }
        let kind = view.tab.kind();
        let mut rows = Vec::new();
        for id in view.ids.iter().skip(view.offset).take(page) {
            let Ok(rec) = self.dir.get_resource(&view.org, kind, id) else {
                continue;
            };
            let text = |k: &str| {
                rec.attrs
                    .get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            rows.push(match kind {
                Kind::User => DirRow {
                    id: id.clone(),
                    name: text("userName"),
                    display: {
                        let d = text("displayName");
                        if d.is_empty() {
                            let n = rec.attrs.get("name");
                            let part = |k: &str| {
                                n.and_then(|n| n.get(k))
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
                    active: Some(
                        rec.attrs
                            .get("active")
                            .and_then(Value::as_bool)
                            .unwrap_or(true),
                    ),
                    extra: text("externalId"),
                },
                Kind::Group => DirRow {
                    id: id.clone(),
                    name: text("displayName"),
                    display: String::new(),
                    active: None,
                    extra: format!("{} members", rec.member_count),
                },
            });
        }
        view.rows = rows;
    }

    fn load_detail(&mut self, kind: Kind, id: &str, member_page: usize) {
        let Some(org) = self.directory.as_ref().map(|d| d.org.clone()) else {
            return;
        };
        let rec = match self.dir.get_resource(&org, kind, id) {
            Ok(r) => r,
            Err(e) => {
                self.fail(e.detail);
                return;
            }
        };
        let projection = Projection {
            attributes: Vec::new(),
            excluded: vec!["members".into()],
        };
        let rendered = self
            .dir
            .render(&org, kind, &rec, &projection)
            .unwrap_or(Value::Null);
        let mut lines = Vec::new();
        let title = match kind {
            Kind::User => rec
                .attrs
                .get("userName")
                .and_then(Value::as_str)
                .unwrap_or(id)
                .to_string(),
            Kind::Group => rec
                .attrs
                .get("displayName")
                .and_then(Value::as_str)
                .unwrap_or(id)
                .to_string(),
        };
        if kind == Kind::User {
            let active = rec
                .attrs
                .get("active")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            lines.push(format!(
                "state: {}",
                if active { "active" } else { "DEACTIVATED" }
            ));
        }
        let last = self
            .dir
            .activity()
            .query(&ActivityQuery {
                org: Some(org.clone()),
                resource_id: Some(id.to_string()),
                limit: 20,
                ..Default::default()
            })
            .unwrap_or_default()
            .into_iter()
            .find(|e| e.method != "GET" && e.method != "HEAD");
        lines.push(match last {
            Some(e) => format!(
                "last change: {} by {} (key {}): {}",
                crate::util::display_time(e.time),
                e.idp.label(),
                e.key_id.as_deref().unwrap_or("?"),
                e.summary
            ),
            None => format!(
                "last change: {} (no activity record kept)",
                crate::util::display_time(rec.modified)
            ),
        });
        lines.push(String::new());
        flatten_lines(&rendered, "", &mut lines);
        if kind == Kind::Group {
            lines.push(String::new());
            lines.push(format!("members: {}", rec.member_count));
            let page = 20;
            let ids = self
                .dir
                .members_page(&org, id, member_page * page, page)
                .unwrap_or_default();
            for uid in ids {
                let name = self
                    .dir
                    .get_resource(&org, Kind::User, &uid)
                    .ok()
                    .and_then(|u| {
                        u.attrs
                            .get("userName")
                            .and_then(Value::as_str)
                            .map(str::to_string)
                    })
                    .unwrap_or_else(|| "(unknown)".into());
                lines.push(format!("  {name}  {uid}"));
            }
            let pages = (rec.member_count as usize).div_ceil(page).max(1);
            lines.push(format!(
                "  page {} of {pages} (n / p for next / previous)",
                member_page + 1
            ));
        }
        self.detail = Some(DetailView {
            kind,
            id: id.to_string(),
            title,
            lines,
            scroll: 0,
            member_count: rec.member_count,
            member_page,
        });
    }

    // ----- keys -----

    /// Maps a key press to an action for the current screen or dialog.
    pub fn handle_key(&self, key: KeyEvent) -> Option<Action> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Some(Action::Quit);
        }
        if let Some(d) = &self.dialog {
            return match d {
                Dialog::Help | Dialog::Secret { .. } => match key.code {
                    KeyCode::Char('c') if matches!(d, Dialog::Secret { .. }) => Some(Action::Copy),
                    KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') | KeyCode::Char('?') => {
                        Some(Action::Cancel)
                    }
                    _ => None,
                },
                Dialog::Input { .. } | Dialog::Confirm { .. } => match key.code {
                    KeyCode::Esc => Some(Action::Cancel),
                    KeyCode::Enter => Some(Action::Submit),
                    KeyCode::Tab | KeyCode::BackTab => Some(Action::NextField),
                    KeyCode::Backspace => Some(Action::Backspace),
                    KeyCode::Char(c) => Some(Action::Type(c)),
                    _ => None,
                },
            };
        }
        let common = match key.code {
            KeyCode::Char('?') => Some(Action::Help),
            KeyCode::Char('q') => Some(Action::Quit),
            KeyCode::Esc => Some(Action::Back),
            KeyCode::Char('1') => Some(Action::GoOrgs),
            KeyCode::Char('2') => Some(Action::GoActivity),
            KeyCode::Up | KeyCode::Char('k') => Some(Action::Up),
            KeyCode::Down | KeyCode::Char('j') => Some(Action::Down),
            KeyCode::PageUp => Some(Action::PageUp),
            KeyCode::PageDown => Some(Action::PageDown),
            KeyCode::Home | KeyCode::Char('g') => Some(Action::Top),
            KeyCode::End | KeyCode::Char('G') => Some(Action::Bottom),
            KeyCode::Enter => Some(Action::Open),
            KeyCode::F(5) => Some(Action::Refresh),
            _ => None,
        };
        let specific = match (self.screen(), key.code) {
            (Screen::Orgs, KeyCode::Char('n')) => Some(Action::NewOrg),
            (Screen::Orgs, KeyCode::Char('r')) => Some(Action::RenameOrg),
            (Screen::Orgs, KeyCode::Char('d')) => Some(Action::DeleteOrg),
            (Screen::Orgs, KeyCode::Char('l')) => Some(Action::OrgActivity),
            (Screen::Org, KeyCode::Char('s')) => Some(Action::ToggleScim),
            (Screen::Org, KeyCode::Tab | KeyCode::BackTab) => Some(Action::SwitchPane),
            (Screen::Org, KeyCode::Char('a')) => Some(Action::Add),
            (Screen::Org, KeyCode::Char('x') | KeyCode::Delete) => Some(Action::Remove),
            (Screen::Org, KeyCode::Char('i')) => Some(Action::IssueKey),
            (Screen::Org, KeyCode::Char('u')) => Some(Action::OpenDirectory),
            (Screen::Org, KeyCode::Char('l')) => Some(Action::OrgActivity),
            (Screen::Org, KeyCode::Char('c')) => Some(Action::Copy),
            (Screen::Org, KeyCode::Char('r')) => Some(Action::RenameOrg),
            (Screen::Directory, KeyCode::Tab | KeyCode::BackTab) => Some(Action::SwitchPane),
            (Screen::Directory, KeyCode::Char('/')) => Some(Action::Search),
            (Screen::Detail, KeyCode::Char('n')) => Some(Action::PageDown),
            (Screen::Detail, KeyCode::Char('p')) => Some(Action::PageUp),
            (Screen::Activity, KeyCode::Char('p') | KeyCode::Char(' ')) => {
                Some(Action::TogglePause)
            }
            (Screen::Activity, KeyCode::Char('e')) => Some(Action::ToggleErrors),
            _ => None,
        };
        specific.or(common)
    }

    // ----- actions -----

    fn open_input(
        &mut self,
        purpose: InputPurpose,
        title: &str,
        fields: Vec<(&'static str, String)>,
    ) {
        self.dialog = Some(Dialog::Input {
            purpose,
            title: title.into(),
            fields: fields
                .into_iter()
                .map(|(label, value)| Field { label, value })
                .collect(),
            focus: 0,
            error: None,
        });
    }

    fn selected_org_id(&self) -> Option<String> {
        match self.screen() {
            Screen::Orgs => self.orgs.get(self.org_sel).map(|r| r.org.id.clone()),
            _ => self.org.as_ref().map(|o| o.org.id.clone()),
        }
    }

    fn push(&mut self, s: Screen) {
        if self.screen() != s {
            self.stack.push(s);
            self.status = None;
        }
    }

    /// Applies an action; writes are awaited until durable.
    pub async fn update(&mut self, action: Action) {
        if self.dialog.is_some() {
            self.update_dialog(action).await;
            return;
        }
        match action {
            Action::Quit => self.quit = true,
            Action::Back => {
                if self.stack.len() > 1 {
                    self.stack.pop();
                    self.status = None;
                    self.after_navigation();
                } else {
                    self.quit = true;
                }
            }
            Action::Help => self.dialog = Some(Dialog::Help),
            Action::GoOrgs => {
                self.stack = vec![Screen::Orgs];
                self.refresh_orgs();
            }
            Action::GoActivity => {
                self.activity.org = None;
                self.activity.selected = 0;
                self.stack = vec![Screen::Orgs, Screen::Activity];
            }
            Action::OrgActivity => {
                if let Some(id) = self.selected_org_id() {
                    self.activity.org = Some(id);
                    self.activity.selected = 0;
                    self.push(Screen::Activity);
                }
            }
            Action::Refresh => {
                self.refresh_orgs();
                self.after_navigation();
            }
            Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Top
            | Action::Bottom => self.move_selection(action),
            Action::Open => self.open(),
            Action::NewOrg => self.open_input(
                InputPurpose::CreateOrg,
                "New organization",
                vec![("id (a-z, 0-9, -)", String::new()), ("name", String::new())],
            ),
            Action::RenameOrg => {
                if let Some(id) = self.selected_org_id() {
                    let name = self.dir.get_org(&id).map(|o| o.name).unwrap_or_default();
                    self.open_input(
                        InputPurpose::RenameOrg(id.clone()),
                        &format!("Rename {id}"),
                        vec![("name", name)],
                    );
                }
            }
            Action::DeleteOrg => {
                if let Some(id) = self.selected_org_id() {
                    self.dialog = Some(Dialog::Confirm {
                        message: format!(
                            "Delete organization {id} with all its users, groups, keys and activity? This cannot be undone. Type its id to confirm."
                        ),
                        purpose: ConfirmPurpose::DeleteOrg(id),
                        typed: String::new(),
                        error: None,
                    });
                }
            }
            Action::ToggleScim => {
                if let Some(view) = &self.org {
                    let id = view.org.id.clone();
                    let on = !view.org.scim_enabled;
                    match self.dir.set_scim_enabled(&id, on).await {
                        Ok(_) => self.say(format!(
                            "SCIM is now {} for {id} (saved)",
                            if on { "on" } else { "off" }
                        )),
                        Err(e) => self.fail(err_text(e)),
                    }
                    self.load_org(&id);
                }
            }
            Action::SwitchPane => match self.screen() {
                Screen::Org => {
                    if let Some(v) = self.org.as_mut() {
                        v.pane = match v.pane {
                            OrgPane::Domains => OrgPane::Keys,
                            OrgPane::Keys => OrgPane::Domains,
                        };
                    }
                }
                Screen::Directory => {
                    if let Some(v) = self.directory.as_mut() {
                        v.tab = match v.tab {
                            DirTab::Users => DirTab::Groups,
                            DirTab::Groups => DirTab::Users,
                        };
                        v.selected = 0;
                        v.offset = 0;
                        v.search = None;
                    }
                    self.load_directory();
                }
                _ => {}
            },
            Action::Add => {
                if let Some(v) = &self.org {
                    let id = v.org.id.clone();
                    match v.pane {
                        OrgPane::Domains => self.open_input(
                            InputPurpose::AddDomain(id.clone()),
                            &format!("Add a SCIM domain to {id}"),
                            vec![("domain (e.g. example.com; * = any)", String::new())],
                        ),
                        OrgPane::Keys => self.open_issue_key(id),
                    }
                }
            }
            Action::IssueKey => {
                if let Some(id) = self.org.as_ref().map(|v| v.org.id.clone()) {
                    self.open_issue_key(id);
                }
            }
            Action::Remove => {
                if let Some(v) = &self.org {
                    let org = v.org.id.clone();
                    match v.pane {
                        OrgPane::Domains => {
                            if let Some(domain) = v.org.domains.get(v.domain_sel).cloned() {
                                self.dialog = Some(Dialog::Confirm {
                                    message: format!(
                                        "Remove domain {domain} from {org}? Users with addresses there can no longer be created. Press Enter to remove, Esc to keep."
                                    ),
                                    purpose: ConfirmPurpose::RemoveDomain { org, domain },
                                    typed: String::new(),
                                    error: None,
                                });
                            }
                        }
                        OrgPane::Keys => {
                            if let Some(k) =
                                v.keys.get(v.key_sel).filter(|k| k.is_active()).cloned()
                            {
                                self.dialog = Some(Dialog::Confirm {
                                    message: format!(
                                        "Revoke key {} ({})? IdPs using it get 401 from now on; this cannot be undone. Press Enter to revoke, Esc to keep.",
                                        k.id, k.name
                                    ),
                                    purpose: ConfirmPurpose::RevokeKey { org, key_id: k.id },
                                    typed: String::new(),
                                    error: None,
                                });
                            } else {
                                self.fail("select an active key to revoke");
                            }
                        }
                    }
                }
            }
            Action::OpenDirectory => {
                if let Some(org) = self.org.as_ref().map(|v| v.org.id.clone()) {
                    self.directory = Some(DirView {
                        org,
                        tab: DirTab::Users,
                        search: None,
                        ids: Vec::new(),
                        selected: 0,
                        offset: 0,
                        rows: Vec::new(),
                        error: None,
                    });
                    self.push(Screen::Directory);
                    self.load_directory();
                }
            }
            Action::Copy => {
                if let Some(v) = &self.org {
                    self.clipboard = Some(v.url.clone());
                    self.say("copied the SCIM base URL to the clipboard (OSC 52); it is also shown in full above");
                }
            }
            Action::Search => {
                let current = self
                    .directory
                    .as_ref()
                    .and_then(|d| d.search.clone())
                    .unwrap_or_default();
                self.open_input(
                    InputPurpose::Search,
                    "Search (a SCIM filter or a plain word; empty = all)",
                    vec![("search", current)],
                );
            }
            Action::TogglePause => {
                self.activity.paused = !self.activity.paused;
                if !self.activity.paused {
                    let held = std::mem::take(&mut self.activity.held);
                    for e in held {
                        self.push_event(e);
                    }
                }
            }
            Action::ToggleErrors => {
                self.activity.errors_only = !self.activity.errors_only;
                self.activity.selected = 0;
            }
            Action::Type(_)
            | Action::Backspace
            | Action::NextField
            | Action::Submit
            | Action::Cancel => {}
        }
    }

    fn open_issue_key(&mut self, org: String) {
        self.open_input(
            InputPurpose::IssueKey(org.clone()),
            &format!("Issue a SCIM key for {org}"),
            vec![("key name (e.g. okta)", String::new())],
        );
    }

    fn after_navigation(&mut self) {
        match self.screen() {
            Screen::Orgs => self.refresh_orgs(),
            Screen::Org => {
                if let Some(id) = self.org.as_ref().map(|v| v.org.id.clone()) {
                    self.load_org(&id);
                }
            }
            Screen::Directory => self.load_directory(),
            _ => {}
        }
    }

    fn open(&mut self) {
        match self.screen() {
            Screen::Orgs => {
                if let Some(id) = self.orgs.get(self.org_sel).map(|r| r.org.id.clone()) {
                    self.load_org(&id);
                    self.push(Screen::Org);
                }
            }
            Screen::Directory => {
                let target = self
                    .directory
                    .as_ref()
                    .and_then(|d| d.ids.get(d.selected).map(|id| (d.tab.kind(), id.clone())));
                if let Some((kind, id)) = target {
                    self.load_detail(kind, &id, 0);
                    self.push(Screen::Detail);
                }
            }
            Screen::Activity if !self.activity.visible().is_empty() => {
                self.push(Screen::ActivityDetail);
            }
            _ => {}
        }
    }

    fn move_selection(&mut self, action: Action) {
        let page = self.page_size.max(1);
        let step = |sel: usize, len: usize| -> usize {
            if len == 0 {
                return 0;
            }
            let last = len - 1;
            match action {
                Action::Up => sel.saturating_sub(1),
                Action::Down => (sel + 1).min(last),
                Action::PageUp => sel.saturating_sub(page),
                Action::PageDown => (sel + page).min(last),
                Action::Top => 0,
                Action::Bottom => last,
                _ => sel,
            }
        };
        match self.screen() {
            Screen::Orgs => self.org_sel = step(self.org_sel, self.orgs.len()),
            Screen::Org => {
                if let Some(v) = self.org.as_mut() {
                    match v.pane {
                        OrgPane::Domains => v.domain_sel = step(v.domain_sel, v.org.domains.len()),
                        OrgPane::Keys => v.key_sel = step(v.key_sel, v.keys.len()),
                    }
                }
            }
            Screen::Directory => {
                if let Some(v) = self.directory.as_mut() {
                    v.selected = step(v.selected, v.ids.len());
                }
                self.load_rows();
            }
            Screen::Detail => {
                let Some(d) = self.detail.as_ref() else {
                    return;
                };
                let (kind, id, page_no, count) =
                    (d.kind, d.id.clone(), d.member_page, d.member_count);
                let pages = (count as usize).div_ceil(20).max(1);
                match action {
                    Action::PageDown if kind == Kind::Group && page_no + 1 < pages => {
                        self.load_detail(kind, &id, page_no + 1)
                    }
                    Action::PageUp if kind == Kind::Group && page_no > 0 => {
                        self.load_detail(kind, &id, page_no - 1)
                    }
                    _ => {
                        if let Some(d) = self.detail.as_mut() {
                            d.scroll = step(d.scroll, d.lines.len());
                        }
                    }
                }
            }
            Screen::Activity => {
                let len = self.activity.visible().len();
                self.activity.selected = step(self.activity.selected, len);
            }
            Screen::ActivityDetail => {}
        }
    }

    async fn update_dialog(&mut self, action: Action) {
        let Some(dialog) = self.dialog.as_mut() else {
            return;
        };
        match (dialog, action) {
            (_, Action::Cancel) => {
                self.dialog = None;
            }
            (Dialog::Secret { .. }, Action::Copy) => {
                if let Some(Dialog::Secret { secret, .. }) = &self.dialog {
                    self.clipboard = Some(secret.clone());
                    self.say("copied the secret to the clipboard (OSC 52)");
                }
            }
            (
                Dialog::Input {
                    fields,
                    focus,
                    error,
                    ..
                },
                Action::Type(c),
            ) => {
                if let Some(f) = fields.get_mut(*focus) {
                    f.value.push(c);
                }
                *error = None;
            }
            (Dialog::Input { fields, focus, .. }, Action::Backspace) => {
                if let Some(f) = fields.get_mut(*focus) {
                    f.value.pop();
                }
            }
            (Dialog::Input { fields, focus, .. }, Action::NextField) => {
                *focus = (*focus + 1) % fields.len().max(1);
            }
            (Dialog::Confirm { typed, error, .. }, Action::Type(c)) => {
                typed.push(c);
                *error = None;
            }
            (Dialog::Confirm { typed, .. }, Action::Backspace) => {
                typed.pop();
            }
            (Dialog::Input { .. }, Action::Submit) => self.submit_input().await,
            (Dialog::Confirm { .. }, Action::Submit) => self.submit_confirm().await,
            _ => {}
        }
    }

    fn input_error(&mut self, message: String) {
        if let Some(Dialog::Input { error, .. } | Dialog::Confirm { error, .. }) =
            self.dialog.as_mut()
        {
            *error = Some(message);
        }
    }

    async fn submit_input(&mut self) {
        let Some(Dialog::Input {
            purpose, fields, ..
        }) = self.dialog.clone()
        else {
            return;
        };
        let value = |i: usize| {
            fields
                .get(i)
                .map(|f| f.value.trim().to_string())
                .unwrap_or_default()
        };
        match purpose {
            InputPurpose::CreateOrg => match self.dir.create_org(&value(0), &value(1)).await {
                Ok(org) => {
                    self.dialog = None;
                    self.say(format!("created organization {} (saved)", org.id));
                    self.refresh_orgs();
                    self.org_sel = self
                        .orgs
                        .iter()
                        .position(|r| r.org.id == org.id)
                        .unwrap_or(0);
                }
                Err(e) => self.input_error(err_text(e)),
            },
            InputPurpose::RenameOrg(id) => match self.dir.rename_org(&id, &value(0)).await {
                Ok(org) => {
                    self.dialog = None;
                    self.say(format!("renamed {} to {} (saved)", org.id, org.name));
                    self.after_navigation();
                }
                Err(e) => self.input_error(err_text(e)),
            },
            InputPurpose::AddDomain(id) => match self.dir.add_domain(&id, &value(0)).await {
                Ok(_) => {
                    self.dialog = None;
                    self.say(format!(
                        "added domain {} to {id} (saved)",
                        value(0).to_lowercase()
                    ));
                    self.load_org(&id);
                }
                Err(e) => self.input_error(err_text(e)),
            },
            InputPurpose::IssueKey(id) => {
                let name = value(0);
                let name = (!name.is_empty()).then_some(name);
                match self.dir.issue_key(&id, name.as_deref()).await {
                    Ok(issued) => {
                        self.dialog = Some(Dialog::Secret {
                            key_id: issued.key.id.clone(),
                            name: issued.key.name.clone(),
                            secret: issued.secret,
                            url: self.dir.scim_base_url(&id),
                        });
                        self.say(format!("issued key {} (saved)", issued.key.id));
                        self.load_org(&id);
                    }
                    Err(e) => self.input_error(err_text(e)),
                }
            }
            InputPurpose::Search => {
                let text = value(0);
                if let Some(v) = self.directory.as_mut() {
                    v.search = (!text.is_empty()).then_some(text);
                    v.selected = 0;
                    v.offset = 0;
                }
                self.load_directory();
                let error = self.directory.as_ref().and_then(|d| d.error.clone());
                match error {
                    Some(e) => self.input_error(e),
                    None => self.dialog = None,
                }
            }
        }
    }

    async fn submit_confirm(&mut self) {
        let Some(Dialog::Confirm { purpose, typed, .. }) = self.dialog.clone() else {
            return;
        };
        match purpose {
            ConfirmPurpose::DeleteOrg(id) => {
                if typed.trim() != id {
                    self.input_error(format!("type {id} exactly to delete it"));
                    return;
                }
                match self.dir.delete_org(&id).await {
                    Ok(()) => {
                        self.dialog = None;
                        self.say(format!("deleted organization {id} (saved)"));
                        self.org = None;
                        self.stack = vec![Screen::Orgs];
                        self.refresh_orgs();
                    }
                    Err(e) => self.input_error(err_text(e)),
                }
            }
            ConfirmPurpose::RevokeKey { org, key_id } => {
                self.dialog = None;
                match self.dir.revoke_key(&org, &key_id).await {
                    Ok(_) => self.say(format!("revoked key {key_id} (saved)")),
                    Err(e) => self.fail(err_text(e)),
                }
                self.load_org(&org);
            }
            ConfirmPurpose::RemoveDomain { org, domain } => {
                self.dialog = None;
                match self.dir.remove_domain(&org, &domain).await {
                    Ok(_) => self.say(format!("removed domain {domain} (saved)")),
                    Err(e) => self.fail(err_text(e)),
                }
                self.load_org(&org);
            }
        }
    }

    /// Called on a timer: rolls the per-minute chart and drops old rate samples.
    pub fn tick(&mut self) {
        if self.stale
            && self.dialog.is_none()
            && matches!(self.screen(), Screen::Orgs | Screen::Org)
        {
            self.stale = false;
            self.after_navigation();
        }
        let now = crate::store::now();
        self.activity.rates.tick(now);
        let from = now - time::Duration::seconds(10);
        while self.activity.recent.front().is_some_and(|t| *t < from) {
            self.activity.recent.pop_front();
        }
    }

    /// The record the activity detail shows.
    pub fn selected_event(&self) -> Option<Arc<ActivityEvent>> {
        self.activity
            .visible()
            .get(self.activity.selected)
            .map(|e| (*e).clone())
    }
}

/// A plain word becomes a filter over the usual name attributes; anything that parses as a
/// filter is used as one.
pub fn search_filter(kind: Kind, text: &str) -> String {
    const OPERATORS: [&str; 13] = [
        "eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr", "and", "or", "not",
    ];
    let looks_like_filter = text
        .split_whitespace()
        .skip(1)
        .any(|w| OPERATORS.iter().any(|op| w.eq_ignore_ascii_case(op)));
    if looks_like_filter {
        return text.to_string();
    }
    let quoted = serde_json::to_string(text).unwrap_or_default();
    match kind {
        Kind::User => format!(
            "userName co {quoted} or displayName co {quoted} or name.givenName co {quoted} or name.familyName co {quoted} or emails.value co {quoted} or externalId eq {quoted}"
        ),
        Kind::Group => format!("displayName co {quoted} or externalId eq {quoted}"),
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
