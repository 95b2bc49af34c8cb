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
pub fn new_secret() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no OS randomness: {e}"))?;
    Ok(format!(
        "{SECRET_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// A short public key id such as `key_3f9a1c0b7d2e`.
pub fn new_key_id() -> Result<String, String> {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).map_err(|e| format!("no OS randomness: {e}"))?;
    Ok(format!("key_{}", hex(&bytes)))
}

/// Lowercase hex SHA-256 of a secret.
pub fn secret_digest(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Constant-time equality of two digests.
pub fn digests_match(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// True for strings shaped like a secret this program issues (prefix and 43 base64url chars).
pub fn looks_like_secret(s: &str) -> bool {
    s.strip_prefix(SECRET_PREFIX).is_some_and(|rest| {
        rest.len() == 43
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// A fast per-thread xorshift generator seeded from OS randomness.
fn next_random() -> u64 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let mut seed = [0u8; 8];
            let _ = getrandom::fill(&mut seed);
            u64::from_le_bytes(seed) | 1
        });
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        x
    })
}

/// A time-ordered resource id in UUID version 7 form (RFC 9562): 48 bits of milliseconds, a
/// 12-bit counter that orders ids made in the same millisecond (method 1), then random bits.
/// Ids made by this process sort in creation order, so listing in key order is a stable,
/// append-mostly order.
pub fn new_resource_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0); // (millis << 12) | counter
    let millis = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as u64;
    let mut stamp = 0;
    let _ = LAST.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
        stamp = (millis << 12).max(last + 1);
        Some(stamp)
    });
    let (millis, counter) = (stamp >> 12, (stamp & 0xfff) as u16);
    let mut b = [0u8; 16];
    b[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    // Ids are not secrets (every lookup is scoped to its organization): uniqueness comes from
    // the clock and counter; the random tail comes from a per-thread generator seeded from the
    // OS, so making an id costs no system call.
    b[8..16].copy_from_slice(&next_random().to_be_bytes());
    b[6] = 0x70 | (counter >> 8) as u8;
    b[7] = counter as u8;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
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
        let a = new_secret().unwrap();
        let b = new_secret().unwrap();
        assert!(a.starts_with("scimdesk_"));
        assert!(looks_like_secret(&a), "{a}");
        assert_ne!(a, b);
        // 32 random bytes -> 43 base64url characters.
        assert_eq!(a.len(), SECRET_PREFIX.len() + 43);
        assert_eq!(secret_digest(&a).len(), 64);
        assert!(digests_match(&secret_digest(&a), &secret_digest(&a)));
        assert!(!digests_match(&secret_digest(&a), &secret_digest(&b)));
        let id = new_key_id().unwrap();
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
