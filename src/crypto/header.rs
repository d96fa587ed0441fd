//! The header of an encrypted file, byte by byte (docs/FORMAT.md §2.1), the format's constants,
//! and [`CryptoError`], which every part of the format reports through.
//!
//! ```text
//! version 1 (one recipient):
//! header = magic "AZSBKENC" | 0x01 | kind | log2(chunk) 0x10 | 0x00
//!          | u16be id_len | id | u16be wrap_len | wrapped file key | nonce prefix (7 bytes)
//! version 2 (1 to 16 recipients, docs/FORMAT.md §2.3):
//! header = magic "AZSBKENC" | 0x02 | count | log2(chunk) 0x10 | 0x00
//!          | count × (kind | u16be id_len | id | u16be wrap_len | wrapped file key)
//!          | nonce prefix (7 bytes)
//! ```
//! A writer uses version 1 whenever a file has one recipient, so that readers older than
//! version 2 still read it; a reader accepts both.

use std::io::{self, Read};

/// File magic.
pub const MAGIC: &[u8; 8] = b"AZSBKENC";
/// Format version of a file with exactly one recipient.
pub const VERSION: u8 = 1;
/// Format version of a file with several recipients (recovery certificates).
pub const VERSION_MULTI: u8 = 2;
/// The most recipients a version-2 header may list.
pub const MAX_RECIPIENTS: usize = 16;
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
/// Longest recipient id.
const MAX_ID: usize = 256;
/// Longest wrapped file key.
const MAX_WRAP: usize = 4096;

/// Why a file could not be decrypted. Everything here means the data or the key is wrong.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CryptoError {
    #[error("not an azs-backup encrypted file (bad magic)")]
    BadMagic,
    #[error(
        "unsupported format version {0} (this tool reads versions {VERSION} and {VERSION_MULTI})"
    )]
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

/// One recipient of a file: who it is and the file key wrapped for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stanza {
    pub kind: u8,
    pub recipient_id: String,
    pub wrapped_key: Vec<u8>,
}

/// The parsed file header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// [`VERSION`] (one recipient) or [`VERSION_MULTI`].
    pub version: u8,
    /// The recipients, in header order: the encryption certificate or key first, then the
    /// recovery certificates. Exactly one in version 1; 1 to [`MAX_RECIPIENTS`] in version 2.
    pub recipients: Vec<Stanza>,
    pub nonce_prefix: [u8; NONCE_PREFIX],
}

impl Header {
    /// A header for `recipients`, in the version a writer uses: 1 for one recipient, else 2.
    pub fn new(recipients: Vec<Stanza>, nonce_prefix: [u8; NONCE_PREFIX]) -> Header {
        let version = if recipients.len() == 1 {
            VERSION
        } else {
            VERSION_MULTI
        };
        Header {
            version,
            recipients,
            nonce_prefix,
        }
    }

    /// The recipient ids, in header order.
    pub fn recipient_ids(&self) -> Vec<&str> {
        self.recipients
            .iter()
            .map(|s| s.recipient_id.as_str())
            .collect()
    }

