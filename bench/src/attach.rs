//! Managing a running server through its admin socket: how long a command takes end to end
//! (a process started, attached, answered), what an attached dashboard left idle costs the
//! server's SCIM throughput, and whether its live activity keeps up with the server at full
//! speed (lines sampled, counts exact).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::{Value, json};

use crate::Args;
use crate::load::{Call, Pace, Slot, drive};
use crate::process::{Server, ServerOptions};
use crate::report::{Latencies, median};
use crate::scenarios::user_body;
use scimdesk::control::{Control, FeedItem};

/// `scimdesk org list` (and `--json key list`) run as processes against a serving server.
fn commands(args: &Args, server: &Server) -> Value {
    let mut lat = Vec::new();
    for i in 0..100 {
        let cmd: &[&str] = if i % 2 == 0 {
            &["org", "list"]
        } else {
            &["--json", "key", "list", "bench"]
        };
        let started = Instant::now();
        let out = std::process::Command::new(&args.server_bin_resolved)
            .arg("--config")
            .arg(server.config_path())
            .args(cmd)
            .output()
            .expect("run scimdesk");
        lat.push(started.elapsed().as_secs_f64() * 1000.0);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let lat = Latencies::new(lat);
    println!(
        "admin: a command through the socket (a new process, attach, answer, exit), 100 runs: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        lat.percentile(0.5),
        lat.percentile(0.99),
        lat.max()
    );
    json!({"command_ms": lat.to_json()})
}

/// Counts what an attached dashboard's live feed reports.
#[derive(Default)]
struct Seen {
    tallied: AtomicU64,
    shown: AtomicU64,
    missed: AtomicU64,
    /// Largest age (ms) of a shown record when it arrived.
    worst_age_ms: AtomicU64,
    frames: AtomicU64,
}

/// A dashboard attached to `server` as `scimdesk` runs one: it loads its first screen, follows
/// live activity and draws every frame into a test backend; nobody presses a key.
async fn attached_dashboard(
    socket: std::path::PathBuf,
    seen: Arc<Seen>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    let remote = scimdesk::admin::connect(&socket)
        .await
        .expect("attach")
        .expect("a running server");
    let listen = remote.hello().scim.clone();
    let ops: Arc<dyn Control> = Arc::new(remote);
    let mut app = scimdesk::tui::app::App::new(ops.clone(), listen);
    app.load().await;
    let mut feed = ops.follow().await.expect("live activity");
    let mut terminal = Terminal::new(TestBackend::new(160, 45)).expect("terminal");
    let mut frame = tokio::time::interval(scimdesk::tui::FRAME);
    let mut slow = tokio::time::interval(Duration::from_secs(2));
    let mut dirty = true;
    // As the dashboard's event loop does: live activity redraws a screen that shows only its
    // counts a few times a second.
    let mut counts_changed = false;
    let mut last_draw = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        tokio::select! {
            item = feed.next() => match item {
                Some(FeedItem::Shown(e)) | Some(FeedItem::Event(e)) => {
                    seen.shown.fetch_add(1, Ordering::Relaxed);
                    let age = (scimdesk::store::now() - e.time).whole_milliseconds().max(0) as u64;
                    seen.worst_age_ms.fetch_max(age, Ordering::Relaxed);
                    app.on_shown(e);
                    if app.feed_on_screen() { dirty = true } else { counts_changed = true }
                }
                Some(FeedItem::Tally(minutes)) => {
                    seen.tallied.fetch_add(minutes.iter().map(|m| m.1).sum(), Ordering::Relaxed);
                    app.on_tally(&minutes);
                    if app.feed_on_screen() { dirty = true } else { counts_changed = true }
                }
                Some(FeedItem::Missed(n)) => {
                    seen.missed.fetch_add(n, Ordering::Relaxed);
                    app.on_missed(n).await;
                }
                None => break,
            },
            _ = slow.tick() => {
                app.tick().await;
                dirty = true;
            }
            _ = frame.tick() => {
                if counts_changed && last_draw.elapsed() >= scimdesk::tui::COUNTS_REDRAW {
                    dirty = true;
                }
                if dirty {
                    terminal.draw(|f| { scimdesk::tui::screens::draw(f, &app); }).expect("draw");
                    seen.frames.fetch_add(1, Ordering::Relaxed);
                    dirty = false;
                    counts_changed = false;
                    last_draw = Instant::now();
                }
            }
        }
    }
}

