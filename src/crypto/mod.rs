//! The encrypted file format ("envelope"), specified byte by byte in `docs/FORMAT.md`.
//!
//! ```text
//! header  = magic "AZSBKENC" | version 0x01 | kind | log2(chunk) 0x10 | 0x00
//!           | u16be id_len | id | u16be wrap_len | wrapped file key | nonce prefix (7 bytes)
//!           (version 0x02: a count instead of the kind, then count × (kind | id | wrapped key),
//!           for a file with recovery certificates; docs/FORMAT.md §2.3)
//! payload = chunk_0 .. chunk_n, each AES-256-GCM(file key, prefix | u32be i | last flag,
//!           aad = SHA-256(header), plaintext_i) — STREAM (BE32), 64 KiB plaintext per chunk
//! ```
//! A fresh random 256-bit file key per file is wrapped with RSA-OAEP-SHA-256 for a certificate
//! (kind 1), or with AES-256-GCM under a key derived by HKDF-SHA-256 from the legacy key (kind 2),
//! once per recipient (the encryption certificate or key, then each recovery certificate).
//! Truncation, reordering and tampering are detected; memory is bounded by one chunk.
//!
//! One file per part of the format, each building only on the ones before it:
//! `header` (§2.1: the header bytes, the format's constants, [`CryptoError`]), `recipients`
//! (§3: wrapping the file key for a certificate or a legacy key, [`KeyId`]) and `stream`
//! (§4: the chunked AEAD payload, [`Encryptor`] and [`Decryptor`]). This file only re-exports.

mod header;
mod recipients;
mod stream;

pub use header::{
    CryptoError, Header, Stanza, CHUNK, CHUNK_LOG2, KIND_CERTIFICATE, KIND_LEGACY_KEY, MAGIC,
    MAX_RECIPIENTS, NONCE_PREFIX, TAG, VERSION, VERSION_MULTI,
};
pub use recipients::{
    describe_id, describe_ids, Identity, KeyId, LegacyKey, LegacyKeyError, Recipient,
};
pub use stream::{encrypted_len, Decryptor, Encryptor};
