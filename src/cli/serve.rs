//! Running the service: `scimdesk serve`, and `scimdesk` alone (the dashboard beside the
//! service in one process).

use std::sync::Arc;

use super::Failure;
use crate::config::Config;
use crate::control::Local;
use crate::directory::Directory;
use crate::service::Service;

/// Prints every activity record to stdout as it happens (`serve --log-activity`).
fn print_activity(dir: &Directory, json: bool) {
    let mut feed = dir.activity().subscribe();
    tokio::spawn(async move {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            match feed.recv().await {
                Ok(e) if json => println!("{}", serde_json::to_string(&*e).unwrap_or_default()),
                Ok(e) => println!("{}", crate::activity::one_line(&e)),
                Err(RecvError::Lagged(n)) => {
                    println!("... {n} records not shown here (they are stored)")
                }
                Err(RecvError::Closed) => break,
            }
        }
    });
}

/// `scimdesk serve`: serves until SIGINT or SIGTERM, then flushes the store.
pub async fn serve(config: Config, log_activity: bool, json: bool) -> Result<(), Failure> {
    crate::server::init_logging();
    let public = config.server.public_url.clone();
    let dir = Directory::open(config)?;
    let service = Service::start(dir.clone())?;
    if log_activity {
        print_activity(&dir, json);
    }
    let api = service
        .api_addr
        .map(|a| format!("; the application API on http://{a}/api/v1"))
        .unwrap_or_default();
    let admin = service
        .admin_socket
        .as_ref()
        .map(|p| format!("; operators attach on {}", p.display()))
        .unwrap_or_default();
    eprintln!(
        "scimdesk: serving SCIM on http://{} (base URLs: {public}/scim/v2/<organization>){api}{admin}; Ctrl-C stops",
        service.scim_addr
    );
    crate::server::shutdown_signal().await;
    stop_at_once_on_a_second_signal();
    tracing::debug!("stopping: finishing requests, storing activity, flushing");
    service.shutdown().await;
    eprintln!("scimdesk: stopped; the store is flushed");
    Ok(())
}

/// After the first SIGINT or SIGTERM: a second one ends the process at once. Every
/// acknowledged write is already on disk (a write is acknowledged after its flush); what goes
/// is requests still in flight and activity not yet stored.
fn stop_at_once_on_a_second_signal() {
    tokio::spawn(async {
        crate::server::shutdown_signal().await;
        eprintln!("scimdesk: second signal: stopped at once (acknowledged writes are on disk)");
        std::process::exit(1);
    });
}

/// `scimdesk` alone: the dashboard, attached to the running server when there is one (quitting
/// leaves it running), else with the service in this process.
pub async fn dashboard(config: Config) -> Result<(), Failure> {
    crate::tui::require_terminal().map_err(|e| Failure::usage(e.to_string()))?;
    if let Some(remote) = super::attach(&config).await? {
        let listen = remote.hello().scim.clone();
        return crate::tui::run(Arc::new(remote), listen)
            .await
            .map_err(|e| Failure::refused(e.to_string()));
    }
    let log_path = config.store.data_dir.join("scimdesk.log");
    let dir = Directory::open(config)?;
    crate::tui::log_to_file(&log_path);
    let service = Service::start(dir.clone())?;
    let listen = service.scim_addr.to_string();
    let ops = Arc::new(Local::new(dir, format!("serving on {listen}")));
    let result = crate::tui::run(ops, listen).await;
    service.shutdown().await;
    result.map_err(|e| Failure::refused(e.to_string()))
}
