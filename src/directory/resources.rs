//! Users and Groups of one organization: SCIM operations with the provisioning rules (domains,
//! uniqueness, activation, membership), answered in SCIM errors. Every write is durable before
//! it returns.

use std::collections::{BTreeSet, HashSet};

use serde_json::{Map, Value, json};

use super::{Directory, rules};
use crate::scim::error::ScimError;
use crate::scim::filter::{CompValue, CompareOp, Filter};
use crate::scim::list::{Limits, ListParams};
use crate::scim::patch::{self, OpKind, PatchOp};
use crate::scim::resource::{self, Meta, Projection};
use crate::scim::schema::ResourceKind;
use crate::store::{
    self, IndexEntries, Kind, MemberChange, MembershipReport, Organization, ResourceRecord,
    StoreError, WriteRefused,
};
use crate::util::rfc3339;

/// The result of a write: the record before (None for a create) and after, and for groups what
/// happened to the members.
#[derive(Debug, Clone)]
pub struct WriteOutcome {
    pub before: Option<ResourceRecord>,
    pub after: ResourceRecord,
    pub members: MembershipReport,
}

/// One page of a list or search.
#[derive(Debug)]
pub struct Page {
    pub total: usize,
    pub start_index: usize,
    pub resources: Vec<Value>,
}

/// Why an update closure refused.
#[derive(Debug)]
enum Refusal {
    Precondition,
    Scim(ScimError),
}

pub fn scim_kind(kind: Kind) -> ResourceKind {
    match kind {
        Kind::User => ResourceKind::User,
        Kind::Group => ResourceKind::Group,
    }
}

fn internal(e: StoreError) -> ScimError {
    tracing::error!(error = %e, "store failure");
    ScimError::internal()
}

fn not_found(kind: Kind, id: &str) -> ScimError {
    ScimError::not_found(format!("{} {id} not found", kind.resource_type()))
}

fn taken(kind: Kind, attrs: &Map<String, Value>) -> ScimError {
    let (attr, value) = match kind {
        Kind::User => ("userName", attrs.get("userName")),
        Kind::Group => ("displayName", attrs.get("displayName")),
    };
    let value = value.and_then(Value::as_str).unwrap_or_default();
    ScimError::uniqueness(format!(
        "{attr} {value:?} is already taken in this organization"
    ))
}

/// What a record is findable by.
pub fn index_entries(kind: Kind, attrs: &Map<String, Value>) -> IndexEntries {
    let text = |k: &str| attrs.get(k).and_then(Value::as_str).unwrap_or_default();
    let mut terms = Vec::new();
    if let Some(ext) = attrs.get("externalId").and_then(Value::as_str) {
        terms.push(("externalId".to_string(), ext.to_string()));
    }
    match kind {
        Kind::User => {
            for email in emails(attrs) {
                let term = ("emails.value".to_string(), email.to_lowercase());
                if !terms.contains(&term) {
                    terms.push(term);
                }
            }
            IndexEntries {
                unique: text("userName").to_lowercase(),
                terms,
            }
        }
        Kind::Group => IndexEntries {
            unique: text("displayName").to_lowercase(),
            terms,
        },
    }
}

/// The email addresses in `emails[].value`.
fn emails(attrs: &Map<String, Value>) -> Vec<String> {
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
) -> Result<(), ScimError> {
    let old = before.map(addresses).unwrap_or_default();
    for address in addresses(after) {
        if !old.contains(&address) && !rules::email_domain_allowed(&address, &org.domains) {
            return Err(ScimError::invalid_value(format!(
                "{address} is outside the organization's SCIM domains"
            )));
        }
    }
    Ok(())
}

fn check_if_match(rec: &ResourceRecord, if_match: Option<&str>) -> Result<(), Refusal> {
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
                Err(Refusal::Precondition)
            }
        }
    }
}

