//! State: what the tool records itself (SPEC §1), in `<settings>.state.json` beside the settings:
//! whether automatic backups are on, the next scheduled time, the last backup and its result,
//! the last skipped slot, and the history of certificate thumbprints / key ids.

use crate::error::{Error, Result};
use crate::settings::write_atomic;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::Path;

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
    pub status: String,
    pub trigger: Trigger,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Encrypted bytes written.
    #[serde(default)]
    pub size_in_bytes: u64,
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
    #[serde(default)]
    pub recipient_history: Vec<RecipientUse>,
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
            recipient_history: Vec::new(),
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

    /// Records that backups are now encrypted for `id` (no-op when it already is the current one).
    pub fn record_recipient(&mut self, id: &str, now: DateTime<Utc>) {
        if self.recipient_history.last().map(|r| r.id.as_str()) != Some(id) {
            self.recipient_history.push(RecipientUse {
                id: id.to_string(),
                since: now,
            });
        }
    }

    /// Records a finished backup.
    pub fn record_backup(&mut self, last: LastBackup) {
        if last.status == "Succeeded" {
            self.last_successful_backup = Some(last.clone());
        }
        self.last_backup = Some(last);
    }
}
