//! Arguments for fuzzed calls: JSON values shaped by a parameter's type,
//! mostly fitting it (so the call gets past conversion and runs), now and
//! then not (so conversion errors are exercised too).

use arbitrary::{Result, Unstructured};
use plugbox::wasmtime::ValType;
use plugbox::wasmtime::component::Type;
use serde_json::{Map, Value as Json};

/// How deep generated values nest before they are kept minimal.
const MAX_DEPTH: u32 = 6;

/// Any JSON value, at most `depth` levels deep.
pub fn any_json(u: &mut Unstructured<'_>, depth: u32) -> Result<Json> {
    let max = if depth == 0 { 4 } else { 6 };
    Ok(match u.int_in_range(0..=max)? {
        0 => Json::Null,
        1 => Json::Bool(u.arbitrary()?),
        2 => number(u)?,
        3 => Json::String(text(u)?),
        4 => Json::String(char::from_u32(u.arbitrary()?).unwrap_or('x').to_string()),
        5 => {
            let n = u.int_in_range(0..=4)?;
            Json::Array(
                (0..n)
                    .map(|_| any_json(u, depth - 1))
                    .collect::<Result<_>>()?,
            )
        }
        _ => {
            let mut map = Map::new();
            for _ in 0..u.int_in_range(0..=4)? {
                map.insert(text(u)?, any_json(u, depth - 1)?);
            }
            Json::Object(map)
        }
    })
}

/// A JSON number: small, at a type's edge, past it, or a float.
fn number(u: &mut Unstructured<'_>) -> Result<Json> {
    Ok(match u.int_in_range(0..=5)? {
        0 => Json::from(u.int_in_range(-3i64..=300)?),
        1 => Json::from(u.arbitrary::<i64>()?),
        2 => Json::from(u.arbitrary::<u64>()?),
        3 => Json::from(*u.choose(&[
            i64::from(i8::MIN),
            i64::from(u8::MAX) + 1,
            i64::from(i16::MIN) - 1,
            i64::from(u16::MAX) + 1,
            i64::from(i32::MIN),
            i64::from(u32::MAX),
            i64::from(u32::MAX) + 1,
            i64::MIN,
            i64::MAX,
        ])?),
        4 => serde_json::Number::from_f64(u.arbitrary()?).map_or(Json::Null, Json::Number),
        _ => serde_json::Number::from_f64(f64::from(u.arbitrary::<f32>()?))
            .map_or(Json::Null, Json::Number),
    })
}

/// A short string: words the parsers know, or arbitrary text.
fn text(u: &mut Unstructured<'_>) -> Result<String> {
    if u.ratio(1, 2)? {
        let word = *u.choose(&[
            "",
            "0",
            "-0",
            "1",
            "-1",
            "0x10",
            "-0x80",
            "1e3",
            "1.5",
            "nan",
            "inf",
            "-inf",
            "NaN",
            "null",
            "true",
            "a",
            "é",
            "ok",
            "err",
            "red",
            "circle",
            "read",
            "x",
            "label",
            "4294967296",
            "18446744073709551616",
            "-9223372036854775809",
            "\u{0}",
        ])?;
        return Ok(word.to_string());
    }
    let len = u.int_in_range(0..=12)?;
    let mut s = String::new();
    for _ in 0..len {
        s.push(char::from_u32(u.arbitrary()?).unwrap_or('?'));
    }
    Ok(s)
}

/// A JSON argument for a core parameter: numbers and the strings the
/// command line accepts, in and out of range.
pub fn core_arg(u: &mut Unstructured<'_>, ty: &ValType) -> Result<Json> {
    if u.ratio(1, 12)? {
        return any_json(u, 2);
    }
    Ok(match ty {
        ValType::I32 => match u.int_in_range(0..=3)? {
            0 => Json::from(u.int_in_range(-4i32..=100)?),
            1 => Json::from(u.arbitrary::<i32>()?),
            2 => Json::from(u.arbitrary::<u32>()?),
            _ => Json::String(u.arbitrary::<i32>()?.to_string()),
        },
        ValType::I64 => match u.int_in_range(0..=3)? {
            0 => Json::from(u.int_in_range(-4i64..=100_000)?),
            1 => Json::from(u.arbitrary::<i64>()?),
            2 => Json::from(u.arbitrary::<u64>()?),
            _ => Json::String(format!("{:#x}", u.arbitrary::<u32>()?)),
        },
        ValType::F32 | ValType::F64 => match u.int_in_range(0..=2)? {
            0 => number(u)?,
            1 => Json::String((*u.choose(&["nan", "inf", "-inf", "-0", "1e39"])?).into()),
            _ => serde_json::Number::from_f64(u.arbitrary()?).map_or(Json::Null, Json::Number),
        },
        _ => Json::String(text(u)?),
    })
}

