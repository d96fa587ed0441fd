//! One backup run (`start-backup`, and `tick` when one is due): every configured source is packed
//! (tar + zstd), encrypted (see [`crate::crypto`]) and streamed to the target, then the manifest
//! is written last, so a backup is visible only when complete (docs/FORMAT.md §1).

use crate::archive;
use crate::crypto::{Encryptor, Recipient};
use crate::error::{Error, Result};
use crate::manifest::{self, Manifest, RoleStatus, Status, ARCHIVE_SUFFIX, MANIFEST};
use crate::settings::Source;
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::io::{self, Write};
use std::rc::Rc;

use crate::monitor::{RunEnd, RunMonitor};
pub use crate::observer::{Observer, Quiet};

/// What a run needs.
pub struct BackupRequest<'a> {
    pub target: &'a dyn Store,
    pub sources: &'a [Source],
    pub recipient: &'a Recipient,
    /// Recovery certificates: every archive's file key is also wrapped for each of them.
    pub recovery: &'a [Recipient],
    pub now: DateTime<Utc>,
    /// The backup id to use (a fresh GUID when `None`).
    pub backup_id: Option<String>,
    /// Read each archive back after committing it and compare its SHA-256.
    pub verify_after_write: bool,
    /// zstd level of the archives (recorded in the manifest).
    pub compression_level: i32,
    /// Called before each source and right before the manifest is written: an error stops the
    /// run there, with no manifest (used to stop a run that lost its lock).
    pub guard: Option<&'a dyn Fn() -> Result<()>>,
    /// Made by the built-in scheduler (recorded as `isAutomaticBackup`).
    pub automatic: bool,
}

/// Runs one backup and returns its manifest (also written to the target). A backup whose
/// sources did not all succeed still returns `Ok` with status `PartialSucceeded` or `Failed`;
/// `Err` means the target itself failed and nothing usable was written.
pub fn run(req: &BackupRequest<'_>, observer: &mut dyn Observer) -> Result<Manifest> {
    let started = std::time::Instant::now();
    let id = req
        .backup_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let dir = manifest::backup_dir(&id);
    req.target.mkdir_all(&dir)?;
    let mut roles = Vec::with_capacity(req.sources.len());
    let guard = || req.guard.map_or(Ok(()), |g| g());
    for source in req.sources {
        guard()?;
        crate::testhook::point("backup.source-start");
        let total = if observer.wants_sizes() {
            crate::capacity::measure(&source.path)
        } else {
            None
        };
        observer.source_started(&source.name, total);
        let role = match backup_source(req, &dir, source, observer) {
            Ok(role) => role,
            Err(SourceFailure::Store(e)) => return Err(e.into()),
            Err(SourceFailure::Source(message)) => RoleStatus {
                role_name: source.name.clone(),
                status: Status::Failed,
                file_name: None,
                file_count: 0,
                plain_size_in_bytes: 0,
                encrypted_size_in_bytes: 0,
                sha256: None,
                error_message: Some(message),
                changed_files: Vec::new(),
                changed_file_count: 0,
            },
        };
        observer.source_finished(&role);
        roles.push(role);
    }
    let ok = roles
        .iter()
        .filter(|r| r.status == Status::Succeeded)
        .count();
    let status = if ok == roles.len() && ok > 0 {
        Status::Succeeded
    } else if ok > 0 {
        Status::PartialSucceeded
    } else {
        Status::Failed
    };
    let (thumbprint, key_id) = match req.recipient {
        Recipient::Certificate(c) => (Some(c.thumbprint.clone()), None),
        Recipient::LegacyKey(k) => (None, Some(k.key_id())),
    };
    let m = Manifest {
        manifest_version: manifest::MANIFEST_VERSION,
        backup_id: id.clone(),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        status,
        created_date_time: req.now,
        time_taken_to_create: crate::clock::iso8601_duration(started.elapsed()),
        encryption_cert_thumbprint: thumbprint,
        encryption_key_id: key_id,
        recovery_cert_thumbprints: req.recovery.iter().map(Recipient::id).collect(),
        host_name: host_name(),
        compression_level: Some(req.compression_level),
        role_status: roles,
        is_automatic_backup: req.automatic,
    };
    guard()?;
    crate::testhook::point("backup.before-manifest");
    let json = serde_json::to_vec_pretty(&m).expect("manifest serialises");
    let mut up = req.target.create(&format!("{dir}/{MANIFEST}"))?;
    up.write_all(&json)
        .map_err(|e| StoreError::from_io(&req.target.display(), "write", MANIFEST, e))?;
    up.commit()?;
    crate::testhook::point("backup.manifest-committed");
    Ok(m)
}

