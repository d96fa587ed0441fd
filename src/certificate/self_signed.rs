//! `new-cert`: a self-signed certificate and its key files, as `New-SelfSignedCertificate` and
//! `Export-Certificate` make them.

use std::fmt;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use rsa::pkcs8::EncodePrivateKey as _;
use sha1::Sha1;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use super::cert::parse_certificate_der;
use super::files::{create_private_dir, sync_dir, write_new_file};
use super::pem::pem_encode;
use super::pkcs12::build_pfx;
use super::{
    CertError, ALLOWED_BITS, DEFAULT_BITS, DEFAULT_VALID_DAYS, MAX_VALID_DAYS, MIN_RSA_BITS,
};

const OID_KP_SERVER_AUTH: &str = "1.3.6.1.5.5.7.3.1";
const OID_KP_CLIENT_AUTH: &str = "1.3.6.1.5.5.7.3.2";

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
            &cert.der,
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

/// The operating system's random source, for key generation.
pub(super) struct OsRng;

#[derive(Debug)]
pub(super) struct RngError(getrandom::Error);

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
pub(super) fn build_self_signed(
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

#[cfg(test)]
mod tests {
    use super::super::testutil::{at, cert_der, key2048};
    use super::super::{load_private_key, Certificate};
    use super::*;
    use rsa::traits::PublicKeyParts as _;
    use std::path::Path;

    const OID_SHA256_WITH_RSA: &str = "1.2.840.113549.1.1.11";

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
