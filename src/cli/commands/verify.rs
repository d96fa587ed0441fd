//! `verify`: check a backup, its files and checksums, and with the key every chunk (the backup
//! validation tool).

use super::Context;
use crate::cli::command_error::{verdict_after, CommandError};
use crate::cli::input::{self, KeyArgs};
use crate::cli::out::Out;
use crate::cli::progress::SourcesBar;
use crate::cli::shared::{reading_target, FromArgs};
use azs_backup::manifest;
use azs_backup::verify::{self, VerifyReport};
use azs_backup::Error;
use clap::Args;

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// Backup id
    pub id: String,
    #[command(flatten)]
    pub key: KeyArgs,
    #[command(flatten)]
    pub from: FromArgs,
}

pub fn run(ctx: &Context, a: VerifyArgs) -> Result<i32, CommandError> {
    let out = ctx.out;
    let (t, loaded) = reading_target(ctx.config(), &a.from, out)?;
    let identity = input::identity_for(&a.key, loaded.as_ref(), t.as_ref(), &a.id)?;
    let m = manifest::read(t.as_ref(), &a.id)?;
    let mut bar = SourcesBar::new(out, m.encrypted_size(), "verifying");
    let report = verify::verify(t.as_ref(), &a.id, identity.as_ref(), &mut |role, n| {
        bar.update(role, n)
    });
    bar.finish();
    let report = report.map_err(|e| input::explain_wrong_key(e, &m, identity.as_ref()))?;
    let verdict = if report.ok {
        Ok(())
    } else {
        let failed: Vec<String> = report
            .sources
            .iter()
            .filter(|s| !s.ok)
            .map(|s| s.message.clone())
            .collect();
        Err(Error::VerificationFailed(format!(
            "backup {}: {}",
            report.backup_id,
            failed.join("; ")
        ))
        .into())
    };
    verdict_after(print(&report, out), verdict)
}

fn print(report: &VerifyReport, out: &Out) -> Result<(), CommandError> {
    out.json(report)?;
    for s in &report.sources {
        out.say(format!(
            "{} {:<20} {}",
            if s.ok { "ok  " } else { "FAIL" },
            s.role_name,
            s.message
        ))?;
    }
    if let Some(o) = &report.opened_with {
        out.say(format!(
            "Opened backup {} with {}.",
            report.backup_id,
            o.describe()
        ))?;
    }
    if !report.ok {
        return Ok(());
    }
    out.say(if report.with_key {
        format!(
            "Backup {} verified: every file matches the manifest and every chunk decrypts and authenticates.",
            report.backup_id
        )
    } else {
        format!(
            "Backup {} verified without a key: every file is present and matches the manifest's checksums (pass --key to decrypt and authenticate every chunk).",
            report.backup_id
        )
    })
}
