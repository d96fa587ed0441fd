//! `unprotect`: check, decrypt and extract an Azure Stack Hub backup snapshot
//! (Unprotect-AzsBackup).

use super::Context;
use crate::cli::command_error::CommandError;
use crate::cli::exit;
use crate::cli::input;
use crate::cli::progress::bytes_bar;
use azs_backup::azurestack::{self, UnprotectRequest};
use azs_backup::status::human_bytes;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct UnprotectArgs {
    /// The encrypted snapshot (<yyyyMMddHHmm>_<backupId>_Full_C.zip), with its .xml sidecar beside it
    #[arg(value_name = "SNAPSHOT.zip")]
    pub snapshot: PathBuf,
    /// The .pfx/.p12 with the private key and its certificate (password from a prompt, --cert-password-stdin or AZS_BACKUP_KEY_PASSWORD)
    #[arg(long, visible_alias = "certificate", value_name = "FILE")]
    pub cert_path: PathBuf,
    /// Read the .pfx password from the first line of stdin
    #[arg(long, visible_alias = "certificate-passphrase-stdin")]
    pub cert_password_stdin: bool,
    /// Directory to extract the snapshot's zip into (created if missing; must be empty unless --force)
    #[arg(long, value_name = "DIR", required_unless_present = "verify_only")]
    pub destination: Option<PathBuf>,
    /// Only check the thumbprint and the HMAC-SHA512; write nothing
    #[arg(long, conflicts_with_all = ["destination", "force"])]
    pub verify_only: bool,
    /// Extract into a non-empty directory, replacing the entries the zip holds
    #[arg(long)]
    pub force: bool,
}

pub fn run(ctx: &Context, a: UnprotectArgs) -> Result<i32, CommandError> {
    let out = ctx.out;
    let key = input::private_key(&a.cert_path, a.cert_password_stdin, "--cert-password-stdin")?;
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
    ))?;
    match &report.destination {
        Some(d) => out.say(format!(
            "Extracted {} entries ({} files, {}) into {}.",
            report.entries,
            report.files,
            human_bytes(report.bytes),
            d.display()
        ))?,
        None => out.say("Nothing was written (--verify-only).")?,
    }
    Ok(exit::OK)
}
