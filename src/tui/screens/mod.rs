//! Drawing: one module per screen. Drawing reads the state and never changes it (the page size
//! the lists can show is reported back through the return value of [`draw`]).

pub mod activity;
pub mod detail;
pub mod dialogs;
pub mod directory;
pub mod org;
pub mod orgs;
pub mod schemas;
pub mod webhooks;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::app::{App, Screen};

pub const ACCENT: Color = Color::Cyan;
pub const GOOD: Color = Color::Green;
pub const BAD: Color = Color::Red;
pub const WARN: Color = Color::Yellow;

pub fn selected_style() -> Style {
    Style::default().add_modifier(Modifier::REVERSED)
}

pub fn bold() -> Style {
    Style::default().add_modifier(Modifier::BOLD)
}

/// Cuts `s` to `width` characters, ending with `…` when cut.
pub fn fit(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `in 3s`, `in 5m`, `in 2h`, `in 4d` (`now` when past).
pub fn until(t: time::OffsetDateTime, now: time::OffsetDateTime) -> String {
    let secs = (t - now).whole_seconds();
    match secs {
        ..=0 => "now".into(),
        1..=59 => format!("in {secs}s"),
        60..=3599 => format!("in {}m", secs / 60),
        3600..=86_399 => format!("in {}h", secs / 3600),
        _ => format!("in {}d", secs / 86_400),
    }
}

/// `3s ago`, `5m ago`, `2h ago`, `4d ago`.
pub fn ago(t: time::OffsetDateTime, now: time::OffsetDateTime) -> String {
    let secs = (now - t).whole_seconds().max(0);
    match secs {
        0..=59 => format!("{secs}s ago"),
        60..=3599 => format!("{}m ago", secs / 60),
        3600..=86_399 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}

/// Draws the whole dashboard; returns how many list rows the body can show.
pub fn draw(frame: &mut Frame, app: &App) -> usize {
    let [top, body, status, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    draw_top(frame, app, top);
    let rows = match app.screen() {
        Screen::Orgs => orgs::draw(frame, app, body),
        Screen::Org => org::draw(frame, app, body),
        Screen::Directory => directory::draw(frame, app, body),
        Screen::Detail => detail::draw(frame, app, body),
        Screen::Activity => activity::draw(frame, app, body),
        Screen::ActivityDetail => activity::draw_detail(frame, app, body),
        Screen::Webhooks => webhooks::draw(frame, app, body),
        Screen::Guide => org::draw_guide(frame, app, body),
        Screen::Schemas => schemas::draw(frame, app, body),
    };
    if let Some((text, is_error)) = &app.status {
        let style = if *is_error {
            Style::default().fg(BAD)
        } else {
            Style::default().fg(GOOD)
        };
        let prefix = if *is_error { "error: " } else { "" };
        frame.render_widget(
            Paragraph::new(Line::from(Span::styled(format!("{prefix}{text}"), style))),
            status,
        );
    }
    draw_footer(frame, app, footer);
    if app.dialog.is_some() {
        dialogs::draw(frame, app);
    }
    rows
}

fn draw_top(frame: &mut Frame, app: &App, area: Rect) {
    let tab = |n: &str, label: &str, on: bool| {
        let style = if on {
            bold().fg(ACCENT).add_modifier(Modifier::REVERSED)
        } else {
            Style::default()
        };
        Span::styled(format!(" {n} {label} "), style)
    };
    let on_activity = matches!(app.screen(), Screen::Activity | Screen::ActivityDetail);
    let on_webhooks = app.screen() == Screen::Webhooks;
    let on_schemas = app.screen() == Screen::Schemas;
    let mut spans = vec![
        Span::styled(" scimdesk ", bold().fg(ACCENT)),
        tab(
            "1",
            "Organizations",
            !on_activity && !on_webhooks && !on_schemas,
        ),
        Span::raw(" "),
        tab("2", "Activity", on_activity),
        Span::raw(" "),
        tab("3", "Webhooks", on_webhooks),
        Span::raw(" "),
        tab("4", "Schemas", on_schemas),
        Span::raw("  "),
    ];
    let live = if app.activity.paused {
        "paused"
    } else {
        "live"
    };
    let rate = app.activity.rate(crate::store::now());
    spans.push(Span::styled(
        format!("SCIM on {}  {live} {rate:.1} req/s", app.listen),
        Style::default().fg(Color::DarkGray),
    ));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_footer(frame: &mut Frame, app: &App, area: Rect) {
    let mut spans = vec![Span::raw(" ")];
    for (k, label) in crate::tui::keymap::footer(app) {
        spans.push(Span::styled(
            k.to_string(),
            Style::default().add_modifier(Modifier::REVERSED),
        ));
        spans.push(Span::raw(format!(" {label}  ")));
    }
    // Where the server runs: in this process, or elsewhere with this dashboard attached.
    let used: usize = spans.iter().map(|s| s.content.chars().count()).sum();
    let mode = app.ops.mode();
    let room = (area.width as usize).saturating_sub(used);
    if room > mode.chars().count() + 2 {
        spans.push(Span::raw(" ".repeat(room - mode.chars().count() - 1)));
        spans.push(Span::styled(mode, Style::default().fg(Color::DarkGray)));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
