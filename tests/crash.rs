//! Crash safety: `scimdesk serve` is killed with SIGKILL after a random number of acknowledged
//! creates while creates and membership PATCHes run; after a restart every acknowledged user
//! and membership is there, and `scimdesk check` finds every index in agreement with the
//! records (so nothing unacknowledged is half-applied). Every cycle must acknowledge writes and
//! see no error reply. CI runs a short form; SCIMDESK_CRASH_CYCLES=50 runs the long one.
//!
//! A killed process leaves the page cache behind, so this proves durability across process
//! crashes, not power loss (which depends on the disk honouring fsync).

#![cfg(unix)]

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Client, patch_ops, user};
use serde_json::json;

fn random(below: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut x = nanos ^ 0x9E37_79B9_7F4A_7C15;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x % below
}

#[test]
fn acknowledged_writes_survive_sigkill_and_indexes_agree() {
    let cycles: usize = std::env::var("SCIMDESK_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let setup = common::Installation::new("127.0.0.1:0");
    for args in [
        &["org", "create", "acme", "--name", "Acme"][..],
        &["domain", "add", "acme", "acme.com"],
        &["org", "scim", "acme", "on"],
    ] {
        assert!(setup.run(args).status.success());
    }
    let app = setup.run(&["--json", "app-key", "issue", "--name", "crash"]);
    let app_secret = serde_json::from_slice::<serde_json::Value>(&app.stdout).unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let key = setup.run(&["key", "issue", "acme", "--json"]);
    let secret = serde_json::from_slice::<serde_json::Value>(&key.stdout).unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let client = |addr| Client {
        addr,
        base: "/scim/v2/acme".into(),
        auth: Some(format!("Bearer {secret}")),
    };

    let (mut child, addr) = setup.serve();
    let group = common::create_group(&client(addr), "Crash Group", &[]);
    child.kill().unwrap();
    child.wait().unwrap();

    let acked_users: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let acked_members: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut checked = 0;
    for cycle in 0..cycles {
        let (mut child, addr, api) = setup.serve_with_api();
        let c = client(addr);
        // The feed holds exactly the changes that are in the store: an event for every user
        // and membership there (acknowledged ones included), and none for anything absent.
        let reader = Client {
            addr: api.expect("the API listens"),
            base: String::new(),
            auth: Some(format!("Bearer {app_secret}")),
        };
        let (created, added) = feed_users_and_members(&reader);
        let stored_users = all_user_ids(&c);
        assert_eq!(
            created, stored_users,
            "cycle {cycle}: user.created events = users stored"
        );
        let members: std::collections::BTreeSet<String> =
            common::member_ids(&c, &group).into_iter().collect();
        assert_eq!(
            added, members,
            "cycle {cycle}: group.user_added events = members stored"
        );
        for (id, name) in acked_users.lock().unwrap().iter() {
            assert!(
                created.contains(id),
                "cycle {cycle}: no event for acknowledged {name}"
            );
        }
        // Everything acknowledged in the cycle before the crash is there (the end of the test
        // reads back every user of every cycle).
        for (id, name) in acked_users.lock().unwrap().iter().skip(checked) {
            assert_eq!(
                c.get(&format!("/Users/{id}")).status,
                200,
                "cycle {cycle}: acknowledged user {name} lost"
            );
        }
        checked = acked_users.lock().unwrap().len();
        let members = common::member_ids(&c, &group);
        for m in acked_members.lock().unwrap().iter() {
            assert!(
                members.contains(m),
                "cycle {cycle}: acknowledged membership of {m} lost"
            );
        }
        if let Some((id, name)) = acked_users.lock().unwrap().last().cloned() {
            let q = format!(
                "/Users?filter=userName%20eq%20%22{}%22",
                name.replace('@', "%40")
            );
            assert_eq!(c.get(&q).json()["Resources"][0]["id"], id.as_str());
        }
        // Load: creates, and PATCHes adding each created user to the group. The kill comes
        // after a random number of acknowledged creates, not after a blind sleep.
        let kill_after = 100 + random(400) as usize;
        let killing = Arc::new(AtomicBool::new(false));
        let acked_creates = Arc::new(AtomicUsize::new(0));
        let acked_patches = Arc::new(AtomicUsize::new(0));
        let failures: Arc<Mutex<Vec<String>>> = Arc::default();
        let workers: Vec<_> = (0..6)
            .map(|w| {
                let (c, killing, users, members, group) = (
                    c.clone(),
                    killing.clone(),
                    acked_users.clone(),
                    acked_members.clone(),
                    group.clone(),
                );
                let (creates, patches, failures) = (
                    acked_creates.clone(),
                    acked_patches.clone(),
                    failures.clone(),
                );
                std::thread::spawn(move || {
                    let mut n = 0;
                    // A request that fails before the kill, or any reply but the expected
                    // one, is a failure of the test.
                    let check = |what: &str, r: Option<common::Response>, want: u16| match r {
                        Some(r) if r.status == want => Some(r),
                        Some(r) => {
                            failures.lock().unwrap().push(format!(
                                "{what}: {} {}",
                                r.status,
                                String::from_utf8_lossy(&r.body)
                            ));
                            None
                        }
                        None if !killing.load(Ordering::SeqCst) => {
                            failures
                                .lock()
                                .unwrap()
                                .push(format!("{what}: connection failed before the kill"));
                            None
                        }
                        None => None,
                    };
                    while !killing.load(Ordering::SeqCst) {
                        n += 1;
                        let name = format!("c{cycle}w{w}n{n}@acme.com");
                        let Some(r) =
                            check("create", try_send(&c, "POST", "/Users", &user(&name)), 201)
                        else {
                            return;
                        };
                        let id = r.json()["id"].as_str().unwrap().to_string();
                        users.lock().unwrap().push((id.clone(), name));
                        creates.fetch_add(1, Ordering::SeqCst);
                        let body = patch_ops(
                            json!([{"op": "add", "path": "members", "value": [{"value": id}]}]),
                        );
                        let path = format!("/Groups/{group}");
                        let Some(_) = check("patch", try_send(&c, "PATCH", &path, &body), 204)
                        else {
                            return;
                        };
                        members.lock().unwrap().push(id);
                        patches.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(60);
        while acked_creates.load(Ordering::SeqCst) < kill_after {
            assert!(
                failures.lock().unwrap().is_empty() && Instant::now() < deadline,
                "cycle {cycle}: {} creates acknowledged before the deadline; failures: {:?}",
                acked_creates.load(Ordering::SeqCst),
                failures.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        killing.store(true, Ordering::SeqCst);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        for w in workers {
            w.join().unwrap();
        }
        let failures = failures.lock().unwrap();
        assert!(failures.is_empty(), "cycle {cycle}: {failures:?}");
        let (creates, patches) = (
            acked_creates.load(Ordering::SeqCst),
            acked_patches.load(Ordering::SeqCst),
        );
        assert!(
            creates >= kill_after && patches + 6 >= creates,
            "cycle {cycle}: {creates} creates and {patches} memberships acknowledged"
        );
        // The killed store opens and every index agrees with the records.
        let out = setup.run(&["check"]);
        assert!(
            out.status.success(),
            "cycle {cycle}: check failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (mut child, addr) = setup.serve();
    let c = client(addr);
    let total = c.get("/Users?count=0").json()["totalResults"]
        .as_u64()
        .unwrap() as usize;
    assert!(total >= acked_users.lock().unwrap().len());
    for (id, _) in acked_users.lock().unwrap().iter() {
        assert_eq!(c.get(&format!("/Users/{id}")).status, 200);
    }
    let members = common::member_ids(&c, &group);
    for m in acked_members.lock().unwrap().iter() {
        assert!(members.contains(m));
    }
    eprintln!(
        "{cycles} kill -9 cycles: {} acknowledged users and {} memberships all present",
        acked_users.lock().unwrap().len(),
        acked_members.lock().unwrap().len()
    );
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The ids in `user.created` events and the members in `group.user_added` events.
fn feed_users_and_members(
    reader: &Client,
) -> (
    std::collections::BTreeSet<String>,
    std::collections::BTreeSet<String>,
) {
    let mut created = std::collections::BTreeSet::new();
    let mut added = std::collections::BTreeSet::new();
    let mut after = "0000000000000000".to_string();
    loop {
        let r = reader.get(&format!("/api/v1/events?limit=1000&after={after}"));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v = r.json();
        for e in v["data"].as_array().unwrap() {
            match e["type"].as_str().unwrap() {
                "user.created" => {
                    created.insert(e["data"]["id"].as_str().unwrap().to_string());
                }
                "group.user_added" => {
                    added.insert(e["data"]["user"]["id"].as_str().unwrap().to_string());
                }
                _ => {}
            }
        }
        after = v["next_cursor"].as_str().unwrap().to_string();
        if !v["has_more"].as_bool().unwrap() {
            return (created, added);
        }
    }
}

/// Every user id in the store, read over SCIM.
fn all_user_ids(c: &Client) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    let mut start = 1;
    loop {
        let v = c
            .get(&format!(
                "/Users?startIndex={start}&count=1000&attributes=id"
            ))
            .json();
        let page = v["Resources"].as_array().unwrap();
        out.extend(page.iter().map(|u| u["id"].as_str().unwrap().to_string()));
        if page.is_empty() {
            return out;
        }
        start += page.len();
    }
}

/// Sends a request; None when the server is gone (killed mid-request).
fn try_send(
    c: &Client,
    method: &str,
    path: &str,
    body: &serde_json::Value,
) -> Option<common::Response> {
    let bytes = serde_json::to_vec(body).unwrap();
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        c.send(
            method,
            path,
            Some(&bytes),
            &[("Content-Type", "application/scim+json")],
        )
    }))
    .ok()
}
