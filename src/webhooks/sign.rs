//! Standard Webhooks signatures (https://www.standardwebhooks.com): HMAC-SHA256 over
//! `{webhook-id}.{webhook-timestamp}.{body}` with each signing secret's bytes, base64, as
//! `v1,<signature>`, space-separated when several secrets sign.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The `webhook-signature` header for a message.
pub fn signature_header<'k>(
    keys: impl IntoIterator<Item = &'k [u8]>,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    let ts = timestamp.to_string();
    let mut out = String::new();
    for key in keys {
        // HMAC takes keys of any length.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
            continue;
        };
        for part in [id.as_bytes(), b".", ts.as_bytes(), b".", body] {
            mac.update(part);
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str("v1,");
        out.push_str(&STANDARD.encode(mac.finalize().into_bytes()));
    }
    out
}

/// The `id` of an event as the feed serves it (`{"object":"event","id":"evt_...",...}`).
pub fn event_id(json: &[u8]) -> Option<&str> {
    const KEY: &[u8] = b"\"id\":\"";
    let start = json.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let len = json[start..].iter().position(|&b| b == b'"')?;
    std::str::from_utf8(&json[start..start + len]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example in the Standard Webhooks documentation, which the reference libraries
    /// verify.
    #[test]
    fn the_specs_example_signature() {
        let key = crate::directory::secrets::webhook_secret_bytes(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        )
        .unwrap();
        let header = signature_header(
            [key.as_slice()],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(header, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn two_secrets_sign_side_by_side() {
        let h = signature_header(
            [&b"old-key-bytes"[..], &b"new-key-bytes"[..]],
            "m",
            1,
            b"{}",
        );
        let parts: Vec<&str> = h.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.starts_with("v1,")));
        assert_ne!(parts[0], parts[1]);
        assert_eq!(
            parts[1],
            signature_header([&b"new-key-bytes"[..]], "m", 1, b"{}")
        );
    }

    #[test]
    fn event_ids_are_read_from_the_envelope() {
        let json = br#"{"object":"event","id":"evt_01","cursor":"00","data":{"id":"u1"}}"#;
        assert_eq!(event_id(json), Some("evt_01"));
        assert_eq!(event_id(b"{}"), None);
    }
}
