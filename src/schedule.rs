//! The built-in scheduler (docs/SCHEDULING.md).
//!
//! Scheduled backups fall on a regular grid: `nextBackupTime` is the next slot, and the slots
//! are `slot + k × frequency`. The first successful `configure` puts the first slot at
//! configure time + frequency. `tick` (called every few minutes by cron, a systemd timer or
//! the Windows Task Scheduler) runs a backup when automatic backups are on and the slot has
//! come, then moves `nextBackupTime` to the first slot of the grid after now: a machine that was
//! off for two days makes one backup when it comes back, not a burst. On-demand backups never
//! move `nextBackupTime`. Disabling keeps the settings and the schedule; enabling resumes, and
//! the next tick at or after `nextBackupTime` runs.

use crate::backup::{self, Observer};
use crate::error::{Error, Result};
use crate::lock::{self, Operation};
use crate::manifest::Manifest;
use crate::monitor::{RunEnd, RunMonitor};
use crate::retention::{self, PruneReport};
use crate::settings::Loaded;
use crate::state::{self, LastBackup, State, Trigger};
use crate::store::Store;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// The first slot of the grid `last_slot + k × frequency` (k ≥ 1) that lies after `now`.
pub fn next_slot_after(
    last_slot: DateTime<Utc>,
    frequency_hours: u32,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    let freq_ms = Duration::hours(i64::from(frequency_hours.max(1))).num_milliseconds();
    let k = if now < last_slot {
        1
    } else {
        (now - last_slot).num_milliseconds() / freq_ms + 1
    };
    last_slot + Duration::milliseconds(freq_ms * k)
}

/// `nextBackupTime` after the frequency changes from `old_hours` to `new_hours`: the last slot
/// plus the new frequency, or `now` when that is already past.
pub fn after_frequency_change(
    next: Option<DateTime<Utc>>,
    old_hours: u32,
    new_hours: u32,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    let last_slot = next
        .map(|n| n - Duration::hours(i64::from(old_hours)))
        .unwrap_or(now);
    let next = last_slot + Duration::hours(i64::from(new_hours));
    next.max(now)
}

/// True when a scheduled backup should run at `now`.
pub fn is_due(state: &State, now: DateTime<Utc>) -> bool {
    state.is_backup_scheduler_enabled && state.next_backup_time.is_some_and(|n| n <= now)
}

/// How long `tick` waits before it tries again a scheduled backup that failed for a reason that
/// may pass (target unreachable, timeout). Retries stop at the next slot.
pub const RETRY_AFTER_MINUTES: i64 = 30;

/// True when a failed scheduled backup should be tried again at `now` (and its slot is not due
/// anyway).
pub fn is_retry_due(state: &State, now: DateTime<Utc>) -> bool {
    state.is_backup_scheduler_enabled
        && !is_due(state, now)
        && state.retry_at.is_some_and(|r| r <= now)
}

/// Whether a failed run may succeed if tried again soon: the target could not be reached or
/// timed out (not: denied, missing, full, bad settings).
pub fn is_transient(e: &Error) -> bool {
    matches!(
        e,
        Error::Store(crate::store::StoreError::Unreachable { .. })
    )
}

/// The retry time after a scheduled run failed at `now` with `e`: `now` + [`RETRY_AFTER_MINUTES`]
/// when the failure may pass and that is before `next` (the next slot), else none.
pub fn retry_after(
    e: &Error,
    now: DateTime<Utc>,
    next: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    let at = now + Duration::minutes(RETRY_AFTER_MINUTES);
    (is_transient(e) && next.is_some_and(|n| at < n)).then_some(at)
}

/// What `enable-auto` / `disable-auto` did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Toggle {
    /// False when automatic backups already were as asked.
    pub changed: bool,
    pub is_backup_scheduler_enabled: bool,
    pub next_backup_time: Option<DateTime<Utc>>,
    /// True when `nextBackupTime` has come: the next tick runs a backup (when enabled).
    pub due: bool,
}

