//! The load generator: `connections` keep-alive HTTP/1.1 connections (hyper's client), each
//! sending one request after another for a fixed time (closed loop), or at a fixed total rate
//! (open loop, latency measured from the time each request was due, as wrk2 does).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;

use crate::report::{Latencies, Outcome};

pub const OKTA: &str = "Okta SCIM Client 1.0.0";
pub const ENTRA: &str = "Microsoft.Identity.Provisioning";

/// Where requests go: the server, its bearer token and the organization's base path.
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub auth: String,
    pub base: String,
}

/// One request to send.
pub struct Call {
    pub method: Method,
    /// Under the target's base path, or absolute when it starts with `/scim` or is `/`.
    pub path: String,
    pub body: Option<Bytes>,
    pub agent: &'static str,
    /// The status that counts as success (0: any 2xx).
    pub expect: u16,
}

impl Call {
    pub fn get(path: impl Into<String>) -> Call {
        Call {
            method: Method::GET,
            path: path.into(),
            body: None,
            agent: OKTA,
            expect: 200,
        }
    }

    pub fn with(method: Method, path: impl Into<String>, body: Vec<u8>, expect: u16) -> Call {
        Call {
            method,
            path: path.into(),
            body: Some(Bytes::from(body)),
            agent: OKTA,
            expect,
        }
    }

    pub fn agent(mut self, agent: &'static str) -> Call {
        self.agent = agent;
        self
    }

    /// Any 2xx counts as success (a PATCH may answer 200 or 204).
    pub fn expect_any_success(mut self) -> Call {
        self.expect = 0;
        self
    }

    fn succeeded(&self, status: u16) -> bool {
        if self.expect == 0 {
            (200..300).contains(&status)
        } else {
            status == self.expect
        }
    }
}

/// The reply to one call.
pub struct Reply {
    pub status: u16,
    pub body: Bytes,
}

/// A kept-alive connection.
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    target: Target,
}

impl Conn {
    pub async fn open(target: &Target) -> std::io::Result<Conn> {
        let stream = tokio::net::TcpStream::connect(target.addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(connection);
        Ok(Conn {
            sender,
            target: target.clone(),
        })
    }

    /// Sends a call and reads the whole reply.
    pub async fn call(&mut self, c: &Call) -> std::io::Result<Reply> {
        let path = if c.path.starts_with("/scim") || c.path == "/" || c.path.starts_with("/healthz")
        {
            c.path.clone()
        } else {
            format!("{}{}", self.target.base, c.path)
        };
        let mut req = Request::builder()
            .method(c.method.clone())
            .uri(path)
            .header("host", "bench")
            .header("authorization", &self.target.auth)
            .header("user-agent", c.agent);
        if c.body.is_some() {
            req = req.header("content-type", "application/scim+json");
        }
        let req = req
            .body(Full::new(c.body.clone().unwrap_or_default()))
            .map_err(std::io::Error::other)?;
        self.sender.ready().await.map_err(std::io::Error::other)?;
        let reply = self
            .sender
            .send_request(req)
            .await
            .map_err(std::io::Error::other)?;
        let status = reply.status().as_u16();
        let body = reply
            .into_body()
            .collect()
            .await
            .map_err(std::io::Error::other)?
            .to_bytes();
        Ok(Reply { status, body })
    }
}

/// How a run is paced.
#[derive(Clone, Copy, Debug)]
pub enum Pace {
    /// Each connection sends its next request as soon as the last is answered, for this long.
    Closed(Duration),
    /// This many requests per second in all, spread over the connections, for this long;
    /// latency counts from when each request was due.
    Rate(f64, Duration),
    /// Exactly this many requests, as fast as they are answered (for setup).
    Count(u64),
}

/// Which request of a run this is.
#[derive(Clone, Copy, Debug)]
pub struct Slot {
    /// Counts the run's requests from 0, across connections.
    pub n: u64,
    /// The connection sending it, and how many it sent before.
    pub conn: usize,
    pub k: u64,
}

/// Runs `make(slot)` on `connections` connections.
pub async fn drive<F>(
    name: &str,
    target: &Target,
    connections: usize,
    pace: Pace,
    make: F,
) -> Outcome
where
    F: Fn(Slot) -> Call + Send + Sync + 'static,
{
    drive_with(name, target, connections, pace, make, |_, _| {}).await
}

/// [`drive`], calling `answered(slot, reply)` as each reply arrives.
pub async fn drive_with<F, A>(
    name: &str,
    target: &Target,
    connections: usize,
    pace: Pace,
    make: F,
    answered: A,
) -> Outcome
where
    F: Fn(Slot) -> Call + Send + Sync + 'static,
    A: Fn(Slot, &Reply) + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let answered = Arc::new(answered);
    let counter = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let server_errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for conn_no in 0..connections {
        let answered = answered.clone();
        let (make, counter, errors, server_errors, target) = (
            make.clone(),
            counter.clone(),
            errors.clone(),
            server_errors.clone(),
            target.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut conn = match Conn::open(&target).await {
                Ok(c) => c,
                Err(_) => {
                    server_errors.fetch_add(1, Ordering::Relaxed);
                    return lat;
                }
            };
            let mut k: u64 = 0;
            loop {
                // When this request is due (open loop) or now (closed loop).
                let due = match pace {
                    Pace::Closed(d) => {
                        if started.elapsed() >= d {
                            break;
                        }
                        Instant::now()
                    }
                    Pace::Rate(rate, d) => {
                        let per_conn = rate / connections as f64;
                        let offset = (k as f64 + conn_no as f64 / connections as f64) / per_conn;
                        let due = started + Duration::from_secs_f64(offset);
                        if due.duration_since(started) >= d {
                            break;
                        }
                        tokio::time::sleep_until(due.into()).await;
                        due
                    }
                    Pace::Count(_) => Instant::now(),
                };
                let n = counter.fetch_add(1, Ordering::Relaxed);
                if let Pace::Count(total) = pace
                    && n >= total
                {
                    break;
                }
                let slot = Slot {
                    n,
                    conn: conn_no,
                    k,
                };
                let call = make(slot);
                k += 1;
                match conn.call(&call).await {
                    Ok(r) => {
                        answered(slot, &r);
                        if !call.succeeded(r.status) {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                        if r.status >= 500 {
                            server_errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        server_errors.fetch_add(1, Ordering::Relaxed);
                        match Conn::open(&target).await {
                            Ok(c) => conn = c,
                            Err(_) => break,
                        }
                    }
                }
                lat.push(due.elapsed().as_secs_f64() * 1000.0);
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("a load task panicked"));
    }
    let seconds = started.elapsed().as_secs_f64();
    Outcome {
        name: name.to_string(),
        requests: all.len() as u64,
        errors: errors.load(Ordering::Relaxed),
        server_errors: server_errors.load(Ordering::Relaxed),
        seconds,
        latency: Latencies::new(all),
        ceiling: None,
        size: Default::default(),
        memory: None,
        extra: Default::default(),
    }
}

/// One request on a fresh connection, for setup and probes.
pub async fn once(target: &Target, call: &Call) -> Reply {
    let mut conn = Conn::open(target).await.expect("connect to the server");
    conn.call(call).await.expect("a reply")
}
