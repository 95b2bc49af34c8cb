//! Resource parsing never panics on any JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scimdesk::scim::resource;
use scimdesk::scim::schema::ResourceKind;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let _ = resource::normalize(ResourceKind::User, &body);
    let _ = resource::normalize(ResourceKind::Group, &body);
    let _ = resource::member_values(&body);
});
