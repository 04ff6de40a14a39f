//! JSON ↔ component-model values, by the WIT type.
//!
//! | WIT | JSON |
//! | --- | --- |
//! | `bool` | `true` / `false` |
//! | integers | numbers, range-checked (`300` is not a `u8`) |
//! | `f32`, `f64` | numbers (`"nan"`, `"inf"`, `"-inf"` as strings) |
//! | `char` | a one-character string |
//! | `string` | a string |
//! | `list<T>` | an array |
//! | record | an object keyed by the WIT field names |
//! | tuple | an array |
//! | enum | the case name, `"red"` |
//! | variant | `{"case-name": payload}`, or `"case-name"` without payload |
//! | `option<T>` | `null` or the value |
//! | `result<T, E>` | `{"ok": v}` / `{"err": e}` (`{"ok": null}` without payload) |
//! | flags | an array of the set flag names |

use serde_json::{Map, Value as Json};
use wasmtime::component::{Type, Val};

/// The WIT spelling of a type (`list<u32>`, `option<string>`, the name of a
/// record...).
pub fn wit_type_name(ty: &Type) -> String {
    match ty {
        Type::Bool => "bool".into(),
        Type::S8 => "s8".into(),
        Type::U8 => "u8".into(),
        Type::S16 => "s16".into(),
        Type::U16 => "u16".into(),
        Type::S32 => "s32".into(),
        Type::U32 => "u32".into(),
        Type::S64 => "s64".into(),
        Type::U64 => "u64".into(),
        Type::Float32 => "f32".into(),
        Type::Float64 => "f64".into(),
        Type::Char => "char".into(),
        Type::String => "string".into(),
        Type::List(l) => format!("list<{}>", wit_type_name(&l.ty())),
        Type::Record(r) => {
            let fields: Vec<String> = r
                .fields()
                .map(|f| format!("{}: {}", f.name, wit_type_name(&f.ty)))
                .collect();
            format!("record {{ {} }}", fields.join(", "))
        }
        Type::Tuple(t) => {
            let types: Vec<String> = t.types().map(|t| wit_type_name(&t)).collect();
            format!("tuple<{}>", types.join(", "))
        }
        Type::Variant(v) => {
            let cases: Vec<String> = v
                .cases()
                .map(|c| match c.ty {
                    Some(t) => format!("{}({})", c.name, wit_type_name(&t)),
                    None => c.name.to_string(),
                })
                .collect();
            format!("variant {{ {} }}", cases.join(", "))
        }
        Type::Enum(e) => format!("enum {{ {} }}", e.names().collect::<Vec<_>>().join(", ")),
        Type::Option(o) => format!("option<{}>", wit_type_name(&o.ty())),
        Type::Result(r) => {
            let part = |t: Option<Type>| t.map_or("_".to_string(), |t| wit_type_name(&t));
            format!("result<{}, {}>", part(r.ok()), part(r.err()))
        }
        Type::Flags(f) => format!("flags {{ {} }}", f.names().collect::<Vec<_>>().join(", ")),
        Type::Own(_) => "own<resource>".into(),
        Type::Borrow(_) => "borrow<resource>".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// The JSON type of a value, for messages.
pub(crate) fn json_type(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

fn describe(v: &Json) -> String {
    let text = v.to_string();
    let text = if text.len() > 60 {
        format!("{}…", &text[..text.floor_char_boundary(60)])
    } else {
        text
    };
    format!("JSON {} `{text}`", json_type(v))
}

fn mismatch(ty: &Type, v: &Json) -> String {
    format!("expected {}, found {}", wit_type_name(ty), describe(v))
}

fn int(v: &Json, ty: &Type, min: i128, max: i128) -> Result<i128, String> {
    let n = match v {
        Json::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
            .ok_or_else(|| {
                format!(
                    "expected {}, found non-integer {}",
                    wit_type_name(ty),
                    describe(v)
                )
            })?,
        _ => return Err(mismatch(ty, v)),
    };
    if n < min || n > max {
        return Err(format!(
            "{n} is out of range for {} ({min} to {max})",
            wit_type_name(ty)
        ));
    }
    Ok(n)
}

fn float(v: &Json, ty: &Type) -> Result<f64, String> {
    match v {
        Json::Number(n) => n.as_f64().ok_or_else(|| mismatch(ty, v)),
        Json::String(s) if s == "nan" => Ok(f64::NAN),
        Json::String(s) if s == "inf" => Ok(f64::INFINITY),
        Json::String(s) if s == "-inf" => Ok(f64::NEG_INFINITY),
        _ => Err(mismatch(ty, v)),
    }
}

/// Converts a JSON value to a component value of type `ty`.
///
/// # Errors
///
/// A message saying where in the value (field, element, case) the JSON
/// does not fit, the WIT type expected and the JSON found.
pub fn json_to_val(v: &Json, ty: &Type) -> Result<Val, String> {
    Ok(match ty {
        Type::Bool => Val::Bool(v.as_bool().ok_or_else(|| mismatch(ty, v))?),
        Type::S8 => Val::S8(int(v, ty, i8::MIN.into(), i8::MAX.into())? as i8),
        Type::U8 => Val::U8(int(v, ty, 0, u8::MAX.into())? as u8),
        Type::S16 => Val::S16(int(v, ty, i16::MIN.into(), i16::MAX.into())? as i16),
        Type::U16 => Val::U16(int(v, ty, 0, u16::MAX.into())? as u16),
        Type::S32 => Val::S32(int(v, ty, i32::MIN.into(), i32::MAX.into())? as i32),
        Type::U32 => Val::U32(int(v, ty, 0, u32::MAX.into())? as u32),
        Type::S64 => Val::S64(int(v, ty, i64::MIN.into(), i64::MAX.into())? as i64),
        Type::U64 => Val::U64(int(v, ty, 0, u64::MAX.into())? as u64),
        Type::Float32 => {
            let f = float(v, ty)?;
            if f.is_finite() && (f as f32).is_infinite() {
                return Err(format!("{f} is out of range for f32"));
            }
            Val::Float32(f as f32)
        }
        Type::Float64 => Val::Float64(float(v, ty)?),
        Type::Char => {
            let s = v.as_str().ok_or_else(|| mismatch(ty, v))?;
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Val::Char(c),
                _ => {
                    return Err(format!(
                        "expected char (a one-character string), found {}",
                        describe(v)
                    ));
                }
            }
        }
        Type::String => Val::String(v.as_str().ok_or_else(|| mismatch(ty, v))?.to_string()),
        Type::List(l) => {
            let items = v.as_array().ok_or_else(|| mismatch(ty, v))?;
            let elem = l.ty();
            Val::List(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        json_to_val(item, &elem).map_err(|e| format!("element {i}: {e}"))
                    })
                    .collect::<Result<_, _>>()?,
            )
        }
        Type::Record(r) => {
            let obj = v.as_object().ok_or_else(|| mismatch(ty, v))?;
            let names: Vec<&str> = r.fields().map(|f| f.name).collect();
            if let Some(extra) = obj.keys().find(|k| !names.contains(&k.as_str())) {
                return Err(format!(
                    "unknown field `{extra}` (the record has {})",
                    names.join(", ")
                ));
            }
            let mut fields = Vec::new();
            for f in r.fields() {
                let value = obj.get(f.name).ok_or_else(|| {
                    format!("missing field `{}` ({})", f.name, wit_type_name(&f.ty))
                })?;
                fields.push((
                    f.name.to_string(),
                    json_to_val(value, &f.ty).map_err(|e| format!("field `{}`: {e}", f.name))?,
                ));
            }
            Val::Record(fields)
        }
        Type::Tuple(t) => {
            let items = v.as_array().ok_or_else(|| mismatch(ty, v))?;
            let types: Vec<Type> = t.types().collect();
            if items.len() != types.len() {
                return Err(format!(
                    "expected {} (an array of {}), found {}",
                    wit_type_name(ty),
                    types.len(),
                    describe(v)
                ));
            }
            Val::Tuple(
                items
                    .iter()
                    .zip(&types)
                    .enumerate()
                    .map(|(i, (item, t))| {
                        json_to_val(item, t).map_err(|e| format!("tuple element {i}: {e}"))
                    })
                    .collect::<Result<_, _>>()?,
            )
        }
        Type::Enum(e) => {
            let name = v.as_str().ok_or_else(|| mismatch(ty, v))?;
            if !e.names().any(|n| n == name) {
                return Err(format!("unknown case `{name}` of {}", wit_type_name(ty)));
            }
            Val::Enum(name.to_string())
        }
        Type::Variant(var) => {
            let (name, payload) = match v {
                Json::String(s) => (s.as_str(), None),
                Json::Object(o) if o.len() == 1 => {
                    let (k, p) = o.iter().next().expect("one entry");
                    (k.as_str(), Some(p))
                }
                _ => return Err(mismatch(ty, v)),
            };
            let case = var
                .cases()
                .find(|c| c.name == name)
                .ok_or_else(|| format!("unknown case `{name}` of {}", wit_type_name(ty)))?;
            let payload = match (case.ty, payload) {
                (None, None | Some(Json::Null)) => None,
                (None, Some(p)) => {
                    return Err(format!(
                        "case `{name}` has no payload, found {}",
                        describe(p)
                    ));
                }
                (Some(t), Some(p)) => Some(Box::new(
                    json_to_val(p, &t).map_err(|e| format!("case `{name}`: {e}"))?,
                )),
                (Some(t), None) => {
                    return Err(format!(
                        "case `{name}` needs a {} payload: `{{\"{name}\": …}}`",
                        wit_type_name(&t)
                    ));
                }
            };
            Val::Variant(name.to_string(), payload)
        }
        Type::Option(o) => match v {
            Json::Null => Val::Option(None),
            other => Val::Option(Some(Box::new(json_to_val(other, &o.ty())?))),
        },
        Type::Result(r) => {
            let obj = v.as_object().filter(|o| o.len() == 1).ok_or_else(|| {
                format!(
                    "expected {} as {{\"ok\": …}} or {{\"err\": …}}, found {}",
                    wit_type_name(ty),
                    describe(v)
                )
            })?;
            let (k, p) = obj.iter().next().expect("one entry");
            let side = |t: Option<Type>, p: &Json| -> Result<Option<Box<Val>>, String> {
                match (t, p) {
                    (None, Json::Null) => Ok(None),
                    (None, p) => Err(format!("`{k}` has no payload, found {}", describe(p))),
                    (Some(t), p) => Ok(Some(Box::new(
                        json_to_val(p, &t).map_err(|e| format!("`{k}`: {e}"))?,
                    ))),
                }
            };
            match k.as_str() {
                "ok" => Val::Result(Ok(side(r.ok(), p)?)),
                "err" => Val::Result(Err(side(r.err(), p)?)),
                other => {
                    return Err(format!(
                        "expected key `ok` or `err` for {}, found `{other}`",
                        wit_type_name(ty)
                    ));
                }
            }
        }
        Type::Flags(f) => {
            let items = v.as_array().ok_or_else(|| mismatch(ty, v))?;
            let mut set = Vec::new();
            for item in items {
                let name = item
                    .as_str()
                    .ok_or_else(|| format!("flag names are strings, found {}", describe(item)))?;
                if !f.names().any(|n| n == name) {
                    return Err(format!("unknown flag `{name}` of {}", wit_type_name(ty)));
                }
                set.push(name.to_string());
            }
            Val::Flags(set)
        }
        other => {
            return Err(format!(
                "values of type {} cannot be given as JSON",
                wit_type_name(other)
            ));
        }
    })
}

