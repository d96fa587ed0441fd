//! `prune` (retention; `Invoke-AzsPruneBackupLocationExternalStore -OperationType Default|DryRun`).
//!
//! Deletes:
//! - every backup whose `createdDateTime` is older than now − the retention period, except the
//!   newest `Succeeded` backup, which is never deleted (even past the retention period: the
//!   report says so); a backup dated in the future is never deleted by age;
//! - every backup whose status is `Failed`;
//! - leftovers of failed or interrupted runs: folders under `MASBackup/` named like a backup
//!   (a GUID) that hold no manifest, except the one a live lock names as running; stray
//!   `.*.partial` upload files; lock files renamed aside by an interrupted takeover.
//!
//! Folders with other names (e.g. Azure Stack Hub's own `progressivebackup/`) and folders
//! whose manifest exists but cannot be read are left alone.
//!
//! Deletion is crash-safe: a backup's `manifest.json` is deleted first, then the rest, so an
//! interrupted prune leaves at most a folder without a manifest, which `list` does not show as
//! a backup and the next prune removes.

use crate::error::Result;
use crate::lock::STALE_PREFIX;
use crate::manifest::{self, Found, Manifest, Status, MANIFEST, ROOT};
use crate::store::{Store, StoreError};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// Which backups fall out of retention by age.
#[derive(Debug)]
pub struct AgeDecision<'a> {
    /// Older than the cutoff and not protected (status not `Failed`: those go anyway).
    pub past_retention: Vec<&'a Manifest>,
    /// The newest `Succeeded` backup (not dated in the future): never deleted.
    pub newest_succeeded: Option<&'a Manifest>,
    /// True when the newest `Succeeded` backup is itself older than the cutoff.
    pub newest_past_retention: bool,
    pub cutoff: DateTime<Utc>,
}

/// Decides by age only: `backups` past `now − retention_days`, keeping the newest
/// `Succeeded` one. Backups with status `Failed` are not counted here.
///
/// `protected`: the id of the backup to keep whatever its age (the newest `Succeeded` backup
/// whose files are all on the target); `None` lets this pick the newest `Succeeded` one.
pub fn by_age<'a>(
    backups: &'a [Manifest],
    now: DateTime<Utc>,
    retention_days: u32,
    protected: Option<&str>,
) -> AgeDecision<'a> {
    let cutoff = now - Duration::days(i64::from(retention_days));
    let newest = match protected {
        Some(id) => backups.iter().find(|m| m.backup_id == id),
        None => backups
            .iter()
            .filter(|m| m.status == Status::Succeeded && m.created_date_time <= now)
            .max_by(|a, b| {
                a.created_date_time
                    .cmp(&b.created_date_time)
                    .then_with(|| a.backup_id.cmp(&b.backup_id))
            }),
    };
    let newest_id = newest.map(|m| m.backup_id.as_str());
    let mut past: Vec<&Manifest> = backups
        .iter()
        .filter(|m| {
            m.status != Status::Failed
                && m.created_date_time < cutoff
                && Some(m.backup_id.as_str()) != newest_id
        })
        .collect();
    past.sort_by_key(|m| m.created_date_time);
    AgeDecision {
        past_retention: past,
        newest_succeeded: newest,
        newest_past_retention: newest.is_some_and(|m| m.created_date_time < cutoff),
        cutoff,
    }
}

/// What one deletion is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ItemKind {
    /// A complete backup (past retention, or `Failed`).
    Backup,
    /// A backup folder without a manifest.
    IncompleteRun,
    /// A stray temporary upload file (`.*.partial`).
    PartialFile,
    /// A lock renamed aside by an interrupted takeover.
    StaleLockFile,
}

/// One path that prune deletes (or would delete).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PruneItem {
    /// Path on the target, relative to its root (`MASBackup/<backupId>`).
    pub path: String,
    pub kind: ItemKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_date_time: Option<DateTime<Utc>>,
    pub reason: String,
}

/// The newest successful backup, which prune keeps.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeptNewest {
    pub backup_id: String,
    pub created_date_time: DateTime<Utc>,
    /// True when it is older than the retention period (kept only because it is the newest).
    pub past_retention: bool,
}

/// A deletion that failed.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PruneFailure {
    pub path: String,
    pub error: String,
}

