//! The encrypted file format ("envelope"), specified byte by byte in `docs/FORMAT.md`.
//!
//! ```text
//! header  = magic "AZSBKENC" | version 0x01 | kind | log2(chunk) 0x10 | 0x00
//!           | u16be id_len | id | u16be wrap_len | wrapped file key | nonce prefix (7 bytes)
//! payload = chunk_0 .. chunk_n, each AES-256-GCM(file key, prefix | u32be i | last flag,
//!           aad = SHA-256(header), plaintext_i) — STREAM (BE32), 64 KiB plaintext per chunk
//! ```
//! A fresh random 256-bit file key per file is wrapped with RSA-OAEP-SHA-256 for a certificate
//! (kind 1), or with AES-256-GCM under a key derived by HKDF-SHA-256 from the legacy key (kind 2).
//! Truncation, reordering and tampering are detected; memory is bounded by one chunk.

use crate::certificate::{Certificate, PrivateKey};
use aead_stream::{NewStream, StreamBE32, StreamPrimitive};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::Aes256Gcm;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::io::{self, Read, Write};
use zeroize::Zeroizing;

/// File magic.
pub const MAGIC: &[u8; 8] = b"AZSBKENC";
/// Format version written and read.
pub const VERSION: u8 = 1;
/// Recipient kind: file key wrapped with RSA-OAEP (SHA-256) for an X.509 certificate.
pub const KIND_CERTIFICATE: u8 = 1;
/// Recipient kind: file key wrapped under a key derived from a legacy symmetric key.
pub const KIND_LEGACY_KEY: u8 = 2;
/// log2 of the plaintext chunk size.
pub const CHUNK_LOG2: u8 = 16;
/// Plaintext bytes per chunk (64 KiB).
pub const CHUNK: usize = 1 << CHUNK_LOG2;
/// Authentication tag bytes per chunk.
pub const TAG: usize = 16;
/// Length of the STREAM nonce prefix (12-byte GCM nonce minus 4-byte counter and flag byte).
pub const NONCE_PREFIX: usize = 7;
const HKDF_INFO_LEGACY: &[u8] = b"azs-backup v1 legacy key wrap";
const LEGACY_WRAP_AAD: &[u8] = b"azs-backup v1 legacy wrap";
const KEY_ID_DOMAIN: &[u8] = b"azs-backup v1 key id";

/// Why a file could not be decrypted. Everything here means the data or the key is wrong.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CryptoError {
    #[error("not an azs-backup encrypted file (bad magic)")]
    BadMagic,
    #[error("unsupported format version {0} (this tool reads version {VERSION})")]
    UnsupportedVersion(u8),
    #[error("header is malformed: {0}")]
    BadHeader(&'static str),
    #[error("file is encrypted for {needed}; the key given is for {given}")]
    WrongRecipient { needed: String, given: String },
    #[error("the key given cannot unwrap the file key (it is not the key this file was encrypted for: {needed})")]
    UnwrapFailed { needed: String },
    #[error(
        "authentication failed at chunk {chunk}: the data was changed, truncated or reordered"
    )]
    ChunkAuth { chunk: u64 },
    #[error("file is truncated (it ends inside the header or a chunk)")]
    Truncated,
    #[error("encryption failed: {0}")]
    Encrypt(String),
}

impl CryptoError {
    /// Wraps into an `io::Error` so it can travel through `Read`/`Write` chains.
    pub fn into_io(self) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, self)
    }

    /// Finds a `CryptoError` inside an `io::Error` produced by this module.
    pub fn from_io(e: &io::Error) -> Option<&CryptoError> {
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<CryptoError>())
    }
}

/// A legacy symmetric key (backward-compatibility mode): the base64 text printed by
/// `new-encryption-key` / `New-AzsEncryptionKeyBase64`.
#[derive(Clone)]
pub struct LegacyKey {
    bytes: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for LegacyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
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
        format!("key:{}", hex::encode(&h.finalize()[..8]))
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
}

/// The parsed file header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub kind: u8,
    pub recipient_id: String,
    pub wrapped_key: Vec<u8>,
    pub nonce_prefix: [u8; NONCE_PREFIX],
}

impl Header {
    /// Serialises the header.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.wrapped_key.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&[VERSION, self.kind, CHUNK_LOG2, 0]);
        out.extend_from_slice(&(self.recipient_id.len() as u16).to_be_bytes());
        out.extend_from_slice(self.recipient_id.as_bytes());
        out.extend_from_slice(&(self.wrapped_key.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.wrapped_key);
        out.extend_from_slice(&self.nonce_prefix);
        out
    }

