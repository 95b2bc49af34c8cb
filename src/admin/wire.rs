//! The admin API's calls: one per operation of [`Control`], each a `POST /admin/v1/{op}` with
//! its arguments as a JSON object and the operation's view (or `{"error": {"kind",
//! "message"}}`) as the reply. The client builds a [`Call`]; the server answers it with the
//! same [`Control`] the dashboard uses in-process, so both ends cannot disagree on an
//! operation's meaning.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::activity::ActivityQuery;
use crate::control::{self, Control, EventQuery, NewWebhook, ReplayFrom};
use crate::scim::schema::ResourceKind;

/// Every operation, with its arguments.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", content = "args", rename_all = "snake_case")]
pub enum Call {
    ListOrgs,
    Org {
        id: String,
    },
    CreateOrg {
        id: String,
        name: String,
    },
    RenameOrg {
        id: String,
        name: String,
    },
    DeleteOrg {
        id: String,
    },
    SetScim {
        id: String,
        enabled: bool,
    },
    AddDomain {
        org: String,
        domain: String,
    },
    RemoveDomain {
        org: String,
        domain: String,
    },
    IssueKey {
        org: String,
        name: Option<String>,
    },
    ListKeys {
        org: String,
    },
    RevokeKey {
        org: String,
        key_id: String,
    },
    ResourceIds {
        org: String,
        kind: ResourceKind,
        search: Option<String>,
    },
    ResourceRows {
        org: String,
        kind: ResourceKind,
        ids: Vec<String>,
    },
    ResourceDetail {
        org: String,
        kind: ResourceKind,
        id: String,
        member_page: usize,
    },
    Activity {
        query: ActivityQuery,
    },
    Check,
    IssueAppKey {
        name: String,
        org: Option<String>,
    },
    ListAppKeys,
    RevokeAppKey {
        id: String,
    },
    Events {
        query: EventQuery,
    },
    FeedSummary {
        org: String,
    },
    DeclareSchema {
        document: String,
        org: Option<String>,
        kind: Option<ResourceKind>,
    },
    ListSchemas,
    RemoveSchema {
        urn: String,
        org: Option<String>,
        force: bool,
    },
    OrgHealth {
        id: String,
    },
    ExportPage {
        org: String,
        kind: ResourceKind,
        after: Option<String>,
        limit: usize,
    },
    AddWebhook {
        new: NewWebhook,
    },
    ListWebhooks,
    Webhook {
        id: String,
    },
    RemoveWebhook {
        id: String,
    },
    SetWebhookEnabled {
        id: String,
        enabled: bool,
    },
    RotateWebhookSecret {
        id: String,
    },
    TestWebhook {
        id: String,
    },
    ReplayWebhook {
        id: String,
        from: ReplayFrom,
    },
    RetryWebhookNow {
        id: String,
    },
}

impl Call {
    /// The operation's name (the path segment) and its arguments.
    pub fn split(&self) -> (String, Value) {
        let v = serde_json::to_value(self).unwrap_or_default();
        let op = v["op"].as_str().unwrap_or_default().to_string();
        let args = v
            .get("args")
            .cloned()
            .unwrap_or(Value::Object(Default::default()));
        (op, args)
    }

    /// The call named `op` with `args` (an empty body for calls without arguments).
    pub fn join(op: &str, args: Value) -> Result<Call, String> {
        let mut v = serde_json::json!({ "op": op });
        let unit =
            matches!(&args, Value::Null) || matches!(&args, Value::Object(m) if m.is_empty());
        if !unit {
            v["args"] = args;
        }
        serde_json::from_value(v.clone())
            .or_else(|e| {
                // A call without arguments sent with `{}`.
                if unit {
                    v["args"] = Value::Object(Default::default());
                    serde_json::from_value(v)
                } else {
                    Err(e)
                }
            })
            .map_err(|e| format!("invalid call {op:?}: {e}"))
    }
}

fn to<T: Serialize>(r: control::Result<T>) -> control::Result<Value> {
    r.map(|v| serde_json::to_value(v).unwrap_or_default())
}

