//! Integrity through the binary: every file comes back (sparse files, files that change while
//! they are read), no secret in an error, locks that cannot lapse mid-run, prune that leaves a
//! running backup alone, and the read-after-write check.

use crate::common;

use common::{code, World};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A world with a certificate, a local target `backups/` and one source `data` at `src/`.
fn world() -> (World, PathBuf) {
    let w = World::new();
    let (cer, pem) = w.new_cert("integrity", None);
    std::fs::create_dir_all(w.path("src")).unwrap();
    w.write("src/other.txt", b"stays the same\n");
    w.configure(&cer, &["data=src"]);
    (w, pem)
}

fn restore(w: &World, pem: &Path, id: &str, to: &str) -> std::process::Output {
    w.cmd()
        .args(["restore", id, "--key"])
        .arg(pem)
        .arg("--to")
        .arg(w.path(to))
        .output()
        .unwrap()
}

fn verify_key(w: &World, pem: &Path, id: &str) -> std::process::Output {
    w.cmd()
        .args(["verify", id, "--key"])
        .arg(pem)
        .output()
        .unwrap()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn role(w: &World, id: &str) -> serde_json::Value {
    let v = w.json(&["show", id]);
    v["roleStatus"][0].clone()
}

#[test]
fn sparse_and_all_hole_files_come_back_byte_for_byte() {
    let (w, pem) = world();
    // 10 MiB with one byte in the middle, and 3 MiB that is all hole.
    let mut f = std::fs::File::create(w.path("src/sparse.img")).unwrap();
    f.set_len(10 << 20).unwrap();
    f.seek(SeekFrom::Start(5_000_000)).unwrap();
    f.write_all(b"x").unwrap();
    drop(f);
    std::fs::File::create(w.path("src/hole.img"))
        .unwrap()
        .set_len(3 << 20)
        .unwrap();
    let id = w.backup();
    assert_eq!(role(&w, &id)["fileCount"], 3);
    let v = verify_key(&w, &pem, &id);
    assert_eq!(code(&v), 0, "{}", stderr(&v));
    let r = restore(&w, &pem, &id, "out");
    assert_eq!(code(&r), 0, "{}", stderr(&r));
    for name in ["sparse.img", "hole.img", "other.txt"] {
        let a = std::fs::read(w.path(&format!("src/{name}"))).unwrap();
        let b = std::fs::read(w.path(&format!("out/data/{name}")))
            .unwrap_or_else(|e| panic!("{name} was not restored: {e}"));
        assert!(a == b, "{name} differs after restore");
    }
}

/// Runs `start-backup --json` while `mutate` runs on another thread; the backup reads slowly
/// (a test-only fault point) so that the two overlap.
fn backup_while(
    w: &World,
    hook: &str,
    mutate: impl FnOnce(Arc<AtomicBool>) + Send + 'static,
) -> (std::process::Output, serde_json::Value) {
    let done = Arc::new(AtomicBool::new(false));
    let d2 = done.clone();
    let t = std::thread::spawn(move || mutate(d2));
    let out = w
        .cmd()
        .env("AZS_BACKUP_TEST_HOOK", hook)
        .args(["start-backup", "--json"])
        .output()
        .unwrap();
    done.store(true, Ordering::SeqCst);
    t.join().unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out, v)
}

