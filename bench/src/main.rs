//! scimdesk-bench: runs `scimdesk serve` as its own process on fresh stores and drives it over
//! HTTP, each scenario at the store size its label states, with the machine's ceilings (a
//! fixed-body warp server in its own process, and durable writes through the store's writer
//! and group commit) measured right before and after every scenario. See BENCHMARKS.md.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod attach;
mod dashboard;
mod feed;
mod load;
mod onoff;
mod process;
mod report;
mod scenarios;
mod soak;
mod webhooks;

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use serde_json::{Map, Value, json};

use process::{Server, ServerOptions};
use report::{Outcome, print_header, print_row};
use scenarios::{Ceilings, populate};

#[derive(Parser, Debug, Clone)]
#[command(
    name = "scimdesk-bench",
    about = "Benchmarks of scimdesk (see BENCHMARKS.md)"
)]
pub struct Args {
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 16)]
    pub connections: usize,
    /// Seconds each scenario runs.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Seconds each ceiling measurement runs (before and after every scenario).
    #[arg(long, default_value_t = 2.0)]
    pub ceiling_seconds: f64,
    /// Users in the large store (and members of the large group, less 1,000).
    #[arg(long, default_value_t = 100_000)]
    pub large: u64,
    /// Parts to run: main, tail (with main), large, activity, feed, webhooks, dashboard,
    /// admin.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "main,tail,large,activity,feed,webhooks,dashboard,admin"
    )]
    pub only: Vec<String>,
    /// Rounds of the recording on/off comparison.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Events in the store the feed-reading figure reads.
    #[arg(long, default_value_t = 1_000_000)]
    pub feed_events: u64,
    /// Events in the backlog the webhook figures build with the receiver down (one endpoint;
    /// a tenth of it for ten endpoints).
    #[arg(long, default_value_t = 1_000_000)]
    pub webhook_backlog: u64,
    /// Run mixed Okta and Entra traffic for this many seconds instead, reporting every 10 s.
    #[arg(long)]
    pub soak: Option<u64>,
    /// Where the whole report is written as one JSON document.
    #[arg(long, default_value = "target/bench.json")]
    pub json: PathBuf,
    /// The scimdesk binary (default: beside this one, built if missing).
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Internal>,
    /// Resolved `server_bin`.
    #[arg(skip)]
    pub server_bin_resolved: PathBuf,
}

#[derive(Subcommand, Debug, Clone)]
enum Internal {
    /// Serve a fixed body (the HTTP ceiling); started by the bench itself.
    #[command(hide = true)]
    CeilingServer {
        #[arg(long)]
        body_len: usize,
    },
}

/// Where stores are made: the system's temporary directory. The figures mean durable writes,
/// so it must be a real disk, not tmpfs.
pub fn scratch_dir() -> PathBuf {
    std::env::temp_dir()
}

fn on_tmpfs(p: &std::path::Path) -> bool {
    let Ok(mounts) = std::fs::read_to_string("/proc/mounts") else {
        return false;
    };
    let p = p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((f.get(1)?.to_string(), f.get(2)?.to_string()))
        })
        .filter(|(mount, _)| p.starts_with(mount))
        .max_by_key(|(mount, _)| mount.len())
        .is_some_and(|(_, fs)| fs == "tmpfs" || fs == "ramfs")
}

impl Args {
    fn wants(&self, part: &str) -> bool {
        self.only.iter().any(|o| o == part)
    }
}

