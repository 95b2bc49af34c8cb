//! Shared test helpers: a real server on 127.0.0.1:0 with a temporary store, organizations and
//! keys made through the directory, and a small raw HTTP/1.1 client (raw so tests can send
//! invalid UTF-8, doubled headers and odd framing).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

pub mod receiver;

use scimdesk::config::Config;
use scimdesk::directory::Directory;
use serde_json::Value;

pub struct TestServer {
    pub addr: SocketAddr,
    /// The application API.
    pub api: SocketAddr,
    pub dir: Directory,
    pub data: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    rt: Option<tokio::runtime::Runtime>,
    service: Option<scimdesk::service::Service>,
}

/// An organization with SCIM on, a domain and a key.
pub struct Tenant {
    pub id: String,
    pub secret: String,
    pub key_id: String,
}

pub fn config_for(data: &std::path::Path) -> Config {
    let mut c = Config::for_data_dir(data);
    c.store.cache_capacity = 16 << 20;
    c.server.public_url = "https://scim.test".into();
    c
}

impl TestServer {
    pub fn start() -> TestServer {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("store");
        let mut s = TestServer::start_on(data, config_for);
        s._tmp = Some(tmp);
        s
    }

    pub fn start_with(adjust: impl Fn(&mut Config)) -> TestServer {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("store");
        let mut s = TestServer::start_on(data, |p| {
            let mut c = config_for(p);
            adjust(&mut c);
            c
        });
        s._tmp = Some(tmp);
        s
    }

    /// A server whose webhook retries are timed by `clock`.
    pub fn start_with_clock(
        adjust: impl Fn(&mut Config),
        clock: std::sync::Arc<dyn scimdesk::webhooks::Clock>,
    ) -> TestServer {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("store");
        let mut s = TestServer::start_on_with(
            data,
            |p| {
                let mut c = config_for(p);
                adjust(&mut c);
                c
            },
            clock,
        );
        s._tmp = Some(tmp);
        s
    }

    fn start_on(data: PathBuf, config: impl Fn(&std::path::Path) -> Config) -> TestServer {
        TestServer::start_on_with(
            data,
            config,
            std::sync::Arc::new(scimdesk::webhooks::SystemClock),
        )
    }

