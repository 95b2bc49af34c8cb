//! The dashboard's state and its one way to change: keys become [`Action`]s (see `keymap`),
//! and [`App::update`] applies them, calling the operator's operations. Writes are awaited, so
//! the screen says "saved" only once they are durable.
//!
//! One file on purpose: it is the one place state changes (`update` and what it calls); views,
//! dialogs, loading and drawing live in their own modules.

use std::collections::VecDeque;
use std::sync::Arc;

use ratatui::crossterm::event::KeyEvent;

pub use super::dialogs::{ConfirmPurpose, Dialog, Field, InputPurpose, SecretKind};
pub use super::keymap::Action;
pub use super::views::*;
use crate::activity::ActivityEvent;
use crate::control::{Control, MEMBER_PAGE};
use crate::scim::schema::ResourceKind;

pub struct App {
    /// Where every read and write goes: a local directory or a running server.
    pub ops: Arc<dyn Control>,
    pub stack: Vec<Screen>,
    pub dialog: Option<Dialog>,
    pub status: Option<(String, bool)>,
    pub orgs: Vec<OrgRow>,
    pub org_sel: usize,
    pub org: Option<OrgView>,
    pub directory: Option<DirView>,
    pub detail: Option<DetailView>,
    pub activity: ActivityView,
    pub webhooks: WebhooksView,
    pub schemas: SchemasView,
    /// The "Connect an IdP" guide: which IdP, and how far it is scrolled.
    pub guide: (crate::control::guides::GuideIdp, usize),
    pub quit: bool,
    /// Text to put on the clipboard with OSC 52 at the next draw.
    pub clipboard: Option<String>,
    /// Rows the current list shows (set from what drawing reports).
    pub page_size: usize,
    /// Where SCIM is served, for the top bar.
    pub listen: String,
    /// Activity arrived since the counts on screen were read.
    pub stale: bool,
}

impl App {
    /// A dashboard over `ops`; call [`App::load`] before the first frame.
    pub fn new(ops: Arc<dyn Control>, listen: String) -> App {
        let now = crate::store::now();
        App {
            ops,
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
            webhooks: WebhooksView::default(),
            guide: (crate::control::guides::GuideIdp::Okta, 0),
            schemas: SchemasView::default(),
            quit: false,
            clipboard: None,
            page_size: 15,
            listen,
            stale: false,
        }
    }

    /// Reads what the first screen shows.
    pub async fn load(&mut self) {
        self.refresh_orgs().await;
        self.reload_activity().await;
    }

    pub fn screen(&self) -> Screen {
        *self.stack.last().unwrap_or(&Screen::Orgs)
    }

    pub(super) fn say(&mut self, text: impl Into<String>) {
        self.status = Some((text.into(), false));
    }

    pub(super) fn fail(&mut self, text: impl Into<String>) {
        self.status = Some((text.into(), true));
    }

    /// Maps a key press to an action for the current screen or dialog (see `keymap`).
    pub fn handle_key(&self, key: KeyEvent) -> Option<Action> {
        super::keymap::dispatch(self, key)
    }

    /// A live event from the feed: shown and counted.
    pub fn on_activity(&mut self, e: Arc<ActivityEvent>) {
        self.activity.rates.add(&e);
        self.count_recent(e.time, 1);
        self.on_shown(e);
    }

    /// A live event to show (a [`FeedItem::Tally`](crate::control::FeedItem) counts it).
    pub fn on_shown(&mut self, e: Arc<ActivityEvent>) {
        self.stale = true;
        if self.activity.paused {
            self.activity.held.push(e);
            if self.activity.held.len() > FEED_LEN {
                self.activity.held.remove(0);
            }
            return;
        }
        self.push_event(e);
    }

    /// Exact counts of live requests: (unix minute, requests, errors).
    pub fn on_tally(&mut self, minutes: &[(i64, u64, u64)]) {
        let mut total = 0;
        for &(minute, requests, errors) in minutes {
            self.activity.rates.add_counts(minute, requests, errors);
            total += requests;
        }
        self.count_recent(crate::store::now(), total);
    }

