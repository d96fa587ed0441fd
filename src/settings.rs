//! Settings: what the operator configures (docs/SETTINGS.md), their rules (docs/SETTINGS.md) and their files.
//!
//! Three files live side by side (for `settings.toml`):
//! - `settings.toml`: the settings (TOML, `version = 2`), mode 0600;
//! - `settings.secrets.toml`: the share password and, in backward-compatibility mode, the
//!   legacy encryption key; mode 0600, never printed;
//! - `settings.state.json`: what the tool records itself (see the `state` module).
//!
//! Every file is written to a temporary file in the same directory, fsynced and renamed.
//! A settings or secrets file that group or others can read is refused.

use crate::certificate::Certificate;
use crate::crypto::{LegacyKey, Recipient};
use crate::error::{Error, Result};
use crate::store::{Credentials, TargetSpec};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Environment variable naming the settings file.
pub const CONFIG_ENV: &str = "AZS_BACKUP_CONFIG";
/// Environment variable holding the share password.
pub const PASSWORD_ENV: &str = "AZS_BACKUP_PASSWORD";
/// Current settings schema version.
pub const SETTINGS_VERSION: u32 = 2;

pub const FREQUENCY_DEFAULT: u32 = 12;
pub const FREQUENCY_RANGE: std::ops::RangeInclusive<u32> = 4..=12;
pub const RETENTION_DEFAULT: u32 = 7;
pub const RETENTION_RANGE: std::ops::RangeInclusive<u32> = 2..=14;
/// zstd level used when the settings do not name one (chosen from the curve in docs/BENCHMARKS.md:
/// level 3 costs about 34 % more CPU and 27 % more time for 1.7 % less output on the standard
/// data set).
pub const COMPRESSION_LEVEL_DEFAULT: i32 = 1;
/// zstd levels `configure --compression-level` accepts. Levels above 19 ("ultra") need windows
/// of 32 MiB and more per worker, beyond the memory bound (docs/BENCHMARKS.md).
pub const COMPRESSION_LEVEL_RANGE: std::ops::RangeInclusive<i32> = 1..=19;

/// The files that belong to one settings file.
#[derive(Debug, Clone)]
pub struct SettingsPaths {
    pub settings: PathBuf,
    pub secrets: PathBuf,
    pub state: PathBuf,
    pub lock: PathBuf,
}

impl SettingsPaths {
    /// The files beside `settings` (`X.toml` → `X.secrets.toml`, `X.state.json`, `X.lock`).
    pub fn for_settings(settings: &Path) -> SettingsPaths {
        let stem = settings
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "settings".into());
        let dir = settings.parent().unwrap_or(Path::new("."));
        SettingsPaths {
            settings: settings.to_path_buf(),
            secrets: dir.join(format!("{stem}.secrets.toml")),
            state: dir.join(format!("{stem}.state.json")),
            lock: dir.join(format!("{stem}.lock")),
        }
    }

    /// `--config`, else `AZS_BACKUP_CONFIG`, else the per-user default
    /// (`$XDG_CONFIG_HOME/azs-backup/settings.toml`, `%APPDATA%\azs-backup\settings.toml`).
    pub fn resolve(config: Option<&Path>) -> Result<SettingsPaths> {
        if let Some(p) = config {
            return Ok(Self::for_settings(p));
        }
        if let Some(p) = std::env::var_os(CONFIG_ENV).filter(|p| !p.is_empty()) {
            return Ok(Self::for_settings(Path::new(&p)));
        }
        let dir = dirs::config_dir().ok_or_else(|| {
            Error::invalid(
                "config",
                "no per-user configuration directory is known here; pass --config FILE or set AZS_BACKUP_CONFIG",
            )
        })?;
        Ok(Self::for_settings(
            &dir.join("azs-backup").join("settings.toml"),
        ))
    }
}

/// A named directory whose contents are backed up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub name: String,
    pub path: PathBuf,
}

/// How backups are encrypted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncryptionMode {
    /// For the public key of an X.509 certificate (the default mode).
    Certificate,
    /// With a legacy symmetric key (backward-compatibility mode).
    Key,
}

