//! Crashes through the binary: `start-backup`, `prune`, `restore` and `configure` killed with
//! SIGKILL at named steps (the test-only fault points of `src/testhook.rs`, armed by
//! `AZS_BACKUP_TEST_HOOK`) and at seeded moments. After every crash:
//!
//! - the settings, secrets and state files are absent or whole (they parse, and the binary
//!   loads them: `status --offline` exits 0, or 3 when not configured), and the leftovers of
//!   an interrupted atomic write are private (0600) and break nothing;
//! - every backup `list` shows verifies with the key (`verify ID --key`);
//! - a restore destination holds, under each `DIR/NAME/`, only files identical to the source;
//!   anything else is a hidden `.NAME.*.partial` folder (mode 0700);
//! - the next run succeeds: the dead run's lock (the OS lock died with it; the target lock names
//!   a dead process of this host) is taken over with a warning, and a `prune` with a zero lease
//!   leaves no folder without a manifest and no `.partial`, `.probe-` or `.lock.stale-` file.

#![cfg(unix)]

use crate::common;

use common::{code, World};
use serde_json::Value;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

const HOOK: &str = "AZS_BACKUP_TEST_HOOK";
const LEASE: &str = "AZS_BACKUP_TEST_LEASE_SECONDS";
const SOURCES: [&str; 2] = ["alpha", "beta"];

// ---------------------------------------------------------------------------------------------
// Fixtures

/// A certificate (.cer) and its key (.pem), made once with `new-cert` and kept in Cargo's temp
/// directory for this crate's tests (an RSA key per test would cost a third of a second each).
fn cert() -> &'static (PathBuf, PathBuf) {
    static CERT: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    CERT.get_or_init(|| {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let month = chrono::Utc::now().format("%Y-%m");
        let dir = base.join(format!("crash_cli-cert-{month}"));
        let files = |d: &Path| {
            (
                d.join("crash.contoso.com.cer"),
                d.join("crash.contoso.com.pem"),
            )
        };
        let (cer, pem) = files(&dir);
        if !(cer.exists() && pem.exists()) {
            let tmp = base.join(format!(".crash_cli-cert-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&tmp);
            common::bin()
                .args(["new-cert", "--dns-name", "crash.contoso.com", "--no-pfx"])
                .arg("--out-dir")
                .arg(&tmp)
                .assert()
                .success();
            // Another test process may have put its own there first: then that one is used.
            if std::fs::rename(&tmp, &dir).is_err() {
                let _ = std::fs::remove_dir_all(&tmp);
            }
        }
        files(&dir)
    })
}

fn pem() -> &'static Path {
    &cert().1
}

/// Deterministic pseudo-random numbers (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v: Vec<u8> = (0..n.div_ceil(8))
            .flat_map(|_| self.next().to_le_bytes())
            .collect();
        v.truncate(n);
        v
    }

    /// A fraction in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Two sources: `alpha` (5 regular files, nested folders, an empty file, a symlink, about
/// 0.8 MiB of incompressible data: a dozen chunks and many reads) and `beta` (5 small files).
fn fill_sources(w: &World) {
    let mut rng = Rng(7);
    w.write("src/alpha/a.txt", b"alpha\n");
    w.write("src/alpha/docs/b.txt", b"bravo\n".repeat(300).as_slice());
    w.write("src/alpha/docs/deep/c.bin", &rng.bytes(150_000));
    w.write("src/alpha/empty", b"");
    w.write("src/alpha/z-big.bin", &rng.bytes(700_000));
    std::os::unix::fs::symlink("a.txt", w.path("src/alpha/link")).unwrap();
    for i in 0..5 {
        w.write(
            &format!("src/beta/f{i}.txt"),
            format!("beta file {i}\n").repeat(i + 1).as_bytes(),
        );
    }
}

/// The binary with a clean environment (no variable of the caller's reaches it).
fn command(w: &World, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("azs-backup"));
    c.arg("--config")
        .arg(w.config())
        .args(args)
        .current_dir(w.path(""));
    for v in [
        "AZS_BACKUP_CONFIG",
        "AZS_BACKUP_PASSWORD",
        "AZS_BACKUP_NOW",
        "AZS_BACKUP_KEY_PASSWORD",
        "AZS_BACKUP_PFX_PASSWORD",
        HOOK,
        LEASE,
    ] {
        c.env_remove(v);
    }
    c.envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn spawn(w: &World, args: &[&str], env: &[(&str, &str)], stdin: &str) -> std::process::Child {
    let mut child = command(w, args, env).spawn().expect("spawn");
    let mut input = child.stdin.take().unwrap();
    // The process may die before it reads: a broken pipe is fine.
    let _ = input.write_all(stdin.as_bytes());
    child
}

