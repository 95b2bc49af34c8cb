//! Dialogs drawn over the current screen: input, confirmation, the one-time secret, help.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::{ACCENT, BAD, WARN, bold};
use crate::tui::app::{App, Dialog};

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

pub fn draw(frame: &mut Frame, app: &App) {
    let Some(d) = &app.dialog else { return };
    let area = frame.area();
    match d {
        Dialog::Input {
            title,
            fields,
            focus,
            error,
            ..
        } => {
            let mut lines = Vec::new();
            for (i, f) in fields.iter().enumerate() {
                lines.push(Line::from(Span::styled(f.label, bold())));
                let cursor = if i == *focus { "█" } else { "" };
                let style = if i == *focus {
                    Style::default().fg(ACCENT)
                } else {
                    Style::default()
                };
                lines.push(Line::from(Span::styled(
                    format!("> {}{cursor}", f.value),
                    style,
                )));
            }
            if let Some(e) = error {
                lines.push(Line::from(""));
                lines.push(Line::from(Span::styled(
                    e.clone(),
                    Style::default().fg(BAD),
                )));
            }
            let h = lines.len() as u16 + 2 + if error.is_some() { 1 } else { 0 };
            let rect = centered(area, 70, h);
            frame.render_widget(Clear, rect);
            frame.render_widget(
                Paragraph::new(lines).wrap(Wrap { trim: false }).block(
                    Block::default()
                        .borders(Borders::ALL)
                        .title(format!(" {title} ")),
                ),
                rect,
            );
        }
        Dialog::Confirm {
            message,
            typed,
            error,
            purpose,
        } => {
            let mut lines = vec![Line::from(message.clone()), Line::from("")];
            if matches!(purpose, crate::tui::app::ConfirmPurpose::DeleteOrg(_)) {
                lines.push(Line::from(Span::styled(
                    format!("> {typed}█"),
                    Style::default().fg(ACCENT),
                )));
            }
            if let Some(e) = error {
                lines.push(Line::from(Span::styled(
                    e.clone(),
                    Style::default().fg(BAD),
                )));
            }
            let rect = centered(area, 70, 9);
            frame.render_widget(Clear, rect);
            frame.render_widget(
                Paragraph::new(lines).wrap(Wrap { trim: false }).block(
                    Block::default()
                        .borders(Borders::ALL)
                        .title(Span::styled(" Confirm ", bold().fg(WARN))),
                ),
                rect,
            );
        }
        Dialog::Secret {
            key_id,
            name,
            secret,
            url,
        } => {
            let lines = vec![
                Line::from(format!(
                    "Key {key_id} ({name}) is issued. Give the IdP these two values:"
                )),
                Line::from(""),
                Line::from(Span::styled("SCIM base URL", bold())),
                Line::from(Span::styled(url.clone(), Style::default().fg(ACCENT))),
                Line::from(""),
                Line::from(Span::styled("Secret (bearer token)", bold())),
                Line::from(Span::styled(secret.clone(), Style::default().fg(ACCENT))),
                Line::from(""),
                Line::from(Span::styled(
                    "This secret will not be shown again: it is stored only as a hash. Copy it now (c copies with OSC 52).",
                    bold().fg(WARN),
                )),
            ];
            let width = (secret.len().max(url.len()) as u16 + 4).max(76);
            let rect = centered(area, width, 14);
            frame.render_widget(Clear, rect);
            frame.render_widget(
                Paragraph::new(lines).wrap(Wrap { trim: false }).block(
                    Block::default()
                        .borders(Borders::ALL)
                        .title(" New SCIM key: shown once "),
                ),
                rect,
            );
        }
        Dialog::Help => {
            let keys: &[(&str, &str)] = &[
                ("?", "this help"),
                (
                    "q / Ctrl-C",
                    "quit (the SCIM server stops with the dashboard)",
                ),
                ("Esc", "back one level; quits from the top"),
                ("1 / 2", "organizations / activity of all organizations"),
                ("j k / arrows", "move; PgUp PgDn g G jump"),
                ("Enter", "open the selected item"),
                (
                    "Organizations",
                    "n new, r rename, d delete (type the id), l activity",
                ),
                (
                    "Organization",
                    "s SCIM on/off, Tab domains/keys, a add, x remove or revoke,",
                ),
                (
                    "",
                    "i issue key, u users and groups, l activity, c copy URL, r rename",
                ),
                (
                    "Directory",
                    "Tab users/groups, / search (SCIM filter or a word)",
                ),
                ("Group detail", "n / p next / previous page of members"),
                ("Activity", "p pause/resume, e errors only, Enter details"),
                ("F5", "reload counts"),
            ];
            let lines: Vec<Line> = keys
                .iter()
                .map(|(k, v)| {
                    Line::from(vec![
                        Span::styled(format!("{k:<15}"), bold()),
                        Span::raw(*v),
                    ])
                })
                .collect();
            let rect = centered(area, 78, lines.len() as u16 + 2);
            frame.render_widget(Clear, rect);
            frame.render_widget(
                Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" Keys ")),
                rect,
            );
        }
    }
}
