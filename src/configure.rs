//! `configure` (`Set-AzsBackupConfiguration`): creates or changes settings. Only the fields
//! given change; every field is validated (docs/SETTINGS.md); unless told not to, the target is proven
//! reachable and writable with a probe file; settings and secrets are written atomically.

use crate::certificate::Certificate;
use crate::crypto::LegacyKey;
use crate::error::{Error, Result};
use crate::manifest;
use crate::settings::{
    validate_compression_level, validate_frequency, validate_retention, validate_source_name,
    validate_username, EncryptionMode, Loaded, Secrets, Settings, SettingsPaths, Source,
    FREQUENCY_DEFAULT, RETENTION_DEFAULT, SETTINGS_VERSION,
};
use crate::state::State;
use crate::store::{self, Store, TargetSpec};
use chrono::{DateTime, Duration, Utc};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

mod clear;
mod monitoring;
mod recovery;
pub use clear::clear;
use monitoring::apply_monitoring;
pub use recovery::MAX_RECOVERY_CERTIFICATES;

/// The changes asked for. `None` / empty = keep.
#[derive(Default)]
pub struct ConfigureRequest {
    pub path: Option<String>,
    pub username: Option<String>,
    pub password: Option<Zeroizing<String>>,
    pub encryption_cert_path: Option<PathBuf>,
    pub encryption_key: Option<Zeroizing<String>>,
    pub frequency_hours: Option<u32>,
    pub retention_days: Option<u32>,
    /// `NAME=DIR` pairs: add the source, or change the directory of an existing one.
    pub sources: Vec<(String, PathBuf)>,
    /// Source names to remove.
    pub remove_sources: Vec<String>,
    /// Prove the target reachable and writable with a probe file.
    pub verify_target: bool,
    /// Read every archive back after writing it and compare its SHA-256.
    pub verify_after_write: Option<bool>,
    /// Turn automatic backups on or off (`-IsBackupSchedulerEnabled`; as `enable-auto` /
    /// `disable-auto`).
    pub scheduler_enabled: Option<bool>,
    /// healthchecks.io-style URL to ping (`Some("")` removes it).
    pub notify_url: Option<String>,
    /// Prometheus textfile to write after every run (`Some("")` removes it).
    pub metrics_file: Option<PathBuf>,
    /// zstd level of new archives.
    pub compression_level: Option<i32>,
    /// Recovery certificates to add (public-only, like the encryption certificate).
    pub recovery_cert_paths: Vec<PathBuf>,
    /// Thumbprints of recovery certificates to remove.
    pub remove_recovery_certs: Vec<String>,
}

/// What `configure` did.
#[derive(Debug)]
pub struct ConfigureOutcome {
    pub loaded: Loaded,
    pub state: State,
    pub first_time: bool,
    /// Settings changed by this call, by field name.
    pub changed: Vec<&'static str>,
    /// Notes for the operator (e.g. retention reduced, certificate expiring).
    pub notes: Vec<String>,
}

/// Applies `req` to the settings at `paths`. `confirm` is asked (with a message) before a change
/// that deletes backups (reducing retention); returning false refuses the change.
pub fn configure(
    paths: &SettingsPaths,
    req: ConfigureRequest,
    now: DateTime<Utc>,
    confirm: &mut dyn FnMut(&str) -> bool,
) -> Result<ConfigureOutcome> {
    let existing = load_existing(paths)?;
    let first_time = existing.is_none();
    let mut changed = Vec::new();
    let mut notes = Vec::new();

    // Validate the simple fields first, so a bad value fails before anything is read or probed.
    validate_request(&req)?;
    let mut loaded = match existing {
        Some(l) => l,
        None => first_settings(paths, &req)?,
    };
    // Held until the state is saved, so a concurrent tick or backup loses no update.
    let _state_lock = crate::state::lock(&paths.state)?;
    let mut state = State::load(&paths.state)?;
    let old = loaded.settings.clone();

    let (verify_target, scheduler_enabled) =
        apply_request(&mut loaded, req, &mut state, now, &mut changed, &mut notes)?;
    changed.dedup();

    check_target(
        &loaded,
        &old,
        first_time,
        verify_target,
        now,
        confirm,
        &mut notes,
    )?;

    // Settings without a state file are a first configure too (one killed after writing the
    // settings and before the state): the schedule starts and the recipient is recorded.
    let first_time = first_time || !paths.state.exists();
    update_schedule(&loaded, &old, first_time, &mut state, now);
    if let Some(enabled) = scheduler_enabled {
        set_scheduler(&loaded, enabled, &mut state, now, &mut changed);
    }
    if loaded.file_version == 1 {
        notes.push("settings from an older version (version = 1) were migrated to version 2; the password and encryption key moved to the secrets file".into());
        changed.push("version");
    }
    loaded.save()?;
    loaded.file_version = SETTINGS_VERSION;
    state.save(&paths.state)?;
    Ok(ConfigureOutcome {
        loaded,
        state,
        first_time,
        changed,
        notes,
    })
}

