//! scimdesk-bench: drives a real in-process server over HTTP with its own keep-alive load
//! generator, measures the machine's ceilings in the same run, and prints a table (and JSON).
//!
//!   cargo run --release --bin scimdesk-bench -- [--connections 16] [--seconds 3]
//!       [--large 100000] [--json target/bench.json] [--only NAME,...] [--rounds 3]
//!   cargo run --release --bin scimdesk-bench -- --soak 600
//!
//! Scenarios: creates, lookups, get-by-id, Okta deactivation, list pages, add-member, group
//! read with excludedAttributes=members; ceilings: a fixed-JSON warp route (HTTP) and raw store
//! writes acknowledged through the group commit (durable write); scale runs at 1,000 and
//! `--large` users; recording on/off; dashboard latency and frame time under load.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use scimdesk::config::Config;
use scimdesk::directory::Directory;

struct Args {
    connections: usize,
    seconds: f64,
    large: usize,
    json: PathBuf,
    only: Option<Vec<String>>,
    soak: Option<u64>,
    record: bool,
    rounds: usize,
}

fn parse_args() -> Args {
    let mut a = Args {
        connections: 16,
        seconds: 3.0,
        large: 100_000,
        json: PathBuf::from("target/bench.json"),
        only: None,
        soak: None,
        record: true,
        rounds: 3,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let v = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--connections" => a.connections = v.parse().expect("--connections N"),
            "--seconds" => a.seconds = v.parse().expect("--seconds S"),
            "--large" => a.large = v.parse().expect("--large N"),
            "--json" => a.json = PathBuf::from(v),
            "--only" => a.only = Some(v.split(',').map(str::to_string).collect()),
            "--soak" => a.soak = Some(v.parse().expect("--soak SECONDS")),
            "--rounds" => a.rounds = v.parse::<usize>().expect("--rounds N").max(1),
            "--no-activity" => {
                a.record = false;
                i += 1;
                continue;
            }
            "-h" | "--help" => {
                println!("see the top of src/bin/scimdesk-bench.rs");
                std::process::exit(0);
            }
            other => {
                eprintln!("error: unknown argument {other}");
                std::process::exit(2);
            }
        }
        i += 2;
    }
    a
}

// ----- a minimal keep-alive HTTP/1.1 client -----

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).ok();
        Conn {
            stream,
            buf: Vec::with_capacity(16 << 10),
        }
    }

    /// Sends one request and reads the reply; returns (status, body).
    async fn call(
        &mut self,
        method: &str,
        path: &str,
        auth: &str,
        body: Option<&[u8]>,
    ) -> (u16, Vec<u8>) {
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: {auth}\r\nUser-Agent: Okta SCIM Client (bench)\r\n"
        );
        if let Some(b) = body {
            req.push_str(&format!(
                "Content-Type: application/scim+json\r\nContent-Length: {}\r\n",
                b.len()
            ));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        if let Some(b) = body {
            bytes.extend_from_slice(b);
        }
        self.stream.write_all(&bytes).await.expect("write");
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).to_string();
                let status: u16 = head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                let total = end + 4 + len;
                while self.buf.len() < total {
                    self.fill().await;
                }
                let body = self.buf[end + 4..total].to_vec();
                self.buf.drain(..total);
                return (status, body);
            }
            self.fill().await;
        }
    }

    async fn fill(&mut self) {
        // Straight into the spare capacity: a zeroed scratch buffer per read showed up in
        // profiles as a large part of the load generator's own CPU time.
        self.buf.reserve(16 << 10);
        let n = self.stream.read_buf(&mut self.buf).await.expect("read");
        assert!(n > 0, "server closed the connection");
    }
}

// ----- measurement -----

#[derive(Debug, Clone, Default)]
struct Outcome {
    name: String,
    requests: u64,
    errors: u64,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
    ratio: Option<(String, f64)>,
}

