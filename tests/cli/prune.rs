//! `prune` and retention through the real binary. Backups are made in the past by running
//! `start-backup` with `AZS_BACKUP_NOW` set to past times.

use crate::common;

use chrono::{DateTime, Duration, Utc};
use common::{code, World};
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::Output;

/// "Now" of these tests.
fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn days_ago(d: i64) -> String {
    rfc(now() - Duration::days(d))
}

/// A configured world (retention 7 days, configured 30 days ago).
fn world() -> World {
    common::identity_world("prune", &days_ago(30))
}

fn run(w: &World, now: &str, args: &[&str]) -> Output {
    common::run_at(w, now, args)
}

fn json(w: &World, at: &str, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    let out = run(w, at, &a);
    assert_eq!(
        code(&out),
        0,
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON document on stdout")
}

/// `start-backup` at `days` days ago; the backup id.
fn backup_at(w: &World, days: i64) -> String {
    let v = json(w, &days_ago(days), &["start-backup"]);
    v["backupId"].as_str().unwrap().to_string()
}

/// id → age in days of the backups `list` shows.
fn listed(w: &World) -> Vec<(String, i64)> {
    let v = json(w, &rfc(now()), &["list", "--all"]);
    v["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let created = DateTime::parse_from_rfc3339(b["createdDateTime"].as_str().unwrap())
                .unwrap()
                .with_timezone(&Utc);
            (
                b["backupId"].as_str().unwrap().to_string(),
                (now() - created).num_days(),
            )
        })
        .collect()
}

fn ages(w: &World) -> BTreeSet<i64> {
    listed(w).into_iter().map(|(_, a)| a).collect()
}

/// Every file and folder under the target, relative.
fn tree(w: &World) -> BTreeSet<String> {
    fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut BTreeSet<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            out.insert(p.strip_prefix(root).unwrap().display().to_string());
            if p.is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    let root = w.path("backups");
    walk(&root, &root, &mut out);
    out
}

fn paths_of(v: &Value, field: &str) -> BTreeSet<String> {
    v[field]
        .as_array()
        .unwrap_or_else(|| panic!("no {field} in {v}"))
        .iter()
        .map(|i| i["path"].as_str().unwrap().to_string())
        .collect()
}

fn with_backups(ages: impl IntoIterator<Item = i64>) -> (World, Vec<(String, i64)>) {
    let w = world();
    let made = ages.into_iter().map(|a| (backup_at(&w, a), a)).collect();
    (w, made)
}

#[test]
fn prune_deletes_exactly_the_backups_older_than_the_retention_period() {
    let (w, made) = with_backups(1..=20);
    assert_eq!(ages(&w), (1..=20).collect());

    // Dry run first: lists the 13 folders, deletes nothing.
    let before = tree(&w);
    let v = json(&w, &rfc(now()), &["prune", "--dry-run"]);
    let expected: BTreeSet<String> = made
        .iter()
        .filter(|(_, age)| *age > 7)
        .map(|(id, _)| format!("MASBackup/{id}"))
        .collect();
    assert_eq!(expected.len(), 13);
    assert_eq!(v["dryRun"], true);
    assert_eq!(paths_of(&v, "wouldDelete"), expected);
    assert!(paths_of(&v, "deleted").is_empty());
    assert_eq!(v["keptBackups"], 7);
    assert_eq!(tree(&w), before, "--dry-run changed the target");
    // The human form prints the paths too, and `-OperationType DryRun` is the same.
    let out = run(&w, &rfc(now()), &["prune", "--operation-type", "DryRun"]);
    assert_eq!(code(&out), 0);
    let text = String::from_utf8_lossy(&out.stdout);
    for p in &expected {
        assert!(text.contains(p.as_str()), "{p} missing from:\n{text}");
    }
    assert_eq!(tree(&w), before);

    // The real thing.
    let v = json(&w, &rfc(now()), &["prune"]);
    assert_eq!(v["dryRun"], false);
    assert_eq!(paths_of(&v, "deleted"), expected);
    assert_eq!(ages(&w), (1..=7).collect());
    let newest = &made.iter().find(|(_, a)| *a == 1).unwrap().0;
    assert_eq!(v["keptNewest"]["backupId"], newest.as_str());
    assert_eq!(v["keptNewest"]["pastRetention"], false);
    for (id, age) in &made {
        assert_eq!(
            w.path(&format!("backups/MASBackup/{id}")).exists(),
            *age <= 7,
            "backup of age {age}"
        );
    }
    // Nothing more to do.
    let v = json(&w, &rfc(now()), &["prune"]);
    assert!(paths_of(&v, "deleted").is_empty());
}

