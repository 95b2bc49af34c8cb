//! `attributes` and `excludedAttributes` (RFC 7644 §3.4.2.5): which attributes of a rendered
//! resource a reply carries, with the schemas' `returned` rules. Pure.

use serde_json::{Map, Value};

use super::schema::{self, Attr, Container, ResourceKind, Returned, Schemas};

/// `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5) as parsed attribute paths.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Projection {
    pub attributes: Vec<String>,
    pub excluded: Vec<String>,
}

impl Projection {
    pub fn parse(attributes: Option<&str>, excluded: Option<&str>) -> Projection {
        let split = |s: Option<&str>| -> Vec<String> {
            s.map(|s| {
                s.split(',')
                    .map(|p| p.trim().to_string())
                    .filter(|p| !p.is_empty())
                    .collect()
            })
            .unwrap_or_default()
        };
        Projection {
            attributes: split(attributes),
            excluded: split(excluded),
        }
    }

    /// Whether the attribute `name` (top level, core) will appear in the output.
    pub fn includes(&self, kind: ResourceKind, name: &str) -> bool {
        let names = |list: &[String]| {
            list.iter().any(|p| {
                let (urn, rest) = schema::split_urn(p);
                let top = rest.split('.').next().unwrap_or(rest);
                top.eq_ignore_ascii_case(name)
                    && urn.is_none_or(|u| u.eq_ignore_ascii_case(kind.core_schema()))
            })
        };
        if !self.attributes.is_empty() {
            return names(&self.attributes);
        }
        !names(&self.excluded)
    }

    /// Applies the projection to a rendered resource; `id` and `schemas` always remain, as do
    /// extension attributes declared `returned: always`; those declared `returned: request`
    /// appear only when `attributes` names them.
    pub fn apply(&self, schemas: &Schemas, kind: ResourceKind, resource: Value) -> Value {
        let Value::Object(mut full) = resource else {
            return resource;
        };
        if !self.attributes.is_empty() {
            let mut out = Map::new();
            for keep in ["schemas", "id"] {
                if let Some(v) = full.get(keep) {
                    out.insert(keep.into(), v.clone());
                }
            }
            for p in &self.attributes {
                copy_path(schemas, kind, &full, &mut out, p);
            }
            for ext in schemas.extensions(kind) {
                for a in ext.attrs.iter().filter(|a| a.returned == Returned::Always) {
                    copy_path(
                        schemas,
                        kind,
                        &full,
                        &mut out,
                        &format!("{}:{}", ext.urn, a.name),
                    );
                }
            }
            return Value::Object(out);
        }
        for ext in schemas.extensions(kind) {
            for a in ext.attrs.iter().filter(|a| a.returned == Returned::Request) {
                remove_path(schemas, kind, &mut full, &format!("{}:{}", ext.urn, a.name));
            }
        }
        for p in &self.excluded {
            let always = matches!(
                locate_def(schemas, kind, p),
                Some(a) if a.returned == Returned::Always
            );
            if !always {
                remove_path(schemas, kind, &mut full, p);
            }
        }
        // An extension left empty is dropped, with its URN in `schemas`.
        let empty: Vec<String> = full
            .iter()
            .filter(|(k, v)| k.starts_with("urn:") && v.as_object().is_some_and(Map::is_empty))
            .map(|(k, _)| k.clone())
            .collect();
        for k in &empty {
            full.remove(k);
        }
        if !empty.is_empty()
            && let Some(Value::Array(urns)) = full.get_mut("schemas")
        {
            urns.retain(|u| !empty.iter().any(|k| u.as_str() == Some(k)));
        }
        Value::Object(full)
    }
}

/// The definition a projection path names (top-level attribute), if any.
fn locate_def(schemas: &Schemas, kind: ResourceKind, path: &str) -> Option<&'static Attr> {
    let (urn, rest) = schema::split_urn(path);
    let attr = rest.split('.').next().unwrap_or(rest);
    schema::resolve(schemas, kind, urn, attr).map(|(_, a)| a)
}

