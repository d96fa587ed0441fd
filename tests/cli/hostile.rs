//! Hostile archives through the real binary: authentic backups (made for the world's own
//! certificate by the independent encryptor `tests/python/encrypt_backup.py`, so every chunk
//! authenticates) whose tar streams hold what `azs-backup` never writes: `..` and absolute
//! names, writes through symlinks, hard links pointing out, device nodes, FIFOs, a symlink
//! replaced by a file, setuid bits, and a manifest that counts more files than the archive has.
//!
//! `restore --from DIR` must refuse each hostile entry with exit 7 and one line of error that
//! says "refusing" and names the entry, leave nothing outside `--to` (the whole world folder is
//! compared before and after) and nothing of the source under `--to` (neither its final folder
//! nor its hidden `.NAME.*.partial` extraction folder). `verify --key` decodes every entry and
//! must refuse the same entries.
//!
//! Needs python3 with `cryptography` and the `zstd` command (`bash scripts/test.sh` installs
//! them); missing, these tests FAIL.

use crate::common;

use common::{code, World};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/encrypt_backup.py")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Fails (never skips) when python3, its `cryptography` package or `zstd` is missing.
fn require_tools() {
    let py = Command::new("python3")
        .args(["-c", "import cryptography"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    let zstd = Command::new("zstd")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        py && zstd,
        "python3 with the `cryptography` package and the `zstd` command are needed by the \
         independent encryptor: run the README's test command `bash scripts/test.sh`"
    );
}

/// A world with a certificate (from `new-cert`) and a local target folder for hostile backups.
struct Hostile {
    w: World,
    cer: PathBuf,
    pem: PathBuf,
    target: PathBuf,
}

impl Hostile {
    /// A world with the committed test-only certificate and its key (`tests/vectors/`, in one
    /// PEM as `new-cert` writes it): no key generation, so the tests stay fast.
    fn new() -> Hostile {
        require_tools();
        let w = World::new();
        let vectors = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
        let cer = vectors.join("test-only-rsa2048-cert.pem");
        let pem = w.write(
            "certs/key-and-cert.pem",
            &[
                fs::read(vectors.join("test-only-rsa2048-key.pem")).unwrap(),
                fs::read(&cer).unwrap(),
            ]
            .concat(),
        );
        Hostile::with(w, cer, pem)
    }

    /// A world with a certificate made by `new-cert` (`.cer` DER and `.pem` key).
    fn with_new_cert(name: &str) -> Hostile {
        require_tools();
        let w = World::new();
        let (cer, pem) = w.new_cert(name, None);
        Hostile::with(w, cer, pem)
    }

    fn with(w: World, cer: PathBuf, pem: PathBuf) -> Hostile {
        let target = w.path("target");
        fs::create_dir_all(&target).unwrap();
        Hostile {
            w,
            cer,
            pem,
            target,
        }
    }

    /// The world folder as a string, for absolute names aimed inside it.
    fn root(&self) -> String {
        self.w.dir.path().to_str().unwrap().to_string()
    }

    /// Writes one backup per spec, in one run of the encryptor (Python takes a while to
    /// start); backup `i` gets the id `backup_id(i + 1)`. Returns the ids.
    fn backups(&self, specs: Vec<Value>) -> Vec<String> {
        let mut jobs = Vec::new();
        let mut ids = Vec::new();
        for (i, mut spec) in specs.into_iter().enumerate() {
            let id = backup_id(i as u32 + 1);
            spec["backupId"] = id.clone().into();
            jobs.push(spec);
            ids.push(id);
        }
        let batch = self.w.path("batch.json");
        fs::write(&batch, serde_json::to_vec_pretty(&jobs).unwrap()).unwrap();
        let out = Command::new("python3")
            .arg(script())
            .arg("--cert")
            .arg(&self.cer)
            .arg("--target")
            .arg(&self.target)
            .arg("--batch")
            .arg(&batch)
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "encrypt_backup.py failed: {}",
            text(&out.stderr)
        );
        ids
    }

    fn backup(&self, spec: Value) -> String {
        self.backups(vec![spec]).remove(0)
    }

    fn restore(&self, id: &str, to: &Path, extra: &[&str]) -> Output {
        self.w
            .cmd()
            .args(["restore", id, "--key"])
            .arg(&self.pem)
            .arg("--to")
            .arg(to)
            .arg("--from")
            .arg(&self.target)
            .args(extra)
            .output()
            .unwrap()
    }

    fn verify(&self, id: &str) -> Output {
        self.w
            .cmd()
            .args(["verify", id, "--key"])
            .arg(&self.pem)
            .arg("--from")
            .arg(&self.target)
            .output()
            .unwrap()
    }

    /// Restore and `verify --key` of backup `id` (one source, `src`) both refuse `entry`;
    /// nothing changes outside `to`, and nothing of the source is left under `to`.
    fn assert_refused(&self, id: &str, entry: &str) {
        let to = self.w.path(&format!("out-{id}"));
        let before = snapshot(self.w.dir.path(), &to);

        let out = self.restore(id, &to, &[]);
        let err = text(&out.stderr);
        assert_eq!(
            code(&out),
            7,
            "restore of entry {entry:?}: exit 7 expected; stderr: {err}"
        );
        assert_eq!(
            err.trim().lines().count(),
            1,
            "restore of entry {entry:?}: the error is one line: {err}"
        );
        assert!(
            err.contains("refusing"),
            "restore of entry {entry:?}: says refusing: {err}"
        );
        assert!(
            err.contains(entry),
            "restore: the error names the entry {entry:?}: {err}"
        );
        assert_nothing_restored(&to, entry);
        assert_eq!(
            snapshot(self.w.dir.path(), &to),
            before,
            "restore of entry {entry:?} changed something outside --to"
        );

        let out = self.verify(id);
        let err = text(&out.stderr);
        assert_eq!(
            code(&out),
            7,
            "verify --key of entry {entry:?}: exit 7 expected; stderr: {err} stdout: {}",
            text(&out.stdout)
        );
        assert!(
            err.contains("refusing") && err.contains(entry),
            "verify --key refuses and names the entry {entry:?}: {err}"
        );
        assert_eq!(
            snapshot(self.w.dir.path(), &to),
            before,
            "verify of entry {entry:?} changed something"
        );
    }
}

