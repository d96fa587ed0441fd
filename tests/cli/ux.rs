//! Operator experience: progress only on a terminal, `--quiet`, `--json` documents with their
//! documented fields, `status --check` health conditions, `--help` texts.

use crate::common;

use common::{bin, code, World};
use std::fs;
use std::process::{Command as StdCommand, Stdio};

fn configured(sources_mib: usize) -> (World, std::path::PathBuf) {
    let w = World::new();
    let (cer, pem) = w.new_cert("ux", None);
    let mut x: u64 = 0x1234_5678_9abc_def1;
    let data: Vec<u8> = (0..sources_mib << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    w.write("src/data.bin", &data);
    w.write("src/small.txt", b"small\n");
    w.configure(&cer, &[&format!("s={}", w.path("src").display())]);
    (w, pem)
}

/// Runs the binary under a pseudo-terminal (util-linux `script`); returns what the terminal saw.
fn under_pty(w: &World, args: &str) -> (i32, String) {
    let exe = assert_cmd::cargo::cargo_bin("azs-backup");
    let out = StdCommand::new("script")
        .args([
            "-qec",
            &format!("{} --config {} {args}", exe.display(), w.config().display()),
            "/dev/null",
        ])
        .current_dir(w.path(""))
        .stdin(Stdio::null())
        .output()
        .expect("`script` (util-linux) is needed; run the README test command");
    (
        code(&out),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn progress_is_drawn_on_a_terminal_and_never_into_a_pipe() {
    let (w, pem) = configured(64);
    let (rc, screen) = under_pty(&w, "start-backup");
    assert_eq!(rc, 0, "{screen}");
    assert!(
        screen.contains("ETA") && screen.contains("all sources"),
        "no progress bar on the terminal: {screen}"
    );
    let id = w.json(&["list"])["backups"][0]["backupId"]
        .as_str()
        .unwrap()
        .to_string();
    for verb in ["verify", "restore"] {
        let extra = if verb == "restore" {
            " --to pty-restore"
        } else {
            ""
        };
        let (rc, screen) = under_pty(&w, &format!("{verb} {id} --key {}{extra}", pem.display()));
        assert_eq!(rc, 0, "{screen}");
        assert!(
            screen.contains("ETA")
                && screen.contains(if verb == "verify" {
                    "verifying"
                } else {
                    "restoring"
                }),
            "no {verb} progress bar on the terminal: {screen}"
        );
    }
    let (rc, screen) = under_pty(&w, "start-backup --quiet");
    assert_eq!(rc, 0);
    assert!(
        screen.trim().is_empty(),
        "--quiet on a terminal: {screen:?}"
    );
    // Pipes: no bar, no escape sequences.
    let out = w.cmd().arg("start-backup").output().unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("ETA") && !err.contains('\u{1b}'), "{err}");
    let id = w.json(&["list"])["backups"][0]["backupId"]
        .as_str()
        .unwrap()
        .to_string();
    let out = w
        .cmd()
        .args(["restore", &id, "--to", "r", "--key"])
        .arg(&pem)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains('\u{1b}'));
}

#[test]
fn quiet_runs_print_nothing_on_success() {
    let (w, pem) = configured(1);
    let id = w.backup();
    let key = pem.display().to_string();
    let runs: Vec<Vec<&str>> = vec![
        vec!["configure", "--no-verify", "--retention", "9"],
        vec!["status", "--offline"],
        vec!["start-backup"],
        vec!["list"],
        vec!["show", &id],
        vec!["verify", &id],
        vec!["verify", &id, "--key", &key],
        vec!["restore", &id, "--to", "quiet-restore", "--key", &key],
    ];
    for args in runs {
        let out = w.cmd().args(&args).arg("--quiet").output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.is_empty(), "{args:?} stdout: {:?}", out.stdout);
        assert!(out.stderr.is_empty(), "{args:?} stderr: {:?}", out.stderr);
    }
}

fn has(doc: &serde_json::Value, fields: &[&str]) {
    for f in fields {
        assert!(doc.get(f).is_some(), "missing field {f} in {doc}");
    }
}

