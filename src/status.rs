//! `status` (the Essentials blade, `Get-AzsBackupConfiguration`): the settings without secrets,
//! the certificate, the schedule, the last backup, the target's capacity and health warnings.

use crate::error::Result;
use crate::settings::{EncryptionMode, Loaded};
use crate::state::State;
use crate::store::{self, Capacity};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// The schema version of the `--json` documents.
pub const JSON_SCHEMA_VERSION: u32 = 1;

/// One health warning: a stable code and a sentence for people.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Health {
    pub code: &'static str,
    pub message: String,
}

/// A configured source.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceView {
    pub name: String,
    pub path: String,
}

/// The settings as shown (no secrets), field names as in the Azure Stack API.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingsView {
    pub path: String,
    pub user_name: String,
    pub backup_frequency_in_hours: u32,
    pub backup_retention_period_in_days: u32,
    /// `certificate` or `key` (backward-compatibility mode).
    pub encryption_mode: EncryptionMode,
    pub encryption_cert_thumbprint: Option<String>,
    pub encryption_cert_thumbprint_sha256: Option<String>,
    pub encryption_cert_subject: Option<String>,
    pub encryption_cert_expiry: Option<DateTime<Utc>>,
    pub encryption_key_id: Option<String>,
    /// Thumbprints of the recovery certificates new backups are also encrypted for.
    pub recovery_cert_thumbprints: Vec<String>,
    /// Each archive is read back after it is written and its SHA-256 compared.
    pub verify_after_write: bool,
    /// The notification URL, scheme and host only (its path may hold a ping key).
    pub notify_url: Option<String>,
    /// The Prometheus textfile written after every run.
    pub metrics_file: Option<String>,
    /// zstd level of new archives.
    pub compression_level: i32,
    pub sources: Vec<SourceView>,
    pub settings_file: String,
}

impl SettingsView {
    /// Builds the view of loaded settings.
    pub fn of(loaded: &Loaded) -> SettingsView {
        let s = &loaded.settings;
        let cert = s.certificate().ok().flatten();
        let key_id = match s.encryption_mode {
            EncryptionMode::Key => loaded
                .secrets
                .encryption_key
                .as_deref()
                .and_then(|k| crate::crypto::LegacyKey::parse(k).ok())
                .map(|k| k.key_id()),
            EncryptionMode::Certificate => None,
        };
        SettingsView {
            path: s.path.clone(),
            user_name: s.username.clone(),
            backup_frequency_in_hours: s.backup_frequency_in_hours,
            backup_retention_period_in_days: s.backup_retention_period_in_days,
            encryption_mode: s.encryption_mode.clone(),
            encryption_cert_thumbprint: cert.as_ref().map(|c| c.thumbprint.clone()),
            encryption_cert_thumbprint_sha256: cert.as_ref().map(|c| c.thumbprint_sha256.clone()),
            encryption_cert_subject: cert.as_ref().map(|c| c.subject.clone()),
            encryption_cert_expiry: cert.as_ref().map(|c| c.not_after),
            encryption_key_id: key_id,
            recovery_cert_thumbprints: s
                .recovery_certificates()
                .unwrap_or_default()
                .into_iter()
                .map(|c| c.thumbprint)
                .collect(),
            verify_after_write: s.verify_after_write,
            notify_url: s.notify_url.as_deref().map(crate::settings::redact_url),
            metrics_file: s.metrics_file.as_ref().map(|m| m.display().to_string()),
            compression_level: s.compression_level(),
            sources: s
                .sources
                .iter()
                .map(|x| SourceView {
                    name: x.name.clone(),
                    path: x.path.display().to_string(),
                })
                .collect(),
            settings_file: loaded.paths.settings.display().to_string(),
        }
    }
}

/// The whole `status` document.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    pub schema_version: u32,
    #[serde(flatten)]
    pub settings: SettingsView,
    pub is_backup_scheduler_enabled: bool,
    pub next_backup_time: Option<DateTime<Utc>>,
    pub last_backup_time: Option<DateTime<Utc>>,
    pub last_backup_status: Option<crate::manifest::Status>,
    pub last_backup_id: Option<String>,
    pub last_backup_error: Option<String>,
    pub last_successful_backup_time: Option<DateTime<Utc>>,
    pub last_skipped_time: Option<DateTime<Utc>>,
    /// Free bytes on the target (`null` when it cannot be reached or cannot tell).
    pub available_capacity: Option<u64>,
    pub total_capacity: Option<u64>,
    pub health: Vec<Health>,
}