/// Resolves `[urn:]attr[.sub]` against a rendered resource: (container key, attr key, sub).
fn locate(
    schemas: &Schemas,
    kind: ResourceKind,
    resource: &Map<String, Value>,
    path: &str,
) -> Option<(Option<&'static str>, String, Option<String>)> {
    let (urn, rest) = schema::split_urn(path);
    let (attr, sub) = match rest.split_once('.') {
        Some((a, s)) => (a, Some(s.to_string())),
        None => (rest, None),
    };
    // A bare extension URN names the whole extension.
    if urn.is_none() && schema::extension_urn(schemas, kind, path).is_some() {
        return None;
    }
    let container = match schema::resolve(schemas, kind, urn, attr) {
        Some((Container::Extension(u), _)) => Some(u),
        Some((Container::Core, _)) => None,
        None => {
            let u = urn.and_then(|u| schema::extension_urn(schemas, kind, u));
            if urn.is_some()
                && u.is_none()
                && !urn.is_some_and(|u| u.eq_ignore_ascii_case(kind.core_schema()))
            {
                return None;
            }
            u
        }
    };
    let holder = match container {
        Some(u) => resource.get(u)?.as_object()?,
        None => resource,
    };
    let key = holder
        .keys()
        .find(|k| k.eq_ignore_ascii_case(attr))?
        .clone();
    Some((container, key, sub))
}

fn copy_path(
    schemas: &Schemas,
    kind: ResourceKind,
    from: &Map<String, Value>,
    to: &mut Map<String, Value>,
    path: &str,
) {
    if let Some(urn) = schema::extension_urn(schemas, kind, path) {
        if let Some(v) = from.get(urn) {
            to.insert(urn.into(), v.clone());
        }
        return;
    }
    let Some((container, key, sub)) = locate(schemas, kind, from, path) else {
        return;
    };
    let (src, dst) = match container {
        Some(u) => {
            let src = from.get(u).and_then(Value::as_object);
            let dst = to
                .entry(u)
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut();
            match (src, dst) {
                (Some(s), Some(d)) => (s, d),
                _ => return,
            }
        }
        None => (from, to),
    };
    let Some(value) = src.get(&key) else {
        return;
    };
    match sub {
        None => {
            dst.insert(key, value.clone());
        }
        Some(sub) => {
            let pick = |e: &Value| -> Option<(String, Value)> {
                let o = e.as_object()?;
                let (k, v) = o.iter().find(|(k, _)| k.eq_ignore_ascii_case(&sub))?;
                Some((k.clone(), v.clone()))
            };
            let projected = match value {
                Value::Array(items) => {
                    let mut merged: Vec<Value> = match dst.get(&key) {
                        Some(Value::Array(existing)) => existing.clone(),
                        _ => vec![Value::Object(Map::new()); items.len()],
                    };
                    for (i, e) in items.iter().enumerate() {
                        if let (Some((k, v)), Some(Value::Object(m))) = (pick(e), merged.get_mut(i))
                        {
                            m.insert(k, v);
                        }
                    }
                    Value::Array(merged)
                }
                single => {
                    let mut m = dst
                        .get(&key)
                        .and_then(Value::as_object)
                        .cloned()
                        .unwrap_or_default();
                    if let Some((k, v)) = pick(single) {
                        m.insert(k, v);
                    }
                    Value::Object(m)
                }
            };
            dst.insert(key, projected);
        }
    }
}

fn remove_path(
    schemas: &Schemas,
    kind: ResourceKind,
    resource: &mut Map<String, Value>,
    path: &str,
) {
    if let Some(urn) = schema::extension_urn(schemas, kind, path) {
        resource.remove(urn);
        if let Some(Value::Array(urns)) = resource.get_mut("schemas") {
            urns.retain(|u| u.as_str() != Some(urn));
        }
        return;
    }
    let Some((container, key, sub)) = locate(schemas, kind, resource, path) else {
        return;
    };
    if key == "id" || key == "schemas" {
        return;
    }
    let holder = match container {
        Some(u) => match resource.get_mut(u).and_then(Value::as_object_mut) {
            Some(h) => h,
            None => return,
        },
        None => resource,
    };
    match sub {
        None => {
            holder.remove(&key);
        }
        Some(sub) => match holder.get_mut(&key) {
            Some(Value::Array(items)) => {
                for e in items {
                    if let Some(o) = e.as_object_mut() {
                        o.retain(|k, _| !k.eq_ignore_ascii_case(&sub));
                    }
                }
            }
            Some(Value::Object(o)) => o.retain(|k, _| !k.eq_ignore_ascii_case(&sub)),
            _ => {}
        },
    }
}
