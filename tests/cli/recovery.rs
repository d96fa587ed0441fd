//! Recovery certificates through the real binary: `configure --recovery-cert-path` /
//! `--remove-recovery-cert`, version-2 archives any one of whose keys restores, what `status`,
//! `list`, `show`, `restore` and `verify` say, and the refusals (docs/SETTINGS.md,
//! docs/FORMAT.md §2.3).

use crate::common;

use common::{code, World};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A world with one source, configured for `main`, with the certificates `main` and `escrow`
/// made; returns it with (main cer, main pem, escrow cer, escrow pem).
fn world() -> (World, PathBuf, PathBuf, PathBuf, PathBuf) {
    let w = World::new();
    w.write("src/identity/a.txt", b"alpha\n");
    w.write("src/identity/sub/b.txt", &vec![7u8; 200_000]);
    let (main_cer, main_pem) = w.new_cert("main", None);
    let (escrow_cer, escrow_pem) = w.new_cert("escrow", None);
    w.configure(&main_cer, &["identity=src/identity"]);
    (w, main_cer, main_pem, escrow_cer, escrow_pem)
}

fn thumbprint(cer: &Path) -> String {
    // The SHA-1 of the certificate's DER, upper-case hex, as Windows and `status` show it.
    let bytes = std::fs::read(cer).unwrap();
    let der = if bytes.starts_with(b"-----BEGIN CERTIFICATE-----") {
        let b64: String = String::from_utf8(bytes)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<Vec<_>>()
            .concat();
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).unwrap()
    } else {
        bytes
    };
    let digest = std::process::Command::new("openssl")
        .args(["dgst", "-sha1", "-r"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(&der)?;
            c.wait_with_output()
        })
        .expect("openssl dgst");
    String::from_utf8_lossy(&digest.stdout)[..40].to_ascii_uppercase()
}

fn add_recovery(w: &World, cer: &Path) -> Output {
    w.cmd()
        .args(["configure", "--no-verify", "--recovery-cert-path"])
        .arg(cer)
        .output()
        .unwrap()
}

fn restore_json(w: &World, id: &str, key: &Path, to: &str) -> Output {
    w.cmd()
        .args(["restore", id, "--json", "--key"])
        .arg(key)
        .arg("--to")
        .arg(w.path(to))
        .output()
        .unwrap()
}

fn archive(w: &World, id: &str) -> Vec<u8> {
    std::fs::read(w.path(&format!("backups/MASBackup/{id}/identity.tar.zst.enc"))).unwrap()
}

fn same_tree(w: &World, restored: &str) {
    assert_eq!(
        std::fs::read(w.path(&format!("{restored}/identity/a.txt"))).unwrap(),
        b"alpha\n"
    );
    assert_eq!(
        std::fs::read(w.path(&format!("{restored}/identity/sub/b.txt"))).unwrap(),
        vec![7u8; 200_000]
    );
}

