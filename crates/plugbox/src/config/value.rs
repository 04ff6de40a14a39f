//! What the schema's settings are written in: sizes and durations (text
//! with units, or bare numbers), `none` for a limit switched off,
//! `KEY=VALUE` pairs; their clap parsers and serde adapters; and how two
//! layers of settings merge.

use super::features::WasmFeature;
use std::time::Duration;

/// A limit's value, or `none` to switch the limit off. `Option<OrNone<T>>`
/// in a struct means: unset (take the default), off, or a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OrNone<T>(pub(crate) Option<T>);

/// Values settings are written in: sizes (`64MiB`) and durations (`250ms`),
/// also accepted as bare numbers (bytes, milliseconds) in a manifest.
pub(crate) trait Unit: Sized + Copy {
    fn parse(text: &str) -> Result<Self, String>;
    fn format(self) -> String;
    fn from_number(n: u64) -> Result<Self, String>;
    /// The error for a bare number `shown` past the largest value.
    fn too_large(shown: &str) -> String;
}

impl Unit for u64 {
    fn parse(text: &str) -> Result<Self, String> {
        crate::units::parse_size(text)
    }
    fn format(self) -> String {
        crate::units::format_size(self)
    }
    fn from_number(n: u64) -> Result<Self, String> {
        if n > crate::units::MAX_SIZE {
            return Err(Self::too_large(&n.to_string()));
        }
        Ok(n)
    }
    fn too_large(shown: &str) -> String {
        format!("invalid size `{shown}`: too large (at most 1 EiB)")
    }
}

impl Unit for Duration {
    fn parse(text: &str) -> Result<Self, String> {
        crate::units::parse_duration(text)
    }
    fn format(self) -> String {
        crate::units::format_duration(self)
    }
    fn from_number(n: u64) -> Result<Self, String> {
        let d = Duration::from_millis(n);
        if d > crate::units::MAX_DURATION {
            return Err(Self::too_large(&n.to_string()));
        }
        Ok(d)
    }
    fn too_large(shown: &str) -> String {
        format!("invalid duration `{shown}` (milliseconds): too long (at most 365 days)")
    }
}

/// The error for a count `shown` past the largest one.
fn count_too_large(shown: &str) -> String {
    format!("invalid number `{shown}`: too large (at most {})", u64::MAX)
}

/// Parses `none` or a value (clap value parsers).
#[allow(dead_code, reason = "used by the clap derives of the `cli` feature")]
pub(crate) fn parse_or_none<T: Unit>(text: &str) -> Result<OrNone<T>, String> {
    if text.trim() == "none" {
        Ok(OrNone(None))
    } else {
        T::parse(text).map(|v| OrNone(Some(v)))
    }
}

/// Parses a plain count or `none`.
#[allow(dead_code, reason = "used by the clap derives of the `cli` feature")]
pub(crate) fn parse_count_or_none(text: &str) -> Result<OrNone<u64>, String> {
    match text.trim() {
        "none" => Ok(OrNone(None)),
        t => t.parse().map(|n| OrNone(Some(n))).map_err(|_| {
            if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
                count_too_large(t)
            } else {
                format!("invalid number `{text}`: expected a whole number or `none`")
            }
        }),
    }
}

#[allow(dead_code, reason = "used by the clap derives of the `cli` feature")]
pub(crate) fn parse_unit<T: Unit>(text: &str) -> Result<T, String> {
    T::parse(text)
}

/// Parses a proposal name, listing the known ones when it is not one.
#[allow(dead_code, reason = "used by the clap derives of the `cli` feature")]
pub(crate) fn parse_feature(text: &str) -> Result<WasmFeature, String> {
    text.parse()
}

/// Parses a value through its `FromStr` (whose error names the value).
#[allow(dead_code, reason = "used by the clap derives of the `cli` feature")]
pub(crate) fn parse_from_str<T: std::str::FromStr<Err = String>>(text: &str) -> Result<T, String> {
    text.parse()
}