enum SourceFailure {
    /// The target failed: the whole run stops.
    Store(StoreError),
    /// This source could not be read: the run goes on with the others.
    Source(String),
}

/// Hashes and counts what goes to the target, and keeps the target's own write error.
struct Sink<'a> {
    inner: Box<dyn crate::store::Upload + 'a>,
    hash: Sha256,
    written: u64,
    error: Rc<RefCell<Option<io::Error>>>,
    progress: Rc<RefCell<(u64, u64)>>,
}

impl Write for Sink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.inner.write(buf) {
            Ok(n) => {
                self.hash.update(&buf[..n]);
                self.written += n as u64;
                self.progress.borrow_mut().1 = self.written;
                Ok(n)
            }
            Err(e) => {
                let copy = io::Error::new(e.kind(), e.to_string());
                *self.error.borrow_mut() = Some(e);
                Err(copy)
            }
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        // A failed flush is the target's failure too (not the source's): kept like a write's.
        self.inner.flush().map_err(|e| {
            let copy = io::Error::new(e.kind(), e.to_string());
            *self.error.borrow_mut() = Some(e);
            copy
        })
    }
}

/// Passes writes to the encryptor until one fails, then fails every later write without
/// calling it: after a failed write of a sealed chunk the encryptor is mid-chunk and must not
/// be written to again (tar and zstd still write while they are dropped).
struct Fused<W> {
    inner: W,
    failed: Option<io::Error>,
}

impl<W> Fused<W> {
    fn new(inner: W) -> Self {
        Fused {
            inner,
            failed: None,
        }
    }

    fn check(&self) -> io::Result<()> {
        match &self.failed {
            Some(e) => Err(io::Error::new(e.kind(), e.to_string())),
            None => Ok(()),
        }
    }

    fn fuse<T>(&mut self, r: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &r {
            self.failed = Some(io::Error::new(e.kind(), e.to_string()));
        }
        r
    }
}

impl<W: Write> Write for Fused<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.check()?;
        let r = self.inner.write(buf);
        self.fuse(r)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.check()?;
        let r = self.inner.flush();
        self.fuse(r)
    }
}

fn backup_source(
    req: &BackupRequest<'_>,
    dir: &str,
    source: &Source,
    observer: &mut dyn Observer,
) -> std::result::Result<RoleStatus, SourceFailure> {
    let (target, recipient) = (req.target, req.recipient);
    let file_name = format!("{}{ARCHIVE_SUFFIX}", source.name);
    let path = format!("{dir}/{file_name}");
    let tname = target.display();
    check_source_dir(source)?;
    let upload = target.create(&path).map_err(SourceFailure::Store)?;
    let error = Rc::new(RefCell::new(None));
    let progress = Rc::new(RefCell::new((0u64, 0u64)));
    let sink = Sink {
        inner: upload,
        hash: Sha256::new(),
        written: 0,
        error: error.clone(),
        progress: progress.clone(),
    };
    let target_failure = |e: Option<io::Error>| -> Option<SourceFailure> {
        e.map(|e| {
            SourceFailure::Store(diagnose(
                target,
                StoreError::from_io(&tname, "write", &path, e),
            ))
        })
    };
    // A target error caught by the sink explains the failure better than what it caused.
    let failure = |msg: String| {
        target_failure(error.borrow_mut().take()).unwrap_or(SourceFailure::Source(msg))
    };
    let recipients: Vec<Recipient> = std::iter::once(recipient)
        .chain(req.recovery)
        .cloned()
        .collect();
    let enc = Encryptor::for_recipients(&recipients, sink).map_err(|e| failure(e.to_string()))?;
    let packed = {
        let mut on_progress = |read: u64| {
            let written = progress.borrow().1;
            observer.progress(read, written);
        };
        archive::pack(
            &source.path,
            Fused::new(enc),
            req.compression_level,
            &mut on_progress,
        )
    };
    let (enc, stats) = match packed {
        Ok((
            Fused {
                inner,
                failed: None,
            },
            stats,
        )) => (inner, stats),
        Ok((
            Fused {
                failed: Some(e), ..
            },
            _,
        )) => return Err(failure(e.to_string())),
        Err(e) => return Err(failure(e.to_string())),
    };
    let (sink, _) = enc.finish().map_err(|e| failure(e.to_string()))?;
    for w in &stats.warnings {
        observer.warning(&format!("source {}: {w}", source.name));
    }
    let Sink {
        inner,
        hash,
        written,
        ..
    } = sink;
    crate::testhook::point("backup.archive-written");
    let stored = inner.commit().map_err(SourceFailure::Store)?;
    crate::testhook::point("backup.archive-committed");
    debug_assert_eq!(stored, written);
    let sha256 = hex::encode(hash.finalize());
    if req.verify_after_write {
        read_back(target, &path, written, &sha256)?;
    }
    warn_changed(observer, source, &stats);
    Ok(RoleStatus {
        role_name: source.name.clone(),
        status: Status::Succeeded,
        file_name: Some(file_name),
        file_count: stats.files,
        plain_size_in_bytes: stats.bytes,
        encrypted_size_in_bytes: written,
        sha256: Some(sha256),
        error_message: None,
        changed_files: stats.changed,
        changed_file_count: stats.changed_count,
    })
}

