//! The PATCH engine (RFC 7644 §3.5.2) over stored attributes, with every form real IdPs send:
//! op names in any case, value paths with filters and sub-attributes, URN paths, no-path values
//! with dotted and URN keys, add/replace on a value path matching nothing creating the element,
//! remove with a value list removing only those listed, `""` and `null` clearing. Pure: the
//! caller applies all operations to a copy and keeps it only if every one succeeds.
//!
//! One file on purpose: parsing a path, expanding no-path values and applying each op form
//! share the same resolution rules; tests are in `patch/tests.rs`.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::filter::{self, AttrPath, Filter};
use super::schema::{self, Attr, Container, Mutability, ResourceKind, Schemas, Type};

/// Most operations accepted in one request.
pub const MAX_OPERATIONS: usize = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Remove,
    Replace,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub attr: AttrPath,
    pub filter: Option<Filter>,
    /// The sub-attribute after a value filter (`emails[type eq "work"].value`), or the one in
    /// `attr.sub` for a plain path.
    pub sub: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchOp {
    pub op: OpKind,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

fn get_ci<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<(&'a String, &'a Value)> {
    obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(name))
}

/// Parses a PatchOp request body.
pub fn parse_request(body: &Value) -> Result<Vec<PatchOp>, ScimError> {
    let Some(obj) = body.as_object() else {
        return Err(ScimError::invalid_syntax(
            "the PATCH body must be a JSON object",
        ));
    };
    let ops = match get_ci(obj, "Operations") {
        Some((_, Value::Array(ops))) => ops,
        Some(_) => return Err(ScimError::invalid_syntax("Operations must be a list")),
        None => {
            return Err(ScimError::invalid_syntax(
                "the PATCH body needs an Operations list",
            ));
        }
    };
    if ops.is_empty() {
        return Err(ScimError::invalid_value("Operations must not be empty"));
    }
    if ops.len() > MAX_OPERATIONS {
        return Err(ScimError::invalid_value(format!(
            "a PATCH may carry at most {MAX_OPERATIONS} operations"
        )));
    }
    ops.iter().map(parse_op).collect()
}

fn parse_op(v: &Value) -> Result<PatchOp, ScimError> {
    let Some(obj) = v.as_object() else {
        return Err(ScimError::invalid_syntax(
            "each operation must be an object",
        ));
    };
    let op = match get_ci(obj, "op") {
        Some((_, Value::String(s))) => match s.to_ascii_lowercase().as_str() {
            "add" => OpKind::Add,
            "remove" => OpKind::Remove,
            "replace" => OpKind::Replace,
            _ => {
                return Err(ScimError::invalid_syntax(format!(
                    "unknown op {s:?}: use add, remove or replace"
                )));
            }
        },
        _ => return Err(ScimError::invalid_syntax("each operation needs an \"op\"")),
    };
    let path = match get_ci(obj, "path") {
        None | Some((_, Value::Null)) => None,
        Some((_, Value::String(s))) if s.trim().is_empty() => None,
        Some((_, Value::String(s))) => Some(parse_path(s)?),
        Some(_) => return Err(ScimError::invalid_path("path must be a string")),
    };
    let value = get_ci(obj, "value").map(|(_, v)| v.clone());
    if op != OpKind::Remove && value.is_none() {
        return Err(ScimError::invalid_value(format!(
            "{} needs a value",
            if op == OpKind::Add { "add" } else { "replace" }
        )));
    }
    if op != OpKind::Remove && path.is_none() && !matches!(value, Some(Value::Object(_))) {
        return Err(ScimError::invalid_value(
            "an operation without a path needs an object value",
        ));
    }
    if op == OpKind::Remove && path.is_none() {
        return Err(ScimError::no_target("remove needs a path"));
    }
    Ok(PatchOp { op, path, value })
}

