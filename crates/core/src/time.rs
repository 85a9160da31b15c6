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

/// Reads an instant as people write one: RFC 3339 (`2026-11-01T00:00:00Z`, a date alone
/// `2026-11-01` meaning its midnight UTC), or an age relative to `now`: a whole number followed
/// by `s`, `m`, `h`, `d` or `w` (`90s`, `30m`, `24h`, `7d`, `2w`) meaning that long ago.
///
/// ```
/// use mlstore_core::time::{parse_instant, now};
/// let t = parse_instant("2026-11-01T12:00:00Z", now()).unwrap();
/// assert_eq!(t.to_rfc3339(), "2026-11-01T12:00:00+00:00");
/// let n = now();
/// assert_eq!(parse_instant("7d", n).unwrap(), n - chrono::Duration::days(7));
/// ```
///
/// # Errors
/// [`Error::InvalidInput`] (field `time`) for anything else, or an instant outside
/// [`MIN`]..=[`MAX`].
pub fn parse_instant(text: &str, now: Timestamp) -> Result<Timestamp> {
    let text = text.trim();
    let bad = || {
        Error::invalid(
            "time",
            format!(
                "{text:?} is neither RFC 3339 (2026-11-01T00:00:00Z, 2026-11-01) nor an age \
                 (90s, 30m, 24h, 7d, 2w)"
            ),
        )
    };
    let t = if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        t.with_timezone(&Utc)
    } else if let Ok(d) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        d.and_hms_opt(0, 0, 0).ok_or_else(bad)?.and_utc()
    } else {
        let age = parse_age(text).ok_or_else(bad)?;
        now.checked_sub_signed(age).ok_or_else(bad)?
    };
    let t = truncate(t);
    check("time", &t)?;
    Ok(t)
}

/// Reads a length of time as people write one: a whole number followed by `s`, `m`, `h`, `d`
/// or `w` (`90s`, `30m`, `24h`, `90d`, `2w`); `None` for anything else (also a negative
/// number, or one too large for [`chrono::Duration`]).
///
/// ```
/// use mlstore_core::time::parse_age;
/// assert_eq!(parse_age("90d"), Some(chrono::Duration::days(90)));
/// assert_eq!(parse_age("90"), None);
/// ```
pub fn parse_age(text: &str) -> Option<chrono::Duration> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .filter(|i| *i > 0)?;
    let (number, unit) = text.split_at(split);
    let n: i64 = number.parse().ok()?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return None,
    };
    n.checked_mul(seconds)
        .and_then(chrono::Duration::try_seconds)
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
    fn instants() {
        let n = now();
        assert_eq!(
            parse_instant("90s", n).unwrap(),
            n - chrono::Duration::seconds(90)
        );
        assert_eq!(
            parse_instant("2w", n).unwrap(),
            n - chrono::Duration::weeks(2)
        );
        assert_eq!(
            parse_instant("2026-01-02", n).unwrap().to_rfc3339(),
            "2026-01-02T00:00:00+00:00"
        );
        for bad in [
            "",
            "7",
            "d",
            "7y",
            "-3d",
            "yesterday",
            "99999999999999w",
            "0000-12-31",
        ] {
            assert!(parse_instant(bad, n).is_err(), "{bad}");
        }
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
