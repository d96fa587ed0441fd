//! Command-line arguments (clap derive). Flags mirror the `Azs.Backup.Admin` cmdlets'
//! parameters in kebab case, with short aliases.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Exit codes: 0 ok, 1 other error, 2 usage, 3 invalid or missing settings, 4 target unreachable or
access denied, 5 another backup running, 6 partial failure, 7 verification failed, 8 wrong key,
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
        after_help = "Example:\n  azs-backup configure --path '\\\\fileserver.contoso.com\\AzSBackups\\region1' \\\n    --username 'CONTOSO\\backupshareuser' --password-stdin \\\n    --encryption-cert-path ./certs/backup.contoso.com.cer --source identity=/var/lib/identity < pw.txt\n\nOnly the flags given change; the others keep their value."
    )]
    Configure(ConfigureArgs),
    /// Show settings, schedule, last backup, capacity and health (Get-AzsBackupConfiguration; Essentials)
    #[command(
        after_help = "Example:\n  azs-backup status --check   # exit 11 when any health warning is present"
    )]
    Status(StatusArgs),
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
        after_help = "Examples:\n  azs-backup prune --dry-run\n  azs-backup prune --operation-type Default --json\n\nMirrors Invoke-AzsPruneBackupLocationExternalStore -OperationType Default|DryRun. Deletes\nbackups created before now minus backupRetentionPeriodInDays, backups with status Failed,\nfolders of interrupted runs (no manifest) and stray .partial files. Never deletes the newest\nSucceeded backup, even past the retention period, and says so. --dry-run lists the paths it\nwould delete and deletes nothing. Exit 5 while a backup runs."
    )]
    Prune(PruneArgs),
    /// List backups on the target, newest first (Get-AzsBackup)
    #[command(after_help = "Example:\n  azs-backup list --json")]
    List(ListArgs),
    /// Show one backup (Get-AzsBackup -Name ID)
    #[command(after_help = "Example:\n  azs-backup show 2b1a7c3e-0f6d-4a55-9d0c-3f1e2a4b5c6d")]
    Show(ShowArgs),
    /// Check a backup: files and checksums, and with the key every chunk (the backup validation tool)
    #[command(
        after_help = "Examples:\n  azs-backup verify ID\n  azs-backup verify ID --key ./certs/backup.contoso.com.pem"
    )]
    Verify(VerifyArgs),
    /// Decrypt and extract a backup into a directory (Restore-AzsBackup)
    #[command(
        after_help = "Example:\n  azs-backup restore ID --key backup.pfx --to ./restored --source identity"
    )]
    Restore(RestoreArgs),
    /// Write a self-signed RSA certificate for backups (New-SelfSignedCertificate + Export-Certificate)
    #[command(
        after_help = "Example:\n  azs-backup new-cert --dns-name backup.contoso.com --out-dir ./certs"
    )]
    NewCert(NewCertArgs),
    /// Print a new legacy encryption key (New-AzsEncryptionKeyBase64)
    #[command(
        after_help = "Example:\n  azs-backup new-encryption-key > key.txt && chmod 600 key.txt"
    )]
    NewEncryptionKey,
    /// New backups use a new certificate; old ones keep theirs (uploading a new .cer)
    #[command(
        after_help = "Example:\n  azs-backup rotate-cert --encryption-cert-path ./certs/backup2.contoso.com.cer\n\nMirrors uploading a new .CER file in the Configuration blade (Set-AzsBackupConfiguration\n-EncryptionCertPath). Existing backups are untouched and still need the old private key:\nkeep it until every backup made with it has been pruned (`azs-backup list` shows which\nbackups need which thumbprint)."
    )]
    RotateCert(RotateCertArgs),
    /// Remove settings, secrets and state (Clear-AzsBackupConfiguration)
    #[command(
        after_help = "Example:\n  azs-backup clear --yes\n\nMirrors Clear-AzsBackupConfiguration. Asks first (--yes for scripts); backups on the\ntarget are never touched. Afterwards every command that needs settings fails with\n\"not configured\" (exit 3) until the next `configure`."
    )]
    Clear(ClearArgs),
    /// Decrypt an Azure Stack Hub backup snapshot (Unprotect-AzsBackup)
    #[command(
        after_help = "Example:\n  azs-backup unprotect 201901151200_2b1a7c3e-0f6d-4a55-9d0c-3f1e2a4b5c6d_Full_C.zip \\\n    --cert-path backup.pfx --cert-password-stdin --destination ./decrypted < pfx-password.txt\n\nMirrors Unprotect-AzsBackup from the AzureStack-Tools: reads the sidecar .xml beside the\nsnapshot, checks the certificate thumbprint, unwraps the key (RSA-OAEP), checks the\nHMAC-SHA512 before decrypting (AES-256-CBC) and extracts the zip. See docs/AZURESTACK.md."
    )]
    Unprotect(UnprotectArgs),
    /// Print shell completions
    #[command(
        after_help = "Example:\n  azs-backup completions bash > /etc/bash_completion.d/azs-backup"
    )]
    Completions(CompletionsArgs),
    /// Print the man page, or write every page into a directory
    #[command(after_help = "Example:\n  azs-backup man --out-dir /usr/local/share/man/man1")]
    Man(ManArgs),
}

