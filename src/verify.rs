//! `verify`: without a key, every file of a backup is present and matches the manifest's size and
//! SHA-256, and its header names the manifest's recipient; with the key, every chunk also
//! decrypts and authenticates and every archive entry decodes.

use crate::crypto::{Decryptor, Header, Identity};
use crate::error::{Error, Result};
use crate::manifest::{self, Manifest, Status};
use crate::store::{Store, StoreError};
use std::cell::RefCell;
use std::io::{self, Read};
use std::rc::Rc;

mod hashing;
pub use hashing::HashingReader;

/// A reader of the target that keeps the first error the target gave, so that a read that
/// failed on the target (a dropped connection, a share gone) is reported as the target's
/// failure (exit 4), not as local I/O or a damaged archive, after the decrypt and unpack
/// chain has turned it into its own error.
pub(crate) struct KeepError<R> {
    inner: R,
    error: Rc<RefCell<Option<io::Error>>>,
}

impl<R> KeepError<R> {
    pub(crate) fn new(inner: R) -> (Self, Rc<RefCell<Option<io::Error>>>) {
        let error = Rc::new(RefCell::new(None));
        (
            KeepError {
                inner,
                error: error.clone(),
            },
            error,
        )
    }
}

impl<R: Read> Read for KeepError<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            let copy = io::Error::new(e.kind(), e.to_string());
            self.error.borrow_mut().get_or_insert(e);
            copy
        })
    }
}

/// `e`, unless the target's reader failed first: then that failure, as a [`StoreError`].
pub(crate) fn target_first(
    target: &dyn Store,
    path: &str,
    kept: &RefCell<Option<io::Error>>,
    e: Error,
) -> Error {
    match kept.borrow_mut().take() {
        Some(io) => Error::Store(StoreError::from_io(&target.display(), "read", path, io)),
        None => e,
    }
}

/// The result of verifying one source.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceCheck {
    pub role_name: String,
    pub ok: bool,
    pub decrypted: bool,
    pub message: String,
}

/// The result of verifying a backup.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    pub backup_id: String,
    pub ok: bool,
    pub with_key: bool,
    /// The recipient the key given opened (with a key, once an archive was opened).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opened_with: Option<OpenedWith>,
    pub sources: Vec<SourceCheck>,
}

/// Checks the recipient a backup needs against the identity given (a clear message naming every
/// acceptable recipient on mismatch).
pub fn check_identity(m: &Manifest, identity: &Identity) -> Result<()> {
    let needed = m.recipient_ids();
    if let Some(given) = identity.id() {
        if !needed
            .iter()
            .any(|n| n.is_empty() || given.eq_ignore_ascii_case(n))
        {
            return Err(Error::WrongKey(format!(
                "backup {} was encrypted for {}; the key given is for {}",
                m.backup_id,
                crate::crypto::describe_ids(&needed),
                crate::crypto::describe_id(&given)
            )));
        }
    }
    Ok(())
}

/// Whether a backup was opened through its encryption recipient or a recovery certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum RecipientRole {
    Encryption,
    Recovery,
}

/// Which of a backup's recipients the key given opened.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenedWith {
    /// The thumbprint (or legacy key id) of the header entry that opened.
    pub recipient_id: String,
    pub role: RecipientRole,
}

impl OpenedWith {
    /// The recipient `id` of backup `m`.
    pub fn of(m: &Manifest, id: &str) -> OpenedWith {
        OpenedWith {
            recipient_id: id.to_string(),
            role: if m.is_recovery(id) {
                RecipientRole::Recovery
            } else {
                RecipientRole::Encryption
            },
        }
    }

    /// "recovery certificate X", "certificate X" or "encryption key key:…".
    pub fn describe(&self) -> String {
        match self.role {
            RecipientRole::Recovery => format!("recovery certificate {}", self.recipient_id),
            RecipientRole::Encryption => crate::crypto::describe_id(&self.recipient_id),
        }
    }
}

/// Fails when an archive held a different number of regular files than its manifest says (a
/// file lost on the way, or an archive swapped for another).
pub fn check_file_count(
    role: &manifest::RoleStatus,
    stats: &crate::archive::UnpackStats,
) -> Result<()> {
    if stats.files != role.file_count {
        return Err(Error::VerificationFailed(format!(
            "{}: the archive holds {} files, the manifest's fileCount says {}",
            role.role_name, stats.files, role.file_count
        )));
    }
    Ok(())
}

