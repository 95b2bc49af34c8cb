//! Webhook signing secrets at rest. A receiver verifies a signature with the secret itself, so
//! scimdesk must be able to read it back: it is sealed (XChaCha20-Poly1305, bound to its
//! endpoint's id) under a key kept in a file of its own in the data directory, readable by the
//! owner only. The store never holds a secret in plain text, and a copy of the database alone
//! reveals none.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use super::rules::random_bytes;

/// The key file's name in the data directory.
pub const KEY_FILE: &str = "webhook-secrets.key";

/// The prefix of a webhook signing secret (Standard Webhooks).
pub const WEBHOOK_SECRET_PREFIX: &str = "whsec_";

/// A new signing secret: `whsec_` and base64 of 32 random bytes; and those bytes (the HMAC
/// key).
pub fn new_webhook_secret() -> (String, Vec<u8>) {
    let bytes = random_bytes::<32>();
    (
        format!("{WEBHOOK_SECRET_PREFIX}{}", STANDARD.encode(bytes)),
        bytes.to_vec(),
    )
}

/// The key bytes of a `whsec_` secret.
pub fn webhook_secret_bytes(secret: &str) -> Option<Vec<u8>> {
    let b64 = secret.strip_prefix(WEBHOOK_SECRET_PREFIX)?;
    STANDARD.decode(b64).ok().filter(|b| b.len() >= 24)
}

/// The data directory's sealing key.
pub struct SealingKey {
    cipher: XChaCha20Poly1305,
}

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("cannot use the webhook secrets key {path}: {reason}")]
    KeyFile { path: PathBuf, reason: String },
    #[error("a stored webhook secret cannot be opened (was {KEY_FILE} replaced?)")]
    Open,
}

impl SealingKey {
    /// Reads the key file in `dir`, creating it (owner-only) when there is none.
    pub fn load_or_create(dir: &Path) -> Result<SealingKey, SealError> {
        let path = dir.join(KEY_FILE);
        let fail = |reason: String| SealError::KeyFile {
            path: path.clone(),
            reason,
        };
        let bytes = match std::fs::read(&path) {
            Ok(b) => {
                restrict(&path).map_err(|e| fail(e.to_string()))?;
                b
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = random_bytes::<32>();
                write_new(&path, &key).map_err(|e| fail(e.to_string()))?;
                key.to_vec()
            }
            Err(e) => return Err(fail(e.to_string())),
        };
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| fail("it must hold exactly 32 bytes".into()))?;
        Ok(SealingKey {
            cipher: XChaCha20Poly1305::new(&key.into()),
        })
    }

    /// Seals `secret` for endpoint `owner`: base64 of a random nonce and the ciphertext.
    pub fn seal(&self, owner: &str, secret: &[u8]) -> String {
        let nonce = random_bytes::<24>();
        let payload = Payload {
            msg: secret,
            aad: owner.as_bytes(),
        };
        // Encrypting into memory with a valid key and nonce cannot fail.
        let sealed = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), payload)
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        STANDARD.encode(out)
    }

    /// Opens what [`SealingKey::seal`] sealed for `owner`.
    pub fn open(&self, owner: &str, sealed: &str) -> Result<Vec<u8>, SealError> {
        let bytes = STANDARD.decode(sealed).map_err(|_| SealError::Open)?;
        if bytes.len() < 24 {
            return Err(SealError::Open);
        }
        let (nonce, ciphertext) = bytes.split_at(24);
        let payload = Payload {
            msg: ciphertext,
            aad: owner.as_bytes(),
        };
        self.cipher
            .decrypt(XNonce::from_slice(nonce), payload)
            .map_err(|_| SealError::Open)
    }
}

/// Creates `path` with `bytes`, readable and writable by the owner only, on disk before
/// anything sealed with it is stored.
fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    if let Some(parent) = path.parent() {
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

/// Makes an existing key file owner-only if it was not.
fn restrict(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "the webhook secrets key was readable by others: made owner-only");
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_for_their_endpoint_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = SealingKey::load_or_create(dir.path()).unwrap();
        let (text, bytes) = new_webhook_secret();
        assert_eq!(webhook_secret_bytes(&text).unwrap(), bytes);
        let sealed = key.seal("whk_a", &bytes);
        assert!(
            !sealed.contains(&text[6..]),
            "the secret is not stored as given"
        );
        assert_eq!(key.open("whk_a", &sealed).unwrap(), bytes);
        assert!(key.open("whk_b", &sealed).is_err(), "bound to its endpoint");
        // The same file opens it again; another key does not.
        let again = SealingKey::load_or_create(dir.path()).unwrap();
        assert_eq!(again.open("whk_a", &sealed).unwrap(), bytes);
        let other = SealingKey::load_or_create(tempfile::tempdir().unwrap().path()).unwrap();
        assert!(other.open("whk_a", &sealed).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_short_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(KEY_FILE), b"short").unwrap();
        let err = SealingKey::load_or_create(dir.path()).err().unwrap();
        assert!(err.to_string().contains("32 bytes"), "{err}");
    }
}
