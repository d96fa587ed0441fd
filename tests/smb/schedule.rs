//! Scheduling, retention and exclusive runs (the automatic-backups issue) against the real Samba
//! server, through the real binary: the same rules as on a local target.

use crate::common;
use crate::smb_common;

use chrono::{DateTime, Duration, Utc};
use common::{code, World};
use smb_common::{server_lock, Server, ServerLock};
use std::process::Output;

struct Ctx {
    w: World,
    srv: Server,
    folder: String,
    _lock: ServerLock,
}

impl Ctx {
    fn new(test: &str) -> Option<Ctx> {
        let srv = Server::from_env(test)?;
        let lock = server_lock(srv.dir.as_deref(), false);
        let w = World::new();
        // libsmbclient reads $HOME/.smb/smb.conf: give every run an empty one.
        w.write("home/.smb/smb.conf", b"");
        let folder = format!("sched-{test}-{}", uuid::Uuid::new_v4().simple());
        Some(Ctx {
            w,
            srv,
            folder,
            _lock: lock,
        })
    }

    fn url(&self) -> String {
        self.srv.url(&self.srv.share, &self.folder)
    }

    /// The backup folder on the server's disk.
    fn on_disk(&self) -> std::path::PathBuf {
        self.srv
            .local(&self.srv.share, &self.folder)
            .expect("the Samba server runs on this machine")
            .join("MASBackup")
    }

    fn run(&self, now: &str, args: &[&str]) -> Output {
        self.w
            .cmd()
            .env("HOME", self.w.path("home"))
            .env("AZS_BACKUP_NOW", now)
            .args(args)
            .output()
            .unwrap()
    }

