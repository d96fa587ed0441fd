//! PKCS#12/PFX files: recognising, opening (with the password rules) and writing them.

use std::path::Path;

use sha1::Sha1;
use sha2::Digest as _;

use super::CertError;

/// PKCS#12 PFX: SEQUENCE { INTEGER 3, ContentInfo { OID pkcs7-*, ... }, ... }.
pub(super) fn looks_like_pkcs12(bytes: &[u8]) -> bool {
    use x509_parser::der_parser::ber::parse_ber;
    if bytes.first() != Some(&0x30) {
        return false;
    }
    let Ok((_, obj)) = parse_ber(bytes) else {
        return false;
    };
    let Ok(items) = obj.as_sequence() else {
        return false;
    };
    if items.len() < 2 || items[0].as_u32().ok() != Some(3) {
        return false;
    }
    items[1]
        .as_sequence()
        .ok()
        .and_then(|content_info| content_info.first())
        .and_then(|oid| oid.as_oid().ok())
        .is_some_and(|oid| oid.to_id_string().starts_with("1.2.840.113549.1.7."))
}

/// True for files that need a password: `.pfx`/`.p12` by extension, or PKCS#12 content.
pub fn is_pkcs12(path: &Path) -> bool {
    let by_extension = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("pfx") || e.eq_ignore_ascii_case("p12"));
    if by_extension {
        return true;
    }
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() && m.len() <= 16 * 1024 * 1024 => {}
        _ => return false,
    }
    std::fs::read(path)
        .map(|bytes| looks_like_pkcs12(&bytes))
        .unwrap_or(false)
}

/// Opens a PKCS#12 file with `password`; without one, with the empty password (a file that
/// needs a real one is [`CertError::PasswordRequired`]).
pub(super) fn open(
    bytes: &[u8],
    name: &str,
    password: Option<&str>,
) -> Result<p12_keystore::Pkcs12Archive, CertError> {
    match password {
        Some(password) => open_pkcs12(bytes, name, password),
        None => match open_pkcs12(bytes, name, "") {
            Ok(archive) => Ok(archive),
            Err(CertError::WrongPassword { .. }) => Err(CertError::PasswordRequired {
                name: name.to_string(),
            }),
            Err(e) => Err(e),
        },
    }
}

fn open_pkcs12(
    bytes: &[u8],
    name: &str,
    password: &str,
) -> Result<p12_keystore::Pkcs12Archive, CertError> {
    use p12_keystore::error::Error as P12Error;
    p12_keystore::Pkcs12Archive::from_pkcs12(bytes, password).map_err(|e| match e {
        P12Error::MacError(_) | P12Error::UnpadError | P12Error::Pkcs5Error(_) => {
            CertError::WrongPassword {
                name: name.to_string(),
            }
        }
        P12Error::UnsupportedEncryptionScheme | P12Error::UnsupportedMacAlgorithm => {
            CertError::Pkcs12 {
                name: name.to_string(),
                reason: "it uses an unsupported encryption or MAC algorithm; export it again \
                         with AES-256 (the default of `openssl pkcs12 -export` and of \
                         Export-PfxCertificate -CryptoAlgorithmOption AES256_SHA256)"
                    .to_string(),
            }
        }
        other => CertError::Pkcs12 {
            name: name.to_string(),
            reason: other.to_string(),
        },
    })
}

/// A PKCS#12 file (AES-256) holding the PKCS#8 key and its certificate, under `alias`.
pub(super) fn build_pfx(
    pkcs8_der: &[u8],
    cert_der: &[u8],
    alias: &str,
    password: &str,
) -> Result<Vec<u8>, CertError> {
    let generate = |reason: String| CertError::Generate {
        reason: format!("PKCS#12: {reason}"),
    };
    let key = p12_keystore::PrivateKey::from_der(pkcs8_der).map_err(|e| generate(e.to_string()))?;
    let p12_cert =
        p12_keystore::Certificate::from_der(cert_der).map_err(|e| generate(e.to_string()))?;
    // The local key id ties the key bag to the certificate bag, as OpenSSL does (SHA-1 of the cert).
    let local_key_id = Sha1::digest(cert_der).to_vec();
    let chain = p12_keystore::PrivateKeyChain::new(local_key_id, key, [p12_cert]);
    let mut store = p12_keystore::KeyStore::new();
    store.add_entry(alias, p12_keystore::KeyStoreEntry::PrivateKeyChain(chain));
    store
        .writer(password)
        .write()
        .map_err(|e| generate(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{cert, key2048};
    use super::super::{private_key_from_bytes, CertError};
    use super::*;
    use rsa::pkcs8::EncodePrivateKey as _;

    #[test]
    fn private_key_from_our_pfx() {
        let cert = cert();
        let pkcs8 = key2048().to_pkcs8_der().unwrap();
        let pfx = build_pfx(pkcs8.as_bytes(), &cert.der, "unit", "s3cret pässword").unwrap();
        let key = private_key_from_bytes(&pfx, "k.pfx", Some("s3cret pässword")).unwrap();
        assert_eq!(key.thumbprint(), Some(cert.thumbprint.as_str()));
        assert!(key.matches(&cert));

        let err = private_key_from_bytes(&pfx, "k.pfx", Some("wrong")).unwrap_err();
        assert!(matches!(err, CertError::WrongPassword { .. }), "{err:?}");
        assert_eq!(err.to_string(), "wrong password for k.pfx");
        let err = private_key_from_bytes(&pfx, "k.pfx", None).unwrap_err();
        assert!(matches!(err, CertError::PasswordRequired { .. }), "{err:?}");
        assert!(!format!("{key:?}").contains("pässword"));
    }

    #[test]
    fn is_pkcs12_by_extension_and_content() {
        let dir = tempfile::tempdir().unwrap();
        let cert = cert();
        let pfx = build_pfx(
            key2048().to_pkcs8_der().unwrap().as_bytes(),
            &cert.der,
            "u",
            "pw",
        )
        .unwrap();
        let disguised = dir.path().join("key.bin");
        std::fs::write(&disguised, &pfx).unwrap();
        let cer = dir.path().join("c.cer");
        std::fs::write(&cer, &cert.der).unwrap();
        assert!(is_pkcs12(&disguised));
        assert!(!is_pkcs12(&cer));
        assert!(is_pkcs12(Path::new("missing.PFX")));
        assert!(is_pkcs12(Path::new("missing.p12")));
        assert!(!is_pkcs12(Path::new("missing.pem")));
        assert!(!is_pkcs12(dir.path()));
    }
}
