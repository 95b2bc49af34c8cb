//! PATCH bodies never panic the engine, whatever their shape.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scimdesk::scim::patch;
use scimdesk::scim::resource;
use scimdesk::scim::schema::ResourceKind;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let Ok(ops) = patch::parse_request(&body) else { return };
    let user = serde_json::json!({"userName": "a@b.com", "name": {"givenName": "A"}, "emails": [{"value": "a@b.com", "type": "work"}]});
    let mut attrs = resource::normalize(ResourceKind::User, &user).unwrap();
    for op in &ops {
        if patch::apply(ResourceKind::User, &mut attrs, op).is_err() {
            return;
        }
    }
    let _ = resource::normalize(ResourceKind::User, &serde_json::Value::Object(attrs));
});
