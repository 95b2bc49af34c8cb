//! The terminal dashboard: state (`app`, `views`, `dialogs`), the one keymap (`keymap`),
//! loading through the operator's operations (`load`), the event loop (`event`) and drawing
//! (`screens`). It reads and writes only through [`Control`].

pub mod app;
pub mod dialogs;
mod event;
pub mod keymap;
mod load;
pub mod screens;
pub mod views;

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use crate::control::Control;
use app::App;

/// Time between frames (at most ~30 per second).
pub const FRAME: Duration = Duration::from_millis(33);
/// How often live activity redraws a screen that shows only its counts (the rate in the top
/// bar, the last sync of each organization).
pub const COUNTS_REDRAW: Duration = Duration::from_millis(500);

/// Why the dashboard cannot run here.
#[derive(Debug, thiserror::Error)]
#[error(
    "the dashboard needs a terminal (stdin and stdout are not one): run `scimdesk serve` to serve SCIM without it"
)]
pub struct NoTerminal;

pub fn require_terminal() -> Result<(), NoTerminal> {
    if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        Ok(())
    } else {
        Err(NoTerminal)
    }
}

/// Runs the dashboard over `ops` until the operator quits. `listen` is where SCIM is served,
/// for the top bar.
pub async fn run(ops: Arc<dyn Control>, listen: String) -> std::io::Result<()> {
    let mut terminal = ratatui::try_init()?;
    let mut app = App::new(ops, listen);
    app.load().await;
    let result = event::run(&mut terminal, app).await;
    ratatui::restore();
    result
}

/// Sends logs to a file while the dashboard owns the terminal.
pub fn log_to_file(path: &std::path::Path) {
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
