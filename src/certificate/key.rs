//! [`PrivateKey`]: the RSA key that decrypts backups, loaded from PEM, DER or PKCS#12.

use std::fmt;
use std::path::Path;

use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::traits::PublicKeyParts as _;
use sha1::Sha1;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::cert::{algorithm_name, parse_certificate_der, Certificate, OID_RSA_ENCRYPTION};
use super::files::{read_limited, MAX_KEY_FILE};
use super::pem::{is_certificate_label, parse_pem, pem_text};
use super::pkcs12::{self, looks_like_pkcs12};
use super::CertError;

/// An RSA private key that decrypts backups, with the certificate that came with it, if any.
#[derive(Clone)]
pub struct PrivateKey {
    pub key: rsa::PrivateKey,
    /// The certificate that came with the key (from a .pfx, or a CERTIFICATE block in the .pem).
    pub certificate: Option<Certificate>,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key material.
        f.debug_struct("PrivateKey")
            .field("bits", &self.bits())
            .field("thumbprint", &self.thumbprint())
            .finish_non_exhaustive()
    }
}

impl PrivateKey {
    /// RSA-OAEP (SHA-256, MGF1-SHA-256, empty label) decryption of a wrapped file key.
    pub fn unwrap_key(&self, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, CertError> {
        self.key
            .oaep_decrypt::<Sha256>(wrapped)
            .map(Zeroizing::new)
            .map_err(|_| CertError::Decrypt)
    }

    /// RSA-OAEP (SHA-1, MGF1-SHA-1, empty label) decryption, for Azure Stack Hub's own backups.
    pub fn unwrap_key_sha1(&self, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, CertError> {
        self.key
            .oaep_decrypt::<Sha1>(wrapped)
            .map(Zeroizing::new)
            .map_err(|_| CertError::Decrypt)
    }

    /// SHA-1 thumbprint of the certificate, if known.
    pub fn thumbprint(&self) -> Option<&str> {
        self.certificate.as_ref().map(|c| c.thumbprint.as_str())
    }

    /// True when this key's public half equals the certificate's public key.
    pub fn matches(&self, cert: &Certificate) -> bool {
        self.key.as_public_key() == &cert.public_key
    }

    /// The public half of the key.
    pub fn public_key(&self) -> rsa::PublicKey {
        self.key.to_public_key()
    }

    /// Size of the RSA modulus in bits.
    pub fn bits(&self) -> usize {
        self.key.n().bit_width() as usize
    }
}

/// Loads a private key: PKCS#8 PEM ("PRIVATE KEY") or PKCS#1 PEM ("RSA PRIVATE KEY"), optionally
/// with a CERTIFICATE block before or after it; or a `.pfx`/`.p12` opened with `password` (as made
/// by `new-cert`, by `openssl pkcs12 -export` with AES-256 or legacy 3DES/RC2, and by Windows
/// `Export-PfxCertificate`). Without a password, a PKCS#12 file is tried with the empty password.
pub fn load_private_key(path: &Path, password: Option<&str>) -> Result<PrivateKey, CertError> {
    let name = path.display().to_string();
    let bytes = Zeroizing::new(read_limited(path, &name, MAX_KEY_FILE)?);
    private_key_from_bytes(&bytes, &name, password)
}

/// Like [`load_private_key`], for bytes already read; `name_for_errors` names them in errors.
pub fn private_key_from_bytes(
    bytes: &[u8],
    name_for_errors: &str,
    password: Option<&str>,
) -> Result<PrivateKey, CertError> {
    let name = name_for_errors;
    if let Some(text) = pem_text(bytes) {
        return private_key_from_pem(text, name);
    }
    if looks_like_pkcs12(bytes) {
        return private_key_from_pkcs12(bytes, name, password);
    }
    // A bare DER private key (e.g. `openssl pkey -outform der`).
    if let Ok(info) = rsa::pkcs8::PrivateKeyInfoRef::try_from(bytes) {
        let oid = info.algorithm.oid.to_string();
        if oid != OID_RSA_ENCRYPTION {
            return Err(CertError::PrivateKeyNotRsa {
                name: name.to_string(),
                algorithm: algorithm_name(&oid),
            });
        }
        let key = rsa::PrivateKey::from_pkcs8_der(bytes).map_err(|e| invalid_key(name, e))?;
        return Ok(PrivateKey {
            key,
            certificate: None,
        });
    }
    if let Ok(key) = rsa::PrivateKey::from_pkcs1_der(bytes) {
        return Ok(PrivateKey {
            key,
            certificate: None,
        });
    }
    if x509_parser::parse_x509_certificate(bytes).is_ok() {
        return Err(CertError::NoPrivateKey {
            name: name.to_string(),
        });
    }
    Err(CertError::InvalidPrivateKey {
        name: name.to_string(),
        reason: "it is neither a PEM private key nor a PKCS#12/PFX file".to_string(),
    })
}

fn invalid_key(name: &str, e: impl fmt::Display) -> CertError {
    CertError::InvalidPrivateKey {
        name: name.to_string(),
        reason: e.to_string(),
    }
}

fn private_key_from_pem(text: &str, name: &str) -> Result<PrivateKey, CertError> {
    let blocks = parse_pem(text);
    let key_block = blocks.iter().find(|b| b.label.ends_with("PRIVATE KEY"));
    let Some(block) = key_block else {
        return Err(CertError::NoPrivateKey {
            name: name.to_string(),
        });
    };
    let damaged = || CertError::InvalidPrivateKey {
        name: name.to_string(),
        reason: format!("its PEM \"{}\" block is damaged", block.label),
    };
    let key = match block.label.as_str() {
        "PRIVATE KEY" => {
            let der = block.decode().ok_or_else(damaged)?;
            let info = rsa::pkcs8::PrivateKeyInfoRef::try_from(der.as_slice())
                .map_err(|e| invalid_key(name, e))?;
            let oid = info.algorithm.oid.to_string();
            if oid != OID_RSA_ENCRYPTION {
                return Err(CertError::PrivateKeyNotRsa {
                    name: name.to_string(),
                    algorithm: algorithm_name(&oid),
                });
            }
            rsa::PrivateKey::from_pkcs8_der(&der).map_err(|e| invalid_key(name, e))?
        }
        "RSA PRIVATE KEY" => {
            if block.encrypted {
                return Err(CertError::EncryptedPemKey {
                    name: name.to_string(),
                });
            }
            let der = block.decode().ok_or_else(damaged)?;
            rsa::PrivateKey::from_pkcs1_der(&der).map_err(|e| invalid_key(name, e))?
        }
        "ENCRYPTED PRIVATE KEY" => {
            return Err(CertError::EncryptedPemKey {
                name: name.to_string(),
            })
        }
        "EC PRIVATE KEY" => {
            return Err(CertError::PrivateKeyNotRsa {
                name: name.to_string(),
                algorithm: "EC".into(),
            })
        }
        "DSA PRIVATE KEY" => {
            return Err(CertError::PrivateKeyNotRsa {
                name: name.to_string(),
                algorithm: "DSA".into(),
            })
        }
        other => {
            return Err(CertError::InvalidPrivateKey {
                name: name.to_string(),
                reason: format!(
                    "PEM \"{other}\" blocks are not supported; give a PKCS#8 \"PRIVATE KEY\" or \
                     PKCS#1 \"RSA PRIVATE KEY\" PEM file, or a .pfx"
                ),
            })
        }
    };
    let mut certs = Vec::new();
    for block in blocks.iter().filter(|b| is_certificate_label(&b.label)) {
        let der = block
            .decode()
            .ok_or_else(|| CertError::InvalidCertificate {
                name: name.to_string(),
                reason: format!("its PEM \"{}\" block is damaged", block.label),
            })?;
        let der = match x509_parser::parse_x509_certificate(&der) {
            Ok((rest, _)) => der[..der.len() - rest.len()].to_vec(),
            Err(e) => {
                return Err(CertError::InvalidCertificate {
                    name: name.to_string(),
                    reason: e.to_string(),
                })
            }
        };
        certs.push(der);
    }
    with_matching_certificate(key, &certs, name, true)
}

/// Attaches the certificate among `certs` whose public key is `key`'s. When `strict` and there
/// are certificates but none matches, that is an error (a PEM file with a foreign certificate).
fn with_matching_certificate(
    key: rsa::PrivateKey,
    certs: &[Vec<u8>],
    name: &str,
    strict: bool,
) -> Result<PrivateKey, CertError> {
    let mut key = PrivateKey {
        key,
        certificate: None,
    };
    for der in certs {
        // Certificates that are not RSA (e.g. CA certificates in a chain) are skipped.
        if let Ok(cert) = parse_certificate_der(der, name, 0) {
            if key.matches(&cert) {
                key.certificate = Some(cert);
                return Ok(key);
            }
        }
    }
    if strict && !certs.is_empty() {
        return Err(CertError::KeyCertificateMismatch {
            name: name.to_string(),
        });
    }
    Ok(key)
}

/// The RSA key of a PKCS#12 file, with its certificate when the file holds it.
fn private_key_from_pkcs12(
    bytes: &[u8],
    name: &str,
    password: Option<&str>,
) -> Result<PrivateKey, CertError> {
    let archive = pkcs12::open(bytes, name, password)?;
    let certs: Vec<Vec<u8>> = archive
        .certs
        .iter()
        .map(|c| c.cert.as_der().to_vec())
        .collect();
    let mut first_rsa: Option<rsa::PrivateKey> = None;
    let mut other_algorithm: Option<String> = None;
    for bag in &archive.keys {
        let oid = bag.key.oid().to_string();
        if oid != OID_RSA_ENCRYPTION {
            other_algorithm.get_or_insert_with(|| algorithm_name(&oid));
            continue;
        }
        let key =
            rsa::PrivateKey::from_pkcs8_der(bag.key.as_der()).map_err(|e| invalid_key(name, e))?;
        let candidate = with_matching_certificate(key, &certs, name, false)?;
        if candidate.certificate.is_some() {
            return Ok(candidate);
        }
        first_rsa.get_or_insert(candidate.key);
    }
    if let Some(key) = first_rsa {
        return Ok(PrivateKey {
            key,
            certificate: None,
        });
    }
    match other_algorithm {
        Some(algorithm) => Err(CertError::PrivateKeyNotRsa {
            name: name.to_string(),
            algorithm,
        }),
        None => Err(CertError::NoPrivateKey {
            name: name.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::pem::pem_encode;
    use super::super::testutil::{cert, key2048, key_pem, other_key2048};
    use super::*;
    use rsa::pkcs8::EncodePrivateKey as _;

    #[test]
    fn wrap_unwrap_round_trip() {
        let cert = cert();
        let key = PrivateKey {
            key: key2048().clone(),
            certificate: Some(cert.clone()),
        };
        let file_key = [7u8; 32];
        let wrapped = cert.wrap_key(&file_key).unwrap();
        assert_eq!(wrapped.len(), 256);
        assert_ne!(
            cert.wrap_key(&file_key).unwrap(),
            wrapped,
            "OAEP is randomised"
        );
        assert_eq!(key.unwrap_key(&wrapped).unwrap().as_slice(), &file_key);
        assert!(matches!(
            key.unwrap_key_sha1(&wrapped),
            Err(CertError::Decrypt)
        ));

        let wrapped1 = cert.wrap_key_sha1(&file_key).unwrap();
        assert_eq!(
            key.unwrap_key_sha1(&wrapped1).unwrap().as_slice(),
            &file_key
        );
        assert!(matches!(key.unwrap_key(&wrapped1), Err(CertError::Decrypt)));

        let mut damaged = wrapped.clone();
        damaged[100] ^= 0x40;
        assert!(matches!(key.unwrap_key(&damaged), Err(CertError::Decrypt)));

        let stranger = PrivateKey {
            key: other_key2048().clone(),
            certificate: None,
        };
        assert!(!stranger.matches(&cert));
        assert!(key.matches(&cert));
        assert!(matches!(
            stranger.unwrap_key(&wrapped),
            Err(CertError::Decrypt)
        ));
        // OAEP-SHA-256 with a 2048-bit key carries at most 190 bytes.
        assert!(cert.wrap_key(&[0u8; 190]).is_ok());
        assert!(matches!(
            cert.wrap_key(&[0u8; 191]),
            Err(CertError::Encrypt { .. })
        ));
    }

    #[test]
    fn private_key_from_pem_variants() {
        let cert = cert();
        let both = format!("{}{}", key_pem(key2048()), cert.to_pem());
        let key = private_key_from_bytes(both.as_bytes(), "k.pem", None).unwrap();
        assert_eq!(key.thumbprint(), Some(cert.thumbprint.as_str()));
        assert!(key.matches(&cert));
        assert_eq!(key.bits(), 2048);

        let cert_first = format!("{}{}", cert.to_pem(), key_pem(key2048()));
        let key = private_key_from_bytes(cert_first.as_bytes(), "k.pem", None).unwrap();
        assert_eq!(key.thumbprint(), Some(cert.thumbprint.as_str()));

        let alone = private_key_from_bytes(key_pem(key2048()).as_bytes(), "k.pem", None).unwrap();
        assert_eq!(alone.thumbprint(), None);
        assert!(alone.matches(&cert));

        use rsa::pkcs1::EncodeRsaPrivateKey as _;
        let pkcs1 = pem_encode(
            "RSA PRIVATE KEY",
            key2048().to_pkcs1_der().unwrap().as_bytes(),
        );
        let key = private_key_from_bytes(pkcs1.as_bytes(), "k1.pem", None).unwrap();
        assert!(key.matches(&cert));

        let der =
            private_key_from_bytes(key2048().to_pkcs8_der().unwrap().as_bytes(), "k.der", None)
                .unwrap();
        assert!(der.matches(&cert));

        let err = private_key_from_bytes(cert.to_pem().as_bytes(), "c.pem", None).unwrap_err();
        assert!(matches!(err, CertError::NoPrivateKey { .. }), "{err:?}");
        let err = private_key_from_bytes(&cert.der, "c.cer", None).unwrap_err();
        assert!(matches!(err, CertError::NoPrivateKey { .. }), "{err:?}");

        let foreign = format!("{}{}", key_pem(other_key2048()), cert.to_pem());
        let err = private_key_from_bytes(foreign.as_bytes(), "f.pem", None).unwrap_err();
        assert!(
            matches!(err, CertError::KeyCertificateMismatch { .. }),
            "{err:?}"
        );

        let encrypted = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: \
                         AES-256-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        let err = private_key_from_bytes(encrypted.as_bytes(), "e.pem", None).unwrap_err();
        assert!(matches!(err, CertError::EncryptedPemKey { .. }), "{err:?}");

        let ec = "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n";
        let err = private_key_from_bytes(ec.as_bytes(), "ec.pem", None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the private key in ec.pem is EC; an RSA key is required"
        );

        let err = private_key_from_bytes(b"garbage", "g.key", None).unwrap_err();
        assert!(
            matches!(err, CertError::InvalidPrivateKey { .. }),
            "{err:?}"
        );
    }
}
