//! Configuration read from `config.toml`: every key is optional except where noted, unknown keys
//! are errors, and every error is one line naming the offending key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The whole configuration after validation. Relative paths are already resolved against the
/// directory holding the config file.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub scim: ScimConfig,
    pub activity: ActivityConfig,
    pub events: EventsConfig,
    pub api: ApiConfig,
    pub webhooks: WebhooksConfig,
    pub admin: AdminConfig,
}

#[derive(Debug, Clone)]
pub struct WebhooksConfig {
    /// Plain http to addresses other than loopback.
    pub allow_http: bool,
    /// Delays before each retry after a failed delivery; after the last, the event is given up.
    pub retries: Vec<std::time::Duration>,
    /// How long one delivery may take.
    pub timeout: std::time::Duration,
    /// An endpoint failing without a success for this long is disabled.
    pub disable_after: time::Duration,
    /// Certificates (PEM) trusted for https receivers besides the public roots.
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct EventsConfig {
    /// Whether changes write events to the feed.
    pub enabled: bool,
    /// Events older than this are removed.
    pub retention: time::Duration,
    /// At most this many events are kept; the oldest go first.
    pub max_events: u64,
}

#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Where the application API listens; None: not served.
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Clone)]
pub struct ActivityConfig {
    /// Whether requests are recorded at all.
    pub enabled: bool,
    /// Records older than this are removed.
    pub max_age: time::Duration,
    /// At most this many records are kept per organization (the oldest go first).
    pub max_records_per_org: usize,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address the SCIM server listens on.
    pub listen: SocketAddr,
    /// Absolute URL IdPs are told to use, without a trailing slash.
    pub public_url: String,
    /// Largest request body accepted, in bytes (413 above it).
    pub max_body_bytes: usize,
    /// How long a stopping server lets requests in flight finish.
    pub shutdown_grace: std::time::Duration,
}

#[derive(Debug, Clone, Default)]
pub struct AdminConfig {
    /// The admin socket; None: `admin.sock` in the data directory.
    pub socket: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub data_dir: PathBuf,
    /// sled's page cache size in bytes.
    pub cache_capacity: u64,
}

