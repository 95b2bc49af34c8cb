//! A webhook receiver for tests: a real HTTP server on 127.0.0.1:0 (its own runtime, on its own
//! thread) that records every delivery and answers as the test says: 200, another status,
//! a redirect, or never.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use warp::Filter;

/// How the receiver answers.
#[derive(Debug, Clone)]
pub enum Answer {
    Status(u16),
    /// 302 to this location.
    Redirect(String),
    /// Never answers (the sender times out).
    Hang,
    /// This status after a pause.
    Slow(Duration, u16),
}

/// One delivery as received.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    pub at: Instant,
    /// The status it was answered with (None: hung).
    pub answered: Option<u16>,
}

impl Delivery {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(String::as_str)
            .unwrap_or_default()
    }

    pub fn cursor(&self) -> String {
        self.json()["cursor"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub fn org(&self) -> String {
        self.json()["organization"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

type Rule = Box<dyn Fn(&Value, usize) -> Answer + Send + Sync>;

struct Shared {
    log: Mutex<Vec<Delivery>>,
    rule: Mutex<Rule>,
}

pub struct Receiver {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    /// A receiver answering 200 to everything.
    pub fn start() -> Receiver {
        Receiver::start_on("127.0.0.1:0".parse().unwrap())
    }

    pub fn start_on(addr: SocketAddr) -> Receiver {
        let shared = Arc::new(Shared {
            log: Mutex::new(Vec::new()),
            rule: Mutex::new(Box::new(|_, _| Answer::Status(200))),
        });
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let s = shared.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let route = warp::post()
                    .and(warp::header::headers_cloned())
                    .and(warp::body::bytes())
                    .then(move |headers: warp::http::HeaderMap, body: bytes::Bytes| {
                        let s = s.clone();
                        async move { answer(&s, headers, body).await }
                    });
                let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                warp::serve(route)
                    .incoming(listener)
                    .graceful(async {
                        let _ = stopped.await;
                    })
                    .run()
                    .await;
            });
        });
        Receiver {
            addr: addr_rx.recv().unwrap(),
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Answers by `rule(event, n)`: `n` counts deliveries received so far (from 0).
    pub fn answer(&self, rule: impl Fn(&Value, usize) -> Answer + Send + Sync + 'static) {
        *self.shared.rule.lock().unwrap() = Box::new(rule);
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.log.lock().unwrap().clone()
    }

    /// Waits until `done(deliveries)` holds; panics after `within`.
    pub fn wait_until(
        &self,
        within: Duration,
        what: &str,
        done: impl Fn(&[Delivery]) -> bool,
    ) -> Vec<Delivery> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.deliveries();
            if done(&got) {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "receiver: {what} not seen within {within:?}; got {} deliveries: {:?}",
                got.len(),
                got.iter()
                    .map(|d| (d.cursor(), d.answered))
                    .collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for at least `n` deliveries.
    pub fn wait_for(&self, n: usize, within: Duration) -> Vec<Delivery> {
        self.wait_until(within, &format!("{n} deliveries"), |d| d.len() >= n)
    }
}

async fn answer(
    s: &Shared,
    headers: warp::http::HeaderMap,
    body: bytes::Bytes,
) -> warp::reply::Response {
    use warp::Reply;
    let event: Value = serde_json::from_slice(&body).unwrap_or_default();
    let n = s.log.lock().unwrap().len();
    let answer = (s.rule.lock().unwrap())(&event, n);
    let answered = match &answer {
        Answer::Status(c) => Some(*c),
        Answer::Redirect(_) => Some(302),
        Answer::Hang => None,
        Answer::Slow(_, c) => Some(*c),
    };
    s.log.lock().unwrap().push(Delivery {
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    v.to_str().unwrap_or_default().to_string(),
                )
            })
            .collect(),
        body: body.to_vec(),
        at: Instant::now(),
        answered,
    });
    match answer {
        Answer::Status(c) => {
            let status = warp::http::StatusCode::from_u16(c).unwrap();
            warp::reply::with_status(format!("answered {c}"), status).into_response()
        }
        Answer::Redirect(to) => warp::reply::with_header(
            warp::reply::with_status("moved", warp::http::StatusCode::FOUND),
            "location",
            to,
        )
        .into_response(),
        Answer::Hang => std::future::pending().await,
        Answer::Slow(pause, c) => {
            tokio::time::sleep(pause).await;
            let status = warp::http::StatusCode::from_u16(c).unwrap();
            warp::reply::with_status(format!("answered {c}"), status).into_response()
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // A hung request keeps graceful shutdown waiting: do not join then.
        if let Some(t) = self.thread.take()
            && !self
                .shared
                .log
                .lock()
                .unwrap()
                .iter()
                .any(|d| d.answered.is_none())
        {
            let _ = t.join();
        }
    }
}
