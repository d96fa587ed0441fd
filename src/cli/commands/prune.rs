//! `prune`: delete old backups (Invoke-AzsPruneBackupLocationExternalStore). Its report is also
//! printed by `tick`.

use super::Context;
use crate::cli::command_error::{verdict_after, CommandError};
use crate::cli::out::Out;
use crate::cli::shared::{load, open_target};
use azs_backup::clock;
use azs_backup::lock::{self, Operation};
use azs_backup::retention::{self, PruneReport};
use azs_backup::status::JSON_SCHEMA_VERSION;
use azs_backup::Error;
use clap::Args;
use serde::Serialize;

/// `-OperationType` of Invoke-AzsPruneBackupLocationExternalStore.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PruneOperation {
    #[value(name = "Default", alias = "default")]
    Default,
    #[value(name = "DryRun", alias = "dryrun", alias = "dry-run")]
    DryRun,
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// List the paths that would be deleted; delete nothing (= --operation-type DryRun)
    #[arg(long)]
    pub dry_run: bool,
    /// Default deletes, DryRun only lists (as the cmdlet's -OperationType)
    #[arg(long, value_enum, value_name = "TYPE", conflicts_with = "dry_run")]
    pub operation_type: Option<PruneOperation>,
}

pub fn run(ctx: &Context, a: PruneArgs) -> Result<i32, CommandError> {
    let out = ctx.out;
    let paths = ctx.paths()?;
    let loaded = load(&paths, out)?;
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
    let printed = out
        .json(&Doc {
            schema_version: JSON_SCHEMA_VERSION,
            report: &report,
        })
        .and_then(|()| print(&report, out));
    let verdict = match report.first_error.take() {
        Some(e) => Err(Error::Store(e).into()),
        None => Ok(()),
    };
    verdict_after(printed, verdict)
}

/// What a prune deleted (or would delete), what it kept, and what it could not delete.
pub fn print(r: &PruneReport, out: &Out) -> Result<(), CommandError> {
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
        ))?;
    } else {
        out.say(format!(
            "{} {} path(s) (retention {} days):",
            if r.dry_run { "Would delete" } else { "Deleted" },
            items.len(),
            r.backup_retention_period_in_days
        ))?;
        for i in items {
            out.say(format!("  {}  ({})", i.path, i.reason))?;
        }
    }
    for n in &r.notes {
        out.say(format!("Note: {n}"))?;
    }
    out.say(format!(
        "{} backup(s) {} on the target.",
        r.kept_backups,
        if r.dry_run { "would stay" } else { "stay" }
    ))?;
    for f in &r.failed {
        out.note(format!(
            "azs-backup: warning: could not delete {}: {}",
            f.path, f.error
        ));
    }
    Ok(())
}
