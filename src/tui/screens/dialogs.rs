//! Dialogs drawn over the current screen: input, confirmation, the one-time secret, help.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::{ACCENT, BAD, WARN, bold};
use crate::tui::app::{App, Dialog};
use crate::tui::dialogs::SecretKind;

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
            // Long errors wrap inside the 68 columns within the border.
            let wrapped = error
                .as_ref()
                .map_or(0, |e| e.chars().count().div_ceil(68).saturating_sub(1));
            let h = lines.len() as u16 + 2 + wrapped as u16;
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
            kind,
        } => {
            let mut lines = Vec::new();
            let (label, stored, title) = match kind {
                SecretKind::Scim { url } => {
                    lines.push(Line::from(format!(
                        "Key {key_id} ({name}) is issued. Give the IdP these two values:"
                    )));
                    lines.push(Line::from(""));
                    lines.push(Line::from(Span::styled("SCIM base URL", bold())));
                    lines.push(Line::from(Span::styled(
                        url.clone(),
                        Style::default().fg(ACCENT),
                    )));
                    (
                        "Secret (bearer token)",
                        "it is stored only as a hash",
                        " New SCIM key: shown once ",
                    )
                }
                SecretKind::App => {
                    lines.push(Line::from(format!(
                        "Application key {key_id} ({name}) is issued. Your application sends it to the application API:"
                    )));
                    (
                        "Secret (bearer token)",
                        "it is stored only as a hash",
                        " New application key: shown once ",
                    )
                }
                SecretKind::Webhook => {
                    lines.push(Line::from(format!(
                        "Webhook endpoint {key_id} ({name}). Receivers verify each delivery's webhook-signature header with:"
                    )));
                    (
                        "Signing secret (Standard Webhooks)",
                        "it is stored sealed",
                        " Webhook signing secret: shown once ",
                    )
                }
            };
            lines.extend([
                Line::from(""),
                Line::from(Span::styled(label, bold())),
                Line::from(Span::styled(secret.clone(), Style::default().fg(ACCENT))),
                Line::from(""),
                Line::from(Span::styled(
                    format!("This secret will not be shown again: {stored}. Copy it now (c copies with OSC 52)."),
                    bold().fg(WARN),
                )),
            ]);
            let url_len = match kind {
                SecretKind::Scim { url } => url.len(),
                _ => 0,
            };
            let width = (secret.len().max(url_len) as u16 + 4).max(76);
            let rect = centered(area, width, lines.len() as u16 + 5);
            frame.render_widget(Clear, rect);
            frame.render_widget(
                Paragraph::new(lines)
                    .wrap(Wrap { trim: false })
                    .block(Block::default().borders(Borders::ALL).title(title)),
                rect,
            );
        }
        Dialog::Help => {
            let lines = help_lines(74);
            let rect = centered(area, 78, lines.len() as u16 + 2);
            frame.render_widget(Clear, rect);
            frame.render_widget(
                Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" Keys ")),
                rect,
            );
        }
    }
}

/// The `?` overlay, read from the keymap: the keys that work everywhere, then each screen's
/// own, wrapped to `width`.
fn help_lines(width: usize) -> Vec<Line<'static>> {
    use crate::tui::keymap::{Binding, GLOBAL, SCREENS, screen_table};
    const LEFT: usize = 15;
    let row = |k: String, v: String| {
        Line::from(vec![
            Span::styled(format!("{k:<LEFT$}"), bold()),
            Span::raw(v),
        ])
    };
    let mut lines: Vec<Line> = GLOBAL
        .iter()
        .map(|b| {
            let label = match b.label {
                crate::tui::keymap::Label::Fixed(s) => s,
                crate::tui::keymap::Label::Toggle { off, .. } => off,
            };
            row(b.shown.to_string(), label.to_string())
        })
        .collect();
    let is_global = |b: &Binding| {
        b.keys
            .iter()
            .all(|(k, a)| GLOBAL.iter().any(|g| g.keys.contains(&(*k, *a))))
    };
    for (title, screen) in SCREENS {
        let items: Vec<String> = screen_table(*screen)
            .iter()
            .filter(|b| !is_global(b))
            .map(|b| {
                let label = match (b.about, b.label) {
                    (Some(about), _) => about.to_string(),
                    (None, crate::tui::keymap::Label::Fixed(s)) => s.to_string(),
                    (None, crate::tui::keymap::Label::Toggle { on, off, .. }) => {
                        format!("{off}/{on}")
                    }
                };
                format!("{} {label}", b.shown)
            })
            .collect();
        let mut current = String::new();
        let mut first = true;
        for item in items {
            if !current.is_empty() && current.len() + 2 + item.len() > width - LEFT {
                lines.push(row(
                    if first {
                        title.to_string()
                    } else {
                        String::new()
                    },
                    format!("{current},"),
                ));
                first = false;
                current.clear();
            }
            if !current.is_empty() {
                current.push_str(", ");
            }
            current.push_str(&item);
        }
        lines.push(row(
            if first {
                title.to_string()
            } else {
                String::new()
            },
            current,
        ));
    }
    lines
}
