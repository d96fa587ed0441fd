//! `new-cert`: write a self-signed RSA certificate for backups (New-SelfSignedCertificate +
//! Export-Certificate).

use super::Context;
use crate::cli::command_error::CommandError;
use crate::cli::exit;
use crate::cli::input;
use azs_backup::certificate::{self, NewCertOptions};
use azs_backup::clock;
use clap::Args;
use serde::Serialize;
use std::path::PathBuf;

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

fn parse_bits(s: &str) -> Result<usize, String> {
    match s {
        "2048" | "3072" | "4096" => Ok(s.parse().expect("listed values are numbers")),
        _ => Err("allowed values are 2048, 3072 and 4096".into()),
    }
}

pub fn run(ctx: &Context, a: NewCertArgs) -> Result<i32, CommandError> {
    let out = ctx.out;
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
        return Err(CommandError::usage(
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
    ))?;
    out.say(format!(
        "Private key (PKCS#8 PEM, mode 0600):              {}",
        files.pem.display()
    ))?;
    if let Some(p) = &files.pfx {
        out.say(format!(
            "Private key (PFX, password protected, mode 0600): {}",
            p.display()
        ))?;
    }
    out.say(format!("Thumbprint: {}", files.thumbprint))?;
    out.say(format!("Expires:    {}", files.not_after.to_rfc3339()))?;
    out.note("azs-backup: note: keep the private key somewhere other than this server and the share: without it the backups cannot be restored.");
    Ok(exit::OK)
}
