//! The dashboard under load, as `scimdesk` runs it: the server and the dashboard in one
//! process. For every frame actually drawn, the newest record on screen is matched exactly
//! (its whole summary, which names a unique userName) to the request that made it: the time
//! from that request's acknowledgement to the end of the frame is how old the newest record
//! on screen is. Under thousands of writes a second most records scroll past between two
//! frames, so this is the figure that says whether the screen keeps up. Records the live feed
//! skipped are counted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::{Value, json};

use crate::Args;
use crate::load::{Call, Conn, Target};
use crate::report::Latencies;
use crate::scenarios::user_body;
use scimdesk::control::{Control, FeedItem, Local};
use scimdesk::directory::Directory;

pub async fn run(args: &Args) -> Value {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    let tmp = tempfile::tempdir_in(crate::scratch_dir()).expect("temp dir");
    let config = scimdesk::config::Config::for_data_dir(&tmp.path().join("store"));
    let dir = Directory::open(config).expect("open store");
    dir.create_org("bench", "Bench").await.expect("org");
    dir.add_domain("bench", "bench.example")
        .await
        .expect("domain");
    dir.set_scim_enabled("bench", true).await.expect("scim on");
    let key = dir.issue_key("bench", Some("bench")).await.expect("key");
    let listener = scimdesk::server::bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(scimdesk::server::serve(dir.clone(), listener, async {
        let _ = stopped.await;
    }));
    let ops: Arc<dyn Control> = Arc::new(Local::new(dir.clone(), "bench"));
    let mut app = scimdesk::tui::app::App::new(ops.clone(), addr.to_string());
    app.load().await;
    app.update(scimdesk::tui::app::Action::GoActivity).await;
    let mut feed = ops.follow().await.expect("live feed");
    let mut terminal = Terminal::new(TestBackend::new(160, 45)).expect("terminal");
    let target = Target {
        addr,
        auth: format!("Bearer {}", key.secret),
        base: "/scim/v2/bench".into(),
    };
    // userName -> when its create was acknowledged.
    let acked: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let deadline = Instant::now() + Duration::from_secs_f64(args.seconds.max(3.0));
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut load = Vec::new();
    for _ in 0..args.connections {
        let (target, acked, next) = (target.clone(), acked.clone(), next.clone());
        load.push(tokio::spawn(async move {
            let mut conn = Conn::open(&target).await.expect("connect");
            let mut done = 0u64;
            while Instant::now() < deadline {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let r = conn
                    .call(&Call::with(Method::POST, "/Users", user_body("ui", i), 201))
                    .await
                    .expect("reply");
                if r.status == 201 {
                    acked
                        .lock()
                        .expect("lock")
                        .insert(format!("ui{i}@bench.example"), Instant::now());
                    done += 1;
                }
            }
            done
        }));
    }
    let started = Instant::now();
    let mut frame = tokio::time::interval(scimdesk::tui::FRAME);
    let mut to_screen = Vec::new();
    let mut frame_ms = Vec::new();
    let (mut missed, mut received, mut drawn_before_ack, mut not_matched) =
        (0u64, 0u64, 0u64, 0u64);
    while Instant::now() < deadline {
        tokio::select! {
            item = feed.next() => match item {
                Some(FeedItem::Event(e)) => {
                    received += 1;
                    app.on_activity(e);
                }
                Some(FeedItem::Shown(e)) => {
                    received += 1;
                    app.on_shown(e);
                }
                Some(FeedItem::Tally(minutes)) => app.on_tally(&minutes),
                Some(FeedItem::Missed(n)) => {
                    missed += n;
                    app.on_missed(n).await;
                }
                None => break,
            },
            _ = frame.tick() => {
                let t = Instant::now();
                terminal
                    .draw(|f| {
                        scimdesk::tui::screens::draw(f, &app);
                    })
                    .expect("draw");
                let done = Instant::now();
                frame_ms.push((done - t).as_secs_f64() * 1000.0);
                // The newest record the dashboard holds, and whether its exact text is drawn.
                let Some(newest) = app.activity.events.front().cloned() else { continue };
                let Some(subject) = newest.subject.clone() else { continue };
                let text: String = terminal
                    .backend()
                    .buffer()
                    .content()
                    .iter()
                    .map(|c| c.symbol())
                    .collect();
                if !text.contains(&newest.summary) {
                    not_matched += 1;
                    continue;
                }
                match acked.lock().expect("lock").get(&subject) {
                    Some(at) => to_screen.push(done.saturating_duration_since(*at).as_secs_f64() * 1000.0),
                    None => drawn_before_ack += 1,
                }
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut writes = 0;
    for t in load {
        writes += t.await.expect("load task");
    }
    let _ = stop.send(());
    let _ = server.await;
    let _ = dir.close().await;
    let to_screen = Latencies::new(to_screen);
    let frames = Latencies::new(frame_ms);
    let rate = writes as f64 / seconds;
    println!(
        "dashboard under {rate:.0} writes/s: ack->drawn p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms over {} frames whose newest record matched its request ({} drawn before the client saw the ack, {} frames not showing the newest record); frame p50 {:.2} ms, p99 {:.2} ms; {received} records received, {missed} skipped by the live feed",
        to_screen.percentile(0.5),
        to_screen.percentile(0.99),
        to_screen.max(),
        to_screen.len(),
        drawn_before_ack,
        not_matched,
        frames.percentile(0.5),
        frames.percentile(0.99),
    );
    json!({
        "writes_per_second": rate,
        "ack_to_drawn_ms": to_screen.to_json(),
        "frame_ms": frames.to_json(),
        "frames_drawn": frames.len(),
        "frames_newest_drawn_before_ack": drawn_before_ack,
        "frames_newest_not_on_screen": not_matched,
        "records_received": received,
        "records_skipped_by_feed": missed,
    })
}
