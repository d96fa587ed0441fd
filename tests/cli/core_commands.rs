//! The core chain through the real binary on a local-directory target:
//! new-cert → configure → start-backup → list/show/status → verify → restore, and every
//! rejected input of the core-chain issue.

use crate::common;

use common::{bin, code, World};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

/// Everything `diff -r` and more compares: type, contents, symlink targets, mode bits, mtimes.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, String> {
    fn walk(root: &Path, rel: &Path, out: &mut BTreeMap<PathBuf, String>) {
        let mut names: Vec<_> = fs::read_dir(root.join(rel))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        for n in names {
            let r = rel.join(&n);
            let p = root.join(&r);
            let m = fs::symlink_metadata(&p).unwrap();
            let desc = if m.file_type().is_symlink() {
                format!("link -> {}", fs::read_link(&p).unwrap().display())
            } else if m.is_dir() {
                walk(root, &r, out);
                format!("dir mode={:o} mtime={}", m.mode() & 0o7777, m.mtime())
            } else {
                let data = fs::read(&p).unwrap();
                format!(
                    "file mode={:o} mtime={} len={} sum={:x}",
                    m.mode() & 0o7777,
                    m.mtime(),
                    data.len(),
                    fnv(&data)
                )
            };
            out.insert(r, desc);
        }
    }
    let mut out = BTreeMap::new();
    walk(root, Path::new(""), &mut out);
    out
}

fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x100000001b3)
    })
}

fn assert_same_tree(a: &Path, b: &Path) {
    let (sa, sb) = (snapshot(a), snapshot(b));
    assert_eq!(sa, sb, "restored tree differs from {}", a.display());
    let diff = StdCommand::new("diff")
        .arg("-r")
        .arg("--no-dereference")
        .arg(a)
        .arg(b)
        .output()
        .unwrap();
    assert!(
        diff.status.success(),
        "diff -r: {}",
        String::from_utf8_lossy(&diff.stdout)
    );
}

/// A source tree with the awkward cases: empty files and dirs, chunk-boundary sizes, symlinks,
/// odd permission bits, names with spaces, '%' and non-ASCII letters, a set mtime.
fn make_source(w: &World, name: &str) -> PathBuf {
    let root = w.path(name);
    w.write(&format!("{name}/empty.txt"), b"");
    w.write(&format!("{name}/exact64k.bin"), &pattern(64 * 1024, 1));
    w.write(
        &format!("{name}/exact64k+1.bin"),
        &pattern(64 * 1024 + 1, 2),
    );
    w.write(
        &format!("{name}/sub dir/%20 naïve Ünïcödé.txt"),
        b"name test\n",
    );
    w.write(&format!("{name}/deep/a/b/c/d.txt"), b"deep\n");
    fs::create_dir_all(root.join("empty-dir")).unwrap();
    symlink("exact64k.bin", root.join("link-to-file")).unwrap();
    symlink("/nonexistent/target", root.join("dangling-link")).unwrap();
    symlink("deep/a", root.join("link-to-dir")).unwrap();
    let secret = w.write(&format!("{name}/private.key"), b"not really a key\n");
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).unwrap();
    let exe = w.write(&format!("{name}/tool.sh"), b"#!/bin/sh\necho hi\n");
    fs::set_permissions(&exe, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(root.join("deep/a"), fs::Permissions::from_mode(0o750)).unwrap();
    let old = filetime::FileTime::from_unix_time(1_500_000_000, 0);
    filetime::set_file_mtime(root.join("empty.txt"), old).unwrap();
    filetime::set_file_mtime(root.join("deep/a/b"), old).unwrap();
    root
}

fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn openssl(args: &[&str], dir: &Path) {
    let out = StdCommand::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl CLI");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn whole_chain_round_trips_every_kind_of_entry() {
    let w = World::new();
    let (cer, pem) = w.new_cert("backup", Some("pfx-pass-123"));
    let plans = make_source(&w, "plans");
    let empty = w.path("empty-source");
    fs::create_dir_all(&empty).unwrap();
    w.configure(
        &cer,
        &[
            &format!("plans={}", plans.display()),
            &format!("nothing={}", empty.display()),
        ],
    );

    // configure stored what it was given, with the defaults, and no secret.
    let st = w.json(&["status"]);
    assert_eq!(st["backupFrequencyInHours"], 12);
    assert_eq!(st["backupRetentionPeriodInDays"], 7);
    assert_eq!(st["userName"], "CONTOSO\\backupshareuser");
    assert_eq!(st["isBackupSchedulerEnabled"], true);
    assert!(st["nextBackupTime"].is_string());
    assert!(st["availableCapacity"].as_u64().unwrap() > 0);
    assert!(!st.to_string().contains("share-secret"));
    // The thumbprint is the SHA-1 of the DER, as openssl shows it without colons.
    let fp = StdCommand::new("openssl")
        .args([
            "x509",
            "-inform",
            "der",
            "-noout",
            "-fingerprint",
            "-sha1",
            "-in",
        ])
        .arg(&cer)
        .output()
        .unwrap();
    let fp = String::from_utf8(fp.stdout).unwrap();
    let fp = fp.trim().rsplit('=').next().unwrap().replace(':', "");
    assert_eq!(st["encryptionCertThumbprint"], fp.as_str());

    let id = w.backup();
    let dir = w.path(&format!("backups/MASBackup/{id}"));
    assert!(dir.join("manifest.json").is_file());
    assert!(dir.join("plans.tar.zst.enc").is_file());
    assert!(dir.join("nothing.tar.zst.enc").is_file());

    let list = w.json(&["list"]);
    assert_eq!(list["backups"][0]["backupId"], id.as_str());
    assert_eq!(list["backups"][0]["status"], "Succeeded");
    let show = w.json(&["show", &id]);
    assert_eq!(show["backupId"], id.as_str());
    assert_eq!(show["encryptionCertThumbprint"], fp.as_str());
    assert!(show["timeTakenToCreate"]
        .as_str()
        .unwrap()
        .starts_with("PT"));
    let roles = show["roleStatus"].as_array().unwrap();
    assert_eq!(roles.len(), 2);
    assert!(roles.iter().all(|r| r["status"] == "Succeeded"));
    let st = w.json(&["status"]);
    assert_eq!(st["lastBackupStatus"], "Succeeded");
    assert!(st["lastBackupTime"].is_string());

    w.cmd().args(["verify", &id]).assert().success();
    w.cmd()
        .args(["verify", &id, "--key"])
        .arg(&pem)
        .assert()
        .success();
    // The .pfx works too, with its password from stdin.
    let pfx = w.path("certs/backup.contoso.com.pfx");
    w.cmd()
        .args(["verify", &id, "--key-password-stdin", "--key"])
        .arg(&pfx)
        .write_stdin("pfx-pass-123\n")
        .assert()
        .success();

    w.cmd()
        .args(["restore", &id, "--to", "restored", "--key"])
        .arg(&pem)
        .assert()
        .success();
    assert_same_tree(&plans, &w.path("restored/plans"));
    assert_same_tree(&empty, &w.path("restored/nothing"));

    // One source only, with the .pfx.
    w.cmd()
        .args(["restore", &id, "--to", "only", "--source", "plans"])
        .args(["--key-password-stdin", "--key"])
        .arg(&pfx)
        .write_stdin("pfx-pass-123\n")
        .assert()
        .success();
    assert_same_tree(&plans, &w.path("only/plans"));
    assert!(!w.path("only/nothing").exists());

    // A non-empty --to is refused, and nothing in it changes.
    let out = w
        .cmd()
        .args(["restore", &id, "--to", "only", "--key"])
        .arg(&pem)
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));
    assert_same_tree(&plans, &w.path("only/plans"));
}

