//! Monitoring without glue scripts (docs/SCHEDULING.md, Monitoring): after a backup run, a ping to the
//! configured notification URL (the healthchecks.io convention: `URL/start`, `URL`, `URL/fail`,
//! a short JSON body) and a Prometheus text-format metrics file for node_exporter's textfile
//! collector.
//!
//! Neither may fail or noticeably slow a backup: a ping that cannot be delivered within its
//! budget (a few seconds, a retry included) and a metrics file that cannot be written become
//! warnings. The URL may hold a secret ping key: it is never shown, only its scheme and host.

use crate::error::{Error, Result};
use crate::manifest::{Manifest, Status};
use crate::settings::{redact_url, Loaded};
use crate::state::{State, Trigger};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// Time allowed for one notification, retries included.
pub const NOTIFY_BUDGET: Duration = Duration::from_secs(4);
/// Time allowed for one attempt (connect, TLS, request and response).
pub const NOTIFY_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// Attempts per notification (the first and up to two retries, within [`NOTIFY_BUDGET`]).
pub const NOTIFY_ATTEMPTS: u32 = 3;

/// How a run ended, for the notification body and the metrics.
#[derive(Debug, Clone)]
pub struct RunEnd {
    /// True only when the backup `Succeeded` (a partial failure is a failure).
    pub success: bool,
    pub backup_id: Option<String>,
    pub status: Status,
    pub error: Option<String>,
    pub size_in_bytes: u64,
}

impl RunEnd {
    /// The end of a run that returned `result`.
    pub fn of(result: &Result<Manifest>) -> RunEnd {
        match result {
            Ok(m) => RunEnd {
                success: m.status == Status::Succeeded,
                backup_id: Some(m.backup_id.clone()),
                status: m.status,
                error: (m.status != Status::Succeeded).then(|| m.failed_sources()),
                size_in_bytes: m.encrypted_size(),
            },
            Err(e) => RunEnd::failed(e),
        }
    }

    /// A run that failed before it made a backup.
    pub fn failed(e: &Error) -> RunEnd {
        RunEnd {
            success: false,
            backup_id: None,
            status: Status::Failed,
            error: Some(e.to_string()),
            size_in_bytes: 0,
        }
    }
}

/// Watches one backup run: pings at its start and end, writes the metrics after it.
pub struct RunMonitor<'a> {
    loaded: &'a Loaded,
    trigger: Trigger,
    started_at: DateTime<Utc>,
    started: Instant,
    start_ping: Option<std::thread::JoinHandle<Option<String>>>,
}

