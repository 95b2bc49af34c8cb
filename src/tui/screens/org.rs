//! One organization: SCIM switch, base URL, sync health, warnings, domains and keys; and the
//! "Connect an IdP" guide.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, List, ListItem, ListState, Paragraph, Wrap};

use super::{ACCENT, BAD, GOOD, WARN, ago, bold, fit, selected_style};

const DIM: ratatui::style::Color = ratatui::style::Color::DarkGray;

/// "last request 2m ago from Okta · 24h: 1204 requests, 3 errors".
fn health_line(v: &OrgView) -> Line<'static> {
    let h = &v.health;
    let now = crate::store::now();
    let last = match (h.last_request, &h.last_idp) {
        (Some(t), Some(idp)) => format!("last request {} from {}", ago(t, now), idp.label()),
        (Some(t), None) => format!("last request {}", ago(t, now)),
        _ => "no request from an IdP yet".to_string(),
    };
    let errors = Span::styled(
        format!(
            "{} error{}",
            h.errors_24h,
            if h.errors_24h == 1 { "" } else { "s" }
        ),
        if h.errors_24h > 0 {
            Style::default().fg(BAD)
        } else {
            Style::default()
        },
    );
    Line::from(vec![
        Span::raw(format!("{last} · 24h: {} requests, ", h.requests_24h)),
        errors,
    ])
}

/// "Connect an IdP": a tab per IdP, the guide with this organization filled in.
pub fn draw_guide(frame: &mut Frame, app: &App, area: Rect) -> usize {
    use crate::control::guides::GuideIdp;
    let Some(text) = app.guide_text() else {
        frame.render_widget(Paragraph::new("no organization selected"), area);
        return 0;
    };
    let [tabs, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(3)]).areas(area);
    let mut spans = vec![Span::raw(" ")];
    for idp in GuideIdp::ALL {
        let style = if idp == app.guide.0 {
            bold()
                .fg(ACCENT)
                .add_modifier(ratatui::style::Modifier::REVERSED)
        } else {
            Style::default()
        };
        spans.push(Span::styled(format!(" {} ", idp.label()), style));
        spans.push(Span::raw(" "));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), tabs);
    let lines: Vec<Line> = text
        .lines()
        .skip(app.guide.1)
        .map(|l| Line::from(l.to_string()))
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(format!(" Connect {} ", app.guide.0.label())),
        ),
        body,
    );
    body.height.saturating_sub(2) as usize
}
use crate::tui::app::{App, OrgPane, OrgView};

