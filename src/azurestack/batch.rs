//! `unprotect --from PATH --backup-id ID`: every snapshot a backup needs ([`super::chain`]),
//! read from a [`Store`], each checked and decrypted in one streamed pass (1 MiB reads) into a
//! private temporary file whose HMAC must match before its zip is opened, then decoded entry by
//! entry (`--check`) or extracted into `DIR/<repository>/<snapshot file name>/`.
//!
//! Extraction goes into a 0700 staging folder inside `DIR` and is moved into place only when
//! every snapshot has passed: a failure leaves `DIR` as it was. Memory stays bounded whatever the
//! snapshots' sizes; the disk holds one decrypted zip at a time (in `DIR`'s staging folder, or
//! with `--check` in the system's temporary folder) and the extracted files.

use super::chain::{plan, Plan};
use super::extract::{check_zip, extract_zip, ZipStats};
use super::sidecar::{parse_sidecar_bytes, Sidecar, MAX_SIDECAR};
use super::single::replace_with;
use super::snapshot::{
    check_thumbprint, decrypt, unwrap_keys, Ciphertext, MacAfterDecrypt, OaepHash,
};
use super::store::{self, BackupType, Repository, SnapshotFile};
use crate::certificate::PrivateKey;
use crate::error::{Error, Result};
use crate::store::{Store, StoreError};
use serde::Serialize;
use std::cell::RefCell;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// What to do with a backup.
pub struct BackupRequest<'a> {
    /// The share (or folder) holding `MASBackup/progressivebackup/`.
    pub target: &'a dyn Store,
    pub backup_id: &'a str,
    /// The private key with its certificate (from the `.pfx`).
    pub key: &'a PrivateKey,
    /// Where to extract; `None` checks everything and writes nothing (`--check`).
    pub destination: Option<&'a Path>,
    /// Extract into a non-empty destination, replacing the snapshot folders it already holds.
    pub force: bool,
}

/// Progress of [`unprotect_backup`].
#[derive(Debug, Clone, Copy)]
pub enum BackupProgress<'a> {
    /// Snapshot `index` (from 0) of `count` starts; `path` is its file on the share.
    Snapshot {
        index: usize,
        count: usize,
        path: &'a str,
        size: u64,
    },
    /// Bytes of the current snapshot read so far.
    Bytes(u64),
}

/// What became of one snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SnapshotResult {
    Ok,
    Failed,
    /// Not read: an earlier snapshot failed and nothing is extracted.
    NotChecked,
}

/// One snapshot of the backup.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotReport {
    pub repository: String,
    /// The snapshot's file name.
    pub file: String,
    /// Its path on the share.
    pub path: String,
    pub backup_id: String,
    pub backup_type: BackupType,
    pub contemporaneous: bool,
    /// From the file name (RFC 3339, UTC).
    pub time: String,
    /// The sidecar's `CreatedDateTime`, as written.
    pub created_date_time: Option<String>,
    pub backup_status: Option<String>,
    pub encryption_cert_thumbprint: Option<String>,
    pub oaep_hash: Option<OaepHash>,
    pub size_in_bytes: u64,
    /// The HMAC-SHA512 over the ciphertext matched.
    pub checksum_ok: bool,
    pub zip_size_in_bytes: u64,
    pub entries: u64,
    pub files: u64,
    pub bytes: u64,
    /// Where it was extracted.
    pub destination: Option<PathBuf>,
    pub result: SnapshotResult,
    pub error: Option<String>,
    pub warnings: Vec<String>,
}

/// What [`unprotect_backup`] found and did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupReport {
    pub backup_id: String,
    /// The location read.
    pub source: String,
    pub stamp_version: String,
    /// `check` or `extract`.
    pub mode: &'static str,
    pub destination: Option<PathBuf>,
    /// The thumbprint of the certificate given.
    pub certificate_thumbprint: String,
    pub repositories: usize,
    pub snapshots: Vec<SnapshotReport>,
    /// Every snapshot passed.
    pub ok: bool,
    pub warnings: Vec<String>,
}

/// The report, and the first failure (the report says what happened to every snapshot).
#[derive(Debug)]
pub struct BackupOutcome {
    pub report: BackupReport,
    pub failure: Option<Error>,
}

/// One snapshot, ready to be read.
struct Prepared {
    report: SnapshotReport,
    /// Its path on the target.
    rel: String,
    sidecar: Option<Sidecar>,
    /// A problem found in its sidecar (a bad status, another backup id): it fails even when
    /// its data is sound.
    problem: Option<Error>,
}

