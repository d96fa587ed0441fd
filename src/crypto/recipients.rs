//! Who a file is encrypted for and what decrypts it: wrapping and unwrapping the file key
//! (docs/FORMAT.md §3), and the key ids stored in headers and manifests.
//!
//! A fresh random 256-bit file key per file is wrapped with RSA-OAEP-SHA-256 for a certificate
//! (kind 1, §3.1), or with AES-256-GCM under a key derived by HKDF-SHA-256 from the legacy key
//! (kind 2, §3.2).

use super::header::{CryptoError, Header, KIND_CERTIFICATE, KIND_LEGACY_KEY, TAG};
use crate::certificate::{Certificate, PrivateKey};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::Aes256Gcm;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;
use zeroize::Zeroizing;

const HKDF_INFO_LEGACY: &[u8] = b"azs-backup v1 legacy key wrap";
const LEGACY_WRAP_AAD: &[u8] = b"azs-backup v1 legacy wrap";
const KEY_ID_DOMAIN: &[u8] = b"azs-backup v1 key id";
/// What starts a legacy key id (docs/FORMAT.md §3.2).
const LEGACY_ID_PREFIX: &str = "key:";

/// A recipient identifier as stored in headers, manifests and state: a certificate's thumbprint,
/// or `key:` + hex for a legacy key. [`FromStr`] and [`fmt::Display`] round-trip every string
/// exactly; anything without the `key:` prefix is a thumbprint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyId {
    /// A certificate's SHA-1 thumbprint, as written (upper-case hex when this tool writes it).
    Thumbprint(String),
    /// A legacy key id: the hex after `key:`.
    Legacy(String),
}

impl KeyId {
    /// "certificate <thumbprint>" or "encryption key <key id>".
    pub fn describe(&self) -> String {
        match self {
            KeyId::Thumbprint(_) => format!("certificate {self}"),
            KeyId::Legacy(_) => format!("encryption key {self}"),
        }
    }
}

impl From<&str> for KeyId {
    fn from(id: &str) -> KeyId {
        match id.strip_prefix(LEGACY_ID_PREFIX) {
            Some(hex) => KeyId::Legacy(hex.to_string()),
            None => KeyId::Thumbprint(id.to_string()),
        }
    }
}

impl FromStr for KeyId {
    type Err = std::convert::Infallible;

    fn from_str(id: &str) -> Result<KeyId, Self::Err> {
        Ok(KeyId::from(id))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyId::Thumbprint(t) => f.write_str(t),
            KeyId::Legacy(hex) => write!(f, "{LEGACY_ID_PREFIX}{hex}"),
        }
    }
}

/// "certificate <thumbprint>" or "encryption key <key id>".
pub fn describe_id(id: &str) -> String {
    KeyId::from(id).describe()
}

/// A legacy symmetric key (backward-compatibility mode): the base64 text printed by
/// `new-encryption-key` / `New-AzsEncryptionKeyBase64`.
#[derive(Clone)]
pub struct LegacyKey {
    bytes: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for LegacyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LegacyKey({})", self.key_id())
    }
}

/// A legacy key that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("encryption key is not valid: {0} (expected base64 text as printed by new-encryption-key, 88 characters)")]
pub struct LegacyKeyError(&'static str);

impl LegacyKey {
    /// Parses the base64 text. The decoded bytes (64 ASCII letters for keys made by
    /// `New-AzsEncryptionKeyBase64`) are the key material; at least 32 bytes are required.
    pub fn parse(text: &str) -> Result<LegacyKey, LegacyKeyError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| LegacyKeyError("it is not base64"))?;
        if bytes.len() < 32 {
            return Err(LegacyKeyError("it decodes to fewer than 32 bytes"));
        }
        Ok(LegacyKey {
            bytes: Zeroizing::new(bytes),
        })
    }

    /// A new key in the shape of `New-AzsEncryptionKeyBase64`: 64 random ASCII letters,
    /// base64-encoded (88 characters), from the OS's cryptographic generator.
    pub fn generate_text() -> Zeroizing<String> {
        const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        let mut letters = Zeroizing::new(Vec::with_capacity(64));
        while letters.len() < 64 {
            let mut b = [0u8; 64];
            getrandom::fill(&mut b).expect("the OS random generator failed");
            // Rejection sampling: 208 = 4 * 52 keeps the distribution uniform.
            let missing = 64 - letters.len();
            letters.extend(
                b.iter()
                    .filter(|&&x| x < 208)
                    .map(|&x| LETTERS[(x % 52) as usize])
                    .take(missing),
            );
            b.iter_mut().for_each(|x| *x = 0);
        }
        Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(&letters[..]))
    }

    /// A public identifier of the key, stored in headers and manifests:
    /// `key:` + the first 8 bytes of SHA-256("azs-backup v1 key id" | key bytes), lower-case hex.
    pub fn key_id(&self) -> String {
        let mut h = Sha256::new();
        h.update(KEY_ID_DOMAIN);
        h.update(&self.bytes[..]);
        KeyId::Legacy(hex::encode(&h.finalize()[..8])).to_string()
    }

    fn kek(&self, salt: &[u8]) -> Zeroizing<[u8; 32]> {
        let hk = hkdf::Hkdf::<Sha256>::new(Some(salt), &self.bytes);
        let mut out = Zeroizing::new([0u8; 32]);
        hk.expand(HKDF_INFO_LEGACY, &mut out[..])
            .expect("32 bytes is a valid HKDF-SHA-256 length");
        out
    }

    fn wrap(&self, file_key: &[u8; 32]) -> Result<Vec<u8>, CryptoError> {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|e| CryptoError::Encrypt(e.to_string()))?;
        let kek = self.kek(&salt);
        let cipher = Aes256Gcm::new_from_slice(&kek[..]).expect("32-byte key");
        let ct = cipher
            .encrypt(
                &[0u8; 12].into(),
                Payload {
                    msg: file_key,
                    aad: LEGACY_WRAP_AAD,
                },
            )
            .map_err(|_| CryptoError::Encrypt("key wrap failed".into()))?;
        let mut out = salt.to_vec();
        out.extend_from_slice(&ct);
        Ok(out)
    }

    fn unwrap(&self, wrapped: &[u8]) -> Option<Zeroizing<[u8; 32]>> {
        if wrapped.len() != 16 + 32 + TAG {
            return None;
        }
        let kek = self.kek(&wrapped[..16]);
        let cipher = Aes256Gcm::new_from_slice(&kek[..]).expect("32-byte key");
        let pt = Zeroizing::new(
            cipher
                .decrypt(
                    &[0u8; 12].into(),
                    Payload {
                        msg: &wrapped[16..],
                        aad: LEGACY_WRAP_AAD,
                    },
                )
                .ok()?,
        );
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&pt);
        Some(key)
    }
}

