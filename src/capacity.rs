//! The capacity check before a backup (docs/SCHEDULING.md, "Capacity check"): the next
//! backup's expected size against the target's free space, and what prune could free.
//! `start-backup` and the scheduler run it while they hold the run lock, before the first byte.

use crate::error::{Error, Result};
use crate::manifest::{self, Manifest, Status};
use crate::observer::Observer;
use crate::settings::Source;
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use std::io;

/// Bytes of regular files under `dir` (not following symlinks), for progress estimates.
pub fn measure(dir: &std::path::Path) -> Option<u64> {
    fn walk(dir: &std::path::Path, total: &mut u64) -> io::Result<()> {
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            let ft = e.file_type()?;
            if ft.is_dir() {
                walk(&e.path(), total)?;
            } else if ft.is_file() {
                *total += e.metadata()?.len();
            }
        }
        Ok(())
    }
    let mut total = 0;
    walk(dir, &mut total).ok().map(|_| total)
}

/// Whether the next backup fits on the target (section "Capacity check" of docs/SCHEDULING.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Room {
    /// The target cannot tell its free space: no check.
    Unknown,
    /// The estimate fits in the free space.
    Fits { estimate: u64, available: u64 },
    /// It fits only once prune has removed what the retention allows (`reclaimable` bytes).
    AfterPrune {
        estimate: u64,
        available: u64,
        reclaimable: u64,
    },
}

/// The expected size of the next backup: per configured source, the encrypted size it had in
/// the last backup this machine made of it on any target (`remembered`, from the state), else
/// in the newest backup on the target where it succeeded (`on_target`, called at most once:
/// on a remote share each manifest read costs round trips, and the state usually knows every
/// source), else its plain size (a walk of the directory, which with many files costs about
/// as much as reading them).
pub fn estimate_size(
    sources: &[Source],
    remembered: &std::collections::BTreeMap<String, u64>,
    on_target: &mut dyn FnMut() -> Vec<Manifest>,
) -> u64 {
    let mut backups: Option<Vec<Manifest>> = None;
    sources
        .iter()
        .map(|s| {
            remembered_size(remembered, s)
                .or_else(|| {
                    backups
                        .get_or_insert_with(&mut *on_target)
                        .iter()
                        .flat_map(|m| m.role_status.iter())
                        .find(|r| {
                            r.status == Status::Succeeded
                                && r.role_name.eq_ignore_ascii_case(&s.name)
                        })
                        .map(|r| r.encrypted_size_in_bytes)
                })
                .or_else(|| measure(&s.path))
                .unwrap_or(0)
        })
        .fold(0u64, u64::saturating_add)
}

/// The size of the next backup as this machine remembers it (the state's `sourceSizes`, with
/// no walk and no request), `u64::MAX` when a source is new to it: a hint for the target
/// ([`Store::expect_upload`]).
pub fn expected_upload(loaded: &crate::settings::Loaded) -> u64 {
    let remembered = remembered_sizes(loaded);
    loaded
        .settings
        .sources
        .iter()
        .map(|s| remembered_size(&remembered, s))
        .try_fold(0u64, |sum, size| size.map(|n| sum.saturating_add(n)))
        .unwrap_or(u64::MAX)
}

/// The encrypted size of each source in the last backup this machine made of it (the
/// state's `sourceSizes`, by lower-case source name). A state that cannot be read gives none
/// (the run reports it when it records its result).
fn remembered_sizes(loaded: &crate::settings::Loaded) -> std::collections::BTreeMap<String, u64> {
    crate::state::State::load(&loaded.paths.state)
        .map(|st| st.source_sizes)
        .unwrap_or_default()
}

/// What `remembered` ([`remembered_sizes`]) says of `source`.
fn remembered_size(
    remembered: &std::collections::BTreeMap<String, u64>,
    source: &Source,
) -> Option<u64> {
    remembered.get(&source.name.to_lowercase()).copied()
}