fn float_json(f: f64) -> Json {
    if f.is_nan() {
        Json::String("nan".into())
    } else if f.is_infinite() {
        Json::String(if f > 0.0 { "inf" } else { "-inf" }.into())
    } else {
        serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number)
    }
}

/// Converts a component value to JSON (the inverse of [`json_to_val`]).
pub fn val_to_json(v: &Val) -> Json {
    match v {
        Val::Bool(b) => Json::Bool(*b),
        Val::S8(n) => Json::from(*n),
        Val::U8(n) => Json::from(*n),
        Val::S16(n) => Json::from(*n),
        Val::U16(n) => Json::from(*n),
        Val::S32(n) => Json::from(*n),
        Val::U32(n) => Json::from(*n),
        Val::S64(n) => Json::from(*n),
        Val::U64(n) => Json::from(*n),
        Val::Float32(f) => float_json(f64::from(*f)),
        Val::Float64(f) => float_json(*f),
        Val::Char(c) => Json::String(c.to_string()),
        Val::String(s) => Json::String(s.clone()),
        Val::List(items) | Val::Tuple(items) | Val::FixedLengthList(items) => {
            Json::Array(items.iter().map(val_to_json).collect())
        }
        Val::Record(fields) => Json::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), val_to_json(v)))
                .collect(),
        ),
        Val::Enum(name) => Json::String(name.clone()),
        Val::Variant(name, None) => Json::String(name.clone()),
        Val::Variant(name, Some(p)) => {
            Json::Object(Map::from_iter([(name.clone(), val_to_json(p))]))
        }
        Val::Option(None) => Json::Null,
        Val::Option(Some(v)) => val_to_json(v),
        Val::Result(r) => {
            let (key, p) = match r {
                Ok(p) => ("ok", p),
                Err(p) => ("err", p),
            };
            Json::Object(Map::from_iter([(
                key.to_string(),
                p.as_deref().map_or(Json::Null, val_to_json),
            )]))
        }
        Val::Flags(names) => Json::Array(names.iter().cloned().map(Json::String).collect()),
        Val::Map(entries) => Json::Array(
            entries
                .iter()
                .map(|(k, v)| Json::Array(vec![val_to_json(k), val_to_json(v)]))
                .collect(),
        ),
        Val::Resource(_) => Json::String("<resource>".into()),
        Val::Future(_) => Json::String("<future>".into()),
        Val::Stream(_) => Json::String("<stream>".into()),
        Val::ErrorContext(_) => Json::String("<error-context>".into()),
    }
}
