//! The processes the bench measures: `scimdesk serve` as a user runs it (its own process, its
//! own store, set up with the real command line), and the HTTP ceiling server (this binary
//! re-run as `ceiling-server`). Memory is read from the server process's /proc entry.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::load::Target;
use crate::report::Memory;

/// How the server under test is configured.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    pub activity: bool,
    pub events: bool,
    pub max_records_per_org: usize,
    pub cache_mb: u64,
    /// Webhook endpoints added (with the command line) before the server starts.
    pub webhooks: Vec<String>,
    /// More configuration, appended to the file.
    pub extra_config: String,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            activity: true,
            events: true,
            max_records_per_org: 100_000,
            cache_mb: 64,
            webhooks: Vec::new(),
            extra_config: String::new(),
        }
    }
}

/// The activity log's totals as the server last reported them (debug log).
#[derive(Clone, Copy, Debug, Default)]
pub struct ActivityTotals {
    pub stored: u64,
    pub dropped: u64,
    pub retained: u64,
}

/// A running `scimdesk serve` on a fresh store with one organization (`bench`) and a key.
pub struct Server {
    child: Child,
    pub target: Target,
    /// The application API, with an application key.
    pub api: Target,
    pub dir: tempfile::TempDir,
    /// (when the line arrived, totals) from the activity log's debug lines.
    totals: Arc<Mutex<Vec<(Instant, ActivityTotals)>>>,
}

/// The `scimdesk` binary beside this one (the same target directory), built if missing.
pub fn server_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the bench's own path");
    let bin = exe.with_file_name("scimdesk");
    if !bin.exists() {
        let profile = exe
            .parent()
            .and_then(Path::file_name)
            .and_then(|p| p.to_str())
            .unwrap_or("release")
            .to_string();
        eprintln!("building the scimdesk binary ({profile}) first...");
        let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        build.args(["build", "-p", "scimdesk", "--bin", "scimdesk"]);
        if profile == "release" {
            build.arg("--release");
        }
        let ok = build.status().map(|s| s.success()).unwrap_or(false);
        assert!(ok && bin.exists(), "could not build {}", bin.display());
    }
    bin
}

