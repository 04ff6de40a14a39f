//! Human-friendly sizes (`64MiB`, `512k`) and durations (`250ms`, `2s`),
//! shared by the configuration files and the CLI flags.

use std::time::Duration;

/// Parses a byte size: a whole number with an optional unit `B`, `K`/`KB`,
/// `KiB`, `M`/`MB`, `MiB`, `G`/`GB`, `GiB` (`K`, `M`, `G` alone and the
/// `KB`-style units are binary, like the `KiB` ones, because memory is
/// counted in pages of 64 KiB; spaces between number and unit are allowed).
///
/// # Errors
///
/// A message naming the value when it has no number, an unknown unit, or
/// overflows 64 bits.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '_')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num = num.replace('_', "");
    if num.is_empty() {
        return Err(format!(
            "invalid size `{text}`: expected a number with an optional unit like `64MiB`"
        ));
    }
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid size `{text}`: number too large"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => {
            return Err(format!(
                "invalid size `{text}`: unknown unit `{other}` (use B, KiB, MiB, GiB or TiB)"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("invalid size `{text}`: too large"))
}

/// Parses a duration: a number (fractions allowed) with a unit `ns`, `us`,
/// `ms`, `s`, `m`, `h`; several may be concatenated (`1m30s`).
///
/// # Errors
///
/// A message naming the value when it is empty, lacks a unit, or has an
/// unknown one.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err(
            "invalid duration ``: expected a number with a unit like `250ms` or `2s`".into(),
        );
    }
    let mut rest = t;
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let unit_end = rest[num_end..]
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .map_or(rest.len(), |i| num_end + i);
        let (num, unit) = (&rest[..num_end], &rest[num_end..unit_end]);
        let value: f64 = num.parse().map_err(|_| {
            format!("invalid duration `{text}`: expected a number with a unit like `250ms` or `2s`")
        })?;
        let secs_per_unit = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            "" => {
                return Err(format!(
                    "invalid duration `{text}`: missing unit (use ms, s, m or h, e.g. `{num}s`)"
                ));
            }
            other => {
                return Err(format!(
                    "invalid duration `{text}`: unknown unit `{other}` (use ns, us, ms, s, m or h)"
                ));
            }
        };
        total += Duration::try_from_secs_f64(value * secs_per_unit)
            .map_err(|_| format!("invalid duration `{text}`: out of range"))?;
        rest = &rest[unit_end..];
    }
    Ok(total)
}

/// Formats a byte count with a binary unit (`64 MiB`, `1.5 KiB`, `17 B`).
pub fn format_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 || value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Serde adapters so configuration files accept `"64MiB"` and `"250ms"` as
/// well as plain numbers (bytes, milliseconds).
pub(crate) mod serde_units {
    use serde::{Deserialize, Deserializer, Serializer, de};
    use std::time::Duration;

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumOrText {
        Num(u64),
        Text(String),
    }

    pub(crate) mod size {
        use super::*;

        pub(crate) fn serialize<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
            match v {
                Some(n) => s.serialize_u64(*n),
                None => s.serialize_none(),
            }
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<u64>, D::Error> {
            match Option::<NumOrText>::deserialize(d)? {
                None => Ok(None),
                Some(NumOrText::Num(n)) => Ok(Some(n)),
                Some(NumOrText::Text(t)) if t == "none" => Ok(None),
                Some(NumOrText::Text(t)) => crate::units::parse_size(&t)
                    .map(Some)
                    .map_err(de::Error::custom),
            }
        }
    }

    pub(crate) mod duration {
        use super::*;

        pub(crate) fn serialize<S: Serializer>(
            v: &Option<Duration>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match v {
                Some(d) => s.serialize_str(&format!("{}ms", d.as_millis())),
                None => s.serialize_none(),
            }
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<Duration>, D::Error> {
            match Option::<NumOrText>::deserialize(d)? {
                None => Ok(None),
                Some(NumOrText::Num(n)) => Ok(Some(Duration::from_millis(n))),
                Some(NumOrText::Text(t)) if t == "none" => Ok(None),
                Some(NumOrText::Text(t)) => crate::units::parse_duration(&t)
                    .map(Some)
                    .map_err(de::Error::custom),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("512 k"), Ok(512 << 10));
        assert_eq!(parse_size("17"), Ok(17));
        assert!(parse_size("MiB").unwrap_err().contains("`MiB`"));
        assert!(parse_size("5 parsecs").unwrap_err().contains("`parsecs`"));
        assert!(parse_size("99999999999999999999").is_err());
        assert!(parse_size("16777216TiB").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("10").unwrap_err().contains("missing unit"));
        assert!(parse_duration("3 weeks").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn formats() {
        assert_eq!(format_bytes(64 << 20), "64 MiB");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes(17), "17 B");
    }
}
