//! `configure`: create or change the settings (Set-AzsBackupConfiguration).

use super::Context;
use crate::cli::command_error::CommandError;
use crate::cli::exit;
use crate::cli::input;
use crate::cli::render;
use azs_backup::clock;
use azs_backup::configure::{self, ConfigureRequest};
use azs_backup::settings;
use azs_backup::status::{SettingsView, JSON_SCHEMA_VERSION};
use clap::Args;
use serde::Serialize;
use std::path::PathBuf;
use zeroize::Zeroizing;

#[derive(Args, Debug, Default)]
pub struct ConfigureArgs {
    /// Backup location: \\host\share\folder, smb://host:port/share/folder, or a local directory
    #[arg(long, value_name = "PATH")]
    pub path: Option<String>,
    /// Share user: DOMAIN\user or user
    #[arg(long, value_name = "USER")]
    pub username: Option<String>,
    /// Read the share password from the first line of stdin
    #[arg(long)]
    pub password_stdin: bool,
    /// Public-only certificate (.cer, DER or PEM) that backups are encrypted for
    #[arg(long, visible_alias = "cert", value_name = "FILE")]
    pub encryption_cert_path: Option<PathBuf>,
    /// Recovery certificate (public-only .cer, DER or PEM): backups are also encrypted for it, so
    /// its private key restores them too (repeatable; kept until removed)
    #[arg(long, value_name = "FILE")]
    pub recovery_cert_path: Vec<PathBuf>,
    /// Stop encrypting new backups for this recovery certificate (repeatable; backups already
    /// made still open with it)
    #[arg(long, value_name = "THUMBPRINT")]
    pub remove_recovery_cert: Vec<String>,
    /// Legacy encryption key (backward-compatibility mode only; prefer --encryption-key-stdin)
    #[arg(long, value_name = "BASE64", conflicts_with = "encryption_key_stdin")]
    pub encryption_key: Option<String>,
    /// Read the legacy encryption key from stdin
    #[arg(long, conflicts_with = "password_stdin")]
    pub encryption_key_stdin: bool,
    /// Hours between automatic backups (4..=12, default 12)
    #[arg(long, visible_alias = "frequency", value_name = "HOURS")]
    pub backup_frequency_in_hours: Option<u32>,
    /// Days backups are kept (2..=14, default 7)
    #[arg(long, visible_alias = "retention", value_name = "DAYS")]
    pub backup_retention_period_in_days: Option<u32>,
    /// A source to back up, NAME=DIR (repeatable; adds it or changes its directory)
    #[arg(long, value_name = "NAME=DIR")]
    pub source: Vec<String>,
    /// Remove a source by name (repeatable)
    #[arg(long, value_name = "NAME")]
    pub remove_source: Vec<String>,
    /// Do not prove the target reachable and writable
    #[arg(long)]
    pub no_verify: bool,
    /// After each archive is written, read it back from the target and compare its SHA-256
    /// (catches shares that truncate or corrupt silently; costs one extra read of every archive).
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set)]
    pub verify_after_write: Option<bool>,
    /// Turn automatic backups on or off, as enable-auto / disable-auto
    /// (Set-AzsBackupConfiguration -IsBackupSchedulerEnabled)
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set)]
    pub is_backup_scheduler_enabled: Option<bool>,
    /// Ping this URL when a backup starts (URL/start), succeeds (URL) or fails (URL/fail), as
    /// healthchecks.io and compatible monitors expect; '' removes it. Only scheme and host are
    /// ever shown (the path may hold a ping key).
    #[arg(long, value_name = "URL")]
    pub notify_url: Option<String>,
    /// After every run, write Prometheus metrics to this file (for node_exporter's textfile
    /// collector), atomically; '' removes it
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<String>,
    /// zstd level of new archives (1..=19, default 1; higher: smaller and slower)
    #[arg(long, value_name = "LEVEL", allow_negative_numbers = true)]
    pub compression_level: Option<i32>,
    /// Confirm changes that delete backups (reducing retention) without asking
    #[arg(long, short = 'y')]
    pub yes: bool,
}

pub fn run(ctx: &Context, a: ConfigureArgs) -> Result<i32, CommandError> {
    let out = ctx.out;
    let paths = ctx.paths()?;
    let first_time = !paths.settings.exists();
    let encryption_key = if a.encryption_key_stdin {
        Some(input::stdin_line("encryption key")?)
    } else {
        a.encryption_key.clone().map(Zeroizing::new)
    };
    let password = input::share_password(a.password_stdin, first_time)?;
    let sources = a
        .source
        .iter()
        .map(|s| settings::parse_source_arg(s))
        .collect::<Result<Vec<_>, _>>()?;
    let req = ConfigureRequest {
        path: a.path.clone(),
        username: a.username.clone(),
        password,
        encryption_cert_path: a.encryption_cert_path.clone(),
        encryption_key,
        frequency_hours: a.backup_frequency_in_hours,
        retention_days: a.backup_retention_period_in_days,
        sources,
        remove_sources: a.remove_source.clone(),
        verify_target: !a.no_verify,
        verify_after_write: a.verify_after_write,
        scheduler_enabled: a.is_backup_scheduler_enabled,
        notify_url: a.notify_url.clone(),
        metrics_file: a.metrics_file.clone().map(PathBuf::from),
        compression_level: a.compression_level,
        recovery_cert_paths: a.recovery_cert_path.clone(),
        remove_recovery_certs: a.remove_recovery_cert.clone(),
    };
    let yes = a.yes;
    let mut confirm = |msg: &str| -> bool {
        yes || (input::can_prompt() && input::confirm(&format!("{msg}.\nContinue?")))
    };
    let now = clock::now()?;
    let outcome = configure::configure(&paths, req, now, &mut confirm)?;
    let view = SettingsView::of(&outcome.loaded);
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Doc<'a> {
        schema_version: u32,
        first_time: bool,
        changed: &'a [&'static str],
        #[serde(flatten)]
        settings: &'a SettingsView,
        is_backup_scheduler_enabled: bool,
        next_backup_time: Option<chrono::DateTime<chrono::Utc>>,
        notes: &'a [String],
    }
    out.json(&Doc {
        schema_version: JSON_SCHEMA_VERSION,
        first_time: outcome.first_time,
        changed: &outcome.changed,
        settings: &view,
        is_backup_scheduler_enabled: outcome.state.is_backup_scheduler_enabled,
        next_backup_time: outcome.state.next_backup_time,
        notes: &outcome.notes,
    })?;
    for n in &outcome.notes {
        out.note(format!("azs-backup: note: {n}"));
    }
    if outcome.first_time {
        out.say(format!(
            "Configured {}; automatic backups are {}.",
            paths.settings.display(),
            if outcome.state.is_backup_scheduler_enabled {
                "on"
            } else {
                "off"
            }
        ))?;
    } else if outcome.changed.is_empty() {
        out.say("Nothing changed.")?;
    } else {
        out.say(format!("Changed: {}.", outcome.changed.join(", ")))?;
    }
    out.say(render::settings(&view))?;
    if let Some(next) = outcome.state.next_backup_time {
        out.say(format!(
            "  nextBackupTime                {}",
            next.to_rfc3339()
        ))?;
    }
    if !a.no_verify {
        out.say("  target                        reachable and writable (probe file written, read back and deleted)")?;
    }
    Ok(exit::OK)
}
