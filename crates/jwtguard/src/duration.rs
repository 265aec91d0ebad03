//! NGINX time syntax, as used by `cacheKeysDuration`.

use std::time::Duration;

/// NGINX's time units, largest first. A month is 30 days and a year 365.
const UNITS: [(&str, u64); 8] = [
    ("y", 365 * 86_400_000),
    ("M", 30 * 86_400_000),
    ("w", 7 * 86_400_000),
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1000),
    ("ms", 1),
];

/// Parses an NGINX time such as `12h`, `1h30m`, `1h 30m`, `500ms` or `90`
/// (a bare number is seconds). Units must appear largest first, each at
/// most once, as NGINX's own parser requires.
pub fn parse_nginx_time(text: &str) -> Result<Duration, String> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err("is empty; use a time such as \"12h\" or \"30m\"".into());
    }
    let mut total_ms: u64 = 0;
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!(
                "{text:?} is not an NGINX time; use digits and units ms s m h d w M y"
            ));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("{text:?} is too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = rest[unit_len..].trim_start();
        let (index, scale) = if unit.is_empty() {
            if rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
                return Err(format!(
                    "{text:?}: write the unit right after its number, as in \"12h\""
                ));
            }
            if !rest.is_empty() {
                return Err(format!("{text:?}: a number without a unit must come last"));
            }
            (UNITS.len() - 2, 1000)
        } else {
            let index = UNITS
                .iter()
                .position(|(name, _)| *name == unit)
                .ok_or_else(|| format!("{text:?}: unknown unit {unit:?}; use ms s m h d w M y"))?;
            (index, UNITS[index].1)
        };
        if index < next_unit {
            return Err(format!(
                "{text:?}: units must go from largest to smallest, each once"
            ));
        }
        next_unit = index + 1;
        total_ms = number
            .checked_mul(scale)
            .and_then(|ms| ms.checked_add(total_ms))
            .ok_or_else(|| format!("{text:?} is too large"))?;
    }
    Ok(Duration::from_millis(total_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_nginx_forms() {
        let cases = [
            ("12h", 12 * 3600 * 1000),
            ("1h30m", 90 * 60 * 1000),
            ("1h 30m", 90 * 60 * 1000),
            ("90", 90_000),
            ("0", 0),
            ("500ms", 500),
            ("1s 500ms", 1500),
            ("2w", 14 * 86_400_000),
            ("1M", 30 * 86_400_000),
            ("1y", 365 * 86_400_000),
            ("1d 2h", 26 * 3_600_000),
        ];
        for (text, ms) in cases {
            assert_eq!(
                parse_nginx_time(text),
                Ok(Duration::from_millis(ms)),
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_bad_forms() {
        for text in [
            "",
            "h",
            "12x",
            "30m1h",
            "1h1h",
            "5 5",
            "-1",
            "1.5h",
            "99999999999999999999y",
        ] {
            assert!(
                parse_nginx_time(text).is_err(),
                "{text:?} should be rejected"
            );
        }
    }
}
