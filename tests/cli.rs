//! Runs the real binary on a temporary store for every management command.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.toml"),
            "[server]\npublic_url = \"https://scim.example.test\"\n[store]\ndata_dir = \"store\"\ncache_capacity_mb = 8\n",
        )
        .unwrap();
        Env { dir }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_scimdesk"))
            .arg("--config")
            .arg(self.config())
            .args(args)
            .env_remove("SCIMDESK_CONFIG")
            .output()
            .unwrap()
    }

    /// Runs a command that must succeed and returns its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.push("--json");
        serde_json::from_str(&self.ok(&all)).unwrap()
    }

    /// Runs a command that must fail with `code` and a one-line message containing `needle`.
    fn fails(&self, args: &[&str], code: i32, needle: &str) {
        let out = self.run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err:?} lacks {needle:?}");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: not one line: {err:?}"
        );
    }
}

#[test]
fn example_session_from_the_readme() {
    let env = Env::new();
    assert!(
        env.ok(&["org", "create", "acme", "--name", "Acme Corp"])
            .contains("acme")
    );
    env.ok(&["domain", "add", "acme", "Acme.com"]);
    env.ok(&["org", "scim", "acme", "on"]);
    let key = env.json(&["key", "issue", "acme", "--name", "okta"]);
    assert_eq!(key["name"], "okta");
    assert!(key["id"].as_str().unwrap().starts_with("key_"));
    assert!(key["secret"].as_str().unwrap().starts_with("scimdesk_"));
    assert_eq!(
        key["scim_base_url"],
        "https://scim.example.test/scim/v2/acme"
    );
    assert_eq!(
        env.ok(&["org", "url", "acme"]).trim(),
        "https://scim.example.test/scim/v2/acme"
    );

    let org = env.json(&["org", "show", "acme"]);
    assert_eq!(org["name"], "Acme Corp");
    assert_eq!(org["scim_enabled"], true);
    assert_eq!(org["domains"], serde_json::json!(["acme.com"]));
}

#[test]
fn org_commands() {
    let env = Env::new();
    assert!(env.ok(&["org", "list"]).contains("no organizations"));
    env.ok(&["org", "create", "acme", "--name", "Acme"]);
    env.ok(&["org", "create", "globex", "--name", "Globex"]);
    let list = env.json(&["org", "list"]);
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["acme", "globex"]);
    let text = env.ok(&["org", "list"]);
    assert!(text.contains("Acme") && text.contains("Globex") && text.contains("off"));

    env.ok(&["org", "rename", "acme", "Acme Industries"]);
    assert_eq!(
        env.json(&["org", "show", "acme"])["name"],
        "Acme Industries"
    );
    env.ok(&["org", "scim", "acme", "on"]);
    assert_eq!(env.json(&["org", "show", "acme"])["scim_enabled"], true);
    env.ok(&["org", "scim", "acme", "off"]);
    assert_eq!(env.json(&["org", "show", "acme"])["scim_enabled"], false);

    env.ok(&["org", "delete", "acme", "--yes"]);
    env.fails(
        &["org", "show", "acme"],
        1,
        "no organization with id \"acme\"",
    );
    assert_eq!(env.json(&["org", "list"]).as_array().unwrap().len(), 1);
}

#[test]
fn org_mistakes() {
    let env = Env::new();
    env.ok(&["org", "create", "acme", "--name", "Acme"]);
    env.fails(
        &["org", "create", "acme", "--name", "Again"],
        1,
        "already exists",
    );
    env.fails(
        &["org", "create", "Bad_Id", "--name", "x"],
        1,
        "invalid organization id",
    );
    env.fails(&["org", "create", "-x", "--name", "x"], 2, "");
    env.fails(
        &["org", "create", "ok", "--name", "  "],
        1,
        "must not be empty",
    );
    env.fails(&["org", "show", "nope"], 1, "no organization");
    env.fails(&["org", "rename", "nope", "x"], 1, "no organization");
    env.fails(&["org", "scim", "nope", "on"], 1, "no organization");
    env.fails(&["org", "scim", "acme", "maybe"], 2, "invalid value");
    env.fails(&["org", "url", "nope"], 1, "no organization");
    env.fails(&["org", "delete", "nope", "--yes"], 1, "no organization");
    // Without a terminal and without --yes nothing is deleted.
    env.fails(&["org", "delete", "acme"], 2, "--yes");
    env.ok(&["org", "show", "acme"]);
    env.fails(&["org", "frobnicate"], 2, "unrecognized subcommand");
}