    fn start_on_with(
        data: PathBuf,
        config: impl Fn(&std::path::Path) -> Config,
        clock: std::sync::Arc<dyn scimdesk::webhooks::Clock>,
    ) -> TestServer {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = Directory::open(config(&data)).unwrap();
        let service = rt
            .block_on(async {
                let scim = scimdesk::server::bind("127.0.0.1:0".parse().unwrap()).unwrap();
                let api = scimdesk::server::bind("127.0.0.1:0".parse().unwrap()).unwrap();
                scimdesk::service::Service::start_with_clock(
                    dir.clone(),
                    scim,
                    Some(api),
                    None,
                    clock,
                )
            })
            .unwrap();
        TestServer {
            addr: service.scim_addr,
            api: service.api_addr.unwrap(),
            dir,
            data,
            _tmp: None,
            rt: Some(rt),
            service: Some(service),
        }
    }

    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.as_ref().unwrap().block_on(f)
    }

    /// Creates an organization with SCIM on, `domains`, and a key.
    pub fn tenant(&self, id: &str, domains: &[&str]) -> Tenant {
        self.block_on(async {
            self.dir.create_org(id, &id.to_uppercase()).await.unwrap();
            for d in domains {
                self.dir.add_domain(id, d).await.unwrap();
            }
            self.dir.set_scim_enabled(id, true).await.unwrap();
            let key = self.dir.issue_key(id, Some("test")).await.unwrap();
            Tenant {
                id: id.to_string(),
                secret: key.secret,
                key_id: key.key.id,
            }
        })
    }

    /// Stops the server gracefully and releases the store.
    pub fn stop(&mut self) {
        if let (Some(service), Some(rt)) = (self.service.take(), self.rt.as_ref()) {
            rt.block_on(service.shutdown());
        }
    }

    /// Stops and starts again on the same store; returns the new server (the temp dir moves).
    pub fn restart(mut self) -> TestServer {
        self.stop();
        let tmp = self._tmp.take();
        let data = self.data.clone();
        drop(self);
        let mut s = TestServer::start_on(data, config_for);
        s._tmp = tmp;
        s
    }

    pub fn client(&self, tenant: &Tenant) -> Client {
        Client {
            addr: self.addr,
            base: format!("/scim/v2/{}", tenant.id),
            auth: Some(format!("Bearer {}", tenant.secret)),
        }
    }

    pub fn anonymous(&self) -> Client {
        Client {
            addr: self.addr,
            base: String::new(),
            auth: None,
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} is not JSON ({e}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Asserts a SCIM error with this status and scimType.
    pub fn assert_error(&self, status: u16, scim_type: Option<&str>) -> Value {
        assert_eq!(
            self.status,
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(self.header("content-type"), Some("application/scim+json"));
        let v = self.json();
        assert_eq!(
            v["schemas"],
            serde_json::json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
        );
        assert_eq!(v["status"], Value::String(status.to_string()));
        assert!(v["detail"].is_string());
        assert_eq!(v.get("scimType").and_then(Value::as_str), scim_type, "{v}");
        v
    }
}

#[derive(Clone)]
pub struct Client {
    pub addr: SocketAddr,
    /// Path prefix for relative paths (`/scim/v2/{org}`).
    pub base: String,
    pub auth: Option<String>,
}

impl Client {
    pub fn with_auth(&self, auth: Option<&str>) -> Client {
        Client {
            auth: auth.map(str::to_string),
            ..self.clone()
        }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("/scim") || path.starts_with("/healthz") || self.base.is_empty() {
            path.to_string()
        } else {
            format!("{}{}", self.base, path)
        }
    }

    pub fn get(&self, path: &str) -> Response {
        self.send("GET", path, None, &[])
    }

    pub fn delete(&self, path: &str) -> Response {
        self.send("DELETE", path, None, &[])
    }

    pub fn post(&self, path: &str, body: &Value) -> Response {
        self.send(
            "POST",
            path,
            Some(&serde_json::to_vec(body).unwrap()),
            &[("Content-Type", "application/scim+json")],
        )
    }

    pub fn put(&self, path: &str, body: &Value) -> Response {
        self.send(
            "PUT",
            path,
            Some(&serde_json::to_vec(body).unwrap()),
            &[("Content-Type", "application/scim+json")],
        )
    }

    pub fn patch(&self, path: &str, body: &Value) -> Response {
        self.send(
            "PATCH",
            path,
            Some(&serde_json::to_vec(body).unwrap()),
            &[("Content-Type", "application/scim+json")],
        )
    }

    /// Sends one request on a new connection; `headers` are added after Host/Authorization.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        headers: &[(&str, &str)],
    ) -> Response {
        let mut req = format!(
            "{method} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.url(path),
            self.addr
        );
        if let Some(auth) = &self.auth {
            req.push_str(&format!("Authorization: {auth}\r\n"));
        }
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(b) = body {
            req.push_str(&format!("Content-Length: {}\r\n", b.len()));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        if let Some(b) = body {
            bytes.extend_from_slice(b);
        }
        self.raw(&bytes)
    }

    /// POSTs JSON; None when no reply came (the server is gone).
    pub fn try_post(&self, path: &str, body: &Value) -> Option<Response> {
        let body = serde_json::to_vec(body).unwrap();
        let mut req = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\n",
            self.url(path),
            self.addr,
            body.len()
        );
        if let Some(auth) = &self.auth {
            req.push_str(&format!("Authorization: {auth}\r\n"));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(&body);
        let mut stream = TcpStream::connect(self.addr).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .ok()?;
        stream.write_all(&bytes).ok()?;
        let mut buf = Vec::new();
        let _ = stream.read_to_end(&mut buf);
        buf.windows(4)
            .any(|w| w == b"\r\n\r\n")
            .then(|| parse_response(&buf))
    }

    /// Sends raw bytes and parses the reply.
    pub fn raw(&self, request: &[u8]) -> Response {
        let mut stream = TcpStream::connect(self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        // The server may answer (413) before reading everything; a failed write is fine.
        let _ = stream.write_all(request);
        let mut buf = Vec::new();
        let _ = stream.read_to_end(&mut buf);
        parse_response(&buf)
    }
}

pub fn parse_response(buf: &[u8]) -> Response {
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(buf)));
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = buf[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let line_end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let size =
                usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap().trim(), 16)
                    .unwrap();
            rest = &rest[line_end + 2..];
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[..size]);
            rest = &rest[size + 2..];
        }
        body = out;
    }
    Response {
        status,
        headers,
        body,
    }
}