/// Turns automatic backups on or off. Settings and `nextBackupTime` are kept; only when
/// enabling and no time is known yet (settings from `version = 1`) the first slot is put at
/// now + frequency.
pub fn set_enabled(loaded: &Loaded, enabled: bool, now: DateTime<Utc>) -> Result<Toggle> {
    let freq = loaded.settings.backup_frequency_in_hours;
    State::update(&loaded.paths.state, |s| {
        let changed = s.is_backup_scheduler_enabled != enabled;
        s.is_backup_scheduler_enabled = enabled;
        if enabled && s.next_backup_time.is_none() {
            s.next_backup_time = Some(now + Duration::hours(i64::from(freq)));
        }
        Ok(Toggle {
            changed,
            is_backup_scheduler_enabled: enabled,
            next_backup_time: s.next_backup_time,
            due: s.next_backup_time.is_some_and(|n| n <= now),
        })
    })
}

/// Why a `tick` did what it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum TickOutcome {
    /// Automatic backups are off: nothing to do.
    AutomaticBackupsOff,
    /// No backup is due yet.
    NotDue,
    /// The slot met a running backup and was skipped.
    Skipped,
    /// A scheduled backup ran.
    Ran,
}

/// What a `tick` did.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TickReport {
    /// True when a scheduled backup ran.
    pub ran: bool,
    /// True when this run retried a scheduled backup that failed for a reason that may pass.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub retry: bool,
    /// `automaticBackupsOff`, `notDue`, `skipped` (another backup was running) or `ran`.
    pub reason: TickOutcome,
    pub is_backup_scheduler_enabled: bool,
    /// The slot this tick handled (ran or skipped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot: Option<DateTime<Utc>>,
    pub next_backup_time: Option<DateTime<Utc>>,
    /// The run that made this tick skip its slot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running: Option<String>,
    /// The backup made (also when it did not fully succeed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<Manifest>,
    /// What the prune after the backup did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prune: Option<PruneReport>,
}

impl TickReport {
    fn idle(reason: TickOutcome, state: &State) -> TickReport {
        TickReport {
            ran: false,
            retry: false,
            reason,
            is_backup_scheduler_enabled: state.is_backup_scheduler_enabled,
            slot: None,
            next_backup_time: state.next_backup_time,
            running: None,
            backup: None,
            prune: None,
        }
    }
}

/// The scheduler's tick: when automatic backups are on and `nextBackupTime` has come, runs a
/// backup (recorded as `scheduled`) and then prunes; otherwise changes nothing. A slot that
/// meets a running backup is recorded as skipped. Either way the next slot is the first of the
/// grid after now. `Err` when the backup could not be made (the failure is recorded in the
/// state first) or the prune failed.
pub fn tick(loaded: &Loaded, observer: &mut dyn Observer) -> Result<TickReport> {
    let now = crate::clock::now()?;
    let paths = &loaded.paths;
    let freq = loaded.settings.backup_frequency_in_hours;
    let state = State::load(&paths.state)?;
    if !state.is_backup_scheduler_enabled {
        return Ok(TickReport::idle(TickOutcome::AutomaticBackupsOff, &state));
    }
    if state.next_backup_time.is_none() {
        // Enabled but never scheduled: put the first slot one period from now.
        let next = State::update(&paths.state, |s| {
            if s.next_backup_time.is_none() {
                s.next_backup_time = Some(now + Duration::hours(i64::from(freq)));
            }
            Ok(s.next_backup_time)
        })?;
        let mut r = TickReport::idle(TickOutcome::NotDue, &state);
        r.next_backup_time = next;
        return Ok(r);
    }
    if !is_due(&state, now) && !is_retry_due(&state, now) {
        return Ok(TickReport::idle(TickOutcome::NotDue, &state));
    }
    // A backup is due: the monitor pings and writes metrics for a run that starts (or fails
    // to start), not for a slot skipped because another backup is running.
    let mut monitor = RunMonitor::new(loaded, Trigger::Scheduled, now);
    let result = tick_due(loaded, now, &mut monitor, observer);
    let end = match &result {
        Ok(r) => r.backup.as_ref().map(|m| {
            (
                RunEnd::of(&Ok(m.clone())),
                r.prune.as_ref().map(|p| p.kept_backups),
            )
        }),
        Err(e) => Some((RunEnd::failed(e), None)),
    };
    if let Some((end, on_target)) = end {
        monitor.finish(&end, on_target, &mut |w| observer.warning(w));
    }
    result
}