/// The settings, as stored (`version = 2`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub version: u32,
    pub path: String,
    pub username: String,
    pub backup_frequency_in_hours: u32,
    pub backup_retention_period_in_days: u32,
    pub encryption_mode: EncryptionMode,
    /// PEM of the certificate backups are encrypted for (certificate mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_certificate: Option<String>,
    /// PEMs of the recovery certificates (`configure --recovery-cert-path`): public-only, like
    /// the encryption certificate; every archive's file key is also wrapped for each, so the
    /// private key of any one of them restores (docs/SETTINGS.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recovery_certificates: Vec<String>,
    /// After each archive is committed, read it back from the target and compare its SHA-256
    /// with what was written (costs one full read of every archive; off by default).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub verify_after_write: bool,
    /// A healthchecks.io-style URL pinged when a backup run starts (`URL/start`), succeeds
    /// (`URL`) or fails (`URL/fail`). May hold a secret token: shown only as scheme and host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_url: Option<String>,
    /// A Prometheus text-format file (node_exporter's textfile collector) rewritten after
    /// every run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_file: Option<PathBuf>,
    /// zstd level of new archives ([`COMPRESSION_LEVEL_DEFAULT`] when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression_level: Option<i32>,
    #[serde(default)]
    pub sources: Vec<Source>,
}

/// The secrets file.
#[derive(Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Secrets {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_key: Option<String>,
    /// Legacy keys replaced by another key or by a certificate, kept so that the backups made
    /// with them can still be verified and restored on this machine.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retired_encryption_keys: Vec<String>,
}

impl Drop for Secrets {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.password.zeroize();
        self.encryption_key.zeroize();
        self.retired_encryption_keys.zeroize();
    }
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(<redacted>)")
    }
}

/// The older schema (`version = 1`, docs/SETTINGS.md): inline password and legacy key, no scheduler.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsV1 {
    #[allow(dead_code)]
    version: u32,
    path: String,
    username: String,
    password: String,
    encryption_key: String,
    #[serde(default)]
    sources: Vec<Source>,
}

/// Settings as loaded, with their secrets and where they came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub paths: SettingsPaths,
    pub settings: Settings,
    pub secrets: Secrets,
    /// The schema version the file had on disk (1 = needs migration on the next write).
    pub file_version: u32,
}

impl Loaded {
    /// Loads the settings (and secrets) named by `paths`.
    pub fn load(paths: &SettingsPaths) -> Result<Loaded> {
        let text = match read_private(&paths.settings)? {
            Some(t) => t,
            None => {
                return Err(Error::NotConfigured {
                    path: paths.settings.clone(),
                })
            }
        };
        let bad = |message: String| Error::BadSettingsFile {
            path: paths.settings.clone(),
            message,
        };
        let value: toml::Table = toml::from_str(&text).map_err(|e| bad(toml_error(&text, &e)))?;
        let version = value
            .get("version")
            .and_then(|v| v.as_integer())
            .ok_or_else(|| bad("the `version` field is missing".into()))?;
        let loaded = match version {
            1 => {
                let v1: SettingsV1 =
                    toml::from_str(&text).map_err(|e| bad(toml_error(&text, &e)))?;
                let settings = Settings {
                    version: SETTINGS_VERSION,
                    path: v1.path.clone(),
                    username: v1.username.clone(),
                    backup_frequency_in_hours: FREQUENCY_DEFAULT,
                    backup_retention_period_in_days: RETENTION_DEFAULT,
                    encryption_mode: EncryptionMode::Key,
                    encryption_certificate: None,
                    recovery_certificates: Vec::new(),
                    verify_after_write: false,
                    notify_url: None,
                    metrics_file: None,
                    compression_level: None,
                    sources: v1.sources.clone(),
                };
                let secrets = Secrets {
                    password: Some(v1.password.clone()),
                    encryption_key: Some(v1.encryption_key.clone()),
                    retired_encryption_keys: Vec::new(),
                };
                Loaded {
                    paths: paths.clone(),
                    settings,
                    secrets,
                    file_version: 1,
                }
            }
            2 => {
                let settings: Settings =
                    toml::from_str(&text).map_err(|e| bad(toml_error(&text, &e)))?;
                let secrets = match read_private(&paths.secrets)? {
                    Some(t) => toml::from_str(&t).map_err(|e| Error::BadSettingsFile {
                        path: paths.secrets.clone(),
                        message: toml_error(&t, &e),
                    })?,
                    None => Secrets::default(),
                };
                Loaded {
                    paths: paths.clone(),
                    settings,
                    secrets,
                    file_version: 2,
                }
            }
            v => {
                return Err(bad(format!(
                    "settings version {v} is not supported (this tool reads versions 1 and 2)"
                )))
            }
        };
        loaded.settings.validate()?;
        Ok(loaded)
    }

