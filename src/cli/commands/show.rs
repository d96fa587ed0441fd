//! `show`: one backup (Get-AzsBackup -Name ID).

use super::Context;
use crate::cli::command_error::CommandError;
use crate::cli::exit;
use crate::cli::render::{self, BackupView};
use crate::cli::shared::{reading_target, FromArgs};
use azs_backup::manifest;
use clap::Args;

#[derive(Args, Debug)]
pub struct ShowArgs {
    /// Backup id (a GUID, as `list` shows)
    pub id: String,
    #[command(flatten)]
    pub from: FromArgs,
}

pub fn run(ctx: &Context, a: ShowArgs) -> Result<i32, CommandError> {
    let out = ctx.out;
    let (t, _) = reading_target(ctx.config(), &a.from, out)?;
    let m = manifest::read(t.as_ref(), &a.id)?;
    out.json(&BackupView::of(&m))?;
    out.say(render::backup(&m))?;
    Ok(exit::OK)
}
