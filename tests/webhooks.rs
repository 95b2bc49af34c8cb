//! Webhooks end to end: real deliveries to a real HTTP receiver, signatures checked by an
//! independent implementation (the `standardwebhooks` Python package), order per organization
//! under concurrent writes and failures, the retry schedule on a manual clock, disabling,
//! isolation, replays, redirects and refused addresses, and kill -9 mid-delivery.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::receiver::{Answer, Delivery, Receiver};
use common::*;
use scimdesk::directory::Directory;
use scimdesk::webhooks::{Clock, ManualClock};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

/// The feed's events after `after` (optionally one organization's): (cursor, org, JSON bytes).
fn feed(dir: &Directory, after: u64, org: Option<&str>) -> Vec<(String, String, Vec<u8>)> {
    let page = dir
        .events_after(after, 100_000, 100_000, |_, o| org.is_none_or(|x| x == o))
        .unwrap();
    page.events
        .into_iter()
        .map(|e| (scimdesk::store::cursor(e.seq), e.org, e.json))
        .collect()
}

fn acked(d: &Delivery) -> bool {
    d.answered.is_some_and(|s| (200..300).contains(&s))
}

/// Every event of `expected` was acknowledged, and per organization none was acknowledged
/// before every earlier one had been: in order, nothing skipped.
fn assert_in_order_and_complete(deliveries: &[Delivery], expected: &[(String, String, Vec<u8>)]) {
    let mut acked_so_far: HashSet<String> = HashSet::new();
    let order: HashMap<&str, Vec<&str>> =
        expected.iter().fold(HashMap::new(), |mut m, (c, o, _)| {
            m.entry(o.as_str())
                .or_insert_with(Vec::new)
                .push(c.as_str());
            m
        });
    for d in deliveries.iter().filter(|d| acked(d)) {
        let (c, o) = (d.cursor(), d.org());
        let Some(cursors) = order.get(o.as_str()) else {
            panic!("delivered an event of {o}, which was not expected");
        };
        for earlier in cursors.iter().take_while(|x| **x < c.as_str()) {
            assert!(
                acked_so_far.contains(*earlier),
                "{o}: event {c} acknowledged before {earlier}"
            );
        }
        acked_so_far.insert(c);
    }
    for (c, o, _) in expected {
        assert!(acked_so_far.contains(c), "{o}: event {c} never delivered");
    }
}

/// Checks each delivery's signature with the `standardwebhooks` package; None when Python or
/// the package is missing outside CI (under CI that fails the test).
fn verify_independently(secret: &str, deliveries: &[Delivery]) -> Option<Vec<bool>> {
    use base64::Engine;
    let tmp = tempfile::NamedTempFile::new().unwrap();
    let items: Vec<Value> = deliveries
        .iter()
        .map(|d| {
            json!({
                "headers": d.headers,
                "body": base64::engine::general_purpose::STANDARD.encode(&d.body),
            })
        })
        .collect();
    std::fs::write(
        tmp.path(),
        json!({"secret": secret, "items": items}).to_string(),
    )
    .unwrap();
    const SCRIPT: &str = r#"
import base64, json, sys
from standardwebhooks import Webhook
data = json.load(open(sys.argv[1]))
wh = Webhook(data["secret"])
out = []
for item in data["items"]:
    try:
        wh.verify(base64.b64decode(item["body"]), item["headers"])
        out.append(True)
    except Exception:
        out.append(False)
print(json.dumps(out))
"#;
    let run = std::process::Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(tmp.path())
        .output();
    match run {
        Ok(o) if o.status.success() => {
            Some(serde_json::from_slice(&o.stdout).expect("the verifier prints JSON"))
        }
        other => {
            let why = match other {
                Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
                Err(e) => e.to_string(),
            };
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must verify signatures with the standardwebhooks package (pip install standardwebhooks): {why}"
            );
            eprintln!("skipping the independent signature check: {why}");
            None
        }
    }
}