    /// Writes the secrets, then the settings (as `version = 2`), each atomically with mode 0600.
    pub fn save(&self) -> Result<()> {
        if let Some(dir) = self.paths.settings.parent() {
            if !dir.as_os_str().is_empty() && !dir.exists() {
                create_private_dir(dir)?;
            }
        }
        let secrets = toml::to_string(&self.secrets).expect("secrets serialise");
        write_atomic(&self.paths.secrets, secrets.as_bytes())?;
        crate::testhook::point("settings.secrets-written");
        let mut settings = self.settings.clone();
        settings.version = SETTINGS_VERSION;
        let text = format!(
            "# azs-backup settings; edit with `azs-backup configure`.\n# The share password lives in {}.\n{}",
            self.paths
                .secrets
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default(),
            toml::to_string(&settings).expect("settings serialise")
        );
        write_atomic(&self.paths.settings, text.as_bytes())
    }

    /// The share credentials.
    pub fn credentials(&self) -> Credentials {
        Credentials {
            username: self.settings.username.clone(),
            password: Zeroizing::new(self.secrets.password.clone().unwrap_or_default()),
        }
    }

    /// The stored legacy key (current or retired) whose key id is `id`.
    pub fn legacy_key_for(&self, id: &str) -> Option<LegacyKey> {
        self.secrets
            .encryption_key
            .iter()
            .chain(self.secrets.retired_encryption_keys.iter())
            .filter_map(|k| LegacyKey::parse(k).ok())
            .find(|k| k.key_id() == id)
    }

    /// Who new backups are encrypted for.
    pub fn recipient(&self) -> Result<Recipient> {
        match self.settings.encryption_mode {
            EncryptionMode::Certificate => Ok(Recipient::Certificate(Box::new(
                self.settings.certificate()?.ok_or_else(|| {
                    Error::invalid("encryption_certificate", "missing in certificate mode")
                })?,
            ))),
            EncryptionMode::Key => {
                let text = self.secrets.encryption_key.as_deref().ok_or_else(|| {
                    Error::invalid(
                        "encryption_key",
                        "backward-compatibility mode needs an encryption key in the secrets file",
                    )
                })?;
                Ok(Recipient::LegacyKey(LegacyKey::parse(text)?))
            }
        }
    }
}

impl Loaded {
    /// The recovery certificates new backups are also encrypted for.
    pub fn recovery_recipients(&self) -> Result<Vec<Recipient>> {
        Ok(self
            .settings
            .recovery_certificates()?
            .into_iter()
            .map(|c| Recipient::Certificate(Box::new(c)))
            .collect())
    }
}

impl Settings {
    /// The parsed target path.
    pub fn target(&self) -> Result<TargetSpec> {
        Ok(TargetSpec::parse(&self.path)?)
    }

    /// The configured certificate, if any.
    pub fn certificate(&self) -> Result<Option<Certificate>> {
        match &self.encryption_certificate {
            Some(pem) => Ok(Some(Certificate::from_pem(pem)?)),
            None => Ok(None),
        }
    }

    /// The configured recovery certificates, in the order they were added.
    pub fn recovery_certificates(&self) -> Result<Vec<Certificate>> {
        self.recovery_certificates
            .iter()
            .map(|pem| Ok(Certificate::from_pem(pem)?))
            .collect()
    }

    /// The zstd level of new archives.
    pub fn compression_level(&self) -> i32 {
        self.compression_level.unwrap_or(COMPRESSION_LEVEL_DEFAULT)
    }

