//! Which snapshots a backup id needs (docs/AZURESTACK.md, "The chain rule").
//!
//! Each repository of the stamp that holds a snapshot of the backup contributes it. When that
//! snapshot is `Progressive`, the repository contributes its whole chain: the latest `Full`
//! snapshot before it, then every `Progressive` one after that Full, up to and including the
//! backup's own, oldest first. The chain is broken when there is no such Full, when a member
//! lacks its `.zip` or its sidecar, or when a backup that lies between the Full and the backup's
//! own snapshot has snapshots in other repositories of the stamp but none in this one (a gap).

use super::store::{BackupType, Repository, SnapshotFile, SnapshotStore, Stamp};
use crate::error::{Error, Result};
use chrono::NaiveDateTime;
use serde::Serialize;
use std::collections::BTreeMap;

/// One repository's part of a backup: its chain, oldest first; the last is the backup's own.
#[derive(Debug, Clone)]
pub struct RepositoryPlan<'s> {
    pub repository: &'s Repository,
    pub chain: Vec<&'s SnapshotFile>,
}

/// Every snapshot a backup needs.
#[derive(Debug, Clone)]
pub struct Plan<'s> {
    /// The id as the file names write it.
    pub backup_id: String,
    pub stamp: &'s Stamp,
    pub repositories: Vec<RepositoryPlan<'s>>,
    /// Repositories of the stamp without a snapshot of this backup.
    pub warnings: Vec<String>,
}

/// The span of time of each backup id's snapshots in a stamp, and how many repositories hold one.
struct Backups(BTreeMap<String, (NaiveDateTime, NaiveDateTime, usize)>);

impl Backups {
    fn of(stamp: &Stamp) -> Backups {
        let mut map: BTreeMap<String, (NaiveDateTime, NaiveDateTime, usize)> = BTreeMap::new();
        for repo in &stamp.repositories {
            let mut seen = std::collections::BTreeSet::new();
            for s in &repo.snapshots {
                let id = s.name.backup_id.to_ascii_lowercase();
                let t = s.name.time;
                let e = map.entry(id.clone()).or_insert((t, t, 0));
                e.0 = e.0.min(t);
                e.1 = e.1.max(t);
                if seen.insert(id) {
                    e.2 += 1;
                }
            }
        }
        Backups(map)
    }
}

/// The snapshots `repo` needs for backup `id`, oldest first; `Ok(None)` when it holds no
/// snapshot of that backup; `Err` says why the chain is broken.
fn resolve<'r>(
    repo: &'r Repository,
    id: &str,
    backups: &Backups,
) -> std::result::Result<Option<Vec<&'r SnapshotFile>>, String> {
    let own: Vec<&SnapshotFile> = repo.snapshots.iter().filter(|s| s.is_of(id)).collect();
    let target = match own.as_slice() {
        [] => return Ok(None),
        [one] => *one,
        [a, b, ..] => {
            return Err(format!(
                "it holds more than one snapshot of this backup ({} and {})",
                a.file_name(),
                b.file_name()
            ))
        }
    };
    let at = repo
        .snapshots
        .iter()
        .position(|s| s == target)
        .expect("listed");
    let start = match target.name.backup_type {
        BackupType::Full => at,
        BackupType::Progressive => repo.snapshots[..at]
            .iter()
            .rposition(|s| s.name.backup_type == BackupType::Full)
            .ok_or_else(|| {
                format!(
                    "no Full snapshot before {} (a progressive chain starts with a Full snapshot)",
                    target.file_name()
                )
            })?,
    };
    let chain: Vec<&SnapshotFile> = repo.snapshots[start..=at].iter().collect();
    for s in &chain {
        match (&s.zip, &s.xml) {
            (None, _) => {
                return Err(format!(
                    "{} is missing (only its sidecar is there)",
                    s.file_name()
                ))
            }
            (_, None) => {
                return Err(format!(
                    "{}.xml, the sidecar of {}, is missing",
                    s.stem,
                    s.file_name()
                ))
            }
            _ => {}
        }
    }
    if let Some(extra) = chain[1..]
        .iter()
        .find(|s| s.name.backup_type == BackupType::Full)
    {
        return Err(format!(
            "{} is a Full snapshot inside the chain",
            extra.file_name()
        ));
    }
    if chain.len() > 1 {
        check_gap(repo, &chain, backups)?;
    }
    Ok(Some(chain))
}