#[derive(Debug, Clone)]
pub struct ScimConfig {
    /// Page size used when a list request names no `count`.
    pub default_count: usize,
    /// Largest page a list request may ask for (`filter.maxResults`).
    pub max_results: usize,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    store: RawStore,
    #[serde(default)]
    scim: RawScim,
    #[serde(default)]
    activity: RawActivity,
    #[serde(default)]
    events: RawEvents,
    #[serde(default)]
    api: RawApi,
    #[serde(default)]
    webhooks: RawWebhooks,
    #[serde(default)]
    admin: RawAdmin,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawWebhooks {
    allow_http: Option<bool>,
    retries: Option<Vec<String>>,
    timeout: Option<String>,
    disable_after: Option<String>,
    ca_file: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawEvents {
    enabled: Option<bool>,
    retention: Option<String>,
    max_events: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawApi {
    listen: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawActivity {
    enabled: Option<bool>,
    max_age_days: Option<u64>,
    max_records_per_org: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<String>,
    public_url: Option<String>,
    max_body_bytes: Option<u64>,
    shutdown_grace: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAdmin {
    socket: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawStore {
    data_dir: Option<String>,
    cache_capacity_mb: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawScim {
    default_count: Option<u64>,
    max_results: Option<u64>,
}

/// `[webhooks]`: retries default to Svix's schedule after the first attempt.
fn webhooks_config(raw: &RawWebhooks, base: &Path) -> Result<WebhooksConfig, ConfigError> {
    let duration = |key: &str, text: &str, zero_ok: bool| {
        parse_duration(text)
            .ok()
            .filter(|d| d.is_positive() || (zero_ok && d.is_zero()))
            .map(|d| std::time::Duration::from_millis(d.whole_milliseconds() as u64))
            .ok_or_else(|| {
                ConfigError(format!(
                    "webhooks.{key}: {text:?} is not a {}duration like \"5s\" or \"2h\"",
                    if zero_ok { "" } else { "positive " }
                ))
            })
    };
    const RETRIES: [&str; 7] = ["5s", "5m", "30m", "2h", "5h", "10h", "10h"];
    let retries: Result<Vec<_>, _> = match &raw.retries {
        None => RETRIES
            .iter()
            .map(|t| duration("retries", t, true))
            .collect(),
        Some(list) => list.iter().map(|t| duration("retries", t, true)).collect(),
    };
    let disable_after = duration(
        "disable_after",
        raw.disable_after.as_deref().unwrap_or("5d"),
        false,
    )?;
    Ok(WebhooksConfig {
        allow_http: raw.allow_http.unwrap_or(false),
        retries: retries?,
        timeout: duration("timeout", raw.timeout.as_deref().unwrap_or("15s"), false)?,
        disable_after: time::Duration::try_from(disable_after)
            .map_err(|_| ConfigError("webhooks.disable_after: too long".into()))?,
        ca_file: raw.ca_file.as_ref().map(|f| base.join(f)),
    })
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_API_LISTEN: &str = "127.0.0.1:8081";

/// Parses `250ms`, `30s`, `15m`, `2h`, `7d` (a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<time::Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: i64 = digits.parse().map_err(|_| {
        format!("invalid duration {text:?}: use a number and ms, s, m, h or d, like 2h")
    })?;
    let millis = match unit {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => {
            return Err(format!(
                "invalid duration {text:?}: use ms, s, m, h or d, like 2h"
            ));
        }
    };
    n.checked_mul(millis)
        .map(time::Duration::milliseconds)
        .ok_or_else(|| format!("invalid duration {text:?}: too long"))
}

impl Config {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read config file {}: {e}", path.display())))?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Self::parse(&text, &base).map_err(|e| ConfigError(format!("{}: {}", path.display(), e.0)))
    }

    /// Parses config text; relative paths are resolved against `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| describe_toml_error(text, &e))?;
        let listen_text = raw.server.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            ConfigError(format!(
                "server.listen: {listen_text:?} is not an address like \"127.0.0.1:8080\""
            ))
        })?;
        let public_url = match raw.server.public_url {
            Some(url) => url,
            None => format!("http://{listen}"),
        };
        validate_public_url(&public_url)?;
        let max_body_bytes = positive("server.max_body_bytes", raw.server.max_body_bytes, 1 << 20)?;
        let data_dir = raw.store.data_dir.unwrap_or_else(|| "data".to_string());
        if data_dir.trim().is_empty() {
            return Err(ConfigError("store.data_dir: must not be empty".into()));
        }
        let data_dir = base.join(data_dir);
        let cache_mb = positive("store.cache_capacity_mb", raw.store.cache_capacity_mb, 64)?;
        let max_results = positive("scim.max_results", raw.scim.max_results, 1000)?;
        let default_count = positive("scim.default_count", raw.scim.default_count, 100)?;
        if default_count > max_results {
            return Err(ConfigError(format!(
                "scim.default_count: {default_count} is larger than scim.max_results ({max_results})"
            )));
        }
        let max_age_days = positive("activity.max_age_days", raw.activity.max_age_days, 30)?;
        let max_records = positive(
            "activity.max_records_per_org",
            raw.activity.max_records_per_org,
            100_000,
        )?;
        let retention = match raw.events.retention.as_deref() {
            None => time::Duration::days(30),
            Some(text) => parse_duration(text)
                .ok()
                .filter(|d| d.is_positive())
                .ok_or_else(|| {
                    ConfigError(format!(
                        "events.retention: {text:?} is not a duration like \"30d\" or \"12h\""
                    ))
                })?,
        };
        let max_events = positive("events.max_events", raw.events.max_events, 10_000_000)?;
        let api_listen = match raw.api.listen.as_deref().unwrap_or(DEFAULT_API_LISTEN) {
            "" => None,
            text => Some(text.parse().map_err(|_| {
                ConfigError(format!(
                    "api.listen: {text:?} is not an address like \"127.0.0.1:8081\" (\"\" turns the API off)"
                ))
            })?),
        };
        let webhooks = webhooks_config(&raw.webhooks, base)?;
        let grace_text = raw.server.shutdown_grace.as_deref().unwrap_or("10s");
        let shutdown_grace = parse_duration(grace_text)
            .ok()
            .filter(|d| !d.is_negative())
            .map(|d| std::time::Duration::from_millis(d.whole_milliseconds() as u64))
            .ok_or_else(|| {
                ConfigError(format!(
                    "server.shutdown_grace: {grace_text:?} is not a duration like \"10s\""
                ))
            })?;
        let admin = AdminConfig {
            socket: match raw.admin.socket.as_deref() {
                None => None,
                Some(s) if s.trim().is_empty() => {
                    return Err(ConfigError("admin.socket: must not be empty".into()));
                }
                Some(s) => Some(base.join(s)),
            },
        };
        Ok(Config {
            webhooks,
            admin,
            events: EventsConfig {
                enabled: raw.events.enabled.unwrap_or(true),
                retention,
                max_events,
            },
            api: ApiConfig { listen: api_listen },
            activity: ActivityConfig {
                enabled: raw.activity.enabled.unwrap_or(true),
                max_age: time::Duration::days(max_age_days.min(36_500) as i64),
                max_records_per_org: max_records as usize,
            },
            server: ServerConfig {
                listen,
                public_url,
                max_body_bytes: max_body_bytes as usize,
                shutdown_grace,
            },
            store: StoreConfig {
                data_dir,
                cache_capacity: cache_mb * 1024 * 1024,
            },
            scim: ScimConfig {
                default_count: default_count as usize,
                max_results: max_results as usize,
            },
        })
    }

    /// A configuration for tests and benchmarks: defaults with the given data directory.
    pub fn for_data_dir(data_dir: &Path) -> Config {
        let mut config = Config::parse("", Path::new(".")).expect("defaults are valid");
        config.store.data_dir = data_dir.to_path_buf();
        config
    }

    /// The SCIM base URL of one organization, as typed into an IdP.
    pub fn scim_base_url(&self, org_id: &str) -> String {
        format!("{}/scim/v2/{}", self.server.public_url, org_id)
    }
}

fn positive(key: &str, value: Option<u64>, default: u64) -> Result<u64, ConfigError> {
    match value {
        None => Ok(default),
        Some(0) => Err(ConfigError(format!("{key}: must be greater than 0"))),
        Some(v) => Ok(v),
    }
}

fn validate_public_url(url: &str) -> Result<(), ConfigError> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    let Some(rest) = rest else {
        return Err(ConfigError(format!(
            "server.public_url: {url:?} must start with http:// or https://"
        )));
    };
    if rest.is_empty() || rest.starts_with('/') {
        return Err(ConfigError(format!(
            "server.public_url: {url:?} has no host"
        )));
    }
    if url.ends_with('/') {
        return Err(ConfigError(format!(
            "server.public_url: {url:?} must not end with a slash"
        )));
    }
    if url.contains(['?', '#', ' ']) {
        return Err(ConfigError(format!(
            "server.public_url: {url:?} must not contain a query, fragment or space"
        )));
    }
    Ok(())
}

