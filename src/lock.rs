//! Exclusive runs (docs/SCHEDULING.md): at most one backup (or prune) at a time per target.
//!
//! Two locks are taken, in this order, and held for the whole run:
//! - the **local lock**: an OS file lock (fs4) on the `X.lock` file beside the settings
//!   (`SettingsPaths::lock` in the `settings` module). The operating system releases it when the process
//!   ends, however it ends, so it can never be stale. While held, the file holds the
//!   [`LockInfo`] of the run, so that a second process can name it.
//! - the **target lock**: `MASBackup/.lock` on the target, created with
//!   [`Store::create_new`] (so exactly one of two contenders gets it), holding the same
//!   [`LockInfo`] as JSON:
//!
//! ```json
//! {
//!   "host": "backup01",
//!   "pid": 4242,
//!   "operation": "backup",
//!   "backupId": "2b1a7c3e-0f6d-4a55-9d0c-3f1e2a4b5c6d",
//!   "trigger": "scheduled",
//!   "startTime": "2026-01-01T12:00:00Z",
//!   "expiry": "2026-01-01T12:30:00Z",
//!   "toolVersion": "0.1.0"
//! }
//! ```
//!
//! A target lock is **stale** when its `expiry` has passed, or when it was taken on this host
//! by a process that no longer runs (Linux: `/proc/PID` is gone; elsewhere only the expiry
//! counts). A stale lock is taken over with a warning: it is renamed aside (only one contender's
//! rename can succeed), checked to be the very lock that was judged stale, and deleted; then
//! the lock is created anew. A running backup refreshes its expiry every
//! [`REFRESH_EVERY`] from its progress callbacks ([`Keeper`]), so a lock expires
//! [`LEASE_MINUTES`] after its holder stopped making progress. A run trusts its lock without
//! reading it for [`TRUSTED_FOR`] after it last wrote or read it.

use crate::error::{Error, Result};
use crate::host::host_name;
use crate::manifest::{RoleStatus, ROOT};
use crate::observer::Observer;
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use fs4::fs_std::FileExt;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;

mod info;
use info::{expiry_from, trusted_for, MAX_LOCK_BYTES};
pub use info::{
    lease, pid_alive, stale_reason, LockInfo, Operation, LEASE_MINUTES, REFRESH_EVERY,
    STALE_PREFIX, TARGET_LOCK, TEST_LEASE_ENV, TRUSTED_FOR,
};

/// The live lock on the target, if any (for `prune --dry-run`, which takes no lock).
pub fn peek(target: &dyn Store, now: DateTime<Utc>) -> Result<Option<LockInfo>> {
    match read_lock(target) {
        Ok(bytes) => Ok(serde_json::from_slice::<LockInfo>(&bytes)
            .ok()
            .filter(|i| stale_reason(i, now, &host_name()).is_none())),
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A held run lock (local and on the target). Released by [`RunLock::release`], or when dropped.
pub struct RunLock<'t> {
    target: &'t dyn Store,
    local: Option<File>,
    local_path: PathBuf,
    info: LockInfo,
    /// The bytes of the target lock as this process last wrote them (shared with the
    /// keep-alive thread, which rewrites them).
    bytes: Arc<Mutex<Vec<u8>>>,
    /// Set by the keep-alive thread when it finds the lock taken over or cannot refresh it.
    lost: Arc<Mutex<Option<String>>>,
    /// When the lock was last found (read) or made (written) this run's: the start of that
    /// read or write ([`TRUSTED_FOR`]).
    confirmed: Arc<Mutex<Instant>>,
    keep_alive: Option<(mpsc::Sender<()>, std::thread::JoinHandle<()>)>,
    released: bool,
}

/// Takes the local lock at `local_path`, then the lock on `target`. Fails with
/// [`Error::Locked`] (naming the running backup) when another run holds either; takes over a
/// stale target lock, telling `warn`.
pub fn acquire<'t>(
    local_path: &Path,
    target: &'t dyn Store,
    op: Operation,
    now: DateTime<Utc>,
    warn: &mut dyn FnMut(&str),
) -> Result<RunLock<'t>> {
    let info = LockInfo::new(&op, now);
    let bytes = info.to_bytes();
    let started = Instant::now();
    let local = lock_local(local_path, &bytes, warn)?;
    // `MASBackup` is made only when the lock cannot be created for want of it (the first run
    // on a target): on a share the `stat` of an existing folder costs 3 requests, each a
    // round trip.
    let taken = match acquire_target(target, &bytes, now, warn) {
        Err(Error::Store(StoreError::NotFound { .. })) => target
            .mkdir_all(ROOT)
            .map_err(Error::from)
            .and_then(|()| acquire_target(target, &bytes, now, warn)),
        r => r,
    };
    if let Err(e) = taken {
        unlock_local(&local);
        return Err(e);
    }
    Ok(RunLock {
        target,
        local: Some(local),
        local_path: local_path.to_path_buf(),
        info,
        bytes: Arc::new(Mutex::new(bytes)),
        lost: Arc::new(Mutex::new(None)),
        confirmed: Arc::new(Mutex::new(started)),
        keep_alive: None,
        released: false,
    })
}

