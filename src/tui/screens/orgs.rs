//! The organizations table.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState};

use super::{BAD, GOOD, ago, bold, fit, selected_style};
use crate::tui::app::App;

pub fn draw(frame: &mut Frame, app: &App, area: Rect) -> usize {
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" Organizations ");
    if app.orgs.is_empty() {
        let text = vec![
            Line::from(""),
            Line::from("  No organizations yet."),
            Line::from(""),
            Line::from(vec![
                Span::raw("  Press "),
                Span::styled("n", bold()),
                Span::raw(" to create one: each of your customers is an organization with"),
            ]),
            Line::from("  its own SCIM URL, keys and email domains."),
        ];
        frame.render_widget(Paragraph::new(text).block(block), area);
        return area.height.saturating_sub(3) as usize;
    }
    let now = crate::store::now();
    let wide = area.width >= 100;
    let rows = app.orgs.iter().map(|r| {
        let scim = if r.org.scim_enabled {
            Cell::from(Span::styled("on", Style::default().fg(GOOD)))
        } else {
            Cell::from(Span::styled("off", Style::default().fg(BAD)))
        };
        let domains: Vec<String> = r
            .org
            .domains
            .iter()
            .map(|d| {
                if d == "*" {
                    "* (any)".to_string()
                } else {
                    d.clone()
                }
            })
            .collect();
        let domains = if domains.is_empty() {
            "-".to_string()
        } else {
            domains.join(", ")
        };
        let last = r
            .last_sync
            .map(|t| ago(t, now))
            .unwrap_or_else(|| "never".into());
        let mut cells = vec![
            Cell::from(r.org.id.clone()),
            Cell::from(r.org.name.clone()),
            scim,
            Cell::from(fit(&domains, if wide { 28 } else { 14 })),
            Cell::from(r.active_keys.to_string()),
            Cell::from(r.users.to_string()),
            Cell::from(r.groups.to_string()),
        ];
        cells.push(Cell::from(last));
        Row::new(cells)
    });
    let widths = if wide {
        vec![
            Constraint::Length(18),
            Constraint::Min(12),
            Constraint::Length(4),
            Constraint::Length(28),
            Constraint::Length(5),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(10),
        ]
    } else {
        vec![
            Constraint::Length(12),
            Constraint::Min(6),
            Constraint::Length(4),
            Constraint::Length(14),
            Constraint::Length(4),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Length(9),
        ]
    };
    let header = Row::new([
        "ID",
        "NAME",
        "SCIM",
        "DOMAINS",
        "KEYS",
        "USERS",
        "GROUPS",
        "LAST SYNC",
    ])
    .style(bold());
    let table = Table::new(rows, widths)
        .header(header)
        .block(block)
        .row_highlight_style(selected_style())
        .highlight_symbol("> ");
    let mut state = TableState::default().with_selected(Some(app.org_sel));
    frame.render_stateful_widget(table, area, &mut state);
    area.height.saturating_sub(3) as usize
}
