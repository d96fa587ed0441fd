//! One file per subcommand: its clap arguments beside the function that runs it and renders
//! its output. This file holds the global arguments, the list of subcommands (their help, in
//! the order `--help` shows them) and the dispatch. Flags mirror the `Azs.Backup.Admin`
//! cmdlets' parameters in kebab case, with short aliases.

mod auto;
mod clear;
mod completions;
mod configure;
mod list;
mod man;
mod new_cert;
mod new_encryption_key;
mod prune;
mod restore;
mod rotate_cert;
mod show;
mod start_backup;
mod status;
mod tick;
mod unprotect;
mod verify;

use super::command_error::CommandError;
use super::out::Out;
use azs_backup::settings::SettingsPaths;
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};

const AFTER_HELP: &str = "\
Exit codes: 0 ok, 1 other error, 2 usage, 3 invalid or missing settings, 4 target unreachable or
access denied (or a broken Azure Stack backup chain), 5 another backup running, 6 partial failure, 7 verification failed, 8 wrong key,
9 backup not found, 10 confirmation needed, 11 unhealthy (status --check). See README.md.";

/// Azure Stack Hub style infrastructure backups: encrypted archives pushed to a UNC share.
#[derive(Parser, Debug)]
#[command(
    name = "azs-backup",
    version,
    about = "Azure Stack Hub style infrastructure backups: encrypted archives pushed to a UNC share over SMB",
    long_about = "Keeps backup settings in a local file, packs the configured sources into archives, encrypts them \
with the public key of an X.509 certificate, pushes them to a UNC file share over SMB (or a local directory), \
schedules them and deletes those past the retention period. Mirrors the Azs.Backup.Admin PowerShell module.",
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// Settings file (else AZS_BACKUP_CONFIG, else the per-user default)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print one JSON document on stdout (errors as JSON on stderr)
    #[arg(long, global = true)]
    pub json: bool,
    /// Print nothing but errors
    #[arg(long, short, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print one line per step
    #[arg(long, short, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create or change settings (Set-AzsBackupConfiguration; the Configuration blade)
    #[command(
        after_help = "Example:\n  azs-backup configure --path '\\\\fileserver.contoso.com\\AzSBackups\\region1' \\\n    --username 'CONTOSO\\backupshareuser' --password-stdin \\\n    --encryption-cert-path ./certs/backup.contoso.com.cer --source identity=/var/lib/identity < pw.txt\n  azs-backup configure --notify-url https://hc-ping.com/<uuid> \\\n    --metrics-file /var/lib/node_exporter/textfile_collector/azs-backup.prom\n  azs-backup configure --is-backup-scheduler-enabled false\n\nOnly the flags given change; the others keep their value. --notify-url and --metrics-file\nare described in docs/SCHEDULING.md (Monitoring); '' removes either."
    )]
    Configure(configure::ConfigureArgs),
    /// Show settings, schedule, last backup, capacity and health (Get-AzsBackupConfiguration; Essentials)
    #[command(
        after_help = "Example:\n  azs-backup status --check   # exit 11 when any health warning is present"
    )]
    Status(status::StatusArgs),
    /// Make a backup now (Start-AzsBackup; Backup now). Does not move the next scheduled time.
    #[command(after_help = "Example:\n  azs-backup start-backup --json")]
    StartBackup,
    /// Turn automatic backups on (Enable Automatic Backups button)
    #[command(
        after_help = "Example:\n  azs-backup enable-auto\n\nMirrors the portal's Enable Automatic Backups button. The schedule resumes: the next\n`azs-backup tick` at or after nextBackupTime runs a backup. Settings are not touched."
    )]
    EnableAuto,
    /// Pause automatic backups, keeping the schedule (Disable Automatic Backups)
    #[command(
        after_help = "Example:\n  azs-backup disable-auto\n\nMirrors the portal's Disable Automatic Backups button (Set-AzsBackupConfiguration\n-IsBackupSchedulerEnabled $false). `tick` then makes no backups; `status` still shows the time\nthe next one would have run. On-demand backups (`start-backup`) still work."
    )]
    DisableAuto,
    /// Make a backup if one is due, then prune (the built-in scheduler)
    #[command(
        after_help = "Example (crontab, every 5 minutes):\n  */5 * * * * azs-backup --config /etc/azs-backup/settings.toml tick\n\nMirrors Azure Stack Hub's built-in backup scheduler. When automatic backups are on and\nnextBackupTime has come, makes one backup, moves nextBackupTime to the next slot after now (a\nmachine that was off makes one backup, not a burst) and prunes. Otherwise prints nothing\n(unless --verbose; --json prints {\"ran\": false, ...}) and exits 0. A slot that meets a\nrunning backup is skipped and recorded as skipped (exit 0). A failed backup exits 4 (target)\nor 6 (partial failure). See docs/SCHEDULING.md for systemd and Windows."
    )]
    Tick,
    /// Delete old backups (Invoke-AzsPruneBackupLocationExternalStore)
    #[command(
        after_help = "Examples:\n  azs-backup prune --dry-run\n  azs-backup prune --operation-type Default --json\n\nMirrors Invoke-AzsPruneBackupLocationExternalStore -OperationType Default|DryRun. Deletes\nbackups created before now minus backupRetentionPeriodInDays, backups with status Failed,\nfolders of interrupted runs (no manifest) and stray .partial files. Never deletes the newest\nSucceeded backup, even past the retention period, and says so. --dry-run lists the paths it\nwould delete and deletes nothing. Exit 5 while a backup runs. --json gives pathsToDelete (the\nAzure API's field) for both operation types."
    )]
    Prune(prune::PruneArgs),
    /// List backups on the target, newest first (Get-AzsBackup)
    #[command(
        after_help = "Examples:\n  azs-backup list --json\n  azs-backup list --top 10 --skip 20   # the 21st to 30th newest (Get-AzsBackup -Top 10 -Skip 20)"
    )]
    List(list::ListArgs),
    /// Show one backup (Get-AzsBackup -Name ID)
    #[command(after_help = "Example:\n  azs-backup show 2b1a7c3e-0f6d-4a55-9d0c-3f1e2a4b5c6d")]
    Show(show::ShowArgs),
    /// Check a backup: files and checksums, and with the key every chunk (the backup validation tool)
    #[command(
        after_help = "Examples:\n  azs-backup verify ID\n  azs-backup verify ID --key ./certs/backup.contoso.com.pem"
    )]
    Verify(verify::VerifyArgs),
    /// Decrypt and extract a backup into a directory (Restore-AzsBackup)
    #[command(
        after_help = "Example:\n  azs-backup restore ID --key backup.pfx --to ./restored --source identity"
    )]
    Restore(restore::RestoreArgs),
    /// Write a self-signed RSA certificate for backups (New-SelfSignedCertificate + Export-Certificate)
    #[command(
        after_help = "Example:\n  azs-backup new-cert --dns-name backup.contoso.com --out-dir ./certs"
    )]
    NewCert(new_cert::NewCertArgs),
    /// Print a new legacy encryption key (New-AzsEncryptionKeyBase64)
    #[command(
        after_help = "Example:\n  azs-backup new-encryption-key > key.txt && chmod 600 key.txt"
    )]
    NewEncryptionKey,
    /// New backups use a new certificate; old ones keep theirs (uploading a new .cer)
    #[command(
        after_help = "Example:\n  azs-backup rotate-cert --encryption-cert-path ./certs/backup2.contoso.com.cer\n\nMirrors uploading a new .CER file in the Configuration blade (Set-AzsBackupConfiguration\n-EncryptionCertPath). Existing backups are untouched and still need the old private key:\nkeep it until every backup made with it has been pruned (`azs-backup list` shows which\nbackups need which thumbprint)."
    )]
    RotateCert(rotate_cert::RotateCertArgs),
    /// Remove settings, secrets and state (Clear-AzsBackupConfiguration)
    #[command(
        after_help = "Example:\n  azs-backup clear --yes\n\nMirrors Clear-AzsBackupConfiguration. Asks first (--yes for scripts); backups on the\ntarget are never touched. Afterwards every command that needs settings fails with\n\"not configured\" (exit 3) until the next `configure`.\n\nNote: Clear-AzsBackupConfiguration never shipped in the released Azs.Backup.Admin module;\nthis command mirrors the portal's intent (forget the configuration), not a cmdlet."
    )]
    Clear(clear::ClearArgs),
    /// Check, decrypt and extract Azure Stack Hub backups: one snapshot, or a whole backup from the share (Unprotect-AzsBackup)
    #[command(
        after_help = "Example:\n  azs-backup unprotect 201901151200_2b1a7c3e-0f6d-4a55-9d0c-3f1e2a4b5c6d_Full_C.zip \\\n    --cert-path backup.pfx --cert-password-stdin --destination ./decrypted < pfx-password.txt\n\nA whole backup, from the share:\n  azs-backup unprotect --from '\\\\fileserver\\AzSBackups' --username 'CONTOSO\\backupshareuser' --list\n  azs-backup unprotect --from /mnt/azsbackups --backup-id 2b1a7c3e-0f6d-4a55-9d0c-3f1e2a4b5c6d \\\n    --cert-path backup.pfx --check --json\n\nMirrors Unprotect-AzsBackup from the AzureStack-Tools: reads the sidecar .xml beside each\nsnapshot, checks the certificate thumbprint, unwraps the key (RSA-OAEP SHA-256, then SHA-1),\nchecks the HMAC-SHA512 before anything is extracted (AES-256-CBC) and extracts the zip. Nested\nzips inside a snapshot stay as files.\n\nWith --from PATH --backup-id ID, finds every snapshot the backup needs under\nPATH/MASBackup/progressivebackup/<stampVersion>/<repository>/: each repository's snapshot of\nthat backup and, for a Progressive one, its whole chain (the latest Full before it, then every\nProgressive after that Full up to it). Each goes to DIR/<repository>/<snapshot file name>/,\nall of them or none. --check does every check and keeps nothing: the validation to schedule.\n\nExit codes: 4 the share cannot be read, or a broken chain (no Full, a gap, a member without\nits .zip or sidecar); 7 checksum mismatch, undecodable zip, unsafe name, a sidecar that is not\nSucceeded; 8 the certificate is not the one a snapshot needs (the message names it); 9 no\nsnapshot of that backup id. See docs/AZURESTACK.md."
    )]
    Unprotect(unprotect::UnprotectArgs),
    /// Print shell completions
    #[command(
        after_help = "Example:\n  azs-backup completions bash > /etc/bash_completion.d/azs-backup"
    )]
    Completions(completions::CompletionsArgs),
    /// Print the man page, or write every page into a directory
    #[command(after_help = "Example:\n  azs-backup man --out-dir /usr/local/share/man/man1")]
    Man(man::ManArgs),
}

