//! [`Remote`]: the operator's operations over a running server's admin socket, so every command
//! and the dashboard work the same whether they hold the store or the server does.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;

use super::wire::{Call, Hello, Line};
use crate::activity::{ActivityEvent, ActivityQuery};
use crate::control::{
    ActivityFeed, AddedWebhook, AppKeyInfo, Control, Error, ErrorKind, EventBatch, EventQuery,
    FeedItem, FeedSummary, IssuedAppKey, IssuedKey, KeyInfo, NewWebhook, OrgDetail, OrgHealth,
    OrgSummary, ReplayFrom, ResourceDetail, ResourceRow, Result, SchemaInfo, WebhookDetail,
    WebhookInfo,
};
use crate::directory::{Attempt, CheckReport, Organization};
use crate::scim::schema::ResourceKind;

/// A running server, reached through its admin socket.
#[derive(Clone)]
pub struct Remote {
    path: PathBuf,
    hello: Hello,
}

/// The running server behind the socket at `path`; None when nothing listens there (no
/// socket, or one left by a server that is gone).
pub async fn connect(path: &Path) -> std::result::Result<Option<Remote>, String> {
    let reply = match request(path, Method::GET, "/admin/v1/hello", None).await {
        Ok(r) => r,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None);
        }
        Err(e) => {
            return Err(format!(
                "cannot reach the running server at {}: {e}",
                path.display()
            ));
        }
    };
    let (status, body) = collect(reply)
        .await
        .map_err(|e| format!("the server at {} did not answer: {e}", path.display()))?;
    if status != StatusCode::OK {
        return Err(format!("{} is not a scimdesk admin socket", path.display()));
    }
    let hello: Hello = serde_json::from_slice(&body)
        .map_err(|_| format!("{} is not a scimdesk admin socket", path.display()))?;
    Ok(Some(Remote {
        path: path.to_path_buf(),
        hello,
    }))
}

async fn request(
    path: &Path,
    method: Method,
    uri: &str,
    body: Option<Vec<u8>>,
) -> std::io::Result<hyper::Response<hyper::body::Incoming>> {
    let stream = tokio::net::UnixStream::connect(path).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(conn);
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header(hyper::header::HOST, "scimdesk")
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .map_err(std::io::Error::other)?;
    sender
        .send_request(req)
        .await
        .map_err(std::io::Error::other)
}

async fn collect(
    reply: hyper::Response<hyper::body::Incoming>,
) -> std::result::Result<(StatusCode, Bytes), String> {
    let status = reply.status();
    let body = reply
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, body))
}

fn unavailable(e: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Unavailable,
        format!("the running server stopped answering: {e}"),
    )
}

impl Remote {
    pub fn hello(&self) -> &Hello {
        &self.hello
    }

    async fn call<T: DeserializeOwned>(&self, call: Call) -> Result<T> {
        let (op, args) = call.split();
        let body = serde_json::to_vec(&args).unwrap_or_default();
        let reply = request(
            &self.path,
            Method::POST,
            &format!("/admin/v1/{op}"),
            Some(body),
        )
        .await
        .map_err(unavailable)?;
        let (status, body) = collect(reply).await.map_err(unavailable)?;
        if status == StatusCode::OK {
            return serde_json::from_slice(&body).map_err(|e| {
                Error::new(
                    ErrorKind::Unavailable,
                    format!("unreadable answer to {op}: {e}"),
                )
            });
        }
        #[derive(serde::Deserialize)]
        struct Refusal {
            error: Error,
        }
        match serde_json::from_slice::<Refusal>(&body) {
            Ok(r) => Err(r.error),
            Err(_) => Err(Error::new(
                ErrorKind::Unavailable,
                format!("{op}: the server answered {status}"),
            )),
        }
    }
}

/// The live activity stream of a running server.
struct RemoteFeed {
    body: hyper::body::Incoming,
    buf: Vec<u8>,
    ready: std::collections::VecDeque<FeedItem>,
}

#[async_trait::async_trait]
impl ActivityFeed for RemoteFeed {
    async fn next(&mut self) -> Option<FeedItem> {
        loop {
            if let Some(item) = self.ready.pop_front() {
                return Some(item);
            }
            let frame = self.body.frame().await?.ok()?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            self.buf.extend_from_slice(&data);
            while let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=end).collect();
                match serde_json::from_slice::<Line>(&line) {
                    Ok(Line::Event(e)) => self.ready.push_back(FeedItem::Shown(Arc::new(*e))),
                    Ok(Line::Tally { minutes, .. }) => {
                        self.ready.push_back(FeedItem::Tally(minutes))
                    }
                    Ok(Line::Missed(n)) => self.ready.push_back(FeedItem::Missed(n)),
                    Err(e) => tracing::warn!(error = %e, "unreadable activity line"),
                }
            }
        }
    }
}

