//! Where Azure Stack Hub puts its snapshots on the backup share, read through a [`Store`]
//! (docs/AZURESTACK.md, "Where the snapshots are"):
//!
//! ```text
//! <share>/MASBackup/progressivebackup/<stampVersion>/<repository>/<yyyyMMddHHmm>_<backupId>_<Full|Progressive>[_C].zip
//!                                                               ... .xml (the sidecar)
//! ```
//!
//! Every name read from the share is untrusted: stamp, repository and file names are checked
//! with [`check_name`] before they are used in a path (on the share or in a destination), and a
//! name that fails is reported in [`SnapshotStore::refused`], never used.

use crate::error::Result;
use crate::store::{Entry, Store};
use chrono::NaiveDateTime;
use serde::Serialize;
use std::collections::BTreeMap;

/// Where Azure Stack Hub writes its progressive backup store, under the share's root.
pub const PROGRESSIVE_ROOT: &str = "MASBackup/progressivebackup";

/// `Full` or `Progressive`, from the snapshot's file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum BackupType {
    Full,
    Progressive,
}

impl std::fmt::Display for BackupType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BackupType::Full => "Full",
            BackupType::Progressive => "Progressive",
        })
    }
}

/// What a snapshot's file name says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotName {
    /// `yyyyMMddHHmm` (UTC).
    pub time: NaiveDateTime,
    pub backup_id: String,
    pub backup_type: BackupType,
    /// The name ends in `_C` (a contemporaneous snapshot).
    pub contemporaneous: bool,
}

impl SnapshotName {
    /// The time as RFC 3339 (`2019-01-15T12:00:00Z`).
    pub fn time_rfc3339(&self) -> String {
        self.time
            .and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }
}

/// True for a backup id as Azure Stack Hub writes them in file names (a GUID): 1 to 64 ASCII
/// letters, digits and hyphens.
pub fn is_backup_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Parses `<yyyyMMddHHmm>_<backupId>_<Full|Progressive>[_C]` (a file name without `.zip`).
pub fn parse_snapshot_stem(stem: &str) -> Option<SnapshotName> {
    let mut parts = stem.split('_');
    let time = parts.next()?;
    if time.len() != 12 || !time.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let time = NaiveDateTime::parse_from_str(time, "%Y%m%d%H%M").ok()?;
    let backup_id = parts.next().filter(|id| is_backup_id(id))?.to_string();
    let backup_type = match parts.next()? {
        t if t.eq_ignore_ascii_case("Full") => BackupType::Full,
        t if t.eq_ignore_ascii_case("Progressive") => BackupType::Progressive,
        _ => return None,
    };
    let contemporaneous = match parts.next() {
        None => false,
        Some(c) if c.eq_ignore_ascii_case("C") => true,
        Some(_) => return None,
    };
    if parts.next().is_some() {
        return None;
    }
    Some(SnapshotName {
        time,
        backup_id,
        backup_type,
        contemporaneous,
    })
}

/// Why a name read from the share cannot be used in a path: empty, `.` or `..`, a `/` or `\`,
/// a control character or a bidirectional control (and on Windows a `:`). `None` when it is a
/// plain name.
pub fn check_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("it is empty")
    } else if name == "." || name == ".." {
        Some("it is '.' or '..'")
    } else if name.contains(['/', '\\']) {
        Some("it holds a path separator")
    } else if name.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        Some("it holds a control character")
    } else if cfg!(windows) && name.contains(':') {
        Some("it holds a ':'")
    } else {
        None
    }
}

/// Unicode's bidirectional controls, which make a name print as another.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// One snapshot: its `.zip` and its sidecar `.xml` (either may be missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotFile {
    /// The file name without its extension.
    pub stem: String,
    pub name: SnapshotName,
    /// The `.zip`'s name on the share, when it is there.
    pub zip: Option<String>,
    /// The sidecar's name on the share, when it is there.
    pub xml: Option<String>,
    /// The `.zip`'s size in bytes.
    pub size: u64,
}

impl SnapshotFile {
    /// The `.zip`'s file name (as it is on the share, or as it should be).
    pub fn file_name(&self) -> String {
        self.zip
            .clone()
            .unwrap_or_else(|| format!("{}.zip", self.stem))
    }

    /// True for a snapshot of backup `id` (compared ignoring case, as GUIDs are).
    pub fn is_of(&self, id: &str) -> bool {
        self.name.backup_id.eq_ignore_ascii_case(id)
    }
}

/// One repository folder and its snapshots, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    pub name: String,
    /// Its path on the target.
    pub path: String,
    pub snapshots: Vec<SnapshotFile>,
}

/// One stamp version folder (`1.2102.0.9`) and its repositories, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// The folder's name; empty when the location given is the stamp's folder itself.
    pub version: String,
    /// Its path on the target.
    pub path: String,
    pub repositories: Vec<Repository>,
}

/// A name on the share that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The stamp folder it is in; `None` for a stamp folder's own name.
    pub stamp: Option<String>,
    pub message: String,
}