    /// Serialises the header. Panics when the recipients do not fit the version (a version-1
    /// header with other than one recipient, a version-2 header with none or more than
    /// [`MAX_RECIPIENTS`], an id or wrapped key out of range): that is a bug of the writer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let n = self.recipients.len();
        match self.version {
            VERSION => assert_eq!(n, 1, "a version-1 header has one recipient"),
            VERSION_MULTI => assert!((1..=MAX_RECIPIENTS).contains(&n), "{n} recipients"),
            v => panic!("no header version {v}"),
        }
        let mut out = Vec::with_capacity(64 + n * 300);
        out.extend_from_slice(MAGIC);
        let byte9 = if self.version == VERSION {
            self.recipients[0].kind
        } else {
            n as u8
        };
        out.extend_from_slice(&[self.version, byte9, CHUNK_LOG2, 0]);
        for (i, s) in self.recipients.iter().enumerate() {
            assert!((1..=MAX_ID).contains(&s.recipient_id.len()), "id length");
            assert!((1..=MAX_WRAP).contains(&s.wrapped_key.len()), "wrap length");
            if self.version == VERSION_MULTI {
                out.push(s.kind);
            } else {
                debug_assert_eq!(i, 0);
            }
            out.extend_from_slice(&(s.recipient_id.len() as u16).to_be_bytes());
            out.extend_from_slice(s.recipient_id.as_bytes());
            out.extend_from_slice(&(s.wrapped_key.len() as u16).to_be_bytes());
            out.extend_from_slice(&s.wrapped_key);
        }
        out.extend_from_slice(&self.nonce_prefix);
        out
    }

    /// Reads and parses a header; returns it with its raw bytes.
    pub fn read_from(r: &mut dyn Read) -> io::Result<(Header, Vec<u8>)> {
        let mut raw = vec![0u8; 12];
        read_exact_or(r, &mut raw)?;
        if &raw[..8] != MAGIC {
            return Err(CryptoError::BadMagic.into_io());
        }
        let version = raw[8];
        if version != VERSION && version != VERSION_MULTI {
            return Err(CryptoError::UnsupportedVersion(version).into_io());
        }
        if raw[10] != CHUNK_LOG2 || raw[11] != 0 {
            return Err(CryptoError::BadHeader("unsupported chunk size or flags").into_io());
        }
        let byte9 = raw[9];
        let recipients = if version == VERSION {
            vec![read_stanza(r, &mut raw, byte9)?]
        } else {
            let count = byte9 as usize;
            if count == 0 || count > MAX_RECIPIENTS {
                return Err(CryptoError::BadHeader("recipient count out of range").into_io());
            }
            let mut list: Vec<Stanza> = Vec::with_capacity(count);
            for _ in 0..count {
                let mut kind = [0u8; 1];
                read_exact_or(r, &mut kind)?;
                raw.push(kind[0]);
                let s = read_stanza(r, &mut raw, kind[0])?;
                if list
                    .iter()
                    .any(|o| o.recipient_id.eq_ignore_ascii_case(&s.recipient_id))
                {
                    return Err(CryptoError::BadHeader("a recipient is listed twice").into_io());
                }
                list.push(s);
            }
            list
        };
        let mut nonce_prefix = [0u8; NONCE_PREFIX];
        read_exact_or(r, &mut nonce_prefix)?;
        raw.extend_from_slice(&nonce_prefix);
        Ok((
            Header {
                version,
                recipients,
                nonce_prefix,
            },
            raw,
        ))
    }
}