/// Applies every change of `req` to `loaded` and validates the result; returns what is left to
/// do afterwards: whether to probe the target, and the scheduler switch.
fn apply_request(
    loaded: &mut Loaded,
    req: ConfigureRequest,
    state: &mut State,
    now: DateTime<Utc>,
    changed: &mut Vec<&'static str>,
    notes: &mut Vec<String>,
) -> Result<(bool, Option<bool>)> {
    let ConfigureRequest {
        path,
        username,
        password,
        encryption_cert_path,
        encryption_key,
        frequency_hours,
        retention_days,
        sources,
        remove_sources,
        verify_target,
        verify_after_write,
        scheduler_enabled,
        notify_url,
        metrics_file,
        compression_level,
        recovery_cert_paths,
        remove_recovery_certs,
    } = req;
    apply_monitoring(&mut loaded.settings, notify_url, metrics_file, changed)?;
    apply_simple_fields(
        loaded,
        SimpleFields {
            path,
            username,
            password,
            frequency_hours,
            retention_days,
            verify_after_write,
            compression_level,
        },
        changed,
    )?;
    apply_encryption(
        loaded,
        encryption_cert_path,
        encryption_key,
        state,
        now,
        changed,
        notes,
    )?;
    let recovery = (recovery_cert_paths, remove_recovery_certs);
    recovery::apply_recovery(&mut loaded.settings, recovery, now, changed, notes)?;
    apply_sources(&mut loaded.settings, &remove_sources, sources, changed)?;
    loaded.settings.validate()?;
    recovery::check_distinct(&loaded.settings)?;
    Ok((verify_target, scheduler_enabled))
}

