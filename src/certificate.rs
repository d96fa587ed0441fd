//! Encryption certificates (README.md `configure`, docs/FORMAT.md §3, docs/AZURESTACK.md).
//!
//! * [`Certificate`]: the public-only `.cer` (DER or PEM) that backups are encrypted for. Files that
//!   hold a private key (PEM key blocks, PKCS#12/PFX) are refused with advice, and so are non-RSA
//!   keys and RSA keys below 2048 bits. Its thumbprint is the SHA-1 of the DER, upper-case hex, as
//!   Windows shows it.
//! * [`PrivateKey`]: the key that decrypts backups, from a `.pfx`/`.p12` (with its password) or a
//!   PKCS#8 / PKCS#1 PEM file, optionally with its certificate.
//! * File keys are wrapped with RSA-OAEP (SHA-256, MGF1-SHA-256, empty label); Azure Stack Hub's own
//!   backups use OAEP with SHA-1 ([`PrivateKey::unwrap_key_sha1`]).
//! * [`new_self_signed`]: `new-cert`, the seed's `New-SelfSignedCertificate` + `Export-Certificate`
//!   recipe.
//!
//! Passwords and key material are never part of an error message.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use chrono::{DateTime, Utc};
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _, EncodePrivateKey as _};
use rsa::traits::PublicKeyParts as _;
use sha1::Sha1;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

/// Smallest accepted RSA modulus, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// Key size `new-cert` uses unless told otherwise.
pub const DEFAULT_BITS: usize = 2048;
/// Key sizes `new-cert` accepts.
pub const ALLOWED_BITS: [usize; 3] = [2048, 3072, 4096];
/// Validity `new-cert` uses unless told otherwise (like `New-SelfSignedCertificate`: one year).
pub const DEFAULT_VALID_DAYS: u32 = 365;
/// Longest validity `new-cert` accepts.
pub const MAX_VALID_DAYS: u32 = 36_500;
/// `expiry_warning` warns this many days before the certificate expires.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

const OID_RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
#[cfg(test)]
const OID_SHA256_WITH_RSA: &str = "1.2.840.113549.1.1.11";
const OID_KP_SERVER_AUTH: &str = "1.3.6.1.5.5.7.3.1";
const OID_KP_CLIENT_AUTH: &str = "1.3.6.1.5.5.7.3.2";

/// Errors about certificates and private keys. Each message is one line that names the file (or
/// value) and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("cannot read {name}: {source}")]
    Read {
        name: String,
        source: std::io::Error,
    },
    #[error(
        "{name} holds a private key ({what}); give the public-only certificate (.cer) instead, \
         e.g. `openssl x509 -in {name} -outform der -out cert.cer`, or the .cer written by \
         `azs-backup new-cert`, and keep the private key somewhere else"
    )]
    PrivateKeyInCertificate { name: String, what: String },
    #[error(
        "{name} is a PKCS#12/PFX file, which holds a private key; give the public-only \
         certificate (.cer) instead, e.g. `openssl pkcs12 -in {name} -nokeys -clcerts | openssl \
         x509 -outform der -out cert.cer` (Windows: Export-Certificate), or the .cer written by \
         `azs-backup new-cert`, and keep the .pfx somewhere else"
    )]
    Pkcs12GivenAsCertificate { name: String },
    #[error("{name} is neither a DER nor a PEM X.509 certificate{detail}; give the .cer file")]
    NotACertificate { name: String, detail: String },
    #[error(
        "{name}: the certificate's key is {algorithm}; an RSA key of at least {MIN_RSA_BITS} bits \
         is required (create one with `azs-backup new-cert`)"
    )]
    NotRsa { name: String, algorithm: String },
    #[error(
        "{name}: the certificate's RSA key has {bits} bits; an RSA key of at least {MIN_RSA_BITS} \
         bits is required (create one with `azs-backup new-cert`)"
    )]
    KeyTooSmall { name: String, bits: usize },
    #[error("{name}: invalid certificate: {reason}")]
    InvalidCertificate { name: String, reason: String },
    #[error("{name} is a password-protected PKCS#12/PFX file; give its password")]
    PasswordRequired { name: String },
    #[error("wrong password for {name}")]
    WrongPassword { name: String },
    #[error("cannot read the PKCS#12/PFX file {name}: {reason}")]
    Pkcs12 { name: String, reason: String },
    #[error(
        "{name} holds no private key; give the .pfx (with its password) or the .pem written by \
         `azs-backup new-cert` (a PKCS#8 \"PRIVATE KEY\" or PKCS#1 \"RSA PRIVATE KEY\" PEM file)"
    )]
    NoPrivateKey { name: String },
    #[error(
        "{name} holds an encrypted PEM private key, which is not supported; convert it to a \
         .pfx, e.g. `openssl pkcs12 -export -inkey {name} -in cert.pem -out key.pfx`"
    )]
    EncryptedPemKey { name: String },
    #[error("the private key in {name} is {algorithm}; an RSA key is required")]
    PrivateKeyNotRsa { name: String, algorithm: String },
    #[error("{name}: invalid private key: {reason}")]
    InvalidPrivateKey { name: String, reason: String },
    #[error("{name}: the private key does not belong to the certificate stored with it")]
    KeyCertificateMismatch { name: String },
    #[error("RSA-OAEP encryption of the file key failed: {reason}")]
    Encrypt { reason: String },
    #[error(
        "cannot unwrap the file key: the private key is not the one this data was encrypted \
         for, or the wrapped key is damaged"
    )]
    Decrypt,
    #[error(
        "invalid DNS name {name:?}: {reason}; use host name characters only (letters, digits, \
         '-' and '.'), e.g. www.contoso.com"
    )]
    InvalidDnsName { name: String, reason: String },
    #[error("unsupported key size of {bits} bits; use 2048, 3072 or 4096")]
    InvalidKeySize { bits: usize },
    #[error("invalid validity of {days} days; use 1 to {MAX_VALID_DAYS} days")]
    InvalidValidity { days: u32 },
    #[error("{} already exists; refusing to overwrite it (move it away or choose another output directory)", path.display())]
    AlreadyExists { path: PathBuf },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("could not create the certificate: {reason}")]
    Generate { reason: String },
}

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

