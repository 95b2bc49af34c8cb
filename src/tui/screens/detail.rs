//! A user or group in full.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::{BAD, bold};
use crate::scim::schema::ResourceKind as Kind;
use crate::tui::app::App;

pub fn draw(frame: &mut Frame, app: &App, area: Rect) -> usize {
    let Some(d) = &app.detail else { return 0 };
    let what = match d.kind {
        Kind::User => "User",
        Kind::Group => "Group",
    };
    let lines: Vec<Line> = d
        .lines
        .iter()
        .skip(d.scroll)
        .map(|l| {
            if l.contains("DEACTIVATED") {
                Line::from(Span::styled(l.clone(), Style::default().fg(BAD)))
            } else if l.starts_with("last change") || l.starts_with("members:") {
                Line::from(Span::styled(l.clone(), bold()))
            } else {
                Line::from(l.clone())
            }
        })
        .collect();
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(format!(" {what} {} ", d.title)),
        ),
        area,
    );
    area.height.saturating_sub(2) as usize
}
