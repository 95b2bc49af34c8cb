//! The event loop: `select!`s over key presses, the live activity feed, a slow timer, a frame
//! timer and shutdown signals. Events only change state; drawing happens at most once per
//! frame, so a burst of requests costs one redraw per frame, not one per request.

use std::io::Write;
use std::time::Duration;

use futures_util::StreamExt;
use ratatui::crossterm::event::{Event, EventStream};

use super::app::App;
use super::{FRAME, screens};
use crate::control::FeedItem;

/// Writes text to the terminal's clipboard with OSC 52.
fn osc52(text: &str) {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(text);
    let mut out = std::io::stdout();
    let _ = write!(out, "\x1b]52;c;{encoded}\x07");
    let _ = out.flush();
}

pub async fn run(terminal: &mut ratatui::DefaultTerminal, mut app: App) -> std::io::Result<()> {
    let mut keys = EventStream::new();
    let mut feed = app.ops.follow().await.ok();
    let mut frame = tokio::time::interval(FRAME);
    frame.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut slow = tokio::time::interval(Duration::from_secs(2));
    let shutdown = crate::server::shutdown_signal();
    tokio::pin!(shutdown);
    let mut dirty = true;
    // Live activity on a screen that shows only its counts: redrawn at most this often.
    let mut counts_changed = false;
    let mut last_draw = std::time::Instant::now();
    while !app.quit {
        tokio::select! {
            event = keys.next() => match event {
                Some(Ok(Event::Key(key))) => {
                    if let Some(action) = app.handle_key(key) {
                        app.update(action).await;
                        dirty = true;
                    }
                }
                Some(Ok(Event::Resize(..))) => dirty = true,
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => break,
            },
            item = async { feed.as_mut()?.next().await }, if feed.is_some() => {
                match item {
                    Some(FeedItem::Event(e)) => app.on_activity(e),
                    Some(FeedItem::Shown(e)) => app.on_shown(e),
                    Some(FeedItem::Tally(minutes)) => app.on_tally(&minutes),
                    Some(FeedItem::Missed(n)) => app.on_missed(n).await,
                    None => feed = None,
                }
                if app.feed_on_screen() {
                    dirty = true;
                } else {
                    counts_changed = true;
                }
            }
            _ = slow.tick() => {
                app.tick().await;
                dirty = true;
            }
            _ = &mut shutdown => break,
            _ = frame.tick() => {
                if counts_changed && last_draw.elapsed() >= super::COUNTS_REDRAW {
                    dirty = true;
                }
                if dirty {
                    counts_changed = false;
                    last_draw = std::time::Instant::now();
                    let mut rows = app.page_size;
                    terminal.draw(|f| rows = screens::draw(f, &app))?;
                    if let Some(text) = app.clipboard.take() {
                        osc52(&text);
                    }
                    dirty = false;
                    if rows != app.page_size && rows > 0 {
                        app.page_size = rows;
                        app.load_rows().await;
                        dirty = true;
                    }
                }
            }
        }
    }
    Ok(())
}
