//! The live activity feed, its per-minute chart, and one record in detail.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Sparkline, Table, TableState, Wrap};

use super::{BAD, GOOD, WARN, bold, fit, selected_style};
use crate::activity::describe_change;
use crate::tui::app::App;

pub fn draw(frame: &mut Frame, app: &App, area: Rect) -> usize {
    let a = &app.activity;
    let [chart_area, list_area] =
        Layout::vertical([Constraint::Length(6), Constraint::Min(3)]).areas(area);
    let [req_area, err_area] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
            .areas(chart_area);
    // The newest minutes are on the right; a narrow chart drops the oldest.
    let fits = req_area.width.saturating_sub(2) as usize;
    let newest = |v: &std::collections::VecDeque<u64>| -> Vec<u64> {
        v.iter()
            .skip(v.len().saturating_sub(fits))
            .copied()
            .collect()
    };
    let requests = newest(&a.rates.requests);
    let errors = newest(&a.rates.errors);
    let last_req = requests.last().copied().unwrap_or(0);
    let last_err = errors.last().copied().unwrap_or(0);
    frame.render_widget(
        Sparkline::default()
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(format!(" requests/min, last hour (now {last_req}) ")),
            )
            .data(&requests)
            .style(Style::default().fg(GOOD)),
        req_area,
    );
    frame.render_widget(
        Sparkline::default()
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(format!(" errors/min, last hour (now {last_err}) ")),
            )
            .data(&errors)
            .style(Style::default().fg(BAD)),
        err_area,
    );
    let scope = a.org.as_deref().unwrap_or("all organizations");
    let mut title = format!(" Activity: {scope}");
    if a.errors_only {
        title.push_str(", errors only");
    }
    if a.paused {
        title.push_str(&format!(", PAUSED ({} new held)", a.held.len()));
    } else {
        title.push_str(", live");
    }
    if a.missed > 0 {
        title.push_str(&format!(", {} skipped by the feed and reloaded", a.missed));
    }
    title.push(' ');
    let block = Block::default().borders(Borders::ALL).title(title);
    let visible = a.visible();
    let rows_fit = list_area.height.saturating_sub(3) as usize;
    if visible.is_empty() {
        let msg = if a.errors_only {
            "No failed requests."
        } else {
            "No SCIM requests yet. They appear here the moment an IdP calls the SCIM URL."
        };
        frame.render_widget(Paragraph::new(format!("\n  {msg}")).block(block), list_area);
        return rows_fit;
    }
    let wide = list_area.width >= 110;
    let summary_width = list_area.width.saturating_sub(if wide { 58 } else { 34 }) as usize;
    let start = a.selected.saturating_sub(rows_fit.saturating_sub(1));
    let rows = visible.iter().skip(start).take(rows_fit).map(|e| {
        let status_style = if e.is_error() {
            Style::default().fg(BAD)
        } else {
            Style::default().fg(GOOD)
        };
        let t = e.time.to_offset(time::UtcOffset::UTC);
        let clock = format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second());
        let mut cells = vec![
            ratatui::widgets::Cell::from(clock),
            ratatui::widgets::Cell::from(Span::styled(
                format!("{}{}", e.status, if e.is_error() { "!" } else { "" }),
                status_style,
            )),
        ];
        if wide {
            cells.push(ratatui::widgets::Cell::from(fit(&e.org, 14)));
            cells.push(ratatui::widgets::Cell::from(fit(&e.idp.label(), 10)));
            cells.push(ratatui::widgets::Cell::from(e.method.clone()));
        } else {
            cells.push(ratatui::widgets::Cell::from(fit(&e.org, 10)));
        }
        cells.push(ratatui::widgets::Cell::from(fit(&e.summary, summary_width)));
        Row::new(cells)
    });
    let (header, widths): (Vec<&str>, Vec<Constraint>) = if wide {
        (
            vec!["TIME", "STATUS", "ORG", "IDP", "METHOD", "WHAT HAPPENED"],
            vec![
                Constraint::Length(8),
                Constraint::Length(6),
                Constraint::Length(14),
                Constraint::Length(10),
                Constraint::Length(6),
                Constraint::Min(10),
            ],
        )
    } else {
        (
            vec!["TIME", "STATUS", "ORG", "WHAT HAPPENED"],
            vec![
                Constraint::Length(8),
                Constraint::Length(6),
                Constraint::Length(10),
                Constraint::Min(10),
            ],
        )
    };
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(bold()))
        .block(block)
        .row_highlight_style(selected_style())
        .highlight_symbol("> ");
    let mut state = TableState::default().with_selected(Some(a.selected - start));
    frame.render_stateful_widget(table, list_area, &mut state);
    rows_fit
}

pub fn draw_detail(frame: &mut Frame, app: &App, area: Rect) -> usize {
    let Some(e) = app.selected_event() else {
        frame.render_widget(Paragraph::new("no record selected"), area);
        return 0;
    };
    let status_style = if e.is_error() {
        Style::default().fg(BAD)
    } else {
        Style::default().fg(GOOD)
    };
    let field = |name: &str, value: String| {
        Line::from(vec![
            Span::styled(format!("{name:<14}"), bold()),
            Span::raw(value),
        ])
    };
    let mut lines = vec![
        Line::from(Span::styled(
            e.summary.clone(),
            status_style.add_modifier(ratatui::style::Modifier::BOLD),
        )),
        Line::from(""),
        field("time", crate::util::display_time(e.time)),
        field("organization", e.org.clone()),
        field("identity prov.", e.idp.label()),
        field(
            "key",
            e.key_id
                .clone()
                .unwrap_or_else(|| "(not authenticated)".into()),
        ),
        field("request", format!("{} {}", e.method, e.path)),
        Line::from(vec![
            Span::styled(format!("{:<14}", "status"), bold()),
            Span::styled(e.status.to_string(), status_style),
        ]),
        field("latency", format!("{:.1} ms", e.latency_us as f64 / 1000.0)),
        field(
            "resource",
            format!(
                "{} {}",
                e.resource_type.clone().unwrap_or_default(),
                e.resource_id.clone().unwrap_or_default()
            ),
        ),
        field("subject", e.subject.clone().unwrap_or_default()),
        Line::from(""),
    ];
    if e.changes.is_empty() {
        lines.push(Line::from(Span::styled(
            "no attributes changed",
            Style::default().fg(Color::DarkGray),
        )));
    } else {
        lines.push(Line::from(Span::styled(
            "changed attributes:",
            bold().fg(WARN),
        )));
        for c in &e.changes {
            lines.push(Line::from(format!("  {}", describe_change(c))));
        }
    }
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Activity record "),
        ),
        area,
    );
    0
}
