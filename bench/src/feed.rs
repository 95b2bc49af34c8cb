//! The change feed and the read API as the vendor's application uses them: reading a long
//! feed page by page, a long poll's latency behind a steady stream of writes, and a full walk
//! of a large directory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::{Value, json};

use crate::Args;
use crate::load::{self, Call, Conn, Pace, Slot, Target, drive, drive_with};
use crate::process::{Sampler, Server, ServerOptions};
use crate::report::Latencies;
use crate::scenarios::{group, members_patch, populate, user_body};

/// Reads every page of `path` (a list or the feed) from the start; returns (items, pages).
/// `progress(items)` is called after each page.
async fn walk(
    api: &Target,
    path: &str,
    cursor_of: impl Fn(&Value) -> Option<String>,
    mut progress: impl FnMut(u64),
) -> (u64, u64) {
    let mut conn = Conn::open(api).await.expect("connect to the API");
    let (mut items, mut pages) = (0, 0);
    let mut after: Option<String> = None;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match &after {
            Some(c) => format!("{path}{sep}after={c}"),
            None => path.to_string(),
        };
        let r = conn.call(&Call::get(url)).await.expect("a page");
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v: Value = serde_json::from_slice(&r.body).expect("JSON");
        items += v["data"].as_array().map_or(0, |d| d.len() as u64);
        pages += 1;
        progress(items);
        if !v["has_more"].as_bool().unwrap_or(false) {
            return (items, pages);
        }
        after = cursor_of(&v);
    }
}

pub async fn run(args: &Args) -> Value {
    let server = Server::start(&args.server_bin_resolved, &ServerOptions::default());
    let (t, api) = (server.target.clone(), server.api.clone());

    // A long feed: membership changes of 1,000 users, 1,000 events a request.
    let ids = Arc::new(populate(&t, 1_000, "f", args.connections).await);
    let mut groups = Vec::new();
    for g in 0..args.connections {
        groups.push(group(&t, &format!("feed{g}"), &[]).await);
    }
    let groups = Arc::new(groups);
    let started = Instant::now();
    let rounds = args.feed_events / 1_000;
    let (v, g) = (ids.clone(), groups.clone());
    let filled = drive(
        "fill the feed",
        &t,
        args.connections,
        Pace::Count(rounds),
        move |s: Slot| members_patch(&g[s.conn], &v, s.k.is_multiple_of(2)),
    )
    .await;
    let fill_seconds = started.elapsed().as_secs_f64();
    let (rss_before, _) = server.memory_now();
    let sampler = Sampler::start(server.pid());
    let started = Instant::now();
    // The server's RSS after each quarter of the walk: flat if memory does not grow with the
    // number of events read.
    let quarter = (args.feed_events / 4).max(1);
    let mut rss_by_quarter = Vec::new();
    let (events, pages) = walk(
        &api,
        "/api/v1/events?limit=1000",
        |v| v["next_cursor"].as_str().map(str::to_string),
        |items| {
            if items / quarter > rss_by_quarter.len() as u64 {
                rss_by_quarter.push(server.memory_now().0);
            }
        },
    )
    .await;
    let read_seconds = started.elapsed().as_secs_f64();
    let memory = sampler.finish();
    println!(
        "feed: {events} events (filled at {:.0} events/s, {} errors) read in {pages} pages of 1,000 at {:.0} events/s; server RSS {rss_before:.0} MiB before the walk, after each quarter {}, peak {:.0} MiB",
        (filled.requests * 1_000) as f64 / fill_seconds,
        filled.errors,
        events as f64 / read_seconds,
        rss_by_quarter
            .iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(" / "),
        memory.rss_peak,
    );

    // Commit to long poll: creates at a steady rate, a reader long-polling for them.
    let acked: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let seen: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let (api, seen, stop) = (api.clone(), seen.clone(), stop.clone());
        tokio::spawn(async move {
            let mut conn = Conn::open(&api).await.expect("connect");
            let head = conn
                .call(&Call::get("/api/v1/events?after=now"))
                .await
                .expect("head");
            let v: Value = serde_json::from_slice(&head.body).expect("JSON");
            let mut after = v["next_cursor"].as_str().expect("cursor").to_string();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = conn
                    .call(&Call::get(format!(
                        "/api/v1/events?after={after}&wait=5&limit=1000&type=user.created"
                    )))
                    .await
                    .expect("a page");
                let now = Instant::now();
                let v: Value = serde_json::from_slice(&r.body).expect("JSON");
                let mut seen = seen.lock().expect("lock");
                for e in v["data"].as_array().into_iter().flatten() {
                    seen.insert(
                        e["data"]["userName"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                        now,
                    );
                }
                after = v["next_cursor"].as_str().expect("cursor").to_string();
            }
        })
    };
    let rate = 1_000.0;
    let a = acked.clone();
    let writes = drive_with(
        "creates at 1,000/s",
        &t,
        args.connections,
        Pace::Rate(rate, Duration::from_secs_f64(args.seconds.max(5.0))),
        |s: Slot| Call::with(Method::POST, "/Users", user_body("lp", s.n), 201),
        move |s, r| {
            if r.status == 201 {
                a.lock()
                    .expect("lock")
                    .insert(format!("lp{}@bench.example", s.n), Instant::now());
            }
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = poller.await;
    let acked = std::mem::take(&mut *acked.lock().expect("lock"));
    let seen = std::mem::take(&mut *seen.lock().expect("lock"));
    let mut before_ack = 0;
    let lat: Vec<f64> = acked
        .iter()
        .filter_map(|(name, at)| {
            let got = seen.get(name)?;
            if got < at {
                before_ack += 1;
            }
            Some(got.saturating_duration_since(*at).as_secs_f64() * 1000.0)
        })
        .collect();
    let missed = acked.len() - lat.len();
    let lat = Latencies::new(lat);
    println!(
        "commit to long poll at {:.0} writes/s: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} events; {before_ack} arrived before the writer read its reply; {missed} not seen)",
        writes.rps(),
        lat.percentile(0.5),
        lat.percentile(0.99),
        lat.max(),
        lat.len(),
    );

    // A full walk of a large directory through the read API.
    let big = Server::start(&args.server_bin_resolved, &ServerOptions::default());
    populate(&big.target, args.large, "w", args.connections).await;
    let started = Instant::now();
    let (users, _) = walk(
        &big.api,
        "/api/v1/organizations/bench/users?limit=1000",
        |v| v["next_cursor"].as_str().map(str::to_string),
        |_| {},
    )
    .await;
    let walk_rate = users as f64 / started.elapsed().as_secs_f64();
    println!("read API: walked {users} users in pages of 1,000 at {walk_rate:.0} users/s");
    let _ = load::once(&t, &Call::get("/Users?count=1")).await;
    json!({
        "feed_events": events,
        "feed_fill_events_per_second": (filled.requests * 1_000) as f64 / fill_seconds,
        "feed_read_events_per_second": events as f64 / read_seconds,
        "feed_read_pages": pages,
        "server_rss_mib_before_walk": rss_before,
        "server_rss_mib_peak_during_walk": memory.rss_peak,
        "server_rss_mib_after_walk": memory.rss_end,
        "server_rss_mib_after_each_quarter": rss_by_quarter,
        "long_poll": {
            "writes_per_second": writes.rps(),
            "commit_to_poll_ms": lat.to_json(),
            "arrived_before_ack": before_ack,
            "not_seen": missed,
        },
        "read_api_walk": {"users": users, "users_per_second": walk_rate},
    })
}