/// Runs a call against `ops`.
pub async fn answer(ops: &dyn Control, call: Call) -> control::Result<Value> {
    use Call as C;
    match call {
        C::ListOrgs => to(ops.list_orgs().await),
        C::Org { id } => to(ops.org(&id).await),
        C::CreateOrg { id, name } => to(ops.create_org(&id, &name).await),
        C::RenameOrg { id, name } => to(ops.rename_org(&id, &name).await),
        C::DeleteOrg { id } => to(ops.delete_org(&id).await),
        C::SetScim { id, enabled } => to(ops.set_scim(&id, enabled).await),
        C::AddDomain { org, domain } => to(ops.add_domain(&org, &domain).await),
        C::RemoveDomain { org, domain } => to(ops.remove_domain(&org, &domain).await),
        C::IssueKey { org, name } => to(ops.issue_key(&org, name.as_deref()).await),
        C::ListKeys { org } => to(ops.list_keys(&org).await),
        C::RevokeKey { org, key_id } => to(ops.revoke_key(&org, &key_id).await),
        C::ResourceIds { org, kind, search } => {
            to(ops.resource_ids(&org, kind, search.as_deref()).await)
        }
        C::ResourceRows { org, kind, ids } => to(ops.resource_rows(&org, kind, &ids).await),
        C::ResourceDetail {
            org,
            kind,
            id,
            member_page,
        } => to(ops.resource_detail(&org, kind, &id, member_page).await),
        C::Activity { query } => to(ops.activity(&query).await),
        C::Check => to(ops.check().await),
        C::IssueAppKey { name, org } => to(ops.issue_app_key(&name, org.as_deref()).await),
        C::ListAppKeys => to(ops.list_app_keys().await),
        C::RevokeAppKey { id } => to(ops.revoke_app_key(&id).await),
        C::Events { query } => to(ops.events(&query).await),
        C::FeedSummary { org } => to(ops.feed_summary(&org).await),
        C::DeclareSchema {
            document,
            org,
            kind,
        } => to(ops.declare_schema(&document, org.as_deref(), kind).await),
        C::ListSchemas => to(ops.list_schemas().await),
        C::RemoveSchema { urn, org, force } => {
            to(ops.remove_schema(&urn, org.as_deref(), force).await)
        }
        C::OrgHealth { id } => to(ops.org_health(&id).await),
        C::ExportPage {
            org,
            kind,
            after,
            limit,
        } => to(ops.export_page(&org, kind, after.as_deref(), limit).await),
        C::AddWebhook { new } => to(ops.add_webhook(&new).await),
        C::ListWebhooks => to(ops.list_webhooks().await),
        C::Webhook { id } => to(ops.webhook(&id).await),
        C::RemoveWebhook { id } => to(ops.remove_webhook(&id).await),
        C::SetWebhookEnabled { id, enabled } => to(ops.set_webhook_enabled(&id, enabled).await),
        C::RotateWebhookSecret { id } => to(ops.rotate_webhook_secret(&id).await),
        C::TestWebhook { id } => to(ops.test_webhook(&id).await),
        C::ReplayWebhook { id, from } => to(ops.replay_webhook(&id, &from).await),
        C::RetryWebhookNow { id } => to(ops.retry_webhook_now(&id).await),
    }
}

/// What a running server says about itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hello {
    pub pid: u32,
    pub version: String,
    pub scim: String,
    pub api: Option<String>,
    pub public_url: String,
}

/// One line of the live activity stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Line {
    /// A record to show (the newest of the batch when there were many).
    Event(Box<crate::activity::ActivityEvent>),
    /// Exact counts of every record of the batch, shown or not: (unix minute, requests,
    /// errors), and when the batch was cut.
    Tally {
        minutes: Vec<(i64, u64, u64)>,
        #[serde(with = "time::serde::rfc3339")]
        at: time::OffsetDateTime,
    },
    /// Records the server could not read in time (the dashboard reloads from the store).
    Missed(u64),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_split_and_join_back() {
        for call in [
            Call::ListOrgs,
            Call::Check,
            Call::CreateOrg {
                id: "acme".into(),
                name: "Acme".into(),
            },
            Call::ReplayWebhook {
                id: "whk_1".into(),
                from: ReplayFrom::After("0000000000000001".into()),
            },
        ] {
            let (op, args) = call.split();
            let back = Call::join(&op, args).unwrap();
            assert_eq!(format!("{back:?}"), format!("{call:?}"));
        }
        assert_eq!(Call::ListOrgs.split().0, "list_orgs");
        assert!(Call::join("list_orgs", serde_json::json!({})).is_ok());
        assert!(Call::join("no_such_op", Value::Null).is_err());
        assert!(Call::join("create_org", serde_json::json!({"id": 1})).is_err());
    }
}