/// Turns toml's multi-line report into one line naming the section, key and line.
fn describe_toml_error(text: &str, err: &toml::de::Error) -> ConfigError {
    let message = err.message().replace('\n', " ");
    let Some(span) = err.span() else {
        return ConfigError(message);
    };
    let line_no = text[..span.start.min(text.len())].matches('\n').count() + 1;
    let mut section = String::new();
    let mut key = String::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            section = trimmed
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string();
        }
        if i + 1 == line_no {
            if let Some((k, _)) = trimmed.split_once('=') {
                key = k.trim().to_string();
            }
            break;
        }
    }
    let name = match (section.is_empty(), key.is_empty()) {
        (_, true) => section,
        (true, false) => key,
        (false, false) => format!("{section}.{key}"),
    };
    if name.is_empty() {
        ConfigError(format!("line {line_no}: {message}"))
    } else {
        ConfigError(format!("{name} (line {line_no}): {message}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let c = Config::parse("", Path::new("/srv")).unwrap();
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.server.public_url, "http://127.0.0.1:8080");
        assert_eq!(c.store.data_dir, PathBuf::from("/srv/data"));
        assert_eq!(c.scim.max_results, 1000);
        assert_eq!(
            c.scim_base_url("acme"),
            "http://127.0.0.1:8080/scim/v2/acme"
        );
    }

    #[test]
    fn unknown_key_names_the_key() {
        let err = Config::parse(
            "[server]\nlisten = \"127.0.0.1:1\"\nlisen = 3\n",
            Path::new("."),
        )
        .unwrap_err();
        assert!(err.0.contains("server.lisen"), "{}", err.0);
        assert!(!err.0.contains('\n'));
    }

    #[test]
    fn bad_values_name_the_key() {
        for (text, key) in [
            ("[server]\nlisten = \"nowhere\"", "server.listen"),
            ("[server]\npublic_url = \"http://x/\"", "server.public_url"),
            ("[server]\npublic_url = \"ftp://x\"", "server.public_url"),
            ("[store]\ncache_capacity_mb = 0", "store.cache_capacity_mb"),
            (
                "[store]\ncache_capacity_mb = \"big\"",
                "store.cache_capacity_mb",
            ),
            ("[scim]\nmax_results = -1", "scim.max_results"),
            ("[events]\nretention = \"soon\"", "events.retention"),
            ("[events]\nmax_events = 0", "events.max_events"),
            ("[api]\nlisten = \"x\"", "api.listen"),
        ] {
            let err = Config::parse(text, Path::new(".")).unwrap_err();
            assert!(err.0.contains(key), "{text}: {}", err.0);
            assert!(!err.0.contains('\n'), "{}", err.0);
        }
    }
}