    /// Checks every field against the rules in docs/SETTINGS.md.
    pub fn validate(&self) -> Result<()> {
        validate_frequency(self.backup_frequency_in_hours)?;
        if let Some(level) = self.compression_level {
            validate_compression_level(level)?;
        }
        validate_retention(self.backup_retention_period_in_days)?;
        validate_username(&self.username)?;
        TargetSpec::parse(&self.path)?;
        let mut seen = std::collections::HashSet::new();
        for s in &self.sources {
            validate_source_name(&s.name)?;
            if !seen.insert(s.name.to_ascii_lowercase()) {
                return Err(Error::invalid(
                    "source",
                    format!(
                        "the name {:?} is given twice (names are case-insensitive)",
                        s.name
                    ),
                ));
            }
        }
        if let Some(u) = &self.notify_url {
            validate_notify_url(u)?;
        }
        if let Some(m) = &self.metrics_file {
            if !m.is_absolute() {
                return Err(Error::invalid(
                    "metrics_file",
                    "must be an absolute path to a file (configure --metrics-file PATH)",
                ));
            }
        }
        if self.encryption_mode == EncryptionMode::Certificate
            && self.encryption_certificate.is_none()
        {
            return Err(Error::invalid(
                "encryption_certificate",
                "certificate mode needs a certificate (configure --encryption-cert-path FILE.cer)",
            ));
        }
        Ok(())
    }
}

/// The notification URL: `http://` or `https://`, a host, at most 2048 characters, no spaces
/// or control characters (docs/SETTINGS.md).
pub fn validate_notify_url(url: &str) -> Result<()> {
    let bad = || {
        Error::invalid(
            "notify-url",
            "must be an http:// or https:// URL with a host (at most 2048 characters, no spaces), e.g. https://hc-ping.com/<uuid>; '' removes it",
        )
    };
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(bad)?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or("");
    if url.len() > 2048
        || host.is_empty()
        || host.starts_with(':')
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(bad());
    }
    Ok(())
}

/// A URL as it may be shown: scheme and host (and port) only, the path (which may hold a ping
/// key or token) and any user info replaced by `…`.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (s, r),
        None => return "(not a URL)".into(),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    if rest.len() > authority.len() || authority.contains('@') {
        format!("{scheme}://{host}/…")
    } else {
        format!("{scheme}://{host}")
    }
}

/// Frequency in hours: 4..=12 (docs/SETTINGS.md).
pub fn validate_frequency(hours: u32) -> Result<()> {
    if FREQUENCY_RANGE.contains(&hours) {
        Ok(())
    } else {
        Err(Error::invalid(
            "backup-frequency-in-hours",
            format!(
                "{hours} is not allowed; allowed values are {}..={} hours (default {FREQUENCY_DEFAULT})",
                FREQUENCY_RANGE.start(),
                FREQUENCY_RANGE.end()
            ),
        ))
    }
}

/// Retention in days: 2..=14 (docs/SETTINGS.md).
pub fn validate_retention(days: u32) -> Result<()> {
    if RETENTION_RANGE.contains(&days) {
        Ok(())
    } else {
        Err(Error::invalid(
            "backup-retention-period-in-days",
            format!(
                "{days} is not allowed; allowed values are {}..={} days (default {RETENTION_DEFAULT})",
                RETENTION_RANGE.start(),
                RETENTION_RANGE.end()
            ),
        ))
    }
}

/// zstd level: 1..=19 (docs/SETTINGS.md).
pub fn validate_compression_level(level: i32) -> Result<()> {
    if COMPRESSION_LEVEL_RANGE.contains(&level) {
        Ok(())
    } else {
        Err(Error::invalid(
            "compression-level",
            format!(
                "{level} is not allowed; allowed values are zstd levels {}..={} (default {COMPRESSION_LEVEL_DEFAULT})",
                COMPRESSION_LEVEL_RANGE.start(),
                COMPRESSION_LEVEL_RANGE.end()
            ),
        ))
    }
}

/// `DOMAIN\user` or `user` (docs/SETTINGS.md).
pub fn validate_username(name: &str) -> Result<()> {
    let bad_char = |s: &str| {
        s.is_empty()
            || s.chars()
                .any(|c| c.is_control() || "\"/\\[]:;|=,+*?<>@".contains(c) || c.is_whitespace())
    };
    let ok = match name.split_once('\\') {
        // NetBIOS or DNS domain name, then the user.
        Some((domain, user)) => {
            !domain.is_empty()
                && domain
                    .split('.')
                    .all(|l| !l.is_empty() && l.chars().all(|c| c.is_alphanumeric() || c == '-'))
                && !bad_char(user)
        }
        None => !bad_char(name),
    };
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "username",
            format!(
                "{name:?} is not valid; give DOMAIN\\user or user (e.g. CONTOSO\\backupshareuser)"
            ),
        ))
    }
}

