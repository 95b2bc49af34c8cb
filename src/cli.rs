//! The command line: parses arguments, opens the store and prints results (text or `--json`).
//! Exit codes: 0 success, 1 a refused operation, 2 a usage or configuration error.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::json;

use crate::config::Config;
use crate::directory::{DirError, Directory};
use crate::store::{Organization, ScimKey, StoreError};
use crate::util::display_time;

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

/// A failure with its exit code; printed as one line on stderr.
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            code: 2,
            message: message.into(),
        }
    }
    pub fn refused(message: impl Into<String>) -> Failure {
        Failure {
            code: 1,
            message: message.into(),
        }
    }
}

impl From<DirError> for Failure {
    fn from(e: DirError) -> Failure {
        Failure::refused(e.to_string())
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        Failure::refused(e.to_string())
    }
}

/// Entry point used by `main.rs`.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            // Usage mistakes are one line, like every other error.
            let rendered = e.render().to_string();
            let first = rendered.lines().next().unwrap_or("invalid arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("error: {first} (see --help)");
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", f.message.replace('\n', " "));
            ExitCode::from(f.code)
        }
    }
}

pub fn load_config(global: &Global) -> Result<Config, Failure> {
    Config::load(&global.config).map_err(|e| Failure::usage(e.0))
}

fn run(cli: Cli) -> Result<(), Failure> {
    let config = load_config(&cli.global)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::refused(format!("cannot start the runtime: {e}")))?;
    let json = cli.global.json;
    runtime.block_on(async move {
        match cli.command {
            None => crate::tui::run(config).await,
            Some(Command::Serve { log_activity }) => {
                crate::server::run_cli(config, log_activity, json).await
            }
            Some(Command::Activity(args)) => activity(config, args, json),
            Some(Command::Check) => check(config, json),
            Some(Command::Org(cmd)) => org(Directory::open(config)?, cmd, json).await,
            Some(Command::Domain(cmd)) => domain(Directory::open(config)?, cmd, json).await,
            Some(Command::Key(cmd)) => key(Directory::open(config)?, cmd, json).await,
        }
    })
}

fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

fn org_json(dir: &Directory, org: &Organization) -> serde_json::Value {
    json!({
        "id": org.id,
        "name": org.name,
        "scim_enabled": org.scim_enabled,
        "domains": org.domains,
        "scim_base_url": dir.scim_base_url(&org.id),
        "created": crate::util::rfc3339(org.created),
        "updated": crate::util::rfc3339(org.updated),
    })
}

fn key_json(key: &ScimKey) -> serde_json::Value {
    json!({
        "id": key.id,
        "name": key.name,
        "created": crate::util::rfc3339(key.created),
        "last_used": key.last_used.map(crate::util::rfc3339),
        "revoked": key.revoked.map(crate::util::rfc3339),
    })
}

fn domain_label(d: &str) -> String {
    if d == "*" {
        "* (any domain: for testing only)".to_string()
    } else {
        d.to_string()
    }
}

fn print_org(dir: &Directory, org: &Organization) {
    println!("id:             {}", org.id);
    println!("name:           {}", org.name);
    println!(
        "scim:           {}",
        if org.scim_enabled { "on" } else { "off" }
    );
    let domains: Vec<String> = org.domains.iter().map(|d| domain_label(d)).collect();
    println!(
        "domains:        {}",
        if domains.is_empty() {
            "(none)".to_string()
        } else {
            domains.join(", ")
        }
    );
    println!("scim base url:  {}", dir.scim_base_url(&org.id));
    println!("created:        {}", display_time(org.created));
    println!("updated:        {}", display_time(org.updated));
}

