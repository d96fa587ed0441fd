//! Backward-compatibility mode (docs/SETTINGS.md) through the real binary: a hand-written
//! `version = 1` settings file with an encryption key keeps working, starts with automatic
//! backups off, migrates on the next write, accepts a new key, switches one way to a
//! certificate, and every backup still restores with the key it was made with.

use crate::common;

use common::{bin, code, World};
use std::path::Path;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn new_key() -> String {
    let out = bin().arg("new-encryption-key").output().unwrap();
    assert_eq!(code(&out), 0);
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[cfg(unix)]
fn chmod(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}
#[cfg(not(unix))]
fn chmod(_p: &Path, _mode: u32) {}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Writes the settings exactly in the shape docs/SETTINGS.md shows for `version = 1`.
fn write_v1(w: &World, key: &str) {
    let text = format!(
        r#"version = 1
path = '{}'   # or a local directory
username = 'CONTOSO\backupshareuser'
password = 'the share password'
encryption_key = '{key}'

[[sources]]
name = "identity"
path = "{}"
"#,
        w.path("backups").display(),
        w.path("src/identity").display()
    );
    std::fs::create_dir_all(w.path("backups")).unwrap();
    std::fs::write(w.config(), text).unwrap();
    chmod(&w.config(), 0o600);
}

fn restore_with_key(w: &World, id: &str, key: &str, to: &str) -> std::process::Output {
    w.cmd()
        .args(["restore", id, "--encryption-key-stdin", "--to"])
        .arg(w.path(to))
        .write_stdin(format!("{key}\n"))
        .output()
        .unwrap()
}

fn restore_auto(w: &World, id: &str, to: &str) -> std::process::Output {
    w.cmd()
        .args(["restore", id, "--to"])
        .arg(w.path(to))
        .output()
        .unwrap()
}

fn assert_restored(w: &World, out: &std::process::Output, to: &str, expected: &[u8]) {
    assert_eq!(code(out), 0, "{}", stderr(out));
    assert_eq!(
        std::fs::read(w.path(&format!("{to}/identity/data.txt"))).unwrap(),
        expected
    );
}

fn auto_is_off(w: &World) {
    let v = w.json(&["status", "--offline"]);
    assert_eq!(v["isBackupSchedulerEnabled"], false, "{v}");
}

#[test]
fn version_1_settings_keep_working_and_switch_one_way_to_a_certificate() {
    let w = World::new();
    w.write("src/identity/data.txt", b"made with key 1\n");
    let k1 = new_key();
    write_v1(&w, &k1);

    // Read as is: key mode, automatic backups off, flagged as an older version.
    let v = w.json(&["status", "--offline"]);
    assert_eq!(v["encryptionMode"], "key");
    assert_eq!(v["isBackupSchedulerEnabled"], false);
    assert!(v["encryptionKeyId"].as_str().unwrap().starts_with("key:"));
    let kid1 = v["encryptionKeyId"].as_str().unwrap().to_string();
    assert!(
        v["health"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["code"] == "settingsFromOlderVersion"),
        "{v}"
    );
    let human = w.cmd().arg("status").arg("--offline").output().unwrap();
    assert!(
        String::from_utf8_lossy(&human.stdout).contains("backward-compatibility mode"),
        "{}",
        String::from_utf8_lossy(&human.stdout)
    );

    // Backup A is encrypted with the key.
    let a = w.backup();
    let m = w.json(&["show", &a]);
    assert_eq!(m["encryptionKeyId"], kid1.as_str());
    auto_is_off(&w);
    // Reading never rewrote the file.
    assert!(std::fs::read_to_string(w.config())
        .unwrap()
        .starts_with("version = 1"));

    // Restore with the key from stdin, and automatically with the stored key.
    assert_restored(
        &w,
        &restore_with_key(&w, &a, &k1, "a1"),
        "a1",
        b"made with key 1\n",
    );
    assert_restored(&w, &restore_auto(&w, &a, "a2"), "a2", b"made with key 1\n");
    assert_eq!(
        code(
            &w.cmd()
                .args(["verify", &a, "--encryption-key-stdin"])
                .write_stdin(format!("{k1}\n"))
                .output()
                .unwrap()
        ),
        0
    );
    // A wrong key: exit 8, and the message names both keys.
    let k_wrong = new_key();
    let out = restore_with_key(&w, &a, &k_wrong, "bad");
    assert_eq!(code(&out), 8, "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "backup {a} was encrypted for encryption key {kid1}"
        )),
        "{}",
        stderr(&out)
    );

    // Replace the key (stdin): the file migrates to version 2, the key goes to the 0600 secrets.
    let k2 = new_key();
    let out = w
        .cmd()
        .args(["configure", "--encryption-key-stdin", "--no-verify"])
        .write_stdin(format!("{k2}\n"))
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("migrated"), "{}", stderr(&out));
    let settings = std::fs::read_to_string(w.config()).unwrap();
    assert!(settings.contains("version = 2"), "{settings}");
    assert!(!settings.contains("the share password"), "{settings}");
    assert!(!settings.contains(&k1) && !settings.contains(&k2));
    let secrets_path = w.path("settings.secrets.toml");
    let secrets = std::fs::read_to_string(&secrets_path).unwrap();
    assert!(
        secrets.contains(&k2) && secrets.contains(&k1) && secrets.contains("the share password")
    );
    #[cfg(unix)]
    {
        assert_eq!(mode(&w.config()), 0o600);
        assert_eq!(mode(&secrets_path), 0o600);
    }
    auto_is_off(&w);
    let kid2 = w.json(&["status", "--offline"])["encryptionKeyId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(kid1, kid2);

    // Backup B with key 2; A still restores automatically from the retired key 1.
    w.write("src/identity/data.txt", b"made with key 2\n");
    let b = w.backup();
    assert_eq!(w.json(&["show", &b])["encryptionKeyId"], kid2.as_str());
    assert_restored(&w, &restore_auto(&w, &b, "b1"), "b1", b"made with key 2\n");
    assert_restored(&w, &restore_auto(&w, &a, "a3"), "a3", b"made with key 1\n");
    // `verify` uses the stored key too (and then decrypts every chunk).
    let v = w.json(&["verify", &a]);
    assert_eq!(v["withKey"], true, "{v}");

    // Key replacement with --encryption-key works too (back and forth is allowed among keys).
    let k3 = new_key();
    let out = w
        .cmd()
        .args(["configure", "--encryption-key", &k3, "--no-verify"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    // Switch to a certificate: one-way.
    let (cer, pem) = w.new_cert("backup", None);
    let out = w
        .cmd()
        .args(["configure", "--encryption-cert-path"])
        .arg(&cer)
        .arg("--no-verify")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("one-way"), "{}", stderr(&out));
    let v = w.json(&["status", "--offline"]);
    assert_eq!(v["encryptionMode"], "certificate");
    assert!(v["encryptionKeyId"].is_null());
    assert_eq!(v["isBackupSchedulerEnabled"], false);
    let k4 = new_key();
    for args in [
        vec!["configure", "--encryption-key", k4.as_str(), "--no-verify"],
        vec!["configure", "--encryption-key", k1.as_str(), "--no-verify"],
    ] {
        let out = w.cmd().args(&args).output().unwrap();
        assert_eq!(code(&out), 3, "{}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("certificate") && err.contains("one-way") && err.contains("not allowed"),
            "{err}"
        );
    }
    assert_eq!(
        w.json(&["status", "--offline"])["encryptionMode"],
        "certificate"
    );

    // Backup C with the certificate; A and B still restore with their keys (stdin and stored).
    w.write("src/identity/data.txt", b"made with the certificate\n");
    let c = w.backup();
    let out = w.restore_cmd(&c, &pem, &w.path("c1")).output().unwrap();
    assert_restored(&w, &out, "c1", b"made with the certificate\n");
    assert_restored(
        &w,
        &restore_with_key(&w, &a, &k1, "a4"),
        "a4",
        b"made with key 1\n",
    );
    assert_restored(&w, &restore_auto(&w, &a, "a5"), "a5", b"made with key 1\n");
    assert_restored(
        &w,
        &restore_with_key(&w, &b, &k2, "b2"),
        "b2",
        b"made with key 2\n",
    );
    assert_restored(&w, &restore_auto(&w, &b, "b3"), "b3", b"made with key 2\n");
    // C needs the certificate's key: the stored legacy keys do not apply.
    let out = restore_auto(&w, &c, "c2");
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    auto_is_off(&w);
}

#[test]
fn version_1_settings_must_be_private() {
    let w = World::new();
    w.write("src/identity/data.txt", b"x\n");
    write_v1(&w, &new_key());
    chmod(&w.config(), 0o644);
    if cfg!(unix) {
        let out = w.cmd().args(["status", "--offline"]).output().unwrap();
        assert_eq!(code(&out), 3, "{}", stderr(&out));
        assert!(stderr(&out).contains("chmod 600"), "{}", stderr(&out));
    }
}

#[test]
fn version_1_settings_are_migrated_by_rotate_cert_too() {
    let w = World::new();
    w.write("src/identity/data.txt", b"made with key 1\n");
    let k1 = new_key();
    write_v1(&w, &k1);
    let a = w.backup();
    let (cer, _) = w.new_cert("backup", None);
    let v = w.json(&["rotate-cert", "--cert", cer.to_str().unwrap()]);
    assert_eq!(v["changed"], true);
    assert!(v["previousEncryptionKeyId"]
        .as_str()
        .unwrap()
        .starts_with("key:"));
    assert!(std::fs::read_to_string(w.config())
        .unwrap()
        .contains("version = 2"));
    auto_is_off(&w);
    assert_restored(&w, &restore_auto(&w, &a, "a1"), "a1", b"made with key 1\n");
    let out = w
        .cmd()
        .args(["configure", "--encryption-key", &new_key(), "--no-verify"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 3);
}
