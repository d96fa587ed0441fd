//! The on-target layout (docs/FORMAT.md §1) and `manifest.json`.
//!
//! ```text
//! MASBackup/
//!   <backupId>/               one folder per backup
//!     <source>.tar.zst.enc    one encrypted archive per source
//!     manifest.json           written last: a folder without it is an incomplete run
//! ```

use crate::crypto::{KeyId, MAX_RECIPIENTS};
use crate::error::{Error, Result};
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The top folder on the target.
pub const ROOT: &str = "MASBackup";
/// The manifest's file name.
pub const MANIFEST: &str = "manifest.json";
/// The manifest schema version.
pub const MANIFEST_VERSION: u32 = 1;
/// File name suffix of an encrypted archive.
pub const ARCHIVE_SUFFIX: &str = ".tar.zst.enc";
/// A manifest larger than this is not read (ours are a few KiB).
pub const MAX_MANIFEST_BYTES: u64 = 1 << 20;
/// At most this many sources in one manifest.
pub const MAX_ROLES: usize = 1024;
/// Sizes and counts above this are refused (2^53: exact in every JSON reader).
pub const MAX_SIZE: u64 = 1 << 53;
/// `compressionLevel` values a manifest may record: every level zstd defines (negative ones
/// are its fast levels), wider than `configure` allows so that a later version's choice reads.
pub const COMPRESSION_LEVEL_BOUNDS: std::ops::RangeInclusive<i32> = -131_072..=22;

/// A backup's or a source's status, as Azure Stack names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    Succeeded,
    PartialSucceeded,
    Failed,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Succeeded => "Succeeded",
            Status::PartialSucceeded => "PartialSucceeded",
            Status::Failed => "Failed",
        })
    }
}

/// One source in a backup (`roleStatus` in Azure Stack).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleStatus {
    pub role_name: String,
    pub status: Status,
    /// Archive file name inside the backup folder (absent when the source failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    #[serde(default)]
    pub file_count: u64,
    /// Bytes of file contents read from the source.
    #[serde(default)]
    pub plain_size_in_bytes: u64,
    /// Bytes of the encrypted archive on the target.
    #[serde(default)]
    pub encrypted_size_in_bytes: u64,
    /// SHA-256 of the encrypted archive, lower-case hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// Files that changed while they were read (stored with the size they had when opened;
    /// at most [`crate::archive::MAX_CHANGED_LISTED`] named).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed_files: Vec<String>,
    /// How many files changed while they were read.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub changed_file_count: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub manifest_version: u32,
    pub backup_id: String,
    pub tool_version: String,
    pub status: Status,
    pub created_date_time: DateTime<Utc>,
    /// ISO 8601 duration, e.g. `PT1M2.345S`.
    pub time_taken_to_create: String,
    /// SHA-1 thumbprint of the certificate needed to decrypt (certificate mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_cert_thumbprint: Option<String>,
    /// Key id of the legacy key needed to decrypt (backward-compatibility mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_key_id: Option<String>,
    /// Thumbprints of the recovery certificates every archive's file key is also wrapped for
    /// (`configure --recovery-cert-path`), in header order after the encryption recipient.
    /// Absent when there are none (and in manifests of earlier versions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recovery_cert_thumbprints: Vec<String>,
    pub host_name: String,
    /// zstd level the archives were compressed with (absent in manifests of earlier versions,
    /// which always used level 3). Informational: decompression needs no level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression_level: Option<i32>,
    pub role_status: Vec<RoleStatus>,
    /// True when the built-in scheduler (`tick`) made this backup (the Azure API's
    /// `isAutomaticBackup`). Absent in manifests written before it was recorded: `false`.
    #[serde(default)]
    pub is_automatic_backup: bool,
}