/// Parses `KEY=VALUE` (`--env`, `--config`).
#[allow(dead_code, reason = "used by the clap derives of the `cli` feature")]
pub(crate) fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("invalid entry `{text}`: expected KEY=VALUE")),
    }
}

/// Serde adapters: sizes and durations as text or numbers, `none`, and
/// `KEY=VALUE` lists written as TOML tables.
pub(crate) mod serde_units {
    use crate::config::value::{OrNone, Unit, count_too_large};
    use serde::{Deserialize, Deserializer, Serializer, de};

    /// A number or a string, with messages that name what was found. A
    /// float is taken when it is whole (`1e3`); one past every `u64`
    /// (`1e30`, `inf`) is kept as written, to be refused as too large by
    /// the setting that knows its maximum.
    enum NumOrText {
        Num(u64),
        TooLarge(String),
        Text(String),
    }

    impl<'de> Deserialize<'de> for NumOrText {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visit;
            impl de::Visitor<'_> for Visit {
                type Value = NumOrText;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a number, or a string like \"64MiB\", \"250ms\" or \"none\"")
                }
                fn visit_u64<E: de::Error>(self, v: u64) -> Result<NumOrText, E> {
                    Ok(NumOrText::Num(v))
                }
                fn visit_i64<E: de::Error>(self, v: i64) -> Result<NumOrText, E> {
                    u64::try_from(v).map(NumOrText::Num).map_err(|_| {
                        E::custom(format!("invalid value `{v}`: must not be negative"))
                    })
                }
                fn visit_f64<E: de::Error>(self, v: f64) -> Result<NumOrText, E> {
                    // 2^64: the first float past every `u64`.
                    const PAST_U64: f64 = 18_446_744_073_709_551_616.0;
                    if v.is_nan() {
                        Err(E::custom("invalid value `nan`: not a number"))
                    } else if v < 0.0 {
                        Err(E::custom(format!(
                            "invalid value `{v}`: must not be negative"
                        )))
                    } else if v >= PAST_U64 {
                        Ok(NumOrText::TooLarge(format!("{v:e}")))
                    } else if v.fract() != 0.0 {
                        Err(E::custom(format!(
                            "invalid value `{v}`: a bare number must be whole; write a unit for fractions (\"1.5s\")"
                        )))
                    } else {
                        // Whole and in range, so the conversion is exact.
                        Ok(NumOrText::Num(v as u64))
                    }
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<NumOrText, E> {
                    Ok(NumOrText::Text(v.to_string()))
                }
            }
            d.deserialize_any(Visit)
        }
    }

    fn value<T: Unit, E: de::Error>(raw: NumOrText) -> Result<Option<T>, E> {
        match raw {
            NumOrText::Num(n) => T::from_number(n).map(Some).map_err(E::custom),
            NumOrText::TooLarge(shown) => Err(E::custom(T::too_large(&shown))),
            NumOrText::Text(t) if t.trim() == "none" => Ok(None),
            NumOrText::Text(t) => T::parse(&t).map(Some).map_err(E::custom),
        }
    }

    /// `Option<T>`: a value (`none` is refused: this setting cannot be off).
    pub(crate) fn de_opt<'de, D: Deserializer<'de>, T: Unit>(d: D) -> Result<Option<T>, D::Error> {
        let raw = NumOrText::deserialize(d)?;
        match value::<T, D::Error>(raw)? {
            Some(v) => Ok(Some(v)),
            None => Err(de::Error::custom(
                "this setting cannot be `none`; give a value",
            )),
        }
    }

    pub(crate) fn ser_opt<S: Serializer, T: Unit>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_str(&v.format()),
            None => s.serialize_none(),
        }
    }

    /// `Option<OrNone<T>>`: a value or `none`.
    pub(crate) fn de_or_none<'de, D: Deserializer<'de>, T: Unit>(
        d: D,
    ) -> Result<Option<OrNone<T>>, D::Error> {
        let raw = NumOrText::deserialize(d)?;
        value::<T, D::Error>(raw).map(|v| Some(OrNone(v)))
    }

    pub(crate) fn ser_or_none<S: Serializer, T: Unit>(
        v: &Option<OrNone<T>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(OrNone(Some(v))) => s.serialize_str(&v.format()),
            Some(OrNone(None)) => s.serialize_str("none"),
            None => s.serialize_none(),
        }
    }

    /// `Option<OrNone<u64>>` for plain counts: a number or `none`.
    pub(crate) fn de_count_or_none<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<OrNone<u64>>, D::Error> {
        match NumOrText::deserialize(d)? {
            NumOrText::Num(n) => Ok(Some(OrNone(Some(n)))),
            NumOrText::TooLarge(shown) => Err(de::Error::custom(count_too_large(&shown))),
            NumOrText::Text(t) if t.trim() == "none" => Ok(Some(OrNone(None))),
            NumOrText::Text(t) => Err(de::Error::custom(format!(
                "invalid number `{t}`: expected a whole number or \"none\""
            ))),
        }
    }

    pub(crate) fn ser_count_or_none<S: Serializer>(
        v: &Option<OrNone<u64>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(OrNone(Some(n))) => s.serialize_u64(*n),
            Some(OrNone(None)) => s.serialize_str("none"),
            None => s.serialize_none(),
        }
    }

    /// `KEY=VALUE` pairs as a TOML table.
    pub(crate) fn de_pairs<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<(String, String)>, D::Error> {
        let map = std::collections::BTreeMap::<String, String>::deserialize(d)?;
        Ok(map.into_iter().collect())
    }

    pub(crate) fn ser_pairs<S: Serializer>(
        v: &[(String, String)],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_map(v.iter().map(|(k, v)| (k, v)))
    }
}

