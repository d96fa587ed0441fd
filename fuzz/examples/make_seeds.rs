//! Writes the seed corpus (`fuzz/seeds/<target>/`): small valid inputs of every kind each
//! target reads, so fuzzing starts from deep inside the parsers. Run from `fuzz/`:
//!
//! ```text
//! cargo +nightly run --example make_seeds --target-dir target/seeds
//! ```
//!
//! Needs `openssl` (certificate formats). The output is not byte-for-byte reproducible
//! (encryption draws fresh keys and nonces); any run gives an equivalent corpus.

use azs_backup::certificate::{self, Certificate};
use azs_backup::crypto::{Encryptor, LegacyKey, Recipient};
use base64::Engine;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

const KEY_PEM: &str = include_str!("../keys/key.pem");
const CERT_PEM: &str = include_str!("../keys/cert.pem");
const LEGACY_KEY_LETTERS: &[u8; 64] =
    b"FuzzFuzzFuzzFuzzFuzzFuzzFuzzFuzzFuzzFuzzFuzzFuzzFuzzFuzzFuzzFuzz";
const FOLDER: &str = azs_backup_fuzz::MANIFEST_FOLDER;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    envelope(&dir(&root, "envelope"));
    manifest(&dir(&root, "manifest"));
    settings(&dir(&root, "settings"));
    certificate(&dir(&root, "certificate"));
    target_spec(&dir(&root, "target_spec"));
    azurestack(&dir(&root, "azurestack"));
    unpack(&dir(&root, "unpack"));
    println!("seeds written to {}", root.display());
}

fn dir(root: &Path, name: &str) -> PathBuf {
    let d = root.join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn put(dir: &Path, name: &str, data: &[u8]) {
    std::fs::write(dir.join(name), data).unwrap();
}

fn with_mode(mode: u8, data: &[u8]) -> Vec<u8> {
    let mut v = vec![mode];
    v.extend_from_slice(data);
    v
}

fn encrypt(r: &Recipient, data: &[u8]) -> Vec<u8> {
    let mut e = Encryptor::new(r, Vec::new()).unwrap();
    e.write_all(data).unwrap();
    e.finish().unwrap().0
}

fn envelope(d: &Path) {
    let text = base64::engine::general_purpose::STANDARD.encode(LEGACY_KEY_LETTERS);
    let legacy = Recipient::LegacyKey(LegacyKey::parse(&text).unwrap());
    let cert = Certificate::from_bytes(CERT_PEM.as_bytes(), "cert").unwrap();
    let rsa = Recipient::Certificate(Box::new(cert));
    put(d, "legacy_empty", &with_mode(0, &encrypt(&legacy, b"")));
    put(
        d,
        "legacy_text",
        &with_mode(0, &encrypt(&legacy, &b"azs-backup ".repeat(40))),
    );
    put(
        d,
        "rsa_text",
        &with_mode(1, &encrypt(&rsa, b"hello, world\n")),
    );
    // Version 2 (docs/FORMAT.md §2.3): the legacy key, then the certificate as a recovery
    // recipient; opened by the first entry (mode 0) and by the second (mode 1).
    let mut e = Encryptor::for_recipients(&[legacy.clone(), rsa.clone()], Vec::new()).unwrap();
    e.write_all(&b"recovery ".repeat(30)).unwrap();
    let v2 = e.finish().unwrap().0;
    put(d, "v2_legacy_then_rsa", &with_mode(0, &v2));
    put(d, "v2_rsa_opens_second_entry", &with_mode(1, &v2));
    // Round trips: len u24, piece u16, pos u24, op u8, payload.
    let rt = |len: u32, piece: u16, pos: u32, op: u8, payload: &[u8]| {
        let mut v = len.to_be_bytes()[1..].to_vec();
        v.extend_from_slice(&piece.to_be_bytes());
        v.extend_from_slice(&pos.to_be_bytes()[1..]);
        v.push(op);
        v.extend_from_slice(payload);
        v
    };
    put(d, "roundtrip_empty", &with_mode(2, &rt(0, 0, 0, 0, b"")));
    put(
        d,
        "roundtrip_two_chunks",
        &with_mode(2, &rt(65_537, 4096, 0, 0, b"abc")),
    );
    put(
        d,
        "roundtrip_exact_chunk",
        &with_mode(2, &rt(65_536, 65_535, 0, 0, b"x")),
    );
    put(
        d,
        "tamper_truncate_boundary",
        &with_mode(3, &rt(65_537, 999, 65_600, 0, b"abc")),
    );
    put(
        d,
        "tamper_flip_header",
        &with_mode(3, &rt(100, 7, 9, 0x20, b"abc")),
    );
    put(
        d,
        "tamper_flip_tag",
        &with_mode(3, &rt(100, 7, 0x00ff_ffff, 1, b"abc")),
    );
}

fn manifest(d: &Path) {
    let thumb = "3495804C7EC699FD370EE40B8B1A8A0F33D8B9A4";
    let sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    let two = format!(
        r#"{{
  "manifestVersion": 1,
  "backupId": "{FOLDER}",
  "toolVersion": "0.1.0",
  "status": "PartialSucceeded",
  "createdDateTime": "2026-11-29T12:00:00.123456789Z",
  "timeTakenToCreate": "PT1M2.345S",
  "encryptionCertThumbprint": "{thumb}",
  "hostName": "backup-host",
  "roleStatus": [
    {{
      "roleName": "identity",
      "status": "Succeeded",
      "fileName": "identity.tar.zst.enc",
      "fileCount": 12,
      "plainSizeInBytes": 4096,
      "encryptedSizeInBytes": 4200,
      "sha256": "{sha}",
      "changedFiles": ["a/b.txt"],
      "changedFileCount": 1
    }},
    {{
      "roleName": "keyvault",
      "status": "Failed",
      "errorMessage": "reading /var/lib/keyvault: permission denied"
    }}
  ]
}}"#
    );
    put(d, "partial_certificate", two.as_bytes());
    let recovery = two.replace(
        "  \"hostName\"",
        "  \"recoveryCertThumbprints\": [\"D2DB1880764AD95F0911022B14F68FBAE6B1EB2D\", \
         \"385bf29a57c766b9914061080d06f8c2d2ccad5a\"],\n  \"compressionLevel\": 19,\n  \"hostName\"",
    );
    assert_ne!(recovery, two);
    put(d, "partial_certificate_recovery", recovery.as_bytes());
    let one = format!(
        r#"{{"manifestVersion":1,"backupId":"{FOLDER}","toolVersion":"0.1.0","status":"Succeeded","createdDateTime":"2026-01-01T00:00:00Z","timeTakenToCreate":"PT0.5S","encryptionKeyId":"key:0123456789abcdef","hostName":"h","roleStatus":[{{"roleName":"a.b-c_d","status":"Succeeded","fileName":"a.b-c_d.tar.zst.enc","fileCount":0,"plainSizeInBytes":0,"encryptedSizeInBytes":0,"sha256":"{sha}"}}]}}"#
    );
    put(d, "succeeded_key", one.as_bytes());
    let failed = r#"{"manifestVersion":1,"backupId":"A1B2C3D4-0000-4000-8000-00000000000F","toolVersion":"x","status":"Failed","createdDateTime":"2026-01-01T00:00:00+02:00","timeTakenToCreate":"","encryptionKeyId":"key:0000000000000000","hostName":"","roleStatus":[]}"#;
    put(d, "failed_other_folder", failed.as_bytes());
}