impl<'a> RunMonitor<'a> {
    /// A run (`trigger`) begins at `now`; nothing is sent yet.
    pub fn new(loaded: &'a Loaded, trigger: Trigger, now: DateTime<Utc>) -> RunMonitor<'a> {
        RunMonitor {
            loaded,
            trigger,
            started_at: now,
            started: Instant::now(),
            start_ping: None,
        }
    }

    /// The backup starts writing: `URL/start`, sent in the background so that it never delays
    /// the run (its outcome is collected by [`RunMonitor::finish`]).
    pub fn started(&mut self) {
        let Some(url) = self.loaded.settings.notify_url.clone() else {
            return;
        };
        let body = serde_json::to_vec(&Body {
            tool: "azs-backup",
            host: crate::host::host_name(),
            event: "start",
            trigger: self.trigger,
            status: None,
            backup_id: None,
            duration_seconds: None,
            size_in_bytes: None,
            error: None,
        })
        .expect("serialises");
        self.start_ping = std::thread::Builder::new()
            .name("notify-start".into())
            .spawn(move || ping(&format!("{}/start", url.trim_end_matches('/')), &body).err())
            .ok();
    }

    /// The run ended: pings `URL` (success) or `URL/fail`, then writes the metrics file.
    /// `backups_on_target`: complete backups left on the target, when known. Problems become
    /// warnings passed to `warn`.
    pub fn finish(
        mut self,
        end: &RunEnd,
        backups_on_target: Option<usize>,
        warn: &mut dyn FnMut(&str),
    ) {
        let duration = self.started.elapsed();
        if let Some(h) = self.start_ping.take() {
            if let Ok(Some(w)) = h.join() {
                warn(&w);
            }
        }
        if let Some(url) = &self.loaded.settings.notify_url {
            let url = url.trim_end_matches('/');
            let body = serde_json::to_vec(&Body {
                tool: "azs-backup",
                host: crate::host::host_name(),
                event: if end.success { "success" } else { "fail" },
                trigger: self.trigger,
                status: Some(end.status),
                backup_id: end.backup_id.as_deref(),
                duration_seconds: Some(round3(duration.as_secs_f64())),
                size_in_bytes: Some(end.size_in_bytes),
                error: end.error.as_deref().map(|e| truncate(e, 500)),
            })
            .expect("serialises");
            let target = if end.success {
                url.to_string()
            } else {
                format!("{url}/fail")
            };
            if let Err(w) = ping(&target, &body) {
                warn(&w);
            }
        }
        if let Some(path) = &self.loaded.settings.metrics_file {
            let result = State::load(&self.loaded.paths.state).and_then(|state| {
                let text = metrics(&Metrics {
                    run_started: self.started_at,
                    success: end.success,
                    duration,
                    size_in_bytes: end.size_in_bytes,
                    last_success: state.last_successful_backup.as_ref().map(|b| b.time),
                    backups_on_target,
                    next_scheduled: state
                        .next_backup_time
                        .filter(|_| state.is_backup_scheduler_enabled),
                });
                write_public_atomic(path, text.as_bytes())
            });
            if let Err(e) = result {
                warn(&format!("the metrics file was not written: {e}"));
            }
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    tool: &'static str,
    host: String,
    event: &'static str,
    trigger: Trigger,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<Status>,
    #[serde(skip_serializing_if = "Option::is_none")]
    backup_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size_in_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// POSTs `body` (JSON) to `url`: up to [`NOTIFY_ATTEMPTS`] attempts within [`NOTIFY_BUDGET`].
/// The error names the URL by scheme and host only.
pub fn ping(url: &str, body: &[u8]) -> std::result::Result<(), String> {
    let deadline = Instant::now() + NOTIFY_BUDGET;
    let mut last = String::new();
    for attempt in 0..NOTIFY_ATTEMPTS {
        let left = deadline.saturating_duration_since(Instant::now());
        if left < Duration::from_millis(100) {
            break;
        }
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(200).min(left / 4));
        }
        match post_once(url, body, NOTIFY_ATTEMPT_TIMEOUT.min(left)) {
            Ok(()) => return Ok(()),
            Err((why, retry)) => {
                last = why;
                if !retry {
                    break;
                }
            }
        }
    }
    Err(format!(
        "the notification to {} was not delivered ({last}); the backup is not affected",
        redact_url(url)
    ))
}

/// One POST. The error says why in words that never contain the URL, and whether a retry may help.
fn post_once(url: &str, body: &[u8], timeout: Duration) -> std::result::Result<(), (String, bool)> {
    use ureq::tls::{RootCerts, TlsConfig};
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(true)
        .max_redirects(3)
        .user_agent(concat!("azs-backup/", env!("CARGO_PKG_VERSION")))
        .tls_config(
            TlsConfig::builder()
                .root_certs(RootCerts::PlatformVerifier)
                .unversioned_rustls_crypto_provider(provider)
                .build(),
        )
        .build()
        .new_agent();
    match agent
        .post(url)
        .header("Content-Type", "application/json")
        .send(body)
    {
        Ok(_) => Ok(()),
        Err(e) => Err(describe(&e)),
    }
}

/// Words for a ureq error that never include the URL (its Display may), and whether to retry.
fn describe(e: &ureq::Error) -> (String, bool) {
    use ureq::Error as E;
    match e {
        E::StatusCode(c) => (
            format!("the server answered HTTP {c}"),
            *c >= 500 || *c == 429,
        ),
        E::Timeout(_) => ("timed out".into(), true),
        E::HostNotFound => ("host not found".into(), true),
        E::ConnectionFailed => ("connection failed".into(), true),
        E::Io(io) => (format!("{}", io.kind()).replace('_', " "), true),
        E::Tls(why) => (format!("TLS: {why}"), false),
        E::Rustls(r) => (format!("TLS: {r}"), false),
        E::TooManyRedirects | E::RedirectFailed => ("too many or bad redirects".into(), false),
        _ => ("the request failed".into(), true),
    }
}

/// What the metrics file says.
#[derive(Debug, Clone)]
pub struct Metrics {
    pub run_started: DateTime<Utc>,
    pub success: bool,
    pub duration: Duration,
    pub size_in_bytes: u64,
    pub last_success: Option<DateTime<Utc>>,
    pub backups_on_target: Option<usize>,
    /// `None` when automatic backups are off (written as 0).
    pub next_scheduled: Option<DateTime<Utc>>,
}

/// The Prometheus text exposition format (version 0.0.4) of `m`: one gauge per line, each with
/// its HELP and TYPE lines. `azs_backup_backups_on_target` has no sample when unknown (the
/// target could not be listed).
pub fn metrics(m: &Metrics) -> String {
    let ts = |t: Option<DateTime<Utc>>| {
        t.map(|t| t.timestamp_millis() as f64 / 1000.0)
            .unwrap_or(0.0)
    };
    let gauges: [(&str, &str, Option<f64>); 7] = [
        (
            "azs_backup_last_run_timestamp_seconds",
            "Unix time the last backup run started.",
            Some(ts(Some(m.run_started))),
        ),
        (
            "azs_backup_last_success_timestamp_seconds",
            "Unix time the last fully successful backup started (0: none yet).",
            Some(ts(m.last_success)),
        ),
        (
            "azs_backup_last_run_success",
            "1 when the last backup run succeeded for every source, else 0.",
            Some(if m.success { 1.0 } else { 0.0 }),
        ),
        (
            "azs_backup_last_run_duration_seconds",
            "Wall-clock duration of the last backup run.",
            Some(round3(m.duration.as_secs_f64())),
        ),
        (
            "azs_backup_last_run_size_bytes",
            "Encrypted bytes the last backup run wrote to the target.",
            Some(m.size_in_bytes as f64),
        ),
        (
            "azs_backup_backups_on_target",
            "Complete backups on the target after the last run (absent when unknown).",
            m.backups_on_target.map(|n| n as f64),
        ),
        (
            "azs_backup_next_scheduled_timestamp_seconds",
            "Unix time of the next scheduled backup (0: automatic backups are off).",
            Some(ts(m.next_scheduled)),
        ),
    ];
    let mut out = String::new();
    for (name, help, value) in gauges {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
        if let Some(v) = value {
            out.push_str(&format!("{name} {v}\n"));
        }
    }
    out
}

/// Writes `data` to `path` atomically (a temporary file in the same directory, fsync, rename)
/// with mode 0644: metrics are not secret, and node_exporter usually runs as another user. The
/// temporary name does not end in `.prom`, so the collector never reads a half-written file.
fn write_public_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let ctx = || format!("writing {}", path.display());
    let mut tmp = tempfile::Builder::new()
        .prefix(".azs-backup-metrics-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| Error::io(ctx(), e))?;
    tmp.write_all(data).map_err(|e| Error::io(ctx(), e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(|e| Error::io(ctx(), e))?;
    }
    tmp.as_file().sync_all().map_err(|e| Error::io(ctx(), e))?;
    tmp.persist(path).map_err(|e| Error::io(ctx(), e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_gauge_has_help_and_type_and_parses() {
        let text = metrics(&Metrics {
            run_started: DateTime::from_timestamp(1_767_225_600, 0).unwrap(),
            success: false,
            duration: Duration::from_millis(1500),
            size_in_bytes: 42,
            last_success: None,
            backups_on_target: None,
            next_scheduled: None,
        });
        assert!(text.contains("azs_backup_last_run_timestamp_seconds 1767225600\n"));
        assert!(text.contains("azs_backup_last_run_success 0\n"));
        assert!(text.contains("azs_backup_last_run_duration_seconds 1.5\n"));
        assert!(!text
            .lines()
            .any(|l| l.starts_with("azs_backup_backups_on_target")));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, v) = line.split_once(' ').unwrap();
            v.parse::<f64>().unwrap();
        }
    }

    #[test]
    fn errors_name_the_host_only() {
        // Nothing listens on port 9 of 127.0.0.1 here (discard): refused at once.
        let e = ping("http://127.0.0.1:9/ping/secret-key-123", b"{}").unwrap_err();
        assert!(!e.contains("secret-key-123"), "{e}");
        assert!(e.contains("http://127.0.0.1:9/…"), "{e}");
    }
}
