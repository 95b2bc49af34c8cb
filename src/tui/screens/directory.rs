//! An organization's users and groups, loading only the rows on screen.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table, TableState, Tabs};

use super::{ACCENT, BAD, GOOD, bold, selected_style};
use crate::tui::app::{App, DirTab};

pub fn draw(frame: &mut Frame, app: &App, area: Rect) -> usize {
    let Some(v) = &app.directory else {
        return 0;
    };
    let [tabs_area, search_area, list_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(3),
    ])
    .areas(area);
    let selected = match v.tab {
        DirTab::Users => 0,
        DirTab::Groups => 1,
    };
    frame.render_widget(
        Tabs::new(vec![" Users ", " Groups "])
            .select(selected)
            .highlight_style(
                bold()
                    .fg(ACCENT)
                    .add_modifier(ratatui::style::Modifier::REVERSED),
            ),
        tabs_area,
    );
    let search = match (&v.search, &v.error) {
        (_, Some(e)) => Line::from(Span::styled(
            format!(" search error: {e}"),
            Style::default().fg(BAD),
        )),
        (Some(s), None) => Line::from(format!(
            " search: {s}   ({} found; / to change, empty to clear)",
            v.ids.len()
        )),
        (None, None) => Line::from(format!(
            " {} in {} (press / to search by SCIM filter or word)",
            v.ids.len(),
            v.org
        )),
    };
    frame.render_widget(Paragraph::new(search), search_area);
    let title = format!(
        " {} {}-{} of {} ",
        match v.tab {
            DirTab::Users => "Users",
            DirTab::Groups => "Groups",
        },
        if v.ids.is_empty() { 0 } else { v.offset + 1 },
        v.offset + v.rows.len(),
        v.ids.len()
    );
    let block = Block::default().borders(Borders::ALL).title(title);
    if v.ids.is_empty() {
        let msg = match (v.tab, &v.search) {
            (_, Some(_)) => "Nothing matches the search.",
            (DirTab::Users, None) => "No users yet: they appear here when the IdP provisions them.",
            (DirTab::Groups, None) => "No groups yet: they appear here when the IdP pushes them.",
        };
        frame.render_widget(Paragraph::new(format!("\n  {msg}")).block(block), list_area);
        return list_area.height.saturating_sub(3) as usize;
    }
    let rows = v.rows.iter().map(|r| match v.tab {
        DirTab::Users => {
            let state = match r.active {
                Some(false) => Span::styled("inactive", Style::default().fg(BAD)),
                _ => Span::styled("active", Style::default().fg(GOOD)),
            };
            Row::new(vec![
                ratatui::widgets::Cell::from(r.name.clone()),
                ratatui::widgets::Cell::from(r.display.clone()),
                ratatui::widgets::Cell::from(state),
                ratatui::widgets::Cell::from(r.extra.clone()),
            ])
        }
        DirTab::Groups => Row::new(vec![r.name.clone(), r.extra.clone(), r.id.clone()]),
    });
    let (header, widths) = match v.tab {
        DirTab::Users => (
            Row::new(["USERNAME", "NAME", "STATE", "EXTERNAL ID"]).style(bold()),
            vec![
                Constraint::Percentage(40),
                Constraint::Percentage(28),
                Constraint::Length(8),
                Constraint::Percentage(22),
            ],
        ),
        DirTab::Groups => (
            Row::new(["DISPLAY NAME", "MEMBERS", "ID"]).style(bold()),
            vec![
                Constraint::Percentage(45),
                Constraint::Length(14),
                Constraint::Percentage(45),
            ],
        ),
    };
    let table = Table::new(rows, widths)
        .header(header)
        .block(block)
        .row_highlight_style(selected_style())
        .highlight_symbol("> ");
    let mut state = TableState::default().with_selected(Some(v.selected.saturating_sub(v.offset)));
    frame.render_stateful_widget(table, list_area, &mut state);
    list_area.height.saturating_sub(3) as usize
}