/// Parses `attrPath`, `attrPath[filter]` or `attrPath[filter].sub` (RFC 7644 §3.5.2 PATH).
pub fn parse_path(text: &str) -> Result<PatchPath, ScimError> {
    let text = text.trim();
    let bad = |why: &str| ScimError::invalid_path(format!("invalid path {text:?}: {why}"));
    match text.find('[') {
        None => {
            let attr = AttrPath::parse(text).map_err(|e| bad(&e.0))?;
            let sub = attr.sub.clone();
            Ok(PatchPath {
                attr,
                filter: None,
                sub,
            })
        }
        Some(open) => {
            let close = text
                .rfind(']')
                .filter(|c| *c > open)
                .ok_or_else(|| bad("missing ']'"))?;
            let attr = AttrPath::parse(&text[..open]).map_err(|e| bad(&e.0))?;
            if attr.sub.is_some() {
                return Err(bad(
                    "a value filter must follow an attribute, not a sub-attribute",
                ));
            }
            let filter = filter::parse(&text[open + 1..close]).map_err(|e| bad(&e.0))?;
            let rest = &text[close + 1..];
            let sub = match rest {
                "" => None,
                r => match r.strip_prefix('.') {
                    Some(s)
                        if AttrPath::parse(s).is_ok_and(|p| p.urn.is_none() && p.sub.is_none()) =>
                    {
                        Some(s.to_string())
                    }
                    _ => return Err(bad("unexpected text after ']'")),
                },
            };
            Ok(PatchPath {
                attr,
                filter: Some(filter),
                sub,
            })
        }
    }
}

impl PatchPath {
    fn plain(urn: Option<&str>, name: &str) -> Result<PatchPath, ScimError> {
        let text = match urn {
            Some(u) => format!("{u}:{name}"),
            None => name.to_string(),
        };
        parse_path(&text)
    }
}

/// One expanded operation: (op, path, value, from a no-path value).
pub type Expanded = (OpKind, PatchPath, Option<Value>, bool);

/// The extension a path names as a whole (`urn:…:2.0:User` with no attribute after it).
fn whole_extension(schemas: &Schemas, kind: ResourceKind, p: &PatchPath) -> Option<&'static str> {
    if p.filter.is_some() || p.attr.sub.is_some() {
        return None;
    }
    let urn = p.attr.urn.as_deref()?;
    schema::extension_urn(schemas, kind, &format!("{urn}:{}", p.attr.attr))
}

/// The operations of a request as (op, path, value) with no-path values expanded into one
/// entry per key, for callers that route some attributes elsewhere (group members). A path
/// naming a whole extension becomes one entry per attribute: its value's keys for add and
/// replace, every attribute of the extension for remove.
pub fn expand(
    schemas: &Schemas,
    kind: ResourceKind,
    op: &PatchOp,
) -> Result<Vec<Expanded>, ScimError> {
    Ok(match (&op.path, &op.value) {
        (Some(p), v) => match whole_extension(schemas, kind, p) {
            None => vec![(op.op, p.clone(), v.clone(), false)],
            Some(urn) if op.op == OpKind::Remove => schemas
                .extensions(kind)
                .iter()
                .filter(|e| e.urn == urn)
                .flat_map(|e| e.attrs.iter())
                .filter_map(|a| PatchPath::plain(Some(urn), a.name).ok())
                .map(|p| (OpKind::Remove, p, None, false))
                .collect(),
            Some(urn) => {
                let Some(Value::Object(inner)) = v else {
                    return Err(ScimError::invalid_value(format!(
                        "the value of {urn} must be an object of its attributes"
                    )));
                };
                let mut out = Vec::new();
                for (k, v2) in inner {
                    let p = PatchPath::plain(Some(urn), k)?;
                    out.push((op.op, p, Some(v2.clone()), false));
                }
                out
            }
        },
        (None, Some(Value::Object(obj))) => {
            let mut out = Vec::new();
            for (k, v) in obj {
                if let Some(urn) = schema::extension_urn(schemas, kind, k) {
                    if let Value::Object(inner) = v {
                        for (k2, v2) in inner {
                            if let Ok(p) = PatchPath::plain(Some(urn), k2) {
                                out.push((op.op, p, Some(v2.clone()), true));
                            }
                        }
                    }
                    continue;
                }
                // Keys that are not attribute paths are ignored like unknown attributes.
                if let Ok(p) = parse_path(k) {
                    out.push((op.op, p, Some(v.clone()), true));
                }
            }
            out
        }
        (None, _) => Vec::new(),
    })
}

