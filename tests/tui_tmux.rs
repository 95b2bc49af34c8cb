//! End to end, as a person: the real binary in tmux, driven by key presses; the secret and URL
//! are read off the screen and used by a real SCIM client; the user shows up in the live
//! activity feed and in the directory.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    session: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux").args(args).output().expect("tmux runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.run(&["send-keys", "-t", &self.session, k]);
        }
    }

    fn text(&self, text: &str) {
        self.run(&["send-keys", "-t", &self.session, "-l", text]);
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", &self.session])
    }

    /// Waits until the screen shows `needle`; returns the screen.
    fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let screen = self.screen();
            if screen.contains(needle) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "{needle:?} never appeared; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn alive(&self) -> bool {
        Command::new("tmux")
            .args(["has-session", "-t", &self.session])
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .status();
    }
}

#[test]
fn provision_a_user_through_the_dashboard() {
    if Command::new("tmux").arg("-V").output().is_err() {
        // CI installs tmux (.ci/run): there a missing tmux is a failure, not a skip.
        assert!(
            std::env::var_os("CI").is_none(),
            "tmux is not installed, and CI must run the dashboard end-to-end test"
        );
        eprintln!(
            "SKIPPED: tmux is not installed; install it to run the dashboard end-to-end test"
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config.toml");
    // Port 0: the dashboard shows the port it got, and the test reads it off the screen.
    std::fs::write(
        &config,
        "[server]\nlisten = \"127.0.0.1:0\"\npublic_url = \"http://scim.test\"\n[api]\nlisten = \"127.0.0.1:0\"\n[store]\ndata_dir = \"store\"\ncache_capacity_mb = 8\n",
    )
    .unwrap();
    let tmux = Tmux {
        session: format!("scimdesk-e2e-{}", std::process::id()),
    };
    let command = format!(
        "{} --config {}",
        env!("CARGO_BIN_EXE_scimdesk"),
        config.display()
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        &tmux.session,
        "-x",
        "100",
        "-y",
        "30",
        &command,
    ]);
    let screen = tmux.wait_for("No organizations yet");
    let addr: std::net::SocketAddr = screen
        .split_whitespace()
        .find(|w| w.starts_with("127.0.0.1:"))
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no listening address on screen:\n{screen}"));

    // Create the organization.
    tmux.keys(&["n"]);
    tmux.wait_for("New organization");
    tmux.text("acme");
    tmux.keys(&["Tab"]);
    tmux.text("Acme Corp");
    tmux.keys(&["Enter"]);
    tmux.wait_for("created organization acme");
    tmux.keys(&["Enter"]);
    tmux.wait_for("SCIM base URL");
    // Add a domain, turn SCIM on, issue a key.
    tmux.keys(&["a"]);
    tmux.wait_for("Add a SCIM domain");
    tmux.text("acme.com");
    tmux.keys(&["Enter"]);
    tmux.wait_for("added domain acme.com");
    tmux.keys(&["s"]);
    tmux.wait_for("SCIM is now on");
    tmux.keys(&["i"]);
    tmux.wait_for("Issue a SCIM key");
    tmux.text("okta");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("will not be shown again");
    let secret = screen
        .split_whitespace()
        .map(|w| w.trim_matches('│'))
        .find(|w| w.starts_with("scimdesk_"))
        .unwrap_or_else(|| panic!("no secret on screen:\n{screen}"))
        .to_string();
    let url = screen
        .split_whitespace()
        .map(|w| w.trim_matches('│'))
        .find(|w| w.starts_with("http://") && w.contains("/scim/v2/"))
        .unwrap_or_else(|| panic!("no URL on screen:\n{screen}"))
        .to_string();
    assert_eq!(url, "http://scim.test/scim/v2/acme");
    tmux.keys(&["Escape"]);

    // A real SCIM create with what was read off the screen.
    let client = common::Client {
        addr,
        base: url.trim_start_matches("http://scim.test").to_string(),
        auth: Some(format!("Bearer {secret}")),
    };
    let created = client.send(
        "POST",
        "/Users",
        Some(br#"{"userName": "alice@acme.com", "name": {"givenName": "Alice", "familyName": "Smith"}}"#),
        &[("Content-Type", "application/scim+json"), ("User-Agent", "Okta SCIM Client 1.0.0")],
    );
    assert_eq!(
        created.status,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );

    // The live feed shows it, then the directory.
    tmux.keys(&["l"]);
    let screen = tmux.wait_for("created user alice@acme.com");
    assert!(screen.contains("201"), "{screen}");
    tmux.keys(&["Escape"]);
    tmux.wait_for("SCIM base URL");
    tmux.keys(&["u"]);
    let screen = tmux.wait_for("alice@acme.com");
    assert!(screen.contains("Alice Smith"), "{screen}");

    // A webhook endpoint added on the Webhooks screen receives the next change, and the
    // screen shows the delivery.
    let receiver = common::receiver::Receiver::start();
    tmux.keys(&["3"]);
    tmux.wait_for("No webhook endpoints");
    tmux.keys(&["a"]);
    tmux.wait_for("Add a webhook endpoint");
    tmux.text(&receiver.url());
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("shown once");
    assert!(
        screen
            .split_whitespace()
            .any(|w| w.trim_matches('│').starts_with("whsec_")),
        "{screen}"
    );
    tmux.keys(&["Escape"]);
    let created = client.send(
        "POST",
        "/Users",
        Some(br#"{"userName": "bob@acme.com"}"#),
        &[("Content-Type", "application/scim+json")],
    );
    assert_eq!(created.status, 201);
    let got = receiver.wait_for(1, Duration::from_secs(15));
    assert_eq!(got[0].json()["data"]["userName"], "bob@acme.com");
    let screen = tmux.wait_for(" ago ");
    assert!(
        screen.contains("enabled") && screen.contains("delivered      1"),
        "{screen}"
    );

    // q quits and the store is released.
    tmux.keys(&["q"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while tmux.alive() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!tmux.alive(), "the dashboard did not quit");
    let out = Command::new(env!("CARGO_BIN_EXE_scimdesk"))
        .args([
            "--config",
            config.to_str().unwrap(),
            "activity",
            "--org",
            "acme",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("created user alice@acme.com"));
}

#[test]
fn the_dashboard_attaches_to_a_running_server_and_leaves_it_running() {
    if Command::new("tmux").arg("-V").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "tmux is not installed, and CI must run the dashboard end-to-end test"
        );
        return;
    }
    let inst = common::Installation::new("127.0.0.1:0");
    for args in [
        &["org", "create", "acme", "--name", "Acme"][..],
        &["domain", "add", "acme", "acme.com"],
        &["org", "scim", "acme", "on"],
    ] {
        assert!(inst.run(args).status.success());
    }
    let key = inst.run(&["--json", "key", "issue", "acme"]);
    let secret = serde_json::from_slice::<serde_json::Value>(&key.stdout).unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let (mut server, addr) = inst.serve();
    let tmux = Tmux {
        session: format!("scimdesk-attach-{}", std::process::id()),
    };
    let command = format!(
        "{} --config {}",
        env!("CARGO_BIN_EXE_scimdesk"),
        inst.dir.path().join("config.toml").display()
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        &tmux.session,
        "-x",
        "120",
        "-y",
        "30",
        &command,
    ]);
    let screen = tmux.wait_for("attached to pid");
    assert!(
        screen.contains(&format!("attached to pid {}", server.id())),
        "{screen}"
    );
    assert!(screen.contains("acme"), "{screen}");

    // An organization made in the attached dashboard is the server's.
    tmux.keys(&["n"]);
    tmux.wait_for("New organization");
    tmux.text("globex");
    tmux.keys(&["Tab"]);
    tmux.text("Globex");
    tmux.keys(&["Enter"]);
    tmux.wait_for("created organization globex");
    let out = inst.run(&["org", "show", "globex"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Live activity reaches the attached dashboard.
    tmux.keys(&["2"]);
    let c = common::Client {
        addr,
        base: "/scim/v2/acme".into(),
        auth: Some(format!("Bearer {secret}")),
    };
    common::create_user(&c, "live@acme.com");
    tmux.wait_for("created user live@acme.com");

    // q detaches: the dashboard ends, the server goes on.
    tmux.keys(&["q"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while tmux.alive() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!tmux.alive(), "the dashboard did not quit");
    assert!(
        server.try_wait().unwrap().is_none(),
        "the server stopped with the dashboard"
    );
    assert_eq!(c.get("/healthz").status, 200);
    assert!(inst.run(&["org", "show", "globex"]).status.success());
    let _ = server.kill();
    let _ = server.wait();
}