    fn ok(&self, now: &str, args: &[&str]) -> Output {
        let out = self.run(now, args);
        assert_eq!(
            code(&out),
            0,
            "{args:?} at {now}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn json(&self, now: &str, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.ok(now, &a);
        serde_json::from_slice(&out.stdout).expect("one JSON document on stdout")
    }

    /// A first configure at `now`, against the share, with one small source.
    fn configure(&self, now: &str) {
        let (cer, _) = self.w.new_cert("smbsched", None);
        self.w.write("src/identity/users.db", b"alice\nbob\n");
        let out = self
            .w
            .cmd()
            .env("HOME", self.w.path("home"))
            .env("AZS_BACKUP_NOW", now)
            .args(["configure", "--path", &self.url(), "--username"])
            .arg(format!("WORKGROUP\\{}", self.srv.user))
            .arg("--password-stdin")
            .arg("--encryption-cert-path")
            .arg(&cer)
            .args(["--source", "identity=src/identity"])
            .write_stdin(format!("{}\n", self.srv.password))
            .output()
            .unwrap();
        assert_eq!(
            code(&out),
            0,
            "configure: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn backups(&self, now: &str) -> Vec<serde_json::Value> {
        self.json(now, &["list"])["backups"]
            .as_array()
            .unwrap()
            .clone()
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        if let Some(d) = self.srv.local(&self.srv.share, &self.folder) {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-02T08:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn at(minutes: i64) -> String {
    (t0() + Duration::minutes(minutes)).to_rfc3339()
}

fn next_of(v: &serde_json::Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v["nextBackupTime"].as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

#[test]
fn schedule_timeline_on_the_share() {
    let Some(c) = Ctx::new("timeline") else {
        return;
    };
    c.configure(&at(0));
    let st = c.json(&at(0), &["status"]);
    assert_eq!(next_of(&st), t0() + Duration::hours(12));
    // On demand at T+1h: next unchanged.
    c.ok(&at(60), &["start-backup"]);
    assert_eq!(
        next_of(&c.json(&at(60), &["status"])),
        t0() + Duration::hours(12)
    );
    // T+11h59m: nothing; T+12h: one backup, next T+24h.
    let idle = c.json(&at(12 * 60 - 1), &["tick"]);
    assert_eq!(idle["ran"], false);
    assert_eq!(c.backups(&at(12 * 60 - 1)).len(), 1);
    let ran = c.json(&at(12 * 60), &["tick"]);
    assert_eq!(ran["ran"], true, "{ran}");
    assert_eq!(next_of(&ran), t0() + Duration::hours(24));
    assert_eq!(c.backups(&at(12 * 60)).len(), 2);
    // Off until T+60h: one tick makes one backup, next T+72h.
    let ran = c.json(&at(60 * 60), &["tick"]);
    assert_eq!(ran["ran"], true);
    assert_eq!(next_of(&ran), t0() + Duration::hours(72));
    let again = c.json(&at(60 * 60 + 1), &["tick"]);
    assert_eq!(again["ran"], false);
    assert_eq!(c.backups(&at(60 * 60 + 1)).len(), 3);
    // Paused: no backup however late.
    // (Within the 7-day retention, so the prune after each tick deletes nothing.)
    c.ok(&at(61 * 60), &["disable-auto"]);
    let paused = c.json(&at(100 * 60), &["tick"]);
    assert_eq!(paused["ran"], false);
    assert_eq!(c.backups(&at(100 * 60)).len(), 3);
    c.ok(&at(100 * 60), &["enable-auto"]);
    let resumed = c.json(&at(100 * 60), &["tick"]);
    assert_eq!(resumed["ran"], true);
    assert_eq!(c.backups(&at(100 * 60)).len(), 4);
}

#[test]
fn prune_by_age_on_the_share() {
    let Some(c) = Ctx::new("prune") else {
        return;
    };
    let now = t0() + Duration::days(30);
    let days_ago = |d: i64| (now - Duration::days(d)).to_rfc3339();
    c.configure(&days_ago(25));
    for age in [1, 3, 6, 8, 10, 12] {
        c.ok(&days_ago(age), &["start-backup"]);
    }
    let n = now.to_rfc3339();
    let before = c.backups(&n);
    assert_eq!(before.len(), 6);
    let dry = c.json(&n, &["prune", "--dry-run"]);
    assert_eq!(dry["dryRun"], true);
    assert_eq!(dry["wouldDelete"].as_array().unwrap().len(), 3, "{dry}");
    assert_eq!(c.backups(&n).len(), 6, "--dry-run deleted something");
    c.ok(&n, &["prune"]);
    let after = c.backups(&n);
    assert_eq!(after.len(), 3);
    for b in &after {
        let created = DateTime::parse_from_rfc3339(b["createdDateTime"].as_str().unwrap())
            .unwrap()
            .with_timezone(&Utc);
        assert!(now - created <= Duration::days(7), "{b}");
    }
    // Nothing deleted is left half-way on the share.
    let left: Vec<_> = std::fs::read_dir(c.on_disk())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert_eq!(left.len(), 3, "{left:?}");
    // All past retention: the newest Succeeded one stays.
    let late = (now + Duration::days(30)).to_rfc3339();
    c.ok(&late, &["prune"]);
    assert_eq!(c.backups(&late).len(), 1);
}

#[test]
fn the_share_lock_keeps_runs_exclusive() {
    let Some(c) = Ctx::new("lock") else {
        return;
    };
    c.configure(&at(0));
    let running = "11111111-2222-4333-8444-555555555555";
    let lock = |pid: u32, expiry: DateTime<Utc>| {
        serde_json::to_vec_pretty(&serde_json::json!({
            "host": azs_backup::backup::host_name(),
            "pid": pid,
            "operation": "backup",
            "backupId": running,
            "trigger": "onDemand",
            "startTime": t0().to_rfc3339(),
            "expiry": expiry.to_rfc3339(),
            "toolVersion": "0.1.0",
        }))
        .unwrap()
    };
    let lock_path = c.on_disk().join(".lock");
    // A live run (this test process) holds the share's lock: a second backup is refused.
    std::fs::write(
        &lock_path,
        lock(std::process::id(), t0() + Duration::hours(100)),
    )
    .unwrap();
    let out = c.run(&at(10), &["start-backup"]);
    assert_eq!(code(&out), 5, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains(running));
    // A tick that meets it records the slot as skipped and exits 0.
    let skipped = c.json(&at(12 * 60), &["tick"]);
    assert_eq!(skipped["ran"], false);
    assert_eq!(skipped["reason"], "skipped", "{skipped}");
    // An expired lock is stale: taken over with a warning.
    std::fs::write(
        &lock_path,
        lock(std::process::id(), t0() + Duration::minutes(5)),
    )
    .unwrap();
    let out = c.ok(&at(13 * 60), &["start-backup"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("stale"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!lock_path.exists(), "the lock is released after the run");
    // Two concurrent runs against the share: exactly one succeeds, the other exits 5.
    let big: Vec<u8> = (0..192u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    c.w.write("src/identity/big.bin", &big);
    let spawn = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_azs-backup"))
            .arg("--config")
            .arg(c.w.config())
            .arg("start-backup")
            .env("HOME", c.w.path("home"))
            .env("AZS_BACKUP_NOW", at(14 * 60))
            .env_remove("AZS_BACKUP_PASSWORD")
            .current_dir(c.w.path(""))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let first = spawn();
    // Start the second once the first holds the share's lock.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !lock_path.exists() {
        assert!(std::time::Instant::now() < deadline, "no lock appeared");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let second = spawn().wait_with_output().unwrap();
    let first = first.wait_with_output().unwrap();
    let mut codes = [code(&first), code(&second)];
    codes.sort();
    assert_eq!(
        codes,
        [0, 5],
        "first: {} second: {}",
        String::from_utf8_lossy(&first.stderr),
        String::from_utf8_lossy(&second.stderr)
    );
}