/// A canonical GUID per case.
fn backup_id(n: u32) -> String {
    format!("6e0f3c1a-9b2d-4c5e-8f70-{n:012}")
}

/// `--to` is absent or empty: no folder of the source under its final name, no hidden
/// `.NAME.*.partial` extraction folder, no stray file.
fn assert_nothing_restored(to: &Path, entry: &str) {
    if let Ok(rd) = fs::read_dir(to) {
        let left: Vec<String> = rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            left.is_empty(),
            "entry {entry:?}: restore left {left:?} in {}",
            to.display()
        );
    }
}

/// Everything under `root` except `skip`: type, mode, link count, contents, link targets.
/// Symlinks are never followed.
fn snapshot(root: &Path, skip: &Path) -> BTreeMap<PathBuf, String> {
    fn walk(dir: &Path, skip: &Path, out: &mut BTreeMap<PathBuf, String>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd {
            let p = e.unwrap().path();
            if p.starts_with(skip) {
                continue;
            }
            let m = fs::symlink_metadata(&p).unwrap();
            let ft = m.file_type();
            let desc = if ft.is_symlink() {
                format!("link -> {}", fs::read_link(&p).unwrap().display())
            } else if ft.is_dir() {
                walk(&p, skip, out);
                format!("dir {:o}", m.mode())
            } else if ft.is_file() {
                format!(
                    "file {:o} nlink={} {:?}",
                    m.mode(),
                    m.nlink(),
                    fs::read(&p).unwrap()
                )
            } else {
                format!("other {:o} rdev={}", m.mode(), m.rdev())
            };
            out.insert(p, desc);
        }
    }
    let mut out = BTreeMap::new();
    walk(root, skip, &mut out);
    out
}

