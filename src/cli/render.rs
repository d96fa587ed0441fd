//! Rendering shared by several commands: the settings block (`configure`, `status`), a backup
//! (`start-backup`, `list --json`, `show`) and times.

use azs_backup::manifest::Manifest;
use azs_backup::status::{human_bytes, SettingsView};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A time as RFC 3339, or `-`.
pub fn time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.to_rfc3339()).unwrap_or_else(|| "-".into())
}

/// The settings, one indented `name value` line each.
pub fn settings(v: &SettingsView) -> String {
    let mut s = String::new();
    let mut line = |k: &str, v: String| s.push_str(&format!("  {k:<30}{v}\n"));
    line("path", v.path.clone());
    line(
        "encryptionMode",
        if v.encryption_mode == azs_backup::settings::EncryptionMode::Key {
            "legacy encryption key (backward-compatibility mode)".into()
        } else {
            "certificate".into()
        },
    );
    line("userName", v.user_name.clone());
    line("password", "(stored, not shown)".into());
    line(
        "backupFrequencyInHours",
        v.backup_frequency_in_hours.to_string(),
    );
    line(
        "backupRetentionPeriodInDays",
        v.backup_retention_period_in_days.to_string(),
    );
    if let Some(t) = &v.encryption_cert_thumbprint {
        line("encryptionCertThumbprint", t.clone());
    }
    if let Some(t) = &v.encryption_cert_thumbprint_sha256 {
        line("  (SHA-256)", t.clone());
    }
    if let Some(t) = &v.encryption_cert_expiry {
        line("  expires", t.to_rfc3339());
    }
    if let Some(k) = &v.encryption_key_id {
        line(
            "encryption",
            format!("legacy key {k} (backward-compatibility mode)"),
        );
    }
    for t in &v.recovery_cert_thumbprints {
        line("recoveryCertThumbprint", t.clone());
    }
    line(
        "verifyAfterWrite",
        if v.verify_after_write {
            "true (each archive is read back and its SHA-256 compared)".into()
        } else {
            "false".into()
        },
    );
    if let Some(u) = &v.notify_url {
        line("notifyUrl", u.clone());
    }
    if let Some(m) = &v.metrics_file {
        line("metricsFile", m.clone());
    }
    line("compressionLevel", format!("zstd {}", v.compression_level));
    for src in &v.sources {
        line(&format!("source {}", src.name), src.path.clone());
    }
    s.trim_end().to_string()
}

/// A backup as shown by `list`, `show` and `start-backup` with `--json`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupView<'a> {
    #[serde(flatten)]
    manifest: &'a Manifest,
    backup_data_size_in_bytes: u64,
    plain_size_in_bytes: u64,
    /// Every recipient whose key opens the backup: the encryption certificate's thumbprint
    /// (or the legacy key id), then the recovery certificates' thumbprints.
    decryptable_by: Vec<String>,
}

impl<'a> BackupView<'a> {
    pub fn of(m: &'a Manifest) -> Self {
        BackupView {
            manifest: m,
            backup_data_size_in_bytes: m.encrypted_size(),
            plain_size_in_bytes: m.plain_size(),
            decryptable_by: m.recipient_ids(),
        }
    }
}

/// A backup as shown by `show` and `start-backup`.
pub fn backup(m: &Manifest) -> String {
    let mut s = format!(
        "backupId                  {}\nstatus                    {}\ncreatedDateTime           {}\ntimeTakenToCreate         {}\n",
        m.backup_id,
        m.status,
        m.created_date_time.to_rfc3339(),
        m.time_taken_to_create
    );
    match (&m.encryption_cert_thumbprint, &m.encryption_key_id) {
        (Some(t), _) => s.push_str(&format!("encryptionCertThumbprint  {t}\n")),
        (None, Some(k)) => s.push_str(&format!("encryptionKeyId           {k}\n")),
        _ => {}
    }
    for t in &m.recovery_cert_thumbprints {
        s.push_str(&format!("recoveryCertThumbprint    {t}\n"));
    }
    s.push_str(&format!(
        "size                      {} ({} before compression and encryption)\nhost                      {}\nroleStatus\n",
        human_bytes(m.encrypted_size()),
        human_bytes(m.plain_size()),
        m.host_name
    ));
    for r in &m.role_status {
        s.push_str(&format!(
            "  {:<20} {:<17} {:>6} files {:>10} -> {:>10}{}\n",
            r.role_name,
            r.status.to_string(),
            r.file_count,
            human_bytes(r.plain_size_in_bytes),
            human_bytes(r.encrypted_size_in_bytes),
            r.error_message
                .as_deref()
                .map(|e| format!("  ({e})"))
                .unwrap_or_default()
        ));
    }
    s.trim_end().to_string()
}