impl Manifest {
    /// `name: why; …` for the sources that did not succeed (the detail of a partial failure).
    pub fn failed_sources(&self) -> String {
        self.role_status
            .iter()
            .filter(|r| r.status != Status::Succeeded)
            .map(|r| {
                format!(
                    "{}: {}",
                    r.role_name,
                    r.error_message.as_deref().unwrap_or("failed")
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The recipient id needed to decrypt this backup.
    pub fn recipient_id(&self) -> String {
        self.encryption_cert_thumbprint
            .clone()
            .or_else(|| self.encryption_key_id.clone())
            .unwrap_or_default()
    }

    /// Every recipient id that can open this backup, in the order of the archives' headers:
    /// the encryption certificate or key, then the recovery certificates.
    pub fn recipient_ids(&self) -> Vec<String> {
        let mut ids = vec![self.recipient_id()];
        ids.extend(self.recovery_cert_thumbprints.iter().cloned());
        ids
    }

    /// Whether `id` (compared ignoring ASCII case) is one of this backup's recovery
    /// certificates rather than its encryption recipient.
    pub fn is_recovery(&self, id: &str) -> bool {
        self.recovery_cert_thumbprints
            .iter()
            .any(|t| t.eq_ignore_ascii_case(id))
    }

    /// Total encrypted bytes.
    pub fn encrypted_size(&self) -> u64 {
        self.role_status
            .iter()
            .map(|r| r.encrypted_size_in_bytes)
            .sum()
    }

    /// Total plaintext bytes.
    pub fn plain_size(&self) -> u64 {
        self.role_status.iter().map(|r| r.plain_size_in_bytes).sum()
    }
}

/// The folder of a backup.
pub fn backup_dir(id: &str) -> String {
    format!("{ROOT}/{id}")
}

/// A folder under `MASBackup/` as found on the target.
#[derive(Debug, Clone)]
pub enum Found {
    /// A complete backup.
    Backup(Box<Manifest>),
    /// A folder without a manifest: an interrupted or failed run.
    Incomplete { name: String, reason: String },
    /// A folder whose manifest is unreadable or fails validation (damaged or planted). Never
    /// used to build a path, never deleted by `prune`.
    Invalid { name: String, reason: String },
}

impl Found {
    /// The manifest of a complete backup; `None` for the other folders.
    pub fn backup(&self) -> Option<&Manifest> {
        match self {
            Found::Backup(m) => Some(m),
            Found::Incomplete { .. } | Found::Invalid { .. } => None,
        }
    }
}

/// Reads and validates the manifest of one backup (see [`parse`]).
pub fn read(target: &dyn Store, id: &str) -> Result<Manifest> {
    if !is_backup_id(id) {
        return Err(Error::BackupNotFound(id.to_string()));
    }
    let path = format!("{}/{MANIFEST}", backup_dir(id));
    let bytes = match target.read_limited(&path, MAX_MANIFEST_BYTES) {
        Ok(b) => b,
        Err(StoreError::NotFound { .. }) => return Err(Error::BackupNotFound(id.to_string())),
        Err(e) => return Err(e.into()),
    };
    parse(&bytes, id).map_err(|e| match e {
        Error::VerificationFailed(why) => {
            Error::VerificationFailed(format!("{path} is not a valid manifest: {why}"))
        }
        other => other,
    })
}

/// Everything under `MASBackup/`, backups newest first, then incomplete folders.
pub fn scan(target: &dyn Store) -> Result<Vec<Found>> {
    let entries = match target.list(ROOT) {
        Ok(e) => e,
        Err(StoreError::NotFound { .. }) if target.stat(ROOT)?.is_none() => return Ok(vec![]),
        Err(e) => return Err(e.into()),
    };
    let mut backups = Vec::new();
    let mut incomplete = Vec::new();
    for e in entries.into_iter().filter(|e| e.is_dir) {
        if !is_backup_id(&e.name) {
            incomplete.push(Found::Incomplete {
                reason: "not a backup folder name".into(),
                name: e.name,
            });
            continue;
        }
        match read(target, &e.name) {
            Ok(m) => backups.push(m),
            Err(Error::BackupNotFound(_)) => incomplete.push(Found::Incomplete {
                name: e.name,
                reason: "no manifest (interrupted or failed run)".into(),
            }),
            Err(Error::VerificationFailed(reason)) => incomplete.push(Found::Invalid {
                name: e.name,
                reason,
            }),
            Err(other) => return Err(other),
        }
    }
    backups.sort_by(|a, b| {
        b.created_date_time
            .cmp(&a.created_date_time)
            .then_with(|| b.backup_id.cmp(&a.backup_id))
    });
    let mut out: Vec<Found> = backups
        .into_iter()
        .map(|m| Found::Backup(Box::new(m)))
        .collect();
    out.extend(incomplete);
    Ok(out)
}

/// Complete backups, newest first.
pub fn list(target: &dyn Store) -> Result<Vec<Manifest>> {
    Ok(scan(target)?
        .into_iter()
        .filter_map(|f| match f {
            Found::Backup(m) => Some(*m),
            Found::Incomplete { .. } | Found::Invalid { .. } => None,
        })
        .collect())
}

/// The source-name rule: 1 to 64 of `A-Z a-z 0-9 . _ -`, not starting with `.` (so a name is
/// always a plain file name, never `.`, `..` or a path).
pub fn is_source_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// True for a GUID in its hyphenated form (any case).
pub fn is_backup_id(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }
        })
}

/// Parses `manifest.json` as found in the folder `folder`, and validates every field: the
/// share is untrusted, so nothing in a manifest may later steer a path or a deletion.
/// - `backupId` is a canonical GUID and equals `folder`;
/// - each `roleName` obeys the source-name rule, appears once, and its `fileName` (when
///   present) is exactly `<roleName>.tar.zst.enc`; a succeeded role has a file and a SHA-256;
/// - statuses are known values and the backup's status agrees with its roles';
/// - sizes, counts and strings are bounded; exactly one recipient id is present.
///
/// Errors are [`Error::VerificationFailed`] naming the field.
pub fn parse(bytes: &[u8], folder: &str) -> Result<Manifest> {
    let bad = |why: String| Error::VerificationFailed(why);
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(bad(format!(
            "it has {} bytes, more than the {MAX_MANIFEST_BYTES} allowed",
            bytes.len()
        )));
    }
    // A manifest is a UTF-8 JSON object whose roles are objects: serde's struct reader would
    // also take an array of field values, and skips unknown fields without checking their
    // text, so both are checked on a generic parse first (which also refuses lone surrogate
    // escapes anywhere).
    let text = std::str::from_utf8(bytes).map_err(|_| bad("it is not UTF-8".into()))?;
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    let roles_are_objects = value
        .get("roleStatus")
        .and_then(|r| r.as_array())
        .is_none_or(|roles| roles.iter().all(|r| r.is_object()));
    if !value.is_object() || !roles_are_objects {
        return Err(bad(
            "it is not a JSON object with roleStatus objects (see docs/FORMAT.md)".into(),
        ));
    }
    let m: Manifest = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    if m.manifest_version != MANIFEST_VERSION {
        return Err(bad(format!(
            "manifestVersion {} is not supported (this tool reads {MANIFEST_VERSION})",
            m.manifest_version
        )));
    }
    if !is_backup_id(&m.backup_id) || m.backup_id != folder {
        return Err(bad(format!(
            "backupId {:?} is not the name of its folder {folder:?}",
            short(&m.backup_id)
        )));
    }
    let text = |field: &str, v: &str, max: usize| -> Result<()> {
        if v.len() > max || v.chars().any(char::is_control) {
            return Err(bad(format!(
                "{field} is longer than {max} bytes or holds control characters"
            )));
        }
        Ok(())
    };
    text("toolVersion", &m.tool_version, 64)?;
    text("hostName", &m.host_name, 255)?;
    text("timeTakenToCreate", &m.time_taken_to_create, 64)?;
    check_recipient_id(&m)?;
    if let Some(level) = m.compression_level {
        if !COMPRESSION_LEVEL_BOUNDS.contains(&level) {
            return Err(bad(format!(
                "compressionLevel {level} is not a zstd level ({}..={})",
                COMPRESSION_LEVEL_BOUNDS.start(),
                COMPRESSION_LEVEL_BOUNDS.end()
            )));
        }
    }
    if m.role_status.len() > MAX_ROLES {
        return Err(bad(format!("roleStatus has more than {MAX_ROLES} sources")));
    }
    let mut names = std::collections::HashSet::new();
    for r in &m.role_status {
        check_role(r, &mut names)?;
    }
    let ok = m
        .role_status
        .iter()
        .filter(|r| r.status == Status::Succeeded)
        .count();
    let derived = if ok > 0 && ok == m.role_status.len() {
        Status::Succeeded
    } else if ok > 0 {
        Status::PartialSucceeded
    } else {
        Status::Failed
    };
    if m.status != derived {
        return Err(bad(format!(
            "status {} does not agree with its sources (which make it {derived})",
            m.status
        )));
    }
    Ok(m)
}

