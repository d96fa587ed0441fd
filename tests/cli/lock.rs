//! Exclusive runs through the real binary: a running backup (a live lock on the target or the
//! local lock) makes a second `start-backup` fail with exit 5 naming it, a `tick` skip and
//! record its slot, `prune` wait its turn; stale locks (dead process on this host, or expired)
//! are taken over with a warning. One test races two real `start-backup` processes.

use crate::common;

use chrono::{DateTime, Duration, Utc};
use common::{code, World};
use serde_json::{json, Value};
use std::process::Output;

const NOW: &str = "AZS_BACKUP_NOW";
const RUNNING_ID: &str = "6f9619ff-8b86-d011-b42d-00c04fc964ff";

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn at(hours: i64) -> String {
    rfc(t0() + Duration::hours(hours))
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn world() -> World {
    common::identity_world("lock", &at(0))
}

fn run(w: &World, now: &str, args: &[&str]) -> Output {
    common::run_at(w, now, args)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn count_backups(w: &World, now: &str) -> usize {
    let out = run(w, now, &["list", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["backups"].as_array().unwrap().len()
}

fn lock_file(w: &World) -> std::path::PathBuf {
    w.path("backups/MASBackup/.lock")
}

/// Writes a target lock as another run would.
fn hold_target_lock(w: &World, host: &str, pid: u32, expiry: DateTime<Utc>) -> Vec<u8> {
    let lock = json!({
        "host": host,
        "pid": pid,
        "operation": "backup",
        "backupId": RUNNING_ID,
        "trigger": "onDemand",
        "startTime": rfc(t0()),
        "expiry": rfc(expiry),
        "toolVersion": "0.1.0",
    });
    let bytes = serde_json::to_vec_pretty(&lock).unwrap();
    w.write("backups/MASBackup/.lock", &bytes);
    bytes
}

fn this_host() -> String {
    azs_backup::backup::host_name()
}

/// A pid that no process has: a child that has been waited for.
#[cfg(target_os = "linux")]
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "pid {pid} was reused"
    );
    pid
}

#[test]
fn a_live_lock_refuses_a_second_backup_with_exit_5_naming_it() {
    let w = world();
    // This test process is alive and on this host.
    let bytes = hold_target_lock(
        &w,
        &this_host(),
        std::process::id(),
        t0() + Duration::hours(9),
    );
    let out = run(&w, &at(1), &["start-backup"]);
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("another backup is running") && err.contains(RUNNING_ID),
        "{err}"
    );
    assert_eq!(std::fs::read(lock_file(&w)).unwrap(), bytes, "lock touched");
    assert_eq!(count_backups(&w, &at(1)), 0);
    // As JSON: the error document says "locked".
    let out = run(&w, &at(1), &["start-backup", "--json"]);
    assert_eq!(code(&out), 5);
    let doc: Value = serde_json::from_str(stderr(&out).trim()).unwrap();
    assert_eq!(doc["error"]["kind"], "locked");
    // Nothing recorded as a backup.
    let s = run(&w, &at(1), &["status", "--offline", "--json"]);
    let s: Value = serde_json::from_slice(&s.stdout).unwrap();
    assert!(s["lastBackupTime"].is_null(), "{s}");

    // A lock of another host that has not expired is live too (its pid cannot be checked).
    hold_target_lock(&w, "other-host.contoso.com", 1, t0() + Duration::hours(9));
    let out = run(&w, &at(1), &["start-backup"]);
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert!(stderr(&out).contains("other-host.contoso.com"));

    // prune waits its turn; its dry run works and leaves the running backup's folder alone.
    w.write(
        &format!("backups/MASBackup/{RUNNING_ID}/.identity.tar.zst.enc.x.partial"),
        b"in progress",
    );
    let out = run(&w, &at(1), &["prune"]);
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    let out = run(&w, &at(1), &["prune", "--dry-run", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["wouldDelete"].as_array().unwrap().len(), 0, "{v}");
    assert!(v["notes"].to_string().contains(RUNNING_ID), "{v}");

    // Once the lock is gone, a backup runs and leaves no lock behind.
    std::fs::remove_file(lock_file(&w)).unwrap();
    let out = run(&w, &at(1), &["start-backup"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!lock_file(&w).exists());
    assert_eq!(std::fs::read(w.path("settings.lock")).unwrap(), b"");
}

#[test]
fn a_tick_that_meets_a_running_backup_records_the_slot_as_skipped() {
    let w = world();
    hold_target_lock(
        &w,
        &this_host(),
        std::process::id(),
        t0() + Duration::hours(20),
    );
    let out = run(&w, &at(12), &["tick", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ran"], false);
    assert_eq!(v["reason"], "skipped");
    assert!(v["running"].as_str().unwrap().contains(RUNNING_ID));
    assert_eq!(count_backups(&w, &at(12)), 0);
    let s = run(&w, &at(12), &["status", "--offline", "--json"]);
    let s: Value = serde_json::from_slice(&s.stdout).unwrap();
    assert_eq!(s["lastSkippedTime"], "2026-01-01T12:00:00Z");
    assert_eq!(s["nextBackupTime"], "2026-01-02T00:00:00Z");
    let codes: Vec<&str> = s["health"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"lastScheduledRunSkipped"), "{codes:?}");
    // The skipped slot is not retried as soon as the other run ends (no burst).
    std::fs::remove_file(lock_file(&w)).unwrap();
    let out = run(&w, &at(13), &["tick"]);
    assert_eq!(code(&out), 0);
    assert!(out.stdout.is_empty());
    assert_eq!(count_backups(&w, &at(13)), 0);
    let out = run(&w, &at(24), &["tick"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(count_backups(&w, &at(24)), 1);
}

/// Linux only: elsewhere a lock's process cannot be checked and only its expiry counts.
#[cfg(target_os = "linux")]
#[test]
fn a_stale_lock_of_a_dead_process_on_this_host_is_taken_over_with_a_warning() {
    let w = world();
    hold_target_lock(&w, &this_host(), dead_pid(), t0() + Duration::hours(9));
    let out = run(&w, &at(1), &["start-backup"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("warning") && err.contains("stale lock") && err.contains(RUNNING_ID),
        "{err}"
    );
    assert!(err.contains("no longer runs"), "{err}");
    assert_eq!(count_backups(&w, &at(1)), 1);
    assert!(!lock_file(&w).exists());
    // No lock file was left aside.
    let names: Vec<String> = std::fs::read_dir(w.path("backups/MASBackup"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(names.is_empty(), "{names:?}");
}

#[test]
fn an_expired_lock_is_taken_over() {
    let w = world();
    // Another host, so only the expiry can tell; it expired an hour before "now".
    hold_target_lock(
        &w,
        "other-host.contoso.com",
        4242,
        t0() + Duration::hours(4),
    );
    let out = run(&w, &at(5), &["start-backup"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("stale lock") && err.contains("expired"),
        "{err}"
    );
    assert_eq!(count_backups(&w, &at(5)), 1);
    // Not expired at an earlier "now": refused.
    hold_target_lock(
        &w,
        "other-host.contoso.com",
        4242,
        t0() + Duration::hours(4),
    );
    let out = run(&w, &at(3), &["start-backup"]);
    assert_eq!(code(&out), 5, "{}", stderr(&out));
}

#[test]
fn the_local_lock_refuses_a_second_run_on_this_machine() {
    use fs4::fs_std::FileExt;
    let w = world();
    let info = json!({
        "host": this_host(),
        "pid": std::process::id(),
        "operation": "backup",
        "backupId": RUNNING_ID,
        "trigger": "scheduled",
        "startTime": rfc(t0()),
        "expiry": rfc(t0() + Duration::hours(1)),
    });
    let path = w.write("settings.lock", &serde_json::to_vec_pretty(&info).unwrap());
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    assert!(FileExt::try_lock_exclusive(&f).unwrap());
    let out = run(&w, &at(1), &["start-backup"]);
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert!(stderr(&out).contains(RUNNING_ID), "{}", stderr(&out));
    assert!(stderr(&out).contains("(scheduled)"), "{}", stderr(&out));
    assert!(!lock_file(&w).exists(), "target lock taken while refused");
    // disable-auto does not wait for a running backup.
    let out = run(&w, &at(1), &["disable-auto"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    FileExt::unlock(&f).unwrap();
    drop(f);
    // Released without being emptied: the previous holder "crashed"; taken over with a note.
    let out = run(&w, &at(1), &["start-backup"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("without releasing its lock"),
        "{}",
        stderr(&out)
    );
}

/// Writes `mib` MiB of incompressible data (xorshift) so that a backup takes a while.
fn random_file(path: &std::path::Path, mib: usize) {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut buf = vec![0u8; 1 << 20];
    for _ in 0..mib {
        for chunk in buf.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        f.write_all(&buf).unwrap();
    }
    f.flush().unwrap();
}

#[test]
fn two_concurrent_backups_one_succeeds_the_other_exits_5() {
    let w = world();
    std::fs::create_dir_all(w.path("src/big")).unwrap();
    let out = run(&w, &at(0), &["configure", "--source", "big=src/big"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // The first run must last longer than it takes to start the second (a fraction of a
    // second). If a machine is so fast that it does not, try again with more data.
    for (attempt, mib) in [64, 512].into_iter().enumerate() {
        random_file(&w.path("src/big/blob.bin"), mib);
        let before = count_backups(&w, &at(1));
        let mut first = std::process::Command::new(assert_cmd::cargo::cargo_bin("azs-backup"))
            .env_remove("AZS_BACKUP_CONFIG")
            .env_remove("AZS_BACKUP_PASSWORD")
            .env(NOW, at(1))
            .arg("--config")
            .arg(w.config())
            .current_dir(w.dir.path())
            .args(["start-backup", "--json"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let first_pid = first.id();
        // Wait (without a clock) until the first run holds the lock on the target.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        let mut seen = true;
        while !lock_file(&w).exists() {
            if first.try_wait().unwrap().is_some() {
                seen = false;
                break;
            }
            assert!(std::time::Instant::now() < deadline, "no lock after 120 s");
            std::thread::yield_now();
        }
        let lock: Value = std::fs::read(lock_file(&w))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null);
        let second = seen.then(|| run(&w, &at(1), &["start-backup"]));
        let first_still_running = first.try_wait().unwrap().is_none();
        let first = first.wait_with_output().unwrap();
        assert_eq!(code(&first), 0, "first: {}", stderr(&first));
        let second = match second {
            Some(s) if code(&s) == 5 || first_still_running || attempt == 1 => s,
            // Inconclusive: the first run was over before the second looked.
            _ => continue,
        };
        assert_eq!(code(&second), 5, "second: {}", stderr(&second));
        let made: Value = serde_json::from_slice(&first.stdout).unwrap();
        let id = made["backupId"].as_str().unwrap();
        assert!(
            stderr(&second).contains(id),
            "the refusal does not name {id}: {}",
            stderr(&second)
        );
        if lock != Value::Null {
            assert_eq!(lock["backupId"], id);
            assert_eq!(lock["pid"], json!(first_pid));
        }
        assert_eq!(count_backups(&w, &at(2)), before + 1);
        assert!(!lock_file(&w).exists());
        return;
    }
    panic!("the first backup was always over before the second started");
}