async fn org(dir: Directory, cmd: OrgCommand, json: bool) -> Result<(), Failure> {
    match cmd {
        OrgCommand::Create { id, name } => {
            let org = dir.create_org(&id, &name).await?;
            if json {
                print_json(&org_json(&dir, &org));
            } else {
                println!("created organization {} ({})", org.id, org.name);
            }
        }
        OrgCommand::List => {
            let orgs = dir.list_orgs()?;
            if json {
                print_json(&json!(
                    orgs.iter().map(|o| org_json(&dir, o)).collect::<Vec<_>>()
                ));
            } else if orgs.is_empty() {
                println!(
                    "no organizations yet: create one with `scimdesk org create ID --name NAME`"
                );
            } else {
                println!("{:<24} {:<28} {:<5} DOMAINS", "ID", "NAME", "SCIM");
                for o in &orgs {
                    let domains: Vec<String> = o.domains.iter().map(|d| domain_label(d)).collect();
                    println!(
                        "{:<24} {:<28} {:<5} {}",
                        o.id,
                        o.name,
                        if o.scim_enabled { "on" } else { "off" },
                        if domains.is_empty() {
                            "-".to_string()
                        } else {
                            domains.join(", ")
                        }
                    );
                }
            }
        }
        OrgCommand::Show { id } => {
            let org = dir.get_org(&id)?;
            if json {
                print_json(&org_json(&dir, &org));
            } else {
                print_org(&dir, &org);
            }
        }
        OrgCommand::Rename { id, name } => {
            let org = dir.rename_org(&id, &name).await?;
            if json {
                print_json(&org_json(&dir, &org));
            } else {
                println!("renamed organization {} to {}", org.id, org.name);
            }
        }
        OrgCommand::Delete { id, yes } => {
            dir.get_org(&id)?;
            if !yes {
                confirm_delete(&id)?;
            }
            dir.delete_org(&id).await?;
            if json {
                print_json(&json!({"id": id, "deleted": true}));
            } else {
                println!("deleted organization {id} and everything it owned");
            }
        }
        OrgCommand::Scim { id, state } => {
            let org = dir
                .set_scim_enabled(&id, matches!(state, OnOff::On))
                .await?;
            if json {
                print_json(&org_json(&dir, &org));
            } else {
                println!(
                    "SCIM is now {} for {}",
                    if org.scim_enabled { "on" } else { "off" },
                    org.id
                );
                if org.scim_enabled && org.domains.is_empty() {
                    println!(
                        "warning: {} has no SCIM domains, so every user with an email address will be rejected",
                        org.id
                    );
                }
            }
        }
        OrgCommand::Url { id } => {
            let org = dir.get_org(&id)?;
            let url = dir.scim_base_url(&org.id);
            if json {
                print_json(&json!({"id": org.id, "scim_base_url": url}));
            } else {
                println!("{url}");
            }
        }
    }
    Ok(())
}

/// Asks the operator to type the id; refuses when there is no terminal to ask on.
fn confirm_delete(id: &str) -> Result<(), Failure> {
    if !std::io::stdin().is_terminal() {
        return Err(Failure::usage(format!(
            "refusing to delete {id} without confirmation: pass --yes"
        )));
    }
    eprint!(
        "This deletes organization {id} with all its users, groups and keys.\nType its id to confirm: "
    );
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Failure::refused(format!("cannot read the confirmation: {e}")))?;
    if answer.trim() != id {
        return Err(Failure::refused(format!(
            "not deleted: the id typed did not match {id}"
        )));
    }
    Ok(())
}

async fn domain(dir: Directory, cmd: DomainCommand, json: bool) -> Result<(), Failure> {
    let (org, message) = match cmd {
        DomainCommand::Add { org, domain } => {
            let o = dir.add_domain(&org, &domain).await?;
            let added = crate::directory::rules::normalize_domain(&domain).unwrap_or(domain);
            (o, Some(format!("added {} to {org}", domain_label(&added))))
        }
        DomainCommand::Remove { org, domain } => {
            let o = dir.remove_domain(&org, &domain).await?;
            (o, Some(format!("removed {} from {org}", domain.trim())))
        }
        DomainCommand::List { org } => (dir.get_org(&org)?, None),
    };
    if json {
        print_json(&json!({"id": org.id, "domains": org.domains}));
        return Ok(());
    }
    match message {
        Some(m) => println!("{m}"),
        None if org.domains.is_empty() => {
            println!(
                "{} has no SCIM domains: add one with `scimdesk domain add {} example.com`",
                org.id, org.id
            )
        }
        None => {
            for d in &org.domains {
                println!("{}", domain_label(d));
            }
        }
    }
    Ok(())
}

