//! Query parameters: every one named and checked, with an error that names the parameter.

use base64::Engine;

use super::ApiError;

/// Most items a list returns in one page.
pub const MAX_LIMIT: usize = 1000;
/// Items a list returns when no `limit` is given.
pub const DEFAULT_LIMIT: usize = 100;

pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: &str) -> Result<Query, ApiError> {
        let pairs = crate::util::query_pairs(raw).ok_or_else(|| {
            ApiError::new(
                400,
                "invalid_parameter",
                "the query string is not valid UTF-8",
            )
        })?;
        for (i, (k, _)) in pairs.iter().enumerate() {
            if pairs[..i].iter().any(|(seen, _)| seen == k) {
                return Err(ApiError::new(
                    400,
                    "invalid_parameter",
                    format!("the parameter {k:?} is given more than once"),
                ));
            }
        }
        Ok(Query(pairs))
    }

    /// Refuses any parameter not in `known`.
    pub fn allow(&self, known: &[&str]) -> Result<(), ApiError> {
        match self.0.iter().find(|(k, _)| !known.contains(&k.as_str())) {
            Some((k, _)) => Err(ApiError::new(
                400,
                "unknown_parameter",
                format!(
                    "unknown parameter {k:?}; this endpoint takes: {}",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            )),
            None => Ok(()),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `limit`: 1 to 1000, 100 when absent.
    pub fn limit(&self) -> Result<usize, ApiError> {
        match self.get("limit") {
            None => Ok(DEFAULT_LIMIT),
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    ApiError::param(
                        "limit",
                        "invalid_parameter",
                        format!("limit must be a whole number from 1 to {MAX_LIMIT}, not {v:?}"),
                    )
                }),
        }
    }

    /// A boolean parameter.
    pub fn flag(&self, name: &'static str) -> Result<Option<bool>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(v) => Err(ApiError::param(
                name,
                "invalid_parameter",
                format!("{name} must be true or false, not {v:?}"),
            )),
        }
    }

    /// `after`: a list cursor from a previous reply's `next_cursor`.
    pub fn list_cursor(&self) -> Result<Option<String>, ApiError> {
        self.get("after").map(decode_list_cursor).transpose()
    }
}

const LIST_CURSOR: &str = "l1:";

/// The opaque cursor of a list page ending at `key` (an id).
pub fn list_cursor(key: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{LIST_CURSOR}{key}"))
}

fn decode_list_cursor(c: &str) -> Result<String, ApiError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix(LIST_CURSOR).map(str::to_string))
        .ok_or_else(|| {
            ApiError::param(
                "after",
                "invalid_cursor",
                "after is not a cursor this API gave: use a reply's next_cursor",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_checked_and_named() {
        let q = Query::parse("limit=0").unwrap();
        assert_eq!(q.limit().unwrap_err().param, Some("limit"));
        assert_eq!(Query::parse("").unwrap().limit().unwrap(), 100);
        assert_eq!(Query::parse("limit=1000").unwrap().limit().unwrap(), 1000);
        assert_eq!(
            Query::parse("limt=5")
                .unwrap()
                .allow(&["limit"])
                .unwrap_err()
                .code,
            "unknown_parameter"
        );
        assert_eq!(
            Query::parse("a=1&a=2").err().unwrap().code,
            "invalid_parameter"
        );
        let c = list_cursor("0190-abc");
        let q = Query::parse(&format!("after={c}")).unwrap();
        assert_eq!(q.list_cursor().unwrap().as_deref(), Some("0190-abc"));
        let bad = Query::parse("after=zzz")
            .unwrap()
            .list_cursor()
            .unwrap_err();
        assert_eq!((bad.code, bad.param), ("invalid_cursor", Some("after")));
        assert_eq!(
            Query::parse("active=yes")
                .unwrap()
                .flag("active")
                .unwrap_err()
                .param,
            Some("active")
        );
    }
}
