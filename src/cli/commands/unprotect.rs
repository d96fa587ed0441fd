//! `unprotect`: check, decrypt and extract Azure Stack Hub backup snapshots: one snapshot file
//! (Unprotect-AzsBackup), or every snapshot of a backup id read from the share, progressive
//! chains included (Validate-AzsBackup without SQL Server), or the list of backups on a share.

use super::Context;
use crate::cli::command_error::{verdict_after, CommandError};
use crate::cli::exit;
use crate::cli::input;
use crate::cli::out::Out;
use crate::cli::progress::bytes_bar;
use crate::cli::shared::{reading_target, FromArgs};
use azs_backup::azurestack::{
    self, BackupProgress, BackupReport, BackupRequest, SnapshotResult, UnprotectRequest,
};
use azs_backup::status::{human_bytes, JSON_SCHEMA_VERSION};
use azs_backup::store::Store;
use clap::{ArgGroup, Args};
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("from_what").args(["backup_id", "list"])))]
pub struct UnprotectArgs {
    /// One encrypted snapshot (<yyyyMMddHHmm>_<backupId>_Full_C.zip), with its .xml sidecar beside it
    #[arg(
        value_name = "SNAPSHOT.zip",
        required_unless_present = "from",
        conflicts_with = "from"
    )]
    pub snapshot: Option<PathBuf>,
    /// Read Azure Stack backups from this share: a folder, a mounted share, a UNC path or an smb:// URL holding MASBackup/progressivebackup/ (needs --backup-id or --list)
    #[arg(long, value_name = "PATH", requires = "from_what")]
    pub from: Option<String>,
    /// Share user for --from (password from AZS_BACKUP_PASSWORD or a prompt)
    #[arg(long, value_name = "USER", requires = "from")]
    pub username: Option<String>,
    /// With --from: the backup to check or extract, with every snapshot it needs (whole progressive chains)
    #[arg(long, value_name = "ID", requires = "from")]
    pub backup_id: Option<String>,
    /// With --from: list the Azure Stack backups there, newest first, and whether each chain is complete
    #[arg(
        long,
        requires = "from",
        conflicts_with_all = ["cert_path", "cert_password_stdin", "destination", "verify_only", "check", "force"]
    )]
    pub list: bool,
    /// The .pfx/.p12 with the private key and its certificate (password from a prompt, --cert-password-stdin or AZS_BACKUP_KEY_PASSWORD)
    #[arg(
        long,
        visible_alias = "certificate",
        value_name = "FILE",
        required_unless_present = "list"
    )]
    pub cert_path: Option<PathBuf>,
    /// Read the .pfx password from the first line of stdin
    #[arg(long, visible_alias = "certificate-passphrase-stdin")]
    pub cert_password_stdin: bool,
    /// Directory to extract into (created if missing; must be empty unless --force); with --backup-id each snapshot goes to DIR/<repository>/<snapshot file name>/
    #[arg(long, value_name = "DIR", required_unless_present_any = ["verify_only", "check", "list"])]
    pub destination: Option<PathBuf>,
    /// SNAPSHOT.zip only: check the thumbprint and the HMAC-SHA512; write nothing
    #[arg(long, conflicts_with_all = ["destination", "force", "from"])]
    pub verify_only: bool,
    /// With --backup-id: every check (thumbprint, key unwrap, HMAC-SHA512, sidecar status, zip decoded entry by entry) on every snapshot; keep nothing (each decrypted zip is decoded from an unlinked temporary file in TMPDIR)
    #[arg(long, requires = "backup_id", conflicts_with_all = ["destination", "force"])]
    pub check: bool,
    /// Extract into a non-empty directory, replacing the entries (with --backup-id: the snapshot folders) already there
    #[arg(long)]
    pub force: bool,
}

pub fn run(ctx: &Context, a: UnprotectArgs) -> Result<i32, CommandError> {
    match (&a.from, &a.snapshot) {
        (Some(from), _) if a.list => run_list(ctx, &a, from),
        (Some(from), _) => run_backup(ctx, &a, from),
        (None, Some(snapshot)) => run_single(ctx, &a, snapshot),
        (None, None) => Err(CommandError::usage(
            "give SNAPSHOT.zip, or --from PATH with --backup-id ID or --list",
        )),
    }
}