/// Checks (and with a destination extracts) every snapshot backup `req.backup_id` needs. Errors
/// found before any data is read (not found, a broken chain, a name that cannot be used, a
/// certificate that is not the one a snapshot needs) are returned as `Err`; a snapshot that
/// fails afterwards is in the outcome's `failure`, and the report says which.
pub fn unprotect_backup(
    req: &BackupRequest<'_>,
    progress: &mut dyn FnMut(BackupProgress<'_>),
) -> Result<BackupOutcome> {
    if !store::is_backup_id(req.backup_id) {
        return Err(Error::invalid(
            "backup-id",
            "a backup id is 1 to 64 letters, digits and hyphens (a GUID, as `unprotect --from PATH --list` shows)",
        ));
    }
    let found = store::scan(req.target)?;
    let plan = plan(&found, req.backup_id)?;
    let thumbprint = req.key.thumbprint().unwrap_or_default().to_string();
    let mut prepared = prepare(req, &plan)?;
    let mut sink = match req.destination {
        Some(dest) => Sink::extract(dest, req.force)?,
        None => Sink::Check,
    };
    let failure = run(req, &mut prepared, &mut sink, progress);
    let failure = match (failure, sink) {
        (None, Sink::Extract(staging)) => staging.commit().err(),
        (failure, sink) => {
            sink.abandon();
            failure
        }
    };
    let mut warnings = plan.warnings.clone();
    warnings.extend(
        found
            .warnings
            .iter()
            .filter(|w| w.starts_with(&plan.stamp.path))
            .cloned(),
    );
    Ok(BackupOutcome {
        report: BackupReport {
            backup_id: plan.backup_id.clone(),
            source: req.target.display(),
            stamp_version: plan.stamp.version.clone(),
            mode: if req.destination.is_some() {
                "extract"
            } else {
                "check"
            },
            destination: req.destination.map(Path::to_path_buf),
            certificate_thumbprint: thumbprint,
            repositories: plan.repositories.len(),
            ok: failure.is_none(),
            snapshots: prepared.into_iter().map(|p| p.report).collect(),
            warnings,
        },
        failure,
    })
}

fn shown(target: &dyn Store, rel: &str) -> String {
    format!("{}/{rel}", target.display().trim_end_matches('/'))
}

/// Reads every sidecar of the plan and checks what it says against the file name and the key.
fn prepare(req: &BackupRequest<'_>, plan: &Plan<'_>) -> Result<Vec<Prepared>> {
    let mut out = Vec::new();
    for rp in &plan.repositories {
        for s in &rp.chain {
            let mut p = new_prepared(req.target, rp.repository, s)?;
            let xml = format!(
                "{}/{}",
                rp.repository.path,
                s.xml.as_deref().expect("resolved")
            );
            let bytes = req.target.read_limited(&xml, MAX_SIDECAR)?;
            match parse_sidecar_bytes(&bytes, Path::new(&shown(req.target, &xml))) {
                Ok(sidecar) => {
                    check_sidecar(&mut p, &sidecar, s, rp.repository);
                    check_thumbprint(req.key, &sidecar, &p.report.path)?;
                    p.sidecar = Some(sidecar);
                }
                Err(e) => p.problem = Some(e),
            }
            out.push(p);
        }
    }
    Ok(out)
}

fn new_prepared(target: &dyn Store, repo: &Repository, s: &SnapshotFile) -> Result<Prepared> {
    let file = s.file_name();
    // Checked when the share was read; again here, right before they name a destination.
    for name in [&repo.name, &file] {
        if let Some(why) = store::check_name(name) {
            return Err(Error::UnsafeEntry(format!(
                "the name {name:?} on the share cannot be used: {why}"
            )));
        }
    }
    let rel = format!("{}/{file}", repo.path);
    Ok(Prepared {
        report: SnapshotReport {
            repository: repo.name.clone(),
            path: shown(target, &rel),
            file,
            backup_id: s.name.backup_id.clone(),
            backup_type: s.name.backup_type,
            contemporaneous: s.name.contemporaneous,
            time: s.name.time_rfc3339(),
            created_date_time: None,
            backup_status: None,
            encryption_cert_thumbprint: None,
            oaep_hash: None,
            size_in_bytes: s.size,
            checksum_ok: false,
            zip_size_in_bytes: 0,
            entries: 0,
            files: 0,
            bytes: 0,
            destination: None,
            result: SnapshotResult::NotChecked,
            error: None,
            warnings: Vec::new(),
        },
        rel,
        sidecar: None,
        problem: None,
    })
}

/// The sidecar must name the same backup and type as the file name, and say `Succeeded`.
fn check_sidecar(p: &mut Prepared, sidecar: &Sidecar, s: &SnapshotFile, repo: &Repository) {
    let r = &mut p.report;
    r.created_date_time = sidecar.created_date_time.clone();
    r.backup_status = sidecar.backup_status.clone();
    r.encryption_cert_thumbprint = Some(sidecar.thumbprint.clone());
    let bad = |what: &str| {
        Some(Error::VerificationFailed(format!(
            "{}: {what}",
            sidecar.path.display()
        )))
    };
    if let Some(id) = sidecar.backup_id.as_deref().filter(|id| !s.is_of(id)) {
        p.problem = bad(&format!(
            "its BackupId is {id:?}, but the snapshot's file name says {}",
            s.name.backup_id
        ));
    } else if let Some(t) = sidecar
        .backup_type
        .as_deref()
        .filter(|t| !t.eq_ignore_ascii_case(&s.name.backup_type.to_string()))
    {
        p.problem = bad(&format!(
            "its BackupType is {t:?}, but the snapshot's file name says {}",
            s.name.backup_type
        ));
    } else {
        match sidecar.backup_status.as_deref() {
            Some("Succeeded") => {}
            Some(st) => {
                p.problem = bad(&format!(
                    "its BackupStatus is {st:?}, not \"Succeeded\": the snapshot is not complete"
                ))
            }
            None => r
                .warnings
                .push("the sidecar has no SnapshotProperties/BackupStatus".into()),
        }
    }
    if let Some(name) = sidecar
        .repository_name
        .as_deref()
        .filter(|n| *n != repo.name)
    {
        r.warnings.push(format!(
            "the sidecar's RepositoryName is {name:?}, the folder's name {:?}",
            repo.name
        ));
    }
}

/// Every snapshot in turn; the first failure. Without a destination every snapshot is checked
/// whatever happens to the others; with one, the first failure stops the run.
fn run(
    req: &BackupRequest<'_>,
    prepared: &mut [Prepared],
    sink: &mut Sink,
    progress: &mut dyn FnMut(BackupProgress<'_>),
) -> Option<Error> {
    let count = prepared.len();
    // Nothing is read for an extraction that a sidecar already dooms.
    if matches!(sink, Sink::Extract(_)) {
        if let Some(p) = prepared.iter_mut().find(|p| p.problem.is_some()) {
            let e = p.problem.take().expect("found");
            p.report.error = Some(e.to_string());
            p.report.result = SnapshotResult::Failed;
            return Some(e);
        }
    }
    let mut first: Option<Error> = None;
    for (index, p) in prepared.iter_mut().enumerate() {
        if first.is_some() && matches!(sink, Sink::Extract(_)) {
            break;
        }
        progress(BackupProgress::Snapshot {
            index,
            count,
            path: &p.report.path,
            size: p.report.size_in_bytes,
        });
        let outcome = match &p.sidecar {
            Some(sidecar) => process(req, p.rel.as_str(), sidecar, &mut p.report, sink, progress),
            None => Ok(()),
        };
        let failure = outcome.err().or_else(|| p.problem.take());
        p.report.result = match &failure {
            None => SnapshotResult::Ok,
            Some(e) => {
                p.report.error = Some(e.to_string());
                SnapshotResult::Failed
            }
        };
        if first.is_none() {
            first = failure;
        }
    }
    first
}

/// Reads, checks and decrypts one snapshot, then checks or extracts its zip.
fn process(
    req: &BackupRequest<'_>,
    rel: &str,
    sidecar: &Sidecar,
    report: &mut SnapshotReport,
    sink: &mut Sink,
    progress: &mut dyn FnMut(BackupProgress<'_>),
) -> Result<()> {
    let name = report.path.clone();
    let keys = unwrap_keys(req.key, &sidecar.encrypted_key, &sidecar.thumbprint)?;
    report.oaep_hash = Some(keys.oaep);
    report.warnings.extend(keys.mac_key_warning());
    let failed_read = RefCell::new(None);
    let mut src = ShareReader {
        inner: req.target.open(rel)?,
        target: req.target.display(),
        path: rel,
        failed: &failed_read,
    };
    let mut zip = sink.temp_file()?;
    let decrypted = Ciphertext::read(&mut src, report.size_in_bytes, &name).and_then(|ct| {
        decrypt(
            &mut src,
            &mut zip,
            &keys,
            &ct,
            MacAfterDecrypt::OnlyCheck,
            &mut |n| progress(BackupProgress::Bytes(n)),
        )
    });
    // A read that failed on the share is the share's error (unreachable, denied, ...).
    let zip_len = decrypted.map_err(|e| match failed_read.take() {
        Some(t) => Error::Store(t),
        None => e,
    })?;
    report.checksum_ok = true;
    report.zip_size_in_bytes = zip_len;
    zip.seek(SeekFrom::Start(0))
        .map_err(|e| Error::io("reading the decrypted zip", e))?;
    let stats: ZipStats = match sink {
        Sink::Check => check_zip(zip, &name)?,
        Sink::Extract(staging) => {
            let (dir, final_dir) = staging.snapshot_dir(&report.repository, &report.file)?;
            let stats = extract_zip(zip, &dir, &name)?;
            report.destination = Some(final_dir);
            stats
        }
    };
    report.entries = stats.entries;
    report.files = stats.files;
    report.bytes = stats.bytes;
    Ok(())
}

/// The target's reader, remembering the target error behind a failed read.
struct ShareReader<'a> {
    inner: Box<dyn Read + 'a>,
    target: String,
    path: &'a str,
    failed: &'a RefCell<Option<StoreError>>,
}

impl Read for ShareReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            let copy = match e.raw_os_error() {
                Some(code) => io::Error::from_raw_os_error(code),
                None => io::Error::new(e.kind(), e.to_string()),
            };
            *self.failed.borrow_mut() =
                Some(StoreError::from_io(&self.target, "read", self.path, copy));
        })
    }
}

