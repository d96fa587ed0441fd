//! The encrypted snapshot file: its header, its keys (unwrapped from the sidecar), the HMAC and
//! the AES-256-CBC decryption, all streamed in 1 MiB reads (docs/AZURESTACK.md, "The key" and
//! "The encrypted snapshot file").

use super::sidecar::Sidecar;
use crate::certificate::normalise_thumbprint;
use crate::certificate::PrivateKey;
use crate::error::{Error, Result};
use aes::cipher::{BlockModeDecrypt, KeyIvInit};
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha2::Sha512;
use std::io::{self, Read, Write};
use zeroize::Zeroizing;

/// The header's first field.
pub const HEADER_TAG: i16 = 1;
/// `encAlg`: AES-256-CBC with PKCS#7 padding.
pub const ENC_AES256_CBC: i16 = 0;
/// `authAlg`: HMAC-SHA512 over the ciphertext.
pub const AUTH_HMAC_SHA512: i16 = 0;
/// Bytes of the fixed part of the header (five little-endian int16 fields).
pub const FIXED_HEADER_LEN: u64 = 10;
/// AES block and IV size.
const BLOCK: usize = 16;
/// HMAC-SHA512 tag size.
const TAG_LEN: usize = 64;
/// The AES key's length at the start of the unwrapped key.
const ENC_KEY_LEN: usize = 32;
/// Read buffer (a multiple of the block size).
const BUF: usize = 1 << 20;

type HmacSha512 = Hmac<Sha512>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

/// The header of an encrypted snapshot file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotHeader {
    pub enc_alg: i16,
    pub auth_alg: i16,
    pub iv: Vec<u8>,
    pub tag: Vec<u8>,
}

impl SnapshotHeader {
    /// Bytes before the ciphertext: 10 + ivLen + tagLen.
    pub fn len(&self) -> u64 {
        FIXED_HEADER_LEN + self.iv.len() as u64 + self.tag.len() as u64
    }

    /// Never true (the fixed part alone is 10 bytes); for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Reads and checks a header; `name` names the file in errors.
    pub fn read_from(r: &mut dyn Read, name: &str) -> Result<SnapshotHeader> {
        let bad = |why: String| {
            Error::VerificationFailed(format!(
                "{name} is not an encrypted Azure Stack snapshot: {why}"
            ))
        };
        let mut fixed = [0u8; FIXED_HEADER_LEN as usize];
        read_full(r, &mut fixed, name)?
            .then_some(())
            .ok_or_else(|| bad("it ends inside the header".into()))?;
        let field = |i: usize| i16::from_le_bytes([fixed[2 * i], fixed[2 * i + 1]]);
        let (tag, enc_alg, auth_alg, iv_len, tag_len) =
            (field(0), field(1), field(2), field(3), field(4));
        if tag != HEADER_TAG {
            return Err(bad(format!(
                "the header tag is {tag}, expected {HEADER_TAG}"
            )));
        }
        if enc_alg != ENC_AES256_CBC {
            return Err(bad(format!(
                "unsupported encryption algorithm {enc_alg} (only 0 = AES-256-CBC is known)"
            )));
        }
        if auth_alg != AUTH_HMAC_SHA512 {
            return Err(bad(format!(
                "unsupported authentication algorithm {auth_alg} (only 0 = HMAC-SHA512 is known)"
            )));
        }
        if iv_len as usize != BLOCK {
            return Err(bad(format!(
                "the IV length is {iv_len}, AES-CBC needs {BLOCK}"
            )));
        }
        if tag_len as usize != TAG_LEN {
            return Err(bad(format!(
                "the authentication tag length is {tag_len}, HMAC-SHA512 gives {TAG_LEN}"
            )));
        }
        let mut iv = vec![0u8; BLOCK];
        let mut tag = vec![0u8; TAG_LEN];
        if !read_full(r, &mut iv, name)? || !read_full(r, &mut tag, name)? {
            return Err(bad("it ends inside the header".into()));
        }
        Ok(SnapshotHeader {
            enc_alg,
            auth_alg,
            iv,
            tag,
        })
    }