fn cert_path(a: &UnprotectArgs) -> Result<&Path, CommandError> {
    a.cert_path
        .as_deref()
        .ok_or_else(|| CommandError::usage("--cert-path is needed"))
}

/// Opens `--from` as `list --from` does (a path, a UNC path or an smb:// URL).
fn open_share(
    ctx: &Context,
    a: &UnprotectArgs,
    from: &str,
) -> Result<Box<dyn Store>, CommandError> {
    let from = FromArgs {
        from: Some(from.to_string()),
        username: a.username.clone(),
    };
    Ok(reading_target(ctx.config(), &from, ctx.out)?.0)
}

/// `unprotect SNAPSHOT.zip`.
fn run_single(ctx: &Context, a: &UnprotectArgs, snapshot: &Path) -> Result<i32, CommandError> {
    let out = ctx.out;
    let key = input::private_key(
        cert_path(a)?,
        a.cert_password_stdin,
        "--cert-password-stdin",
    )?;
    let size = std::fs::metadata(snapshot).map(|m| m.len()).unwrap_or(0);
    let passes = if a.verify_only { 1 } else { 2 };
    let bar = bytes_bar(out, size * passes, "unprotect");
    let mut base = 0u64;
    let mut last_phase = String::new();
    let mut last = 0u64;
    let result = azurestack::unprotect(
        &UnprotectRequest {
            snapshot,
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

/// `unprotect --from PATH --backup-id ID (--destination DIR | --check)`.
fn run_backup(ctx: &Context, a: &UnprotectArgs, from: &str) -> Result<i32, CommandError> {
    let out = ctx.out;
    let id = a
        .backup_id
        .as_deref()
        .ok_or_else(|| CommandError::usage("--from needs --backup-id ID or --list"))?;
    if !azurestack::store::is_backup_id(id) {
        return Err(CommandError::usage(
            "--backup-id: a backup id is 1 to 64 letters, digits and hyphens (a GUID, as `unprotect --from PATH --list` shows)",
        ));
    }
    let key = input::private_key(
        cert_path(a)?,
        a.cert_password_stdin,
        "--cert-password-stdin",
    )?;
    let target = open_share(ctx, a, from)?;
    let bar = bytes_bar(out, 0, "unprotect");
    let result = azurestack::unprotect_backup(
        &BackupRequest {
            target: target.as_ref(),
            backup_id: id,
            key: &key,
            destination: if a.check {
                None
            } else {
                a.destination.as_deref()
            },
            force: a.force,
        },
        &mut |p| match p {
            BackupProgress::Snapshot {
                index,
                count,
                path,
                size,
            } => {
                out.step(format!("snapshot {}/{count}: {path}", index + 1));
                if let Some(b) = &bar {
                    b.set_length(size);
                    b.set_position(0);
                    b.set_message(format!("{}/{count}", index + 1));
                }
            }
            BackupProgress::Bytes(n) => {
                if let Some(b) = &bar {
                    b.set_position(n);
                }
            }
        },
    );
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let outcome = result?;
    let report = &outcome.report;
    for w in report
        .warnings
        .iter()
        .chain(report.snapshots.iter().flat_map(|s| &s.warnings))
    {
        out.note(format!("azs-backup: warning: {w}"));
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Doc<'a> {
        schema_version: u32,
        #[serde(flatten)]
        report: &'a BackupReport,
    }
    let doc = Doc {
        schema_version: JSON_SCHEMA_VERSION,
        report,
    };
    let printed = out.json(&doc).and_then(|()| say_backup(out, report));
    verdict_after(printed, outcome.failure.map_or(Ok(()), |e| Err(e.into())))
}

/// The human report of a backup: one line per snapshot, then what was done.
fn say_backup(out: &Out, r: &BackupReport) -> Result<(), CommandError> {
    let stamp = if r.stamp_version.is_empty() {
        String::new()
    } else {
        format!(", stamp {}", r.stamp_version)
    };
    out.say(format!(
        "Backup {}{stamp} on {}: {} snapshot(s) in {} {}, certificate {}.",
        r.backup_id,
        r.source,
        r.snapshots.len(),
        r.repositories,
        if r.repositories == 1 {
            "repository"
        } else {
            "repositories"
        },
        r.certificate_thumbprint
    ))?;
    for (i, s) in r.snapshots.iter().enumerate() {
        let in_repo: Vec<_> = r
            .snapshots
            .iter()
            .filter(|o| o.repository == s.repository)
            .collect();
        let pos = r.snapshots[..i]
            .iter()
            .filter(|o| o.repository == s.repository)
            .count()
            + 1;
        let chain = if in_repo.len() > 1 {
            format!(" (chain {pos}/{})", in_repo.len())
        } else {
            String::new()
        };
        let (label, detail) = match s.result {
            SnapshotResult::Ok => (
                "OK",
                format!("{} file(s), {}", s.files, human_bytes(s.bytes)),
            ),
            SnapshotResult::Failed => ("FAILED", s.error.clone().unwrap_or_default()),
            SnapshotResult::NotChecked => ("-", "not read".to_string()),
        };
        out.say(format!(
            "  {label:<6}  {}/{}  {}{chain}  {detail}",
            s.repository, s.file, s.backup_type
        ))?;
    }
    let failed = r
        .snapshots
        .iter()
        .filter(|s| s.result == SnapshotResult::Failed)
        .count();
    match (&r.destination, failed) {
        (_, 1..) => out.say(format!("{failed} snapshot(s) failed; nothing was written.")),
        (Some(d), 0) => out.say(format!(
            "Extracted {} snapshot(s) ({} files, {}) into {}/<repository>/<snapshot file name>/.",
            r.snapshots.len(),
            r.snapshots.iter().map(|s| s.files).sum::<u64>(),
            human_bytes(r.snapshots.iter().map(|s| s.bytes).sum()),
            d.display()
        )),
        (None, 0) => out.say(format!(
            "Checked {} snapshot(s): certificate, key unwrap (RSA-OAEP), checksum (HMAC-SHA512), sidecar status and every zip entry OK. Nothing was written (--check).",
            r.snapshots.len()
        )),
    }
}

/// `unprotect --from PATH --list`.
fn run_list(ctx: &Context, a: &UnprotectArgs, from: &str) -> Result<i32, CommandError> {
    let out = ctx.out;
    let target = open_share(ctx, a, from)?;
    let store = azurestack::scan(target.as_ref())?;
    let backups = azurestack::list(&store);
    let refused: Vec<&str> = store.refused.iter().map(|r| r.message.as_str()).collect();
    for w in store
        .warnings
        .iter()
        .map(String::as_str)
        .chain(refused.iter().copied())
    {
        out.note(format!("azs-backup: warning: {w}"));
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Doc<'a> {
        schema_version: u32,
        source: String,
        backups: &'a [azurestack::BackupSummary],
        warnings: &'a [String],
        refused: Vec<&'a str>,
    }
    out.json(&Doc {
        schema_version: JSON_SCHEMA_VERSION,
        source: target.display(),
        backups: &backups,
        warnings: &store.warnings,
        refused: refused.clone(),
    })?;
    if backups.is_empty() {
        out.say(format!(
            "No Azure Stack backups on {} (expected MASBackup/progressivebackup/<stampVersion>/<repository>/<yyyyMMddHHmm>_<backupId>_<Full|Progressive>[_C].zip).",
            target.display()
        ))?;
        return Ok(exit::OK);
    }
    out.say(format!(
        "{:<36}  {:<20}  {:<14}  {:>5}  {}",
        "backupId", "time", "stamp", "repos", "chains"
    ))?;
    for b in &backups {
        let state = if b.complete {
            "complete".to_string()
        } else {
            let problems: Vec<String> = b
                .repositories
                .iter()
                .filter_map(|r| r.problem.as_ref().map(|p| format!("{}: {p}", r.repository)))
                .collect();
            format!("BROKEN ({})", problems.join("; "))
        };
        out.say(format!(
            "{:<36}  {:<20}  {:<14}  {:>5}  {state}",
            b.backup_id,
            b.time,
            b.stamp_version,
            b.repositories.len()
        ))?;
    }
    Ok(exit::OK)
}
