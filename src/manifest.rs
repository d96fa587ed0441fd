//! The on-target layout (SPEC §4) and `manifest.json`.
//!
//! ```text
//! MASBackup/
//!   <backupId>/               one folder per backup
//!     <source>.tar.zst.enc    one encrypted archive per source
//!     manifest.json           written last: a folder without it is an incomplete run
//! ```

use crate::error::{Error, Result};
use crate::target::{Target, TargetError};
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
    pub host_name: String,
    pub role_status: Vec<RoleStatus>,
}

impl Manifest {
    /// The recipient id needed to decrypt this backup.
    pub fn recipient_id(&self) -> String {
        self.encryption_cert_thumbprint
            .clone()
            .or_else(|| self.encryption_key_id.clone())
            .unwrap_or_default()
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
    /// A folder without a (readable) manifest: an interrupted or failed run.
    Incomplete { name: String, reason: String },
}

/// Reads the manifest of one backup.
pub fn read(target: &dyn Target, id: &str) -> Result<Manifest> {
    if !is_backup_id(id) {
        return Err(Error::BackupNotFound(id.to_string()));
    }
    let path = format!("{}/{MANIFEST}", backup_dir(id));
    let bytes = match target.read_all(&path) {
        Ok(b) => b,
        Err(TargetError::NotFound { .. }) => return Err(Error::BackupNotFound(id.to_string())),
        Err(e) => return Err(e.into()),
    };
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::VerificationFailed(format!("{path} is not a valid manifest: {e}")))
}

/// Everything under `MASBackup/`, backups newest first, then incomplete folders.
pub fn scan(target: &dyn Target) -> Result<Vec<Found>> {
    let entries = match target.list(ROOT) {
        Ok(e) => e,
        Err(TargetError::NotFound { .. }) if target.stat(ROOT)?.is_none() => return Ok(vec![]),
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
            Err(Error::VerificationFailed(reason)) => incomplete.push(Found::Incomplete {
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
pub fn list(target: &dyn Target) -> Result<Vec<Manifest>> {
    Ok(scan(target)?
        .into_iter()
        .filter_map(|f| match f {
            Found::Backup(m) => Some(*m),
            Found::Incomplete { .. } => None,
        })
        .collect())
}

/// True for a GUID in its canonical hyphenated form.
pub fn is_backup_id(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::parse_str(s).is_ok()
}
