//! [`Window`]: which predictions of a model version an operation looks at.

use serde::{Deserialize, Serialize};

use crate::limits::{MAX_RECENT_LIMIT, MAX_WINDOW_LAST};
use crate::time::{self, Timestamp};
use crate::{Error, Result};

/// Which predictions of one model version an operation reads: the newest N, a time range
/// `[since, until)`, or the newest N inside a range. A value, so that every operation over
/// predictions (recent, accuracy, baselines, monitoring) takes the same description, and a new
/// way of choosing predictions is a new field here rather than a new parameter everywhere.
///
/// "Newest" is the greatest `(timestamp, id)`, as everywhere in mlstore. `since` is inclusive,
/// `until` exclusive; both are optional (an open end).
///
/// ```
/// use chrono::{Duration, Utc};
/// use mlstore_core::Window;
/// let newest = Window::last(1000);
/// let week = Window::since(Utc::now() - Duration::days(7));
/// let newest_of_week = week.with_last(1000);
/// assert_eq!(newest_of_week.count(), Some(1000));
/// assert_eq!(newest.start(), None);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Window {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    until: Option<Timestamp>,
}

/// A window checked for one operation, with its bounds resolved to values every backend binds
/// alike: an absent start is [`time::MIN`], an absent end is just past [`time::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Inclusive start.
    pub start: Timestamp,
    /// Exclusive end.
    pub end: Timestamp,
    /// At most this many predictions, the newest; `None`: every prediction in the range.
    pub limit: Option<usize>,
}

impl Bounds {
    /// Whether a prediction made at `t` lies in the range.
    pub fn contains(&self, t: Timestamp) -> bool {
        self.start <= t && t < self.end
    }

    /// The limit as SQL's signed integer (`None`: no limit).
    pub fn sql_limit(&self) -> Option<i64> {
        // Limits are checked against constants far below i64::MAX.
        self.limit.map(|n| n as i64)
    }
}

impl Window {
    /// Every prediction.
    pub fn all() -> Self {
        Self::default()
    }

    /// The newest `n` predictions.
    pub fn last(n: usize) -> Self {
        Self::default().with_last(n)
    }

    /// The predictions made at `since` or later.
    pub fn since(since: Timestamp) -> Self {
        Self::default().with_since(since)
    }

    /// The predictions made before `until`.
    pub fn until(until: Timestamp) -> Self {
        Self::default().with_until(until)
    }

    /// The predictions made in `[since, until)`.
    pub fn between(since: Timestamp, until: Timestamp) -> Self {
        Self::since(since).with_until(until)
    }

    /// Keeps only the newest `n` of the window.
    #[must_use]
    pub fn with_last(mut self, n: usize) -> Self {
        self.last = Some(n);
        self
    }

    /// Starts the window at `since` (inclusive).
    #[must_use]
    pub fn with_since(mut self, since: Timestamp) -> Self {
        self.since = Some(since);
        self
    }

    /// Ends the window before `until` (exclusive).
    #[must_use]
    pub fn with_until(mut self, until: Timestamp) -> Self {
        self.until = Some(until);
        self
    }

    /// The newest-N count, if any.
    pub fn count(&self) -> Option<usize> {
        self.last
    }

    /// The inclusive start, if any.
    pub fn start(&self) -> Option<Timestamp> {
        self.since
    }

    /// The exclusive end, if any.
    pub fn end(&self) -> Option<Timestamp> {
        self.until
    }

    /// Checks the window of an operation that returns the predictions themselves
    /// ([`crate::PredictionStore::recent_predictions`]): the count is required, 1 to
    /// [`MAX_RECENT_LIMIT`].
    ///
    /// # Errors
    /// [`Error::InvalidInput`]: field `last` for a missing or out-of-range count, `window` for a
    /// start not before the end or a bound outside [`time::MIN`]..=[`time::MAX`].
    pub fn for_rows(&self) -> Result<Bounds> {
        if self.last.is_none() {
            return Err(Error::invalid(
                "last",
                format!(
                    "reading predictions needs a count (Window::last), 1 to {MAX_RECENT_LIMIT}"
                ),
            ));
        }
        self.bounds(MAX_RECENT_LIMIT)
    }

    /// Checks the window of an operation that aggregates (accuracy, baselines, metrics): the
    /// count is optional, 1 to [`MAX_WINDOW_LAST`].
    ///
    /// # Errors
    /// As [`Window::for_rows`], except that a missing count means "every prediction".
    pub fn for_aggregate(&self) -> Result<Bounds> {
        self.bounds(MAX_WINDOW_LAST)
    }

    fn bounds(&self, max: usize) -> Result<Bounds> {
        if let Some(n) = self.last {
            if n == 0 || n > max {
                return Err(Error::invalid(
                    "last",
                    format!("is {n}, it must be from 1 to {max}"),
                ));
            }
        }
        for t in [self.since, self.until].into_iter().flatten() {
            time::check("window", &t)?;
        }
        if let (Some(since), Some(until)) = (self.since, self.until) {
            if since >= until {
                return Err(Error::invalid(
                    "window",
                    format!(
                        "starts at {} and ends at {}: the start must be before the end",
                        since.to_rfc3339(),
                        until.to_rfc3339()
                    ),
                ));
            }
        }
        Ok(Bounds {
            start: self.since.map_or(time::MIN, time::truncate),
            end: self.until.map_or_else(time::end_of_range, time::truncate),
            limit: self.last,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn field(e: Error) -> &'static str {
        match e {
            Error::InvalidInput { field, .. } => field,
            other => panic!("not InvalidInput: {other:?}"),
        }
    }

    #[test]
    fn checks() {
        assert_eq!(field(Window::last(0).for_rows().unwrap_err()), "last");
        assert_eq!(
            field(Window::last(MAX_RECENT_LIMIT + 1).for_rows().unwrap_err()),
            "last"
        );
        assert!(Window::last(MAX_RECENT_LIMIT + 1).for_aggregate().is_ok());
        assert_eq!(field(Window::all().for_rows().unwrap_err()), "last");
        let all = Window::all().for_aggregate().unwrap();
        assert_eq!(
            (all.start, all.end, all.limit),
            (time::MIN, time::end_of_range(), None)
        );
        let t = time::now();
        let e = Window::between(t, t).for_aggregate().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert_eq!(field(e), "window");
        let b = Window::between(t, t + chrono::Duration::seconds(1))
            .with_last(5)
            .for_rows()
            .unwrap();
        assert!(b.contains(t) && !b.contains(t + chrono::Duration::seconds(1)));
        assert_eq!(b.sql_limit(), Some(5));
        let ancient = chrono::DateTime::from_timestamp(-70_000_000_000, 0).unwrap();
        assert_eq!(
            field(Window::since(ancient).for_aggregate().unwrap_err()),
            "window"
        );
    }

    #[test]
    fn serde_form() {
        let w = Window::last(3);
        assert_eq!(serde_json::to_string(&w).unwrap(), r#"{"last":3}"#);
        assert_eq!(serde_json::from_str::<Window>("{}").unwrap(), Window::all());
    }
}
