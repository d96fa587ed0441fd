//! Azure Stack Hub's own backup snapshots (docs/AZURESTACK.md): `unprotect` (`Unprotect-AzsBackup`).
//!
//! Azure Stack Hub writes each repository's snapshot as `<yyyyMMddHHmm>_<backupId>_Full_C.zip`
//! with a sidecar `.xml` of the same base name. The sidecar holds
//! `/BackupSnapshot/EncryptedBackupEncryptionKey` (base64 of an RSA-OAEP ciphertext, SHA-1 or
//! SHA-256), `/BackupSnapshot/EncryptionCertThumbprint` and
//! `/BackupSnapshot/SnapshotProperties/BackupStatus`. The key unwraps to the UTF-8 bytes of a base64
//! string whose bytes are a 32-byte AES-256 key followed by the HMAC key (32 bytes).
//!
//! The `.zip` file itself (despite its name, encrypted):
//!
//! ```text
//! i16le tag (= 1) | i16le encAlg (0 = AES-256-CBC, PKCS#7) | i16le authAlg (0 = HMAC-SHA512)
//! | i16le ivLen | i16le tagLen | IV (ivLen bytes) | tag (tagLen bytes) | ciphertext (to the end)
//! ```
//!
//! The tag is HMAC-SHA512 over the ciphertext alone; the plaintext is a zip archive. See
//! `docs/AZURESTACK.md`.
//!
//! [`unprotect`] works in bounded memory: a first pass checks the HMAC; only when it matches, a
//! second pass decrypts into a temporary file (checking the HMAC again, in case the file changed in
//! between), and the zip is extracted from that file. Nothing is written into the destination
//! unless the HMAC matched, and entries that would land outside it are refused before anything is
//! extracted.

use crate::certificate::PrivateKey;
use crate::error::{Error, Result};
use aes::cipher::{BlockModeDecrypt, KeyIvInit};
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha2::Sha512;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};
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
/// Largest sidecar read.
const MAX_SIDECAR: u64 = 4 << 20;
/// Read buffer (a multiple of the block size).
const BUF: usize = 1 << 20;

type HmacSha512 = Hmac<Sha512>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

/// What the sidecar `.xml` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sidecar {
    pub path: PathBuf,
    /// `EncryptedBackupEncryptionKey`: base64 of the RSA-OAEP ciphertext.
    pub encrypted_key: String,
    /// `EncryptionCertThumbprint`, upper-case, without spaces.
    pub thumbprint: String,
    /// `SnapshotProperties/BackupStatus`, when present.
    pub backup_status: Option<String>,
}

/// The sidecar of a snapshot: the same path with the extension `.xml`.
pub fn sidecar_path(snapshot: &Path) -> PathBuf {
    snapshot.with_extension("xml")
}

/// Reads and parses a sidecar file.
pub fn read_sidecar(path: &Path) -> Result<Sidecar> {
    let ctx = || format!("reading the snapshot's sidecar {}", path.display());
    let f = File::open(path).map_err(|e| Error::io(ctx(), e))?;
    let mut bytes = Vec::new();
    f.take(MAX_SIDECAR + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(ctx(), e))?;
    if bytes.len() as u64 > MAX_SIDECAR {
        return Err(bad_sidecar(path, "it is larger than 4 MiB"));
    }
    let text =
        decode_text(&bytes).ok_or_else(|| bad_sidecar(path, "it is not UTF-8 or UTF-16 text"))?;
    parse_sidecar(&text, path)
}

/// Parses sidecar XML (`path` names it in errors and is kept in the result).
pub fn parse_sidecar(xml: &str, path: &Path) -> Result<Sidecar> {
    let doc = roxmltree::Document::parse(xml)
        .map_err(|e| bad_sidecar(path, &format!("it is not well-formed XML: {e}")))?;
    let root = doc.root_element();
    if root.tag_name().name() != "BackupSnapshot" {
        return Err(bad_sidecar(
            path,
            &format!(
                "its root element is <{}>, not <BackupSnapshot>",
                root.tag_name().name()
            ),
        ));
    }
    let encrypted_key = child(root, "EncryptedBackupEncryptionKey")
        .map(text_of)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            bad_sidecar(
                path,
                "/BackupSnapshot/EncryptedBackupEncryptionKey is missing or empty",
            )
        })?;
    let thumbprint = child(root, "EncryptionCertThumbprint")
        .map(text_of)
        .map(|t| normalise_thumbprint(&t))
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            bad_sidecar(
                path,
                "/BackupSnapshot/EncryptionCertThumbprint is missing or empty",
            )
        })?;
    let backup_status = child(root, "SnapshotProperties")
        .and_then(|p| child(p, "BackupStatus"))
        .map(text_of);
    Ok(Sidecar {
        path: path.to_path_buf(),
        encrypted_key,
        thumbprint,
        backup_status,
    })
}