impl Outcome {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.seconds.max(1e-9)
    }
    fn to_json(&self) -> Value {
        json!({
            "name": self.name, "requests": self.requests, "errors": self.errors,
            "seconds": self.seconds, "rps": self.rps(), "p50_ms": self.p50_ms, "p99_ms": self.p99_ms,
            "ratio": self.ratio.as_ref().map(|(of, r)| json!({"of": of, "ratio": r})),
        })
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Runs `op` on `connections` tasks for `seconds` (or until `limit` requests); `op` gets the
/// connection and a global request number and returns whether the reply was the expected one.
async fn drive<F, Fut>(
    name: &str,
    addr: SocketAddr,
    connections: usize,
    seconds: f64,
    limit: Option<u64>,
    op: F,
) -> Outcome
where
    F: Fn(Conn, u64) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = (Conn, bool)> + Send,
{
    let counter = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (op, counter, errors) = (op.clone(), counter.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr).await;
            let mut lat = Vec::new();
            loop {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                if Instant::now() >= deadline || limit.is_some_and(|l| n >= l) {
                    break;
                }
                let t = Instant::now();
                let (c, ok) = op(conn, n).await;
                conn = c;
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
                if !ok {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("load task"));
    }
    let seconds = started.elapsed().as_secs_f64();
    all.sort_by(|a, b| a.partial_cmp(b).unwrap());
    Outcome {
        name: name.into(),
        requests: all.len() as u64,
        errors: errors.load(Ordering::Relaxed),
        seconds,
        p50_ms: percentile(&all, 0.5),
        p99_ms: percentile(&all, 0.99),
        ratio: None,
    }
}

/// A memory figure of this process from /proc/self/status, in MiB (0 where unavailable).
fn status_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn peak_rss_mib() -> f64 {
    status_mib("VmHWM:")
}

fn rss_mib() -> f64 {
    status_mib("VmRSS:")
}

// ----- the server under test -----

struct Server {
    addr: SocketAddr,
    dir: Directory,
    auth: String,
    base: String,
    _tmp: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

async fn start(activity: bool) -> Server {
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut config = Config::for_data_dir(&tmp.path().join("store"));
    config.activity.enabled = activity;
    // Small enough that runs spend most of their time at the retention limit, trimming as they
    // record: the steady state of a busy organization.
    config.activity.max_records_per_org = 20_000;
    let dir = Directory::open(config).expect("open store");
    dir.create_org("bench", "Bench").await.unwrap();
    dir.add_domain("bench", "bench.example").await.unwrap();
    dir.set_scim_enabled("bench", true).await.unwrap();
    let key = dir.issue_key("bench", Some("bench")).await.unwrap();
    let listener = scimdesk::server::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(scimdesk::server::serve(dir.clone(), listener, async {
        let _ = stopped.await;
    }));
    Server {
        addr,
        dir,
        auth: format!("Bearer {}", key.secret),
        base: "/scim/v2/bench".into(),
        _tmp: tmp,
        stop: Some(stop),
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

fn user_body(i: u64, tag: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": format!("{tag}{i}@bench.example"),
        "name": {"givenName": "Bench", "familyName": format!("User{i}")},
        "emails": [{"value": format!("{tag}{i}@bench.example"), "type": "work", "primary": true}],
        "externalId": format!("ext-{tag}{i}"),
        "active": true
    }))
    .unwrap()
}

/// Creates `n` users as fast as possible; returns their ids in order.
async fn populate(s: &Server, n: usize, tag: &str, connections: usize) -> Vec<String> {
    let ids = Arc::new(std::sync::Mutex::new(vec![String::new(); n]));
    let (auth, path) = (s.auth.clone(), format!("{}/Users", s.base));
    let ids2 = ids.clone();
    let tag = tag.to_string();
    let out = drive(
        "populate",
        s.addr,
        connections,
        3600.0,
        Some(n as u64),
        move |mut c, i| {
            let (auth, path, ids, tag) = (auth.clone(), path.clone(), ids2.clone(), tag.clone());
            async move {
                let (status, body) = c
                    .call("POST", &path, &auth, Some(&user_body(i, &tag)))
                    .await;
                if status == 201 {
                    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    ids.lock().unwrap()[i as usize] =
                        v["id"].as_str().unwrap_or_default().to_string();
                }
                (c, status == 201)
            }
        },
    )
    .await;
    assert_eq!(out.errors, 0, "populating failed");
    Arc::try_unwrap(ids).unwrap().into_inner().unwrap()
}

async fn create_group(s: &Server, name: &str, members: &[String]) -> String {
    let mut c = Conn::open(s.addr).await;
    let (status, body) = c
        .call(
            "POST",
            &format!("{}/Groups", s.base),
            &s.auth,
            Some(&serde_json::to_vec(&json!({"displayName": name})).unwrap()),
        )
        .await;
    assert_eq!(status, 201);
    let id = serde_json::from_slice::<Value>(&body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    for chunk in members.chunks(1000) {
        let value: Vec<Value> = chunk.iter().map(|m| json!({"value": m})).collect();
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "add", "path": "members", "value": value}]});
        let (status, _) = c
            .call(
                "PATCH",
                &format!("{}/Groups/{id}", s.base),
                &s.auth,
                Some(&serde_json::to_vec(&body).unwrap()),
            )
            .await;
        assert_eq!(status, 200);
    }
    id
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*: fast and good enough to pick random records.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn pick(ids: &[String], n: u64) -> &str {
    let mut r = Rng(n.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    &ids[(r.next() % ids.len() as u64) as usize]
}

/// Okta's deactivation PATCH (`replace active`), alternating false and true, over `ids`.
async fn deactivations(s: &Server, ids: Arc<Vec<String>>, args: &Args, name: &str) -> Outcome {
    let (auth, base) = (s.auth.clone(), s.base.clone());
    drive(name, s.addr, args.connections, args.seconds, None, move |mut c, n| {
        let (auth, base, ids) = (auth.clone(), base.clone(), ids.clone());
        async move {
            let body = format!(
                r#"{{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{{"op":"replace","value":{{"active":{}}}}}]}}"#,
                n % 2 == 1
            );
            let path = format!("{base}/Users/{}", pick(&ids, n));
            let (status, _) = c.call("PATCH", &path, &auth, Some(body.as_bytes())).await;
            (c, status == 200)
        }
    })
    .await
}

#[derive(Clone, Copy)]
enum Workload {
    Creates,
    Deactivations,
}

impl Workload {
    fn label(self) -> &'static str {
        match self {
            Workload::Creates => "creates",
            Workload::Deactivations => "Okta deactivation PATCH (1k users)",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Workload::Creates => "activity_paired_ratio_median_creates",
            Workload::Deactivations => "activity_paired_ratio_median_deactivations",
        }
    }
}

