//! `status`: settings, schedule, last backup, capacity and health (Get-AzsBackupConfiguration).

use super::Context;
use crate::cli::command_error::{verdict_after, CommandError};
use crate::cli::out::Out;
use crate::cli::render::{self, time};
use crate::cli::shared::load;
use azs_backup::clock;
use azs_backup::status::{self, human_bytes, StatusReport};
use clap::Args;

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Exit 11 when any health warning is present (for monitoring and smoke tests)
    #[arg(long)]
    pub check: bool,
    /// Do not contact the target (no capacity, no reachability check)
    #[arg(long)]
    pub offline: bool,
}

pub fn run(ctx: &Context, a: StatusArgs) -> Result<i32, CommandError> {
    let loaded = load(&ctx.paths()?, ctx.out)?;
    let now = clock::now()?;
    let report = status::status(&loaded, now, a.offline)?;
    let printed = print(&report, ctx.out);
    let verdict = if a.check && !report.health.is_empty() {
        Err(CommandError::Unhealthy(format!(
            "{} health warning(s): {}",
            report.health.len(),
            report
                .health
                .iter()
                .map(|h| h.code)
                .collect::<Vec<_>>()
                .join(", ")
        )))
    } else {
        Ok(())
    };
    verdict_after(printed, verdict)
}

fn print(report: &StatusReport, out: &Out) -> Result<(), CommandError> {
    out.json(report)?;
    out.say("Backup settings")?;
    out.say(render::settings(&report.settings))?;
    out.say(format!(
        "Automatic backups              {}",
        if report.is_backup_scheduler_enabled {
            "on"
        } else {
            "off"
        }
    ))?;
    out.say(format!(
        "  nextBackupTime               {}",
        time(report.next_backup_time)
    ))?;
    out.say(format!(
        "  lastBackupTime               {} {}",
        time(report.last_backup_time),
        report
            .last_backup_status
            .map(|s| s.to_string())
            .unwrap_or_default()
    ))?;
    out.say(format!(
        "  lastSuccessfulBackupTime     {}",
        time(report.last_successful_backup_time)
    ))?;
    if let Some(skipped) = report.last_skipped_time {
        out.say(format!(
            "  lastSkippedTime              {} (another backup was running)",
            skipped.to_rfc3339()
        ))?;
    }
    out.say(format!(
        "  availableCapacity            {}",
        match (report.available_capacity, report.total_capacity) {
            (Some(a), Some(t)) => format!("{} free of {}", human_bytes(a), human_bytes(t)),
            _ => "unknown".into(),
        }
    ))?;
    if report.health.is_empty() {
        out.say("Health                         OK")?;
    } else {
        out.say("Health")?;
        for h in &report.health {
            out.say(format!("  warning: {} ({})", h.message, h.code))?;
        }
    }
    Ok(())
}
