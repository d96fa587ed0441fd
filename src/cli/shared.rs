//! Pieces every command shares: loading the settings and opening their target, each with its
//! `--verbose` step line.

use super::Out;
use anyhow::Result;
use azs_backup::settings::{Loaded, SettingsPaths};
use azs_backup::target::{self, Target};
use azs_backup::Error;

/// Loads the settings (one `--verbose` step line).
pub(crate) fn load(paths: &SettingsPaths, out: &Out) -> Result<Loaded> {
    let loaded = Loaded::load(paths)?;
    out.step(format!("settings from {}", paths.settings.display()));
    Ok(loaded)
}

/// Opens the settings' target (one `--verbose` step line).
pub(crate) fn open_target(loaded: &Loaded, out: &Out) -> Result<Box<dyn Target>> {
    let spec = loaded.settings.target()?;
    out.step(format!("opening target {}", loaded.settings.path));
    // As a library error, so that the exit code says "target" (4).
    Ok(target::open(&spec, Some(&loaded.credentials())).map_err(Error::from)?)
}