/// The tables of the schema (`[server]`, `[plugins.NAME]`,
/// `[plugins.NAME.limits]`, ...) as serde fields. A derived `Deserialize`
/// of a struct takes a sequence too, its fields in order, so `[[server]]`
/// (an array of tables) used to fail on the first field's type ("expected
/// socket address"); these take a table and say so for anything else.
pub(crate) mod table {
    use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
    use std::collections::BTreeMap;
    use std::marker::PhantomData;

    /// A `T` read from a table only.
    struct Table<T>(T);

    impl<'de, T: Deserialize<'de>> Deserialize<'de> for Table<T> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visit<T>(PhantomData<T>);
            impl<'de, T: Deserialize<'de>> Visitor<'de> for Visit<T> {
                type Value = T;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a table")
                }
                fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                    T::deserialize(de::value::MapAccessDeserializer::new(map))
                }
                fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<T, A::Error> {
                    Err(de::Error::custom(
                        "must be a table (one `[...]` header), not an array of tables (`[[...]]`)",
                    ))
                }
            }
            d.deserialize_map(Visit(PhantomData)).map(Table)
        }
    }

    /// A struct written as a table.
    pub(crate) fn de<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<T, D::Error> {
        Table::<T>::deserialize(d).map(|t| t.0)
    }

    /// A table of tables (`[plugins.NAME]`).
    pub(crate) fn de_map<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, T>, D::Error> {
        let Table(map) = Table::<BTreeMap<String, Table<T>>>::deserialize(d)?;
        Ok(map.into_iter().map(|(k, Table(v))| (k, v)).collect())
    }
}

/// Merges `over` into `base` field by field: set values of `over` win,
/// lists are appended.
macro_rules! merge_fields {
    ($base:ident, $over:ident; set: $($set:ident),*; lists: $($list:ident),*) => {
        $(if $over.$set.is_some() { $base.$set = $over.$set.clone(); })*
        $($base.$list.extend($over.$list.iter().cloned());)*
    };
}
pub(crate) use merge_fields;

/// Checks a duration setting against [`MAX_DURATION`](crate::units::MAX_DURATION).
pub(crate) fn check_duration(key: &str, d: Duration) -> crate::error::Result<()> {
    if d > crate::units::MAX_DURATION {
        return Err(crate::error::Error::config(format!(
            "invalid {key} `{d:?}`: too long (at most 365 days)"
        )));
    }
    Ok(())
}
