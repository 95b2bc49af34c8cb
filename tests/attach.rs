//! Commands while a server runs go through its admin socket: the same output, `--json` and exit
//! codes as on a stopped store; live activity from a running server; backups while it serves.

mod common;

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Client, Installation, user};

/// Replaces what differs between two runs (secrets, generated ids, times) with placeholders.
fn normalize(text: &str) -> String {
    fn take(chars: &[char], at: usize, n: usize, ok: impl Fn(char) -> bool) -> bool {
        at + n <= chars.len() && chars[at..at + n].iter().all(|&c| ok(c))
    }
    let b64url = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let b64 = |c: char| c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '=';
    let hex = |c: char| c.is_ascii_hexdigit();
    let digit = |c: char| c.is_ascii_digit();
    type Token<'a> = (&'a str, usize, &'a dyn Fn(char) -> bool);
    let tokens: [Token; 7] = [
        ("scimdesk_app_", 43, &b64url),
        ("scimdesk_", 43, &b64url),
        ("whsec_", 44, &b64),
        ("appkey_", 12, &hex),
        ("key_", 12, &hex),
        ("whk_", 12, &hex),
        ("evt_", 32, &hex),
    ];
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    'outer: while i < chars.len() {
        for (prefix, n, ok) in &tokens {
            let p: Vec<char> = prefix.chars().collect();
            if chars[i..].starts_with(&p) && take(&chars, i + p.len(), *n, ok) {
                out.push_str(prefix);
                out.push_str("[x]");
                i += p.len() + n;
                continue 'outer;
            }
        }
        // 2026-12-06 03:15:20 UTC, 2026-12-06T03:15:20.123Z, 2026-12-06T03:15:20Z
        if take(&chars, i, 4, digit)
            && chars.get(i + 4) == Some(&'-')
            && take(&chars, i + 11, 2, digit)
            && matches!(chars.get(i + 10), Some(' ' | 'T'))
        {
            let mut j = i + 19;
            while j < chars.len() && (chars[j].is_ascii_digit() || chars[j] == '.') {
                j += 1;
            }
            if chars.get(j) == Some(&'Z') {
                j += 1;
            } else if chars[j..].starts_with(&[' ', 'U', 'T', 'C']) {
                j += 4;
            }
            out.push_str("[time]");
            i = j;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// The commands an operator would type, in order.
const SCRIPT: &[&[&str]] = &[
    &["org", "create", "acme", "--name", "Acme"],
    &["org", "create", "acme", "--name", "Again"],
    &["org", "create", "Not Valid", "--name", "X"],
    &["org", "create", "globex", "--name", "Globex"],
    &["org", "list"],
    &["--json", "org", "list"],
    &["org", "show", "acme"],
    &["--json", "org", "show", "acme"],
    &["org", "rename", "acme", "Acme Corp"],
    &["domain", "add", "acme", "acme.com"],
    &["domain", "add", "acme", "not a domain"],
    &["domain", "list", "acme"],
    &["--json", "domain", "list", "acme"],
    &["org", "scim", "acme", "on"],
    &["org", "url", "acme"],
    &["--json", "key", "issue", "acme", "--name", "okta"],
    &["key", "issue", "acme"],
    &["key", "list", "acme"],
    &["--json", "key", "list", "acme"],
    &["key", "revoke", "acme", "key_000000000000"],
    &["--json", "app-key", "issue", "--name", "billing"],
    &["app-key", "list"],
    &["events", "--limit", "5"],
    &["--json", "events", "--limit", "3", "--org", "acme"],
    &["events", "--after", "bad"],
    &["activity", "--limit", "5"],
    &["--json", "activity", "--org", "acme"],
    &["check"],
    &["--json", "check"],
    &["org", "show", "nope"],
    &["domain", "remove", "acme", "acme.com"],
    &["org", "delete", "globex", "--yes"],
    &["org", "list"],
    &[
        "--json",
        "webhook",
        "add",
        "http://127.0.0.1:9/hook",
        "--org",
        "acme",
    ],
    &["webhook", "add", "http://169.254.169.254/"],
    &["--json", "webhook", "list"],
    &["webhook", "disable", "whk_000000000000"],
    &["export", "acme"],
    &["export", "acme", "--only", "users"],
    &["export", "nope"],
];

/// (exit code, stdout, stderr) of each command of the script, normalized.
fn run_script(inst: &Installation) -> Vec<(Option<i32>, String, String)> {
    SCRIPT
        .iter()
        .map(|args| {
            let out = inst.run(args);
            (
                out.status.code(),
                normalize(&String::from_utf8_lossy(&out.stdout)),
                normalize(&String::from_utf8_lossy(&out.stderr)),
            )
        })
        .collect()
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "serve did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn every_command_says_the_same_through_a_running_server_as_on_its_store() {
    let offline = Installation::new("127.0.0.1:0");
    let stopped = run_script(&offline);

    let online = Installation::new("127.0.0.1:0");
    let (child, _) = online.serve();
    assert!(online.socket().exists());
    let attached = run_script(&online);
    stop(child);

    for ((args, a), b) in SCRIPT.iter().zip(&stopped).zip(&attached) {
        assert_eq!(a, b, "{args:?}: on the store / through the server");
    }
    // The script did fail where it should, both ways.
    assert!(stopped.iter().filter(|r| r.0 != Some(0)).count() >= 6);
    // And everything it did is in the store.
    let out = online.run(&["--json", "org", "list"]);
    let orgs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(orgs.as_array().unwrap().len(), 1);
    assert_eq!(orgs[0]["name"], "Acme Corp");
}

/// A tenant on a store that is not served yet; returns the SCIM key's secret.
fn tenant(inst: &Installation) -> String {
    for args in [
        &["org", "create", "acme", "--name", "Acme"][..],
        &["domain", "add", "acme", "example.com"],
        &["org", "scim", "acme", "on"],
    ] {
        assert!(inst.run(args).status.success());
    }
    let key = inst.run(&["--json", "key", "issue", "acme"]);
    serde_json::from_slice::<serde_json::Value>(&key.stdout).unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn activity_follow_prints_what_a_running_server_records() {
    let inst = Installation::new("127.0.0.1:0");
    let out = inst.run(&["activity", "--follow"]);
    assert_eq!(out.status.code(), Some(2), "no server: a usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("running server"));
    let secret = tenant(&inst);
    let (child, addr) = inst.serve();
    let mut follow = inst
        .cmd()
        .args(["activity", "--follow", "--org", "acme"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let stdout = follow.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            sink.lock().unwrap().push(line);
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    let c = Client {
        addr,
        base: "/scim/v2/acme".into(),
        auth: Some(format!("Bearer {secret}")),
    };
    for i in 0..3 {
        common::create_user(&c, &format!("f{i}@example.com"));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = lines.lock().unwrap().clone();
        if (0..3).all(|i| {
            got.iter()
                .any(|l| l.contains(&format!("created user f{i}@example.com")))
        }) {
            break;
        }
        assert!(Instant::now() < deadline, "not followed: {got:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The server stopping ends the follow.
    stop(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while follow.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "follow did not end with the server"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A backup taken while creates go on holds every create acknowledged before it started;
/// restored, the store is consistent; a backup of the idle server restores to the same
/// directory as the server's own store.
#[test]
fn a_backup_while_serving_holds_every_acknowledged_write_and_restores_consistently() {
    let inst = Installation::new("127.0.0.1:0");
    let secret = tenant(&inst);
    let (child, addr) = inst.serve();
    assert!(
        inst.run(&["webhook", "add", "http://127.0.0.1:9/hook"])
            .status
            .success()
    );
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (acked, done) = (acked.clone(), done.clone());
            let c = Client {
                addr,
                base: "/scim/v2/acme".into(),
                auth: Some(format!("Bearer {secret}")),
            };
            std::thread::spawn(move || {
                let mut i = 0;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    let name = format!("w{w}-{i}@example.com");
                    let r = c.post("/Users", &user(&name));
                    assert_eq!(r.status, 201);
                    acked.lock().unwrap().push(name);
                    i += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let before: HashSet<String> = acked.lock().unwrap().iter().cloned().collect();
    let file = inst.dir.path().join("during.bak");
    let out = inst.run(&["backup", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("checked"));
    std::thread::sleep(Duration::from_millis(200));
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // Restored: consistent, and every create acknowledged before the backup began is there.
    let restored = inst.dir.path().join("restored");
    let out = inst.run(&[
        "restore",
        file.to_str().unwrap(),
        "--data-dir",
        restored.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("consistent"));
    let dir = scimdesk::directory::Directory::open(common::config_for(&restored)).unwrap();
    let org = dir.get_org("acme").unwrap();
    let mut names = HashSet::new();
    let mut after = None;
    loop {
        let page = dir
            .resources_after(
                "acme",
                scimdesk::scim::schema::ResourceKind::User,
                after.as_deref(),
                1000,
            )
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        for r in &page {
            names.insert(r.attrs["userName"].as_str().unwrap().to_string());
        }
    }
    let missing: Vec<_> = before.difference(&names).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged before the backup are missing: {missing:?}",
        missing.len()
    );
    assert!(org.scim_enabled);
    assert_eq!(dir.list_webhooks().unwrap().len(), 1);
    drop(dir);

    // Idle: the backup restores to exactly what the server holds, groups and members too.
    let c = Client {
        addr,
        base: "/scim/v2/acme".into(),
        auth: Some(format!("Bearer {secret}")),
    };
    let members: Vec<serde_json::Value> = c.get("/Users?count=3&attributes=id").json()["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| serde_json::json!({"value": u["id"]}))
        .collect();
    assert_eq!(members.len(), 3);
    let r = c.post(
        "/Groups",
        &serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Engineering", "members": members}),
    );
    assert_eq!(r.status, 201);
    let exported = inst.run(&["export", "acme", "--only", "groups"]);
    let text = String::from_utf8_lossy(&exported.stdout);
    assert_eq!(text.lines().count(), 1, "{text}");
    let group: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(group["displayName"], "Engineering");
    assert_eq!(group["members"].as_array().unwrap().len(), 3);
    let quiet = inst.dir.path().join("quiet.bak");
    assert!(
        inst.run(&["backup", quiet.to_str().unwrap()])
            .status
            .success()
    );
    stop(child);
    let copy = inst.dir.path().join("copy");
    assert!(
        inst.run(&[
            "restore",
            quiet.to_str().unwrap(),
            "--data-dir",
            copy.to_str().unwrap()
        ])
        .status
        .success()
    );
    let dump = |data: &std::path::Path| -> Vec<String> {
        let d = scimdesk::directory::Directory::open(common::config_for(data)).unwrap();
        let report = d.check().unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        let mut out = vec![format!(
            "{} users {} groups {} memberships {} keys {} events {} webhooks",
            report.users,
            report.groups,
            report.memberships,
            report.keys,
            report.events,
            report.webhooks
        )];
        out.extend(
            d.list_keys("acme")
                .unwrap()
                .iter()
                .map(|k| format!("{} {}", k.id, k.digest)),
        );
        out.extend(d.list_webhooks().unwrap().iter().map(|w| format!("{w:?}")));
        let events = d
            .events_after(0, 10_000_000, 10_000_000, |_, _| true)
            .unwrap();
        out.extend(events.events.iter().map(|e| {
            format!(
                "{} {} {}",
                e.seq,
                e.event_type,
                String::from_utf8_lossy(&e.json)
            )
        }));
        // Users, then groups with their member ids, as `scimdesk export` shows them.
        let ops = scimdesk::control::Local::new(d, "test");
        let rt = tokio::runtime::Runtime::new().unwrap();
        for kind in scimdesk::scim::schema::ResourceKind::ALL {
            let page = rt
                .block_on(scimdesk::control::Control::export_page(
                    &ops, "acme", kind, None, 1_000_000,
                ))
                .unwrap();
            out.extend(page.iter().map(|r| r.to_string()));
        }
        out
    };
    assert_eq!(dump(&copy), dump(&inst.dir.path().join("store")));
    // Restore refuses a directory in use and a damaged file, in one line each.
    let out = inst.run(&[
        "restore",
        quiet.to_str().unwrap(),
        "--data-dir",
        copy.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));
    let mut bytes = std::fs::read(&quiet).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    std::fs::write(&quiet, &bytes).unwrap();
    let out = inst.run(&[
        "restore",
        quiet.to_str().unwrap(),
        "--data-dir",
        inst.dir.path().join("x").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}
