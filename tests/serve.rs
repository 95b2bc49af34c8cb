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
    // While it runs, management commands go through it.
    let out = s.run(&["org", "list"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("acme"));
    assert!(s.socket().exists());
    // SIGTERM: a clean exit, the socket removed.
    send_signal(child.id(), "TERM");
    assert!(wait(&mut child).success());
    assert!(!s.socket().exists());
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
    // The killed server left its socket: commands see nobody answers and open the store, and
    // the next server replaces it.
    assert!(s.socket().exists());
    let out = s.run(&["org", "show", "acme"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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

/// An organization `acme` with SCIM on and a key; returns the key's secret.
fn tenant(s: &Setup) -> String {
    for args in [
        &["org", "create", "acme", "--name", "Acme"][..],
        &["domain", "add", "acme", "acme.com"],
        &["org", "scim", "acme", "on"],
    ] {
        assert!(s.run(args).status.success(), "{args:?}");
    }
    let key = s.run(&["key", "issue", "acme", "--json"]);
    serde_json::from_slice::<serde_json::Value>(&key.stdout).unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string()
}

/// An authenticated create whose body never comes: in flight until the server gives up.
fn hang_a_request(addr: std::net::SocketAddr, secret: &str) -> std::net::TcpStream {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .write_all(
            format!("POST /scim/v2/acme/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {secret}\r\nContent-Type: application/scim+json\r\nContent-Length: 100\r\n\r\n{{").as_bytes(),
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    stream
}

#[cfg(unix)]
#[test]
fn sigterm_waits_for_requests_in_flight_only_so_long_and_a_second_one_stops_at_once() {
    let s = Setup::with("127.0.0.1:0", "shutdown_grace = \"1s\"");
    let secret = tenant(&s);
    let (mut child, addr) = s.serve();
    let _hung = hang_a_request(addr, &secret);
    let started = Instant::now();
    send_signal(child.id(), "TERM");
    let status = wait(&mut child);
    assert!(status.success(), "{status:?}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "did not wait for the request: {took:?}"
    );
    assert!(!s.socket().exists(), "the socket is removed");

    // With a long grace, a second SIGTERM ends it at once; what was acknowledged stays.
    let s = Setup::with("127.0.0.1:0", "shutdown_grace = \"60s\"");
    let secret = tenant(&s);
    let (mut child, addr) = s.serve();
    let out = s.run(&["org", "create", "globex", "--name", "Globex"]);
    assert!(out.status.success());
    let _hung = hang_a_request(addr, &secret);
    send_signal(child.id(), "TERM");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "still waiting for the request"
    );
    let started = Instant::now();
    send_signal(child.id(), "TERM");
    let status = wait(&mut child);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(status.code(), Some(1));
    assert!(s.run(&["org", "show", "globex"]).status.success());
}

#[cfg(unix)]
#[test]
fn a_data_dir_other_users_can_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let s = Setup::new("127.0.0.1:0");
    assert!(
        s.run(&["org", "create", "acme", "--name", "Acme"])
            .status
            .success()
    );
    let store = s.dir.path().join("store");
    std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = s.run(&["serve"]);
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("writable by other users"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[cfg(unix)]
#[test]
fn a_long_poll_answers_at_once_when_the_server_stops() {
    let s = Setup::new("127.0.0.1:0");
    let app = s.run(&["app-key", "issue", "--name", "app", "--json"]);
    let app = serde_json::from_slice::<serde_json::Value>(&app.stdout).unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let (mut child, _, api) = s.serve_with_api();
    let c = common::Client {
        addr: api.unwrap(),
        base: String::new(),
        auth: Some(format!("Bearer {app}")),
    };
    let poll = std::thread::spawn(move || c.get("/api/v1/events?after=now&wait=30"));
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    send_signal(child.id(), "TERM");
    assert!(wait(&mut child).success());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let reply = poll.join().unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["data"], serde_json::json!([]));
}