/// Builds the status report; reaches the target for its capacity (unless `offline`).
pub fn status(loaded: &Loaded, now: DateTime<Utc>, offline: bool) -> Result<StatusReport> {
    let state = State::load(&loaded.paths.state)?;
    let settings = SettingsView::of(loaded);
    let mut health = Vec::new();
    let mut capacity: Option<Capacity> = None;
    if !offline {
        match loaded
            .settings
            .target()
            .and_then(|spec| Ok(store::open(&spec, Some(&loaded.credentials()))?))
            .and_then(|t| Ok(t.capacity()?))
        {
            Ok(c) => capacity = c,
            Err(e) => health.push(Health {
                code: "targetUnreachable",
                message: format!("the target cannot be used: {e}"),
            }),
        }
    }
    health.extend(assess(loaded, &state, capacity, now));
    Ok(StatusReport {
        schema_version: JSON_SCHEMA_VERSION,
        settings,
        is_backup_scheduler_enabled: state.is_backup_scheduler_enabled,
        next_backup_time: state.next_backup_time,
        last_backup_time: state.last_backup.as_ref().map(|b| b.time),
        last_backup_status: state.last_backup.as_ref().map(|b| b.status),
        last_backup_id: state
            .last_backup
            .as_ref()
            .map(|b| b.backup_id.clone())
            .filter(|s| !s.is_empty()),
        last_backup_error: state.last_backup.as_ref().and_then(|b| b.error.clone()),
        last_successful_backup_time: state.last_successful_backup.as_ref().map(|b| b.time),
        last_skipped_time: state.last_skipped_time,
        available_capacity: capacity.map(|c| c.available),
        total_capacity: capacity.map(|c| c.total),
        health,
    })
}

/// The health warnings that follow from settings, state and capacity.
pub fn assess(
    loaded: &Loaded,
    state: &State,
    capacity: Option<Capacity>,
    now: DateTime<Utc>,
) -> Vec<Health> {
    let mut out = Vec::new();
    capacity_health(state, capacity, &mut out);
    schedule_health(loaded, state, now, &mut out);
    settings_health(loaded, now, &mut out);
    out
}

/// `targetAlmostFull`.
fn capacity_health(state: &State, capacity: Option<Capacity>, out: &mut Vec<Health>) {
    if let Some(c) = capacity {
        let last = state
            .last_successful_backup
            .as_ref()
            .map(|b| b.size_in_bytes)
            .unwrap_or(0);
        // The next two backups should fit (the capacity check refuses a backup that does not).
        let next_two = last.saturating_mul(2);
        if c.total > 0 && (c.available.saturating_mul(10) < c.total || c.available < next_two) {
            out.push(Health {
                code: "targetAlmostFull",
                message: format!(
                    "the target is almost full: {} free of {}, less than 10 % or than the next two backups need (about {}: the last backup took {})",
                    human_bytes(c.available),
                    human_bytes(c.total),
                    human_bytes(next_two),
                    human_bytes(last)
                ),
            });
        }
    }
}

/// `automaticBackupsPaused`, `noRecentBackup`, `lastBackupFailed`, `lastScheduledRunSkipped`.
fn schedule_health(loaded: &Loaded, state: &State, now: DateTime<Utc>, out: &mut Vec<Health>) {
    if !state.is_backup_scheduler_enabled {
        out.push(Health {
            code: "automaticBackupsPaused",
            message: "automatic backups are off (`azs-backup enable-auto` turns them on)".into(),
        });
    }
    let freq = Duration::hours(loaded.settings.backup_frequency_in_hours as i64);
    let recent = state
        .last_successful_backup
        .as_ref()
        .map(|b| now - b.time <= freq * 2)
        .unwrap_or(false);
    if !recent {
        out.push(Health {
            code: "noRecentBackup",
            message: match &state.last_successful_backup {
                Some(b) => format!(
                    "no successful backup in the last {} hours (the last one was at {})",
                    loaded.settings.backup_frequency_in_hours * 2,
                    b.time.to_rfc3339()
                ),
                None => "no successful backup has been made yet".into(),
            },
        });
    }
    if let Some(b) = &state.last_backup {
        if b.status != crate::manifest::Status::Succeeded {
            out.push(Health {
                code: "lastBackupFailed",
                message: format!(
                    "the last backup ({}) ended {}: {}",
                    b.time.to_rfc3339(),
                    b.status,
                    b.error.as_deref().unwrap_or("see `azs-backup show`")
                ),
            });
        }
    }
    if let Some(skipped) = state.last_skipped_time {
        let after_last = state
            .last_backup
            .as_ref()
            .map(|b| skipped >= b.time)
            .unwrap_or(true);
        if after_last {
            out.push(Health {
                code: "lastScheduledRunSkipped",
                message: format!(
                    "the scheduled backup at {} was skipped because another backup was running",
                    skipped.to_rfc3339()
                ),
            });
        }
    }
}

/// `certificateExpired`, `certificateExpiring`, `settingsFromOlderVersion`.
fn settings_health(loaded: &Loaded, now: DateTime<Utc>, out: &mut Vec<Health>) {
    if let Ok(Some(cert)) = loaded.settings.certificate() {
        if let Some(w) = cert.expiry_warning(now) {
            out.push(Health {
                code: if cert.not_after <= now {
                    "certificateExpired"
                } else {
                    "certificateExpiring"
                },
                message: w,
            });
        }
    }
    if loaded.file_version < crate::settings::SETTINGS_VERSION {
        out.push(Health {
            code: "settingsFromOlderVersion",
            message: format!(
                "the settings file is version {} (backward-compatibility mode); the next `configure` migrates it",
                loaded.file_version
            ),
        });
    }
}

/// `1.5 GiB`-style sizes.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
