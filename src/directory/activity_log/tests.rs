use super::*;
use crate::activity::Idp;

fn event(org: &str, n: usize) -> ActivityEvent {
    ActivityEvent {
        id: crate::directory::rules::new_resource_id(),
        time: crate::store::now(),
        org: org.into(),
        key_id: None,
        idp: Idp::Okta,
        method: "GET".into(),
        path: format!("/scim/v2/{org}/Users/{n}"),
        resource_type: Some("User".into()),
        resource_id: Some(n.to_string()),
        subject: Some(format!("u{n}@acme.com")),
        status: if n.is_multiple_of(2) { 200 } else { 404 },
        latency_us: 10,
        summary: format!("event {n}"),
        changes: vec![],
        ignored: vec![],
    }
}

fn org(store: &Store, id: &str) {
    let now = crate::store::now();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(store.create_org(
        &crate::store::Organization {
            id: id.into(),
            name: id.into(),
            scim_enabled: true,
            domains: vec![],
            created: now,
            updated: now,
        },
        vec![],
    ))
    .unwrap()
    .unwrap();
}

fn wait_until(mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_subscriber_that_never_reads_does_not_block_recording() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 8 << 20).unwrap();
    org(&store, "acme");
    let retention = Retention {
        max_age: time::Duration::days(1),
        max_per_org: 100_000,
    };
    let log = ActivityLog::start(store.clone(), retention).unwrap();
    let mut idle = log.subscribe();
    // Recording never waits for a subscriber: were the idle one able to block it, this loop
    // would never finish.
    for n in 0..(LIVE * 3) {
        log.record(event("acme", n));
    }
    // The idle subscriber is told how much it missed...
    match idle.try_recv() {
        Err(broadcast::error::TryRecvError::Lagged(missed)) => {
            assert_eq!(missed as usize, LIVE * 2)
        }
        other => panic!("expected Lagged, got {other:?}"),
    }
    // ...and everything is in the store.
    wait_until(|| store.activity_count("acme").unwrap() == LIVE * 3);
    assert_eq!(log.dropped(), 0);
}

#[test]
fn events_recorded_into_a_shard_make_the_same_blob_as_a_batch() {
    let mut events: Vec<ActivityEvent> = (0..5).map(|n| event("acme", n)).collect();
    events[1].changes = crate::activity::diff(
        None,
        serde_json::json!({"userName": "a@acme.com", "name": {"givenName": "Ä \"q\""}}).as_object(),
    );
    let shards = Shards::new();
    for e in &events {
        assert!(shards.push(e));
    }
    let buffers = shards.take();
    assert_eq!(buffers.len(), 1, "one thread records into one shard");
    let queued: Vec<Entry> = entries(&buffers[0]).collect();
    assert_eq!(queued.len(), events.len());
    for ((org, id, _), e) in queued.iter().zip(&events) {
        assert_eq!((*org, *id), (e.org.as_bytes(), e.id.as_bytes()));
    }
    let mut scratch = Vec::new();
    let one_by_one = encode_serialized_blob(&queued, &mut scratch);
    assert_eq!(one_by_one, encode_blob(&events).unwrap());
    assert_eq!(decode_blob(&one_by_one).unwrap(), events);
    assert_eq!(
        decode_blob(&encode_serialized_blob(&[], &mut scratch)).unwrap(),
        vec![]
    );
    assert!(shards.take().is_empty(), "taking empties the shards");
}

#[test]
fn events_from_many_threads_are_all_stored_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 8 << 20).unwrap();
    org(&store, "acme");
    org(&store, "beta");
    let retention = Retention {
        max_age: time::Duration::days(1),
        max_per_org: 100_000,
    };
    let log = Arc::new(ActivityLog::start(store.clone(), retention).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                for n in 0..500 {
                    log.record(event(
                        if n % 3 == 0 { "beta" } else { "acme" },
                        t * 1000 + n,
                    ));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    log.close();
    assert_eq!((log.stored(), log.dropped()), (2_000, 0));
    for (org, n) in [("acme", 4 * 333), ("beta", 4 * 167)] {
        let got = log
            .query(&ActivityQuery {
                org: Some(org.into()),
                ..ActivityQuery::default()
            })
            .unwrap();
        assert_eq!(got.len(), n, "{org}");
        assert!(got.iter().all(|e| e.org == org));
        assert!(got.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    }
    assert_eq!(store.activity_count("acme").unwrap(), 4 * 333);
}

#[test]
fn queries_are_newest_first_and_filtered() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 8 << 20).unwrap();
    org(&store, "acme");
    org(&store, "globex");
    let retention = Retention {
        max_age: time::Duration::days(1),
        max_per_org: 1000,
    };
    let log = ActivityLog::start(store.clone(), retention).unwrap();
    for n in 0..10 {
        log.record(event("acme", n));
        log.record(event("globex", n));
    }
    log.close();
    let all = query(
        &store,
        &ActivityQuery {
            limit: 100,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(all.len(), 20);
    assert!(
        all.windows(2).all(|w| w[0].id > w[1].id),
        "not newest first"
    );
    let acme = query(
        &store,
        &ActivityQuery {
            org: Some("acme".into()),
            limit: 3,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        acme.iter().map(|e| e.summary.as_str()).collect::<Vec<_>>(),
        ["event 9", "event 8", "event 7"]
    );
    let errors = query(
        &store,
        &ActivityQuery {
            org: Some("acme".into()),
            errors_only: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(errors.len(), 5);
    let one = query(
        &store,
        &ActivityQuery {
            user_name: Some("U4@acme.com".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(one.len(), 2);
    let none = query(
        &store,
        &ActivityQuery {
            since: Some(crate::store::now() + time::Duration::hours(1)),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(none.is_empty());
}

#[test]
fn retention_keeps_counts_and_ages_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 8 << 20).unwrap();
    org(&store, "acme");
    let retention = Retention {
        max_age: time::Duration::days(1),
        max_per_org: 100,
    };
    let log = ActivityLog::start(store.clone(), retention).unwrap();
    for n in 0..1000 {
        log.record(event("acme", n));
    }
    log.close();
    let kept = query(
        &store,
        &ActivityQuery {
            org: Some("acme".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(kept.len(), 100);
    assert_eq!(store.activity_count("acme").unwrap(), 100);
    assert_eq!(kept[0].summary, "event 999", "the newest are kept");
    // Age: with a zero maximum age everything goes.
    enforce_retention(
        &store,
        Retention {
            max_age: time::Duration::ZERO,
            max_per_org: 100,
        },
    );
    assert_eq!(store.activity_count("acme").unwrap(), 0);
    assert!(query(&store, &ActivityQuery::default()).unwrap().is_empty());
}
