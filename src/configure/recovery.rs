//! Recovery certificates (`configure --recovery-cert-path` / `--remove-recovery-cert`): extra
//! public-only certificates every archive's file key is also wrapped for, so that the private
//! key of any one of them restores (docs/SETTINGS.md, docs/FORMAT.md §2.2).

use crate::certificate::{normalise_thumbprint, Certificate};
use crate::crypto::MAX_RECIPIENTS;
use crate::error::{Error, Result};
use crate::settings::Settings;
use chrono::{DateTime, Utc};
use std::path::PathBuf;

/// The most recovery certificates: the format's recipient limit less the encryption recipient.
pub const MAX_RECOVERY_CERTIFICATES: usize = MAX_RECIPIENTS - 1;

/// Removes, then adds, recovery certificates. Removing one that is not configured, adding the
/// encryption certificate, or going over [`MAX_RECOVERY_CERTIFICATES`] fails naming the field;
/// adding one already configured changes nothing.
pub(super) fn apply_recovery(
    s: &mut Settings,
    (add, remove): (Vec<PathBuf>, Vec<String>),
    now: DateTime<Utc>,
    changed: &mut Vec<&'static str>,
    notes: &mut Vec<String>,
) -> Result<()> {
    let mut certs = s.recovery_certificates()?;
    for thumbprint in remove {
        let wanted = checked_thumbprint(&thumbprint)?;
        let before = certs.len();
        certs.retain(|c| !c.thumbprint.eq_ignore_ascii_case(&wanted));
        if certs.len() == before {
            return Err(Error::invalid(
                "remove-recovery-cert",
                format!(
                    "{wanted} is not a recovery certificate of these settings (configured: {})",
                    list_or_none(&certs)
                ),
            ));
        }
    }
    for path in add {
        let cert = Certificate::load(&path)
            .map_err(|e| Error::invalid("recovery-cert-path", e.to_string()))?;
        if let Some(w) = cert.expiry_warning(now) {
            notes.push(format!("recovery certificate: {w}"));
        }
        if !certs
            .iter()
            .any(|c| c.thumbprint.eq_ignore_ascii_case(&cert.thumbprint))
        {
            certs.push(cert);
        }
    }
    if certs.len() > MAX_RECOVERY_CERTIFICATES {
        return Err(Error::invalid(
            "recovery-cert-path",
            format!(
                "at most {MAX_RECOVERY_CERTIFICATES} recovery certificates (this would make {})",
                certs.len()
            ),
        ));
    }
    let pems: Vec<String> = certs.iter().map(Certificate::to_pem).collect();
    if pems != s.recovery_certificates {
        s.recovery_certificates = pems;
        changed.push("recoveryCertThumbprints");
    }
    Ok(())
}

/// A thumbprint as given on the command line ([`normalise_thumbprint`]), which must then be 40
/// hex digits.
fn checked_thumbprint(given: &str) -> Result<String> {
    let t = normalise_thumbprint(given);
    if t.len() != 40 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::invalid(
            "remove-recovery-cert",
            "expected a SHA-1 thumbprint of 40 hex digits (as `azs-backup status` shows it)",
        ));
    }
    Ok(t)
}

fn list_or_none(certs: &[Certificate]) -> String {
    if certs.is_empty() {
        "none".into()
    } else {
        certs
            .iter()
            .map(|c| c.thumbprint.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The recovery certificates must differ from the encryption certificate (checked after every
/// change, so that neither a new recovery certificate nor a rotated encryption certificate
/// makes the same certificate both).
pub(super) fn check_distinct(s: &Settings) -> Result<()> {
    let Some(main) = s.certificate()? else {
        return Ok(());
    };
    if s.recovery_certificates()?
        .iter()
        .any(|c| c.thumbprint.eq_ignore_ascii_case(&main.thumbprint))
    {
        return Err(Error::invalid(
            "recovery-cert-path",
            format!(
                "certificate {} would be both the encryption certificate and a recovery certificate (remove it with --remove-recovery-cert {})",
                main.thumbprint, main.thumbprint
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprints_are_normalised_and_checked() {
        let t = "ab:cd ".repeat(10);
        assert_eq!(checked_thumbprint(&t).unwrap(), "ABCD".repeat(10));
        assert!(checked_thumbprint("ABCD").is_err());
        assert!(checked_thumbprint(&"G".repeat(40)).is_err());
    }
}
