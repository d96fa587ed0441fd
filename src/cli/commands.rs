//! One function per subcommand: gather input, call the library, render.

use super::args::{self, Cli, Command};
use super::exit::{self, CliError};
use super::input;
use super::keys;
use super::progress::{BackupProgress, SourcesBar};
use super::shared::{load, open_target};
use super::Out;
use anyhow::Result;
use azs_backup::backup;
use azs_backup::certificate::{self, NewCertOptions};
use azs_backup::clock;
use azs_backup::configure::{self, ConfigureRequest};
use azs_backup::crypto::LegacyKey;
use azs_backup::manifest::{self, Found, Manifest};
use azs_backup::restore::{self, RestoreRequest};
use azs_backup::settings::{self, Loaded, SettingsPaths};
use azs_backup::state::Trigger;
use azs_backup::status::{self, human_bytes, SettingsView, JSON_SCHEMA_VERSION};
use azs_backup::target::{self, Credentials, Target, TargetSpec};
use azs_backup::verify;
use azs_backup::Error;
use clap::CommandFactory;
use serde::Serialize;
use std::io::Write;
use zeroize::Zeroizing;

/// Dispatches a parsed command line; returns the exit code on success paths.
pub fn run(cli: Cli, out: &Out) -> Result<i32> {
    let config = cli.config.clone();
    let paths = || SettingsPaths::resolve(config.as_deref());
    match cli.command {
        Command::Configure(a) => cmd_configure(&paths()?, a, out),
        Command::Status(a) => cmd_status(&paths()?, a, out),
        Command::StartBackup => cmd_start_backup(&paths()?, out),
        Command::EnableAuto => super::auto::cmd_set_auto(&paths()?, true, out),
        Command::DisableAuto => super::auto::cmd_set_auto(&paths()?, false, out),
        Command::Tick => super::auto::cmd_tick(&paths()?, out),
        Command::Prune(a) => super::auto::cmd_prune(&paths()?, a, out),
        Command::List(a) => cmd_list(config.as_deref(), a, out),
        Command::Show(a) => cmd_show(config.as_deref(), a, out),
        Command::Verify(a) => cmd_verify(config.as_deref(), a, out),
        Command::Restore(a) => cmd_restore(config.as_deref(), a, out),
        Command::NewCert(a) => cmd_new_cert(a, out),
        Command::NewEncryptionKey => {
            // The key is the command's product: printed even with --quiet.
            let key = LegacyKey::generate_text();
            if out.json {
                out.json(&serde_json::json!({ "encryptionKey": key.as_str() }))?;
            } else {
                println!("{}", key.as_str());
            }
            Ok(exit::OK)
        }
        Command::Completions(a) => {
            let mut cmd = Cli::command();
            clap_complete::generate(a.shell, &mut cmd, "azs-backup", &mut std::io::stdout());
            Ok(exit::OK)
        }
        Command::Man(a) => cmd_man(a),
        Command::RotateCert(a) => keys::cmd_rotate_cert(&paths()?, a, out),
        Command::Clear(a) => keys::cmd_clear(&paths()?, a, out),
        Command::Unprotect(a) => keys::cmd_unprotect(a, out),
    }
}

/// The target for commands that read backups: `--from`, else the settings' target.
fn reading_target(
    config: Option<&std::path::Path>,
    from: &args::FromArgs,
    out: &Out,
) -> Result<(Box<dyn Target>, Option<Loaded>)> {
    if let Some(path) = &from.from {
        let spec = TargetSpec::parse(path).map_err(Error::from)?;
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
        return Ok((target::open(&spec, creds.as_ref())?, None));
    }
    let paths = SettingsPaths::resolve(config)?;
    let loaded = load(&paths, out)?;
    let t = open_target(&loaded, out)?;
    Ok((t, Some(loaded)))
}