#[test]
fn json_documents_have_the_documented_fields() {
    let (w, pem) = configured(1);
    let doc = w.json(&["configure", "--no-verify", "--frequency", "8"]);
    has(
        &doc,
        &[
            "schemaVersion",
            "changed",
            "path",
            "userName",
            "encryptionCertThumbprint",
            "backupFrequencyInHours",
            "backupRetentionPeriodInDays",
            "isBackupSchedulerEnabled",
            "nextBackupTime",
        ],
    );
    assert_eq!(doc["changed"][0], "backupFrequencyInHours");
    let b = w.json(&["start-backup"]);
    has(
        &b,
        &[
            "backupId",
            "status",
            "createdDateTime",
            "timeTakenToCreate",
            "roleStatus",
            "encryptionCertThumbprint",
            "backupDataSizeInBytes",
            "plainSizeInBytes",
        ],
    );
    let role = &b["roleStatus"][0];
    has(
        role,
        &[
            "roleName",
            "status",
            "fileCount",
            "plainSizeInBytes",
            "encryptedSizeInBytes",
            "sha256",
        ],
    );
    let id = b["backupId"].as_str().unwrap();
    let st = w.json(&["status"]);
    has(
        &st,
        &[
            "schemaVersion",
            "path",
            "userName",
            "encryptionCertThumbprint",
            "backupFrequencyInHours",
            "backupRetentionPeriodInDays",
            "isBackupSchedulerEnabled",
            "nextBackupTime",
            "lastBackupTime",
            "lastBackupStatus",
            "availableCapacity",
            "health",
        ],
    );
    let list = w.json(&["list"]);
    has(&list, &["schemaVersion", "backups"]);
    assert_eq!(list["backups"][0]["backupId"], id);
    let v = w.json(&["verify", id, "--key", pem.to_str().unwrap()]);
    has(&v, &["backupId", "ok", "withKey", "sources"]);
    assert_eq!(v["ok"], true);
    assert_eq!(v["withKey"], true);
    let r = w.json(&["restore", id, "--to", "jr", "--key", pem.to_str().unwrap()]);
    has(&r, &["backupId", "restored"]);
    let k = bin()
        .args(["new-encryption-key", "--json"])
        .output()
        .unwrap();
    let k: serde_json::Value = serde_json::from_slice(&k.stdout).unwrap();
    assert_eq!(k["encryptionKey"].as_str().unwrap().len(), 88);
}

