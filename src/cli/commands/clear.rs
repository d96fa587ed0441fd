//! `clear`: remove settings, secrets, state and the local lock file after a confirmation
//! (Clear-AzsBackupConfiguration, which never shipped in the released module: this mirrors the
//! portal's intent, not a cmdlet). Backups on the target are never touched.

use super::Context;
use crate::cli::command_error::CommandError;
use crate::cli::exit;
use crate::cli::input;
use azs_backup::settings::Loaded;
use azs_backup::status::JSON_SCHEMA_VERSION;
use azs_backup::Error;
use clap::Args;
use serde::Serialize;

#[derive(Args, Debug)]
pub struct ClearArgs {
    /// Do not ask for confirmation (for scripts)
    #[arg(long, short = 'y')]
    pub yes: bool,
}

pub fn run(ctx: &Context, a: ClearArgs) -> Result<i32, CommandError> {
    let out = ctx.out;
    let paths = ctx.paths()?;
    let files = [&paths.settings, &paths.secrets, &paths.state];
    let existing: Vec<String> = files
        .iter()
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if existing.is_empty() && !paths.lock.exists() {
        return Err(Error::NotConfigured {
            path: paths.settings.clone(),
        }
        .into());
    }
    let loaded = Loaded::load(&paths).ok();
    let mut msg = format!(
        "This removes the backup settings of this machine: {} and the local lock files.",
        existing.join(", ")
    );
    if let Some(l) = &loaded {
        msg.push_str(&format!(
            " Backups on the target {} are not touched.",
            l.settings.path
        ));
        let keys =
            l.secrets.encryption_key.iter().count() + l.secrets.retired_encryption_keys.len();
        if keys > 0 {
            msg.push_str(&format!(
                " The secrets file holds {keys} legacy encryption key(s): backups made with them cannot be restored without a copy kept elsewhere."
            ));
        }
    } else {
        msg.push_str(" Backups on the target are not touched.");
    }
    if !a.yes {
        if !input::can_prompt() {
            return Err(Error::NeedsConfirmation(format!(
                "{msg} Nothing was removed: confirm on a terminal, or pass --yes"
            ))
            .into());
        }
        if !input::confirm(&format!("{msg}\nRemove?")) {
            return Err(
                Error::NeedsConfirmation("not confirmed; nothing was removed".into()).into(),
            );
        }
    }
    let removed = azs_backup::configure::clear(&paths)?;
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Doc {
        schema_version: u32,
        removed: Vec<String>,
    }
    let removed: Vec<String> = removed.iter().map(|p| p.display().to_string()).collect();
    out.json(&Doc {
        schema_version: JSON_SCHEMA_VERSION,
        removed: removed.clone(),
    })?;
    for r in &removed {
        out.say(format!("Removed {r}"))?;
    }
    out.say("Backup settings cleared; backups on the target were not touched. Run `azs-backup configure` to set up again.")?;
    Ok(exit::OK)
}
