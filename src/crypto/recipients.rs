//! Who a file is encrypted for and what decrypts it: wrapping and unwrapping the file key
//! (docs/FORMAT.md §3), and the key ids stored in headers and manifests.
//!
//! A fresh random 256-bit file key per file is wrapped with RSA-OAEP-SHA-256 for a certificate
//! (kind 1, §3.1), or with AES-256-GCM under a key derived by HKDF-SHA-256 from the legacy key
//! (kind 2, §3.2).

use super::header::{CryptoError, Header, Stanza, KIND_CERTIFICATE, KIND_LEGACY_KEY, TAG};
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
    /// `certificate <thumbprint>` or `encryption key <key id>`.
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

/// `certificate <thumbprint>` or `encryption key <key id>`.
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

    /// Wraps `file_key` for this recipient: its entry in the header.
    pub(super) fn wrap_file_key(&self, file_key: &[u8; 32]) -> Result<Stanza, CryptoError> {
        let (kind, wrapped_key) = match self {
            Recipient::Certificate(c) => (
                KIND_CERTIFICATE,
                c.wrap_key(&file_key[..])
                    .map_err(|e| CryptoError::Encrypt(e.to_string()))?,
            ),
            Recipient::LegacyKey(k) => (KIND_LEGACY_KEY, k.wrap(file_key)?),
        };
        Ok(Stanza {
            kind,
            recipient_id: self.id(),
            wrapped_key,
        })
    }
}

/// "certificate A", or "one of certificate A, certificate B" for a file with several recipients.
pub fn describe_ids<S: AsRef<str>>(ids: &[S]) -> String {
    let each: Vec<String> = ids.iter().map(|i| describe_id(i.as_ref())).collect();
    match each.len() {
        1 => each.into_iter().next().unwrap_or_default(),
        _ => format!("one of {}", each.join(", ")),
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

    /// Unwraps the file key of the file that starts with `header`; returns it with the index
    /// of the recipient that opened it. An identity that knows its id opens only its own entry;
    /// a private key whose certificate is unknown tries every certificate entry in turn.
    pub(super) fn unwrap_file_key(
        &self,
        header: &Header,
    ) -> Result<(Zeroizing<[u8; 32]>, usize), CryptoError> {
        let needed = || describe_ids(&header.recipient_ids());
        let wrong = |given: String| CryptoError::WrongRecipient {
            needed: needed(),
            given,
        };
        if let Some(given) = self.id() {
            let (i, stanza) = header
                .recipients
                .iter()
                .enumerate()
                .find(|(_, s)| given.eq_ignore_ascii_case(&s.recipient_id))
                .ok_or_else(|| wrong(describe_id(&given)))?;
            return match self.unwrap_stanza(stanza) {
                Some(Ok(key)) => Ok((key, i)),
                Some(Err(())) => Err(CryptoError::UnwrapFailed {
                    needed: describe_id(&stanza.recipient_id),
                }),
                None => Err(wrong(self.describe())),
            };
        }
        let mut tried = false;
        for (i, stanza) in header.recipients.iter().enumerate() {
            match self.unwrap_stanza(stanza) {
                Some(Ok(key)) => return Ok((key, i)),
                Some(Err(())) => tried = true,
                None => {}
            }
        }
        Err(if tried {
            CryptoError::UnwrapFailed { needed: needed() }
        } else {
            wrong(self.describe())
        })
    }

    /// What the identity is, for messages.
    fn describe(&self) -> String {
        match self {
            Identity::PrivateKey(k) => match k.thumbprint() {
                Some(t) => describe_id(t),
                None => "a certificate's private key".into(),
            },
            Identity::LegacyKey(k) => describe_id(&k.key_id()),
        }
    }

    /// Unwraps one entry: `None` when the entry is of another kind than this identity,
    /// `Some(Err)` when it does not open with it.
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<Zeroizing<[u8; 32]>, ()>> {
        match (stanza.kind, self) {
            (KIND_CERTIFICATE, Identity::PrivateKey(k)) => Some(
                k.unwrap_key(&stanza.wrapped_key)
                    .ok()
                    .filter(|key| key.len() == 32)
                    .map(|key| {
                        let mut out = Zeroizing::new([0u8; 32]);
                        out.copy_from_slice(&key);
                        out
                    })
                    .ok_or(()),
            ),
            (KIND_LEGACY_KEY, Identity::LegacyKey(k)) => {
                Some(k.unwrap(&stanza.wrapped_key).ok_or(()))
            }
            _ => None,
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