    /// Reads and parses a header; returns it with its raw bytes.
    pub fn read_from(r: &mut dyn Read) -> io::Result<(Header, Vec<u8>)> {
        let mut raw = vec![0u8; 14];
        read_exact_or(r, &mut raw)?;
        if &raw[..8] != MAGIC {
            return Err(CryptoError::BadMagic.into_io());
        }
        if raw[8] != VERSION {
            return Err(CryptoError::UnsupportedVersion(raw[8]).into_io());
        }
        let kind = raw[9];
        if kind != KIND_CERTIFICATE && kind != KIND_LEGACY_KEY {
            return Err(CryptoError::BadHeader("unknown recipient kind").into_io());
        }
        if raw[10] != CHUNK_LOG2 || raw[11] != 0 {
            return Err(CryptoError::BadHeader("unsupported chunk size or flags").into_io());
        }
        let id_len = u16::from_be_bytes([raw[12], raw[13]]) as usize;
        if id_len == 0 || id_len > 256 {
            return Err(CryptoError::BadHeader("recipient id length out of range").into_io());
        }
        let mut id = vec![0u8; id_len + 2];
        read_exact_or(r, &mut id)?;
        raw.extend_from_slice(&id);
        let wrap_len = u16::from_be_bytes([id[id_len], id[id_len + 1]]) as usize;
        if wrap_len == 0 || wrap_len > 4096 {
            return Err(CryptoError::BadHeader("wrapped key length out of range").into_io());
        }
        let recipient_id = String::from_utf8(id[..id_len].to_vec())
            .map_err(|_| CryptoError::BadHeader("recipient id is not UTF-8").into_io())?;
        let mut rest = vec![0u8; wrap_len + NONCE_PREFIX];
        read_exact_or(r, &mut rest)?;
        raw.extend_from_slice(&rest);
        let mut nonce_prefix = [0u8; NONCE_PREFIX];
        nonce_prefix.copy_from_slice(&rest[wrap_len..]);
        Ok((
            Header {
                kind,
                recipient_id,
                wrapped_key: rest[..wrap_len].to_vec(),
                nonce_prefix,
            },
            raw,
        ))
    }

    /// Unwraps the file key with `identity`.
    fn unwrap_key(&self, identity: &Identity) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
        if let Some(given) = identity.id() {
            if !given.eq_ignore_ascii_case(&self.recipient_id) {
                return Err(CryptoError::WrongRecipient {
                    needed: describe_id(&self.recipient_id),
                    given: describe_id(&given),
                });
            }
        }
        let unwrap_failed = || CryptoError::UnwrapFailed {
            needed: describe_id(&self.recipient_id),
        };
        match (self.kind, identity) {
            (KIND_CERTIFICATE, Identity::PrivateKey(k)) => {
                let key = k
                    .unwrap_key(&self.wrapped_key)
                    .map_err(|_| unwrap_failed())?;
                if key.len() != 32 {
                    return Err(unwrap_failed());
                }
                let mut out = Zeroizing::new([0u8; 32]);
                out.copy_from_slice(&key);
                Ok(out)
            }
            (KIND_LEGACY_KEY, Identity::LegacyKey(k)) => {
                k.unwrap(&self.wrapped_key).ok_or_else(unwrap_failed)
            }
            (_, identity) => Err(CryptoError::WrongRecipient {
                needed: describe_id(&self.recipient_id),
                given: match identity {
                    Identity::PrivateKey(_) => "a certificate's private key".into(),
                    Identity::LegacyKey(k) => describe_id(&k.key_id()),
                },
            }),
        }
    }
}

/// "certificate <thumbprint>" or "encryption key <key id>".
pub fn describe_id(id: &str) -> String {
    if id.starts_with("key:") {
        format!("encryption key {id}")
    } else {
        format!("certificate {id}")
    }
}

fn read_exact_or(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<()> {
    r.read_exact(buf).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            CryptoError::Truncated.into_io()
        } else {
            e
        }
    })
}

fn stream_for(key: &[u8; 32], prefix: &[u8; NONCE_PREFIX]) -> StreamBE32<Aes256Gcm> {
    let aead = Aes256Gcm::new_from_slice(key).expect("32-byte key");
    StreamBE32::from_aead(aead, prefix.into())
}