/// What prune did (or would do, with `dry_run`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PruneReport {
    pub dry_run: bool,
    pub backup_retention_period_in_days: u32,
    /// Backups created before this time are past retention.
    pub cutoff: DateTime<Utc>,
    /// Paths deleted (empty with `dry_run`).
    pub deleted: Vec<PruneItem>,
    /// Paths that would be deleted (only with `dry_run`).
    pub would_delete: Vec<PruneItem>,
    /// The Azure API's name: every path this prune deletes (`Default`) or would delete
    /// (`DryRun`), including those whose deletion failed.
    pub paths_to_delete: Vec<String>,
    pub kept_newest: Option<KeptNewest>,
    /// Complete backups left on the target.
    pub kept_backups: usize,
    /// Things the operator should know (kept newest past retention, unreadable manifests,
    /// a running backup's folder left alone).
    pub notes: Vec<String>,
    pub failed: Vec<PruneFailure>,
    /// The first deletion error, for the exit code.
    #[serde(skip)]
    pub first_error: Option<StoreError>,
}

/// The deletions prune would make now.
#[derive(Debug)]
pub struct Plan {
    pub items: Vec<PruneItem>,
    pub kept_newest: Option<KeptNewest>,
    pub kept_backups: usize,
    pub notes: Vec<String>,
    pub cutoff: DateTime<Utc>,
}

/// Looks at the target and decides what to delete. `running`: the backup id a live lock names
/// (its folder has no manifest yet and is left alone).
///
/// Everything deleted is a folder or file this function listed itself, addressed by the name
/// it was listed under: a manifest only ever decides about its own folder, because
/// [`manifest::parse`] refuses one whose `backupId` is not its folder's name.
pub fn plan(
    target: &dyn Store,
    now: DateTime<Utc>,
    retention_days: u32,
    running: Option<&str>,
) -> Result<Plan> {
    plan_scanned(
        target,
        &manifest::scan(target)?,
        now,
        retention_days,
        running,
    )
}

/// [`plan`] from what [`manifest::scan`] found on `target`, for a caller that needs the
/// manifests too (on a share each manifest read costs round trips: one scan serves both).
pub fn plan_scanned(
    target: &dyn Store,
    found: &[Found],
    now: DateTime<Utc>,
    retention_days: u32,
    running: Option<&str>,
) -> Result<Plan> {
    let backups: Vec<Manifest> = found.iter().filter_map(Found::backup).cloned().collect();
    let mut notes = Vec::new();
    let protected = newest_complete(target, &backups, now, &mut notes)?;
    let age = by_age(&backups, now, retention_days, protected.as_deref());
    let mut items = Vec::new();
    let mut doomed = std::collections::HashSet::new();
    let mut failed: Vec<&Manifest> = backups
        .iter()
        .filter(|m| m.status == Status::Failed)
        .collect();
    failed.sort_by_key(|m| m.created_date_time);
    for m in failed {
        doomed.insert(m.backup_id.clone());
        items.push(backup_item(
            m,
            "the backup failed: no source was saved".into(),
        ));
    }
    for m in &age.past_retention {
        doomed.insert(m.backup_id.clone());
        items.push(backup_item(
            m,
            format!(
                "older than the retention period of {retention_days} days (created before {})",
                age.cutoff.to_rfc3339()
            ),
        ));
    }
    let kept_newest = age.newest_succeeded.map(|m| KeptNewest {
        backup_id: m.backup_id.clone(),
        created_date_time: m.created_date_time,
        past_retention: age.newest_past_retention,
    });
    if let Some(k) = kept_newest.as_ref().filter(|k| k.past_retention) {
        notes.push(format!(
            "kept backup {} (created {}) although it is older than the retention period of {retention_days} days: it is the newest successful backup, which prune never deletes",
            k.backup_id,
            k.created_date_time.to_rfc3339()
        ));
    }
    leftover_folders(target, found, running, &mut items, &mut notes)?;
    // Stray files: in MASBackup/ itself, and inside the backups that stay.
    let mut dirs = vec![ROOT.to_string()];
    dirs.extend(
        backups
            .iter()
            .filter(|m| !doomed.contains(&m.backup_id))
            .map(|m| manifest::backup_dir(&m.backup_id)),
    );
    stray_files(target, dirs, &mut items)?;
    Ok(Plan {
        kept_backups: backups.len() - doomed.len(),
        items,
        kept_newest,
        notes,
        cutoff: age.cutoff,
    })
}