/// A backup taken between the chain's Full and its end, found in other repositories but not
/// in this one, is a gap in the chain.
fn check_gap(
    repo: &Repository,
    chain: &[&SnapshotFile],
    backups: &Backups,
) -> std::result::Result<(), String> {
    let (first, last) = (chain[0], chain[chain.len() - 1]);
    for (id, (from, to, repos)) in &backups.0 {
        let inside = *from > first.name.time && *to < last.name.time;
        if inside && !repo.snapshots.iter().any(|s| s.is_of(id)) {
            return Err(format!(
                "a gap: backup {id} ({}) has snapshots in {repos} other repositories but none here, between {} and {} (deleted, or that backup failed for this repository)",
                from.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                first.file_name(),
                last.file_name()
            ));
        }
    }
    Ok(())
}

fn broken(repo: &Repository, why: &str) -> Error {
    Error::BrokenChain(format!("in {}: {why}", repo.path))
}

/// The stamp whose repositories hold snapshots of `id`.
fn stamp_of<'s>(store: &'s SnapshotStore, id: &str) -> Result<&'s Stamp> {
    let stamps: Vec<&Stamp> = store
        .stamps
        .iter()
        .filter(|st| {
            st.repositories
                .iter()
                .any(|r| r.snapshots.iter().any(|s| s.is_of(id)))
        })
        .collect();
    match stamps.as_slice() {
        [one] => Ok(one),
        [] => {
            let known = list(store).len();
            let root = if store.stamps.is_empty() {
                "no Azure Stack backup store (MASBackup/progressivebackup/<stampVersion>/<repository>/) is there".to_string()
            } else {
                format!("{known} other backup(s) are there (see `unprotect --from PATH --list`)")
            };
            Err(Error::SnapshotsNotFound(format!(
                "no snapshot of backup {id} on the share: {root}"
            )))
        }
        [a, b, ..] => Err(Error::BrokenChain(format!(
            "backup {id} has snapshots under two stamp versions ({} and {}); give --from the folder of one of them",
            a.path, b.path
        ))),
    }
}

/// Every snapshot backup `id` needs (see the module documentation). Names the share holds that
/// cannot be used are refused first ([`Error::UnsafeEntry`]) when they are in the backup's
/// stamp or are stamp folders.
pub fn plan<'s>(store: &'s SnapshotStore, id: &str) -> Result<Plan<'s>> {
    if let Some(r) = store.refused.iter().find(|r| r.stamp.is_none()) {
        return Err(Error::UnsafeEntry(r.message.clone()));
    }
    let stamp = stamp_of(store, id)?;
    if let Some(r) = store
        .refused
        .iter()
        .find(|r| r.stamp.as_deref() == Some(stamp.version.as_str()))
    {
        return Err(Error::UnsafeEntry(r.message.clone()));
    }
    let backups = Backups::of(stamp);
    let mut plan = Plan {
        backup_id: String::new(),
        stamp,
        repositories: Vec::new(),
        warnings: Vec::new(),
    };
    for repo in &stamp.repositories {
        match resolve(repo, id, &backups).map_err(|why| broken(repo, &why))? {
            Some(chain) => {
                plan.backup_id = chain[chain.len() - 1].name.backup_id.clone();
                plan.repositories.push(RepositoryPlan {
                    repository: repo,
                    chain,
                });
            }
            None if !repo.snapshots.is_empty() => plan.warnings.push(format!(
                "repository {} has no snapshot of backup {id}",
                repo.name
            )),
            None => {}
        }
    }
    Ok(plan)
}

