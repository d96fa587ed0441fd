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
//!
//! One file per concern, each using only the ones listed before it: `pem` (PEM text),
//! `files` (reading and writing certificate and key files), `pkcs12` (PFX files), `cert`
//! ([`Certificate`]: parsing, checks, thumbprints), `key` ([`PrivateKey`] and loading it),
//! `self_signed` (`new-cert`). This file holds what they share: the limits and [`CertError`].

mod cert;
mod files;
mod key;
mod pem;
mod pkcs12;
mod self_signed;

pub use cert::{normalise_thumbprint, Certificate};
pub use key::{load_private_key, private_key_from_bytes, PrivateKey};
pub use pkcs12::is_pkcs12;
pub use self_signed::{new_self_signed, validate_dns_name, NewCertFiles, NewCertOptions};

use std::path::PathBuf;

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

#[cfg(test)]
mod testutil;