#[test]
fn domain_commands() {
    let env = Env::new();
    env.ok(&["org", "create", "acme", "--name", "Acme"]);
    assert!(
        env.ok(&["domain", "list", "acme"])
            .contains("no SCIM domains")
    );
    env.ok(&["domain", "add", "acme", "ACME.com."]);
    env.ok(&["domain", "add", "acme", "eu.acme.com"]);
    env.ok(&["domain", "add", "acme", "*"]);
    assert_eq!(
        env.json(&["domain", "list", "acme"])["domains"],
        serde_json::json!(["*", "acme.com", "eu.acme.com"])
    );
    assert!(
        env.ok(&["domain", "list", "acme"])
            .contains("* (any domain")
    );
    env.fails(&["domain", "add", "acme", "acme.com"], 1, "already");
    env.fails(
        &["domain", "add", "acme", "not a domain"],
        1,
        "invalid domain",
    );
    env.fails(&["domain", "add", "acme", "bücher.de"], 1, "punycode");
    env.fails(&["domain", "add", "nope", "acme.com"], 1, "no organization");
    env.ok(&["domain", "remove", "acme", "Acme.com"]);
    env.fails(
        &["domain", "remove", "acme", "acme.com"],
        1,
        "not a SCIM domain",
    );
    assert_eq!(
        env.json(&["domain", "list", "acme"])["domains"],
        serde_json::json!(["*", "eu.acme.com"])
    );
}