/// What the share holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotStore {
    /// The path of the folder the stamps were found in (or of the stamp folder).
    pub root: String,
    pub stamps: Vec<Stamp>,
    /// Names that are ignored (not snapshots), said once each.
    pub warnings: Vec<String>,
    /// Names that cannot be used (see [`check_name`]).
    pub refused: Vec<Refused>,
}

/// How deep the location given is.
enum Level {
    /// Its folders are stamp versions.
    Stamps,
    /// It is a stamp folder: its folders are repositories.
    Repositories,
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

fn is_dir(target: &dyn Store, path: &str) -> Result<bool> {
    Ok(target.stat(path)?.is_some_and(|e| e.is_dir))
}

/// Finds the store: `MASBackup/progressivebackup` under the location, `progressivebackup`
/// under it (the location is `MASBackup`), or the location itself when its folders look like
/// stamp versions or repositories. `None` when nothing looks like a store.
fn locate(target: &dyn Store) -> Result<Option<(String, Level)>> {
    for path in [PROGRESSIVE_ROOT, "progressivebackup"] {
        if is_dir(target, path)? {
            return Ok(Some((path.to_string(), Level::Stamps)));
        }
    }
    let dirs: Vec<Entry> = target.list("")?.into_iter().filter(|e| e.is_dir).collect();
    if dirs.iter().any(|e| e.name.split(';').count() == 4) {
        return Ok(Some((String::new(), Level::Repositories)));
    }
    let is_version = |n: &str| {
        n.contains('.')
            && n.split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    };
    if dirs.iter().any(|e| is_version(&e.name)) {
        return Ok(Some((String::new(), Level::Stamps)));
    }
    Ok(None)
}

/// Reads the store's folders and file names (no file contents).
pub fn scan(target: &dyn Store) -> Result<SnapshotStore> {
    let Some((root, level)) = locate(target)? else {
        return Ok(SnapshotStore::default());
    };
    let mut store = SnapshotStore {
        root: root.clone(),
        ..SnapshotStore::default()
    };
    match level {
        Level::Repositories => {
            let stamp = scan_stamp(target, String::new(), root, &mut store)?;
            store.stamps.push(stamp);
        }
        Level::Stamps => {
            for e in target.list(&root)?.into_iter().filter(|e| e.is_dir) {
                if let Some(why) = check_name(&e.name) {
                    store.refused.push(Refused {
                        stamp: None,
                        message: refused(&e.name, "stamp folder", &root, why),
                    });
                    continue;
                }
                let path = join(&root, &e.name);
                let stamp = scan_stamp(target, e.name, path, &mut store)?;
                store.stamps.push(stamp);
            }
        }
    }
    Ok(store)
}

fn refused(name: &str, what: &str, dir: &str, why: &str) -> String {
    let dir = if dir.is_empty() { "." } else { dir };
    format!("the {what} name {name:?} in {dir} on the share cannot be used: {why}")
}

fn scan_stamp(
    target: &dyn Store,
    version: String,
    path: String,
    store: &mut SnapshotStore,
) -> Result<Stamp> {
    let mut stamp = Stamp {
        version,
        path,
        repositories: Vec::new(),
    };
    for e in target.list(&stamp.path)? {
        if let Some(why) = check_name(&e.name) {
            let what = if e.is_dir {
                "repository folder"
            } else {
                "file"
            };
            store.refused.push(Refused {
                stamp: Some(stamp.version.clone()),
                message: refused(&e.name, what, &stamp.path, why),
            });
            continue;
        }
        // Files here (such as `<time>_BackupInfo.xml`) are not read.
        if e.is_dir {
            let repo = scan_repository(target, &stamp, e.name, store)?;
            stamp.repositories.push(repo);
        }
    }
    stamp.repositories.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(stamp)
}

fn scan_repository(
    target: &dyn Store,
    stamp: &Stamp,
    name: String,
    store: &mut SnapshotStore,
) -> Result<Repository> {
    let path = join(&stamp.path, &name);
    let mut by_stem: BTreeMap<String, SnapshotFile> = BTreeMap::new();
    for e in target.list(&path)? {
        if let Some(why) = check_name(&e.name) {
            store.refused.push(Refused {
                stamp: Some(stamp.version.clone()),
                message: refused(&e.name, "file", &path, why),
            });
            continue;
        }
        if e.is_dir {
            continue;
        }
        let Some((stem, is_zip)) = split_extension(&e.name) else {
            continue;
        };
        let Some(parsed) = parse_snapshot_stem(stem) else {
            if is_zip {
                store.warnings.push(format!(
                    "{}: not an Azure Stack snapshot name (<yyyyMMddHHmm>_<backupId>_<Full|Progressive>[_C].zip); ignored",
                    join(&path, &e.name)
                ));
            }
            continue;
        };
        let entry = by_stem
            .entry(stem.to_string())
            .or_insert_with(|| SnapshotFile {
                stem: stem.to_string(),
                name: parsed,
                zip: None,
                xml: None,
                size: 0,
            });
        if is_zip {
            entry.zip = Some(e.name.clone());
            entry.size = e.size;
        } else {
            entry.xml = Some(e.name.clone());
        }
    }
    let mut snapshots: Vec<SnapshotFile> = by_stem.into_values().collect();
    snapshots.sort_by(|a, b| (a.name.time, &a.stem).cmp(&(b.name.time, &b.stem)));
    Ok(Repository {
        name,
        path,
        snapshots,
    })
}

/// (stem, true for `.zip` / false for `.xml`), ignoring the extension's case.
fn split_extension(name: &str) -> Option<(&str, bool)> {
    let (stem, ext) = name.rsplit_once('.')?;
    if ext.eq_ignore_ascii_case("zip") {
        Some((stem, true))
    } else if ext.eq_ignore_ascii_case("xml") {
        Some((stem, false))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::local::LocalStore;

    #[test]
    fn snapshot_names() {
        let n = parse_snapshot_stem("201901151200_2b1a7c3e-0f6d-4a55-9d0c-3f1e2a4b5c6d_Full_C")
            .unwrap();
        assert_eq!(n.backup_id, "2b1a7c3e-0f6d-4a55-9d0c-3f1e2a4b5c6d");
        assert_eq!(n.backup_type, BackupType::Full);
        assert!(n.contemporaneous);
        assert_eq!(n.time_rfc3339(), "2019-01-15T12:00:00Z");
        let n = parse_snapshot_stem("202301171931_abc_Progressive").unwrap();
        assert_eq!(n.backup_type, BackupType::Progressive);
        assert!(!n.contemporaneous);
        for bad in [
            "20190115120_abc_Full",
            "201913151200_abc_Full",
            "201901151200__Full",
            "201901151200_a.b_Full",
            "201901151200_abc_Incremental",
            "201901151200_abc_Full_X",
            "201901151200_abc_Full_C_C",
            "201901151200_abc",
            "x201901151200_abc_Full",
        ] {
            assert!(parse_snapshot_stem(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn names_from_the_share() {
        for ok in [
            "WAS;WasService;-;Microsoft.AzureStack.Subscriptions",
            "1.2102.0.9",
            "a..b",
        ] {
            assert_eq!(check_name(ok), None, "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a\\..\\b",
            "a\nb",
            "a\u{1b}[31m",
            "a\u{202e}piz.exe",
        ] {
            assert!(check_name(bad).is_some(), "{bad:?}");
        }
    }

    fn touch(root: &std::path::Path, rel: &str, data: &[u8]) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }

    #[test]
    fn scans_the_layout_at_any_depth() {
        let dir = tempfile::tempdir().unwrap();
        let stamp = "MASBackup/progressivebackup/1.2102.0.9";
        let repo = format!("{stamp}/SRP;SRP;-;-");
        touch(
            dir.path(),
            &format!("{repo}/201901151200_b1_Full_C.zip"),
            b"12345",
        );
        touch(
            dir.path(),
            &format!("{repo}/201901151200_b1_Full_C.xml"),
            b"",
        );
        touch(dir.path(), &format!("{repo}/201901160000_b2_Full.xml"), b"");
        touch(dir.path(), &format!("{repo}/notes.zip"), b"");
        touch(dir.path(), &format!("{repo}/bad\\name.zip"), b"");
        touch(
            dir.path(),
            &format!("{stamp}/201901151200_BackupInfo.xml"),
            b"",
        );
        let t = LocalStore::open(dir.path()).unwrap();
        let s = scan(&t).unwrap();
        assert_eq!(s.root, PROGRESSIVE_ROOT);
        assert_eq!(s.stamps.len(), 1);
        assert_eq!(s.stamps[0].version, "1.2102.0.9");
        let r = &s.stamps[0].repositories[0];
        assert_eq!(r.name, "SRP;SRP;-;-");
        assert_eq!(r.snapshots.len(), 2);
        assert_eq!(
            r.snapshots[0].zip.as_deref(),
            Some("201901151200_b1_Full_C.zip")
        );
        assert_eq!(r.snapshots[0].size, 5);
        assert_eq!(r.snapshots[1].zip, None);
        assert_eq!(r.snapshots[1].file_name(), "201901160000_b2_Full.zip");
        assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
        assert_eq!(s.refused.len(), 1, "{:?}", s.refused);
        assert!(s.refused[0].message.contains("path separator"));
        // The stamp folder itself, or MASBackup.
        for (sub, root, version) in [
            (stamp, "", ""),
            ("MASBackup", "progressivebackup", "1.2102.0.9"),
            ("MASBackup/progressivebackup", "", "1.2102.0.9"),
        ] {
            let t = LocalStore::open(&dir.path().join(sub)).unwrap();
            let s = scan(&t).unwrap();
            assert_eq!(s.root, root, "{sub}");
            assert_eq!(s.stamps[0].version, version, "{sub}");
            assert_eq!(s.stamps[0].repositories[0].snapshots.len(), 2, "{sub}");
        }
        let empty = tempfile::tempdir().unwrap();
        let t = LocalStore::open(empty.path()).unwrap();
        assert_eq!(scan(&t).unwrap(), SnapshotStore::default());
    }
}
