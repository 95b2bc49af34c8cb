//! Users and Groups of one organization: the SCIM operations with the provisioning rules
//! (domains, uniqueness, activation, membership). Every write is durable before it returns.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::{Directory, Error, IndexEntries, Organization, ResourceRecord, Result, feed, rules};

use super::index::index_entries;
use super::member_ops::{MemberOps, member_ids_in_filter};
use crate::scim::patch::{self, OpKind, PatchOp};
use crate::scim::resource::{self, Meta, Projection};
use crate::scim::schema::ResourceKind;
use crate::store::{self, MemberChange, NewEvent, ResourceUpdate, WriteRefused};
use crate::util::rfc3339;

/// The result of a write: the record before (None for a create) and after, and for groups what
/// happened to the members.
pub type WriteOutcome = store::ResourceUpdate;

pub(super) fn not_found(kind: ResourceKind, id: &str) -> Error {
    Error::NotFound(format!("{} {id} not found", kind.resource_type()))
}

pub(super) fn taken(kind: ResourceKind, attrs: &Map<String, Value>) -> Error {
    let attribute = kind.name_attr();
    Error::Conflict {
        attribute,
        value: attrs
            .get(attribute)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    }
}

/// The email addresses in `emails[].value`.
pub(super) fn emails(attrs: &Map<String, Value>) -> Vec<String> {
    attrs
        .get("emails")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|e| e.get("value").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Every address a user's attributes hold: userName when it has an @, and each email.
fn addresses(attrs: &Map<String, Value>) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = emails(attrs)
        .into_iter()
        .map(|e| e.to_lowercase())
        .collect();
    if let Some(u) = attrs.get("userName").and_then(Value::as_str)
        && u.contains('@')
    {
        out.insert(u.to_lowercase());
    }
    out
}

/// The domain rule: every address a write sets must be in the organization's domains. Addresses
/// the user already had are not re-checked, so deactivating is never blocked.
fn check_domains(
    org: &Organization,
    before: Option<&Map<String, Value>>,
    after: &Map<String, Value>,
) -> Result<()> {
    let old = before.map(addresses).unwrap_or_default();
    for address in addresses(after) {
        if !old.contains(&address) && !rules::email_domain_allowed(&address, &org.domains) {
            return Err(Error::DomainNotAllowed { address });
        }
    }
    Ok(())
}

fn check_if_match(rec: &ResourceRecord, if_match: Option<&str>) -> Result<()> {
    match if_match.map(str::trim) {
        None | Some("*") => Ok(()),
        Some(tags) => {
            let current = rec.etag();
            let strong = current.trim_start_matches("W/");
            let ok = tags
                .split(',')
                .map(str::trim)
                .any(|t| t == current || t.trim_start_matches("W/") == strong);
            if ok {
                Ok(())
            } else {
                Err(Error::PreconditionFailed)
            }
        }
    }
}

/// A refused write in domain words.
fn refused(
    kind: ResourceKind,
    id: &str,
    attempted: Option<&Map<String, Value>>,
    why: WriteRefused<Error>,
) -> Error {
    match why {
        WriteRefused::OrgMissing | WriteRefused::NotFound => not_found(kind, id),
        WriteRefused::Taken(_) => taken(kind, attempted.unwrap_or(&Map::new())),
        WriteRefused::Rejected(e) => e,
    }
}

