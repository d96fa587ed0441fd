//! State: what the tool records itself (docs/SETTINGS.md), in `<settings>.state.json` beside the settings:
//! whether automatic backups are on, the next scheduled time, the last backup and its result,
//! the last skipped slot, and the history of certificate thumbprints / key ids.

use crate::error::{Error, Result};
use crate::private_file::write_atomic;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The current state schema version.
pub const STATE_VERSION: u32 = 1;

/// How a backup was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Trigger {
    OnDemand,
    Scheduled,
}

/// The last backup run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastBackup {
    pub backup_id: String,
    pub time: DateTime<Utc>,
    /// `Succeeded`, `PartialSucceeded` or `Failed`.
    pub status: crate::manifest::Status,
    pub trigger: Trigger,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Encrypted bytes written.
    #[serde(default)]
    pub size_in_bytes: u64,
}

impl LastBackup {
    /// A run that failed before it produced a backup (e.g. the target could not be reached).
    pub fn failed(trigger: Trigger, time: DateTime<Utc>, error: &dyn std::fmt::Display) -> Self {
        LastBackup {
            backup_id: String::new(),
            time,
            status: crate::manifest::Status::Failed,
            trigger,
            error: Some(error.to_string()),
            size_in_bytes: 0,
        }
    }
}

/// One encryption recipient (certificate thumbprint or key id) and since when it was used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecipientUse {
    pub id: String,
    pub since: DateTime<Utc>,
}

/// The state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub version: u32,
    pub is_backup_scheduler_enabled: bool,
    #[serde(default)]
    pub next_backup_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_backup: Option<LastBackup>,
    #[serde(default)]
    pub last_successful_backup: Option<LastBackup>,
    /// The last scheduled slot that was skipped because another backup was running.
    #[serde(default)]
    pub last_skipped_time: Option<DateTime<Utc>>,
    /// When `tick` tries again a scheduled backup that failed for a reason that may pass (the
    /// target was unreachable or timed out); always before `nextBackupTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub recipient_history: Vec<RecipientUse>,
    /// Encrypted bytes of each source's archive (by lowercased name) in the last backup where
    /// that source succeeded, whatever the target: the capacity check's estimate when the
    /// target holds no backup of the source (docs/SCHEDULING.md, "Capacity check").
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub source_sizes: std::collections::BTreeMap<String, u64>,
}

impl Default for State {
    fn default() -> Self {
        State {
            version: STATE_VERSION,
            is_backup_scheduler_enabled: false,
            next_backup_time: None,
            last_backup: None,
            last_successful_backup: None,
            last_skipped_time: None,
            retry_at: None,
            recipient_history: Vec::new(),
            source_sizes: Default::default(),
        }
    }
}

impl State {
    /// Loads the state; a missing file gives the default (automatic backups off).
    pub fn load(path: &Path) -> Result<State> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::BadSettingsFile {
                path: path.to_path_buf(),
                message: format!("state file is not valid: {e}"),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
        }
    }

    /// Saves the state atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut text = serde_json::to_string_pretty(self).expect("state serialises");
        text.push('\n');
        write_atomic(path, text.as_bytes())
    }

    /// Loads the state, lets `f` change it and saves it (only when it changed), all while
    /// holding the state lock ([`lock`]), so that concurrent processes lose no update.
    pub fn update<T>(path: &Path, f: impl FnOnce(&mut State) -> Result<T>) -> Result<T> {
        let _lock = lock(path)?;
        let before = State::load(path)?;
        let mut state = before.clone();
        let out = f(&mut state)?;
        if state != before {
            state.save(path)?;
        }
        Ok(out)
    }

    /// Records that backups are now encrypted for `id` (no-op when it already is the current one).
    pub fn record_recipient(&mut self, id: &str, now: DateTime<Utc>) {
        if self.recipient_history.last().map(|r| r.id.as_str()) != Some(id) {
            self.recipient_history.push(RecipientUse {
                id: id.to_string(),
                since: now,
            });
        }
    }

    /// Records the archive sizes of the sources that succeeded in `m`.
    pub fn record_source_sizes(&mut self, m: &crate::manifest::Manifest) {
        for r in &m.role_status {
            if r.status == crate::manifest::Status::Succeeded {
                self.source_sizes
                    .insert(r.role_name.to_lowercase(), r.encrypted_size_in_bytes);
            }
        }
    }

    /// Records a finished backup.
    pub fn record_backup(&mut self, last: LastBackup) {
        if last.status == crate::manifest::Status::Succeeded {
            self.last_successful_backup = Some(last.clone());
        }
        self.last_backup = Some(last);
    }
}

/// The file locked while the state is read, changed and written: `X.state.json.lock`.
/// (Not the state file itself: saving replaces that file by a rename.) It is separate from
/// the run lock ((the `lock` module)), which is held for a whole backup, so that `disable-auto`
/// or a skipped `tick` need not wait for a running backup.
pub fn lock_path(state: &Path) -> PathBuf {
    let mut name = state.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// An exclusive lock on the state, released when dropped.
#[derive(Debug)]
pub struct StateLock {
    _file: std::fs::File,
}

/// Takes the state lock, waiting for another process that holds it (a holder only reads,
/// changes and writes the state, or starts a scheduled run). Creates the directory (mode 0700)
/// when it is missing.
pub fn lock(state: &Path) -> Result<StateLock> {
    use fs4::fs_std::FileExt;
    let path = lock_path(state);
    let ctx = || format!("locking {}", path.display());
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            crate::private_file::create_private_dir(dir)?;
        }
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let file = opts.open(&path).map_err(|e| Error::io(ctx(), e))?;
    FileExt::lock_exclusive(&file).map_err(|e| Error::io(ctx(), e))?;
    Ok(StateLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_updates_are_not_lost() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.state.json");
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let path = path.clone();
                std::thread::spawn(move || {
                    for j in 0..10 {
                        State::update(&path, |s| {
                            s.record_recipient(&format!("r{i}-{j}"), Utc::now());
                            Ok(())
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(State::load(&path).unwrap().recipient_history.len(), 80);
    }
}