/// A source must be a directory that exists.
fn check_source_dir(source: &Source) -> std::result::Result<(), SourceFailure> {
    match std::fs::metadata(&source.path) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(SourceFailure::Source(format!(
            "{} is not a directory",
            source.path.display()
        ))),
        Err(e) => Err(SourceFailure::Source(format!(
            "{}: {e}",
            source.path.display()
        ))),
    }
}

/// Names the files that changed while they were read (stored at their size when opened).
fn warn_changed(observer: &mut dyn Observer, source: &Source, stats: &archive::PackStats) {
    if stats.changed_count > 0 {
        let more = stats.changed_count - stats.changed.len() as u64;
        observer.warning(&format!(
            "source {}: {} file(s) changed while they were read and were stored with the size they had when opened: {}{}",
            source.name,
            stats.changed_count,
            stats.changed.join(", "),
            if more > 0 { format!(" and {more} more") } else { String::new() }
        ));
    }
}

/// The read-after-write check: the committed archive, read back from the target, has the
/// size and SHA-256 that were written. A mismatch fails the source (the bad file is removed);
/// a target that cannot be read fails the run.
fn read_back(
    target: &dyn Store,
    path: &str,
    written: u64,
    sha256: &str,
) -> std::result::Result<(), SourceFailure> {
    let reader =
        crate::verify::HashingReader::new(target.open(path).map_err(SourceFailure::Store)?);
    let (digest, counted) = reader.finish().map_err(|e| {
        SourceFailure::Store(StoreError::from_io(&target.display(), "read back", path, e))
    })?;
    if counted != written || digest != sha256 {
        let _ = target.remove_file(path);
        return Err(SourceFailure::Source(format!(
            "read-after-write check failed: {path} reads back as {counted} bytes with SHA-256 {digest}, but {written} bytes with SHA-256 {sha256} were written (the share lost or changed data)"
        )));
    }
    Ok(())
}

/// A write error that does not say what is wrong (e.g. EIO from a dropped connection) is
/// explained by probing the target: when the probe finds it unreachable, denied or full, that
/// is the error reported.
fn diagnose(target: &dyn Store, e: StoreError) -> StoreError {
    if let StoreError::Io { .. } = e {
        match target.stat("") {
            Err(probe) if probe.is_target_unavailable() => return probe,
            Ok(None) => {
                return StoreError::NotFound {
                    target: target.display(),
                    what: "the target folder".into(),
                    detail: format!(" (it vanished during the backup; {e})"),
                }
            }
            _ => {}
        }
    }
    e
}

/// This machine's name, recorded in manifests and locks.
pub use crate::host::host_name;

/// Maps a finished run to the error the CLI reports (status not `Succeeded`).
pub fn outcome(m: &Manifest) -> Result<()> {
    if m.status == Status::Succeeded {
        return Ok(());
    }
    let detail = m.failed_sources();
    Err(Error::PartialFailure {
        backup_id: m.backup_id.clone(),
        status: m.status.to_string(),
        detail,
    })
}

/// Runs a backup with the settings' target, sources and recipient, and records it in the state.
/// `start-backup` passes [`crate::state::Trigger::OnDemand`], which never moves `nextBackupTime`.
///
/// The run is watched by a [`RunMonitor`]: the notification URL is pinged at its start and
/// end, and the metrics file written after it (never failing the run: warnings instead).
pub fn start(
    loaded: &crate::settings::Loaded,
    trigger: crate::state::Trigger,
    observer: &mut dyn Observer,
) -> Result<Manifest> {
    let now = crate::clock::now()?;
    let mut monitor = RunMonitor::new(loaded, trigger, now);
    let mut on_target = None;
    let result = start_watched(loaded, trigger, now, &mut monitor, &mut on_target, observer);
    monitor.finish(&RunEnd::of(&result), on_target, &mut |w| {
        observer.warning(w)
    });
    result
}

