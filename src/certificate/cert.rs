//! [`Certificate`]: the public-only `.cer` backups are encrypted for, its checks and thumbprints.

use std::fmt;
use std::path::Path;

use chrono::{DateTime, Utc};
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs8::DecodePublicKey as _;
use sha1::Sha1;
use sha2::{Digest as _, Sha256};

use super::files::{read_limited, MAX_CERTIFICATE_FILE};
use super::pem::{is_certificate_label, parse_pem, pem_encode, pem_text};
use super::pkcs12::looks_like_pkcs12;
use super::{CertError, EXPIRY_WARNING_DAYS, MIN_RSA_BITS};

pub(super) const OID_RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";

/// A public-only RSA certificate: what backups are encrypted for.
#[derive(Clone, Debug, PartialEq)]
pub struct Certificate {
    /// The certificate, DER-encoded (exactly the bytes the thumbprints are computed over).
    pub der: Vec<u8>,
    pub public_key: rsa::PublicKey,
    /// Size of the RSA modulus in bits.
    pub key_bits: usize,
    /// SHA-1 of the DER, upper-case hex, no separators (as Windows shows it).
    pub thumbprint: String,
    /// SHA-256 of the DER, upper-case hex, no separators.
    pub thumbprint_sha256: String,
    /// Subject distinguished name, e.g. `CN=www.contoso.com`.
    pub subject: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
}

impl Certificate {
    /// Loads a public-only certificate (`.cer`) in DER or PEM.
    ///
    /// Refuses, with a message naming the path: a file holding a private key (any PEM
    /// "PRIVATE KEY" block, a DER private key, a PKCS#12/PFX blob), a non-RSA key, an RSA key
    /// below 2048 bits, and anything that is not an X.509 certificate.
    pub fn load(path: &Path) -> Result<Certificate, CertError> {
        let name = path.display().to_string();
        let bytes = read_limited(path, &name, MAX_CERTIFICATE_FILE)?;
        Certificate::from_bytes(&bytes, &name)
    }

    /// Like [`Certificate::load`], for bytes already read; `name_for_errors` names them in errors.
    pub fn from_bytes(bytes: &[u8], name_for_errors: &str) -> Result<Certificate, CertError> {
        let name = name_for_errors;
        // A DER certificate first (a .cer is most often DER).
        if bytes.first() == Some(&0x30) {
            if let Ok((rest, _)) = x509_parser::parse_x509_certificate(bytes) {
                let der = &bytes[..bytes.len() - rest.len()];
                return parse_certificate_der(der, name, MIN_RSA_BITS);
            }
        }
        if let Some(text) = pem_text(bytes) {
            let blocks = parse_pem(text);
            if let Some(block) = blocks.iter().find(|b| b.label.ends_with("PRIVATE KEY")) {
                return Err(CertError::PrivateKeyInCertificate {
                    name: name.to_string(),
                    what: format!("a PEM \"{}\" block", block.label),
                });
            }
            if let Some(block) = blocks.iter().find(|b| is_certificate_label(&b.label)) {
                let der = block.decode().ok_or_else(|| CertError::NotACertificate {
                    name: name.to_string(),
                    detail: format!(" (its PEM \"{}\" block is damaged)", block.label),
                })?;
                return match x509_parser::parse_x509_certificate(&der) {
                    Ok((rest, _)) => {
                        parse_certificate_der(&der[..der.len() - rest.len()], name, MIN_RSA_BITS)
                    }
                    Err(e) => Err(CertError::NotACertificate {
                        name: name.to_string(),
                        detail: format!(" (its PEM \"{}\" block does not parse: {e})", block.label),
                    }),
                };
            }
            let detail = match blocks.first() {
                Some(b) => format!(" (it holds a PEM \"{}\" block)", b.label),
                None => String::new(),
            };
            return Err(CertError::NotACertificate {
                name: name.to_string(),
                detail,
            });
        }
        if looks_like_pkcs12(bytes) {
            return Err(CertError::Pkcs12GivenAsCertificate {
                name: name.to_string(),
            });
        }
        if let Some(what) = der_private_key_kind(bytes) {
            return Err(CertError::PrivateKeyInCertificate {
                name: name.to_string(),
                what: what.to_string(),
            });
        }
        // Report why a DER-looking input failed, which helps with truncated files.
        let detail = match x509_parser::parse_x509_certificate(bytes) {
            Err(e) if bytes.first() == Some(&0x30) => format!(" ({e})"),
            _ => String::new(),
        };
        Err(CertError::NotACertificate {
            name: name.to_string(),
            detail,
        })
    }

