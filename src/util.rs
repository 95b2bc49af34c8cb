//! Small shared helpers: time formatting for people and for SCIM, and query strings.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// `2026-11-30 06:34:27 UTC`, for tables and dialogs.
pub fn display_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// RFC 3339 in UTC with exactly three fractional digits, as SCIM `meta` dates are written.
pub fn rfc3339(t: OffsetDateTime) -> String {
    const FORMAT: &[time::format_description::FormatItem<'_>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.to_offset(time::UtcOffset::UTC)
        .format(FORMAT)
        .unwrap_or_default()
}

/// Parses an RFC 3339 instant.
pub fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// Decodes an `application/x-www-form-urlencoded` query string into pairs; None when a part is
/// not UTF-8 once decoded.
pub fn query_pairs(raw: &str) -> Option<Vec<(String, String)>> {
    let decode = |s: &str| -> Option<String> {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8()
            .ok()
            .map(|c| c.into_owned())
    };
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((decode(k)?, decode(v)?))
        })
        .collect()
}

/// A duration for people: `250ms`, `15s`, `5m`, `2h`, `5d` (the largest unit it divides by;
/// otherwise seconds with a fraction).
pub fn display_duration(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    for (unit, per) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if ms >= per && ms.is_multiple_of(per) {
            return format!("{}{unit}", ms / per);
        }
    }
    if ms < 1_000 {
        format!("{ms}ms")
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_always_has_milliseconds() {
        let t = time::macros::datetime!(2026-11-30 06:34:27.4 +01:00);
        assert_eq!(rfc3339(t), "2026-11-30T05:34:27.400Z");
        assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t));
    }
}
