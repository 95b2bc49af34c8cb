//! Turning IdP JSON into stored attributes and stored attributes back into SCIM JSON. Pure.
//!
//! Incoming bodies are normalised against the schema: attribute names take their canonical
//! spelling, unknown and read-only attributes are dropped, `password` is never kept, string
//! booleans (`"True"`) become booleans, `""` and `null` mean absent, and a manager given as a
//! bare id or a list becomes `{"value": id}`.

use serde_json::{Map, Value, json};

use super::error::ScimError;
use super::schema::{self, Attr, Container, Mutability, ResourceKind, Returned, Schemas, Type};

/// Longest userName or group displayName accepted, in characters.
pub const MAX_NAME_CHARS: usize = 512;
/// Longest other string value accepted, in characters.
pub const MAX_STRING_CHARS: usize = 16_384;
/// Most elements in one multi-valued attribute.
pub const MAX_ELEMENTS: usize = 1_000;

/// Normalises a create/replace body (or a patched resource) into stored attributes.
/// Members of a group are not attributes here: see [`member_values`].
pub fn normalize(
    schemas: &Schemas,
    kind: ResourceKind,
    input: &Value,
) -> Result<Map<String, Value>, ScimError> {
    normalize_noting(schemas, kind, input, &mut Vec::new())
}

