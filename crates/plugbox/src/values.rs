//! Dynamic values for core-module calls: parsing arguments from strings or
//! JSON by the export's signature, and printing results.

use crate::error::{Error, Result};
use serde_json::Value as Json;
use wasmtime::{FuncType, Val, ValType};

/// Formats a function type as `(i32, i32) -> i32`, `() -> ()` or
/// `(f64) -> (i32, i64)`.
pub fn format_func_type(ty: &FuncType) -> String {
    let params: Vec<String> = ty.params().map(|t| format_val_type(&t)).collect();
    let results: Vec<String> = ty.results().map(|t| format_val_type(&t)).collect();
    let results = match results.len() {
        1 => results[0].clone(),
        _ => format!("({})", results.join(", ")),
    };
    format!("({}) -> {results}", params.join(", "))
}

/// A value type as WebAssembly text writes it: `i32`, `funcref`,
/// `(ref null extern)`, `(ref $type)` for a concrete (typed) reference.
pub fn format_val_type(ty: &ValType) -> String {
    use wasmtime::HeapType as H;
    let ValType::Ref(r) = ty else {
        return ty.to_string();
    };
    let heap = match r.heap_type() {
        H::Func => "func",
        H::Extern => "extern",
        H::Any => "any",
        H::Eq => "eq",
        H::I31 => "i31",
        H::Array => "array",
        H::Struct => "struct",
        H::Exn => "exn",
        H::Cont => "cont",
        H::None => "none",
        H::NoFunc => "nofunc",
        H::NoExtern => "noextern",
        H::NoExn => "noexn",
        H::NoCont => "nocont",
        _ => "$type",
    };
    match (r.is_nullable(), heap) {
        (true, "func" | "extern" | "any" | "eq" | "i31" | "exn") => format!("{heap}ref"),
        (true, _) => format!("(ref null {heap})"),
        (false, _) => format!("(ref {heap})"),
    }
}

/// `function`, `global`, `table`, `memory` or `tag`.
pub(crate) fn extern_kind(ty: &wasmtime::ExternType) -> &'static str {
    match ty {
        wasmtime::ExternType::Func(_) => "function",
        wasmtime::ExternType::Global(_) => "global",
        wasmtime::ExternType::Table(_) => "table",
        wasmtime::ExternType::Memory(_) => "memory",
        wasmtime::ExternType::Tag(_) => "tag",
    }
}

/// The type name of a value, for messages.
pub(crate) fn val_type_name(v: &Val) -> &'static str {
    match v {
        Val::I32(_) => "i32",
        Val::I64(_) => "i64",
        Val::F32(_) => "f32",
        Val::F64(_) => "f64",
        Val::V128(_) => "v128",
        _ => "reference",
    }
}

pub(crate) fn describe_arg(func: &str, index: usize, ty: &ValType) -> String {
    format!(
        "argument {} of `{func}` ({})",
        index + 1,
        format_val_type(ty)
    )
}

pub(crate) fn check_arity(func: &str, ty: &FuncType, given: usize) -> Result<()> {
    let expected = ty.params().len();
    if expected != given {
        return Err(Error::invalid_argument(format!(
            "`{func}` takes {expected} argument{} {} but {given} {} given",
            if expected == 1 { "" } else { "s" },
            format_func_type(ty),
            if given == 1 { "was" } else { "were" }
        )));
    }
    Ok(())
}

/// Parses command-line words into values for `func`'s parameters.
///
/// Integers accept decimal, `0x` hex and a leading `-`; they must fit the
/// signed range of the type (`2^40` is refused for `i32`). Floats accept
/// decimal, exponent notation, `nan`, `inf` and `-inf`.
///
/// # Errors
///
/// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) naming
/// the argument, its type and the text found.
pub fn parse_args(func: &str, ty: &FuncType, args: &[impl AsRef<str>]) -> Result<Vec<Val>> {
    check_arity(func, ty, args.len())?;
    ty.params()
        .zip(args)
        .enumerate()
        .map(|(i, (t, a))| parse_arg(func, i, &t, a.as_ref()))
        .collect()
}

/// One command-line word as argument `index` of `func`.
pub(crate) fn parse_arg(func: &str, index: usize, ty: &ValType, word: &str) -> Result<Val> {
    parse_text(word, ty).map_err(|why| {
        Error::invalid_argument(format!(
            "invalid {}: `{word}` {why}",
            describe_arg(func, index, ty)
        ))
    })
}

