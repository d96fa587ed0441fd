//! `azs_backup::certificate` against the independent OpenSSL command-line tool.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use azs_backup::certificate::{
    is_pkcs12, load_private_key, new_self_signed, CertError, Certificate, NewCertOptions,
};
use zeroize::Zeroizing;

fn run_openssl(args: &[&str]) -> Output {
    Command::new("openssl")
        .args(args)
        .output()
        .expect("the openssl command-line tool is installed")
}

/// Runs openssl and insists that it succeeds; returns stdout.
fn openssl(args: &[&str]) -> String {
    let out = run_openssl(args);
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("openssl prints text")
}

fn p(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// `openssl x509 -noout -fingerprint -<md>` as Windows shows it: no colons, upper case.
fn fingerprint(cert: &Path, inform: &str, md: &str) -> String {
    let out = openssl(&[
        "x509",
        "-inform",
        inform,
        "-in",
        p(cert),
        "-noout",
        "-fingerprint",
        &format!("-{md}"),
    ]);
    let (_, hex) = out.trim().split_once('=').expect("Fingerprint=AA:BB:...");
    hex.replace(':', "").to_uppercase()
}

/// An RSA key (PKCS#8 PEM) and its self-signed certificate (PEM) made by `openssl req`.
struct OpensslCert {
    key: PathBuf,
    cert_pem: PathBuf,
    cert_der: PathBuf,
}

fn openssl_cert(dir: &Path, stem: &str, newkey: &[&str], cn: &str) -> OpensslCert {
    let key = dir.join(format!("{stem}.key"));
    let cert_pem = dir.join(format!("{stem}.crt"));
    let cert_der = dir.join(format!("{stem}.cer"));
    let subj = format!("/CN={cn}");
    let mut args = vec!["req", "-x509"];
    args.extend_from_slice(newkey);
    args.extend_from_slice(&[
        "-nodes",
        "-keyout",
        p(&key),
        "-out",
        p(&cert_pem),
        "-subj",
        &subj,
        "-days",
        "30",
    ]);
    openssl(&args);
    openssl(&[
        "x509",
        "-in",
        p(&cert_pem),
        "-outform",
        "der",
        "-out",
        p(&cert_der),
    ]);
    OpensslCert {
        key,
        cert_pem,
        cert_der,
    }
}

fn rsa2048(dir: &Path) -> OpensslCert {
    openssl_cert(dir, "rsa2048", &["-newkey", "rsa:2048"], "www.contoso.com")
}

fn pkcs12_export(c: &OpensslCert, out: &Path, password: &str, extra: &[&str]) -> Output {
    let pass = format!("pass:{password}");
    let mut args = vec![
        "pkcs12",
        "-export",
        "-inkey",
        p(&c.key),
        "-in",
        p(&c.cert_pem),
        "-out",
        p(out),
        "-passout",
        &pass,
    ];
    args.extend_from_slice(extra);
    run_openssl(&args)
}

// (1) thumbprints -------------------------------------------------------------------------------

#[test]
fn thumbprints_match_openssl_for_der_and_pem() {
    let dir = tempfile::tempdir().unwrap();
    let c = rsa2048(dir.path());
    let sha1 = fingerprint(&c.cert_pem, "pem", "sha1");
    let sha256 = fingerprint(&c.cert_pem, "pem", "sha256");
    assert_eq!(sha1.len(), 40);
    assert_eq!(sha256.len(), 64);

    let der = Certificate::load(&c.cert_der).unwrap();
    assert_eq!(der.thumbprint, sha1);
    assert_eq!(der.thumbprint_sha256, sha256);
    assert_eq!(der.key_bits, 2048);
    assert_eq!(der.subject, "CN=www.contoso.com");
    assert_eq!(der.der, std::fs::read(&c.cert_der).unwrap());

    let pem = Certificate::load(&c.cert_pem).unwrap();
    assert_eq!(pem, der);

    // notAfter as openssl prints it, e.g. "notAfter=Jan  1 00:00:00 2026 GMT".
    let end = openssl(&["x509", "-in", p(&c.cert_pem), "-noout", "-enddate"]);
    let end = end.trim().trim_start_matches("notAfter=");
    let end = chrono::NaiveDateTime::parse_from_str(end, "%b %e %H:%M:%S %Y GMT")
        .unwrap()
        .and_utc();
    assert_eq!(der.not_after, end);

    // What we store in settings is read back by openssl as the same certificate.
    let stored = dir.path().join("stored.pem");
    std::fs::write(&stored, der.to_pem()).unwrap();
    assert_eq!(fingerprint(&stored, "pem", "sha1"), sha1);
    assert_eq!(Certificate::from_pem(&der.to_pem()).unwrap(), der);
}

// (2) refusals ----------------------------------------------------------------------------------

#[test]
fn refuses_pem_with_key_and_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let c = rsa2048(dir.path());
    let both = dir.path().join("both.pem");
    let mut bytes = std::fs::read(&c.key).unwrap();
    bytes.extend(std::fs::read(&c.cert_pem).unwrap());
    std::fs::write(&both, bytes).unwrap();
    let err = Certificate::load(&both).unwrap_err();
    assert!(
        matches!(err, CertError::PrivateKeyInCertificate { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains(p(&both)), "{msg}");
    assert!(msg.contains("-outform der"), "{msg}");

    // The advice works: openssl extracts the public-only certificate, which loads.
    let advised = dir.path().join("advised.cer");
    openssl(&[
        "x509",
        "-in",
        p(&both),
        "-outform",
        "der",
        "-out",
        p(&advised),
    ]);
    assert_eq!(
        Certificate::load(&advised).unwrap().thumbprint,
        fingerprint(&c.cert_pem, "pem", "sha1")
    );

    // A traditional PKCS#1 key file alone is refused too.
    let pkcs1 = dir.path().join("pkcs1.pem");
    openssl(&["rsa", "-in", p(&c.key), "-traditional", "-out", p(&pkcs1)]);
    assert!(matches!(
        Certificate::load(&pkcs1),
        Err(CertError::PrivateKeyInCertificate { .. })
    ));
    // So is a DER private key.
    let key_der = dir.path().join("key.der");
    openssl(&[
        "pkey",
        "-in",
        p(&c.key),
        "-outform",
        "der",
        "-out",
        p(&key_der),
    ]);
    assert!(matches!(
        Certificate::load(&key_der),
        Err(CertError::PrivateKeyInCertificate { .. })
    ));
}

#[test]
fn refuses_pfx_even_under_a_cer_name() {
    let dir = tempfile::tempdir().unwrap();
    let c = rsa2048(dir.path());
    let pfx = dir.path().join("bundle.pfx");
    let out = pkcs12_export(&c, &pfx, "pw", &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = Certificate::load(&pfx).unwrap_err();
    assert!(
        matches!(err, CertError::Pkcs12GivenAsCertificate { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains(p(&pfx)));

    let disguised = dir.path().join("bundle.cer");
    std::fs::copy(&pfx, &disguised).unwrap();
    assert!(is_pkcs12(&disguised));
    assert!(!is_pkcs12(&c.cert_der));
    assert!(matches!(
        Certificate::load(&disguised),
        Err(CertError::Pkcs12GivenAsCertificate { .. })
    ));
}

#[test]
fn refuses_1024_bit_rsa() {
    let dir = tempfile::tempdir().unwrap();
    let c = openssl_cert(dir.path(), "rsa1024", &["-newkey", "rsa:1024"], "small");
    for path in [&c.cert_der, &c.cert_pem] {
        let err = Certificate::load(path).unwrap_err();
        assert!(
            matches!(err, CertError::KeyTooSmall { bits: 1024, .. }),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.starts_with(p(path)), "{msg}");
        assert!(msg.contains("an RSA key of at least 2048 bits is required"));
    }
}

#[test]
fn refuses_ec_and_ed25519() {
    let dir = tempfile::tempdir().unwrap();
    let ec = openssl_cert(
        dir.path(),
        "ec",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
        "ec",
    );
    for path in [&ec.cert_der, &ec.cert_pem] {
        let err = Certificate::load(path).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}: the certificate's key is EC; an RSA key of at least 2048 bits is required \
                 (create one with `azs-backup new-cert`)",
                p(path)
            )
        );
    }
    let ed = openssl_cert(dir.path(), "ed", &["-newkey", "ed25519"], "ed");
    let err = Certificate::load(&ed.cert_der).unwrap_err();
    assert!(
        matches!(&err, CertError::NotRsa { algorithm, .. } if algorithm == "Ed25519"),
        "{err:?}"
    );
    // And as private keys: an EC key is not usable for decryption.
    let err = load_private_key(&ec.key, None).unwrap_err();
    assert!(
        matches!(&err, CertError::PrivateKeyNotRsa { algorithm, .. } if algorithm == "EC"),
        "{err:?}"
    );
}

#[test]
fn refuses_random_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.cer");
    openssl(&["rand", "-out", p(&garbage), "700"]);
    let err = Certificate::load(&garbage).unwrap_err();
    assert!(matches!(err, CertError::NotACertificate { .. }), "{err:?}");
    assert!(err.to_string().starts_with(&format!(
        "{} is neither a DER nor a PEM X.509 certificate",
        p(&garbage)
    )));
    // A DER SEQUENCE that is not a certificate.
    let seq = dir.path().join("seq.cer");
    std::fs::write(&seq, [0x30, 0x03, 0x02, 0x01, 0x05]).unwrap();
    assert!(matches!(
        Certificate::load(&seq),
        Err(CertError::NotACertificate { .. })
    ));
}

// (3) new-cert ----------------------------------------------------------------------------------

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn new_cert_files_are_read_by_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("certs");
    let mut opts = NewCertOptions::new("backup.contoso.com", &out);
    opts.pfx_password = Some(Zeroizing::new("Pfx pass 1".to_string()));
    let files = new_self_signed(&opts).unwrap();

    let text = openssl(&[
        "x509",
        "-inform",
        "der",
        "-in",
        p(&files.cer),
        "-noout",
        "-text",
    ]);
    for needle in [
        "Public-Key: (2048 bit)",
        "rsaEncryption",
        "Signature Algorithm: sha256WithRSAEncryption",
        "CN = backup.contoso.com",
        "DNS:backup.contoso.com",
        "Digital Signature, Key Encipherment, Data Encipherment",
        "TLS Web Server Authentication, TLS Web Client Authentication",
        "X509v3 Subject Key Identifier",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    assert!(text.contains("Issuer: CN = backup.contoso.com"), "{text}");
    assert_eq!(fingerprint(&files.cer, "der", "sha1"), files.thumbprint);

    // The self-signature verifies with OpenSSL (signature checked explicitly, no chain rules).
    let pub_pem = dir.path().join("pub.pem");
    let pubkey = openssl(&[
        "x509",
        "-inform",
        "der",
        "-in",
        p(&files.cer),
        "-noout",
        "-pubkey",
    ]);
    std::fs::write(&pub_pem, pubkey).unwrap();
    let der = std::fs::read(&files.cer).unwrap();
    let (_, x509) = x509_parser::parse_x509_certificate(&der).unwrap();
    let tbs = dir.path().join("tbs.der");
    let sig = dir.path().join("sig.bin");
    std::fs::write(&tbs, x509.tbs_certificate.as_ref()).unwrap();
    std::fs::write(&sig, &x509.signature_value.data).unwrap();
    let verified = openssl(&[
        "dgst",
        "-sha256",
        "-verify",
        p(&pub_pem),
        "-signature",
        p(&sig),
        p(&tbs),
    ]);
    assert_eq!(verified.trim(), "Verified OK");
    // And `openssl verify` accepts it as its own trust anchor.
    let cert_pem = dir.path().join("cert.pem");
    openssl(&[
        "x509",
        "-inform",
        "der",
        "-in",
        p(&files.cer),
        "-out",
        p(&cert_pem),
    ]);
    let v = openssl(&[
        "verify",
        "-check_ss_sig",
        "-CAfile",
        p(&cert_pem),
        p(&cert_pem),
    ]);
    assert!(v.trim().ends_with(": OK"), "{v}");

    // The pfx opens with the password and holds the key and the same certificate.
    let pfx = files.pfx.clone().unwrap();
    let certs = openssl(&[
        "pkcs12",
        "-in",
        p(&pfx),
        "-passin",
        "pass:Pfx pass 1",
        "-nokeys",
    ]);
    assert!(certs.contains("-----BEGIN CERTIFICATE-----"), "{certs}");
    let from_pfx = dir.path().join("from_pfx.pem");
    std::fs::write(&from_pfx, &certs).unwrap();
    assert_eq!(fingerprint(&from_pfx, "pem", "sha1"), files.thumbprint);
    let keys = openssl(&[
        "pkcs12",
        "-in",
        p(&pfx),
        "-passin",
        "pass:Pfx pass 1",
        "-nocerts",
        "-nodes",
    ]);
    assert!(keys.contains("-----BEGIN PRIVATE KEY-----"));
    assert!(
        !run_openssl(&["pkcs12", "-in", p(&pfx), "-passin", "pass:wrong", "-nokeys"])
            .status
            .success()
    );

    // The pem: openssl reads the key, and the certificate block after it is ours.
    openssl(&["pkey", "-in", p(&files.pem), "-noout"]);
    assert_eq!(fingerprint(&files.pem, "pem", "sha1"), files.thumbprint);
    let modulus_key = openssl(&["rsa", "-in", p(&files.pem), "-noout", "-modulus"]);
    let modulus_cert = openssl(&[
        "x509",
        "-inform",
        "der",
        "-in",
        p(&files.cer),
        "-noout",
        "-modulus",
    ]);
    assert_eq!(modulus_key, modulus_cert);

    #[cfg(unix)]
    {
        assert_eq!(mode(&files.pem), 0o600);
        assert_eq!(mode(&pfx), 0o600);
        assert_eq!(mode(&files.cer), 0o644);
        assert_eq!(mode(&out), 0o700);
    }
}

#[test]
fn new_cert_4096_bits() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = NewCertOptions::new("big.example", dir.path());
    opts.bits = 4096;
    opts.valid_days = 730;
    let files = new_self_signed(&opts).unwrap();
    let text = openssl(&[
        "x509",
        "-inform",
        "der",
        "-in",
        p(&files.cer),
        "-noout",
        "-text",
    ]);
    assert!(text.contains("Public-Key: (4096 bit)"), "{text}");
    assert_eq!(Certificate::load(&files.cer).unwrap().key_bits, 4096);
    // X.509 times are whole seconds: now, truncated, plus 730 days.
    let expected =
        chrono::DateTime::from_timestamp(opts.now.timestamp() + 730 * 86_400, 0).unwrap();
    assert_eq!(files.not_after, expected);
    assert_eq!(Certificate::load(&files.cer).unwrap().not_after, expected);
}