/// [`normalize`], adding to `ignored` each attribute of the body that no schema declares
/// (`urn:…:badge` for one under an unknown or undeclared extension URN).
pub fn normalize_noting(
    schemas: &Schemas,
    kind: ResourceKind,
    input: &Value,
    ignored: &mut Vec<String>,
) -> Result<Map<String, Value>, ScimError> {
    let Some(obj) = input.as_object() else {
        return Err(ScimError::invalid_syntax(
            "the request body must be a JSON object",
        ));
    };
    let mut out = Map::new();
    for (key, value) in obj {
        if let Some(urn) = schema::extension_urn(schemas, kind, key) {
            let Some(inner) = value.as_object() else {
                if value.is_null() {
                    continue;
                }
                return Err(ScimError::invalid_value(format!("{urn} must be an object")));
            };
            for (k, v) in inner {
                put(schemas, kind, &mut out, Some(urn), k, v, ignored)?;
            }
            continue;
        }
        if key.to_ascii_lowercase().starts_with("urn:") && value.is_object() {
            // An object under a URN no schema declares: a whole undeclared extension.
            if let Some(inner) = value.as_object() {
                for k in inner.keys() {
                    note(ignored, format!("{key}:{k}"));
                }
            }
            continue;
        }
        let (urn, name) = schema::split_urn(key);
        put(schemas, kind, &mut out, urn, name, value, ignored)?;
    }
    // Required attributes of the extensions the resource carries.
    for ext in schemas.extensions(kind) {
        let Some(Value::Object(held)) = out.get(ext.urn) else {
            continue;
        };
        if let Some(missing) = ext
            .attrs
            .iter()
            .find(|a| a.required && !held.contains_key(a.name))
        {
            return Err(ScimError::invalid_value(format!(
                "{}:{} is required",
                ext.urn, missing.name
            )));
        }
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

/// Adds `name` to `ignored` once.
fn note(ignored: &mut Vec<String>, name: String) {
    if !ignored.contains(&name) && ignored.len() < 32 {
        ignored.push(name);
    }
}

/// Stores one top-level attribute (possibly of an extension) in canonical form.
fn put(
    schemas: &Schemas,
    kind: ResourceKind,
    out: &mut Map<String, Value>,
    urn: Option<&str>,
    name: &str,
    value: &Value,
    ignored: &mut Vec<String>,
) -> Result<(), ScimError> {
    // Dotted names (`name.givenName`) appear in no-path PATCH values; in bodies they are unusual
    // but harmless.
    let (attr_name, sub_name) = match name.split_once('.') {
        Some((a, s)) => (a, Some(s)),
        None => (name, None),
    };
    let Some((container, def)) = schema::resolve(schemas, kind, urn, attr_name) else {
        // Unknown attributes are kept out of the resource and reported. `schemas` is not an
        // attribute; neither is a group's `members` here (handled by the caller).
        if !(urn.is_none() && (attr_name.eq_ignore_ascii_case("schemas"))) {
            note(
                ignored,
                match urn {
                    Some(u) => format!("{u}:{attr_name}"),
                    None => attr_name.to_string(),
                },
            );
        }
        return Ok(());
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

/// A simple value, checked against its type. Booleans may arrive as strings in any case
/// ("True", as Entra sends them), integers and decimals as strings of digits; a string
/// attribute takes only a string.
fn normalize_scalar(def: &Attr, value: &Value) -> Result<Option<Value>, ScimError> {
    let wrong = |expected: &str, got: &Value| {
        ScimError::invalid_value(format!(
            "{} must be {expected}, not {}",
            def.name,
            type_word(got)
        ))
    };
    let normalized = match (def.ty, value) {
        (_, Value::Null) => return Ok(None),
        (Type::Boolean, Value::Bool(b)) => Value::Bool(*b),
        (Type::Boolean, Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            "" => return Ok(None),
            _ => {
                return Err(ScimError::invalid_value(format!(
                    "{} must be true or false, not {s:?}",
                    def.name
                )));
            }
        },
        (Type::Boolean, other) => return Err(wrong("true or false", other)),
        (Type::Complex, other) => return Err(wrong("an object", other)),
        (_, Value::String(s)) if s.is_empty() => return Ok(None),
        (Type::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => Value::Number(n.clone()),
        (Type::Integer, Value::String(s)) => match s.trim().parse::<i64>() {
            Ok(i) => Value::from(i),
            Err(_) => {
                return Err(ScimError::invalid_value(format!(
                    "{} must be an integer, not {s:?}",
                    def.name
                )));
            }
        },
        (Type::Integer, other) => return Err(wrong("an integer", other)),
        (Type::Decimal, Value::Number(n)) => Value::Number(n.clone()),
        (Type::Decimal, Value::String(s)) => match s
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
        {
            Some(n) => Value::Number(n),
            None => {
                return Err(ScimError::invalid_value(format!(
                    "{} must be a decimal number, not {s:?}",
                    def.name
                )));
            }
        },
        (Type::Decimal, other) => return Err(wrong("a number", other)),
        (_, Value::String(s)) => {
            if s.chars().count() > MAX_STRING_CHARS {
                return Err(ScimError::invalid_value(format!(
                    "{} is longer than {MAX_STRING_CHARS} characters",
                    def.name
                )));
            }
            if def.ty == Type::DateTime
                && time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                    .is_err()
            {
                return Err(ScimError::invalid_value(format!(
                    "{} must be a dateTime such as 2026-12-06T10:00:00Z, not {s:?}",
                    def.name
                )));
            }
            Value::String(s.clone())
        }
        (_, other) => return Err(wrong("a string", other)),
    };
    if !def.canonical.is_empty() {
        let text = match &normalized {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let allowed = def.canonical.iter().any(|c| {
            if def.case_exact {
                *c == text
            } else {
                c.eq_ignore_ascii_case(&text)
            }
        });
        if !allowed {
            return Err(ScimError::invalid_value(format!(
                "{} must be one of {}, not {text:?}",
                def.name,
                def.canonical.join(", ")
            )));
        }
    }
    Ok(Some(normalized))
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
    schemas: &Schemas,
    kind: ResourceKind,
    id: &str,
    attrs: &Map<String, Value>,
    meta: &Meta<'_>,
    extra: Vec<(&'static str, Value)>,
) -> Value {
    let mut urns = vec![Value::String(kind.core_schema().into())];
    let mut out = Map::new();
    out.insert("schemas".into(), Value::Null);
    out.insert("id".into(), Value::String(id.into()));
    for (k, v) in attrs {
        if let Some(ext) = schemas
            .extensions(kind)
            .iter()
            .find(|e| e.urn == k.as_str())
        {
            // An extension's attributes that are never returned stay out.
            let Value::Object(inner) = v else { continue };
            let shown: Map<String, Value> = inner
                .iter()
                .filter(|(name, _)| {
                    ext.attrs
                        .iter()
                        .find(|a| a.name == name.as_str())
                        .is_none_or(|a| a.returned != Returned::Never)
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if !shown.is_empty() {
                urns.push(Value::String(ext.urn.into()));
                out.insert(k.clone(), Value::Object(shown));
            }
            continue;
        }
        if k.starts_with("urn:") {
            // A stored extension whose schema is no longer declared: kept, not shown.
            continue;
        }
        out.insert(k.clone(), v.clone());
    }
    out["schemas"] = Value::Array(urns);
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

pub use super::projection::Projection;

#[cfg(test)]
mod tests;