/// Converts JSON values into values for `func`'s parameters: numbers, or
/// strings parsed as in [`parse_args`].
///
/// # Errors
///
/// As [`parse_args`].
pub fn json_args(func: &str, ty: &FuncType, args: &[Json]) -> Result<Vec<Val>> {
    check_arity(func, ty, args.len())?;
    ty.params()
        .zip(args)
        .enumerate()
        .map(|(i, (t, a))| json_arg(func, i, &t, a))
        .collect()
}

/// One JSON value as argument `index` of `func`: numbers convert directly,
/// strings are parsed like command-line words.
pub(crate) fn json_arg(func: &str, index: usize, ty: &ValType, arg: &Json) -> Result<Val> {
    let converted = match arg {
        Json::String(s) => parse_text(s, ty),
        Json::Number(n) => number(n, ty),
        other => Err(format!(
            "is a JSON {}, expected a number",
            crate::wit_values::json_type(other)
        )),
    };
    converted.map_err(|why| {
        Error::invalid_argument(format!(
            "invalid {}: `{arg}` {why}",
            describe_arg(func, index, ty)
        ))
    })
}

/// A JSON number as a value of `ty`, without going through text.
fn number(n: &serde_json::Number, ty: &ValType) -> Result<Val, String> {
    let int = |min: i128, max: i128| -> Result<i128, String> {
        let v = n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
            .ok_or_else(|| "is not an integer".to_string())?;
        if v < min || v > max {
            return Err(format!("is out of range ({min} to {max})"));
        }
        Ok(v)
    };
    Ok(match ty {
        ValType::I32 => Val::I32(int(i32::MIN.into(), i32::MAX.into())? as i32),
        ValType::I64 => Val::I64(int(i64::MIN.into(), i64::MAX.into())? as i64),
        ValType::F32 | ValType::F64 => {
            let v = n.as_f64().ok_or_else(|| "is not a number".to_string())?;
            if let ValType::F32 = ty {
                let f = v as f32;
                if v.is_finite() && f.is_infinite() {
                    return Err("is out of range for f32".into());
                }
                Val::F32(f.to_bits())
            } else {
                Val::F64(v.to_bits())
            }
        }
        other => return parse_text(&n.to_string(), other),
    })
}

fn parse_int(text: &str, min: i128, max: i128) -> Result<i128, String> {
    let t = text.trim().replace('_', "");
    let (neg, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(&t)),
    };
    let magnitude = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        i128::from_str_radix(hex, 16)
    } else {
        digits.parse::<i128>()
    };
    let magnitude = match magnitude {
        Ok(m) if !digits.starts_with(['-', '+']) => m,
        _ => {
            return Err(if digits.contains('.') || digits.contains('e') {
                "is not an integer".into()
            } else {
                "is not a number".into()
            });
        }
    };
    let v = if neg { -magnitude } else { magnitude };
    if v < min || v > max {
        return Err(format!("is out of range ({min} to {max})"));
    }
    Ok(v)
}

fn parse_float(text: &str) -> Result<f64, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "nan" => Ok(f64::NAN),
        "inf" | "+inf" | "infinity" => Ok(f64::INFINITY),
        "-inf" | "-infinity" => Ok(f64::NEG_INFINITY),
        t => match t.parse::<f64>() {
            Ok(v) if v.is_infinite() => Err("is out of range".into()),
            Ok(v) => Ok(v),
            Err(_) => Err("is not a number".into()),
        },
    }
}

fn parse_text(text: &str, ty: &ValType) -> Result<Val, String> {
    Ok(match ty {
        ValType::I32 => Val::I32(parse_int(text, i32::MIN.into(), i32::MAX.into())? as i32),
        ValType::I64 => Val::I64(parse_int(text, i64::MIN.into(), i64::MAX.into())? as i64),
        ValType::F32 => {
            let v = parse_float(text)?;
            let f = v as f32;
            if v.is_finite() && f.is_infinite() {
                return Err("is out of range for f32".into());
            }
            Val::F32(f.to_bits())
        }
        ValType::F64 => Val::F64(parse_float(text)?.to_bits()),
        ValType::V128 => {
            let v = parse_int(text, 0, i128::MAX)
                .or_else(|_| {
                    let hex = text.trim().trim_start_matches("0x");
                    u128::from_str_radix(hex, 16)
                        .map(|v| v as i128)
                        .map_err(|_| "is not a 128-bit number")
                })
                .map_err(|e| e.to_string())?;
            Val::V128((v as u128).into())
        }
        ValType::Ref(_) => {
            return Err(
                "cannot be given as text (reference types are not supported as arguments)".into(),
            );
        }
    })
}