fn run_in(w: &World, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    spawn(w, args, env, stdin).wait_with_output().unwrap()
}

fn run(w: &World, args: &[&str]) -> Output {
    run_in(w, args, &[], "")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `args` with `hook` (`step` or `step#N`) set to kill, and asserts that the process was
/// killed there (the step was reached). Returns its pid.
fn crash(w: &World, hook: &str, args: &[&str], env: &[(&str, &str)], stdin: &str) -> u32 {
    let arm = format!("{hook}=kill");
    let mut env = env.to_vec();
    env.push((HOOK, &arm));
    let child = spawn(w, args, &env, stdin);
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.signal(),
        Some(9),
        "{args:?} with {hook}=kill was not killed there (exit {:?}): {}",
        out.status.code(),
        stderr(&out)
    );
    pid
}

fn configure_args(w: &World, sources: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "configure".into(),
        "--path".into(),
        w.path("backups").display().to_string(),
        "--username".into(),
        "CONTOSO\\backupshareuser".into(),
        "--password-stdin".into(),
        "--encryption-cert-path".into(),
        cert().0.display().to_string(),
    ];
    for s in sources {
        a.push("--source".into());
        a.push(s.to_string());
    }
    a
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// A world with both sources, configured (not backed up yet).
fn world() -> World {
    let w = World::new();
    fill_sources(&w);
    w.configure(&cert().0, &["alpha=src/alpha", "beta=src/beta"]);
    w
}

fn backup(w: &World) -> String {
    let out = run(w, &["start-backup", "--json"]);
    assert_eq!(code(&out), 0, "start-backup: {}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    v["backupId"].as_str().unwrap().to_string()
}

fn now_minus_days(d: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::days(d))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

// ---------------------------------------------------------------------------------------------
// Checks

/// The ids `list --json` shows (through the settings, or straight from the target when the
/// settings are missing); empty when there is no target yet.
fn listed(w: &World) -> Vec<String> {
    let out = if w.config().exists() {
        run(w, &["list", "--json"])
    } else if w.path("backups").exists() {
        let from = w.path("backups").display().to_string();
        run(w, &["list", "--from", &from, "--json"])
    } else {
        return Vec::new();
    };
    assert_eq!(code(&out), 0, "list: {}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("list --json");
    v["backups"]
        .as_array()
        .expect("backups")
        .iter()
        .map(|b| b["backupId"].as_str().unwrap().to_string())
        .collect()
}

/// Everything a crash must not break; returns the ids listed.
fn assert_consistent(w: &World, ctx: &str) -> Vec<String> {
    // The private files are absent or whole.
    for name in [
        "settings.toml",
        "settings.secrets.toml",
        "settings.state.json",
    ] {
        let p = w.path(name);
        match std::fs::read_to_string(&p) {
            Ok(text) if name.ends_with(".toml") => {
                if let Err(e) = toml::from_str::<toml::Table>(&text) {
                    panic!("{ctx}: {name} is not whole TOML: {e}\n{text}");
                }
            }
            Ok(text) => {
                if let Err(e) = serde_json::from_str::<Value>(&text) {
                    panic!("{ctx}: {name} is not whole JSON: {e}\n{text}");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("{ctx}: reading {name}: {e}"),
        }
        if p.exists() {
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{ctx}: {name} has mode {mode:o}");
        }
    }
    // Leftovers of an interrupted atomic write hold settings or secrets: private.
    for e in std::fs::read_dir(w.path("")).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".tmp") {
            let mode = e.metadata().unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{ctx}: leftover {name} has mode {mode:o}");
        }
    }
    // The binary loads them.
    let s = run(w, &["status", "--offline", "--json"]);
    if w.config().exists() {
        assert_eq!(code(&s), 0, "{ctx}: status: {}", stderr(&s));
        serde_json::from_slice::<Value>(&s.stdout).expect("status --json");
    } else {
        assert_eq!(code(&s), 3, "{ctx}: status: {}", stderr(&s));
        assert!(
            stderr(&s).contains("not configured"),
            "{ctx}: status: {}",
            stderr(&s)
        );
    }
    // Every backup listed verifies with the key.
    let ids = listed(w);
    let key = pem().display().to_string();
    let from = w.path("backups").display().to_string();
    for id in &ids {
        let mut args = vec!["verify", id.as_str(), "--key", &key];
        if !w.config().exists() {
            args.extend(["--from", &from]);
        }
        let v = run(w, &args);
        assert_eq!(code(&v), 0, "{ctx}: verify {id}: {}", stderr(&v));
    }
    ids
}

/// The target lock after a crashed run: whole, naming the dead process of this host.
fn assert_lock_names_dead(w: &World, pid: u32, ctx: &str) {
    let lock = w.path("backups/MASBackup/.lock");
    let bytes = std::fs::read(&lock).unwrap_or_else(|e| panic!("{ctx}: no target lock: {e}"));
    let v: Value = serde_json::from_slice(&bytes).expect("the lock is whole JSON");
    assert_eq!(v["pid"], pid, "{ctx}: {v}");
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "{ctx}: {pid} runs"
    );
}

/// A run after a crash took over the dead run's lock, with a warning.
fn assert_took_over(out: &Output, pid: u32, ctx: &str) {
    let err = stderr(out);
    assert!(
        err.contains("took over a stale lock on the target")
            && err.contains(&format!("process {pid} no longer runs on this host")),
        "{ctx}: no takeover warning: {err}"
    );
}

/// `prune` with a zero lease: leftovers of every age go.
fn prune_now(w: &World) -> Output {
    run_in(w, &["prune", "--json"], &[(LEASE, "0")], "")
}

/// The target holds only whole backups: each GUID folder has its manifest, and no upload,
/// probe or stale lock is left anywhere.
fn assert_target_clean(w: &World, ctx: &str) {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            }
            out.push(p);
        }
    }
    let root = w.path("backups/MASBackup");
    let mut all = Vec::new();
    walk(&root, &mut all);
    for p in all {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let rel = p.strip_prefix(&root).unwrap().display().to_string();
        if p.is_dir() && p.parent() == Some(root.as_path()) && uuid::Uuid::parse_str(&name).is_ok()
        {
            assert!(
                p.join("manifest.json").exists(),
                "{ctx}: {rel} has no manifest"
            );
        }
        assert!(
            !(name.ends_with(".partial")
                || name.starts_with(".probe-")
                || name.starts_with(".lock.stale-")),
            "{ctx}: {rel} is left on the target"
        );
    }
}

