//! Declared extension schemas: every one, and the attributes of the selected one.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, List, ListItem, ListState, Paragraph, Wrap};

use super::{ACCENT, bold, fit, selected_style};
use crate::tui::app::App;

pub fn draw(frame: &mut Frame, app: &App, area: Rect) -> usize {
    let v = &app.schemas;
    let [list_area, detail_area] =
        Layout::vertical([Constraint::Percentage(45), Constraint::Min(5)]).areas(area);
    let width = list_area.width.saturating_sub(4) as usize;
    let items: Vec<ListItem> = if v.list.is_empty() {
        vec![ListItem::new(
            "(no extension schemas: press a to declare one from a file, such as assets/schemas/entra-custom-user.json)",
        )]
    } else {
        v.list
            .iter()
            .map(|s| {
                ListItem::new(fit(
                    &format!(
                        "{:<6} {:<14} {}  ({} attributes)",
                        s.kind.resource_type(),
                        s.org.as_deref().unwrap_or("(all)"),
                        s.urn,
                        s.attributes.len()
                    ),
                    width,
                ))
            })
            .collect()
    };
    let mut state = ListState::default();
    if !v.list.is_empty() {
        state.select(Some(v.selected));
    }
    frame.render_stateful_widget(
        List::new(items)
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(" Extension schemas: the customers' own attributes "),
            )
            .highlight_style(selected_style())
            .highlight_symbol("> "),
        list_area,
        &mut state,
    );
    let mut lines = Vec::new();
    if let Some(s) = v.list.get(v.selected) {
        lines.push(Line::from(vec![
            Span::styled(s.name.clone(), bold()),
            Span::raw(format!(
                "  extends {} for {}",
                s.kind.resource_type(),
                s.org
                    .as_deref()
                    .map_or("every organization".to_string(), |o| format!(
                        "organization {o}"
                    ))
            )),
        ]));
        lines.push(Line::from(Span::styled(
            s.urn.clone(),
            Style::default().fg(ACCENT),
        )));
        for a in s.document["attributes"].as_array().into_iter().flatten() {
            let flag = |k: &str, word: &str| {
                if a[k].as_bool() == Some(true) {
                    format!(", {word}")
                } else {
                    String::new()
                }
            };
            lines.push(Line::from(format!(
                "  {} ({}{}{}{}{})",
                a["name"].as_str().unwrap_or_default(),
                a["type"].as_str().unwrap_or_default(),
                flag("multiValued", "multi-valued"),
                flag("required", "required"),
                if a["uniqueness"] == "server" {
                    ", unique"
                } else {
                    ""
                },
                match a["mutability"].as_str() {
                    Some("readWrite") | None => String::new(),
                    Some(m) => format!(", {m}"),
                }
            )));
        }
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::default().borders(Borders::ALL).title(" Attributes ")),
        detail_area,
    );
    list_area.height.saturating_sub(2) as usize
}
