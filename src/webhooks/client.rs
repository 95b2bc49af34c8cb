//! The one HTTP client every delivery goes through: hyper-util's pooled client over rustls
//! (the Mozilla roots, plus an operator's CA file), HTTP/1.1 with keep-alive, never following
//! a redirect, every attempt bounded by the configured timeout. Its resolver refuses names
//! that resolve to link-local or cloud metadata addresses, so a receiver's DNS cannot point
//! deliveries at them after the URL was checked.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioExecutor;

use crate::config::WebhooksConfig;
use crate::directory::{forbidden_ip, validate_webhook_url};

/// Reply bytes kept for the operator (the start of the body).
const SNIPPET: usize = 256;
/// Reply bytes read at most (more and the connection is dropped instead of reused).
const MAX_REPLY: usize = 64 * 1024;

pub const USER_AGENT: &str = concat!("scimdesk-webhooks/", env!("CARGO_PKG_VERSION"));

type Connector = hyper_rustls::HttpsConnector<HttpConnector<GuardedResolver>>;

/// A pooled client; clones share the pool.
#[derive(Clone)]
pub struct Client {
    http: HyperClient<Connector, Full<Bytes>>,
    timeout: Duration,
    allow_http: bool,
}

/// What a receiver made of one delivery.
#[derive(Debug, Clone)]
pub struct Reply {
    /// None when no reply came (timeout, connection refused, TLS failure).
    pub status: Option<u16>,
    pub latency: Duration,
    /// What went wrong (with the start of the reply's body when there was one).
    pub error: Option<String>,
}

impl Reply {
    pub fn delivered(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    pub fn gone(&self) -> bool {
        self.status == Some(410)
    }
}

/// One signed message.
pub struct Message {
    pub id: String,
    pub timestamp: i64,
    pub signature: String,
    pub body: Bytes,
}

impl Client {
    pub fn new(config: &WebhooksConfig) -> Result<Client, String> {
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        if let Some(path) = &config.ca_file {
            use rustls::pki_types::CertificateDer;
            use rustls::pki_types::pem::PemObject;
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("webhooks.ca_file {}: {e}", path.display()))?;
            if certs.is_empty() {
                return Err(format!(
                    "webhooks.ca_file {}: no certificate in it",
                    path.display()
                ));
            }
            for c in certs {
                roots
                    .add(c)
                    .map_err(|e| format!("webhooks.ca_file {}: {e}", path.display()))?;
            }
        }
        // ring, as everywhere in scimdesk (rustls marks it deprecated for lacking post-quantum
        // key exchange; aws-lc-rs would add a C toolchain to the build).
        #[allow(deprecated)]
        let provider = rustls::crypto::ring::default_provider();
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new_with_resolver(GuardedResolver);
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(config.timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let http = HyperClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(32)
            .build(https);
        Ok(Client {
            http,
            timeout: config.timeout,
            allow_http: config.allow_http,
        })
    }

    /// POSTs `msg` to `url` and reads the reply, all within the timeout.
    pub async fn post(&self, url: &str, msg: &Message) -> Reply {
        let started = Instant::now();
        let fail = |error: String| Reply {
            status: None,
            latency: started.elapsed(),
            error: Some(error),
        };
        // The URL was checked when added; checked again in case the configuration changed.
        if let Err(e) = validate_webhook_url(url, self.allow_http) {
            return fail(e);
        }
        let request = hyper::Request::post(url)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::USER_AGENT, USER_AGENT)
            .header("webhook-id", &msg.id)
            .header("webhook-timestamp", msg.timestamp.to_string())
            .header("webhook-signature", &msg.signature)
            .body(Full::new(msg.body.clone()));
        let request = match request {
            Ok(r) => r,
            Err(e) => return fail(format!("cannot make a request to {url}: {e}")),
        };
        let exchange = async {
            let reply = self.http.request(request).await.map_err(describe)?;
            let status = reply.status();
            let location = reply
                .headers()
                .get(hyper::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let mut body = reply.into_body();
            let mut kept = Vec::new();
            let mut read = 0;
            while read <= MAX_REPLY {
                match body.frame().await {
                    Some(Ok(frame)) => {
                        if let Some(data) = frame.data_ref() {
                            read += data.len();
                            let room = SNIPPET.saturating_sub(kept.len());
                            kept.extend_from_slice(&data[..data.len().min(room)]);
                        }
                    }
                    Some(Err(e)) => return Err(format!("reading the reply: {e}")),
                    None => break,
                }
            }
            Ok((status, location, kept))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => fail(format!(
                "no reply within {}",
                crate::util::display_duration(self.timeout)
            )),
            Ok(Err(e)) => fail(e),
            Ok(Ok((status, location, kept))) => {
                let snippet = snippet(&kept);
                let error = (!status.is_success()).then(|| {
                    let mut e = format!("{status}");
                    if status.is_redirection() {
                        e.push_str(&format!(
                            " (redirect to {} not followed)",
                            location.as_deref().unwrap_or("nowhere")
                        ));
                    }
                    if !snippet.is_empty() {
                        e.push_str(": ");
                        e.push_str(&snippet);
                    }
                    e
                });
                Reply {
                    status: Some(status.as_u16()),
                    latency: started.elapsed(),
                    error,
                }
            }
        }
    }
}

/// The start of a reply body on one line.
fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let trimmed = one_line.trim();
    if bytes.len() >= SNIPPET {
        format!("{trimmed}…")
    } else {
        trimmed.to_string()
    }
}

/// A client error in words, with its causes (hyper's own message is often "client error").
fn describe(e: hyper_util::client::legacy::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Resolves with the system resolver and keeps only addresses a receiver may have.
#[derive(Clone)]
pub struct GuardedResolver;

type Addrs = std::vec::IntoIter<SocketAddr>;

impl tower_service::Service<Name> for GuardedResolver {
    type Response = Addrs;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Addrs, std::io::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            guard(&host, found).map(Vec::into_iter)
        })
    }
}

/// The addresses of `host` a receiver may have; an error when none is left.
fn guard(host: &str, found: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, std::io::Error> {
    let mut why = None;
    let allowed: Vec<SocketAddr> = found
        .into_iter()
        .filter(|a| match forbidden_ip(a.ip()) {
            Some(w) => {
                why = Some((a.ip(), w));
                false
            }
            None => true,
        })
        .collect();
    match (allowed.is_empty(), why) {
        (true, Some((ip, w))) => Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("{host} resolves to {ip}, {w}: refused"),
        )),
        (true, None) => Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{host} has no address"),
        )),
        _ => Ok(allowed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolving_to_metadata_addresses_are_refused() {
        let a = |s: &str| -> SocketAddr { s.parse().unwrap() };
        let err = guard("evil.example", vec![a("169.254.169.254:0")]).unwrap_err();
        assert!(err.to_string().contains("169.254.169.254"), "{err}");
        assert!(guard("evil.example", vec![a("[fd00:ec2::254]:0")]).is_err());
        let mixed = guard("mixed.example", vec![a("169.254.1.1:0"), a("10.1.2.3:0")]).unwrap();
        assert_eq!(mixed, vec![a("10.1.2.3:0")]);
    }

    #[test]
    fn snippets_are_one_line_and_short() {
        assert_eq!(snippet(b"  bad\nrequest\r\n"), "bad request");
        let long = vec![b'x'; SNIPPET];
        assert!(snippet(&long).ends_with('…'));
    }
}