// (4) private keys ------------------------------------------------------------------------------

#[test]
fn loads_openssl_pfx_default_aes() {
    let dir = tempfile::tempdir().unwrap();
    let c = rsa2048(dir.path());
    let pfx = dir.path().join("default.pfx");
    let out = pkcs12_export(&c, &pfx, "Secret-1", &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Confirm this is the AES-256/PBKDF2 kind.
    let info = run_openssl(&[
        "pkcs12",
        "-in",
        p(&pfx),
        "-passin",
        "pass:Secret-1",
        "-info",
        "-noout",
    ]);
    let info = String::from_utf8_lossy(&info.stderr);
    assert!(info.contains("AES-256-CBC"), "{info}");

    assert!(is_pkcs12(&pfx));
    let key = load_private_key(&pfx, Some("Secret-1")).unwrap();
    let thumb = fingerprint(&c.cert_pem, "pem", "sha1");
    assert_eq!(key.thumbprint(), Some(thumb.as_str()));
    let cert = Certificate::load(&c.cert_der).unwrap();
    assert!(key.matches(&cert));

    let err = load_private_key(&pfx, Some("Secret-2")).unwrap_err();
    assert!(matches!(err, CertError::WrongPassword { .. }), "{err:?}");
    assert_eq!(err.to_string(), format!("wrong password for {}", p(&pfx)));
    assert!(!format!("{err:?}").contains("Secret"));
    let err = load_private_key(&pfx, None).unwrap_err();
    assert!(matches!(err, CertError::PasswordRequired { .. }), "{err:?}");
}

#[test]
fn loads_openssl_pfx_3des_like_windows() {
    // Export-PfxCertificate -CryptoAlgorithmOption TripleDES_SHA1 (and older Windows defaults).
    let dir = tempfile::tempdir().unwrap();
    let c = rsa2048(dir.path());
    let pfx = dir.path().join("3des.pfx");
    let out = pkcs12_export(
        &c,
        &pfx,
        "pw",
        &[
            "-keypbe",
            "PBE-SHA1-3DES",
            "-certpbe",
            "PBE-SHA1-3DES",
            "-macalg",
            "sha1",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = load_private_key(&pfx, Some("pw")).unwrap();
    assert_eq!(
        key.thumbprint(),
        Some(fingerprint(&c.cert_pem, "pem", "sha1").as_str())
    );
    assert!(matches!(
        load_private_key(&pfx, Some("nope")),
        Err(CertError::WrongPassword { .. })
    ));
}

#[test]
fn loads_openssl_pfx_legacy() {
    let dir = tempfile::tempdir().unwrap();
    let c = rsa2048(dir.path());
    let pfx = dir.path().join("legacy.pfx");
    let out = pkcs12_export(&c, &pfx, "pw", &["-legacy"]);
    if !out.status.success() {
        // OpenSSL without the legacy provider (RC2) cannot write this kind; nothing to read.
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("legacy")
                || stderr.contains("RC2")
                || stderr.contains("unknown option"),
            "unexpected openssl failure: {stderr}"
        );
        eprintln!("openssl cannot write -legacy PKCS#12 here: {stderr}");
        return;
    }
    // Confirm this is the legacy kind: RC2-40 certificates, 3DES key.
    let info = run_openssl(&[
        "pkcs12",
        "-in",
        p(&pfx),
        "-passin",
        "pass:pw",
        "-info",
        "-noout",
        "-legacy",
    ]);
    let info = String::from_utf8_lossy(&info.stderr);
    assert!(info.contains("RC2") && info.contains("TripleDES"), "{info}");
    let key = load_private_key(&pfx, Some("pw")).unwrap();
    assert_eq!(
        key.thumbprint(),
        Some(fingerprint(&c.cert_pem, "pem", "sha1").as_str())
    );
    assert!(matches!(
        load_private_key(&pfx, Some("px")),
        Err(CertError::WrongPassword { .. })
    ));
}

#[test]
fn loads_pfx_without_certificate_and_refuses_pfx_without_key() {
    let dir = tempfile::tempdir().unwrap();
    let c = rsa2048(dir.path());
    let key_only = dir.path().join("keyonly.p12");
    openssl(&[
        "pkcs12",
        "-export",
        "-nocerts",
        "-inkey",
        p(&c.key),
        "-out",
        p(&key_only),
        "-passout",
        "pass:pw",
    ]);
    let key = load_private_key(&key_only, Some("pw")).unwrap();
    assert_eq!(key.thumbprint(), None);
    assert!(key.matches(&Certificate::load(&c.cert_der).unwrap()));

    let cert_only = dir.path().join("certonly.pfx");
    openssl(&[
        "pkcs12",
        "-export",
        "-nokeys",
        "-in",
        p(&c.cert_pem),
        "-out",
        p(&cert_only),
        "-passout",
        "pass:pw",
    ]);
    let err = load_private_key(&cert_only, Some("pw")).unwrap_err();
    assert!(matches!(err, CertError::NoPrivateKey { .. }), "{err:?}");
}

#[test]
fn loads_pem_keys() {
    let dir = tempfile::tempdir().unwrap();
    let c = rsa2048(dir.path());
    let cert = Certificate::load(&c.cert_der).unwrap();
    let thumb = cert.thumbprint.clone();

    // PKCS#8, as `openssl req -nodes` writes it.
    assert!(std::fs::read_to_string(&c.key)
        .unwrap()
        .contains("-----BEGIN PRIVATE KEY-----"));
    let key = load_private_key(&c.key, None).unwrap();
    assert_eq!(key.thumbprint(), None);
    assert!(key.matches(&cert));

    // PKCS#1 ("RSA PRIVATE KEY").
    let pkcs1 = dir.path().join("pkcs1.pem");
    openssl(&["rsa", "-in", p(&c.key), "-traditional", "-out", p(&pkcs1)]);
    assert!(std::fs::read_to_string(&pkcs1)
        .unwrap()
        .contains("-----BEGIN RSA PRIVATE KEY-----"));
    assert!(load_private_key(&pkcs1, None).unwrap().matches(&cert));

    // `openssl genrsa -traditional` too.
    let genrsa = dir.path().join("genrsa.pem");
    openssl(&["genrsa", "-traditional", "-out", p(&genrsa), "2048"]);
    let k = load_private_key(&genrsa, None).unwrap();
    assert_eq!(k.bits(), 2048);
    assert!(!k.matches(&cert));

    // Key + certificate in one file, either order.
    for (stem, first, second) in [("kc", &c.key, &c.cert_pem), ("ck", &c.cert_pem, &pkcs1)] {
        let both = dir.path().join(format!("{stem}.pem"));
        let mut bytes = std::fs::read(first).unwrap();
        bytes.extend(std::fs::read(second).unwrap());
        std::fs::write(&both, bytes).unwrap();
        let key = load_private_key(&both, None).unwrap();
        assert_eq!(key.thumbprint(), Some(thumb.as_str()), "{stem}");
    }

    // Encrypted PKCS#8 is refused with advice.
    let enc = dir.path().join("enc.pem");
    openssl(&[
        "pkcs8",
        "-topk8",
        "-in",
        p(&c.key),
        "-v2",
        "aes-256-cbc",
        "-passout",
        "pass:x",
        "-out",
        p(&enc),
    ]);
    let err = load_private_key(&enc, Some("x")).unwrap_err();
    assert!(matches!(err, CertError::EncryptedPemKey { .. }), "{err:?}");
    assert!(err.to_string().contains("openssl pkcs12 -export"));
}

#[test]
fn loads_our_pfx_and_pem() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = NewCertOptions::new("ours.example", dir.path());
    opts.pfx_password = Some(Zeroizing::new("ours".to_string()));
    let files = new_self_signed(&opts).unwrap();
    let from_pfx = load_private_key(files.pfx.as_ref().unwrap(), Some("ours")).unwrap();
    let from_pem = load_private_key(&files.pem, None).unwrap();
    assert_eq!(from_pfx.thumbprint(), Some(files.thumbprint.as_str()));
    assert_eq!(from_pem.thumbprint(), Some(files.thumbprint.as_str()));
    assert_eq!(from_pfx.key, from_pem.key);
    assert!(matches!(
        load_private_key(files.pfx.as_ref().unwrap(), Some("theirs")),
        Err(CertError::WrongPassword { .. })
    ));
}

// (5) RSA-OAEP ----------------------------------------------------------------------------------

fn pkeyutl_oaep(md: &str, args: &[&str]) -> Output {
    let oaep_md = format!("rsa_oaep_md:{md}");
    let mgf1_md = format!("rsa_mgf1_md:{md}");
    let mut all = vec!["pkeyutl"];
    all.extend_from_slice(args);
    all.extend_from_slice(&[
        "-pkeyopt",
        "rsa_padding_mode:oaep",
        "-pkeyopt",
        &oaep_md,
        "-pkeyopt",
        &mgf1_md,
    ]);
    run_openssl(&all)
}

#[test]
fn oaep_sha256_interoperates_with_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let c = rsa2048(dir.path());
    let cert = Certificate::load(&c.cert_der).unwrap();
    let key = load_private_key(&c.key, None).unwrap();
    let data = dir.path().join("filekey.bin");
    openssl(&["rand", "-out", p(&data), "32"]);
    let file_key = std::fs::read(&data).unwrap();

    // Round trip in-process.
    let wrapped = cert.wrap_key(&file_key).unwrap();
    assert_eq!(key.unwrap_key(&wrapped).unwrap().as_slice(), file_key);

    // OpenSSL encrypts, we decrypt.
    let enc = dir.path().join("by-openssl.bin");
    let out = pkeyutl_oaep(
        "sha256",
        &[
            "-encrypt",
            "-certin",
            "-inkey",
            p(&c.cert_pem),
            "-in",
            p(&data),
            "-out",
            p(&enc),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let by_openssl = std::fs::read(&enc).unwrap();
    assert_eq!(by_openssl.len(), 256);
    assert_eq!(key.unwrap_key(&by_openssl).unwrap().as_slice(), file_key);
    assert!(matches!(
        key.unwrap_key_sha1(&by_openssl),
        Err(CertError::Decrypt)
    ));

    // We encrypt, OpenSSL decrypts.
    let ours = dir.path().join("by-us.bin");
    std::fs::write(&ours, &wrapped).unwrap();
    let dec = dir.path().join("decrypted.bin");
    let out = pkeyutl_oaep(
        "sha256",
        &[
            "-decrypt",
            "-inkey",
            p(&c.key),
            "-in",
            p(&ours),
            "-out",
            p(&dec),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&dec).unwrap(), file_key);

    // OpenSSL with SHA-1 OAEP cannot read what we wrote with SHA-256.
    let out = pkeyutl_oaep(
        "sha1",
        &[
            "-decrypt",
            "-inkey",
            p(&c.key),
            "-in",
            p(&ours),
            "-out",
            p(&dec),
        ],
    );
    assert!(!out.status.success());
}

#[test]
fn oaep_sha1_interoperates_with_openssl() {
    // Azure Stack Hub's own backups wrap their key with OAEP SHA-1 (docs/AZURESTACK.md).
    let dir = tempfile::tempdir().unwrap();
    let c = rsa2048(dir.path());
    let cert = Certificate::load(&c.cert_der).unwrap();
    let key = load_private_key(&c.key, None).unwrap();
    let data = dir.path().join("key.b64");
    std::fs::write(
        &data,
        b"c2l4dHktZm91ciBieXRlcyBvZiBrZXkgbWF0ZXJpYWwgZ28gaGVyZS4uLi4uLi4uLi4uLi4uLi4uLi4uLi4=",
    )
    .unwrap();
    let plain = std::fs::read(&data).unwrap();

    let enc = dir.path().join("sha1.bin");
    let out = pkeyutl_oaep(
        "sha1",
        &[
            "-encrypt",
            "-certin",
            "-inkey",
            p(&c.cert_pem),
            "-in",
            p(&data),
            "-out",
            p(&enc),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wrapped = std::fs::read(&enc).unwrap();
    assert_eq!(key.unwrap_key_sha1(&wrapped).unwrap().as_slice(), plain);
    assert!(matches!(key.unwrap_key(&wrapped), Err(CertError::Decrypt)));

    let ours = dir.path().join("ours-sha1.bin");
    std::fs::write(&ours, cert.wrap_key_sha1(&plain).unwrap()).unwrap();
    let dec = dir.path().join("dec.bin");
    let out = pkeyutl_oaep(
        "sha1",
        &[
            "-decrypt",
            "-inkey",
            p(&c.key),
            "-in",
            p(&ours),
            "-out",
            p(&dec),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&dec).unwrap(), plain);
}

#[test]
fn loads_pfx_with_empty_password_without_asking() {
    let dir = tempfile::tempdir().unwrap();
    let c = rsa2048(dir.path());
    let pfx = dir.path().join("empty.pfx");
    let out = pkcs12_export(&c, &pfx, "", &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let thumb = fingerprint(&c.cert_pem, "pem", "sha1");
    let key = load_private_key(&pfx, None).unwrap();
    assert_eq!(key.thumbprint(), Some(thumb.as_str()));
    let key = load_private_key(&pfx, Some("")).unwrap();
    assert_eq!(key.thumbprint(), Some(thumb.as_str()));
    assert!(matches!(
        load_private_key(&pfx, Some("x")),
        Err(CertError::WrongPassword { .. })
    ));
}
