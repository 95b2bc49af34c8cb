//! Turning IdP JSON into stored attributes and stored attributes back into SCIM JSON. Pure.
//!
//! Incoming bodies are normalised against the schema: attribute names take their canonical
//! spelling, unknown and read-only attributes are dropped, `password` is never kept, string
//! booleans (`"True"`) become booleans, `""` and `null` mean absent, and a manager given as a
//! bare id or a list becomes `{"value": id}`.

use serde_json::{Map, Value, json};

use super::error::ScimError;
use super::schema::{self, Attr, Container, Mutability, ResourceKind, Type};

/// Longest userName or group displayName accepted, in characters.
pub const MAX_NAME_CHARS: usize = 512;
/// Longest other string value accepted, in characters.
pub const MAX_STRING_CHARS: usize = 16_384;
/// Most elements in one multi-valued attribute.
pub const MAX_ELEMENTS: usize = 1_000;

/// Normalises a create/replace body (or a patched resource) into stored attributes.
/// Members of a group are not attributes here: see [`member_values`].
pub fn normalize(kind: ResourceKind, input: &Value) -> Result<Map<String, Value>, ScimError> {
    let Some(obj) = input.as_object() else {
        return Err(ScimError::invalid_syntax(
            "the request body must be a JSON object",
        ));
    };
    let mut out = Map::new();
    for (key, value) in obj {
        if let Some(urn) = schema::extension_urn(kind, key) {
            let Some(inner) = value.as_object() else {
                if value.is_null() {
                    continue;
                }
                return Err(ScimError::invalid_value(format!("{urn} must be an object")));
            };
            for (k, v) in inner {
                put(kind, &mut out, Some(urn), k, v)?;
            }
            continue;
        }
        let (urn, name) = schema::split_urn(key);
        put(kind, &mut out, urn, name, value)?;
    }
    let required = match kind {
        ResourceKind::User => "userName",
        ResourceKind::Group => "displayName",
    };
    match out.get(required) {
        Some(Value::String(s)) if !s.trim().is_empty() => {
            if s.chars().count() > MAX_NAME_CHARS {
                return Err(ScimError::invalid_value(format!(
                    "{required} is longer than {MAX_NAME_CHARS} characters"
                )));
            }
            if s.chars().any(char::is_control) {
                return Err(ScimError::invalid_value(format!(
                    "{required} must not contain control characters"
                )));
            }
        }
        _ => {
            return Err(ScimError::invalid_value(format!("{required} is required")));
        }
    }
    Ok(out)
}

/// Stores one top-level attribute (possibly of an extension) in canonical form.
fn put(
    kind: ResourceKind,
    out: &mut Map<String, Value>,
    urn: Option<&str>,
    name: &str,
    value: &Value,
) -> Result<(), ScimError> {
    // Dotted names (`name.givenName`) appear in no-path PATCH values; in bodies they are unusual
    // but harmless.
    let (attr_name, sub_name) = match name.split_once('.') {
        Some((a, s)) => (a, Some(s)),
        None => (name, None),
    };
    let Some((container, def)) = schema::resolve(kind, urn, attr_name) else {
        return Ok(()); // unknown attributes are ignored
    };
    if def.mutability == Mutability::ReadOnly || def.mutability == Mutability::WriteOnly {
        return Ok(()); // id, meta, groups, password: never stored from input
    }
    if kind == ResourceKind::Group && def.name == "members" {
        return Ok(());
    }
    let holder = match container {
        Container::Core => out,
        Container::Extension(u) => out
            .entry(u)
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .expect("extension containers are objects"),
    };
    let normalized = match sub_name {
        None => normalize_value(def, value)?,
        Some(sub) => {
            let Some(sub_def) = schema::sub_attr(def, sub) else {
                return Ok(());
            };
            let v = normalize_scalar(sub_def, value)?;
            let mut parent = holder
                .get(def.name)
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            match v {
                Some(v) => {
                    parent.insert(sub_def.name.to_string(), v);
                }
                None => {
                    parent.remove(sub_def.name);
                }
            }
            (!parent.is_empty()).then_some(Value::Object(parent))
        }
    };
    match normalized {
        Some(v) => {
            holder.insert(def.name.to_string(), v);
        }
        None => {
            holder.remove(def.name);
        }
    }
    Ok(())
}

