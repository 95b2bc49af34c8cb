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
    /// Verify the store (a running one through its server): indexes, references, counts and key digests.
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
    /// Manage extension schemas: the customers' own attributes (RFC 7643 §7 schema files).
    #[command(subcommand)]
    Schema(SchemaCommand),
    /// Manage webhook endpoints: the change feed pushed to the application, signed.
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// Write a consistent backup of the store to FILE (while it serves, writes go on).
    Backup { file: PathBuf },
    /// Print an organization's users and groups as JSON lines (the application API's shape;
    /// groups with their member ids), users first, each in creation order.
    Export {
        org: String,
        /// Only users or only groups.
        #[arg(long, value_enum)]
        only: Option<ExportKind>,
    },
    /// Restore a backup FILE into an empty directory DIR (then point [store] data_dir at it).
    Restore {
        file: PathBuf,
        #[arg(long)]
        data_dir: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum SchemaCommand {
    /// Declare an extension schema from FILE (an RFC 7643 §7 schema document), for every
    /// organization or one; declaring a URN again replaces it.
    Add {
        file: PathBuf,
        /// Only for this organization.
        #[arg(long)]
        org: Option<String>,
        /// The resource type it extends (default: a URN ending in :Group extends groups, any
        /// other users).
        #[arg(long, value_enum)]
        resource: Option<SchemaResource>,
    },
    /// List declared schemas.
    List,
    /// Print a declared schema's document.
    Show {
        urn: String,
        #[arg(long)]
        org: Option<String>,
    },
    /// Remove a declared schema (refused while stored users or groups carry its values).
    Remove {
        urn: String,
        /// The organization it was declared for (default: the one for every organization).
        #[arg(long)]
        org: Option<String>,
        /// Remove it even though resources carry values (they stay stored, unseen).
        #[arg(long)]
        force: bool,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchemaResource {
    User,
    Group,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportKind {
    Users,
    Groups,
}

#[derive(Subcommand, Debug)]
pub enum WebhookCommand {
    /// Add an endpoint; its signing secret is printed once. It receives the events after now
    /// (or after --from).
    Add {
        /// The receiver: https (plain http only for loopback, or with [webhooks] allow_http).
        url: String,
        /// Only this organization's events (default: every organization's).
        #[arg(long)]
        org: Option<String>,
        /// Only these event types: `user.*,group.user_added` (default: every type).
        #[arg(long)]
        events: Option<String>,
        /// Start after this cursor instead of the feed's newest event.
        #[arg(long)]
        from: Option<String>,
    },
    /// List endpoints with their state and backlog.
    List,
    /// Show an endpoint: its streams per organization and its recent attempts.
    Show { id: String },
    /// Remove an endpoint; its deliveries stop.
    Remove { id: String },
    /// Stop delivering to an endpoint (events wait until it is enabled).
    Disable { id: String },
    /// Deliver again to a disabled endpoint, starting with what was waiting.
    Enable { id: String },
    /// Issue a new signing secret (printed once); the old one signs beside it for 24 h.
    #[command(name = "rotate-secret")]
    RotateSecret { id: String },
    /// Send a `webhook.test` event now and print what the receiver answered.
    Test { id: String },
    /// Deliver events again: every one after a cursor, or since a time.
    Replay {
        id: String,
        /// After this cursor.
        #[arg(long, conflicts_with = "since", required_unless_present = "since")]
        after: Option<String>,
        /// Since this time: RFC 3339 (`2026-12-01T00:00:00Z`) or a duration ago (`2h`, `3d`).
        #[arg(long)]
        since: Option<String>,
    },
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
    /// Print the steps to connect an IdP to the organization, with its URL filled in.
    Guide {
        id: String,
        /// okta, entra, onelogin, jumpcloud, google or generic.
        #[arg(long, default_value = "generic")]
        idp: String,
    },
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