/// What `new-cert` makes.
#[derive(Clone)]
pub struct NewCertOptions {
    /// Subject CN and SAN dNSName, and the files' base name.
    pub dns_name: String,
    /// Where the files go; created with mode 0700 when missing.
    pub out_dir: PathBuf,
    /// RSA key size: 2048 (default), 3072 or 4096.
    pub bits: usize,
    /// Validity in days (default 365).
    pub valid_days: u32,
    /// Password of the `.pfx`; `None` writes no `.pfx`.
    pub pfx_password: Option<Zeroizing<String>>,
    /// The time the certificate is made at.
    pub now: DateTime<Utc>,
}

impl fmt::Debug for NewCertOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the password.
        f.debug_struct("NewCertOptions")
            .field("dns_name", &self.dns_name)
            .field("out_dir", &self.out_dir)
            .field("bits", &self.bits)
            .field("valid_days", &self.valid_days)
            .field(
                "pfx_password",
                &self.pfx_password.as_ref().map(|_| "<redacted>"),
            )
            .field("now", &self.now)
            .finish()
    }
}

impl NewCertOptions {
    /// Defaults: 2048 bits, 365 days, no `.pfx`, now.
    pub fn new(dns_name: impl Into<String>, out_dir: impl Into<PathBuf>) -> NewCertOptions {
        NewCertOptions {
            dns_name: dns_name.into(),
            out_dir: out_dir.into(),
            bits: DEFAULT_BITS,
            valid_days: DEFAULT_VALID_DAYS,
            pfx_password: None,
            now: Utc::now(),
        }
    }
}

/// What `new-cert` wrote.
#[derive(Clone, Debug)]
pub struct NewCertFiles {
    /// Public-only DER certificate, mode 0644: the one to configure backups with.
    pub cer: PathBuf,
    /// PKCS#8 "PRIVATE KEY" block followed by the "CERTIFICATE" block, mode 0600.
    pub pem: PathBuf,
    /// PKCS#12 with key and certificate (AES-256), mode 0600, when a password was given.
    pub pfx: Option<PathBuf>,
    pub thumbprint: String,
    pub not_after: DateTime<Utc>,
}

