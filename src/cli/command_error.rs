//! The error every command returns, and the one table that turns it into an exit code and the
//! `kind` of a `--json` error document (as jj's `cli/src/command_error.rs`).
//!
//! Library errors arrive typed ([`azs_backup::Error`], or one of the library's narrower error
//! types converted through it); the table matches every variant by name, without a catch-all
//! arm, so a new library variant does not compile until it has been given its exit code.

use super::exit;
use azs_backup::certificate::CertError;
use azs_backup::clock::ClockError;
use azs_backup::crypto::LegacyKeyError;
use azs_backup::store::spec::SpecError;
use azs_backup::store::StoreError;
use azs_backup::Error;
use std::io::Write;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// A library error: its variant decides the exit code.
    #[error(transparent)]
    Lib(#[from] Error),
    /// A usage problem found after parsing (clap reports the others itself).
    #[error("{0}")]
    Usage(String),
    /// `status --check` found health warnings.
    #[error("{0}")]
    Unhealthy(String),
    /// Local I/O outside the library, such as a terminal prompt.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Writing to stdout failed for another reason than a closed pipe (a full disk, ...).
    #[error("writing to stdout: {0}")]
    Stdout(#[source] std::io::Error),
    /// Stdout was closed by its reader (`azs-backup list | head -2`): the process ends quietly
    /// with success, as `ls` and ripgrep do.
    #[error("stdout was closed")]
    BrokenPipe,
}

/// The library's narrower error types, converted through [`Error`] so that the table below
/// sees them as the library's own variants.
macro_rules! through_lib_error {
    ($($t:ty),*) => {$(
        impl From<$t> for CommandError {
            fn from(e: $t) -> Self {
                CommandError::Lib(Error::from(e))
            }
        }
    )*};
}
through_lib_error!(StoreError, CertError, SpecError, LegacyKeyError, ClockError);

impl CommandError {
    /// A usage error.
    pub fn usage(message: impl Into<String>) -> Self {
        CommandError::Usage(message.into())
    }

    /// An error writing to stdout: a closed pipe ends the process quietly.
    pub fn stdout(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            CommandError::BrokenPipe
        } else {
            CommandError::Stdout(e)
        }
    }

    /// THE table: the exit code (README.md, "Exit codes") and the `kind` of the `--json` error
    /// document; no kind means the process ends without a word.
    pub fn exit(&self) -> (i32, Option<&'static str>) {
        let (code, kind) = match self {
            CommandError::Lib(e) => match e {
                Error::InvalidSetting { .. }
                | Error::NotConfigured { .. }
                | Error::BadSettingsFile { .. }
                | Error::Certificate(_)
                | Error::LegacyKey(_)
                | Error::TargetPath(_)
                | Error::Clock(_)
                | Error::Source { .. } => (exit::SETTINGS, "settings"),
                Error::Store(StoreError::BadEnvironment(_)) => (exit::USAGE, "usage"),
                Error::Store(_) => (exit::TARGET, "target"),
                Error::BrokenChain(_) => (exit::TARGET, "brokenChain"),
                Error::Locked(_) => (exit::LOCKED, "locked"),
                Error::PartialFailure { .. } => (exit::PARTIAL, "partialFailure"),
                Error::VerificationFailed(_) | Error::UnsafeEntry(_) => {
                    (exit::VERIFY, "verificationFailed")
                }
                Error::WrongKey(_) => (exit::WRONG_KEY, "wrongKey"),
                Error::BackupNotFound(_) | Error::SnapshotsNotFound(_) => {
                    (exit::NOT_FOUND, "notFound")
                }
                Error::NeedsConfirmation(_) => (exit::NOT_CONFIRMED, "notConfirmed"),
                Error::Restore(_) => (exit::USAGE, "usage"),
                Error::Io { .. } => (exit::OTHER, "io"),
            },
            CommandError::Usage(_) => (exit::USAGE, "usage"),
            CommandError::Unhealthy(_) => (exit::UNHEALTHY, "unhealthy"),
            CommandError::Io(_) => (exit::OTHER, "error"),
            CommandError::Stdout(_) => (exit::OTHER, "io"),
            CommandError::BrokenPipe => return (exit::OK, None),
        };
        (code, Some(kind))
    }

    /// Prints the error on stderr (one line, or a JSON document with `--json`) and returns the
    /// exit code.
    pub fn report(&self, json: bool) -> i32 {
        let (code, kind) = self.exit();
        let Some(kind) = kind else {
            return code;
        };
        let message = self.one_line();
        let line = if json {
            serde_json::json!({
                "error": { "code": code, "kind": kind, "message": message }
            })
            .to_string()
        } else {
            format!("azs-backup: error: {message}")
        };
        // Nothing more can be done when stderr is closed too.
        let _ = writeln!(std::io::stderr(), "{line}");
        code
    }

    /// The error and its causes on one line, without repeating a cause the message already holds.
    fn one_line(&self) -> String {
        let mut msg = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            let text = c.to_string();
            if !msg.contains(&text) {
                msg.push_str(": ");
                msg.push_str(&text);
            }
            cause = c.source();
        }
        msg.replace('\n', " ")
    }
}

/// The result of a command that prints a report and then a verdict (a partial backup, a failed
/// verification, health warnings): the verdict wins over a report that could not be printed,
/// so that a closed stdout never turns a failure into exit 0.
pub fn verdict_after(
    printed: Result<(), CommandError>,
    verdict: Result<(), CommandError>,
) -> Result<i32, CommandError> {
    verdict?;
    printed?;
    Ok(exit::OK)
}