/// The attributes a request's operations name that no schema declares (`urn:…:badge` for one
/// under an extension), in order, once each.
pub fn unknown_paths(schemas: &Schemas, kind: ResourceKind, ops: &[PatchOp]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for op in ops {
        let Ok(expanded) = expand(schemas, kind, op) else {
            continue;
        };
        for (_, p, value, _) in expanded {
            let known = schema::resolve(schemas, kind, p.attr.urn.as_deref(), &p.attr.attr)
                .is_some()
                || is_members(kind, &p);
            let name = match &p.attr.urn {
                Some(u) => format!("{u}:{}", p.attr.attr),
                None => p.attr.attr.clone(),
            };
            // A no-path value keyed by an undeclared extension URN holds its attributes.
            if !known && p.attr.urn.is_some() && value.as_ref().is_some_and(Value::is_object) {
                if let Some(Value::Object(inner)) = &value {
                    for k in inner.keys() {
                        let n = format!("{name}:{k}");
                        if !out.contains(&n) {
                            out.push(n);
                        }
                    }
                }
                continue;
            }
            if !known && !name.eq_ignore_ascii_case("schemas") && !out.contains(&name) {
                out.push(name);
            }
        }
    }
    out
}

/// True when the path names a group's `members` (with or without a filter or sub-attribute).
pub fn is_members(kind: ResourceKind, path: &PatchPath) -> bool {
    let urn_ok = path
        .attr
        .urn
        .as_deref()
        .is_none_or(|u| u.eq_ignore_ascii_case(kind.core_schema()));
    kind == ResourceKind::Group && urn_ok && path.attr.attr.eq_ignore_ascii_case("members")
}

/// Applies one operation to stored attributes.
pub fn apply(
    schemas: &Schemas,
    kind: ResourceKind,
    attrs: &mut Map<String, Value>,
    op: &PatchOp,
) -> Result<(), ScimError> {
    for (kind_op, path, value, from_no_path) in expand(schemas, kind, op)? {
        apply_path(
            schemas,
            kind,
            attrs,
            kind_op,
            &path,
            value.as_ref(),
            from_no_path,
        )?;
    }
    Ok(())
}

fn clears(v: Option<&Value>) -> bool {
    matches!(v, None | Some(Value::Null)) || matches!(v, Some(Value::String(s)) if s.is_empty())
}