/// Encrypting writer: writes the header, then the STREAM chunks. Call [`Encryptor::finish`].
pub struct Encryptor<W: Write> {
    inner: W,
    stream: StreamBE32<Aes256Gcm>,
    aad: [u8; 32],
    buf: Vec<u8>,
    position: u32,
    plain_bytes: u64,
    /// Set when sealing or writing a chunk failed: every later call fails, so a chunk is
    /// never sealed twice under the same nonce.
    failed: bool,
}

impl<W: Write> Encryptor<W> {
    /// Starts a file for `recipient`: draws a fresh file key and nonce prefix, writes the header.
    pub fn new(recipient: &Recipient, mut inner: W) -> Result<Encryptor<W>, CryptoError> {
        let mut file_key = Zeroizing::new([0u8; 32]);
        let mut nonce_prefix = [0u8; NONCE_PREFIX];
        getrandom::fill(&mut file_key[..]).map_err(|e| CryptoError::Encrypt(e.to_string()))?;
        getrandom::fill(&mut nonce_prefix).map_err(|e| CryptoError::Encrypt(e.to_string()))?;
        let (kind, wrapped_key) = match recipient {
            Recipient::Certificate(c) => (
                KIND_CERTIFICATE,
                c.wrap_key(&file_key[..])
                    .map_err(|e| CryptoError::Encrypt(e.to_string()))?,
            ),
            Recipient::LegacyKey(k) => (KIND_LEGACY_KEY, k.wrap(&file_key)?),
        };
        let header = Header {
            kind,
            recipient_id: recipient.id(),
            wrapped_key,
            nonce_prefix,
        };
        let raw = header.to_bytes();
        inner
            .write_all(&raw)
            .map_err(|e| CryptoError::Encrypt(format!("writing header: {e}")))?;
        Ok(Self::with_parts(inner, &file_key, &header, &raw))
    }

    /// Builds an encryptor from explicit parts (for test vectors). The header must already be
    /// written to `inner`.
    pub fn with_parts(inner: W, file_key: &[u8; 32], header: &Header, raw: &[u8]) -> Self {
        Encryptor {
            inner,
            stream: stream_for(file_key, &header.nonce_prefix),
            aad: Sha256::digest(raw).into(),
            buf: Vec::with_capacity(CHUNK + TAG),
            position: 0,
            plain_bytes: 0,
            failed: false,
        }
    }

    fn seal(&mut self, last: bool) -> io::Result<()> {
        if self.failed {
            return Err(io::Error::other("an earlier write of this file failed"));
        }
        self.failed = true;
        self.stream
            .encrypt_in_place(self.position, last, &self.aad, &mut self.buf)
            .map_err(|_| CryptoError::Encrypt("AES-GCM failed".into()).into_io())?;
        self.inner.write_all(&self.buf)?;
        self.buf.clear();
        self.failed = false;
        if !last {
            self.position = self
                .position
                .checked_add(1)
                .filter(|p| *p < u32::MAX)
                .ok_or_else(|| CryptoError::Encrypt("file too large".into()).into_io())?;
        }
        Ok(())
    }

    /// Encrypts the last chunk and returns the inner writer and the plaintext length.
    pub fn finish(mut self) -> io::Result<(W, u64)> {
        self.seal(true)?;
        self.inner.flush()?;
        Ok((self.inner, self.plain_bytes))
    }
}

impl<W: Write> Write for Encryptor<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.failed {
            return Err(io::Error::other("an earlier write of this file failed"));
        }
        if data.is_empty() {
            return Ok(0);
        }
        // A full chunk is sealed only once more data follows, so the last chunk is never
        // empty unless the whole plaintext is.
        if self.buf.len() == CHUNK {
            self.seal(false)?;
        }
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        self.plain_bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Decrypting reader. Returns plaintext only after each chunk authenticates; the end of the
/// plaintext is reported only after the last chunk (flag set) authenticates.
pub struct Decryptor<R: Read> {
    inner: R,
    stream: StreamBE32<Aes256Gcm>,
    aad: [u8; 32],
    header: Header,
    /// Ciphertext read ahead: at most one chunk plus one byte.
    ct: Vec<u8>,
    plain: Vec<u8>,
    plain_pos: usize,
    position: u32,
    done: bool,
    /// The first error: every later read returns it again, and nothing of a chunk that did
    /// not authenticate is ever released.
    failed: Option<(io::ErrorKind, Option<CryptoError>, String)>,
}

