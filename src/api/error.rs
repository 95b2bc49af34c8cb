//! The application API's one error shape: `{"error": {"code", "message", "param"}}`, with a
//! stable machine-readable code; 4xx only for the caller's mistakes.

use serde::Serialize;
use utoipa::ToSchema;

use super::{Reply, json};
use crate::directory::Error as DirError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub param: Option<&'static str>,
}

/// The body of every error.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable: `unauthorized`, `not_found`, `invalid_parameter`, `unknown_parameter`,
    /// `invalid_cursor`, `cursor_expired`, `method_not_allowed`, `internal`.
    pub code: String,
    pub message: String,
    /// The query parameter at fault, if one is.
    pub param: Option<String>,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            param: None,
        }
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(404, "not_found", message)
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(
            401,
            "unauthorized",
            "a valid application key is required: Authorization: Bearer <secret>",
        )
    }

    /// A query parameter's value is wrong.
    pub fn param(param: &'static str, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            param: Some(param),
            ..ApiError::new(400, code, message)
        }
    }

    pub fn reply(&self) -> Reply {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message.clone(),
                param: self.param.map(str::to_string),
            },
        };
        let mut r = json(self.status, serde_json::to_vec(&body).unwrap_or_default());
        if self.status == 401
            && let Ok(v) = warp::http::HeaderValue::from_str("Bearer realm=\"scimdesk-api\"")
        {
            r.headers_mut()
                .insert(warp::http::header::WWW_AUTHENTICATE, v);
        }
        r
    }
}

impl From<DirError> for ApiError {
    fn from(e: DirError) -> ApiError {
        match e {
            DirError::Unauthorized(_) => ApiError::unauthorized(),
            DirError::NotFound(m) => ApiError::not_found(m),
            DirError::Store(store) => {
                tracing::error!(error = %store, "store failure");
                ApiError::new(500, "internal", "internal error")
            }
            other => ApiError::new(400, "invalid_request", other.to_string()),
        }
    }
}