fn check_codes(w: &World) -> Vec<String> {
    let out = w
        .cmd()
        .args(["status", "--check", "--json"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    let codes: Vec<String> = doc["health"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["code"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        code(&out),
        if codes.is_empty() { 0 } else { 11 },
        "{codes:?}"
    );
    codes
}

#[test]
fn status_check_reports_each_health_condition() {
    let (w, _) = configured(1);
    // Configured but never backed up.
    assert_eq!(check_codes(&w), vec!["noRecentBackup"]);
    w.backup();
    assert!(check_codes(&w).is_empty());
    // The last backup is too old (time moves on: 2 × 12 h + 1 min later).
    let later = (chrono::Utc::now() + chrono::Duration::hours(24) + chrono::Duration::minutes(1))
        .to_rfc3339();
    let out = w
        .cmd()
        .env("AZS_BACKUP_NOW", &later)
        .args(["status", "--check", "--json"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 11);
    assert!(String::from_utf8_lossy(&out.stdout).contains("noRecentBackup"));
    // The target is gone.
    fs::rename(w.path("backups"), w.path("backups-away")).unwrap();
    assert!(check_codes(&w).contains(&"targetUnreachable".to_string()));
    // A backup attempted now fails with the target exit code and is recorded as failed.
    let out = w.cmd().arg("start-backup").output().unwrap();
    assert_eq!(code(&out), 4, "{}", String::from_utf8_lossy(&out.stderr));
    let codes = check_codes(&w);
    assert!(codes.contains(&"lastBackupFailed".to_string()), "{codes:?}");
    fs::rename(w.path("backups-away"), w.path("backups")).unwrap();
    // A source failed: the last backup is not Succeeded.
    fs::rename(w.path("src"), w.path("src-away")).unwrap();
    let out = w.cmd().arg("start-backup").output().unwrap();
    assert_eq!(code(&out), 6);
    assert!(check_codes(&w).contains(&"lastBackupFailed".to_string()));
    fs::rename(w.path("src-away"), w.path("src")).unwrap();
    w.backup();
    assert!(check_codes(&w).is_empty());
    // A certificate that expires within 30 days.
    let out = bin()
        .args([
            "new-cert",
            "--dns-name",
            "short.contoso.com",
            "--valid-days",
            "10",
            "--no-pfx",
            "--out-dir",
        ])
        .arg(w.path("certs"))
        .output()
        .unwrap();
    assert!(out.status.success());
    w.cmd()
        .args(["configure", "--no-verify", "--encryption-cert-path"])
        .arg(w.path("certs/short.contoso.com.cer"))
        .assert()
        .success();
    assert_eq!(check_codes(&w), vec!["certificateExpiring"]);
    // ... and once it has expired.
    let expired = (chrono::Utc::now() + chrono::Duration::days(11)).to_rfc3339();
    let out = w
        .cmd()
        .env("AZS_BACKUP_NOW", &expired)
        .args(["status", "--offline", "--json"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("certificateExpired"));
}

#[test]
fn every_subcommand_help_names_what_it_mirrors_and_shows_an_example() {
    let help = bin().arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&help.stdout).to_string();
    let subs: Vec<String> = text
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        // Command names start at column 2; wrapped description lines are indented further.
        .filter(|l| !l[2..].starts_with(' '))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|s| s != "help")
        .collect();
    assert!(subs.len() >= 10, "{subs:?}");
    for s in subs {
        let out = bin().args([s.as_str(), "--help"]).output().unwrap();
        let h = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{s}");
        assert!(h.contains("Example"), "{s} --help has no example:\n{h}");
        if !["completions", "man"].contains(&s.as_str()) {
            assert!(
                h.contains("Azs")
                    || h.contains("blade")
                    || h.contains("Azure Stack")
                    || h.contains("scheduler")
                    || h.contains("validation tool")
                    || h.contains("New-SelfSignedCertificate")
                    || h.contains("Automatic Backups")
                    || h.contains(".cer"),
                "{s} --help does not say what it mirrors:\n{h}"
            );
        }
    }
}

#[test]
fn scheduler_key_and_cleanup_commands_are_quiet_and_speak_json() {
    let (w, _) = configured(1);
    let quiet = |args: &[&str], now: Option<&str>| {
        let mut c = w.cmd();
        if let Some(now) = now {
            c.env("AZS_BACKUP_NOW", now);
        }
        let out = c.args(args).arg("--quiet").output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.is_empty(), "{args:?} stdout: {:?}", out.stdout);
        assert!(out.stderr.is_empty(), "{args:?} stderr: {:?}", out.stderr);
    };
    let json_at = |args: &[&str], now: &str| -> serde_json::Value {
        let out = w
            .cmd()
            .env("AZS_BACKUP_NOW", now)
            .args(args)
            .arg("--json")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("one JSON document on stdout")
    };
    let now = chrono::Utc::now();
    let at = |h: i64| (now + chrono::Duration::hours(h)).to_rfc3339();

    quiet(&["disable-auto"], None);
    let d = w.json(&["disable-auto"]);
    has(
        &d,
        &["changed", "isBackupSchedulerEnabled", "nextBackupTime"],
    );
    assert_eq!(d["changed"], false);
    assert_eq!(d["isBackupSchedulerEnabled"], false);
    quiet(&["enable-auto"], None);
    let e = w.json(&["enable-auto"]);
    assert_eq!(e["isBackupSchedulerEnabled"], true);

    // Not due: a quiet tick prints nothing; a due one runs and reports it.
    quiet(&["tick"], Some(&at(1)));
    let idle = json_at(&["tick"], &at(1));
    has(&idle, &["ran", "reason", "nextBackupTime"]);
    assert_eq!(idle["ran"], false);
    let ran = json_at(&["tick"], &at(13));
    assert_eq!(ran["ran"], true, "{ran}");
    has(&ran, &["backup", "prune", "nextBackupTime"]);
    has(&ran["backup"], &["backupId", "status", "roleStatus"]);
    quiet(&["tick"], Some(&at(26)));

    quiet(&["prune"], Some(&at(27)));
    let p = json_at(&["prune", "--dry-run"], &at(27));
    has(
        &p,
        &[
            "dryRun",
            "backupRetentionPeriodInDays",
            "cutoff",
            "deleted",
            "wouldDelete",
            "keptNewest",
            "keptBackups",
        ],
    );
    assert_eq!(p["dryRun"], true);

    let out = bin()
        .args([
            "new-cert",
            "--dns-name",
            "next.contoso.com",
            "--no-pfx",
            "--quiet",
            "--out-dir",
        ])
        .arg(w.path("certs"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
    let next = w.path("certs/next.contoso.com.cer");
    quiet(
        &[
            "rotate-cert",
            "--encryption-cert-path",
            next.to_str().unwrap(),
        ],
        None,
    );
    let r = w.json(&[
        "rotate-cert",
        "--encryption-cert-path",
        next.to_str().unwrap(),
    ]);
    has(
        &r,
        &[
            "changed",
            "encryptionCertThumbprint",
            "previousEncryptionCertThumbprint",
        ],
    );
    assert_eq!(r["changed"], false);

    quiet(&["clear", "--yes"], None);
    assert!(!w.config().exists());
}

#[test]
fn a_missing_local_target_is_one_line_naming_it_with_exit_4() {
    let w = World::new();
    let (cer, _) = w.new_cert("missing", None);
    w.write("src/a/f", b"x");
    let target = w.path("not/mounted/backups");
    let out = w
        .configure_cmd(&target, &cer, &["a=src/a"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), 4, "{err}");
    let t = target.display();
    let want = format!(
        "azs-backup: error: directory not found on {t}: check the share name and folder ({t} does not exist; create it, or mount the share there)"
    );
    assert_eq!(
        err.lines()
            .filter(|l| l.contains("error"))
            .collect::<Vec<_>>(),
        [want]
    );
    assert!(!w.path("not").exists(), "nothing created");
}