    /// The ciphertext's length in a file of `total` bytes: refused unless whole AES blocks.
    pub fn ciphertext_len(&self, total: u64, name: &str) -> Result<u64> {
        let ct_len = total.saturating_sub(self.len());
        if ct_len == 0 || !ct_len.is_multiple_of(BLOCK as u64) {
            return Err(Error::VerificationFailed(format!(
                "{name}: the ciphertext has {ct_len} bytes, not a whole number of AES blocks: the file is truncated or damaged"
            )));
        }
        Ok(ct_len)
    }
}

/// The ciphertext of a snapshot file whose header has been read: what the passes need.
#[derive(Debug)]
pub struct Ciphertext<'n> {
    pub header: SnapshotHeader,
    /// Bytes of ciphertext after the header.
    pub len: u64,
    /// The file, in errors.
    pub name: &'n str,
}

impl<'n> Ciphertext<'n> {
    /// Reads the header from `src` (a file of `total` bytes) and checks the ciphertext's length.
    pub fn read(src: &mut dyn Read, total: u64, name: &'n str) -> Result<Ciphertext<'n>> {
        let header = SnapshotHeader::read_from(src, name)?;
        let len = header.ciphertext_len(total, name)?;
        Ok(Ciphertext { header, len, name })
    }
}

/// Fills `buf`; false on a clean or partial end of file.
fn read_full(r: &mut dyn Read, buf: &mut [u8], name: &str) -> Result<bool> {
    match r.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(Error::io(format!("reading {name}"), e)),
    }
}

/// Which OAEP hash unwrapped the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum OaepHash {
    #[serde(rename = "SHA-1")]
    Sha1,
    #[serde(rename = "SHA-256")]
    Sha256,
}

impl std::fmt::Display for OaepHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OaepHash::Sha1 => "SHA-1",
            OaepHash::Sha256 => "SHA-256",
        })
    }
}

/// The snapshot's AES and HMAC keys.
pub struct SnapshotKeys {
    enc: Zeroizing<[u8; ENC_KEY_LEN]>,
    mac: Zeroizing<Vec<u8>>,
    pub oaep: OaepHash,
}

impl std::fmt::Debug for SnapshotKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SnapshotKeys(oaep {}, <redacted>)", self.oaep)
    }
}

/// The thumbprint of the key's certificate, which must be the one the sidecar names (else
/// [`Error::WrongKey`], naming the certificate the snapshot `name` needs).
pub fn check_thumbprint(key: &PrivateKey, sidecar: &Sidecar, name: &str) -> Result<String> {
    let given = key.thumbprint().map(normalise_thumbprint).ok_or_else(|| {
        Error::invalid(
            "cert-path",
            "the key file holds no certificate, so its thumbprint cannot be checked against the snapshot's EncryptionCertThumbprint; give the .pfx exported with the certificate",
        )
    })?;
    if given != sidecar.thumbprint {
        return Err(Error::WrongKey(format!(
            "Thumbprint mismatch: snapshot {name} was encrypted for certificate {}; the key given is for certificate {given}",
            sidecar.thumbprint
        )));
    }
    Ok(given)
}