#[derive(Args, Debug, Default)]
pub struct ConfigureArgs {
    /// Backup location: \\host\share\folder, smb://host:port/share/folder, or a local directory
    #[arg(long, value_name = "PATH")]
    pub path: Option<String>,
    /// Share user: DOMAIN\user or user
    #[arg(long, value_name = "USER")]
    pub username: Option<String>,
    /// Read the share password from the first line of stdin
    #[arg(long)]
    pub password_stdin: bool,
    /// Public-only certificate (.cer, DER or PEM) that backups are encrypted for
    #[arg(long, visible_alias = "cert", value_name = "FILE")]
    pub encryption_cert_path: Option<PathBuf>,
    /// Legacy encryption key (backward-compatibility mode only; prefer --encryption-key-stdin)
    #[arg(long, value_name = "BASE64", conflicts_with = "encryption_key_stdin")]
    pub encryption_key: Option<String>,
    /// Read the legacy encryption key from stdin
    #[arg(long, conflicts_with = "password_stdin")]
    pub encryption_key_stdin: bool,
    /// Hours between automatic backups (4..=12, default 12)
    #[arg(long, visible_alias = "frequency", value_name = "HOURS")]
    pub backup_frequency_in_hours: Option<u32>,
    /// Days backups are kept (2..=14, default 7)
    #[arg(long, visible_alias = "retention", value_name = "DAYS")]
    pub backup_retention_period_in_days: Option<u32>,
    /// A source to back up, NAME=DIR (repeatable; adds it or changes its directory)
    #[arg(long, value_name = "NAME=DIR")]
    pub source: Vec<String>,
    /// Remove a source by name (repeatable)
    #[arg(long, value_name = "NAME")]
    pub remove_source: Vec<String>,
    /// Do not prove the target reachable and writable
    #[arg(long)]
    pub no_verify: bool,
    /// After each archive is written, read it back from the target and compare its SHA-256
    /// (catches shares that truncate or corrupt silently; costs one extra read of every archive).
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set)]
    pub verify_after_write: Option<bool>,
    /// Confirm changes that delete backups (reducing retention) without asking
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Exit 11 when any health warning is present (for monitoring and smoke tests)
    #[arg(long)]
    pub check: bool,
    /// Do not contact the target (no capacity, no reachability check)
    #[arg(long)]
    pub offline: bool,
}