/// Applies one (op, path, value). `lenient` is set for keys of a no-path value, where read-only
/// attributes such as `id` and `meta` (sent back by Okta when renaming) are ignored rather than
/// refused; the caller checks that such an `id` is the resource's own.
pub fn apply_path(
    schemas: &Schemas,
    kind: ResourceKind,
    attrs: &mut Map<String, Value>,
    op: OpKind,
    path: &PatchPath,
    value: Option<&Value>,
    lenient: bool,
) -> Result<(), ScimError> {
    let Some((container, def)) =
        schema::resolve(schemas, kind, path.attr.urn.as_deref(), &path.attr.attr)
    else {
        return Ok(()); // unknown attributes are ignored
    };
    match def.mutability {
        Mutability::WriteOnly => return Ok(()), // password: accepted, never stored
        Mutability::ReadOnly if lenient => return Ok(()),
        Mutability::ReadOnly => {
            return Err(ScimError::mutability(format!(
                "{} is read-only and cannot be changed",
                def.name
            )));
        }
        Mutability::Immutable => {
            let held = match container {
                Container::Core => attrs.get(def.name),
                Container::Extension(u) => attrs.get(u).and_then(|e| e.get(def.name)),
            };
            if held.is_some() {
                return Err(ScimError::mutability(format!(
                    "{} is immutable: it was set when the resource was created",
                    def.name
                )));
            }
        }
        _ => {}
    }
    let sub_def = match &path.sub {
        Some(s) => match schema::sub_attr(def, s) {
            Some(d) => Some(d),
            None => return Ok(()),
        },
        None => None,
    };
    let holder: &mut Map<String, Value> = match container {
        Container::Core => attrs,
        Container::Extension(u) => {
            if op == OpKind::Remove && !attrs.contains_key(u) {
                return Ok(());
            }
            let entry = attrs.entry(u).or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            entry.as_object_mut().expect("just made an object")
        }
    };
    // Find the stored key case-insensitively, falling back to the canonical name.
    let key = holder
        .keys()
        .find(|k| k.eq_ignore_ascii_case(def.name))
        .cloned()
        .unwrap_or_else(|| def.name.to_string());
    match (&path.filter, sub_def) {
        (None, None) => whole(holder, &key, def, op, value),
        (None, Some(sub)) => sub_everywhere(holder, &key, def, sub, op, value),
        (Some(f), sub) => filtered(holder, &key, def, f, sub, op, value),
    }
    Ok(())
}

