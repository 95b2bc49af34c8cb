//! What a user or group is findable by, and what must stay unique in its organization: the
//! index entries a write stores (name, externalId, emails, declared unique attributes), and
//! which value a refused write clashed on.

use serde_json::{Map, Value};

use super::resources::{emails, taken};
use super::{Directory, Error, IndexEntries};
use crate::scim::schema::{self, ResourceKind, Schemas};

impl Directory {
    /// Which unique value of `attempted` (for the record `id`, None for a create) another
    /// record holds: its name, or a declared unique attribute.
    pub(super) fn clash(
        &self,
        org: &str,
        kind: ResourceKind,
        id: Option<&str>,
        attempted: &Map<String, Value>,
    ) -> Error {
        let schemas = self.schemas(org);
        for (urn, def) in unique_extension_attrs(&schemas, kind) {
            let term = term_name(urn, def);
            let Some(value) = attempted
                .get(urn)
                .and_then(|e| e.get(def.name))
                .and_then(|v| term_value(def, v))
            else {
                continue;
            };
            let holder = self
                .store
                .lookup_unique(org, kind, &IndexEntries::unique_term_value(&term, &value))
                .ok()
                .flatten();
            if holder.is_some_and(|h| Some(h.as_str()) != id) {
                return Error::Conflict {
                    attribute: def.name,
                    value,
                };
            }
        }
        taken(kind, attempted)
    }
}

/// What a record is findable by.
pub fn index_entries(
    schemas: &Schemas,
    kind: ResourceKind,
    attrs: &Map<String, Value>,
) -> IndexEntries {
    let mut terms = Vec::new();
    let mut unique_terms = Vec::new();
    // Declared attributes with `uniqueness: server`: findable and unique.
    for (urn, def) in unique_extension_attrs(schemas, kind) {
        let term = term_name(urn, def);
        if let Some(v) = attrs.get(urn).and_then(|e| e.get(def.name))
            && let Some(value) = term_value(def, v)
        {
            terms.push((term.clone(), value.clone()));
            unique_terms.push((term, value));
        }
    }
    if let Some(ext) = attrs.get("externalId").and_then(Value::as_str) {
        terms.push(("externalId".to_string(), ext.to_string()));
    }
    if kind == ResourceKind::User {
        for email in emails(attrs) {
            let term = ("emails.value".to_string(), email.to_lowercase());
            if !terms.contains(&term) {
                terms.push(term);
            }
        }
    }
    IndexEntries {
        unique: attrs
            .get(kind.name_attr())
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_lowercase(),
        terms,
        unique_terms,
    }
}

/// Whether an extension attribute is indexed: single-valued, not complex, `uniqueness: server`.
pub fn is_indexed(a: &schema::Attr) -> bool {
    a.unique && !a.multi && a.ty != schema::Type::Complex
}

/// The index term of an extension attribute: `urn:…:attr`.
pub fn term_name(urn: &str, a: &schema::Attr) -> String {
    format!("{urn}:{}", a.name)
}

/// The declared extension attributes that are indexed, with their extension's URN.
fn unique_extension_attrs(
    schemas: &Schemas,
    kind: ResourceKind,
) -> impl Iterator<Item = (&'static str, &'static schema::Attr)> + '_ {
    schemas
        .extensions(kind)
        .iter()
        .flat_map(|e| e.attrs.iter().map(move |a| (e.urn, a)))
        .filter(|(_, a)| is_indexed(a))
}

/// How a value is held in the index: its text, lowercased unless the attribute is caseExact.
/// None for a value with no text (a list, an object).
pub fn term_value(def: &schema::Attr, v: &Value) -> Option<String> {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    if text.contains('\0') {
        return None;
    }
    Some(if def.case_exact {
        text
    } else {
        text.to_lowercase()
    })
}
