//! The scheduler and retention commands: `enable-auto`, `disable-auto`, `tick`, `prune`.

use super::args::{self, PruneOperation};
use super::exit;
use super::progress::BackupProgress;
use super::shared::{load, open_target};
use super::Out;
use anyhow::Result;
use azs_backup::backup;
use azs_backup::clock;
use azs_backup::lock::{self, Operation};
use azs_backup::retention::{self, PruneReport};
use azs_backup::schedule::{self, TickReport};
use azs_backup::settings::SettingsPaths;
use azs_backup::status::{human_bytes, JSON_SCHEMA_VERSION};
use azs_backup::Error;
use chrono::{DateTime, Utc};
use serde::Serialize;

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.to_rfc3339()).unwrap_or_else(|| "-".into())
}

/// `enable-auto` / `disable-auto`.
pub fn cmd_set_auto(paths: &SettingsPaths, enabled: bool, out: &Out) -> Result<i32> {
    let loaded = load(paths, out)?;
    let now = clock::now()?;
    let t = schedule::set_enabled(&loaded, enabled, now)?;
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Doc<'a> {
        schema_version: u32,
        #[serde(flatten)]
        toggle: &'a schedule::Toggle,
    }
    out.json(&Doc {
        schema_version: JSON_SCHEMA_VERSION,
        toggle: &t,
    })?;
    let next = time(t.next_backup_time);
    out.say(match (enabled, t.changed) {
        (true, true) => "Automatic backups are now on (they were off).".to_string(),
        (true, false) => "Automatic backups were already on; nothing changed.".to_string(),
        (false, true) => "Automatic backups are now off (they were on). Settings and schedule are kept; `azs-backup enable-auto` resumes them.".to_string(),
        (false, false) => "Automatic backups were already off; nothing changed.".to_string(),
    });
    if enabled {
        out.say(format!(
            "  nextBackupTime               {next}{}",
            if t.due {
                " (due: the next `azs-backup tick` makes the backup)"
            } else {
                ""
            }
        ));
    } else {
        out.say(format!(
            "  nextBackupTime               {next} (when the next one would have run)"
        ));
    }
    Ok(exit::OK)
}

/// `tick`: the scheduler, for cron, systemd timers and the Windows Task Scheduler.
pub fn cmd_tick(paths: &SettingsPaths, out: &Out) -> Result<i32> {
    let loaded = load(paths, out)?;
    let mut progress = BackupProgress::new(out, &loaded.settings.sources);
    let report = schedule::tick(&loaded, &mut progress);
    progress.finish();
    let report = report?;
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Doc<'a> {
        schema_version: u32,
        #[serde(flatten)]
        report: &'a TickReport,
    }
    out.json(&Doc {
        schema_version: JSON_SCHEMA_VERSION,
        report: &report,
    })?;
    let next = time(report.next_backup_time);
    match report.reason {
        "automaticBackupsOff" => out.step(format!(
            "automatic backups are off: nothing to do (`azs-backup enable-auto` turns them on; nextBackupTime {next})"
        )),
        "notDue" => out.step(format!("no backup is due: the next one is at {next}")),
        "skipped" => out.say(format!(
            "Skipped the scheduled backup of {}: another backup is running ({}). Next scheduled backup: {next}.",
            time(report.slot),
            report.running.as_deref().unwrap_or("?")
        )),
        _ => {}
    }
    if let Some(m) = &report.backup {
        out.say(format!(
            "Scheduled backup {} (slot {}): {}, {} in {}.",
            m.backup_id,
            time(report.slot),
            m.status,
            human_bytes(m.encrypted_size()),
            m.time_taken_to_create
        ));
        out.say(format!("Next scheduled backup: {next}."));
    }
    let mut prune_error = None;
    if let Some(mut p) = report.prune {
        render_prune(&p, out);
        prune_error = p.first_error.take();
    }
    if let Some(m) = &report.backup {
        backup::outcome(m)?;
    }
    if let Some(e) = prune_error {
        return Err(Error::Target(e).into());
    }
    Ok(exit::OK)
}

/// `prune` (Invoke-AzsPruneBackupLocationExternalStore).
pub fn cmd_prune(paths: &SettingsPaths, a: args::PruneArgs, out: &Out) -> Result<i32> {
    let loaded = load(paths, out)?;
    let now = clock::now()?;
    let dry_run = a.dry_run || a.operation_type == Some(PruneOperation::DryRun);
    let days = loaded.settings.backup_retention_period_in_days;
    let t = open_target(&loaded, out)?;
    let mut report = if dry_run {
        // No lock: nothing is deleted. A running backup's folder is left out of the list.
        let running = lock::peek(t.as_ref(), now)?.and_then(|i| i.backup_id);
        retention::prune(t.as_ref(), now, days, true, running.as_deref())?
    } else {
        let mut warn = |w: &str| out.note(format!("azs-backup: warning: {w}"));
        let held = lock::acquire(&paths.lock, t.as_ref(), Operation::Prune, now, &mut warn)?;
        let r = retention::prune(t.as_ref(), now, days, false, None);
        if let Err(e) = held.release() {
            out.note(format!("azs-backup: warning: releasing the lock: {e}"));
        }
        r?
    };
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Doc<'a> {
        schema_version: u32,
        #[serde(flatten)]
        report: &'a PruneReport,
    }
    out.json(&Doc {
        schema_version: JSON_SCHEMA_VERSION,
        report: &report,
    })?;
    render_prune(&report, out);
    if let Some(e) = report.first_error.take() {
        return Err(Error::Target(e).into());
    }
    Ok(exit::OK)
}

fn render_prune(r: &PruneReport, out: &Out) {
    let items = if r.dry_run {
        &r.would_delete
    } else {
        &r.deleted
    };
    if items.is_empty() {
        out.say(format!(
            "Nothing to prune (retention {} days: backups created before {} are past it).",
            r.backup_retention_period_in_days,
            r.cutoff.to_rfc3339()
        ));
    } else {
        out.say(format!(
            "{} {} path(s) (retention {} days):",
            if r.dry_run { "Would delete" } else { "Deleted" },
            items.len(),
            r.backup_retention_period_in_days
        ));
        for i in items {
            out.say(format!("  {}  ({})", i.path, i.reason));
        }
    }
    for n in &r.notes {
        out.say(format!("Note: {n}"));
    }
    out.say(format!(
        "{} backup(s) {} on the target.",
        r.kept_backups,
        if r.dry_run { "would stay" } else { "stay" }
    ));
    for f in &r.failed {
        out.note(format!(
            "azs-backup: warning: could not delete {}: {}",
            f.path, f.error
        ));
    }
}
