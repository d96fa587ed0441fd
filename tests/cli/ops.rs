//! Issue 14 §2–4 through the real binary: the Azure API's names and paging (`prune --json`
//! `pathsToDelete`, `isAutomaticBackup`, `list --top/--skip`, `configure
//! --is-backup-scheduler-enabled`), the metrics file, notifications and the capacity check.

use crate::common;

use common::{code, run_at, World};
use serde_json::Value;

const T0: &str = "2026-01-01T00:00:00Z";

fn json_at(w: &World, now: &str, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    let out = run_at(w, now, &a);
    assert_eq!(
        code(&out),
        0,
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON document on stdout")
}

fn ids(v: &Value) -> Vec<String> {
    v["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["backupId"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn list_top_and_skip_page_newest_first() {
    let w = common::identity_world("page", T0);
    for h in 1..=5 {
        json_at(&w, &format!("2026-01-01T0{h}:00:00Z"), &["start-backup"]);
    }
    let all = ids(&json_at(&w, T0, &["list"]));
    assert_eq!(all.len(), 5);
    assert_eq!(ids(&json_at(&w, T0, &["list", "--top", "2"])), all[..2]);
    assert_eq!(
        ids(&json_at(&w, T0, &["list", "--skip", "1", "--top", "3"])),
        all[1..4]
    );
    assert_eq!(ids(&json_at(&w, T0, &["list", "--skip", "4"])), all[4..]);
    assert!(ids(&json_at(&w, T0, &["list", "--skip", "9"])).is_empty());
    // Bad input: one line naming the flag, usage exit code 2.
    let out = run_at(&w, T0, &["list", "--top", "0"]);
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--top"));
    let out = run_at(&w, T0, &["list", "--skip", "-1"]);
    assert_eq!(code(&out), 2);
}

#[test]
fn manifests_and_json_record_whether_the_scheduler_made_the_backup() {
    let w = common::identity_world("auto", T0);
    let manual = json_at(&w, "2026-01-01T01:00:00Z", &["start-backup"]);
    assert_eq!(manual["isAutomaticBackup"], false);
    let tick = json_at(&w, "2026-01-01T12:00:00Z", &["tick"]);
    assert_eq!(tick["ran"], true);
    assert_eq!(tick["backup"]["isAutomaticBackup"], true);
    let auto_id = tick["backup"]["backupId"].as_str().unwrap().to_string();
    let manual_id = manual["backupId"].as_str().unwrap();
    let list = json_at(&w, T0, &["list"]);
    for b in list["backups"].as_array().unwrap() {
        assert_eq!(b["isAutomaticBackup"], b["backupId"] == auto_id.as_str());
    }
    assert_eq!(
        json_at(&w, T0, &["show", manual_id])["isAutomaticBackup"],
        false
    );
    let on_disk: Value = serde_json::from_slice(
        &std::fs::read(w.path(&format!("backups/MASBackup/{auto_id}/manifest.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(on_disk["isAutomaticBackup"], true);

    // A manifest written before the field existed still reads (as false).
    let path = w.path(&format!("backups/MASBackup/{manual_id}/manifest.json"));
    let mut old: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    old.as_object_mut().unwrap().remove("isAutomaticBackup");
    std::fs::write(&path, serde_json::to_vec_pretty(&old).unwrap()).unwrap();
    let shown = json_at(&w, T0, &["show", manual_id]);
    assert_eq!(shown["isAutomaticBackup"], false);
    assert_eq!(ids(&json_at(&w, T0, &["list"])).len(), 2);
    // A wrong type is refused like any invalid manifest field.
    old["isAutomaticBackup"] = Value::from("yes");
    std::fs::write(&path, serde_json::to_vec_pretty(&old).unwrap()).unwrap();
    assert_eq!(code(&run_at(&w, T0, &["show", manual_id])), 7);
}

#[test]
fn prune_json_reports_paths_to_delete_for_both_operation_types() {
    let w = common::identity_world("prune", T0);
    let old = json_at(&w, "2026-01-01T01:00:00Z", &["start-backup"]);
    let old_id = old["backupId"].as_str().unwrap();
    json_at(&w, "2026-01-09T01:00:00Z", &["start-backup"]);
    let expected = vec![Value::from(format!("MASBackup/{old_id}"))];
    let later = "2026-01-09T02:00:00Z";
    let dry = json_at(&w, later, &["prune", "--operation-type", "DryRun"]);
    assert_eq!(dry["pathsToDelete"].as_array().unwrap(), &expected);
    assert_eq!(dry["wouldDelete"][0]["path"], expected[0]);
    let done = json_at(&w, later, &["prune"]);
    assert_eq!(done["pathsToDelete"].as_array().unwrap(), &expected);
    assert_eq!(done["deleted"][0]["path"], expected[0]);
    let again = json_at(&w, later, &["prune", "--dry-run"]);
    assert!(again["pathsToDelete"].as_array().unwrap().is_empty());
}

#[test]
fn configure_turns_the_scheduler_off_and_on_like_disable_and_enable_auto() {
    let w = common::identity_world("flag", T0);
    let st = json_at(&w, T0, &["status", "--offline"]);
    assert_eq!(st["isBackupSchedulerEnabled"], true);
    let next = st["nextBackupTime"].clone();
    let c = json_at(
        &w,
        T0,
        &[
            "configure",
            "--no-verify",
            "--is-backup-scheduler-enabled",
            "false",
        ],
    );
    assert_eq!(c["isBackupSchedulerEnabled"], false);
    assert_eq!(
        c["changed"],
        serde_json::json!(["isBackupSchedulerEnabled"])
    );
    let st = json_at(&w, T0, &["status", "--offline"]);
    assert_eq!(st["isBackupSchedulerEnabled"], false);
    assert_eq!(st["nextBackupTime"], next, "the schedule is kept");
    // Due, but off: tick makes nothing.
    let tick = json_at(&w, "2026-01-01T13:00:00Z", &["tick"]);
    assert_eq!(tick["ran"], false);
    let c = json_at(
        &w,
        T0,
        &[
            "configure",
            "--no-verify",
            "--is-backup-scheduler-enabled",
            "true",
        ],
    );
    assert_eq!(c["isBackupSchedulerEnabled"], true);
    let tick = json_at(&w, "2026-01-01T13:00:00Z", &["tick"]);
    assert_eq!(tick["ran"], true);
    // Same value again: nothing changes.
    let c = json_at(
        &w,
        T0,
        &[
            "configure",
            "--no-verify",
            "--is-backup-scheduler-enabled",
            "true",
        ],
    );
    assert!(c["changed"].as_array().unwrap().is_empty());
    // Bad input: usage error naming the flag and the values.
    let out = run_at(
        &w,
        T0,
        &[
            "configure",
            "--no-verify",
            "--is-backup-scheduler-enabled",
            "maybe",
        ],
    );
    assert_eq!(code(&out), 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--is-backup-scheduler-enabled") && err.contains("true"),
        "{err}"
    );
}

// ---------------------------------------------------------------- notifications

/// One request the test server received.
#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    content_type: String,
    body: Value,
}

/// A tiny HTTP/1.1 server on 127.0.0.1 that records every request and answers 200.
fn http_server() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<Request>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut r = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            let mut parts = line.split_whitespace();
            let method = parts.next().unwrap_or("").to_string();
            let path = parts.next().unwrap_or("").to_string();
            let (mut len, mut content_type) = (0usize, String::new());
            loop {
                let mut h = String::new();
                r.read_line(&mut h).unwrap();
                if h.trim().is_empty() {
                    break;
                }
                let (k, v) = h.split_once(':').unwrap();
                match k.trim().to_ascii_lowercase().as_str() {
                    "content-length" => len = v.trim().parse().unwrap(),
                    "content-type" => content_type = v.trim().to_string(),
                    _ => {}
                }
            }
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            record.lock().unwrap().push(Request {
                method,
                path,
                content_type,
                body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            });
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK");
        }
    });
    (port, seen)
}

fn paths(seen: &std::sync::Mutex<Vec<Request>>) -> Vec<String> {
    seen.lock()
        .unwrap()
        .iter()
        .map(|r| r.path.clone())
        .collect()
}

const KEY: &str = "s3cr3t-ping-key";

fn assert_no_key(out: &std::process::Output) {
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains(KEY), "the ping key was printed: {all}");
}

