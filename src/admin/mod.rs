//! The admin socket: how the command line and the dashboard reach a running server (sled lets
//! one process hold a store, so whatever manages a running installation goes through it).
//!
//! A unix socket in the data directory (`[admin] socket`), mode 0600, in a data directory no
//! other user may write to; connections from another user are refused by their credentials
//! as well. HTTP/1.1 over it: `GET /admin/v1/hello`, `POST /admin/v1/{op}` for every operation
//! of [`Control`](crate::control::Control) (`wire.rs`), `GET /admin/v1/activity/stream` (JSON
//! lines), `GET /admin/v1/backup` (the backup file's bytes). The server side is `server.rs`,
//! the client ([`Remote`], a `Control`) `client.rs`.

mod client;
mod server;
pub mod wire;

pub use client::{Remote, connect};
pub use server::{AdminListener, bind, serve};

use std::path::{Path, PathBuf};

/// The socket of the store in `data_dir`, unless the configuration names another.
pub fn socket_path(config: &crate::config::Config) -> PathBuf {
    config
        .admin
        .socket
        .clone()
        .unwrap_or_else(|| config.store.data_dir.join("admin.sock"))
}

/// Why a directory may not hold the socket: writable by other users, who could replace it.
pub fn unsafe_dir(dir: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir).ok()?.permissions().mode();
        if mode & 0o022 != 0 {
            return Some(format!(
                "{} is writable by other users (mode {:o}): anyone who can write there could stand in for the admin socket; run `chmod go-w {}`",
                dir.display(),
                mode & 0o777,
                dir.display()
            ));
        }
    }
    None
}