fn one_source(entries: Value) -> Value {
    json!({"sources": [{"name": "etc", "entries": entries}]})
}

/// Enough `..` to reach `/` from anywhere under the world, then the world's own path: a
/// relative path that lands exactly on `abs` (an absolute path inside the world).
fn via_root(abs: &str) -> String {
    format!("{}{}", "../".repeat(40), abs.trim_start_matches('/'))
}

/// Writes one single-source backup per `(entries, name of the hostile entry)` and checks that
/// each is refused by restore and verify.
fn assert_all_refused(h: &Hostile, cases: Vec<(Value, String)>) {
    let ids = h.backups(cases.iter().map(|(e, _)| one_source(e.clone())).collect());
    for (id, (_, entry)) in ids.iter().zip(&cases) {
        h.assert_refused(id, entry);
    }
}

#[test]
fn dot_dot_entries_are_refused() {
    let h = Hostile::new();
    h.w.write("sentinel/keep.txt", b"keep");
    let cases = ["../evil", "../../evil", "d/../../../sentinel/evil"]
        .into_iter()
        .map(|name| {
            (
                json!([
                    {"name": "d", "type": "dir"},
                    {"name": name, "type": "file", "data": "x"}
                ]),
                name.to_string(),
            )
        })
        .collect();
    assert_all_refused(&h, cases);
    assert!(!h.w.path("evil").exists());
    assert!(!h.w.path("sentinel/evil").exists());
}

#[test]
fn absolute_entries_are_refused() {
    let h = Hostile::new();
    // An existing folder, so that an extractor honouring the absolute name would succeed.
    fs::create_dir_all(h.w.path("abs")).unwrap();
    let name = format!("{}/abs/evil", h.root());
    assert_all_refused(
        &h,
        vec![(
            json!([{"name": name, "type": "file", "data": "x"}]),
            name.clone(),
        )],
    );
    assert!(!h.w.path("abs/evil").exists());
}

#[test]
fn writing_through_a_symlink_is_refused() {
    let h = Hostile::new();
    fs::create_dir_all(h.w.path("sentinel")).unwrap();
    let sentinel = format!("{}/sentinel", h.root());
    let world = h.root().trim_start_matches('/').to_string();
    // link -> / then link/<world>/sentinel/evil
    let through_root = format!("link/{world}/sentinel/evil");
    // up -> ../../.. (and further, to /) then up/<world>/sentinel/x
    let up = "../".repeat(40);
    let through_up = format!("up/{world}/sentinel/x");
    let cases = vec![
        (
            json!([
                {"name": "link", "type": "symlink", "link": "/"},
                {"name": through_root, "type": "file", "data": "x"}
            ]),
            through_root.clone(),
        ),
        // out -> <world>/sentinel (an outside folder) then out/evil
        (
            json!([
                {"name": "out", "type": "symlink", "link": sentinel},
                {"name": "out/evil", "type": "file", "data": "x"}
            ]),
            "out/evil".to_string(),
        ),
        (
            json!([
                {"name": "up", "type": "symlink", "link": up.trim_end_matches('/')},
                {"name": through_up, "type": "file", "data": "x"}
            ]),
            through_up.clone(),
        ),
        // A directory entry through a symlink.
        (
            json!([
                {"name": "dl", "type": "symlink", "link": sentinel},
                {"name": "dl/newdir", "type": "dir"}
            ]),
            "dl/newdir".to_string(),
        ),
    ];
    assert_all_refused(&h, cases);
    assert_eq!(fs::read_dir(h.w.path("sentinel")).unwrap().count(), 0);
}

