//! The terminal dashboard: the SCIM server and the UI in one process, sharing one directory.
//!
//! The loop `select!`s over key presses, the live activity feed, a frame timer and shutdown
//! signals. Events only change state; drawing happens at most once per frame, so a burst of
//! requests costs one redraw per frame, not one per request.

pub mod app;
pub mod screens;

use std::io::{IsTerminal, Write};
use std::time::Duration;

use futures_util::StreamExt;
use ratatui::crossterm::event::{Event, EventStream};
use tokio::sync::broadcast::error::RecvError;

use crate::cli::Failure;
use crate::config::Config;
use crate::directory::Directory;
use app::App;

/// Time between frames (at most ~30 per second).
pub const FRAME: Duration = Duration::from_millis(33);

/// `scimdesk` with no subcommand: serve SCIM and run the dashboard.
pub async fn run(config: Config) -> Result<(), Failure> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        return Err(Failure::usage(
            "the dashboard needs a terminal (stdin and stdout are not one): run `scimdesk serve` to serve SCIM without it",
        ));
    }
    let log_path = config.store.data_dir.join("scimdesk.log");
    let addr = config.server.listen;
    let dir = Directory::open(config)?;
    log_to_file(&log_path);
    let listener = crate::server::bind(addr).map_err(Failure::usage)?;
    let local = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::server::serve(dir.clone(), listener, async {
        let _ = stopped.await;
    }));
    let mut terminal = ratatui::try_init()
        .map_err(|e| Failure::refused(format!("cannot start the dashboard: {e}")))?;
    let result = ui_loop(&mut terminal, App::new(dir.clone(), local)).await;
    ratatui::restore();
    let _ = stop.send(());
    let _ = server.await;
    dir.activity().close();
    if let Err(e) = dir.store().durable().await {
        tracing::error!(error = %e, "final flush failed");
    }
    result.map_err(|e| Failure::refused(format!("dashboard error: {e}")))
}

fn log_to_file(path: &std::path::Path) {
    let Ok(file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    else {
        return;
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SCIMDESK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init();
}

/// Writes text to the terminal's clipboard with OSC 52.
fn osc52(text: &str) {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(text);
    let mut out = std::io::stdout();
    let _ = write!(out, "\x1b]52;c;{encoded}\x07");
    let _ = out.flush();
}

async fn ui_loop(terminal: &mut ratatui::DefaultTerminal, mut app: App) -> std::io::Result<()> {
    let mut keys = EventStream::new();
    let mut feed = app.dir.activity().subscribe();
    let mut frame = tokio::time::interval(FRAME);
    frame.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut slow = tokio::time::interval(Duration::from_secs(2));
    let shutdown = crate::server::shutdown_signal();
    tokio::pin!(shutdown);
    let mut dirty = true;
    let mut feed_open = true;
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
            event = feed.recv(), if feed_open => {
                match event {
                    Ok(e) => app.on_activity(e),
                    Err(RecvError::Lagged(n)) => app.on_missed(n),
                    Err(RecvError::Closed) => feed_open = false,
                }
                dirty = true;
            }
            _ = slow.tick() => {
                app.tick();
                dirty = true;
            }
            _ = &mut shutdown => break,
            _ = frame.tick() => {
                if dirty {
                    let mut rows = app.page_size;
                    terminal.draw(|f| rows = screens::draw(f, &app))?;
                    if let Some(text) = app.clipboard.take() {
                        osc52(&text);
                    }
                    dirty = false;
                    if rows != app.page_size && rows > 0 {
                        app.page_size = rows;
                        app.load_rows();
                        dirty = true;
                    }
                }
            }
        }
    }
    Ok(())
}