#[test]
fn either_key_restores_and_every_command_names_both_thumbprints() {
    let (w, main_cer, main_pem, escrow_cer, escrow_pem) = world();
    let (tp_main, tp_escrow) = (thumbprint(&main_cer), thumbprint(&escrow_cer));

    let out = add_recovery(&w, &escrow_cer);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let status = w.json(&["status", "--offline"]);
    assert_eq!(status["encryptionCertThumbprint"], tp_main.as_str());
    assert_eq!(
        status["recoveryCertThumbprints"],
        serde_json::json!([tp_escrow])
    );
    let human = w.cmd().args(["status", "--offline"]).output().unwrap();
    assert!(
        stdout(&human).contains(&format!("recoveryCertThumbprint        {tp_escrow}")),
        "{}",
        stdout(&human)
    );

    let id = w.backup();
    // A version-2 header with two entries: the encryption certificate, then the recovery one.
    let a = archive(&w, &id);
    assert_eq!(
        &a[..12],
        b"AZSBKENC\x02\x02\x10\x00",
        "version 2, 2 recipients"
    );
    assert_eq!(a[12], 1, "kind 1");
    assert_eq!(&a[15..55], tp_main.as_bytes());
    let second = 12 + 1 + 2 + 40 + 2 + 256;
    assert_eq!(a[second], 1);
    assert_eq!(&a[second + 3..second + 43], tp_escrow.as_bytes());

    let list = w.json(&["list"]);
    let b = &list["backups"][0];
    assert_eq!(b["encryptionCertThumbprint"], tp_main.as_str());
    assert_eq!(b["recoveryCertThumbprints"], serde_json::json!([tp_escrow]));
    assert_eq!(b["decryptableBy"], serde_json::json!([tp_main, tp_escrow]));
    assert_eq!(w.json(&["show", &id])["decryptableBy"], b["decryptableBy"]);
    let show = w.cmd().args(["show", &id]).output().unwrap();
    assert!(stdout(&show).contains(&format!("recoveryCertThumbprint    {tp_escrow}")));
    let list_human = w.cmd().args(["list"]).output().unwrap();
    assert!(
        stdout(&list_human).contains(&format!("{tp_main} (+1 recovery)")),
        "{}",
        stdout(&list_human)
    );

    // The recovery key alone restores, and says it was the recovery certificate.
    let out = restore_json(&w, &id, &escrow_pem, "by-escrow");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["openedWith"]["recipientId"], tp_escrow.as_str());
    assert_eq!(doc["openedWith"]["role"], "recovery");
    same_tree(&w, "by-escrow");
    // And the encryption key, which says so.
    let out = w
        .restore_cmd(&id, &main_pem, &w.path("by-main"))
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("Opened backup {id} with certificate {tp_main}.")),
        "{}",
        stdout(&out)
    );
    same_tree(&w, "by-main");

    // verify with the recovery key given bare (its certificate unknown to the key file): the
    // settings know the certificate, so the thumbprint is known before anything is decrypted.
    let bare = w.bare_key(&escrow_pem, "escrow-bare.pem");
    let out = w
        .cmd()
        .args(["verify", &id, "--json", "--key"])
        .arg(&bare)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["openedWith"]["role"], "recovery");
    assert_eq!(doc["openedWith"]["recipientId"], tp_escrow.as_str());
    // Without settings (another machine: --from the folder), a bare key tries each entry.
    let out = common::bin()
        .args(["verify", &id, "--from"])
        .arg(w.path("backups"))
        .arg("--key")
        .arg(&bare)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("with recovery certificate {tp_escrow}.")),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_key_for_neither_certificate_is_refused_naming_both() {
    let (w, main_cer, _, escrow_cer, _) = world();
    let (tp_main, tp_escrow) = (thumbprint(&main_cer), thumbprint(&escrow_cer));
    add_recovery(&w, &escrow_cer);
    let id = w.backup();
    let (_, stranger_pem) = w.new_cert("stranger", None);
    for (key, to) in [
        (stranger_pem.clone(), "x"),
        (w.bare_key(&stranger_pem, "stranger-bare.pem"), "y"),
    ] {
        let out = restore_json(&w, &id, &key, to);
        assert_eq!(code(&out), 8, "{}", stderr(&out));
        let msg = stderr(&out);
        assert!(
            msg.contains(&format!(
                "one of certificate {tp_main}, certificate {tp_escrow}"
            )),
            "{msg}"
        );
        assert!(!w.path(to).join("identity").exists());
        let out = w
            .cmd()
            .args(["verify", &id, "--key"])
            .arg(&key)
            .output()
            .unwrap();
        assert_eq!(code(&out), 8, "{}", stderr(&out));
        assert!(stderr(&out).contains(&tp_escrow), "{}", stderr(&out));
    }
}