fn same_element(a: &Value, b: &Value) -> bool {
    match (a.get("value"), b.get("value")) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn as_items(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

fn merge_into(target: &mut Map<String, Value>, value: &Map<String, Value>) {
    for (k, v) in value {
        let key = target
            .keys()
            .find(|t| t.eq_ignore_ascii_case(k))
            .cloned()
            .unwrap_or_else(|| k.clone());
        if clears(Some(v)) {
            target.remove(&key);
        } else {
            target.insert(key, v.clone());
        }
    }
}

fn whole(
    holder: &mut Map<String, Value>,
    key: &str,
    def: &'static Attr,
    op: OpKind,
    value: Option<&Value>,
) {
    if op == OpKind::Remove {
        // Remove with a value list removes only the listed elements (Entra's members form).
        if let (true, Some(v)) = (def.multi, value)
            && !clears(Some(v))
        {
            let gone = as_items(v);
            if let Some(existing) = holder.get(key).map(as_items) {
                let kept: Vec<Value> = existing
                    .into_iter()
                    .filter(|e| !gone.iter().any(|g| same_element(e, g)))
                    .collect();
                set_or_remove(holder, key, Value::Array(kept));
            }
            return;
        }
        holder.remove(key);
        return;
    }
    if clears(value) {
        holder.remove(key);
        return;
    }
    let value = value.expect("clears() covers None");
    if def.multi {
        let mut items = if op == OpKind::Add {
            holder.get(key).map(as_items).unwrap_or_default()
        } else {
            Vec::new()
        };
        for new in as_items(value) {
            if let Some(existing) = items.iter_mut().find(|e| same_element(e, &new)) {
                *existing = new;
            } else {
                items.push(new);
            }
        }
        set_or_remove(holder, key, Value::Array(items));
        return;
    }
    if def.ty == Type::Complex
        && let (Some(Value::Object(existing)), Value::Object(new)) = (holder.get_mut(key), value)
    {
        // RFC 7644 §3.5.2.1/3: sub-attributes given replace; others are left unchanged.
        merge_into(existing, new);
        if existing.is_empty() {
            holder.remove(key);
        }
        return;
    }
    holder.insert(key.to_string(), value.clone());
}

fn set_or_remove(holder: &mut Map<String, Value>, key: &str, v: Value) {
    let empty = match &v {
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    };
    if empty {
        holder.remove(key);
    } else {
        holder.insert(key.to_string(), v);
    }
}

fn set_sub(element: &mut Map<String, Value>, sub: &Attr, op: OpKind, value: Option<&Value>) {
    element.retain(|k, _| !k.eq_ignore_ascii_case(sub.name));
    if op != OpKind::Remove && !clears(value) {
        element.insert(sub.name.to_string(), value.cloned().unwrap_or(Value::Null));
    }
}

fn sub_everywhere(
    holder: &mut Map<String, Value>,
    key: &str,
    def: &'static Attr,
    sub: &'static Attr,
    op: OpKind,
    value: Option<&Value>,
) {
    if def.multi {
        let mut items = holder.get(key).map(as_items).unwrap_or_default();
        if items.is_empty() {
            if op == OpKind::Remove || clears(value) {
                return;
            }
            items.push(Value::Object(Map::new()));
        }
        for e in items.iter_mut() {
            if let Value::Object(o) = e {
                set_sub(o, sub, op, value);
            }
        }
        items.retain(|e| !matches!(e, Value::Object(o) if o.is_empty()));
        set_or_remove(holder, key, Value::Array(items));
        return;
    }
    let mut parent = match holder.get(key) {
        Some(Value::Object(o)) => o.clone(),
        Some(other) if !other.is_null() => {
            let mut m = Map::new();
            m.insert("value".into(), other.clone());
            m
        }
        _ => Map::new(),
    };
    set_sub(&mut parent, sub, op, value);
    set_or_remove(holder, key, Value::Object(parent));
}

fn filtered(
    holder: &mut Map<String, Value>,
    key: &str,
    def: &'static Attr,
    f: &Filter,
    sub: Option<&'static Attr>,
    op: OpKind,
    value: Option<&Value>,
) {
    let was_single = !def.multi;
    let mut items = holder.get(key).map(as_items).unwrap_or_default();
    // A bare manager id stands for {"value": id}.
    for e in items.iter_mut() {
        if !e.is_object() {
            let mut m = Map::new();
            m.insert("value".into(), e.clone());
            *e = Value::Object(m);
        }
    }
    let hits: Vec<usize> = (0..items.len())
        .filter(|i| f.matches_element(Some(def), &items[*i]))
        .collect();
    match op {
        OpKind::Remove => {
            if sub.is_none() {
                let mut i = 0;
                items.retain(|_| {
                    i += 1;
                    !hits.contains(&(i - 1))
                });
            } else if let Some(sub) = sub {
                for &i in &hits {
                    if let Value::Object(o) = &mut items[i] {
                        set_sub(o, sub, op, value);
                    }
                }
            }
        }
        OpKind::Add | OpKind::Replace => {
            if hits.is_empty() {
                if clears(value) {
                    return;
                }
                // Nothing matches: create the element the filter describes (Entra, Okta).
                let mut element = Map::new();
                for (k, v) in f.equalities() {
                    let name = schema::sub_attr(def, &k).map_or(k, |d| d.name.to_string());
                    element.insert(name, v);
                }
                match (sub, value) {
                    (Some(sub), _) => set_sub(&mut element, sub, op, value),
                    (None, Some(Value::Object(o))) => merge_into(&mut element, o),
                    (None, Some(other)) => {
                        element.insert("value".into(), other.clone());
                    }
                    (None, None) => {}
                }
                items.push(Value::Object(element));
            } else {
                for &i in &hits {
                    let Value::Object(o) = &mut items[i] else {
                        continue;
                    };
                    match (sub, value) {
                        (Some(sub), _) => set_sub(o, sub, op, value),
                        (None, Some(Value::Object(v))) => merge_into(o, v),
                        (None, v) if clears(v) => o.clear(),
                        (None, Some(other)) => {
                            o.insert("value".into(), other.clone());
                        }
                        (None, None) => {}
                    }
                }
            }
        }
    }
    items.retain(|e| !matches!(e, Value::Object(o) if o.is_empty()));
    if was_single {
        match items.into_iter().next() {
            Some(first) => {
                holder.insert(key.to_string(), first);
            }
            None => {
                holder.remove(key);
            }
        }
    } else {
        set_or_remove(holder, key, Value::Array(items));
    }
}

#[cfg(test)]
mod tests;