    /// The certificate as a PEM "CERTIFICATE" block (for storing in settings).
    pub fn to_pem(&self) -> String {
        pem_encode("CERTIFICATE", &self.der)
    }

    /// Reads a certificate back from [`Certificate::to_pem`]'s output (same checks as `load`).
    pub fn from_pem(pem: &str) -> Result<Certificate, CertError> {
        Certificate::from_bytes(pem.as_bytes(), "the stored certificate")
    }

    /// `Some(warning)` when the certificate has expired at `now` or expires within 30 days.
    pub fn expiry_warning(&self, now: DateTime<Utc>) -> Option<String> {
        let date = self.not_after.format("%Y-%m-%d %H:%M UTC");
        if now >= self.not_after {
            return Some(format!(
                "the encryption certificate {} ({}) expired on {date}; create a new one \
                 (`azs-backup new-cert`) and switch to it (`azs-backup rotate-cert`)",
                self.thumbprint, self.subject
            ));
        }
        let left = self.not_after - now;
        if left <= chrono::Duration::days(EXPIRY_WARNING_DAYS) {
            let days = left.num_days();
            let when = match days {
                0 => "in less than a day".to_string(),
                1 => "in 1 day".to_string(),
                n => format!("in {n} days"),
            };
            return Some(format!(
                "the encryption certificate {} ({}) expires {when}, on {date}; create a new one \
                 (`azs-backup new-cert`) and switch to it (`azs-backup rotate-cert`)",
                self.thumbprint, self.subject
            ));
        }
        None
    }

    /// RSA-OAEP encryption of `data` with SHA-256 and MGF1-SHA-256, empty label (wraps a file key).
    pub fn wrap_key(&self, data: &[u8]) -> Result<Vec<u8>, CertError> {
        self.public_key
            .oaep_encrypt::<Sha256>(data)
            .map_err(|e| CertError::Encrypt {
                reason: e.to_string(),
            })
    }

    /// RSA-OAEP encryption with SHA-1 and MGF1-SHA-1, empty label: Azure Stack Hub's own format
    /// (docs/AZURESTACK.md); for interoperability and tests, not for new backups.
    pub fn wrap_key_sha1(&self, data: &[u8]) -> Result<Vec<u8>, CertError> {
        self.public_key
            .oaep_encrypt::<Sha1>(data)
            .map_err(|e| CertError::Encrypt {
                reason: e.to_string(),
            })
    }
}

impl fmt::Display for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (RSA {} bits, thumbprint {}, valid until {})",
            self.subject,
            self.key_bits,
            self.thumbprint,
            self.not_after.format("%Y-%m-%d")
        )
    }
}

/// Builds a [`Certificate`] from exactly one DER certificate, checking the key.
pub(super) fn parse_certificate_der(
    der: &[u8],
    name: &str,
    min_bits: usize,
) -> Result<Certificate, CertError> {
    let invalid = |reason: String| CertError::InvalidCertificate {
        name: name.to_string(),
        reason,
    };
    let (_, x509) =
        x509_parser::parse_x509_certificate(der).map_err(|e| CertError::NotACertificate {
            name: name.to_string(),
            detail: format!(" ({e})"),
        })?;
    let spki = x509.public_key();
    let oid = spki.algorithm.algorithm.to_id_string();
    if oid != OID_RSA_ENCRYPTION {
        return Err(CertError::NotRsa {
            name: name.to_string(),
            algorithm: algorithm_name(&oid),
        });
    }
    let key_bits = match spki.parsed() {
        Ok(x509_parser::public_key::PublicKey::RSA(k)) => modulus_bits(k.modulus),
        Ok(_) => return Err(invalid("its RSA public key is malformed".into())),
        Err(e) => return Err(invalid(format!("its RSA public key is malformed: {e}"))),
    };
    if key_bits < min_bits {
        return Err(CertError::KeyTooSmall {
            name: name.to_string(),
            bits: key_bits,
        });
    }
    let public_key = rsa::PublicKey::from_public_key_der(spki.raw)
        .map_err(|e| invalid(format!("unusable RSA public key: {e}")))?;
    let timestamp = |t: i64| {
        DateTime::from_timestamp(t, 0).ok_or_else(|| invalid("its validity is out of range".into()))
    };
    Ok(Certificate {
        der: der.to_vec(),
        key_bits,
        thumbprint: hex::encode_upper(Sha1::digest(der)),
        thumbprint_sha256: hex::encode_upper(Sha256::digest(der)),
        subject: x509.subject().to_string(),
        not_before: timestamp(x509.validity().not_before.timestamp())?,
        not_after: timestamp(x509.validity().not_after.timestamp())?,
        public_key,
    })
}