/// Renders a value for people: `8`, `-1.5`, `nan`, `0x...` for v128.
pub fn format_value(v: &Val) -> String {
    match v {
        Val::I32(i) => i.to_string(),
        Val::I64(i) => i.to_string(),
        Val::F32(bits) => format_float(f32::from_bits(*bits).into()),
        Val::F64(bits) => format_float(f64::from_bits(*bits)),
        Val::V128(v) => format!("{:#034x}", v.as_u128()),
        Val::FuncRef(None) | Val::ExternRef(None) | Val::AnyRef(None) | Val::ExnRef(None) => {
            "null".into()
        }
        Val::FuncRef(Some(_)) => "<funcref>".into(),
        Val::ExternRef(Some(_)) => "<externref>".into(),
        Val::AnyRef(Some(_)) => "<anyref>".into(),
        Val::ExnRef(Some(_)) => "<exnref>".into(),
        Val::ContRef(_) => "<contref>".into(),
    }
}

fn format_float(f: f64) -> String {
    if f.is_nan() {
        "nan".into()
    } else if f.is_infinite() {
        if f > 0.0 { "inf".into() } else { "-inf".into() }
    } else {
        f.to_string()
    }
}

/// Renders a value as JSON: integers and finite floats as numbers; NaN and
/// infinities as the strings `"nan"`, `"inf"`, `"-inf"`; v128 as a hex
/// string; references as `null` or a descriptive string.
pub fn value_to_json(v: &Val) -> Json {
    match v {
        Val::I32(i) => Json::from(*i),
        Val::I64(i) => Json::from(*i),
        Val::F32(bits) => float_json(f32::from_bits(*bits).into()),
        Val::F64(bits) => float_json(f64::from_bits(*bits)),
        other => match format_value(other).as_str() {
            "null" => Json::Null,
            s => Json::String(s.into()),
        },
    }
}

fn float_json(f: f64) -> Json {
    serde_json::Number::from_f64(f).map_or_else(|| Json::String(format_float(f)), Json::Number)
}

/// A result of a dynamic call: a core value or a component (WIT) value.
#[derive(Debug, Clone)]
pub enum DynValue {
    /// A core module's value.
    Core(Val),
    /// A component's value.
    Wit(wasmtime::component::Val),
}

impl DynValue {
    /// As JSON (see [`value_to_json`] and
    /// [`wit_values::val_to_json`](crate::wit_values::val_to_json)).
    pub fn to_json(&self) -> Json {
        match self {
            Self::Core(v) => value_to_json(v),
            Self::Wit(v) => crate::wit_values::val_to_json(v),
        }
    }
}

/// For people: core values as [`format_value`] writes them (`8`, `nan`),
/// component values as JSON (`"hello, world"`).
impl std::fmt::Display for DynValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Core(v) => f.write_str(&format_value(v)),
            Self::Wit(v) => write!(f, "{}", crate::wit_values::val_to_json(v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints() {
        assert_eq!(parse_int("5", -10, 10), Ok(5));
        assert_eq!(parse_int("-0x10", -100, 100), Ok(-16));
        assert!(
            parse_int("abc", 0, 10)
                .unwrap_err()
                .contains("not a number")
        );
        assert!(
            parse_int("1.5", 0, 10)
                .unwrap_err()
                .contains("not an integer")
        );
        assert!(parse_int("--5", -10, 10).is_err());
        assert!(
            parse_int("1099511627776", i32::MIN.into(), i32::MAX.into())
                .unwrap_err()
                .contains("out of range")
        );
    }

    #[test]
    fn floats() {
        assert!(parse_text("1e400", &ValType::F32).is_err());
        assert!(
            matches!(parse_text("nan", &ValType::F64), Ok(Val::F64(b)) if f64::from_bits(b).is_nan())
        );
        assert_eq!(format_value(&Val::F32(1.5f32.to_bits())), "1.5");
    }
}