#[test]
fn notifications_follow_the_healthchecks_convention() {
    let (port, seen) = http_server();
    let w = common::identity_world("notify", T0);
    let url = format!("http://127.0.0.1:{port}/ping/{KEY}");
    let out = run_at(&w, T0, &["configure", "--no-verify", "--notify-url", &url]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert_no_key(&out);
    let out = run_at(&w, T0, &["status", "--offline", "--json"]);
    assert_no_key(&out);
    let st: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(st["notifyUrl"], format!("http://127.0.0.1:{port}/…"));
    assert!(paths(&seen).is_empty(), "configure pings nothing");

    // start-backup: /start, then the URL itself with a JSON summary.
    let out = run_at(&w, "2026-01-01T01:00:00Z", &["start-backup", "--json"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert_no_key(&out);
    let id = serde_json::from_slice::<Value>(&out.stdout).unwrap()["backupId"].clone();
    let reqs = seen.lock().unwrap().clone();
    assert_eq!(
        paths(&seen),
        [format!("/ping/{KEY}/start"), format!("/ping/{KEY}")]
    );
    assert!(reqs
        .iter()
        .all(|r| r.method == "POST" && r.content_type == "application/json"));
    assert_eq!(reqs[0].body["event"], "start");
    assert_eq!(reqs[1].body["event"], "success");
    assert_eq!(reqs[1].body["status"], "Succeeded");
    assert_eq!(reqs[1].body["backupId"], id);
    assert_eq!(reqs[1].body["trigger"], "onDemand");
    seen.lock().unwrap().clear();

    // A tick with nothing due sends nothing; a due tick pings like start-backup.
    assert_eq!(code(&run_at(&w, "2026-01-01T02:00:00Z", &["tick"])), 0);
    assert!(paths(&seen).is_empty());
    assert_eq!(code(&run_at(&w, "2026-01-01T12:00:00Z", &["tick"])), 0);
    assert_eq!(
        paths(&seen),
        [format!("/ping/{KEY}/start"), format!("/ping/{KEY}")]
    );
    assert_eq!(seen.lock().unwrap()[1].body["trigger"], "scheduled");
    seen.lock().unwrap().clear();

    // A partial failure is a failure: URL/fail.
    w.write("src/other/a.txt", b"a");
    assert_eq!(
        code(&run_at(
            &w,
            T0,
            &["configure", "--no-verify", "--source", "other=src/other"]
        )),
        0
    );
    std::fs::remove_dir_all(w.path("src/other")).unwrap();
    let out = run_at(&w, "2026-01-01T13:00:00Z", &["start-backup"]);
    assert_eq!(code(&out), 6);
    assert_eq!(
        paths(&seen),
        [format!("/ping/{KEY}/start"), format!("/ping/{KEY}/fail")]
    );
    let fail = seen.lock().unwrap()[1].body.clone();
    assert_eq!(fail["event"], "fail");
    assert_eq!(fail["status"], "PartialSucceeded");
    assert!(fail["error"].as_str().unwrap().contains("other"));
    seen.lock().unwrap().clear();

    // '' removes the URL: nothing is sent any more.
    assert_eq!(
        code(&run_at(
            &w,
            T0,
            &[
                "configure",
                "--no-verify",
                "--notify-url",
                "",
                "--remove-source",
                "other"
            ]
        )),
        0
    );
    assert_eq!(
        code(&run_at(&w, "2026-01-01T14:00:00Z", &["start-backup"])),
        0
    );
    assert!(paths(&seen).is_empty());
}

#[test]
fn an_undeliverable_notification_is_a_quick_warning() {
    // A port nobody listens on: connections are refused.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let w = common::identity_world("refused", T0);
    let url = format!("http://127.0.0.1:{port}/ping/{KEY}");
    assert_eq!(
        code(&run_at(
            &w,
            T0,
            &["configure", "--no-verify", "--notify-url", &url]
        )),
        0
    );
    let started = std::time::Instant::now();
    let out = run_at(&w, "2026-01-01T01:00:00Z", &["start-backup"]);
    let took = started.elapsed();
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert_no_key(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning") && err.contains(&format!("http://127.0.0.1:{port}/…")),
        "{err}"
    );
    assert!(took < std::time::Duration::from_secs(10), "took {took:?}");
}

#[test]
fn bad_notify_urls_and_metrics_paths_are_refused_with_one_line() {
    let w = common::identity_world("badmon", T0);
    let before = std::fs::read(w.config()).unwrap();
    for (args, field) in [
        (vec!["--notify-url", "ftp://example.com/x"], "notify-url"),
        (vec!["--notify-url", "https://"], "notify-url"),
        (
            vec!["--notify-url", "https://hc-ping.com/a b"],
            "notify-url",
        ),
        (
            vec!["--metrics-file", "/nonexistent-dir/azs.prom"],
            "metrics-file",
        ),
        (vec!["--metrics-file", "/tmp"], "metrics-file"),
    ] {
        let mut a = vec!["configure", "--no-verify"];
        a.extend(args.iter());
        let out = run_at(&w, T0, &a);
        assert_eq!(code(&out), 3, "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(field), "{err}");
    }
    assert_eq!(
        std::fs::read(w.config()).unwrap(),
        before,
        "nothing half-written"
    );
}

// ---------------------------------------------------------------- metrics

/// Parses a Prometheus text-format file: every sample has HELP and TYPE (gauge) lines before
/// it and a value that parses; returns name → value.
fn parse_metrics(text: &str) -> std::collections::BTreeMap<String, f64> {
    let mut help = std::collections::HashSet::new();
    let mut typed = std::collections::HashSet::new();
    let mut values = std::collections::BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, text) = rest.split_once(' ').unwrap();
            assert!(!text.is_empty());
            help.insert(name.to_string());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert_eq!(kind, "gauge");
            typed.insert(name.to_string());
        } else {
            let (name, value) = line.split_once(' ').expect("name value");
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{name}"
            );
            assert!(
                help.contains(name) && typed.contains(name),
                "{name} lacks HELP/TYPE"
            );
            let v: f64 = value.parse().unwrap_or_else(|_| panic!("{line}"));
            assert!(values.insert(name.to_string(), v).is_none(), "{name} twice");
        }
    }
    assert!(text.ends_with('\n'));
    values
}

