//! `restore`: decrypt and extract a backup into a directory (Restore-AzsBackup).

use super::Context;
use crate::cli::command_error::CommandError;
use crate::cli::exit;
use crate::cli::input::{self, KeyArgs};
use crate::cli::progress::SourcesBar;
use crate::cli::shared::{reading_target, FromArgs};
use azs_backup::manifest;
use azs_backup::restore::{self, RestoreRequest};
use azs_backup::status::{human_bytes, JSON_SCHEMA_VERSION};
use azs_backup::verify::OpenedWith;
use clap::Args;
use serde::Serialize;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// Backup id
    pub id: String,
    #[command(flatten)]
    pub key: KeyArgs,
    /// Directory to restore into (created if missing; must be empty unless --force)
    #[arg(long, visible_alias = "destination", value_name = "DIR")]
    pub to: PathBuf,
    /// Restore only this source
    #[arg(long, visible_alias = "role-name", value_name = "NAME")]
    pub source: Option<String>,
    /// Restore into a non-empty directory, replacing the sources' folders
    #[arg(long)]
    pub force: bool,
    /// Restore setuid, setgid and sticky bits (masked by default: restored files belong to the
    /// user who restores, often root).
    #[arg(long)]
    pub preserve_special_bits: bool,
    #[command(flatten)]
    pub from: FromArgs,
}

pub fn run(ctx: &Context, a: RestoreArgs) -> Result<i32, CommandError> {
    let out = ctx.out;
    let (t, loaded) = reading_target(ctx.config(), &a.from, out)?;
    let identity = input::identity_for(&a.key, loaded.as_ref(), t.as_ref(), &a.id)?.ok_or_else(|| {
        CommandError::usage(
            "restore needs the key the backup was encrypted for: --key FILE (.pem or .pfx), or --encryption-key-stdin",
        )
    })?;
    let m = manifest::read(t.as_ref(), &a.id)?;
    let mut bar = SourcesBar::new(out, m.encrypted_size(), "restoring");
    let restored = restore::restore(
        &RestoreRequest {
            target: t.as_ref(),
            backup_id: &a.id,
            identity: &identity,
            to: &a.to,
            source: a.source.as_deref(),
            force: a.force,
            preserve_special_bits: a.preserve_special_bits,
        },
        &mut |role, n| bar.update(role, n),
    );
    bar.finish();
    let restored = restored.map_err(|e| input::explain_wrong_key(e, &m, Some(&identity)))?;
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Doc<'a> {
        schema_version: u32,
        backup_id: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        opened_with: Option<&'a OpenedWith>,
        restored: &'a [restore::Restored],
    }
    let opened_with = restored.first().map(|r| &r.opened_with);
    out.json(&Doc {
        schema_version: JSON_SCHEMA_VERSION,
        backup_id: &m.backup_id,
        opened_with,
        restored: &restored,
    })?;
    if let Some(o) = opened_with {
        out.say(format!(
            "Opened backup {} with {}.",
            m.backup_id,
            o.describe()
        ))?;
    }
    for r in &restored {
        out.say(format!(
            "Restored source {} into {} ({} files, {}).",
            r.role_name,
            r.path.display(),
            r.files,
            human_bytes(r.bytes)
        ))?;
    }
    Ok(exit::OK)
}