/// Relative paths of the entries under `root`, with what each is (file bytes, link target or
/// folder).
fn tree(root: &Path) -> std::collections::BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut std::collections::BTreeMap<String, String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let what = if m.file_type().is_symlink() {
                format!("link {}", std::fs::read_link(&p).unwrap().display())
            } else if m.is_dir() {
                walk(root, &p, out);
                "dir".to_string()
            } else {
                let data = std::fs::read(&p).unwrap();
                format!("file {} {}", data.len(), hex::encode(sha2_256(&data)))
            };
            out.insert(rel, what);
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn sha2_256(data: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(data).to_vec()
}

/// What a crashed restore left in its destination.
#[derive(Debug, Default)]
struct Left {
    /// The hidden `.NAME.*.partial` folders.
    partial: Vec<String>,
    /// Those of them that other users can enter (not mode 0700).
    open_to_others: Vec<String>,
}

/// After a crash mid-restore into `to`: every entry under `to/NAME/` is the source's; anything
/// else at the top of `to` is a hidden `.NAME.*.partial` folder holding only files of the
/// source (or the beginning of one: the file being written).
fn assert_restore_dir(w: &World, to: &Path, ctx: &str) -> Left {
    let mut left = Left::default();
    let Ok(rd) = std::fs::read_dir(to) else {
        return left;
    };
    for e in rd {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        let source = SOURCES.iter().find(|s| {
            name == **s || name.starts_with(&format!(".{s}.")) && name.ends_with(".partial")
        });
        let Some(source) = source else {
            panic!("{ctx}: unexpected {name} in the restore destination");
        };
        let src = w.path(&format!("src/{source}"));
        let want = tree(&src);
        if name == *source {
            for (rel, what) in tree(&e.path()) {
                assert_eq!(
                    want.get(&rel),
                    Some(&what),
                    "{ctx}: {name}/{rel} is not the source's"
                );
            }
            continue;
        }
        let m = std::fs::symlink_metadata(e.path()).unwrap();
        assert!(m.is_dir(), "{ctx}: {name} is not a folder");
        if m.permissions().mode() & 0o077 != 0 {
            left.open_to_others.push(format!(
                "{name} (mode {:o})",
                m.permissions().mode() & 0o7777
            ));
        }
        for (rel, what) in tree(&e.path()) {
            let Some(expected) = want.get(&rel) else {
                panic!("{ctx}: {name}/{rel} is not in the source");
            };
            if what != *expected {
                let got = std::fs::read(e.path().join(&rel)).unwrap();
                let full = std::fs::read(src.join(&rel)).unwrap_or_default();
                assert!(
                    what.starts_with("file") && full.starts_with(&got),
                    "{ctx}: {name}/{rel} is neither the source's nor the beginning of it"
                );
            }
        }
        left.partial.push(name);
    }
    left
}