/// Checks that `name` is a DNS host name: dot-separated labels of letters, digits and '-'.
pub fn validate_dns_name(name: &str) -> Result<(), CertError> {
    let bad = |reason: &str| {
        Err(CertError::InvalidDnsName {
            name: name.to_string(),
            reason: reason.to_string(),
        })
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > 253 {
        return bad("it is longer than 253 characters");
    }
    for label in name.split('.') {
        if label.is_empty() {
            return bad("it has an empty label (leading, trailing or doubled '.')");
        }
        if label.len() > 63 {
            return bad("a label is longer than 63 characters");
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return bad(&format!("{c:?} is not allowed"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return bad("a label starts or ends with '-'");
        }
    }
    Ok(())
}

/// `new-cert`: mirrors the seed's `New-SelfSignedCertificate -DnsName X` + `Export-Certificate`:
/// a self-signed RSA certificate, CN=<dns_name>, SAN dNSName=<dns_name>, KeyUsage
/// digitalSignature+keyEncipherment+dataEncipherment, EKU serverAuth+clientAuth,
/// sha256WithRSAEncryption, valid from ten minutes before `now` (clock skew, as Windows does).
///
/// Writes `<out_dir>/<dns_name>.cer` (DER, public only, 0644), `<dns_name>.pem` (PKCS#8 key then
/// the certificate, 0600) and, with a password, `<dns_name>.pfx` (0600). Secret files are created
/// 0600 from the start (temporary file in the same directory, then renamed without clobbering).
/// Refuses to overwrite any existing file; on failure the files already written are removed.
pub fn new_self_signed(opts: &NewCertOptions) -> Result<NewCertFiles, CertError> {
    validate_dns_name(&opts.dns_name)?;
    if !ALLOWED_BITS.contains(&opts.bits) {
        return Err(CertError::InvalidKeySize { bits: opts.bits });
    }
    if opts.valid_days == 0 || opts.valid_days > MAX_VALID_DAYS {
        return Err(CertError::InvalidValidity {
            days: opts.valid_days,
        });
    }
    let cer_path = opts.out_dir.join(format!("{}.cer", opts.dns_name));
    let pem_path = opts.out_dir.join(format!("{}.pem", opts.dns_name));
    let pfx_path = opts
        .pfx_password
        .as_ref()
        .map(|_| opts.out_dir.join(format!("{}.pfx", opts.dns_name)));
    for path in [Some(&cer_path), Some(&pem_path), pfx_path.as_ref()]
        .into_iter()
        .flatten()
    {
        if std::fs::symlink_metadata(path).is_ok() {
            return Err(CertError::AlreadyExists { path: path.clone() });
        }
    }
    create_private_dir(&opts.out_dir)?;

    let generate = |reason: String| CertError::Generate { reason };
    let key = rsa::PrivateKey::new(&mut OsRng, opts.bits).map_err(|e| generate(e.to_string()))?;
    let not_before = DateTime::from_timestamp(opts.now.timestamp() - 600, 0)
        .ok_or_else(|| generate("the current time is out of range".into()))?;
    let not_after = DateTime::from_timestamp(
        opts.now.timestamp() + i64::from(opts.valid_days) * 86_400,
        0,
    )
    .ok_or_else(|| generate("the expiry time is out of range".into()))?;
    let der = build_self_signed(&key, &opts.dns_name, not_before, not_after)?;
    let cert = parse_certificate_der(&der, &cer_path.display().to_string(), MIN_RSA_BITS)?;

    let pkcs8 = key
        .to_pkcs8_der()
        .map_err(|e| generate(format!("encoding the private key: {e}")))?;
    let mut pem = Zeroizing::new(pem_encode("PRIVATE KEY", pkcs8.as_bytes()));
    pem.push_str(&cert.to_pem());
    let pfx = match &opts.pfx_password {
        Some(password) => Some(Zeroizing::new(build_pfx(
            pkcs8.as_bytes(),
            &cert,
            &opts.dns_name,
            password,
        )?)),
        None => None,
    };

    let mut written: Vec<PathBuf> = Vec::new();
    let result = (|| {
        write_new_file(&cer_path, &cert.der, 0o644)?;
        written.push(cer_path.clone());
        write_new_file(&pem_path, pem.as_bytes(), 0o600)?;
        written.push(pem_path.clone());
        if let (Some(path), Some(bytes)) = (&pfx_path, &pfx) {
            write_new_file(path, bytes, 0o600)?;
            written.push(path.clone());
        }
        sync_dir(&opts.out_dir);
        Ok(())
    })();
    if let Err(e) = result {
        for path in &written {
            let _ = std::fs::remove_file(path);
        }
        return Err(e);
    }
    Ok(NewCertFiles {
        cer: cer_path,
        pem: pem_path,
        pfx: pfx_path,
        thumbprint: cert.thumbprint,
        not_after: cert.not_after,
    })
}

// ---------------------------------------------------------------------------------------------
// Parsing

/// Builds a [`Certificate`] from exactly one DER certificate, checking the key.
fn parse_certificate_der(
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

fn algorithm_name(oid: &str) -> String {
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

fn invalid_key(name: &str, e: impl fmt::Display) -> CertError {
    CertError::InvalidPrivateKey {
        name: name.to_string(),
        reason: e.to_string(),
    }
}

fn is_certificate_label(label: &str) -> bool {
    matches!(
        label,
        "CERTIFICATE" | "X509 CERTIFICATE" | "TRUSTED CERTIFICATE"
    )
}

struct PemBlock {
    label: String,
    /// RFC 1421 "Proc-Type: 4,ENCRYPTED" header (traditional encrypted OpenSSL keys).
    encrypted: bool,
    complete: bool,
    body: Zeroizing<String>,
}

impl PemBlock {
    fn decode(&self) -> Option<Zeroizing<Vec<u8>>> {
        if !self.complete {
            return None;
        }
        base64::engine::general_purpose::STANDARD
            .decode(self.body.as_bytes())
            .ok()
            .map(Zeroizing::new)
    }
}

/// The input as text when it looks like PEM (UTF-8, optional BOM, has a BEGIN line).
fn pem_text(bytes: &[u8]) -> Option<&str> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).ok()?;
    text.contains("-----BEGIN ").then_some(text)
}

fn parse_pem(text: &str) -> Vec<PemBlock> {
    let mut blocks = Vec::new();
    let mut current: Option<PemBlock> = None;
    for line in text.lines() {
        let line = line.trim();
        match current.as_mut() {
            None => {
                if let Some(label) = line
                    .strip_prefix("-----BEGIN ")
                    .and_then(|l| l.strip_suffix("-----"))
                {
                    current = Some(PemBlock {
                        label: label.trim().to_string(),
                        encrypted: false,
                        complete: false,
                        body: Zeroizing::new(String::new()),
                    });
                }
            }
            Some(block) => {
                if line.starts_with("-----END ") {
                    let mut done = current.take().expect("a block is open");
                    done.complete = line
                        .strip_prefix("-----END ")
                        .and_then(|l| l.strip_suffix("-----"))
                        .is_some_and(|l| l.trim() == done.label);
                    blocks.push(done);
                } else if line.contains(':') {
                    if line.starts_with("Proc-Type:") && line.contains("ENCRYPTED") {
                        block.encrypted = true;
                    }
                } else {
                    block.body.push_str(line);
                }
            }
        }
    }
    if let Some(open) = current {
        blocks.push(open);
    }
    blocks
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(der));
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 64);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// PKCS#12 PFX: SEQUENCE { INTEGER 3, ContentInfo { OID pkcs7-*, ... }, ... }.
fn looks_like_pkcs12(bytes: &[u8]) -> bool {
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

fn private_key_from_pkcs12(
    bytes: &[u8],
    name: &str,
    password: Option<&str>,
) -> Result<PrivateKey, CertError> {
    let archive = match password {
        Some(password) => open_pkcs12(bytes, name, password)?,
        None => match open_pkcs12(bytes, name, "") {
            Ok(archive) => archive,
            Err(CertError::WrongPassword { .. }) => {
                return Err(CertError::PasswordRequired {
                    name: name.to_string(),
                })
            }
            Err(e) => return Err(e),
        },
    };
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

// ---------------------------------------------------------------------------------------------
// Making certificates

/// The operating system's random source, for key generation.
struct OsRng;

#[derive(Debug)]
struct RngError(getrandom::Error);

impl fmt::Display for RngError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the system random source failed: {}", self.0)
    }
}

impl std::error::Error for RngError {}

impl rsa::rand_core::TryRng for OsRng {
    type Error = RngError;

    fn try_next_u32(&mut self) -> Result<u32, RngError> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, RngError> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), RngError> {
        getrandom::fill(dst).map_err(RngError)
    }
}

impl rsa::rand_core::TryCryptoRng for OsRng {}

/// Subject = issuer = CN=<dns_name>, with the extensions `New-SelfSignedCertificate` gives.
struct SelfSignedProfile {
    subject: x509_cert::name::Name,
    dns_name: String,
}

impl x509_cert::builder::profile::BuilderProfile for SelfSignedProfile {
    fn get_issuer(&self, subject: &x509_cert::name::Name) -> x509_cert::name::Name {
        subject.clone()
    }

    fn get_subject(&self) -> x509_cert::name::Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        spk: x509_cert::spki::SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: x509_cert::spki::SubjectPublicKeyInfoRef<'_>,
        tbs: &x509_cert::TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<x509_cert::ext::Extension>> {
        use x509_cert::der::asn1::{Ia5String, OctetString};
        use x509_cert::ext::pkix::{
            name::GeneralName, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName,
            SubjectKeyIdentifier,
        };
        use x509_cert::ext::ToExtension as _;
        use x509_cert::spki::ObjectIdentifier;

        let subject = tbs.subject();
        let key_id = Sha1::digest(spk.subject_public_key.raw_bytes());
        let ski = SubjectKeyIdentifier(OctetString::new(key_id.to_vec())?);
        let key_usage = KeyUsage(
            KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment | KeyUsages::DataEncipherment,
        );
        let eku = ExtendedKeyUsage(vec![
            ObjectIdentifier::new_unwrap(OID_KP_SERVER_AUTH),
            ObjectIdentifier::new_unwrap(OID_KP_CLIENT_AUTH),
        ]);
        let san = SubjectAltName(vec![GeneralName::DnsName(Ia5String::new(&self.dns_name)?)]);
        Ok(vec![
            (&key_usage).to_extension(subject, &[])?,
            (&eku).to_extension(subject, &[])?,
            (&san).to_extension(subject, &[])?,
            (&ski).to_extension(subject, &[])?,
        ])
    }
}

/// A self-signed sha256WithRSAEncryption certificate for `dns_name`, DER-encoded.
fn build_self_signed(
    key: &rsa::PrivateKey,
    dns_name: &str,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
) -> Result<Vec<u8>, CertError> {
    use std::str::FromStr as _;
    use x509_cert::builder::{Builder as _, CertificateBuilder};
    use x509_cert::der::Encode as _;

    let generate = |reason: String| CertError::Generate { reason };
    let time = |t: DateTime<Utc>| {
        x509_cert::time::Time::try_from(std::time::SystemTime::from(t))
            .map_err(|e| generate(format!("time {t} is not representable: {e}")))
    };
    let validity = x509_cert::time::Validity::new(time(not_before)?, time(not_after)?);
    let subject = x509_cert::name::Name::from_str(&format!("CN={dns_name}"))
        .map_err(|e| generate(format!("subject name: {e}")))?;
    let mut serial = [0u8; 16];
    getrandom::fill(&mut serial).map_err(|e| generate(RngError(e).to_string()))?;
    serial[0] = (serial[0] & 0x7f) | 0x01; // positive, no leading zero
    let serial = x509_cert::serial_number::SerialNumber::new(&serial)
        .map_err(|e| generate(format!("serial number: {e}")))?;
    let public_key = key.to_public_key();
    let spki = x509_cert::spki::SubjectPublicKeyInfoOwned::from_key(&public_key)
        .map_err(|e| generate(format!("public key: {e}")))?;
    let profile = SelfSignedProfile {
        subject,
        dns_name: dns_name.to_string(),
    };
    // RSASSA-PKCS1-v1_5 with SHA-256 (sha256WithRSAEncryption), from the rsa crate.
    let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(key.clone());
    let builder = CertificateBuilder::new(profile, serial, validity, spki)
        .map_err(|e| generate(e.to_string()))?;
    let cert = builder
        .build::<_, rsa::pkcs1v15::Signature>(&signer)
        .map_err(|e| generate(e.to_string()))?;
    cert.to_der().map_err(|e| generate(e.to_string()))
}

fn build_pfx(
    pkcs8_der: &[u8],
    cert: &Certificate,
    alias: &str,
    password: &str,
) -> Result<Vec<u8>, CertError> {
    let generate = |reason: String| CertError::Generate {
        reason: format!("PKCS#12: {reason}"),
    };
    let key = p12_keystore::PrivateKey::from_der(pkcs8_der).map_err(|e| generate(e.to_string()))?;
    let p12_cert =
        p12_keystore::Certificate::from_der(&cert.der).map_err(|e| generate(e.to_string()))?;
    // The local key id ties the key bag to the certificate bag, as OpenSSL does (SHA-1 of the cert).
    let local_key_id = Sha1::digest(&cert.der).to_vec();
    let chain = p12_keystore::PrivateKeyChain::new(local_key_id, key, [p12_cert]);
    let mut store = p12_keystore::KeyStore::new();
    store.add_entry(alias, p12_keystore::KeyStoreEntry::PrivateKeyChain(chain));
    store
        .writer(password)
        .write()
        .map_err(|e| generate(e.to_string()))
}

// ---------------------------------------------------------------------------------------------
// Files

/// A certificate file is a few KiB; anything this large is not one.
const MAX_CERTIFICATE_FILE: u64 = 1024 * 1024;
/// A key file or a .pfx with its chain is a few KiB too.
const MAX_KEY_FILE: u64 = 16 * 1024 * 1024;

fn read_limited(path: &Path, name: &str, max: u64) -> Result<Vec<u8>, CertError> {
    use std::io::Read as _;
    let read_err = |source| CertError::Read {
        name: name.to_string(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > max {
        return Err(read_err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {max} bytes, which is not a certificate or key file"),
        )));
    }
    Ok(bytes)
}

/// Creates `dir` (and missing parents) with mode 0700 when it does not exist.
fn create_private_dir(dir: &Path) -> Result<(), CertError> {
    let err = |source| CertError::Write {
        path: dir.to_path_buf(),
        source,
    };
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => {
            return Err(err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "it exists and is not a directory",
            )))
        }
        Err(_) => {}
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(err)
}

