//! `rotate-cert`: new backups are encrypted for a new certificate; old ones keep theirs
//! (uploading a new .cer in the Configuration blade).

use super::Context;
use crate::cli::command_error::CommandError;
use crate::cli::exit;
use azs_backup::clock;
use azs_backup::configure;
use azs_backup::crypto::{describe_id, KeyId};
use azs_backup::manifest;
use azs_backup::settings::Loaded;
use azs_backup::status::JSON_SCHEMA_VERSION;
use azs_backup::store;
use clap::Args;
use serde::Serialize;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct RotateCertArgs {
    /// The new public-only certificate (.cer, DER or PEM) that new backups are encrypted for
    #[arg(long, visible_alias = "cert", value_name = "FILE")]
    pub encryption_cert_path: PathBuf,
}

pub fn run(ctx: &Context, a: RotateCertArgs) -> Result<i32, CommandError> {
    let out = ctx.out;
    let paths = ctx.paths()?;
    let now = clock::now()?;
    let r = configure::rotate_cert(&paths, &a.encryption_cert_path, now)?;
    let loaded = &r.outcome.loaded;
    // Best effort: how many backups on the target still need the previous key.
    let still_needed = match (&r.previous, r.changed) {
        (Some(prev), true) => count_backups_for(loaded, prev),
        _ => None,
    };
    let (prev_thumbprint, prev_key_id) = match r.previous.as_deref() {
        Some(p) => match KeyId::from(p) {
            KeyId::Thumbprint(_) => (Some(p), None),
            KeyId::Legacy(_) => (None, Some(p)),
        },
        None => (None, None),
    };
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Doc<'a> {
        schema_version: u32,
        changed: bool,
        encryption_cert_thumbprint: &'a str,
        previous_encryption_cert_thumbprint: Option<&'a str>,
        previous_encryption_key_id: Option<&'a str>,
        /// Backups on the target that need the previous key (`null` when the target could not be read).
        backups_needing_previous_key: Option<usize>,
        notes: &'a [String],
    }
    out.json(&Doc {
        schema_version: JSON_SCHEMA_VERSION,
        changed: r.changed,
        encryption_cert_thumbprint: &r.thumbprint,
        previous_encryption_cert_thumbprint: prev_thumbprint,
        previous_encryption_key_id: prev_key_id,
        backups_needing_previous_key: still_needed,
        notes: &r.outcome.notes,
    })?;
    for n in &r.outcome.notes {
        out.note(format!("azs-backup: note: {n}"));
    }
    if !r.changed {
        out.say(format!(
            "Backups are already encrypted for certificate {}; nothing changed.",
            r.thumbprint
        ))?;
        return Ok(exit::OK);
    }
    let previous = r.previous.as_deref().map(describe_id);
    out.say(format!(
        "New backups are encrypted for certificate {}.",
        r.thumbprint
    ))?;
    if let Some(prev) = &previous {
        out.say(format!("Previously: {prev}."))?;
        let count = match still_needed {
            Some(n) => format!("{n} backup(s) on the target need it now; "),
            None => String::new(),
        };
        let what = if prev_key_id.is_some() {
            "that key (it stays in the secrets file as a retired key)"
        } else {
            "its private key (.pfx or .pem)"
        };
        out.note(format!(
            "azs-backup: note: existing backups are unchanged and still need {prev}: keep {what} until every backup made with it has been pruned ({count}`azs-backup list` shows which backups need which thumbprint)."
        ));
    }
    Ok(exit::OK)
}

fn count_backups_for(loaded: &Loaded, recipient: &str) -> Option<usize> {
    let spec = loaded.settings.target().ok()?;
    let t = store::open(&spec, Some(&loaded.credentials())).ok()?;
    let backups = manifest::list(t.as_ref()).ok()?;
    Some(
        backups
            .iter()
            .filter(|m| m.recipient_id().eq_ignore_ascii_case(recipient))
            .count(),
    )
}
