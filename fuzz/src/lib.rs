//! The fuzz harnesses, one function per target. Each takes arbitrary bytes, feeds them to
//! azs-backup's parsers of untrusted input, and panics only when the library does, or when one
//! of the properties checked here is broken (round trips, tamper detection, confinement).
//!
//! The fuzz targets in `fuzz_targets/` call these functions; `tests/formats/fuzz_regressions.rs` in the
//! main crate includes this file (`#[path]`) and runs the committed seeds and crash inputs
//! through the same functions under `cargo test`. So this file may use only dependencies that
//! azs-backup itself has. See docs/FUZZING.md.

use azs_backup::archive::{self, UnpackOptions};
use azs_backup::azurestack::{self, SnapshotHeader, UnprotectRequest};
use azs_backup::certificate::{self, Certificate, PrivateKey};
use azs_backup::crypto::{self, Decryptor, Encryptor, Header, Identity, LegacyKey, Recipient};
use azs_backup::manifest::{self, Manifest};
use azs_backup::settings::{Loaded, SettingsPaths};
use azs_backup::store::spec::TargetSpec;
use base64::Engine;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

/// A test-only RSA key and its self-signed certificate (`fuzz/keys/`, made with openssl; never
/// used for anything but fuzzing and these tests).
const KEY_PEM: &str = include_str!("../keys/key.pem");
const CERT_PEM: &str = include_str!("../keys/cert.pem");
/// An RSA 1280 key with its certificate, for `unprotect`: each run unwraps the snapshot key,
/// which a small key keeps cheap (1280 bits: enough for RSA-OAEP-SHA-1 to wrap 88 bytes).
const SMALL_KEY_PEM: &str = include_str!("../keys/small.pem");
/// 64 ASCII letters: the shape of a `New-AzsEncryptionKeyBase64` key (base64-encoded below).
const LEGACY_KEY_LETTERS: &[u8; 64] =
    b"FuzzFuzzFuzzFuzzFuzzFuzzFuzzFuzzFuzzFuzzFuzzFuzzFuzzFuzzFuzzFuzz";
/// The folder name the `manifest` target claims a manifest was found in.
pub const MANIFEST_FOLDER: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";
/// The AES and HMAC keys of the `azurestack` target's snapshots.
const SNAPSHOT_ENC_KEY: [u8; 32] = [0x11; 32];
const SNAPSHOT_MAC_KEY: [u8; 32] = [0x22; 32];
const SNAPSHOT_IV: [u8; 16] = [0x33; 16];

struct Fixture {
    legacy: Identity,
    legacy_recipient: Recipient,
    rsa: Identity,
    /// The `azurestack` target's key (RSA 1280, with its certificate).
    snapshot_key: PrivateKey,
    sidecar_xml: String,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let text = base64::engine::general_purpose::STANDARD.encode(LEGACY_KEY_LETTERS);
        let legacy = LegacyKey::parse(&text).expect("the fixed legacy key parses");
        let pem = format!("{KEY_PEM}{CERT_PEM}");
        let key = certificate::private_key_from_bytes(pem.as_bytes(), "fuzz key", None)
            .expect("the fixed key parses");
        let cert = Certificate::from_bytes(CERT_PEM.as_bytes(), "fuzz certificate")
            .expect("the fixed certificate parses");
        assert!(key.matches(&cert));
        let snapshot_key =
            certificate::private_key_from_bytes(SMALL_KEY_PEM.as_bytes(), "small key", None)
                .expect("the fixed small key parses");
        let small_cert = snapshot_key
            .certificate
            .clone()
            .expect("the small key comes with its certificate");
        // Azure Stack wraps base64(AES key | HMAC key) with RSA-OAEP-SHA-1.
        let mut compact = SNAPSHOT_ENC_KEY.to_vec();
        compact.extend_from_slice(&SNAPSHOT_MAC_KEY);
        let b64 = base64::engine::general_purpose::STANDARD;
        let wrapped = small_cert
            .wrap_key_sha1(b64.encode(&compact).as_bytes())
            .expect("wrapping works");
        let sidecar_xml = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<BackupSnapshot>\
             <SnapshotProperties><BackupStatus>Succeeded</BackupStatus></SnapshotProperties>\
             <EncryptionCertThumbprint>{}</EncryptionCertThumbprint>\
             <EncryptedBackupEncryptionKey>{}</EncryptedBackupEncryptionKey></BackupSnapshot>",
            small_cert.thumbprint,
            b64.encode(&wrapped)
        );
        Fixture {
            legacy_recipient: Recipient::LegacyKey(legacy.clone()),
            legacy: Identity::LegacyKey(legacy),
            rsa: Identity::PrivateKey(Box::new(key)),
            snapshot_key,
            sidecar_xml,
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Scratch directories: an outer temporary directory holding only `inner`, where the library may
// write. After the library ran, the outer directory must still hold nothing but `inner`.

fn scratch_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("AZS_FUZZ_TMPDIR") {
        return PathBuf::from(dir);
    }
    // tmpfs when there is one: the targets create and remove files on every input.
    let shm = Path::new("/dev/shm");
    if shm.is_dir() && tempfile::tempdir_in(shm).is_ok() {
        return shm.to_path_buf();
    }
    std::env::temp_dir()
}