impl<R: Read> Decryptor<R> {
    /// Reads the header and unwraps the file key with `identity`.
    pub fn new(mut inner: R, identity: &Identity) -> io::Result<Decryptor<R>> {
        let (header, raw) = Header::read_from(&mut inner)?;
        let key = header.unwrap_key(identity).map_err(CryptoError::into_io)?;
        Ok(Decryptor {
            inner,
            stream: stream_for(&key, &header.nonce_prefix),
            aad: Sha256::digest(&raw).into(),
            header,
            ct: Vec::with_capacity(CHUNK + TAG + 1),
            plain: Vec::with_capacity(CHUNK + TAG),
            plain_pos: 0,
            position: 0,
            done: false,
            failed: None,
        })
    }

    /// The file's header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    fn next_chunk(&mut self) -> io::Result<()> {
        // Fill up to one chunk + tag + 1 byte of look-ahead to learn whether this is the last.
        let want = CHUNK + TAG + 1;
        while self.ct.len() < want {
            let old = self.ct.len();
            self.ct.resize(want, 0);
            match self.inner.read(&mut self.ct[old..]) {
                Ok(0) => {
                    self.ct.truncate(old);
                    break;
                }
                Ok(n) => self.ct.truncate(old + n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => self.ct.truncate(old),
                Err(e) => {
                    self.ct.truncate(old);
                    return Err(e);
                }
            }
        }
        let last = self.ct.len() < want;
        if self.ct.len() < TAG {
            return Err(CryptoError::Truncated.into_io());
        }
        let take = if last { self.ct.len() } else { CHUNK + TAG };
        self.plain.clear();
        self.plain.extend_from_slice(&self.ct[..take]);
        self.ct.drain(..take);
        self.stream
            .decrypt_in_place(self.position, last, &self.aad, &mut self.plain)
            .map_err(|_| {
                CryptoError::ChunkAuth {
                    chunk: self.position as u64,
                }
                .into_io()
            })?;
        self.plain_pos = 0;
        if last {
            self.done = true;
        } else {
            self.position = self
                .position
                .checked_add(1)
                .ok_or_else(|| CryptoError::BadHeader("too many chunks").into_io())?;
        }
        Ok(())
    }
}

impl<R: Read> Read for Decryptor<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        if let Some((kind, crypto, msg)) = &self.failed {
            return Err(match crypto {
                Some(c) => c.clone().into_io(),
                None => io::Error::new(*kind, msg.clone()),
            });
        }
        while self.plain_pos == self.plain.len() {
            if self.done {
                return Ok(0);
            }
            if let Err(e) = self.next_chunk() {
                if e.kind() != io::ErrorKind::Interrupted {
                    self.plain.clear();
                    self.plain_pos = 0;
                    self.failed =
                        Some((e.kind(), CryptoError::from_io(&e).cloned(), e.to_string()));
                }
                return Err(e);
            }
        }
        let n = out.len().min(self.plain.len() - self.plain_pos);
        out[..n].copy_from_slice(&self.plain[self.plain_pos..self.plain_pos + n]);
        self.plain_pos += n;
        Ok(n)
    }
}

