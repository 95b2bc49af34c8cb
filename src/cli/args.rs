//! The command line's grammar (clap derive): every command, option and help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "scimdesk",
    version,
    about = "Self-hosted SCIM 2.0 provisioning with a terminal dashboard"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Configuration file.
    #[arg(
        long,
        global = true,
        env = "SCIMDESK_CONFIG",
        default_value = "config.toml"
    )]
    pub config: PathBuf,
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the SCIM API (no dashboard).
    Serve {
        /// Print every SCIM request's activity record to stdout as it happens.
        #[arg(long)]
        log_activity: bool,
    },
    /// Show sync activity: what the IdPs did, newest first.
    Activity(ActivityArgs),
    /// Verify a stopped store: indexes, references, counts and key digests.
    Check,
    /// Manage organizations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Manage an organization's SCIM domains (the only email domains its users may have).
    #[command(subcommand)]
    Domain(DomainCommand),
    /// Manage an organization's SCIM API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Manage application keys: what the vendor's application reads the API with.
    #[command(subcommand, name = "app-key")]
    AppKey(AppKeyCommand),
    /// Print the change feed (one event per line; with --json, the events' JSON).
    Events(EventsArgs),
}

#[derive(Subcommand, Debug)]
pub enum AppKeyCommand {
    /// Issue an application key; its secret is printed once.
    Issue {
        #[arg(long)]
        name: String,
        /// Scope it to one organization (default: it reads every organization).
        #[arg(long)]
        org: Option<String>,
    },
    /// List application keys (never their secrets).
    List,
    /// Revoke an application key permanently.
    Revoke { id: String },
}

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Only this organization.
    #[arg(long)]
    pub org: Option<String>,
    /// Only these types: `user.*,group.user_added`.
    #[arg(long = "type")]
    pub types: Option<String>,
    /// Start after this cursor (`now`: only new events); default: the oldest retained.
    #[arg(long)]
    pub after: Option<String>,
    /// At most this many events (without --follow).
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// Keep printing new events as they are committed.
    #[arg(long)]
    pub follow: bool,
}

#[derive(Args, Debug)]
pub struct ActivityArgs {
    /// Only this organization.
    #[arg(long)]
    pub org: Option<String>,
    /// Only records newer than this (e.g. 30s, 15m, 2h, 7d).
    #[arg(long)]
    pub since: Option<String>,
    /// Only failed requests (4xx and 5xx).
    #[arg(long)]
    pub errors: bool,
    /// Only this IdP: okta, entra, onelogin, jumpcloud, google, ping, other.
    #[arg(long)]
    pub idp: Option<String>,
    /// Only records about this userName or group displayName.
    #[arg(long)]
    pub user: Option<String>,
    /// Only records about this resource id.
    #[arg(long)]
    pub resource: Option<String>,
    /// At most this many records.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Stream new records as they happen (see `scimdesk serve --log-activity`).
    #[arg(long)]
    pub follow: bool,
}

#[derive(Subcommand, Debug)]
pub enum OrgCommand {
    /// Create an organization.
    Create {
        id: String,
        #[arg(long)]
        name: String,
    },
    /// List organizations.
    List,
    /// Show one organization.
    Show { id: String },
    /// Rename an organization (its id never changes).
    Rename { id: String, name: String },
    /// Delete an organization and everything it owns.
    Delete {
        id: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Turn SCIM provisioning on or off.
    Scim { id: String, state: OnOff },
    /// Print the SCIM base URL to enter in the IdP.
    Url { id: String },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

#[derive(Subcommand, Debug)]
pub enum DomainCommand {
    /// Allow a domain (`*` allows any; for testing).
    Add { org: String, domain: String },
    /// Disallow a domain.
    Remove { org: String, domain: String },
    /// List allowed domains.
    List { org: String },
}

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Issue a key; its secret is printed once.
    Issue {
        org: String,
        #[arg(long)]
        name: Option<String>,
    },
    /// List keys (never their secrets).
    List { org: String },
    /// Revoke a key permanently.
    Revoke { org: String, key_id: String },
}