struct Scratch {
    outer: PathBuf,
    inner: PathBuf,
}

impl Scratch {
    fn new() -> Scratch {
        static ROOT: OnceLock<PathBuf> = OnceLock::new();
        let root = ROOT.get_or_init(scratch_root);
        let outer = tempfile::Builder::new()
            .prefix("azs-backup-fuzz.")
            .tempdir_in(root)
            .expect("creating a scratch directory")
            .keep();
        let inner = outer.join("inner");
        std::fs::create_dir(&inner).expect("creating a scratch directory");
        Scratch { outer, inner }
    }

    /// Panics when anything but `inner` appeared in the outer directory.
    fn assert_contained(&self) {
        let names: Vec<_> = std::fs::read_dir(&self.outer)
            .expect("listing the scratch directory")
            .map(|e| e.expect("listing the scratch directory").file_name())
            .collect();
        assert!(
            names.len() == 1 && names[0] == "inner",
            "something was written outside the destination: {names:?}"
        );
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        remove_all(&self.outer);
    }
}

/// `remove_dir_all` that also works on directories an archive made unreadable (mode 000).
fn remove_all(path: &Path) {
    #[cfg(unix)]
    fn open_up(path: &Path) {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = std::fs::symlink_metadata(path) {
            if m.is_dir() {
                let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700));
                if let Ok(rd) = std::fs::read_dir(path) {
                    for e in rd.flatten() {
                        open_up(&e.path());
                    }
                }
            }
        }
    }
    if std::fs::remove_dir_all(path).is_err() {
        #[cfg(unix)]
        open_up(path);
        let _ = std::fs::remove_dir_all(path);
    }
}

fn write_private(path: &Path, data: &[u8]) {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
        .and_then(|mut f| f.write_all(data))
        .expect("writing a scratch file");
}

