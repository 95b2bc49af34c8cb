//! Listing and searching users and groups: filters answered from the indexes where they can
//! be, sorting and paging (RFC 7644 §3.4.2).

use std::collections::BTreeSet;

use serde_json::Value;

use super::{Directory, ResourceRecord, Result};
use crate::scim::filter::{AttrPath, CompValue, CompareOp, Filter};
use crate::scim::list::{Limits, ListParams};
use crate::scim::resource::Projection;
use crate::scim::schema::{self, ResourceKind};

/// One page of a list or search.
#[derive(Debug)]
pub struct Page {
    pub total: usize,
    pub start_index: usize,
    pub resources: Vec<Value>,
}

/// Records read per step of a scan.
const SCAN_BATCH: usize = 512;

impl Directory {
    pub fn list_limits(&self) -> Limits {
        Limits {
            default_count: self.config().scim.default_count,
            max_results: self.config().scim.max_results,
        }
    }

    /// Calls `f` on every record of one kind in list order until it returns Ok(false).
    fn scan(
        &self,
        org: &str,
        kind: ResourceKind,
        mut f: impl FnMut(ResourceRecord) -> Result<bool>,
    ) -> Result<()> {
        let mut after: Option<String> = None;
        loop {
            let batch = self
                .store
                .resources_after(org, kind, after.as_deref(), SCAN_BATCH)?;
            let Some(last) = batch.last() else {
                return Ok(());
            };
            after = Some(last.id.clone());
            for rec in batch {
                if !f(rec)? {
                    return Ok(());
                }
            }
        }
    }

    /// Candidate ids for a filter from the indexes, or None when it needs a scan.
    fn plan(&self, org: &str, kind: ResourceKind, f: &Filter) -> Result<Option<BTreeSet<String>>> {
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
                let mut ids = BTreeSet::new();
                // A declared unique attribute (`urn:…:badge eq "42"`) is indexed.
                let schemas = self.schemas(org);
                let declared = match schema::resolve(&schemas, kind, p.urn.as_deref(), &p.attr) {
                    Some((schema::Container::Extension(urn), def))
                        if p.sub.is_none() && super::index::is_indexed(def) =>
                    {
                        Some((super::index::term_name(urn, def), def))
                    }
                    _ => None,
                };
                if let Some((term, def)) = declared {
                    for form in forms {
                        if let Some(v) = super::index::term_value(def, &Value::String(form)) {
                            ids.extend(self.store.lookup(org, kind, &term, &v)?);
                        }
                    }
                    return Ok(Some(ids));
                }
                for form in forms {
                    if p.is(kind, kind.name_attr(), None) {
                        ids.extend(self.store.lookup_unique(org, kind, &form.to_lowercase())?);
                    } else if p.is(kind, "id", None) {
                        ids.insert(form);
                    } else if p.is(kind, "externalId", None) {
                        ids.extend(self.store.lookup(org, kind, "externalId", &form)?);
                    } else if kind == ResourceKind::User
                        && (p.is(kind, "emails", Some("value")) || p.is(kind, "emails", None))
                    {
                        ids.extend(self.store.lookup(
                            org,
                            kind,
                            "emails.value",
                            &form.to_lowercase(),
                        )?);
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
            Filter::ValuePath(p, inner)
                if kind == ResourceKind::User && p.is(kind, "emails", None) =>
            {
                // emails[type eq "work" and value eq "x"]: the value condition is indexed.
                match lift_value_conditions(inner) {
                    Some(f) => self.plan(org, kind, &f)?,
                    None => None,
                }
            }
            _ => None,
        })
    }

    /// The records a filter matches (and, sorted, every record when only sorting is asked).
    fn matching(
        &self,
        org: &str,
        kind: ResourceKind,
        params: &ListParams,
        eval: &Projection,
    ) -> Result<Vec<ResourceRecord>> {
        let mut out = Vec::new();
        let schemas = self.schemas(org);
        let Some(f) = &params.filter else {
            self.scan(org, kind, |r| {
                out.push(r);
                Ok(true)
            })?;
            return Ok(out);
        };
        match self.plan(org, kind, f)? {
            Some(ids) => {
                for id in ids {
                    if let Some(rec) = self.store.get_resource(org, kind, &id)?
                        && f.matches(&schemas, kind, &self.render(org, kind, &rec, eval)?)
                    {
                        out.push(rec);
                    }
                }
            }
            None => self.scan(org, kind, |rec| {
                if f.matches(&schemas, kind, &self.render(org, kind, &rec, eval)?) {
                    out.push(rec);
                }
                Ok(true)
            })?,
        }
        Ok(out)
    }

    /// GET list and `.search`: filter (from indexes where possible), sort, page, project.
    pub fn list_resources(
        &self,
        org: &str,
        kind: ResourceKind,
        params: &ListParams,
    ) -> Result<Page> {
        // What the filter needs rendered to be evaluated: derived attributes only if named.
        let needs = |name: &str| {
            params
                .filter
                .as_ref()
                .is_some_and(|f| f.paths().iter().any(|p| p.attr.eq_ignore_ascii_case(name)))
        };
        let eval = Projection {
            attributes: Vec::new(),
            excluded: ["groups", "members"]
                .into_iter()
                .filter(|n| !needs(n))
                .map(str::to_string)
                .collect(),
        };
        let skip = params.start_index - 1;
        let (total, page) = if params.filter.is_none() && params.sort_by.is_none() {
            // No filter, no sort: the page straight from the id list.
            let (total, ids) = self.store.resource_page(org, kind, skip, params.count)?;
            let mut page = Vec::with_capacity(ids.len());
            for id in &ids {
                if let Some(rec) = self.store.get_resource(org, kind, id)? {
                    page.push(rec);
                }
            }
            (total, page)
        } else {
            let mut records = self.matching(org, kind, params, &eval)?;
            records.sort_by(|a, b| a.id.cmp(&b.id));
            if let Some(sort) = &params.sort_by {
                let schemas = self.schemas(org);
                let key = |r: &ResourceRecord| -> Option<String> {
                    let v = self.render(org, kind, r, &eval).ok()?;
                    sort_key(&schemas, kind, &v, sort)
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
        };
        let resources = page
            .iter()
            .map(|r| self.render(org, kind, r, &params.projection))
            .collect::<Result<Vec<_>>>()?;
        Ok(Page {
            total,
            start_index: params.start_index,
            resources,
        })
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
                AttrPath {
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
fn sort_key(
    schemas: &schema::Schemas,
    kind: ResourceKind,
    v: &Value,
    path: &AttrPath,
) -> Option<String> {
    let (container, def) = schema::resolve(schemas, kind, path.urn.as_deref(), &path.attr)?;
    let holder = match container {
        schema::Container::Extension(u) => v.get(u)?,
        schema::Container::Core => v,
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
        .or((def.ty == schema::Type::Complex && def.multi).then_some("value"));
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