#[test]
fn a_file_growing_during_the_backup_is_cut_at_its_recorded_size() {
    let (w, pem) = world();
    let log = w.path("src/app.log");
    let line: Vec<u8> = (0..4096u32).map(|i| b'a' + (i % 26) as u8).collect();
    std::fs::write(&log, line.repeat(256)).unwrap(); // 1 MiB
    w.write("src/z-after.txt", b"written after the log in the archive\n");
    let grower = log.clone();
    let (out, v) = backup_while(&w, "pack.read=sleep:60", move |done| {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&grower)
            .unwrap();
        while !done.load(Ordering::SeqCst) {
            f.write_all(&line).unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("changed while they were read"),
        "no warning: {}",
        stderr(&out)
    );
    let id = v["backupId"].as_str().unwrap().to_string();
    assert_eq!(v["status"], "Succeeded");
    assert_eq!(v["roleStatus"][0]["changedFiles"][0], "app.log", "{v}");
    assert_eq!(v["roleStatus"][0]["changedFileCount"], 1);
    let vk = verify_key(&w, &pem, &id);
    assert_eq!(code(&vk), 0, "{}", stderr(&vk));
    let r = restore(&w, &pem, &id, "out");
    assert_eq!(code(&r), 0, "{}", stderr(&r));
    let now = std::fs::read(&log).unwrap();
    let back = std::fs::read(w.path("out/data/app.log")).unwrap();
    assert!(back.len() >= 1 << 20 && back.len() < now.len());
    assert!(now.starts_with(&back), "the restored log is not a prefix");
    assert_eq!(
        std::fs::read(w.path("out/data/z-after.txt")).unwrap(),
        b"written after the log in the archive\n"
    );
    assert_eq!(
        std::fs::read(w.path("out/data/other.txt")).unwrap(),
        b"stays the same\n"
    );
}

#[test]
fn a_file_shrinking_during_the_backup_is_zero_padded() {
    let (w, pem) = world();
    let db = w.path("src/db.bin");
    let original: Vec<u8> = (0..(2u32 << 20)).map(|i| (i % 251) as u8 | 1).collect();
    std::fs::write(&db, &original).unwrap();
    w.write("src/z-after.txt", b"after\n");
    let shrinker = db.clone();
    let (out, v) = backup_while(&w, "pack.read=sleep:150", move |_| {
        std::thread::sleep(Duration::from_millis(400));
        std::fs::OpenOptions::new()
            .write(true)
            .open(&shrinker)
            .unwrap()
            .set_len(100 << 10)
            .unwrap();
    });
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let id = v["backupId"].as_str().unwrap().to_string();
    assert_eq!(v["roleStatus"][0]["changedFiles"][0], "db.bin", "{v}");
    let vk = verify_key(&w, &pem, &id);
    assert_eq!(code(&vk), 0, "{}", stderr(&vk));
    let r = restore(&w, &pem, &id, "out");
    assert_eq!(code(&r), 0, "{}", stderr(&r));
    let back = std::fs::read(w.path("out/data/db.bin")).unwrap();
    assert_eq!(back.len(), original.len(), "size recorded at open");
    assert_eq!(&back[..100 << 10], &original[..100 << 10]);
    assert!(
        back.iter().zip(&original).all(|(b, o)| b == o || *b == 0),
        "bytes other than the original or padding"
    );
    assert_eq!(back.last(), Some(&0), "the tail is padding");
    assert_eq!(
        std::fs::read(w.path("out/data/z-after.txt")).unwrap(),
        b"after\n"
    );
}

#[cfg(unix)]
fn write_private(p: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(p, text).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[cfg(unix)]
#[test]
fn a_broken_secrets_or_v1_settings_file_never_prints_the_secret() {
    let (w, _) = world();
    let secrets = w.path("settings.secrets.toml");
    for (text, secret) in [
        ("password = \"hunter2-SECRET\" x\n", "hunter2-SECRET"),
        ("password = 987654321\n", "987654321"),
        (
            "password = \"ok\"\nencryption_key = [\"k3y-SECRET\", 1]\n",
            "k3y-SECRET",
        ),
    ] {
        write_private(&secrets, text);
        let o = w.cmd().arg("status").output().unwrap();
        assert_eq!(code(&o), 3, "{}", stderr(&o));
        let all = format!("{}{}", stderr(&o), String::from_utf8_lossy(&o.stdout));
        assert!(!all.contains(secret), "the secret was printed: {all}");
        assert!(all.contains("line "), "no position given: {all}");
        assert!(
            all.contains("settings.secrets.toml"),
            "no file named: {all}"
        );
    }
    // A version-1 settings file holds the password inline.
    let v1 = w.path("v1.toml");
    write_private(
        &v1,
        "version = 1\npath = \"/srv/x\"\nusername = \"u\"\npassword = \"v1-SECRET\" trailing\nencryption_key = \"x\"\n",
    );
    let o = common::bin()
        .arg("--config")
        .arg(&v1)
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(code(&o), 3);
    assert!(!stderr(&o).contains("v1-SECRET"), "{}", stderr(&o));
    assert!(stderr(&o).contains("line 4"), "{}", stderr(&o));
}

/// A second settings file for the same target (another host or container would have its own).
fn second_config(w: &World) -> PathBuf {
    let cfg = w.path("other.toml");
    let (cer, _) = w.new_cert("other", None);
    common::bin()
        .arg("--config")
        .arg(&cfg)
        .args(["configure", "--path"])
        .arg(w.path("backups"))
        .args(["--username", "u", "--password-stdin", "--no-verify"])
        .arg("--encryption-cert-path")
        .arg(&cer)
        .args(["--source", "data=src"])
        .write_stdin("pw\n")
        .assert()
        .success();
    cfg
}

/// Starts a slow backup (every read of file data sleeps) in the background.
fn slow_backup(w: &World, lease_secs: &str, sleep_ms: u32) -> std::process::Child {
    common::std_bin()
        .arg("--config")
        .arg(w.config())
        .args(["start-backup", "--json"])
        .env("AZS_BACKUP_TEST_LEASE_SECONDS", lease_secs)
        .env(
            "AZS_BACKUP_TEST_HOOK",
            format!("pack.read=sleep:{sleep_ms}"),
        )
        .current_dir(w.path(""))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_for(cond: impl Fn() -> bool, what: &str) {
    let t = Instant::now();
    while !cond() {
        assert!(t.elapsed() < Duration::from_secs(20), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_lock_is_kept_alive_through_one_file_longer_than_the_lease() {
    let (w, _) = world();
    // One 4 MiB file read in 16 pieces of 256 KiB, each 250 ms: about 4 s, twice the 2 s
    // lease.
    std::fs::write(w.path("src/big.bin"), vec![7u8; 4 << 20]).unwrap();
    let other = second_config(&w);
    let first = slow_backup(&w, "2", 250);
    let lock = w.path("backups/MASBackup/.lock");
    wait_for(|| lock.exists(), "the first run takes the lock");
    std::thread::sleep(Duration::from_millis(3000));
    // Past the lease: without a refresh the lock would have expired and been taken over.
    let o = common::bin()
        .arg("--config")
        .arg(&other)
        .env("AZS_BACKUP_TEST_LEASE_SECONDS", "2")
        .arg("start-backup")
        .output()
        .unwrap();
    assert_eq!(code(&o), 5, "second run: {}", stderr(&o));
    assert!(
        stderr(&o).contains("another backup is running"),
        "{}",
        stderr(&o)
    );
    let out = first.wait_with_output().unwrap();
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let list = w.json(&["list"]);
    assert_eq!(list["backups"].as_array().unwrap().len(), 1);
}

#[test]
fn a_run_whose_lock_is_taken_over_stops_and_lists_nothing() {
    let (w, _) = world();
    // 16 reads of 200 ms.
    std::fs::write(w.path("src/big.bin"), vec![7u8; 4 << 20]).unwrap();
    let first = slow_backup(&w, "2", 200);
    let lock = w.path("backups/MASBackup/.lock");
    wait_for(|| lock.exists(), "the run takes the lock");
    std::thread::sleep(Duration::from_millis(300));
    // Another host takes the lock (as it would after a network split outlived the lease).
    let theirs = serde_json::json!({
        "host": "other-host", "machineId": "0123", "pid": 1, "operation": "backup",
        "backupId": "11111111-2222-3333-4444-555555555555", "trigger": "scheduled",
        "startTime": "2026-01-01T00:00:00Z", "expiry": "2999-01-01T00:00:00Z",
        "toolVersion": "0.1.0"
    });
    std::fs::write(&lock, serde_json::to_vec_pretty(&theirs).unwrap()).unwrap();
    let out = first.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), 5, "{err}");
    assert!(err.contains("lost its lock"), "{err}");
    let list = w.json(&["list"]);
    assert_eq!(list["backups"].as_array().unwrap().len(), 0, "{list}");
    // The other host's lock is left as it is.
    let now: serde_json::Value = serde_json::from_slice(&std::fs::read(&lock).unwrap()).unwrap();
    assert_eq!(now["host"], "other-host");
}

#[test]
fn prune_racing_a_backup_leaves_it_alone() {
    let (w, pem) = world();
    // 16 reads of 320 ms: about 5 s.
    std::fs::write(w.path("src/big.bin"), vec![3u8; 4 << 20]).unwrap();
    let other = second_config(&w);
    let first = slow_backup(&w, "2", 320);
    let lock = w.path("backups/MASBackup/.lock");
    wait_for(|| lock.exists(), "the backup takes the lock");
    std::thread::sleep(Duration::from_millis(200));
    // Another host's prune, past the lease: the lock is refreshed, so prune is refused.
    std::thread::sleep(Duration::from_millis(2200));
    let p = common::bin()
        .arg("--config")
        .arg(&other)
        .env("AZS_BACKUP_TEST_LEASE_SECONDS", "2")
        .args(["prune", "--json"])
        .output()
        .unwrap();
    assert_eq!(code(&p), 5, "prune: {}", stderr(&p));
    // A dry run takes no lock and lists nothing of the running backup for deletion.
    let d = common::bin()
        .arg("--config")
        .arg(&other)
        .env("AZS_BACKUP_TEST_LEASE_SECONDS", "2")
        .args(["prune", "--dry-run", "--json"])
        .output()
        .unwrap();
    assert_eq!(code(&d), 0, "{}", stderr(&d));
    let dv: serde_json::Value = serde_json::from_slice(&d.stdout).unwrap();
    assert_eq!(dv["wouldDelete"].as_array().unwrap().len(), 0, "{dv}");
    let out = first.wait_with_output().unwrap();
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = v["backupId"].as_str().unwrap();
    let vk = verify_key(&w, &pem, id);
    assert_eq!(code(&vk), 0, "{}", stderr(&vk));
}

#[test]
fn prune_leaves_a_young_manifestless_folder_and_removes_an_old_one() {
    let (w, _) = world();
    let young = w.path("backups/MASBackup/0b1c2d3e-0000-4000-8000-000000000001");
    std::fs::create_dir_all(&young).unwrap();
    std::fs::write(young.join("data.tar.zst.enc"), b"partial").unwrap();
    let o = w.cmd().args(["prune", "--json"]).output().unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        young.exists(),
        "a folder written to seconds ago was deleted"
    );
    let hour_ago = filetime::FileTime::from_system_time(
        std::time::SystemTime::now() - Duration::from_secs(3600),
    );
    filetime::set_file_mtime(young.join("data.tar.zst.enc"), hour_ago).unwrap();
    filetime::set_file_mtime(&young, hour_ago).unwrap();
    let o = w.cmd().args(["prune", "--json"]).output().unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!young.exists(), "an hour-old leftover was kept");
}

/// Corrupts the first archive committed while the backup pauses right after committing it.
fn backup_with_corrupted_archive(w: &World) -> std::process::Output {
    let root = w.path("backups/MASBackup");
    let before: Vec<PathBuf> = std::fs::read_dir(&root)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    let (out, _) = backup_while(w, "backup.archive-committed=sleep:1500", move |done| {
        while !done.load(Ordering::SeqCst) {
            let found = std::fs::read_dir(&root).ok().and_then(|rd| {
                rd.flatten()
                    .filter(|e| !before.contains(&e.path()))
                    .map(|e| e.path().join("data.tar.zst.enc"))
                    .find(|p| p.exists())
            });
            if let Some(p) = found {
                // A share that silently drops the tail of a file.
                let len = std::fs::metadata(&p).unwrap().len();
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&p)
                    .unwrap()
                    .set_len(len - 1)
                    .unwrap();
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    out
}

#[test]
fn verify_after_write_catches_a_share_that_loses_data() {
    let (w, _) = world();
    // Off by default: the damage goes unnoticed until a verify.
    let st = w.json(&["status", "--offline"]);
    assert_eq!(st["verifyAfterWrite"], false, "{st}");
    let out = backup_with_corrupted_archive(&w);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    w.cmd()
        .args(["configure", "--verify-after-write", "true", "--no-verify"])
        .assert()
        .success();
    let st = w.json(&["status", "--offline"]);
    assert_eq!(st["verifyAfterWrite"], true, "{st}");
    let out = backup_with_corrupted_archive(&w);
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("read-after-write check failed"),
        "{}",
        stderr(&out)
    );
    let bad = w
        .cmd()
        .args(["configure", "--verify-after-write", "maybe"])
        .output()
        .unwrap();
    assert_eq!(code(&bad), 2);
    assert!(
        stderr(&bad).contains("verify-after-write"),
        "{}",
        stderr(&bad)
    );
}