fn refused<T>(
    kind: Kind,
    id: &str,
    attrs: Option<&Map<String, Value>>,
    why: WriteRefused<Refusal>,
) -> Result<T, ScimError> {
    Err(match why {
        WriteRefused::OrgMissing | WriteRefused::NotFound => not_found(kind, id),
        WriteRefused::Taken(_) => taken(kind, attrs.unwrap_or(&Map::new())),
        WriteRefused::Rejected(Refusal::Precondition) => ScimError::new(
            412,
            None,
            "the resource has changed: its version no longer matches If-Match",
        ),
        WriteRefused::Rejected(Refusal::Scim(e)) => e,
    })
}

/// Net member change of a sequence of PATCH member operations, applied in order.
#[derive(Default)]
struct MemberOps {
    clear: bool,
    add: Vec<String>,
    remove: Vec<String>,
    add_set: HashSet<String>,
    remove_set: HashSet<String>,
}

impl MemberOps {
    fn add(&mut self, ids: Vec<String>) {
        for id in ids {
            if self.remove_set.remove(&id) {
                self.remove.retain(|r| *r != id);
            }
            if self.add_set.insert(id.clone()) {
                self.add.push(id);
            }
        }
    }

    fn remove(&mut self, ids: Vec<String>) {
        for id in ids {
            if self.add_set.remove(&id) {
                self.add.retain(|a| *a != id);
            }
            if self.remove_set.insert(id.clone()) {
                self.remove.push(id);
            }
        }
    }

    fn clear(&mut self) {
        *self = MemberOps {
            clear: true,
            ..Default::default()
        };
    }

    fn into_change(self) -> MemberChange {
        MemberChange {
            clear: self.clear,
            remove: self.remove,
            add: self.add,
        }
    }
}

/// Member ids named by a filter on `members` that is a disjunction of `value eq`.
fn member_ids_in_filter(f: &Filter) -> Option<Vec<String>> {
    match f {
        Filter::Compare(p, CompareOp::Eq, CompValue::Str(v))
            if p.attr.eq_ignore_ascii_case("value") && p.sub.is_none() =>
        {
            Some(vec![v.clone()])
        }
        Filter::Or(a, b) => {
            let mut ids = member_ids_in_filter(a)?;
            ids.extend(member_ids_in_filter(b)?);
            Some(ids)
        }
        _ => None,
    }
}

impl Directory {
    fn limits(&self) -> Limits {
        Limits {
            default_count: self.config().scim.default_count,
            max_results: self.config().scim.max_results,
        }
    }

    /// `{base}/Users/{id}` or `{base}/Groups/{id}`.
    pub fn location(&self, org: &str, kind: Kind, id: &str) -> String {
        format!("{}/{}/{}", self.scim_base_url(org), kind.endpoint(), id)
    }

    pub fn get_resource(
        &self,
        org: &str,
        kind: Kind,
        id: &str,
    ) -> Result<ResourceRecord, ScimError> {
        self.store()
            .get_resource(org, kind, id)
            .map_err(internal)?
            .ok_or_else(|| not_found(kind, id))
    }