/// The documented guarantee: a restore in progress is a 0700 folder (`docs/THREAT-MODEL.md`).
fn assert_private(left: &Left, ctx: &str) {
    assert!(
        left.open_to_others.is_empty(),
        "{ctx}: the restore's temporary folders can be entered by other users: {:?}",
        left.open_to_others
    );
}

/// Every source restored completely into `to`.
fn assert_restored(w: &World, to: &Path, ctx: &str) {
    for s in SOURCES {
        assert_eq!(
            tree(&to.join(s)),
            tree(&w.path(&format!("src/{s}"))),
            "{ctx}: {s} was not restored exactly"
        );
    }
}

fn restore(w: &World, id: &str, to: &str, force: bool, env: &[(&str, &str)]) -> Output {
    let key = pem().display().to_string();
    let to = w.path(to).display().to_string();
    let mut args = vec!["restore", id, "--key", &key, "--to", &to];
    if force {
        args.push("--force");
    }
    run_in(w, &args, env, "")
}

// ---------------------------------------------------------------------------------------------
// start-backup

/// Crashes a backup at `hook`, checks, runs the next backup and prunes.
fn crash_backup(hook: &str, lists_it: bool) {
    let w = world();
    let first = backup(&w);
    let pid = crash(&w, hook, &["start-backup"], &[], "");
    let ctx = format!("start-backup killed at {hook}");
    assert_lock_names_dead(&w, pid, &ctx);
    let ids = assert_consistent(&w, &ctx);
    assert_eq!(ids.len(), if lists_it { 2 } else { 1 }, "{ctx}: {ids:?}");
    assert!(ids.contains(&first));
    // The next run takes the dead run's lock over and succeeds.
    let out = run(&w, &["start-backup", "--json"]);
    assert_eq!(code(&out), 0, "{ctx}: next start-backup: {}", stderr(&out));
    assert_took_over(&out, pid, &ctx);
    // What the crash left is removed by a prune (with a zero lease: it is seconds old).
    let p = prune_now(&w);
    assert_eq!(code(&p), 0, "{ctx}: prune: {}", stderr(&p));
    assert_target_clean(&w, &ctx);
    let ids = assert_consistent(&w, &format!("{ctx}, then a backup and a prune"));
    assert_eq!(ids.len(), if lists_it { 3 } else { 2 });
}

#[test]
fn backup_killed_before_the_first_source() {
    crash_backup("backup.source-start#1", false);
}

#[test]
fn backup_killed_before_the_second_source() {
    crash_backup("backup.source-start#2", false);
}

#[test]
fn backup_killed_while_reading_source_data() {
    // Reads of up to 256 KiB: a.txt, b.txt, c.bin, then z-big.bin in three. The 5th read is
    // inside z-big.bin: the upload is half written.
    crash_backup("pack.read#5", false);
}

#[test]
fn backup_killed_with_an_archive_written_but_not_committed() {
    crash_backup("backup.archive-written#1", false);
}

#[test]
fn backup_killed_after_the_second_archive_was_committed() {
    crash_backup("backup.archive-committed#2", false);
}

#[test]
fn backup_killed_before_its_manifest() {
    crash_backup("backup.before-manifest", false);
}

#[test]
fn backup_killed_after_its_manifest_before_the_state() {
    // The backup is complete and listed; the state does not know it yet.
    crash_backup("backup.manifest-committed", true);
}

#[test]
fn backup_killed_while_saving_the_state() {
    // `private.before-rename` in a backup: the state file's temporary copy is written and
    // synced, not renamed.
    crash_backup("private.before-rename", true);
}

