//! scimdesk: a self-hosted SCIM 2.0 service with a terminal dashboard.
//!
//! Data flows one way: HTTP or keys -> `server`/`cli` -> `directory` -> `store`.
//! `scim` is the pure protocol layer and never touches storage.

pub mod activity;
pub mod cli;
pub mod config;
pub mod directory;
pub mod scim;
pub mod server;
pub mod store;
pub mod tui;
pub mod util;

pub use store::now;
