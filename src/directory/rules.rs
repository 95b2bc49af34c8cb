//! Pure validation rules for organizations, domains and key secrets (no I/O).

use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The fixed prefix of every secret, so secret scanners can recognise one.
pub const SECRET_PREFIX: &str = "scimdesk_";

/// Checks an organization id: 1-63 of `a-z 0-9 -`, not starting or ending with `-`.
pub fn validate_org_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 63 {
        return Err(format!(
            "invalid organization id {id:?}: it must be 1 to 63 characters"
        ));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(format!(
            "invalid organization id {id:?}: use only lowercase letters, digits and '-'"
        ));
    }
    if id.starts_with('-') || id.ends_with('-') {
        return Err(format!(
            "invalid organization id {id:?}: it must not start or end with '-'"
        ));
    }
    Ok(())
}

/// Checks a display name: non-blank, at most 200 characters, no control characters.
pub fn validate_display_name(what: &str, name: &str) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(format!("{what} must not be empty"));
    }
    if name.chars().count() > 200 {
        return Err(format!("{what} must be at most 200 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(format!("{what} must not contain control characters"));
    }
    Ok(name.to_string())
}

/// Normalises a SCIM domain: a DNS name (lowercased, trailing dot dropped) or `*`.
pub fn normalize_domain(input: &str) -> Result<String, String> {
    let d = input.trim();
    if d == "*" {
        return Ok("*".into());
    }
    if !d.is_ascii() {
        return Err(format!(
            "invalid domain {input:?}: internationalized names are not supported, enter the punycode form (xn--...)"
        ));
    }
    let d = d.strip_suffix('.').unwrap_or(d).to_ascii_lowercase();
    if d.is_empty() || d.len() > 253 {
        return Err(format!(
            "invalid domain {input:?}: it must be 1 to 253 characters"
        ));
    }
    let labels: Vec<&str> = d.split('.').collect();
    if labels.len() < 2 {
        return Err(format!(
            "invalid domain {input:?}: expected a name like example.com"
        ));
    }
    for label in &labels {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!(
                "invalid domain {input:?}: each label must be 1 to 63 letters, digits or '-', not starting or ending with '-'"
            ));
        }
    }
    if labels
        .last()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!(
            "invalid domain {input:?}: an IP address is not a domain"
        ));
    }
    Ok(d)
}

/// True when `email`'s domain is one of `domains` (case-insensitive; `*` allows any).
pub fn email_domain_allowed(email: &str, domains: &[String]) -> bool {
    if domains.iter().any(|d| d == "*") {
        return true;
    }
    let Some((_, domain)) = email.rsplit_once('@') else {
        return false;
    };
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    domains.contains(&domain)
}

/// A new secret: the prefix and 256 bits of OS randomness, base64url without padding.
pub fn new_secret() -> String {
    format!(
        "{SECRET_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>())
    )
}

/// `N` bytes from the operating system's generator. The OS generator failing is not a
/// condition the process can work around: there would be no safe secret to hand out.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    bytes
}

/// The prefix of an application key's secret.
pub const APP_SECRET_PREFIX: &str = "scimdesk_app_";

/// A new application key secret: the prefix and 256 bits of OS randomness.
pub fn new_app_secret() -> String {
    format!(
        "{APP_SECRET_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>())
    )
}

/// A short public application key id such as `appkey_3f9a1c0b7d2e`.
pub fn new_app_key_id() -> String {
    format!("appkey_{}", hex::encode(random_bytes::<6>()))
}

/// A short public key id such as `key_3f9a1c0b7d2e`.
pub fn new_key_id() -> String {
    format!("key_{}", hex::encode(random_bytes::<6>()))
}