fn epoch(s: &str) -> f64 {
    chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp() as f64
}

#[test]
fn metrics_file_is_written_after_every_run() {
    let w = common::identity_world("metrics", T0);
    std::fs::create_dir(w.path("textfile")).unwrap();
    let prom = w.path("textfile/azs-backup.prom");
    assert_eq!(
        code(&run_at(
            &w,
            T0,
            &[
                "configure",
                "--no-verify",
                "--metrics-file",
                "textfile/azs-backup.prom"
            ]
        )),
        0
    );
    let st = json_at(&w, T0, &["status", "--offline"]);
    assert_eq!(st["metricsFile"], prom.display().to_string());
    assert!(!prom.exists(), "written after a run, not by configure");

    let t1 = "2026-01-01T01:00:00Z";
    let b = json_at(&w, t1, &["start-backup"]);
    let m = parse_metrics(&std::fs::read_to_string(&prom).unwrap());
    for name in [
        "azs_backup_last_run_timestamp_seconds",
        "azs_backup_last_success_timestamp_seconds",
        "azs_backup_last_run_success",
        "azs_backup_last_run_duration_seconds",
        "azs_backup_last_run_size_bytes",
        "azs_backup_backups_on_target",
        "azs_backup_next_scheduled_timestamp_seconds",
    ] {
        assert!(m.contains_key(name), "{name} missing");
    }
    assert_eq!(m["azs_backup_last_run_timestamp_seconds"], epoch(t1));
    assert_eq!(m["azs_backup_last_success_timestamp_seconds"], epoch(t1));
    assert_eq!(m["azs_backup_last_run_success"], 1.0);
    assert!(m["azs_backup_last_run_duration_seconds"] >= 0.0);
    assert_eq!(
        m["azs_backup_last_run_size_bytes"],
        b["backupDataSizeInBytes"].as_f64().unwrap()
    );
    assert_eq!(m["azs_backup_backups_on_target"], 1.0);
    let next = st["nextBackupTime"].as_str().unwrap();
    assert_eq!(
        m["azs_backup_next_scheduled_timestamp_seconds"],
        epoch(next)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&prom).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644, "readable by node_exporter");
    }

    // A scheduled run, then a failed one: success 0, the last success stays.
    let t2 = "2026-01-01T12:00:00Z";
    json_at(&w, t2, &["tick"]);
    let m = parse_metrics(&std::fs::read_to_string(&prom).unwrap());
    assert_eq!(m["azs_backup_last_run_timestamp_seconds"], epoch(t2));
    assert_eq!(m["azs_backup_backups_on_target"], 2.0);
    assert_eq!(
        m["azs_backup_next_scheduled_timestamp_seconds"],
        epoch("2026-01-02T00:00:00Z")
    );
    std::fs::remove_dir_all(w.path("src/identity")).unwrap();
    let t3 = "2026-01-01T13:00:00Z";
    assert_ne!(code(&run_at(&w, t3, &["start-backup"])), 0);
    let m = parse_metrics(&std::fs::read_to_string(&prom).unwrap());
    assert_eq!(m["azs_backup_last_run_timestamp_seconds"], epoch(t3));
    assert_eq!(m["azs_backup_last_run_success"], 0.0);
    assert_eq!(m["azs_backup_last_success_timestamp_seconds"], epoch(t2));
    // Only the metrics file in its directory: no temporary file left behind.
    let names: Vec<_> = std::fs::read_dir(w.path("textfile"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["azs-backup.prom"]);
}