    /// The SCIM JSON of a record. Derived attributes (a user's `groups`, a group's `members`)
    /// are read only when the projection returns them.
    pub fn render(
        &self,
        org: &str,
        kind: Kind,
        rec: &ResourceRecord,
        projection: &Projection,
    ) -> Result<Value, ScimError> {
        let sk = scim_kind(kind);
        let mut extra = Vec::new();
        match kind {
            Kind::User if projection.includes(sk, "groups") => {
                let mut groups = Vec::new();
                for gid in self.store().groups_of(org, &rec.id).map_err(internal)? {
                    let display = self
                        .store()
                        .get_resource(org, Kind::Group, &gid)
                        .map_err(internal)?
                        .and_then(|g| g.attrs.get("displayName").cloned());
                    let mut g = json!({
                        "value": gid,
                        "$ref": self.location(org, Kind::Group, &gid),
                        "type": "direct",
                    });
                    if let Some(d) = display {
                        g["display"] = d;
                    }
                    groups.push(g);
                }
                extra.push(("groups", Value::Array(groups)));
            }
            Kind::Group if projection.includes(sk, "members") => {
                let ids = self
                    .store()
                    .members(org, &rec.id, 0, usize::MAX)
                    .map_err(internal)?;
                let members: Vec<Value> = ids
                    .into_iter()
                    .map(|uid| {
                        json!({
                            "value": uid,
                            "$ref": self.location(org, Kind::User, &uid),
                            "type": "User",
                        })
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
        let full = resource::render(sk, &rec.id, &rec.attrs, &meta, extra);
        Ok(projection.apply(sk, full))
    }

    /// POST: creates a user or group (with its initial members).
    pub async fn create_resource(
        &self,
        org: &Organization,
        kind: Kind,
        body: &Value,
    ) -> Result<WriteOutcome, ScimError> {
        let sk = scim_kind(kind);
        let attrs = resource::normalize(sk, body)?;
        let members = match kind {
            Kind::Group => resource::member_values(body)?,
            Kind::User => {
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
            index: index_entries(kind, &attrs),
            attrs,
            member_count: 0,
        };
        match self
            .store()
            .create_resource(&org.id, kind, &rec, &members)
            .await
            .map_err(internal)?
        {
            Ok((after, report)) => Ok(WriteOutcome {
                before: None,
                after,
                members: report,
            }),
            Err(WriteRefused::Taken(_)) => Err(taken(kind, &rec.attrs)),
            Err(_) => Err(ScimError::not_found("organization not found")),
        }
    }

    /// PUT: replaces every writable attribute (and a group's members when `members` is given).
    pub async fn replace_resource(
        &self,
        org: &Organization,
        kind: Kind,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<WriteOutcome, ScimError> {
        let sk = scim_kind(kind);
        let attrs = resource::normalize(sk, body)?;
        let mut change = MemberChange::default();
        if kind == Kind::Group
            && body
                .as_object()
                .is_some_and(|o| o.keys().any(|k| k.eq_ignore_ascii_case("members")))
        {
            change.clear = true;
            change.add = resource::member_values(body)?;
        }
        let index = index_entries(kind, &attrs);
        let domains = org.clone();
        self.update(org, kind, id, if_match, change, move |old| {
            if kind == Kind::User {
                check_domains(&domains, Some(&old.attrs), &attrs).map_err(Refusal::Scim)?;
            }
            Ok((attrs.clone(), index.clone()))
        })
        .await
    }

    /// PATCH: applies every operation or none.
    pub async fn patch_resource(
        &self,
        org: &Organization,
        kind: Kind,
        id: &str,
        ops: &[PatchOp],
        if_match: Option<&str>,
    ) -> Result<WriteOutcome, ScimError> {
        let sk = scim_kind(kind);
        // Split member operations (applied to the membership index) from attribute operations.
        let mut attr_ops = Vec::new();
        let mut members = MemberOps::default();
        for op in ops {
            for (kind_op, path, value, lenient) in patch::expand(sk, op) {
                if !patch::is_members(sk, &path) {
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
                            None => {
                                // Any other filter: evaluate it on each member.
                                let all = self
                                    .store()
                                    .members(&org.id, id, 0, usize::MAX)
                                    .map_err(internal)?;
                                all.into_iter()
                                    .filter(|uid| {
                                        f.matches_element(
                                            None,
                                            &json!({"value": uid, "type": "User"}),
                                        )
                                    })
                                    .collect()
                            }
                        };
                        members.remove(named);
                    }
                }
            }
        }
        let change = members.into_change();
        let domains = org.clone();
        self.update(org, kind, id, if_match, change, move |old| {
            let mut attrs = old.attrs.clone();
            for (kind_op, path, value, lenient) in &attr_ops {
                patch::apply_path(sk, &mut attrs, *kind_op, path, value.as_ref(), *lenient)
                    .map_err(Refusal::Scim)?;
            }
            let attrs = resource::normalize(sk, &Value::Object(attrs)).map_err(Refusal::Scim)?;
            if kind == Kind::User {
                check_domains(&domains, Some(&old.attrs), &attrs).map_err(Refusal::Scim)?;
            }
            let index = index_entries(kind, &attrs);
            Ok((attrs, index))
        })
        .await
    }

    /// Shared update path: the closure computes new attributes from the current record inside
    /// the store transaction (it may run more than once, so it has no side effects).
    async fn update<F>(
        &self,
        org: &Organization,
        kind: Kind,
        id: &str,
        if_match: Option<&str>,
        change: MemberChange,
        compute: F,
    ) -> Result<WriteOutcome, ScimError>
    where
        F: Fn(&ResourceRecord) -> Result<(Map<String, Value>, IndexEntries), Refusal>
            + Send
            + 'static,
    {
        let now = store::now();
        let if_match = if_match.map(str::to_string);
        // What the write tried to set, for the message of a uniqueness clash.
        let attempted = std::sync::Arc::new(std::sync::Mutex::new(None));
        let tried = attempted.clone();
        let f = move |old: &ResourceRecord| -> Result<ResourceRecord, Refusal> {
            check_if_match(old, if_match.as_deref())?;
            let (attrs, index) = compute(old)?;
            *tried.lock().unwrap_or_else(|p| p.into_inner()) = Some(attrs.clone());
            let mut rec = old.clone();
            rec.attrs = attrs;
            rec.index = index;
            rec.touch(now);
            Ok(rec)
        };
        let result = self
            .store()
            .update_resource(&org.id, kind, id, f, change)
            .await
            .map_err(internal)?;
        match result {
            Ok((before, after, members)) => Ok(WriteOutcome {
                before: Some(before),
                after,
                members,
            }),
            Err(why) => {
                let tried = attempted.lock().unwrap_or_else(|p| p.into_inner()).take();
                refused(kind, id, tried.as_ref(), why)
            }
        }
    }

    /// DELETE: removes the resource and its memberships.
    pub async fn delete_resource(
        &self,
        org: &Organization,
        kind: Kind,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<ResourceRecord, ScimError> {
        let rec = self.get_resource(&org.id, kind, id)?;
        check_if_match(&rec, if_match)
            .or_else(|why| refused(kind, id, None, WriteRefused::Rejected(why)))?;
        if !self
            .store()
            .delete_resource(&org.id, kind, id)
            .await
            .map_err(internal)?
        {
            return Err(not_found(kind, id));
        }
        Ok(rec)
    }

    /// Candidate ids for a filter from the indexes, or None when it needs a scan.
    fn plan(
        &self,
        org: &str,
        kind: Kind,
        f: &Filter,
    ) -> Result<Option<BTreeSet<String>>, ScimError> {
        let sk = scim_kind(kind);
        Ok(match f {
            Filter::Compare(p, CompareOp::Eq, value) => {
                let text = match value {
                    CompValue::Str(s) => s.clone(),
                    CompValue::Num(n) => n.to_string(),
                    _ => return Ok(None),
                };
                let mut forms = vec![text.clone()];
                if let Some(decoded) = crate::scim::filter::percent_decode(&text) {
                    forms.push(decoded);
                }
                let unique_attr = match kind {
                    Kind::User => "userName",
                    Kind::Group => "displayName",
                };
                let mut ids = BTreeSet::new();
                for form in forms {
                    if p.is(sk, unique_attr, None) {
                        ids.extend(
                            self.store()
                                .lookup_unique(org, kind, &form.to_lowercase())
                                .map_err(internal)?,
                        );
                    } else if p.is(sk, "id", None) {
                        ids.insert(form);
                    } else if p.is(sk, "externalId", None) {
                        ids.extend(
                            self.store()
                                .lookup(org, kind, "externalId", &form)
                                .map_err(internal)?,
                        );
                    } else if kind == Kind::User
                        && (p.is(sk, "emails", Some("value")) || p.is(sk, "emails", None))
                    {
                        ids.extend(
                            self.store()
                                .lookup(org, kind, "emails.value", &form.to_lowercase())
                                .map_err(internal)?,
                        );
                    } else {
                        return Ok(None);
                    }
                }
                Some(ids)
            }
            Filter::And(a, b) => match (self.plan(org, kind, a)?, self.plan(org, kind, b)?) {
                (Some(x), Some(y)) => Some(x.intersection(&y).cloned().collect()),
                (Some(x), None) | (None, Some(x)) => Some(x),
                (None, None) => None,
            },
            Filter::Or(a, b) => match (self.plan(org, kind, a)?, self.plan(org, kind, b)?) {
                (Some(mut x), Some(y)) => {
                    x.extend(y);
                    Some(x)
                }
                _ => None,
            },
            Filter::ValuePath(p, inner) if kind == Kind::User && p.is(sk, "emails", None) => {
                // emails[type eq "work" and value eq "x"]: the value condition is indexed.
                let lifted = lift_value_conditions(inner);
                match lifted {
                    Some(f) => self.plan(org, kind, &f)?,
                    None => None,
                }
            }
            _ => None,
        })
    }

    /// GET list and `.search`: filter (from indexes where possible), sort, page, project.
    pub fn list_resources(
        &self,
        org: &str,
        kind: Kind,
        params: &ListParams,
    ) -> Result<Page, ScimError> {
        let sk = scim_kind(kind);
        let store = self.store();
        // What the filter needs rendered to be evaluated.
        let needs = |name: &str| {
            params
                .filter
                .as_ref()
                .is_some_and(|f| f.paths().iter().any(|p| p.attr.eq_ignore_ascii_case(name)))
        };
        let eval_projection = Projection {
            attributes: Vec::new(),
            excluded: [("groups", !needs("groups")), ("members", !needs("members"))]
                .iter()
                .filter(|(_, skip)| *skip)
                .map(|(n, _)| n.to_string())
                .collect(),
        };
        let matching: Option<Vec<ResourceRecord>> = match &params.filter {
            None if params.sort_by.is_none() => None,
            None => {
                let mut all = Vec::new();
                store
                    .for_each_resource(org, kind, |r| {
                        all.push(r);
                        true
                    })
                    .map_err(internal)?;
                Some(all)
            }
            Some(f) => {
                let mut out = Vec::new();
                match self.plan(org, kind, f)? {
                    Some(ids) => {
                        for id in ids {
                            if let Some(rec) =
                                store.get_resource(org, kind, &id).map_err(internal)?
                                && f.matches(sk, &self.render(org, kind, &rec, &eval_projection)?)
                            {
                                out.push(rec);
                            }
                        }
                    }
                    None => {
                        let mut failure = None;
                        store
                            .for_each_resource(org, kind, |rec| {
                                match self.render(org, kind, &rec, &eval_projection) {
                                    Ok(v) if f.matches(sk, &v) => out.push(rec),
                                    Ok(_) => {}
                                    Err(e) => {
                                        failure = Some(e);
                                        return false;
                                    }
                                }
                                true
                            })
                            .map_err(internal)?;
                        if let Some(e) = failure {
                            return Err(e);
                        }
                    }
                }
                Some(out)
            }
        };
        let skip = params.start_index - 1;
        let (total, page): (usize, Vec<ResourceRecord>) = match matching {
            Some(mut records) => {
                records.sort_by(|a, b| a.id.cmp(&b.id));
                if let Some(sort) = &params.sort_by {
                    let key = |r: &ResourceRecord| -> Option<String> {
                        let v = self.render(org, kind, r, &eval_projection).ok()?;
                        sort_key(sk, &v, sort)
                    };
                    let mut keyed: Vec<(Option<String>, ResourceRecord)> =
                        records.into_iter().map(|r| (key(&r), r)).collect();
                    // Resources without the attribute sort last either way (RFC 7644 §3.4.2.3).
                    keyed.sort_by(|(a, _), (b, _)| match (a, b) {
                        (Some(x), Some(y)) if params.descending => y.cmp(x),
                        (Some(x), Some(y)) => x.cmp(y),
                        (Some(_), None) => std::cmp::Ordering::Less,
                        (None, Some(_)) => std::cmp::Ordering::Greater,
                        (None, None) => std::cmp::Ordering::Equal,
                    });
                    records = keyed.into_iter().map(|(_, r)| r).collect();
                }
                let total = records.len();
                (
                    total,
                    records.into_iter().skip(skip).take(params.count).collect(),
                )
            }
            None => {
                // No filter, no sort: the page straight from the id list.
                let (total, ids) = store
                    .resource_page(org, kind, skip, params.count)
                    .map_err(internal)?;
                let mut page = Vec::new();
                for id in &ids {
                    if let Some(rec) = store.get_resource(org, kind, id).map_err(internal)? {
                        page.push(rec);
                    }
                }
                (total, page)
            }
        };
        let resources = page
            .iter()
            .map(|r| self.render(org, kind, r, &params.projection))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page {
            total,
            start_index: params.start_index,
            resources,
        })
    }

    pub fn list_limits(&self) -> Limits {
        self.limits()
    }

    /// Every id of one kind in list order (keys only; cheap enough to hold for 100,000 users).
    pub fn resource_ids(&self, org: &str, kind: Kind) -> Result<Vec<String>, ScimError> {
        self.store().resource_ids(org, kind).map_err(internal)
    }

    pub fn count_resources(&self, org: &str, kind: Kind) -> Result<usize, ScimError> {
        self.store().count_resources(org, kind).map_err(internal)
    }

    /// A page of a group's member ids.
    pub fn members_page(
        &self,
        org: &str,
        group: &str,
        skip: usize,
        take: usize,
    ) -> Result<Vec<String>, ScimError> {
        self.store()
            .members(org, group, skip, take)
            .map_err(internal)
    }
}

/// Rewrites `type eq "work" and value eq "x"` (inside `emails[...]`) into `emails.value eq "x"`
/// for the planner; None when there is no value condition.
fn lift_value_conditions(inner: &Filter) -> Option<Filter> {
    match inner {
        Filter::Compare(p, CompareOp::Eq, v)
            if p.attr.eq_ignore_ascii_case("value") && p.sub.is_none() =>
        {
            Some(Filter::Compare(
                crate::scim::filter::AttrPath {
                    urn: None,
                    attr: "emails".into(),
                    sub: Some("value".into()),
                },
                CompareOp::Eq,
                v.clone(),
            ))
        }
        Filter::And(a, b) => lift_value_conditions(a).or_else(|| lift_value_conditions(b)),
        _ => None,
    }
}

/// The sort key of a rendered resource: the first value at the path, lowercased unless the
/// attribute is caseExact.
fn sort_key(kind: ResourceKind, v: &Value, path: &crate::scim::filter::AttrPath) -> Option<String> {
    let (container, def) = crate::scim::schema::resolve(kind, path.urn.as_deref(), &path.attr)?;
    let holder = match container {
        crate::scim::schema::Container::Extension(u) => v.get(u)?,
        crate::scim::schema::Container::Core => v,
    };
    let mut value = holder.get(def.name)?;
    if let Value::Array(items) = value {
        // Multi-valued: the primary element, else the first.
        value = items
            .iter()
            .find(|e| e.get("primary") == Some(&Value::Bool(true)))
            .or_else(|| items.first())?;
    }
    let sub = path
        .sub
        .as_deref()
        .or((def.ty == crate::scim::schema::Type::Complex && def.multi).then_some("value"));
    if let Some(sub) = sub {
        value = value
            .as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(sub))?
            .1;
    }
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Some(if def.case_exact {
        text
    } else {
        text.to_lowercase()
    })
}