#[test]
fn key_commands_never_show_secrets_again() {
    let env = Env::new();
    env.ok(&["org", "create", "acme", "--name", "Acme"]);
    let text = env.ok(&["key", "issue", "acme", "--name", "okta"]);
    assert!(text.contains("cannot be shown again"), "{text}");
    let secret = text
        .split_whitespace()
        .find(|w| w.starts_with("scimdesk_"))
        .unwrap()
        .to_string();
    let issued = env.json(&["key", "issue", "acme"]);
    let key_id = issued["id"].as_str().unwrap().to_string();

    let keys = env.json(&["key", "list", "acme"]);
    assert_eq!(keys.as_array().unwrap().len(), 2);
    let listing = env.ok(&["key", "list", "acme"]) + &keys.to_string();
    assert!(!listing.contains(&secret));
    assert!(!listing.contains(issued["secret"].as_str().unwrap()));
    assert!(listing.contains("okta") && listing.contains("active"));

    // The secret is not stored in plain text anywhere on disk.
    let mut found = false;
    for entry in walk(&env.dir.path().join("store")) {
        let bytes = std::fs::read(entry).unwrap();
        found |= bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
    }
    assert!(!found, "secret found on disk");

    env.ok(&["key", "revoke", "acme", &key_id]);
    let keys = env.json(&["key", "list", "acme"]);
    let revoked = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == key_id.as_str())
        .unwrap();
    assert!(revoked["revoked"].is_string());
    env.fails(&["key", "revoke", "acme", &key_id], 1, "already revoked");
    env.fails(&["key", "revoke", "acme", "key_nope"], 1, "no key");
    env.fails(&["key", "issue", "nope"], 1, "no organization");
    env.fails(&["key", "list", "nope"], 1, "no organization");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn config_errors_exit_2_naming_the_key() {
    let env = Env::new();
    let out = Command::new(env!("CARGO_BIN_EXE_scimdesk"))
        .args(["--config", "/nonexistent/scimdesk.toml", "org", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read config file"));

    std::fs::write(
        env.config(),
        "[server]\nlisten = \"127.0.0.1:8080\"\nport = 3\n",
    )
    .unwrap();
    env.fails(&["org", "list"], 2, "server.port");
    std::fs::write(env.config(), "[store]\ncache_capacity_mb = \"lots\"\n").unwrap();
    env.fails(&["org", "list"], 2, "store.cache_capacity_mb");
    std::fs::write(env.config(), "[server]\npublic_url = \"http://x/\"\n").unwrap();
    env.fails(&["org", "list"], 2, "server.public_url");

    // SCIMDESK_CONFIG names the file when --config is absent.
    let good = Env::new();
    let out = Command::new(env!("CARGO_BIN_EXE_scimdesk"))
        .args(["org", "list", "--json"])
        .env("SCIMDESK_CONFIG", good.config())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_store_in_use_is_a_one_line_error() {
    let env = Env::new();
    env.ok(&["org", "create", "acme", "--name", "Acme"]);
    let config = scimdesk::config::Config::load(&env.config()).unwrap();
    let _held = scimdesk::store::Store::open(&config.store.data_dir, 1 << 20).unwrap();
    env.fails(&["org", "list"], 1, "in use by a running scimdesk");
}

#[test]
fn application_keys_and_the_change_feed_from_the_command_line() {
    let env = Env::new();
    env.ok(&["org", "create", "acme", "--name", "Acme Corp"]);
    env.ok(&["domain", "add", "acme", "acme.com"]);
    let issued = env.json(&["app-key", "issue", "--name", "billing", "--org", "acme"]);
    let id = issued["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("appkey_"));
    assert!(
        issued["secret"]
            .as_str()
            .unwrap()
            .starts_with("scimdesk_app_")
    );
    let listed = env.json(&["app-key", "list"]);
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["org"], "acme");
    assert!(listed[0].get("secret").is_none() && listed[0].get("digest").is_none());
    env.fails(
        &["app-key", "issue", "--name", "x", "--org", "nope"],
        1,
        "nope",
    );
    env.ok(&["app-key", "revoke", &id]);
    env.fails(&["app-key", "revoke", &id], 1, "already revoked");
    // The feed: one line per event, or each event's JSON with --json.
    let text = env.ok(&["events"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].contains("organization.created") && lines[0].contains("acme"));
    assert!(lines[1].contains("organization.domain_added") && lines[1].contains("acme.com"));
    let json = env.ok(&[
        "events",
        "--type",
        "organization.*",
        "--json",
        "--limit",
        "1",
    ]);
    let first: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(first["type"], "organization.created");
    env.fails(&["events", "--type", "nonsense"], 1, "unknown event type");
    env.fails(&["events", "--after", "zzz"], 1, "not an event cursor");
}

#[test]
fn webhook_commands_show_the_secret_once_and_refuse_bad_receivers() {
    let env = Env::new();
    env.ok(&["org", "create", "acme", "--name", "Acme"]);
    let text = env.ok(&["webhook", "add", "http://127.0.0.1:9/hook", "--org", "acme"]);
    assert!(text.contains("cannot be shown again"), "{text}");
    let secret = text
        .split_whitespace()
        .find(|w| w.starts_with("whsec_"))
        .unwrap()
        .to_string();
    let added = env.json(&[
        "webhook",
        "add",
        "https://app.example.com/hooks",
        "--events",
        "user.*,group.user_added",
    ]);
    let id = added["id"].as_str().unwrap().to_string();
    assert!(added["secret"].as_str().unwrap().starts_with("whsec_"));

    let list = env.json(&["webhook", "list"]);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let text = env.ok(&["webhook", "list"]) + &serde_json::to_string(list).unwrap();
    assert!(!text.contains(&secret) && !text.contains(added["secret"].as_str().unwrap()));
    let second = list.iter().find(|w| w["id"] == id.as_str()).unwrap();
    assert_eq!(
        second["types"],
        serde_json::json!(["user.*", "group.user_added"])
    );
    assert_eq!(second["enabled"], true);
    assert_eq!(second["org"], serde_json::Value::Null);

    // Signing secrets are sealed: not on disk as given, and the key file is owner-only.
    let b64 = secret.trim_start_matches("whsec_");
    for entry in walk(&env.dir.path().join("store")) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !bytes.windows(b64.len()).any(|w| w == b64.as_bytes()),
            "secret found in {}",
            entry.display()
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = env.dir.path().join("store/webhook-secrets.key");
        assert_eq!(
            std::fs::metadata(key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    let rotated = env.json(&["webhook", "rotate-secret", &id]);
    assert_ne!(rotated["secret"], added["secret"]);
    let shown = env.ok(&["webhook", "show", &id]);
    assert!(shown.contains("2 sign until"), "{shown}");
    env.ok(&["webhook", "disable", &id]);
    env.fails(&["webhook", "disable", &id], 1, "already disabled");
    let listed = env.ok(&["webhook", "list"]);
    assert!(
        listed.contains("disabled: disabled by an operator"),
        "{listed}"
    );
    env.ok(&["webhook", "enable", &id]);
    env.ok(&["webhook", "replay", &id, "--after", "0000000000000000"]);
    env.ok(&["webhook", "replay", &id, "--since", "2h"]);
    env.fails(&["webhook", "replay", &id], 2, "--after");
    env.fails(
        &["webhook", "replay", &id, "--after", "zz"],
        1,
        "invalid cursor",
    );
    env.fails(
        &["webhook", "replay", &id, "--since", "soon"],
        2,
        "invalid --since",
    );
    // Nobody listens on port 9: the test event fails in one line.
    let hook = env.json(&["webhook", "list"]);
    let local = hook.as_array().unwrap()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    env.fails(&["webhook", "test", &local], 1, "test event not delivered");
    let shown = env.ok(&["webhook", "show", &local]);
    assert!(shown.contains("test"), "the attempt is kept: {shown}");

    for (url, needle) in [
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("https://[fd00:ec2::254]/", "metadata"),
        ("http://app.example.com/hooks", "plain http"),
        ("ftp://app.example.com/", "https"),
        ("not a url", "invalid URL"),
    ] {
        env.fails(&["webhook", "add", url], 1, needle);
    }
    env.fails(
        &[
            "webhook",
            "add",
            "https://a.example.com/",
            "--events",
            "users.*",
        ],
        1,
        "users",
    );
    env.fails(
        &["webhook", "add", "https://a.example.com/", "--org", "nope"],
        1,
        "no organization",
    );
    env.fails(
        &[
            "webhook",
            "add",
            "https://a.example.com/",
            "--from",
            "ffffffffffffffff",
        ],
        1,
        "beyond",
    );
    env.ok(&["webhook", "remove", &id]);
    env.fails(&["webhook", "remove", &id], 1, "no webhook endpoint");
    let check = env.ok(&["check"]);
    assert!(check.contains("consistent"), "{check}");
}

#[test]
fn org_guide_prints_the_steps_with_the_organization_filled_in() {
    let env = Env::new();
    env.ok(&["org", "create", "acme", "--name", "Acme Corp"]);
    let entra = env.ok(&["org", "guide", "acme", "--idp", "entra"]);
    assert!(entra.starts_with("Connect Microsoft Entra ID to Acme Corp (acme)"));
    assert!(
        entra.contains(
            "Tenant URL:         https://scim.example.test/scim/v2/acme?aadOptscim062020"
        )
    );
    // What is missing is said: SCIM off, no domains.
    assert!(entra.contains("SCIM is OFF: turn it on with scimdesk org scim acme on"));
    assert!(entra.contains("domains: none yet"));
    env.ok(&["domain", "add", "acme", "acme.com"]);
    env.ok(&["org", "scim", "acme", "on"]);
    let okta = env.ok(&["org", "guide", "acme", "--idp", "okta"]);
    assert!(okta.contains("SCIM is on; domains: acme.com."));
    assert!(
        okta.contains(
            "SCIM connector base URL:             https://scim.example.test/scim/v2/acme"
        )
    );
    assert!(okta.contains("Push Groups"));
    let generic = env.ok(&["org", "guide", "acme"]);
    assert!(generic.starts_with("Connect any SCIM 2.0 client"));
    let out = env.run(&["org", "guide", "acme", "--idp", "ping"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("okta, entra, onelogin, jumpcloud, google, generic"),
        "{err}"
    );
    let out = env.run(&["org", "guide", "nope", "--idp", "okta"]);
    assert_eq!(out.status.code(), Some(1));
}
