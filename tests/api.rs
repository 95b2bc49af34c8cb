//! The application API over real HTTP: application keys, the change feed (order, long poll,
//! retention), the read API (paging, isolation) and its OpenAPI document.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

#[test]
fn the_committed_openapi_document_is_the_generated_one() {
    let generated = scimdesk::api::openapi::document();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi.json is out of date: run UPDATE_OPENAPI=1 cargo test --test api"
    );
    let doc: Value = serde_json::from_str(&generated).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/api/v1/events",
        "/api/v1/organizations",
        "/api/v1/organizations/{org}/users",
        "/api/v1/organizations/{org}/groups/{id}/members",
        "/api/v1/organizations/{org}/users/{id}/groups",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is documented");
    }
}

/// A client of the application API with this secret.
fn api(s: &TestServer, secret: &str) -> Client {
    Client {
        addr: s.api,
        base: String::new(),
        auth: Some(format!("Bearer {secret}")),
    }
}

fn app_key(s: &TestServer, org: Option<&str>) -> String {
    s.block_on(s.dir.issue_app_key("app", org)).unwrap().secret
}

/// Every event after `after` (following next_cursor), and the final cursor.
fn drain(c: &Client, query: &str, after: &str) -> (Vec<Value>, String) {
    let mut out = Vec::new();
    let mut cursor = after.to_string();
    loop {
        let after = if cursor.is_empty() {
            String::new()
        } else {
            format!("&after={cursor}")
        };
        let r = c.get(&format!("/api/v1/events?limit=1000{after}{query}"));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v = r.json();
        out.extend(v["data"].as_array().unwrap().iter().cloned());
        cursor = v["next_cursor"].as_str().unwrap().to_string();
        if !v["has_more"].as_bool().unwrap() {
            return (out, cursor);
        }
    }
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

#[test]
fn application_keys_authenticate_and_every_failure_is_one_json_401() {
    let s = TestServer::start();
    s.tenant("acme", &["acme.com"]);
    let good = app_key(&s, None);
    assert_eq!(api(&s, &good).get("/api/v1/organizations").status, 200);
    for auth in [None, Some("Bearer scimdesk_app_nope"), Some("Basic x")] {
        let c = Client {
            auth: auth.map(str::to_string),
            ..api(&s, &good)
        };
        let r = c.get("/api/v1/organizations");
        assert_eq!(r.status, 401);
        assert_eq!(r.json()["error"]["code"], "unauthorized");
        assert!(r.header("x-request-id").is_some());
    }
    // The SCIM key of an organization is not an application key, and vice versa.
    let t = s.tenant("globex", &["globex.com"]);
    assert_eq!(api(&s, &t.secret).get("/api/v1/organizations").status, 401);
    let scim = s.client(&t).with_auth(Some(&format!("Bearer {good}")));
    assert_eq!(scim.get("/Users").status, 401);
    // Revoked: 401 from then on.
    let id = s.dir.list_app_keys().unwrap()[0].id.clone();
    s.block_on(s.dir.revoke_app_key(&id)).unwrap();
    assert_eq!(api(&s, &good).get("/api/v1/organizations").status, 401);
    // The OpenAPI document needs no key.
    let doc = api(&s, "x").get("/api/v1/openapi.json");
    assert_eq!(doc.status, 200);
    assert_eq!(doc.json()["openapi"], "3.1.0");
}

#[test]
fn every_change_writes_its_event_linked_to_the_request() {
    let s = TestServer::start();
    let t = s.tenant("acme", &["acme.com"]);
    let c = s.client(&t);
    let reader = api(&s, &app_key(&s, None));
    let (setup, head) = drain(&reader, "", "0000000000000000");
    assert_eq!(
        types(&setup),
        [
            "organization.created",
            "organization.domain_added",
            "organization.scim_enabled",
            "organization.key_issued"
        ]
    );
    assert!(
        setup[3]["data"].get("digest").is_none(),
        "no digest in key events"
    );
    let alice = create_user(&c, "alice@acme.com");
    let bob = create_user(&c, "bob@acme.com");
    let g = create_group(&c, "Eng", &[&alice]);
    let patch = |path: &str, ops: Value| {
        let r = c.patch(path, &patch_ops(ops));
        assert!(r.status < 300, "{}", String::from_utf8_lossy(&r.body));
    };
    patch(
        &format!("/Users/{alice}"),
        json!([{"op": "replace", "value": {"active": false, "title": "Ex"}}]),
    );
    patch(
        &format!("/Users/{alice}"),
        json!([{"op": "replace", "path": "title", "value": "Ex"}]),
    );
    patch(
        &format!("/Users/{alice}"),
        json!([{"op": "replace", "path": "active", "value": "True"}]),
    );
    patch(
        &format!("/Groups/{g}"),
        json!([{"op": "add", "path": "members", "value": [{"value": bob}]}, {"op": "remove", "path": "members", "value": [{"value": alice}]}]),
    );
    patch(
        &format!("/Groups/{g}"),
        json!([{"op": "replace", "path": "displayName", "value": "Engineering"}]),
    );
    assert_eq!(c.delete(&format!("/Users/{bob}")).status, 204);
    assert_eq!(c.delete(&format!("/Groups/{g}")).status, 204);
    let (events, _) = drain(&reader, "", &head);
    assert_eq!(
        types(&events),
        [
            "user.created",
            "user.created",
            "group.created",
            "group.user_added",
            "user.deactivated",
            "user.reactivated",
            "group.user_added",
            "group.user_removed",
            "group.updated",
            "user.deleted",
            "group.user_removed",
            "group.deleted"
        ],
        "a no-change PATCH wrote nothing; a deactivation is one event"
    );
    let deactivated = &events[4];
    assert_eq!(deactivated["object"], "event");
    assert_eq!(deactivated["organization"], "acme");
    assert_eq!(deactivated["data"]["id"], alice.as_str());
    assert_eq!(deactivated["data"]["active"], false);
    assert_eq!(
        deactivated["previous"],
        json!({"active": true, "title": null})
    );
    assert!(deactivated["id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(
        events[3]["data"],
        json!({"group": {"id": g, "displayName": "Eng"}, "user": {"id": alice, "userName": "alice@acme.com"}})
    );
    assert_eq!(events[8]["previous"], json!({"displayName": "Eng"}));
    // Cursors sort in commit order; each event links the SCIM request's activity record.
    let cursors: Vec<&str> = events
        .iter()
        .map(|e| e["cursor"].as_str().unwrap())
        .collect();
    assert!(cursors.windows(2).all(|w| w[0] < w[1]));
    s.dir.activity().close();
    let request = events[0]["request_id"].as_str().unwrap();
    let records = s
        .dir
        .activity()
        .query(&scimdesk::activity::ActivityQuery::default())
        .unwrap();
    let record = records
        .iter()
        .find(|r| r.id == request)
        .expect("the linked activity record");
    assert_eq!(record.summary, "created user alice@acme.com");
    // The data of an event is what the read API shows.
    let created = reader
        .get(&format!("/api/v1/organizations/acme/users/{alice}"))
        .json();
    assert_eq!(created["userName"], "alice@acme.com");
    assert_eq!(created["object"], "user");
    assert_eq!(
        events[5]["data"], created,
        "the newest event carries the current state"
    );
}

#[test]
fn an_organization_scoped_key_sees_nothing_of_another() {
    let s = TestServer::start();
    let acme = s.tenant("acme", &["acme.com"]);
    let globex = s.tenant("globex", &["globex.com"]);
    let secret_user = create_user(&s.client(&globex), "spy@globex.com");
    create_user(&s.client(&acme), "a@acme.com");
    let scoped = api(&s, &app_key(&s, Some("acme")));
    let orgs = scoped.get("/api/v1/organizations").json();
    assert_eq!(orgs["data"].as_array().unwrap().len(), 1);
    assert_eq!(orgs["data"][0]["id"], "acme");
    for path in [
        "/api/v1/organizations/globex".to_string(),
        "/api/v1/organizations/globex/users".to_string(),
        format!("/api/v1/organizations/globex/users/{secret_user}"),
        "/api/v1/organizations/globex/groups".to_string(),
        "/api/v1/events?organization=globex".to_string(),
    ] {
        let r = scoped.get(&path);
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.json()["error"]["code"], "not_found");
    }
    // Another organization's user id under its own organization is not found either.
    assert_eq!(
        scoped
            .get(&format!("/api/v1/organizations/acme/users/{secret_user}"))
            .status,
        404
    );
    let (events, _) = drain(&scoped, "", "0000000000000000");
    assert!(!events.is_empty());
    assert!(events.iter().all(|e| e["organization"] == "acme"));
}

#[test]
fn a_long_poll_wakes_on_the_next_write_and_times_out_with_the_same_cursor() {
    let s = TestServer::start();
    let t = s.tenant("acme", &["acme.com"]);
    let reader = api(&s, &app_key(&s, None));
    // Timeout: nothing new within the wait.
    let started = Instant::now();
    let r = reader.get("/api/v1/events?after=now&wait=1").json();
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(r["data"].as_array().unwrap().is_empty());
    let head = r["next_cursor"].as_str().unwrap().to_string();
    let again = reader.get(&format!("/api/v1/events?after={head}")).json();
    assert_eq!(again["next_cursor"], head.as_str());
    // Wake: a write while the poll waits ends it early, with that write's event.
    let poll = {
        let reader = reader.clone();
        let head = head.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            let r = reader.get(&format!("/api/v1/events?after={head}&wait=30&type=user.*"));
            (started.elapsed(), r.json())
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    create_user(&s.client(&t), "late@acme.com");
    let (took, r) = poll.join().unwrap();
    assert!(took < Duration::from_secs(10), "woke after {took:?}");
    assert_eq!(r["data"][0]["type"], "user.created");
    assert_eq!(r["data"][0]["data"]["userName"], "late@acme.com");
}

#[test]
fn a_cursor_past_retention_is_410_and_says_to_read_again() {
    let s = TestServer::start_with(|c| c.events.max_events = 5);
    let t = s.tenant("acme", &["acme.com"]);
    let reader = api(&s, &app_key(&s, None));
    for i in 0..10 {
        create_user(&s.client(&t), &format!("u{i}@acme.com"));
    }
    while s.block_on(s.dir.trim_events(3)).unwrap() > 0 {}
    let r = reader.get("/api/v1/events?after=0000000000000001");
    assert_eq!(r.status, 410);
    let e = r.json();
    assert_eq!(e["error"]["code"], "cursor_expired");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("read the directory again")
    );
    // From the oldest retained (no cursor), the newest five remain, in order.
    let (events, _) = drain(&reader, "", "");
    assert_eq!(events.len(), 5);
}

#[test]
fn bad_parameters_are_400s_naming_the_parameter() {
    let s = TestServer::start();
    s.tenant("acme", &["acme.com"]);
    let reader = api(&s, &app_key(&s, None));
    for (path, code, param) in [
        ("/api/v1/events?limit=0", "invalid_parameter", Some("limit")),
        (
            "/api/v1/events?limit=1001",
            "invalid_parameter",
            Some("limit"),
        ),
        ("/api/v1/events?after=zzz", "invalid_cursor", Some("after")),
        ("/api/v1/events?wait=61", "invalid_parameter", Some("wait")),
        (
            "/api/v1/events?type=users.created",
            "invalid_parameter",
            Some("type"),
        ),
        ("/api/v1/events?colour=red", "unknown_parameter", None),
        (
            "/api/v1/organizations/acme/users?after=%%%",
            "invalid_cursor",
            Some("after"),
        ),
        (
            "/api/v1/organizations/acme/users?active=maybe",
            "invalid_parameter",
            Some("active"),
        ),
        (
            "/api/v1/organizations/acme/users?limit=-1",
            "invalid_parameter",
            Some("limit"),
        ),
    ] {
        let r = reader.get(path);
        assert_eq!(
            r.status,
            400,
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let e = r.json();
        assert_eq!(e["error"]["code"], code, "{path}");
        assert_eq!(e["error"]["param"].as_str(), param, "{path}");
    }
    assert_eq!(reader.get("/api/v1/nope").status, 404);
    assert_eq!(reader.send("POST", "/api/v1/events", None, &[]).status, 405);
}

#[test]
fn eight_concurrent_writers_get_one_total_order_with_every_write_once() {
    let s = TestServer::start();
    let t = s.tenant("acme", &["acme.com"]);
    let reader = api(&s, &app_key(&s, None));
    let (_, head) = drain(&reader, "", "");
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let c = s.client(&t);
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                for i in 0..25 {
                    let id = create_user(&c, &format!("w{w}-{i}@acme.com"));
                    let r = c.patch(
                        &format!("/Users/{id}"),
                        &patch_ops(
                            json!([{"op": "replace", "path": "title", "value": format!("t{i}")}]),
                        ),
                    );
                    assert_eq!(r.status, 200);
                    mine.push(id);
                }
                mine
            })
        })
        .collect();
    let acked: Vec<String> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    let (events, _) = drain(&reader, "", &head);
    assert_eq!(
        events.len(),
        acked.len() * 2,
        "one event per write, none lost or doubled"
    );
    let cursors: Vec<&str> = events
        .iter()
        .map(|e| e["cursor"].as_str().unwrap())
        .collect();
    assert!(
        cursors.windows(2).all(|w| w[0] < w[1]),
        "strictly increasing"
    );
    for id in &acked {
        let mine: Vec<&str> = events
            .iter()
            .filter(|e| e["data"]["id"] == id.as_str())
            .map(|e| e["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            mine,
            ["user.created", "user.updated"],
            "{id}: in acknowledgement order"
        );
    }
}

