//! Webhook delivery as the vendor's application sees it, with a receiver in this process:
//! a backlog built while the receiver is down (the server's memory through it), the drain once
//! it is back (deliveries per second to one endpoint and across ten, in order), commit-to-
//! delivery latency at a steady 1,000 writes/s, and SCIM create throughput with a receiver
//! that never answers against none. The ceiling of a drain is this machine posting the same
//! body to the same receiver over the same number of keep-alive connections.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::{Value, json};

use crate::Args;
use crate::load::{Call, Pace, Slot, Target, drive, drive_with};
use crate::process::{Sampler, Server, ServerOptions};
use crate::report::{Latencies, median};
use crate::scenarios::{group, members_patch, populate, user_body};

const OK: u8 = 0;
const DOWN: u8 = 1;
const HANG: u8 = 2;

/// One delivery as received: which endpoint (path), the event's cursor, when.
#[derive(Clone, Copy)]
struct Received {
    endpoint: usize,
    cursor: u64,
    at: Instant,
}

/// A receiver: answers 200, 503 (down) or never, and logs what it acknowledged.
struct Receiver {
    addr: SocketAddr,
    mode: Arc<AtomicU8>,
    log: Arc<Mutex<Vec<Received>>>,
    /// userName -> arrival, for the latency figure.
    names: Arc<Mutex<HashMap<String, Instant>>>,
}

fn find<'a>(body: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let start = body.windows(key.len()).position(|w| w == key)? + key.len();
    let len = body[start..].iter().position(|&b| b == b'"')?;
    Some(&body[start..start + len])
}

impl Receiver {
    async fn start() -> Receiver {
        use warp::Filter;
        let mode = Arc::new(AtomicU8::new(OK));
        let log: Arc<Mutex<Vec<Received>>> = Arc::default();
        let names: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
        let (m, l, n) = (mode.clone(), log.clone(), names.clone());
        let route = warp::post()
            .and(warp::path::tail())
            .and(warp::body::bytes())
            .then(move |tail: warp::path::Tail, body: bytes::Bytes| {
                let (m, l, n) = (m.clone(), l.clone(), n.clone());
                async move {
                    // The ceiling's posts are answered, not logged.
                    if tail.as_str() == "ceiling" {
                        return warp::http::StatusCode::OK;
                    }
                    match m.load(Ordering::Relaxed) {
                        DOWN => return warp::http::StatusCode::SERVICE_UNAVAILABLE,
                        HANG => std::future::pending::<()>().await,
                        _ => {}
                    }
                    let at = Instant::now();
                    let endpoint = tail.as_str().parse().unwrap_or(0);
                    let cursor = find(&body, b"\"cursor\":\"")
                        .and_then(|c| std::str::from_utf8(c).ok())
                        .and_then(|c| u64::from_str_radix(c, 16).ok())
                        .unwrap_or(0);
                    l.lock().expect("lock").push(Received {
                        endpoint,
                        cursor,
                        at,
                    });
                    if let Some(name) = find(&body, b"\"userName\":\"") {
                        n.lock()
                            .expect("lock")
                            .insert(String::from_utf8_lossy(name).into_owned(), at);
                    }
                    warp::http::StatusCode::OK
                }
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the receiver");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(warp::serve(route).incoming(listener).run());
        Receiver {
            addr,
            mode,
            log,
            names,
        }
    }

    fn url(&self, endpoint: usize) -> String {
        format!("http://{}/{endpoint}", self.addr)
    }

    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::Relaxed);
    }

    fn received(&self) -> usize {
        self.log.lock().expect("lock").len()
    }

    /// Posts a delivery-sized body to the receiver as fast as `connections` keep-alive
    /// connections allow: what this machine can do without scimdesk in between.
    async fn ceiling(&self, connections: usize, seconds: f64, body: &[u8]) -> f64 {
        let target = Target {
            addr: self.addr,
            auth: "Bearer x".into(),
            base: String::new(),
        };
        let body = body.to_vec();
        drive(
            "receiver ceiling",
            &target,
            connections,
            Pace::Closed(Duration::from_secs_f64(seconds)),
            move |_: Slot| Call::with(Method::POST, "/ceiling", body.clone(), 200),
        )
        .await
        .rps()
    }
}

/// A delivered event's size: a user.created event of a bench user.
fn sample_event() -> Vec<u8> {
    let user: Value = serde_json::from_slice(&user_body("x", 1)).expect("JSON");
    serde_json::to_vec(&json!({
        "object": "event", "id": "evt_0192f1d0c8a87c3e9d0b1a2b3c4d5e6f", "cursor": "00000000000f4240",
        "type": "user.created", "organization": "bench", "occurred_at": "2026-12-05T10:00:00.000Z",
        "data": user, "request_id": "0192f1d0-c8a8-7c3e-9d0b-1a2b3c4d5e6f"
    }))
    .expect("JSON")
}