fn settings(d: &Path) {
    put(d, "v2_key", azs_backup_fuzz::SETTINGS_V2.as_bytes());
    let cert_mode = format!(
        "version = 2\npath = \"smb://[::1]:4455/backups/azs\"\nusername = \"backupuser\"\n\
         backup_frequency_in_hours = 4\nbackup_retention_period_in_days = 14\n\
         encryption_mode = \"certificate\"\nencryption_certificate = \"\"\"\n{CERT_PEM}\"\"\"\n\
         verify_after_write = true\n\n[[sources]]\nname = \"a\"\npath = \"/srv/a\"\n\n\
         [[sources]]\nname = \"B-2\"\npath = \"relative/b\"\n"
    );
    put(d, "v2_certificate", cert_mode.as_bytes());
    // Key mode with a recovery certificate (top-level keys go before the [[sources]] tables).
    let recovery = azs_backup_fuzz::SETTINGS_V2.replacen(
        "\n[[sources]]",
        &format!("recovery_certificates = [\"\"\"\n{CERT_PEM}\"\"\"]\n\n[[sources]]"),
        1,
    );
    assert_ne!(recovery, azs_backup_fuzz::SETTINGS_V2);
    put(d, "v2_key_recovery", recovery.as_bytes());
    put(
        d,
        "v2_local",
        b"version = 2\npath = \"/mnt/backups\"\nusername = \"u\"\nbackup_frequency_in_hours = 6\nbackup_retention_period_in_days = 2\nencryption_mode = \"key\"\nsources = []\n",
    );
    let key = base64::engine::general_purpose::STANDARD.encode(LEGACY_KEY_LETTERS);
    let v1 = format!(
        "version = 1\npath = '\\\\fileserver.contoso.com\\AzSBackups'\nusername = 'CONTOSO\\backupshareuser'\n\
         password = 'p@ss w0rd'\nencryption_key = '{key}'\n\n[[sources]]\nname = 'identity'\npath = '/var/lib/identity'\n"
    );
    put(d, "v1", v1.as_bytes());
    let secrets = format!(
        "password = \"s3cr3t\\\"quoted\"\nencryption_key = \"{key}\"\nretired_encryption_keys = [\"{key}\", \"not base64\"]\n"
    );
    put(d, "secrets", secrets.as_bytes());
    put(d, "secrets_empty", b"");
}