/// Stops the server (its workers save their progress) and checks the store.
fn assert_consistent(mut server: TestServer) {
    server.stop();
    let report = server.dir.check().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

fn add(
    server: &TestServer,
    url: &str,
    org: Option<&str>,
    events: Option<&str>,
) -> (String, String) {
    let added = server
        .block_on(server.dir.add_webhook(url, org, events, None))
        .unwrap();
    (added.endpoint.id, added.secret)
}

#[test]
fn deliveries_are_the_feeds_events_signed_so_a_standard_library_verifies_them() {
    let server = TestServer::start();
    let acme = server.tenant("acme", &["example.com"]);
    let receiver = Receiver::start();
    let from = server.dir.feed_head();
    let (id, secret) = add(&server, &receiver.url(), None, None);
    let c = server.client(&acme);
    let u1 = create_user(&c, "ann@example.com");
    create_user(&c, "bob@example.com");
    create_group(&c, "Sales", &[&u1]);
    let expected = feed(&server.dir, from, None);
    assert!(expected.len() >= 4, "{}", expected.len());
    let got = receiver.wait_for(expected.len(), WAIT);
    assert_eq!(got.len(), expected.len(), "each event once");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    for (d, (cursor, _, json)) in got.iter().zip(&expected) {
        assert_eq!(&d.cursor(), cursor);
        assert_eq!(
            &d.body, json,
            "the body is the event exactly as the feed serves it"
        );
        assert_eq!(d.header("content-type"), "application/json");
        assert_eq!(d.header("webhook-id"), d.json()["id"].as_str().unwrap());
        let ts: i64 = d.header("webhook-timestamp").parse().unwrap();
        assert!((now - ts).abs() < 60, "timestamp {ts} vs {now}");
        assert!(d.header("webhook-signature").starts_with("v1,"));
    }
    if let Some(ok) = verify_independently(&secret, &got) {
        assert!(ok.iter().all(|v| *v), "{ok:?}");
        // The verifier can fail: a tampered body or another secret does not verify.
        let mut tampered = got[0].clone();
        tampered.body.push(b' ');
        assert_eq!(
            verify_independently(&secret, &[tampered]),
            Some(vec![false])
        );
        let other = scimdesk::directory::secrets::new_webhook_secret().0;
        assert_eq!(verify_independently(&other, &got[..1]), Some(vec![false]));
    }
    server.block_on(server.dir.remove_webhook(&id)).unwrap();

    // A rotated secret: both sign for a day, so receivers with either verify.
    let server_id = add(&server, &receiver.url(), Some("acme"), Some("user.*"));
    let new_secret = server
        .block_on(server.dir.rotate_webhook_secret(&server_id.0))
        .unwrap();
    assert_ne!(new_secret, server_id.1);
    let before = receiver.deliveries().len();
    create_user(&c, "cid@example.com");
    let got = receiver.wait_for(before + 1, WAIT);
    let last = &got[got.len() - 1..];
    assert_eq!(last[0].header("webhook-signature").split(' ').count(), 2);
    if let Some(ok) = verify_independently(&server_id.1, last) {
        assert_eq!(ok, vec![true], "the old secret still verifies");
        assert_eq!(verify_independently(&new_secret, last), Some(vec![true]));
    }

    // A test event reaches the receiver, signed, and is recorded as an attempt.
    let before = receiver.deliveries().len();
    let attempt = server
        .block_on(scimdesk::webhooks::send_test(&server.dir, &server_id.0))
        .unwrap();
    assert_eq!(attempt.status, Some(200));
    let got = receiver.wait_for(before + 1, WAIT);
    let test = got.last().unwrap();
    assert_eq!(test.json()["type"], "webhook.test");
    if let Some(ok) = verify_independently(&new_secret, std::slice::from_ref(test)) {
        assert_eq!(ok, vec![true]);
    }
    assert_consistent(server);
}

#[test]
fn each_organization_receives_its_events_in_cursor_order_under_concurrent_writes_and_failures() {
    let server = TestServer::start_with(|c| {
        c.webhooks.retries = vec![Duration::from_millis(10); 5];
    });
    let tenants = [
        server.tenant("acme", &["example.com"]),
        server.tenant("globex", &["example.com"]),
    ];
    let receiver = Receiver::start();
    // The first attempt at every third event fails.
    let seen: Arc<Mutex<HashSet<String>>> = Arc::default();
    let s = seen.clone();
    receiver.answer(move |event, _| {
        let cursor = event["cursor"].as_str().unwrap_or_default().to_string();
        let seq = u64::from_str_radix(&cursor, 16).unwrap_or(0);
        if seq % 3 == 0 && s.lock().unwrap().insert(cursor) {
            Answer::Status(500)
        } else {
            Answer::Status(200)
        }
    });
    let from = server.dir.feed_head();
    add(&server, &receiver.url(), None, None);
    std::thread::scope(|scope| {
        for t in &tenants {
            for w in 0..2 {
                let c = server.client(t);
                scope.spawn(move || {
                    for i in 0..40 {
                        create_user(&c, &format!("w{w}-{i}@example.com"));
                    }
                });
            }
        }
    });
    let expected = feed(&server.dir, from, None);
    assert_eq!(expected.len(), 160);
    let got = receiver.wait_until(WAIT, "every event acknowledged", |d| {
        d.iter().filter(|d| acked(d)).count() >= expected.len()
    });
    assert_in_order_and_complete(&got, &expected);
    assert!(
        got.iter().any(|d| d.answered == Some(500)),
        "failures happened"
    );
    assert_consistent(server);
}

/// Waits until the endpoint's stream for `org` satisfies `done`.
fn wait_state(
    dir: &Directory,
    id: &str,
    org: &str,
    what: &str,
    done: impl Fn(&scimdesk::directory::DeliveryState) -> bool,
) -> scimdesk::directory::DeliveryState {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let state = dir
            .delivery_states(id)
            .unwrap()
            .into_iter()
            .find(|(o, _)| o == org)
            .map(|(_, s)| s);
        if let Some(s) = state
            && done(&s)
        {
            return s;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: not reached");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn retries_follow_the_schedule_then_give_up_and_move_on() {
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let server = TestServer::start_with_clock(|_| {}, clock.clone());
    let acme = server.tenant("acme", &["example.com"]);
    let receiver = Receiver::start();
    receiver.answer(|_, _| Answer::Status(503));
    let (id, _) = add(&server, &receiver.url(), None, None);
    let c = server.client(&acme);
    create_user(&c, "ann@example.com");
    let schedule = server.dir.config().webhooks.retries.clone();
    assert_eq!(schedule.len(), 7);
    for (k, delay) in schedule.iter().enumerate() {
        receiver.wait_for(k + 1, WAIT);
        let state = wait_state(&server.dir, &id, "acme", "failure recorded", |s| {
            s.attempts as usize == k + 1 && s.next_retry.is_some()
        });
        let wait = state.next_retry.unwrap() - clock.now();
        let delay = time::Duration::try_from(*delay).unwrap();
        assert!(
            wait >= delay * 0.8 && wait <= delay * 1.2,
            "retry {k}: in {wait}, schedule says {delay}"
        );
        assert_eq!(
            state.last_failure.as_ref().and_then(|a| a.status),
            Some(503)
        );
        // Not a moment before its time...
        clock.advance(wait - time::Duration::seconds(1));
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(receiver.deliveries().len(), k + 1, "retry {k} came early");
        // ...and at it.
        clock.advance(time::Duration::seconds(1));
    }
    receiver.wait_for(8, WAIT);
    // The eighth failure gives the event up: marked failed, an activity record, and the next
    // event is delivered.
    let state = wait_state(&server.dir, &id, "acme", "given up", |s| s.failed == 1);
    assert_eq!(state.attempts, 0);
    assert_eq!(state.next_retry, None);
    let deadline = std::time::Instant::now() + WAIT;
    let gave_up = loop {
        let records = server
            .dir
            .activity()
            .query(&scimdesk::activity::ActivityQuery {
                org: Some("acme".into()),
                limit: 100,
                ..Default::default()
            })
            .unwrap();
        if let Some(r) = records.into_iter().find(|r| r.summary.contains("gave up")) {
            break r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no activity record of the given-up event"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(gave_up.status, 503);
    assert!(
        gave_up.summary.contains("after 8 attempts"),
        "{}",
        gave_up.summary
    );
    receiver.answer(|_, _| Answer::Status(200));
    create_user(&c, "bob@example.com");
    let got = receiver.wait_for(9, WAIT);
    assert_eq!(got[8].json()["data"]["userName"], "bob@example.com");
    assert_eq!(got[8].answered, Some(200));
}

#[test]
fn an_endpoint_failing_too_long_is_disabled_and_a_410_disables_at_once() {
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let server = TestServer::start_with_clock(
        |c| {
            c.webhooks.retries = vec![Duration::from_secs(600); 20];
            c.webhooks.disable_after = time::Duration::hours(1);
        },
        clock.clone(),
    );
    let acme = server.tenant("acme", &["example.com"]);
    let failing = Receiver::start();
    failing.answer(|_, _| Answer::Status(500));
    let gone = Receiver::start();
    gone.answer(|_, _| Answer::Status(410));
    let (failing_id, _) = add(&server, &failing.url(), None, None);
    let (gone_id, _) = add(&server, &gone.url(), None, None);
    create_user(&server.client(&acme), "ann@example.com");

    gone.wait_for(1, WAIT);
    let deadline = std::time::Instant::now() + WAIT;
    while server.dir.get_webhook(&gone_id).unwrap().enabled {
        assert!(std::time::Instant::now() < deadline, "410 did not disable");
        std::thread::sleep(Duration::from_millis(10));
    }
    let e = server.dir.get_webhook(&gone_id).unwrap();
    assert!(e.disabled_reason.unwrap().contains("410"));

    for k in 0..20 {
        failing.wait_for(k + 1, WAIT);
        wait_state(&server.dir, &failing_id, "acme", "failure recorded", |s| {
            s.attempts as usize == k + 1
        });
        if !server.dir.get_webhook(&failing_id).unwrap().enabled {
            break;
        }
        clock.advance(time::Duration::minutes(13));
        std::thread::sleep(Duration::from_millis(20));
        if !server.dir.get_webhook(&failing_id).unwrap().enabled {
            break;
        }
    }
    let e = server.dir.get_webhook(&failing_id).unwrap();
    assert!(!e.enabled, "still enabled after failing for over an hour");
    assert!(e.disabled_reason.unwrap().contains("failing since"));
    let attempts = failing.deliveries().len();
    assert!(
        (5..=8).contains(&attempts),
        "{attempts} attempts in an hour of 10-minute retries"
    );
    // Disabled: no more attempts, whatever the clock does.
    clock.advance(time::Duration::hours(5));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(failing.deliveries().len(), attempts);
    assert_eq!(gone.deliveries().len(), 1);
}

#[test]
fn a_hanging_receiver_holds_up_neither_scim_writes_nor_other_endpoints() {
    let server = TestServer::start();
    let acme = server.tenant("acme", &["example.com"]);
    let hanging = Receiver::start();
    hanging.answer(|_, _| Answer::Hang);
    let healthy = Receiver::start();
    let from = server.dir.feed_head();
    add(&server, &hanging.url(), None, None);
    add(&server, &healthy.url(), None, None);
    let c = server.client(&acme);
    create_user(&c, "first@example.com");
    hanging.wait_for(1, WAIT);
    // While the first delivery hangs, every write is acknowledged...
    for i in 0..100 {
        create_user(&c, &format!("u{i}@example.com"));
    }
    // ...and the other endpoint receives everything.
    let expected = feed(&server.dir, from, None);
    let got = healthy.wait_for(expected.len(), WAIT);
    assert_in_order_and_complete(&got, &expected);
    assert_eq!(
        hanging.deliveries().len(),
        1,
        "one event at a time per organization"
    );
}

#[test]
fn disabled_and_removed_endpoints_stop_and_enabling_resumes_in_order() {
    let server = TestServer::start();
    let acme = server.tenant("acme", &["example.com"]);
    let receiver = Receiver::start();
    let from = server.dir.feed_head();
    let (id, _) = add(&server, &receiver.url(), None, None);
    let c = server.client(&acme);
    create_user(&c, "a@example.com");
    receiver.wait_for(1, WAIT);

    server
        .block_on(
            server
                .dir
                .set_webhook_enabled(&id, false, Some("test".into())),
        )
        .unwrap();
    for i in 0..5 {
        create_user(&c, &format!("d{i}@example.com"));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(receiver.deliveries().len(), 1, "nothing while disabled");
    let backlog = server
        .dir
        .webhook_backlog(&server.dir.get_webhook(&id).unwrap())
        .unwrap();
    assert_eq!(backlog.events, 5);

    server
        .block_on(server.dir.set_webhook_enabled(&id, true, None))
        .unwrap();
    let expected = feed(&server.dir, from, None);
    let got = receiver.wait_for(expected.len(), WAIT);
    assert_in_order_and_complete(&got, &expected);

    server.block_on(server.dir.remove_webhook(&id)).unwrap();
    create_user(&c, "after@example.com");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        receiver.deliveries().len(),
        expected.len(),
        "nothing once removed"
    );
    assert_consistent(server);
}

#[test]
fn an_org_scoped_endpoint_receives_only_its_organizations_events_of_its_types() {
    let server = TestServer::start();
    let acme = server.tenant("acme", &["example.com"]);
    let globex = server.tenant("globex", &["example.com"]);
    let acme_hook = Receiver::start();
    let all_hook = Receiver::start();
    let from = server.dir.feed_head();
    add(
        &server,
        &acme_hook.url(),
        Some("acme"),
        Some("user.created"),
    );
    add(&server, &all_hook.url(), None, None);
    let (a, g) = (server.client(&acme), server.client(&globex));
    for i in 0..5 {
        let u = create_user(&a, &format!("a{i}@example.com"));
        create_user(&g, &format!("g{i}@example.com"));
        create_group(&a, &format!("A{i}"), &[&u]);
    }
    let everything = feed(&server.dir, from, None);
    all_hook.wait_for(everything.len(), WAIT);
    let got = acme_hook.wait_for(5, WAIT);
    std::thread::sleep(Duration::from_millis(200));
    let got = if acme_hook.deliveries().len() > got.len() {
        acme_hook.deliveries()
    } else {
        got
    };
    assert_eq!(got.len(), 5, "only acme's user.created");
    for d in &got {
        assert_eq!(d.org(), "acme");
        assert_eq!(d.json()["type"], "user.created");
    }
    assert!(
        server
            .block_on(
                server
                    .dir
                    .add_webhook(&acme_hook.url(), Some("nope"), None, None)
            )
            .is_err(),
        "scoped to an organization that does not exist"
    );
}

#[test]
fn redirects_are_not_followed_and_metadata_addresses_are_refused() {
    let server = TestServer::start_with(|c| {
        c.webhooks.retries = vec![Duration::from_secs(3600)];
    });
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "https://[fd00:ec2::254]/",
        "https://metadata.google.internal/",
        "http://example.com/hook",
    ] {
        let err = server
            .block_on(server.dir.add_webhook(url, None, None, None))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("refused") || err.contains("plain http"),
            "{url}: {err}"
        );
    }
    let acme = server.tenant("acme", &["example.com"]);
    let target = Receiver::start();
    let redirecting = Receiver::start();
    let to = target.url();
    redirecting.answer(move |_, _| Answer::Redirect(to.clone()));
    let (id, _) = add(&server, &redirecting.url(), None, None);
    create_user(&server.client(&acme), "ann@example.com");
    redirecting.wait_for(1, WAIT);
    let state = wait_state(&server.dir, &id, "acme", "failure recorded", |s| {
        s.attempts == 1
    });
    let error = state.last_failure.unwrap().error.unwrap();
    assert!(
        error.contains("redirect") && error.contains("not followed"),
        "{error}"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(target.deliveries().is_empty(), "the redirect was followed");
}

#[test]
fn a_replay_delivers_again_in_order_from_a_cursor_or_a_time() {
    let server = TestServer::start();
    let acme = server.tenant("acme", &["example.com"]);
    let receiver = Receiver::start();
    let from = server.dir.feed_head();
    let (id, _) = add(&server, &receiver.url(), None, None);
    let c = server.client(&acme);
    for i in 0..5 {
        create_user(&c, &format!("u{i}@example.com"));
    }
    let expected = feed(&server.dir, from, None);
    receiver.wait_for(5, WAIT);
    let after = scimdesk::store::parse_cursor(&expected[1].0).unwrap();
    server
        .block_on(server.dir.replay_webhook(&id, after))
        .unwrap();
    let got = receiver.wait_for(8, WAIT);
    let again: Vec<String> = got[5..].iter().map(Delivery::cursor).collect();
    let want: Vec<String> = expected[2..].iter().map(|e| e.0.clone()).collect();
    assert_eq!(again, want);
    // Since a time before everything: all five again.
    let since = server
        .dir
        .event_before(time::OffsetDateTime::now_utc() - time::Duration::hours(1))
        .unwrap();
    server
        .block_on(server.dir.replay_webhook(&id, since))
        .unwrap();
    let got = receiver.wait_for(8 + expected.len(), WAIT);
    assert!(got[8..].iter().any(|d| d.cursor() == expected[0].0));
    assert_consistent(server);
}

/// kill -9 while deliveries are in flight, then start again: every event is delivered, in
/// order per organization (some twice).
#[test]
fn after_kill_9_mid_delivery_nothing_is_skipped() {
    let inst = Installation::new("127.0.0.1:0");
    let receiver = Receiver::start();
    receiver.answer(|_, _| Answer::Slow(Duration::from_millis(3), 200));
    let ok = |args: &[&str]| {
        let out = inst.run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let mut secrets = Vec::new();
    for org in ["acme", "globex"] {
        ok(&["org", "create", org, "--name", org]);
        ok(&["domain", "add", org, "example.com"]);
        ok(&["org", "scim", org, "on"]);
        let key: Value = serde_json::from_str(&ok(&["key", "issue", org, "--json"])).unwrap();
        secrets.push((org, key["secret"].as_str().unwrap().to_string()));
    }
    let app: Value =
        serde_json::from_str(&ok(&["app-key", "issue", "--name", "t", "--json"])).unwrap();
    let app = app["secret"].as_str().unwrap().to_string();
    let hook: Value =
        serde_json::from_str(&ok(&["webhook", "add", &receiver.url(), "--json"])).unwrap();
    assert!(hook["secret"].as_str().unwrap().starts_with("whsec_"));

    let (mut child, scim, _) = inst.serve_with_api();
    let writers: Vec<_> = secrets
        .iter()
        .map(|(org, secret)| {
            let c = Client {
                addr: scim,
                base: format!("/scim/v2/{org}"),
                auth: Some(format!("Bearer {secret}")),
            };
            std::thread::spawn(move || {
                for i in 0..150 {
                    // Writes fail once the server is killed.
                    let r = c.try_post("/Users", &user(&format!("u{i}@example.com")));
                    if r.is_none_or(|r| r.status != 201) {
                        break;
                    }
                }
            })
        })
        .collect();
    receiver.wait_for(40, WAIT);
    child.kill().unwrap();
    child.wait().unwrap();
    for w in writers {
        w.join().unwrap();
    }

    let (mut child, _, api) = inst.serve_with_api();
    let api = api.unwrap();
    let mut expected = Vec::new();
    let mut after = "0000000000000000".to_string();
    loop {
        let r = Client {
            addr: api,
            base: String::new(),
            auth: Some(format!("Bearer {app}")),
        }
        .get(&format!("/api/v1/events?after={after}&limit=1000"));
        assert_eq!(r.status, 200);
        let v = r.json();
        for e in v["data"].as_array().unwrap() {
            if e["type"] == "user.created" {
                expected.push((
                    e["cursor"].as_str().unwrap().to_string(),
                    e["organization"].as_str().unwrap().to_string(),
                    Vec::new(),
                ));
            }
        }
        after = v["next_cursor"].as_str().unwrap().to_string();
        if v["has_more"] != true {
            break;
        }
    }
    assert!(expected.len() > 40, "{} users created", expected.len());
    let got = receiver.wait_until(WAIT, "every event after the restart", |d| {
        let acked: HashSet<String> = d
            .iter()
            .filter(|d| acked(d))
            .map(Delivery::cursor)
            .collect();
        expected.iter().all(|(c, _, _)| acked.contains(c))
    });
    let users: Vec<Delivery> = got
        .into_iter()
        .filter(|d| d.json()["type"] == "user.created")
        .collect();
    assert_in_order_and_complete(&users, &expected);
    child.kill().unwrap();
    child.wait().unwrap();
    let check = inst.run(&["check"]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
}

/// One organization's receiver failing for more events than a stream queues in memory does not
/// hold up another's; when it recovers, its stream reads its backlog back from the store,
/// through the other organization's events, in order.
#[test]
fn a_failing_organization_overflows_its_queue_without_holding_up_another() {
    let server = TestServer::start_with(|c| {
        c.webhooks.retries = vec![Duration::from_millis(50); 10_000];
    });
    for id in ["acme", "globex"] {
        server.tenant(id, &["example.com"]);
    }
    let receiver = Receiver::start();
    let acme_down = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let down = acme_down.clone();
    receiver.answer(move |event, _| {
        if event["organization"] == "acme" && down.load(std::sync::atomic::Ordering::SeqCst) {
            Answer::Status(503)
        } else {
            Answer::Status(200)
        }
    });
    let from = server.dir.feed_head();
    add(&server, &receiver.url(), None, Some("user.created"));
    let (acme, globex) = (
        server.dir.get_org("acme").unwrap(),
        server.dir.get_org("globex").unwrap(),
    );
    server.block_on(async {
        for i in 0..1_300 {
            let (org, name) = if i % 6 == 5 {
                (&globex, format!("g{i}@example.com"))
            } else {
                (&acme, format!("a{i}@example.com"))
            };
            server
                .dir
                .create_resource(
                    org,
                    scimdesk::scim::schema::ResourceKind::User,
                    &json!({"userName": name}),
                    None,
                )
                .await
                .unwrap();
        }
    });
    let all = feed(&server.dir, from, None);
    let globex_events: Vec<_> = all.iter().filter(|e| e.1 == "globex").cloned().collect();
    let acme_count = all.len() - globex_events.len();
    assert!(
        acme_count > 1_024,
        "more than a stream queues: {acme_count}"
    );
    let got = receiver.wait_until(WAIT, "globex's events while acme fails", |d| {
        d.iter().filter(|d| acked(d) && d.org() == "globex").count() >= globex_events.len()
    });
    assert_in_order_and_complete(
        &got.into_iter()
            .filter(|d| d.org() == "globex")
            .collect::<Vec<_>>(),
        &globex_events,
    );
    acme_down.store(false, std::sync::atomic::Ordering::SeqCst);
    let got = receiver.wait_until(WAIT, "every event once acme is back", |d| {
        d.iter().filter(|d| acked(d)).count() >= all.len()
    });
    assert_in_order_and_complete(&got, &all);
    assert_consistent(server);
}
