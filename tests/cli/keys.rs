//! Keys and the settings' lifetime through the real binary: `rotate-cert`, wrong-key messages of
//! `restore`/`verify`, `new-encryption-key`, a first-time `configure --encryption-key`, `clear`,
//! and the `--help` of the new subcommands.

use crate::common;

use base64::Engine;
use common::{bin, code, World};
use std::path::Path;

/// A world with one source (`identity`) holding two files.
fn world() -> World {
    let w = World::new();
    w.write("src/identity/a.txt", b"alpha\n");
    w.write("src/identity/sub/b.txt", b"bravo\n");
    w
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn restore(w: &World, id: &str, key: &Path, to: &str) -> std::process::Output {
    w.cmd()
        .args(["restore", id, "--key"])
        .arg(key)
        .arg("--to")
        .arg(w.path(to))
        .output()
        .unwrap()
}

fn verify(w: &World, id: &str, key: &Path) -> std::process::Output {
    w.cmd()
        .args(["verify", id, "--key"])
        .arg(key)
        .output()
        .unwrap()
}

#[test]
fn rotation_keeps_old_backups_on_their_certificate() {
    let w = world();
    let (cer1, pem1) = w.new_cert("one", None);
    let (cer2, pem2) = w.new_cert("two", None);
    w.configure(&cer1, &["identity=src/identity"]);
    let tp1 = w.json(&["status", "--offline"])["encryptionCertThumbprint"]
        .as_str()
        .unwrap()
        .to_string();
    let a = w.backup();

    // Rotate, human output: both thumbprints and the reminder.
    let out = w
        .cmd()
        .args(["rotate-cert", "--encryption-cert-path"])
        .arg(&cer2)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let tp2 = w.json(&["status", "--offline"])["encryptionCertThumbprint"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(tp1, tp2);
    assert!(stdout.contains(&tp2), "{stdout}");
    assert!(stdout.contains(&tp1), "{stdout}");
    let err = stderr(&out);
    assert!(
        err.contains("keep") && err.contains(&tp1) && err.contains("pruned"),
        "{err}"
    );
    assert!(err.contains("1 backup(s) on the target need it"), "{err}");

    // Rotating again to the same certificate (alias --cert, --json) changes nothing.
    let v = w.json(&["rotate-cert", "--cert", cer2.to_str().unwrap()]);
    assert_eq!(v["changed"], false);
    assert_eq!(v["encryptionCertThumbprint"], tp2.as_str());
    assert_eq!(v["previousEncryptionCertThumbprint"], tp2.as_str());

    // The rotation is in the state's recipient history.
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(w.path("settings.state.json")).unwrap()).unwrap();
    let history: Vec<&str> = state["recipientHistory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(history, vec![tp1.as_str(), tp2.as_str()]);

    let b = w.backup();
    let list = w.json(&["list"]);
    let thumb_of = |id: &str| {
        list["backups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["backupId"] == id)
            .unwrap()["encryptionCertThumbprint"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(thumb_of(&a), tp1);
    assert_eq!(thumb_of(&b), tp2);
    // The human list names the thumbprint each backup needs.
    let out = w.cmd().arg("list").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("encryptedFor") && text.contains(&tp1) && text.contains(&tp2));

    // Each backup restores only with its own key.
    let ok = restore(&w, &a, &pem1, "ra");
    assert_eq!(code(&ok), 0, "{}", stderr(&ok));
    assert_eq!(
        std::fs::read(w.path("ra/identity/sub/b.txt")).unwrap(),
        b"bravo\n"
    );
    let ok = restore(&w, &b, &pem2, "rb");
    assert_eq!(code(&ok), 0, "{}", stderr(&ok));
    for (id, key, needed, given) in [(&a, &pem2, &tp1, &tp2), (&b, &pem1, &tp2, &tp1)] {
        let expected = format!(
            "backup {id} was encrypted for certificate {needed}; the key given is for certificate {given}"
        );
        let out = restore(&w, id, key, "wrong");
        assert_eq!(code(&out), 8, "{}", stderr(&out));
        assert!(stderr(&out).contains(&expected), "{}", stderr(&out));
        assert!(!w.path("wrong/identity").exists());
        let out = verify(&w, id, key);
        assert_eq!(code(&out), 8, "{}", stderr(&out));
        assert!(stderr(&out).contains(&expected), "{}", stderr(&out));
    }
    assert_eq!(code(&verify(&w, &a, &pem1)), 0);
    assert_eq!(code(&verify(&w, &b, &pem2)), 0);

    // A .pem without its certificate: key 2 matches the configured certificate, so its
    // thumbprint is known; key 1 does not, and the unwrap failure names the certificate needed.
    let bare2 = w.bare_key(&pem2, "bare2.pem");
    let out = restore(&w, &a, &bare2, "wrong");
    assert_eq!(code(&out), 8);
    assert!(
        stderr(&out).contains(&format!(
            "backup {a} was encrypted for certificate {tp1}; the key given is for certificate {tp2}"
        )),
        "{}",
        stderr(&out)
    );
    let bare1 = w.bare_key(&pem1, "bare1.pem");
    for out in [restore(&w, &b, &bare1, "wrong"), verify(&w, &b, &bare1)] {
        assert_eq!(code(&out), 8, "{}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!(
                "backup {b} was encrypted for certificate {tp2}; the key given does not match it"
            )),
            "{}",
            stderr(&out)
        );
    }
    assert!(
        !w.path("wrong").exists(),
        "a restore that failed on the key created its destination"
    );
    // ... and still decrypts its own backup.
    let ok = restore(&w, &a, &bare1, "ra1");
    assert_eq!(code(&ok), 0, "{}", stderr(&ok));
}

#[test]
fn rotate_cert_applies_the_configure_checks() {
    let w = world();
    let (cer1, pem1) = w.new_cert("one", Some("pfx-pass"));
    w.configure(&cer1, &["identity=src/identity"]);
    // A file with a private key is refused with advice, exit 3; nothing changes.
    for bad in [pem1.clone(), w.path("certs/one.contoso.com.pfx")] {
        let out = w
            .cmd()
            .args(["rotate-cert", "--cert"])
            .arg(&bad)
            .output()
            .unwrap();
        assert_eq!(code(&out), 3, "{}", stderr(&out));
        assert!(stderr(&out).contains("private key"), "{}", stderr(&out));
    }
    let missing = w.cmd().args(["rotate-cert"]).output().unwrap();
    assert_eq!(code(&missing), 2);
    // Not configured: exit 3.
    let other = World::new();
    let out = other
        .cmd()
        .args(["rotate-cert", "--cert"])
        .arg(&cer1)
        .output()
        .unwrap();
    assert_eq!(code(&out), 3);
    assert!(stderr(&out).contains("not configured"), "{}", stderr(&out));
}

#[test]
fn new_encryption_key_has_the_cmdlet_shape() {
    let run = || {
        let out = bin().arg("new-encryption-key").output().unwrap();
        assert_eq!(code(&out), 0);
        String::from_utf8(out.stdout)
            .unwrap()
            .trim_end()
            .to_string()
    };
    let (k1, k2) = (run(), run());
    assert_ne!(k1, k2);
    for k in [&k1, &k2] {
        assert_eq!(k.len(), 88, "{k}");
        let bytes = base64::engine::general_purpose::STANDARD.decode(k).unwrap();
        assert_eq!(bytes.len(), 64);
        assert!(bytes.iter().all(|b| b.is_ascii_alphabetic()), "{bytes:?}");
    }
    let v: serde_json::Value = serde_json::from_slice(
        &bin()
            .args(["new-encryption-key", "--json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(v["encryptionKey"].as_str().unwrap().len(), 88);
}

#[test]
fn first_time_configure_with_a_key_is_refused() {
    let w = world();
    let key = String::from_utf8(bin().arg("new-encryption-key").output().unwrap().stdout).unwrap();
    let out = w
        .cmd()
        .args(["configure", "--path"])
        .arg(w.path("backups"))
        .args([
            "--username",
            "CONTOSO\\backupshareuser",
            "--encryption-key",
            key.trim(),
            "--source",
            "identity=src/identity",
        ])
        .env("AZS_BACKUP_PASSWORD", "share-secret")
        .output()
        .unwrap();
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("certificate") && err.contains("--encryption-cert-path"),
        "{err}"
    );
    assert!(!w.config().exists());
    assert!(!w.path("settings.secrets.toml").exists());
    // Same through stdin.
    let out = w
        .cmd()
        .args(["configure", "--path"])
        .arg(w.path("backups"))
        .args([
            "--username",
            "user",
            "--encryption-key-stdin",
            "--source",
            "identity=src/identity",
        ])
        .env("AZS_BACKUP_PASSWORD", "share-secret")
        .write_stdin(key)
        .output()
        .unwrap();
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(!w.config().exists());
}

#[test]
fn clear_removes_the_local_files_and_never_the_target() {
    let w = world();
    let (cer, _) = w.new_cert("one", None);
    w.configure(&cer, &["identity=src/identity"]);
    let id = w.backup();
    let lock = w.write("settings.lock", b"");
    let files = [
        w.config(),
        w.path("settings.secrets.toml"),
        w.path("settings.state.json"),
        lock,
    ];
    for f in &files {
        assert!(f.exists(), "{}", f.display());
    }

    // Without a terminal and without --yes: refused, nothing removed.
    let out = w.cmd().arg("clear").output().unwrap();
    assert_eq!(code(&out), 10, "{}", stderr(&out));
    assert!(stderr(&out).contains("--yes"), "{}", stderr(&out));
    for f in &files {
        assert!(f.exists(), "{}", f.display());
    }

    let v = w.json(&["clear", "--yes"]);
    let removed: Vec<&str> = v["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    for f in &files {
        assert!(!f.exists(), "{}", f.display());
        assert!(
            removed.contains(&f.to_str().unwrap()),
            "{removed:?} lacks {}",
            f.display()
        );
    }
    // The state's own lock file goes too: nothing of the settings is left.
    let left: Vec<_> = std::fs::read_dir(w.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("settings"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // The backup is still on the target, and readable without settings.
    assert!(w
        .path(&format!("backups/MASBackup/{id}/manifest.json"))
        .exists());
    let out = bin()
        .args(["list", "--json", "--from"])
        .arg(w.path("backups"))
        .output()
        .unwrap();
    assert_eq!(code(&out), 0);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["backups"][0]["backupId"], id.as_str());

    // Every command that needs settings now says "not configured", exit 3.
    for args in [
        vec!["status"],
        vec!["start-backup"],
        vec!["list"],
        vec!["clear", "--yes"],
    ] {
        let out = w.cmd().args(&args).output().unwrap();
        assert_eq!(code(&out), 3, "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("not configured"), "{}", stderr(&out));
    }
}

#[test]
fn help_of_the_new_subcommands_names_what_they_mirror() {
    for (sub, mirrors) in [
        ("rotate-cert", "Set-AzsBackupConfiguration"),
        ("clear", "Clear-AzsBackupConfiguration"),
        ("unprotect", "Unprotect-AzsBackup"),
        ("new-encryption-key", "New-AzsEncryptionKeyBase64"),
    ] {
        let out = bin().args([sub, "--help"]).output().unwrap();
        assert_eq!(code(&out), 0);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(mirrors), "{sub}: {text}");
        assert!(
            text.contains("Example:") && text.contains(&format!("azs-backup {sub}")),
            "{sub}: {text}"
        );
    }
}

#[test]
fn clear_waits_for_a_running_backup() {
    use fs4::fs_std::FileExt;
    let w = world();
    let (cer, _) = w.new_cert("one", None);
    w.configure(&cer, &["identity=src/identity"]);
    // Hold the run lock as a running backup does.
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(w.path("settings.lock"))
        .unwrap();
    assert!(FileExt::try_lock_exclusive(&lock).unwrap());
    let out = w.cmd().args(["clear", "--yes"]).output().unwrap();
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert!(w.config().exists() && w.path("settings.secrets.toml").exists());
    FileExt::unlock(&lock).unwrap();
    drop(lock);
    let out = w.cmd().args(["clear", "--yes"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!w.config().exists());
}