/// Size of the encrypted file for `plain` bytes of plaintext and a header of `header_len` bytes.
pub fn encrypted_len(plain: u64, header_len: u64) -> u64 {
    let chunks = if plain == 0 {
        1
    } else {
        plain.div_ceil(CHUNK as u64)
    };
    header_len + plain + chunks * TAG as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn legacy() -> LegacyKey {
        LegacyKey::parse(&LegacyKey::generate_text()).unwrap()
    }

    fn encrypt(r: &Recipient, data: &[u8]) -> Vec<u8> {
        let mut e = Encryptor::new(r, Vec::new()).unwrap();
        // Write in odd-sized pieces to exercise buffering.
        for piece in data.chunks(7919) {
            e.write_all(piece).unwrap();
        }
        e.finish().unwrap().0
    }

    fn decrypt(id: &Identity, data: &[u8]) -> io::Result<Vec<u8>> {
        let mut d = Decryptor::new(data, id)?;
        let mut out = Vec::new();
        d.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn round_trips_at_chunk_boundaries() {
        let k = legacy();
        let r = Recipient::LegacyKey(k.clone());
        let id = Identity::LegacyKey(k);
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 17] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let ct = encrypt(&r, &data);
            let header_len = Header::read_from(&mut &ct[..]).unwrap().1.len() as u64;
            assert_eq!(
                ct.len() as u64,
                encrypted_len(len as u64, header_len),
                "{len}"
            );
            assert_eq!(decrypt(&id, &ct).unwrap(), data, "{len}");
        }
    }

    fn auth_error(r: io::Result<Vec<u8>>) -> String {
        let e = r.expect_err("tampered data must not decrypt");
        CryptoError::from_io(&e)
            .unwrap_or_else(|| panic!("not a crypto error: {e}"))
            .to_string()
    }

    #[test]
    fn tampering_truncation_and_reordering_are_detected() {
        let k = legacy();
        let r = Recipient::LegacyKey(k.clone());
        let id = Identity::LegacyKey(k);
        let data = vec![7u8; 3 * CHUNK];
        let ct = encrypt(&r, &data);
        let hl = Header::read_from(&mut &ct[..]).unwrap().1.len();
        let c = CHUNK + TAG;
        // Flipped byte in a chunk.
        let mut t = ct.clone();
        t[hl + c + 5] ^= 1;
        assert!(auth_error(decrypt(&id, &t)).contains("chunk 1"));
        // Truncated at a chunk boundary.
        let t = ct[..hl + 2 * c].to_vec();
        assert!(auth_error(decrypt(&id, &t)).contains("chunk 1"));
        // Swapped chunks.
        let mut t = ct.clone();
        let (a, b) = (ct[hl..hl + c].to_vec(), ct[hl + c..hl + 2 * c].to_vec());
        t[hl..hl + c].copy_from_slice(&b);
        t[hl + c..hl + 2 * c].copy_from_slice(&a);
        assert!(auth_error(decrypt(&id, &t)).contains("chunk 0"));
        // Header edit (nonce prefix byte): the AAD no longer matches.
        let mut t = ct.clone();
        t[hl - 1] ^= 0x80;
        assert!(auth_error(decrypt(&id, &t)).contains("authentication failed"));
        // Appended chunk-sized garbage.
        let mut t = ct.clone();
        t.extend_from_slice(&vec![0u8; c]);
        assert!(auth_error(decrypt(&id, &t)).contains("chunk 2"));
        // Bad magic, truncated header.
        let mut t = ct.clone();
        t[0] = b'X';
        assert!(auth_error(decrypt(&id, &t)).contains("magic"));
        assert!(auth_error(decrypt(&id, &ct[..10])).contains("truncated"));
    }

    /// A writer that fails once after `ok` bytes.
    struct FailingWriter {
        ok: usize,
        written: Vec<u8>,
    }

    impl Write for FailingWriter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.written.len() + buf.len() > self.ok {
                self.ok = usize::MAX;
                return Err(io::Error::other("disk full"));
            }
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn after_a_failed_write_nothing_more_is_sealed() {
        let k = legacy();
        let w = FailingWriter {
            ok: 1000 + CHUNK,
            written: Vec::new(),
        };
        let mut e = Encryptor::new(&Recipient::LegacyKey(k), w).unwrap();
        let data = vec![1u8; 4 * CHUNK];
        let err = e.write_all(&data).unwrap_err();
        assert_eq!(err.to_string(), "disk full");
        // The sink would now accept data again, but the encryptor refuses to go on.
        assert!(e.write(&data[..10]).is_err());
        assert!(e.finish().is_err());
    }

    #[test]
    fn wrong_legacy_key_names_the_needed_key() {
        let k1 = legacy();
        let k2 = legacy();
        let ct = encrypt(&Recipient::LegacyKey(k1.clone()), b"secret");
        let msg = auth_error(decrypt(&Identity::LegacyKey(k2.clone()), &ct));
        assert!(
            msg.contains(&k1.key_id()) && msg.contains(&k2.key_id()),
            "{msg}"
        );
    }

    proptest::proptest! {
        /// No input makes the reader panic: garbage, or a valid file cut and flipped anywhere.
        #[test]
        fn arbitrary_input_never_panics(
            garbage in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
            cut in 0usize..200_000,
            flip in 0usize..200_000,
        ) {
            let k = LegacyKey::parse("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ekFCQ0RFRkdISUpL").unwrap();
            let id = Identity::LegacyKey(k.clone());
            let _ = decrypt(&id, &garbage);
            let mut prefixed = MAGIC.to_vec();
            prefixed.extend_from_slice(&garbage);
            let _ = decrypt(&id, &prefixed);
            let mut ct = encrypt(&Recipient::LegacyKey(k), &vec![3u8; 3 * CHUNK]);
            let len = ct.len();
            ct[flip % len] ^= 0x10;
            ct.truncate(cut % (len + 1));
            proptest::prop_assert!(decrypt(&id, &ct).is_err());
        }
    }

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
}