/// Normalises an attribute's value; None means "absent".
pub fn normalize_value(def: &'static Attr, value: &Value) -> Result<Option<Value>, ScimError> {
    if def.multi {
        let items: Vec<&Value> = match value {
            Value::Null => return Ok(None),
            Value::String(s) if s.is_empty() => return Ok(None),
            Value::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        if items.len() > MAX_ELEMENTS {
            return Err(ScimError::invalid_value(format!(
                "{} has more than {MAX_ELEMENTS} values",
                def.name
            )));
        }
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let Some(v) = normalize_element(def, item)?
                && !out.contains(&v)
            {
                out.push(v);
            }
        }
        return Ok((!out.is_empty()).then_some(Value::Array(out)));
    }
    if def.ty == Type::Complex {
        return normalize_element(def, value);
    }
    normalize_scalar(def, value)
}

/// One element of a complex attribute: an object of known sub-attributes. A bare value stands
/// for `{"value": ...}`; a list (older manager forms) for its first element.
fn normalize_element(def: &'static Attr, value: &Value) -> Result<Option<Value>, ScimError> {
    let obj = match value {
        Value::Null => return Ok(None),
        Value::Object(o) => o.clone(),
        Value::Array(a) if !def.multi => match a.first() {
            Some(first) => return normalize_element(def, first),
            None => return Ok(None),
        },
        Value::Array(_) => {
            return Err(ScimError::invalid_value(format!(
                "{} values must not be nested lists",
                def.name
            )));
        }
        scalar if schema::sub_attr(def, "value").is_none() => {
            return Err(ScimError::invalid_value(format!(
                "{} must be an object, not {}",
                def.name,
                type_word(scalar)
            )));
        }
        scalar => {
            let mut m = Map::new();
            m.insert("value".into(), scalar.clone());
            m
        }
    };
    let mut out = Map::new();
    for (k, v) in &obj {
        let Some(sub) = schema::sub_attr(def, k) else {
            continue;
        };
        if sub.mutability == Mutability::ReadOnly {
            continue;
        }
        if let Some(v) = normalize_scalar(sub, v)? {
            out.insert(sub.name.to_string(), v);
        }
    }
    Ok((!out.is_empty()).then_some(Value::Object(out)))
}

/// A simple value: strings stay strings (numbers are accepted as their text), booleans may
/// arrive as strings in any case.
fn normalize_scalar(def: &Attr, value: &Value) -> Result<Option<Value>, ScimError> {
    match (def.ty, value) {
        (_, Value::Null) => Ok(None),
        (Type::Boolean, Value::Bool(b)) => Ok(Some(Value::Bool(*b))),
        (Type::Boolean, Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(Some(Value::Bool(true))),
            "false" => Ok(Some(Value::Bool(false))),
            "" => Ok(None),
            _ => Err(ScimError::invalid_value(format!(
                "{} must be true or false, not {s:?}",
                def.name
            ))),
        },
        (Type::Boolean, other) => Err(ScimError::invalid_value(format!(
            "{} must be true or false, not {other}",
            def.name
        ))),
        (Type::Complex, _) => Err(ScimError::invalid_value(format!(
            "{} must be an object",
            def.name
        ))),
        (_, Value::String(s)) if s.is_empty() => Ok(None),
        (_, Value::String(s)) => {
            if s.chars().count() > MAX_STRING_CHARS {
                return Err(ScimError::invalid_value(format!(
                    "{} is longer than {MAX_STRING_CHARS} characters",
                    def.name
                )));
            }
            Ok(Some(Value::String(s.clone())))
        }
        (_, Value::Number(n)) => Ok(Some(Value::String(n.to_string()))),
        (_, Value::Bool(b)) => Ok(Some(Value::String(b.to_string()))),
        (_, other) => Err(ScimError::invalid_value(format!(
            "{} must be a string, not {}",
            def.name,
            type_word(other)
        ))),
    }
}