/// The rest of a [`tick`] once a slot (or a retry) is due.
fn tick_due(
    loaded: &Loaded,
    now: DateTime<Utc>,
    monitor: &mut RunMonitor<'_>,
    observer: &mut dyn Observer,
) -> Result<TickReport> {
    let freq = loaded.settings.backup_frequency_in_hours;
    let recipient = loaded.recipient()?;
    let target = match loaded
        .settings
        .target()
        .and_then(|spec| Ok(crate::store::open(&spec, Some(&loaded.credentials()))?))
    {
        Ok(t) => t,
        Err(e) => {
            record_unmade(loaded, now, freq, &e)?;
            return Err(e);
        }
    };
    let (mut run_lock, slot, next, retry) =
        match claim_slot(loaded, target.as_ref(), now, observer)? {
            Claim::Idle(report) => return Ok(*report),
            Claim::Claimed {
                run_lock,
                slot,
                next,
                retry,
            } => (run_lock, slot, next, retry),
        };

    target.expect_upload(crate::capacity::expected_upload(loaded));
    let m = match crate::capacity::ensure_room(
        loaded,
        target.as_ref(),
        Trigger::Scheduled,
        now,
        observer,
    )
    .and_then(|()| {
        monitor.started();
        backup::run_locked(
            loaded,
            target.as_ref(),
            &recipient,
            &mut run_lock,
            Trigger::Scheduled,
            now,
            observer,
        )
    }) {
        Ok(m) => m,
        Err(e) => {
            drop(run_lock);
            if let Some(at) = retry_after(&e, now, Some(next)) {
                State::update(&loaded.paths.state, |s| {
                    s.retry_at = Some(at);
                    Ok(())
                })?;
            }
            return Err(e);
        }
    };
    let prune_now = crate::clock::now()?;
    let prune = retention::prune(
        target.as_ref(),
        prune_now,
        loaded.settings.backup_retention_period_in_days,
        false,
        None,
    );
    if let Err(e) = run_lock.release() {
        observer.warning(&format!("releasing the lock: {e}"));
    }
    let prune = prune?;
    Ok(TickReport {
        ran: true,
        retry,
        reason: TickOutcome::Ran,
        is_backup_scheduler_enabled: true,
        slot: Some(slot),
        next_backup_time: Some(next),
        running: None,
        backup: Some(m),
        prune: Some(prune),
    })
}

/// What [`claim_slot`] found: nothing to do after all, or a slot this run now owns.
enum Claim<'t> {
    Idle(Box<TickReport>),
    Claimed {
        run_lock: Box<lock::RunLock<'t>>,
        slot: DateTime<Utc>,
        next: DateTime<Utc>,
        retry: bool,
    },
}

/// Under the state lock: looks again (another tick may have taken this slot), then takes the
/// run lock and moves the schedule on, so that no later tick takes this slot again. A slot
/// that meets a running backup is recorded as skipped.
fn claim_slot<'t>(
    loaded: &Loaded,
    target: &'t dyn Store,
    now: DateTime<Utc>,
    observer: &mut dyn Observer,
) -> Result<Claim<'t>> {
    let paths = &loaded.paths;
    let freq = loaded.settings.backup_frequency_in_hours;
    let state_lock = state::lock(&paths.state)?;
    let mut st = State::load(&paths.state)?;
    let retry = is_retry_due(&st, now);
    if !is_due(&st, now) && !retry {
        let reason = if st.is_backup_scheduler_enabled {
            TickOutcome::NotDue
        } else {
            TickOutcome::AutomaticBackupsOff
        };
        return Ok(Claim::Idle(Box::new(TickReport::idle(reason, &st))));
    }
    let (slot, next) = if retry {
        // The slot stays where it is; this is another try of the one that failed.
        let at = st.retry_at.expect("retry implies a time");
        (at, st.next_backup_time.expect("retry implies a next slot"))
    } else {
        let slot = st.next_backup_time.expect("due implies a time");
        (slot, next_slot_after(slot, freq, now))
    };
    st.next_backup_time = Some(next);
    st.retry_at = None;
    let backup_id = uuid::Uuid::new_v4().to_string();
    let acquired = lock::acquire(
        &paths.lock,
        target,
        Operation::Backup {
            backup_id,
            trigger: Trigger::Scheduled,
        },
        now,
        &mut |w| observer.warning(w),
    );
    let run_lock = match acquired {
        Ok(l) => l,
        Err(Error::Locked(running)) => {
            st.last_skipped_time = Some(slot);
            st.save(&paths.state)?;
            return Ok(Claim::Idle(Box::new(TickReport {
                ran: false,
                retry,
                reason: TickOutcome::Skipped,
                is_backup_scheduler_enabled: true,
                slot: Some(slot),
                next_backup_time: Some(next),
                running: Some(running),
                backup: None,
                prune: None,
            })));
        }
        Err(e) => {
            st.record_backup(LastBackup::failed(Trigger::Scheduled, now, &e));
            st.retry_at = retry_after(&e, now, st.next_backup_time);
            st.save(&paths.state)?;
            return Err(e);
        }
    };
    st.save(&paths.state)?;
    drop(state_lock);
    Ok(Claim::Claimed {
        run_lock: Box::new(run_lock),
        slot,
        next,
        retry,
    })
}