/// Verifies backup `id`. Returns the report; `Err(VerificationFailed)` when anything is wrong.
pub fn verify(
    target: &dyn Store,
    id: &str,
    identity: Option<&Identity>,
    progress: &mut dyn FnMut(&str, u64),
) -> Result<VerifyReport> {
    let m = manifest::read(target, id)?;
    if let Some(identity) = identity {
        check_identity(&m, identity)?;
    }
    let mut report = VerifyReport {
        backup_id: m.backup_id.clone(),
        ok: true,
        with_key: identity.is_some(),
        opened_with: None,
        sources: Vec::new(),
    };
    for role in &m.role_status {
        let check = match (&role.file_name, role.status) {
            (None, _) | (_, Status::Failed) => SourceCheck {
                role_name: role.role_name.clone(),
                ok: true,
                decrypted: false,
                message: "not in this backup (the source failed when it was made)".into(),
            },
            (Some(file), _) => match verify_file(
                target,
                &m,
                role,
                file,
                identity,
                &mut report.opened_with,
                progress,
            ) {
                Ok(msg) => SourceCheck {
                    role_name: role.role_name.clone(),
                    ok: true,
                    decrypted: identity.is_some(),
                    message: msg,
                },
                Err(e @ Error::WrongKey(_)) => return Err(e),
                Err(Error::VerificationFailed(msg)) => SourceCheck {
                    role_name: role.role_name.clone(),
                    ok: false,
                    decrypted: false,
                    message: msg,
                },
                Err(e) => return Err(e),
            },
        };
        report.ok &= check.ok;
        report.sources.push(check);
    }
    Ok(report)
}

fn verify_file(
    target: &dyn Store,
    m: &Manifest,
    role: &manifest::RoleStatus,
    file: &str,
    identity: Option<&Identity>,
    opened_with: &mut Option<OpenedWith>,
    progress: &mut dyn FnMut(&str, u64),
) -> Result<String> {
    let path = format!("{}/{file}", manifest::backup_dir(&m.backup_id));
    let fail = |msg: String| Error::VerificationFailed(format!("{}: {msg}", role.role_name));
    let entry = target
        .stat(&path)?
        .ok_or_else(|| fail(format!("{file} is missing")))?;
    if entry.size != role.encrypted_size_in_bytes {
        return Err(fail(format!(
            "{file} has {} bytes, the manifest says {}",
            entry.size, role.encrypted_size_in_bytes
        )));
    }
    let mut on_read = |n: u64| progress(&role.role_name, n);
    // A read the target failed is the target's failure (exit 4), not local I/O (exit 1).
    let (source, kept) = KeepError::new(target.open(&path)?);
    let mut reader = HashingReader::with_progress(source, &mut on_read);
    let target_first = |e: Error| target_first(target, &path, &kept, e);
    let data_err = |e: io::Error| {
        target_first(match Error::from_data_io(file.to_string(), e) {
            Error::VerificationFailed(msg) => fail(msg),
            other => other,
        })
    };
    let mut entries = None;
    match identity {
        None => {
            let (header, _) = Header::read_from(&mut reader).map_err(data_err)?;
            if header.recipient_ids() != m.recipient_ids() {
                return Err(fail(format!(
                    "{file} names recipients {}, the manifest {}",
                    header.recipient_ids().join(", "),
                    m.recipient_ids().join(", ")
                )));
            }
        }
        Some(identity) => {
            let mut dec = Decryptor::new(&mut reader, identity).map_err(data_err)?;
            opened_with.get_or_insert_with(|| OpenedWith::of(m, dec.opened_by()));
            let stats =
                crate::archive::unpack(&mut dec, None, &Default::default()).map_err(|e| {
                    target_first(match e {
                        Error::VerificationFailed(msg) => fail(msg),
                        Error::UnsafeEntry(msg) => fail(msg),
                        other => other,
                    })
                })?;
            // Authenticate everything after the tar end marker too, up to the last chunk.
            io::copy(&mut dec, &mut io::sink()).map_err(data_err)?;
            check_file_count(role, &stats)?;
            entries = Some(stats);
        }
    }
    // (Without a key: the rest of the file is read here, hashed but not decoded.)
    let (digest, _) = reader.finish().map_err(data_err)?;
    if Some(digest.as_str()) != role.sha256.as_deref() {
        return Err(fail(format!(
            "{file}: SHA-256 {digest} does not match the manifest's {}",
            role.sha256.as_deref().unwrap_or("(none)")
        )));
    }
    Ok(match entries {
        Some(s) => format!(
            "{file}: checksum OK, every chunk authenticated, {} entries ({} files, {} bytes) decoded",
            s.entries, s.files, s.bytes
        ),
        None => format!("{file}: present, size and SHA-256 match the manifest"),
    })
}