/// Before the first byte of a backup is written: estimates its size ([`estimate_size`]) and
/// compares it with the target's free space. `Err(Store(Full))` (exit 4), naming the estimate
/// and the free space, when it does not fit even after prune removed what the retention allows.
pub fn check_room(
    loaded: &crate::settings::Loaded,
    target: &dyn Store,
    now: DateTime<Utc>,
) -> Result<Room> {
    let Some(cap) = target.capacity()? else {
        return Ok(Room::Unknown);
    };
    // A state that cannot be read only costs the walk here.
    let remembered = remembered_sizes(loaded);
    let mut failed = None;
    let mut on_target = || {
        manifest::list(target).unwrap_or_else(|e| {
            failed = Some(e);
            Vec::new()
        })
    };
    let estimate = estimate_size(&loaded.settings.sources, &remembered, &mut on_target);
    if let Some(e) = failed {
        return Err(e);
    }
    let available = cap.available;
    if estimate <= available {
        return Ok(Room::Fits {
            estimate,
            available,
        });
    }
    let days = loaded.settings.backup_retention_period_in_days;
    let found = manifest::scan(target)?;
    let plan = crate::retention::plan_scanned(target, &found, now, days, None)?;
    let backups: Vec<&Manifest> = found.iter().filter_map(manifest::Found::backup).collect();
    let reclaimable = plan
        .items
        .iter()
        .filter_map(|i| i.backup_id.as_deref())
        .filter_map(|id| backups.iter().copied().find(|m| m.backup_id == id))
        .map(Manifest::encrypted_size)
        .fold(0u64, u64::saturating_add);
    if estimate <= available.saturating_add(reclaimable) {
        return Ok(Room::AfterPrune {
            estimate,
            available,
            reclaimable,
        });
    }
    use crate::status::human_bytes as h;
    Err(Error::Store(StoreError::Full {
        target: target.display(),
        detail: format!(
            " (capacity check: the backup needs about {} ({estimate} bytes), {} ({available} bytes) is free and prune could free {} more; nothing was written)",
            h(estimate),
            h(available),
            h(reclaimable)
        ),
    }))
}

/// The capacity check of a run that holds the run lock: a backup that does not fit fails here
/// (recorded in the state as a failed run); one that fits only after a prune fails too when
/// started on demand (`start-backup` deletes nothing unasked: the message says to prune
/// first), while `tick`, which prunes anyway, prunes first and goes on.
pub fn ensure_room(
    loaded: &crate::settings::Loaded,
    target: &dyn Store,
    trigger: crate::state::Trigger,
    now: DateTime<Utc>,
    observer: &mut dyn Observer,
) -> Result<()> {
    let result = check_room(loaded, target, now).and_then(|room| {
        let Some(msg) = after_prune_message(&room) else {
            return Ok(());
        };
        if trigger == crate::state::Trigger::OnDemand {
            return Err(Error::Store(StoreError::Full {
                target: target.display(),
                detail: format!(
                    " (capacity check: {msg}: run `azs-backup prune` first, then start the backup again; nothing was written)"
                ),
            }));
        }
        observer.warning(&format!("{msg}: pruning before the backup"));
        crate::retention::prune(
            target,
            now,
            loaded.settings.backup_retention_period_in_days,
            false,
            None,
        )?;
        Ok(())
    });
    if let Err(e) = &result {
        crate::state::State::update(&loaded.paths.state, |state| {
            state.record_backup(crate::state::LastBackup::failed(trigger, now, e));
            Ok(())
        })?;
    }
    result
}

/// The message for a backup that fits only after a prune.
pub fn after_prune_message(room: &Room) -> Option<String> {
    use crate::status::human_bytes as h;
    match room {
        Room::AfterPrune {
            estimate,
            available,
            reclaimable,
        } => Some(format!(
            "the backup needs about {} and {} is free; pruning first frees about {} (what the retention period allows)",
            h(*estimate),
            h(*available),
            h(*reclaimable)
        )),
        _ => None,
    }
}