/// A due slot whose backup could not even start (target unusable): recorded as a failed
/// scheduled backup, and the schedule moves on.
fn record_unmade(loaded: &Loaded, now: DateTime<Utc>, freq: u32, e: &Error) -> Result<()> {
    State::update(&loaded.paths.state, |s| {
        if is_due(s, now) || is_retry_due(s, now) {
            if is_due(s, now) {
                let slot = s.next_backup_time.expect("due implies a time");
                s.next_backup_time = Some(next_slot_after(slot, freq, now));
            }
            s.record_backup(LastBackup::failed(Trigger::Scheduled, now, e));
            s.retry_at = retry_after(e, now, s.next_backup_time);
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn examples_from_the_issue() {
        let t = at("2026-01-01T00:00:00Z");
        let slot = t + Duration::hours(12);
        assert_eq!(next_slot_after(slot, 12, slot), t + Duration::hours(24));
        assert_eq!(
            next_slot_after(slot, 12, t + Duration::hours(60)),
            t + Duration::hours(72)
        );
        assert_eq!(
            next_slot_after(slot, 12, t + Duration::hours(71) + Duration::minutes(59)),
            t + Duration::hours(72)
        );
        // A slot in the future (clock set back): one period on.
        assert_eq!(next_slot_after(slot, 12, t), t + Duration::hours(24));
    }

    #[test]
    fn frequency_changes() {
        let t = at("2026-01-01T00:00:00Z");
        let next = Some(t + Duration::hours(12));
        // Last slot t; 4 h later is still ahead.
        assert_eq!(
            after_frequency_change(next, 12, 4, t + Duration::hours(1)),
            t + Duration::hours(4)
        );
        // Already past: now.
        let now = t + Duration::hours(10);
        assert_eq!(after_frequency_change(next, 12, 6, now), now);
        // Longer period.
        assert_eq!(
            after_frequency_change(Some(t + Duration::hours(4)), 4, 12, t + Duration::hours(1)),
            t + Duration::hours(12)
        );
        assert_eq!(
            after_frequency_change(None, 12, 8, t),
            t + Duration::hours(8)
        );
    }

    proptest! {
        #[test]
        fn next_slot_is_the_first_grid_point_after_now(
            freq in 4u32..=12,
            base in 0i64..4_000_000_000,
            off_ms in 0i64..(60 * 24 * 3600 * 1000),
        ) {
            let last = DateTime::from_timestamp(base, 0).unwrap();
            let now = last + Duration::milliseconds(off_ms);
            let next = next_slot_after(last, freq, now);
            let f = Duration::hours(i64::from(freq));
            prop_assert!(next > now);
            prop_assert!(next - f <= now);
            prop_assert!(next > last);
            prop_assert_eq!((next - last).num_milliseconds() % f.num_milliseconds(), 0);
            // Whatever tick hits the same period gives the same next slot: no burst.
            let later = now + (next - now) / 2;
            prop_assert_eq!(next_slot_after(last, freq, later), next);
        }

        #[test]
        fn frequency_change_is_never_in_the_past(
            old in 4u32..=12,
            new in 4u32..=12,
            next_off in -200_000i64..200_000,
        ) {
            let now = at("2026-06-01T00:00:00Z");
            let next = now + Duration::seconds(next_off);
            let moved = after_frequency_change(Some(next), old, new, now);
            prop_assert!(moved >= now);
            let candidate = next - Duration::hours(i64::from(old)) + Duration::hours(i64::from(new));
            prop_assert!(moved == candidate || (moved == now && candidate < now));
        }
    }
}
