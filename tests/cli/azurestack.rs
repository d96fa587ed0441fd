//! `unprotect` (Unprotect-AzsBackup) on Azure Stack Hub style snapshots (docs/AZURESTACK.md), built by an
//! independent implementation of the format: `tests/python/make_azs_snapshot.py` (Python
//! `cryptography` and `zipfile`).
//!
//! These tests need Python 3 with the `cryptography` package; without it they FAIL (never skip)
//! and say how to get it: the README's test command `bash scripts/test.sh` installs it.

use crate::common;

use common::{bin, code};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const HELPER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/python/make_azs_snapshot.py"
);
const SNAPSHOT: &str = "201901151200_2b1a7c3e-0f6d-4a55-9d0c-3f1e2a4b5c6d_Full_C.zip";

fn require_python_cryptography() {
    let ok = Command::new("python3")
        .args(["-c", "import cryptography"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "these tests need Python 3 with the `cryptography` package to build Azure Stack snapshots \
         independently; run the README's test command `bash scripts/test.sh` (it installs it), \
         or `python3 -m pip install cryptography`"
    );
}

fn helper(args: &[&str]) -> serde_json::Value {
    require_python_cryptography();
    let out = Command::new("python3")
        .arg(HELPER)
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "make_azs_snapshot.py {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the helper prints JSON")
}

struct Azs {
    dir: tempfile::TempDir,
}

struct Key {
    pfx: PathBuf,
    cer: PathBuf,
    thumbprint: String,
}

impl Azs {
    fn new() -> Azs {
        let a = Azs {
            dir: tempfile::tempdir().unwrap(),
        };
        // Repository content with nesting, an empty file and a larger binary file.
        a.write("src/Config/settings.json", b"{\"region\": \"local\"}\n");
        a.write("src/Data/empty.dat", b"");
        let big: Vec<u8> = (0..700_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        a.write("src/Data/nested/blob.bin", &big);
        a
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, data: &[u8]) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
        p
    }

    fn key(&self, name: &str, password: &str) -> Key {
        let v = helper(&[
            "keygen",
            self.path("keys").to_str().unwrap(),
            name,
            password,
        ]);
        Key {
            pfx: PathBuf::from(v["pfx"].as_str().unwrap()),
            cer: PathBuf::from(v["cer"].as_str().unwrap()),
            thumbprint: v["thumbprint"].as_str().unwrap().to_string(),
        }
    }

    /// A snapshot under `MASBackup/progressivebackup/<stamp>/<repo>/`, as Azure Stack lays it out.
    fn snapshot(&self, repo: &str, key: &Key, extra: &[&str]) -> PathBuf {
        let out = self.path(&format!(
            "share/MASBackup/progressivebackup/1.2102.0.9/{repo}/{SNAPSHOT}"
        ));
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        let src = self.path("src");
        let mut args = vec![
            "make",
            "--cert",
            key.cer.to_str().unwrap(),
            "--src",
            src.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let v = helper(&args);
        assert_eq!(v["thumbprint"], key.thumbprint.as_str());
        out
    }

    fn unprotect(
        &self,
        snapshot: &Path,
        key: &Key,
        password: &str,
        dest: &str,
    ) -> std::process::Output {
        bin()
            .arg("unprotect")
            .arg(snapshot)
            .arg("--cert-path")
            .arg(&key.pfx)
            .arg("--cert-password-stdin")
            .arg("--destination")
            .arg(self.path(dest))
            .write_stdin(format!("{password}\n"))
            .output()
            .unwrap()
    }
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Every file under `dir`, by relative path.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p
                    .strip_prefix(base)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out
}

fn is_empty_or_missing(dir: &Path) -> bool {
    !dir.exists() || std::fs::read_dir(dir).unwrap().next().is_none()
}

#[test]
fn decrypts_to_the_original_zip_contents() {
    let a = Azs::new();
    let key = a.key("backup", "pfx-pass");
    let snap = a.snapshot("ECE", &key, &[]);
    let out = a.unprotect(&snap, &key, "pfx-pass", "out");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(tree(&a.path("out")), tree(&a.path("src")));
    // No temporary files are left behind.
    assert_eq!(std::fs::read_dir(a.path("out")).unwrap().count(), 2);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&key.thumbprint) && text.contains("SHA-1"),
        "{text}"
    );

    // --json: the report, with the OAEP hash and sizes.
    let out = bin()
        .args(["--json", "unprotect"])
        .arg(&snap)
        .arg("--cert-path")
        .arg(&key.pfx)
        .arg("--destination")
        .arg(a.path("out2"))
        .env("AZS_BACKUP_KEY_PASSWORD", "pfx-pass")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["encryptionCertThumbprint"], key.thumbprint.as_str());
    assert_eq!(v["oaepHash"], "SHA-1");
    assert_eq!(v["backupStatus"], "Succeeded");
    assert_eq!(v["checksumOk"], true);
    assert_eq!(v["files"], 3);
    assert_eq!(tree(&a.path("out2")), tree(&a.path("src")));

    // A non-empty destination needs --force.
    let out = a.unprotect(&snap, &key, "pfx-pass", "out");
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("--force"));
    let out = bin()
        .arg("unprotect")
        .arg(&snap)
        .arg("--cert-path")
        .arg(&key.pfx)
        .args(["--cert-password-stdin", "--force", "--destination"])
        .arg(a.path("out"))
        .write_stdin("pfx-pass\n")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(tree(&a.path("out")), tree(&a.path("src")));
}

