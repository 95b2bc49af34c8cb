//! The one place directory and protocol errors become HTTP statuses and SCIM error bodies.

use crate::directory::{AuthFailure, Error as DirError};
use crate::scim::error::ScimError;

/// An error as the client will see it: status, `scimType` and detail. Internal causes are
/// logged where they are converted and never reach the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub scim_type: Option<&'static str>,
    pub detail: String,
    /// Why authentication failed, for the operator's activity record (never sent).
    pub auth: Option<AuthFailure>,
}

impl ApiError {
    pub fn new(status: u16, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            scim_type: None,
            detail: detail.into(),
            auth: None,
        }
    }

    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(404, detail)
    }

    /// The same 401 for every authentication failure, so nobody can probe which
    /// organizations or keys exist.
    pub fn unauthorized(why: AuthFailure) -> ApiError {
        ApiError {
            auth: Some(why),
            ..ApiError::new(
                401,
                "Authentication failed: a valid bearer token for this organization is required",
            )
        }
    }

    pub fn internal() -> ApiError {
        ApiError::new(500, "Internal server error")
    }
}

impl From<ScimError> for ApiError {
    fn from(e: ScimError) -> ApiError {
        ApiError {
            status: if e.scim_type == Some("uniqueness") {
                409
            } else {
                400
            },
            scim_type: e.scim_type,
            detail: e.detail,
            auth: None,
        }
    }
}

impl From<DirError> for ApiError {
    fn from(e: DirError) -> ApiError {
        match e {
            DirError::NotFound(m) => ApiError::not_found(m),
            DirError::Conflict { .. } => ScimError::uniqueness(e.to_string()).into(),
            DirError::AlreadyExists(m) | DirError::Refused(m) => ApiError::new(409, m),
            DirError::PreconditionFailed => ApiError::new(412, e.to_string()),
            DirError::DomainNotAllowed { .. } => ScimError::invalid_value(e.to_string()).into(),
            DirError::ScimDisabled => ApiError::new(403, e.to_string()),
            DirError::Unauthorized(why) => ApiError::unauthorized(why),
            DirError::Invalid(scim) => scim.into(),
            DirError::Store(store) => {
                tracing::error!(error = %store, "store failure");
                ApiError::internal()
            }
        }
    }
}
