//! Discovery documents (RFC 7643 §5-7): ServiceProviderConfig, ResourceTypes, Schemas. Pure;
//! `base` is the organization's SCIM base URL.

use serde_json::{Value, json};

use super::schema::{
    GROUP_SCHEMA, RESOURCE_TYPE_SCHEMA, ResourceKind, SPC_SCHEMA, Schemas, USER_SCHEMA,
    schema_documents,
};

/// What the server states about itself; every flag is true to what it does.
pub fn service_provider_config(base: &str, max_results: usize, max_body: usize) -> Value {
    json!({
        "schemas": [SPC_SCHEMA],
        "documentationUri": "https://datatracker.ietf.org/doc/html/rfc7644",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": max_body},
        "filter": {"supported": true, "maxResults": max_results},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication with a scimdesk API key sent as a bearer token",
            "primary": true
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/ServiceProviderConfig")
        }
    })
}

/// The resource types, each with its `meta` and its extension schemas.
pub fn resource_types(base: &str, schemas: &Schemas) -> Vec<Value> {
    let extensions = |kind: ResourceKind| -> Vec<Value> {
        schemas
            .extensions(kind)
            .iter()
            .map(|e| json!({"schema": e.urn, "required": false}))
            .collect()
    };
    vec![
        json!({
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "User Account",
            "schema": USER_SCHEMA,
            "schemaExtensions": extensions(ResourceKind::User),
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")}
        }),
        json!({
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "Group",
            "schema": GROUP_SCHEMA,
            "schemaExtensions": extensions(ResourceKind::Group),
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group")}
        }),
    ]
}

/// The schemas, each with its `meta`.
pub fn schemas(base: &str, schemas: &Schemas) -> Vec<Value> {
    schema_documents(schemas)
        .into_iter()
        .map(|mut s| {
            let id = s["id"].as_str().unwrap_or_default().to_string();
            s["meta"] =
                json!({"resourceType": "Schema", "location": format!("{base}/Schemas/{id}")});
            s
        })
        .collect()
}

/// A ListResponse holding every item (discovery lists are not paged).
pub fn list_all(items: Vec<Value>) -> Value {
    json!({
        "schemas": [super::schema::LIST_SCHEMA],
        "totalResults": items.len(),
        "itemsPerPage": items.len(),
        "startIndex": 1,
        "Resources": items,
    })
}