/// Walks every user page by page with `limit` while writes happen; returns the ids seen.
fn walk_users(reader: &Client, limit: usize) -> (Vec<String>, String) {
    let mut ids = Vec::new();
    let mut after = String::new();
    let mut events_cursor = None;
    loop {
        let q = if after.is_empty() {
            String::new()
        } else {
            format!("&after={after}")
        };
        let r = reader.get(&format!(
            "/api/v1/organizations/acme/users?limit={limit}{q}"
        ));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v = r.json();
        events_cursor.get_or_insert_with(|| v["events_cursor"].as_str().unwrap().to_string());
        ids.extend(
            v["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["id"].as_str().unwrap().to_string()),
        );
        match v["next_cursor"].as_str() {
            Some(c) => after = c.to_string(),
            None => return (ids, events_cursor.unwrap()),
        }
    }
}

#[test]
fn paging_is_stable_while_writes_happen() {
    let s = TestServer::start();
    let t = s.tenant("acme", &["acme.com"]);
    let c = s.client(&t);
    let stable: Vec<String> = (0..60)
        .map(|i| create_user(&c, &format!("s{i}@acme.com")))
        .collect();
    let churn_ids: Vec<String> = (0..30)
        .map(|i| create_user(&c, &format!("c{i}@acme.com")))
        .collect();
    let reader = api(&s, &app_key(&s, Some("acme")));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = {
        let (c, stop) = (c.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            let mut victims = churn_ids.into_iter();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                create_user(&c, &format!("new{n}@acme.com"));
                if let Some(v) = victims.next() {
                    assert_eq!(c.delete(&format!("/Users/{v}")).status, 204);
                }
                n += 1;
            }
        })
    };
    for _ in 0..5 {
        let (seen, _) = walk_users(&reader, 7);
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), seen.len(), "no user twice in one walk");
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "in id order");
        for id in &stable {
            assert!(
                seen.contains(id),
                "a user that existed throughout was skipped"
            );
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    churn.join().unwrap();
}

