//! Parsing of `--expires WHEN`: a Unix time, a `YYYY-MM-DD` date or `never`
//! (`0`, the API's "never", is refused: write `never`).
//!
//! A date means 23:59:59 server-local time on that day, as WHM's form does.
//! The time zone is a parameter so tests do not depend on the machine's.
//! Whether the moment is in the past is the daemon's call, not ours.

use chrono::{LocalResult, NaiveDate, TimeDelta, TimeZone};

/// A parsed `--expires` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    Never,
    /// Unix time, in seconds.
    At(i64),
}

/// Parses WHEN; the error text is shown by clap after the bad value.
pub fn parse<Tz: TimeZone>(s: &str, tz: &Tz) -> Result<When, String> {
    if s.eq_ignore_ascii_case("never") {
        return Ok(When::Never);
    }
    if !s.is_empty() && s.bytes().all(|b| b == b'0') {
        // The API's spelling of "never": too easy to type by mistake.
        return Err("0 is not a time; for a token that never expires write 'never'".to_owned());
    }
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse::<i64>()
            .map(When::At)
            .map_err(|_| "too large for a Unix time".to_owned());
    }
    if is_date_shape(s) {
        let date = NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map_err(|_| "not a valid calendar date".to_owned())?;
        return end_of_day(date, tz)
            .map(When::At)
            .ok_or_else(|| "that day has no representable local time".to_owned());
    }
    Err("expected a Unix time (digits only), a date as YYYY-MM-DD, or 'never'".to_owned())
}

/// Strict `dddd-dd-dd`: chrono alone would also take `2030-6-1`.
fn is_date_shape(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
}

