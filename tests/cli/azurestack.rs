//! `unprotect` (Unprotect-AzsBackup) on Azure Stack Hub style snapshots (docs/AZURESTACK.md), built by an
//! independent implementation of the format: `tests/python/make_azs_snapshot.py` (Python
//! `cryptography` and `zipfile`).
//!
//! These tests need Python 3 with the `cryptography` package; without it they FAIL (never skip)
//! and say how to get it: the README's test command `bash scripts/test.sh` installs it.

use crate::common;
#[cfg(feature = "smb")]
use crate::smb_common;

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

// ---------------------------------------------------------------------------------------------
// Whole backups read from the share: `unprotect --from PATH (--backup-id ID | --list)`, on a
// share laid out by the independent writer (`make_azs_snapshot.py share`).

const STAMP: &str = "1.2102.0.9";
const CRP: &str = "CRP;Microsoft.Compute.Admin;-;Quota";
const NRP: &str = "NRP;Microsoft.Network.Admin;-;Quota";
const SRP: &str = "SRP;SRP;-;-";
const WAS: &str = "WAS;WasService;-;Microsoft.AzureStack.Subscriptions";
const REPOS: [&str; 4] = [CRP, NRP, SRP, WAS];
const B1: &str = "11111111-aaaa-4bbb-8ccc-000000000001";
const B2: &str = "22222222-aaaa-4bbb-8ccc-000000000002";
const B3: &str = "33333333-aaaa-4bbb-8ccc-000000000003";
/// Each backup and its time (yyyyMMddHHmm), oldest first.
const BACKUPS: [(&str, &str); 3] = [
    (B1, "201901151200"),
    (B2, "201901160000"),
    (B3, "201901161200"),
];

/// One snapshot of the share.
#[derive(Debug, Clone, PartialEq)]
struct Snap {
    repo: &'static str,
    backup: &'static str,
    time: &'static str,
    ty: &'static str,
    contemporaneous: bool,
    oaep: &'static str,
}

impl Snap {
    fn file(&self) -> String {
        let c = if self.contemporaneous { "_C" } else { "" };
        format!("{}_{}_{}{c}.zip", self.time, self.backup, self.ty)
    }

    /// Its path under the share's root.
    fn rel(&self) -> String {
        format!(
            "MASBackup/progressivebackup/{STAMP}/{}/{}",
            self.repo,
            self.file()
        )
    }

    /// The folder its zip is made of.
    fn src(&self) -> String {
        format!("src/{}/{}", self.backup, &self.repo[..3])
    }
}

/// Three backups of the four repository kinds Validate-AzsBackup reads: B1 Full everywhere
/// (keys wrapped with OAEP-SHA1), B2 and B3 Full except WAS, which is Progressive (OAEP-SHA256),
/// and WAS's B2 snapshot has no `_C` in its name.
fn standard_snaps() -> Vec<Snap> {
    let mut out = Vec::new();
    for (i, (backup, time)) in BACKUPS.iter().enumerate() {
        for repo in REPOS {
            let progressive = repo == WAS && i > 0;
            out.push(Snap {
                repo,
                backup,
                time,
                ty: if progressive { "Progressive" } else { "Full" },
                contemporaneous: !(repo == WAS && *backup == B2),
                oaep: if *backup == B1 { "sha1" } else { "sha256" },
            });
        }
    }
    out
}

/// A backup share built by the independent writer.
struct Share {
    a: Azs,
    key: Key,
    snaps: Vec<Snap>,
}

impl Share {
    fn new() -> Share {
        Share::with(&|_, _| {})
    }

    /// The standard share; `edit` may change each snapshot's entry in the writer's spec.
    fn with(edit: &dyn Fn(&Snap, &mut serde_json::Value)) -> Share {
        let a = Azs {
            dir: tempfile::tempdir().unwrap(),
        };
        let key = a.key("azs", "pfx-pass");
        let share = Share {
            a,
            key,
            snaps: standard_snaps(),
        };
        share.write_sources();
        let root = share.root();
        share.make(&root, edit);
        share
    }

