//! Fault injection through the real binary: `start-backup`, `tick`, `prune`, `verify` (with and
//! without `--key`) and `restore` meet a target that fails one call, at every call index of a
//! small run (two sources, five small files), and the same invariants are checked after every
//! run.
//!
//! The faults come from `src/store/faulty.rs`, armed with `AZS_BACKUP_TEST_FAULT` (rules) and
//! `AZS_BACKUP_TEST_FAULT_COUNT` (one line per target call). Each table first runs its command
//! once with counting only, to learn which calls it makes, then fails (see [`Table::rows`]):
//! - every call index of every operation with one kind (`reset`, a connection reset), except
//!   that of the `read`s of one opened file only the first and the last are failed;
//! - `notfound` and `short`, whose meaning depends on the operation, at one index of each
//!   operation the command uses;
//! - `denied`, `full`, `timeout` and `io`, which differ only in the error they map to, at one
//!   index of one operation each; for `prune`, `busy` at every deletion.
//!
//! A table of its own fails the lock keep-alive thread's calls (`thread=other`): its read of
//! the lock and its rewrite, with a lease of 1 s so that it runs during a small backup.
//!
//! After each faulty run, [`Table::check_fault`] checks:
//! - no panic, no exit 101; a failure is one `azs-backup: error:` line with a documented exit
//!   code for that command and kind (4 target; with `notfound` also 5 lock lost, 7 file
//!   missing, 9 backup not found), and an exit 4 says what the kind is (access denied, full…);
//! - the fault fired (the run did reach the call);
//! - the lock is released: no `MASBackup/.lock` on the target, the local `X.lock` is empty;
//! - settings and secrets are unchanged byte for byte, the state file parses;
//! - the good backup made first is byte-identical; every backup a `list` would show verifies
//!   with `verify ID --key` (no partial backup is listed as a backup);
//! - `verify` and `restore` changed nothing on the target and fail on every fault but a short
//!   read; a failed `restore` left no folder under a source's name unless it is complete and
//!   exact, and no hidden temporary folder.
//!
//! Then the next run without faults succeeds, and (for the commands that write) `prune` with
//! `AZS_BACKUP_TEST_LEASE_SECONDS=0` removes everything the failed run left: no GUID folder
//! without a manifest, no `.partial` file, no lock file. Each row starts from the same
//! baseline (the target folder and the state file are put back).
//!
//! The tables use a local target; `smb_*` tables run the sweep against the test Samba server
//! (`. DIR/env; AZS_TEST_SMB=required cargo test --test cli faults::`; skipped without it).

use crate::common;
use crate::smb_common;

use chrono::{DateTime, Duration, Utc};
use common::code;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;

const T0: &str = "2026-06-01T00:00:00Z";
const SOURCES: [&str; 2] = ["alpha", "beta"];
/// The kind every call index is failed with.
const SWEEP_KIND: &str = "reset";
/// The kinds that differ only in the error they map to: each at one index of one operation.
const ONCE_KINDS: [&str; 4] = ["denied", "full", "timeout", "io"];

