//! Dialogs over the current screen: text input, confirmation, the one-time secret, help. Their
//! state, and what submitting each one does (writes are awaited until durable).

use super::app::App;
use super::keymap::Action;
use super::views::Screen;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputPurpose {
    CreateOrg,
    RenameOrg(String),
    AddDomain(String),
    IssueKey(String),
    IssueAppKey(String),
    Search,
    AddWebhook,
    /// Declare a schema from a file, for an organization or every one.
    AddSchema,
    /// Replay an endpoint from a cursor or a time.
    ReplayWebhook(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmPurpose {
    /// Type the id to confirm.
    DeleteOrg(String),
    RevokeKey {
        org: String,
        key_id: String,
    },
    RemoveDomain {
        org: String,
        domain: String,
    },
    RevokeAppKey {
        org: String,
        key_id: String,
    },
    RemoveWebhook(String),
    RemoveSchema {
        urn: String,
        org: Option<String>,
    },
    RotateWebhookSecret(String),
}

/// What a one-time secret opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretKind {
    /// A SCIM key, with the base URL the IdP needs beside it.
    Scim { url: String },
    /// An application key.
    App,
    /// A webhook endpoint's signing secret.
    Webhook,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub label: &'static str,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dialog {
    Input {
        purpose: InputPurpose,
        title: String,
        fields: Vec<Field>,
        focus: usize,
        error: Option<String>,
    },
    Confirm {
        purpose: ConfirmPurpose,
        message: String,
        typed: String,
        error: Option<String>,
    },
    /// A secret shown once: a SCIM key's, an application key's or a webhook endpoint's.
    Secret {
        key_id: String,
        name: String,
        secret: String,
        kind: SecretKind,
    },
    Help,
}

impl App {
    pub(super) fn open_input(
        &mut self,
        purpose: InputPurpose,
        title: &str,
        fields: Vec<(&'static str, String)>,
    ) {
        self.dialog = Some(Dialog::Input {
            purpose,
            title: title.into(),
            fields: fields
                .into_iter()
                .map(|(label, value)| Field { label, value })
                .collect(),
            focus: 0,
            error: None,
        });
    }

    pub(super) fn confirm(&mut self, purpose: ConfirmPurpose, message: String) {
        self.dialog = Some(Dialog::Confirm {
            purpose,
            message,
            typed: String::new(),
            error: None,
        });
    }

    pub(super) fn open_issue_key(&mut self, org: String) {
        self.open_input(
            InputPurpose::IssueKey(org.clone()),
            &format!("Issue a SCIM key for {org}"),
            vec![("key name (e.g. okta)", String::new())],
        );
    }

    /// Shows a refusal inside the open dialog.
    fn input_error(&mut self, message: String) {
        if let Some(Dialog::Input { error, .. } | Dialog::Confirm { error, .. }) =
            self.dialog.as_mut()
        {
            *error = Some(message);
        }
    }

    pub(super) async fn update_dialog(&mut self, action: Action) {
        let Some(dialog) = self.dialog.as_mut() else {
            return;
        };
        match (dialog, action) {
            (_, Action::Cancel) => self.dialog = None,
            (Dialog::Secret { secret, .. }, Action::Copy) => {
                self.clipboard = Some(secret.clone());
                self.say("copied the secret to the clipboard (OSC 52)");
            }
            (
                Dialog::Input {
                    fields,
                    focus,
                    error,
                    ..
                },
                Action::Type(c),
            ) => {
                if let Some(f) = fields.get_mut(*focus) {
                    f.value.push(c);
                }
                *error = None;
            }
            (Dialog::Input { fields, focus, .. }, Action::Backspace) => {
                if let Some(f) = fields.get_mut(*focus) {
                    f.value.pop();
                }
            }
            (Dialog::Input { fields, focus, .. }, Action::NextField) => {
                *focus = (*focus + 1) % fields.len().max(1);
            }
            (Dialog::Confirm { typed, error, .. }, Action::Type(c)) => {
                typed.push(c);
                *error = None;
            }
            (Dialog::Confirm { typed, .. }, Action::Backspace) => {
                typed.pop();
            }
            (Dialog::Input { .. }, Action::Submit) => self.submit_input().await,
            (Dialog::Confirm { .. }, Action::Submit) => self.submit_confirm().await,
            _ => {}
        }
    }

    async fn submit_input(&mut self) {
        let Some(Dialog::Input {
            purpose, fields, ..
        }) = self.dialog.clone()
        else {
            return;
        };
        let value = |i: usize| {
            fields
                .get(i)
                .map(|f| f.value.trim().to_string())
                .unwrap_or_default()
        };
        match purpose {
            InputPurpose::CreateOrg => match self.ops.create_org(&value(0), &value(1)).await {
                Ok(org) => {
                    self.dialog = None;
                    self.say(format!("created organization {} (saved)", org.id));
                    self.refresh_orgs().await;
                    self.org_sel = self
                        .orgs
                        .iter()
                        .position(|r| r.org.id == org.id)
                        .unwrap_or(0);
                }
                Err(e) => self.input_error(e.message),
            },
            InputPurpose::RenameOrg(id) => match self.ops.rename_org(&id, &value(0)).await {
                Ok(org) => {
                    self.dialog = None;
                    self.say(format!("renamed {} to {} (saved)", org.id, org.name));
                    self.after_navigation().await;
                }
                Err(e) => self.input_error(e.message),
            },
            InputPurpose::AddDomain(id) => match self.ops.add_domain(&id, &value(0)).await {
                Ok(_) => {
                    self.dialog = None;
                    self.say(format!(
                        "added domain {} to {id} (saved)",
                        value(0).to_lowercase()
                    ));
                    self.load_org(&id).await;
                }
                Err(e) => self.input_error(e.message),
            },
            InputPurpose::IssueKey(id) => {
                let name = value(0);
                let name = (!name.is_empty()).then_some(name);
                match self.ops.issue_key(&id, name.as_deref()).await {
                    Ok(issued) => {
                        self.say(format!("issued key {} (saved)", issued.key.id));
                        self.dialog = Some(Dialog::Secret {
                            key_id: issued.key.id,
                            name: issued.key.name,
                            secret: issued.secret,
                            kind: SecretKind::Scim {
                                url: issued.scim_base_url,
                            },
                        });
                        self.load_org(&id).await;
                    }
                    Err(e) => self.input_error(e.message),
                }
            }
            InputPurpose::IssueAppKey(org) => {
                match self.ops.issue_app_key(&value(0), Some(&org)).await {
                    Ok(issued) => {
                        self.say(format!("issued application key {} (saved)", issued.key.id));
                        self.dialog = Some(Dialog::Secret {
                            key_id: issued.key.id,
                            name: issued.key.name,
                            secret: issued.secret,
                            kind: SecretKind::App,
                        });
                        self.load_org(&org).await;
                    }
                    Err(e) => self.input_error(e.message),
                }
            }
            InputPurpose::AddSchema => {
                let path = value(0);
                let org = Some(value(1)).filter(|v| !v.is_empty());
                let text = match std::fs::read_to_string(&path) {
                    Ok(t) => t,
                    Err(e) => return self.input_error(format!("cannot read {path}: {e}")),
                };
                match self.ops.declare_schema(&text, org.as_deref(), None).await {
                    Ok(s) => {
                        self.dialog = None;
                        self.say(format!(
                            "{} {} with {} attributes (saved)",
                            if s.replaced { "replaced" } else { "declared" },
                            s.urn,
                            s.attributes.len()
                        ));
                        self.load_schemas().await;
                    }
                    Err(e) => self.input_error(e.message),
                }
            }
            InputPurpose::AddWebhook => {
                let optional = |i: usize| Some(value(i)).filter(|v| !v.is_empty());
                let new = crate::control::NewWebhook {
                    url: value(0),
                    org: optional(1),
                    events: optional(2),
                    from: None,
                };
                match self.ops.add_webhook(&new).await {
                    Ok(added) => {
                        self.say(format!(
                            "added webhook endpoint {} (saved)",
                            added.webhook.id
                        ));
                        self.dialog = Some(Dialog::Secret {
                            key_id: added.webhook.id.clone(),
                            name: added.webhook.url.clone(),
                            secret: added.secret,
                            kind: SecretKind::Webhook,
                        });
                        self.load_webhooks().await;
                        self.webhooks.selected = self
                            .webhooks
                            .list
                            .iter()
                            .position(|w| w.id == added.webhook.id)
                            .unwrap_or(0);
                        self.load_webhooks().await;
                    }
                    Err(e) => self.input_error(e.message),
                }
            }
            InputPurpose::ReplayWebhook(id) => {
                let from = match replay_from(&value(0)) {
                    Ok(f) => f,
                    Err(e) => return self.input_error(e),
                };
                match self.ops.replay_webhook(&id, &from).await {
                    Ok(w) => {
                        self.dialog = None;
                        self.say(format!(
                            "{id} will deliver {} events again (saved)",
                            w.backlog
                        ));
                        self.load_webhooks().await;
                    }
                    Err(e) => self.input_error(e.message),
                }
            }
            InputPurpose::Search => {
                let text = value(0);
                if let Some(v) = self.directory.as_mut() {
                    v.search = (!text.is_empty()).then_some(text);
                    v.selected = 0;
                    v.offset = 0;
                }
                self.load_directory().await;
                match self.directory.as_ref().and_then(|d| d.error.clone()) {
                    Some(e) => self.input_error(e),
                    None => self.dialog = None,
                }
            }
        }
    }

    async fn submit_confirm(&mut self) {
        let Some(Dialog::Confirm { purpose, typed, .. }) = self.dialog.clone() else {
            return;
        };
        match purpose {
            ConfirmPurpose::DeleteOrg(id) => {
                if typed.trim() != id {
                    self.input_error(format!("type {id} exactly to delete it"));
                    return;
                }
                match self.ops.delete_org(&id).await {
                    Ok(()) => {
                        self.dialog = None;
                        self.say(format!("deleted organization {id} (saved)"));
                        self.org = None;
                        self.stack = vec![Screen::Orgs];
                        self.refresh_orgs().await;
                    }
                    Err(e) => self.input_error(e.message),
                }
            }
            ConfirmPurpose::RevokeKey { org, key_id } => {
                self.dialog = None;
                match self.ops.revoke_key(&org, &key_id).await {
                    Ok(_) => self.say(format!("revoked key {key_id} (saved)")),
                    Err(e) => self.fail(e.message),
                }
                self.load_org(&org).await;
            }
            ConfirmPurpose::RevokeAppKey { org, key_id } => {
                self.dialog = None;
                match self.ops.revoke_app_key(&key_id).await {
                    Ok(_) => self.say(format!("revoked application key {key_id} (saved)")),
                    Err(e) => self.fail(e.message),
                }
                self.load_org(&org).await;
            }
            ConfirmPurpose::RemoveSchema { urn, org } => {
                self.dialog = None;
                match self.ops.remove_schema(&urn, org.as_deref(), false).await {
                    Ok(s) => self.say(format!("removed {} (saved)", s.urn)),
                    Err(e) => self.fail(e.message),
                }
                self.load_schemas().await;
            }
            ConfirmPurpose::RemoveWebhook(id) => {
                self.dialog = None;
                match self.ops.remove_webhook(&id).await {
                    Ok(()) => self.say(format!("removed webhook endpoint {id} (saved)")),
                    Err(e) => self.fail(e.message),
                }
                self.load_webhooks().await;
            }
            ConfirmPurpose::RotateWebhookSecret(id) => {
                match self.ops.rotate_webhook_secret(&id).await {
                    Ok(secret) => {
                        self.say(format!("new signing secret for {id} (saved)"));
                        self.dialog = Some(Dialog::Secret {
                            key_id: id.clone(),
                            name: "rotated: the old secret also signs for 24 hours".into(),
                            secret,
                            kind: SecretKind::Webhook,
                        });
                        self.load_webhooks().await;
                    }
                    Err(e) => self.input_error(e.message),
                }
            }
            ConfirmPurpose::RemoveDomain { org, domain } => {
                self.dialog = None;
                match self.ops.remove_domain(&org, &domain).await {
                    Ok(_) => self.say(format!("removed domain {domain} (saved)")),
                    Err(e) => self.fail(e.message),
                }
                self.load_org(&org).await;
            }
        }
    }
}

/// A replay's start as typed: a cursor, an RFC 3339 time, or a duration ago (`2h`).
fn replay_from(text: &str) -> Result<crate::control::ReplayFrom, String> {
    use crate::control::ReplayFrom;
    if crate::store::parse_cursor(text).is_some() {
        return Ok(ReplayFrom::After(text.to_string()));
    }
    if let Some(t) = crate::util::parse_rfc3339(text) {
        return Ok(ReplayFrom::Since(t));
    }
    crate::config::parse_duration(text)
        .map(|d| ReplayFrom::Since(crate::store::now() - d))
        .map_err(|_| {
            format!("{text:?} is neither a cursor (16 hex digits), a time (2026-12-01T00:00:00Z) nor a duration (2h)")
        })
}