/// Exactly one recipient id, well formed: a certificate thumbprint or a legacy key id; then at
/// most [`MAX_RECIPIENTS`]` - 1` distinct recovery thumbprints, none of them the first.
fn check_recipient_id(m: &Manifest) -> Result<()> {
    let hex =
        |s: &str, digits: usize| s.len() == digits && s.bytes().all(|b| b.is_ascii_hexdigit());
    match (
        &m.encryption_cert_thumbprint,
        m.encryption_key_id.as_deref().map(KeyId::from),
    ) {
        (Some(t), None) if hex(t, 40) => {}
        (None, Some(KeyId::Legacy(k))) if hex(&k, 16) => {}
        _ => return Err(Error::VerificationFailed(
            "exactly one of encryptionCertThumbprint (40 hex digits) and encryptionKeyId (key: and 16 hex digits) must be present".into(),
        )),
    }
    let recovery = &m.recovery_cert_thumbprints;
    if recovery.len() >= MAX_RECIPIENTS || recovery.iter().any(|t| !hex(t, 40)) {
        return Err(Error::VerificationFailed(format!(
            "recoveryCertThumbprints must hold at most {} thumbprints of 40 hex digits",
            MAX_RECIPIENTS - 1
        )));
    }
    let ids = m.recipient_ids();
    for (i, id) in ids.iter().enumerate() {
        if ids[..i].iter().any(|o| o.eq_ignore_ascii_case(id)) {
            return Err(Error::VerificationFailed(format!(
                "recoveryCertThumbprints lists {id} twice (or it is the encryption certificate)"
            )));
        }
    }
    Ok(())
}

