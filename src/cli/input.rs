//! Keys and secrets from the operator: prompts (on a terminal, typed twice where it is being
//! set), the first line of stdin, or environment variables, never echoed, never logged; and the
//! choice of the key that decrypts a backup for `verify` and `restore`.

use super::command_error::CommandError;
use azs_backup::certificate::{self, PrivateKey};
use azs_backup::crypto::{describe_ids, Identity, LegacyKey};
use azs_backup::manifest::{self, Manifest};
use azs_backup::settings::Loaded;
use azs_backup::store::Store;
use azs_backup::Error;
use clap::Args;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Environment variable holding a .pfx password.
pub const KEY_PASSWORD_ENV: &str = "AZS_BACKUP_KEY_PASSWORD";

/// The first line of stdin, without its line ending.
pub fn stdin_line(what: &str) -> Result<Zeroizing<String>, CommandError> {
    let mut line = Zeroizing::new(String::new());
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::io(format!("reading the {what} from stdin"), e))?;
    let trimmed = Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_string());
    if trimmed.is_empty() {
        return Err(Error::invalid(
            field_for(what),
            format!("no {what} on stdin (the first line was empty)"),
        )
        .into());
    }
    Ok(trimmed)
}

fn field_for(what: &str) -> &'static str {
    match what {
        "password" => "password",
        "encryption key" => "encryption-key",
        _ => "key-password",
    }
}

/// True when a prompt can be shown: stdin is a terminal (never under cron, systemd, CI or a
/// pipe, so scripts never hang on a prompt).
pub fn can_prompt() -> bool {
    std::io::stdin().is_terminal()
}

/// Asks a yes/no question on stderr and reads the answer from stdin; anything but yes is no.
pub fn confirm(question: &str) -> bool {
    let mut stderr = std::io::stderr();
    let _ = write!(stderr, "{question} [y/N] ");
    let _ = stderr.flush();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).is_ok()
        && matches!(line.trim(), "y" | "Y" | "yes" | "YES" | "Yes")
}

/// Prompts for a new secret twice; the entries must match.
pub fn prompt_twice(label: &str, field: &'static str) -> Result<Zeroizing<String>, CommandError> {
    let a = Zeroizing::new(rpassword::prompt_password(format!("{label}: "))?);
    let b = Zeroizing::new(rpassword::prompt_password(format!("Confirm {label}: "))?);
    if a != b {
        return Err(
            Error::invalid(field, "the two entries do not match; nothing was changed").into(),
        );
    }
    if a.is_empty() {
        return Err(Error::invalid(field, "the entry is empty; nothing was changed").into());
    }
    Ok(a)
}

/// Prompts once for an existing secret.
pub fn prompt_once(label: &str) -> Result<Zeroizing<String>, CommandError> {
    Ok(Zeroizing::new(rpassword::prompt_password(format!(
        "{label}: "
    ))?))
}

/// The share password for `configure`: `--password-stdin`, else `AZS_BACKUP_PASSWORD`, else a
/// prompt (typed twice) when `prompt` and a terminal is there.
pub fn share_password(
    from_stdin: bool,
    prompt: bool,
) -> Result<Option<Zeroizing<String>>, CommandError> {
    if from_stdin {
        return Ok(Some(stdin_line("password")?));
    }
    if let Some(p) = env_secret(azs_backup::settings::PASSWORD_ENV) {
        return Ok(Some(p));
    }
    if prompt && can_prompt() {
        return Ok(Some(prompt_twice("Share password", "password")?));
    }
    Ok(None)
}

/// A non-empty environment variable.
pub fn env_secret(name: &str) -> Option<Zeroizing<String>> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .map(Zeroizing::new)
}

/// Loads a private key; `stdin_flag` names the flag that reads its password in messages.
pub fn private_key(
    path: &Path,
    password_stdin: bool,
    stdin_flag: &str,
) -> Result<PrivateKey, CommandError> {
    let password = if certificate::is_pkcs12(path) {
        Some(if password_stdin {
            stdin_line("key password")?
        } else if let Some(p) = env_secret(KEY_PASSWORD_ENV) {
            p
        } else if can_prompt() {
            prompt_once(&format!("Password for {}", path.display()))?
        } else {
            return Err(CommandError::usage(format!(
                "{} is a .pfx and needs its password: {stdin_flag}, {KEY_PASSWORD_ENV}, or run on a terminal",
                path.display()
            )));
        })
    } else {
        None
    };
    Ok(certificate::load_private_key(
        path,
        password.as_deref().map(|s| s.as_str()),
    )?)
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

/// The identity from `--key` / `--encryption-key-stdin`, if given.
fn given_identity(args: &KeyArgs) -> Result<Option<Identity>, CommandError> {
    if let Some(path) = &args.key {
        return Ok(Some(Identity::PrivateKey(Box::new(private_key(
            path,
            args.key_password_stdin,
            "--key-password-stdin",
        )?))));
    }
    if args.encryption_key_stdin {
        let text = stdin_line("encryption key")?;
        return Ok(Some(Identity::LegacyKey(LegacyKey::parse(&text)?)));
    }
    if args.key_password_stdin {
        return Err(CommandError::usage(
            "--key-password-stdin needs --key FILE.pfx",
        ));
    }
    Ok(None)
}

/// The identity for a backup: `--key` / `--encryption-key-stdin`, else a stored legacy key
/// (current or retired) that the backup names. A private key without its certificate (a bare
/// `.pem`) gets the configured certificate when their public keys match, so that its thumbprint
/// is known and a mismatch is reported before any decryption.
pub fn identity_for(
    key: &KeyArgs,
    loaded: Option<&Loaded>,
    t: &dyn Store,
    id: &str,
) -> Result<Option<Identity>, CommandError> {
    if let Some(mut i) = given_identity(key)? {
        if let (Identity::PrivateKey(k), Some(l)) = (&mut i, loaded) {
            if k.certificate.is_none() {
                let configured = l
                    .settings
                    .certificate()
                    .ok()
                    .flatten()
                    .into_iter()
                    .chain(l.settings.recovery_certificates().unwrap_or_default());
                k.certificate = configured.into_iter().find(|c| k.matches(c));
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
            Error::WrongKey(format!(
                "backup {} was encrypted for {}; the key given does not match it (it cannot unwrap the backup's file keys)",
                m.backup_id,
                describe_ids(&m.recipient_ids())
            ))
        }
        (e, _) => e,
    }
}