fn lock_local(path: &Path, bytes: &[u8], warn: &mut dyn FnMut(&str)) -> Result<File> {
    let ctx = || format!("locking {}", path.display());
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts.open(path).map_err(|e| Error::io(ctx(), e))?;
    if !FileExt::try_lock_exclusive(&file).map_err(|e| Error::io(ctx(), e))? {
        let mut text = String::new();
        let _ = file.read_to_string(&mut text);
        return Err(Error::Locked(
            match serde_json::from_str::<LockInfo>(&text) {
                Ok(i) => i.describe(),
                Err(_) => format!("another process on this host holds {}", path.display()),
            },
        ));
    }
    let mut old = String::new();
    let _ = file.read_to_string(&mut old);
    if let Ok(prev) = serde_json::from_str::<LockInfo>(&old) {
        warn(&format!(
            "an earlier run on this host ended without releasing its lock ({}); taking it over",
            prev.describe()
        ));
    }
    let write = |file: &mut File| -> std::io::Result<()> {
        file.set_len(0)?;
        file.rewind()?;
        file.write_all(bytes)?;
        file.flush()
    };
    if let Err(e) = write(&mut file) {
        unlock_local(&file);
        return Err(Error::io(ctx(), e));
    }
    Ok(file)
}

fn unlock_local(file: &File) {
    let _ = file.set_len(0);
    let _ = FileExt::unlock(file);
}

