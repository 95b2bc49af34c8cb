//! The filter parser never panics, and a parsed filter prints to text that parses back to it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scimdesk::scim::filter;
use scimdesk::scim::schema::ResourceKind;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(f) = filter::parse(text) {
        let printed = f.to_string();
        assert_eq!(filter::parse(&printed).as_ref(), Ok(&f), "round trip of {printed:?}");
        let user = serde_json::json!({"userName": "a@b.com", "emails": [{"value": "a@b.com", "type": "work"}], "active": true});
        let _ = f.matches(ResourceKind::User, &user);
    }
});