/// The last second that reads as `date` on the local clock.
///
/// Ambiguous (clock set back): the later instant, so the token lasts the
/// whole day. Non-existent (clock set forward over 23:59:59, or a skipped
/// day): step back a minute at a time to the last existing local time.
fn end_of_day<Tz: TimeZone>(date: NaiveDate, tz: &Tz) -> Option<i64> {
    let mut local = date.and_hms_opt(23, 59, 59)?;
    // Real gaps are at most one day long.
    let floor = local.checked_sub_signed(TimeDelta::hours(48))?;
    while local > floor {
        match tz.from_local_datetime(&local) {
            LocalResult::Single(t) => return Some(t.timestamp()),
            LocalResult::Ambiguous(_, later) => return Some(later.timestamp()),
            LocalResult::None => local = local.checked_sub_signed(TimeDelta::minutes(1))?,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, FixedOffset, Local, NaiveDateTime, Timelike};

    fn ts(rfc3339: &str) -> i64 {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().timestamp()
    }

    fn utc() -> FixedOffset {
        FixedOffset::east_opt(0).unwrap()
    }

    #[test]
    fn never_and_unix_time() {
        assert_eq!(parse("never", &utc()), Ok(When::Never));
        assert_eq!(parse("NEVER", &utc()), Ok(When::Never));
        assert!(parse("0", &utc()).unwrap_err().contains("'never'"));
        assert!(parse("000", &utc()).is_err());
        assert_eq!(parse("1900000000", &utc()), Ok(When::At(1_900_000_000)));
        assert!(parse("99999999999999999999", &utc()).is_err());
    }

    #[test]
    fn rejects_other_shapes() {
        for bad in [
            "",
            " 1",
            "-5",
            "+5",
            "1e9",
            "tomorrow",
            "2030-6-15",
            "2030/06/15",
            "2030-06-15 ",
            "2030-06-15T00:00:00",
        ] {
            assert!(parse(bad, &utc()).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            parse("2030-02-30", &utc()),
            Err("not a valid calendar date".to_owned())
        );
    }

    #[test]
    fn date_is_end_of_day_in_the_given_zone() {
        let plus2 = FixedOffset::east_opt(2 * 3600).unwrap();
        assert_eq!(
            parse("2030-06-15", &plus2),
            Ok(When::At(ts("2030-06-15T23:59:59+02:00")))
        );
        let minus5 = FixedOffset::west_opt(5 * 3600).unwrap();
        assert_eq!(
            parse("2030-06-15", &minus5),
            Ok(When::At(ts("2030-06-15T23:59:59-05:00")))
        );
    }

    #[test]
    fn date_in_machine_local_time() {
        let Ok(When::At(t)) = parse("2030-06-15", &Local) else {
            panic!("not a time")
        };
        let back = Local.timestamp_opt(t, 0).unwrap();
        assert_eq!(
            back.date_naive(),
            NaiveDate::from_ymd_opt(2030, 6, 15).unwrap()
        );
        assert_eq!((back.hour(), back.minute(), back.second()), (23, 59, 59));
    }

    /// A zone with one transition from `before` to `after` at `at` (UTC).
    #[derive(Clone, Debug)]
    struct OneShift {
        at: NaiveDateTime,
        before: FixedOffset,
        after: FixedOffset,
    }

    impl OneShift {
        fn new(at: &str, before_h: i32, after_h: i32) -> Self {
            OneShift {
                at: NaiveDateTime::parse_from_str(at, "%Y-%m-%d %H:%M:%S").unwrap(),
                before: FixedOffset::east_opt(before_h * 3600).unwrap(),
                after: FixedOffset::east_opt(after_h * 3600).unwrap(),
            }
        }
    }

    impl TimeZone for OneShift {
        type Offset = FixedOffset;

        fn from_offset(offset: &FixedOffset) -> Self {
            OneShift {
                at: NaiveDateTime::MIN,
                before: *offset,
                after: *offset,
            }
        }

        fn offset_from_local_date(&self, local: &NaiveDate) -> LocalResult<FixedOffset> {
            self.offset_from_local_datetime(&local.and_hms_opt(0, 0, 0).unwrap())
        }

        fn offset_from_local_datetime(&self, local: &NaiveDateTime) -> LocalResult<FixedOffset> {
            let as_before = *local - self.before;
            let as_after = *local - self.after;
            match (as_before < self.at, as_after >= self.at) {
                (true, true) => LocalResult::Ambiguous(self.before, self.after),
                (true, false) => LocalResult::Single(self.before),
                (false, true) => LocalResult::Single(self.after),
                (false, false) => LocalResult::None,
            }
        }

        fn offset_from_utc_date(&self, utc: &NaiveDate) -> FixedOffset {
            self.offset_from_utc_datetime(&utc.and_hms_opt(0, 0, 0).unwrap())
        }

        fn offset_from_utc_datetime(&self, utc: &NaiveDateTime) -> FixedOffset {
            if *utc < self.at {
                self.before
            } else {
                self.after
            }
        }
    }

    #[test]
    fn ambiguous_end_of_day_takes_the_later_instant() {
        // Clock goes back from +1 to +0 at local midnight.
        let tz = OneShift::new("2030-10-26 23:00:00", 1, 0);
        assert_eq!(
            parse("2030-10-26", &tz),
            Ok(When::At(ts("2030-10-26T23:59:59+00:00")))
        );
    }

    #[test]
    fn gap_over_end_of_day_takes_last_second_before_it() {
        // Clock jumps from 23:30 (+1) to 00:30 (+2).
        let tz = OneShift::new("2030-03-30 22:30:00", 1, 2);
        assert_eq!(
            parse("2030-03-30", &tz),
            Ok(When::At(ts("2030-03-30T23:29:59+01:00")))
        );
    }

    #[test]
    fn skipped_day_ends_with_the_day_before() {
        // Samoa, 2011: 29 December 23:59:59 (-10) was followed by 31 December.
        let tz = OneShift::new("2011-12-30 10:00:00", -10, 14);
        assert_eq!(
            parse("2011-12-30", &tz),
            Ok(When::At(ts("2011-12-29T23:59:59-10:00")))
        );
    }
}
