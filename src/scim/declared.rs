//! Extension schemas an operator declares (RFC 7643 §7 schema documents): parsing and
//! validating the document, and turning it into the same attribute definitions the built-in
//! schemas use. Pure.
//!
//! A declared schema lives as long as the process: its definitions are interned (one copy per
//! distinct document, shared by every organization that uses it), so that every part of the
//! protocol code can hold `&'static Attr` as it does for the core schemas. An operator declares
//! a handful of schemas of a few KB each; declaring the same document again reuses its copy.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use serde_json::{Map, Value};

use super::schema::{Attr, SCHEMA_SCHEMA};
use super::schema::{
    ENTERPRISE_SCHEMA, Extension, GROUP_SCHEMA, Mutability, ResourceKind, Returned, Type,
    USER_SCHEMA,
};

/// Most attributes (counting sub-attributes) one declared schema may have.
pub const MAX_ATTRIBUTES: usize = 200;

/// Why a schema document was refused: one line naming the attribute.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SchemaError(pub String);

fn err(msg: impl Into<String>) -> SchemaError {
    SchemaError(msg.into())
}

/// A parsed, validated schema document.
#[derive(Debug, Clone)]
pub struct Declared {
    /// The resource type it extends.
    pub kind: ResourceKind,
    /// The document as stored and served (normalised: defaults filled in).
    pub document: Value,
}

impl Declared {
    pub fn urn(&self) -> &str {
        self.document["id"].as_str().unwrap_or_default()
    }

    /// Top-level attribute names.
    pub fn attribute_names(&self) -> Vec<String> {
        self.document["attributes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The definitions, interned (see the module's note).
    pub fn extension(&self) -> &'static Extension {
        static INTERNED: LazyLock<Mutex<HashMap<String, &'static Extension>>> =
            LazyLock::new(Default::default);
        let key = self.document.to_string();
        let mut map = INTERNED.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = map.get(&key) {
            return e;
        }
        let doc = &self.document;
        let attrs: Vec<Attr> = doc["attributes"]
            .as_array()
            .map(|a| a.iter().map(build_attr).collect())
            .unwrap_or_default();
        let ext: &'static Extension = Box::leak(Box::new(Extension {
            urn: leak(doc["id"].as_str().unwrap_or_default()),
            name: leak(doc["name"].as_str().unwrap_or_default()),
            description: leak(doc["description"].as_str().unwrap_or_default()),
            attrs: attrs.leak(),
        }));
        map.insert(key, ext);
        ext
    }
}

fn leak(s: &str) -> &'static str {
    s.to_string().leak()
}

/// Builds a definition from a normalised attribute document.
fn build_attr(a: &Value) -> Attr {
    let text = |k: &str| a[k].as_str().unwrap_or_default();
    let subs: Vec<Attr> = a["subAttributes"]
        .as_array()
        .map(|s| s.iter().map(build_attr).collect())
        .unwrap_or_default();
    let canonical: Vec<&'static str> = a["canonicalValues"]
        .as_array()
        .map(|c| c.iter().filter_map(Value::as_str).map(leak).collect())
        .unwrap_or_default();
    Attr {
        name: leak(text("name")),
        ty: parse_type(text("type")).unwrap_or(Type::String),
        multi: a["multiValued"].as_bool().unwrap_or(false),
        case_exact: a["caseExact"].as_bool().unwrap_or(false),
        required: a["required"].as_bool().unwrap_or(false),
        mutability: parse_mutability(text("mutability")).unwrap_or(Mutability::ReadWrite),
        returned: parse_returned(text("returned")).unwrap_or(Returned::Default),
        unique: text("uniqueness") == "server" || text("uniqueness") == "global",
        sub: subs.leak(),
        canonical: canonical.leak(),
        description: leak(text("description")),
    }
}

fn parse_type(t: &str) -> Option<Type> {
    Some(match t {
        "string" => Type::String,
        "boolean" => Type::Boolean,
        "integer" => Type::Integer,
        "decimal" => Type::Decimal,
        "dateTime" => Type::DateTime,
        "reference" => Type::Reference,
        "binary" => Type::Binary,
        "complex" => Type::Complex,
        _ => return None,
    })
}