    /// Distinct content for every snapshot: what Validate-AzsBackup reads from each kind, a
    /// nested zip (which stays a file) and a larger binary file.
    fn write_sources(&self) {
        for s in &self.snaps {
            let src = s.src();
            let tag = format!(
                "{{\"backup\": \"{}\", \"repository\": \"{}\"}}\n",
                s.backup, s.repo
            );
            self.a.write(&format!("{src}/info.json"), tag.as_bytes());
            match &s.repo[..3] {
                "CRP" => self
                    .a
                    .write(&format!("{src}/CRP-Microsoft.Compute.Admin.json"), b"[]"),
                "NRP" => self
                    .a
                    .write(&format!("{src}/NRP-Microsoft.Network.Admin.json"), b"[]"),
                "SRP" => self.a.write(
                    &format!("{src}/SRP;Microsoft.Storage.Admin;-;Quota/quota.zip"),
                    b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
                ),
                _ => {
                    let seed = s.time.bytes().map(u32::from).sum::<u32>();
                    let big: Vec<u8> = (0..300_000u32)
                        .map(|i| ((i ^ seed).wrapping_mul(2_654_435_761) >> 13) as u8)
                        .collect();
                    self.a.write(
                        &format!("{src}/Microsoft.AzureStack.Subscriptions.bak"),
                        &big,
                    );
                    self.a.write(
                        &format!("{src}/Microsoft.AzureStack.Subscriptions.log"),
                        tag.as_bytes(),
                    )
                }
            };
        }
    }

    /// Writes every snapshot under `root` (a folder, or a share's folder on the server's disk).
    fn make(&self, root: &Path, edit: &dyn Fn(&Snap, &mut serde_json::Value)) {
        let snapshots: Vec<serde_json::Value> = self
            .snaps
            .iter()
            .map(|s| {
                let mut v = serde_json::json!({
                    "repo": s.repo, "time": s.time, "id": s.backup, "type": s.ty,
                    "c": s.contemporaneous, "oaep": s.oaep,
                    "cert": self.key.cer.to_str().unwrap(),
                    "src": self.a.path(&s.src()).to_str().unwrap(),
                    "propsAtRoot": s.repo == NRP,
                });
                edit(s, &mut v);
                v
            })
            .collect();
        let spec = serde_json::json!({"stamp": STAMP, "backupInfo": "201901161300", "snapshots": snapshots});
        let spec_file = self.a.write("spec.json", spec.to_string().as_bytes());
        let made = helper(&[
            "share",
            "--root",
            root.to_str().unwrap(),
            "--spec",
            spec_file.to_str().unwrap(),
        ]);
        assert_eq!(made.as_array().unwrap().len(), self.snaps.len());
    }

    fn root(&self) -> PathBuf {
        self.a.path("share")
    }

    fn snap(&self, repo: &str, backup: &str) -> &Snap {
        self.snaps
            .iter()
            .find(|s| s.repo == repo && s.backup == backup)
            .unwrap()
    }

    fn file(&self, s: &Snap) -> PathBuf {
        self.root().join(s.rel())
    }

    /// The snapshots backup `id` needs, as the chain rule says (written out by hand).
    fn needed(&self, id: &str) -> Vec<Snap> {
        let upto = BACKUPS.iter().position(|(b, _)| *b == id).unwrap();
        let mut out: Vec<Snap> = [CRP, NRP, SRP]
            .iter()
            .map(|r| self.snap(r, id).clone())
            .collect();
        out.extend(
            BACKUPS[..=upto]
                .iter()
                .map(|(b, _)| self.snap(WAS, b).clone()),
        );
        out
    }

    /// `azs-backup [--json] unprotect --from ROOT ARGS --cert-path KEY --cert-password-stdin`.
    fn run(&self, json: bool, args: &[&str], key: &Key, password: &str) -> std::process::Output {
        let mut c = bin();
        if json {
            c.arg("--json");
        }
        c.arg("unprotect")
            .arg("--from")
            .arg(self.root())
            .args(args)
            .arg("--cert-path")
            .arg(&key.pfx)
            .arg("--cert-password-stdin")
            .write_stdin(format!("{password}\n"))
            .output()
            .unwrap()
    }

    fn check(&self, id: &str) -> std::process::Output {
        self.run(true, &["--backup-id", id, "--check"], &self.key, "pfx-pass")
    }

    fn extract(&self, id: &str, dest: &str) -> std::process::Output {
        let dest = self.a.path(dest);
        self.run(
            true,
            &["--backup-id", id, "--destination", dest.to_str().unwrap()],
            &self.key,
            "pfx-pass",
        )
    }