/// The settings at `paths`, or `None` when there are none yet.
fn load_existing(paths: &SettingsPaths) -> Result<Option<Loaded>> {
    match Loaded::load(paths) {
        Ok(l) => Ok(Some(l)),
        Err(Error::NotConfigured { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Checks the fields that need nothing read or probed (ranges, names, the target's syntax).
fn validate_request(req: &ConfigureRequest) -> Result<()> {
    if let Some(f) = req.frequency_hours {
        validate_frequency(f)?;
    }
    if let Some(r) = req.retention_days {
        validate_retention(r)?;
    }
    if let Some(l) = req.compression_level {
        validate_compression_level(l)?;
    }
    if let Some(u) = &req.username {
        validate_username(u)?;
    }
    if let Some(p) = &req.path {
        TargetSpec::parse(p)?;
    }
    for (name, _) in &req.sources {
        validate_source_name(name)?;
    }
    if let Some(u) = req.notify_url.as_deref().filter(|u| !u.is_empty()) {
        crate::settings::validate_notify_url(u)?;
    }
    Ok(())
}

/// Default settings for a first-time configuration; refuses a request that lacks a field a
/// first configuration needs, or that gives a legacy encryption key.
fn first_settings(paths: &SettingsPaths, req: &ConfigureRequest) -> Result<Loaded> {
    if req.encryption_key.is_some() {
        return Err(Error::invalid(
            "encryption-key",
            "a first-time configuration needs a certificate (--encryption-cert-path FILE.cer); encryption keys are accepted only for settings from an older version (backward-compatibility mode)",
        ));
    }
    let missing: Vec<&str> = [
        ("--path", req.path.is_none()),
        ("--username", req.username.is_none()),
        (
            "password (--password-stdin, AZS_BACKUP_PASSWORD or the prompt)",
            req.password.is_none(),
        ),
        ("--encryption-cert-path", req.encryption_cert_path.is_none()),
        ("--source NAME=DIR", req.sources.is_empty()),
    ]
    .iter()
    .filter(|(_, m)| *m)
    .map(|(n, _)| *n)
    .collect();
    if !missing.is_empty() {
        return Err(Error::invalid(
            "configure",
            format!("a first configuration needs {}", missing.join(", ")),
        ));
    }
    Ok(Loaded {
        paths: paths.clone(),
        settings: Settings {
            version: SETTINGS_VERSION,
            path: String::new(),
            username: String::new(),
            backup_frequency_in_hours: FREQUENCY_DEFAULT,
            backup_retention_period_in_days: RETENTION_DEFAULT,
            encryption_mode: EncryptionMode::Certificate,
            encryption_certificate: None,
            recovery_certificates: Vec::new(),
            verify_after_write: false,
            compression_level: None,
            notify_url: None,
            metrics_file: None,
            sources: Vec::new(),
        },
        secrets: Secrets::default(),
        file_version: SETTINGS_VERSION,
    })
}

/// The single-valued fields of a request.
struct SimpleFields {
    path: Option<String>,
    username: Option<String>,
    password: Option<Zeroizing<String>>,
    frequency_hours: Option<u32>,
    retention_days: Option<u32>,
    verify_after_write: Option<bool>,
    compression_level: Option<i32>,
}

/// Sets the single-valued fields that differ, recording each in `changed`.
fn apply_simple_fields(
    loaded: &mut Loaded,
    f: SimpleFields,
    changed: &mut Vec<&'static str>,
) -> Result<()> {
    let s = &mut loaded.settings;
    if let Some(p) = f.path {
        let p = match TargetSpec::parse(&p)? {
            TargetSpec::Local(dir) => absolute(&dir)?.to_string_lossy().into_owned(),
            TargetSpec::Smb(_) => p,
        };
        if p != s.path {
            s.path = p;
            changed.push("path");
        }
    }
    if let Some(u) = f.username {
        if u != s.username {
            s.username = u;
            changed.push("userName");
        }
    }
    if let Some(pw) = f.password {
        if pw.is_empty() {
            return Err(Error::invalid("password", "the password is empty"));
        }
        if loaded.secrets.password.as_deref() != Some(pw.as_str()) {
            loaded.secrets.password = Some(pw.to_string());
            changed.push("password");
        }
    }
    if let Some(h) = f.frequency_hours {
        if h != s.backup_frequency_in_hours {
            s.backup_frequency_in_hours = h;
            changed.push("backupFrequencyInHours");
        }
    }
    if let Some(r) = f.retention_days {
        if r != s.backup_retention_period_in_days {
            s.backup_retention_period_in_days = r;
            changed.push("backupRetentionPeriodInDays");
        }
    }
    if let Some(v) = f.verify_after_write {
        if v != s.verify_after_write {
            s.verify_after_write = v;
            changed.push("verifyAfterWrite");
        }
    }
    if let Some(l) = f.compression_level {
        if Some(l) != s.compression_level {
            let was = s.compression_level();
            s.compression_level = Some(l);
            if l != was {
                changed.push("compressionLevel");
            }
        }
    }
    Ok(())
}

/// Sets the encryption certificate or legacy key (docs/SETTINGS.md), recording the new
/// recipient in the state.
fn apply_encryption(
    loaded: &mut Loaded,
    cert_path: Option<PathBuf>,
    key: Option<Zeroizing<String>>,
    state: &mut State,
    now: DateTime<Utc>,
    changed: &mut Vec<&'static str>,
    notes: &mut Vec<String>,
) -> Result<()> {
    let s = &mut loaded.settings;
    match (cert_path, key) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid(
                "encryption-cert-path",
                "give either --encryption-cert-path or --encryption-key, not both",
            ))
        }
        (Some(cert_path), None) => {
            let cert = Certificate::load(&cert_path)?;
            if let Some(w) = cert.expiry_warning(now) {
                notes.push(w);
            }
            let pem = cert.to_pem();
            if s.encryption_certificate.as_deref() != Some(pem.as_str()) {
                if s.encryption_mode == EncryptionMode::Key {
                    notes.push("switched from the encryption key to the certificate; this is one-way: an encryption key will no longer be accepted. Backups made with the key still need the key to restore.".into());
                    if let Some(old_key) = loaded.secrets.encryption_key.take() {
                        loaded.secrets.retired_encryption_keys.push(old_key);
                    }
                }
                s.encryption_mode = EncryptionMode::Certificate;
                s.encryption_certificate = Some(pem);
                changed.push("encryptionCertThumbprint");
                state.record_recipient(&cert.thumbprint, now);
            }
        }
        (None, Some(key)) => {
            if s.encryption_mode == EncryptionMode::Certificate {
                return Err(Error::invalid(
                    "encryption-key",
                    "these settings use a certificate, and replacing it by an encryption key is not allowed: keys are accepted only in backward-compatibility mode, and the switch from a key to a certificate is one-way (give a new certificate with --encryption-cert-path or `azs-backup rotate-cert`)",
                ));
            }
            let k = LegacyKey::parse(&key)?;
            if loaded.secrets.encryption_key.as_deref() != Some(key.as_str()) {
                if let Some(old_key) = loaded.secrets.encryption_key.replace(key.to_string()) {
                    loaded.secrets.retired_encryption_keys.push(old_key);
                }
                changed.push("encryptionKey");
                state.record_recipient(&k.key_id(), now);
            }
        }
        (None, None) => {}
    }
    Ok(())
}

/// Removes, then adds or changes sources; at least one must remain.
fn apply_sources(
    s: &mut Settings,
    remove: &[String],
    add: Vec<(String, PathBuf)>,
    changed: &mut Vec<&'static str>,
) -> Result<()> {
    for name in remove {
        let before = s.sources.len();
        s.sources.retain(|x| !x.name.eq_ignore_ascii_case(name));
        if s.sources.len() == before {
            return Err(Error::invalid(
                "remove-source",
                format!(
                    "there is no source {name:?}; configured: {}",
                    names(&s.sources)
                ),
            ));
        }
        changed.push("sources");
    }
    for (name, dir) in add {
        let meta = std::fs::metadata(&dir).map_err(|e| Error::Source {
            name: name.clone(),
            message: format!("{}: {e}", dir.display()),
        })?;
        if !meta.is_dir() {
            return Err(Error::Source {
                name,
                message: format!("{} is not a directory", dir.display()),
            });
        }
        let dir = absolute(&dir)?;
        match s
            .sources
            .iter_mut()
            .find(|x| x.name.eq_ignore_ascii_case(&name))
        {
            Some(existing) if existing.path == dir => {}
            Some(existing) => {
                existing.path = dir;
                changed.push("sources");
            }
            None => {
                s.sources.push(Source { name, path: dir });
                changed.push("sources");
            }
        }
    }
    if s.sources.is_empty() {
        return Err(Error::invalid(
            "source",
            "at least one source is required (--source NAME=DIR)",
        ));
    }
    Ok(())
}

/// Opens the target when it is needed: to probe it (`verify_target`), and to count what a
/// reduced retention deletes, asking `confirm` before such a change (docs/SCHEDULING.md, Prune).
fn check_target(
    loaded: &Loaded,
    old: &Settings,
    first_time: bool,
    verify_target: bool,
    now: DateTime<Utc>,
    confirm: &mut dyn FnMut(&str) -> bool,
    notes: &mut Vec<String>,
) -> Result<()> {
    let s = &loaded.settings;
    let retention_reduced =
        !first_time && s.backup_retention_period_in_days < old.backup_retention_period_in_days;
    let target: Option<Box<dyn Store>> = if verify_target || retention_reduced {
        match s.target()? {
            TargetSpec::Local(dir) if verify_target => Some(store::faulty::wrap(Box::new(
                store::local::LocalStore::open_or_create(&dir)?,
            ))),
            spec => Some(store::open(&spec, Some(&loaded.credentials()))?),
        }
    } else {
        None
    };
    if verify_target {
        probe(target.as_deref().expect("opened above"), now)?;
    }
    crate::testhook::point("configure.probed");
    if !retention_reduced {
        return Ok(());
    }
    let t = target.as_deref().expect("opened above");
    let backups = manifest::list(t)?;
    // Exactly what the next prune deletes by age (it keeps the newest successful backup).
    let doomed = crate::retention::by_age(&backups, now, s.backup_retention_period_in_days, None)
        .past_retention
        .len();
    let msg = format!(
        "reducing the retention period from {} to {} days means the next prune deletes {doomed} of the {} backups on the target (those older than {} days)",
        old.backup_retention_period_in_days,
        s.backup_retention_period_in_days,
        backups.len(),
        s.backup_retention_period_in_days
    );
    if doomed > 0 && !confirm(&msg) {
        return Err(Error::NeedsConfirmation(format!(
            "{msg}; nothing was changed (confirm, or pass --yes)"
        )));
    }
    notes.push(msg);
    Ok(())
}

/// `--is-backup-scheduler-enabled`: the same change as `enable-auto` / `disable-auto`
/// (`schedule::set_enabled`), made under the state lock `configure` already holds.
fn set_scheduler(
    loaded: &Loaded,
    enabled: bool,
    state: &mut State,
    now: DateTime<Utc>,
    changed: &mut Vec<&'static str>,
) {
    if state.is_backup_scheduler_enabled != enabled {
        state.is_backup_scheduler_enabled = enabled;
        changed.push("isBackupSchedulerEnabled");
    }
    if enabled && state.next_backup_time.is_none() {
        let freq = Duration::hours(i64::from(loaded.settings.backup_frequency_in_hours));
        state.next_backup_time = Some(now + freq);
    }
}

/// Schedule (docs/SCHEDULING.md): the first successful configure turns automatic backups on
/// and records the recipient; a frequency change moves the next backup time.
fn update_schedule(
    loaded: &Loaded,
    old: &Settings,
    first_time: bool,
    state: &mut State,
    now: DateTime<Utc>,
) {
    let freq = Duration::hours(loaded.settings.backup_frequency_in_hours as i64);
    if first_time {
        state.is_backup_scheduler_enabled = true;
        state.next_backup_time = Some(now + freq);
    } else if loaded.settings.backup_frequency_in_hours != old.backup_frequency_in_hours {
        state.next_backup_time = Some(crate::schedule::after_frequency_change(
            state.next_backup_time,
            old.backup_frequency_in_hours,
            loaded.settings.backup_frequency_in_hours,
            now,
        ));
    } else if state.next_backup_time.is_none() {
        state.next_backup_time = Some(now + freq);
    }
    if first_time {
        if let Ok(r) = loaded.recipient() {
            state.record_recipient(&r.id(), now);
        }
    }
}

/// Writes, reads back and deletes a probe file under `MASBackup/`.
pub fn probe(t: &dyn Store, now: DateTime<Utc>) -> Result<()> {
    t.mkdir_all(manifest::ROOT)?;
    let name = format!(
        "{}/.probe-{}-{}",
        manifest::ROOT,
        now.format("%Y%m%dT%H%M%SZ"),
        uuid::Uuid::new_v4().simple()
    );
    let data = format!("azs-backup write probe {now}\n");
    let mut up = t.create(&name)?;
    std::io::Write::write_all(&mut up, data.as_bytes())
        .map_err(|e| crate::store::StoreError::from_io(&t.display(), "write", &name, e))?;
    up.commit()?;
    crate::testhook::point("configure.probe-written");
    let back = t.read_all(&name);
    let removed = t.remove_file(&name);
    if back? != data.as_bytes() {
        return Err(Error::Store(crate::store::StoreError::ShortWrite {
            target: t.display(),
            path: name,
            written: data.len() as u64,
            found: 0,
        }));
    }
    removed?;
    Ok(())
}

fn names(sources: &[Source]) -> String {
    sources
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn absolute(p: &Path) -> Result<PathBuf> {
    std::path::absolute(p).map_err(|e| Error::io(format!("resolving {}", p.display()), e))
}

/// What `rotate-cert` did.
#[derive(Debug)]
pub struct RotateOutcome {
    /// Who backups were encrypted for before: a certificate thumbprint or a legacy key id.
    pub previous: Option<String>,
    /// The new certificate's SHA-1 thumbprint.
    pub thumbprint: String,
    /// False when the certificate given already was the configured one.
    pub changed: bool,
    pub outcome: ConfigureOutcome,
}

/// `rotate-cert`: new backups are encrypted for the certificate at `cert_path` (checked exactly
/// as `configure --encryption-cert-path` checks it). Existing backups are untouched; the rotation
/// is recorded in the state's recipient history. From a legacy key this is the one-way switch to
/// a certificate (the key is kept as a retired key for the backups made with it).
pub fn rotate_cert(
    paths: &SettingsPaths,
    cert_path: &Path,
    now: DateTime<Utc>,
) -> Result<RotateOutcome> {
    let before = Loaded::load(paths)?;
    let previous = before.recipient().ok().map(|r| r.id());
    let outcome = configure(
        paths,
        ConfigureRequest {
            encryption_cert_path: Some(cert_path.to_path_buf()),
            verify_target: false,
            ..Default::default()
        },
        now,
        // Only a retention change asks, and none is made here.
        &mut |_| false,
    )?;
    let thumbprint = outcome
        .loaded
        .settings
        .certificate()?
        .map(|c| c.thumbprint)
        .ok_or_else(|| Error::invalid("encryption_certificate", "missing after rotation"))?;
    Ok(RotateOutcome {
        changed: previous.as_deref() != Some(thumbprint.as_str()),
        previous,
        thumbprint,
        outcome,
    })
}