/// One repository's part of a backup, as `--list` shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RepositorySummary {
    pub repository: String,
    /// The backup's own snapshot.
    pub file: String,
    pub backup_type: BackupType,
    /// The files the backup needs from this repository, oldest first (just `file` for a Full).
    pub chain: Vec<String>,
    pub complete: bool,
    /// Why the chain is broken.
    pub problem: Option<String>,
}

/// A backup on the share, as `--list` shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupSummary {
    pub backup_id: String,
    /// The earliest of its snapshots' times (RFC 3339, from the file names).
    pub time: String,
    pub stamp_version: String,
    pub repositories: Vec<RepositorySummary>,
    /// Every repository's chain is complete.
    pub complete: bool,
}

/// Every backup of every stamp, newest first (by the earliest time of its snapshots).
pub fn list(store: &SnapshotStore) -> Vec<BackupSummary> {
    let mut out: Vec<(NaiveDateTime, BackupSummary)> = Vec::new();
    for stamp in &store.stamps {
        let backups = Backups::of(stamp);
        for (id, (from, _, _)) in &backups.0 {
            let mut summary = BackupSummary {
                backup_id: id.clone(),
                time: from
                    .and_utc()
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                stamp_version: stamp.version.clone(),
                repositories: Vec::new(),
                complete: true,
            };
            for repo in &stamp.repositories {
                if let Some(r) = summarise(repo, id, &backups, &mut summary.backup_id) {
                    summary.complete &= r.complete;
                    summary.repositories.push(r);
                }
            }
            out.push((*from, summary));
        }
    }
    out.sort_by(|a, b| (b.0, &b.1.backup_id).cmp(&(a.0, &a.1.backup_id)));
    out.into_iter().map(|(_, s)| s).collect()
}

fn summarise(
    repo: &Repository,
    id: &str,
    backups: &Backups,
    shown_id: &mut String,
) -> Option<RepositorySummary> {
    let own = repo.snapshots.iter().find(|s| s.is_of(id))?;
    own.name.backup_id.clone_into(shown_id);
    let (chain, problem) = match resolve(repo, id, backups) {
        Ok(chain) => (chain.unwrap_or_default(), None),
        Err(why) => (Vec::new(), Some(why)),
    };
    Some(RepositorySummary {
        repository: repo.name.clone(),
        file: own.file_name(),
        backup_type: own.name.backup_type,
        chain: chain.iter().map(|s| s.file_name()).collect(),
        complete: problem.is_none(),
        problem,
    })
}

#[cfg(test)]
mod tests {
    use super::super::store::parse_snapshot_stem;
    use super::*;

    fn snap(stem: &str, zip: bool, xml: bool) -> SnapshotFile {
        SnapshotFile {
            stem: stem.into(),
            name: parse_snapshot_stem(stem).unwrap(),
            zip: zip.then(|| format!("{stem}.zip")),
            xml: xml.then(|| format!("{stem}.xml")),
            size: 1,
        }
    }

    fn repo(name: &str, stems: &[&str]) -> Repository {
        Repository {
            name: name.into(),
            path: format!("s/{name}"),
            snapshots: stems.iter().map(|s| snap(s, true, true)).collect(),
        }
    }

    fn store(repos: Vec<Repository>) -> SnapshotStore {
        SnapshotStore {
            root: String::new(),
            stamps: vec![Stamp {
                version: "1.0".into(),
                path: "s".into(),
                repositories: repos,
            }],
            ..SnapshotStore::default()
        }
    }

    const WAS: [&str; 5] = [
        "201901010000_b0_Full_C",
        "201901020000_b1_Full_C",
        "201901030000_b2_Progressive_C",
        "201901040000_b3_Progressive",
        "201901050000_b4_Progressive_C",
    ];
    const CRP: [&str; 5] = [
        "201901010000_b0_Full_C",
        "201901020000_b1_Full_C",
        "201901030000_b2_Full_C",
        "201901040001_b3_Full",
        "201901050000_b4_Full_C",
    ];