/// Retries every second for ten minutes: long enough that nothing is given up while the
/// receiver is down, quick to resume when it is back.
fn quick_retries() -> String {
    let list = vec!["\"1s\""; 600].join(", ");
    format!("[webhooks]\nretries = [{list}]\n")
}

/// Fills the feed with at least `events` events: 1,000 users, then membership changes of all
/// of them, 1,000 events a request. The server's RSS is sampled after each quarter.
async fn fill(args: &Args, server: &Server, events: u64) -> (f64, Vec<f64>) {
    let t = server.target.clone();
    let started = Instant::now();
    let ids = Arc::new(populate(&t, 1_000, "w", args.connections).await);
    let mut groups = Vec::new();
    for g in 0..args.connections {
        groups.push(group(&t, &format!("wh{g}"), &[]).await);
    }
    let groups = Arc::new(groups);
    let rounds = events.saturating_sub(1_000).div_ceil(1_000);
    // Each connection adds all the users to its group, then removes them, and so on: its own
    // count (kept across the quarters) says which is next.
    let parity: Arc<Vec<std::sync::atomic::AtomicU64>> =
        Arc::new((0..args.connections).map(|_| Default::default()).collect());
    let mut rss = Vec::new();
    for quarter in 0..4u64 {
        let (v, g, p) = (ids.clone(), groups.clone(), parity.clone());
        let share = rounds / 4 + u64::from(quarter < rounds % 4);
        drive(
            "fill",
            &t,
            args.connections,
            Pace::Count(share),
            move |s: Slot| {
                let n = p[s.conn].fetch_add(1, Ordering::Relaxed);
                members_patch(&g[s.conn], &v, n.is_multiple_of(2))
            },
        )
        .await;
        rss.push(server.memory_now().0);
    }
    (started.elapsed().as_secs_f64(), rss)
}

/// The feed's newest cursor, from the application API.
async fn feed_head(server: &Server) -> u64 {
    let r = crate::load::once(&server.api, &Call::get("/api/v1/events?after=now")).await;
    let v: Value = serde_json::from_slice(&r.body).expect("JSON");
    u64::from_str_radix(v["next_cursor"].as_str().unwrap_or("0"), 16).unwrap_or(0)
}