fn modulus_bits(modulus: &[u8]) -> usize {
    let trimmed: &[u8] = match modulus.iter().position(|&b| b != 0) {
        Some(i) => &modulus[i..],
        None => &[],
    };
    match trimmed.first() {
        Some(first) => (trimmed.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
        None => 0,
    }
}

pub(super) fn algorithm_name(oid: &str) -> String {
    match oid {
        "1.2.840.10045.2.1" => "EC".to_string(),
        "1.3.101.112" => "Ed25519".to_string(),
        "1.3.101.113" => "Ed448".to_string(),
        "1.3.101.110" => "X25519".to_string(),
        "1.3.101.111" => "X448".to_string(),
        "1.2.840.10040.4.1" => "DSA".to_string(),
        "1.2.840.113549.1.1.10" => "RSA-PSS (restricted to signatures)".to_string(),
        "1.2.156.10197.1.301" => "SM2".to_string(),
        other => format!("of algorithm {other}"),
    }
}

/// Names a DER private key (PKCS#8, encrypted PKCS#8, PKCS#1), if `bytes` is one.
fn der_private_key_kind(bytes: &[u8]) -> Option<&'static str> {
    if rsa::pkcs8::PrivateKeyInfoRef::try_from(bytes).is_ok() {
        return Some("a DER PKCS#8 private key");
    }
    if rsa::PrivateKey::from_pkcs1_der(bytes).is_ok() {
        return Some("a DER PKCS#1 RSA private key");
    }
    // EncryptedPrivateKeyInfo: SEQUENCE { AlgorithmIdentifier { OID pkcs5/pkcs12-pbe }, OCTET STRING }
    use x509_parser::der_parser::ber::parse_ber;
    let (_, obj) = parse_ber(bytes).ok()?;
    let items = obj.as_sequence().ok()?;
    if items.len() != 2 || items[1].as_slice().is_err() {
        return None;
    }
    let oid = items[0]
        .as_sequence()
        .ok()?
        .first()?
        .as_oid()
        .ok()?
        .to_id_string();
    (oid.starts_with("1.2.840.113549.1.5.") || oid.starts_with("1.2.840.113549.1.12.1."))
        .then_some("a DER encrypted PKCS#8 private key")
}

/// A thumbprint as people paste it, in this tool's form: upper-case hex without whitespace,
/// colons or the left-to-right marks Windows' certificate dialog copies along (Windows shows
/// thumbprints in several ways). Checks nothing: callers compare or validate the result.
pub fn normalise_thumbprint(t: &str) -> String {
    t.chars()
        .filter(|c| !c.is_whitespace() && *c != ':' && *c != '\u{200e}')
        .collect::<String>()
        .to_ascii_uppercase()
}

#[cfg(test)]
mod tests {
    use super::super::pkcs12::build_pfx;
    use super::super::self_signed::OsRng;
    use super::super::testutil::{at, cert, cert_der, key2048, key_pem};
    use super::*;
    use rsa::pkcs8::EncodePrivateKey as _;

    #[test]
    fn pem_round_trip_and_variants() {
        let cert = cert();
        let pem = cert.to_pem();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert!(pem.ends_with("-----END CERTIFICATE-----\n"));
        assert!(pem.lines().all(|l| l.len() <= 64));
        assert_eq!(Certificate::from_pem(&pem).unwrap(), cert);
        // Windows line endings, a byte-order mark and text around the block.
        let windows = format!("\u{feff}Bag Attributes\r\n{}", pem.replace('\n', "\r\n"));
        assert_eq!(
            Certificate::from_bytes(windows.as_bytes(), "w.cer").unwrap(),
            cert
        );
        // DER followed by trailing bytes: the thumbprint covers the certificate only.
        let mut trailing = cert.der.clone();
        trailing.extend_from_slice(b"\n\n");
        assert_eq!(
            Certificate::from_bytes(&trailing, "t.cer")
                .unwrap()
                .thumbprint,
            cert.thumbprint
        );
    }

    #[test]
    fn refuses_pem_with_private_key() {
        let cert = cert();
        for pem in [
            format!("{}{}", key_pem(key2048()), cert.to_pem()),
            format!("{}{}", cert.to_pem(), key_pem(key2048())),
            format!(
                "{}-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
                cert.to_pem()
            ),
            format!(
                "{}-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
                cert.to_pem()
            ),
        ] {
            let err = Certificate::from_bytes(pem.as_bytes(), "both.pem").unwrap_err();
            assert!(
                matches!(err, CertError::PrivateKeyInCertificate { .. }),
                "{err:?}"
            );
            let msg = err.to_string();
            assert!(msg.starts_with("both.pem holds a private key"), "{msg}");
            assert!(msg.contains("openssl x509 -in both.pem -outform der -out cert.cer"));
            assert!(!msg.contains('\n'));
        }
    }