/// What every command gets besides its own arguments: the output handle and the global
/// `--config`.
pub struct Context<'a> {
    pub out: &'a Out,
    config: Option<PathBuf>,
}

impl Context<'_> {
    /// The `--config` given, if any.
    pub fn config(&self) -> Option<&Path> {
        self.config.as_deref()
    }

    /// Where the settings, secrets, state and lock files are.
    pub fn paths(&self) -> Result<SettingsPaths, CommandError> {
        Ok(SettingsPaths::resolve(self.config())?)
    }
}

/// Runs a parsed command line; returns the exit code on success paths.
pub fn run(cli: Cli, out: &Out) -> Result<i32, CommandError> {
    let ctx = Context {
        out,
        config: cli.config,
    };
    match cli.command {
        Command::Configure(a) => configure::run(&ctx, a),
        Command::Status(a) => status::run(&ctx, a),
        Command::StartBackup => start_backup::run(&ctx),
        Command::EnableAuto => auto::run(&ctx, true),
        Command::DisableAuto => auto::run(&ctx, false),
        Command::Tick => tick::run(&ctx),
        Command::Prune(a) => prune::run(&ctx, a),
        Command::List(a) => list::run(&ctx, a),
        Command::Show(a) => show::run(&ctx, a),
        Command::Verify(a) => verify::run(&ctx, a),
        Command::Restore(a) => restore::run(&ctx, a),
        Command::NewCert(a) => new_cert::run(&ctx, a),
        Command::NewEncryptionKey => new_encryption_key::run(&ctx),
        Command::RotateCert(a) => rotate_cert::run(&ctx, a),
        Command::Clear(a) => clear::run(&ctx, a),
        Command::Unprotect(a) => unprotect::run(&ctx, a),
        Command::Completions(a) => completions::run(&ctx, a),
        Command::Man(a) => man::run(&ctx, a),
    }
}