fn at(hours: i64) -> String {
    let t0 = DateTime::parse_from_rfc3339(T0)
        .unwrap()
        .with_timezone(&Utc);
    (t0 + Duration::hours(hours)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The commands under test (`StartBackup` also for the keep-alive table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmd {
    StartBackup,
    Tick,
    Prune,
    Verify,
    VerifyKey,
    Restore,
}

impl Cmd {
    fn writes(self) -> bool {
        matches!(self, Cmd::StartBackup | Cmd::Tick | Cmd::Prune)
    }
}

/// A world with a configured target (local, or a folder on the Samba share), sources, a key
/// and one good backup; its target and state are saved as the baseline every run starts from.
struct Table {
    cmd: Cmd,
    dir: tempfile::TempDir,
    /// The target's root on this machine's disk (the share's folder for SMB).
    root: PathBuf,
    pem: PathBuf,
    good: String,
    /// Environment for every run (SMB: HOME, timeout, password).
    env: Vec<(String, String)>,
    /// The settings, secrets and state files as they were before any faulty run.
    settings: Vec<u8>,
    secrets: Vec<u8>,
    state: Vec<u8>,
    /// A copy of `root/MASBackup` as it was before any faulty run.
    baseline: PathBuf,
    /// The time faulty runs happen at.
    now: String,
    /// How many runs, for the report.
    runs: usize,
    /// The keep-alive table: faults on the lock keep-alive thread's calls only.
    keep_alive: bool,
    /// SMB: the owner of the share's files on the server's disk (restored copies get it), and
    /// the lock on the server held for the test.
    smb: Option<(u32, u32, smb_common::ServerLock)>,
}

impl Drop for Table {
    fn drop(&mut self) {
        if self.smb.is_some() {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

/// What one run of the binary did.
struct Run {
    what: String,
    code: i32,
    stderr: String,
}

impl Table {
    fn new(cmd: Cmd) -> Table {
        Self::with_target(cmd, None)
    }

    /// `smb`: (server, folder name on the share).
    fn with_target(cmd: Cmd, smb: Option<(&smb_common::Server, &str)>) -> Table {
        let dir = tempfile::tempdir().unwrap();
        let mut t = Table {
            cmd,
            root: dir.path().join("backups"),
            pem: PathBuf::new(),
            good: String::new(),
            env: Vec::new(),
            settings: Vec::new(),
            secrets: Vec::new(),
            state: Vec::new(),
            baseline: dir.path().join("baseline"),
            now: if cmd == Cmd::Tick { at(13) } else { at(0) },
            runs: 0,
            keep_alive: false,
            smb: None,
            dir,
        };
        let (target, password) = match smb {
            None => (t.root.display().to_string(), "share-secret".to_string()),
            Some((srv, folder)) => {
                t.root = srv
                    .local(&srv.share, folder)
                    .expect("server on this machine");
                let share = std::fs::metadata(t.root.parent().unwrap()).unwrap();
                use std::os::unix::fs::MetadataExt;
                t.smb = Some((
                    share.uid(),
                    share.gid(),
                    smb_common::server_lock(srv.dir.as_deref(), false),
                ));
                let home = t.path("home");
                std::fs::create_dir_all(home.join(".smb")).unwrap();
                std::fs::write(home.join(".smb/smb.conf"), "[global]\n").unwrap();
                t.env.push(("HOME".into(), home.display().to_string()));
                t.env
                    .push(("AZS_BACKUP_SMB_TIMEOUT_SECS".into(), "10".into()));
                (srv.url(&srv.share, folder), srv.password.clone())
            }
        };
        let user = smb.map_or("CONTOSO\\backupshareuser".to_string(), |(s, _)| {
            s.user.clone()
        });
        let out = t
            .bin(&at(-720), &[])
            .args(["new-cert", "--dns-name", "faults.contoso.com"])
            .args(["--no-pfx", "--out-dir", "certs"])
            .output()
            .unwrap();
        assert_eq!(code(&out), 0);
        t.pem = t.path("certs/faults.contoso.com.pem");
        t.write("src/alpha/notes.txt", b"alpha notes\n");
        t.write("src/alpha/deep/er/list.csv", b"a,b,c\n1,2,3\n");
        t.write("src/alpha/empty", b"");
        let noise: Vec<u8> = (0..20_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        t.write("src/beta/blob.bin", &noise);
        t.write("src/beta/readme", b"beta\n");
        let mut c = t.bin(&at(0), &[]);
        c.args(["configure", "--path", &target, "--username", &user])
            .args(["--password-stdin", "--encryption-cert-path"])
            .arg(t.path("certs/faults.contoso.com.cer"))
            .args(["--source", "alpha=src/alpha", "--source", "beta=src/beta"])
            .write_stdin(format!("{password}\n"));
        let out = c.output().unwrap();
        assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
        if cmd == Cmd::Prune {
            // Something for prune to delete: a backup past retention, a run's leftovers.
            let old = t.backup(&at(-24 * 10));
            assert!(!old.is_empty());
        }
        t.good = t.backup(&at(-1));
        if cmd == Cmd::Prune {
            let mas = t.root.join("MASBackup");
            let leftover = mas.join("0b7e1ad3-5c4f-4e2a-9d1b-6a0f3e2c9b11");
            std::fs::create_dir_all(&leftover).unwrap();
            std::fs::write(leftover.join("alpha.tar.zst.enc"), b"torn").unwrap();
            std::fs::write(mas.join(".beta.tar.zst.enc.x1y2z3.partial"), b"torn").unwrap();
            std::fs::write(mas.join(".lock.stale-0123456789abcdef"), b"{}").unwrap();
            let old = filetime::FileTime::from_system_time(
                std::time::SystemTime::now() - std::time::Duration::from_secs(7200),
            );
            for p in [
                leftover.join("alpha.tar.zst.enc"),
                leftover.clone(),
                mas.join(".beta.tar.zst.enc.x1y2z3.partial"),
                mas.join(".lock.stale-0123456789abcdef"),
            ] {
                filetime::set_file_mtime(&p, old).unwrap();
            }
        }
        t.settings = std::fs::read(t.path("s.toml")).unwrap();
        t.secrets = std::fs::read(t.path("s.secrets.toml")).unwrap();
        t.state = std::fs::read(t.path("s.state.json")).unwrap();
        copy_tree(&t.root.join("MASBackup"), &t.baseline);
        // Every backup of the baseline verifies, once.
        for id in listed(&t.root) {
            let r = t.run(&at(0), &["verify", &id, "--key", s(&t.pem)], &[]);
            assert_eq!(r.code, 0, "baseline backup {id}: {}", r.stderr);
        }
        t
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, data: &[u8]) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }

    /// The binary at time `now`, with this table's settings and environment.
    fn bin(&self, now: &str, env: &[(&str, &str)]) -> assert_cmd::Command {
        let mut c = common::bin();
        for v in [
            "AZS_BACKUP_TEST_FAULT",
            "AZS_BACKUP_TEST_FAULT_COUNT",
            "AZS_BACKUP_TEST_HOOK",
            "AZS_BACKUP_TEST_LEASE_SECONDS",
        ] {
            c.env_remove(v);
        }
        c.current_dir(self.dir.path())
            .arg("--config")
            .arg(self.path("s.toml"));
        if now.is_empty() {
            c.env_remove("AZS_BACKUP_NOW");
        } else {
            c.env("AZS_BACKUP_NOW", now);
        }
        for (k, v) in &self.env {
            c.env(k, v);
        }
        for (k, v) in env {
            c.env(k, v);
        }
        c
    }

    fn run(&self, now: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
        let out: Output = self.bin(now, env).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let what = format!("{args:?} {env:?}");
        let code = out
            .status
            .code()
            .unwrap_or_else(|| panic!("{what} was killed: {:?}\n{stderr}", out.status));
        Run { what, code, stderr }
    }

    /// `start-backup` at `now`; the backup id.
    fn backup(&self, now: &str) -> String {
        let out = self
            .bin(now, &[])
            .args(["start-backup", "--json"])
            .output()
            .unwrap();
        assert_eq!(
            code(&out),
            0,
            "start-backup: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["backupId"].as_str().unwrap().to_string()
    }

    /// The arguments of this table's command (`restore` into `to`).
    fn args(&self, to: &str) -> Vec<String> {
        let key = s(&self.pem).to_string();
        let v: Vec<&str> = match self.cmd {
            Cmd::StartBackup => vec!["start-backup"],
            Cmd::Tick => vec!["tick"],
            Cmd::Prune => vec!["prune"],
            Cmd::Verify => vec!["verify", &self.good],
            Cmd::VerifyKey => vec!["verify", &self.good, "--key", &key],
            Cmd::Restore => vec!["restore", &self.good, "--key", &key, "--to", to],
        };
        v.into_iter().map(String::from).collect()
    }

    /// Runs the command once with counting only: its calls, in order.
    fn count(&mut self) -> Vec<Call> {
        let file = self.path("count-clean");
        let _ = std::fs::remove_file(&file);
        let args = self.args("restore-count");
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = self.run(
            &self.now.clone(),
            &args,
            &[("AZS_BACKUP_TEST_FAULT_COUNT", s(&file))],
        );
        assert_eq!(r.code, 0, "counting run {}: {}", r.what, r.stderr);
        let mut calls = calls(&std::fs::read_to_string(&file).unwrap_or_default());
        calls.retain(|c| c.main);
        let _ = std::fs::remove_dir_all(self.path("restore-count"));
        self.reset();
        calls
    }

    /// Puts the target, the state and the local lock back as they were before any faulty run.
    fn reset(&self) {
        let mas = self.root.join("MASBackup");
        if !self.cmd.writes() && same_tree(&mas, &self.baseline).is_ok() {
            return;
        }
        std::fs::remove_dir_all(&mas).unwrap();
        copy_tree(&self.baseline, &mas);
        if let Some((uid, gid, _)) = &self.smb {
            chown_tree(&mas, *uid, *gid);
        }
        std::fs::write(self.path("s.state.json"), &self.state).unwrap();
    }

    /// Every row: (op, nth, kind). [`SWEEP_KIND`] at every call index, except that of the
    /// `read`s of one opened file only the first and the last are failed (the ones between
    /// take the same path through the code); `notfound` and `short`, whose meaning depends on
    /// the operation, at one index of every operation; the other kinds, which differ only in
    /// the error they map to, at one index of one operation each.
    fn rows(&mut self) -> Vec<(String, u64, &'static str)> {
        if self.keep_alive {
            // The first refresh's read of the lock, and its rewrite.
            let mut rows = Vec::new();
            for op in ["open", "read", "overwrite"] {
                for kind in ["reset", "notfound", "short"] {
                    rows.push((op.to_string(), 1, kind));
                }
            }
            return rows;
        }
        let calls = self.count();
        assert!(!calls.is_empty());
        let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
        let mut rows = Vec::new();
        // The reads of each opened file: (index of its first read, index of its last).
        let mut sessions: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        let mut read_ends = BTreeSet::new();
        for c in &calls {
            let n = counts.entry(c.op.as_str()).or_insert(0);
            *n += 1;
            match c.op.as_str() {
                "open" => {
                    if let Some((first, last)) = sessions.remove(c.path.as_str()) {
                        read_ends.extend([first, last]);
                    }
                }
                "read" => {
                    sessions
                        .entry(c.path.as_str())
                        .and_modify(|s| s.1 = *n)
                        .or_insert((*n, *n));
                }
                _ => rows.push((c.op.clone(), *n, SWEEP_KIND)),
            }
        }
        for (first, last) in sessions.into_values() {
            read_ends.extend([first, last]);
        }
        rows.extend(
            read_ends
                .into_iter()
                .map(|i| ("read".to_string(), i, SWEEP_KIND)),
        );
        if self.smb.is_some() {
            // Against the server: the sweep, and the partial operations whose handling is the
            // SMB target's own (a short upload, a torn lock); the other kinds take the same
            // path above the target as on a local one.
            for (op, n) in &counts {
                if matches!(*op, "write" | "commit" | "create_new") {
                    rows.push((op.to_string(), n.div_ceil(2), "short"));
                }
            }
        } else {
            for (op, n) in &counts {
                rows.push((op.to_string(), 1 + 5 % n, "notfound"));
                rows.push((op.to_string(), n.div_ceil(2), "short"));
            }
            let ops: Vec<(&&str, &u64)> = counts.iter().collect();
            for (j, kind) in ONCE_KINDS.iter().enumerate() {
                let (op, n) = ops[(j * 3 + 1) % ops.len()];
                rows.push((op.to_string(), n.div_ceil(2), *kind));
            }
            if self.cmd == Cmd::Prune {
                // A file the server holds open for a dead session, at every deletion: a
                // leftover is left for the next prune, a backup's deletion fails.
                for i in 1..=counts.get("delete").copied().unwrap_or(0) {
                    rows.push(("delete".to_string(), i, "busy"));
                }
            }
        }
        eprintln!(
            "{:?}: calls per operation {counts:?}: {} rows",
            self.cmd,
            rows.len()
        );
        rows
    }

    /// Runs every row and checks the invariants after each.
    fn run_table(&mut self) {
        let started = std::time::Instant::now();
        let rows = self.rows();
        let mut failures = Vec::new();
        for (i, (op, nth, kind)) in rows.iter().enumerate() {
            let rule = format!("op={op},nth={nth},kind={kind}");
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.row(i, op, &rule, kind)
            }));
            if let Err(e) = r {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!("{rule}: {msg}"));
                // Start the next row from the baseline whatever this one left.
                self.reset();
            }
        }
        eprintln!(
            "{:?}: {} rows, {} runs of the binary in {:.1?}",
            self.cmd,
            rows.len(),
            self.runs,
            started.elapsed()
        );
        assert!(
            failures.is_empty(),
            "{:?}: {} of {} rows broke an invariant:\n{}",
            self.cmd,
            failures.len(),
            rows.len(),
            failures.join("\n")
        );
    }

    /// One faulty run, its checks, the clean run after it, the clean-up and its checks.
    fn row(&mut self, i: usize, op: &str, rule: &str, kind: &str) {
        let count = self.path(&format!("count-{i}"));
        let to = format!("restore-{i}");
        let args = self.args(&to);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut now = self.now.clone();
        let mut rule = rule.to_string();
        let mut env = vec![("AZS_BACKUP_TEST_FAULT_COUNT", s(&count))];
        if self.keep_alive {
            // A lease of 1 s: the keep-alive thread refreshes every 333 ms, and rewrites the
            // lock when the expiry's second changes, which it does during a run that stalls
            // 1.5 s (on the real clock: a fixed AZS_BACKUP_NOW would never move the expiry).
            rule.push_str(",thread=other");
            now = String::new();
            env.push(("AZS_BACKUP_TEST_LEASE_SECONDS", "1"));
            env.push(("AZS_BACKUP_TEST_HOOK", "backup.source-start#1=sleep:1500"));
        }
        env.push(("AZS_BACKUP_TEST_FAULT", &rule));
        let r = self.run(&now, &args, &env);
        self.runs += 1;
        let text = std::fs::read_to_string(&count).unwrap_or_default();
        let _ = std::fs::remove_file(&count);
        let fired = calls(&text)
            .into_iter()
            .find(|c| c.fault.is_some())
            .unwrap_or_else(|| panic!("the fault did not fire (exit {}); calls:\n{text}", r.code));
        assert_eq!(
            (fired.op.as_str(), fired.fault.as_deref()),
            (op, Some(kind))
        );
        self.check_fault(&r, kind, &fired, &to);
        self.clean_up(&to);
    }

    /// The invariants after a faulty run.
    fn check_fault(&mut self, r: &Run, kind: &str, fired: &Call, to: &str) {
        assert!(
            !r.stderr.contains("panicked") && r.code != 101,
            "{} panicked (exit {}):\n{}",
            r.what,
            r.code,
            r.stderr
        );
        if r.code != 0 {
            let errors: Vec<&str> = r
                .stderr
                .lines()
                .filter(|l| l.starts_with("azs-backup: error:"))
                .collect();
            assert_eq!(
                errors.len(),
                1,
                "exit {}: expected one error line on stderr:\n{}",
                r.code,
                r.stderr
            );
            let allowed = allowed_codes(self.cmd, kind);
            assert!(
                allowed.contains(&r.code),
                "exit {} is not one of {allowed:?} for a {kind} fault in {:?}:\n{}",
                r.code,
                self.cmd,
                r.stderr
            );
            if r.code == 4 {
                let says = kind_says(kind);
                let line = errors[0].to_lowercase();
                assert!(
                    says.iter().any(|p| line.contains(p)),
                    "a {kind} fault, but the error says none of {says:?}:\n{}",
                    errors[0]
                );
            }
        } else if kind != "short" && matches!(self.cmd, Cmd::Verify | Cmd::VerifyKey | Cmd::Restore)
        {
            panic!(
                "exit 0 although every call of {:?} matters and one failed:\n{}",
                self.cmd, r.stderr
            );
        }
        let mas = self.root.join("MASBackup");
        // The lock is released. (Unless the target said it was not there: a `notfound` answer
        // to the read of the lock when releasing it. A run cannot remove what it is told is
        // gone.)
        let told_gone = kind == "notfound"
            && fired.path == "MASBackup/.lock"
            && matches!(fired.op.as_str(), "open" | "read");
        assert!(
            told_gone || !mas.join(".lock").exists(),
            "MASBackup/.lock is left on the target (exit {}):\n{}",
            r.code,
            r.stderr
        );
        let local = std::fs::read(self.path("s.lock")).unwrap_or_default();
        assert!(
            local.is_empty(),
            "the local lock file still holds {:?}",
            String::from_utf8_lossy(&local)
        );
        // Settings intact, state readable.
        assert!(
            std::fs::read(self.path("s.toml")).unwrap() == self.settings,
            "settings changed"
        );
        assert!(
            std::fs::read(self.path("s.secrets.toml")).unwrap() == self.secrets,
            "secrets changed"
        );
        let state = std::fs::read(self.path("s.state.json")).unwrap();
        serde_json::from_slice::<Value>(&state).unwrap_or_else(|e| {
            panic!(
                "the state file does not parse ({e}): {}",
                String::from_utf8_lossy(&state)
            )
        });
        // The good backup is untouched; every listed backup verifies.
        let good = format!("MASBackup/{}", self.good);
        same_tree(&self.root.join(&good), &self.baseline.join(&self.good))
            .unwrap_or_else(|e| panic!("the good backup changed: {e}"));
        for id in listed(&self.root) {
            if same_tree(&mas.join(&id), &self.baseline.join(&id)).is_ok() {
                continue; // verified with the baseline
            }
            let v = self.run(
                &self.now.clone(),
                &["verify", &id, "--key", s(&self.pem)],
                &[],
            );
            self.runs += 1;
            assert_eq!(
                v.code, 0,
                "backup {id} is listed after the faulty run (exit {}) but does not verify:\n{}",
                r.code, v.stderr
            );
        }
        if !self.cmd.writes() {
            same_tree(&mas, &self.baseline)
                .unwrap_or_else(|e| panic!("{:?} changed the target: {e}", self.cmd));
        }
        if self.cmd == Cmd::Restore {
            self.check_restored(to, r.code == 0);
        }
    }

    /// After a restore: only complete, exact sources under their final names; no temp folder.
    fn check_restored(&self, to: &str, all: bool) {
        let to = self.path(to);
        let names: BTreeSet<String> = match std::fs::read_dir(&to) {
            Ok(rd) => rd
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => BTreeSet::new(),
        };
        for n in &names {
            assert!(
                SOURCES.contains(&n.as_str()),
                "{} holds {n:?} after the restore (a temporary folder left behind?)",
                to.display()
            );
            same_tree(&to.join(n), &self.path(&format!("src/{n}")))
                .unwrap_or_else(|e| panic!("restored source {n} is not exact: {e}"));
        }
        if all {
            assert_eq!(
                names.len(),
                SOURCES.len(),
                "restore exit 0 but got {names:?}"
            );
        }
        let _ = std::fs::remove_dir_all(&to);
    }

    /// The next run without faults succeeds; prune with a zero lease removes every leftover;
    /// then back to the baseline.
    fn clean_up(&mut self, to: &str) {
        let later = match self.cmd {
            Cmd::Tick => at(25),
            _ => self.now.clone(),
        };
        let args = self.args(to);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        if self.cmd != Cmd::Prune {
            let r = self.run(&later, &args, &[]);
            self.runs += 1;
            assert_eq!(
                r.code, 0,
                "the next run without faults failed:\n{}",
                r.stderr
            );
            if self.cmd == Cmd::Restore {
                self.check_restored(to, true);
            }
        }
        if self.cmd.writes() {
            let r = self.run(
                &later,
                &["prune"],
                &[("AZS_BACKUP_TEST_LEASE_SECONDS", "0")],
            );
            self.runs += 1;
            assert_eq!(
                r.code, 0,
                "prune after the faulty run failed:\n{}",
                r.stderr
            );
            let left = leftovers(&self.root.join("MASBackup"));
            assert!(left.is_empty(), "prune left {left:?}");
            same_tree(
                &self.root.join(format!("MASBackup/{}", self.good)),
                &self.baseline.join(&self.good),
            )
            .unwrap_or_else(|e| panic!("the good backup changed: {e}"));
        }
        self.reset();
    }
}

/// One target call, from the count file of `src/store/faulty.rs`.
#[derive(Debug, Clone)]
struct Call {
    op: String,
    path: String,
    fault: Option<String>,
    /// Made on the main thread (else: the lock keep-alive thread).
    main: bool,
}

/// The calls in a count file (`op path=P [thread=other] [fault=KIND]`).
fn calls(text: &str) -> Vec<Call> {
    text.lines()
        .map(|l| {
            let mut words = l.split_whitespace();
            let op = words.next().unwrap().to_string();
            let (mut path, mut fault, mut main) = (String::new(), None, true);
            for w in words {
                if let Some(p) = w.strip_prefix("path=") {
                    path = p.to_string();
                } else if let Some(k) = w.strip_prefix("fault=") {
                    fault = Some(k.to_string());
                } else if w == "thread=other" {
                    main = false;
                }
            }
            Call {
                op,
                path,
                fault,
                main,
            }
        })
        .collect()
}

/// Exit codes a run of `cmd` may end with when a call fails with `kind` (README "Exit codes").
fn allowed_codes(cmd: Cmd, kind: &str) -> Vec<i32> {
    let mut v = vec![4];
    match cmd {
        // A lock check that finds the lock file gone (ENOENT) stops the run as "lost its lock".
        Cmd::StartBackup | Cmd::Tick if kind == "notfound" => v.push(5),
        Cmd::StartBackup | Cmd::Tick | Cmd::Prune => {}
        // A file the target says is missing is a failed verification; a manifest the target
        // says is missing is a backup not found.
        Cmd::Verify | Cmd::VerifyKey | Cmd::Restore if kind == "notfound" => v.extend([7, 9]),
        Cmd::Verify | Cmd::VerifyKey | Cmd::Restore => {}
    }
    v
}

/// What the error line of a target error (exit 4) says for each kind.
fn kind_says(kind: &str) -> &'static [&'static str] {
    match kind {
        "denied" => &["access denied"],
        "notfound" => &["not found"],
        "full" => &["is full"],
        "reset" | "timeout" => &["cannot reach"],
        "io" => &["input/output error"],
        "busy" => &["busy"],
        "short" => &["incomplete", "input/output error"],
        _ => &[],
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Backups a `list` would show: GUID folders with a `manifest.json`.
fn listed(root: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(root.join("MASBackup")) else {
        return Vec::new();
    };
    let mut v: Vec<String> = rd
        .map(|e| e.unwrap())
        .filter(|e| e.path().join("manifest.json").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// What a failed run may leave and prune must remove: GUID folders without a manifest,
/// `.partial` files, lock files.
fn leftovers(mas: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            let p = e.path();
            if p.is_dir() {
                if !p.join("manifest.json").exists() {
                    out.push(format!("{} (no manifest)", p.display()));
                }
                walk(&p, out);
            } else if name.ends_with(".partial") || name.starts_with(".lock") {
                out.push(p.display().to_string());
            }
        }
    }
    if mas.exists() {
        walk(mas, &mut out);
    }
    out
}

/// Copies a tree, keeping modification times (prune judges leftovers by age).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if e.file_type().unwrap().is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
        let m = std::fs::metadata(&src).unwrap();
        filetime::set_file_mtime(&dst, filetime::FileTime::from_last_modification_time(&m))
            .unwrap();
    }
}

/// Gives a tree to the server's user (the copies the test makes as root are its own).
fn chown_tree(dir: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(dir, Some(uid), Some(gid)).unwrap();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            chown_tree(&p, uid, gid);
        } else {
            std::os::unix::fs::chown(&p, Some(uid), Some(gid)).unwrap();
        }
    }
}