fn child<'a, 'i>(parent: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    parent
        .children()
        .find(|n| n.is_element() && n.tag_name().name() == name)
}

fn text_of(n: roxmltree::Node<'_, '_>) -> String {
    n.descendants()
        .filter(|d| d.is_text())
        .filter_map(|d| d.text())
        .collect::<String>()
        .trim()
        .to_string()
}

fn bad_sidecar(path: &Path, why: &str) -> Error {
    Error::VerificationFailed(format!(
        "{} is not a usable Azure Stack snapshot sidecar: {why}",
        path.display()
    ))
}

/// UTF-8 (with or without BOM) or UTF-16 with a BOM, as .NET writes XML.
fn decode_text(bytes: &[u8]) -> Option<String> {
    let utf16 = |b: &[u8], le: bool| {
        let units: Vec<u16> = b
            .chunks_exact(2)
            .map(|c| {
                if le {
                    u16::from_le_bytes([c[0], c[1]])
                } else {
                    u16::from_be_bytes([c[0], c[1]])
                }
            })
            .collect();
        String::from_utf16(&units).ok()
    };
    match bytes {
        [0xEF, 0xBB, 0xBF, rest @ ..] => String::from_utf8(rest.to_vec()).ok(),
        [0xFF, 0xFE, rest @ ..] => utf16(rest, true),
        [0xFE, 0xFF, rest @ ..] => utf16(rest, false),
        _ => String::from_utf8(bytes.to_vec()).ok(),
    }
}

/// Upper-case hex without spaces or colons (Windows shows thumbprints in several ways).
pub fn normalise_thumbprint(t: &str) -> String {
    t.chars()
        .filter(|c| !c.is_whitespace() && *c != ':' && *c != '\u{200e}')
        .collect::<String>()
        .to_ascii_uppercase()
}

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