fn cmd_configure(paths: &SettingsPaths, a: args::ConfigureArgs, out: &Out) -> Result<i32> {
    let first_time = !paths.settings.exists();
    let encryption_key = if a.encryption_key_stdin {
        Some(input::stdin_line("encryption key")?)
    } else {
        a.encryption_key.clone().map(Zeroizing::new)
    };
    let password = input::share_password(a.password_stdin, first_time)?;
    let sources = a
        .source
        .iter()
        .map(|s| settings::parse_source_arg(s))
        .collect::<Result<Vec<_>, _>>()?;
    let req = ConfigureRequest {
        path: a.path.clone(),
        username: a.username.clone(),
        password,
        encryption_cert_path: a.encryption_cert_path.clone(),
        encryption_key,
        frequency_hours: a.backup_frequency_in_hours,
        retention_days: a.backup_retention_period_in_days,
        sources,
        remove_sources: a.remove_source.clone(),
        verify_target: !a.no_verify,
        verify_after_write: a.verify_after_write,
    };
    let yes = a.yes;
    let mut confirm = |msg: &str| -> bool {
        if yes {
            return true;
        }
        if !input::can_prompt() {
            return false;
        }
        eprint!("{msg}.\nContinue? [y/N] ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        if std::io::stdin().read_line(&mut line).is_err() {
            return false;
        }
        matches!(line.trim(), "y" | "Y" | "yes" | "YES" | "Yes")
    };
    let now = clock::now()?;
    let outcome = configure::configure(paths, req, now, &mut confirm)?;
    let view = SettingsView::of(&outcome.loaded);
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Doc<'a> {
        schema_version: u32,
        first_time: bool,
        changed: &'a [&'static str],
        #[serde(flatten)]
        settings: &'a SettingsView,
        is_backup_scheduler_enabled: bool,
        next_backup_time: Option<chrono::DateTime<chrono::Utc>>,
        notes: &'a [String],
    }
    out.json(&Doc {
        schema_version: JSON_SCHEMA_VERSION,
        first_time: outcome.first_time,
        changed: &outcome.changed,
        settings: &view,
        is_backup_scheduler_enabled: outcome.state.is_backup_scheduler_enabled,
        next_backup_time: outcome.state.next_backup_time,
        notes: &outcome.notes,
    })?;
    for n in &outcome.notes {
        out.note(format!("azs-backup: note: {n}"));
    }
    if outcome.first_time {
        out.say(format!(
            "Configured {}; automatic backups are on.",
            paths.settings.display()
        ));
    } else if outcome.changed.is_empty() {
        out.say("Nothing changed.");
    } else {
        out.say(format!("Changed: {}.", outcome.changed.join(", ")));
    }
    out.say(render_settings(&view));
    if let Some(next) = outcome.state.next_backup_time {
        out.say(format!(
            "  nextBackupTime                {}",
            next.to_rfc3339()
        ));
    }
    if !a.no_verify {
        out.say("  target                        reachable and writable (probe file written, read back and deleted)");
    }
    Ok(exit::OK)
}

fn render_settings(v: &SettingsView) -> String {
    let mut s = String::new();
    let mut line = |k: &str, v: String| s.push_str(&format!("  {k:<30}{v}\n"));
    line("path", v.path.clone());
    line(
        "encryptionMode",
        if v.encryption_mode == "key" {
            "legacy encryption key (backward-compatibility mode)".into()
        } else {
            "certificate".into()
        },
    );
    line("userName", v.user_name.clone());
    line("password", "(stored, not shown)".into());
    line(
        "backupFrequencyInHours",
        v.backup_frequency_in_hours.to_string(),
    );
    line(
        "backupRetentionPeriodInDays",
        v.backup_retention_period_in_days.to_string(),
    );
    if let Some(t) = &v.encryption_cert_thumbprint {
        line("encryptionCertThumbprint", t.clone());
    }
    if let Some(t) = &v.encryption_cert_thumbprint_sha256 {
        line("  (SHA-256)", t.clone());
    }
    if let Some(t) = &v.encryption_cert_expiry {
        line("  expires", t.to_rfc3339());
    }
    if let Some(k) = &v.encryption_key_id {
        line(
            "encryption",
            format!("legacy key {k} (backward-compatibility mode)"),
        );
    }
    line(
        "verifyAfterWrite",
        if v.verify_after_write {
            "true (each archive is read back and its SHA-256 compared)".into()
        } else {
            "false".into()
        },
    );
    for src in &v.sources {
        line(&format!("source {}", src.name), src.path.clone());
    }
    s.trim_end().to_string()
}

