//! `start-backup`: make a backup now (Start-AzsBackup). Does not move the next scheduled time.

use super::Context;
use crate::cli::command_error::{verdict_after, CommandError};
use crate::cli::progress::BackupProgress;
use crate::cli::render::{self, BackupView};
use crate::cli::shared::load;
use azs_backup::backup;
use azs_backup::state::Trigger;

pub fn run(ctx: &Context) -> Result<i32, CommandError> {
    let out = ctx.out;
    let loaded = load(&ctx.paths()?, out)?;
    let mut progress = BackupProgress::new(out, &loaded.settings.sources);
    let result = backup::start(&loaded, Trigger::OnDemand, &mut progress);
    progress.finish();
    let m = result?;
    let printed = out
        .json(&BackupView::of(&m))
        .and_then(|()| out.say(render::backup(&m)));
    verdict_after(printed, backup::outcome(&m).map_err(CommandError::from))
}
