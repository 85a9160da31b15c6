//! Timestamps: UTC with microsecond precision, stored by every backend as microseconds since the
//! Unix epoch.

use chrono::{DateTime, SubsecRound, Utc};

use crate::{Error, Result};

/// A UTC instant; mlstore keeps microsecond precision and truncates anything finer.
pub type Timestamp = DateTime<Utc>;

/// The current time, truncated to microseconds.
pub fn now() -> Timestamp {
    truncate(Utc::now())
}

/// Truncates an instant to microsecond precision (what every backend stores).
pub fn truncate(t: Timestamp) -> Timestamp {
    t.trunc_subsecs(6)
}

/// Microseconds since the Unix epoch.
pub fn to_micros(t: &Timestamp) -> i64 {
    t.timestamp_micros()
}

/// The instant `micros` microseconds after the Unix epoch.
///
/// # Errors
/// [`Error::InvalidInput`] when the value is outside the range chrono represents.
pub fn from_micros(micros: i64) -> Result<Timestamp> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| Error::invalid("timestamp", format!("{micros} µs is out of range")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_round_trip_and_truncation() {
        let t = DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap();
        let t = truncate(t);
        assert_eq!(t.timestamp_subsec_nanos(), 123_456_000);
        assert_eq!(from_micros(to_micros(&t)).unwrap(), t);
        let n = now();
        assert_eq!(n.timestamp_subsec_nanos() % 1000, 0);
    }
}
