//! `list`: the backups on the target, newest first (Get-AzsBackup).

use super::Context;
use crate::cli::command_error::CommandError;
use crate::cli::exit;
use crate::cli::render::BackupView;
use crate::cli::shared::{reading_target, FromArgs};
use azs_backup::manifest::{self, Found, Manifest};
use azs_backup::status::{human_bytes, JSON_SCHEMA_VERSION};
use clap::Args;
use serde::Serialize;

#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub from: FromArgs,
    /// Also list folders of interrupted or failed runs
    #[arg(long)]
    pub all: bool,
    /// Show at most N backups (after --skip), newest first (Get-AzsBackup -Top)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub top: Option<u64>,
    /// Leave out the N newest backups (Get-AzsBackup -Skip)
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub skip: u64,
}

pub fn run(ctx: &Context, a: ListArgs) -> Result<i32, CommandError> {
    let out = ctx.out;
    let (t, _) = reading_target(ctx.config(), &a.from, out)?;
    let found = manifest::scan(t.as_ref())?;
    let backups: Vec<&Manifest> = found
        .iter()
        .filter_map(Found::backup)
        .skip(usize::try_from(a.skip).unwrap_or(usize::MAX))
        .take(
            a.top
                .map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX)),
        )
        .collect();
    let incomplete: Vec<(&str, &str, &str)> = found
        .iter()
        .filter_map(|f| match f {
            Found::Incomplete { name, reason } => {
                Some((name.as_str(), "incomplete", reason.as_str()))
            }
            Found::Invalid { name, reason } => Some((name.as_str(), "invalid", reason.as_str())),
            Found::Backup(_) => None,
        })
        .collect();
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Incomplete<'a> {
        name: &'a str,
        /// `incomplete` (no manifest) or `invalid` (a manifest that fails validation).
        state: &'a str,
        reason: &'a str,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Doc<'a> {
        schema_version: u32,
        backups: Vec<BackupView<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        incomplete: Option<Vec<Incomplete<'a>>>,
    }
    out.json(&Doc {
        schema_version: JSON_SCHEMA_VERSION,
        backups: backups.iter().map(|m| BackupView::of(m)).collect(),
        incomplete: a.all.then(|| {
            incomplete
                .iter()
                .map(|(name, state, reason)| Incomplete {
                    name,
                    state,
                    reason,
                })
                .collect()
        }),
    })?;
    if backups.is_empty() {
        out.say("No backups on the target.")?;
    } else {
        out.say(format!(
            "{:<36}  {:<16}  {:<25}  {:>10}  {}",
            "backupId", "status", "createdDateTime", "size", "encryptedFor"
        ))?;
        for m in &backups {
            out.say(format!(
                "{:<36}  {:<16}  {:<25}  {:>10}  {}",
                m.backup_id,
                m.status.to_string(),
                m.created_date_time
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                human_bytes(m.encrypted_size()),
                match m.recovery_cert_thumbprints.len() {
                    0 => m.recipient_id(),
                    n => format!("{} (+{n} recovery)", m.recipient_id()),
                }
            ))?;
        }
    }
    if a.all {
        for (name, state, reason) in &incomplete {
            let label = if *state == "invalid" {
                "Invalid"
            } else {
                "Incomplete"
            };
            out.say(format!("{name:<36}  {label:<16}  {reason}"))?;
        }
    } else if !incomplete.is_empty() {
        out.note(format!(
            "azs-backup: note: {} folder(s) of interrupted or failed runs or with an invalid manifest are not listed (see `list --all`)",
            incomplete.len()
        ));
    }
    Ok(exit::OK)
}