/// Unwraps `EncryptedBackupEncryptionKey` with RSA-OAEP (SHA-1, then SHA-256). `thumbprint`
/// (the sidecar's) names the certificate in errors.
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
    let (plain, oaep) = match key.unwrap_key_sha1(&wrapped) {
        Ok(p) => (p, OaepHash::Sha1),
        Err(_) => match key.unwrap_key(&wrapped) {
            Ok(p) => (p, OaepHash::Sha256),
            Err(_) => {
                return Err(Error::WrongKey(format!(
                    "the private key does not match certificate {thumbprint}: it cannot unwrap \
                     EncryptedBackupEncryptionKey with RSA-OAEP (SHA-1 or SHA-256), or the wrapped key is damaged"
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

    fn hmac(&self) -> HmacSha512 {
        <HmacSha512 as KeyInit>::new_from_slice(&self.mac).expect("HMAC takes any key length")
    }
}

/// What to do with a snapshot.
pub struct UnprotectRequest<'a> {
    /// The encrypted `.zip`.
    pub snapshot: &'a Path,
    /// The private key with its certificate (from the `.pfx`).
    pub key: &'a PrivateKey,
    /// Where to extract the zip; `None` checks the thumbprint and the HMAC and writes nothing.
    pub destination: Option<&'a Path>,
    /// Extract into a non-empty destination, replacing the top-level entries the zip holds.
    pub force: bool,
}

/// What [`unprotect`] found and did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnprotectReport {
    pub snapshot: PathBuf,
    pub sidecar: PathBuf,
    pub encryption_cert_thumbprint: String,
    pub backup_status: Option<String>,
    /// The OAEP hash that unwrapped the key.
    pub oaep_hash: OaepHash,
    pub ciphertext_size_in_bytes: u64,
    /// The HMAC-SHA512 over the ciphertext matched.
    pub checksum_ok: bool,
    /// Where the zip was extracted (`null` with `--verify-only`).
    pub destination: Option<PathBuf>,
    pub entries: u64,
    pub files: u64,
    pub bytes: u64,
    pub warnings: Vec<String>,
}

/// Checks, decrypts and extracts one snapshot (see the module documentation). `progress` gets
/// the bytes of ciphertext processed so far in each pass (`"checksum"`, `"decrypt"`).
pub fn unprotect(
    req: &UnprotectRequest<'_>,
    progress: &mut dyn FnMut(&str, u64),
) -> Result<UnprotectReport> {
    let name = req.snapshot.display().to_string();
    let sidecar_file = sidecar_path(req.snapshot);
    let mut file = File::open(req.snapshot).map_err(|e| Error::io(format!("opening {name}"), e))?;
    if !sidecar_file.exists() {
        return Err(Error::io(
            format!(
                "the snapshot's sidecar {} (same base name, .xml) is needed for the wrapped key and the thumbprint",
                sidecar_file.display()
            ),
            io::Error::from(io::ErrorKind::NotFound),
        ));
    }
    let sidecar = read_sidecar(&sidecar_file)?;
    let mut warnings = Vec::new();
    match sidecar.backup_status.as_deref() {
        Some("Succeeded") => {}
        Some(s) => warnings.push(format!(
            "the snapshot's BackupStatus is {s:?}, not \"Succeeded\": it may be incomplete"
        )),
        None => warnings.push("the sidecar has no SnapshotProperties/BackupStatus".into()),
    }
    let given = req.key.thumbprint().map(normalise_thumbprint).ok_or_else(|| {
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
    if let Some(dest) = req.destination {
        crate::restore::check_destination(dest, req.force, "extract")?;
    }
    let keys = unwrap_keys(req.key, &sidecar.encrypted_key, &sidecar.thumbprint)?;
    if keys.mac_key_len() != 32 {
        warnings.push(format!(
            "the HMAC key has {} bits; Azure Stack Hub uses 256",
            keys.mac_key_len() * 8
        ));
    }

    // Pass 1: the HMAC over the ciphertext.
    let header = SnapshotHeader::read_from(&mut file, &name)?;
    let total = file
        .metadata()
        .map_err(|e| Error::io(format!("reading {name}"), e))?
        .len();
    let ct_len = total.saturating_sub(header.len());
    if ct_len == 0 || ct_len % BLOCK as u64 != 0 {
        return Err(Error::VerificationFailed(format!(
            "{name}: the ciphertext has {ct_len} bytes, not a whole number of AES blocks: the file is truncated or damaged"
        )));
    }
    let mut mac = keys.hmac();
    let mut buf = Zeroizing::new(vec![0u8; BUF]);
    let mut done = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| Error::io(format!("reading {name}"), e))?;
        if n == 0 {
            break;
        }
        mac.update(&buf[..n]);
        done += n as u64;
        progress("checksum", done);
    }
    if done != ct_len {
        return Err(Error::VerificationFailed(format!(
            "{name} changed while it was read"
        )));
    }
    mac.verify_slice(&header.tag)
        .map_err(|_| checksum_mismatch(&name))?;

    let mut report = UnprotectReport {
        snapshot: req.snapshot.to_path_buf(),
        sidecar: sidecar_file,
        encryption_cert_thumbprint: sidecar.thumbprint.clone(),
        backup_status: sidecar.backup_status.clone(),
        oaep_hash: keys.oaep,
        ciphertext_size_in_bytes: ct_len,
        checksum_ok: true,
        destination: None,
        entries: 0,
        files: 0,
        bytes: 0,
        warnings,
    };
    let Some(dest) = req.destination else {
        return Ok(report);
    };

    // Pass 2: decrypt into a temporary zip inside a staging folder in the destination.
    std::fs::create_dir_all(dest)
        .map_err(|e| Error::io(format!("creating {}", dest.display()), e))?;
    // 0700: nobody else can look into a restore in progress.
    let staging = crate::private_file::private_tempdir_in(dest, ".azs-unprotect.", "")?;
    let mut zip_file = tempfile::tempfile_in(staging.path())
        .map_err(|e| Error::io(format!("creating a file in {}", dest.display()), e))?;
    file.seek(SeekFrom::Start(header.len()))
        .map_err(|e| Error::io(format!("reading {name}"), e))?;
    decrypt(
        &mut file,
        &mut zip_file,
        ct_len,
        &keys,
        &header,
        &name,
        progress,
    )?;
    zip_file
        .seek(SeekFrom::Start(0))
        .map_err(|e| Error::io("reading the decrypted zip", e))?;

    // Extract into the staging folder, then move the top-level entries into place.
    let out = staging.path().join("x");
    std::fs::create_dir(&out).map_err(|e| Error::io(format!("creating {}", out.display()), e))?;
    let stats = extract_zip(zip_file, &out, &name)?;
    let entries =
        std::fs::read_dir(&out).map_err(|e| Error::io(format!("reading {}", out.display()), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("reading {}", out.display()), e))?;
        let final_path = dest.join(entry.file_name());
        if let Ok(meta) = std::fs::symlink_metadata(&final_path) {
            let removed = if meta.is_dir() {
                std::fs::remove_dir_all(&final_path)
            } else {
                std::fs::remove_file(&final_path)
            };
            removed.map_err(|e| Error::io(format!("replacing {}", final_path.display()), e))?;
        }
        std::fs::rename(entry.path(), &final_path)
            .map_err(|e| Error::io(format!("moving into {}", final_path.display()), e))?;
    }
    drop(staging);
    report.destination = Some(dest.to_path_buf());
    report.entries = stats.0;
    report.files = stats.1;
    report.bytes = stats.2;
    Ok(report)
}

fn checksum_mismatch(name: &str) -> Error {
    Error::VerificationFailed(format!(
        "{name}: encrypted data checksum mismatch (HMAC-SHA512 over the ciphertext): the file was changed or damaged; nothing was written"
    ))
}

/// AES-256-CBC decryption of `ct_len` bytes from `src` into `dst`, removing the PKCS#7 padding,
/// and the HMAC once more over what was read.
fn decrypt(
    src: &mut dyn Read,
    dst: &mut dyn Write,
    ct_len: u64,
    keys: &SnapshotKeys,
    header: &SnapshotHeader,
    name: &str,
    progress: &mut dyn FnMut(&str, u64),
) -> Result<()> {
    let mut dec = Aes256CbcDec::new_from_slices(&keys.enc[..], &header.iv)
        .expect("32-byte key and 16-byte IV checked above");
    let mut mac = keys.hmac();
    let mut buf = Zeroizing::new(vec![0u8; BUF]);
    let mut remaining = ct_len;
    let write_err = |e: io::Error| Error::io("writing the decrypted zip", e);
    while remaining > 0 {
        let take = remaining.min(BUF as u64) as usize;
        src.read_exact(&mut buf[..take])
            .map_err(|e| match e.kind() {
                io::ErrorKind::UnexpectedEof => {
                    Error::VerificationFailed(format!("{name} changed while it was read"))
                }
                _ => Error::io(format!("reading {name}"), e),
            })?;
        mac.update(&buf[..take]);
        let (blocks, rest) = aes::Block::slice_as_chunks_mut(&mut buf[..take]);
        debug_assert!(rest.is_empty());
        dec.decrypt_blocks(blocks);
        remaining -= take as u64;
        let keep = if remaining == 0 {
            let last = buf[take - 1] as usize;
            if last == 0
                || last > BLOCK
                || buf[take - last..take].iter().any(|&b| b as usize != last)
            {
                return Err(Error::VerificationFailed(format!(
                    "{name}: the PKCS#7 padding is not valid after decryption (the key does not fit the data)"
                )));
            }
            take - last
        } else {
            take
        };
        dst.write_all(&buf[..keep]).map_err(write_err)?;
        progress("decrypt", ct_len - remaining);
    }
    mac.verify_slice(&header.tag).map_err(|_| {
        Error::VerificationFailed(format!(
            "{name} changed while it was read (the checksum no longer matches); nothing was extracted"
        ))
    })?;
    dst.flush().map_err(write_err)?;
    Ok(())
}

/// The safe relative path of a zip entry name, or `None` when it would leave the destination
/// (absolute, drive letter, `..`, NUL).
pub fn safe_entry_path(name: &str) -> Option<PathBuf> {
    if name.contains('\0') || name.starts_with('/') || name.starts_with('\\') {
        return None;
    }
    let bytes = name.as_bytes();
    if bytes.len() >= 2 && bytes[1] == b':' {
        return None;
    }
    let mut out = PathBuf::new();
    for part in name.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => return None,
            p => {
                let mut c = Path::new(p).components();
                match (c.next(), c.next()) {
                    (Some(Component::Normal(_)), None) => out.push(p),
                    _ => return None,
                }
            }
        }
    }
    if out.as_os_str().is_empty() {
        None
    } else {
        Some(out)
    }
}