/// Unwraps `EncryptedBackupEncryptionKey` with RSA-OAEP (SHA-256, then SHA-1, as
/// `Unprotect-AzsBackup` does). `thumbprint` (the sidecar's) names the certificate in errors.
pub fn unwrap_keys(
    key: &PrivateKey,
    encrypted_key: &str,
    thumbprint: &str,
) -> Result<SnapshotKeys> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let wrapped: String = encrypted_key
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let wrapped = b64.decode(wrapped.as_bytes()).map_err(|_| {
        Error::VerificationFailed(
            "EncryptedBackupEncryptionKey in the sidecar is not base64".into(),
        )
    })?;
    let (plain, oaep) = match key.unwrap_key(&wrapped) {
        Ok(p) => (p, OaepHash::Sha256),
        Err(_) => match key.unwrap_key_sha1(&wrapped) {
            Ok(p) => (p, OaepHash::Sha1),
            Err(_) => {
                return Err(Error::WrongKey(format!(
                    "the private key does not match certificate {thumbprint}: it cannot unwrap \
                     EncryptedBackupEncryptionKey with RSA-OAEP (SHA-256 or SHA-1), or the wrapped key is damaged"
                )))
            }
        },
    };
    let text = std::str::from_utf8(&plain).map_err(|_| {
        Error::VerificationFailed("the unwrapped snapshot key is not UTF-8 text".into())
    })?;
    let compact = Zeroizing::new(b64.decode(text.trim().as_bytes()).map_err(|_| {
        Error::VerificationFailed("the unwrapped snapshot key is not base64 text".into())
    })?);
    if compact.len() <= ENC_KEY_LEN {
        return Err(Error::VerificationFailed(format!(
            "the unwrapped snapshot key has {} bytes; expected a 32-byte AES-256 key followed by the HMAC key",
            compact.len()
        )));
    }
    let mut enc = Zeroizing::new([0u8; ENC_KEY_LEN]);
    enc.copy_from_slice(&compact[..ENC_KEY_LEN]);
    Ok(SnapshotKeys {
        enc,
        mac: Zeroizing::new(compact[ENC_KEY_LEN..].to_vec()),
        oaep,
    })
}

impl SnapshotKeys {
    /// The length of the HMAC key in bytes (32 for Azure Stack Hub).
    pub fn mac_key_len(&self) -> usize {
        self.mac.len()
    }

    /// The warning for an HMAC key of another length than Azure Stack Hub's.
    pub fn mac_key_warning(&self) -> Option<String> {
        (self.mac.len() != 32).then(|| {
            format!(
                "the HMAC key has {} bits; Azure Stack Hub uses 256",
                self.mac.len() * 8
            )
        })
    }

    fn hmac(&self) -> HmacSha512 {
        <HmacSha512 as KeyInit>::new_from_slice(&self.mac).expect("HMAC takes any key length")
    }
}

/// The error of a tag that does not match: the file was changed or damaged.
pub fn checksum_mismatch(name: &str) -> Error {
    Error::VerificationFailed(format!(
        "{name}: encrypted data checksum mismatch (HMAC-SHA512 over the ciphertext): the file was changed or damaged; nothing was written"
    ))
}

/// Pass 1 of the two-pass form: the HMAC over the rest of `src` (the ciphertext, which must be
/// `ct_len` bytes). `progress` gets the bytes read so far.
pub fn check_mac(
    src: &mut dyn Read,
    keys: &SnapshotKeys,
    ct: &Ciphertext<'_>,
    progress: &mut dyn FnMut(u64),
) -> Result<()> {
    let name = ct.name;
    let mut mac = keys.hmac();
    let mut buf = Zeroizing::new(vec![0u8; BUF]);
    let mut done = 0u64;
    loop {
        let n = src
            .read(&mut buf)
            .map_err(|e| Error::io(format!("reading {name}"), e))?;
        if n == 0 {
            break;
        }
        mac.update(&buf[..n]);
        done += n as u64;
        progress(done);
    }
    if done != ct.len {
        return Err(changed(name));
    }
    mac.verify_slice(&ct.header.tag)
        .map_err(|_| checksum_mismatch(name))
}

fn changed(name: &str) -> Error {
    Error::VerificationFailed(format!("{name} changed while it was read"))
}

/// What a tag that does not match after decryption means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacAfterDecrypt {
    /// The tag was checked in an earlier pass: the file changed in between.
    Rechecked,
    /// This is the only pass: the file was changed or damaged.
    OnlyCheck,
}