    fn chain_of(s: &SnapshotStore, id: &str, repo: usize) -> Vec<String> {
        let p = plan(s, id).unwrap();
        p.repositories[repo]
            .chain
            .iter()
            .map(|s| s.stem.clone())
            .collect()
    }

    #[test]
    fn a_progressive_needs_the_latest_full_before_it_and_everything_between() {
        let s = store(vec![repo("CRP", &CRP), repo("WAS", &WAS)]);
        assert_eq!(chain_of(&s, "b3", 1), WAS[1..4]);
        assert_eq!(chain_of(&s, "B4", 1), WAS[1..5]);
        assert_eq!(chain_of(&s, "b4", 0), CRP[4..5]);
        assert_eq!(chain_of(&s, "b1", 1), WAS[1..2]);
        assert_eq!(plan(&s, "b4").unwrap().backup_id, "b4");
        let l = list(&s);
        assert_eq!(
            l.iter().map(|b| b.backup_id.as_str()).collect::<Vec<_>>(),
            ["b4", "b3", "b2", "b1", "b0"]
        );
        assert!(l.iter().all(|b| b.complete && b.repositories.len() == 2));
        assert!(matches!(plan(&s, "b9"), Err(Error::SnapshotsNotFound(_))));
    }

    #[test]
    fn broken_chains() {
        let broken_with =
            |was: Repository, id: &str| match plan(&store(vec![repo("CRP", &CRP), was]), id) {
                Err(Error::BrokenChain(m)) => m,
                other => panic!("{other:?}"),
            };
        // No Full before.
        let m = broken_with(repo("WAS", &WAS[2..]), "b3");
        assert!(
            m.contains("no Full snapshot before 201901040000_b3_Progressive.zip"),
            "{m}"
        );
        // A gap: b2 is in CRP but not in WAS.
        let m = broken_with(repo("WAS", &[WAS[1], WAS[3], WAS[4]]), "b4");
        assert!(m.contains("a gap: backup b2"), "{m}");
        // A deleted Full with an older Full still there: its backup is in CRP, so a gap.
        let m = broken_with(repo("WAS", &[WAS[0], WAS[2], WAS[3]]), "b3");
        assert!(m.contains("a gap: backup b1"), "{m}");
        // A member without its .zip or sidecar.
        let mut was = repo("WAS", &WAS);
        was.snapshots[1].zip = None;
        assert!(broken_with(was.clone(), "b3").contains("201901020000_b1_Full_C.zip is missing"));
        was.snapshots[1].zip = Some("x.zip".into());
        was.snapshots[2].xml = None;
        assert!(broken_with(was, "b3").contains("201901030000_b2_Progressive_C.xml, the sidecar"));
        // Two snapshots of one backup in one repository.
        let m = broken_with(repo("WAS", &[WAS[1], "201901020001_b1_Full"]), "b1");
        assert!(m.contains("more than one snapshot"), "{m}");
        // The list says so too, without failing.
        let l = list(&store(vec![repo("CRP", &CRP), repo("WAS", &WAS[2..])]));
        let b3 = l.iter().find(|b| b.backup_id == "b3").unwrap();
        assert!(!b3.complete);
        assert!(b3.repositories[1]
            .problem
            .as_deref()
            .unwrap()
            .contains("no Full"));
        assert!(l.iter().find(|b| b.backup_id == "b1").unwrap().complete);
    }

    #[test]
    fn refused_names_block_the_stamp_they_are_in() {
        let mut s = store(vec![repo("CRP", &CRP)]);
        s.refused.push(super::super::store::Refused {
            stamp: Some("other".into()),
            message: "m1".into(),
        });
        assert!(plan(&s, "b1").is_ok());
        s.refused.push(super::super::store::Refused {
            stamp: Some("1.0".into()),
            message: "m2".into(),
        });
        assert!(matches!(plan(&s, "b1"), Err(Error::UnsafeEntry(m)) if m == "m2"));
    }
}
