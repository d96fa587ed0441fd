//! The library's error type. The binary maps each variant to a documented exit code.

use crate::certificate::CertError;
use crate::clock::ClockError;
use crate::crypto::{CryptoError, LegacyKeyError};
use crate::store::spec::SpecError;
use crate::store::StoreError;
use std::path::PathBuf;

/// Everything that can go wrong, grouped by what the operator has to do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A settings field has a value outside what is allowed. The message names the field.
    #[error("{field}: {message}")]
    InvalidSetting {
        field: &'static str,
        message: String,
    },
    /// No settings file where one is needed.
    #[error("not configured: {path} does not exist (run `azs-backup configure` first, or pass --config / set AZS_BACKUP_CONFIG)")]
    NotConfigured { path: PathBuf },
    /// A settings, secrets or state file that cannot be read or trusted.
    #[error("{path}: {message}")]
    BadSettingsFile { path: PathBuf, message: String },
    #[error(transparent)]
    Certificate(#[from] CertError),
    #[error(transparent)]
    LegacyKey(#[from] LegacyKeyError),
    #[error(transparent)]
    TargetPath(#[from] SpecError),
    #[error(transparent)]
    Clock(#[from] ClockError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another backup holds the lock.
    #[error("another backup is running: {0}")]
    Locked(String),
    /// A backup finished but not every source was saved.
    #[error("backup {backup_id} {status}: {detail}")]
    PartialFailure {
        backup_id: String,
        /// `PartialSucceeded` or `Failed`.
        status: String,
        detail: String,
    },
    /// Data did not verify: checksum mismatch, failed authentication, missing file.
    #[error("verification failed: {0}")]
    VerificationFailed(String),
    /// The key given is not the one the backup needs.
    #[error("{0}")]
    WrongKey(String),
    /// A backup id that is not on the target.
    #[error("backup {0} not found on the target (see `azs-backup list`)")]
    BackupNotFound(String),
    /// An Azure Stack Hub backup id with no snapshot on the share (the message says what is
    /// there).
    #[error("{0}")]
    SnapshotsNotFound(String),
    /// An Azure Stack Hub backup whose snapshots on the share do not make a restorable set: a
    /// progressive chain without its Full snapshot, with a gap, or a member without its file or
    /// its sidecar.
    #[error("broken backup chain: {0}")]
    BrokenChain(String),
    /// The operator must confirm (or pass --yes).
    #[error("{0}")]
    NeedsConfirmation(String),
    /// A source directory problem.
    #[error("source {name}: {message}")]
    Source { name: String, message: String },
    /// A restore destination that cannot be used as asked (not empty, exists).
    #[error("{0}")]
    Restore(String),
    /// An archive entry that would land outside the restore destination.
    #[error("{0}")]
    UnsafeEntry(String),
    /// Local I/O with context.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// An invalid setting.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Error {
        Error::InvalidSetting {
            field,
            message: message.into(),
        }
    }

    /// Local I/O error with context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// Classifies an I/O error from a decrypt/verify chain: crypto failures become
    /// [`Error::VerificationFailed`] or [`Error::WrongKey`].
    pub fn from_data_io(context: impl Into<String>, e: std::io::Error) -> Error {
        let context = context.into();
        match CryptoError::from_io(&e) {
            Some(c @ (CryptoError::WrongRecipient { .. } | CryptoError::UnwrapFailed { .. })) => {
                Error::WrongKey(format!("{context}: {c}"))
            }
            Some(c) => Error::VerificationFailed(format!("{context}: {c}")),
            None if e.kind() == std::io::ErrorKind::InvalidData
                || e.kind() == std::io::ErrorKind::UnexpectedEof =>
            {
                Error::VerificationFailed(format!("{context}: {e}"))
            }
            None => Error::io(context, e),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
