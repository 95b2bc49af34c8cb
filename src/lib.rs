//! scimdesk: a self-hosted SCIM 2.0 service with a terminal dashboard.
//!
//! Data flows one way: HTTP or keys -> `server` / `tui` / `cli` -> `control` -> `directory` ->
//! `store`. `scim` (the protocol) and `activity` (what a request did, in words) are pure.
//! Nothing imports `cli`; only `store` names sled. See ARCHITECTURE.md.

pub mod activity;
pub mod admin;
pub mod api;
pub mod cli;
pub mod config;
pub mod control;
pub mod directory;
pub mod scim;
pub mod server;
pub mod service;
pub mod store;
pub mod tui;
pub mod util;
pub mod webhooks;

pub use store::now;