/// Where decrypted snapshots go.
enum Sink {
    /// Anonymous temporary files in the system's temporary folder; nothing is kept.
    Check,
    Extract(Staging),
}

impl Sink {
    fn extract(dest: &Path, force: bool) -> Result<Sink> {
        let existed = crate::private_file::check_destination(dest, force, "extract")?;
        std::fs::create_dir_all(dest)
            .map_err(|e| Error::io(format!("creating {}", dest.display()), e))?;
        // 0700: nobody else can look into an extraction in progress.
        let dir = crate::private_file::private_tempdir_in(dest, ".azs-unprotect.", "")?;
        Ok(Sink::Extract(Staging {
            dest: dest.to_path_buf(),
            created: !existed,
            dir,
        }))
    }

    /// A private temporary file for one decrypted zip, removed when it is dropped.
    fn temp_file(&self) -> Result<std::fs::File> {
        match self {
            Sink::Check => tempfile::tempfile().map_err(|e| {
                Error::io(
                    "creating a temporary file (TMPDIR) for the decrypted zip",
                    e,
                )
            }),
            Sink::Extract(s) => tempfile::tempfile_in(s.dir.path())
                .map_err(|e| Error::io(format!("creating a file in {}", s.dest.display()), e)),
        }
    }

    /// Removes what was written (the staging folder, and the destination if it was made here
    /// and is empty).
    fn abandon(self) {
        if let Sink::Extract(s) = self {
            let (dest, created) = (s.dest.clone(), s.created);
            drop(s);
            if created {
                let _ = std::fs::remove_dir(dest);
            }
        }
    }
}

