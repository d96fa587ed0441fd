//! Exit codes (documented in README.md) and the mapping from library errors.

use azs_backup::Error;

pub const OK: i32 = 0;
pub const OTHER: i32 = 1;
pub const USAGE: i32 = 2;
pub const SETTINGS: i32 = 3;
pub const TARGET: i32 = 4;
pub const LOCKED: i32 = 5;
pub const PARTIAL: i32 = 6;
pub const VERIFY: i32 = 7;
pub const WRONG_KEY: i32 = 8;
pub const NOT_FOUND: i32 = 9;
pub const NOT_CONFIRMED: i32 = 10;
pub const UNHEALTHY: i32 = 11;

/// A CLI-level error with its exit code (usage problems found after parsing, `status --check`).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    pub code: i32,
    pub kind: &'static str,
    pub message: String,
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> anyhow::Error {
        CliError {
            code: USAGE,
            kind: "usage",
            message: message.into(),
        }
        .into()
    }
}

/// The exit code and a stable kind name for an error.
pub fn classify(e: &anyhow::Error) -> (i32, &'static str) {
    if let Some(c) = e.downcast_ref::<CliError>() {
        return (c.code, c.kind);
    }
    // Library errors that reached the edge without being wrapped in `Error`.
    if e.downcast_ref::<azs_backup::target::TargetError>()
        .is_some()
    {
        return (TARGET, "target");
    }
    if e.downcast_ref::<azs_backup::certificate::CertError>()
        .is_some()
        || e.downcast_ref::<azs_backup::target::spec::SpecError>()
            .is_some()
        || e.downcast_ref::<azs_backup::crypto::LegacyKeyError>()
            .is_some()
        || e.downcast_ref::<azs_backup::clock::ClockError>().is_some()
    {
        return (SETTINGS, "settings");
    }
    let Some(err) = e.downcast_ref::<Error>() else {
        return (OTHER, "error");
    };
    match err {
        Error::InvalidSetting { .. }
        | Error::NotConfigured { .. }
        | Error::BadSettingsFile { .. }
        | Error::Certificate(_)
        | Error::LegacyKey(_)
        | Error::TargetPath(_)
        | Error::Clock(_)
        | Error::Source { .. } => (SETTINGS, "settings"),
        Error::Target(_) => (TARGET, "target"),
        Error::Locked(_) => (LOCKED, "locked"),
        Error::PartialFailure { .. } => (PARTIAL, "partialFailure"),
        Error::VerificationFailed(_) | Error::UnsafeEntry(_) => (VERIFY, "verificationFailed"),
        Error::WrongKey(_) => (WRONG_KEY, "wrongKey"),
        Error::BackupNotFound(_) => (NOT_FOUND, "notFound"),
        Error::NeedsConfirmation(_) => (NOT_CONFIRMED, "notConfirmed"),
        Error::Restore(_) => (USAGE, "usage"),
        Error::Io { .. } => (OTHER, "io"),
    }
}
