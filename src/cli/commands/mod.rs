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

// Help texts longer than a line or two live in src/cli/help/*.txt, included as they are (no
// trailing newline: clap prints them verbatim; completions/ and man/ are generated from them).
const AFTER_HELP: &str = include_str!("../help/exit-codes.txt");

/// Azure Stack Hub style infrastructure backups: encrypted archives pushed to a UNC share.
#[derive(Parser, Debug)]
#[command(
    name = "azs-backup",
    version,
    about = "Azure Stack Hub style infrastructure backups: encrypted archives pushed to a UNC share over SMB",
    long_about = include_str!("../help/about.txt"),
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
        after_help = include_str!("../help/configure.txt")
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
        after_help = include_str!("../help/enable-auto.txt")
    )]
    EnableAuto,
    /// Pause automatic backups, keeping the schedule (Disable Automatic Backups)
    #[command(
        after_help = include_str!("../help/disable-auto.txt")
    )]
    DisableAuto,
    /// Make a backup if one is due, then prune (the built-in scheduler)
    #[command(
        after_help = include_str!("../help/tick.txt")
    )]
    Tick,
    /// Delete old backups (Invoke-AzsPruneBackupLocationExternalStore)
    #[command(
        after_help = include_str!("../help/prune.txt")
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
        after_help = include_str!("../help/rotate-cert.txt")
    )]
    RotateCert(rotate_cert::RotateCertArgs),
    /// Remove settings, secrets and state (Clear-AzsBackupConfiguration)
    #[command(
        after_help = include_str!("../help/clear.txt")
    )]
    Clear(clear::ClearArgs),
    /// Check, decrypt and extract Azure Stack Hub backups: one snapshot, or a whole backup from the share (Unprotect-AzsBackup)
    #[command(
        after_help = include_str!("../help/unprotect.txt")
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
