//! The application API's OpenAPI 3.1 document, generated from the handlers' own declarations
//! (utoipa), served at `/api/v1/openapi.json` and committed as `openapi.json` (a test keeps
//! the two equal).

use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// One change-feed event, as the feed and webhooks deliver it.
#[derive(Serialize, ToSchema)]
pub struct Event {
    /// Always `event`.
    pub object: String,
    /// `evt_...`: unique; use it to ignore an event seen twice.
    pub id: String,
    /// Opaque; events sort by it in commit order across every organization.
    pub cursor: String,
    /// `user.created`, `group.user_added`, `organization.key_issued`...
    #[serde(rename = "type")]
    pub event_type: String,
    pub organization: String,
    /// RFC 3339 with milliseconds.
    pub occurred_at: String,
    /// The resource as the read API shows it; membership events:
    /// `{"group": {"id", "displayName"}, "user": {"id", "userName"}}`.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    /// Updated events only: the prior values of the attributes the change changed.
    #[schema(value_type = Option<Object>)]
    pub previous: Option<serde_json::Value>,
    /// The activity record of the SCIM request that caused it (null for operator actions).
    pub request_id: Option<String>,
}

/// A page of the change feed.
#[derive(Serialize, ToSchema)]
pub struct EventList {
    pub data: Vec<Event>,
    /// Pass as `after` for the next page (with no events, the same cursor you passed, or
    /// further along when a filter skipped events).
    pub next_cursor: String,
    pub has_more: bool,
}

struct Security;

impl Modify for Security {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "application_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An application key's secret (`scimdesk app-key issue`)",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "scimdesk application API",
        description = "The change feed and the directory, for the vendor's own application. Read everything with the list endpoints, then follow /events from the lists' events_cursor; apply events idempotently by id (a change may be seen twice, never missed).",
        version = "1"
    ),
    paths(
        super::events::list,
        super::read::organizations,
        super::read::organization,
        super::read::users,
        super::read::user,
        super::read::user_groups,
        super::read::groups,
        super::read::group,
        super::read::group_members,
    ),
    components(schemas(Event, EventList, super::read::ListReply, super::error::ErrorBody, super::error::ErrorDetail)),
    modifiers(&Security),
    tags(
        (name = "events", description = "The change feed"),
        (name = "directory", description = "Organizations, users, groups and memberships"),
    )
)]
pub struct ApiDoc;

/// The document as served and committed.
pub fn document() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".into())
}