/// The staging folder inside the destination.
struct Staging {
    dest: PathBuf,
    /// The destination did not exist before.
    created: bool,
    dir: tempfile::TempDir,
}

impl Staging {
    /// A new folder for one snapshot in the staging folder, and where it will end up.
    fn snapshot_dir(&self, repository: &str, file: &str) -> Result<(PathBuf, PathBuf)> {
        let dir = self.dir.path().join("x").join(repository).join(file);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        Ok((dir, self.dest.join(repository).join(file)))
    }

    /// Moves every extracted snapshot folder into place (replacing one already there).
    fn commit(self) -> Result<()> {
        let root = self.dir.path().join("x");
        let repos = match std::fs::read_dir(&root) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(format!("reading {}", root.display()), e)),
        };
        for repo in repos {
            let repo = repo.map_err(|e| Error::io(format!("reading {}", root.display()), e))?;
            let to = self.dest.join(repo.file_name());
            if !to.exists() {
                std::fs::rename(repo.path(), &to)
                    .map_err(|e| Error::io(format!("moving into {}", to.display()), e))?;
                continue;
            }
            let snapshots = std::fs::read_dir(repo.path())
                .map_err(|e| Error::io(format!("reading {}", root.display()), e))?;
            for s in snapshots {
                let s = s.map_err(|e| Error::io(format!("reading {}", root.display()), e))?;
                replace_with(&s.path(), &to.join(s.file_name()))?;
            }
        }
        Ok(())
    }
}