#[test]
fn removing_a_recovery_certificate_affects_only_new_backups() {
    let (w, main_cer, _, escrow_cer, escrow_pem) = world();
    let tp_escrow = thumbprint(&escrow_cer);
    add_recovery(&w, &escrow_cer);
    // Adding it again changes nothing.
    let out = add_recovery(&w, &escrow_cer);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        w.json(&["status", "--offline"])["recoveryCertThumbprints"],
        serde_json::json!([tp_escrow])
    );
    let old = w.backup();

    // An unknown thumbprint is refused, naming the configured ones; a malformed one too.
    let out = w
        .cmd()
        .args(["configure", "--no-verify", "--remove-recovery-cert"])
        .arg("AB".repeat(20))
        .output()
        .unwrap();
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("remove-recovery-cert")
            && stderr(&out).contains(&format!("configured: {tp_escrow}")),
        "{}",
        stderr(&out)
    );
    let out = w
        .cmd()
        .args([
            "configure",
            "--no-verify",
            "--remove-recovery-cert",
            "12:34",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("40 hex digits"), "{}", stderr(&out));

    // Lower case with colons, as some tools print it, is accepted.
    let colons = tp_escrow
        .to_ascii_lowercase()
        .as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(":");
    let out = w
        .cmd()
        .args([
            "configure",
            "--no-verify",
            "--remove-recovery-cert",
            &colons,
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(w.json(&["status", "--offline"])["recoveryCertThumbprints"]
        .as_array()
        .unwrap()
        .is_empty());

    // New backups: version 1 again, no recovery thumbprints; the escrow key no longer opens
    // them, but still opens the backup made while it was configured.
    let new = w.backup();
    assert_eq!(archive(&w, &new)[8], 1, "one recipient: version 1");
    let m = w.json(&["show", &new]);
    assert!(m.get("recoveryCertThumbprints").is_none(), "{m}");
    assert_eq!(
        m["decryptableBy"],
        serde_json::json!([thumbprint(&main_cer)])
    );
    let out = restore_json(&w, &new, &escrow_pem, "new");
    assert_eq!(code(&out), 8, "{}", stderr(&out));
    let out = restore_json(&w, &old, &escrow_pem, "old");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    same_tree(&w, "old");
}

#[test]
fn configure_refuses_what_cannot_be_a_recovery_certificate() {
    let (w, main_cer, main_pem, escrow_cer, _) = world();
    let before = std::fs::read(w.config()).unwrap();
    // A file with a private key, the encryption certificate itself, a missing file.
    for (file, needle) in [
        (main_pem.clone(), "private key"),
        (
            main_cer.clone(),
            "both the encryption certificate and a recovery certificate",
        ),
        (w.path("nowhere.cer"), "nowhere.cer"),
    ] {
        let out = add_recovery(&w, &file);
        assert_eq!(code(&out), 3, "{}", stderr(&out));
        let msg = stderr(&out);
        assert!(
            msg.contains("recovery-cert-path") && msg.contains(needle),
            "{msg}"
        );
        assert_eq!(msg.trim_end().lines().count(), 1, "one line: {msg}");
        assert_eq!(
            std::fs::read(w.config()).unwrap(),
            before,
            "settings unchanged"
        );
    }
    // Rotating the encryption certificate to a recovery certificate is refused too.
    add_recovery(&w, &escrow_cer);
    let before = std::fs::read(w.config()).unwrap();
    let out = w
        .cmd()
        .args(["rotate-cert", "--encryption-cert-path"])
        .arg(&escrow_cer)
        .output()
        .unwrap();
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--remove-recovery-cert"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(w.config()).unwrap(), before);
}

#[test]
fn at_most_fifteen_recovery_certificates() {
    let (w, _, _, _, _) = world();
    let dir = w.path("many");
    std::fs::create_dir_all(&dir).unwrap();
    let mut args: Vec<std::ffi::OsString> = vec!["configure".into(), "--no-verify".into()];
    for i in 0..16 {
        let cer = dir.join(format!("r{i}.cer"));
        let out = std::process::Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout"])
            .arg(dir.join(format!("r{i}.key")))
            .arg("-out")
            .arg(&cer)
            .args(["-subj", &format!("/CN=recovery {i}"), "-days", "30"])
            .output()
            .expect("openssl CLI");
        assert!(out.status.success(), "{}", stderr(&out));
        args.push("--recovery-cert-path".into());
        args.push(cer.into_os_string());
    }
    let out = w.cmd().args(&args[..args.len() - 2]).output().unwrap();
    assert_eq!(code(&out), 0, "15 are allowed: {}", stderr(&out));
    assert_eq!(
        w.json(&["status", "--offline"])["recoveryCertThumbprints"]
            .as_array()
            .unwrap()
            .len(),
        15
    );
    let out = w.cmd().args(&args).output().unwrap();
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("at most 15 recovery certificates"),
        "{}",
        stderr(&out)
    );
    // A backup with 16 recipients opens with the last one's key.
    let id = w.backup();
    let a = archive(&w, &id);
    assert_eq!(a[8..10], [2, 16]);
    let out = restore_json(&w, &id, &dir.join("r14.key"), "r14");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["openedWith"]["role"], "recovery");
    same_tree(&w, "r14");
}

#[test]
fn a_legacy_key_backup_opens_with_its_recovery_certificate_too() {
    let w = World::new();
    w.write("src/identity/a.txt", b"alpha\n");
    w.write("src/identity/sub/b.txt", &vec![7u8; 200_000]);
    let out = common::bin().arg("new-encryption-key").output().unwrap();
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let (escrow_cer, escrow_pem) = w.new_cert("escrow", None);
    let tp_escrow = thumbprint(&escrow_cer);
    // Settings of the first version (backward-compatibility mode), as an upgrade finds them.
    std::fs::create_dir_all(w.path("backups")).unwrap();
    w.write(
        "settings.toml",
        format!(
            "version = 1\npath = '{}'\nusername = 'u'\npassword = 'pw'\nencryption_key = '{key}'\n\n[[sources]]\nname = \"identity\"\npath = \"{}\"\n",
            w.path("backups").display(),
            w.path("src/identity").display()
        )
        .as_bytes(),
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(w.config(), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let out = add_recovery(&w, &escrow_cer);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let id = w.backup();
    let a = archive(&w, &id);
    assert_eq!(a[8..10], [2, 2]);
    assert_eq!(a[12], 2, "the legacy key first");
    let out = restore_json(&w, &id, &escrow_pem, "by-escrow");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["openedWith"]["recipientId"], tp_escrow.as_str());
    same_tree(&w, "by-escrow");
    let out = w
        .cmd()
        .args(["restore", &id, "--encryption-key-stdin", "--json", "--to"])
        .arg(w.path("by-key"))
        .write_stdin(format!("{key}\n"))
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["openedWith"]["role"], "encryption");
    assert!(doc["openedWith"]["recipientId"]
        .as_str()
        .unwrap()
        .starts_with("key:"));
    same_tree(&w, "by-key");
}