/// Who a file is encrypted for.
#[derive(Debug, Clone)]
pub enum Recipient {
    Certificate(Box<Certificate>),
    LegacyKey(LegacyKey),
}

impl Recipient {
    /// The identifier stored in headers: the certificate's SHA-1 thumbprint or the key id.
    pub fn id(&self) -> String {
        match self {
            Recipient::Certificate(c) => c.thumbprint.clone(),
            Recipient::LegacyKey(k) => k.key_id(),
        }
    }

    /// Wraps `file_key` for this recipient: the header's recipient kind and wrapped key.
    pub(super) fn wrap_file_key(&self, file_key: &[u8; 32]) -> Result<(u8, Vec<u8>), CryptoError> {
        Ok(match self {
            Recipient::Certificate(c) => (
                KIND_CERTIFICATE,
                c.wrap_key(&file_key[..])
                    .map_err(|e| CryptoError::Encrypt(e.to_string()))?,
            ),
            Recipient::LegacyKey(k) => (KIND_LEGACY_KEY, k.wrap(file_key)?),
        })
    }
}

/// What can decrypt a file.
pub enum Identity {
    PrivateKey(Box<PrivateKey>),
    LegacyKey(LegacyKey),
}

impl Identity {
    /// The identifier this identity answers to, when known.
    pub fn id(&self) -> Option<String> {
        match self {
            Identity::PrivateKey(k) => k.thumbprint().map(str::to_string),
            Identity::LegacyKey(k) => Some(k.key_id()),
        }
    }

    /// Unwraps the file key of the file that starts with `header`.
    pub(super) fn unwrap_file_key(
        &self,
        header: &Header,
    ) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
        if let Some(given) = self.id() {
            if !given.eq_ignore_ascii_case(&header.recipient_id) {
                return Err(CryptoError::WrongRecipient {
                    needed: describe_id(&header.recipient_id),
                    given: describe_id(&given),
                });
            }
        }
        let unwrap_failed = || CryptoError::UnwrapFailed {
            needed: describe_id(&header.recipient_id),
        };
        match (header.kind, self) {
            (KIND_CERTIFICATE, Identity::PrivateKey(k)) => {
                let key = k
                    .unwrap_key(&header.wrapped_key)
                    .map_err(|_| unwrap_failed())?;
                if key.len() != 32 {
                    return Err(unwrap_failed());
                }
                let mut out = Zeroizing::new([0u8; 32]);
                out.copy_from_slice(&key);
                Ok(out)
            }
            (KIND_LEGACY_KEY, Identity::LegacyKey(k)) => {
                k.unwrap(&header.wrapped_key).ok_or_else(unwrap_failed)
            }
            (_, identity) => Err(CryptoError::WrongRecipient {
                needed: describe_id(&header.recipient_id),
                given: match identity {
                    Identity::PrivateKey(_) => "a certificate's private key".into(),
                    Identity::LegacyKey(k) => describe_id(&k.key_id()),
                },
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_cmdlet_shape() {
        let a = LegacyKey::generate_text();
        let b = LegacyKey::generate_text();
        assert_eq!(a.len(), 88);
        assert_ne!(a, b);
        let raw = base64::engine::general_purpose::STANDARD
            .decode(a.as_bytes())
            .unwrap();
        assert_eq!(raw.len(), 64);
        assert!(raw.iter().all(|c| c.is_ascii_alphabetic()));
        assert!(LegacyKey::parse("not base64!").is_err());
        assert!(LegacyKey::parse("c2hvcnQ=").is_err());
    }

    #[test]
    fn key_ids_round_trip_exactly() {
        let k = LegacyKey::parse(&LegacyKey::generate_text()).unwrap();
        let id = k.key_id();
        assert!(id.starts_with("key:") && id.len() == 20, "{id}");
        let parsed: KeyId = id.parse().unwrap();
        assert_eq!(parsed, KeyId::Legacy(id[4..].to_string()));
        assert_eq!(parsed.to_string(), id);
        assert_eq!(describe_id(&id), format!("encryption key {id}"));
        for thumbprint in [
            "0123456789ABCDEF0123456789ABCDEF01234567",
            "",
            "KEY:abc",
            "x",
        ] {
            let parsed: KeyId = thumbprint.parse().unwrap();
            assert_eq!(parsed, KeyId::Thumbprint(thumbprint.to_string()));
            assert_eq!(parsed.to_string(), thumbprint);
            assert_eq!(describe_id(thumbprint), format!("certificate {thumbprint}"));
        }
        assert_eq!(KeyId::from("key:").to_string(), "key:");
    }
}
