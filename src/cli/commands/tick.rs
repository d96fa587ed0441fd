//! `tick`: the built-in scheduler, for cron, systemd timers and the Windows Task Scheduler.
//! Makes a backup when one is due, then prunes.

use super::prune;
use super::Context;
use crate::cli::command_error::{verdict_after, CommandError};
use crate::cli::out::Out;
use crate::cli::progress::BackupProgress;
use crate::cli::render::time;
use crate::cli::shared::load;
use azs_backup::backup;
use azs_backup::schedule::{self, TickOutcome, TickReport};
use azs_backup::status::{human_bytes, JSON_SCHEMA_VERSION};
use azs_backup::Error;
use serde::Serialize;

pub fn run(ctx: &Context) -> Result<i32, CommandError> {
    let out = ctx.out;
    let loaded = load(&ctx.paths()?, out)?;
    let mut progress = BackupProgress::new(out, &loaded.settings.sources);
    let report = schedule::tick(&loaded, &mut progress);
    progress.finish();
    let mut report = report?;
    let prune_error = report.prune.as_mut().and_then(|p| p.first_error.take());
    let printed = print(&report, out);
    // A failed backup first, then a failed deletion.
    let verdict = match &report.backup {
        Some(m) => backup::outcome(m),
        None => Ok(()),
    }
    .and_then(|()| prune_error.map_or(Ok(()), |e| Err(Error::Store(e))));
    verdict_after(printed, verdict.map_err(CommandError::from))
}

fn print(report: &TickReport, out: &Out) -> Result<(), CommandError> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Doc<'a> {
        schema_version: u32,
        #[serde(flatten)]
        report: &'a TickReport,
    }
    out.json(&Doc {
        schema_version: JSON_SCHEMA_VERSION,
        report,
    })?;
    let next = time(report.next_backup_time);
    match report.reason {
        TickOutcome::AutomaticBackupsOff => out.step(format!(
            "automatic backups are off: nothing to do (`azs-backup enable-auto` turns them on; nextBackupTime {next})"
        )),
        TickOutcome::NotDue => out.step(format!("no backup is due: the next one is at {next}")),
        TickOutcome::Skipped => out.say(format!(
            "Skipped the scheduled backup of {}: another backup is running ({}). Next scheduled backup: {next}.",
            time(report.slot),
            report.running.as_deref().unwrap_or("?")
        ))?,
        TickOutcome::Ran => {}
    }
    if let Some(m) = &report.backup {
        out.say(format!(
            "Scheduled backup {} (slot {}): {}, {} in {}.",
            m.backup_id,
            time(report.slot),
            m.status,
            human_bytes(m.encrypted_size()),
            m.time_taken_to_create
        ))?;
        out.say(format!("Next scheduled backup: {next}."))?;
    }
    if let Some(p) = &report.prune {
        prune::print(p, out)?;
    }
    Ok(())
}
