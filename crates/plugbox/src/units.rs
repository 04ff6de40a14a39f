//! Sizes (`64MiB`, `512KiB`) and durations (`250ms`, `1.5s`, `2m 30s`),
//! shared by the manifest and the CLI flags. Parsing and formatting are
//! [`bytesize`]'s and [`humantime`]'s; this module adds the bounds plugbox
//! needs and messages that name the value.

use std::time::Duration;

/// The largest duration any plugbox setting accepts: one year. Larger
/// values are refused rather than overflowing a deadline.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// The largest size any plugbox setting accepts: 1 EiB (`2^60` bytes).
pub const MAX_SIZE: u64 = 1 << 60;

/// Parses a byte size: a number with an optional unit, `B`, `KB` (10^3),
/// `KiB` (2^10), `MB`, `MiB`, `GB`, `GiB`, `TB`, `TiB` (case does not
/// matter, a space is allowed before the unit; a bare number is bytes).
///
/// # Errors
///
/// A message naming the value when it has no number, an unknown unit, or
/// is larger than [`MAX_SIZE`].
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    if !t.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!(
            "invalid size `{text}`: expected a number with an optional unit like `64MiB`"
        ));
    }
    let size: bytesize::ByteSize = t.parse().map_err(|_| {
        let unit = t.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.').trim();
        format!(
            "invalid size `{text}`: unknown unit `{unit}` (use B, KiB, MiB, GiB, TiB, or KB, MB, GB, TB)"
        )
    })?;
    if size.0 > MAX_SIZE {
        return Err(format!("invalid size `{text}`: too large (at most 1 EiB)"));
    }
    Ok(size.0)
}

/// Parses a duration: numbers with units (`ns`, `us`, `ms`, `s`, `m`, `h`,
/// `d`, and their long forms), fractions allowed (`1.5s`), several parts
/// allowed (`1m 30s`).
///
/// # Errors
///
/// A message naming the value when it is empty, lacks a unit, has an
/// unknown one, or is longer than [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let d = humantime::parse_duration(t).map_err(|e| {
        let why = match e {
            humantime::DurationError::UnknownUnit { unit, .. } if unit.is_empty() => {
                "missing unit (use ms, s, m or h, e.g. `250ms`)".to_string()
            }
            humantime::DurationError::UnknownUnit { unit, .. } => {
                format!("unknown unit `{unit}` (use ns, us, ms, s, m, h or d)")
            }
            humantime::DurationError::NumberOverflow => "out of range".to_string(),
            humantime::DurationError::NumberExpected(at)
            | humantime::DurationError::InvalidCharacter(at) => {
                let bad = t[at.min(t.len())..].chars().next().unwrap_or(' ');
                format!(
                    "unexpected `{bad}` (write a whole or decimal number and a unit, like `250ms`)"
                )
            }
            humantime::DurationError::Empty => {
                "expected a number with a unit like `250ms` or `2s`".to_string()
            }
        };
        format!("invalid duration `{text}`: {why}")
    })?;
    if d > MAX_DURATION {
        return Err(format!(
            "invalid duration `{text}`: too long (at most 365 days)"
        ));
    }
    Ok(d)
}

/// Formats a duration so that [`parse_duration`] reads it back exactly
/// (`250ms`, `1s 500ms`, `150us`).
pub fn format_duration(d: Duration) -> String {
    if d.is_zero() {
        return "0s".into();
    }
    humantime::format_duration(d).to_string()
}

/// Formats a byte count with a binary unit (`64 MiB`, `1.5 KiB`, `17 B`).
pub fn format_bytes(n: u64) -> String {
    // bytesize prints `64.0 MiB`; plugbox's messages drop a zero fraction.
    let text = bytesize::ByteSize(n).display().iec().to_string();
    match text.split_once(' ') {
        Some((num, unit)) => format!("{} {unit}", num.strip_suffix(".0").unwrap_or(num)),
        None => text,
    }
}

/// Formats a size so that [`parse_size`] reads it back exactly
/// (`64MiB`, `1536`).
pub fn format_size(n: u64) -> String {
    for (shift, unit) in [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if n != 0 && n.is_multiple_of(1 << shift) {
            return format!("{}{unit}", n >> shift);
        }
    }
    n.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("512 KiB"), Ok(512 << 10));
        assert_eq!(parse_size("1MB"), Ok(1_000_000));
        assert_eq!(parse_size("17"), Ok(17));
        assert!(parse_size("MiB").unwrap_err().contains("`MiB`"));
        assert!(parse_size("5 parsecs").unwrap_err().contains("`5 parsecs`"));
        assert!(parse_size("99999999999999999999").is_err());
        assert!(parse_size("16777216TiB").unwrap_err().contains("too large"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("150us"), Ok(Duration::from_micros(150)));
        assert!(parse_duration("10").unwrap_err().contains("missing unit"));
        assert!(parse_duration("3 parsecs").is_err());
        assert!(parse_duration("").is_err());
        let absurd = parse_duration("10000000000000000000s").unwrap_err();
        assert!(absurd.contains("`10000000000000000000s`"), "{absurd}");
    }

    #[test]
    fn round_trips_keep_precision() {
        for d in [
            Duration::from_micros(150),
            Duration::from_millis(1500),
            Duration::from_nanos(1),
            Duration::from_secs(3600),
        ] {
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
        for n in [0, 17, 1536, 64 << 20, 3 << 30] {
            assert_eq!(parse_size(&format_size(n)), Ok(n));
        }
    }

    #[test]
    fn formats() {
        assert_eq!(format_bytes(64 << 20), "64 MiB");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes(17), "17 B");
    }
}
