//! Evaluating a filter against a resource's JSON: attribute names case-insensitively,
//! comparisons by the attribute's type and caseExact (RFC 7644 §3.4.2.2). Pure.

use serde_json::Value;

use super::{AttrPath, CompValue, CompareOp, Filter, percent_decode};
use crate::scim::schema::{self, Attr, Container, ResourceKind, Schemas, Type};

/// Where paths are resolved: the resource itself, or one element of a multi-valued attribute.
#[derive(Clone, Copy)]
enum Scope<'s> {
    Resource(ResourceKind, &'s Schemas),
    Element(Option<&'static Attr>),
}

impl Filter {
    /// True when the resource (its full JSON representation) matches.
    pub fn matches(&self, schemas: &Schemas, kind: ResourceKind, resource: &Value) -> bool {
        eval(self, Scope::Resource(kind, schemas), resource)
    }

    /// True when one element of a multi-valued attribute (defined by `parent`) matches; paths
    /// in the filter name the element's sub-attributes.
    pub fn matches_element(&self, parent: Option<&'static Attr>, element: &Value) -> bool {
        eval(self, Scope::Element(parent), element)
    }

    /// The `attr eq value` conditions joined by `and` at the top of the filter: what a new
    /// element must hold to match it (used when a PATCH adds to a value path matching nothing).
    pub fn equalities(&self) -> Vec<(String, Value)> {
        match self {
            Filter::And(a, b) => {
                let mut v = a.equalities();
                v.extend(b.equalities());
                v
            }
            Filter::Compare(p, CompareOp::Eq, value) if p.urn.is_none() && p.sub.is_none() => {
                let v = match value {
                    CompValue::Str(s) => Value::String(s.clone()),
                    CompValue::Bool(b) => Value::Bool(*b),
                    CompValue::Num(n) => Value::Number(n.clone()),
                    CompValue::Null => return Vec::new(),
                };
                vec![(p.attr.clone(), v)]
            }
            _ => Vec::new(),
        }
    }

    /// Every attribute path the filter names (for deciding what must be loaded).
    pub fn paths(&self) -> Vec<&AttrPath> {
        let mut out = Vec::new();
        fn walk<'a>(f: &'a Filter, out: &mut Vec<&'a AttrPath>) {
            match f {
                Filter::Compare(p, ..) | Filter::Present(p) => out.push(p),
                Filter::And(a, b) | Filter::Or(a, b) => {
                    walk(a, out);
                    walk(b, out);
                }
                Filter::Not(a) => walk(a, out),
                Filter::ValuePath(p, inner) => {
                    out.push(p);
                    walk(inner, out);
                }
            }
        }
        walk(self, &mut out);
        out
    }
}

fn get_ci<'v>(obj: &'v Value, name: &str) -> Option<&'v Value> {
    let map = obj.as_object()?;
    map.get(name).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// Resolves a path to the values it names, with the definition of the final attribute.
fn resolve_values<'v>(
    scope: Scope<'_>,
    obj: &'v Value,
    path: &AttrPath,
) -> (Vec<&'v Value>, Option<&'static Attr>) {
    let (container, def) = match scope {
        Scope::Resource(kind, schemas) => {
            match schema::resolve(schemas, kind, path.urn.as_deref(), &path.attr) {
                Some((c, a)) => (Some(c), Some(a)),
                None => (None, None),
            }
        }
        Scope::Element(parent) => (None, parent.and_then(|p| schema::sub_attr(p, &path.attr))),
    };
    let holder = match container {
        Some(Container::Extension(urn)) => match get_ci(obj, urn) {
            Some(ext) => ext,
            None => return (Vec::new(), def),
        },
        _ => obj,
    };
    let Some(top) = get_ci(holder, &path.attr) else {
        return (Vec::new(), def);
    };
    let elements: Vec<&Value> = match top {
        Value::Array(items) => items.iter().collect(),
        v => vec![v],
    };
    let sub_name = path.sub.as_deref().or_else(|| {
        // A complex multi-valued attribute compared directly compares its `value`.
        (def.is_some_and(|d| d.ty == Type::Complex && d.multi)).then_some("value")
    });
    match sub_name {
        Some(sub) => {
            let sub_def = def.and_then(|d| schema::sub_attr(d, sub));
            let values = elements
                .into_iter()
                .filter_map(|e| get_ci(e, sub))
                .collect();
            (values, sub_def)
        }
        None => (elements, def),
    }
}

