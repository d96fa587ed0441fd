//! Opening what commands work on: the settings and their target, or for the commands that read
//! backups (`list`, `show`, `verify`, `restore`) the location given with `--from`. Each step
//! prints its `--verbose` line.

use super::command_error::CommandError;
use super::input;
use super::out::Out;
use azs_backup::settings::{self, Loaded, SettingsPaths};
use azs_backup::store::{self, Credentials, Store, TargetSpec};
use azs_backup::Error;
use clap::Args;
use std::path::Path;

/// Loads the settings (one `--verbose` step line).
pub fn load(paths: &SettingsPaths, out: &Out) -> Result<Loaded, CommandError> {
    let loaded = Loaded::load(paths)?;
    out.step(format!("settings from {}", paths.settings.display()));
    Ok(loaded)
}

/// Opens the settings' target (one `--verbose` step line).
pub fn open_target(loaded: &Loaded, out: &Out) -> Result<Box<dyn Store>, CommandError> {
    let spec = loaded.settings.target()?;
    out.step(format!("opening target {}", loaded.settings.path));
    Ok(store::open(&spec, Some(&loaded.credentials()))?)
}

/// Where to read backups from, for machines without settings (disaster recovery).
#[derive(Args, Debug, Default)]
pub struct FromArgs {
    /// Read backups from this location instead of the configured one (UNC share, smb:// URL or directory)
    #[arg(long, value_name = "PATH")]
    pub from: Option<String>,
    /// Share user for --from (password from AZS_BACKUP_PASSWORD or a prompt)
    #[arg(long, value_name = "USER", requires = "from")]
    pub username: Option<String>,
}

/// The target for commands that read backups: `--from`, else the settings' target (then with
/// the settings, which may hold the key).
pub fn reading_target(
    config: Option<&Path>,
    from: &FromArgs,
    out: &Out,
) -> Result<(Box<dyn Store>, Option<Loaded>), CommandError> {
    if let Some(path) = &from.from {
        let spec = TargetSpec::parse(path)?;
        let creds = match &spec {
            TargetSpec::Local(_) => None,
            TargetSpec::Smb(_) => {
                let username = from.username.clone().ok_or_else(|| {
                    Error::invalid(
                        "username",
                        "--from with a share needs --username DOMAIN\\user",
                    )
                })?;
                settings::validate_username(&username)?;
                let password = match input::env_secret(settings::PASSWORD_ENV) {
                    Some(p) => p,
                    None if input::can_prompt() => input::prompt_once("Share password")?,
                    None => {
                        return Err(Error::invalid(
                            "password",
                            "--from with a share needs the password in AZS_BACKUP_PASSWORD or from a prompt",
                        )
                        .into())
                    }
                };
                Some(Credentials { username, password })
            }
        };
        out.step(format!("opening target {path}"));
        return Ok((store::open(&spec, creds.as_ref())?, None));
    }
    let paths = SettingsPaths::resolve(config)?;
    let loaded = load(&paths, out)?;
    let t = open_target(&loaded, out)?;
    Ok((t, Some(loaded)))
}
