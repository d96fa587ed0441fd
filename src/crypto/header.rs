//! The header of an encrypted file, byte by byte (docs/FORMAT.md §2.1), the format's constants,
//! and [`CryptoError`], which every part of the format reports through.
//!
//! ```text
//! header = magic "AZSBKENC" | version 0x01 | kind | log2(chunk) 0x10 | 0x00
//!          | u16be id_len | id | u16be wrap_len | wrapped file key | nonce prefix (7 bytes)
//! ```

use std::io::{self, Read};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_through_its_bytes() {
        let header = Header {
            kind: KIND_LEGACY_KEY,
            recipient_id: "key:0123456789abcdef".into(),
            wrapped_key: vec![9u8; 16 + 32 + TAG],
            nonce_prefix: [1, 2, 3, 4, 5, 6, 7],
        };
        let bytes = header.to_bytes();
        let (parsed, raw) = Header::read_from(&mut &bytes[..]).unwrap();
        assert_eq!(parsed, header);
        assert_eq!(raw, bytes);
        let e = Header::read_from(&mut &bytes[..bytes.len() - 1]).unwrap_err();
        assert!(matches!(
            CryptoError::from_io(&e),
            Some(CryptoError::Truncated)
        ));
    }
}