    fn count_recent(&mut self, at: time::OffsetDateTime, n: u64) {
        self.activity.recent.push_back((at, n));
        while self.activity.recent.len() > 10_000 {
            self.activity.recent.pop_front();
        }
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
    pub async fn on_missed(&mut self, n: u64) {
        self.activity.missed += n;
        self.reload_activity().await;
    }

    /// Called on a timer: refreshes stale counts, rolls the per-minute chart and drops old
    /// rate samples.
    pub async fn tick(&mut self) {
        // Deliveries move on their own: the webhooks screen is read again on every tick.
        if self.dialog.is_none() && self.screen() == Screen::Webhooks {
            self.load_webhooks().await;
        }
        if self.stale
            && self.dialog.is_none()
            && matches!(self.screen(), Screen::Orgs | Screen::Org)
        {
            self.stale = false;
            self.after_navigation().await;
        }
        let now = crate::store::now();
        self.activity.rates.tick(now);
        let from = now - time::Duration::seconds(10);
        while self.activity.recent.front().is_some_and(|(t, _)| *t < from) {
            self.activity.recent.pop_front();
        }
    }

    /// The guide the "Connect an IdP" screen shows, for the organization open.
    pub fn guide_text(&self) -> Option<String> {
        use crate::control::guides::{GuideFacts, render};
        let v = self.org.as_ref()?;
        Some(render(
            self.guide.0,
            &GuideFacts {
                org: &v.org.id,
                org_name: &v.org.name,
                base_url: &v.url,
                domains: &v.org.domains,
                scim_enabled: v.org.scim_enabled,
            },
        ))
    }

    /// Whether live activity changes what is on screen beyond the counts (the activity feed
    /// is open): then each frame shows it; otherwise a redraw a few times a second keeps the
    /// counts current without drawing thirty frames a second for a screen that looks the same.
    pub fn feed_on_screen(&self) -> bool {
        self.screen() == Screen::Activity
    }

    /// The record the activity detail shows.
    pub fn selected_event(&self) -> Option<Arc<ActivityEvent>> {
        self.activity
            .visible()
            .get(self.activity.selected)
            .map(|e| (*e).clone())
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

    /// Reloads what the screen now on top shows.
    pub(super) async fn after_navigation(&mut self) {
        match self.screen() {
            Screen::Orgs => self.refresh_orgs().await,
            Screen::Org => {
                if let Some(id) = self.org.as_ref().map(|v| v.org.id.clone()) {
                    self.load_org(&id).await;
                }
            }
            Screen::Directory => self.load_directory().await,
            Screen::Webhooks => self.load_webhooks().await,
            Screen::Schemas => self.load_schemas().await,
            _ => {}
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
                    self.after_navigation().await;
                } else {
                    self.quit = true;
                }
            }
            Action::Help => self.dialog = Some(Dialog::Help),
            Action::GoOrgs => {
                self.stack = vec![Screen::Orgs];
                self.refresh_orgs().await;
            }
            Action::GoActivity => {
                self.activity.org = None;
                self.activity.selected = 0;
                self.stack = vec![Screen::Orgs, Screen::Activity];
            }
            Action::GoSchemas => {
                self.stack = vec![Screen::Orgs, Screen::Schemas];
                self.status = None;
                self.load_schemas().await;
            }
            Action::Add if self.screen() == Screen::Schemas => self.open_input(
                InputPurpose::AddSchema,
                "Declare an extension schema (an RFC 7643 schema file)",
                vec![
                    ("path to the schema's JSON file", String::new()),
                    ("organization (empty: every organization)", String::new()),
                ],
            ),
            Action::Remove if self.screen() == Screen::Schemas => {
                if let Some(s) = self.schemas.list.get(self.schemas.selected).cloned() {
                    self.confirm(
                        ConfirmPurpose::RemoveSchema {
                            urn: s.urn.clone(),
                            org: s.org.clone(),
                        },
                        format!(
                            "Remove {} ({})? IdPs can no longer send its attributes. Refused while stored users carry its values (scimdesk schema remove --force removes it anyway). Press Enter to remove, Esc to keep.",
                            s.urn,
                            s.org.as_deref().map_or("every organization".to_string(), |o| format!("organization {o}"))
                        ),
                    );
                }
            }
            Action::GoWebhooks => {
                self.stack = vec![Screen::Orgs, Screen::Webhooks];
                self.status = None;
                self.load_webhooks().await;
            }
            Action::ToggleEnabled => {
                if let Some(w) = self.webhooks.current().cloned() {
                    match self.ops.set_webhook_enabled(&w.id, !w.enabled).await {
                        Ok(now) if now.enabled => self.say(format!(
                            "enabled {}: delivering its backlog of {} (saved)",
                            w.id, now.backlog
                        )),
                        Ok(_) => self.say(format!(
                            "disabled {}: events wait until it is enabled (saved)",
                            w.id
                        )),
                        Err(e) => self.fail(e.message),
                    }
                    self.load_webhooks().await;
                }
            }
            Action::RetryNow => {
                if let Some(w) = self.webhooks.current().cloned() {
                    match self.ops.retry_webhook_now(&w.id).await {
                        Ok(()) => self.say(format!("retrying what {} has waiting, now", w.id)),
                        Err(e) => self.fail(e.message),
                    }
                    self.load_webhooks().await;
                }
            }
            Action::SendTest => {
                if let Some(w) = self.webhooks.current().cloned() {
                    match self.ops.test_webhook(&w.id).await {
                        Ok(a) if a.status.is_some_and(|s| (200..300).contains(&s)) => {
                            self.say(format!(
                                "test event delivered to {}: {} in {:.1}ms",
                                w.id,
                                a.status.unwrap_or_default(),
                                a.latency_ms
                            ))
                        }
                        Ok(a) => self.fail(format!(
                            "test event to {} not delivered: {}",
                            w.id,
                            a.error.as_deref().unwrap_or("no reply")
                        )),
                        Err(e) => self.fail(e.message),
                    }
                    self.load_webhooks().await;
                }
            }
            Action::Replay => {
                if let Some(w) = self.webhooks.current().cloned() {
                    self.open_input(
                        InputPurpose::ReplayWebhook(w.id.clone()),
                        &format!("Deliver events to {} again", w.id),
                        vec![(
                            "from: a cursor (after it), a time or a duration ago (2h)",
                            String::new(),
                        )],
                    );
                }
            }
            Action::RotateSecret => {
                if let Some(w) = self.webhooks.current().cloned() {
                    self.confirm(
                        ConfirmPurpose::RotateWebhookSecret(w.id.clone()),
                        format!(
                            "Issue a new signing secret for {}? The current one keeps signing beside it for 24 hours, so receivers can switch without missing a delivery. Press Enter to rotate, Esc to keep.",
                            w.id
                        ),
                    );
                }
            }
            Action::OrgActivity => {
                if let Some(id) = self.selected_org_id() {
                    self.activity.org = Some(id);
                    self.activity.selected = 0;
                    self.push(Screen::Activity);
                }
            }
            Action::Refresh => {
                self.refresh_orgs().await;
                self.after_navigation().await;
            }
            Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Top
            | Action::Bottom => self.move_selection(action).await,
            Action::Open => self.open().await,
            Action::NewOrg => self.open_input(
                InputPurpose::CreateOrg,
                "New organization",
                vec![("id (a-z, 0-9, -)", String::new()), ("name", String::new())],
            ),
            Action::RenameOrg => {
                if let Some(id) = self.selected_org_id() {
                    let name = self
                        .orgs
                        .iter()
                        .map(|r| &r.org)
                        .chain(self.org.as_ref().map(|v| &v.org))
                        .find(|o| o.id == id)
                        .map(|o| o.name.clone())
                        .unwrap_or_default();
                    self.open_input(
                        InputPurpose::RenameOrg(id.clone()),
                        &format!("Rename {id}"),
                        vec![("name", name)],
                    );
                }
            }
            Action::DeleteOrg => {
                if let Some(id) = self.selected_org_id() {
                    self.confirm(
                        ConfirmPurpose::DeleteOrg(id.clone()),
                        format!(
                            "Delete organization {id} with all its users, groups, keys and activity? This cannot be undone. Type its id to confirm."
                        ),
                    );
                }
            }
            Action::ToggleScim => {
                if let Some(view) = &self.org {
                    let id = view.org.id.clone();
                    let on = !view.org.scim_enabled;
                    match self.ops.set_scim(&id, on).await {
                        Ok(_) => self.say(format!(
                            "SCIM is now {} for {id} (saved)",
                            if on { "on" } else { "off" }
                        )),
                        Err(e) => self.fail(e.message),
                    }
                    self.load_org(&id).await;
                }
            }
            Action::SwitchPane => self.switch_pane().await,
            Action::Add if self.screen() == Screen::Webhooks => self.open_input(
                InputPurpose::AddWebhook,
                "Add a webhook endpoint",
                vec![
                    ("URL (https; http only to loopback)", String::new()),
                    ("organization (empty: every organization)", String::new()),
                    (
                        "events (e.g. user.*,group.user_added; empty: all)",
                        String::new(),
                    ),
                ],
            ),
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
                        OrgPane::AppKeys => self.open_input(
                            InputPurpose::IssueAppKey(id.clone()),
                            &format!("Issue an application key that reads {id}"),
                            vec![("key name (e.g. billing-app)", String::new())],
                        ),
                    }
                }
            }
            Action::IssueKey => {
                if let Some(id) = self.org.as_ref().map(|v| v.org.id.clone()) {
                    self.open_issue_key(id);
                }
            }
            Action::Remove if self.screen() == Screen::Webhooks => {
                if let Some(w) = self.webhooks.current().cloned() {
                    self.confirm(
                        ConfirmPurpose::RemoveWebhook(w.id.clone()),
                        format!(
                            "Remove webhook endpoint {} ({})? Its deliveries stop and its state is deleted. Press Enter to remove, Esc to keep.",
                            w.id, w.url
                        ),
                    );
                }
            }
            Action::Remove => self.remove_selected(),
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
                    self.load_directory().await;
                }
            }
            Action::Guide => {
                if self.org.is_some() {
                    self.guide.1 = 0;
                    self.push(Screen::Guide);
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
                    for e in std::mem::take(&mut self.activity.held) {
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

    async fn switch_pane(&mut self) {
        match self.screen() {
            Screen::Guide => {
                use crate::control::guides::GuideIdp;
                let all = GuideIdp::ALL;
                let at = all.iter().position(|i| *i == self.guide.0).unwrap_or(0);
                self.guide = (all[(at + 1) % all.len()], 0);
            }
            Screen::Org => {
                if let Some(v) = self.org.as_mut() {
                    v.pane = v.pane.next();
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
                self.load_directory().await;
            }
            _ => {}
        }
    }

    /// Asks to remove the selected domain or revoke the selected key.
    fn remove_selected(&mut self) {
        let Some(v) = &self.org else { return };
        let org = v.org.id.clone();
        match v.pane {
            OrgPane::Domains => {
                if let Some(domain) = v.org.domains.get(v.domain_sel).cloned() {
                    self.confirm(
                        ConfirmPurpose::RemoveDomain {
                            org: org.clone(),
                            domain: domain.clone(),
                        },
                        format!(
                            "Remove domain {domain} from {org}? Users with addresses there can no longer be created. Press Enter to remove, Esc to keep."
                        ),
                    );
                }
            }
            OrgPane::Keys => {
                if let Some(k) = v.keys.get(v.key_sel).filter(|k| k.is_active()).cloned() {
                    self.confirm(
                        ConfirmPurpose::RevokeKey {
                            org,
                            key_id: k.id.clone(),
                        },
                        format!(
                            "Revoke key {} ({})? IdPs using it get 401 from now on; this cannot be undone. Press Enter to revoke, Esc to keep.",
                            k.id, k.name
                        ),
                    );
                } else {
                    self.fail("select an active key to revoke");
                }
            }
            OrgPane::AppKeys => {
                if let Some(k) = v
                    .app_keys
                    .get(v.app_key_sel)
                    .filter(|k| k.is_active())
                    .cloned()
                {
                    self.confirm(
                        ConfirmPurpose::RevokeAppKey {
                            org,
                            key_id: k.id.clone(),
                        },
                        format!(
                            "Revoke application key {} ({})? The application using it gets 401 from now on; this cannot be undone. Press Enter to revoke, Esc to keep.",
                            k.id, k.name
                        ),
                    );
                } else {
                    self.fail("select an active application key to revoke");
                }
            }
        }
    }

    async fn open(&mut self) {
        match self.screen() {
            Screen::Orgs => {
                if let Some(id) = self.orgs.get(self.org_sel).map(|r| r.org.id.clone()) {
                    self.load_org(&id).await;
                    self.push(Screen::Org);
                }
            }
            Screen::Directory => {
                let target = self
                    .directory
                    .as_ref()
                    .and_then(|d| d.ids.get(d.selected).map(|id| (d.tab.kind(), id.clone())));
                if let Some((kind, id)) = target {
                    self.load_detail(kind, &id, 0).await;
                    self.push(Screen::Detail);
                }
            }
            Screen::Activity if !self.activity.visible().is_empty() => {
                self.push(Screen::ActivityDetail);
            }
            _ => {}
        }
    }

    async fn move_selection(&mut self, action: Action) {
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
                        OrgPane::AppKeys => v.app_key_sel = step(v.app_key_sel, v.app_keys.len()),
                    }
                }
            }
            Screen::Directory => {
                if let Some(v) = self.directory.as_mut() {
                    v.selected = step(v.selected, v.ids.len());
                }
                self.load_rows().await;
            }
            Screen::Detail => {
                let Some(d) = self.detail.as_ref() else {
                    return;
                };
                let (kind, id, page_no) = (d.kind, d.id.clone(), d.member_page);
                let pages = (d.member_count as usize).div_ceil(MEMBER_PAGE).max(1);
                match action {
                    Action::PageDown if kind == ResourceKind::Group && page_no + 1 < pages => {
                        self.load_detail(kind, &id, page_no + 1).await
                    }
                    Action::PageUp if kind == ResourceKind::Group && page_no > 0 => {
                        self.load_detail(kind, &id, page_no - 1).await
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
            Screen::Guide => {
                let lines = self.guide_text().map_or(0, |t| t.lines().count());
                self.guide.1 = step(self.guide.1, lines);
            }
            Screen::Schemas => {
                self.schemas.selected = step(self.schemas.selected, self.schemas.list.len());
            }
            Screen::Webhooks => {
                let before = self.webhooks.selected;
                self.webhooks.selected = step(before, self.webhooks.list.len());
                if self.webhooks.selected != before {
                    self.load_webhooks().await;
                }
            }
        }
    }
}