/// AES-256-CBC decryption of exactly `ct_len` bytes from `src` (positioned after the header)
/// into `dst`, with the HMAC over what was read. The tag is checked before the PKCS#7 padding
/// (so a damaged file is a checksum mismatch, never a padding error) and before the last block
/// is written; `dst` holds unauthenticated plaintext until this returns `Ok`, so it must be a
/// private file that is thrown away on error. With [`MacAfterDecrypt::OnlyCheck`], a file
/// longer than its size said is refused too. Returns the plaintext's length.
pub fn decrypt(
    src: &mut dyn Read,
    dst: &mut dyn Write,
    keys: &SnapshotKeys,
    ct: &Ciphertext<'_>,
    mode: MacAfterDecrypt,
    progress: &mut dyn FnMut(u64),
) -> Result<u64> {
    let (name, ct_len) = (ct.name, ct.len);
    let mut dec = Aes256CbcDec::new_from_slices(&keys.enc[..], &ct.header.iv)
        .expect("32-byte key and 16-byte IV checked above");
    let mut mac = keys.hmac();
    let mut buf = Zeroizing::new(vec![0u8; BUF]);
    let mut last = Zeroizing::new([0u8; BLOCK]);
    let mut remaining = ct_len;
    let mut written = 0u64;
    let write_err = |e: io::Error| Error::io("writing the decrypted zip", e);
    while remaining > 0 {
        let take = remaining.min(BUF as u64) as usize;
        src.read_exact(&mut buf[..take])
            .map_err(|e| match e.kind() {
                io::ErrorKind::UnexpectedEof => changed(name),
                _ => Error::io(format!("reading {name}"), e),
            })?;
        mac.update(&buf[..take]);
        let (blocks, rest) = aes::Block::slice_as_chunks_mut(&mut buf[..take]);
        debug_assert!(rest.is_empty());
        dec.decrypt_blocks(blocks);
        remaining -= take as u64;
        // The last block holds the padding: kept back until the tag has been checked.
        let keep = if remaining == 0 { take - BLOCK } else { take };
        dst.write_all(&buf[..keep]).map_err(write_err)?;
        written += keep as u64;
        if remaining == 0 {
            last.copy_from_slice(&buf[keep..take]);
        }
        progress(ct_len - remaining);
    }
    if mode == MacAfterDecrypt::OnlyCheck {
        let mut one = [0u8; 1];
        if src
            .read(&mut one)
            .map_err(|e| Error::io(format!("reading {name}"), e))?
            != 0
        {
            return Err(changed(name));
        }
    }
    mac.verify_slice(&ct.header.tag).map_err(|_| match mode {
        MacAfterDecrypt::OnlyCheck => checksum_mismatch(name),
        MacAfterDecrypt::Rechecked => Error::VerificationFailed(format!(
            "{name} changed while it was read (the checksum no longer matches); nothing was extracted"
        )),
    })?;
    let pad = last[BLOCK - 1] as usize;
    if pad == 0 || pad > BLOCK || last[BLOCK - pad..].iter().any(|&b| b as usize != pad) {
        return Err(Error::VerificationFailed(format!(
            "{name}: the PKCS#7 padding is not valid after decryption (the key does not fit the data)"
        )));
    }
    dst.write_all(&last[..BLOCK - pad]).map_err(write_err)?;
    dst.flush().map_err(write_err)?;
    Ok(written + (BLOCK - pad) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header() {
        let mut bytes = Vec::new();
        for f in [1i16, 0, 0, 16, 64] {
            bytes.extend_from_slice(&f.to_le_bytes());
        }
        bytes.extend_from_slice(&[7u8; 16]);
        bytes.extend_from_slice(&[9u8; 64]);
        let h = SnapshotHeader::read_from(&mut &bytes[..], "s").unwrap();
        assert_eq!(h.len(), 90);
        assert_eq!(h.iv, vec![7u8; 16]);
        assert_eq!(h.ciphertext_len(90 + 32, "s").unwrap(), 32);
        assert!(h.ciphertext_len(90, "s").is_err());
        assert!(h.ciphertext_len(90 + 17, "s").is_err());
        for (i, v) in [(0usize, 2i16), (1, 1), (2, 1), (3, 8), (4, 32)] {
            let mut b = bytes.clone();
            b[2 * i..2 * i + 2].copy_from_slice(&v.to_le_bytes());
            assert!(SnapshotHeader::read_from(&mut &b[..], "s").is_err(), "{i}");
        }
        assert!(SnapshotHeader::read_from(&mut &bytes[..50], "s").is_err());
    }
}
