//! The webhooks screen: every endpoint with its state, backlog, last success and last failure
//! and next retry; below, the selected endpoint in full with its recent attempts.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState, Wrap};

use super::{BAD, GOOD, WARN, ago, bold, fit, selected_style, until};
use crate::control::WebhookInfo;
use crate::directory::Attempt;
use crate::tui::app::App;

/// The state column: words and a colour.
fn state(w: &WebhookInfo) -> (String, Style) {
    if !w.enabled {
        ("disabled".into(), Style::default().fg(BAD))
    } else if w.failing_since.is_some() {
        ("failing".into(), Style::default().fg(WARN))
    } else {
        ("enabled".into(), Style::default().fg(GOOD))
    }
}

fn backlog(w: &WebhookInfo) -> String {
    if w.backlog_estimated {
        format!("~{}", w.backlog)
    } else {
        w.backlog.to_string()
    }
}

fn status(a: &Attempt) -> String {
    a.status
        .map(|s| s.to_string())
        .unwrap_or_else(|| "no reply".into())
}

/// What went wrong, without repeating the status the error starts with.
fn outcome(a: &Attempt) -> String {
    let status = status(a);
    match a.error.as_deref() {
        None => status,
        Some(e) if e.starts_with(&status) => e.to_string(),
        Some(e) => format!("{status}: {e}"),
    }
}

pub fn draw(frame: &mut Frame, app: &App, area: Rect) -> usize {
    let view = &app.webhooks;
    if view.list.is_empty() {
        let text = vec![
            Line::from(""),
            Line::from("  No webhook endpoints."),
            Line::from(""),
            Line::from(vec![
                Span::raw("  Press "),
                Span::styled("a", bold()),
                Span::raw(" to add one: your application receives every change of the directory,"),
            ]),
            Line::from(
                "  signed (Standard Webhooks), in order per organization, retried until it answers 2xx.",
            ),
        ];
        frame.render_widget(
            Paragraph::new(text).block(Block::default().borders(Borders::ALL).title(" Webhooks ")),
            area,
        );
        return area.height.saturating_sub(3) as usize;
    }
    let table_height = (view.list.len() as u16 + 3).clamp(4, area.height / 2);
    let [top, bottom] =
        Layout::vertical([Constraint::Length(table_height), Constraint::Min(3)]).areas(area);
    let now = crate::store::now();
    let wide = area.width >= 110;
    let rows = view.list.iter().map(|w| {
        let (text, style) = state(w);
        let failure = w
            .last_failure
            .as_ref()
            .map(|a| format!("{} {}", status(a), ago(a.at, now)))
            .unwrap_or_else(|| "-".into());
        let mut cells = vec![
            Cell::from(w.id.clone()),
            Cell::from(fit(w.org.as_deref().unwrap_or("(all)"), 14)),
            Cell::from(Span::styled(text, style)),
            Cell::from(backlog(w)),
            Cell::from(
                w.last_success
                    .map(|t| ago(t, now))
                    .unwrap_or_else(|| "never".into()),
            ),
            Cell::from(failure),
            Cell::from(w.next_retry.map(|t| until(t, now)).unwrap_or_default()),
        ];
        if wide {
            cells.push(Cell::from(w.url.clone()));
        }
        Row::new(cells)
    });
    let mut widths = vec![
        Constraint::Length(16),
        Constraint::Length(14),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(12),
        Constraint::Length(16),
        Constraint::Length(10),
    ];
    let mut header = vec![
        "ID",
        "ORGANIZATION",
        "STATE",
        "BACKLOG",
        "LAST OK",
        "LAST FAILURE",
        "RETRY",
    ];
    if wide {
        widths.push(Constraint::Min(10));
        header.push("URL");
    }
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(bold()))
        .block(Block::default().borders(Borders::ALL).title(" Webhooks "))
        .row_highlight_style(selected_style())
        .highlight_symbol("> ");
    let mut state = TableState::default().with_selected(Some(view.selected));
    frame.render_stateful_widget(table, top, &mut state);
    draw_detail(frame, app, bottom);
    table_height.saturating_sub(3) as usize
}

/// The selected endpoint: where it points, what it takes, why it fails, its recent attempts.
fn draw_detail(frame: &mut Frame, app: &App, area: Rect) {
    let Some(w) = app.webhooks.current() else {
        return;
    };
    let mut lines = vec![
        Line::from(vec![
            Span::styled("URL            ", bold()),
            Span::raw(w.url.clone()),
        ]),
        Line::from(vec![
            Span::styled("receives       ", bold()),
            Span::raw(format!(
                "{} events of {}",
                if w.types.is_empty() {
                    "all".to_string()
                } else {
                    w.types.join(", ")
                },
                w.org.as_deref().unwrap_or("every organization")
            )),
        ]),
        Line::from(vec![
            Span::styled("delivered      ", bold()),
            Span::raw(format!(
                "{} (gave up on {}); backlog {}",
                w.delivered,
                w.failed,
                backlog(w)
            )),
        ]),
    ];
    if let Some(t) = w.old_secret_expires {
        lines.push(Line::from(vec![
            Span::styled("secrets        ", bold()),
            Span::raw(format!(
                "two sign until {} (rotation)",
                crate::util::display_time(t)
            )),
        ]));
    }
    if !w.enabled {
        lines.push(Line::from(Span::styled(
            format!(
                "DISABLED: {}. Press d to enable it: what waits is delivered.",
                w.disabled_reason.as_deref().unwrap_or("by an operator")
            ),
            Style::default().fg(BAD),
        )));
    } else if let Some(since) = w.failing_since {
        lines.push(Line::from(Span::styled(
            format!(
                "failing since {}{}",
                crate::util::display_time(since),
                w.next_retry
                    .map(|t| format!(
                        "; next retry {} (r retries now)",
                        crate::util::display_time(t)
                    ))
                    .unwrap_or_default()
            ),
            Style::default().fg(WARN),
        )));
    }
    if let Some(f) = &w.last_failure {
        lines.push(Line::from(vec![
            Span::styled("last failure   ", bold()),
            Span::raw(format!(
                "{}  event {} ({})  {}",
                crate::util::display_time(f.at),
                f.event,
                if f.org.is_empty() { "-" } else { &f.org },
                outcome(f)
            )),
        ]));
    }
    if let Some(d) = app.webhooks.detail.as_ref().filter(|d| d.info.id == w.id) {
        if !d.attempts.is_empty() {
            lines.push(Line::from(""));
            lines.push(Line::from(Span::styled("recent attempts", bold())));
        }
        let room = (area.height as usize).saturating_sub(lines.len() + 2);
        for a in d.attempts.iter().take(room) {
            let outcome = if a.status.is_some_and(|s| (200..300).contains(&s)) {
                Style::default().fg(GOOD)
            } else {
                Style::default().fg(BAD)
            };
            lines.push(Line::from(vec![
                Span::raw(format!(
                    "  {}  {:<16} {:<14} ",
                    crate::util::display_time(a.at),
                    a.event,
                    fit(if a.org.is_empty() { "-" } else { &a.org }, 14)
                )),
                Span::styled(format!("{:>8}", status(a)), outcome),
                Span::raw(format!(
                    " {:>9}  {}",
                    format!("{:.1}ms", a.latency_ms),
                    a.error.as_deref().unwrap_or("")
                )),
            ]));
        }
    }
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(format!(" {} ", w.id)),
        ),
        area,
    );
}