/// Write throughput with activity recording on and off: `--rounds` rounds (3 unless told),
/// alternating which side goes first, each on a fresh store. Returns the median run of each
/// side (single runs on a shared 2-core machine vary by about 10%) and the median of the
/// rounds' own on/off ratios, which the machine drifting between rounds does not move.
async fn compare_recording(args: &Args, workload: Workload) -> (Outcome, Outcome, f64) {
    let name = |side: &str| {
        format!(
            "{}, activity recording {side} (median of {})",
            workload.label(),
            args.rounds
        )
    };
    let (on_name, off_name) = (name("on"), name("off"));
    let mut on_runs = Vec::new();
    let mut off_runs = Vec::new();
    for round in 0..args.rounds {
        for recording in [round % 2 == 0, round % 2 != 0] {
            let s = start(recording).await;
            let name = if recording { &on_name } else { &off_name };
            let (run, earlier) = match workload {
                Workload::Creates => (creates(&s, args, "a", name).await, 0),
                Workload::Deactivations => {
                    // Creating the users is recorded too: not part of the run.
                    const USERS: usize = 1_000;
                    let ids = Arc::new(populate(&s, USERS, "p", args.connections).await);
                    (deactivations(&s, ids, args, name).await, USERS as u64)
                }
            };
            let stored = if recording {
                // Recording is only cheap if it is complete: every request is stored.
                s.dir.activity().close();
                format!(
                    ", {} records stored for {} requests, {} dropped",
                    s.dir.activity().stored().saturating_sub(earlier),
                    run.requests,
                    s.dir.activity().dropped()
                )
            } else {
                String::new()
            };
            println!(
                "  {} round {round}: recording {}: {:.0} req/s{stored}",
                workload.label(),
                if recording { "on " } else { "off" },
                run.rps()
            );
            if recording {
                on_runs.push(run);
            } else {
                off_runs.push(run);
            }
        }
    }
    let mut paired: Vec<f64> = on_runs
        .iter()
        .zip(&off_runs)
        .map(|(on, off)| on.rps() / off.rps().max(1e-9))
        .collect();
    paired.sort_by(f64::total_cmp);
    let paired_median = percentile(&paired, 0.5);
    println!(
        "  {}: per-round on/off ratios {}; median {:.0}%",
        workload.label(),
        paired
            .iter()
            .map(|r| format!("{:.0}%", r * 100.0))
            .collect::<Vec<_>>()
            .join(" "),
        paired_median * 100.0
    );
    let median = |mut runs: Vec<Outcome>| {
        runs.sort_by(|a, b| a.rps().total_cmp(&b.rps()));
        runs.swap_remove(runs.len() / 2)
    };
    (median(off_runs), median(on_runs), paired_median)
}