/// Lowercase hex SHA-256 of a secret.
pub fn secret_digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Constant-time equality of two digests.
pub fn digests_match(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// True for strings shaped like a secret this program issues (prefix and 43 base64url chars).
pub fn looks_like_secret(s: &str) -> bool {
    let rest = s
        .strip_prefix(APP_SECRET_PREFIX)
        .or_else(|| s.strip_prefix(SECRET_PREFIX));
    rest.is_some_and(|rest| {
        rest.len() == 43
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// A time-ordered resource id: a UUID version 7 (RFC 9562), monotonic within this process, so
/// listing in key order is creation order, a stable, append-mostly order.
pub fn new_resource_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// `id` is read-only (RFC 7644 §3.5.1): a body may repeat the resource's own id, never another.
pub fn check_same_id(
    body: &serde_json::Value,
    id: &str,
) -> Result<(), crate::scim::error::ScimError> {
    let Some(obj) = body.as_object() else {
        return Ok(());
    };
    match obj.iter().find(|(k, _)| k.eq_ignore_ascii_case("id")) {
        None | Some((_, serde_json::Value::Null)) => Ok(()),
        Some((_, serde_json::Value::String(s))) if s == id => Ok(()),
        Some((_, other)) => Err(crate::scim::error::ScimError::mutability(format!(
            "id is read-only: the body names {other}, the resource is {id:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_ids() {
        for ok in ["a", "acme", "acme-corp", "a1", "0", &"x".repeat(63)] {
            assert!(validate_org_id(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "Acme",
            "ac me",
            "acme_corp",
            "a/b",
            "é",
            &"x".repeat(64),
        ] {
            assert!(validate_org_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn domains() {
        assert_eq!(normalize_domain("Acme.COM").unwrap(), "acme.com");
        assert_eq!(
            normalize_domain("mail.acme.co.uk.").unwrap(),
            "mail.acme.co.uk"
        );
        assert_eq!(normalize_domain("*").unwrap(), "*");
        assert_eq!(
            normalize_domain("xn--bcher-kva.example").unwrap(),
            "xn--bcher-kva.example"
        );
        for bad in [
            "",
            "acme",
            "-acme.com",
            "acme-.com",
            "a..com",
            "acme.com/x",
            "user@acme.com",
            "10.0.0.1",
            "bücher.example",
            "*.acme.com",
            &format!("{}.com", "a".repeat(64)),
        ] {
            assert!(normalize_domain(bad).is_err(), "{bad}");
        }
        assert!(
            normalize_domain("bücher.example")
                .unwrap_err()
                .contains("punycode")
        );
    }

    #[test]
    fn email_domains() {
        let d = vec!["acme.com".to_string()];
        assert!(email_domain_allowed("alice@acme.com", &d));
        assert!(email_domain_allowed("Alice@ACME.com", &d));
        assert!(!email_domain_allowed("alice@evil.com", &d));
        assert!(!email_domain_allowed("alice@sub.acme.com", &d));
        assert!(!email_domain_allowed("alice", &d));
        assert!(!email_domain_allowed("alice@acme.com", &[]));
        assert!(email_domain_allowed("x@anything.io", &["*".to_string()]));
    }

    #[test]
    fn secrets_have_prefix_and_entropy() {
        let a = new_secret();
        let b = new_secret();
        assert!(a.starts_with("scimdesk_"));
        assert!(looks_like_secret(&a), "{a}");
        assert_ne!(a, b);
        // 32 random bytes -> 43 base64url characters.
        assert_eq!(a.len(), SECRET_PREFIX.len() + 43);
        assert_eq!(secret_digest(&a).len(), 64);
        assert!(digests_match(&secret_digest(&a), &secret_digest(&a)));
        assert!(!digests_match(&secret_digest(&a), &secret_digest(&b)));
        let id = new_key_id();
        assert!(id.starts_with("key_") && id.len() == 16, "{id}");
    }

    #[test]
    fn resource_ids_sort_by_creation() {
        let ids: Vec<String> = (0..10_000).map(|_| new_resource_id()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids out of order");
        assert_eq!(ids[0].len(), 36);
        assert_eq!(&ids[0][14..15], "7");
    }
}