/// Closed-loop creates: (creates/s, requests, server CPU microseconds per create).
async fn creates(args: &Args, server: &Server, tag: &str) -> (f64, u64, f64) {
    let tag = tag.to_string();
    let cpu = server.cpu_seconds();
    let o = drive(
        "creates",
        &server.target,
        args.connections,
        Pace::Closed(Duration::from_secs_f64(args.seconds)),
        move |s: Slot| Call::with(Method::POST, "/Users", user_body(&tag, s.n), 201),
    )
    .await;
    assert_eq!(o.errors, 0, "creates failed");
    let cpu_us = (server.cpu_seconds() - cpu) * 1e6 / o.requests.max(1) as f64;
    (o.rps(), o.requests, cpu_us)
}

pub async fn run(args: &Args) -> Value {
    let server = Server::start(&args.server_bin_resolved, &ServerOptions::default());
    let command = commands(args, &server);
    drop(server);

    // Creates at full speed with and without an attached, idle dashboard, paired rounds.
    let mut rounds = Vec::new();
    let mut cpus = Vec::new();
    let mut live = Vec::new();
    for round in 0..args.rounds.max(1) {
        let order = if round % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        let mut pair = [0.0f64; 2];
        let mut cpu = [0.0f64; 2];
        for with in order {
            let server = Server::start(&args.server_bin_resolved, &ServerOptions::default());
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let seen = Arc::new(Seen::default());
            let dashboard = with.then(|| {
                tokio::spawn(attached_dashboard(
                    server.socket(),
                    seen.clone(),
                    stop.clone(),
                ))
            });
            // Let it attach and load.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let (rps, requests, cpu_us) =
                creates(args, &server, &format!("a{round}{}", u8::from(with))).await;
            pair[usize::from(with)] = rps;
            cpu[usize::from(with)] = cpu_us;
            if let Some(d) = dashboard {
                // The last tenth of a second's tally.
                tokio::time::sleep(Duration::from_millis(500)).await;
                stop.store(true, Ordering::Relaxed);
                let _ = tokio::time::timeout(Duration::from_secs(5), d).await;
                live.push((
                    rps,
                    requests,
                    seen.tallied.load(Ordering::Relaxed),
                    seen.shown.load(Ordering::Relaxed),
                    seen.missed.load(Ordering::Relaxed),
                    seen.worst_age_ms.load(Ordering::Relaxed),
                    seen.frames.load(Ordering::Relaxed),
                ));
            }
        }
        println!(
            "admin, attached dashboard, round {}: creates {:.0}/s without, {:.0}/s with ({:.1}%); server CPU per create {:.1} us without, {:.1} us with",
            round + 1,
            pair[0],
            pair[1],
            100.0 * pair[1] / pair[0],
            cpu[0],
            cpu[1]
        );
        rounds.push(pair);
        cpus.push(cpu);
    }
    let ratios: Vec<f64> = rounds.iter().map(|p| p[1] / p[0]).collect();
    let m = median(&ratios);
    println!(
        "admin, attached dashboard: creates with it at a median {:.1}% of without (paired rounds: {})",
        m * 100.0,
        ratios
            .iter()
            .map(|r| format!("{:.1}%", r * 100.0))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let cpu_ratios: Vec<f64> = cpus.iter().map(|c| c[1] / c[0]).collect();
    let cpu_m = median(&cpu_ratios);
    println!(
        "admin, attached dashboard: server CPU per create with it at a median {:.1}% of without (paired rounds: {})",
        cpu_m * 100.0,
        cpu_ratios
            .iter()
            .map(|r| format!("{:.1}%", r * 100.0))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (rps, requests, tallied, shown, missed, worst, frames) in &live {
        println!(
            "admin, attached dashboard's live activity under {rps:.0} creates/s: {requests} requests made, {tallied} counted by the stream (exact: {}), {shown} lines shown ({:.0}%), {missed} missed; the oldest line shown was {worst} ms old on arrival; {frames} frames drawn",
            tallied == requests,
            100.0 * *shown as f64 / (*requests).max(1) as f64,
        );
    }
    json!({
        "commands": command,
        "attached_dashboard": {
            "rounds": rounds.iter().zip(&cpus).map(|(p, c)| json!({"without": p[0], "with": p[1], "cpu_us_per_create_without": c[0], "cpu_us_per_create_with": c[1]})).collect::<Vec<_>>(),
            "median_ratio": m,
            "median_cpu_ratio": cpu_m,
            "live": live.iter().map(|(rps, requests, tallied, shown, missed, worst, frames)| json!({
                "creates_per_second": rps, "requests": requests, "counted": tallied,
                "shown": shown, "missed": missed, "oldest_shown_ms": worst, "frames": frames,
            })).collect::<Vec<_>>(),
        },
    })
}
