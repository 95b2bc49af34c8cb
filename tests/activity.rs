//! Sync activity recorded from real HTTP traffic: summaries, changed attributes, failed
//! authentication attributed to the organization, the live feed, retention and the CLI.

mod common;

use std::time::{Duration, Instant};

use common::*;
use scimdesk::activity::{ActivityEvent, ActivityQuery, Idp};
use serde_json::json;

const OKTA: (&str, &str) = ("User-Agent", "Okta SCIM Client 1.0.0");
const ENTRA: (&str, &str) = ("User-Agent", "Microsoft.Identity.Provisioning");

/// Waits until `n` records of `org` are stored; returns them newest first.
fn records(s: &TestServer, org: &str, n: usize) -> Vec<ActivityEvent> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let q = ActivityQuery {
            org: Some(org.into()),
            ..Default::default()
        };
        let got = s.dir.activity().query(&q).unwrap();
        if got.len() >= n {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {n} records: {got:#?}",
            got.len()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn send(
    c: &Client,
    agent: (&str, &str),
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> Response {
    let bytes = body.map(|b| serde_json::to_vec(&b).unwrap());
    c.send(
        method,
        path,
        bytes.as_deref(),
        &[agent, ("Content-Type", "application/scim+json")],
    )
}

#[test]
fn an_okta_sequence_is_recorded_in_plain_words() {
    let s = TestServer::start();
    let t = s.tenant("acme", &["acme.com"]);
    let c = s.client(&t);
    send(
        &c,
        OKTA,
        "GET",
        "/Users?filter=userName%20eq%20%22alice%40acme.com%22&startIndex=1&count=100",
        None,
    );
    let r = send(&c, OKTA, "POST", "/Users", Some(user("alice@acme.com")));
    let id = r.json()["id"].as_str().unwrap().to_string();
    send(
        &c,
        OKTA,
        "PATCH",
        &format!("/Users/{id}"),
        Some(patch_ops(
            json!([{"op": "replace", "value": {"active": false}}]),
        )),
    );
    send(&c, OKTA, "POST", "/Users", Some(user("eve@evil.com")));

    let got = records(&s, "acme", 4);
    let summaries: Vec<&str> = got.iter().rev().map(|e| e.summary.as_str()).collect();
    assert_eq!(
        summaries,
        [
            "looked up users where userName eq \"alice@acme.com\": 0 found",
            "created user alice@acme.com",
            "deactivated alice@acme.com",
            "rejected: eve@evil.com is outside the organization's SCIM domains",
        ]
    );
    let deactivation = &got[1];
    assert_eq!(deactivation.idp, Idp::Okta);
    assert_eq!(deactivation.method, "PATCH");
    assert_eq!(deactivation.status, 200);
    assert_eq!(deactivation.key_id.as_deref(), Some(t.key_id.as_str()));
    assert_eq!(deactivation.resource_type.as_deref(), Some("User"));
    assert_eq!(deactivation.resource_id.as_deref(), Some(id.as_str()));
    assert_eq!(deactivation.subject.as_deref(), Some("alice@acme.com"));
    assert_eq!(deactivation.changes.len(), 1);
    assert_eq!(deactivation.changes[0].attr, "active");
    assert_eq!(deactivation.changes[0].old, Some(json!(true)));
    assert_eq!(deactivation.changes[0].new, Some(json!(false)));
    let rejected = &got[0];
    assert_eq!(rejected.status, 400);
    assert_eq!(rejected.subject.as_deref(), Some("eve@evil.com"));
    // The create lists what it set, never a password.
    let created = &got[2];
    assert!(created.changes.iter().any(|c| c.attr == "userName"));
    assert!(created.changes.iter().all(|c| c.attr != "password"));
}

#[test]
fn an_entra_sequence_with_groups_is_recorded() {
    let s = TestServer::start();
    let t = s.tenant("acme", &["acme.com"]);
    let c = s.client(&t);
    let users: Vec<String> = (0..3)
        .map(|i| create_user(&c, &format!("e{i}@acme.com")))
        .collect();
    let r = send(
        &c,
        ENTRA,
        "POST",
        "/Groups",
        Some(json!({"displayName": "Engineering", "members": []})),
    );
    let g = r.json()["id"].as_str().unwrap().to_string();
    let mut members: Vec<serde_json::Value> = users.iter().map(|u| json!({"value": u})).collect();
    members.push(json!({"value": "no-such-user"}));
    send(
        &c,
        ENTRA,
        "PATCH",
        &format!("/Groups/{g}"),
        Some(patch_ops(
            json!([{"op": "Add", "path": "members", "value": members}]),
        )),
    );
    send(
        &c,
        ENTRA,
        "PATCH",
        &format!("/Groups/{g}"),
        Some(patch_ops(
            json!([{"op": "Remove", "path": "members", "value": [{"value": users[0]}]}]),
        )),
    );
    send(
        &c,
        ENTRA,
        "PATCH",
        &format!("/Users/{}", users[1]),
        Some(patch_ops(
            json!([{"op": "Replace", "path": "name.familyName", "value": "Jones"}]),
        )),
    );
    send(
        &c,
        ENTRA,
        "GET",
        &format!("/Groups/{g}?excludedAttributes=members"),
        None,
    );
    send(&c, ENTRA, "DELETE", &format!("/Users/{}", users[2]), None);

    let got = records(&s, "acme", 9);
    let newest: Vec<&str> = got
        .iter()
        .take(6)
        .rev()
        .map(|e| e.summary.as_str())
        .collect();
    assert_eq!(
        newest,
        [
            "created group Engineering with 0 members",
            "added 3 members to Engineering, skipped 1 unknown id",
            "removed 1 member from Engineering",
            "updated user e1@acme.com: name.familyName",
            "read group Engineering",
            "deleted user e2@acme.com",
        ]
    );
    assert!(got.iter().take(6).all(|e| e.idp == Idp::Entra));
    let added = &got[4];
    let skipped = added
        .changes
        .iter()
        .find(|c| c.attr == "members.skipped")
        .unwrap();
    assert_eq!(skipped.new, Some(json!(["no-such-user"])));
    let family = &got[2].changes[0];
    assert_eq!(
        (family.attr.as_str(), family.old.clone(), family.new.clone()),
        ("name.familyName", Some(json!("User")), Some(json!("Jones")))
    );
}

#[test]
fn failed_authentication_is_attributed_to_the_organization() {
    let s = TestServer::start();
    let t = s.tenant("acme", &["acme.com"]);
    let c = s.client(&t);
    let old = s.block_on(s.dir.issue_key("acme", Some("old"))).unwrap();
    s.block_on(s.dir.revoke_key("acme", &old.key.id)).unwrap();
    c.with_auth(Some(&format!("Bearer {}", old.secret)))
        .get("/Users");
    c.with_auth(Some("non-token")).get("/Users");
    c.with_auth(None).get("/Users");
    c.with_auth(Some("Bearer scimdesk_nope")).get("/Users");
    // Unknown organizations are not recorded (nobody to show them to).
    c.with_auth(None).get("/scim/v2/nosuch/Users");
    s.block_on(s.dir.set_scim_enabled("acme", false)).unwrap();
    c.get("/Users");

    let got = records(&s, "acme", 5);
    let summaries: Vec<&str> = got.iter().rev().map(|e| e.summary.as_str()).collect();
    assert_eq!(
        summaries,
        [
            format!("401: revoked key {}", old.key.id).as_str(),
            "401: malformed Authorization header",
            "401: no bearer token",
            "401: unknown key",
            "403: SCIM is disabled for this organization",
        ]
    );
    assert!(got.iter().all(|e| e.org == "acme"));
    let all = s.dir.activity().query(&ActivityQuery::default()).unwrap();
    assert!(all.iter().all(|e| e.org == "acme"));
    // Secrets never appear in records.
    let text = serde_json::to_string(&all).unwrap();
    assert!(!text.contains(&old.secret) && !text.contains(&t.secret));
}

#[test]
fn the_live_feed_sees_requests_as_they_happen() {
    let s = TestServer::start();
    let t = s.tenant("acme", &["acme.com"]);
    let c = s.client(&t);
    let mut feed = s.dir.activity().subscribe();
    create_user(&c, "live@acme.com");
    let e = feed.try_recv().expect("an event on the feed");
    assert_eq!(e.summary, "created user live@acme.com");
    assert_eq!(e.status, 201);
    assert!(e.latency_us > 0);
}

#[test]
fn retention_bounds_records_per_organization() {
    let s = TestServer::start_with(|c| c.activity.max_records_per_org = 20);
    let t = s.tenant("acme", &["acme.com"]);
    let c = s.client(&t);
    for i in 0..60 {
        c.get(&format!("/Users?count={i}"));
    }
    // Closing the log stores everything recorded and runs retention on it: no timing.
    s.dir.activity().close();
    let kept = s
        .dir
        .activity()
        .query(&ActivityQuery {
            org: Some("acme".into()),
            ..Default::default()
        })
        .unwrap();
    assert!(kept[0].path.ends_with("count=59"), "the newest is kept");
    let count = kept.len();
    assert!(count <= 20, "{count} records kept");
}

#[test]
fn the_activity_command_reads_a_stopped_store() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("config.toml"),
        "[store]\ndata_dir = \"store\"\ncache_capacity_mb = 8\n",
    )
    .unwrap();
    let config = scimdesk::config::Config::load(&tmp.path().join("config.toml")).unwrap();
    {
        let dir = scimdesk::directory::Directory::open(config).unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let listener = rt
            .block_on(async { scimdesk::server::bind("127.0.0.1:0".parse().unwrap()) })
            .unwrap();
        let addr = listener.local_addr().unwrap();
        rt.block_on(async {
            dir.create_org("acme", "Acme").await.unwrap();
            dir.add_domain("acme", "acme.com").await.unwrap();
            dir.set_scim_enabled("acme", true).await.unwrap();
        });
        let key = rt.block_on(dir.issue_key("acme", None)).unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = rt.spawn(scimdesk::server::serve(dir.clone(), listener, async {
            let _ = stopped.await;
        }));
        let c = Client {
            addr,
            base: "/scim/v2/acme".into(),
            auth: Some(format!("Bearer {}", key.secret)),
        };
        create_user(&c, "cli@acme.com");
        c.post("/Users", &user("x@evil.com"));
        stop.send(()).unwrap();
        rt.block_on(server).unwrap();
        dir.activity().close();
    }
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_scimdesk"))
            .arg("--config")
            .arg(tmp.path().join("config.toml"))
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["activity", "--org", "acme"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("created user cli@acme.com"), "{text}");
    assert!(text.contains("userName: (none) -> cli@acme.com"), "{text}");
    let out = run(&["activity", "--errors", "--since", "1h", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["status"], 400);
    let out = run(&["activity", "--user", "CLI@acme.com", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    let out = run(&["activity", "--follow"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("running server"));
    let out = run(&["activity", "--since", "soon"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["activity", "--org", "nope"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn the_detail_shows_the_last_write_even_after_many_reads() {
    use scimdesk::control::{Control, Local};
    let s = TestServer::start();
    let t = s.tenant("acme", &["acme.com"]);
    let c = s.client(&t);
    let id = create_user(&c, "reader@acme.com");
    let r = c.patch(
        &format!("/Users/{id}"),
        &patch_ops(serde_json::json!([{"op": "replace", "path": "title", "value": "Boss"}])),
    );
    assert_eq!(r.status, 200);
    // Many reads after the write: the detail must still find the write, not the reads.
    for _ in 0..40 {
        assert_eq!(c.get(&format!("/Users/{id}")).status, 200);
    }
    s.dir.activity().close();
    let ops = Local::new(s.dir.clone(), "test");
    let detail = s
        .block_on(ops.resource_detail("acme", scimdesk::scim::schema::ResourceKind::User, &id, 0))
        .unwrap();
    let last = detail.last_change.expect("the last write is found");
    assert_eq!(last.method, "PATCH");
    assert_eq!(last.summary, "updated user reader@acme.com: title");
    assert_eq!(last.key_id.as_deref(), Some(t.key_id.as_str()));
}