fn parse_mutability(t: &str) -> Option<Mutability> {
    Some(match t {
        "readOnly" => Mutability::ReadOnly,
        "readWrite" => Mutability::ReadWrite,
        "immutable" => Mutability::Immutable,
        "writeOnly" => Mutability::WriteOnly,
        _ => return None,
    })
}

fn parse_returned(t: &str) -> Option<Returned> {
    Some(match t {
        "always" => Returned::Always,
        "default" => Returned::Default,
        "never" => Returned::Never,
        "request" => Returned::Request,
        _ => return None,
    })
}

/// An attribute name as RFC 7643 §2.1 allows: ALPHA *(ALPHA / DIGIT / "-" / "_"), or `$ref`.
fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Which resource type a URN extends when the operator does not say: a URN ending in `:Group`
/// extends groups, anything else users.
pub fn kind_of_urn(urn: &str) -> ResourceKind {
    if urn.to_ascii_lowercase().ends_with(":group") {
        ResourceKind::Group
    } else {
        ResourceKind::User
    }
}

/// Parses and validates a schema document (the text of a FILE.json).
pub fn parse(text: &str, kind: Option<ResourceKind>) -> Result<Declared, SchemaError> {
    let doc: Value = serde_json::from_str(text)
        .map_err(|e| err(format!("the schema is not valid JSON: {e}")))?;
    let Some(obj) = doc.as_object() else {
        return Err(err("the schema must be a JSON object"));
    };
    let id = match obj.get("id") {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(_) => return Err(err("\"id\" must be a string (the schema's URN)")),
        None => return Err(err("the schema has no \"id\" (its URN)")),
    };
    let lower = id.to_ascii_lowercase();
    if !lower.starts_with("urn:") || id.len() < 8 || id.chars().any(char::is_whitespace) {
        return Err(err(format!(
            "\"id\" must be a URN such as urn:ietf:params:scim:schemas:extension:acme:2.0:User, not {id:?}"
        )));
    }
    for builtin in [USER_SCHEMA, GROUP_SCHEMA, ENTERPRISE_SCHEMA, SCHEMA_SCHEMA] {
        if lower == builtin.to_ascii_lowercase() {
            return Err(err(format!(
                "{id} is a built-in schema and cannot be declared"
            )));
        }
    }
    if lower.starts_with("urn:ietf:params:scim:api:") {
        return Err(err(format!(
            "{id} is a SCIM message URN, not a resource schema"
        )));
    }
    let name = match obj.get("name") {
        None | Some(Value::Null) => id.rsplit(':').nth(1).unwrap_or("Extension").to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(err("\"name\" must be a string")),
    };
    let description = match obj.get("description") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(err("\"description\" must be a string")),
    };
    let Some(Value::Array(attrs)) = obj.get("attributes") else {
        return Err(err(
            "the schema needs \"attributes\": a list of attribute definitions",
        ));
    };
    if attrs.is_empty() {
        return Err(err("the schema declares no attributes"));
    }
    let mut count = 0;
    let mut out = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for (i, a) in attrs.iter().enumerate() {
        let parsed = attribute(a, &format!("attributes[{i}]"), false, &mut count)?;
        let n = parsed["name"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if seen.contains(&n) {
            return Err(err(format!(
                "attribute {:?} is declared twice (names ignore case)",
                parsed["name"].as_str().unwrap_or_default()
            )));
        }
        seen.push(n);
        out.push(parsed);
    }
    if count > MAX_ATTRIBUTES {
        return Err(err(format!(
            "the schema has {count} attributes; at most {MAX_ATTRIBUTES} are allowed"
        )));
    }
    let kind = kind.unwrap_or_else(|| kind_of_urn(&id));
    let mut document = Map::new();
    document.insert("schemas".into(), Value::Array(vec![SCHEMA_SCHEMA.into()]));
    document.insert("id".into(), Value::String(id));
    document.insert("name".into(), Value::String(name));
    document.insert("description".into(), Value::String(description));
    document.insert("attributes".into(), Value::Array(out));
    Ok(Declared {
        kind,
        document: Value::Object(document),
    })
}

