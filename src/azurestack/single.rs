//! `unprotect SNAPSHOT.zip`: one snapshot file and its sidecar, in two passes. A first pass
//! checks the HMAC; only when it matches, a second pass decrypts into a temporary file
//! (checking the HMAC again, in case the file changed in between), and the zip is extracted
//! from that file. Nothing is written into the destination unless the HMAC matched, and entries
//! that would land outside it are refused before anything is extracted.

use super::extract::extract_zip;
use super::sidecar::{read_sidecar, sidecar_path, Sidecar};
use super::snapshot::{
    check_mac, check_thumbprint, decrypt, unwrap_keys, Ciphertext, MacAfterDecrypt, OaepHash,
};
use crate::certificate::PrivateKey;
use crate::error::{Error, Result};
use serde::Serialize;
use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::path::{Path, PathBuf};

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

/// The warning for a sidecar whose `BackupStatus` is not `Succeeded`.
pub fn status_warning(sidecar: &Sidecar) -> Option<String> {
    match sidecar.backup_status.as_deref() {
        Some("Succeeded") => None,
        Some(s) => Some(format!(
            "the snapshot's BackupStatus is {s:?}, not \"Succeeded\": it may be incomplete"
        )),
        None => Some("the sidecar has no SnapshotProperties/BackupStatus".into()),
    }
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
    let mut warnings: Vec<String> = status_warning(&sidecar).into_iter().collect();
    check_thumbprint(req.key, &sidecar, &name)?;
    if let Some(dest) = req.destination {
        crate::private_file::check_destination(dest, req.force, "extract")?;
    }
    let keys = unwrap_keys(req.key, &sidecar.encrypted_key, &sidecar.thumbprint)?;
    warnings.extend(keys.mac_key_warning());

    // Pass 1: the HMAC over the ciphertext.
    let total = file
        .metadata()
        .map_err(|e| Error::io(format!("reading {name}"), e))?
        .len();
    let ct = Ciphertext::read(&mut file, total, &name)?;
    check_mac(&mut file, &keys, &ct, &mut |n| progress("checksum", n))?;

    let mut report = UnprotectReport {
        snapshot: req.snapshot.to_path_buf(),
        sidecar: sidecar_file,
        encryption_cert_thumbprint: sidecar.thumbprint.clone(),
        backup_status: sidecar.backup_status.clone(),
        oaep_hash: keys.oaep,
        ciphertext_size_in_bytes: ct.len,
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
    file.seek(SeekFrom::Start(ct.header.len()))
        .map_err(|e| Error::io(format!("reading {name}"), e))?;
    decrypt(
        &mut file,
        &mut zip_file,
        &keys,
        &ct,
        MacAfterDecrypt::Rechecked,
        &mut |n| progress("decrypt", n),
    )?;
    zip_file
        .seek(SeekFrom::Start(0))
        .map_err(|e| Error::io("reading the decrypted zip", e))?;

    // Extract into the staging folder, then move the top-level entries into place.
    let out = staging.path().join("x");
    std::fs::create_dir(&out).map_err(|e| Error::io(format!("creating {}", out.display()), e))?;
    let stats = extract_zip(zip_file, &out, &name)?;
    move_entries(&out, dest)?;
    drop(staging);
    report.destination = Some(dest.to_path_buf());
    report.entries = stats.entries;
    report.files = stats.files;
    report.bytes = stats.bytes;
    Ok(report)
}

/// Moves every entry of `from` into `to`, replacing what is there under the same name.
pub(crate) fn move_entries(from: &Path, to: &Path) -> Result<()> {
    let entries =
        std::fs::read_dir(from).map_err(|e| Error::io(format!("reading {}", from.display()), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("reading {}", from.display()), e))?;
        let final_path = to.join(entry.file_name());
        replace_with(&entry.path(), &final_path)?;
    }
    Ok(())
}

/// Renames `from` to `to`, removing what is at `to` first.
pub(crate) fn replace_with(from: &Path, to: &Path) -> Result<()> {
    if let Ok(meta) = std::fs::symlink_metadata(to) {
        let removed = if meta.is_dir() {
            std::fs::remove_dir_all(to)
        } else {
            std::fs::remove_file(to)
        };
        removed.map_err(|e| Error::io(format!("replacing {}", to.display()), e))?;
    }
    std::fs::rename(from, to).map_err(|e| Error::io(format!("moving into {}", to.display()), e))
}