fn eval(f: &Filter, scope: Scope<'_>, obj: &Value) -> bool {
    match f {
        Filter::And(a, b) => eval(a, scope, obj) && eval(b, scope, obj),
        Filter::Or(a, b) => eval(a, scope, obj) || eval(b, scope, obj),
        Filter::Not(a) => !eval(a, scope, obj),
        Filter::Present(p) => resolve_values(scope, obj, p).0.iter().any(|v| present(v)),
        Filter::Compare(p, op, value) => {
            let (values, def) = resolve_values(scope, obj, p);
            if *op == CompareOp::Ne {
                return !values.iter().any(|v| compare(v, CompareOp::Eq, value, def));
            }
            if *value == CompValue::Null && *op == CompareOp::Eq {
                return !values.iter().any(|v| present(v));
            }
            values.iter().any(|v| compare(v, *op, value, def))
        }
        Filter::ValuePath(p, inner) => {
            let def = match scope {
                Scope::Resource(kind, schemas) => {
                    schema::resolve(schemas, kind, p.urn.as_deref(), &p.attr)
                }
                _ => None,
            };
            let container = def.map(|(c, _)| c);
            let holder = match container {
                Some(Container::Extension(urn)) => match get_ci(obj, urn) {
                    Some(e) => e,
                    None => return false,
                },
                _ => obj,
            };
            let Some(top) = get_ci(holder, &p.attr) else {
                return false;
            };
            let scope = Scope::Element(def.map(|(_, a)| a));
            match top {
                Value::Array(items) => items.iter().any(|e| eval(inner, scope, e)),
                v => eval(inner, scope, v),
            }
        }
    }
}

fn present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

fn compare(actual: &Value, op: CompareOp, expected: &CompValue, def: Option<&Attr>) -> bool {
    match (actual, expected) {
        (Value::String(a), CompValue::Str(e)) => {
            if compare_str(a, op, e, def) {
                return true;
            }
            // A value left %-encoded by the IdP matches its decoded form too.
            percent_decode(e).is_some_and(|d| compare_str(a, op, &d, def))
        }
        (Value::Bool(a), CompValue::Bool(e)) => match op {
            CompareOp::Eq => a == e,
            _ => false,
        },
        (Value::Bool(a), CompValue::Str(e)) => match (op, e.to_ascii_lowercase().as_str()) {
            (CompareOp::Eq, "true") => *a,
            (CompareOp::Eq, "false") => !*a,
            _ => false,
        },
        (Value::Number(a), CompValue::Num(e)) => {
            let (Some(a), Some(e)) = (a.as_f64(), e.as_f64()) else {
                return false;
            };
            ordered(a.partial_cmp(&e), op)
        }
        (Value::String(a), CompValue::Num(e)) => compare_str(a, op, &e.to_string(), def),
        (Value::String(a), CompValue::Bool(e)) => compare_str(a, op, &e.to_string(), def),
        _ => false,
    }
}

fn ordered(ord: Option<std::cmp::Ordering>, op: CompareOp) -> bool {
    use std::cmp::Ordering::*;
    matches!(
        (ord, op),
        (Some(Equal), CompareOp::Eq | CompareOp::Ge | CompareOp::Le)
            | (Some(Greater), CompareOp::Gt | CompareOp::Ge)
            | (Some(Less), CompareOp::Lt | CompareOp::Le)
    )
}

fn compare_str(a: &str, op: CompareOp, e: &str, def: Option<&Attr>) -> bool {
    if def.is_some_and(|d| d.ty == Type::DateTime)
        && let (Some(x), Some(y)) = (crate::util::parse_rfc3339(a), crate::util::parse_rfc3339(e))
    {
        return ordered(x.partial_cmp(&y), op);
    }
    let case_exact = def.is_some_and(|d| d.case_exact);
    let (a, e) = if case_exact {
        (a.to_string(), e.to_string())
    } else {
        (a.to_lowercase(), e.to_lowercase())
    };
    match op {
        CompareOp::Eq => a == e,
        CompareOp::Ne => a != e,
        CompareOp::Co => a.contains(&e),
        CompareOp::Sw => a.starts_with(&e),
        CompareOp::Ew => a.ends_with(&e),
        _ => ordered(Some(a.cmp(&e)), op),
    }
}