fn type_word(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The member ids of a group body's `members` (ids as given; unknown ones are the caller's
/// business). Errors when `members` is not a list of objects or strings.
pub fn member_values(input: &Value) -> Result<Vec<String>, ScimError> {
    let Some(obj) = input.as_object() else {
        return Ok(Vec::new());
    };
    let Some((_, members)) = obj.iter().find(|(k, _)| k.eq_ignore_ascii_case("members")) else {
        return Ok(Vec::new());
    };
    member_ids(members)
}

/// Ids from a members value: `[{"value": id, ...}]`, a single object, or bare ids.
pub fn member_ids(members: &Value) -> Result<Vec<String>, ScimError> {
    let items: Vec<&Value> = match members {
        Value::Null => return Ok(Vec::new()),
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    let mut ids = Vec::with_capacity(items.len());
    for item in items {
        let id = match item {
            Value::String(s) => s.clone(),
            Value::Object(o) => match o.iter().find(|(k, _)| k.eq_ignore_ascii_case("value")) {
                Some((_, Value::String(s))) => s.clone(),
                Some((_, Value::Number(n))) => n.to_string(),
                _ => {
                    return Err(ScimError::invalid_value(
                        "each member needs a \"value\" holding a user id",
                    ));
                }
            },
            _ => {
                return Err(ScimError::invalid_value(
                    "members must be a list of {\"value\": id} objects",
                ));
            }
        };
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// Everything needed to render `meta`.
pub struct Meta<'a> {
    pub resource_type: &'a str,
    pub created: &'a str,
    pub last_modified: &'a str,
    pub location: &'a str,
    pub version: &'a str,
}

/// The full SCIM representation of a stored resource.
pub fn render(
    kind: ResourceKind,
    id: &str,
    attrs: &Map<String, Value>,
    meta: &Meta<'_>,
    extra: Vec<(&'static str, Value)>,
) -> Value {
    let mut schemas = vec![Value::String(kind.core_schema().into())];
    for (urn, _) in kind.extensions() {
        if attrs.contains_key(*urn) {
            schemas.push(Value::String((*urn).into()));
        }
    }
    let mut out = Map::new();
    out.insert("schemas".into(), Value::Array(schemas));
    out.insert("id".into(), Value::String(id.into()));
    for (k, v) in attrs {
        out.insert(k.clone(), v.clone());
    }
    for (k, v) in extra {
        out.insert(k.into(), v);
    }
    out.insert(
        "meta".into(),
        json!({
            "resourceType": meta.resource_type,
            "created": meta.created,
            "lastModified": meta.last_modified,
            "location": meta.location,
            "version": meta.version,
        }),
    );
    Value::Object(out)
}

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

    /// Applies the projection to a rendered resource; `id` and `schemas` always remain.
    pub fn apply(&self, kind: ResourceKind, resource: Value) -> Value {
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
                copy_path(kind, &full, &mut out, p);
            }
            return Value::Object(out);
        }
        for p in &self.excluded {
            remove_path(kind, &mut full, p);
        }
        Value::Object(full)
    }
}

/// Resolves `[urn:]attr[.sub]` against a rendered resource: (container key, attr key, sub).
fn locate(
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
    if urn.is_none() && schema::extension_urn(kind, path).is_some() {
        return None;
    }
    let container = match schema::resolve(kind, urn, attr) {
        Some((Container::Extension(u), _)) => Some(u),
        Some((Container::Core, _)) => None,
        None => {
            let u = urn.and_then(|u| schema::extension_urn(kind, u));
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
    kind: ResourceKind,
    from: &Map<String, Value>,
    to: &mut Map<String, Value>,
    path: &str,
) {
    if let Some(urn) = schema::extension_urn(kind, path) {
        if let Some(v) = from.get(urn) {
            to.insert(urn.into(), v.clone());
        }
        return;
    }
    let Some((container, key, sub)) = locate(kind, from, path) else {
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

fn remove_path(kind: ResourceKind, resource: &mut Map<String, Value>, path: &str) {
    if let Some(urn) = schema::extension_urn(kind, path) {
        resource.remove(urn);
        return;
    }
    let Some((container, key, sub)) = locate(kind, resource, path) else {
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

#[cfg(test)]
mod tests;