#[test]
fn backups_killed_at_seeded_moments() {
    let w = world();
    // Each run stalls 250 ms at the start of each of its two sources and 250 ms before its
    // manifest, so it cannot end within 750 ms of its start however fast the machine is: a
    // kill at a seeded moment inside that window always lands in a live run, wherever the
    // stalls leave the work (reading, packing, uploading, committing).
    let slow = [(
        "AZS_BACKUP_TEST_HOOK",
        "backup.source-start=sleep:250,backup.before-manifest=sleep:250",
    )];
    let floor = Duration::from_millis(750);
    let out = run_in(&w, &["start-backup"], &slow, "");
    assert_eq!(code(&out), 0, "start-backup: {}", stderr(&out));
    let mut rng = Rng(0xC0FFEE);
    let mut kills = 0;
    for i in 0..6 {
        let delay = floor.mul_f64(rng.unit());
        let mut child = spawn(&w, &["start-backup"], &slow, "");
        std::thread::sleep(delay);
        let killed = child.try_wait().unwrap().is_none();
        if killed {
            child.kill().unwrap();
            kills += 1;
        }
        let out = child.wait_with_output().unwrap();
        if !killed {
            assert_eq!(code(&out), 0, "{}", stderr(&out));
        }
        assert_consistent(
            &w,
            &format!("start-backup #{i} killed after {delay:?} (killed: {killed})"),
        );
    }
    assert_eq!(kills, 6, "a run ended before its stalls were over");
    let out = run(&w, &["start-backup"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let p = prune_now(&w);
    assert_eq!(code(&p), 0, "prune: {}", stderr(&p));
    assert_target_clean(&w, "after the seeded kills");
    assert_consistent(&w, "after the seeded kills and a prune");
}

// ---------------------------------------------------------------------------------------------
// prune

/// A world with backups made 20, 15 and 10 days ago and one made a day ago (retention 7
/// days), the leftovers of a backup killed mid-archive (and its lock), and the probe file of
/// a `configure` killed mid-probe: prune deletes 3 backups, 1 folder without manifest and the
/// probe (5 deletions). Returns the world, the young backup and the pid of the dead backup.
fn prune_world() -> (World, String, u32) {
    let w = World::new();
    w.write("src/alpha/a.txt", b"alpha\n");
    w.write("src/beta/b.txt", b"beta\n");
    std::fs::create_dir(w.path("backups")).unwrap();
    let mut args = configure_args(&w, &["alpha=src/alpha", "beta=src/beta"]);
    args.push("--no-verify".into());
    let at = now_minus_days(30);
    let out = run_in(&w, &strs(&args), &[("AZS_BACKUP_NOW", &at)], "pw\n");
    assert_eq!(code(&out), 0, "configure: {}", stderr(&out));
    let mut young = String::new();
    for days in [20, 15, 10, 1] {
        let at = now_minus_days(days);
        let out = run_in(
            &w,
            &["start-backup", "--json"],
            &[("AZS_BACKUP_NOW", &at)],
            "",
        );
        assert_eq!(code(&out), 0, "start-backup: {}", stderr(&out));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        young = v["backupId"].as_str().unwrap().to_string();
    }
    let pid = crash(&w, "backup.archive-written#1", &["start-backup"], &[], "");
    crash(
        &w,
        "configure.probe-written",
        &["configure", "--frequency", "6"],
        &[],
        "",
    );
    let probes = std::fs::read_dir(w.path("backups/MASBackup"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".probe-")
        })
        .count();
    assert_eq!(probes, 1, "the probe file is left");
    // The leftovers are an hour old: past the lease, so every prune removes them (and a
    // prune's own lock stays live until its process dies).
    backdate(&w.path("backups/MASBackup"));
    (w, young, pid)
}

/// Sets the modification time of everything under `dir` (and `dir`) to an hour ago.
fn backdate(dir: &Path) {
    let hour_ago = filetime::FileTime::from_system_time(
        std::time::SystemTime::now() - Duration::from_secs(3600),
    );
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            backdate(&p);
        } else {
            filetime::set_file_mtime(&p, hour_ago).unwrap();
        }
    }
    filetime::set_file_mtime(dir, hour_ago).unwrap();
}

/// Crashes a prune at each hook in turn (each run a fresh process, with the normal lease),
/// checks after each, and finishes with a prune (zero lease) that must take the last dead
/// run's lock over, complete and leave a clean target.
fn crash_prune(hooks: &[&str]) {
    let (w, young, backup_pid) = prune_world();
    let mut dead = backup_pid;
    for (i, hook) in hooks.iter().enumerate() {
        let ctx = format!("prune killed at {hook} (crash {})", i + 1);
        let pid = crash(&w, hook, &["prune"], &[], "");
        assert_lock_names_dead(&w, pid, &ctx);
        let ids = assert_consistent(&w, &ctx);
        assert!(ids.contains(&young), "{ctx}: the newest backup is gone");
        dead = pid;
    }
    let ctx = format!("prune after crashes at {hooks:?}");
    let p = prune_now(&w);
    assert_eq!(code(&p), 0, "{ctx}: {}", stderr(&p));
    assert_took_over(&p, dead, &ctx);
    assert_target_clean(&w, &ctx);
    assert_eq!(assert_consistent(&w, &ctx), vec![young]);
    assert!(
        !w.path("backups/MASBackup/.lock").exists(),
        "{ctx}: lock left"
    );
}