fn cmd_status(paths: &SettingsPaths, a: args::StatusArgs, out: &Out) -> Result<i32> {
    let loaded = load(paths, out)?;
    let now = clock::now()?;
    let report = status::status(&loaded, now, a.offline)?;
    out.json(&report)?;
    out.say("Backup settings");
    out.say(render_settings(&report.settings));
    let t = |x: Option<chrono::DateTime<chrono::Utc>>| {
        x.map(|t| t.to_rfc3339()).unwrap_or_else(|| "-".into())
    };
    out.say(format!(
        "Automatic backups              {}",
        if report.is_backup_scheduler_enabled {
            "on"
        } else {
            "off"
        }
    ));
    out.say(format!(
        "  nextBackupTime               {}",
        t(report.next_backup_time)
    ));
    out.say(format!(
        "  lastBackupTime               {} {}",
        t(report.last_backup_time),
        report.last_backup_status.as_deref().unwrap_or("")
    ));
    out.say(format!(
        "  lastSuccessfulBackupTime     {}",
        t(report.last_successful_backup_time)
    ));
    if let Some(skipped) = report.last_skipped_time {
        out.say(format!(
            "  lastSkippedTime              {} (another backup was running)",
            skipped.to_rfc3339()
        ));
    }
    out.say(format!(
        "  availableCapacity            {}",
        match (report.available_capacity, report.total_capacity) {
            (Some(a), Some(t)) => format!("{} free of {}", human_bytes(a), human_bytes(t)),
            _ => "unknown".into(),
        }
    ));
    if report.health.is_empty() {
        out.say("Health                         OK");
    } else {
        out.say("Health");
        for h in &report.health {
            out.say(format!("  warning: {} ({})", h.message, h.code));
        }
    }
    if a.check && !report.health.is_empty() {
        return Err(CliError {
            code: exit::UNHEALTHY,
            kind: "unhealthy",
            message: format!(
                "{} health warning(s): {}",
                report.health.len(),
                report
                    .health
                    .iter()
                    .map(|h| h.code)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
        .into());
    }
    Ok(exit::OK)
}

/// A backup as shown by `list`, `show` and `start-backup`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BackupView<'a> {
    #[serde(flatten)]
    manifest: &'a Manifest,
    backup_data_size_in_bytes: u64,
    plain_size_in_bytes: u64,
}

impl<'a> BackupView<'a> {
    fn of(m: &'a Manifest) -> Self {
        BackupView {
            manifest: m,
            backup_data_size_in_bytes: m.encrypted_size(),
            plain_size_in_bytes: m.plain_size(),
        }
    }
}

fn render_backup(m: &Manifest) -> String {
    let mut s = format!(
        "backupId                  {}\nstatus                    {}\ncreatedDateTime           {}\ntimeTakenToCreate         {}\n",
        m.backup_id,
        m.status,
        m.created_date_time.to_rfc3339(),
        m.time_taken_to_create
    );
    match (&m.encryption_cert_thumbprint, &m.encryption_key_id) {
        (Some(t), _) => s.push_str(&format!("encryptionCertThumbprint  {t}\n")),
        (None, Some(k)) => s.push_str(&format!("encryptionKeyId           {k}\n")),
        _ => {}
    }
    s.push_str(&format!(
        "size                      {} ({} before compression and encryption)\nhost                      {}\nroleStatus\n",
        human_bytes(m.encrypted_size()),
        human_bytes(m.plain_size()),
        m.host_name
    ));
    for r in &m.role_status {
        s.push_str(&format!(
            "  {:<20} {:<17} {:>6} files {:>10} -> {:>10}{}\n",
            r.role_name,
            r.status.to_string(),
            r.file_count,
            human_bytes(r.plain_size_in_bytes),
            human_bytes(r.encrypted_size_in_bytes),
            r.error_message
                .as_deref()
                .map(|e| format!("  ({e})"))
                .unwrap_or_default()
        ));
    }
    s.trim_end().to_string()
}

fn cmd_start_backup(paths: &SettingsPaths, out: &Out) -> Result<i32> {
    let loaded = load(paths, out)?;
    let mut progress = BackupProgress::new(out, &loaded.settings.sources);
    let result = backup::start(&loaded, Trigger::OnDemand, &mut progress);
    progress.finish();
    let m = result?;
    out.json(&BackupView::of(&m))?;
    out.say(render_backup(&m));
    backup::outcome(&m)?;
    Ok(exit::OK)
}

fn cmd_list(config: Option<&std::path::Path>, a: args::ListArgs, out: &Out) -> Result<i32> {
    let (t, _) = reading_target(config, &a.from, out)?;
    let found = manifest::scan(t.as_ref())?;
    let backups: Vec<&Manifest> = found
        .iter()
        .filter_map(|f| match f {
            Found::Backup(m) => Some(m.as_ref()),
            _ => None,
        })
        .collect();
    let incomplete: Vec<(&str, &str, &str)> = found
        .iter()
        .filter_map(|f| match f {
            Found::Incomplete { name, reason } => {
                Some((name.as_str(), "incomplete", reason.as_str()))
            }
            Found::Invalid { name, reason } => Some((name.as_str(), "invalid", reason.as_str())),
            Found::Backup(_) => None,
        })
        .collect();
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Incomplete<'a> {
        name: &'a str,
        /// `incomplete` (no manifest) or `invalid` (a manifest that fails validation).
        state: &'a str,
        reason: &'a str,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Doc<'a> {
        schema_version: u32,
        backups: Vec<BackupView<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        incomplete: Option<Vec<Incomplete<'a>>>,
    }
    out.json(&Doc {
        schema_version: JSON_SCHEMA_VERSION,
        backups: backups.iter().map(|m| BackupView::of(m)).collect(),
        incomplete: a.all.then(|| {
            incomplete
                .iter()
                .map(|(name, state, reason)| Incomplete {
                    name,
                    state,
                    reason,
                })
                .collect()
        }),
    })?;
    if backups.is_empty() {
        out.say("No backups on the target.");
    } else {
        out.say(format!(
            "{:<36}  {:<16}  {:<25}  {:>10}  {}",
            "backupId", "status", "createdDateTime", "size", "encryptedFor"
        ));
        for m in &backups {
            out.say(format!(
                "{:<36}  {:<16}  {:<25}  {:>10}  {}",
                m.backup_id,
                m.status.to_string(),
                m.created_date_time
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                human_bytes(m.encrypted_size()),
                m.recipient_id()
            ));
        }
    }
    if a.all {
        for (name, state, reason) in &incomplete {
            let label = if *state == "invalid" {
                "Invalid"
            } else {
                "Incomplete"
            };
            out.say(format!("{name:<36}  {label:<16}  {reason}"));
        }
    } else if !incomplete.is_empty() {
        out.note(format!(
            "azs-backup: note: {} folder(s) of interrupted or failed runs or with an invalid manifest are not listed (see `list --all`)",
            incomplete.len()
        ));
    }
    Ok(exit::OK)
}

fn cmd_show(config: Option<&std::path::Path>, a: args::ShowArgs, out: &Out) -> Result<i32> {
    let (t, _) = reading_target(config, &a.from, out)?;
    let m = manifest::read(t.as_ref(), &a.id)?;
    out.json(&BackupView::of(&m))?;
    out.say(render_backup(&m));
    Ok(exit::OK)
}

fn cmd_verify(config: Option<&std::path::Path>, a: args::VerifyArgs, out: &Out) -> Result<i32> {
    let (t, loaded) = reading_target(config, &a.from, out)?;
    let identity = keys::identity_for(&a.key, loaded.as_ref(), t.as_ref(), &a.id)?;
    let m = manifest::read(t.as_ref(), &a.id)?;
    let mut bar = SourcesBar::new(out, m.encrypted_size(), "verifying");
    let report = verify::verify(t.as_ref(), &a.id, identity.as_ref(), &mut |role, n| {
        bar.update(role, n)
    });
    bar.finish();
    let report = report.map_err(|e| keys::explain_wrong_key(e, &m, identity.as_ref()))?;
    out.json(&report)?;
    for s in &report.sources {
        out.say(format!(
            "{} {:<20} {}",
            if s.ok { "ok  " } else { "FAIL" },
            s.role_name,
            s.message
        ));
    }
    if !report.ok {
        let failed: Vec<String> = report
            .sources
            .iter()
            .filter(|s| !s.ok)
            .map(|s| s.message.clone())
            .collect();
        return Err(Error::VerificationFailed(format!(
            "backup {}: {}",
            report.backup_id,
            failed.join("; ")
        ))
        .into());
    }
    out.say(if report.with_key {
        format!(
            "Backup {} verified: every file matches the manifest and every chunk decrypts and authenticates.",
            report.backup_id
        )
    } else {
        format!(
            "Backup {} verified without a key: every file is present and matches the manifest's checksums (pass --key to decrypt and authenticate every chunk).",
            report.backup_id
        )
    });
    Ok(exit::OK)
}

fn cmd_restore(config: Option<&std::path::Path>, a: args::RestoreArgs, out: &Out) -> Result<i32> {
    let (t, loaded) = reading_target(config, &a.from, out)?;
    let identity = keys::identity_for(&a.key, loaded.as_ref(), t.as_ref(), &a.id)?.ok_or_else(|| {
        CliError::usage(
            "restore needs the key the backup was encrypted for: --key FILE (.pem or .pfx), or --encryption-key-stdin",
        )
    })?;
    let m = manifest::read(t.as_ref(), &a.id)?;
    let mut bar = SourcesBar::new(out, m.encrypted_size(), "restoring");
    let restored = restore::restore(
        &RestoreRequest {
            target: t.as_ref(),
            backup_id: &a.id,
            identity: &identity,
            to: &a.to,
            source: a.source.as_deref(),
            force: a.force,
            preserve_special_bits: a.preserve_special_bits,
        },
        &mut |role, n| bar.update(role, n),
    );
    bar.finish();
    let restored = restored.map_err(|e| keys::explain_wrong_key(e, &m, Some(&identity)))?;
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Doc<'a> {
        schema_version: u32,
        backup_id: &'a str,
        restored: &'a [restore::Restored],
    }
    out.json(&Doc {
        schema_version: JSON_SCHEMA_VERSION,
        backup_id: &m.backup_id,
        restored: &restored,
    })?;
    for r in &restored {
        out.say(format!(
            "Restored source {} into {} ({} files, {}).",
            r.role_name,
            r.path.display(),
            r.files,
            human_bytes(r.bytes)
        ));
    }
    Ok(exit::OK)
}