#[test]
fn rejected_settings_name_the_field_and_range() {
    let w = World::new();
    let (cer, _) = w.new_cert("r", None);
    let src = w.write("src/a.txt", b"a");
    let src = src.parent().unwrap().to_path_buf();
    let base = |w: &World| {
        let mut c = w.cmd();
        c.args(["configure", "--path"])
            .arg(w.path("backups"))
            .args(["--username", "CONTOSO\\u", "--password-stdin"])
            .arg("--encryption-cert-path")
            .arg(&cer)
            .arg("--source")
            .arg(format!("s={}", src.display()))
            .write_stdin("pw\n");
        c
    };
    for (flag, value, range) in [
        ("--backup-frequency-in-hours", "3", "4..=12"),
        ("--frequency", "13", "4..=12"),
        ("--backup-retention-period-in-days", "1", "2..=14"),
        ("--retention", "15", "2..=14"),
    ] {
        let out = base(&w).args([flag, value]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(code(&out), 3, "{flag} {value}: {err}");
        assert!(err.contains(range), "{flag} {value}: {err}");
        assert!(err.contains("backup-"), "names the field: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(!w.config().exists(), "nothing written after {flag} {value}");
    }
    // A missing source directory.
    let out = base(&w)
        .args(["--source", "gone=/nonexistent/dir"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 3);
    assert!(String::from_utf8_lossy(&out.stderr).contains("gone"));
    // A bad username.
    let out = w
        .cmd()
        .args([
            "configure",
            "--username",
            "a b",
            "--password-stdin",
            "--path",
        ])
        .arg(w.path("backups"))
        .arg("--encryption-cert-path")
        .arg(&cer)
        .arg("--source")
        .arg(format!("s={}", src.display()))
        .write_stdin("pw\n")
        .output()
        .unwrap();
    assert_eq!(code(&out), 3);
    assert!(String::from_utf8_lossy(&out.stderr).contains("username"));
    assert!(!w.config().exists());

    // Now a good one; later changes keep what is not given.
    base(&w).args(["--frequency", "6"]).assert().success();
    w.cmd()
        .args(["configure", "--retention", "14", "--no-verify"])
        .assert()
        .success();
    let st = w.json(&["status", "--offline"]);
    assert_eq!(st["backupFrequencyInHours"], 6);
    assert_eq!(st["backupRetentionPeriodInDays"], 14);
    assert_eq!(st["userName"], "CONTOSO\\u");
    // A bad value later leaves the settings file as it was.
    let before = fs::read(w.config()).unwrap();
    let out = w
        .cmd()
        .args(["configure", "--frequency", "24", "--no-verify"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 3);
    assert_eq!(fs::read(w.config()).unwrap(), before);
    // Settings and secrets are private.
    for f in [
        "settings.toml",
        "settings.secrets.toml",
        "settings.state.json",
    ] {
        let mode = fs::metadata(w.path(f)).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    let secrets = fs::read_to_string(w.path("settings.secrets.toml")).unwrap();
    assert!(secrets.contains("pw"));
    assert!(!fs::read_to_string(w.config()).unwrap().contains("\"pw\""));
    // A settings file others can read is refused with advice.
    fs::set_permissions(w.config(), fs::Permissions::from_mode(0o644)).unwrap();
    let out = w.cmd().args(["status", "--offline"]).output().unwrap();
    assert_eq!(code(&out), 3);
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"));
}

#[test]
fn certificates_that_cannot_be_used_are_refused() {
    let w = World::new();
    let d = w.path("c");
    fs::create_dir_all(&d).unwrap();
    // A certificate together with its private key (PEM), and as PKCS#12.
    openssl(
        &[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "k.pem", "-out", "c.pem",
            "-subj", "/CN=x", "-days", "30",
        ],
        &d,
    );
    let both = [
        fs::read(d.join("k.pem")).unwrap(),
        fs::read(d.join("c.pem")).unwrap(),
    ]
    .concat();
    fs::write(d.join("with-key.cer"), both).unwrap();
    openssl(
        &[
            "pkcs12", "-export", "-in", "c.pem", "-inkey", "k.pem", "-out", "c.pfx", "-passout",
            "pass:x",
        ],
        &d,
    );
    // RSA 1024 and EC.
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:1024",
            "-nodes",
            "-keyout",
            "k1024.pem",
            "-out",
            "rsa1024.cer",
            "-outform",
            "der",
            "-subj",
            "/CN=x",
            "-days",
            "30",
        ],
        &d,
    );
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "kec.pem",
            "-out",
            "ec.cer",
            "-subj",
            "/CN=x",
            "-days",
            "30",
        ],
        &d,
    );
    fs::write(d.join("garbage.cer"), pattern(700, 9)).unwrap();
    let src = w.write("src/a.txt", b"a");
    for (file, expect) in [
        ("with-key.cer", "private key"),
        ("c.pfx", "private key"),
        ("rsa1024.cer", "2048"),
        ("ec.cer", "RSA"),
        ("garbage.cer", "certificate"),
    ] {
        let source = format!("s={}", src.parent().unwrap().display());
        let out = w
            .configure_cmd(&w.path("backups"), &d.join(file), &[&source])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(code(&out), 3, "{file}: {err}");
        assert!(err.contains(expect), "{file}: {err}");
        assert!(err.contains(file), "{file}: names the file: {err}");
        assert!(!w.config().exists());
    }
}

#[test]
fn mismatched_password_confirmation_is_refused_on_a_terminal() {
    if StdCommand::new("script").arg("--version").output().is_err() {
        panic!(
            "`script` (util-linux) is needed for the terminal tests; run the README test command"
        );
    }
    let w = World::new();
    let (cer, _) = w.new_cert("t", None);
    let src = w.write("src/a.txt", b"a");
    let exe = assert_cmd::cargo::cargo_bin("azs-backup");
    let cmdline = format!(
        "{} --config {} configure --path {} --username u --encryption-cert-path {} --source s={}",
        exe.display(),
        w.config().display(),
        w.path("backups").display(),
        cer.display(),
        src.parent().unwrap().display()
    );
    // Answers each prompt once it has appeared on the terminal (and echo is off).
    let run = |answers: [&str; 2]| {
        use std::io::{Read, Write};
        use std::sync::{Arc, Mutex};
        let mut child = StdCommand::new("script")
            .args(["-qec", &cmdline, "/dev/null"])
            .env_remove("AZS_BACKUP_PASSWORD")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let screen = Arc::new(Mutex::new(Vec::new()));
        let mut stdout = child.stdout.take().unwrap();
        let reader = {
            let screen = screen.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stdout.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    screen.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            })
        };
        let mut stdin = child.stdin.take().unwrap();
        for (prompt, answer) in ["Share password:", "Confirm Share password:"]
            .iter()
            .zip(answers)
        {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while !String::from_utf8_lossy(&screen.lock().unwrap()).contains(prompt) {
                assert!(
                    std::time::Instant::now() < deadline,
                    "no prompt {prompt:?}: {}",
                    String::from_utf8_lossy(&screen.lock().unwrap())
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            // The prompt is printed just before echo is switched off.
            std::thread::sleep(std::time::Duration::from_millis(100));
            stdin.write_all(format!("{answer}\n").as_bytes()).unwrap();
        }
        drop(stdin);
        let status = child.wait().unwrap();
        reader.join().unwrap();
        let text = String::from_utf8_lossy(&screen.lock().unwrap()).into_owned();
        (status.code().unwrap(), text)
    };
    let (rc, text) = run(["first-pass", "second-pass"]);
    assert_eq!(rc, 3, "{text}");
    assert!(text.contains("do not match"), "{text}");
    assert!(
        !text.contains("first-pass") && !text.contains("second-pass"),
        "echoed: {text}"
    );
    assert!(!w.config().exists());
    let (rc, text) = run(["same-pass", "same-pass"]);
    assert_eq!(rc, 0, "{text}");
    assert!(!text.contains("same-pass"), "echoed: {text}");
    let secrets = fs::read_to_string(w.path("settings.secrets.toml")).unwrap();
    assert!(secrets.contains("same-pass"));
}

#[test]
fn compression_level_is_validated_stored_shown_and_recorded() {
    let w = World::new();
    let (cer, pem) = w.new_cert("level", None);
    // Log-like text (words and numbers drawn from a small set), so that the level shows in
    // the archive size. (Lines that differ only in a counter are no test: on those, zstd 1.5.7
    // at level 19 makes 1 MiB frames larger than level 1 does.)
    let words = [
        "backup",
        "share",
        "request",
        "completed",
        "failed",
        "retry",
        "volume",
    ];
    let mut x = 1u64;
    let text: Vec<u8> = (0..100_000u32)
        .flat_map(|i| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let (a, b) = (words[(x >> 33) as usize % 7], words[(x >> 45) as usize % 7]);
            format!("line {i} of a log: {a} {b}, value {}\n", (x >> 20) % 997).into_bytes()
        })
        .collect();
    w.write("src/app.log", &text);
    w.configure(&cer, &["logs=src"]);
    let st = w.json(&["status", "--offline"]);
    assert_eq!(st["compressionLevel"], 1, "the default: {st}");
    let id3 = w.backup();
    let show = w.json(&["show", &id3]);
    assert_eq!(show["compressionLevel"], 1, "{show}");

    // Out of range: one line naming the field and the range, exit 3, nothing changed.
    let before = fs::read(w.config()).unwrap();
    for bad in ["0", "20", "-1", "2147483647"] {
        let out = w
            .cmd()
            .args(["configure", "--no-verify", "--compression-level", bad])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(code(&out), 3, "{bad}: {err}");
        assert!(err.contains("compression-level"), "names the field: {err}");
        assert!(err.contains("1..=19"), "names the range: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert_eq!(fs::read(w.config()).unwrap(), before, "{bad}");
    }
    // Not a number: a usage error (exit 2) naming the option.
    let out = w
        .cmd()
        .args(["configure", "--compression-level", "fast"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--compression-level"));

    let doc = w.json(&["configure", "--no-verify", "--compression-level", "19"]);
    assert_eq!(doc["changed"][0], "compressionLevel", "{doc}");
    assert_eq!(doc["compressionLevel"], 19, "{doc}");
    assert!(fs::read_to_string(w.config())
        .unwrap()
        .contains("compression_level = 19"));
    let st = w.json(&["status", "--offline"]);
    assert_eq!(st["compressionLevel"], 19);
    let human = w.cmd().args(["status", "--offline"]).output().unwrap();
    assert!(String::from_utf8_lossy(&human.stdout).contains("compressionLevel"));
    let id19 = w.backup();
    let show = w.json(&["show", &id19]);
    assert_eq!(show["compressionLevel"], 19, "{show}");
    let size = |v: &serde_json::Value| v["roleStatus"][0]["encryptedSizeInBytes"].as_u64().unwrap();
    assert!(
        size(&show) < size(&w.json(&["show", &id3])),
        "level 19 is smaller than level 1"
    );
    w.cmd()
        .args(["restore", &id19, "--to", "restored", "--key"])
        .arg(&pem)
        .assert()
        .success();
    assert_eq!(fs::read(w.path("restored/logs/app.log")).unwrap(), text);

    // A manifest of an earlier version (no compressionLevel) still reads.
    let mpath = w.path(&format!("backups/MASBackup/{id3}/manifest.json"));
    let mut m: serde_json::Value = serde_json::from_slice(&fs::read(&mpath).unwrap()).unwrap();
    m.as_object_mut().unwrap().remove("compressionLevel");
    fs::write(&mpath, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    let show = w.json(&["show", &id3]);
    assert!(show.get("compressionLevel").is_none(), "{show}");
    w.cmd()
        .args(["verify", &id3, "--key"])
        .arg(&pem)
        .assert()
        .success();
    // A manifest with a level no zstd has is refused like any other bad field.
    m["compressionLevel"] = 1000.into();
    fs::write(&mpath, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    let out = w.cmd().args(["show", &id3]).output().unwrap();
    assert_ne!(code(&out), 0);
    assert!(String::from_utf8_lossy(&out.stderr).contains("compressionLevel"));
}

/// Rewrites the manifest's size and SHA-256 for a tampered archive, so that only the
/// cryptographic checks can notice.
fn refresh_manifest(dir: &Path, file: &str) {
    use sha2::Digest;
    let data = fs::read(dir.join(file)).unwrap();
    let mpath = dir.join("manifest.json");
    let mut m: serde_json::Value = serde_json::from_slice(&fs::read(&mpath).unwrap()).unwrap();
    for r in m["roleStatus"].as_array_mut().unwrap() {
        if r["fileName"] == file {
            r["sha256"] = hex::encode(sha2::Sha256::digest(&data)).into();
            r["encryptedSizeInBytes"] = (data.len() as u64).into();
        }
    }
    fs::write(&mpath, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
}

#[test]
fn tampering_is_caught_by_verify_with_the_key() {
    let w = World::new();
    let (cer, pem) = w.new_cert("tamper", None);
    w.write("src/data.bin", &pattern(300 * 1024, 5));
    w.configure(&cer, &[&format!("s={}", w.path("src").display())]);
    let id = w.backup();
    let dir = w.path(&format!("backups/MASBackup/{id}"));
    let file = "s.tar.zst.enc";
    let pristine = fs::read(dir.join(file)).unwrap();
    let pristine_manifest = fs::read(dir.join("manifest.json")).unwrap();
    let header_len = {
        let (_, raw) =
            azs_backup::crypto::Header::read_from(&mut &pristine[..]).expect("header parses");
        raw.len()
    };
    let chunk = 64 * 1024 + 16;
    assert!(
        pristine.len() > header_len + 3 * chunk,
        "need several chunks"
    );
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut flipped = pristine.clone();
    flipped[header_len + chunk + 100] ^= 0x01;
    cases.push(("flipped byte", flipped));
    cases.push((
        "truncated at a chunk boundary",
        pristine[..header_len + 2 * chunk].to_vec(),
    ));
    let mut swapped = pristine.clone();
    swapped[header_len..header_len + chunk]
        .copy_from_slice(&pristine[header_len + chunk..header_len + 2 * chunk]);
    swapped[header_len + chunk..header_len + 2 * chunk]
        .copy_from_slice(&pristine[header_len..header_len + chunk]);
    cases.push(("swapped chunks", swapped));
    let mut header = pristine.clone();
    header[header_len - 3] ^= 0x40; // inside the nonce prefix, an authenticated header field
    cases.push(("header edit", header));
    for (what, bytes) in cases {
        fs::write(dir.join(file), &bytes).unwrap();
        // Without refreshing the manifest, the checksum alone catches it.
        let out = w.cmd().args(["verify", &id]).output().unwrap();
        assert_eq!(code(&out), 7, "{what} (no key)");
        refresh_manifest(&dir, file);
        w.cmd().args(["verify", &id]).assert().success();
        let out = w
            .cmd()
            .args(["verify", &id, "--key"])
            .arg(&pem)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(code(&out), 7, "{what}: {err}");
        assert!(err.contains("verification failed"), "{what}: {err}");
        // Restore writes nothing of a source that does not authenticate.
        let to = w.path(&format!("r-{}", what.replace(' ', "-")));
        let out = w
            .cmd()
            .args(["restore", &id, "--to"])
            .arg(&to)
            .arg("--key")
            .arg(&pem)
            .output()
            .unwrap();
        assert_eq!(code(&out), 7, "{what} restore");
        assert_eq!(
            fs::read_dir(&to).unwrap().count(),
            0,
            "{what}: restore left files behind"
        );
        fs::write(dir.join(file), &pristine).unwrap();
        fs::write(dir.join("manifest.json"), &pristine_manifest).unwrap();
    }
    w.cmd()
        .args(["verify", &id, "--key"])
        .arg(&pem)
        .assert()
        .success();
}

#[test]
fn a_few_hundred_mib_round_trip() {
    let w = World::new();
    let (cer, pem) = w.new_cert("big", None);
    // 256 MiB: half incompressible, half repetitive, in files of a few sizes.
    let mut block = pattern(8 << 20, 77);
    for i in 0..16 {
        w.write(&format!("big/random-{i:02}.bin"), &block);
        block.rotate_left(4097);
    }
    let text: Vec<u8> = b"azure stack hub infrastructure backup line\n"
        .iter()
        .copied()
        .cycle()
        .take(128 << 20)
        .collect();
    w.write("big/text.log", &text);
    w.configure(&cer, &[&format!("big={}", w.path("big").display())]);
    let id = w.backup();
    let show = w.json(&["show", &id]);
    let plain = show["plainSizeInBytes"].as_u64().unwrap();
    assert_eq!(plain, 256 << 20);
    assert!(show["backupDataSizeInBytes"].as_u64().unwrap() < plain);
    w.cmd()
        .args(["restore", &id, "--to", "out", "--key"])
        .arg(&pem)
        .assert()
        .success();
    assert_same_tree(&w.path("big"), &w.path("out/big"));
}

#[test]
fn errors_have_their_exit_codes_and_json() {
    let w = World::new();
    // Not configured.
    let out = w.cmd().args(["status", "--json"]).output().unwrap();
    assert_eq!(code(&out), 3);
    assert!(out.stdout.is_empty());
    let err: serde_json::Value = serde_json::from_slice(&out.stderr).expect("JSON error");
    assert_eq!(err["error"]["code"], 3);
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not configured"));
    // Usage errors.
    let out = bin().args(["frobnicate"]).output().unwrap();
    assert_eq!(code(&out), 2);
    // An unknown backup id.
    let (cer, _) = w.new_cert("e", None);
    w.write("src/a.txt", b"a");
    w.configure(&cer, &[&format!("s={}", w.path("src").display())]);
    let out = w
        .cmd()
        .args(["show", "00000000-0000-4000-8000-000000000000"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 9);
    let out = w.cmd().args(["show", "../../etc"]).output().unwrap();
    assert_eq!(code(&out), 9);
    // Restore without a key.
    let id = w.backup();
    let out = w
        .cmd()
        .args(["restore", &id, "--to", "x"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--key"));
    // A source that vanished: the backup is partial, exit 6, and not listed as Succeeded.
    w.write("src2/b.txt", b"b");
    w.cmd()
        .args(["configure", "--no-verify", "--source"])
        .arg(format!("t={}", w.path("src2").display()))
        .assert()
        .success();
    fs::remove_dir_all(w.path("src2")).unwrap();
    let out = w.cmd().args(["start-backup", "--json"]).output().unwrap();
    assert_eq!(code(&out), 6, "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["status"], "PartialSucceeded");
    let list = w.json(&["list"]);
    assert_eq!(list["backups"][0]["status"], "PartialSucceeded");
    let st = w.json(&["status", "--offline"]);
    assert_eq!(st["lastBackupStatus"], "PartialSucceeded");
    // The password never shows.
    for args in [vec!["status"], vec!["list"], vec!["show", &id]] {
        let out = w.cmd().args(&args).output().unwrap();
        assert!(!String::from_utf8_lossy(&out.stdout).contains("share-secret"));
        assert!(!String::from_utf8_lossy(&out.stderr).contains("share-secret"));
    }
}

#[test]
fn new_encryption_key_and_new_cert_outputs() {
    let a = bin().arg("new-encryption-key").output().unwrap();
    let b = bin().arg("new-encryption-key").output().unwrap();
    let (a, b) = (
        String::from_utf8(a.stdout).unwrap(),
        String::from_utf8(b.stdout).unwrap(),
    );
    assert_eq!(a.trim().len(), 88);
    assert_ne!(a, b);
    let w = World::new();
    let (cer, pem) = w.new_cert("files", Some("pw1"));
    assert_eq!(fs::metadata(&pem).unwrap().mode() & 0o777, 0o600);
    let pfx = w.path("certs/files.contoso.com.pfx");
    assert_eq!(fs::metadata(&pfx).unwrap().mode() & 0o777, 0o600);
    // The .cer holds only a public key and is DER.
    let der = fs::read(&cer).unwrap();
    assert_eq!(der[0], 0x30);
    // Existing files are never overwritten.
    let out = bin()
        .args([
            "new-cert",
            "--dns-name",
            "files.contoso.com",
            "--no-pfx",
            "--out-dir",
        ])
        .arg(w.path("certs"))
        .output()
        .unwrap();
    assert_ne!(code(&out), 0);
    assert_eq!(fs::read(&cer).unwrap(), der);
}