/// The read scenarios over a populated server.
async fn read_scenarios(
    s: &Server,
    ids: Arc<Vec<String>>,
    tag: &str,
    args: &Args,
    label: &str,
) -> Vec<Outcome> {
    let mut out = Vec::new();
    let (auth, base) = (s.auth.clone(), s.base.clone());
    let n_users = ids.len();
    {
        let (auth, base, tag) = (auth.clone(), base.clone(), tag.to_string());
        out.push(
            drive(
                &format!("lookup userName eq ({label})"),
                s.addr,
                args.connections,
                args.seconds,
                None,
                move |mut c, n| {
                    let (auth, base, tag) = (auth.clone(), base.clone(), tag.clone());
                    async move {
                        let i = Rng(n | 1).next() % n_users as u64;
                        let path = format!(
                            "{base}/Users?filter=userName%20eq%20%22{tag}{i}%40bench.example%22"
                        );
                        let (status, body) = c.call("GET", &path, &auth, None).await;
                        (
                            c,
                            status == 200 && body.windows(17).any(|w| w == b"\"totalResults\":1,"),
                        )
                    }
                },
            )
            .await,
        );
    }
    {
        let (auth, base, ids) = (auth.clone(), base.clone(), ids.clone());
        out.push(
            drive(
                &format!("GET /Users/{{id}} ({label})"),
                s.addr,
                args.connections,
                args.seconds,
                None,
                move |mut c, n| {
                    let (auth, base, ids) = (auth.clone(), base.clone(), ids.clone());
                    async move {
                        let path = format!("{base}/Users/{}", pick(&ids, n));
                        let (status, _) = c.call("GET", &path, &auth, None).await;
                        (c, status == 200)
                    }
                },
            )
            .await,
        );
    }
    out.push(
        deactivations(
            s,
            ids.clone(),
            args,
            &format!("Okta deactivation PATCH ({label})"),
        )
        .await,
    );
    {
        let (auth, base) = (auth.clone(), base.clone());
        out.push(
            drive(
                &format!("list page of 100 ({label})"),
                s.addr,
                args.connections,
                args.seconds,
                None,
                move |mut c, n| {
                    let (auth, base) = (auth.clone(), base.clone());
                    async move {
                        let start =
                            Rng(n | 1).next() % n_users.saturating_sub(100).max(1) as u64 + 1;
                        let path = format!("{base}/Users?startIndex={start}&count=100");
                        let (status, _) = c.call("GET", &path, &auth, None).await;
                        (c, status == 200)
                    }
                },
            )
            .await,
        );
    }
    out
}