#[tokio::main]
async fn main() {
    let mut args = Args::parse();
    if let Some(Internal::CeilingServer { body_len }) = args.command {
        process::serve_ceiling(body_len).await;
        return;
    }
    args.server_bin_resolved = args
        .server_bin
        .clone()
        .unwrap_or_else(process::server_binary);
    let args = args;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "scimdesk-bench: {} connections, {}s per scenario, ceilings {}s before and after each, {cores} cores, server {}",
        args.connections,
        args.seconds,
        args.ceiling_seconds,
        args.server_bin_resolved.display()
    );
    if on_tmpfs(&scratch_dir()) {
        eprintln!(
            "warning: {} is on tmpfs: flushes cost nothing there, so durable-write figures would overstate a real disk; set TMPDIR to a directory on disk",
            scratch_dir().display()
        );
    }
    let mut report = Map::new();
    report.insert(
        "machine".into(),
        json!({"cores": cores, "connections": args.connections, "seconds": args.seconds}),
    );
    if let Some(seconds) = args.soak {
        report.insert("soak".into(), soak::run(&args, seconds).await);
        write_report(&args, report);
        return;
    }
    let ceilings = Ceilings::start(&args);
    let mut rows: Vec<Outcome> = Vec::new();
    print_header();
    let emit = |rows: &mut Vec<Outcome>, o: Outcome| {
        print_row(&o);
        rows.push(o);
    };

    if args.wants("main") {
        let server = Server::start(&args.server_bin_resolved, &ServerOptions::default());
        emit(
            &mut rows,
            scenarios::creates(&args, &ceilings, &server, "c").await,
        );
        drop(server);
        let server = Server::start(&args.server_bin_resolved, &ServerOptions::default());
        let t = server.target.clone();
        let ids = Arc::new(populate(&t, 1_000, "s", args.connections).await);
        let gid = scenarios::group(&t, "ten", &ids[..10]).await;
        let pool = Arc::new(ids[10..].to_vec());
        let store = scenarios::Populated {
            server: &server,
            ids: ids.clone(),
            tag: "s",
            group: &gid,
            pool,
            label: "1k users".into(),
            group_label: "10-member group".into(),
        };
        for o in scenarios::at_size(&args, &ceilings, store).await {
            emit(&mut rows, o);
        }
        report.insert("disk_bytes_1k".into(), json!(server.disk_bytes()));
        if args.wants("tail") {
            // Open loop at half of the closed-loop maximum just measured: latency from when each
            // request was due, so a stall shows in every request queued behind it.
            let rate_of = |prefix: &str| {
                rows.iter()
                    .find(|r| r.name.starts_with(prefix))
                    .map_or(1000.0, Outcome::rps)
            };
            for o in scenarios::tail(
                &args,
                &server,
                ids.clone(),
                rate_of("GET /Users/{id} (1k") / 2.0,
                rate_of("creates POST /Users") / 2.0,
            )
            .await
            {
                emit(&mut rows, o);
            }
        }
    }

    if args.wants("large") {
        let server = Server::start(&args.server_bin_resolved, &ServerOptions::default());
        let t = server.target.clone();
        let started = std::time::Instant::now();
        let sampler = process::Sampler::start(server.pid());
        let ids = Arc::new(populate(&t, args.large, "l", args.connections).await);
        let populate_memory = sampler.finish();
        let populate_seconds = started.elapsed().as_secs_f64();
        let k = args.large / 1000;
        let outside = 1_000.min(ids.len() / 2);
        let in_group = &ids[..ids.len() - outside];
        let gid = scenarios::group(&t, "large", in_group).await;
        let pool = Arc::new(ids[ids.len() - outside..].to_vec());
        println!(
            "populated {} users in {populate_seconds:.1}s (server RSS peak {:.0} MiB), group of {} members",
            args.large,
            populate_memory.rss_peak,
            in_group.len()
        );
        let store = scenarios::Populated {
            server: &server,
            ids: ids.clone(),
            tag: "l",
            group: &gid,
            pool,
            label: format!("{k}k users"),
            group_label: format!("{}k-member group", in_group.len() / 1000),
        };
        for o in scenarios::at_size(&args, &ceilings, store).await {
            emit(&mut rows, o);
        }
        let disk = server.disk_bytes();
        report.insert(
            "large_store".into(),
            json!({
                "users": args.large,
                "populate_seconds": populate_seconds,
                "populate_server_rss_peak_mib": populate_memory.rss_peak,
                "disk_bytes": disk,
                "disk_bytes_per_user": disk as f64 / args.large.max(1) as f64,
            }),
        );
    }

    if args.wants("activity") {
        for workload in [onoff::Workload::Creates, onoff::Workload::Deactivations] {
            let (without, with, detail) =
                onoff::compare(&args, onoff::Switch::Recording, workload).await;
            report.insert(workload.key(onoff::Switch::Recording), detail);
            emit(&mut rows, without);
            emit(&mut rows, with);
        }
    }

    if args.wants("feed") {
        let (without, with, detail) =
            onoff::compare(&args, onoff::Switch::Events, onoff::Workload::Creates).await;
        report.insert(onoff::Workload::Creates.key(onoff::Switch::Events), detail);
        emit(&mut rows, without);
        emit(&mut rows, with);
        report.insert("feed".into(), feed::run(&args).await);
    }

    if args.wants("webhooks") {
        report.insert("webhooks".into(), webhooks::run(&args).await);
    }

    if args.wants("dashboard") {
        report.insert("dashboard".into(), dashboard::run(&args).await);
    }

    if args.wants("admin") {
        report.insert("admin".into(), attach::run(&args).await);
    }

    println!();
    print_header();
    for r in &rows {
        print_row(r);
    }
    report.insert(
        "scenarios".into(),
        Value::Array(rows.iter().map(Outcome::to_json).collect()),
    );
    write_report(&args, report);
}

fn write_report(args: &Args, report: Map<String, Value>) {
    if let Some(parent) = args.json.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    match std::fs::write(
        &args.json,
        serde_json::to_vec_pretty(&Value::Object(report)).expect("JSON"),
    ) {
        Ok(()) => println!("\nwrote {}", args.json.display()),
        Err(e) => eprintln!("could not write {}: {e}", args.json.display()),
    }
}