async fn key(dir: Directory, cmd: KeyCommand, json: bool) -> Result<(), Failure> {
    match cmd {
        KeyCommand::Issue { org, name } => {
            let issued = dir.issue_key(&org, name.as_deref()).await?;
            let url = dir.scim_base_url(&org);
            if json {
                print_json(&json!({
                    "id": issued.key.id,
                    "name": issued.key.name,
                    "secret": issued.secret,
                    "scim_base_url": url,
                }));
            } else {
                println!(
                    "issued key {} ({}) for {org}",
                    issued.key.id, issued.key.name
                );
                println!();
                println!("  secret:         {}", issued.secret);
                println!("  scim base url:  {url}");
                println!();
                println!(
                    "Copy the secret now: it is stored only as a hash and cannot be shown again."
                );
            }
        }
        KeyCommand::List { org } => {
            let keys = dir.list_keys(&org)?;
            if json {
                print_json(&json!(keys.iter().map(key_json).collect::<Vec<_>>()));
            } else if keys.is_empty() {
                println!("{org} has no keys: issue one with `scimdesk key issue {org}`");
            } else {
                println!(
                    "{:<18} {:<28} {:<25} {:<25} STATUS",
                    "ID", "NAME", "CREATED", "LAST USED"
                );
                for k in &keys {
                    println!(
                        "{:<18} {:<28} {:<25} {:<25} {}",
                        k.id,
                        k.name,
                        display_time(k.created),
                        k.last_used
                            .map(display_time)
                            .unwrap_or_else(|| "never".into()),
                        match k.revoked {
                            Some(t) => format!("revoked {}", display_time(t)),
                            None => "active".into(),
                        }
                    );
                }
            }
        }
        KeyCommand::Revoke { org, key_id } => {
            let k = dir.revoke_key(&org, &key_id).await?;
            if json {
                print_json(&key_json(&k));
            } else {
                println!(
                    "revoked key {} ({}); IdPs using it now get 401",
                    k.id, k.name
                );
            }
        }
    }
    Ok(())
}

/// Parses `30s`, `15m`, `2h`, `7d` (a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<time::Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: i64 = digits.parse().map_err(|_| {
        format!("invalid duration {text:?}: use a number and s, m, h or d, like 2h")
    })?;
    let secs = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "invalid duration {text:?}: use s, m, h or d, like 2h"
            ));
        }
    };
    n.checked_mul(secs)
        .map(time::Duration::seconds)
        .ok_or_else(|| format!("invalid duration {text:?}: too long"))
}

/// One line per record for terminals and logs.
pub fn activity_line(e: &crate::activity::ActivityEvent) -> String {
    format!(
        "{}  {:<16} {:<12} {:<6} {:>3} {:>8}  {}",
        display_time(e.time),
        e.org,
        e.idp.label(),
        e.method,
        e.status,
        format!("{:.1}ms", e.latency_us as f64 / 1000.0),
        e.summary
    )
}

fn activity(config: Config, args: ActivityArgs, json: bool) -> Result<(), Failure> {
    if args.follow {
        return Err(Failure::usage(
            "--follow needs the running server, which holds the store: run `scimdesk serve --log-activity` to stream activity as it happens",
        ));
    }
    let since = args
        .since
        .as_deref()
        .map(parse_duration)
        .transpose()
        .map_err(Failure::usage)?
        .map(|d| crate::store::now() - d);
    let idp = match args.idp.as_deref() {
        None => None,
        Some(name) => Some(crate::activity::Idp::parse_name(name).ok_or_else(|| {
            Failure::usage(format!(
                "unknown IdP {name:?}: use okta, entra, onelogin, jumpcloud, google, ping or other"
            ))
        })?),
    };
    let dir = Directory::open(config)?;
    if let Some(org) = &args.org {
        dir.get_org(org)?;
    }
    let query = crate::activity::ActivityQuery {
        org: args.org,
        since,
        errors_only: args.errors,
        idp,
        user_name: args.user,
        resource_id: args.resource,
        limit: args.limit,
        ..Default::default()
    };
    let events = dir.activity().query(&query)?;
    if json {
        print_json(&serde_json::to_value(&events).unwrap_or_default());
    } else if events.is_empty() {
        println!("no activity recorded that matches");
    } else {
        for e in &events {
            println!("{}", activity_line(e));
            for c in &e.changes {
                println!("{:>28}{}", "", crate::activity::describe_change(c));
            }
        }
    }
    Ok(())
}

fn check(config: Config, json: bool) -> Result<(), Failure> {
    let dir = Directory::open(config)?;
    let report = dir.store().check()?;
    if json {
        print_json(&serde_json::to_value(&report).unwrap_or_default());
    } else {
        println!(
            "{} organizations, {} users, {} groups, {} memberships, {} keys, {} activity records",
            report.organizations,
            report.users,
            report.groups,
            report.memberships,
            report.keys,
            report.activity_records
        );
        for p in &report.problems {
            println!("problem: {p}");
        }
    }
    if report.problems.is_empty() {
        if !json {
            println!("the store is consistent");
        }
        Ok(())
    } else {
        Err(Failure::refused(format!(
            "the store has {} problem(s)",
            report.problems.len()
        )))
    }
}
