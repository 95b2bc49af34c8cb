//! Discovery endpoints: ServiceProviderConfig, ResourceTypes and Schemas (RFC 7644 §4), read
//! only.

use warp::http::Method;

use super::{Request, State, Trace};
use crate::directory::Organization;
use crate::scim::discovery;
use crate::server::error::ApiError;
use crate::server::http::{self, Reply};

fn is_get(m: &Method) -> bool {
    m == Method::GET || m == Method::HEAD
}

/// `rest` is the path under the organization's base URL: `ServiceProviderConfig`,
/// `ResourceTypes[/{name}]` or `Schemas[/{urn}]`.
pub fn handle(
    state: &State,
    req: &Request,
    org: &Organization,
    rest: &[&str],
    trace: &mut Trace,
) -> Result<Reply, ApiError> {
    let config = rest[0].eq_ignore_ascii_case("ServiceProviderConfig");
    if rest.len() > 2 || (config && rest.len() > 1) {
        return Err(ApiError::not_found("no such endpoint"));
    }
    if !is_get(&req.method) {
        return Ok(http::method_not_allowed("GET"));
    }
    let dir = &state.dir;
    let base = dir.scim_base_url(&org.id);
    if config {
        let c = dir.config();
        trace.summary = Some("read ServiceProviderConfig".into());
        return Ok(http::json(
            200,
            &discovery::service_provider_config(&base, c.scim.max_results, c.server.max_body_bytes),
        ));
    }
    let schemas = dir.schemas(&org.id);
    let items = if rest[0].eq_ignore_ascii_case("Schemas") {
        discovery::schemas(&base, &schemas)
    } else {
        discovery::resource_types(&base, &schemas)
    };
    match rest {
        [_] => {
            trace.summary = Some(format!("read {}", rest[0]));
            Ok(http::json(200, &discovery::list_all(items)))
        }
        [_, wanted] => {
            trace.summary = Some(format!("read {} {wanted}", rest[0]));
            items
                .into_iter()
                .find(|i| {
                    i["id"]
                        .as_str()
                        .is_some_and(|id| id.eq_ignore_ascii_case(wanted))
                })
                .map(|i| http::json(200, &i))
                .ok_or_else(|| ApiError::not_found(format!("{} {wanted} not found", rest[0])))
        }
        _ => Err(ApiError::not_found("no such endpoint")),
    }
}
