//! Planted manifests through the real binary: the share is untrusted, so a `manifest.json`
//! written there by someone else must never steer a path or a deletion. Each test makes real
//! backups with `start-backup` on a local target, then writes manifests straight into the
//! target folder and checks what `prune`, `list --all`, `verify` and `restore` do with them.
//!
//! The target is nested (`t1/t2/t3/backups`) and restores go to `o1/o2/o3/o4/out-N`, so that
//! every `..` escape the planted manifests aim at lands inside the test's own temp folder, where
//! a sentinel waits for it.

use crate::common;

use chrono::{DateTime, Duration, Utc};
use common::{code, run_at, World};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Output;

/// "Now" of these tests.
fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn days_ago(d: i64) -> String {
    (now() - Duration::days(d)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Folder names for planted manifests (canonical GUIDs).
const PLANTED: [&str; 3] = [
    "0f8fad5b-d9cb-469f-a165-70867728950e",
    "7c9e6679-7425-40de-944b-e07fc1f90ae7",
    "16fd2706-8baf-433b-82eb-8c7fada847da",
];

/// A configured world (local target `t1/t2/t3/backups`, one source `identity`, retention 7
/// days, configured 30 days ago).
struct Site {
    w: World,
    pem: PathBuf,
}

impl Site {
    fn new() -> Site {
        let w = World::new();
        let (cer, pem) = w.new_cert("planted", None);
        w.write("src/identity/users.db", b"alice\nbob\n");
        fs::create_dir_all(w.path("t1/t2/t3")).unwrap();
        let out = w
            .cmd()
            .env("AZS_BACKUP_NOW", days_ago(30))
            .args(["configure", "--path"])
            .arg(w.path("t1/t2/t3/backups"))
            .args(["--username", "CONTOSO\\backupshareuser", "--password-stdin"])
            .arg("--encryption-cert-path")
            .arg(&cer)
            .args(["--source", "identity=src/identity"])
            .write_stdin("share-secret\n")
            .output()
            .unwrap();
        assert_eq!(code(&out), 0, "configure: {}", text(&out.stderr));
        Site { w, pem }
    }

    /// The target's root folder.
    fn root(&self) -> PathBuf {
        self.w.path("t1/t2/t3/backups")
    }

    /// A path under `MASBackup/`.
    fn mas(&self, rel: &str) -> PathBuf {
        self.root().join("MASBackup").join(rel)
    }

    /// Runs the binary at "now".
    fn run(&self, args: &[&str]) -> Output {
        run_at(&self.w, &days_ago(0), args)
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.run(&a);
        assert_eq!(code(&out), 0, "{args:?}: {}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("one JSON document on stdout")
    }

    /// `start-backup` `days` days ago; the backup id.
    fn backup(&self, days: i64) -> String {
        let out = run_at(&self.w, &days_ago(days), &["start-backup", "--json"]);
        assert_eq!(code(&out), 0, "start-backup: {}", text(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["backupId"].as_str().unwrap().to_string()
    }

    fn manifest(&self, id: &str) -> Value {
        serde_json::from_slice(&fs::read(self.mas(&format!("{id}/manifest.json"))).unwrap())
            .unwrap()
    }

    /// Writes `m` as `MASBackup/<folder>/manifest.json`.
    fn plant(&self, folder: &str, m: &Value) {
        self.plant_bytes(folder, &serde_json::to_vec_pretty(m).unwrap());
    }

    fn plant_bytes(&self, folder: &str, bytes: &[u8]) {
        fs::create_dir_all(self.mas(folder)).unwrap();
        fs::write(self.mas(&format!("{folder}/manifest.json")), bytes).unwrap();
    }

    /// Ids `list` shows as backups.
    fn listed(&self) -> Vec<String> {
        self.json(&["list", "--all"])["backups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["backupId"].as_str().unwrap().to_string())
            .collect()
    }

    /// `list --all` shows `folder` as invalid (not as a backup), with a reason; returns it.
    fn assert_invalid(&self, folder: &str) -> String {
        let v = self.json(&["list", "--all"]);
        let backups = v["backups"].as_array().unwrap();
        assert!(
            !backups.iter().any(|b| b["backupId"] == folder),
            "{folder} is listed as a backup: {v}"
        );
        let found = v["incomplete"]
            .as_array()
            .unwrap_or_else(|| panic!("no `incomplete` in list --all: {v}"))
            .iter()
            .find(|i| i["name"] == folder)
            .unwrap_or_else(|| panic!("{folder} missing from list --all: {v}"));
        assert_eq!(found["state"], "invalid", "{folder}: {found}");
        let reason = found["reason"].as_str().unwrap_or("").to_string();
        assert!(!reason.trim().is_empty(), "{folder}: no reason: {found}");
        // The human form says so too.
        let out = self.run(&["list", "--all"]);
        assert_eq!(code(&out), 0);
        let human = text(&out.stdout);
        assert!(
            human
                .lines()
                .any(|l| l.contains(folder) && l.contains("Invalid")),
            "{folder} not shown as Invalid:\n{human}"
        );
        reason
    }

    /// Every file and folder under the target, with file contents.
    fn target_tree(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        snapshot(&self.root(), &[])
    }
}

/// `m` with the status `Failed`, for the backup and each source (prune deletes failed backups).
fn failed(mut m: Value) -> Value {
    m["status"] = "Failed".into();
    for r in m["roleStatus"].as_array_mut().unwrap() {
        r["status"] = "Failed".into();
    }
    m
}

/// Everything under `root` except the paths in `skip` and the settings files at the top of the
/// world: type, mode, contents, link targets. Symlinks are never followed.
fn snapshot(root: &Path, skip: &[&Path]) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(dir: &Path, skip: &[&Path], out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd {
            let p = e.unwrap().path();
            if skip.iter().any(|s| p.starts_with(s)) {
                continue;
            }
            let m = fs::symlink_metadata(&p).unwrap();
            let desc = if m.file_type().is_symlink() {
                format!("link -> {}", fs::read_link(&p).unwrap().display()).into_bytes()
            } else if m.is_dir() {
                walk(&p, skip, out);
                format!("dir {:o}", m.mode()).into_bytes()
            } else if m.is_file() {
                [
                    format!("file {:o} ", m.mode()).into_bytes(),
                    fs::read(&p).unwrap(),
                ]
                .concat()
            } else {
                format!("other {:o}", m.mode()).into_bytes()
            };
            out.insert(p, desc);
        }
    }
    let mut out = BTreeMap::new();
    walk(root, skip, &mut out);
    out
}

/// The world outside `to`, without the settings files (commands may update the state file).
fn world_outside(s: &Site, to: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let settings: Vec<PathBuf> = fs::read_dir(s.w.dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("settings.")
        })
        .collect();
    let mut skip: Vec<&Path> = settings.iter().map(PathBuf::as_path).collect();
    skip.push(to);
    snapshot(s.w.dir.path(), &skip)
}

#[test]
fn a_planted_backup_id_escaping_the_target_is_never_deleted() {
    let s = Site::new();
    let good = s.backup(1);
    // MASBackup/../../../../x/precious from t1/t2/t3/backups is t1/x/precious.
    s.w.write("t1/x/precious/keep.txt", b"keep");
    let escape = "../../../../x/precious";
    assert_eq!(
        fs::canonicalize(s.mas(escape)).unwrap(),
        fs::canonicalize(s.w.path("t1/x/precious")).unwrap(),
        "the planted id aims at the sentinel"
    );
    let mut m = failed(s.manifest(&good));
    m["backupId"] = escape.into();
    s.plant(PLANTED[0], &m);
    let target_before = s.target_tree();

    let out = s.run(&["prune"]);
    assert_eq!(code(&out), 0, "prune: {}", text(&out.stderr));
    assert_eq!(
        fs::read(s.w.path("t1/x/precious/keep.txt")).ok().as_deref(),
        Some(&b"keep"[..]),
        "prune deleted the folder the planted backupId points at"
    );
    assert_eq!(
        s.target_tree(),
        target_before,
        "prune deleted something on the target (the good backup, or the planted folder)"
    );
    assert_eq!(s.listed(), std::slice::from_ref(&good));
    let reason = s.assert_invalid(PLANTED[0]);
    assert!(
        reason.contains("backupId"),
        "the reason names the field: {reason}"
    );
    let out = s.run(&["verify", &good]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
}

#[test]
fn a_planted_empty_backup_id_does_not_delete_the_backups() {
    let s = Site::new();
    let older = s.backup(3);
    let good = s.backup(1);
    let mut m = failed(s.manifest(&good));
    m["backupId"] = "".into();
    s.plant(PLANTED[0], &m);
    let target_before = s.target_tree();

    let out = s.run(&["prune"]);
    assert_eq!(code(&out), 0, "prune: {}", text(&out.stderr));
    assert!(s.mas("").is_dir(), "prune deleted MASBackup/");
    assert_eq!(
        s.target_tree(),
        target_before,
        "prune deleted something on the target"
    );
    let listed: BTreeSet<String> = s.listed().into_iter().collect();
    assert_eq!(listed, [older, good].into());
    let reason = s.assert_invalid(PLANTED[0]);
    assert!(
        reason.contains("backupId"),
        "the reason names the field: {reason}"
    );
}

#[test]
fn a_failed_copy_of_the_newest_manifest_does_not_delete_it() {
    let s = Site::new();
    let older = s.backup(5);
    let newest = s.backup(1);
    let m = failed(s.manifest(&newest));
    s.plant(PLANTED[0], &m);
    let target_before = s.target_tree();

    let v = s.json(&["prune"]);
    assert_eq!(
        v["keptNewest"]["backupId"],
        newest.as_str(),
        "prune report: {v}"
    );
    let deleted = v["deleted"].as_array().unwrap();
    assert!(deleted.is_empty(), "prune deleted {deleted:?}");
    assert_eq!(
        s.target_tree(),
        target_before,
        "prune deleted something on the target"
    );
    for id in [&older, &newest] {
        assert!(
            s.mas(&format!("{id}/identity.tar.zst.enc")).is_file(),
            "{id}"
        );
        let out = s.run(&["verify", id]);
        assert_eq!(code(&out), 0, "verify {id}: {}", text(&out.stderr));
    }
    // Each backup is listed once, with its own status.
    let v = s.json(&["list", "--all"]);
    let rows: Vec<(String, String)> = v["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["backupId"].as_str().unwrap().to_string(),
                b["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (newest.clone(), "Succeeded".to_string()),
            (older.clone(), "Succeeded".to_string())
        ]
    );
    let reason = s.assert_invalid(PLANTED[0]);
    assert!(
        reason.contains("backupId"),
        "the reason names the field: {reason}"
    );
}

#[test]
fn planted_role_and_file_names_are_refused() {
    let s = Site::new();
    let good = s.backup(1);
    let archive = fs::read(s.mas(&format!("{good}/identity.tar.zst.enc"))).unwrap();
    // fileName ../../../etc/passwd, read from MASBackup/<id>/, is t1/t2/t3/etc/passwd: an
    // authentic archive waits there, so a reader that follows the name succeeds.
    let read_escape = s.w.write("t1/t2/t3/etc/passwd", &archive);
    // roleName ./../../../../tmp/<unique>/role, joined to o1/o2/o3/o4/out-N, is
    // o1/tmp/<unique>/role (and the hidden `.<roleName>.*.partial` extraction folder made
    // beside it is tmp/<unique>/role.*.partial): both folders exist, so a restore that follows
    // the name succeeds. One <unique> per variant, so that each can escape on its own.
    fs::create_dir_all(s.w.path("o1/o2/o3/o4")).unwrap();
    let bad_file = "../../../etc/passwd";
    for n in 0..PLANTED.len() {
        fs::create_dir_all(s.w.path(&format!("tmp/azs-planted-{n}"))).unwrap();
        fs::create_dir_all(s.w.path(&format!("o1/tmp/azs-planted-{n}"))).unwrap();
    }
    let bad_role = |n: usize| format!("./../../../../tmp/azs-planted-{n}/role");
    let variants = [
        (PLANTED[0], bad_role(0), bad_file.to_string()),
        (PLANTED[1], bad_role(1), "identity.tar.zst.enc".to_string()),
        (PLANTED[2], "identity".to_string(), bad_file.to_string()),
    ];
    for (folder, role, file) in &variants {
        let mut m = s.manifest(&good);
        m["backupId"] = (*folder).into();
        m["roleStatus"][0]["roleName"] = role.as_str().into();
        m["roleStatus"][0]["fileName"] = file.as_str().into();
        s.plant(folder, &m);
        fs::write(s.mas(&format!("{folder}/identity.tar.zst.enc")), &archive).unwrap();
    }
    assert_eq!(
        fs::canonicalize(s.mas(&format!("{}/{bad_file}", PLANTED[0]))).unwrap(),
        fs::canonicalize(&read_escape).unwrap(),
        "the planted fileName aims at the authentic archive outside the target"
    );
    let pem = s.pem.to_str().unwrap().to_string();
    for (n, (folder, role, file)) in variants.into_iter().enumerate() {
        let what = format!("roleName {role:?}, fileName {file:?}");
        let to = s.w.path(&format!("o1/o2/o3/o4/out-{n}"));
        let to_arg = to.to_str().unwrap().to_string();
        let before = world_outside(&s, &to);

        let out = s.run(&["restore", folder, "--key", &pem, "--to", &to_arg]);
        let err = text(&out.stderr);
        assert_eq!(code(&out), 7, "restore, {what}: {err}");
        assert!(
            err.contains("verification failed"),
            "restore, {what}: {err}"
        );
        if let Ok(rd) = fs::read_dir(&to) {
            let left: Vec<_> = rd.map(|e| e.unwrap().file_name()).collect();
            assert!(left.is_empty(), "restore, {what}: left {left:?} in --to");
        }
        assert_eq!(
            world_outside(&s, &to),
            before,
            "restore, {what}: changed something outside --to"
        );
        for sentinel in [
            format!("tmp/azs-planted-{n}"),
            format!("o1/tmp/azs-planted-{n}"),
        ] {
            let found: Vec<_> = fs::read_dir(s.w.path(&sentinel))
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert!(
                found.is_empty(),
                "restore, {what}: wrote {found:?} into {sentinel}"
            );
        }

        let before = world_outside(&s, &to);
        let out = s.run(&["verify", folder, "--key", &pem]);
        assert_eq!(code(&out), 7, "verify --key, {what}: {}", text(&out.stderr));
        let out = s.run(&["verify", folder]);
        assert_eq!(code(&out), 7, "verify, {what}: {}", text(&out.stderr));
        assert_eq!(world_outside(&s, &to), before, "verify, {what}");

        let reason = s.assert_invalid(folder);
        assert!(
            reason.contains("roleName") || reason.contains("fileName"),
            "{what}: the reason names the field: {reason}"
        );
    }
    assert_eq!(s.listed(), [good]);
}

#[test]
fn a_manifest_over_one_mib_is_invalid() {
    let s = Site::new();
    let good = s.backup(1);
    // A copy of the good backup under another id, its manifest valid JSON padded with
    // whitespace beyond 1 MiB.
    let folder = PLANTED[0];
    let mut m = s.manifest(&good);
    m["backupId"] = folder.into();
    let mut bytes = serde_json::to_vec_pretty(&m).unwrap();
    bytes.resize((1 << 20) + 1, b' ');
    s.plant_bytes(folder, &bytes);
    fs::copy(
        s.mas(&format!("{good}/identity.tar.zst.enc")),
        s.mas(&format!("{folder}/identity.tar.zst.enc")),
    )
    .unwrap();
    // (The same manifest under 1 MiB would be a valid backup.)
    assert!(serde_json::from_slice::<Value>(&bytes).is_ok());

    let reason = s.assert_invalid(folder);
    assert!(
        ["MiB", "1048576", "bytes", "large", "big"]
            .iter()
            .any(|w| reason.contains(w)),
        "the reason says the manifest is too big: {reason}"
    );
    assert_eq!(s.listed(), std::slice::from_ref(&good));
    for args in [
        vec!["verify", folder],
        vec!["show", folder],
        vec!["verify", folder, "--key", s.pem.to_str().unwrap()],
    ] {
        let out = s.run(&args);
        assert_eq!(code(&out), 7, "{args:?}: {}", text(&out.stderr));
    }
    // prune leaves a folder with an invalid manifest alone.
    let out = s.run(&["prune"]);
    assert_eq!(code(&out), 0, "prune: {}", text(&out.stderr));
    assert_eq!(
        fs::metadata(s.mas(&format!("{folder}/manifest.json")))
            .unwrap()
            .len(),
        bytes.len() as u64
    );
    let out = s.run(&["verify", &good]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
}