/// `Ok` when both trees hold the same names and the same bytes.
fn same_tree(a: &Path, b: &Path) -> Result<(), String> {
    fn files(root: &Path, dir: &Path, out: &mut BTreeMap<String, Option<Vec<u8>>>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd {
            let e = e.unwrap();
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            if e.file_type().unwrap().is_dir() {
                out.insert(rel, None);
                files(root, &p, out);
            } else {
                out.insert(rel, Some(std::fs::read(&p).unwrap()));
            }
        }
    }
    let (mut fa, mut fb) = (BTreeMap::new(), BTreeMap::new());
    if !a.is_dir() {
        return Err(format!("{} is missing", a.display()));
    }
    files(a, a, &mut fa);
    files(b, b, &mut fb);
    if fa.keys().ne(fb.keys()) {
        return Err(format!(
            "{} holds {:?}, expected {:?}",
            a.display(),
            fa.keys().collect::<Vec<_>>(),
            fb.keys().collect::<Vec<_>>()
        ));
    }
    for (k, v) in &fa {
        if fb[k] != *v {
            return Err(format!("{}/{k} differs", a.display()));
        }
    }
    Ok(())
}

#[test]
fn start_backup_meets_a_fault_at_every_call() {
    Table::new(Cmd::StartBackup).run_table();
}

