//! `/healthz`: unauthenticated, answers whether the store can be read.

use serde_json::json;
use warp::http::Method;

use super::State;
use crate::server::error::ApiError;
use crate::server::http::{self, Reply};

pub fn healthz(state: &State, method: &Method) -> Result<Reply, ApiError> {
    if method != Method::GET && method != Method::HEAD {
        return Ok(http::method_not_allowed("GET"));
    }
    state.dir.health().map_err(|e| {
        tracing::error!(error = %e, "health check: store unreadable");
        ApiError::new(503, "the store is not available")
    })?;
    Ok(http::json(200, &json!({"status": "ok"})))
}