    fn list(&self) -> serde_json::Value {
        let out = bin()
            .args(["--json", "unprotect", "--from"])
            .arg(self.root())
            .arg("--list")
            .output()
            .unwrap();
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Flips one byte well inside a snapshot's ciphertext.
    fn tamper(&self, s: &Snap) {
        let p = self.file(s);
        let mut bytes = std::fs::read(&p).unwrap();
        bytes[10 + 16 + 64 + 200] ^= 0x40;
        std::fs::write(&p, bytes).unwrap();
    }
}

fn doc(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// The `--json` error document's kind and message; exactly one line on stderr.
fn json_error(out: &std::process::Output) -> (String, String) {
    let err = stderr(out);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with('{')).collect();
    assert_eq!(lines.len(), 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    (
        v["error"]["kind"].as_str().unwrap().to_string(),
        v["error"]["message"].as_str().unwrap().to_string(),
    )
}

/// The snapshot entries of a report, by file name: (repository, result).
fn results(v: &serde_json::Value) -> Vec<(String, String, String)> {
    v["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["repository"].as_str().unwrap().to_string(),
                s["file"].as_str().unwrap().to_string(),
                s["result"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn list_shows_every_backup_newest_first_with_its_chains() {
    let share = Share::new();
    let v = share.list();
    let backups = v["backups"].as_array().unwrap();
    let ids: Vec<&str> = backups
        .iter()
        .map(|b| b["backupId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [B3, B2, B1]);
    assert_eq!(backups[0]["time"], "2019-01-16T12:00:00Z");
    assert_eq!(backups[0]["stampVersion"], STAMP);
    for b in backups {
        assert_eq!(b["complete"], true, "{b}");
        assert_eq!(b["repositories"].as_array().unwrap().len(), 4, "{b}");
    }
    let was = &backups[0]["repositories"][3];
    assert_eq!(was["repository"], WAS);
    assert_eq!(was["backupType"], "Progressive");
    let chain: Vec<&str> = was["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(
        chain,
        share.needed(B3)[3..]
            .iter()
            .map(Snap::file)
            .collect::<Vec<_>>()
    );
    // The text: one line per backup, newest first.
    let out = bin()
        .args(["unprotect", "--from"])
        .arg(share.root())
        .arg("--list")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let at = |id: &str| text.find(id).unwrap_or_else(|| panic!("{id} in {text}"));
    assert!(at(B3) < at(B2) && at(B2) < at(B1), "{text}");
    assert_eq!(text.matches("complete").count(), 3, "{text}");
    // From MASBackup or the stamp's own folder too.
    for sub in ["MASBackup", &format!("MASBackup/progressivebackup/{STAMP}")] {
        let out = bin()
            .args(["--json", "unprotect", "--from"])
            .arg(share.root().join(sub))
            .arg("--list")
            .output()
            .unwrap();
        assert_eq!(code(&out), 0, "{sub}: {}", stderr(&out));
        assert_eq!(doc(&out)["backups"].as_array().unwrap().len(), 3, "{sub}");
    }
}

#[test]
fn a_backup_id_extracts_every_repository_and_the_whole_progressive_chain() {
    let share = Share::new();
    let out = share.extract(B3, "out");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v = doc(&out);
    assert_eq!(v["backupId"], B3);
    assert_eq!(v["mode"], "extract");
    assert_eq!(v["ok"], true);
    assert_eq!(v["certificateThumbprint"], share.key.thumbprint.as_str());
    let needed = share.needed(B3);
    assert_eq!(
        results(&v),
        needed
            .iter()
            .map(|s| (s.repo.to_string(), s.file(), "ok".to_string()))
            .collect::<Vec<_>>()
    );
    let dest = share.a.path("out");
    for (s, r) in needed.iter().zip(v["snapshots"].as_array().unwrap()) {
        assert_eq!(
            tree(&dest.join(s.repo).join(s.file())),
            tree(&share.a.path(&s.src())),
            "{}",
            s.file()
        );
        assert_eq!(r["backupType"], s.ty);
        assert_eq!(r["contemporaneous"], s.contemporaneous);
        assert_eq!(
            r["oaepHash"],
            if s.oaep == "sha1" { "SHA-1" } else { "SHA-256" }
        );
        assert_eq!(r["backupStatus"], "Succeeded");
        assert_eq!(r["checksumOk"], true);
        assert_eq!(r["createdDateTime"], r["time"]);
        assert_eq!(
            r["sizeInBytes"],
            std::fs::metadata(share.file(s)).unwrap().len()
        );
        assert!(r["zipSizeInBytes"].as_u64().unwrap() > 0);
    }
    // Nothing else: no staging folder, one folder per repository, one per needed snapshot.
    let mut found: Vec<String> = std::fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    assert_eq!(
        found,
        REPOS.iter().map(|r| r.to_string()).collect::<Vec<_>>()
    );
    assert_eq!(std::fs::read_dir(dest.join(WAS)).unwrap().count(), 3);
    // The nested zip stays a file.
    assert!(dest
        .join(SRP)
        .join(share.snap(SRP, B3).file())
        .join("SRP;Microsoft.Storage.Admin;-;Quota/quota.zip")
        .is_file());

    // A full backup needs one snapshot per repository.
    let out = share.extract(B1, "out1");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(doc(&out)["snapshots"].as_array().unwrap().len(), 4);
    // A destination that is not empty needs --force, which replaces the snapshot folders.
    let out = share.extract(B2, "out");
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    std::fs::write(
        dest.join(WAS)
            .join(share.snap(WAS, B2).file())
            .join("stray"),
        b"x",
    )
    .unwrap();
    let out = share.run(
        false,
        &[
            "--backup-id",
            B2,
            "--force",
            "--destination",
            dest.to_str().unwrap(),
        ],
        &share.key,
        "pfx-pass",
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let s = share.snap(WAS, B2);
    assert_eq!(
        tree(&dest.join(WAS).join(s.file())),
        tree(&share.a.path(&s.src()))
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("(chain 2/2)") && text.contains("Extracted 5 snapshot(s)"),
        "{text}"
    );
}

#[test]
fn check_decodes_every_snapshot_and_writes_nothing() {
    let share = Share::new();
    let tmp = share.a.path("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let before = tree(share.a.dir.path());
    let out = bin()
        .args(["--json", "unprotect", "--from"])
        .arg(share.root())
        .args(["--backup-id", B3, "--check", "--cert-path"])
        .arg(&share.key.pfx)
        .env("AZS_BACKUP_KEY_PASSWORD", "pfx-pass")
        .env("TMPDIR", &tmp)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v = doc(&out);
    assert_eq!(v["mode"], "check");
    assert!(v["destination"].is_null());
    assert_eq!(v["repositories"], 4);
    assert_eq!(results(&v).len(), 6);
    for s in v["snapshots"].as_array().unwrap() {
        assert_eq!(s["result"], "ok", "{s}");
        assert!(s["destination"].is_null());
        assert!(s["files"].as_u64().unwrap() >= 2, "{s}");
    }
    assert_eq!(tree(share.a.dir.path()), before, "--check wrote something");
    // The text report.
    let out = share.run(
        false,
        &["--backup-id", B3, "--check"],
        &share.key,
        "pfx-pass",
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Checked 6 snapshot(s)") && text.contains("(chain 3/3)"),
        "{text}"
    );
}

#[test]
fn a_tampered_chain_member_is_exit_7_naming_it_and_nothing_is_written() {
    let share = Share::new();
    let bad = share.snap(WAS, B2).clone();
    share.tamper(&bad);
    let out = share.check(B3);
    assert_eq!(code(&out), 7, "{}", stderr(&out));
    let (kind, message) = json_error(&out);
    assert_eq!(kind, "verificationFailed");
    assert!(
        message.contains(&bad.file()) && message.contains("checksum mismatch"),
        "{message}"
    );
    // --check goes on: every other snapshot is checked and reported.
    let v = doc(&out);
    assert_eq!(v["ok"], false);
    for (repo, file, result) in results(&v) {
        let expected = if file == bad.file() { "failed" } else { "ok" };
        assert_eq!(result, expected, "{repo}/{file}");
    }
    // Extraction stops at the first failure and writes nothing.
    let out = share.extract(B3, "out");
    assert_eq!(code(&out), 7, "{}", stderr(&out));
    assert!(!share.a.path("out").exists(), "nothing may be written");
    let v = doc(&out);
    assert!(results(&v).iter().any(|r| r.2 == "notChecked"), "{v}");
    // A backup that does not need it is fine.
    assert_eq!(code(&share.check(B1)), 0);
}

#[test]
fn a_snapshot_that_is_not_a_zip_or_not_succeeded_fails_with_exit_7() {
    let share = Share::with(&|s, v| {
        if s.repo == SRP && s.backup == B2 {
            v["rawPlain"] = "this is not a zip archive".into();
        }
        if s.repo == WAS && s.backup == B3 {
            v["status"] = "Failed".into();
        }
    });
    let out = share.check(B2);
    assert_eq!(code(&out), 7, "{}", stderr(&out));
    let (_, message) = json_error(&out);
    assert!(
        message.contains(&share.snap(SRP, B2).file()) && message.contains("not a valid zip"),
        "{message}"
    );
    let out = share.check(B3);
    assert_eq!(code(&out), 7, "{}", stderr(&out));
    let (_, message) = json_error(&out);
    assert!(message.contains("BackupStatus is \"Failed\""), "{message}");
    // --check still reads that snapshot: its data is sound.
    let v = doc(&out);
    let last = &v["snapshots"][5];
    assert_eq!(
        (last["result"].as_str(), last["checksumOk"].as_bool()),
        (Some("failed"), Some(true))
    );
    // Extraction refuses before it reads anything.
    let out = share.extract(B3, "out");
    assert_eq!(code(&out), 7, "{}", stderr(&out));
    assert!(!share.a.path("out").exists());
    let r: Vec<String> = results(&doc(&out)).into_iter().map(|r| r.2).collect();
    assert_eq!(
        r,
        [
            "notChecked",
            "notChecked",
            "notChecked",
            "notChecked",
            "notChecked",
            "failed"
        ]
    );
}

#[test]
fn a_deleted_full_or_a_gap_is_a_broken_chain_exit_4() {
    let share = Share::new();
    let full = share.snap(WAS, B1).clone();
    // Only the .zip gone: the chain has a member without its file.
    std::fs::rename(share.file(&full), share.a.path("aside.zip")).unwrap();
    let out = share.check(B3);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let (kind, message) = json_error(&out);
    assert_eq!(kind, "brokenChain");
    assert!(
        message.contains(WAS) && message.contains(&format!("{} is missing", full.file())),
        "{message}"
    );
    // The whole Full gone: no Full before the progressive snapshots.
    std::fs::remove_file(share.file(&full).with_extension("xml")).unwrap();
    for id in [B2, B3] {
        let out = share.extract(id, "out");
        assert_eq!(code(&out), 4, "{}", stderr(&out));
        let (_, message) = json_error(&out);
        assert!(
            message.contains("no Full snapshot before")
                && message.contains(&share.snap(WAS, id).file()),
            "{message}"
        );
        assert!(!share.a.path("out").exists());
    }
    let v = share.list();
    let complete: Vec<(&str, bool)> = v["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["backupId"].as_str().unwrap(),
                b["complete"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(complete, [(B3, false), (B2, false), (B1, true)]);
    // The text says which chain and why, without failing.
    let out = bin()
        .args(["unprotect", "--from"])
        .arg(share.root())
        .arg("--list")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains(
        "BROKEN (WAS;WasService;-;Microsoft.AzureStack.Subscriptions: no Full snapshot before"
    ));

    // A gap: the middle progressive snapshot gone while the other repositories have B2.
    let share = Share::new();
    let mid = share.snap(WAS, B2).clone();
    std::fs::remove_file(share.file(&mid)).unwrap();
    std::fs::remove_file(share.file(&mid).with_extension("xml")).unwrap();
    let out = share.check(B3);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let (_, message) = json_error(&out);
    assert!(
        message.contains(&format!("a gap: backup {B2}")),
        "{message}"
    );
    assert_eq!(code(&share.check(B1)), 0);
}

#[test]
fn a_wrong_pfx_is_exit_8_naming_the_certificate_the_snapshots_need() {
    let share = Share::new();
    let wrong = share.a.key("wrong", "pw2");
    let dest = share.a.path("out");
    for args in [
        vec!["--backup-id", B3, "--check"],
        vec!["--backup-id", B3, "--destination", dest.to_str().unwrap()],
    ] {
        let out = share.run(true, &args, &wrong, "pw2");
        assert_eq!(code(&out), 8, "{}", stderr(&out));
        let (kind, message) = json_error(&out);
        assert_eq!(kind, "wrongKey");
        assert!(
            message.contains("Thumbprint mismatch")
                && message.contains(&share.key.thumbprint)
                && message.contains(&wrong.thumbprint),
            "{message}"
        );
        assert!(!dest.exists());
    }
}

#[test]
fn an_unknown_backup_id_is_exit_9_and_a_malformed_one_a_usage_error() {
    let share = Share::new();
    let out = share.check("44444444-aaaa-4bbb-8ccc-000000000004");
    assert_eq!(code(&out), 9, "{}", stderr(&out));
    let (kind, message) = json_error(&out);
    assert_eq!(kind, "notFound");
    assert!(message.contains("3 other backup(s)"), "{message}");
    // An empty folder: no store there at all.
    let empty = share.a.path("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = bin()
        .args(["unprotect", "--from"])
        .arg(&empty)
        .args(["--backup-id", B1, "--check", "--cert-path"])
        .arg(&share.key.pfx)
        .env("AZS_BACKUP_KEY_PASSWORD", "pfx-pass")
        .output()
        .unwrap();
    assert_eq!(code(&out), 9, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("MASBackup/progressivebackup"),
        "{}",
        stderr(&out)
    );
    for bad in ["../x", "a/b", "x\ny", ""] {
        let out = share.check(bad);
        assert_eq!(code(&out), 2, "{bad:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("--backup-id"), "{}", stderr(&out));
    }
    // --from needs --backup-id or --list; --list takes no key; --verify-only is for one file.
    for args in [
        vec!["--check"],
        vec!["--list", "--check"],
        vec!["--backup-id", B1, "--list"],
        vec!["--backup-id", B1, "--verify-only"],
    ] {
        let out = bin()
            .args(["unprotect", "--from"])
            .arg(share.root())
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn names_on_the_share_that_cannot_be_used_are_refused() {
    let share = Share::new();
    let stamp = share
        .root()
        .join(format!("MASBackup/progressivebackup/{STAMP}"));
    let src = share.file(share.snap(CRP, B3));
    let dest = share.a.path("out");
    // (folder made, file in it)
    for (folder, file) in [
        (
            "CRP;x\\..\\..\\escape".to_string(),
            share.snap(CRP, B3).file(),
        ),
        (CRP.to_string(), format!("201901161200_{B3}_Full_C\nx.zip")),
        ("NRP\u{1b}[31m".to_string(), share.snap(NRP, B3).file()),
    ] {
        let dir = stamp.join(&folder);
        let made = !dir.exists();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(&src, dir.join(&file)).unwrap();
        let out = share.extract(B3, "out");
        assert_eq!(code(&out), 7, "{folder:?}/{file:?}: {}", stderr(&out));
        let (kind, message) = json_error(&out);
        assert_eq!(kind, "verificationFailed");
        assert!(message.contains("cannot be used"), "{message}");
        assert!(
            !message.contains('\n') && !message.contains('\u{1b}'),
            "{message:?}"
        );
        assert!(!dest.exists());
        assert!(!share.a.path("escape").exists());
        // --list still lists the rest, and says what it left out.
        let out = bin()
            .args(["unprotect", "--from"])
            .arg(share.root())
            .arg("--list")
            .output()
            .unwrap();
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert!(stderr(&out).contains("cannot be used"), "{}", stderr(&out));
        assert!(!stderr(&out).contains('\u{1b}'));
        assert!(String::from_utf8_lossy(&out.stdout).contains(B3));
        if made {
            std::fs::remove_dir_all(&dir).unwrap();
        } else {
            std::fs::remove_file(dir.join(&file)).unwrap();
        }
    }
    assert_eq!(code(&share.check(B3)), 0);
}

/// Copies a folder tree (files and folders only).
#[cfg(feature = "smb")]
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Removes a folder on the server's disk when the test ends.
#[cfg(feature = "smb")]
struct RemoveOnDrop(PathBuf);

#[cfg(feature = "smb")]
impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The same share served by Samba (`scripts/samba-server.sh`; skipped with a notice without
/// one, unless AZS_TEST_SMB=required): `--list`, `--check` and an extraction over SMB give what
/// they give on the local folder, a tampered snapshot on the server is exit 7, and the share's
/// password is never printed.
#[cfg(feature = "smb")]
#[test]
fn a_backup_on_a_samba_share_is_listed_checked_and_extracted() {
    let Some(srv) = smb_common::Server::from_env("azurestack_cli samba") else {
        return;
    };
    let _lock = smb_common::server_lock(srv.dir.as_deref(), false);
    let folder = format!("t-azs-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let Some(local) = srv.local(&srv.share, &folder) else {
        eprintln!("notice: the share's folder is not on this machine; nothing to test");
        return;
    };
    let _cleanup = RemoveOnDrop(local.clone());
    let share = Share::new();
    copy_tree(&share.root(), &local);
    let url = srv.url(&srv.share, &folder);
    let home = share.a.path("home");
    std::fs::create_dir_all(home.join(".smb")).unwrap();
    std::fs::write(home.join(".smb/smb.conf"), "[global]\n").unwrap();
    let run = |args: &[&str]| {
        let out = bin()
            .env("HOME", &home)
            .env("AZS_BACKUP_SMB_TIMEOUT_SECS", "10")
            .env("AZS_BACKUP_PASSWORD", &srv.password)
            .env("AZS_BACKUP_KEY_PASSWORD", "pfx-pass")
            .args([
                "--json",
                "unprotect",
                "--from",
                &url,
                "--username",
                &srv.user,
            ])
            .args(args)
            .output()
            .unwrap();
        for text in [&out.stdout, &out.stderr] {
            assert!(
                !String::from_utf8_lossy(text).contains(&srv.password),
                "the share's password was printed"
            );
        }
        out
    };
    let pfx = share.key.pfx.to_str().unwrap().to_string();

    let out = run(&["--list"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let listed = doc(&out);
    assert_eq!(listed["backups"], share.list()["backups"]);

    let out = run(&["--backup-id", B3, "--check", "--cert-path", &pfx]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v = doc(&out);
    assert!(v["source"].as_str().unwrap().starts_with("smb://"), "{v}");
    assert_eq!(results(&v).len(), 6);
    assert!(results(&v).iter().all(|r| r.2 == "ok"), "{v}");

    let dest = share.a.path("out");
    let out = run(&[
        "--backup-id",
        B3,
        "--cert-path",
        &pfx,
        "--destination",
        dest.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    for s in share.needed(B3) {
        assert_eq!(
            tree(&dest.join(s.repo).join(s.file())),
            tree(&share.a.path(&s.src())),
            "{}",
            s.file()
        );
    }

    // A progressive snapshot changed on the server.
    let bad = share.snap(WAS, B3);
    let p = local.join(bad.rel());
    let mut bytes = std::fs::read(&p).unwrap();
    let at = bytes.len() - 100;
    bytes[at] ^= 1;
    std::fs::write(&p, bytes).unwrap();
    let out = run(&["--backup-id", B3, "--check", "--cert-path", &pfx]);
    assert_eq!(code(&out), 7, "{}", stderr(&out));
    let (_, message) = json_error(&out);
    assert!(
        message.contains(&bad.file()) && message.contains("checksum mismatch"),
        "{message}"
    );
    // A wrong share password: the share's error (exit 4), not a snapshot's.
    let out = bin()
        .env("HOME", &home)
        .env("AZS_BACKUP_SMB_TIMEOUT_SECS", "10")
        .env("AZS_BACKUP_PASSWORD", "not-the-password")
        .args([
            "unprotect",
            "--from",
            &url,
            "--username",
            &srv.user,
            "--list",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 4, "{}", stderr(&out));
}

/// Runs `c` (stdin null, stdout and stderr piped; their contents must fit in the pipes) and
/// returns its exit code, stdout, stderr and peak resident memory in KiB (`wait4`'s
/// `ru_maxrss`, for this child alone). The child is reaped by `wait4`, not `Child::wait`.
#[cfg(target_os = "linux")]
#[allow(clippy::zombie_processes)]
fn run_measuring_memory(c: Command) -> (i32, Vec<u8>, String, u64) {
    // The binary runs as the grandchild of this process, under a small Python parent that
    // reports its peak memory: a child's peak as wait4 reports it includes the memory of the
    // process it was forked from (until exec), and this test process, which runs every CLI
    // test in threads, can be large.
    const PARENT: &str = "import os, sys\n\
pid = os.fork()\n\
if pid == 0:\n    os.execv(sys.argv[2], sys.argv[2:])\n\
_, st, ru = os.wait4(pid, 0)\n\
open(sys.argv[1], 'w').write(str(ru.ru_maxrss))\n\
sys.exit(os.waitstatus_to_exitcode(st) if os.WIFEXITED(st) else 128 + os.WTERMSIG(st))\n";
    let report = tempfile::NamedTempFile::new().unwrap();
    let mut p = Command::new("python3");
    p.arg("-c")
        .arg(PARENT)
        .arg(report.path())
        .arg(c.get_program())
        .args(c.get_args());
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => p.env(k, v),
            None => p.env_remove(k),
        };
    }
    let out = p
        .stdin(std::process::Stdio::null())
        .output()
        .expect("python3 runs");
    let code = out.status.code().expect("not killed");
    assert!(code < 128, "killed: {code}");
    let rss_kib = std::fs::read_to_string(report.path())
        .unwrap()
        .trim()
        .parse()
        .expect("the peak memory");
    (
        code,
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
        rss_kib,
    )
}

/// A snapshot larger than the memory the binary may use is checked and extracted: the HMAC,
/// the decryption and the zip stream through fixed buffers.
#[cfg(target_os = "linux")]
#[test]
fn memory_stays_bounded_whatever_the_snapshot_size() {
    const BULK: usize = 96 << 20;
    const LIMIT_KIB: u64 = 64 << 10;
    let a = Azs {
        dir: tempfile::tempdir().unwrap(),
    };
    let key = a.key("big", "pw");
    // Incompressible, so that the snapshot is as large as its content; written (and compared)
    // in small pieces: the test process must stay small too, since a child's peak memory as
    // wait4 reports it counts its parent's until the child runs the binary.
    let bulk = a.path("src/big/Microsoft.AzureStack.Subscriptions.bak");
    std::fs::create_dir_all(bulk.parent().unwrap()).unwrap();
    let mut w = std::io::BufWriter::new(std::fs::File::create(&bulk).unwrap());
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..BULK / 8 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        std::io::Write::write_all(&mut w, &x.to_le_bytes()).unwrap();
    }
    std::io::Write::flush(&mut w).unwrap();
    drop(w);
    let spec = serde_json::json!({"stamp": STAMP, "snapshots": [{
        "repo": WAS, "time": "201901151200", "id": B1, "type": "Full",
        "cert": key.cer.to_str().unwrap(), "src": a.path("src/big").to_str().unwrap(),
    }]});
    let spec_file = a.write("spec.json", spec.to_string().as_bytes());
    let root = a.path("share");
    helper(&[
        "share",
        "--root",
        root.to_str().unwrap(),
        "--spec",
        spec_file.to_str().unwrap(),
    ]);
    let file = format!("201901151200_{B1}_Full_C.zip");
    let snapshot = root.join(format!("MASBackup/progressivebackup/{STAMP}/{WAS}/{file}"));
    assert!(std::fs::metadata(&snapshot).unwrap().len() > BULK as u64);
    let dest = a.path("out");
    for extract in [false, true] {
        let mut c = Command::new(env!("CARGO_BIN_EXE_azs-backup"));
        for v in common::CLEARED_ENV {
            c.env_remove(v);
        }
        c.args(["--json", "unprotect", "--from"])
            .arg(&root)
            .args(["--backup-id", B1, "--cert-path"])
            .arg(&key.pfx)
            .env("AZS_BACKUP_KEY_PASSWORD", "pw")
            .env("TMPDIR", a.dir.path());
        if extract {
            c.arg("--destination").arg(&dest);
        } else {
            c.arg("--check");
        }
        let (code, out, err, rss_kib) = run_measuring_memory(c);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["snapshots"][0]["bytes"], BULK as u64);
        assert!(
            rss_kib < LIMIT_KIB,
            "extract {extract}: peak memory {rss_kib} KiB for a {} MiB snapshot",
            BULK >> 20
        );
        eprintln!("extract {extract}: peak memory {rss_kib} KiB");
    }
    let extracted = dest
        .join(WAS)
        .join(&file)
        .join("Microsoft.AzureStack.Subscriptions.bak");
    assert!(same_contents(&extracted, &bulk));
}

/// Compares two files 1 MiB at a time.
#[cfg(target_os = "linux")]
fn same_contents(a: &Path, b: &Path) -> bool {
    use std::io::Read;
    let (mut fa, mut fb) = (
        std::fs::File::open(a).unwrap(),
        std::fs::File::open(b).unwrap(),
    );
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let na = fa.read(&mut ba).unwrap();
        let mut nb = 0;
        while nb < na {
            match fb.read(&mut bb[nb..na]).unwrap() {
                0 => return false,
                n => nb += n,
            }
        }
        if na == 0 {
            return fb.read(&mut bb).unwrap() == 0;
        }
        if ba[..na] != bb[..na] {
            return false;
        }
    }
}