/// Every entry below `dir` (not following symlinks).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
            out.push(p.clone());
            if is_dir {
                walk(&p, out);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// envelope: the encrypted-file format (src/crypto/).

/// First byte: mode. 0, 1: the rest is a file as found on a share, decrypted with the fixed
/// legacy key (0) or RSA key (1). 2, 3: the rest is `len:u24 piece:u16 pos:u24 op:u8 payload`;
/// `payload` repeated to `len` bytes is encrypted for the legacy key in `piece`-byte writes and
/// must decrypt to itself (2), or, after the ciphertext is changed at `pos` (`op` 0 truncates,
/// else xors), must fail to decrypt (3).
pub fn envelope(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let f = fixture();
    match mode % 4 {
        0 | 1 => {
            if let Ok((header, raw)) = Header::read_from(&mut &rest[..]) {
                assert_eq!(header.to_bytes(), raw, "a parsed header serialises back");
                assert!(rest.starts_with(&raw));
            }
            let identity = if mode % 4 == 0 { &f.legacy } else { &f.rsa };
            if let Ok(mut d) = Decryptor::new(rest, identity) {
                let _ = d.header();
                let mut out = Vec::new();
                let _ = d.read_to_end(&mut out);
            }
        }
        _ => {
            if rest.len() < 9 {
                return;
            }
            let u24 = |b: &[u8]| u32::from_be_bytes([0, b[0], b[1], b[2]]) as usize;
            let len = u24(&rest[0..3]) % (3 * crypto::CHUNK + 64);
            let piece = u16::from_be_bytes([rest[3], rest[4]]) as usize + 1;
            let pos = u24(&rest[5..8]);
            let op = rest[8];
            let payload = &rest[9..];
            let plain: Vec<u8> = if payload.is_empty() {
                vec![0; len]
            } else {
                payload.iter().copied().cycle().take(len).collect()
            };
            let mut enc = Encryptor::new(&f.legacy_recipient, Vec::new()).expect("encrypting");
            for p in plain.chunks(piece) {
                enc.write_all(p).expect("encrypting");
            }
            let (mut file, n) = enc.finish().expect("encrypting");
            assert_eq!(n, len as u64);
            let (header, raw) = Header::read_from(&mut &file[..]).expect("our own header");
            assert_eq!(header.to_bytes(), raw);
            assert_eq!(
                file.len() as u64,
                crypto::encrypted_len(len as u64, raw.len() as u64)
            );
            let decrypt = |file: &[u8]| -> std::io::Result<Vec<u8>> {
                let mut d = Decryptor::new(file, &f.legacy)?;
                let mut out = Vec::new();
                d.read_to_end(&mut out)?;
                Ok(out)
            };
            if mode % 4 == 2 {
                let out = decrypt(&file).expect("our own file decrypts");
                assert!(
                    out == plain,
                    "decrypted data differs from what was encrypted"
                );
                return;
            }
            if op == 0 {
                let cut = pos % file.len();
                file.truncate(cut);
            } else {
                let at = pos % file.len();
                file[at] ^= op;
            }
            if let Ok(out) = decrypt(&file) {
                panic!(
                    "a changed file decrypted without error ({} of {} bytes returned)",
                    out.len(),
                    len
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// manifest: manifest.json as read from a share (src/manifest.rs).

/// The input is a manifest found in the folder [`MANIFEST_FOLDER`]; and, when it names another
/// folder in `backupId`, in that folder too. A manifest that parses must survive a round trip.
pub fn manifest(data: &[u8]) {
    check_manifest(data, MANIFEST_FOLDER);
    if let Ok(m) = serde_json::from_slice::<Manifest>(data) {
        if m.backup_id != MANIFEST_FOLDER {
            check_manifest(data, &m.backup_id);
        }
    }
}

fn check_manifest(data: &[u8], folder: &str) {
    let Ok(m) = manifest::parse(data, folder) else {
        return;
    };
    assert_eq!(m.backup_id, folder);
    let _ = (m.recipient_id(), m.encrypted_size(), m.plain_size());
    let _ = m.status.to_string();
    for r in &m.role_status {
        if let Some(f) = &r.file_name {
            assert!(!f.contains('/') && !f.contains('\\') && !f.starts_with('.'));
        }
    }
    let bytes = serde_json::to_vec(&m).expect("a manifest serialises");
    let again = manifest::parse(&bytes, folder).expect("a parsed manifest parses again");
    assert_eq!(again, m, "a manifest changed in a round trip");
}

// ---------------------------------------------------------------------------------------------
// settings: the settings and secrets files (src/settings.rs).

/// A valid version 2 settings file (legacy key mode), beside which the input is the secrets file.
pub const SETTINGS_V2: &str = r#"version = 2
path = "\\\\10.0.0.5\\backups\\azs"
username = "CONTOSO\\backupshareuser"
backup_frequency_in_hours = 12
backup_retention_period_in_days = 7
encryption_mode = "key"

[[sources]]
name = "identity"
path = "/var/lib/identity"
"#;

/// The input as the settings file (no secrets file), then as the secrets file beside
/// [`SETTINGS_V2`]. Whatever loads must save and load again unchanged.
pub fn settings(data: &[u8]) {
    let s = Scratch::new();
    let paths = SettingsPaths::for_settings(&s.inner.join("settings.toml"));
    write_private(&paths.settings, data);
    check_settings(&paths);
    let _ = std::fs::remove_file(&paths.secrets);
    write_private(&paths.settings, SETTINGS_V2.as_bytes());
    write_private(&paths.secrets, data);
    check_settings(&paths);
    s.assert_contained();
}

fn check_settings(paths: &SettingsPaths) {
    let Ok(loaded) = Loaded::load(paths) else {
        return;
    };
    let _ = loaded.credentials();
    let _ = loaded.recipient();
    let _ = loaded.settings.target();
    let _ = loaded.settings.certificate();
    let _ = loaded.legacy_key_for("key:0000000000000000");
    loaded.save().expect("loaded settings can be saved");
    let again = Loaded::load(paths).expect("saved settings load again");
    assert_eq!(
        again.settings, loaded.settings,
        "settings changed when saved"
    );
    assert_eq!(again.file_version, 2);
    assert_eq!(again.secrets.password, loaded.secrets.password);
    assert_eq!(again.secrets.encryption_key, loaded.secrets.encryption_key);
    assert_eq!(
        again.secrets.retired_encryption_keys,
        loaded.secrets.retired_encryption_keys
    );
}

// ---------------------------------------------------------------------------------------------
// certificate: certificate and private-key files (src/certificate/).

/// The input as a certificate file (DER or PEM) and as a private-key file (PEM, DER PKCS#8 or
/// PKCS#1, PFX with the empty password).
pub fn certificate(data: &[u8]) {
    if let Ok(cert) = Certificate::from_bytes(data, "fuzz input") {
        assert!(cert.key_bits >= certificate::MIN_RSA_BITS);
        assert_eq!(cert.thumbprint.len(), 40);
        let again = Certificate::from_pem(&cert.to_pem()).expect("a certificate's PEM parses");
        assert!(again == cert, "a certificate changed in a PEM round trip");
        let _ = cert.to_string();
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("a valid time");
        let _ = cert.expiry_warning(now);
        let _ = cert.wrap_key(&[7; 32]);
    }
    if let Ok(key) = certificate::private_key_from_bytes(data, "fuzz input", None) {
        let _ = (key.bits(), key.thumbprint(), format!("{key:?}"));
        let _ = key.public_key();
        if let Some(cert) = &key.certificate {
            assert!(key.matches(cert));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// target_spec: the `path` setting (src/store/spec.rs).

/// The input (lossily as UTF-8) as a `path` setting. A share path must print as something that
/// parses back to the same share.
pub fn target_spec(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    match TargetSpec::parse(&s) {
        Ok(TargetSpec::Smb(unc)) => {
            assert!(!unc.host.is_empty() && !unc.share.is_empty());
            let _ = unc.url_host();
            let shown = unc.to_string();
            match TargetSpec::parse(&shown) {
                Ok(TargetSpec::Smb(again)) => assert_eq!(again, unc, "via {shown:?}"),
                other => panic!("{s:?} printed as {shown:?}, which parses as {other:?}"),
            }
        }
        Ok(TargetSpec::Local(_)) => {}
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// azurestack: Azure Stack Hub snapshots (src/azurestack/).

/// First byte: mode. 0: the rest is a sidecar `.xml`. 1: a snapshot header, and a zip entry
/// name. 2: the rest is the zip inside a snapshot the harness encrypts with the fixed keys, so
/// `unprotect` decrypts and extracts it. 3: the rest is the snapshot file as is (fixed sidecar).
pub fn azurestack(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let f = fixture();
    match mode % 4 {
        0 => {
            let s = Scratch::new();
            let path = s.inner.join("snapshot.xml");
            write_private(&path, rest);
            if let Ok(sidecar) = azurestack::read_sidecar(&path) {
                assert!(!sidecar.thumbprint.is_empty() && !sidecar.encrypted_key.is_empty());
                let _ = azurestack::unwrap_keys(
                    &f.snapshot_key,
                    &sidecar.encrypted_key,
                    &sidecar.thumbprint,
                );
            }
            if let Ok(text) = std::str::from_utf8(rest) {
                let _ = azurestack::parse_sidecar(text, Path::new("snapshot.xml"));
                let _ = azurestack::normalise_thumbprint(text);
            }
        }
        1 => {
            if let Ok(h) = SnapshotHeader::read_from(&mut &rest[..], "fuzz input") {
                assert_eq!(h.len(), 90);
                assert!(!h.is_empty());
            }
            let name = String::from_utf8_lossy(rest);
            if let Some(p) = azurestack::safe_entry_path(&name) {
                assert!(
                    p.components().all(|c| matches!(c, Component::Normal(_))),
                    "{name:?} was accepted as {p:?}"
                );
            }
        }
        m => {
            let snapshot = if m == 2 {
                seal_snapshot(rest)
            } else {
                rest.to_vec()
            };
            unprotect(&snapshot, f);
        }
    }
}

/// An encrypted snapshot of `zip`: header, AES-256-CBC with PKCS#7, HMAC-SHA512 over the
/// ciphertext (the format `unprotect` reads; see docs/AZURESTACK.md).
pub fn seal_snapshot(zip: &[u8]) -> Vec<u8> {
    use aes::cipher::{BlockModeEncrypt, KeyIvInit};
    use hmac::{KeyInit, Mac};
    let pad = 16 - zip.len() % 16;
    let mut ct = zip.to_vec();
    ct.extend(std::iter::repeat_n(pad as u8, pad));
    let (blocks, rest) = aes::Block::slice_as_chunks_mut(&mut ct);
    assert!(rest.is_empty());
    cbc::Encryptor::<aes::Aes256>::new_from_slices(&SNAPSHOT_ENC_KEY, &SNAPSHOT_IV)
        .expect("32-byte key, 16-byte IV")
        .encrypt_blocks(blocks);
    let mut mac =
        <hmac::Hmac<sha2::Sha512> as KeyInit>::new_from_slice(&SNAPSHOT_MAC_KEY).expect("any key");
    mac.update(&ct);
    let tag = mac.finalize().into_bytes();
    let mut out = Vec::with_capacity(90 + ct.len());
    for field in [1i16, 0, 0, 16, 64] {
        out.extend_from_slice(&field.to_le_bytes());
    }
    out.extend_from_slice(&SNAPSHOT_IV);
    out.extend_from_slice(&tag);
    out.extend_from_slice(&ct);
    out
}

fn unprotect(snapshot: &[u8], f: &Fixture) {
    let s = Scratch::new();
    let zip = s.inner.join("snapshot.zip");
    write_private(&zip, snapshot);
    write_private(&s.inner.join("snapshot.xml"), f.sidecar_xml.as_bytes());
    let dest = s.inner.join("out");
    let req = UnprotectRequest {
        snapshot: &zip,
        key: &f.snapshot_key,
        destination: Some(&dest),
        force: false,
    };
    let result = azurestack::unprotect(&req, &mut |_, _| {});
    s.assert_contained();
    let mut found = Vec::new();
    walk(&dest, &mut found);
    match result {
        Ok(report) => {
            assert!(report.checksum_ok);
            assert_eq!(report.destination.as_deref(), Some(dest.as_path()));
            for p in &found {
                let m = std::fs::symlink_metadata(p).expect("listed");
                assert!(!m.file_type().is_symlink(), "{p:?} is a symlink");
                assert!(
                    !p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with(".azs-unprotect.")),
                    "the staging folder {p:?} was left behind"
                );
            }
        }
        Err(e) => {
            let _ = e.to_string();
            assert!(
                found.is_empty(),
                "unprotect failed ({e}) but left {found:?} in the destination"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// unpack: restoring an archive (src/archive/unpack.rs).

/// The input is a tar stream; it is compressed with zstd (level 1) and restored into an empty
/// directory, then only verified (no destination). Nothing may appear outside the destination,
/// and an archive that restores must also verify.
pub fn unpack(data: &[u8]) {
    let zst = zstd::encode_all(data, 1).expect("zstd compresses");
    let s = Scratch::new();
    let opts = UnpackOptions::default();
    let restored = archive::unpack(&zst[..], Some(&s.inner), &opts);
    s.assert_contained();
    let verified = archive::unpack(&zst[..], None, &opts);
    if let Ok(r) = restored {
        let v = verified.expect("an archive that restores also verifies");
        assert_eq!((r.entries, r.files, r.bytes), (v.entries, v.files, v.bytes));
    }
}