/// A JSON argument for a component parameter of type `ty`.
pub fn wit_arg(u: &mut Unstructured<'_>, ty: &Type) -> Result<Json> {
    wit_value(u, ty, 0)
}

fn wit_value(u: &mut Unstructured<'_>, ty: &Type, depth: u32) -> Result<Json> {
    if u.ratio(1, 24)? {
        return any_json(u, 2);
    }
    let deep = depth >= MAX_DEPTH;
    let int = |u: &mut Unstructured<'_>, min: i64, max: i64| -> Result<Json> {
        Ok(if u.ratio(1, 6)? {
            number(u)?
        } else {
            Json::from(u.int_in_range(min..=max)?)
        })
    };
    Ok(match ty {
        Type::Bool => Json::Bool(u.arbitrary()?),
        Type::S8 => int(u, i8::MIN.into(), i8::MAX.into())?,
        Type::U8 => int(u, 0, u8::MAX.into())?,
        Type::S16 => int(u, i16::MIN.into(), i16::MAX.into())?,
        Type::U16 => int(u, 0, u16::MAX.into())?,
        Type::S32 => int(u, i32::MIN.into(), i32::MAX.into())?,
        Type::U32 => int(u, 0, u32::MAX.into())?,
        Type::S64 => int(u, i64::MIN, i64::MAX)?,
        Type::U64 => {
            if u.arbitrary()? {
                Json::from(u.arbitrary::<u64>()?)
            } else {
                int(u, 0, i64::MAX)?
            }
        }
        Type::Float32 | Type::Float64 => {
            if u.ratio(1, 4)? {
                Json::String((*u.choose(&["nan", "inf", "-inf", "NaN", "1e400"])?).into())
            } else {
                number(u)?
            }
        }
        Type::Char => Json::String(
            char::from_u32(u.arbitrary()?)
                .unwrap_or('\u{10ffff}')
                .to_string(),
        ),
        Type::String => Json::String(text(u)?),
        Type::List(list) => {
            let n = if deep { 0 } else { u.int_in_range(0..=5)? };
            let elem = list.ty();
            Json::Array(
                (0..n)
                    .map(|_| wit_value(u, &elem, depth + 1))
                    .collect::<Result<_>>()?,
            )
        }
        Type::Record(record) => {
            let mut map = Map::new();
            for field in record.fields() {
                if u.ratio(1, 32)? {
                    continue; // a missing field
                }
                map.insert(field.name.to_string(), wit_value(u, &field.ty, depth + 1)?);
            }
            if u.ratio(1, 32)? {
                map.insert(text(u)?, Json::Null); // an unknown field
            }
            Json::Object(map)
        }
        Type::Tuple(tuple) => Json::Array(
            tuple
                .types()
                .map(|t| wit_value(u, &t, depth + 1))
                .collect::<Result<_>>()?,
        ),
        Type::Variant(variant) => {
            let cases: Vec<_> = variant.cases().collect();
            if cases.is_empty() {
                return any_json(u, 1);
            }
            let case = &cases[u.choose_index(cases.len())?];
            match &case.ty {
                Some(t) => {
                    let mut map = Map::new();
                    map.insert(case.name.to_string(), wit_value(u, t, depth + 1)?);
                    Json::Object(map)
                }
                None => Json::String(case.name.to_string()),
            }
        }
        Type::Enum(e) => {
            let names: Vec<_> = e.names().collect();
            if names.is_empty() {
                return any_json(u, 1);
            }
            Json::String(names[u.choose_index(names.len())?].to_string())
        }
        Type::Option(option) => {
            if deep || u.arbitrary()? {
                Json::Null
            } else {
                wit_value(u, &option.ty(), depth + 1)?
            }
        }
        Type::Result(result) => {
            let (key, payload) = if u.arbitrary()? {
                ("ok", result.ok())
            } else {
                ("err", result.err())
            };
            let value = match payload {
                Some(t) => wit_value(u, &t, depth + 1)?,
                None => Json::Null,
            };
            let mut map = Map::new();
            map.insert(key.to_string(), value);
            Json::Object(map)
        }
        Type::Flags(flags) => Json::Array(
            flags
                .names()
                .filter_map(|n| match u.arbitrary::<bool>() {
                    Ok(true) => Some(Ok(Json::String(n.to_string()))),
                    Ok(false) => None,
                    Err(e) => Some(Err(e)),
                })
                .collect::<Result<_>>()?,
        ),
        // Resources, futures, streams, error contexts: no JSON form.
        _ => any_json(u, 1)?,
    })
}