impl Directory {
    /// The events a write of a user or group makes (none when the feed is off). `request` is
    /// the activity record of the SCIM request that caused it.
    fn written_events(
        &self,
        org: &str,
        kind: ResourceKind,
        request: Option<&str>,
    ) -> impl FnOnce(&ResourceUpdate) -> Vec<NewEvent> + Send + 'static {
        let (on, org, request) = (
            self.events_on(),
            org.to_string(),
            request.map(str::to_string),
        );
        move |u| {
            if on {
                feed::resource_written(&org, kind, u, request.as_deref())
            } else {
                Vec::new()
            }
        }
    }

    /// `{base}/Users/{id}` or `{base}/Groups/{id}`.
    pub fn location(&self, org: &str, kind: ResourceKind, id: &str) -> String {
        format!("{}/{}/{}", self.scim_base_url(org), kind.endpoint(), id)
    }

    pub fn get_resource(&self, org: &str, kind: ResourceKind, id: &str) -> Result<ResourceRecord> {
        self.store
            .get_resource(org, kind, id)?
            .ok_or_else(|| not_found(kind, id))
    }

    /// The SCIM JSON of a record. Derived attributes (a user's `groups`, a group's `members`)
    /// are read only when the projection returns them.
    pub fn render(
        &self,
        org: &str,
        kind: ResourceKind,
        rec: &ResourceRecord,
        projection: &Projection,
    ) -> Result<Value> {
        let mut extra = Vec::new();
        match kind {
            ResourceKind::User if projection.includes(kind, "groups") => {
                let mut groups = Vec::new();
                for gid in self.store.groups_of(org, &rec.id)? {
                    let display = self
                        .store
                        .get_resource(org, ResourceKind::Group, &gid)?
                        .and_then(|g| g.attrs.get("displayName").cloned());
                    let mut g = json!({
                        "value": gid,
                        "$ref": self.location(org, ResourceKind::Group, &gid),
                        "type": "direct",
                    });
                    if let Some(d) = display {
                        g["display"] = d;
                    }
                    groups.push(g);
                }
                extra.push(("groups", Value::Array(groups)));
            }
            ResourceKind::Group if projection.includes(kind, "members") => {
                let members: Vec<Value> = self
                    .store
                    .members_with_display(org, &rec.id, 0, usize::MAX)?
                    .into_iter()
                    .map(|(uid, display)| {
                        let mut m = json!({
                            "value": uid,
                            "$ref": self.location(org, ResourceKind::User, &uid),
                            "type": "User",
                        });
                        if let Some(d) = display {
                            m["display"] = Value::String(d);
                        }
                        m
                    })
                    .collect();
                extra.push(("members", Value::Array(members)));
            }
            _ => {}
        }
        let (created, modified) = (rfc3339(rec.created), rfc3339(rec.modified));
        let location = self.location(org, kind, &rec.id);
        let etag = rec.etag();
        let meta = Meta {
            resource_type: kind.resource_type(),
            created: &created,
            last_modified: &modified,
            location: &location,
            version: &etag,
        };
        let schemas = self.schemas(org);
        let full = resource::render(&schemas, kind, &rec.id, &rec.attrs, &meta, extra);
        Ok(projection.apply(&schemas, kind, full))
    }

    /// The attributes PATCH operations name that no schema of the organization declares.
    pub fn ignored_in_patch(&self, org: &str, kind: ResourceKind, ops: &[PatchOp]) -> Vec<String> {
        patch::unknown_paths(&self.schemas(org), kind, ops)
    }

    /// POST: creates a user or group (with its initial members).
    pub async fn create_resource(
        &self,
        org: &Organization,
        kind: ResourceKind,
        body: &Value,
        request: Option<&str>,
    ) -> Result<WriteOutcome> {
        self.create_resource_noting(org, kind, body, request, &mut Vec::new())
            .await
    }

    /// [`Directory::create_resource`], adding to `ignored` the attributes of the body that no
    /// schema of the organization declares.
    pub async fn create_resource_noting(
        &self,
        org: &Organization,
        kind: ResourceKind,
        body: &Value,
        request: Option<&str>,
        ignored: &mut Vec<String>,
    ) -> Result<WriteOutcome> {
        let attrs = resource::normalize_noting(&self.schemas(&org.id), kind, body, ignored)?;
        let members = match kind {
            ResourceKind::Group => resource::member_values(body)?,
            ResourceKind::User => {
                check_domains(org, None, &attrs)?;
                Vec::new()
            }
        };
        let now = store::now();
        let rec = ResourceRecord {
            id: rules::new_resource_id(),
            created: now,
            modified: now,
            version: 1,
            index: index_entries(&self.schemas(&org.id), kind, &attrs),
            attrs,
            member_count: 0,
        };
        // A user's created event is all known before the write: built here, off the writer. A
        // group's names its first members, which only the write knows.
        let ready = (kind == ResourceKind::User).then(|| {
            self.written_events(&org.id, kind, request)(&ResourceUpdate {
                before: None,
                after: rec.clone(),
                members: Default::default(),
            })
        });
        let written = self.written_events(&org.id, kind, request);
        let events = move |u: &ResourceUpdate| ready.unwrap_or_else(|| written(u));
        match self
            .store
            .create_resource(&org.id, kind, &rec, &members, events)
            .await?
        {
            Ok(created) => Ok(created),
            Err(WriteRefused::Taken(_)) => Err(self.clash(&org.id, kind, None, &rec.attrs)),
            Err(_) => Err(Error::NotFound(format!(
                "no organization with id {:?}",
                org.id
            ))),
        }
    }

    /// PUT: replaces every writable attribute (and a group's members when `members` is given).
    pub async fn replace_resource(
        &self,
        org: &Organization,
        kind: ResourceKind,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        request: Option<&str>,
    ) -> Result<WriteOutcome> {
        self.replace_resource_noting(org, kind, id, body, if_match, request, &mut Vec::new())
            .await
    }

    /// [`Directory::replace_resource`], adding to `ignored` the attributes of the body that no
    /// schema of the organization declares.
    #[allow(clippy::too_many_arguments)] // the replace's own arguments and where to note
    pub async fn replace_resource_noting(
        &self,
        org: &Organization,
        kind: ResourceKind,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        request: Option<&str>,
        ignored: &mut Vec<String>,
    ) -> Result<WriteOutcome> {
        rules::check_same_id(body, id)?;
        let attrs = resource::normalize_noting(&self.schemas(&org.id), kind, body, ignored)?;
        let mut change = MemberChange::default();
        if kind == ResourceKind::Group
            && body
                .as_object()
                .is_some_and(|o| o.keys().any(|k| k.eq_ignore_ascii_case("members")))
        {
            change.clear = true;
            change.add = resource::member_values(body)?;
        }
        let index = index_entries(&self.schemas(&org.id), kind, &attrs);
        let domains = org.clone();
        self.update(org, kind, id, if_match, change, request, move |old| {
            if kind == ResourceKind::User {
                check_domains(&domains, Some(&old.attrs), &attrs)?;
            }
            Ok((attrs, index))
        })
        .await
    }

    /// PATCH: applies every operation or none.
    pub async fn patch_resource(
        &self,
        org: &Organization,
        kind: ResourceKind,
        id: &str,
        ops: &[PatchOp],
        if_match: Option<&str>,
        request: Option<&str>,
    ) -> Result<WriteOutcome> {
        // Split member operations (applied to the membership index) from attribute operations.
        let schemas = self.schemas(&org.id);
        let mut attr_ops = Vec::new();
        let mut members = MemberOps::default();
        for op in ops {
            for (kind_op, path, value, lenient) in patch::expand(&schemas, kind, op)? {
                if lenient
                    && path.attr.urn.is_none()
                    && path.attr.attr.eq_ignore_ascii_case("id")
                    && let Some(v) = &value
                {
                    rules::check_same_id(&json!({ "id": v }), id)?;
                }
                if !patch::is_members(kind, &path) {
                    attr_ops.push((kind_op, path, value, lenient));
                    continue;
                }
                let ids = match &value {
                    Some(v) => resource::member_ids(v)?,
                    None => Vec::new(),
                };
                match (kind_op, &path.filter) {
                    (OpKind::Add, _) => members.add(ids),
                    (OpKind::Replace, None) => {
                        members.clear();
                        members.add(ids);
                    }
                    (OpKind::Replace, Some(_)) => members.add(ids),
                    (OpKind::Remove, None) if ids.is_empty() => members.clear(),
                    (OpKind::Remove, None) => members.remove(ids),
                    (OpKind::Remove, Some(f)) => {
                        let named = match member_ids_in_filter(f) {
                            Some(ids) => ids,
                            // Any other filter: evaluate it on each member.
                            None => self
                                .store
                                .members(&org.id, id, 0, usize::MAX)?
                                .into_iter()
                                .filter(|uid| {
                                    f.matches_element(None, &json!({"value": uid, "type": "User"}))
                                })
                                .collect(),
                        };
                        members.remove(named);
                    }
                }
            }
        }
        let change = members.into_change();
        let domains = org.clone();
        self.update(org, kind, id, if_match, change, request, move |old| {
            let mut attrs = old.attrs.clone();
            for (kind_op, path, value, lenient) in &attr_ops {
                patch::apply_path(
                    &schemas,
                    kind,
                    &mut attrs,
                    *kind_op,
                    path,
                    value.as_ref(),
                    *lenient,
                )?;
            }
            let attrs = resource::normalize(&schemas, kind, &Value::Object(attrs))?;
            if kind == ResourceKind::User {
                check_domains(&domains, Some(&old.attrs), &attrs)?;
            }
            let index = index_entries(&schemas, kind, &attrs);
            Ok((attrs, index))
        })
        .await
    }

    /// Shared update path: `compute` makes the new attributes from the current record inside
    /// the store's write (it runs once, on the writer, so it has no side effects).
    #[allow(clippy::too_many_arguments)] // one private path shared by replace and patch
    async fn update<F>(
        &self,
        org: &Organization,
        kind: ResourceKind,
        id: &str,
        if_match: Option<&str>,
        change: MemberChange,
        request: Option<&str>,
        compute: F,
    ) -> Result<WriteOutcome>
    where
        F: FnOnce(&ResourceRecord) -> Result<(Map<String, Value>, IndexEntries)> + Send + 'static,
    {
        let now = store::now();
        let if_match = if_match.map(str::to_string);
        // What the write tried to set, for the message of a uniqueness clash.
        let attempted = std::sync::Arc::new(std::sync::Mutex::new(None));
        let tried = attempted.clone();
        let f = move |old: &ResourceRecord| -> Result<ResourceRecord> {
            check_if_match(old, if_match.as_deref())?;
            let (attrs, index) = compute(old)?;
            *tried.lock().unwrap_or_else(|p| p.into_inner()) = Some(attrs.clone());
            let mut rec = old.clone();
            rec.attrs = attrs;
            rec.index = index;
            rec.touch(now);
            Ok(rec)
        };
        match self
            .store
            .update_resource(
                &org.id,
                kind,
                id,
                f,
                change,
                self.written_events(&org.id, kind, request),
            )
            .await?
        {
            Ok(updated) => Ok(updated),
            Err(why) => {
                let tried = attempted.lock().unwrap_or_else(|p| p.into_inner()).take();
                Err(match why {
                    WriteRefused::Taken(_) => self.clash(
                        &org.id,
                        kind,
                        Some(id),
                        tried.as_ref().unwrap_or(&Map::new()),
                    ),
                    why => refused(kind, id, tried.as_ref(), why),
                })
            }
        }
    }

    /// DELETE: removes the resource and its memberships; returns what was deleted.
    pub async fn delete_resource(
        &self,
        org: &Organization,
        kind: ResourceKind,
        id: &str,
        if_match: Option<&str>,
        request: Option<&str>,
    ) -> Result<ResourceRecord> {
        let if_match = if_match.map(str::to_string);
        let (on, org_id, request) = (
            self.events_on(),
            org.id.clone(),
            request.map(str::to_string),
        );
        let events = move |rec: &ResourceRecord, groups: &[(String, String)]| {
            if on {
                feed::resource_deleted(&org_id, kind, rec, groups, request.as_deref())
            } else {
                Vec::new()
            }
        };
        self.store
            .delete_resource(
                &org.id,
                kind,
                id,
                move |rec| check_if_match(rec, if_match.as_deref()),
                events,
            )
            .await?
            .map_err(|why| refused(kind, id, None, why))
    }

    /// Every id of one kind in list order (cheap enough to hold for 100,000 users).
    pub fn resource_ids(&self, org: &str, kind: ResourceKind) -> Result<Vec<String>> {
        Ok(self.store.resource_ids(org, kind)?)
    }

    pub fn count_resources(&self, org: &str, kind: ResourceKind) -> Result<usize> {
        Ok(self.store.count_resources(org, kind)?)
    }

    /// Users whose `active` is false. Counting reads every user, so a count is reused for
    /// half a minute (the organization screen asks on every refresh).
    pub fn count_inactive_users(&self, org: &str) -> Result<usize> {
        const FRESH: std::time::Duration = std::time::Duration::from_secs(30);
        if let Some((at, n)) = self
            .inactive
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(org)
            && at.elapsed() < FRESH
        {
            return Ok(*n);
        }
        let mut n = 0;
        let mut after: Option<String> = None;
        loop {
            let page =
                self.store
                    .resources_after(org, ResourceKind::User, after.as_deref(), 1000)?;
            n += page
                .iter()
                .filter(|r| r.attrs.get("active") == Some(&Value::Bool(false)))
                .count();
            match page.last() {
                Some(last) if page.len() == 1000 => after = Some(last.id.clone()),
                _ => break,
            }
        }
        self.inactive
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(org.to_string(), (std::time::Instant::now(), n));
        Ok(n)
    }

    /// A page of a group's member ids.
    pub fn members_page(
        &self,
        org: &str,
        group: &str,
        skip: usize,
        take: usize,
    ) -> Result<Vec<String>> {
        Ok(self.store.members(org, group, skip, take)?)
    }
}
