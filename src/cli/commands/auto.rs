//! `enable-auto` and `disable-auto`: the portal's Enable/Disable Automatic Backups buttons. One
//! file for the pair: neither takes arguments and they differ only in the state they set.

use super::Context;
use crate::cli::command_error::CommandError;
use crate::cli::exit;
use crate::cli::render::time;
use crate::cli::shared::load;
use azs_backup::clock;
use azs_backup::schedule;
use azs_backup::status::JSON_SCHEMA_VERSION;
use serde::Serialize;

/// `enable-auto` (`enabled`) or `disable-auto`.
pub fn run(ctx: &Context, enabled: bool) -> Result<i32, CommandError> {
    let out = ctx.out;
    let loaded = load(&ctx.paths()?, out)?;
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
    })?;
    if enabled {
        out.say(format!(
            "  nextBackupTime               {next}{}",
            if t.due {
                " (due: the next `azs-backup tick` makes the backup)"
            } else {
                ""
            }
        ))?;
    } else {
        out.say(format!(
            "  nextBackupTime               {next} (when the next one would have run)"
        ))?;
    }
    Ok(exit::OK)
}