#[test]
fn prune_killed_before_its_first_deletion() {
    crash_prune(&["prune.delete#1"]);
}

#[test]
fn prune_killed_between_a_manifest_and_its_folder() {
    crash_prune(&["prune.manifest-deleted#1"]);
}

#[test]
fn prune_killed_at_its_third_deletion() {
    crash_prune(&["prune.delete#3"]);
}

#[test]
fn prune_killed_after_the_last_backup_manifest() {
    crash_prune(&["prune.manifest-deleted#3"]);
}

#[test]
fn prune_killed_before_removing_the_leftovers() {
    // The 4th deletion is the folder of the killed backup; the next run has the probe file
    // left as its 2nd.
    crash_prune(&["prune.delete#4", "prune.delete#2"]);
}

#[test]
fn prune_killed_again_and_again_after_each_manifest() {
    // Every run deletes one manifest and dies; the folders without a manifest are young
    // (their manifest was just deleted), so later runs leave them to the final prune.
    crash_prune(&[
        "prune.manifest-deleted#1",
        "prune.manifest-deleted#1",
        "prune.manifest-deleted#1",
    ]);
}

#[test]
fn prunes_killed_at_seeded_moments() {
    let (w, young, _) = prune_world();
    let mut rng = Rng(0x9E3779B9);
    let mut done = false;
    let mut kills = 0;
    for i in 0..6 {
        // Each deletion stalls 40 ms, so a kill lands between deletions or inside one.
        let delay = Duration::from_millis(20 + rng.next() % 200);
        let mut child = spawn(
            &w,
            &["prune"],
            &[(LEASE, "0"), (HOOK, "prune.delete=sleep:40")],
            "",
        );
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            kills += 1;
        }
        let out = child.wait_with_output().unwrap();
        let ctx = format!("prune #{i} killed after {delay:?}");
        let ids = assert_consistent(&w, &ctx);
        assert!(ids.contains(&young), "{ctx}: the newest backup is gone");
        if out.status.code() == Some(0) {
            done = true;
            break;
        }
    }
    assert!(kills > 0, "no prune was killed");
    if !done {
        let p = prune_now(&w);
        assert_eq!(code(&p), 0, "{}", stderr(&p));
    }
    let p = prune_now(&w);
    assert_eq!(code(&p), 0, "{}", stderr(&p));
    assert_target_clean(&w, "after the seeded prune kills");
    assert_eq!(
        assert_consistent(&w, "after the seeded prune kills"),
        vec![young]
    );
}

// ---------------------------------------------------------------------------------------------
// restore

/// Crashes a restore into `out/` at `hook`, checks what is there, then restores again with
/// `--force`. Returns the `.partial` folders left after that second restore.
fn crash_restore(hook: &str, force_over_a_restore: bool) -> Vec<String> {
    let w = world();
    let id = backup(&w);
    if force_over_a_restore {
        let r = restore(&w, &id, "out", false, &[]);
        assert_eq!(code(&r), 0, "{}", stderr(&r));
    }
    let key = pem().display().to_string();
    let to = w.path("out").display().to_string();
    let mut args = vec!["restore", &id, "--key", &key, "--to", &to];
    if force_over_a_restore {
        args.push("--force");
    }
    crash(&w, hook, &args, &[], "");
    let ctx = format!("restore killed at {hook}");
    let crashed = assert_restore_dir(&w, &w.path("out"), &ctx);
    if force_over_a_restore {
        // The earlier restore of the source being replaced is still whole.
        assert_eq!(
            tree(&w.path("out/alpha")),
            tree(&w.path("src/alpha")),
            "{ctx}"
        );
    }
    assert_consistent(&w, &ctx);
    // Without --force the destination is refused (it is not empty).
    let r = restore(&w, &id, "out", false, &[]);
    assert_eq!(code(&r), 2, "{ctx}: {}", stderr(&r));
    // With --force the restore completes.
    let r = restore(&w, &id, "out", true, &[]);
    assert_eq!(code(&r), 0, "{ctx}: restore --force: {}", stderr(&r));
    assert_restored(&w, &w.path("out"), &ctx);
    // (A crashed run's hidden folder is left as it was: `--force` replaces the sources'
    // folders, not the temporary folders of earlier runs.)
    let after = assert_restore_dir(&w, &w.path("out"), &format!("{ctx}, then --force"));
    assert!(
        after.partial.iter().all(|l| crashed.partial.contains(l)),
        "{ctx}: the second restore left {:?}",
        after.partial
    );
    assert_private(&crashed, &ctx);
    after.partial
}

#[test]
fn restore_killed_with_the_first_source_unpacked_not_renamed() {
    crash_restore("restore.source-unpacked#1", false);
}