#[test]
fn hard_links_pointing_out_are_refused() {
    let h = Hostile::new();
    let secret = h.w.write("sentinel/secret.txt", b"secret");
    let secret_abs = secret.to_str().unwrap();
    let cases = [
        ("hl-passwd", "/etc/passwd".to_string()),
        ("hl-dotdot", "../x".to_string()),
        ("hl-world", secret_abs.to_string()),
        ("hl-via-root", via_root(secret_abs)),
    ]
    .into_iter()
    .map(|(name, link)| {
        (
            json!([
                {"name": "a.txt", "type": "file", "data": "a"},
                {"name": name, "type": "hardlink", "link": link}
            ]),
            name.to_string(),
        )
    })
    .collect();
    assert_all_refused(&h, cases);
    assert_eq!(fs::metadata(&secret).unwrap().nlink(), 1);
    assert_eq!(fs::read(&secret).unwrap(), b"secret");
}

#[test]
fn device_nodes_are_refused() {
    let h = Hostile::new();
    let cases = vec![
        (
            json!([
                {"name": "a.txt", "type": "file", "data": "a"},
                {"name": "devnull-char", "type": "char", "major": 1, "minor": 3}
            ]),
            "devnull-char".to_string(),
        ),
        (
            json!([
                {"name": "a.txt", "type": "file", "data": "a"},
                {"name": "loop-block", "type": "block", "major": 7, "minor": 0}
            ]),
            "loop-block".to_string(),
        ),
    ];
    assert_all_refused(&h, cases);
}

#[test]
fn fifos_are_refused() {
    let h = Hostile::new();
    assert_all_refused(
        &h,
        vec![(
            json!([
                {"name": "a.txt", "type": "file", "data": "a"},
                {"name": "fifo-entry", "type": "fifo"}
            ]),
            "fifo-entry".to_string(),
        )],
    );
}

#[test]
fn a_file_replacing_a_symlink_to_an_outside_file_is_refused() {
    let h = Hostile::new();
    let precious = h.w.write("sentinel/precious.txt", b"original");
    let abs = precious.to_str().unwrap().to_string();
    let cases = [("dup-abs", abs.clone()), ("dup-rel", via_root(&abs))]
        .into_iter()
        .map(|(name, link)| {
            (
                json!([
                    {"name": name, "type": "symlink", "link": link},
                    {"name": name, "type": "file", "data": "overwritten"}
                ]),
                name.to_string(),
            )
        })
        .collect();
    assert_all_refused(&h, cases);
    assert_eq!(fs::read(&precious).unwrap(), b"original");
}