/// The newest `Succeeded` backup whose archives are all on the target at their recorded sizes:
/// the one prune never deletes. A manifest planted in a new folder, naming files that are not
/// there, cannot take its place.
fn newest_complete(
    target: &dyn Store,
    backups: &[Manifest],
    now: DateTime<Utc>,
    notes: &mut Vec<String>,
) -> Result<Option<String>> {
    // The backup prune protects must be whole on the target: a manifest planted in a new
    // folder, naming files that are not there, cannot take its place.
    let mut candidates: Vec<&Manifest> = backups
        .iter()
        .filter(|m| m.status == Status::Succeeded && m.created_date_time <= now)
        .collect();
    candidates.sort_by(|a, b| {
        b.created_date_time
            .cmp(&a.created_date_time)
            .then_with(|| b.backup_id.cmp(&a.backup_id))
    });
    for m in candidates {
        if files_present(target, m)? {
            return Ok(Some(m.backup_id.clone()));
        }
        notes.push(format!(
            "backup {} is not the newest complete backup: some of its archives are missing or have the wrong size (run `azs-backup verify {}`)",
            m.backup_id, m.backup_id
        ));
    }
    Ok(None)
}

/// Folders without a (readable) manifest that an interrupted run left, old enough to be
/// leftovers, into `items`; the ones left alone are explained in `notes`.
fn leftover_folders(
    target: &dyn Store,
    found: &[Found],
    running: Option<&str>,
    items: &mut Vec<PruneItem>,
    notes: &mut Vec<String>,
) -> Result<()> {
    let lease = crate::lock::lease();
    for f in found {
        let (name, reason) = match f {
            Found::Incomplete { name, reason } => (name, reason),
            Found::Invalid { name, reason } => {
                notes.push(format!(
                    "left {ROOT}/{name} alone: its manifest is not valid ({reason}); look at it before deleting it by hand"
                ));
                continue;
            }
            Found::Backup(_) => continue,
        };
        if !manifest::is_backup_id(name) {
            continue;
        }
        if running.is_some_and(|r| r.eq_ignore_ascii_case(name)) {
            notes.push(format!(
                "left {ROOT}/{name} alone: it is the backup running now"
            ));
            continue;
        }
        let dir = manifest::backup_dir(name);
        if target.stat(&format!("{dir}/{MANIFEST}"))?.is_some() {
            notes.push(format!(
                "left {dir} alone: its manifest cannot be read ({reason}); look at it before deleting it by hand"
            ));
            continue;
        }
        // A folder written to within the lease may belong to a run whose lock this host cannot
        // see (another host, a lock lost to a network split): only older ones are leftovers.
        match last_written(target, &dir)? {
            Some(t) if age_of(t) >= lease => {}
            _ => {
                notes.push(format!(
                    "left {dir} alone: it has no manifest but was written to less than {} minutes ago (a backup may still be writing it)",
                    lease.num_minutes().max(1)
                ));
                continue;
            }
        }
        items.push(PruneItem {
            path: dir,
            kind: ItemKind::IncompleteRun,
            backup_id: Some(name.clone()),
            status: None,
            created_date_time: None,
            reason: format!("no manifest: left by an interrupted or failed run ({reason})"),
        });
    }
    Ok(())
}