#[async_trait::async_trait]
impl Control for Remote {
    fn mode(&self) -> String {
        format!("attached to pid {}", self.hello.pid)
    }

    fn scim_base_url(&self, org: &str) -> String {
        format!("{}/scim/v2/{org}", self.hello.public_url)
    }

    async fn list_orgs(&self) -> Result<Vec<OrgSummary>> {
        self.call(Call::ListOrgs).await
    }
    async fn org(&self, id: &str) -> Result<OrgDetail> {
        self.call(Call::Org { id: id.into() }).await
    }
    async fn create_org(&self, id: &str, name: &str) -> Result<Organization> {
        self.call(Call::CreateOrg {
            id: id.into(),
            name: name.into(),
        })
        .await
    }
    async fn rename_org(&self, id: &str, name: &str) -> Result<Organization> {
        self.call(Call::RenameOrg {
            id: id.into(),
            name: name.into(),
        })
        .await
    }
    async fn delete_org(&self, id: &str) -> Result<()> {
        self.call(Call::DeleteOrg { id: id.into() }).await
    }
    async fn set_scim(&self, id: &str, enabled: bool) -> Result<Organization> {
        self.call(Call::SetScim {
            id: id.into(),
            enabled,
        })
        .await
    }
    async fn add_domain(&self, org: &str, domain: &str) -> Result<Organization> {
        self.call(Call::AddDomain {
            org: org.into(),
            domain: domain.into(),
        })
        .await
    }
    async fn remove_domain(&self, org: &str, domain: &str) -> Result<Organization> {
        self.call(Call::RemoveDomain {
            org: org.into(),
            domain: domain.into(),
        })
        .await
    }
    async fn issue_key(&self, org: &str, name: Option<&str>) -> Result<IssuedKey> {
        self.call(Call::IssueKey {
            org: org.into(),
            name: name.map(str::to_string),
        })
        .await
    }
    async fn list_keys(&self, org: &str) -> Result<Vec<KeyInfo>> {
        self.call(Call::ListKeys { org: org.into() }).await
    }
    async fn revoke_key(&self, org: &str, key_id: &str) -> Result<KeyInfo> {
        self.call(Call::RevokeKey {
            org: org.into(),
            key_id: key_id.into(),
        })
        .await
    }
    async fn resource_ids(
        &self,
        org: &str,
        kind: ResourceKind,
        search: Option<&str>,
    ) -> Result<Vec<String>> {
        self.call(Call::ResourceIds {
            org: org.into(),
            kind,
            search: search.map(str::to_string),
        })
        .await
    }
    async fn resource_rows(
        &self,
        org: &str,
        kind: ResourceKind,
        ids: &[String],
    ) -> Result<Vec<ResourceRow>> {
        self.call(Call::ResourceRows {
            org: org.into(),
            kind,
            ids: ids.to_vec(),
        })
        .await
    }
    async fn resource_detail(
        &self,
        org: &str,
        kind: ResourceKind,
        id: &str,
        member_page: usize,
    ) -> Result<ResourceDetail> {
        self.call(Call::ResourceDetail {
            org: org.into(),
            kind,
            id: id.into(),
            member_page,
        })
        .await
    }
    async fn activity(&self, query: &ActivityQuery) -> Result<Vec<ActivityEvent>> {
        self.call(Call::Activity {
            query: query.clone(),
        })
        .await
    }
    async fn follow(&self) -> Result<Box<dyn ActivityFeed>> {
        let reply = request(&self.path, Method::GET, "/admin/v1/activity/stream", None)
            .await
            .map_err(unavailable)?;
        if reply.status() != StatusCode::OK {
            return Err(unavailable(reply.status()));
        }
        Ok(Box::new(RemoteFeed {
            body: reply.into_body(),
            buf: Vec::new(),
            ready: Default::default(),
        }))
    }
    async fn check(&self) -> Result<CheckReport> {
        self.call(Call::Check).await
    }
    async fn backup(
        &self,
        mut out: Box<dyn std::io::Write + Send>,
        mut progress: Box<dyn FnMut(u64) + Send>,
    ) -> Result<crate::store::BackupStats> {
        let reply = request(&self.path, Method::GET, "/admin/v1/backup", None)
            .await
            .map_err(unavailable)?;
        if reply.status() != StatusCode::OK {
            return Err(unavailable(reply.status()));
        }
        let mut body = reply.into_body();
        let (mut bytes, mut reported) = (0u64, 0u64);
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(unavailable)?;
            if let Ok(data) = frame.into_data() {
                out.write_all(&data)
                    .map_err(|e| Error::new(ErrorKind::Unavailable, e.to_string()))?;
                bytes += data.len() as u64;
                if bytes - reported >= 8 << 20 {
                    reported = bytes;
                    progress(bytes);
                }
            }
        }
        out.flush()
            .map_err(|e| Error::new(ErrorKind::Unavailable, e.to_string()))?;
        progress(bytes);
        Ok(crate::store::BackupStats {
            bytes,
            ..Default::default()
        })
    }
    async fn issue_app_key(&self, name: &str, org: Option<&str>) -> Result<IssuedAppKey> {
        self.call(Call::IssueAppKey {
            name: name.into(),
            org: org.map(str::to_string),
        })
        .await
    }
    async fn list_app_keys(&self) -> Result<Vec<AppKeyInfo>> {
        self.call(Call::ListAppKeys).await
    }
    async fn revoke_app_key(&self, id: &str) -> Result<AppKeyInfo> {
        self.call(Call::RevokeAppKey { id: id.into() }).await
    }
    async fn events(&self, query: &EventQuery) -> Result<EventBatch> {
        self.call(Call::Events {
            query: query.clone(),
        })
        .await
    }
    async fn declare_schema(
        &self,
        document: &str,
        org: Option<&str>,
        kind: Option<ResourceKind>,
    ) -> Result<SchemaInfo> {
        self.call(Call::DeclareSchema {
            document: document.into(),
            org: org.map(str::to_string),
            kind,
        })
        .await
    }
    async fn list_schemas(&self) -> Result<Vec<SchemaInfo>> {
        self.call(Call::ListSchemas).await
    }
    async fn remove_schema(&self, urn: &str, org: Option<&str>, force: bool) -> Result<SchemaInfo> {
        self.call(Call::RemoveSchema {
            urn: urn.into(),
            org: org.map(str::to_string),
            force,
        })
        .await
    }
    async fn org_health(&self, id: &str) -> Result<OrgHealth> {
        self.call(Call::OrgHealth { id: id.into() }).await
    }
    async fn export_page(
        &self,
        org: &str,
        kind: ResourceKind,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<serde_json::Value>> {
        self.call(Call::ExportPage {
            org: org.into(),
            kind,
            after: after.map(str::to_string),
            limit,
        })
        .await
    }
    async fn feed_summary(&self, org: &str) -> Result<FeedSummary> {
        self.call(Call::FeedSummary { org: org.into() }).await
    }
    async fn add_webhook(&self, new: &NewWebhook) -> Result<AddedWebhook> {
        self.call(Call::AddWebhook { new: new.clone() }).await
    }
    async fn list_webhooks(&self) -> Result<Vec<WebhookInfo>> {
        self.call(Call::ListWebhooks).await
    }
    async fn webhook(&self, id: &str) -> Result<WebhookDetail> {
        self.call(Call::Webhook { id: id.into() }).await
    }
    async fn remove_webhook(&self, id: &str) -> Result<()> {
        self.call(Call::RemoveWebhook { id: id.into() }).await
    }
    async fn set_webhook_enabled(&self, id: &str, enabled: bool) -> Result<WebhookInfo> {
        self.call(Call::SetWebhookEnabled {
            id: id.into(),
            enabled,
        })
        .await
    }
    async fn rotate_webhook_secret(&self, id: &str) -> Result<String> {
        self.call(Call::RotateWebhookSecret { id: id.into() }).await
    }
    async fn test_webhook(&self, id: &str) -> Result<Attempt> {
        self.call(Call::TestWebhook { id: id.into() }).await
    }
    async fn replay_webhook(&self, id: &str, from: &ReplayFrom) -> Result<WebhookInfo> {
        self.call(Call::ReplayWebhook {
            id: id.into(),
            from: from.clone(),
        })
        .await
    }
    async fn retry_webhook_now(&self, id: &str) -> Result<()> {
        self.call(Call::RetryWebhookNow { id: id.into() }).await
    }
}