/// Reads one recipient after its kind byte: `u16be id_len | id | u16be wrap_len | wrapped`,
/// appending the bytes to `raw`.
fn read_stanza(r: &mut dyn Read, raw: &mut Vec<u8>, kind: u8) -> io::Result<Stanza> {
    if kind != KIND_CERTIFICATE && kind != KIND_LEGACY_KEY {
        return Err(CryptoError::BadHeader("unknown recipient kind").into_io());
    }
    let mut len = [0u8; 2];
    read_exact_or(r, &mut len)?;
    raw.extend_from_slice(&len);
    let id_len = u16::from_be_bytes(len) as usize;
    if id_len == 0 || id_len > MAX_ID {
        return Err(CryptoError::BadHeader("recipient id length out of range").into_io());
    }
    let mut id = vec![0u8; id_len + 2];
    read_exact_or(r, &mut id)?;
    raw.extend_from_slice(&id);
    let wrap_len = u16::from_be_bytes([id[id_len], id[id_len + 1]]) as usize;
    if wrap_len == 0 || wrap_len > MAX_WRAP {
        return Err(CryptoError::BadHeader("wrapped key length out of range").into_io());
    }
    id.truncate(id_len);
    let recipient_id = String::from_utf8(id)
        .map_err(|_| CryptoError::BadHeader("recipient id is not UTF-8").into_io())?;
    let mut wrapped_key = vec![0u8; wrap_len];
    read_exact_or(r, &mut wrapped_key)?;
    raw.extend_from_slice(&wrapped_key);
    Ok(Stanza {
        kind,
        recipient_id,
        wrapped_key,
    })
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

    fn stanza(kind: u8, id: &str, wrap_len: usize) -> Stanza {
        Stanza {
            kind,
            recipient_id: id.into(),
            wrapped_key: vec![9u8; wrap_len],
        }
    }

    fn crypto_err(bytes: &[u8]) -> CryptoError {
        let e = Header::read_from(&mut &bytes[..]).unwrap_err();
        CryptoError::from_io(&e).cloned().expect("a crypto error")
    }

    #[test]
    fn header_round_trips_through_its_bytes() {
        let header = Header::new(
            vec![stanza(KIND_LEGACY_KEY, "key:0123456789abcdef", 64)],
            [1, 2, 3, 4, 5, 6, 7],
        );
        assert_eq!(header.version, VERSION);
        let bytes = header.to_bytes();
        assert_eq!(bytes.len(), 23 + 20 + 64);
        let (parsed, raw) = Header::read_from(&mut &bytes[..]).unwrap();
        assert_eq!(parsed, header);
        assert_eq!(raw, bytes);
        assert!(matches!(
            crypto_err(&bytes[..bytes.len() - 1]),
            CryptoError::Truncated
        ));
    }

    #[test]
    fn version_2_lists_every_recipient_and_refuses_duplicates() {
        let a = "A".repeat(40);
        let b = "B".repeat(40);
        let header = Header::new(
            vec![
                stanza(KIND_CERTIFICATE, &a, 256),
                stanza(KIND_CERTIFICATE, &b, 512),
                stanza(KIND_LEGACY_KEY, "key:0123456789abcdef", 64),
            ],
            [7; 7],
        );
        assert_eq!(header.version, VERSION_MULTI);
        let bytes = header.to_bytes();
        // 12 fixed + 3 × (kind + 2 + id + 2 + wrap) + 7.
        assert_eq!(
            bytes.len(),
            12 + (5 + 40 + 256) + (5 + 40 + 512) + (5 + 20 + 64) + 7
        );
        assert_eq!(bytes[8..12], [2, 3, 16, 0]);
        let (parsed, raw) = Header::read_from(&mut &bytes[..]).unwrap();
        assert_eq!(parsed, header);
        assert_eq!(raw, bytes);
        assert_eq!(
            parsed.recipient_ids(),
            [&a[..], &b[..], "key:0123456789abcdef"]
        );
        // The same id twice (in another case) is refused.
        let dup = Header {
            version: VERSION_MULTI,
            recipients: vec![
                stanza(KIND_CERTIFICATE, &a, 256),
                stanza(KIND_CERTIFICATE, &a.to_lowercase(), 256),
            ],
            nonce_prefix: [0; 7],
        };
        assert!(matches!(
            crypto_err(&dup.to_bytes()),
            CryptoError::BadHeader(m) if m.contains("twice")
        ));
        // Counts 0 and 17, and a kind 3 stanza, are refused.
        let mut zero = bytes.clone();
        zero[9] = 0;
        assert!(matches!(crypto_err(&zero), CryptoError::BadHeader(_)));
        let mut many = bytes.clone();
        many[9] = 17;
        assert!(matches!(crypto_err(&many), CryptoError::BadHeader(_)));
        let mut kind = bytes.clone();
        kind[12] = 3;
        assert!(matches!(crypto_err(&kind), CryptoError::BadHeader(_)));
        // A count larger than the stanzas present runs into the nonce prefix and the end.
        let mut more = bytes.clone();
        more[9] = 4;
        assert!(matches!(
            crypto_err(&more),
            CryptoError::BadHeader(_) | CryptoError::Truncated
        ));
        let mut v3 = bytes;
        v3[8] = 3;
        assert!(matches!(
            crypto_err(&v3),
            CryptoError::UnsupportedVersion(3)
        ));
    }
}
