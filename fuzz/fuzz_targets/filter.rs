//! The filter parser never panics, and a parsed filter prints to text that parses back to it
//! (when the printed text is within the length limit).
#![no_main]

use libfuzzer_sys::fuzz_target;
use scimdesk::scim::filter;
use scimdesk::scim::schema::ResourceKind;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(f) = filter::parse(text) {
        let printed = f.to_string();
        // Escaping can make the printed form longer than the input; past the length limit it
        // is refused, as it should be.
        if printed.len() <= filter::MAX_FILTER_LEN {
            assert_eq!(filter::parse(&printed).as_ref(), Ok(&f), "round trip of {printed:?}");
        }
        let user = serde_json::json!({"userName": "a@b.com", "emails": [{"value": "a@b.com", "type": "work"}], "active": true});
        let _ = f.matches(ResourceKind::User, &user);
    }
});