/// One attribute definition, validated and with its defaults filled in; `at` names it in errors.
fn attribute(a: &Value, at: &str, nested: bool, count: &mut usize) -> Result<Value, SchemaError> {
    *count += 1;
    let Some(obj) = a.as_object() else {
        return Err(err(format!("{at} must be an object")));
    };
    let name = match obj.get("name") {
        Some(Value::String(s)) if valid_name(s) => s.clone(),
        Some(Value::String(s)) => {
            return Err(err(format!(
                "{at}: {s:?} is not a valid attribute name (a letter, then letters, digits, '-' or '_')"
            )));
        }
        _ => return Err(err(format!("{at} has no \"name\""))),
    };
    let at = format!("attribute {name:?}");
    let text = |key: &str, default: &str| -> Result<String, SchemaError> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(default.to_string()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(err(format!("{at}: \"{key}\" must be a string"))),
        }
    };
    let flag = |key: &str| -> Result<bool, SchemaError> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(err(format!("{at}: \"{key}\" must be true or false"))),
        }
    };
    let ty = text("type", "")?;
    if ty.is_empty() {
        return Err(err(format!("{at} has no \"type\"")));
    }
    let Some(parsed_ty) = parse_type(&ty) else {
        return Err(err(format!(
            "{at}: type {ty:?} is not one of string, boolean, integer, decimal, dateTime, reference, binary, complex"
        )));
    };
    let mutability = text("mutability", "readWrite")?;
    if parse_mutability(&mutability).is_none() {
        return Err(err(format!(
            "{at}: mutability {mutability:?} is not one of readOnly, readWrite, immutable, writeOnly"
        )));
    }
    let returned = text("returned", "default")?;
    if parse_returned(&returned).is_none() {
        return Err(err(format!(
            "{at}: returned {returned:?} is not one of always, never, default, request"
        )));
    }
    let uniqueness = text("uniqueness", "none")?;
    if !matches!(uniqueness.as_str(), "none" | "server" | "global") {
        return Err(err(format!(
            "{at}: uniqueness {uniqueness:?} is not one of none, server, global"
        )));
    }
    let canonical = match obj.get("canonicalValues") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(v)) => {
            let mut out = Vec::new();
            for c in v {
                match c {
                    Value::String(s) => out.push(Value::String(s.clone())),
                    _ => {
                        return Err(err(format!(
                            "{at}: canonicalValues must be a list of strings"
                        )));
                    }
                }
            }
            out
        }
        Some(_) => {
            return Err(err(format!(
                "{at}: canonicalValues must be a list of strings"
            )));
        }
    };
    let mut subs = Vec::new();
    match (parsed_ty, obj.get("subAttributes")) {
        (Type::Complex, _) if nested => {
            return Err(err(format!(
                "{at}: a sub-attribute cannot itself be complex (RFC 7643 §2.3.8)"
            )));
        }
        (Type::Complex, Some(Value::Array(list))) if !list.is_empty() => {
            let mut seen: Vec<String> = Vec::new();
            for (i, s) in list.iter().enumerate() {
                let sub = attribute(s, &format!("{at}, subAttributes[{i}]"), true, count)?;
                let n = sub["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                if seen.contains(&n) {
                    return Err(err(format!("{at}: sub-attribute {n:?} is declared twice")));
                }
                seen.push(n);
                subs.push(sub);
            }
        }
        (Type::Complex, _) => {
            return Err(err(format!("{at} is complex but has no \"subAttributes\"")));
        }
        (_, None | Some(Value::Null)) => {}
        (_, Some(_)) => {
            return Err(err(format!(
                "{at} has subAttributes but its type is {ty}, not complex"
            )));
        }
    }
    let mut out = Map::new();
    out.insert("name".into(), Value::String(name));
    out.insert("type".into(), Value::String(ty));
    out.insert("multiValued".into(), Value::Bool(flag("multiValued")?));
    out.insert(
        "description".into(),
        Value::String(text("description", "")?),
    );
    out.insert("required".into(), Value::Bool(flag("required")?));
    out.insert("caseExact".into(), Value::Bool(flag("caseExact")?));
    out.insert("mutability".into(), Value::String(mutability));
    out.insert("returned".into(), Value::String(returned));
    out.insert("uniqueness".into(), Value::String(uniqueness));
    if !canonical.is_empty() {
        out.insert("canonicalValues".into(), Value::Array(canonical));
    }
    if !subs.is_empty() {
        out.insert("subAttributes".into(), Value::Array(subs));
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    const COST: &str = r#"{"id": "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User",
        "name": "Custom", "attributes": [
            {"name": "costCenter", "type": "string"},
            {"name": "badgeCount", "type": "integer", "uniqueness": "server"},
            {"name": "clearance", "type": "string", "canonicalValues": ["low", "high"]},
            {"name": "office", "type": "complex", "subAttributes": [
                {"name": "building", "type": "string"}, {"name": "floor", "type": "integer"}]}
        ]}"#;

    #[test]
    fn a_schema_document_becomes_definitions() {
        let d = parse(COST, None).unwrap();
        assert_eq!(d.kind, ResourceKind::User);
        let e = d.extension();
        assert_eq!(e.attrs.len(), 4);
        assert_eq!(e.attrs[1].ty, Type::Integer);
        assert!(e.attrs[1].unique);
        assert_eq!(e.attrs[2].canonical, ["low", "high"]);
        assert_eq!(e.attrs[3].sub[1].name, "floor");
        // The same document again is the same interned copy.
        assert!(std::ptr::eq(e, parse(COST, None).unwrap().extension()));
        assert_eq!(
            parse(&COST.replace(":User", ":Group"), None).unwrap().kind,
            ResourceKind::Group
        );
    }

    #[test]
    fn bad_documents_are_one_line_errors_naming_the_attribute() {
        let bad = |attrs: &str| {
            let doc = format!(r#"{{"id": "urn:x:acme:2.0:User", "attributes": [{attrs}]}}"#);
            parse(&doc, None).unwrap_err().0
        };
        let e = bad(r#"{"name": "costCenter", "type": "number"}"#);
        assert!(
            e.contains("\"costCenter\"") && e.contains("\"number\""),
            "{e}"
        );
        let e = bad(r#"{"name": "1st", "type": "string"}"#);
        assert!(e.contains("\"1st\""), "{e}");
        let e = bad(r#"{"name": "office", "type": "complex"}"#);
        assert!(
            e.contains("\"office\"") && e.contains("subAttributes"),
            "{e}"
        );
        let e = bad(r#"{"name": "a", "type": "string"}, {"name": "A", "type": "string"}"#);
        assert!(e.contains("twice"), "{e}");
        let e = bad(r#"{"name": "a", "type": "string", "mutability": "sometimes"}"#);
        assert!(e.contains("mutability"), "{e}");
        let e = bad(
            r#"{"name": "a", "type": "complex", "subAttributes": [{"name": "b", "type": "complex", "subAttributes": [{"name": "c", "type": "string"}]}]}"#,
        );
        assert!(e.contains("\"b\""), "{e}");
        for (doc, needle) in [
            ("[]", "object"),
            ("{", "JSON"),
            (r#"{"attributes": []}"#, "id"),
            (r#"{"id": "costs", "attributes": []}"#, "URN"),
            (
                r#"{"id": "urn:ietf:params:scim:schemas:core:2.0:User", "attributes": []}"#,
                "built-in",
            ),
            (
                r#"{"id": "urn:x:acme:2.0:User", "attributes": []}"#,
                "no attributes",
            ),
        ] {
            let e = parse(doc, None).unwrap_err().0;
            assert!(e.contains(needle), "{doc}: {e}");
            assert!(!e.contains('\n'));
        }
    }
}
