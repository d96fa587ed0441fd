//! What a lock says (the JSON of [`LockInfo`], docs/SCHEDULING.md) and for how long it holds:
//! the lease, and when a lock is stale. `lock.rs` takes, keeps and releases locks.

use crate::host::{host_name, machine_id};
use crate::state::Trigger;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The lock file on the target.
pub const TARGET_LOCK: &str = "MASBackup/.lock";
/// Prefix of a stale lock renamed aside during a takeover (removed right after; `prune`
/// removes one left by a crash).
pub const STALE_PREFIX: &str = ".lock.stale-";
/// A lock file larger than this is not read whole (ours are about 400 bytes).
pub(super) const MAX_LOCK_BYTES: u64 = 64 * 1024;
/// How long a lock is valid without a refresh.
pub const LEASE_MINUTES: i64 = 30;
/// Test-only: overrides the lease (in seconds) so that tests can outlive it quickly. Never set
/// it in production.
pub const TEST_LEASE_ENV: &str = "AZS_BACKUP_TEST_LEASE_SECONDS";

/// How long a lock is valid without a refresh ([`LEASE_MINUTES`], unless a test overrides it).
pub fn lease() -> Duration {
    std::env::var(TEST_LEASE_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|s| *s >= 0)
        .map(Duration::seconds)
        .unwrap_or(Duration::minutes(LEASE_MINUTES))
}

/// For how long after this run last wrote or read its lock on the target it trusts the lock
/// to be still its own without reading it again ([`super::RunLock::check_held`], the release): at
/// most a minute, and a tenth of the lease. Another run takes a lock over only once the
/// expiry this run wrote (its write + the lease) has passed by that run's clock, so within a
/// minute of a write or a read the lock can have changed only by hand or by a host whose clock
/// is more than 29 minutes ahead. Each read of the lock is four requests, each a round trip
/// on a remote share: a backup shorter than that skips three of them.
pub const TRUSTED_FOR: std::time::Duration = std::time::Duration::from_secs(60);

pub(super) fn trusted_for() -> std::time::Duration {
    TRUSTED_FOR.min((lease() / 10).to_std().unwrap_or_default())
}

/// How often a running backup rewrites its lock's expiry.
pub const REFRESH_EVERY: std::time::Duration = std::time::Duration::from_secs(120);

/// What a lock is held for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    Backup { backup_id: String, trigger: Trigger },
    Prune,
}

/// The content of a lock (local and on the target).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockInfo {
    pub host: String,
    /// The machine id of the host (`/etc/machine-id`), when it has one: host name, machine id
    /// and pid together name the owner, so containers sharing a host name stay apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_id: Option<String>,
    pub pid: u32,
    /// `backup` or `prune`.
    pub operation: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Trigger>,
    pub start_time: DateTime<Utc>,
    pub expiry: DateTime<Utc>,
    #[serde(default)]
    pub tool_version: String,
}

impl LockInfo {
    /// The lock this process would write for `op` at `now`.
    pub fn new(op: &Operation, now: DateTime<Utc>) -> LockInfo {
        let (operation, backup_id, trigger) = match op {
            Operation::Backup { backup_id, trigger } => {
                ("backup", Some(backup_id.clone()), Some(*trigger))
            }
            Operation::Prune => ("prune", None, None),
        };
        LockInfo {
            host: host_name(),
            machine_id: machine_id(),
            pid: std::process::id(),
            operation: operation.into(),
            backup_id,
            trigger,
            start_time: now,
            expiry: expiry_from(now),
            tool_version: env!("CARGO_PKG_VERSION").into(),
        }
    }

    /// A sentence naming the run: `backup ID (scheduled), started … by process N on HOST`.
    pub fn describe(&self) -> String {
        let what = match (&self.backup_id, self.trigger) {
            (Some(id), Some(Trigger::Scheduled)) => format!("backup {id} (scheduled)"),
            (Some(id), Some(Trigger::OnDemand)) => format!("backup {id} (on demand)"),
            (Some(id), None) => format!("backup {id}"),
            (None, _) => self.operation.clone(),
        };
        format!(
            "{what}, started {} by process {} on {}; its lock expires {}",
            self.start_time.to_rfc3339(),
            self.pid,
            self.host,
            self.expiry.to_rfc3339()
        )
    }

    pub(super) fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("lock serialises");
        v.push(b'\n');
        v
    }
}

/// The expiry of a lock refreshed at `now`: whole seconds, so that every version of a lock
/// has the same length and a refresh can rewrite it in place.
pub(super) fn expiry_from(now: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::SubsecRound;
    now.trunc_subsecs(0) + lease()
}

/// Why a lock is stale, or `None` while it is live. The process table is consulted only for a
/// lock taken on this very machine: same host name and same machine id (a lock without a
/// machine id, from an older version, is judged by host name alone).
pub fn stale_reason(info: &LockInfo, now: DateTime<Utc>, this_host: &str) -> Option<String> {
    if info.expiry <= now {
        return Some(format!("it expired at {}", info.expiry.to_rfc3339()));
    }
    let same_machine = info.host.eq_ignore_ascii_case(this_host)
        && match (&info.machine_id, machine_id()) {
            (Some(theirs), Some(ours)) => theirs.eq_ignore_ascii_case(&ours),
            (None, _) => true,
            (Some(_), None) => false,
        };
    if same_machine && pid_alive(info.pid) == Some(false) {
        return Some(format!("process {} no longer runs on this host", info.pid));
    }
    None
}

/// Whether a process runs on this host: `None` when this platform cannot tell.
pub fn pid_alive(pid: u32) -> Option<bool> {
    if cfg!(target_os = "linux") && Path::new("/proc/self").exists() {
        Some(Path::new("/proc").join(pid.to_string()).exists())
    } else {
        None
    }
}
