//! Timestamps: UTC with microsecond precision, stored by every backend as microseconds since the
//! Unix epoch (SQLite) or as `timestamptz` (PostgreSQL).
//!
//! Every timestamp mlstore accepts lies in [`MIN`]..=[`MAX`] (years 1 to 9999, the range RFC 3339
//! writes and every backend holds); anything outside is refused with
//! [`Error::InvalidInput`] when the value is built.

use chrono::{DateTime, SubsecRound, Utc};

use crate::{Error, Result};

/// A UTC instant; mlstore keeps microsecond precision and truncates anything finer.
pub type Timestamp = DateTime<Utc>;

/// The earliest timestamp mlstore stores: 0001-01-01T00:00:00Z.
pub const MIN: Timestamp = match DateTime::from_timestamp(-62_135_596_800, 0) {
    Some(t) => t,
    None => panic!("year 1 is representable"),
};

/// The latest timestamp mlstore stores: 9999-12-31T23:59:59.999999Z.
pub const MAX: Timestamp = match DateTime::from_timestamp(253_402_300_799, 999_999_000) {
    Some(t) => t,
    None => panic!("year 9999 is representable"),
};

/// One microsecond past [`MAX`]: the exclusive end of a window with no end.
pub fn end_of_range() -> Timestamp {
    MAX + chrono::Duration::microseconds(1)
}

/// The current time, truncated to microseconds.
pub fn now() -> Timestamp {
    truncate(Utc::now())
}

/// Truncates an instant to microsecond precision (what every backend stores).
pub fn truncate(t: Timestamp) -> Timestamp {
    t.trunc_subsecs(6)
}

/// Checks that `t` lies in [`MIN`]..=[`MAX`].
///
/// # Errors
/// [`Error::InvalidInput`] naming `field` otherwise.
pub fn check(field: &'static str, t: &Timestamp) -> Result<()> {
    if *t < MIN || *t > MAX {
        return Err(Error::invalid(
            field,
            format!(
                "{t} is outside the supported range {} to {}",
                MIN.to_rfc3339(),
                MAX.to_rfc3339()
            ),
        ));
    }
    Ok(())
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

    #[test]
    fn range() {
        assert_eq!(MIN.to_rfc3339(), "0001-01-01T00:00:00+00:00");
        assert_eq!(MAX.to_rfc3339(), "9999-12-31T23:59:59.999999+00:00");
        assert!(check("t", &MIN).is_ok() && check("t", &MAX).is_ok());
        let before = MIN - chrono::Duration::microseconds(1);
        assert!(check("timestamp", &before).is_err());
        assert!(check("timestamp", &end_of_range()).is_err());
    }
}