/// A backlog of `events` built with the receiver down, then drained: (figures, deliveries/s).
async fn backlog_and_drain(args: &Args, endpoints: usize, events: u64) -> (Value, f64) {
    let receiver = Receiver::start().await;
    receiver.set(DOWN);
    let server = Server::start(
        &args.server_bin_resolved,
        &ServerOptions {
            webhooks: (0..endpoints).map(|i| receiver.url(i)).collect(),
            extra_config: quick_retries(),
            ..ServerOptions::default()
        },
    );
    let (rss_empty, _) = server.memory_now();
    let disk_empty = server.disk_bytes();
    // The endpoints were added at this head: they deliver what comes after.
    let from = feed_head(&server).await;
    let sampler = Sampler::start(server.pid());
    let (fill_seconds, rss_by_quarter) = fill(args, &server, events).await;
    let head = feed_head(&server).await - from;
    // Let the workers sweep the whole backlog while the receiver is still down.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let fill_memory = sampler.finish();
    let (rss_backlog, _) = server.memory_now();
    let disk_backlog = server.disk_bytes();

    let body = sample_event();
    let ceiling_before = receiver
        .ceiling(endpoints, args.ceiling_seconds, &body)
        .await;
    let sampler = Sampler::start(server.pid());
    receiver.set(OK);
    let back = Instant::now();
    // The drain: from the first delivery for the measured window.
    while receiver.received() == 0 && back.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let first = Instant::now();
    // The whole backlog, unless that takes more than five minutes.
    let window = Duration::from_secs(300);
    let total = head * endpoints as u64;
    while first.elapsed() < window && (receiver.received() as u64) < total {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let drain_memory = sampler.finish();
    let log = std::mem::take(&mut *receiver.log.lock().expect("lock"));
    // From the first delivery to the last one received.
    let drain_seconds = log
        .last()
        .map_or(0.0, |r| r.at.duration_since(first).as_secs_f64())
        .max(1e-3);
    let ceiling_after = receiver
        .ceiling(endpoints, args.ceiling_seconds, &body)
        .await;
    // In order: per endpoint, each acknowledged cursor above the one before.
    let mut last = vec![0u64; endpoints];
    let mut out_of_order = 0;
    let mut duplicates = 0;
    for r in &log {
        if r.cursor < last[r.endpoint] {
            out_of_order += 1;
        } else if r.cursor == last[r.endpoint] {
            duplicates += 1;
        }
        last[r.endpoint] = last[r.endpoint].max(r.cursor);
    }
    let delivered = log.len() as u64;
    let rate = delivered as f64 / drain_seconds;
    let ceiling = (ceiling_before + ceiling_after) / 2.0;
    let wait_for_first = first.duration_since(back).as_secs_f64();
    let drained_all = delivered >= total;
    println!(
        "webhooks, {endpoints} endpoint{}: backlog of {head} events{} built in {fill_seconds:.1}s with the receiver down; server RSS {rss_empty:.0} MiB empty, after each quarter of the fill {}, {rss_backlog:.0} MiB with the backlog (peak {:.0}); store {:.0} -> {:.0} MiB",
        if endpoints == 1 { "" } else { "s" },
        if endpoints == 1 {
            String::new()
        } else {
            format!(" ({total} deliveries)")
        },
        rss_by_quarter
            .iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(" / "),
        fill_memory.rss_peak,
        disk_empty as f64 / 1048576.0,
        disk_backlog as f64 / 1048576.0,
    );
    println!(
        "webhooks, {endpoints} endpoint{}: receiver back, first delivery after {wait_for_first:.2}s; {delivered} deliveries in {drain_seconds:.1}s = {rate:.0} deliveries/s ({:.0}% of the receiver ceiling {ceiling:.0}/s over {endpoints} connection{}); {out_of_order} out of order, {duplicates} repeated; {}; server RSS peak {:.0} MiB while draining",
        if endpoints == 1 { "" } else { "s" },
        100.0 * rate / ceiling.max(1.0),
        if endpoints == 1 { "" } else { "s" },
        if drained_all {
            "all delivered".to_string()
        } else {
            format!(
                "{} still to deliver at the end of the window",
                total - delivered
            )
        },
        drain_memory.rss_peak,
    );
    (
        json!({
            "endpoints": endpoints,
            "backlog_events": head,
            "backlog_deliveries": total,
            "fill_seconds": fill_seconds,
            "server_rss_mib": {
                "empty": rss_empty,
                "after_each_quarter_of_the_fill": rss_by_quarter,
                "with_backlog": rss_backlog,
                "peak_during_fill": fill_memory.rss_peak,
                "peak_during_drain": drain_memory.rss_peak,
            },
            "store_bytes": {"empty": disk_empty, "with_backlog": disk_backlog},
            "first_delivery_after_seconds": wait_for_first,
            "drain": {
                "deliveries": delivered,
                "seconds": drain_seconds,
                "deliveries_per_second": rate,
                "out_of_order": out_of_order,
                "repeated": duplicates,
                "all_delivered": drained_all,
            },
            "receiver_ceiling_per_second": {"before": ceiling_before, "after": ceiling_after},
        }),
        rate,
    )
}

/// Commit-to-delivery latency: creates at 1,000/s, each acknowledged create's event timed to
/// its arrival at the receiver.
async fn latency(args: &Args) -> Value {
    let receiver = Receiver::start().await;
    let server = Server::start(
        &args.server_bin_resolved,
        &ServerOptions {
            webhooks: vec![receiver.url(0)],
            ..ServerOptions::default()
        },
    );
    let acked: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let sent: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let (a, sn) = (acked.clone(), sent.clone());
    let writes = drive_with(
        "creates at 1,000/s",
        &server.target,
        args.connections,
        Pace::Rate(1_000.0, Duration::from_secs_f64(args.seconds.max(10.0))),
        move |s: Slot| {
            sn.lock().expect("lock").insert(s.n, Instant::now());
            Call::with(Method::POST, "/Users", user_body("wl", s.n), 201)
        },
        move |s, r| {
            if r.status == 201 {
                a.lock()
                    .expect("lock")
                    .insert(format!("wl{}@bench.example", s.n), Instant::now());
            }
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let acked = std::mem::take(&mut *acked.lock().expect("lock"));
    let sent = std::mem::take(&mut *sent.lock().expect("lock"));
    let seen = std::mem::take(&mut *receiver.names.lock().expect("lock"));
    // The commit happens between the request leaving and its reply arriving: delivery time is
    // measured from both ends of that span (from the reply it is negative when the delivery
    // arrived first, counted as 0).
    let (mut from_send, mut from_ack, mut before_ack) = (Vec::new(), Vec::new(), 0);
    for (n, at) in &sent {
        let name = format!("wl{n}@bench.example");
        let (Some(got), Some(ack)) = (seen.get(&name), acked.get(&name)) else {
            continue;
        };
        from_send.push(got.saturating_duration_since(*at).as_secs_f64() * 1000.0);
        if got < ack {
            before_ack += 1;
        }
        from_ack.push(got.saturating_duration_since(*ack).as_secs_f64() * 1000.0);
    }
    let missed = acked.len() - from_send.len();
    let (from_send, from_ack) = (Latencies::new(from_send), Latencies::new(from_ack));
    println!(
        "webhooks: commit to delivery at {:.0} writes/s, from the write's request: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; from its reply: p50 {:.2} ms, p99 {:.2} ms ({} events; {before_ack} arrived before the writer read its reply; {missed} not delivered)",
        writes.rps(),
        from_send.percentile(0.5),
        from_send.percentile(0.99),
        from_send.max(),
        from_ack.percentile(0.5),
        from_ack.percentile(0.99),
        from_send.len(),
    );
    json!({
        "writes_per_second": writes.rps(),
        "write_errors": writes.errors,
        "from_request_ms": from_send.to_json(),
        "from_reply_ms": from_ack.to_json(),
        "arrived_before_reply": before_ack,
        "not_delivered": missed,
    })
}

/// SCIM creates with an endpoint whose receiver never answers against no endpoint, in
/// alternating rounds on fresh servers; the headline is the median of the paired ratios.
async fn hanging(args: &Args) -> Value {
    let mut rounds = Vec::new();
    for round in 0..args.rounds.max(1) {
        let mut pair = [0.0f64; 2];
        // Alternate which side goes first.
        let order = if round % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        for hung in order {
            let receiver = Receiver::start().await;
            receiver.set(HANG);
            let server = Server::start(
                &args.server_bin_resolved,
                &ServerOptions {
                    webhooks: if hung { vec![receiver.url(0)] } else { vec![] },
                    ..ServerOptions::default()
                },
            );
            let tag = format!("h{round}{}", u8::from(hung));
            let o = drive(
                "creates",
                &server.target,
                args.connections,
                Pace::Closed(Duration::from_secs_f64(args.seconds)),
                move |s: Slot| Call::with(Method::POST, "/Users", user_body(&tag, s.n), 201),
            )
            .await;
            assert_eq!(o.errors, 0, "creates failed");
            pair[usize::from(hung)] = o.rps();
        }
        println!(
            "webhooks, receiver that never answers, round {}: creates {:.0}/s without an endpoint, {:.0}/s with ({:.0}%)",
            round + 1,
            pair[0],
            pair[1],
            100.0 * pair[1] / pair[0]
        );
        rounds.push(pair);
    }
    let ratios: Vec<f64> = rounds.iter().map(|p| p[1] / p[0]).collect();
    let m = median(&ratios);
    println!(
        "webhooks, receiver that never answers: creates with it at a median {:.0}% of without (paired rounds: {})",
        m * 100.0,
        ratios
            .iter()
            .map(|r| format!("{:.0}%", r * 100.0))
            .collect::<Vec<_>>()
            .join(", ")
    );
    json!({
        "rounds": rounds.iter().map(|p| json!({"without": p[0], "with_hanging_receiver": p[1]})).collect::<Vec<_>>(),
        "median_ratio": m,
    })
}

/// The same fill on a server without endpoints: what the server's memory is without a backlog.
async fn control(args: &Args, events: u64) -> Value {
    let server = Server::start(&args.server_bin_resolved, &ServerOptions::default());
    let (rss_empty, _) = server.memory_now();
    let (_, rss_by_quarter) = fill(args, &server, events).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (rss_after, _) = server.memory_now();
    println!(
        "webhooks, control: the same fill without an endpoint: server RSS {rss_empty:.0} MiB empty, after each quarter {}, {rss_after:.0} MiB after",
        rss_by_quarter
            .iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(" / "),
    );
    json!({"empty": rss_empty, "after_each_quarter_of_the_fill": rss_by_quarter, "after": rss_after})
}

pub async fn run(args: &Args) -> Value {
    let without = control(args, args.webhook_backlog).await;
    let (one, _) = backlog_and_drain(args, 1, args.webhook_backlog).await;
    let (ten, _) = backlog_and_drain(args, 10, args.webhook_backlog / 10).await;
    json!({
        "control_without_endpoints_rss_mib": without,
        "one_endpoint": one,
        "ten_endpoints": ten,
        "commit_to_delivery": latency(args).await,
        "hanging_receiver": hanging(args).await,
    })
}