fn openssl(args: &[&str], input: Option<&[u8]>) -> Vec<u8> {
    let mut c = Command::new("openssl");
    c.args(args);
    c.stdin(std::process::Stdio::piped());
    c.stdout(std::process::Stdio::piped());
    let mut child = c.spawn().expect("running openssl");
    if let Some(i) = input {
        child.stdin.take().unwrap().write_all(i).unwrap();
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "openssl {args:?} failed");
    out.stdout
}

fn certificate(d: &Path) {
    let keys = Path::new(env!("CARGO_MANIFEST_DIR")).join("keys");
    let key = keys.join("key.pem");
    let cert = keys.join("cert.pem");
    let (key, cert) = (key.to_str().unwrap(), cert.to_str().unwrap());
    put(d, "cert.pem", CERT_PEM.as_bytes());
    put(
        d,
        "cert.der",
        &openssl(&["x509", "-in", cert, "-outform", "DER"], None),
    );
    put(d, "key_pkcs8.pem", KEY_PEM.as_bytes());
    put(
        d,
        "key_and_cert.pem",
        format!("{CERT_PEM}{KEY_PEM}").as_bytes(),
    );
    put(
        d,
        "key_pkcs1.pem",
        &openssl(&["rsa", "-in", key, "-traditional"], None),
    );
    put(
        d,
        "key_pkcs8.der",
        &openssl(
            &["pkcs8", "-topk8", "-nocrypt", "-in", key, "-outform", "DER"],
            None,
        ),
    );
    put(
        d,
        "key_pkcs1.der",
        &openssl(
            &["rsa", "-in", key, "-traditional", "-outform", "DER"],
            None,
        ),
    );
    put(
        d,
        "empty_password.pfx",
        &openssl(
            &[
                "pkcs12", "-export", "-inkey", key, "-in", cert, "-passout", "pass:", "-iter", "1",
                "-maciter",
            ],
            None,
        ),
    );
    put(
        d,
        "password.pfx",
        &openssl(
            &[
                "pkcs12",
                "-export",
                "-inkey",
                key,
                "-in",
                cert,
                "-passout",
                "pass:secret",
                "-iter",
                "1",
            ],
            None,
        ),
    );
    let ec = openssl(
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ],
        None,
    );
    put(d, "ec_key.pem", &ec);
    put(
        d,
        "encrypted_pkcs8.pem",
        &openssl(
            &[
                "pkcs8", "-topk8", "-in", key, "-passout", "pass:x", "-iter", "1",
            ],
            None,
        ),
    );
    // Both DER and PEM forms must refuse the key alone when a certificate is asked for.
    let parsed = certificate::private_key_from_bytes(KEY_PEM.as_bytes(), "k", None);
    assert!(parsed.is_ok());
}

fn target_spec(d: &Path) {
    for (name, s) in [
        ("unc", r"\\fileserver.contoso.com\AzSBackups\region1"),
        ("unc_ipv4", r"\\10.0.0.5\share\a\b\"),
        ("unc_ipv6", r"\\[fe80::1]\share"),
        ("unc_slashes", "//host/share/folder"),
        ("url_port", "smb://127.0.0.1:4455/backups/region1"),
        ("url_ipv6_port", "smb://[::1]:445/backups"),
        ("url_no_port", "smb://host.example/share//a/"),
        ("local", "/var/backups/azs"),
        ("local_relative", "./backups"),
    ] {
        put(d, name, s.as_bytes());
    }
}

fn zip_of(entries: &[(&str, Option<&[u8]>, bool)]) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data, deflate) in entries {
        let method = if *deflate {
            zip::CompressionMethod::Deflated
        } else {
            zip::CompressionMethod::Stored
        };
        let o = SimpleFileOptions::default().compression_method(method);
        match data {
            Some(data) => {
                w.start_file(*name, o).unwrap();
                w.write_all(data).unwrap();
            }
            None => w.add_directory(*name, o).unwrap(),
        }
    }
    w.finish().unwrap().into_inner()
}