/// Adding one member per request to a group that already has `existing` members, then reading
/// the group without members.
async fn group_scenarios(
    s: &Server,
    pool: Arc<Vec<String>>,
    existing: usize,
    args: &Args,
    label: &str,
) -> Vec<Outcome> {
    let members: Vec<String> = pool.iter().take(existing).cloned().collect();
    let gid = create_group(s, &format!("group-{label}"), &members).await;
    let candidates = Arc::new(pool.iter().skip(existing).cloned().collect::<Vec<_>>());
    let mut out = Vec::new();
    {
        let (auth, base, gid, candidates) = (
            s.auth.clone(),
            s.base.clone(),
            gid.clone(),
            candidates.clone(),
        );
        let limit = candidates.len() as u64;
        out.push(
            drive(&format!("add 1 member ({label})"), s.addr, args.connections, args.seconds, Some(limit), move |mut c, n| {
                let (auth, base, gid, candidates) = (auth.clone(), base.clone(), gid.clone(), candidates.clone());
                async move {
                    let body = format!(r#"{{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{{"op":"add","path":"members","value":[{{"value":"{}"}}]}}]}}"#, candidates[n as usize]);
                    let (status, _) = c.call("PATCH", &format!("{base}/Groups/{gid}"), &auth, Some(body.as_bytes())).await;
                    (c, status == 200)
                }
            })
            .await,
        );
    }
    {
        let (auth, base, gid) = (s.auth.clone(), s.base.clone(), gid.clone());
        out.push(
            drive(
                &format!("GET group excludedAttributes=members ({label})"),
                s.addr,
                args.connections,
                args.seconds,
                None,
                move |mut c, _| {
                    let (auth, base, gid) = (auth.clone(), base.clone(), gid.clone());
                    async move {
                        let (status, body) = c
                            .call(
                                "GET",
                                &format!("{base}/Groups/{gid}?excludedAttributes=members"),
                                &auth,
                                None,
                            )
                            .await;
                        (
                            c,
                            status == 200 && !body.windows(9).any(|w| w == b"\"members\""),
                        )
                    }
                },
            )
            .await,
        );
    }
    out
}

async fn creates(s: &Server, args: &Args, tag: &str, name: &str) -> Outcome {
    let (auth, path, tag) = (s.auth.clone(), format!("{}/Users", s.base), tag.to_string());
    drive(
        name,
        s.addr,
        args.connections,
        args.seconds,
        None,
        move |mut c, n| {
            let (auth, path, tag) = (auth.clone(), path.clone(), tag.clone());
            async move {
                let (status, _) = c
                    .call("POST", &path, &auth, Some(&user_body(n, &tag)))
                    .await;
                (c, status == 201)
            }
        },
    )
    .await
}

/// The HTTP ceiling: a warp route answering a fixed JSON body of the size of a user.
async fn http_ceiling(args: &Args, body_len: usize) -> Outcome {
    use warp::Filter;
    let body: &'static str = Box::leak(
        format!(
            "{{\"pad\":\"{}\"}}",
            "x".repeat(body_len.saturating_sub(10))
        )
        .into_boxed_str(),
    );
    let route = warp::any()
        .map(move || warp::reply::with_header(body, "content-type", "application/scim+json"));
    let listener = scimdesk::server::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(
        warp::serve(route)
            .incoming(listener)
            .graceful(async {
                let _ = stopped.await;
            })
            .run(),
    );
    let out = drive(
        "HTTP ceiling (fixed JSON)",
        addr,
        args.connections,
        args.seconds,
        None,
        |mut c, _| async move {
            let (status, _) = c.call("GET", "/", "none", None).await;
            (c, status == 200)
        },
    )
    .await;
    let _ = stop.send(());
    out
}