#[test]
fn the_lock_keep_alive_meets_a_fault() {
    let mut t = Table::new(Cmd::StartBackup);
    t.keep_alive = true;
    t.run_table();
}

#[test]
fn tick_meets_a_fault_at_every_call() {
    Table::new(Cmd::Tick).run_table();
}

#[test]
fn prune_meets_a_fault_at_every_call() {
    Table::new(Cmd::Prune).run_table();
}

#[test]
fn verify_meets_a_fault_at_every_call() {
    Table::new(Cmd::Verify).run_table();
}

#[test]
fn verify_with_key_meets_a_fault_at_every_call() {
    Table::new(Cmd::VerifyKey).run_table();
}

#[test]
fn restore_meets_a_fault_at_every_call() {
    Table::new(Cmd::Restore).run_table();
}

#[cfg(feature = "smb")]
/// A table against the suite's Samba server, or `None` (skipped, unless `AZS_TEST_SMB=required`).
fn smb_table(cmd: Cmd, test: &str) -> Option<Table> {
    let srv = smb_common::Server::from_env(test)?;
    if srv.dir.is_none() {
        eprintln!("skipping {test}: the server is not on this machine (AZS_TEST_SMB_DIR)");
        return None;
    }
    let folder = format!(
        "t-faults-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    Some(Table::with_target(cmd, Some((&srv, &folder))))
}

#[cfg(feature = "smb")]
#[test]
fn smb_start_backup_meets_a_fault_at_every_call() {
    if let Some(mut t) = smb_table(
        Cmd::StartBackup,
        "smb_start_backup_meets_a_fault_at_every_call",
    ) {
        t.run_table();
    }
}

#[cfg(feature = "smb")]
#[test]
fn smb_restore_meets_a_fault_at_every_call() {
    if let Some(mut t) = smb_table(Cmd::Restore, "smb_restore_meets_a_fault_at_every_call") {
        t.run_table();
    }
}