#[test]
fn special_mode_bits_are_masked_unless_asked_for() {
    let h = Hostile::new();
    let id = h.backup(one_source(json!([
        {"name": "setuid-tool", "type": "file", "data": "#!/bin/sh\n", "mode": 0o4755},
        {"name": "setgid-tool", "type": "file", "data": "#!/bin/sh\n", "mode": 0o2755},
        {"name": "sticky", "type": "dir", "mode": 0o1777},
        {"name": "sticky/f.txt", "type": "file", "data": "f", "mode": 0o644}
    ])));
    let mode = |p: PathBuf| fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777;

    let to = h.w.path("plain");
    let out = h.restore(&id, &to, &[]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(mode(to.join("etc/setuid-tool")), 0o755, "setuid bit masked");
    assert_eq!(mode(to.join("etc/setgid-tool")), 0o755, "setgid bit masked");
    assert_eq!(mode(to.join("etc/sticky")), 0o777, "sticky bit masked");
    assert_eq!(mode(to.join("etc/sticky/f.txt")), 0o644);

    if !running_as_root(&h.w) {
        println!(
            "special_mode_bits_are_masked_unless_asked_for: not root, --preserve-special-bits \
             part skipped"
        );
        return;
    }
    let to = h.w.path("preserved");
    let out = h.restore(&id, &to, &["--preserve-special-bits"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(mode(to.join("etc/setuid-tool")), 0o4755);
    assert_eq!(mode(to.join("etc/setgid-tool")), 0o2755);
    assert_eq!(mode(to.join("etc/sticky")), 0o1777);
    assert_eq!(mode(to.join("etc/sticky/f.txt")), 0o644);
}

/// Whether this process runs as root: files it creates belong to its effective user.
fn running_as_root(w: &World) -> bool {
    let probe = w.write("uid-probe", b"");
    fs::metadata(probe).unwrap().uid() == 0
}

#[test]
fn a_file_count_above_the_archives_is_refused() {
    let h = Hostile::new();
    let spec = json!({"sources": [{
        "name": "etc",
        "entries": [
            {"name": "d", "type": "dir"},
            {"name": "d/only.txt", "type": "file", "data": "the only file"}
        ],
        "role": {"fileCount": 99}
    }]});
    let id = h.backup(spec);
    let manifest: Value = serde_json::from_slice(
        &fs::read(h.target.join(format!("MASBackup/{id}/manifest.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["roleStatus"][0]["fileCount"], 99);

    let to = h.w.path("out");
    let before = snapshot(h.w.dir.path(), &to);
    let out = h.restore(&id, &to, &[]);
    let err = text(&out.stderr);
    assert_eq!(code(&out), 7, "restore: {err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("99"),
        "restore names the manifest's count: {err}"
    );
    assert_nothing_restored(&to, "d/only.txt");
    assert_eq!(snapshot(h.w.dir.path(), &to), before);

    let out = h.verify(&id);
    let err = text(&out.stderr);
    assert_eq!(code(&out), 7, "verify: {err}");
    assert!(
        err.contains("99"),
        "verify names the manifest's count: {err}"
    );
}

#[test]
fn the_encryptor_reproduces_the_committed_vectors() {
    // encrypt_backup.py --self-test: every tests/vectors file byte for byte (kind 1 with the
    // vector's own randomized OAEP wrap), fresh files at each chunk boundary through
    // decrypt_backup.py, and tar names kept verbatim.
    require_tools();
    let out = Command::new("python3")
        .arg(script())
        .arg("--self-test")
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("self-test passed"));
}

/// Incompressible bytes (xorshift), so that an archive spans several chunks.
fn noise(len: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn a_benign_backup_from_the_independent_encryptor_round_trips() {
    // The control for every test above: the encryptor's output, for a certificate made by
    // `new-cert`, is a backup that the binary reads.
    use base64::Engine;
    use sha1::Digest;
    let h = Hostile::with_new_cert("benign");
    let big = noise(200_000);
    let spec = json!({"sources": [
        {"name": "etc", "entries": [
            {"name": "d", "type": "dir", "mode": 0o750},
            {"name": "d/a.txt", "type": "file", "data": "hello\n", "mode": 0o600},
            {"name": "d/big.bin", "type": "file",
             "data_b64": base64::engine::general_purpose::STANDARD.encode(&big)},
            {"name": "link", "type": "symlink", "link": "d/a.txt"},
            {"name": "empty", "type": "file", "data": ""}
        ]},
        {"name": "nothing", "entries": []}
    ]});
    let id = h.backup(spec);

    // The manifest: the certificate's thumbprint, true counts, sizes and checksums.
    let dir = h.target.join(format!("MASBackup/{id}"));
    let m: Value = serde_json::from_slice(&fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let thumbprint = hex::encode_upper(sha1::Sha1::digest(fs::read(&h.cer).unwrap()));
    assert_eq!(m["encryptionCertThumbprint"], thumbprint.as_str());
    assert_eq!(m["backupId"], id.as_str());
    assert_eq!(m["status"], "Succeeded");
    let etc = &m["roleStatus"][0];
    assert_eq!(etc["fileCount"], 3);
    assert_eq!(etc["plainSizeInBytes"], 6 + 200_000);
    let archive = dir.join("etc.tar.zst.enc");
    let data = fs::read(&archive).unwrap();
    assert_eq!(etc["encryptedSizeInBytes"], data.len());
    assert_eq!(
        etc["sha256"],
        hex::encode(sha2::Sha256::digest(&data)).as_str()
    );
    assert!(data.len() > 3 * (65536 + 16), "several chunks");
    assert_eq!(m["roleStatus"][1]["fileCount"], 0);

    // The binary reads it: verify with the key, restore, compare. (decrypt_backup.py reads
    // the encryptor's files too: see the self-test above.)
    let out = h.verify(&id);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let to = h.w.path("out");
    let out = h.restore(&id, &to, &[]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(fs::read(to.join("etc/d/a.txt")).unwrap(), b"hello\n");
    assert!(fs::read(to.join("etc/d/big.bin")).unwrap() == big);
    assert_eq!(fs::read(to.join("etc/empty")).unwrap(), b"");
    assert_eq!(
        fs::read_link(to.join("etc/link")).unwrap(),
        Path::new("d/a.txt")
    );
    let mode = |p: &str| fs::metadata(to.join(p)).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode("etc/d"), 0o750);
    assert_eq!(mode("etc/d/a.txt"), 0o600);
    assert!(to.join("nothing").is_dir());
    assert_eq!(fs::read_dir(to.join("nothing")).unwrap().count(), 0);
}

#[test]
fn a_version_2_backup_from_the_independent_encryptor_restores_with_the_recovery_key() {
    // encrypt_backup.py --recovery-cert: every archive's file key wrapped for the test
    // certificate, then the recovery certificate (a version-2 header, docs/FORMAT.md §2.3), and
    // recoveryCertThumbprints in the manifest. The binary verifies and restores it with the
    // recovery key (given with its certificate) alone. TEST ONLY keys from tests/vectors/.
    let h = Hostile::new();
    let vectors = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let recovery_cert = vectors.join("test-only-recovery-rsa2048-cert.pem");
    let recovery_pem = h.w.write(
        "certs/recovery-key-and-cert.pem",
        &[
            fs::read(vectors.join("test-only-recovery-rsa2048-key.pem")).unwrap(),
            fs::read(&recovery_cert).unwrap(),
        ]
        .concat(),
    );
    let big = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(noise(100_000))
    };
    let spec = h.w.write(
        "spec.json",
        &serde_json::to_vec(&json!({"sources": [{"name": "etc", "entries": [
            {"name": "a.txt", "type": "file", "data": "recovered\n"},
            {"name": "big.bin", "type": "file", "data_b64": big}
        ]}]}))
        .unwrap(),
    );
    let id = backup_id(1);
    let out = Command::new("python3")
        .arg(script())
        .arg("--cert")
        .arg(&h.cer)
        .arg("--recovery-cert")
        .arg(&recovery_cert)
        .arg("--target")
        .arg(&h.target)
        .arg("--backup-id")
        .arg(&id)
        .arg("--spec")
        .arg(&spec)
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let recovery = "D2DB1880764AD95F0911022B14F68FBAE6B1EB2D";
    let m: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(m["recoveryCertThumbprints"], json!([recovery]));
    let archive = h.target.join(format!("MASBackup/{id}/etc.tar.zst.enc"));
    assert_eq!(
        fs::read(&archive).unwrap()[8..10],
        [2, 2],
        "version 2, two recipients"
    );

    for key in [&h.pem, &recovery_pem] {
        let out =
            h.w.cmd()
                .args(["verify", &id, "--key"])
                .arg(key)
                .arg("--from")
                .arg(&h.target)
                .output()
                .unwrap();
        assert_eq!(code(&out), 0, "verify: {}", text(&out.stderr));
    }
    let to = h.w.path("out");
    let out =
        h.w.restore_cmd(&id, &recovery_pem, &to)
            .arg("--from")
            .arg(&h.target)
            .output()
            .unwrap();
    assert_eq!(code(&out), 0, "restore: {}", text(&out.stderr));
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        said.contains(recovery),
        "restore names the recovery certificate: {said}"
    );
    assert_eq!(fs::read(to.join("etc/a.txt")).unwrap(), b"recovered\n");
    assert!(fs::read(to.join("etc/big.bin")).unwrap() == noise(100_000));
}