pub fn draw(frame: &mut Frame, app: &App, area: Rect) -> usize {
    let Some(v) = &app.org else {
        frame.render_widget(Paragraph::new("no organization selected"), area);
        return 0;
    };
    let warnings = v.warnings();
    let [head, warn_area, panes] = Layout::vertical([
        Constraint::Length(5 + u16::from(!v.health.unmapped.is_empty())),
        Constraint::Length(warnings.len() as u16 + if warnings.is_empty() { 0 } else { 2 }),
        Constraint::Min(3),
    ])
    .areas(area);
    let scim = if v.org.scim_enabled {
        Span::styled("SCIM on", bold().fg(GOOD))
    } else {
        Span::styled("SCIM off", bold().fg(BAD))
    };
    let head_text = vec![
        Line::from(vec![
            Span::styled(v.org.name.clone(), bold()),
            Span::raw(format!("  ({})  ", v.org.id)),
            scim,
            Span::raw(format!(
                "  · {} users ({} active), {} groups",
                v.users, v.active_users, v.groups
            )),
        ]),
        Line::from(vec![
            Span::raw("SCIM base URL: "),
            Span::styled(v.url.clone(), Style::default().fg(ACCENT)),
            Span::styled("   g: connect an IdP", Style::default().fg(DIM)),
        ]),
        health_line(v),
    ];
    let mut head_text = head_text;
    if !v.health.unmapped.is_empty() {
        let names: Vec<String> = v
            .health
            .unmapped
            .iter()
            .take(4)
            .map(|u| format!("{} ×{}", u.name, u.count))
            .collect();
        let more = v.health.unmapped.len().saturating_sub(4);
        head_text.push(Line::from(vec![
            Span::styled(
                "Sent but not declared (7 days): ",
                Style::default().fg(WARN),
            ),
            Span::raw(names.join(", ")),
            Span::raw(if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }),
            Span::styled("  (scimdesk schema add)", Style::default().fg(DIM)),
        ]));
    }
    frame.render_widget(
        Paragraph::new(head_text).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Organization "),
        ),
        head,
    );
    if !warnings.is_empty() {
        let lines: Vec<Line> = warnings
            .iter()
            .map(|w| Line::from(Span::styled(format!("! {w}"), Style::default().fg(WARN))))
            .collect();
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .block(Block::default().borders(Borders::ALL).title(" Warnings ")),
            warn_area,
        );
    }
    let [top, app_area] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(app_height(v))]).areas(panes);
    let [domains_area, keys_area] =
        Layout::horizontal([Constraint::Percentage(35), Constraint::Percentage(65)]).areas(top);
    let focus = |p: OrgPane| {
        if v.pane == p {
            bold().fg(ACCENT)
        } else {
            Style::default()
        }
    };

    let domain_items: Vec<ListItem> = if v.org.domains.is_empty() {
        vec![ListItem::new("(none: press a to add)")]
    } else {
        v.org
            .domains
            .iter()
            .map(|d| {
                ListItem::new(if d == "*" {
                    "* (any domain: testing only)".to_string()
                } else {
                    d.clone()
                })
            })
            .collect()
    };
    let mut ds = ListState::default();
    if v.pane == OrgPane::Domains && !v.org.domains.is_empty() {
        ds.select(Some(v.domain_sel));
    }
    frame.render_stateful_widget(
        List::new(domain_items)
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(Span::styled(" Domains ", focus(OrgPane::Domains))),
            )
            .highlight_style(selected_style())
            .highlight_symbol("> "),
        domains_area,
        &mut ds,
    );

    let now = crate::store::now();
    let width = keys_area.width.saturating_sub(4) as usize;
    let key_items: Vec<ListItem> = if v.keys.is_empty() {
        vec![ListItem::new("(none: press i to issue one)")]
    } else {
        v.keys
            .iter()
            .map(|k| {
                let state = match k.revoked {
                    Some(_) => Span::styled("revoked ", Style::default().fg(BAD)),
                    None => Span::styled("active  ", Style::default().fg(GOOD)),
                };
                let used = k
                    .last_used
                    .map(|t| format!("used {}", ago(t, now)))
                    .unwrap_or_else(|| "never used".into());
                let revoked = k
                    .revoked
                    .map(|t| format!(", revoked {}", ago(t, now)))
                    .unwrap_or_default();
                let text = fit(
                    &format!(
                        "{} {}  created {}, {used}{revoked}",
                        k.id,
                        k.name,
                        ago(k.created, now)
                    ),
                    width.saturating_sub(10),
                );
                ListItem::new(Line::from(vec![state, Span::raw(text)]))
            })
            .collect()
    };
    let mut ks = ListState::default();
    if v.pane == OrgPane::Keys && !v.keys.is_empty() {
        ks.select(Some(v.key_sel));
    }
    frame.render_stateful_widget(
        List::new(key_items)
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(Span::styled(" Keys ", focus(OrgPane::Keys))),
            )
            .highlight_style(selected_style())
            .highlight_symbol("> "),
        keys_area,
        &mut ks,
    );
    draw_app(frame, v, app_area, focus(OrgPane::AppKeys));
    top.height.saturating_sub(2) as usize
}

/// Rows the application pane takes: its keys (at least one line) and the feed line.
fn app_height(v: &OrgView) -> u16 {
    (v.app_keys.len().clamp(1, 4) + 3) as u16
}

/// The application side: the change feed's position and the application keys that read this
/// organization.
fn draw_app(frame: &mut Frame, v: &OrgView, area: Rect, title_style: Style) {
    let now = crate::store::now();
    let feed = match &v.feed {
        Some(f) => format!(
            "feed head {} · {} event{} in the last hour · {} key{} for all organizations",
            f.head,
            f.org_events_last_hour,
            if f.org_events_last_hour == 1 { "" } else { "s" },
            v.global_app_keys,
            if v.global_app_keys == 1 { "" } else { "s" },
        ),
        None => "change feed: unavailable".into(),
    };
    let width = area.width.saturating_sub(4) as usize;
    let mut items = vec![ListItem::new(Span::styled(
        fit(&feed, width),
        Style::default().fg(ratatui::style::Color::DarkGray),
    ))];
    if v.app_keys.is_empty() {
        items.push(ListItem::new(
            "(no application key for this organization: Tab here, then a)",
        ));
    }
    for k in &v.app_keys {
        let state = match k.revoked {
            Some(_) => Span::styled("revoked ", Style::default().fg(BAD)),
            None => Span::styled("active  ", Style::default().fg(GOOD)),
        };
        let used = k
            .last_used
            .map(|t| format!("used {}", ago(t, now)))
            .unwrap_or_else(|| "never used".into());
        items.push(ListItem::new(Line::from(vec![
            state,
            Span::raw(fit(
                &format!(
                    "{} {}  created {}, {used}",
                    k.id,
                    k.name,
                    ago(k.created, now)
                ),
                width.saturating_sub(10),
            )),
        ])));
    }
    let mut state = ListState::default();
    if v.pane == OrgPane::AppKeys && !v.app_keys.is_empty() {
        state.select(Some(v.app_key_sel + 1));
    }
    frame.render_stateful_widget(
        List::new(items)
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(Span::styled(" Application API ", title_style)),
            )
            .highlight_style(selected_style())
            .highlight_symbol("> "),
        area,
        &mut state,
    );
}