    #[test]
    fn refuses_der_private_keys_and_pfx() {
        let pkcs8 = key2048().to_pkcs8_der().unwrap();
        let err = Certificate::from_bytes(pkcs8.as_bytes(), "key.der").unwrap_err();
        assert!(
            matches!(err, CertError::PrivateKeyInCertificate { .. }),
            "{err:?}"
        );

        let cert = cert();
        let pfx = build_pfx(pkcs8.as_bytes(), &cert.der, "unit", "pw").unwrap();
        assert!(looks_like_pkcs12(&pfx));
        assert!(!looks_like_pkcs12(&cert.der));
        let err = Certificate::from_bytes(&pfx, "cert.pfx").unwrap_err();
        assert!(
            matches!(err, CertError::Pkcs12GivenAsCertificate { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("cert.pfx is a PKCS#12/PFX file"));
    }

    #[test]
    fn refuses_small_keys() {
        let small = rsa::PrivateKey::new(&mut OsRng, 1024).unwrap();
        let der = cert_der(&small, "small.example");
        let err = Certificate::from_bytes(&der, "small.cer").unwrap_err();
        assert!(
            matches!(err, CertError::KeyTooSmall { bits: 1024, .. }),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "small.cer: the certificate's RSA key has 1024 bits; an RSA key of at least 2048 \
             bits is required (create one with `azs-backup new-cert`)"
        );
    }

    #[test]
    fn refuses_garbage() {
        for (bytes, what) in [
            (&b""[..], "empty"),
            (&b"hello world"[..], "text"),
            (&[0x30, 0x82, 0x01][..], "truncated DER"),
            (&[0xde, 0xad, 0xbe, 0xef, 0x00, 0xff][..], "binary"),
            (
                &b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"[..],
                "public key",
            ),
            (
                &b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"[..],
                "bad base64",
            ),
        ] {
            let err = Certificate::from_bytes(bytes, "x.cer").unwrap_err();
            assert!(
                matches!(err, CertError::NotACertificate { .. }),
                "{what}: {err:?}"
            );
            assert!(
                err.to_string()
                    .starts_with("x.cer is neither a DER nor a PEM X.509 certificate"),
                "{what}: {err}"
            );
        }
        let err = Certificate::from_bytes(
            b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
            "x.cer",
        )
        .unwrap_err();
        assert!(err.to_string().contains("PUBLIC KEY"));
    }

    #[test]
    fn load_names_missing_file() {
        let err = Certificate::load(Path::new("/nonexistent/dir/x.cer")).unwrap_err();
        assert!(matches!(err, CertError::Read { .. }));
        assert!(err
            .to_string()
            .starts_with("cannot read /nonexistent/dir/x.cer: "));
    }

    #[test]
    fn load_refuses_huge_files() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.cer");
        std::fs::write(&big, vec![0x30u8; 2 * 1024 * 1024]).unwrap();
        let err = Certificate::load(&big).unwrap_err();
        assert!(matches!(err, CertError::Read { .. }), "{err:?}");
        assert!(
            err.to_string().contains("larger than 1048576 bytes"),
            "{err}"
        );
    }

    #[test]
    fn expiry_warnings() {
        let cert = cert(); // not_after 2026-01-01T00:00:00Z
        assert_eq!(cert.expiry_warning(at("2025-06-01T00:00:00Z")), None);
        assert_eq!(cert.expiry_warning(at("2025-12-01T23:59:59Z")), None);
        let soon = cert.expiry_warning(at("2025-12-22T00:00:00Z")).unwrap();
        assert!(soon.contains("expires in 10 days"), "{soon}");
        assert!(soon.contains(&cert.thumbprint));
        assert!(soon.contains("2026-01-01"));
        let last = cert.expiry_warning(at("2025-12-31T20:00:00Z")).unwrap();
        assert!(last.contains("in less than a day"), "{last}");
        let exactly30 = cert.expiry_warning(at("2025-12-02T00:00:00Z")).unwrap();
        assert!(exactly30.contains("in 30 days"), "{exactly30}");
        let expired = cert.expiry_warning(at("2026-01-01T00:00:00Z")).unwrap();
        assert!(expired.contains("expired on 2026-01-01"), "{expired}");
        assert!(cert.expiry_warning(at("2030-01-01T00:00:00Z")).is_some());
    }
}