/// Writes `bytes` to the new file `path` with `mode`: through a temporary file in the same
/// directory (created 0600), renamed into place only if `path` does not exist.
fn write_new_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), CertError> {
    let err = |source| CertError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".azs-backup-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(err)?;
    }
    tmp.write_all(bytes).map_err(err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(err)?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist_noclobber(path).map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            CertError::AlreadyExists {
                path: path.to_path_buf(),
            }
        } else {
            err(e.error)
        }
    })?;
    Ok(())
}

fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;

    fn key2048() -> &'static rsa::PrivateKey {
        static KEY: OnceLock<rsa::PrivateKey> = OnceLock::new();
        KEY.get_or_init(|| rsa::PrivateKey::new(&mut OsRng, 2048).expect("key generation"))
    }

    fn other_key2048() -> &'static rsa::PrivateKey {
        static KEY: OnceLock<rsa::PrivateKey> = OnceLock::new();
        KEY.get_or_init(|| rsa::PrivateKey::new(&mut OsRng, 2048).expect("key generation"))
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn cert_der(key: &rsa::PrivateKey, dns: &str) -> Vec<u8> {
        build_self_signed(
            key,
            dns,
            at("2025-01-01T00:00:00Z"),
            at("2026-01-01T00:00:00Z"),
        )
        .unwrap()
    }

    fn cert() -> Certificate {
        Certificate::from_bytes(&cert_der(key2048(), "unit.example"), "unit.cer").unwrap()
    }

    fn key_pem(key: &rsa::PrivateKey) -> String {
        pem_encode("PRIVATE KEY", key.to_pkcs8_der().unwrap().as_bytes())
    }

    /// Independent RSASSA-PKCS1-v1_5 SHA-256 verification: s^e mod n must be the EM we expect.
    fn verify_signature(der: &[u8], public_key: &rsa::PublicKey) -> bool {
        let (_, x509) = x509_parser::parse_x509_certificate(der).unwrap();
        let tbs = x509.tbs_certificate.as_ref();
        let sig = &x509.signature_value.data;
        let n = public_key.n_params().modulus();
        let s = rsa::BoxedUint::from_be_slice(sig, public_key.n_bits_precision()).unwrap();
        let m = s.pow_mod(public_key.e(), n).to_be_bytes();
        let m = &m[m.len() - public_key.size()..];
        let mut expected = vec![0x00, 0x01];
        let digest_info = [
            &[
                0x30u8, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04,
                0x02, 0x01, 0x05, 0x00, 0x04, 0x20,
            ][..],
            &Sha256::digest(tbs)[..],
        ]
        .concat();
        expected.resize(public_key.size() - digest_info.len() - 1, 0xff);
        expected.push(0x00);
        expected.extend_from_slice(&digest_info);
        m == expected.as_slice()
    }

    #[test]
    fn self_signed_certificate_fields() {
        let der = cert_der(key2048(), "unit.example");
        let cert = Certificate::from_bytes(&der, "unit.cer").unwrap();
        assert_eq!(cert.der, der);
        assert_eq!(cert.key_bits, 2048);
        assert_eq!(cert.subject, "CN=unit.example");
        assert_eq!(cert.not_before, at("2025-01-01T00:00:00Z"));
        assert_eq!(cert.not_after, at("2026-01-01T00:00:00Z"));
        assert_eq!(cert.thumbprint, hex::encode_upper(Sha1::digest(&der)));
        assert_eq!(cert.thumbprint.len(), 40);
        assert!(cert
            .thumbprint
            .chars()
            .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c)));
        assert_eq!(
            cert.thumbprint_sha256,
            hex::encode_upper(Sha256::digest(&der))
        );
        assert_eq!(cert.thumbprint_sha256.len(), 64);
        assert_eq!(&cert.public_key, key2048().as_public_key());
        assert!(verify_signature(&der, &cert.public_key));

        let (_, x509) = x509_parser::parse_x509_certificate(&der).unwrap();
        assert_eq!(
            x509.signature_algorithm.algorithm.to_id_string(),
            OID_SHA256_WITH_RSA
        );
        let ku = x509.key_usage().unwrap().unwrap().value;
        assert!(ku.key_encipherment() && ku.data_encipherment() && ku.digital_signature());
        assert!(!ku.key_cert_sign());
        let san = x509.subject_alternative_name().unwrap().unwrap().value;
        assert_eq!(
            san.general_names,
            vec![x509_parser::extensions::GeneralName::DNSName(
                "unit.example"
            )]
        );
        assert_eq!(x509.subject(), x509.issuer());
    }

    #[test]
    fn tampered_signature_is_detected_by_the_test_verifier() {
        let mut der = cert_der(key2048(), "unit.example");
        let last = der.len() - 1;
        der[last] ^= 1;
        assert!(!verify_signature(&der, key2048().as_public_key()));
    }

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
        let pfx = build_pfx(pkcs8.as_bytes(), &cert, "unit", "pw").unwrap();
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

    #[test]
    fn private_key_from_our_pfx() {
        let cert = cert();
        let pkcs8 = key2048().to_pkcs8_der().unwrap();
        let pfx = build_pfx(pkcs8.as_bytes(), &cert, "unit", "s3cret pässword").unwrap();
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
            &cert,
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

    #[test]
    fn dns_names() {
        for ok in ["www.contoso.com", "backup", "a-b.c1.example", "X.Y"] {
            assert!(validate_dns_name(ok).is_ok(), "{ok}");
        }
        let long_label = "a".repeat(64);
        let long_name = [
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(63),
        ]
        .join(".");
        for bad in [
            "",
            ".",
            "..",
            "a..b",
            ".a",
            "a.",
            "-a.com",
            "a-.com",
            "*.contoso.com",
            "a/b",
            "../x",
            "a b",
            "ü.com",
            "a_b.com",
            long_label.as_str(),
            long_name.as_str(),
        ] {
            let err = validate_dns_name(bad).unwrap_err();
            assert!(matches!(err, CertError::InvalidDnsName { .. }), "{bad}");
        }
    }

    #[test]
    fn write_new_file_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        write_new_file(&path, b"one", 0o600).unwrap();
        let err = write_new_file(&path, b"two", 0o600).unwrap_err();
        assert!(matches!(err, CertError::AlreadyExists { .. }), "{err:?}");
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        // No temporary files left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_self_signed_writes_three_files() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("new").join("certs");
        let mut opts = NewCertOptions::new("backup.contoso.com", &out);
        opts.now = at("2025-03-01T12:00:00Z");
        opts.valid_days = 100;
        opts.pfx_password = Some(Zeroizing::new("pfx-pw".to_string()));
        assert!(!format!("{opts:?}").contains("pfx-pw"));
        let files = new_self_signed(&opts).unwrap();
        assert_eq!(files.cer, out.join("backup.contoso.com.cer"));
        assert_eq!(files.pem, out.join("backup.contoso.com.pem"));
        assert_eq!(files.pfx, Some(out.join("backup.contoso.com.pfx")));
        assert_eq!(files.not_after, at("2025-06-09T12:00:00Z"));

        let cert = Certificate::load(&files.cer).unwrap();
        assert_eq!(cert.thumbprint, files.thumbprint);
        assert_eq!(cert.subject, "CN=backup.contoso.com");
        assert_eq!(cert.key_bits, 2048);
        assert_eq!(cert.not_before, at("2025-03-01T11:50:00Z"));
        assert_eq!(cert.not_after, files.not_after);
        assert!(verify_signature(&cert.der, &cert.public_key));

        // The .pem holds the key, so it is refused as a certificate, and loads as a key.
        assert!(matches!(
            Certificate::load(&files.pem),
            Err(CertError::PrivateKeyInCertificate { .. })
        ));
        let from_pem = load_private_key(&files.pem, None).unwrap();
        assert_eq!(from_pem.thumbprint(), Some(files.thumbprint.as_str()));
        let from_pfx = load_private_key(files.pfx.as_ref().unwrap(), Some("pfx-pw")).unwrap();
        assert_eq!(from_pfx.thumbprint(), Some(files.thumbprint.as_str()));
        assert!(from_pfx.matches(&cert));
        let wrapped = cert.wrap_key(b"0123456789abcdef0123456789abcdef").unwrap();
        assert_eq!(
            from_pfx.unwrap_key(&wrapped).unwrap().as_slice(),
            b"0123456789abcdef0123456789abcdef"
        );

        #[cfg(unix)]
        {
            assert_eq!(mode(&files.cer), 0o644);
            assert_eq!(mode(&files.pem), 0o600);
            assert_eq!(mode(files.pfx.as_ref().unwrap()), 0o600);
            assert_eq!(mode(&out), 0o700);
            assert_eq!(mode(&dir.path().join("new")), 0o700);
        }
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 3);

        // A second run refuses to overwrite and leaves the files alone.
        let before = std::fs::read(&files.pem).unwrap();
        let err = new_self_signed(&opts).unwrap_err();
        match &err {
            CertError::AlreadyExists { path } => assert_eq!(path, &files.cer),
            other => panic!("{other:?}"),
        }
        assert!(err
            .to_string()
            .contains("backup.contoso.com.cer already exists"));
        assert_eq!(std::fs::read(&files.pem).unwrap(), before);
    }

    #[test]
    fn new_self_signed_without_pfx_and_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let opts = NewCertOptions::new("plain", dir.path());
        let files = new_self_signed(&opts).unwrap();
        assert_eq!(files.pfx, None);
        assert!(!dir.path().join("plain.pfx").exists());
        let pem = std::fs::read_to_string(&files.pem).unwrap();
        let begin_key = pem.find("-----BEGIN PRIVATE KEY-----").unwrap();
        let begin_cert = pem.find("-----BEGIN CERTIFICATE-----").unwrap();
        assert!(
            begin_key < begin_cert,
            "key block first, then the certificate"
        );

        // An existing .pem alone is enough to refuse, and nothing new is written.
        let dir2 = tempfile::tempdir().unwrap();
        std::fs::write(dir2.path().join("taken.pem"), b"x").unwrap();
        let err = new_self_signed(&NewCertOptions::new("taken", dir2.path())).unwrap_err();
        assert!(
            matches!(err, CertError::AlreadyExists { ref path } if path.ends_with("taken.pem"))
        );
        assert!(!dir2.path().join("taken.cer").exists());

        let mut bad = NewCertOptions::new("ok.example", dir.path());
        bad.bits = 1024;
        assert!(matches!(
            new_self_signed(&bad),
            Err(CertError::InvalidKeySize { bits: 1024 })
        ));
        bad.bits = 2048;
        bad.valid_days = 0;
        assert!(matches!(
            new_self_signed(&bad),
            Err(CertError::InvalidValidity { days: 0 })
        ));
        let bad = NewCertOptions::new("../evil", dir.path());
        assert!(matches!(
            new_self_signed(&bad),
            Err(CertError::InvalidDnsName { .. })
        ));
        // The out_dir is a file.
        let file = dir.path().join("plain.cer");
        let err = new_self_signed(&NewCertOptions::new("x.example", &file)).unwrap_err();
        assert!(matches!(err, CertError::Write { .. }), "{err:?}");
    }
}