fn azurestack(d: &Path) {
    let cert = Certificate::from_bytes(CERT_PEM.as_bytes(), "cert").unwrap();
    let sidecar = format!(
        "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<BackupSnapshot xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\
         <SnapshotProperties><BackupStatus>Succeeded</BackupStatus></SnapshotProperties>\
         <EncryptionCertThumbprint>{}</EncryptionCertThumbprint>\
         <EncryptedBackupEncryptionKey>\n QUJD\n</EncryptedBackupEncryptionKey></BackupSnapshot>",
        cert.thumbprint
    );
    put(d, "sidecar_utf8", &with_mode(0, sidecar.as_bytes()));
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(
            "<BackupSnapshot><EncryptionCertThumbprint>aa bb</EncryptionCertThumbprint><EncryptedBackupEncryptionKey>QQ==</EncryptedBackupEncryptionKey></BackupSnapshot>"
                .encode_utf16()
                .flat_map(|u| u.to_le_bytes()),
        )
        .collect();
    put(d, "sidecar_utf16", &with_mode(0, &utf16));
    let sealed = azs_backup_fuzz::seal_snapshot(b"not a zip");
    put(d, "header", &with_mode(1, &sealed[..90]));
    put(d, "entry_name", &with_mode(1, b"dir\\sub/./file.txt"));
    let zip = zip_of(&[
        ("Data/", None, false),
        ("Data/config.json", Some(b"{\"a\": 1}\n"), false),
        ("Data/sub\\deep/file.bin", Some(&[0u8; 300]), true),
        ("top.txt", Some(b"hello"), true),
    ]);
    put(d, "zip", &with_mode(2, &zip));
    put(d, "zip_empty", &with_mode(2, &zip_of(&[])));
    put(
        d,
        "zip_escape",
        &with_mode(2, &zip_of(&[("../evil.txt", Some(b"x"), false)])),
    );
    put(
        d,
        "snapshot_sealed",
        &with_mode(3, &azs_backup_fuzz::seal_snapshot(&zip)),
    );
}

fn tar_entry(
    b: &mut tar::Builder<Vec<u8>>,
    name: &[u8],
    kind: tar::EntryType,
    link: &[u8],
    data: &[u8],
    mode: u32,
) {
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link);
    h.set_entry_type(kind);
    h.set_size(data.len() as u64);
    h.set_mode(mode);
    h.set_mtime(1_700_000_000);
    h.set_cksum();
    b.append(&h, data).unwrap();
}

fn unpack(d: &Path) {
    use tar::EntryType as T;
    let tar = |f: &dyn Fn(&mut tar::Builder<Vec<u8>>)| {
        let mut b = tar::Builder::new(Vec::new());
        f(&mut b);
        b.into_inner().unwrap()
    };
    put(
        d,
        "tree",
        &tar(&|b| {
            tar_entry(b, b"dir/", T::Directory, b"", b"", 0o750);
            tar_entry(b, b"dir/file.txt", T::Regular, b"", b"hello\n", 0o640);
            tar_entry(b, b"dir/sub/", T::Directory, b"", b"", 0o700);
            tar_entry(b, b"dir/sub/empty", T::Regular, b"", b"", 0o600);
            tar_entry(b, b"dir/link", T::Symlink, b"file.txt", b"", 0o777);
            tar_entry(b, b"./top", T::Regular, b"", &[0xAA; 700], 0o4755);
        }),
    );
    put(
        d,
        "long_names",
        &tar(&|b| {
            let mut h = tar::Header::new_gnu();
            h.set_size(3);
            h.set_mode(0o644);
            let long = format!("{}/{}", "d".repeat(120), "f".repeat(120));
            b.append_data(&mut h, long, &b"abc"[..]).unwrap();
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(T::Symlink);
            h.set_size(0);
            h.set_mode(0o777);
            b.append_link(&mut h, "l", "x".repeat(150)).unwrap();
        }),
    );
    put(
        d,
        "pax",
        &tar(&|b| {
            b.append_pax_extensions([("path", &b"pax/name with spaces"[..])])
                .unwrap();
            tar_entry(b, b"ignored", T::Regular, b"", b"pax data", 0o644);
        }),
    );
    put(
        d,
        "escape_via_symlink",
        &tar(&|b| {
            tar_entry(b, b"link", T::Symlink, b"..", b"", 0o777);
            tar_entry(b, b"link/evil", T::Regular, b"", b"x", 0o644);
        }),
    );
    put(
        d,
        "dotdot",
        &tar(&|b| tar_entry(b, b"a/../../evil", T::Regular, b"", b"x", 0o644)),
    );
    put(
        d,
        "duplicate",
        &tar(&|b| {
            tar_entry(b, b"f", T::Regular, b"", b"1", 0o644);
            tar_entry(b, b"f", T::Regular, b"", b"2", 0o644);
        }),
    );
}