/// The durable-write ceiling: raw store writes of a user-sized value, each acknowledged after
/// a flush through the same group commit, at the same concurrency.
async fn durable_ceiling(args: &Args, value_len: usize) -> Outcome {
    let tmp = tempfile::tempdir().unwrap();
    let store = scimdesk::store::Store::open(tmp.path(), 64 << 20).unwrap();
    let value = Arc::new(vec![b'v'; value_len]);
    let counter = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(args.seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.connections {
        let (store, value, counter) = (store.clone(), value.clone(), counter.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                store
                    .write_scratch(format!("k{n}").as_bytes(), &value)
                    .await
                    .unwrap();
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_by(|a, b| a.partial_cmp(b).unwrap());
    Outcome {
        name: "durable-write ceiling (raw store + group commit)".into(),
        requests: all.len() as u64,
        errors: 0,
        seconds: started.elapsed().as_secs_f64(),
        p50_ms: percentile(&all, 0.5),
        p99_ms: percentile(&all, 0.99),
        ratio: None,
    }
}

/// Dashboard figures: time from a SCIM write being acknowledged to its line being drawn, and
/// frame time, while the server sustains writes.
async fn dashboard(args: &Args) -> Value {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    let s = start(true).await;
    let mut app = scimdesk::tui::app::App::new(
        std::sync::Arc::new(scimdesk::control::Local::new(s.dir.clone(), "bench")),
        s.addr.to_string(),
    );
    app.load().await;
    app.update(scimdesk::tui::app::Action::GoActivity).await;
    let mut feed = s.dir.activity().subscribe();
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    let load = {
        let (auth, path) = (s.auth.clone(), format!("{}/Users", s.base));
        let seconds = args.seconds.max(3.0);
        tokio::spawn(drive(
            "creates during dashboard",
            s.addr,
            args.connections,
            seconds,
            None,
            move |mut c, n| {
                let (auth, path) = (auth.clone(), path.clone());
                async move {
                    let (status, _) = c
                        .call("POST", &path, &auth, Some(&user_body(n, "ui")))
                        .await;
                    (c, status == 201)
                }
            },
        ))
    };
    let mut frame = tokio::time::interval(scimdesk::tui::FRAME);
    let mut pending: Vec<time::OffsetDateTime> = Vec::new();
    let mut to_screen = Vec::new();
    let mut frames = Vec::new();
    let mut shown_ok = 0u64;
    while !load.is_finished() {
        tokio::select! {
            e = feed.recv() => {
                if let Ok(e) = e {
                    pending.push(e.time);
                    app.on_activity(e);
                }
            }
            _ = frame.tick() => {
                let t = Instant::now();
                terminal.draw(|f| { scimdesk::tui::screens::draw(f, &app); }).unwrap();
                frames.push(t.elapsed().as_secs_f64() * 1000.0);
                let drawn = scimdesk::store::now();
                // The newest record is the top line of the feed.
                let newest = app.activity.events.front().map(|e| e.summary.clone()).unwrap_or_default();
                let buffer = terminal.backend().buffer();
                let text: String = buffer.content().iter().map(|c| c.symbol()).collect();
                if !newest.is_empty() && text.contains(&newest[..newest.len().min(30)]) {
                    shown_ok += 1;
                }
                for t in pending.drain(..) {
                    to_screen.push((drawn - t).as_seconds_f64() * 1000.0);
                }
            }
        }
    }
    let load = load.await.unwrap();
    to_screen.sort_by(|a, b| a.partial_cmp(b).unwrap());
    frames.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let v = json!({
        "writes_per_second": load.rps(),
        "write_errors": load.errors,
        "write_to_screen_ms": {"p50": percentile(&to_screen, 0.5), "p99": percentile(&to_screen, 0.99), "max": to_screen.last().copied().unwrap_or(0.0), "events": to_screen.len()},
        "frame_ms": {"p50": percentile(&frames, 0.5), "p99": percentile(&frames, 0.99), "max": frames.last().copied().unwrap_or(0.0), "frames": frames.len()},
        "frames_showing_newest_record": shown_ok,
    });
    println!(
        "dashboard under {:.0} writes/s: write->screen p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; frame p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} frames)",
        load.rps(),
        percentile(&to_screen, 0.5),
        percentile(&to_screen, 0.99),
        to_screen.last().copied().unwrap_or(0.0),
        percentile(&frames, 0.5),
        percentile(&frames, 0.99),
        frames.last().copied().unwrap_or(0.0),
        frames.len()
    );
    v
}

/// Mixed Okta- and Entra-shaped traffic for `seconds`, reporting throughput and RSS over time.
async fn soak(args: &Args, seconds: u64) -> Value {
    let s = start(true).await;
    let ids = Arc::new(populate(&s, 2_000, "soak", args.connections).await);
    let gid = create_group(&s, "soak-group", &ids[..100]).await;
    let started = Instant::now();
    let mut samples = Vec::new();
    let mut total = 0;
    let mut errors = 0;
    let mut second = 0u64;
    while started.elapsed().as_secs() < seconds {
        let (auth, base, ids, gid) = (s.auth.clone(), s.base.clone(), ids.clone(), gid.clone());
        let o = drive("soak", s.addr, args.connections, 10.0_f64.min((seconds - started.elapsed().as_secs()).max(1) as f64), None, move |mut c, n| {
            let (auth, base, ids, gid) = (auth.clone(), base.clone(), ids.clone(), gid.clone());
            async move {
                let id = pick(&ids, n).to_string();
                let ok = match n % 6 {
                    0 => {
                        let i = Rng(n | 1).next() % ids.len() as u64;
                        let (st, _) = c.call("GET", &format!("{base}/Users?filter=userName%20eq%20%22soak{i}%40bench.example%22&startIndex=1&count=100"), &auth, None).await;
                        st == 200
                    }
                    1 => {
                        let body = format!(r#"{{"Operations":[{{"op":"replace","value":{{"active":{}}}}}]}}"#, n % 4 == 1);
                        c.call("PATCH", &format!("{base}/Users/{id}"), &auth, Some(body.as_bytes())).await.0 == 200
                    }
                    2 => {
                        let body = format!(r#"{{"Operations":[{{"op":"Replace","path":"name.familyName","value":"F{n}"}},{{"op":"Replace","path":"active","value":"True"}}]}}"#);
                        c.call("PATCH", &format!("{base}/Users/{id}"), &auth, Some(body.as_bytes())).await.0 == 200
                    }
                    3 => c.call("GET", &format!("{base}/Users/{id}"), &auth, None).await.0 == 200,
                    4 => {
                        let op = if n % 2 == 0 { "Add" } else { "Remove" };
                        let body = format!(r#"{{"Operations":[{{"op":"{op}","path":"members","value":[{{"value":"{id}"}}]}}]}}"#);
                        c.call("PATCH", &format!("{base}/Groups/{gid}"), &auth, Some(body.as_bytes())).await.0 == 200
                    }
                    _ => c.call("GET", &format!("{base}/Groups/{gid}?excludedAttributes=members"), &auth, None).await.0 == 200,
                };
                (c, ok)
            }
        })
        .await;
        total += o.requests;
        errors += o.errors;
        second += o.seconds.round() as u64;
        let rss = rss_mib();
        println!(
            "soak t={second:>4}s  {:>8.0} req/s  errors {:>3}  RSS {rss:.1} MiB",
            o.rps(),
            o.errors
        );
        samples.push(json!({"t": second, "rps": o.rps(), "errors": o.errors, "rss_mib": rss}));
    }
    json!({"seconds": seconds, "requests": total, "errors": errors, "samples": samples, "disk_bytes": s.dir.size_on_disk().unwrap_or(0)})
}

fn print_table(rows: &[Outcome]) {
    println!(
        "{:<52} {:>10} {:>9} {:>9} {:>7} {:>22}",
        "scenario", "req/s", "p50 ms", "p99 ms", "errors", "ratio"
    );
    for r in rows {
        let ratio = r
            .ratio
            .as_ref()
            .map(|(of, x)| format!("{:.0}% of {of}", x * 100.0))
            .unwrap_or_default();
        println!(
            "{:<52} {:>10.0} {:>9.2} {:>9.2} {:>7} {:>22}",
            r.name,
            r.rps(),
            r.p50_ms,
            r.p99_ms,
            r.errors,
            ratio
        );
    }
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    let wants = |name: &str| {
        args.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|x| x == name))
    };
    let mut report = BTreeMap::new();
    println!(
        "scimdesk-bench: {} connections, {}s per scenario, {} cores",
        args.connections,
        args.seconds,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );

    if let Some(seconds) = args.soak {
        let v = soak(&args, seconds).await;
        report.insert("soak", v);
        write_report(&args, &report);
        return;
    }

    let mut rows = Vec::new();
    // The size of a user as the server returns it, for the ceilings.
    let sample_len = 560;
    let http = http_ceiling(&args, sample_len).await;
    let durable = durable_ceiling(&args, sample_len).await;
    rows.push(http.clone());
    rows.push(durable.clone());
    let against = |mut o: Outcome, c: &Outcome, what: &str| {
        o.ratio = Some((what.into(), o.rps() / c.rps().max(1e-9)));
        o
    };

    if wants("main") {
        let s = start(args.record).await;
        rows.push(against(
            creates(&s, &args, "c", "durable creates POST /Users").await,
            &durable,
            "durable",
        ));
        let small = Arc::new(populate(&s, 1_000, "s", args.connections).await);
        let reads = read_scenarios(&s, small.clone(), "s", &args, "1k users").await;
        for r in reads {
            let is_write = r.name.starts_with("Okta");
            rows.push(if is_write {
                against(r, &durable, "durable")
            } else {
                against(r, &http, "HTTP")
            });
        }
        // Ten-member group: add members from a fresh pool.
        let pool = Arc::new(populate(&s, 20_000, "p", args.connections).await);
        for r in group_scenarios(&s, pool, 10, &args, "10-member group").await {
            rows.push(r);
        }
        report.insert("peak_rss_mib_small", json!(peak_rss_mib()));
    }

    if wants("large") {
        let s = start(args.record).await;
        let t = Instant::now();
        let ids = Arc::new(populate(&s, args.large, "l", args.connections).await);
        println!(
            "populated {} users in {:.1}s",
            args.large,
            t.elapsed().as_secs_f64()
        );
        let reads = read_scenarios(
            &s,
            ids.clone(),
            "l",
            &args,
            &format!("{}k users", args.large / 1000),
        )
        .await;
        rows.extend(reads);
        let extra = Arc::new(populate(&s, 20_000, "x", args.connections).await);
        let mut pool: Vec<String> = ids.iter().cloned().collect();
        pool.extend(extra.iter().cloned());
        let label = format!("{}k-member group", args.large / 1000);
        rows.extend(group_scenarios(&s, Arc::new(pool), args.large, &args, &label).await);
        report.insert("peak_rss_mib_large", json!(peak_rss_mib()));
        report.insert("disk_bytes_large", json!(s.dir.size_on_disk().unwrap_or(0)));
    }

    if wants("activity") {
        for workload in [Workload::Creates, Workload::Deactivations] {
            let (without, with, paired) = compare_recording(&args, workload).await;
            report.insert(workload.key(), json!(paired));
            rows.push(without);
            rows.push(against(with, &rows[rows.len() - 1], "recording off"));
        }
    }

    println!();
    print_table(&rows);
    let find = |prefix: &str| {
        rows.iter()
            .find(|r| r.name.starts_with(prefix))
            .map(Outcome::rps)
    };
    let mut scale = serde_json::Map::new();
    let large_k = args.large / 1000;
    if let (Some(a), Some(b)) = (
        find("lookup userName eq (1k"),
        find(&format!("lookup userName eq ({large_k}k")),
    ) {
        scale.insert("lookup_large_vs_small_latency_ratio".into(), json!(a / b));
        println!(
            "\nlookup: {large_k}k users take {:.2}x the time per request of 1k users (rps {a:.0} vs {b:.0})",
            a / b
        );
    }
    if let (Some(a), Some(b)) = (
        find("add 1 member (10-member"),
        find(&format!("add 1 member ({large_k}k-member")),
    ) {
        scale.insert(
            "add_member_large_vs_small_latency_ratio".into(),
            json!(a / b),
        );
        println!(
            "add member: a {large_k}k-member group takes {:.2}x the time per request of a 10-member group (rps {a:.0} vs {b:.0})",
            a / b
        );
    }
    if let Some(v) = report.get("peak_rss_mib_large") {
        println!(
            "peak RSS after the {large_k}k run: {v:.1} MiB; on disk: {} MiB",
            report
                .get("disk_bytes_large")
                .and_then(Value::as_u64)
                .unwrap_or(0)
                / (1 << 20)
        );
    }
    if wants("dashboard") {
        report.insert("dashboard", dashboard(&args).await);
    }
    report.insert(
        "scenarios",
        Value::Array(rows.iter().map(Outcome::to_json).collect()),
    );
    report.insert("scale", Value::Object(scale));
    write_report(&args, &report);
}

fn write_report(args: &Args, report: &BTreeMap<&str, Value>) {
    if let Some(parent) = args.json.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    match std::fs::write(&args.json, serde_json::to_vec_pretty(report).unwrap()) {
        Ok(()) => println!("\nwrote {}", args.json.display()),
        Err(e) => eprintln!("could not write {}: {e}", args.json.display()),
    }
}