fn cli(bin: &Path, config: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new(bin)
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("run scimdesk");
    assert!(
        out.status.success(),
        "scimdesk {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Reads a `field:` of /proc/PID/status in MiB.
fn proc_mib(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
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

/// Parses `stored=N dropped=N retained=N` out of a log line.
fn parse_totals(line: &str) -> Option<ActivityTotals> {
    if !line.contains("activity records stored") {
        return None;
    }
    let field = |name: &str| -> Option<u64> {
        let at = line.find(&format!("{name}="))? + name.len() + 1;
        line[at..]
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    Some(ActivityTotals {
        stored: field("stored")?,
        dropped: field("dropped")?,
        retained: field("retained").unwrap_or(0),
    })
}

impl Server {
    /// Sets up a store with the command line, then starts `serve` on an ephemeral port.
    pub fn start(bin: &Path, opts: &ServerOptions) -> Server {
        let dir = tempfile::tempdir_in(crate::scratch_dir()).expect("temp dir");
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"127.0.0.1:0\"\n[api]\nlisten = \"127.0.0.1:0\"\n[store]\ndata_dir = \"store\"\ncache_capacity_mb = {}\n[activity]\nenabled = {}\nmax_records_per_org = {}\n[events]\nenabled = {}\n{}",
                opts.cache_mb, opts.activity, opts.max_records_per_org, opts.events, opts.extra_config
            ),
        )
        .expect("write config");
        cli(bin, &config, &["org", "create", "bench", "--name", "Bench"]);
        cli(bin, &config, &["domain", "add", "bench", "bench.example"]);
        cli(bin, &config, &["org", "scim", "bench", "on"]);
        let issued = cli(
            bin,
            &config,
            &["--json", "key", "issue", "bench", "--name", "bench"],
        );
        let issued: Value = serde_json::from_slice(&issued.stdout).expect("key JSON");
        let secret = issued["secret"].as_str().expect("a secret").to_string();
        let app = cli(
            bin,
            &config,
            &["--json", "app-key", "issue", "--name", "bench"],
        );
        let app: Value = serde_json::from_slice(&app.stdout).expect("app key JSON");
        let app_secret = app["secret"].as_str().expect("a secret").to_string();
        for url in &opts.webhooks {
            cli(bin, &config, &["webhook", "add", url]);
        }
        let mut child = Command::new(bin)
            .arg("--config")
            .arg(&config)
            .arg("serve")
            .env(
                "SCIMDESK_LOG",
                "warn,scimdesk::directory::activity_log=debug",
            )
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start scimdesk serve");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let banner = lines
            .by_ref()
            .map_while(Result::ok)
            .find(|l| l.contains("serving SCIM on http://"))
            .expect("serve printed its banner");
        let after = |marker: &str| -> Option<SocketAddr> {
            banner
                .split(marker)
                .nth(1)?
                .split(|c: char| c.is_whitespace() || c == '/')
                .next()?
                .parse()
                .ok()
        };
        let addr = after("serving SCIM on http://").expect("an address in the banner");
        let api = after("application API on http://").expect("the API's address in the banner");
        let totals = Arc::new(Mutex::new(Vec::new()));
        let sink = totals.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if let Some(t) = parse_totals(&line) {
                    sink.lock().unwrap().push((Instant::now(), t));
                }
            }
        });
        Server {
            child,
            target: Target {
                addr,
                auth: format!("Bearer {secret}"),
                base: "/scim/v2/bench".into(),
            },
            api: Target {
                addr: api,
                auth: format!("Bearer {app_secret}"),
                base: String::new(),
            },
            dir,
            totals,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Current RSS and high-water mark.
    pub fn memory_now(&self) -> (f64, f64) {
        (
            proc_mib(self.pid(), "VmRSS:"),
            proc_mib(self.pid(), "VmHWM:"),
        )
    }

    /// The activity totals the server reported last, at or before `at`.
    pub fn activity_totals(&self, at: Instant) -> ActivityTotals {
        self.totals
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|(t, _)| *t <= at)
            .map(|(_, v)| *v)
            .unwrap_or_default()
    }

    /// CPU time (user and system) the server process has used, in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        // Fields after the command name (which may hold spaces): utime is the 14th field of
        // the line, stime the 15th.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        // Safety: sysconf has no preconditions.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        (ticks(11) + ticks(12)) / per_second
    }

    /// The server's configuration file.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    /// The server's admin socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("store").join("admin.sock")
    }

    /// Bytes the store occupies on disk now.
    pub fn disk_bytes(&self) -> u64 {
        dir_bytes(&self.dir.path().join("store"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dir_bytes(p: &Path) -> u64 {
    std::fs::read_dir(p)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_bytes(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Samples a process's RSS while a phase runs.
pub struct Sampler {
    peak: Arc<Mutex<f64>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    pid: u32,
}

impl Sampler {
    pub fn start(pid: u32) -> Sampler {
        let peak = Arc::new(Mutex::new(0.0f64));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (p, s) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                let rss = proc_mib(pid, "VmRSS:");
                let mut m = p.lock().unwrap();
                *m = m.max(rss);
                drop(m);
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Sampler { peak, stop, pid }
    }

    pub fn finish(self) -> Memory {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let rss_end = proc_mib(self.pid, "VmRSS:");
        let peak = self.peak.lock().unwrap().max(rss_end);
        Memory {
            rss_end,
            rss_peak: peak,
            hwm: proc_mib(self.pid, "VmHWM:"),
        }
    }
}

/// The HTTP ceiling: this binary run as `ceiling-server`, a warp route returning a fixed JSON
/// body of the size of a user, in its own process like the server under test.
pub struct CeilingServer {
    child: Child,
    pub target: Target,
}

impl CeilingServer {
    pub fn start(body_len: usize) -> CeilingServer {
        let exe = std::env::current_exe().expect("the bench's own path");
        let mut child = Command::new(exe)
            .args(["ceiling-server", "--body-len", &body_len.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the ceiling server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the ceiling server's address");
        let addr = line.trim().parse().expect("an address");
        CeilingServer {
            child,
            target: Target {
                addr,
                auth: "Bearer x".into(),
                base: String::new(),
            },
        }
    }
}

impl Drop for CeilingServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `scimdesk-bench ceiling-server`: serves a fixed body until killed.
pub async fn serve_ceiling(body_len: usize) {
    use warp::Filter;
    let body: String = format!(
        "{{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"pad\":\"{}\"}}",
        "x".repeat(body_len.saturating_sub(60))
    );
    let route = warp::any().map(move || {
        warp::reply::with_header(body.clone(), "content-type", "application/scim+json")
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    println!("{}", listener.local_addr().expect("address"));
    warp::serve(route).incoming(listener).run().await;
}

#[cfg(test)]
mod tests {
    #[test]
    fn activity_totals_are_read_from_the_debug_line() {
        let line = "2026-12-05T10:00:00Z DEBUG scimdesk::directory::activity_log: activity records stored batch=32 stored=1234 dropped=0 retained=20100";
        let t = super::parse_totals(line).unwrap();
        assert_eq!((t.stored, t.dropped, t.retained), (1234, 0, 20100));
        assert!(super::parse_totals("something else stored=1").is_none());
    }
}