/// Stray files (stale locks, incomplete uploads, probe files) in `dirs`, into `items`.
fn stray_files(target: &dyn Store, dirs: Vec<String>, items: &mut Vec<PruneItem>) -> Result<()> {
    let lease = crate::lock::lease();
    for dir in dirs {
        let entries = match target.list(&dir) {
            Ok(e) => e,
            Err(StoreError::NotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        for e in entries.into_iter().filter(|e| !e.is_dir) {
            let kind = if dir == ROOT && e.name.starts_with(STALE_PREFIX) {
                ItemKind::StaleLockFile
            } else if (e.name.starts_with('.') && e.name.ends_with(".partial"))
                || (dir == ROOT && e.name.starts_with(".probe-"))
            {
                // Young ones (a `configure` probing right now, an upload in progress) are
                // skipped below.
                ItemKind::PartialFile
            } else {
                continue;
            };
            // An upload in progress (of a run this host cannot see) is not a leftover yet.
            if e.modified.is_none_or(|t| age_of(t) < lease) {
                continue;
            }
            items.push(PruneItem {
                path: format!("{dir}/{}", e.name),
                kind,
                backup_id: None,
                status: None,
                created_date_time: None,
                reason: match kind {
                    ItemKind::StaleLockFile => {
                        "a stale lock set aside by an interrupted run".into()
                    }
                    _ => "an incomplete upload left by an interrupted run".into(),
                },
            });
        }
    }
    Ok(())
}

/// How long ago a target timestamp was, by this host's real clock (target timestamps are real
/// time, whatever `AZS_BACKUP_NOW` says). A time in the future counts as now.
fn age_of(t: std::time::SystemTime) -> Duration {
    std::time::SystemTime::now()
        .duration_since(t)
        .ok()
        .and_then(|d| Duration::from_std(d).ok())
        .unwrap_or_else(Duration::zero)
}

/// The newest modification time of a folder and the entries directly in it.
fn last_written(
    target: &dyn Store,
    dir: &str,
) -> std::result::Result<Option<std::time::SystemTime>, StoreError> {
    let mut newest = match target.stat(dir)? {
        Some(e) => e.modified,
        None => return Ok(None),
    };
    for e in target.list(dir)? {
        newest = match (newest, e.modified) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        };
    }
    Ok(newest)
}

/// Whether every archive a backup names is on the target with the size its manifest records.
fn files_present(target: &dyn Store, m: &Manifest) -> std::result::Result<bool, StoreError> {
    let dir = manifest::backup_dir(&m.backup_id);
    for r in m
        .role_status
        .iter()
        .filter(|r| r.status == Status::Succeeded)
    {
        let Some(file) = &r.file_name else {
            return Ok(false);
        };
        match target.stat(&format!("{dir}/{file}"))? {
            Some(e) if !e.is_dir && e.size == r.encrypted_size_in_bytes => {}
            _ => return Ok(false),
        }
    }
    Ok(true)
}

fn backup_item(m: &Manifest, reason: String) -> PruneItem {
    PruneItem {
        path: manifest::backup_dir(&m.backup_id),
        kind: ItemKind::Backup,
        backup_id: Some(m.backup_id.clone()),
        status: Some(m.status),
        created_date_time: Some(m.created_date_time),
        reason,
    }
}

/// Deletes one planned item: a backup's manifest first, then its folder. Refuses any path that
/// is not `MASBackup/<guid>` (folders) or a plain file name inside `MASBackup/` or one of its
/// GUID folders, whoever built the item.
pub fn delete(target: &dyn Store, item: &PruneItem) -> std::result::Result<(), StoreError> {
    let parts: Vec<&str> = item.path.split('/').collect();
    let shape_ok = match item.kind {
        ItemKind::Backup | ItemKind::IncompleteRun => {
            parts.len() == 2 && parts[0] == ROOT && manifest::is_backup_id(parts[1])
        }
        ItemKind::PartialFile | ItemKind::StaleLockFile => {
            parts.first() == Some(&ROOT)
                && (parts.len() == 2 || (parts.len() == 3 && manifest::is_backup_id(parts[1])))
        }
    };
    if !shape_ok || crate::store::rel_components(&item.path).is_err() {
        return Err(StoreError::Io {
            target: target.display(),
            op: "delete",
            path: item.path.clone(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "prune deletes only backup folders and leftover files inside MASBackup/",
            ),
        });
    }
    let gone = |r: std::result::Result<(), StoreError>| match r {
        Err(StoreError::NotFound { .. }) => Ok(()),
        other => other,
    };
    crate::testhook::point("prune.delete");
    match item.kind {
        ItemKind::Backup => {
            gone(target.remove_file(&format!("{}/{MANIFEST}", item.path)))?;
            crate::testhook::point("prune.manifest-deleted");
            gone(target.remove_tree(&item.path))
        }
        ItemKind::IncompleteRun => gone(target.remove_tree(&item.path)),
        ItemKind::PartialFile | ItemKind::StaleLockFile => gone(target.remove_file(&item.path)),
    }
}

/// Plans and (unless `dry_run`) deletes. A deletion that fails does not stop the others; it is
/// listed in `failed` and its error kept in `first_error`.
pub fn prune(
    target: &dyn Store,
    now: DateTime<Utc>,
    retention_days: u32,
    dry_run: bool,
    running: Option<&str>,
) -> Result<PruneReport> {
    let plan = plan(target, now, retention_days, running)?;
    let mut report = PruneReport {
        dry_run,
        backup_retention_period_in_days: retention_days,
        cutoff: plan.cutoff,
        deleted: Vec::new(),
        would_delete: Vec::new(),
        paths_to_delete: plan.items.iter().map(|i| i.path.clone()).collect(),
        kept_newest: plan.kept_newest,
        kept_backups: plan.kept_backups,
        notes: plan.notes,
        failed: Vec::new(),
        first_error: None,
    };
    if dry_run {
        report.would_delete = plan.items;
        return Ok(report);
    }
    for item in plan.items {
        match delete(target, &item) {
            Ok(()) => report.deleted.push(item),
            // A leftover the server still holds open for a client that is gone (its session
            // outlives a dropped link until the server times it out): the next prune removes it.
            Err(e) if e.is_busy() && item.kind != ItemKind::Backup => {
                report.notes.push(format!(
                    "left {} for the next prune: the share says it is still in use ({e})",
                    item.path
                ));
            }
            Err(e) => {
                report.failed.push(PruneFailure {
                    path: item.path.clone(),
                    error: e.to_string(),
                });
                if item.kind == ItemKind::Backup {
                    report.kept_backups += 1;
                }
                report.first_error.get_or_insert(e);
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{RoleStatus, MANIFEST_VERSION};
    use crate::store::local::LocalStore;
    use crate::store::{Capacity, Entry, Upload};
    use std::cell::Cell;
    use std::io::Read;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn manifest(id: u128, created: DateTime<Utc>, status: Status) -> Manifest {
        Manifest {
            manifest_version: MANIFEST_VERSION,
            backup_id: uuid::Uuid::from_u128(id).to_string(),
            tool_version: "test".into(),
            status,
            created_date_time: created,
            time_taken_to_create: "PT1S".into(),
            encryption_cert_thumbprint: Some("AB".repeat(20)),
            encryption_key_id: None,
            recovery_cert_thumbprints: Vec::new(),
            host_name: "h".into(),
            is_automatic_backup: false,
            compression_level: None,
            role_status: vec![RoleStatus {
                role_name: "a".into(),
                status,
                file_name: Some("a.tar.zst.enc".into()),
                file_count: 1,
                plain_size_in_bytes: 1,
                encrypted_size_in_bytes: 1,
                sha256: Some("0".repeat(64)),
                error_message: None,
                changed_files: Vec::new(),
                changed_file_count: 0,
            }],
        }
    }

    fn put(t: &dyn Store, m: &Manifest) {
        let dir = manifest::backup_dir(&m.backup_id);
        t.mkdir_all(&dir).unwrap();
        t.write_all(&format!("{dir}/a.tar.zst.enc"), b"x").unwrap();
        t.write_all(&format!("{dir}/b.tar.zst.enc"), b"y").unwrap();
        t.write_all(
            &format!("{dir}/{MANIFEST}"),
            &serde_json::to_vec(m).unwrap(),
        )
        .unwrap();
    }

    #[test]
    fn age_rules() {
        let now = at("2026-02-01T00:00:00Z");
        let d = |n: i64| now - Duration::days(n);
        let all_old = vec![
            manifest(1, d(10), Status::Succeeded),
            manifest(2, d(9), Status::PartialSucceeded),
            manifest(3, d(11), Status::Succeeded),
        ];
        let a = by_age(&all_old, now, 7, None);
        assert_eq!(a.newest_succeeded.unwrap().backup_id, all_old[0].backup_id);
        assert!(a.newest_past_retention);
        let ids: Vec<_> = a.past_retention.iter().map(|m| &m.backup_id).collect();
        assert_eq!(ids, [&all_old[2].backup_id, &all_old[1].backup_id]);
        // Exactly at the cutoff is not older; the future is never past retention.
        let edge = vec![
            manifest(4, d(7), Status::Succeeded),
            manifest(5, now + Duration::days(30), Status::Succeeded),
        ];
        let a = by_age(&edge, now, 7, None);
        assert!(a.past_retention.is_empty());
        assert_eq!(a.newest_succeeded.unwrap().backup_id, edge[0].backup_id);
    }

    /// A target whose deletions start failing after `budget` of them: an interrupted prune.
    struct Flaky<'a> {
        inner: &'a LocalStore,
        budget: Cell<usize>,
    }

    impl Flaky<'_> {
        fn spend(&self) -> std::result::Result<(), StoreError> {
            if self.budget.get() == 0 {
                return Err(StoreError::Unreachable {
                    target: "flaky".into(),
                    detail: " (connection lost)".into(),
                });
            }
            self.budget.set(self.budget.get() - 1);
            Ok(())
        }
    }

    impl Store for Flaky<'_> {
        fn display(&self) -> String {
            self.inner.display()
        }
        fn mkdir_all(&self, dir: &str) -> std::result::Result<(), StoreError> {
            self.inner.mkdir_all(dir)
        }
        fn list(&self, dir: &str) -> std::result::Result<Vec<Entry>, StoreError> {
            self.inner.list(dir)
        }
        fn stat(&self, path: &str) -> std::result::Result<Option<Entry>, StoreError> {
            self.inner.stat(path)
        }
        fn open(&self, path: &str) -> std::result::Result<Box<dyn Read + '_>, StoreError> {
            self.inner.open(path)
        }
        fn create(&self, path: &str) -> std::result::Result<Box<dyn Upload + '_>, StoreError> {
            self.inner.create(path)
        }
        fn create_new(&self, path: &str, data: &[u8]) -> std::result::Result<bool, StoreError> {
            self.inner.create_new(path, data)
        }
        fn overwrite(&self, path: &str, data: &[u8]) -> std::result::Result<(), StoreError> {
            self.inner.overwrite(path, data)
        }
        fn remove_file(&self, path: &str) -> std::result::Result<(), StoreError> {
            self.spend()?;
            self.inner.remove_file(path)
        }
        fn remove_dir(&self, path: &str) -> std::result::Result<(), StoreError> {
            self.spend()?;
            self.inner.remove_dir(path)
        }
        fn rename(&self, from: &str, to: &str) -> std::result::Result<(), StoreError> {
            self.inner.rename(from, to)
        }
        fn capacity(&self) -> std::result::Result<Option<Capacity>, StoreError> {
            self.inner.capacity()
        }
    }

    /// Moves the mtime of everything under `root` `secs` seconds into the past.
    fn age_tree(root: &std::path::Path, secs: u64) {
        let t = filetime::FileTime::from_system_time(
            std::time::SystemTime::now() - std::time::Duration::from_secs(secs),
        );
        for e in std::fs::read_dir(root).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                age_tree(&p, secs);
            }
            filetime::set_file_mtime(&p, t).unwrap();
        }
    }

    #[test]
    fn an_interrupted_prune_leaves_no_listed_backup_with_missing_files() {
        let now = at("2026-02-01T00:00:00Z");
        // Every point at which the target can fail during the deletions.
        for budget in 0..16 {
            let dir = tempfile::tempdir().unwrap();
            let local = LocalStore::open(dir.path()).unwrap();
            for (i, age) in [1i64, 9, 10, 11].iter().enumerate() {
                put(
                    &local,
                    &manifest(i as u128 + 1, now - Duration::days(*age), Status::Succeeded),
                );
            }
            let flaky = Flaky {
                inner: &local,
                budget: Cell::new(budget),
            };
            let report = prune(&flaky, now, 7, false, None).unwrap();
            let complete = report.failed.is_empty();
            for m in manifest::list(&local).unwrap() {
                let dir = manifest::backup_dir(&m.backup_id);
                for f in ["a.tar.zst.enc", "b.tar.zst.enc"] {
                    assert!(
                        local.stat(&format!("{dir}/{f}")).unwrap().is_some(),
                        "budget {budget}: listed backup {} lost {f}",
                        m.backup_id
                    );
                }
            }
            // A leftover written to within the lease is left alone (a run may still own it)...
            let leftovers = |t: &LocalStore| {
                t.list(ROOT)
                    .unwrap()
                    .into_iter()
                    .filter(|e| {
                        e.is_dir
                            && t.stat(&format!("{ROOT}/{}/{MANIFEST}", e.name))
                                .unwrap()
                                .is_none()
                    })
                    .count()
            };
            let before = leftovers(&local);
            prune(&local, now, 7, false, None).unwrap();
            assert_eq!(leftovers(&local), before, "budget {budget}");
            // ...and removed once it is older: finishing the job with a healthy target leaves
            // exactly the young backup.
            age_tree(dir.path(), 3600);
            prune(&local, now, 7, false, None).unwrap();
            let left = manifest::list(&local).unwrap();
            assert_eq!(left.len(), 1, "budget {budget}");
            assert_eq!(left[0].backup_id, uuid::Uuid::from_u128(1).to_string());
            assert_eq!(local.list(ROOT).unwrap().len(), 1, "budget {budget}");
            if complete {
                assert!(budget >= 12);
            }
        }
    }
}