/// `-OperationType` of Invoke-AzsPruneBackupLocationExternalStore.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PruneOperation {
    #[value(name = "Default", alias = "default")]
    Default,
    #[value(name = "DryRun", alias = "dryrun", alias = "dry-run")]
    DryRun,
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// List the paths that would be deleted; delete nothing (= --operation-type DryRun)
    #[arg(long)]
    pub dry_run: bool,
    /// Default deletes, DryRun only lists (as the cmdlet's -OperationType)
    #[arg(long, value_enum, value_name = "TYPE", conflicts_with = "dry_run")]
    pub operation_type: Option<PruneOperation>,
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

#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub from: FromArgs,
    /// Also list folders of interrupted or failed runs
    #[arg(long)]
    pub all: bool,
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    /// Backup id (a GUID, as `list` shows)
    pub id: String,
    #[command(flatten)]
    pub from: FromArgs,
}

/// How to get the key that decrypts a backup.
#[derive(Args, Debug, Default)]
pub struct KeyArgs {
    /// Private key: PKCS#8/PKCS#1 .pem, or .pfx/.p12 (password from a prompt, --key-password-stdin or AZS_BACKUP_KEY_PASSWORD)
    #[arg(long, visible_alias = "decryption-cert-path", value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Read the .pfx password from the first line of stdin
    #[arg(long, visible_alias = "decryption-cert-password-stdin")]
    pub key_password_stdin: bool,
    /// Read a legacy encryption key from stdin (backups made in backward-compatibility mode)
    #[arg(long, conflicts_with_all = ["key", "key_password_stdin"])]
    pub encryption_key_stdin: bool,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// Backup id
    pub id: String,
    #[command(flatten)]
    pub key: KeyArgs,
    #[command(flatten)]
    pub from: FromArgs,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// Backup id
    pub id: String,
    #[command(flatten)]
    pub key: KeyArgs,
    /// Directory to restore into (created if missing; must be empty unless --force)
    #[arg(long, visible_alias = "destination", value_name = "DIR")]
    pub to: PathBuf,
    /// Restore only this source
    #[arg(long, visible_alias = "role-name", value_name = "NAME")]
    pub source: Option<String>,
    /// Restore into a non-empty directory, replacing the sources' folders
    #[arg(long)]
    pub force: bool,
    /// Restore setuid, setgid and sticky bits (masked by default: restored files belong to the
    /// user who restores, often root).
    #[arg(long)]
    pub preserve_special_bits: bool,
    #[command(flatten)]
    pub from: FromArgs,
}

#[derive(Args, Debug)]
pub struct NewCertArgs {
    /// DNS name for the certificate's subject and SAN
    #[arg(long, value_name = "NAME")]
    pub dns_name: String,
    /// Directory to write the files into
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out_dir: PathBuf,
    /// RSA key size
    #[arg(long, default_value_t = 2048, value_parser = parse_bits)]
    pub bits: usize,
    /// Days the certificate is valid
    #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub valid_days: u32,
    /// Do not write a .pfx (only the .cer and the PKCS#8 .pem)
    #[arg(long, conflicts_with = "pfx_password_stdin")]
    pub no_pfx: bool,
    /// Read the .pfx password from the first line of stdin
    #[arg(long)]
    pub pfx_password_stdin: bool,
}

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// Shell
    pub shell: clap_complete::Shell,
}

#[derive(Args, Debug)]
pub struct ManArgs {
    /// Write azs-backup.1 and one page per subcommand into this directory
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

fn parse_bits(s: &str) -> Result<usize, String> {
    match s {
        "2048" | "3072" | "4096" => Ok(s.parse().expect("listed values are numbers")),
        _ => Err("allowed values are 2048, 3072 and 4096".into()),
    }
}

#[derive(Args, Debug)]
pub struct RotateCertArgs {
    /// The new public-only certificate (.cer, DER or PEM) that new backups are encrypted for
    #[arg(long, visible_alias = "cert", value_name = "FILE")]
    pub encryption_cert_path: PathBuf,
}

#[derive(Args, Debug)]
pub struct ClearArgs {
    /// Do not ask for confirmation (for scripts)
    #[arg(long, short = 'y')]
    pub yes: bool,
}

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
