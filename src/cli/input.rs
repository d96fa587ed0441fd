//! Secrets from the operator: prompts (on a terminal, typed twice where it is being set), the
//! first line of stdin, or environment variables. Never echoed, never logged.

use super::exit::CliError;
use anyhow::Result;
use azs_backup::certificate::{self, PrivateKey};
use azs_backup::crypto::{Identity, LegacyKey};
use azs_backup::Error;
use std::io::{BufRead, IsTerminal};
use std::path::Path;
use zeroize::Zeroizing;

/// Environment variable holding a .pfx password.
pub const KEY_PASSWORD_ENV: &str = "AZS_BACKUP_KEY_PASSWORD";

/// The first line of stdin, without its line ending.
pub fn stdin_line(what: &str) -> Result<Zeroizing<String>> {
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

/// Prompts for a new secret twice; the entries must match.
pub fn prompt_twice(label: &str, field: &'static str) -> Result<Zeroizing<String>> {
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
pub fn prompt_once(label: &str) -> Result<Zeroizing<String>> {
    Ok(Zeroizing::new(rpassword::prompt_password(format!(
        "{label}: "
    ))?))
}

/// The share password for `configure`: `--password-stdin`, else `AZS_BACKUP_PASSWORD`, else a
/// prompt (typed twice) when `prompt` and a terminal is there.
pub fn share_password(from_stdin: bool, prompt: bool) -> Result<Option<Zeroizing<String>>> {
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

/// Loads the private key given with `--key`.
pub fn private_key(path: &Path, password_stdin: bool) -> Result<PrivateKey> {
    private_key_with(path, password_stdin, "--key-password-stdin")
}

/// Loads a private key; `stdin_flag` names the flag that reads its password in messages.
pub fn private_key_with(path: &Path, password_stdin: bool, stdin_flag: &str) -> Result<PrivateKey> {
    let password = if certificate::is_pkcs12(path) {
        Some(if password_stdin {
            stdin_line("key password")?
        } else if let Some(p) = env_secret(KEY_PASSWORD_ENV) {
            p
        } else if can_prompt() {
            prompt_once(&format!("Password for {}", path.display()))?
        } else {
            return Err(CliError::usage(format!(
                "{} is a .pfx and needs its password: {stdin_flag}, {KEY_PASSWORD_ENV}, or run on a terminal",
                path.display()
            )));
        })
    } else {
        None
    };
    // Through `Error` so that the exit code is the documented one (3), not 1.
    Ok(
        certificate::load_private_key(path, password.as_deref().map(|s| s.as_str()))
            .map_err(Error::from)?,
    )
}

/// The identity from `--key` / `--encryption-key-stdin`, if given.
pub fn identity(args: &super::args::KeyArgs) -> Result<Option<Identity>> {
    if let Some(path) = &args.key {
        return Ok(Some(Identity::PrivateKey(Box::new(private_key(
            path,
            args.key_password_stdin,
        )?))));
    }
    if args.encryption_key_stdin {
        let text = stdin_line("encryption key")?;
        return Ok(Some(Identity::LegacyKey(LegacyKey::parse(&text)?)));
    }
    if args.key_password_stdin {
        return Err(CliError::usage("--key-password-stdin needs --key FILE.pfx"));
    }
    Ok(None)
}