#[test]
fn reading_everything_then_following_the_feed_misses_nothing() {
    let s = TestServer::start();
    let t = s.tenant("acme", &["acme.com"]);
    let c = s.client(&t);
    let reader = api(&s, &app_key(&s, Some("acme")));
    for round in 0..3 {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let churn = {
            let (c, stop) = (c.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut live: Vec<String> = Vec::new();
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) || n < 30 {
                    match n % 3 {
                        0 | 1 => live.push(create_user(&c, &format!("r{round}n{n}@acme.com"))),
                        _ => {
                            let id = live.remove(0);
                            if n % 2 == 0 {
                                assert_eq!(c.delete(&format!("/Users/{id}")).status, 204);
                            } else {
                                let r = c.patch(
                                    &format!("/Users/{id}"),
                                    &patch_ops(json!([{"op": "replace", "path": "displayName", "value": format!("D{n}")}])),
                                );
                                assert_eq!(r.status, 200);
                                live.push(id);
                            }
                        }
                    }
                    n += 1;
                }
            })
        };
        // The application: a full read, then the feed from the read's events_cursor.
        std::thread::sleep(Duration::from_millis(20));
        let mut state = std::collections::BTreeMap::new();
        let mut after = String::new();
        let mut events_cursor = None;
        loop {
            let q = if after.is_empty() {
                String::new()
            } else {
                format!("&after={after}")
            };
            let v = reader
                .get(&format!("/api/v1/organizations/acme/users?limit=5{q}"))
                .json();
            events_cursor.get_or_insert_with(|| v["events_cursor"].as_str().unwrap().to_string());
            for u in v["data"].as_array().unwrap() {
                state.insert(u["id"].as_str().unwrap().to_string(), u.clone());
            }
            match v["next_cursor"].as_str() {
                Some(next) => after = next.to_string(),
                None => break,
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        churn.join().unwrap();
        let (events, _) = drain(&reader, "&type=user.*", &events_cursor.unwrap());
        for e in events {
            let id = e["data"]["id"].as_str().unwrap().to_string();
            if e["type"] == "user.deleted" {
                state.remove(&id);
            } else {
                state.insert(id, e["data"].clone());
            }
        }
        // The application's copy equals the directory.
        let (truth, _) = walk_users(&reader, 1000);
        let mine: Vec<&String> = state.keys().collect();
        assert_eq!(mine, truth.iter().collect::<Vec<_>>(), "round {round}");
        for id in &truth {
            let now = reader
                .get(&format!("/api/v1/organizations/acme/users/{id}"))
                .json();
            assert_eq!(state[id], now, "round {round}: {id} differs");
        }
    }
}
