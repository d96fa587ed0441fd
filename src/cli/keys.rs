//! Commands about keys and settings' lifetime: `rotate-cert`, `clear`, `unprotect` (Azure Stack
//! Hub's own snapshots), and the choice of the key that decrypts a backup for `restore`/`verify`.

use super::args;
use super::exit;
use super::input;
use super::progress::bytes_bar;
use super::Out;
use anyhow::Result;
use azs_backup::azurestack::{self, UnprotectRequest};
use azs_backup::clock;
use azs_backup::configure;
use azs_backup::crypto::{describe_id, Identity};
use azs_backup::manifest::{self, Manifest};
use azs_backup::settings::{Loaded, SettingsPaths};
use azs_backup::status::JSON_SCHEMA_VERSION;
use azs_backup::target::{self, Target};
use azs_backup::Error;
use serde::Serialize;
use std::io::Write;

/// `rotate-cert`: new backups are encrypted for the new certificate.
pub fn cmd_rotate_cert(paths: &SettingsPaths, a: args::RotateCertArgs, out: &Out) -> Result<i32> {
    let now = clock::now()?;
    let r = configure::rotate_cert(paths, &a.encryption_cert_path, now)?;
    let loaded = &r.outcome.loaded;
    // Best effort: how many backups on the target still need the previous key.
    let still_needed = match (&r.previous, r.changed) {
        (Some(prev), true) => count_backups_for(loaded, prev),
        _ => None,
    };
    let (prev_thumbprint, prev_key_id) = match r.previous.as_deref() {
        Some(p) if p.starts_with("key:") => (None, Some(p)),
        Some(p) => (Some(p), None),
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
        ));
        return Ok(exit::OK);
    }
    let previous = r.previous.as_deref().map(describe_id);
    out.say(format!(
        "New backups are encrypted for certificate {}.",
        r.thumbprint
    ));
    if let Some(prev) = &previous {
        out.say(format!("Previously: {prev}."));
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
    let t = target::open(&spec, Some(&loaded.credentials())).ok()?;
    let backups = manifest::list(t.as_ref()).ok()?;
    Some(
        backups
            .iter()
            .filter(|m| m.recipient_id().eq_ignore_ascii_case(recipient))
            .count(),
    )
}

/// `clear`: removes settings, secrets, state and the local lock file after a confirmation.
pub fn cmd_clear(paths: &SettingsPaths, a: args::ClearArgs, out: &Out) -> Result<i32> {
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
    let loaded = Loaded::load(paths).ok();
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
        eprint!("{msg}\nRemove? [y/N] ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        let yes = std::io::stdin().read_line(&mut line).is_ok()
            && matches!(line.trim(), "y" | "Y" | "yes" | "YES" | "Yes");
        if !yes {
            return Err(
                Error::NeedsConfirmation("not confirmed; nothing was removed".into()).into(),
            );
        }
    }
    let removed = azs_backup::configure::clear(paths)?;
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
        out.say(format!("Removed {r}"));
    }
    out.say("Backup settings cleared; backups on the target were not touched. Run `azs-backup configure` to set up again.");
    Ok(exit::OK)
}

/// `unprotect`: checks, decrypts and extracts an Azure Stack Hub snapshot.
pub fn cmd_unprotect(a: args::UnprotectArgs, out: &Out) -> Result<i32> {
    let key =
        input::private_key_with(&a.cert_path, a.cert_password_stdin, "--cert-password-stdin")?;
    let size = std::fs::metadata(&a.snapshot).map(|m| m.len()).unwrap_or(0);
    let passes = if a.verify_only { 1 } else { 2 };
    let bar = bytes_bar(out, size * passes, "unprotect");
    let mut base = 0u64;
    let mut last_phase = String::new();
    let mut last = 0u64;
    let result = azurestack::unprotect(
        &UnprotectRequest {
            snapshot: &a.snapshot,
            key: &key,
            destination: if a.verify_only {
                None
            } else {
                a.destination.as_deref()
            },
            force: a.force,
        },
        &mut |phase, n| {
            if phase != last_phase {
                base += last;
                last_phase = phase.to_string();
            }
            last = n;
            if let Some(b) = &bar {
                b.set_position(base + n);
            }
        },
    );
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let report = result?;
    for w in &report.warnings {
        out.note(format!("azs-backup: warning: {w}"));
    }
    out.json(&report)?;
    out.say(format!(
        "Snapshot {}: certificate {} matches, key unwrapped (RSA-OAEP {}), checksum (HMAC-SHA512) OK.",
        report.snapshot.display(),
        report.encryption_cert_thumbprint,
        report.oaep_hash
    ));
    match &report.destination {
        Some(d) => out.say(format!(
            "Extracted {} entries ({} files, {}) into {}.",
            report.entries,
            report.files,
            azs_backup::status::human_bytes(report.bytes),
            d.display()
        )),
        None => out.say("Nothing was written (--verify-only)."),
    }
    Ok(exit::OK)
}

/// The identity for a backup: `--key` / `--encryption-key-stdin`, else a stored legacy key
/// (current or retired) that the backup names. A private key without its certificate (a bare
/// `.pem`) gets the configured certificate when their public keys match, so that its thumbprint
/// is known and a mismatch is reported before any decryption.
pub fn identity_for(
    key: &args::KeyArgs,
    loaded: Option<&Loaded>,
    t: &dyn Target,
    id: &str,
) -> Result<Option<Identity>> {
    if let Some(mut i) = input::identity(key)? {
        if let (Identity::PrivateKey(k), Some(l)) = (&mut i, loaded) {
            if k.certificate.is_none() {
                if let Ok(Some(cert)) = l.settings.certificate() {
                    if k.matches(&cert) {
                        k.certificate = Some(cert);
                    }
                }
            }
        }
        return Ok(Some(i));
    }
    if let Some(loaded) = loaded {
        let m = manifest::read(t, id)?;
        if let Some(k) = m
            .encryption_key_id
            .as_deref()
            .and_then(|kid| loaded.legacy_key_for(kid))
        {
            return Ok(Some(Identity::LegacyKey(k)));
        }
    }
    Ok(None)
}

/// Says plainly which key a backup needs when a key whose certificate is not known (a `.pem`
/// without a CERTIFICATE block) could not unwrap it.
pub fn explain_wrong_key(e: Error, m: &Manifest, identity: Option<&Identity>) -> Error {
    match (e, identity) {
        (Error::WrongKey(_), Some(i)) if i.id().is_none() => {
            let needed = m.recipient_id();
            Error::WrongKey(format!(
                "backup {} was encrypted for {}; the key given does not match it (it cannot unwrap the backup's file keys)",
                m.backup_id,
                describe_id(&needed)
            ))
        }
        (e, _) => e,
    }
}