/// Source names: 1..=64 of `A-Z a-z 0-9 . _ -`, not starting with `.` (they become file names).
pub fn validate_source_name(name: &str) -> Result<()> {
    let ok = crate::manifest::is_source_name(name);
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "source",
            format!("name {name:?} is not valid; use 1 to 64 of the characters A-Z a-z 0-9 . _ - (not starting with '.')"),
        ))
    }
}

/// Parses `NAME=DIR`.
pub fn parse_source_arg(arg: &str) -> Result<(String, PathBuf)> {
    match arg.split_once('=') {
        Some((name, dir)) if !dir.is_empty() => {
            validate_source_name(name)?;
            Ok((name.to_string(), PathBuf::from(dir)))
        }
        _ => Err(Error::invalid(
            "source",
            format!("{arg:?} is not NAME=DIR (e.g. --source identity=/var/lib/identity)"),
        )),
    }
}

/// A TOML error as `line L, column C: what`, without the text of the line: settings files of
/// version 1 and secrets files hold passwords and keys, and these messages reach logs and cron
/// mail. A message that would quote a value ("invalid type: string \"...\"") keeps only its kind.
pub fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let mut what = e.message().lines().next().unwrap_or("").trim().to_string();
    if what.starts_with("invalid type") || what.starts_with("invalid value") {
        let kind = what.split(':').next().unwrap_or("").to_string();
        let expected = what
            .find(", expected")
            .map(|i| what[i..].to_string())
            .unwrap_or_default();
        what = format!("{kind}{expected}");
    }
    match e.span() {
        Some(span) => {
            let before = &text.as_bytes()[..span.start.min(text.len())];
            let line = before.iter().filter(|b| **b == b'\n').count() + 1;
            let line_start = before
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |i| i + 1);
            let column = String::from_utf8_lossy(&before[line_start..])
                .chars()
                .count()
                + 1;
            format!("line {line}, column {column}: {what}")
        }
        None => what,
    }
}

pub use crate::private_file::{create_private_dir, read_private, write_atomic};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_the_product() {
        for ok in 4..=12 {
            validate_frequency(ok).unwrap();
        }
        for bad in [0, 3, 13, 24] {
            let e = validate_frequency(bad).unwrap_err().to_string();
            assert!(
                e.contains("backup-frequency-in-hours") && e.contains("4..=12"),
                "{e}"
            );
        }
        for ok in 2..=14 {
            validate_retention(ok).unwrap();
        }
        for bad in [0, 1, 15] {
            let e = validate_retention(bad).unwrap_err().to_string();
            assert!(
                e.contains("backup-retention-period-in-days") && e.contains("2..=14"),
                "{e}"
            );
        }
        for ok in 1..=19 {
            validate_compression_level(ok).unwrap();
        }
        for bad in [i32::MIN, -1, 0, 20, 22] {
            let e = validate_compression_level(bad).unwrap_err().to_string();
            assert!(
                e.contains("compression-level") && e.contains("1..=19"),
                "{e}"
            );
        }
    }

    #[test]
    fn usernames() {
        for ok in [
            "CONTOSO\\backupshareuser",
            "user",
            "contoso.com\\u-1",
            "a_b",
        ] {
            validate_username(ok).unwrap();
        }
        for bad in ["", "\\user", "DOM\\", "a b", "DOM\\us:er", "a\\b\\c"] {
            assert!(validate_username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn source_args() {
        assert_eq!(
            parse_source_arg("identity=/var/lib/identity").unwrap(),
            ("identity".to_string(), PathBuf::from("/var/lib/identity"))
        );
        for bad in ["identity", "=/x", "a b=/x", "../x=/x", "x=", ".hidden=/x"] {
            assert!(parse_source_arg(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sibling_files() {
        let p = SettingsPaths::for_settings(Path::new("/etc/azs/s.toml"));
        assert_eq!(p.secrets, Path::new("/etc/azs/s.secrets.toml"));
        assert_eq!(p.state, Path::new("/etc/azs/s.state.json"));
    }
}