#[test]
fn restore_killed_after_the_first_source_was_renamed() {
    crash_restore("restore.source-renamed#1", false);
}

#[test]
fn restore_killed_with_the_second_source_unpacked() {
    crash_restore("restore.source-unpacked#2", false);
}

#[test]
fn restore_killed_after_the_second_file() {
    crash_restore("unpack.file-written#2", false);
}

#[test]
fn restore_killed_inside_the_second_source() {
    // alpha has 5 regular files: the 7th is beta's second.
    crash_restore("unpack.file-written#7", false);
}

#[test]
fn restore_with_force_killed_before_replacing_a_source() {
    // The earlier restore of `alpha` stays whole until the new one is complete.
    crash_restore("restore.source-unpacked#1", true);
}

#[test]
fn restores_killed_at_seeded_moments() {
    let w = world();
    let id = backup(&w);
    // Each of the 10 restored files stalls 30 ms, so a restore cannot end within 300 ms of
    // its start however fast the machine is, and kills at moments inside that window land
    // all through it.
    let slow = [(HOOK, "unpack.file-written=sleep:30")];
    let floor = Duration::from_millis(300);
    let r = restore(&w, &id, "first", false, &slow);
    assert_eq!(code(&r), 0, "{}", stderr(&r));
    let key = pem().display().to_string();
    let mut rng = Rng(0xDEC0DE);
    let mut kills = 0;
    let mut open_to_others = Vec::new();
    for i in 0..6 {
        let to = w.path(&format!("out{i}")).display().to_string();
        let delay = floor.mul_f64(rng.unit());
        let mut child = spawn(&w, &["restore", &id, "--key", &key, "--to", &to], &slow, "");
        std::thread::sleep(delay);
        let killed = child.try_wait().unwrap().is_none();
        if killed {
            child.kill().unwrap();
            kills += 1;
        }
        let out = child.wait_with_output().unwrap();
        let ctx = format!("restore #{i} killed after {delay:?} (killed: {killed})");
        if killed {
            let left = assert_restore_dir(&w, Path::new(&to), &ctx);
            open_to_others.extend(left.open_to_others);
        } else {
            assert_eq!(code(&out), 0, "{ctx}: {}", stderr(&out));
            assert_restored(&w, Path::new(&to), &ctx);
        }
        // Then the same destination with --force.
        let r = restore(&w, &id, &format!("out{i}"), true, &[]);
        assert_eq!(code(&r), 0, "{ctx}: restore --force: {}", stderr(&r));
        assert_restored(&w, Path::new(&to), &ctx);
    }
    assert_eq!(kills, 6, "a restore ended before its stalls were over");
    assert_private(
        &Left {
            partial: Vec::new(),
            open_to_others,
        },
        "restores killed at seeded moments",
    );
}

// ---------------------------------------------------------------------------------------------
// configure

/// What the settings folder holds after a crash.
#[derive(Debug, PartialEq, Eq)]
struct Files {
    settings: bool,
    secrets: bool,
    state: bool,
}

fn files(w: &World) -> Files {
    Files {
        settings: w.config().exists(),
        secrets: w.path("settings.secrets.toml").exists(),
        state: w.path("settings.state.json").exists(),
    }
}

/// Crashes the first `configure` at `hook`, checks, runs it again, and backs up.
fn crash_first_configure(hook: &str, left: Files) {
    let w = World::new();
    fill_sources(&w);
    let args = configure_args(&w, &["alpha=src/alpha", "beta=src/beta"]);
    crash(&w, hook, &strs(&args), &[], "share-secret\n");
    let ctx = format!("first configure killed at {hook}");
    assert_eq!(files(&w), left, "{ctx}");
    assert_consistent(&w, &ctx);
    let out = run_in(&w, &strs(&args), &[], "share-secret\n");
    assert_eq!(code(&out), 0, "{ctx}: configure again: {}", stderr(&out));
    assert_consistent(&w, &format!("{ctx}, configured again"));
    // The same outcome as a first configure that was never interrupted.
    let st = w.json(&["status", "--offline"]);
    assert_eq!(st["isBackupSchedulerEnabled"], true, "{ctx}: {st}");
    assert!(st["nextBackupTime"].is_string(), "{ctx}: {st}");
    backup(&w);
    assert_eq!(
        assert_consistent(&w, &format!("{ctx}, then a backup")).len(),
        1
    );
    let p = prune_now(&w);
    assert_eq!(code(&p), 0, "{ctx}: prune: {}", stderr(&p));
    assert_target_clean(&w, &ctx);
}

const NOTHING: Files = Files {
    settings: false,
    secrets: false,
    state: false,
};