fn start_watched(
    loaded: &crate::settings::Loaded,
    trigger: crate::state::Trigger,
    now: DateTime<Utc>,
    monitor: &mut RunMonitor<'_>,
    on_target: &mut Option<usize>,
    observer: &mut dyn Observer,
) -> Result<Manifest> {
    let recipient = loaded.recipient()?;
    let target = match crate::store::open(&loaded.settings.target()?, Some(&loaded.credentials())) {
        Ok(t) => t,
        Err(e) => {
            // `status` must show that this attempt failed, not the run before it.
            let e = Error::from(e);
            crate::state::State::update(&loaded.paths.state, |state| {
                state.record_backup(crate::state::LastBackup::failed(trigger, now, &e));
                Ok(())
            })?;
            return Err(e);
        }
    };
    target.expect_upload(crate::capacity::expected_upload(loaded));
    // One run at a time per target (docs/FORMAT.md §1): fails with `Error::Locked` naming the running one.
    let mut lock = crate::lock::acquire(
        &loaded.paths.lock,
        target.as_ref(),
        crate::lock::Operation::Backup {
            backup_id: uuid::Uuid::new_v4().to_string(),
            trigger,
        },
        now,
        &mut |w| observer.warning(w),
    )?;
    let result = crate::capacity::ensure_room(loaded, target.as_ref(), trigger, now, observer)
        .and_then(|()| {
            monitor.started();
            run_locked(
                loaded,
                target.as_ref(),
                &recipient,
                &mut lock,
                trigger,
                now,
                observer,
            )
        });
    if let Err(e) = lock.release() {
        observer.warning(&format!("releasing the lock: {e}"));
    }
    if result.is_ok() && loaded.settings.metrics_file.is_some() {
        *on_target = manifest::list(target.as_ref()).ok().map(|l| l.len());
    }
    result
}

/// Runs a backup while holding `lock` (its backup id names the backup; the lock is refreshed
/// as the run makes progress) and records it in the state (under the state lock).
pub fn run_locked(
    loaded: &crate::settings::Loaded,
    target: &dyn Store,
    recipient: &Recipient,
    lock: &mut crate::lock::RunLock<'_>,
    trigger: crate::state::Trigger,
    now: DateTime<Utc>,
    observer: &mut dyn Observer,
) -> Result<Manifest> {
    let backup_id = lock.backup_id();
    let spec = loaded.settings.target()?;
    let credentials = loaded.credentials();
    lock.keep_alive(Box::new(move || {
        crate::store::open(&spec, Some(&credentials))
    }));
    let guard = || lock.check_held();
    let recovery = loaded.recovery_recipients()?;
    let result = run(
        &BackupRequest {
            target,
            sources: &loaded.settings.sources,
            recipient,
            recovery: &recovery,
            now,
            backup_id,
            verify_after_write: loaded.settings.verify_after_write,
            compression_level: loaded.settings.compression_level(),
            guard: Some(&guard),
            automatic: trigger == crate::state::Trigger::Scheduled,
        },
        &mut lock.keeper(observer),
    );
    crate::state::State::update(&loaded.paths.state, |state| {
        state.record_recipient(&recipient.id(), now);
        if let Ok(m) = &result {
            state.record_source_sizes(m);
        }
        state.record_backup(match &result {
            Ok(m) => crate::state::LastBackup {
                backup_id: m.backup_id.clone(),
                time: m.created_date_time,
                status: m.status,
                trigger,
                error: outcome(m).err().map(|e| e.to_string()),
                size_in_bytes: m.encrypted_size(),
            },
            Err(e) => crate::state::LastBackup::failed(trigger, now, e),
        });
        Ok(())
    })?;
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::local::LocalStore;

    fn vague() -> StoreError {
        StoreError::Io {
            target: "t".into(),
            op: "write",
            path: "f".into(),
            source: io::Error::other("I/O error"),
        }
    }

    #[test]
    fn vague_write_errors_are_explained_by_a_probe() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("share");
        std::fs::create_dir(&root).unwrap();
        let t = LocalStore::open(&root).unwrap();
        // The target answers: the error stays as it was.
        assert!(matches!(diagnose(&t, vague()), StoreError::Io { .. }));
        // The target is gone: the probe's error says so.
        std::fs::remove_dir(&root).unwrap();
        let e = diagnose(&t, vague());
        assert!(e.is_target_unavailable(), "{e}");
        // A specific error is never replaced.
        let full = StoreError::Full {
            target: "t".into(),
            detail: String::new(),
        };
        assert!(matches!(diagnose(&t, full), StoreError::Full { .. }));
    }
}
