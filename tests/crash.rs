//! Crash safety: `scimdesk serve` is killed with SIGKILL at a random moment while creates and
//! membership PATCHes run; after a restart every acknowledged user and membership is there, and
//! `scimdesk check` finds every index in agreement with the records (so nothing unacknowledged
//! is half-applied). CI runs a short form; SCIMDESK_CRASH_CYCLES=50 runs the long one.

#![cfg(unix)]

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
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
        let (mut child, addr) = setup.serve();
        let c = client(addr);
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
        // Load: creates, and PATCHes adding each created user to the group.
        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..6)
            .map(|w| {
                let (c, stop, users, members, group) = (
                    c.clone(),
                    stop.clone(),
                    acked_users.clone(),
                    acked_members.clone(),
                    group.clone(),
                );
                std::thread::spawn(move || {
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let name = format!("c{cycle}w{w}n{n}@acme.com");
                        let Some(r) = try_send(&c, "POST", "/Users", &user(&name)) else {
                            return;
                        };
                        if r.status != 201 {
                            continue;
                        }
                        let id = r.json()["id"].as_str().unwrap().to_string();
                        users.lock().unwrap().push((id.clone(), name));
                        let body = patch_ops(
                            json!([{"op": "add", "path": "members", "value": [{"value": id}]}]),
                        );
                        let Some(r) = try_send(&c, "PATCH", &format!("/Groups/{group}"), &body)
                        else {
                            return;
                        };
                        if r.status == 200 {
                            members.lock().unwrap().push(id);
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(100 + random(400)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            w.join().unwrap();
        }
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