fn cmd_new_cert(a: args::NewCertArgs, out: &Out) -> Result<i32> {
    let pfx_password = if a.no_pfx {
        None
    } else if a.pfx_password_stdin {
        Some(input::stdin_line("pfx password")?)
    } else if let Some(p) = input::env_secret("AZS_BACKUP_PFX_PASSWORD") {
        Some(p)
    } else if input::can_prompt() {
        Some(input::prompt_twice(
            "Password for the .pfx",
            "pfx-password",
        )?)
    } else {
        return Err(CliError::usage(
            "the .pfx needs a password: --pfx-password-stdin, AZS_BACKUP_PFX_PASSWORD, a terminal to prompt on, or --no-pfx",
        ));
    };
    let files = certificate::new_self_signed(&NewCertOptions {
        dns_name: a.dns_name.clone(),
        out_dir: a.out_dir.clone(),
        bits: a.bits,
        valid_days: a.valid_days,
        pfx_password,
        now: clock::now()?,
    })?;
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Doc {
        certificate_path: String,
        private_key_path: String,
        pfx_path: Option<String>,
        thumbprint: String,
        not_after: chrono::DateTime<chrono::Utc>,
    }
    out.json(&Doc {
        certificate_path: files.cer.display().to_string(),
        private_key_path: files.pem.display().to_string(),
        pfx_path: files.pfx.as_ref().map(|p| p.display().to_string()),
        thumbprint: files.thumbprint.clone(),
        not_after: files.not_after,
    })?;
    out.say(format!(
        "Certificate (public key, give this to configure): {}",
        files.cer.display()
    ));
    out.say(format!(
        "Private key (PKCS#8 PEM, mode 0600):              {}",
        files.pem.display()
    ));
    if let Some(p) = &files.pfx {
        out.say(format!(
            "Private key (PFX, password protected, mode 0600): {}",
            p.display()
        ));
    }
    out.say(format!("Thumbprint: {}", files.thumbprint));
    out.say(format!("Expires:    {}", files.not_after.to_rfc3339()));
    out.note("azs-backup: note: keep the private key somewhere other than this server and the share: without it the backups cannot be restored.");
    Ok(exit::OK)
}

fn cmd_man(a: args::ManArgs) -> Result<i32> {
    let cmd = Cli::command();
    match a.out_dir {
        None => {
            clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?;
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
            for (name, page) in man_pages() {
                std::fs::write(dir.join(&name), page)
                    .map_err(|e| Error::io(format!("writing {name}"), e))?;
            }
        }
    }
    Ok(exit::OK)
}

/// Every man page: `azs-backup.1` and `azs-backup-<sub>.1`.
pub fn man_pages() -> Vec<(String, Vec<u8>)> {
    let mut cmd = Cli::command();
    cmd.build();
    let mut pages = Vec::new();
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut buf)
        .expect("render to memory");
    pages.push(("azs-backup.1".to_string(), buf));
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("azs-backup-{}", sub.get_name());
        let sub = sub.clone().name(name.clone());
        let mut buf = Vec::new();
        clap_mangen::Man::new(sub)
            .render(&mut buf)
            .expect("render to memory");
        pages.push((format!("{name}.1"), buf));
    }
    pages
}