fn acquire_target(
    target: &dyn Store,
    bytes: &[u8],
    now: DateTime<Utc>,
    warn: &mut dyn FnMut(&str),
) -> Result<()> {
    let host = host_name();
    let mut unreadable = 0;
    for _ in 0..8 {
        match target.create_new(TARGET_LOCK, bytes) {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => {
                remove_torn(target, bytes);
                return Err(e.into());
            }
        }
        let existing = match read_lock(target) {
            Ok(b) => b,
            Err(StoreError::NotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        let info = serde_json::from_slice::<LockInfo>(&existing).ok();
        let (reason, desc) = match &info {
            Some(i) => match stale_reason(i, now, &host) {
                None => return Err(Error::Locked(i.describe())),
                Some(r) => (r, i.describe()),
            },
            None => {
                // Possibly being written by its creator right now: look again shortly.
                unreadable += 1;
                if unreadable < 3 {
                    std::thread::sleep(std::time::Duration::from_millis(200));
                    continue;
                }
                (
                    "its content is not a valid lock (a run ended while writing it)".to_string(),
                    format!("{TARGET_LOCK} ({} bytes)", existing.len()),
                )
            }
        };
        let aside = format!("{ROOT}/{STALE_PREFIX}{}", uuid::Uuid::new_v4().simple());
        match target.rename(TARGET_LOCK, &aside) {
            Ok(()) => {}
            Err(StoreError::NotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
        if target.read_limited(&aside, MAX_LOCK_BYTES).ok().as_deref() != Some(existing.as_slice())
        {
            // Another process replaced the stale lock with a live one between our read and
            // our rename: put it back and look again.
            let _ = target.rename(&aside, TARGET_LOCK);
            continue;
        }
        let _ = target.remove_file(&aside);
        warn(&format!(
            "took over a stale lock on the target: {desc} ({reason})"
        ));
    }
    Err(Error::Locked(
        "the lock on the target keeps changing: another run is starting at the same time".into(),
    ))
}

/// After a failed [`Store::create_new`] of the lock: the target may hold part of what this
/// process was writing (a write torn by the failure, which the target could not clean up), or
/// all of it (the reply was lost). That is removed, so that it does not stand in the next
/// run's way; but only when it holds at least this process's pid (a shorter start could be
/// another process's lock being written right now, which is left alone).
fn remove_torn(target: &dyn Store, bytes: &[u8]) {
    let pid = format!("\"pid\": {},", std::process::id());
    let Some(at) = bytes.windows(pid.len()).position(|w| w == pid.as_bytes()) else {
        return;
    };
    match read_lock(target) {
        Ok(found) if found.len() >= at + pid.len() && bytes.starts_with(&found) => {
            let _ = target.remove_file(TARGET_LOCK);
        }
        _ => {}
    }
}

impl<'t> RunLock<'t> {
    /// What this lock says.
    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    /// The backup id this lock was taken for.
    pub fn backup_id(&self) -> Option<String> {
        self.info.backup_id.clone()
    }

    /// Rewrites the expiry of the target lock (now + the lease), in place. Returns why not
    /// when the lock was lost (taken over by another run after it expired) or cannot be written.
    pub fn refresh(&mut self) -> std::result::Result<(), String> {
        let started = Instant::now();
        match refresh_in_place(self.target, &self.info, &self.bytes) {
            Ok(()) => {
                confirm(&self.confirmed, started);
                Ok(())
            }
            Err(RefreshError::Lost(why)) => Err(self.lose(why)),
            Err(RefreshError::Failed(why)) => Err(why),
        }
    }

    /// Records that the lock is no longer this run's (nothing trusts it from then on: the
    /// release reads it before deleting it) and returns `why`.
    fn lose(&self, why: String) -> String {
        self.lost
            .lock()
            .expect("lock flag")
            .get_or_insert_with(|| why.clone());
        why
    }

    /// Whether the lock was found or made this run's recently enough to be trusted without a
    /// read ([`TRUSTED_FOR`]), and was not found lost since.
    fn trusted(&self) -> bool {
        self.lost.lock().expect("lock flag").is_none()
            && self.confirmed.lock().expect("lock time").elapsed() < trusted_for()
    }

    /// Refreshes the target lock from a thread of its own, every third of the lease (at most
    /// every [`REFRESH_EVERY`]), whatever the run is doing: one huge file or a slow source
    /// cannot outlive the lease. `open` opens a second connection to the target for the thread
    /// (connections are not shared between threads), when the first refresh is due: a run
    /// shorter than that never pays for it (a dozen round trips on a remote share, made while
    /// the run's own requests wait). When the lock is found lost, the thread stops and
    /// [`RunLock::check_held`] fails from then on.
    pub fn keep_alive(
        &mut self,
        open: Box<dyn Fn() -> std::result::Result<Box<dyn Store>, StoreError> + Send>,
    ) {
        let every = REFRESH_EVERY
            .min((lease() / 3).to_std().unwrap_or(REFRESH_EVERY))
            .max(std::time::Duration::from_millis(200));
        let (stop, stopped) = mpsc::channel::<()>();
        let bytes = self.bytes.clone();
        let lost = self.lost.clone();
        let confirmed = self.confirmed.clone();
        let info = self.info.clone();
        let handle = std::thread::spawn(move || {
            let lease = lease().to_std().unwrap_or_default();
            let mut refreshed = std::time::Instant::now();
            let mut target: Option<Box<dyn Store>> = None;
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                // A connection that cannot be opened is a refresh that failed: tried again at
                // the next turn.
                let t = match &target {
                    Some(t) => Ok(t),
                    None => open()
                        .map(|t| &*target.insert(t))
                        .map_err(|e| format!("cannot keep the lock on the target alive: {e}")),
                };
                let started = Instant::now();
                let r = t
                    .map_err(RefreshError::Failed)
                    .and_then(|t| refresh_in_place(t.as_ref(), &info, &bytes));
                match r {
                    Ok(()) => {
                        refreshed = started;
                        confirm(&confirmed, started);
                    }
                    // A refresh the target failed (a dropped connection) is tried again at the
                    // next turn; the lock is given up only when it could expire before that.
                    Err(RefreshError::Failed(_)) if refreshed.elapsed() + every < lease => {}
                    Err(RefreshError::Lost(why) | RefreshError::Failed(why)) => {
                        *lost.lock().expect("lock flag") = Some(why);
                        return;
                    }
                }
            }
        });
        self.keep_alive = Some((stop, handle));
    }

    /// Fails with [`Error::Locked`] unless the lock on the target is still this run's (the
    /// keep-alive thread found nothing wrong, and the lock file still holds what this process
    /// last wrote: read again unless it was found or made this run's less than
    /// [`TRUSTED_FOR`] ago). A backup calls it before each source and right before its
    /// manifest.
    pub fn check_held(&self) -> Result<()> {
        if let Some(why) = self.lost.lock().expect("lock flag").clone() {
            return Err(Error::Locked(format!("this run lost its lock: {why}")));
        }
        if self.trusted() {
            return Ok(());
        }
        let started = Instant::now();
        let mine = self.bytes.lock().expect("lock bytes");
        match read_lock(self.target) {
            Ok(b) if same_lock(&b, &mine) => {
                confirm(&self.confirmed, started);
                Ok(())
            }
            Ok(b) => Err(Error::Locked(format!(
                "this run lost its lock: {}",
                self.lose(format!(
                    "it was taken over by another run ({})",
                    serde_json::from_slice::<LockInfo>(&b)
                        .map(|i| i.describe())
                        .unwrap_or_else(|_| "unreadable".into())
                ))
            ))),
            Err(StoreError::NotFound { .. }) => Err(Error::Locked(format!(
                "this run lost its lock: {}",
                self.lose("the lock file on the target was removed".into())
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// An observer that passes everything to `inner` and warns (once) when the lock was lost.
    pub fn keeper<'a>(&self, inner: &'a mut dyn Observer) -> Keeper<'a> {
        Keeper {
            lost: self.lost.clone(),
            warned: false,
            inner,
        }
    }

    /// Removes the target lock (when it is still this run's) and releases the local lock.
    pub fn release(mut self) -> Result<()> {
        self.release_inner().map_err(Error::from)
    }

    fn release_inner(&mut self) -> std::result::Result<(), StoreError> {
        if self.released {
            return Ok(());
        }
        self.released = true;
        if let Some((stop, handle)) = self.keep_alive.take() {
            drop(stop);
            let _ = handle.join();
        }
        let t = self.target;
        let mine = self.bytes.lock().expect("lock bytes").clone();
        // Not read first when trusted (the keep-alive thread, which could rewrite it, is
        // stopped above); a try after a failed one reads it (the failure may have come after
        // the deletion, and another run may have made its own lock since).
        let remove = |trusted: bool| {
            if !trusted {
                match read_lock(t) {
                    Ok(b) if same_lock(&b, &mine) => {}
                    Ok(_) | Err(StoreError::NotFound { .. }) => return Ok(()),
                    Err(e) => return Err(e),
                }
            }
            match t.remove_file(TARGET_LOCK) {
                Ok(()) | Err(StoreError::NotFound { .. }) => Ok(()),
                Err(e) => Err(e),
            }
        };
        // A lock left behind blocks other hosts until it expires: one failed call (a dropped
        // connection, a busy server) is worth two more tries.
        let mut result = remove(self.trusted());
        for pause in [200, 1000] {
            if result.is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(pause));
            result = remove(false);
        }
        if let Some(f) = self.local.take() {
            unlock_local(&f);
        }
        result
    }

    /// The local lock file.
    pub fn local_path(&self) -> &Path {
        &self.local_path
    }
}

impl Drop for RunLock<'_> {
    fn drop(&mut self) {
        let _ = self.release_inner();
    }
}

/// An [`Observer`] that passes everything on and warns once when the run's lock was lost.
pub struct Keeper<'a> {
    lost: Arc<Mutex<Option<String>>>,
    warned: bool,
    inner: &'a mut dyn Observer,
}

impl Keeper<'_> {
    fn tend(&mut self) {
        if self.warned {
            return;
        }
        if let Some(w) = self.lost.lock().expect("lock flag").clone() {
            self.warned = true;
            self.inner.warning(&w);
        }
    }
}

impl Observer for Keeper<'_> {
    fn wants_sizes(&self) -> bool {
        self.inner.wants_sizes()
    }
    fn source_started(&mut self, name: &str, total: Option<u64>) {
        self.tend();
        self.inner.source_started(name, total);
    }
    fn progress(&mut self, read: u64, written: u64) {
        self.inner.progress(read, written);
        self.tend();
    }
    fn source_finished(&mut self, role: &RoleStatus) {
        self.inner.source_finished(role);
        self.tend();
    }
    fn warning(&mut self, message: &str) {
        self.inner.warning(message);
    }
}

/// Records that the lock was found or made this run's by a read or write started at `at`.
fn confirm(confirmed: &Mutex<Instant>, at: Instant) {
    let mut c = confirmed.lock().expect("lock time");
    *c = (*c).max(at);
}

/// The lock file on the target (at most [`MAX_LOCK_BYTES`] of it: it may have been planted).
fn read_lock(target: &dyn Store) -> std::result::Result<Vec<u8>, StoreError> {
    target.read_limited(TARGET_LOCK, MAX_LOCK_BYTES)
}

/// Whether the lock file `found` is this run's lock `mine`, whatever its expiry says (and
/// trailing whitespace aside: a target that cannot cut a file pads a rewritten lock with
/// spaces). Every version of a lock has the same length and differs from the others only
/// inside the expiry's value, so a refresh whose reply was lost (the new expiry is on the
/// target) or that a failure tore (part new, part old) is still this run's; a lock of any
/// other run differs outside it (host, pid, start time, backup id).
fn same_lock(found: &[u8], mine: &[u8]) -> bool {
    let (found, mine) = (found.trim_ascii_end(), mine.trim_ascii_end());
    if found == mine {
        return true;
    }
    let key = b"\"expiry\": \"";
    let Some(start) = mine
        .windows(key.len())
        .position(|w| w == key)
        .map(|p| p + key.len())
    else {
        return false;
    };
    let Some(end) = mine[start..]
        .iter()
        .position(|&b| b == b'"')
        .map(|n| start + n)
    else {
        return false;
    };
    found.len() == mine.len() && found[..start] == mine[..start] && found[end..] == mine[end..]
}

/// Why a refresh did not happen.
enum RefreshError {
    /// The lock is no longer this run's (taken over by another run, or removed).
    Lost(String),
    /// The target failed; it may answer the next time.
    Failed(String),
}

/// Rewrites the lock `info` with a new expiry, in place, after checking the target still holds
/// what `current` says this process wrote last (then updates `current`).
fn refresh_in_place(
    t: &dyn Store,
    info: &LockInfo,
    current: &Mutex<Vec<u8>>,
) -> std::result::Result<(), RefreshError> {
    let now = crate::clock::now().unwrap_or_else(|_| Utc::now());
    let mut next = info.clone();
    next.expiry = expiry_from(now);
    let bytes = next.to_bytes();
    // Held across the read and the rewrite, so that `check_held` never sees the new bytes on
    // the target while `current` still holds the old ones.
    let mut mine = current.lock().expect("lock bytes");
    let on_target = match read_lock(t) {
        Ok(b) if same_lock(&b, &mine) => b,
        Ok(b) => {
            let other = serde_json::from_slice::<LockInfo>(&b)
                .map(|i| i.describe())
                .unwrap_or_else(|_| "unreadable".into());
            return Err(RefreshError::Lost(format!(
                "the lock on the target was taken over by another run ({other}); this run no longer holds it"
            )));
        }
        Err(StoreError::NotFound { .. }) => {
            return Err(RefreshError::Lost(
                "the lock file on the target was removed; this run no longer holds it".into(),
            ))
        }
        Err(e) => {
            return Err(RefreshError::Failed(format!(
                "cannot refresh the lock on the target: {e}"
            )))
        }
    };
    if bytes == *mine && on_target.trim_ascii_end() == mine.trim_ascii_end() {
        return Ok(());
    }
    // Also rewrites a lock whose last refresh failed half-way (torn, or its reply lost).
    match t.overwrite(TARGET_LOCK, &bytes) {
        Ok(()) => {
            *mine = bytes;
            Ok(())
        }
        Err(e) => Err(RefreshError::Failed(format!(
            "cannot refresh the lock on the target: {e}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Trigger;
    use crate::store::local::LocalStore;
    use chrono::Duration;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn backup_op(id: &str) -> Operation {
        Operation::Backup {
            backup_id: id.into(),
            trigger: Trigger::OnDemand,
        }
    }

    #[test]
    fn second_acquire_is_refused_and_release_frees() {
        let dir = tempfile::tempdir().unwrap();
        let t = LocalStore::open(dir.path()).unwrap();
        let now = at("2026-01-01T00:00:00Z");
        let local = dir.path().join("s.lock");
        let mut warns = Vec::new();
        let held = acquire(&local, &t, backup_op("a"), now, &mut |w| {
            warns.push(w.to_string())
        })
        .unwrap();
        let other = dir.path().join("other.lock");
        match acquire(&other, &t, backup_op("b"), now, &mut |_| {}) {
            Err(Error::Locked(m)) => assert!(m.contains("backup a"), "{m}"),
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("second lock granted"),
        }
        // Same local lock file: refused by the OS lock.
        assert!(matches!(
            acquire(&local, &t, backup_op("c"), now, &mut |_| {}),
            Err(Error::Locked(m)) if m.contains("backup a")
        ));
        held.release().unwrap();
        assert!(t.stat(TARGET_LOCK).unwrap().is_none());
        assert_eq!(std::fs::read(&local).unwrap(), b"");
        assert!(warns.is_empty(), "{warns:?}");
        acquire(&local, &t, backup_op("d"), now, &mut |_| {}).unwrap();
    }

    #[test]
    fn a_torn_lock_of_this_process_is_removed_and_no_other() {
        let dir = tempfile::tempdir().unwrap();
        let t = LocalStore::open(dir.path()).unwrap();
        t.mkdir_all(ROOT).unwrap();
        let bytes = LockInfo::new(&backup_op("a"), Utc::now()).to_bytes();
        let needle = format!("\"pid\": {},", std::process::id());
        let past_pid = String::from_utf8_lossy(&bytes).find(&needle).unwrap() + needle.len();
        // Up to our pid: ours. Shorter: maybe another process's lock being written.
        for (torn, removed) in [
            (&bytes[..past_pid], true),
            (&bytes[..], true),
            (&bytes[..past_pid - 1], false),
        ] {
            t.create_new(TARGET_LOCK, torn).unwrap();
            remove_torn(&t, &bytes);
            assert_eq!(t.stat(TARGET_LOCK).unwrap().is_none(), removed);
            let _ = t.remove_file(TARGET_LOCK);
        }
        let mut other = LockInfo::new(&backup_op("a"), Utc::now());
        other.pid += 1;
        t.create_new(TARGET_LOCK, &other.to_bytes()).unwrap();
        remove_torn(&t, &bytes);
        assert!(t.stat(TARGET_LOCK).unwrap().is_some());
    }

    #[test]
    fn a_refresh_torn_or_whose_reply_was_lost_is_still_this_runs_lock() {
        let now = at("2026-01-01T00:00:00Z");
        let old = LockInfo::new(&backup_op("a"), now);
        let mut new = old.clone();
        new.expiry = now + Duration::minutes(47);
        let (o, n) = (old.to_bytes(), new.to_bytes());
        assert_eq!(o.len(), n.len());
        for cut in 0..=o.len() {
            let mut torn = n[..cut].to_vec();
            torn.extend_from_slice(&o[cut..]);
            assert!(same_lock(&torn, &o), "cut at {cut}");
        }
        let mut padded = o.clone();
        padded.extend_from_slice(b"   ");
        assert!(same_lock(&padded, &o));
        let mut other = old.clone();
        other.pid += 1;
        assert!(!same_lock(&other.to_bytes(), &o));
        let mut other = old.clone();
        other.start_time = now + Duration::seconds(1);
        assert!(!same_lock(&other.to_bytes(), &o));
        assert!(!same_lock(&o[..o.len() - 3], &o));
    }

    #[test]
    fn staleness() {
        let now = at("2026-01-01T00:00:00Z");
        let mut i = LockInfo::new(&backup_op("x"), now);
        i.host = "elsewhere".into();
        assert_eq!(stale_reason(&i, now, "here"), None);
        i.expiry = now;
        assert!(stale_reason(&i, now, "here").unwrap().contains("expired"));
        if pid_alive(1).is_some() {
            let mut j = LockInfo::new(&backup_op("y"), now);
            j.host = "here".into();
            j.pid = u32::MAX - 1;
            assert!(stale_reason(&j, now, "here")
                .unwrap()
                .contains("no longer runs"));
            j.pid = 1;
            assert_eq!(stale_reason(&j, now, "here"), None);
        }
    }

    #[test]
    fn a_lock_is_trusted_for_a_minute_until_a_read_finds_it_lost() {
        let dir = tempfile::tempdir().unwrap();
        let t = LocalStore::open(dir.path()).unwrap();
        let held = acquire(
            &dir.path().join("s.lock"),
            &t,
            backup_op("a"),
            Utc::now(),
            &mut |_| {},
        )
        .unwrap();
        // Changed by hand right after it was written: not read, so not seen (TRUSTED_FOR).
        let mut theirs = LockInfo::new(&backup_op("b"), Utc::now());
        theirs.host = "elsewhere".into();
        t.overwrite(TARGET_LOCK, &theirs.to_bytes()).unwrap();
        held.check_held().unwrap();
        // Once a read finds it (here, as if the trust had run out), the run knows for good:
        // every later check fails without reading, and the release leaves the lock alone.
        *held.confirmed.lock().unwrap() = Instant::now() - TRUSTED_FOR;
        for _ in 0..2 {
            match held.check_held() {
                Err(Error::Locked(m)) => assert!(m.contains("backup b"), "{m}"),
                other => panic!("{other:?}"),
            }
        }
        *held.confirmed.lock().unwrap() = Instant::now();
        held.release().unwrap();
        assert_eq!(read_lock(&t).unwrap(), theirs.to_bytes());
    }

    #[test]
    fn refresh_moves_the_expiry_and_detects_takeover() {
        let dir = tempfile::tempdir().unwrap();
        let t = LocalStore::open(dir.path()).unwrap();
        let start = Utc::now() - Duration::minutes(20);
        let mut held = acquire(
            &dir.path().join("s.lock"),
            &t,
            backup_op("a"),
            start,
            &mut |_| {},
        )
        .unwrap();
        held.refresh().unwrap();
        let on_target: LockInfo = serde_json::from_slice(&read_lock(&t).unwrap()).unwrap();
        assert!(on_target.expiry > start + Duration::minutes(LEASE_MINUTES));
        assert_eq!(on_target.start_time, start);
        // Someone else replaces it: the next refresh reports the loss and leaves theirs.
        t.remove_file(TARGET_LOCK).unwrap();
        let mut theirs = LockInfo::new(&backup_op("b"), Utc::now());
        theirs.host = "elsewhere".into();
        t.create_new(TARGET_LOCK, &theirs.to_bytes()).unwrap();
        let err = held.refresh().unwrap_err();
        assert!(
            err.contains("taken over") && err.contains("backup b"),
            "{err}"
        );
        held.release().unwrap();
        assert!(read_lock(&t).unwrap() == theirs.to_bytes());
    }
}