pub fn patch_ops(ops: Value) -> Value {
    serde_json::json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
}

/// A minimal user body.
pub fn user(user_name: &str) -> Value {
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"value": user_name, "type": "work", "primary": true}],
        "active": true
    })
}

/// Creates a user and returns its id.
pub fn create_user(c: &Client, user_name: &str) -> String {
    let r = c.post("/Users", &user(user_name));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()["id"].as_str().unwrap().to_string()
}

/// Creates a group and returns its id.
pub fn create_group(c: &Client, name: &str, members: &[&str]) -> String {
    let members: Vec<Value> = members
        .iter()
        .map(|m| serde_json::json!({"value": m}))
        .collect();
    let r = c.post(
        "/Groups",
        &serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name, "members": members}),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()["id"].as_str().unwrap().to_string()
}

/// Ids of a group's members, read back over HTTP.
pub fn member_ids(c: &Client, group: &str) -> Vec<String> {
    let r = c.get(&format!("/Groups/{group}"));
    assert_eq!(r.status, 200);
    let mut ids: Vec<String> = r.json()["members"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| m["value"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

/// The real binary on a temporary config and store, for process-level tests.
pub struct Installation {
    pub dir: tempfile::TempDir,
}

impl Installation {
    /// A config listening on `listen` with its store in the temporary directory.
    pub fn new(listen: &str) -> Installation {
        Installation::with(listen, "")
    }

    /// A config like [`Installation::new`]'s with more keys in `[server]`.
    pub fn with(listen: &str, server_extra: &str) -> Installation {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.toml"),
            format!("[server]\nlisten = \"{listen}\"\npublic_url = \"https://scim.test\"\n{server_extra}\n[api]\nlisten = \"127.0.0.1:0\"\n[store]\ndata_dir = \"store\"\ncache_capacity_mb = 16\n"),
        )
        .unwrap();
        Installation { dir }
    }

    /// The admin socket of a running `serve`.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("store").join("admin.sock")
    }

    pub fn cmd(&self) -> std::process::Command {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_scimdesk"));
        c.arg("--config").arg(self.dir.path().join("config.toml"));
        c
    }

    pub fn run(&self, args: &[&str]) -> std::process::Output {
        self.cmd().args(args).output().unwrap()
    }

    /// Starts `serve`, waits for its banner and returns the child and the address it printed.
    pub fn serve(&self) -> (std::process::Child, SocketAddr) {
        let (child, scim, _) = self.serve_with_api();
        (child, scim)
    }

    /// Like [`Installation::serve`], also returning the application API's address.
    pub fn serve_with_api(&self) -> (std::process::Child, SocketAddr, Option<SocketAddr>) {
        use std::io::BufRead;
        let mut child = self
            .cmd()
            .arg("serve")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
        // Log lines may come first; the banner names the addresses.
        let banner = lines
            .by_ref()
            .map(|l| l.unwrap())
            .find(|l| l.contains("serving SCIM on http://"))
            .expect("serve printed its banner");
        std::thread::spawn(move || for _ in lines {});
        let after = |marker: &str| {
            banner
                .split(marker)
                .nth(1)
                .and_then(|s| s.split(|c: char| c.is_whitespace() || c == '/').next())
                .and_then(|a| a.parse().ok())
        };
        let scim =
            after("serving SCIM on http://").unwrap_or_else(|| panic!("no address in {banner:?}"));
        (child, scim, after("application API on http://"))
    }
}
