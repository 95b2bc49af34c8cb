//! `scimdesk serve` as a real process: binding errors, the store lock, graceful shutdown.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Installation as Setup;

fn wait(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "process did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_busy_address_is_a_one_line_error_with_exit_2() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let s = Setup::new(&taken.local_addr().unwrap().to_string());
    let out = s.run(&["serve"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot listen on"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn a_bad_address_is_a_config_error_with_exit_2() {
    let s = Setup::new("not-an-address");
    let out = s.run(&["serve"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("server.listen"));
}

#[cfg(unix)]
#[test]
fn serve_holds_the_store_answers_health_and_stops_on_sigterm() {
    let s = Setup::new("127.0.0.1:0");
    assert!(
        s.run(&["org", "create", "acme", "--name", "Acme"])
            .status
            .success()
    );
    let (mut child, addr) = s.serve();
    let client = common::Client {
        addr,
        base: String::new(),
        auth: None,
    };
    assert_eq!(client.get("/healthz").status, 200);
    // While it runs, management commands report the lock in one line.
    let out = s.run(&["org", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use by a running scimdesk"));
    // SIGTERM: a clean exit.
    send_signal(child.id(), "TERM");
    assert!(wait(&mut child).success());
    assert!(s.run(&["org", "show", "acme"]).status.success());
}

#[cfg(unix)]
fn send_signal(pid: u32, signal: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(ok.success());
}

#[cfg(unix)]
#[test]
fn acknowledged_writes_survive_sigkill() {
    let s = Setup::new("127.0.0.1:0");
    assert!(
        s.run(&["org", "create", "acme", "--name", "Acme"])
            .status
            .success()
    );
    assert!(
        s.run(&["domain", "add", "acme", "acme.com"])
            .status
            .success()
    );
    assert!(s.run(&["org", "scim", "acme", "on"]).status.success());
    let key = s.run(&["key", "issue", "acme", "--json"]);
    let secret = serde_json::from_slice::<serde_json::Value>(&key.stdout).unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let (mut child, addr) = s.serve();
    let c = common::Client {
        addr,
        base: "/scim/v2/acme".into(),
        auth: Some(format!("Bearer {secret}")),
    };
    let ids: Vec<String> = (0..200)
        .map(|i| common::create_user(&c, &format!("k{i}@acme.com")))
        .collect();
    send_signal(child.id(), "KILL");
    wait(&mut child);
    let (mut child, addr) = s.serve();
    let c = common::Client { addr, ..c };
    for id in &ids {
        assert_eq!(
            c.get(&format!("/Users/{id}")).status,
            200,
            "acknowledged user {id} lost"
        );
    }
    assert_eq!(c.get("/Users?count=0").json()["totalResults"], 200);
    send_signal(child.id(), "TERM");
    wait(&mut child);
}

#[test]
fn the_dashboard_without_a_terminal_says_so() {
    let s = Setup::new("127.0.0.1:0");
    let out = s.cmd().stdin(Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("needs a terminal") && err.contains("scimdesk serve"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1);
}