#[test]
fn the_newest_successful_backup_stays_even_past_retention() {
    let (w, made) = with_backups([12, 10, 11]);
    // A newer backup that failed (its only source is gone) does not count as the newest.
    std::fs::rename(w.path("src/identity"), w.path("src/gone")).unwrap();
    let out = run(&w, &days_ago(9), &["start-backup", "--json"]);
    assert_eq!(code(&out), 6);
    let failed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(failed["status"], "Failed");
    let failed_id = failed["backupId"].as_str().unwrap().to_string();

    let out = run(&w, &rfc(now()), &["prune"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let newest = &made.iter().find(|(_, a)| *a == 10).unwrap().0;
    assert!(
        text.contains(newest.as_str()) && text.contains("newest successful backup"),
        "{text}"
    );
    assert_eq!(listed(&w), [(newest.clone(), 10)]);
    assert!(!w.path(&format!("backups/MASBackup/{failed_id}")).exists());

    // And again: it is never deleted, and the JSON says why it stays.
    let v = json(&w, &rfc(now() + Duration::days(100)), &["prune"]);
    assert!(paths_of(&v, "deleted").is_empty());
    assert_eq!(v["keptNewest"]["backupId"], newest.as_str());
    assert_eq!(v["keptNewest"]["pastRetention"], true);
    assert_eq!(listed(&w).len(), 1);
}

#[test]
fn backups_dated_in_the_future_are_not_deleted_by_age() {
    let (w, made) = with_backups([20, 15, -3]);
    let v = json(&w, &rfc(now()), &["prune"]);
    // 20 goes; 15 is the newest successful one not in the future; -3 is in the future.
    let old = &made[0].0;
    assert_eq!(paths_of(&v, "deleted"), [format!("MASBackup/{old}")].into());
    let left: BTreeSet<i64> = ages(&w);
    assert_eq!(left, [15, -3].into());
}

#[test]
fn leftovers_of_failed_runs_are_removed_and_other_folders_kept() {
    let (w, made) = with_backups([1]);
    let good = &made[0].0;
    // An interrupted run: a GUID folder with a partial upload and no manifest.
    let leftover = "0f8fad5b-d9cb-469f-a165-70867728950e";
    w.write(
        &format!("backups/MASBackup/{leftover}/.identity.tar.zst.enc.a1b2c3.partial"),
        b"half an archive",
    );
    w.write(
        &format!("backups/MASBackup/{leftover}/identity.tar.zst.enc"),
        b"an archive without a manifest",
    );
    // Stray temporary files, beside the backups and inside a good one.
    w.write("backups/MASBackup/.manifest.json.x9y8.partial", b"{");
    w.write(
        &format!("backups/MASBackup/{good}/.manifest.json.q1w2.partial"),
        b"{",
    );
    // Not ours: Azure Stack Hub's own backups and an odd folder name stay.
    w.write(
        "backups/MASBackup/progressivebackup/1.2102.0.9/ECE/201901151200_x_Full_C.zip",
        b"zip",
    );
    w.write("backups/MASBackup/notes/readme.txt", b"keep me");

    // Left an hour ago: older than the lease, so no run can still own them.
    let hour_ago = filetime::FileTime::from_system_time(
        std::time::SystemTime::now() - std::time::Duration::from_secs(3600),
    );
    for p in [
        format!("backups/MASBackup/{leftover}/.identity.tar.zst.enc.a1b2c3.partial"),
        format!("backups/MASBackup/{leftover}/identity.tar.zst.enc"),
        format!("backups/MASBackup/{leftover}"),
        "backups/MASBackup/.manifest.json.x9y8.partial".to_string(),
        format!("backups/MASBackup/{good}/.manifest.json.q1w2.partial"),
    ] {
        filetime::set_file_mtime(w.path(&p), hour_ago).unwrap();
    }
    // A run of another host writing right now: its folder and upload are left alone.
    let young = "1a2b3c4d-0000-4000-8000-00000000000a";
    w.write(
        &format!("backups/MASBackup/{young}/.identity.tar.zst.enc.zz.partial"),
        b"being written",
    );

    let listed_before = json(&w, &rfc(now()), &["list", "--all"]);
    assert_eq!(listed_before["backups"].as_array().unwrap().len(), 1);

    let v = json(&w, &rfc(now()), &["prune", "--dry-run"]);
    let expected: BTreeSet<String> = [
        format!("MASBackup/{leftover}"),
        "MASBackup/.manifest.json.x9y8.partial".to_string(),
        format!("MASBackup/{good}/.manifest.json.q1w2.partial"),
    ]
    .into();
    assert_eq!(paths_of(&v, "wouldDelete"), expected);
    assert!(w.path(&format!("backups/MASBackup/{leftover}")).exists());

    let v = json(&w, &rfc(now()), &["prune"]);
    assert_eq!(paths_of(&v, "deleted"), expected);
    assert!(!w.path(&format!("backups/MASBackup/{leftover}")).exists());
    assert!(!w
        .path("backups/MASBackup/.manifest.json.x9y8.partial")
        .exists());
    assert!(!w
        .path(&format!(
            "backups/MASBackup/{good}/.manifest.json.q1w2.partial"
        ))
        .exists());
    assert!(w
        .path("backups/MASBackup/progressivebackup/1.2102.0.9/ECE/201901151200_x_Full_C.zip")
        .exists());
    assert!(w.path("backups/MASBackup/notes/readme.txt").exists());
    assert!(w
        .path(&format!(
            "backups/MASBackup/{young}/.identity.tar.zst.enc.zz.partial"
        ))
        .exists());
    // The good backup is whole.
    assert_eq!(listed(&w), [(good.clone(), 1)]);
    let out = run(&w, &rfc(now()), &["verify", good]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    // `list --all` no longer sees an incomplete GUID folder.
    let all = json(&w, &rfc(now()), &["list", "--all"]);
    let incomplete: Vec<&str> = all["incomplete"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert!(!incomplete.contains(&leftover), "{incomplete:?}");
}

#[test]
fn reducing_retention_asks_and_without_yes_changes_nothing() {
    let (w, _) = with_backups([1, 3, 5]);
    let settings = std::fs::read(w.config()).unwrap();
    let state = std::fs::read(w.path("settings.state.json")).unwrap();

    // No terminal, no --yes: refused with exit 10, nothing changed.
    let out = run(&w, &rfc(now()), &["configure", "--retention", "2"]);
    assert_eq!(code(&out), 10, "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("deletes 2 of the 3 backups") && err.contains("--yes"),
        "{err}"
    );
    assert_eq!(std::fs::read(w.config()).unwrap(), settings);
    assert_eq!(std::fs::read(w.path("settings.state.json")).unwrap(), state);
    assert_eq!(ages(&w), [1, 3, 5].into());

    // Raising it needs no confirmation; lowering it with --yes goes through.
    let out = run(&w, &rfc(now()), &["configure", "--retention", "14"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let v = json(&w, &rfc(now()), &["configure", "--retention", "2", "--yes"]);
    assert_eq!(v["backupRetentionPeriodInDays"], 2);
    assert_eq!(
        ages(&w),
        [1, 3, 5].into(),
        "configure itself deletes nothing"
    );
    let v = json(&w, &rfc(now()), &["prune"]);
    assert_eq!(paths_of(&v, "deleted").len(), 2);
    assert_eq!(ages(&w), [1].into());
}

#[test]
fn lowering_retention_when_only_the_kept_newest_is_old_needs_no_confirmation() {
    // Every backup is old, but the only one is the newest successful: prune deletes none.
    let (w, _) = with_backups([5]);
    let out = run(&w, &rfc(now()), &["configure", "--retention", "2"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let v = json(&w, &rfc(now()), &["prune"]);
    assert!(paths_of(&v, "deleted").is_empty());
    assert_eq!(v["keptNewest"]["pastRetention"], true);
}