/// One `roleStatus` entry; `names` holds the (lower-case) source names seen so far.
fn check_role(r: &RoleStatus, names: &mut std::collections::HashSet<String>) -> Result<()> {
    let bad = Error::VerificationFailed;
    if !is_source_name(&r.role_name) {
        return Err(bad(format!(
            "roleName {:?} is not a valid source name (1 to 64 of A-Z a-z 0-9 . _ -, not starting with '.')",
            short(&r.role_name)
        )));
    }
    if !names.insert(r.role_name.to_ascii_lowercase()) {
        return Err(bad(format!("roleName {:?} appears twice", r.role_name)));
    }
    let expected = format!("{}{ARCHIVE_SUFFIX}", r.role_name);
    if r.file_name.as_deref().is_some_and(|f| f != expected) {
        return Err(bad(format!(
            "roleStatus {}: fileName must be {expected:?}",
            r.role_name
        )));
    }
    match r.status {
        Status::Succeeded => {
            let hash_ok = r.sha256.as_deref().is_some_and(|h| {
                h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            });
            if r.file_name.is_none() || !hash_ok {
                return Err(bad(format!(
                    "roleStatus {}: a succeeded source needs fileName and a sha256 of 64 lower-case hex digits",
                    r.role_name
                )));
            }
        }
        Status::Failed => {}
        Status::PartialSucceeded => {
            return Err(bad(format!(
                "roleStatus {}: status must be Succeeded or Failed",
                r.role_name
            )))
        }
    }
    if r.file_count > MAX_SIZE
        || r.plain_size_in_bytes > MAX_SIZE
        || r.encrypted_size_in_bytes > MAX_SIZE
        || r.changed_file_count > MAX_SIZE
    {
        return Err(bad(format!(
            "roleStatus {}: a size or count is larger than {MAX_SIZE}",
            r.role_name
        )));
    }
    if r.changed_files.len() > crate::archive::MAX_CHANGED_LISTED
        || r.changed_files.iter().any(|f| f.len() > 4096)
    {
        return Err(bad(format!(
            "roleStatus {}: changedFiles is too long",
            r.role_name
        )));
    }
    if let Some(msg) = &r.error_message {
        if msg.len() > 64 * 1024 {
            return Err(bad(format!(
                "roleStatus {}: errorMessage is too long",
                r.role_name
            )));
        }
    }
    Ok(())
}

/// At most 80 characters of an untrusted string, for messages.
fn short(s: &str) -> String {
    if s.chars().count() <= 80 {
        s.to_string()
    } else {
        s.chars().take(80).collect::<String>() + "…"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b";

    fn doc(level: Option<&str>) -> String {
        let level = level.map_or(String::new(), |l| format!("\"compressionLevel\": {l},"));
        format!(
            r#"{{"manifestVersion": 1, "backupId": "{ID}", "toolVersion": "0.1.0",
            "status": "Failed", "createdDateTime": "2025-01-31T02:00:00Z",
            "timeTakenToCreate": "PT1S", "hostName": "h", {level}
            "encryptionKeyId": "key:917a48d9310eddf4",
            "roleStatus": [{{"roleName": "a", "status": "Failed"}}]}}"#
        )
    }

    #[test]
    fn compression_level_is_optional_and_bounded() {
        // Manifests of earlier versions have no level.
        assert_eq!(
            parse(doc(None).as_bytes(), ID).unwrap().compression_level,
            None
        );
        for ok in ["1", "3", "19", "22", "-5", "-131072"] {
            let m = parse(doc(Some(ok)).as_bytes(), ID).unwrap();
            assert_eq!(m.compression_level, Some(ok.parse().unwrap()));
        }
        for bad in ["23", "-131073", "2147483648", "3.5", "\"3\"", "null"] {
            let r = parse(doc(Some(bad)).as_bytes(), ID);
            if bad == "null" {
                // JSON null is "absent".
                assert_eq!(r.unwrap().compression_level, None);
                continue;
            }
            let e = r.unwrap_err().to_string();
            assert!(
                e.contains("compressionLevel") || e.contains("invalid"),
                "{bad}: {e}"
            );
        }
        // Written only when known, read back as written.
        let mut m = parse(doc(Some("7")).as_bytes(), ID).unwrap();
        let json = serde_json::to_string(&m).unwrap();
        assert!(json.contains("\"compressionLevel\":7"), "{json}");
        m.compression_level = None;
        assert!(!serde_json::to_string(&m)
            .unwrap()
            .contains("compressionLevel"));
    }
}
