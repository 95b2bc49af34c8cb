//! The terminal dashboard: state (`app`, `views`, `dialogs`), the one keymap (`keymap`),
//! loading through the operator's operations (`load`), the event loop (`event`) and drawing
//! (`screens`). With no server running, `scimdesk` runs the SCIM server in this process and
//! the dashboard beside it.

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

use crate::config::Config;
use crate::control::Local;
use crate::directory::Directory;
use app::App;

/// Time between frames (at most ~30 per second).
pub const FRAME: Duration = Duration::from_millis(33);

/// Why the dashboard did not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(
        "the dashboard needs a terminal (stdin and stdout are not one): run `scimdesk serve` to serve SCIM without it"
    )]
    NoTerminal,
    #[error(transparent)]
    Open(#[from] crate::directory::Error),
    #[error("{0}")]
    Bind(String),
    #[error("dashboard error: {0}")]
    Terminal(#[from] std::io::Error),
}

impl RunError {
    /// The process exit code: 2 for usage and configuration mistakes, 1 otherwise.
    pub fn code(&self) -> u8 {
        match self {
            RunError::NoTerminal | RunError::Bind(_) => 2,
            RunError::Open(_) | RunError::Terminal(_) => 1,
        }
    }
}

/// `scimdesk` with no subcommand: serve SCIM and run the dashboard.
pub async fn run(config: Config) -> Result<(), RunError> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        return Err(RunError::NoTerminal);
    }
    let log_path = config.store.data_dir.join("scimdesk.log");
    let addr = config.server.listen;
    let dir = Directory::open(config)?;
    log_to_file(&log_path);
    let listener = crate::server::bind(addr).map_err(RunError::Bind)?;
    let local = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::server::serve(dir.clone(), listener, async {
        let _ = stopped.await;
    }));
    let ops = Arc::new(Local::new(dir.clone(), format!("serving on {local}")));
    let mut terminal = ratatui::try_init()?;
    let mut app = App::new(ops, local);
    app.load().await;
    let result = event::run(&mut terminal, app).await;
    ratatui::restore();
    let _ = stop.send(());
    let _ = server.await;
    if let Err(e) = dir.close().await {
        tracing::error!(error = %e, "final flush failed");
    }
    Ok(result?)
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