/// Extracts a zip into `dir` (which must exist); every name is checked before anything is
/// written. Returns (entries, files, bytes).
fn extract_zip(file: File, dir: &Path, name: &str) -> Result<(u64, u64, u64)> {
    let bad = |e: zip::result::ZipError| {
        Error::VerificationFailed(format!(
            "{name}: the decrypted data is not a valid zip archive: {e}"
        ))
    };
    let mut zip = zip::ZipArchive::new(file).map_err(bad)?;
    let mut paths = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        let entry = zip.by_index_raw(i).map_err(bad)?;
        let entry_name = entry.name().to_string();
        let path = safe_entry_path(&entry_name).ok_or_else(|| {
            Error::UnsafeEntry(format!(
                "{name}: the zip entry {entry_name:?} would land outside the destination; nothing was extracted"
            ))
        })?;
        if entry.is_symlink() {
            return Err(Error::UnsafeEntry(format!(
                "{name}: the zip entry {entry_name:?} is a symbolic link, which is not extracted; nothing was extracted"
            )));
        }
        if entry.encrypted() {
            return Err(Error::VerificationFailed(format!(
                "{name}: the zip entry {entry_name:?} is password-protected, which Azure Stack snapshots never are"
            )));
        }
        paths.push((path, entry.is_dir()));
    }
    let (mut files, mut bytes) = (0u64, 0u64);
    for (i, (rel, is_dir)) in paths.iter().enumerate() {
        let path = dir.join(rel);
        if *is_dir {
            std::fs::create_dir_all(&path)
                .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::io(format!("creating {}", parent.display()), e))?;
        }
        let mut entry = zip.by_index(i).map_err(bad)?;
        let mut out = File::create(&path)
            .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
        let n = io::copy(&mut entry, &mut out).map_err(|e| {
            if e.kind() == io::ErrorKind::InvalidData || e.kind() == io::ErrorKind::UnexpectedEof {
                Error::VerificationFailed(format!("{name}: zip entry {}: {e}", rel.display()))
            } else {
                Error::io(format!("writing {}", path.display()), e)
            }
        })?;
        files += 1;
        bytes += n;
    }
    Ok((paths.len() as u64, files, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names() {
        for ok in ["a.txt", "dir/a.txt", "dir\\a.txt", "./a", "dir/", "a/./b"] {
            assert!(safe_entry_path(ok).is_some(), "{ok}");
        }
        assert_eq!(safe_entry_path("d\\e/f").unwrap(), Path::new("d/e/f"));
        for bad in [
            "../a",
            "a/../../b",
            "a/../b",
            "/etc/passwd",
            "\\x",
            "C:\\x",
            "c:x",
            "",
            ".",
            "a\0b",
        ] {
            assert!(safe_entry_path(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn sidecar() {
        let xml = "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<BackupSnapshot xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\
            <SnapshotProperties><BackupStatus>Succeeded</BackupStatus></SnapshotProperties>\
            <EncryptionCertThumbprint> ab cd ef </EncryptionCertThumbprint>\
            <EncryptedBackupEncryptionKey>\n QUJD\n</EncryptedBackupEncryptionKey></BackupSnapshot>";
        let bytes = xml.as_bytes();
        let s = parse_sidecar(&decode_text(bytes).unwrap(), Path::new("x.xml")).unwrap();
        assert_eq!(s.thumbprint, "ABCDEF");
        assert_eq!(s.encrypted_key, "QUJD");
        assert_eq!(s.backup_status.as_deref(), Some("Succeeded"));
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain(
                "<BackupSnapshot><EncryptionCertThumbprint>AA</EncryptionCertThumbprint><EncryptedBackupEncryptionKey>QQ==</EncryptedBackupEncryptionKey></BackupSnapshot>"
                    .encode_utf16()
                    .flat_map(|u| u.to_le_bytes()),
            )
            .collect();
        let s = parse_sidecar(&decode_text(&utf16).unwrap(), Path::new("x.xml")).unwrap();
        assert_eq!(s.backup_status, None);
        assert!(parse_sidecar("<Other/>", Path::new("x.xml")).is_err());
        assert!(parse_sidecar(
            "<BackupSnapshot><EncryptionCertThumbprint>AA</EncryptionCertThumbprint></BackupSnapshot>",
            Path::new("x.xml")
        )
        .is_err());
        assert!(parse_sidecar(
            "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><BackupSnapshot/>",
            Path::new("x.xml")
        )
        .is_err());
    }

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
        for (i, v) in [(0usize, 2i16), (1, 1), (2, 1), (3, 8), (4, 32)] {
            let mut b = bytes.clone();
            b[2 * i..2 * i + 2].copy_from_slice(&v.to_le_bytes());
            assert!(SnapshotHeader::read_from(&mut &b[..], "s").is_err(), "{i}");
        }
        assert!(SnapshotHeader::read_from(&mut &bytes[..50], "s").is_err());
    }
}