#[test]
fn first_configure_killed_after_probing() {
    crash_first_configure("configure.probed", NOTHING);
}

#[test]
fn first_configure_killed_with_its_probe_file_on_the_target() {
    crash_first_configure("configure.probe-written", NOTHING);
}

#[test]
fn first_configure_killed_before_renaming_the_secrets() {
    crash_first_configure("private.before-rename#1", NOTHING);
}

#[test]
fn first_configure_killed_with_the_secrets_written() {
    crash_first_configure(
        "settings.secrets-written",
        Files {
            secrets: true,
            ..NOTHING
        },
    );
}

#[test]
fn first_configure_killed_before_renaming_the_settings() {
    crash_first_configure(
        "private.before-rename#2",
        Files {
            secrets: true,
            ..NOTHING
        },
    );
}

#[test]
fn first_configure_killed_before_renaming_the_state() {
    crash_first_configure(
        "private.before-rename#3",
        Files {
            settings: true,
            secrets: true,
            state: false,
        },
    );
}

/// The retention and source names the settings hold.
fn settings_of(w: &World) -> (u64, Vec<String>) {
    let st = w.json(&["status", "--offline"]);
    let names = st["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    (st["backupRetentionPeriodInDays"].as_u64().unwrap(), names)
}

/// Crashes a later `configure` that changes the password, the retention and the sources,
/// checks that the settings are the old ones or the new ones (never a mix) and that the
/// backups made before still verify, then runs it again (without `--remove-source` when that
/// already happened) and backs up.
fn crash_later_configure(hook: &str) {
    let w = world();
    let before = backup(&w);
    w.write("src/gamma/g.txt", b"gamma\n");
    let mut args = vec![
        "configure",
        "--password-stdin",
        "--retention",
        "3",
        "--yes",
        "--source",
        "gamma=src/gamma",
        "--remove-source",
        "beta",
    ];
    crash(&w, hook, &args, &[], "new-secret\n");
    let ctx = format!("configure killed at {hook}");
    assert_eq!(assert_consistent(&w, &ctx), vec![before.clone()]);
    let old = (7, vec!["alpha".to_string(), "beta".to_string()]);
    let new = (3, vec!["alpha".to_string(), "gamma".to_string()]);
    let now = settings_of(&w);
    assert!(
        now == old || now == new,
        "{ctx}: settings are a mix: {now:?}"
    );
    if now == new {
        args.truncate(args.len() - 2);
    }
    let out = run_in(&w, &args, &[], "new-secret\n");
    assert_eq!(code(&out), 0, "{ctx}: configure again: {}", stderr(&out));
    assert_eq!(settings_of(&w), new, "{ctx}");
    let after = backup(&w);
    let ids = assert_consistent(&w, &format!("{ctx}, then a backup"));
    assert!(ids.contains(&before) && ids.contains(&after), "{ids:?}");
    let p = prune_now(&w);
    assert_eq!(code(&p), 0, "{ctx}: prune: {}", stderr(&p));
    assert_target_clean(&w, &ctx);
}

#[test]
fn later_configure_killed_with_the_secrets_written() {
    crash_later_configure("settings.secrets-written");
}

#[test]
fn later_configure_killed_before_renaming_the_settings() {
    crash_later_configure("private.before-rename#2");
}

#[test]
fn later_configure_killed_before_renaming_the_state() {
    crash_later_configure("private.before-rename#3");
}

#[test]
fn clear_after_a_crashed_configure_leaves_no_copy_of_the_password() {
    // A configure killed between writing the secrets' temporary file and renaming it leaves
    // that file (0600, holding the password) beside the settings. `clear` removes the backup
    // settings and secrets: no copy of the password may outlive it.
    let w = World::new();
    fill_sources(&w);
    let args = configure_args(&w, &["alpha=src/alpha"]);
    crash(
        &w,
        "private.before-rename#1",
        &strs(&args),
        &[],
        "pw-LEFT-BEHIND\n",
    );
    let out = run_in(&w, &strs(&args), &[], "pw-LEFT-BEHIND\n");
    assert_eq!(code(&out), 0, "configure again: {}", stderr(&out));
    let out = run(&w, &["clear", "--yes"]);
    assert_eq!(code(&out), 0, "clear: {}", stderr(&out));
    let holding: Vec<String> = std::fs::read_dir(w.path(""))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .filter(|p| {
            let data = std::fs::read(p).unwrap();
            data.windows(14).any(|x| x == b"pw-LEFT-BEHIND")
        })
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(
        holding.is_empty(),
        "after `clear`, the share password is still in {holding:?}"
    );
}
