//! List and search parameters (RFC 7644 §3.4.2, §3.4.3): filter, paging, sorting and the
//! attribute projection, from a query string or a `.search` body. Pure.

use serde_json::Value;

use super::error::ScimError;
use super::filter::{self, AttrPath, Filter};
use super::resource::Projection;

#[derive(Debug, Clone, PartialEq)]
pub struct ListParams {
    pub filter: Option<Filter>,
    /// 1-based.
    pub start_index: usize,
    pub count: usize,
    pub sort_by: Option<AttrPath>,
    pub descending: bool,
    pub projection: Projection,
}

/// Page size defaults and limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub default_count: usize,
    pub max_results: usize,
}

/// Parameters as received, before validation.
struct Raw<'a> {
    filter: Option<&'a str>,
    start_index: Option<i64>,
    count: Option<i64>,
    sort_by: Option<&'a str>,
    sort_order: Option<&'a str>,
    attributes: Option<&'a str>,
    excluded: Option<&'a str>,
}

fn integer(name: &str, text: &str) -> Result<i64, ScimError> {
    text.trim()
        .parse::<i64>()
        .or_else(|_| text.trim().parse::<f64>().map(|f| f as i64))
        .map_err(|_| ScimError::invalid_value(format!("{name} must be an integer, not {text:?}")))
}

impl ListParams {
    fn build(raw: Raw<'_>, limits: Limits) -> Result<ListParams, ScimError> {
        let Raw {
            filter,
            start_index,
            count,
            sort_by,
            sort_order,
            attributes,
            excluded,
        } = raw;
        let filter = match filter.map(str::trim) {
            None | Some("") => None,
            Some(f) => Some(filter::parse(f).map_err(|e| ScimError::invalid_filter(e.0))?),
        };
        let start_index = start_index.unwrap_or(1).max(1) as usize;
        let count = count
            .unwrap_or(limits.default_count as i64)
            .clamp(0, limits.max_results as i64) as usize;
        let sort_by = match sort_by.map(str::trim) {
            None | Some("") => None,
            Some(s) => Some(
                AttrPath::parse(s)
                    .map_err(|e| ScimError::invalid_value(format!("sortBy: {}", e.0)))?,
            ),
        };
        let descending = match sort_order.map(|s| s.trim().to_ascii_lowercase()) {
            None => false,
            Some(s) if s.is_empty() || s == "ascending" => false,
            Some(s) if s == "descending" => true,
            Some(s) => {
                return Err(ScimError::invalid_value(format!(
                    "sortOrder must be ascending or descending, not {s:?}"
                )));
            }
        };
        Ok(ListParams {
            filter,
            start_index,
            count,
            sort_by,
            descending,
            projection: Projection::parse(attributes, excluded),
        })
    }

    /// From decoded query pairs (names matched case-insensitively).
    pub fn from_query(pairs: &[(String, String)], limits: Limits) -> Result<ListParams, ScimError> {
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let start = get("startIndex")
            .map(|v| integer("startIndex", v))
            .transpose()?;
        let count = get("count").map(|v| integer("count", v)).transpose()?;
        Self::build(
            Raw {
                filter: get("filter"),
                start_index: start,
                count,
                sort_by: get("sortBy"),
                sort_order: get("sortOrder"),
                attributes: get("attributes"),
                excluded: get("excludedAttributes"),
            },
            limits,
        )
    }

    /// From a `POST .search` body (RFC 7644 §3.4.3).
    pub fn from_search(body: &Value, limits: Limits) -> Result<ListParams, ScimError> {
        let Some(obj) = body.as_object() else {
            return Err(ScimError::invalid_syntax(
                "the search body must be a JSON object",
            ));
        };
        let get = |name: &str| {
            obj.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        };
        let text = |name: &str| -> Result<Option<String>, ScimError> {
            match get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Array(items)) if name.ends_with("ttributes") => {
                    let parts: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
                    parts.map(|p| Some(p.join(","))).ok_or_else(|| {
                        ScimError::invalid_value(format!("{name} must be a list of strings"))
                    })
                }
                Some(_) => Err(ScimError::invalid_value(format!("{name} must be a string"))),
            }
        };
        let number = |name: &str| -> Result<Option<i64>, ScimError> {
            match get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(n)) => Ok(Some(
                    n.as_i64()
                        .unwrap_or_else(|| n.as_f64().unwrap_or(0.0) as i64),
                )),
                Some(Value::String(s)) => integer(name, s).map(Some),
                Some(_) => Err(ScimError::invalid_value(format!(
                    "{name} must be an integer"
                ))),
            }
        };
        let (filter, sort_by, sort_order) = (text("filter")?, text("sortBy")?, text("sortOrder")?);
        let (attributes, excluded) = (text("attributes")?, text("excludedAttributes")?);
        Self::build(
            Raw {
                filter: filter.as_deref(),
                start_index: number("startIndex")?,
                count: number("count")?,
                sort_by: sort_by.as_deref(),
                sort_order: sort_order.as_deref(),
                attributes: attributes.as_deref(),
                excluded: excluded.as_deref(),
            },
            limits,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const LIMITS: Limits = Limits {
        default_count: 100,
        max_results: 1000,
    };

    fn q(pairs: &[(&str, &str)]) -> Result<ListParams, ScimError> {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        ListParams::from_query(&owned, LIMITS)
    }

    #[test]
    fn paging_defaults_and_bounds() {
        let p = q(&[]).unwrap();
        assert_eq!((p.start_index, p.count, p.filter.is_none()), (1, 100, true));
        assert_eq!(q(&[("startIndex", "0")]).unwrap().start_index, 1);
        assert_eq!(q(&[("startIndex", "-5")]).unwrap().start_index, 1);
        assert_eq!(
            q(&[("startIndex", "101"), ("count", "100")])
                .unwrap()
                .start_index,
            101
        );
        assert_eq!(q(&[("count", "0")]).unwrap().count, 0);
        assert_eq!(q(&[("count", "-3")]).unwrap().count, 0);
        assert_eq!(q(&[("count", "5000")]).unwrap().count, 1000);
        assert_eq!(
            q(&[("count", "abc")]).unwrap_err().scim_type,
            Some("invalidValue")
        );
        assert_eq!(
            q(&[("filter", "userName eq")]).unwrap_err().scim_type,
            Some("invalidFilter")
        );
        assert!(
            q(&[("sortBy", "userName"), ("sortOrder", "Descending")])
                .unwrap()
                .descending
        );
        assert!(q(&[("sortOrder", "sideways")]).is_err());
    }

    #[test]
    fn search_body() {
        let p = ListParams::from_search(
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "userName eq \"a\"", "startIndex": 2, "count": 10, "attributes": ["userName", "emails"]}),
            LIMITS,
        )
        .unwrap();
        assert_eq!((p.start_index, p.count), (2, 10));
        assert_eq!(p.projection.attributes, ["userName", "emails"]);
        assert!(p.filter.is_some());
        assert!(ListParams::from_search(&json!({"count": {}}), LIMITS).is_err());
        assert!(ListParams::from_search(&json!([]), LIMITS).is_err());
    }
}
