//! The one clock. Every part of the tool that needs "now" calls [`now`].
//!
//! `AZS_BACKUP_NOW` (RFC 3339, e.g. `2026-01-01T00:00:00Z`) overrides the system clock, for
//! tests and rehearsals of schedules and retention.

use chrono::{DateTime, DurationRound, Utc};

/// Environment variable that overrides the clock.
pub const NOW_ENV: &str = "AZS_BACKUP_NOW";

/// Error for a malformed `AZS_BACKUP_NOW`.
#[derive(Debug, thiserror::Error)]
#[error("{NOW_ENV} = {value:?} is not an RFC 3339 time (expected e.g. 2026-01-01T00:00:00Z)")]
pub struct ClockError {
    pub value: String,
}

/// The current time (to the millisecond), from `AZS_BACKUP_NOW` when it is set.
pub fn now() -> Result<DateTime<Utc>, ClockError> {
    let t = raw_now()?;
    Ok(t.duration_trunc(chrono::Duration::milliseconds(1))
        .unwrap_or(t))
}

fn raw_now() -> Result<DateTime<Utc>, ClockError> {
    match std::env::var(NOW_ENV) {
        Ok(value) if !value.trim().is_empty() => DateTime::parse_from_rfc3339(value.trim())
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| ClockError { value }),
        _ => Ok(Utc::now()),
    }
}

/// Formats a duration as ISO 8601 (`PT1M2.345S`), as Azure Stack reports `timeTakenToCreate`.
pub fn iso8601_duration(d: std::time::Duration) -> String {
    let total_ms = d.as_millis();
    let hours = total_ms / 3_600_000;
    let minutes = (total_ms / 60_000) % 60;
    let secs = (total_ms / 1000) % 60;
    let ms = total_ms % 1000;
    let mut s = String::from("PT");
    if hours > 0 {
        s.push_str(&format!("{hours}H"));
    }
    if minutes > 0 {
        s.push_str(&format!("{minutes}M"));
    }
    if ms > 0 {
        s.push_str(&format!("{secs}.{ms:03}S"));
    } else if secs > 0 || (hours == 0 && minutes == 0) {
        s.push_str(&format!("{secs}S"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations_are_iso8601() {
        assert_eq!(iso8601_duration(Duration::from_millis(0)), "PT0S");
        assert_eq!(iso8601_duration(Duration::from_millis(1500)), "PT1.500S");
        assert_eq!(iso8601_duration(Duration::from_secs(3723)), "PT1H2M3S");
        assert_eq!(iso8601_duration(Duration::from_secs(3600)), "PT1H");
    }
}
