//! Milliseconds since the Unix epoch: how every time crosses a boundary of
//! ours (the control API, the event stream, the activity database, the
//! policy file). The one place that converts, so a clock before 1970 or a
//! value past the type's range is handled the same way everywhere: clamped,
//! never a panic.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// `t` in milliseconds since the epoch (0 before it, `u64::MAX` far after).
pub fn millis(t: SystemTime) -> u64 {
    let ms = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
    u64::try_from(ms).unwrap_or(u64::MAX)
}

/// [`millis`] as SQLite stores integers.
pub fn millis_i64(t: SystemTime) -> i64 {
    i64::try_from(millis(t)).unwrap_or(i64::MAX)
}

/// The current time, in milliseconds since the epoch.
pub fn now_millis() -> u64 {
    millis(SystemTime::now())
}

/// A calendar time in milliseconds since the epoch (0 before it).
pub fn offset_millis(t: OffsetDateTime) -> u64 {
    u64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

/// The time `ms` milliseconds after the epoch.
pub fn from_millis(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// `2026-01-02T03:04:05Z`, to the whole second in UTC (the local offset
/// cannot be read soundly in a multi-threaded process); empty when out of range.
pub fn rfc3339_seconds(ms: u64) -> String {
    i64::try_from(ms / 1000)
        .ok()
        .and_then(|secs| OffsetDateTime::from_unix_timestamp(secs).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// `#[serde(with = "crate::epoch::serde_millis")]` on a [`SystemTime`].
pub mod serde_millis {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(super::millis(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        Ok(super::from_millis(u64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_clamps() {
        let t = UNIX_EPOCH + Duration::from_millis(1_767_323_045_123);
        assert_eq!(millis(t), 1_767_323_045_123);
        assert_eq!(from_millis(millis(t)), t);
        assert_eq!(millis(UNIX_EPOCH - Duration::from_secs(1)), 0);
        assert_eq!(millis_i64(t), 1_767_323_045_123);
        let odt = OffsetDateTime::from_unix_timestamp(1_767_323_045).unwrap();
        assert_eq!(offset_millis(odt), 1_767_323_045_000);
        assert_eq!(rfc3339_seconds(1_767_323_045_999), "2026-01-02T03:04:05Z");
        assert_eq!(rfc3339_seconds(u64::MAX), "");
    }
}
