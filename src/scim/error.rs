//! SCIM protocol errors (RFC 7644 §3.12): what is wrong with a request, as a `scimType` and a
//! detail. Pure: the HTTP status is the server's business (every one of these is a 400, except
//! `uniqueness`, a 409).

use serde_json::{Value, json};

use super::schema::ERROR_SCHEMA;

/// A request the protocol refuses. `scim_type` is one of RFC 7644 Table 9's keywords, or None
/// for a plain bad request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct ScimError {
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

impl ScimError {
    fn typed(scim_type: &'static str, detail: impl Into<String>) -> Self {
        ScimError {
            scim_type: Some(scim_type),
            detail: detail.into(),
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        ScimError {
            scim_type: None,
            detail: detail.into(),
        }
    }
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::typed("invalidValue", detail)
    }
    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::typed("invalidSyntax", detail)
    }
    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::typed("invalidFilter", detail)
    }
    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::typed("invalidPath", detail)
    }
    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::typed("noTarget", detail)
    }
    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::typed("mutability", detail)
    }
    pub fn too_many(detail: impl Into<String>) -> Self {
        Self::typed("tooMany", detail)
    }
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::typed("uniqueness", detail)
    }
}

/// An error body (RFC 7644 §3.12) for `status`.
pub fn error_body(status: u16, scim_type: Option<&str>, detail: &str) -> Value {
    let mut v = json!({
        "schemas": [ERROR_SCHEMA],
        "status": status.to_string(),
        "detail": detail,
    });
    if let Some(t) = scim_type {
        v["scimType"] = json!(t);
    }
    v
}