// ---------------------------------------------------------------- capacity

/// A small tmpfs mounted for the test (needs root); unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: std::path::PathBuf, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(&dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// `n` bytes zstd cannot compress.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A target on an 8 MiB tmpfs (`share/t`) with one backup (at 01:00) of `src/a`, `size`
/// bytes of noise; `None` (the test is skipped) when mounting needs root.
fn tmpfs_target_with_a_backup(w: &World, size: usize, seed: u64) -> Option<(Tmpfs, Value)> {
    let Some(fs) = Tmpfs::mount(w.path("share"), "8m") else {
        eprintln!("skipped: mounting a tmpfs needs root");
        return None;
    };
    let (cer, _) = w.new_cert("cap", None);
    w.write("src/a/data.bin", &noise(size, seed));
    let out = w
        .configure_cmd(&w.path("share/t"), &cer, &["a=src/a"])
        .env("AZS_BACKUP_NOW", T0)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    Some((fs, json_at(w, "2026-01-01T01:00:00Z", &["start-backup"])))
}

#[test]
fn a_backup_that_cannot_fit_fails_before_writing() {
    let w = World::new();
    let Some(_fs) = tmpfs_target_with_a_backup(&w, 3 << 20, 1) else {
        return;
    };

    // About 5 MiB are left: less than the next two backups (2 × 3 MiB).
    let out = run_at(&w, "2026-01-01T01:10:00Z", &["status", "--check", "--json"]);
    assert_eq!(code(&out), 11);
    let st: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        st["health"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["code"] == "targetAlmostFull"),
        "{st}"
    );

    // A second source of 6 MiB: about 9 MiB (3 from the last backup, 6 plain) do not fit,
    // and prune may remove nothing (the only backup is the newest).
    w.write("src/b/data.bin", &noise(6 << 20, 2));
    assert_eq!(
        code(&run_at(
            &w,
            T0,
            &["configure", "--no-verify", "--source", "b=src/b"]
        )),
        0
    );
    let folders = |w: &World| {
        std::fs::read_dir(w.path("share/t/MASBackup"))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_type().unwrap().is_dir())
            .count()
    };
    let before = folders(&w);
    let started = std::time::Instant::now();
    let out = run_at(&w, "2026-01-01T02:00:00Z", &["start-backup"]);
    assert_eq!(code(&out), 4, "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("capacity check"), "{err}");
    assert!(err.contains("needs about 9.0 MiB"), "{err}");
    assert!(
        err.contains("is free") && err.contains("nothing was written"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(folders(&w), before, "nothing written");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    // The failure is recorded, and a due tick fails the same way (exit 4).
    let st = json_at(&w, "2026-01-01T02:00:00Z", &["status", "--offline"]);
    assert_eq!(st["lastBackupStatus"], "Failed");
    assert_eq!(code(&run_at(&w, "2026-01-01T12:00:00Z", &["tick"])), 4);
    assert_eq!(folders(&w), before);
}

#[test]
fn a_restore_that_fills_the_disk_fails_with_one_line_and_leaves_nothing() {
    // Small files are written by a thread of their own, large ones by the thread that reads the
    // archive: the disk fills in the first (after a few batches, while more are being queued)
    // and, in the second case, in the second.
    for (small, large) in [(600, 0), (20, 3 << 20)] {
        let w = World::new();
        let Some(_fs) = Tmpfs::mount(w.path("dest"), "1m") else {
            eprintln!("skipped: mounting a tmpfs needs root");
            return;
        };
        let (cer, key) = w.new_cert("full", None);
        for i in 0..small {
            w.write(&format!("src/a/d{}/f{i:04}", i % 7), &noise(6000, i as u64));
        }
        if large > 0 {
            w.write("src/a/big.bin", &noise(large, 9));
        }
        w.configure(&cer, &["a=src/a"]);
        let id = w.backup();
        let out = w
            .restore_cmd(&id, &key, &w.path("dest/out"))
            .output()
            .unwrap();
        let ctx = format!("{small} small files, {large} bytes large");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(code(&out), 1, "{ctx}: {err}");
        let last = err.trim().lines().last().unwrap_or_default();
        assert!(
            last.starts_with("azs-backup: error: restoring ")
                && last.contains("No space left on device"),
            "{ctx}: {err}"
        );
        assert_eq!(
            err.lines().filter(|l| l.contains("error")).count(),
            1,
            "{ctx}: {err}"
        );
        // Nothing of the source, and no hidden temporary folder, is left in the destination.
        let left: Vec<_> = std::fs::read_dir(w.path("dest/out"))
            .map(|d| d.map(|e| e.unwrap().file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{ctx}: {left:?}");
    }
}

#[test]
fn the_capacity_estimate_remembers_the_last_backup_across_targets() {
    // 6 MiB that compress to almost nothing: the plain size (a walk of the source) does not
    // fit on a 4 MiB target, the size of the last backup does.
    let w = World::new();
    let (cer, _) = w.new_cert("remember", None);
    w.write("src/a/zeros.bin", &vec![0u8; 6 << 20]);
    w.configure(&cer, &["a=src/a"]);
    let Some(_fs) = Tmpfs::mount(w.path("small"), "4m") else {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    let move_to = |w: &World, dir: &str| {
        let path = w.path(dir).display().to_string();
        let out = run_at(w, T0, &["configure", "--no-verify", "--path", &path]);
        assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    };
    // Never backed up: the estimate is the plain size, which does not fit.
    move_to(&w, "small");
    let out = run_at(&w, "2026-01-01T01:00:00Z", &["start-backup"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), 4, "{err}");
    assert!(err.contains("needs about 6.0 MiB"), "{err}");
    // Backed up once elsewhere: that backup's size is the estimate on the new target too.
    move_to(&w, "backups");
    json_at(&w, "2026-01-01T02:00:00Z", &["start-backup"]);
    move_to(&w, "small");
    let v = json_at(&w, "2026-01-01T03:00:00Z", &["start-backup"]);
    assert_eq!(v["status"], "Succeeded", "{v}");
}

#[test]
fn a_backup_that_fits_only_after_a_prune() {
    // Two backups of 3 MiB on an 8 MiB target, both past the retention period: the next one
    // (about 3 MiB) does not fit in what is free, but does once prune removed the older (the
    // newest is always kept). `start-backup` deletes nothing unasked and says to prune first;
    // `tick` prunes first, says so, and backs up.
    let w = World::new();
    let Some(_fs) = tmpfs_target_with_a_backup(&w, 3 << 20, 4) else {
        return;
    };
    w.write("src/a/data.bin", &noise(3 << 20, 5));
    json_at(&w, "2026-01-01T02:00:00Z", &["start-backup"]);
    let folders = || {
        std::fs::read_dir(w.path("share/t/MASBackup"))
            .unwrap()
            .count()
    };
    assert_eq!(folders(), 2, "two backups");
    let late = "2026-01-10T00:00:00Z";
    let out = run_at(&w, late, &["start-backup"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), 4, "{err}");
    assert!(
        err.contains("pruning first frees about 3.0 MiB") && err.contains("azs-backup prune"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let out = run_at(&w, late, &["tick"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), 0, "{err}");
    assert!(err.contains("pruning before the backup"), "{err}");
}

#[test]
fn the_capacity_estimate_trusts_this_machine_over_the_share() {
    // The state remembers each source's last size: a manifest on the share that claims more
    // (anyone who can write there can write one) does not make the estimate, and so cannot
    // stop the backups; the share's manifests are not even read for a source the state knows.
    let w = World::new();
    let Some((_fs, first)) = tmpfs_target_with_a_backup(&w, 2 << 20, 3) else {
        return;
    };
    let id = first["backupId"].as_str().unwrap();
    let path = w.path(&format!("share/t/MASBackup/{id}/manifest.json"));
    let mut m: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    m["roleStatus"][0]["encryptedSizeInBytes"] = Value::from(100u64 << 20);
    std::fs::write(&path, serde_json::to_vec(&m).unwrap()).unwrap();
    // The forged size is read (the backup is listed with it) ...
    let list = json_at(&w, "2026-01-01T01:30:00Z", &["list"]);
    assert!(
        list.to_string().contains(&(100u64 << 20).to_string()),
        "{list}"
    );
    // ... and does not make the estimate: 2 MiB fit in the 6 MiB left.
    let out = run_at(&w, "2026-01-01T02:00:00Z", &["start-backup"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
}

/// Runs the binary in `w` (at time `T0`) with at most `limit` open files (`ulimit -n`).
fn with_open_file_limit(w: &World, limit: u32, args: &[&str]) -> std::process::Output {
    let mut c = std::process::Command::new("sh");
    for v in common::CLEARED_ENV {
        c.env_remove(v);
    }
    c.arg("-c")
        .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_azs-backup"))
        .arg("--config")
        .arg(w.config())
        .args(args)
        .env("AZS_BACKUP_NOW", T0)
        .current_dir(w.path(""))
        .output()
        .unwrap()
}

#[test]
fn a_restore_of_one_file_per_folder_stays_within_a_low_open_file_limit() {
    // Small files are written by a thread of their own, each holding its folder open until
    // it is written: 1,500 folders of one file each must not need 1,500 open files.
    let w = World::new();
    let (cer, key) = w.new_cert("fds", None);
    for i in 0..1500 {
        w.write(&format!("src/a/d{i:04}/f"), b"one small file\n");
    }
    w.configure(&cer, &["a=src/a"]);
    let id = w.backup();
    let (key, to) = (
        key.display().to_string(),
        w.path("out").display().to_string(),
    );
    let out = with_open_file_limit(&w, 128, &["restore", &id, "--key", &key, "--to", &to]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    for i in [0, 777, 1499] {
        let back = std::fs::read(w.path(&format!("out/a/d{i:04}/f"))).unwrap();
        assert_eq!(back, b"one small file\n");
    }
}

#[test]
fn a_backup_of_a_deep_tree_stays_within_a_low_open_file_limit() {
    // Files are opened in a handle on their folder: a tree 200 folders deep, with a file
    // listed before the next folder (`a`) and one after it (`z`) on every level, must not
    // hold a handle per level.
    let w = World::new();
    let (cer, key) = w.new_cert("deep", None);
    let mut rel = String::from("src/a");
    for i in 0..200 {
        rel.push_str(&format!("/d{}", i % 10));
        w.write(&format!("{rel}/a"), format!("level {i}\n").as_bytes());
        w.write(&format!("{rel}/z"), format!("level {i}, last\n").as_bytes());
    }
    w.configure(&cer, &["a=src/a"]);
    let out = with_open_file_limit(&w, 64, &["start-backup", "--json"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "Succeeded", "{v}");
    let id = v["backupId"].as_str().unwrap().to_string();
    let out = w.restore_cmd(&id, &key, &w.path("out")).output().unwrap();
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let deepest = rel.replacen("src/a", "out/a", 1);
    assert_eq!(
        std::fs::read(w.path(&format!("{deepest}/a"))).unwrap(),
        b"level 199\n"
    );
    let top = w.path("out/a/d0/z");
    assert_eq!(std::fs::read(top).unwrap(), b"level 0, last\n");
}
