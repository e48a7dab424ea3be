//! HTTP dates (RFC 9110 §5.6.7) as sent in `Retry-After`: the preferred IMF-fixdate and the two
//! obsolete forms a recipient must still accept. Small on purpose: a managed-identity binary
//! links this instead of a date crate.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const LONG_DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// Parses `Sun, 06 Nov 1994 08:49:37 GMT` (IMF-fixdate), `Sunday, 06-Nov-94 08:49:37 GMT`
/// (RFC 850) or `Sun Nov  6 08:49:37 1994` (asctime). `None` for anything else, for dates
/// before 1970 and for impossible dates (31 Feb). The weekday must be a weekday name; whether
/// it matches the date is not checked (senders get it wrong and the date is what counts).
pub(crate) fn parse_http_date(value: &str) -> Option<SystemTime> {
    let value = value.trim();
    let (year, month, day, time) = if let Some((wday, rest)) = value.split_once(", ") {
        if DAYS.contains(&wday) {
            // IMF-fixdate: 06 Nov 1994 08:49:37 GMT
            let mut parts = rest.split(' ');
            let day = two_digits(parts.next()?)?;
            let month = month(parts.next()?)?;
            let year = digits(parts.next()?, 4)?;
            let time = parts.next()?;
            (parts.next()? == "GMT" && parts.next().is_none()).then_some(())?;
            (year, month, day, time)
        } else if LONG_DAYS.contains(&wday) {
            // RFC 850: 06-Nov-94 08:49:37 GMT; two-digit years are read as 1970-2069.
            let (date, rest) = rest.split_once(' ')?;
            let (time, zone) = rest.split_once(' ')?;
            (zone == "GMT").then_some(())?;
            let mut parts = date.split('-');
            let day = two_digits(parts.next()?)?;
            let month = month(parts.next()?)?;
            let yy = two_digits(parts.next()?)?;
            parts.next().is_none().then_some(())?;
            let year = if yy < 70 { 2000 + yy } else { 1900 + yy };
            (year, month, day, time)
        } else {
            return None;
        }
    } else {
        // asctime: Sun Nov  6 08:49:37 1994 (the day is space-padded)
        let (wday, rest) = value.split_once(' ')?;
        DAYS.contains(&wday).then_some(())?;
        let (mon, rest) = rest.split_once(' ')?;
        let month = month(mon)?;
        let (day, rest) = match rest.strip_prefix(' ') {
            Some(padded) => (digits(padded.get(..1)?, 1)?, padded.get(1..)?),
            None => (two_digits(rest.get(..2)?)?, rest.get(2..)?),
        };
        let (time, year) = rest.strip_prefix(' ')?.split_once(' ')?;
        (digits(year, 4)?, month, day, time)
    };
    let (hour, minute, second) = hms(time)?;
    let days = days_from_civil(year, month, day)?;
    let secs = days * 86_400 + u64::from(hour) * 3600 + u64::from(minute) * 60 + u64::from(second);
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

fn month(name: &str) -> Option<u32> {
    MONTHS
        .iter()
        .position(|m| *m == name)
        .and_then(|i| u32::try_from(i + 1).ok())
}

/// Exactly `len` ASCII digits.
fn digits(text: &str, len: usize) -> Option<u32> {
    (text.len() == len && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

fn two_digits(text: &str) -> Option<u32> {
    digits(text, 2)
}

/// `08:49:37`; a leap second (60) is accepted as RFC 9110 allows.
fn hms(time: &str) -> Option<(u32, u32, u32)> {
    let mut parts = time.split(':');
    let h = two_digits(parts.next()?)?;
    let m = two_digits(parts.next()?)?;
    let s = two_digits(parts.next()?)?;
    (parts.next().is_none() && h < 24 && m < 60 && s <= 60).then_some((h, m, s))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm), `None` for an
/// impossible or pre-1970 date.
fn days_from_civil(year: u32, month: u32, day: u32) -> Option<u64> {
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let month_len = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        1..=12 => 31,
        _ => return None,
    };
    if year < 1970 || day == 0 || day > month_len {
        return None;
    }
    let y = u64::from(if month <= 2 { year - 1 } else { year });
    let era = y / 400;
    let yoe = y - era * 400;
    let m = u64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + u64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> Option<SystemTime> {
        Some(UNIX_EPOCH + Duration::from_secs(secs))
    }

    #[test]
    fn the_three_forms_of_rfc_9110() {
        // RFC 9110 §5.6.7's example, 784111777 seconds after the epoch.
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            at(784_111_777)
        );
        assert_eq!(
            parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"),
            at(784_111_777)
        );
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), at(784_111_777));
        assert_eq!(
            parse_http_date("Sun Nov 16 08:49:37 1994"),
            at(784_111_777 + 10 * 86_400)
        );
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), at(0));
        assert_eq!(
            parse_http_date("Tue, 29 Feb 2028 23:59:59 GMT"),
            at(1_835_481_599)
        );
        assert_eq!(
            parse_http_date("Friday, 01-Jan-21 00:00:00 GMT"),
            at(1_609_459_200)
        );
    }

    #[test]
    fn anything_else_is_no_date() {
        for bad in [
            "",
            "120",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 94 08:49:37 GMT",
            "Sun, 06 November 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:60:00 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT trailing",
            "Xyz, 06 Nov 1994 08:49:37 GMT",
            "Sun, 31 Feb 2024 08:49:37 GMT",
            "Mon, 29 Feb 2100 00:00:00 GMT",
            "Wed, 31 Dec 1969 23:59:59 GMT",
            "Sun, +6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 +8:49:37 GMT",
            "Sunday, 06-Nov-1994 08:49:37 GMT",
            "Sun Nov 6 08:49:37 1994",
            "Sun Nov  6 08:49:37 94",
            "Sun Nov  6 08:49:37 1994 GMT",
            "Sunday Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad:?}");
        }
    }
}