#[test]
fn oaep_sha256_wrapped_keys_work_too() {
    let a = Azs::new();
    let key = a.key("backup", "pw");
    let snap = a.snapshot("KeyVault", &key, &["--oaep", "sha256"]);
    let out = a.unprotect(&snap, &key, "pw", "out");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("SHA-256"));
    assert_eq!(tree(&a.path("out")), tree(&a.path("src")));
}

#[test]
fn a_flipped_ciphertext_byte_is_a_checksum_mismatch_and_writes_nothing() {
    let a = Azs::new();
    let key = a.key("backup", "pw");
    let snap = a.snapshot("ECE", &key, &[]);
    let mut bytes = std::fs::read(&snap).unwrap();
    // Header: 10 bytes + 16 (IV) + 64 (tag); flip a byte well inside the ciphertext.
    let at = 10 + 16 + 64 + 1000;
    bytes[at] ^= 0x01;
    std::fs::write(&snap, &bytes).unwrap();
    let out = a.unprotect(&snap, &key, "pw", "out");
    assert_eq!(code(&out), 7, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("checksum mismatch"),
        "{}",
        stderr(&out)
    );
    assert!(!a.path("out").exists(), "nothing may be written");
    // --verify-only says the same.
    let out = bin()
        .arg("unprotect")
        .arg(&snap)
        .arg("--cert-path")
        .arg(&key.pfx)
        .args(["--cert-password-stdin", "--verify-only"])
        .write_stdin("pw\n")
        .output()
        .unwrap();
    assert_eq!(code(&out), 7, "{}", stderr(&out));
    assert!(stderr(&out).contains("checksum mismatch"));

    // A flipped tag byte too.
    bytes[at] ^= 0x01;
    bytes[10 + 16 + 3] ^= 0x80;
    std::fs::write(&snap, &bytes).unwrap();
    let out = a.unprotect(&snap, &key, "pw", "out");
    assert_eq!(code(&out), 7, "{}", stderr(&out));
    assert!(stderr(&out).contains("checksum mismatch"));
    assert!(!a.path("out").exists());
}

#[test]
fn verify_only_checks_and_writes_nothing() {
    let a = Azs::new();
    let key = a.key("backup", "pw");
    let snap = a.snapshot("ECE", &key, &[]);
    let before = tree(a.dir.path());
    let out = bin()
        .args(["--json", "unprotect"])
        .arg(&snap)
        .arg("--cert-path")
        .arg(&key.pfx)
        .args(["--cert-password-stdin", "--verify-only"])
        .write_stdin("pw\n")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["checksumOk"], true);
    assert!(v["destination"].is_null());
    assert_eq!(tree(a.dir.path()), before);
    // --destination or --verify-only is required.
    let out = bin()
        .arg("unprotect")
        .arg(&snap)
        .arg("--cert-path")
        .arg(&key.pfx)
        .output()
        .unwrap();
    assert_eq!(code(&out), 2);
}

#[test]
fn a_wrong_pfx_is_a_thumbprint_mismatch() {
    let a = Azs::new();
    let right = a.key("right", "pw");
    let wrong = a.key("wrong", "pw2");
    let snap = a.snapshot("ECE", &right, &[]);
    let out = a.unprotect(&snap, &wrong, "pw2", "out");
    assert_eq!(code(&out), 8, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("Thumbprint mismatch")
            && err.contains(&right.thumbprint)
            && err.contains(&wrong.thumbprint),
        "{err}"
    );
    assert!(!a.path("out").exists());
    // A wrong password for the right .pfx: exit 3, nothing written.
    let out = a.unprotect(&snap, &right, "not-the-password", "out");
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("password"), "{}", stderr(&out));
    assert!(!a.path("out").exists());
}

#[test]
fn a_zip_entry_that_escapes_is_refused() {
    let a = Azs::new();
    let key = a.key("backup", "pw");
    for evil in [
        "../escape.txt=gotcha",
        "sub/../../escape.txt=gotcha",
        "/abs.txt=gotcha",
    ] {
        let snap = a.snapshot("ECE", &key, &["--entry", evil]);
        let out = a.unprotect(&snap, &key, "pw", "dest/out");
        assert_eq!(code(&out), 7, "{evil}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("outside the destination"),
            "{}",
            stderr(&out)
        );
        assert!(is_empty_or_missing(&a.path("dest/out")), "{evil}");
        assert!(!a.path("dest/escape.txt").exists());
        assert!(!a.path("escape.txt").exists());
    }
}

#[test]
fn a_status_other_than_succeeded_is_a_warning() {
    let a = Azs::new();
    let key = a.key("backup", "pw");
    let snap = a.snapshot("ECE", &key, &["--status", "PartialSucceeded"]);
    let out = a.unprotect(&snap, &key, "pw", "out");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warning") && stderr(&out).contains("PartialSucceeded"),
        "{}",
        stderr(&out)
    );
    assert_eq!(tree(&a.path("out")), tree(&a.path("src")));
}

#[test]
fn a_missing_sidecar_is_reported() {
    let a = Azs::new();
    let key = a.key("backup", "pw");
    let snap = a.snapshot("ECE", &key, &[]);
    std::fs::remove_file(snap.with_extension("xml")).unwrap();
    let out = a.unprotect(&snap, &key, "pw", "out");
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains(".xml"), "{}", stderr(&out));
    assert!(!a.path("out").exists());
}
