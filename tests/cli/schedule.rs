//! The built-in scheduler through the real binary: `configure` starts the schedule, `tick`
//! runs due backups (one after a long outage, not a burst), `start-backup` never moves the
//! schedule, `disable-auto` / `enable-auto` pause and resume. Time is `AZS_BACKUP_NOW`.

use crate::common;

use chrono::{DateTime, Duration, Utc};
use common::{code, World};
use serde_json::Value;
use std::process::Output;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// T0 + hours + minutes, as `AZS_BACKUP_NOW` wants it.
fn at(hours: i64, minutes: i64) -> String {
    rfc(t0() + Duration::hours(hours) + Duration::minutes(minutes))
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("not a time: {v}")))
        .unwrap()
        .with_timezone(&Utc)
}

/// A configured world (at T0): one source, a local target.
fn world() -> World {
    common::identity_world("sched", &at(0, 0))
}

fn run(w: &World, now: &str, args: &[&str]) -> Output {
    common::run_at(w, now, args)
}

fn ok(w: &World, now: &str, args: &[&str]) -> Output {
    let out = run(w, now, args);
    assert_eq!(
        code(&out),
        0,
        "{args:?} at {now} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json(w: &World, now: &str, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    let out = ok(w, now, &a);
    serde_json::from_slice(&out.stdout).expect("one JSON document on stdout")
}

fn status(w: &World, now: &str) -> Value {
    json(w, now, &["status", "--offline"])
}

fn next(w: &World, now: &str) -> DateTime<Utc> {
    time(&status(w, now)["nextBackupTime"])
}

/// Creation times of the backups on the target, oldest first.
fn backups(w: &World) -> Vec<DateTime<Utc>> {
    let v = json(w, &at(0, 0), &["list"]);
    let mut times: Vec<_> = v["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| time(&b["createdDateTime"]))
        .collect();
    times.sort();
    times
}

/// A tick with nothing to do prints nothing and changes nothing.
fn idle_tick(w: &World, now: &str) {
    let before = backups(w).len();
    let out = ok(w, now, &["tick"]);
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "tick at {now} printed: {} / {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(backups(w).len(), before, "tick at {now} made a backup");
}

#[test]
fn configure_schedules_ticks_run_on_the_grid_and_on_demand_never_moves_it() {
    let w = world();
    let s = status(&w, &at(0, 0));
    assert_eq!(s["isBackupSchedulerEnabled"], true);
    assert_eq!(time(&s["nextBackupTime"]), t0() + Duration::hours(12));

    // On demand at T+1h: a backup, the schedule stays.
    ok(&w, &at(1, 0), &["start-backup"]);
    assert_eq!(backups(&w), [t0() + Duration::hours(1)]);
    assert_eq!(next(&w, &at(1, 0)), t0() + Duration::hours(12));

    // One minute early: nothing.
    idle_tick(&w, &at(11, 59));
    assert_eq!(next(&w, &at(11, 59)), t0() + Duration::hours(12));

    // On time: one backup, next slot one period on.
    let out = ok(&w, &at(12, 0), &["tick"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Scheduled backup"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        backups(&w),
        [t0() + Duration::hours(1), t0() + Duration::hours(12)]
    );
    let s = status(&w, &at(12, 0));
    assert_eq!(time(&s["nextBackupTime"]), t0() + Duration::hours(24));
    assert_eq!(time(&s["lastBackupTime"]), t0() + Duration::hours(12));
    assert_eq!(s["lastBackupStatus"], "Succeeded");
    // The same slot is not taken twice.
    idle_tick(&w, &at(12, 5));

    // The machine is off until T+60h: one tick makes ONE backup, the next slot is T+72h.
    ok(&w, &at(60, 0), &["tick"]);
    assert_eq!(backups(&w).len(), 3);
    assert_eq!(backups(&w)[2], t0() + Duration::hours(60));
    assert_eq!(next(&w, &at(60, 0)), t0() + Duration::hours(72));
    idle_tick(&w, &at(60, 5));
    idle_tick(&w, &at(71, 59));
    ok(&w, &at(72, 0), &["tick"]);
    assert_eq!(backups(&w).len(), 4);
    assert_eq!(next(&w, &at(72, 0)), t0() + Duration::hours(84));
}

#[test]
fn disable_keeps_everything_and_enable_resumes() {
    let w = world();
    let settings = std::fs::read(w.config()).unwrap();

    let out = ok(&w, &at(1, 0), &["disable-auto"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("now off"), "{text}");
    let s = status(&w, &at(1, 0));
    assert_eq!(s["isBackupSchedulerEnabled"], false);
    assert_eq!(time(&s["nextBackupTime"]), t0() + Duration::hours(12));
    let health: Vec<&str> = s["health"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["code"].as_str().unwrap())
        .collect();
    assert!(health.contains(&"automaticBackupsPaused"), "{health:?}");

    // Idempotent, and says nothing changed.
    let v = json(&w, &at(2, 0), &["disable-auto"]);
    assert_eq!(v["changed"], false);
    assert_eq!(v["isBackupSchedulerEnabled"], false);
    let out = ok(&w, &at(2, 0), &["disable-auto"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("already off"));

    // No tick makes a backup, whenever it comes.
    for now in [at(12, 0), at(13, 0), at(100, 0), at(1000, 0)] {
        idle_tick(&w, &now);
    }
    assert!(backups(&w).is_empty());
    assert_eq!(std::fs::read(w.config()).unwrap(), settings);
    assert_eq!(next(&w, &at(100, 0)), t0() + Duration::hours(12));
    // On-demand backups still work while automatic ones are off.
    ok(&w, &at(99, 0), &["start-backup"]);
    assert_eq!(backups(&w), [t0() + Duration::hours(99)]);

    // Enable: the slot has passed, so the next tick runs, once.
    let v = json(&w, &at(100, 0), &["enable-auto"]);
    assert_eq!(v["changed"], true);
    assert_eq!(v["isBackupSchedulerEnabled"], true);
    assert_eq!(v["due"], true);
    assert_eq!(time(&v["nextBackupTime"]), t0() + Duration::hours(12));
    let out = ok(&w, &at(100, 0), &["enable-auto"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("already on"));
    ok(&w, &at(100, 1), &["tick"]);
    assert_eq!(
        backups(&w),
        [
            t0() + Duration::hours(99),
            t0() + Duration::minutes(100 * 60 + 1)
        ]
    );
    // Next: the first slot of the grid T+12h + k×12h after now.
    assert_eq!(next(&w, &at(100, 1)), t0() + Duration::hours(108));
    idle_tick(&w, &at(100, 2));
    assert_eq!(std::fs::read(w.config()).unwrap(), settings);
}

#[test]
fn tick_json_and_verbose() {
    let w = world();
    // Nothing to do: silent without --json, {"ran": false} with it.
    let v = json(&w, &at(1, 0), &["tick"]);
    assert_eq!(v["ran"], false);
    assert_eq!(v["reason"], "notDue");
    assert_eq!(time(&v["nextBackupTime"]), t0() + Duration::hours(12));
    let out = ok(&w, &at(1, 0), &["tick", "--verbose"]);
    assert!(out.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no backup is due"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ok(&w, &at(1, 0), &["disable-auto"]);
    let v = json(&w, &at(13, 0), &["tick"]);
    assert_eq!(v["ran"], false);
    assert_eq!(v["reason"], "automaticBackupsOff");
    ok(&w, &at(13, 0), &["enable-auto"]);

    // Due: one JSON document with the backup and the prune.
    let v = json(&w, &at(13, 0), &["tick"]);
    assert_eq!(v["ran"], true);
    assert_eq!(v["reason"], "ran");
    assert_eq!(time(&v["slot"]), t0() + Duration::hours(12));
    assert_eq!(time(&v["nextBackupTime"]), t0() + Duration::hours(24));
    assert_eq!(v["backup"]["status"], "Succeeded");
    let id = v["backup"]["backupId"].as_str().unwrap();
    assert!(w
        .path(&format!("backups/MASBackup/{id}/manifest.json"))
        .is_file());
    assert_eq!(v["prune"]["dryRun"], false);
    assert_eq!(v["prune"]["keptNewest"]["backupId"], id);
    let s = status(&w, &at(13, 0));
    assert_eq!(s["lastBackupId"], id);
}

#[test]
fn changing_the_frequency_moves_the_next_slot() {
    let w = world();
    // Last slot T0; 4 h from it is still ahead at T+1h.
    ok(&w, &at(1, 0), &["configure", "--frequency", "4"]);
    assert_eq!(next(&w, &at(1, 0)), t0() + Duration::hours(4));
    // At T+10h: last slot T0 (next T+4h − 4h) + 6h = T+6h is past: now.
    ok(
        &w,
        &at(10, 0),
        &["configure", "--backup-frequency-in-hours", "6"],
    );
    assert_eq!(next(&w, &at(10, 0)), t0() + Duration::hours(10));
    ok(&w, &at(10, 0), &["tick"]);
    assert_eq!(backups(&w), [t0() + Duration::hours(10)]);
    assert_eq!(next(&w, &at(10, 0)), t0() + Duration::hours(16));
    // Refused values change nothing.
    let out = run(&w, &at(11, 0), &["configure", "--frequency", "13"]);
    assert_eq!(code(&out), 3);
    assert!(String::from_utf8_lossy(&out.stderr).contains("4..=12"));
    assert_eq!(next(&w, &at(11, 0)), t0() + Duration::hours(16));
}

#[test]
fn a_partial_failure_of_a_scheduled_backup_exits_6_and_the_schedule_moves_on() {
    let w = world();
    w.write("src/other/a.txt", b"a");
    ok(&w, &at(0, 0), &["configure", "--source", "other=src/other"]);
    std::fs::remove_dir_all(w.path("src/other")).unwrap();
    let out = run(&w, &at(12, 0), &["tick"]);
    assert_eq!(code(&out), 6, "{}", String::from_utf8_lossy(&out.stderr));
    let s = status(&w, &at(12, 0));
    assert_eq!(s["lastBackupStatus"], "PartialSucceeded");
    assert_eq!(time(&s["nextBackupTime"]), t0() + Duration::hours(24));
    idle_tick(&w, &at(12, 1));
}

#[test]
fn an_unreachable_target_fails_the_tick_with_exit_4() {
    let w = world();
    std::fs::rename(w.path("backups"), w.path("moved")).unwrap();
    // Not due: the target is not even opened.
    let out = ok(&w, &at(11, 0), &["tick"]);
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
    let out = run(&w, &at(12, 0), &["tick"]);
    assert_eq!(code(&out), 4, "{}", String::from_utf8_lossy(&out.stderr));
    let s = status(&w, &at(12, 0));
    assert_eq!(s["lastBackupStatus"], "Failed");
    assert_eq!(time(&s["nextBackupTime"]), t0() + Duration::hours(24));
    // The slot is spent: later ticks in the same period do nothing, even once it is back.
    std::fs::rename(w.path("moved"), w.path("backups")).unwrap();
    idle_tick(&w, &at(12, 5));
    ok(&w, &at(24, 0), &["tick"]);
    assert_eq!(backups(&w), [t0() + Duration::hours(24)]);
}

#[test]
fn settings_from_version_1_start_with_automatic_backups_off() {
    let w = World::new();
    w.write("src/identity/a.txt", b"a");
    std::fs::create_dir_all(w.path("backups")).unwrap();
    let key = common::bin()
        .arg("new-encryption-key")
        .output()
        .unwrap()
        .stdout;
    let key = String::from_utf8(key).unwrap();
    let text = format!(
        "version = 1\npath = '{}'\nusername = 'CONTOSO\\backupshareuser'\npassword = 'pw'\nencryption_key = '{}'\n\n[[sources]]\nname = \"identity\"\npath = \"{}\"\n",
        w.path("backups").display(),
        key.trim(),
        w.path("src/identity").display()
    );
    let p = w.write("settings.toml", text.as_bytes());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let s = status(&w, &at(0, 0));
    assert_eq!(s["isBackupSchedulerEnabled"], false);
    for now in [at(0, 0), at(500, 0)] {
        idle_tick(&w, &now);
    }
    // Enabling with no schedule yet: the first slot one period from now.
    let v = json(&w, &at(500, 0), &["enable-auto"]);
    assert_eq!(time(&v["nextBackupTime"]), t0() + Duration::hours(512));
    idle_tick(&w, &at(511, 0));
    ok(&w, &at(512, 0), &["tick"]);
    assert_eq!(backups(&w), [t0() + Duration::hours(512)]);
}

/// The state file of a world, as JSON.
fn state_file(w: &World) -> Value {
    serde_json::from_slice(&std::fs::read(w.path("settings.state.json")).unwrap()).unwrap()
}

#[test]
fn a_scheduled_run_that_could_not_reach_the_target_is_retried_after_a_back_off() {
    let w = world();
    let local = w.path("backups");
    // Nothing listens on port 9 of loopback: the target is unreachable (a reason that may pass).
    ok(
        &w,
        &at(0, 1),
        &[
            "configure",
            "--path",
            "smb://127.0.0.1:9/share",
            "--no-verify",
        ],
    );
    let out = run(&w, &at(12, 1), &["tick"]);
    assert_eq!(code(&out), 4, "{}", String::from_utf8_lossy(&out.stderr));
    let st = state_file(&w);
    assert_eq!(
        time(&st["retryAt"]),
        t0() + Duration::hours(12) + Duration::minutes(31)
    );
    assert_eq!(time(&st["nextBackupTime"]), t0() + Duration::hours(24));
    // Within the back-off nothing runs.
    let v = json(&w, &at(12, 20), &["tick"]);
    assert_eq!(v["ran"], false, "{v}");
    // After it, tick tries again; it fails again and backs off again.
    let out = run(&w, &at(12, 32), &["tick"]);
    assert_eq!(code(&out), 4, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        time(&state_file(&w)["retryAt"]),
        t0() + Duration::hours(13) + Duration::minutes(2)
    );
    // The share is back: the retry runs a backup and the slot stays where it was.
    ok(
        &w,
        &at(12, 40),
        &["configure", "--path", local.to_str().unwrap()],
    );
    let v = json(&w, &at(13, 3), &["tick"]);
    assert_eq!(
        (v["ran"].as_bool(), v["retry"].as_bool()),
        (Some(true), Some(true)),
        "{v}"
    );
    assert_eq!(v["backup"]["status"], "Succeeded");
    let st = state_file(&w);
    assert!(st.get("retryAt").is_none(), "{st}");
    assert_eq!(time(&st["nextBackupTime"]), t0() + Duration::hours(24));
    // Retries never run past the next slot: a retry 15 minutes before it sets no further one.
    ok(
        &w,
        &at(13, 10),
        &[
            "configure",
            "--path",
            "smb://127.0.0.1:9/share",
            "--no-verify",
        ],
    );
    let out = run(&w, &at(24, 0), &["tick"]);
    assert_eq!(code(&out), 4);
    assert_eq!(
        time(&state_file(&w)["retryAt"]),
        t0() + Duration::hours(24) + Duration::minutes(30)
    );
    let out = run(&w, &at(35, 45), &["tick"]);
    assert_eq!(code(&out), 4);
    let st = state_file(&w);
    assert!(st.get("retryAt").is_none(), "{st}");
    assert_eq!(time(&st["nextBackupTime"]), t0() + Duration::hours(36));
    // A reason that will not pass by waiting (the folder is missing) sets no retry.
    let missing = w.path("no-such-dir/backups");
    ok(
        &w,
        &at(24, 1),
        &[
            "configure",
            "--path",
            missing.to_str().unwrap(),
            "--no-verify",
        ],
    );
    let out = run(&w, &at(36, 1), &["tick"]);
    assert_eq!(code(&out), 4, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(state_file(&w).get("retryAt").is_none());
}
