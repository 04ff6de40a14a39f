//! JSON ↔ WIT conversion (`plugbox::wit_values`) on arbitrary component
//! types: a random type tree is written as a component that only exports
//! types, compiled (no code, so it is quick) to get Wasmtime's `Type`,
//! then a JSON value, shaped by the type or arbitrary, is converted.
//!
//! Property: whatever [`json_to_val`] accepts, [`val_to_json`] turns into
//! JSON that [`json_to_val`] accepts again and that converts back to
//! itself. An `Err` from a conversion is fine; a panic or a broken round
//! trip is a bug.

use arbitrary::{Result, Unstructured};
use plugbox::wasmtime::component::types::ComponentItem;
use plugbox::wasmtime::component::{Component, Type};
use plugbox::wit_values::{json_to_val, val_to_json, wit_type_name};
use plugbox::{Engine, Wasm};
use std::fmt::Write;

/// A WIT type, as generated.
#[derive(Debug)]
enum Ty {
    Prim(&'static str),
    List(Box<Ty>),
    Option(Box<Ty>),
    Result(Option<Box<Ty>>, Option<Box<Ty>>),
    Tuple(Vec<Ty>),
    Record(Vec<Ty>),
    Variant(Vec<Option<Ty>>),
    Enum(usize),
    Flags(usize),
}

const PRIMS: &[&str] = &[
    "bool", "s8", "u8", "s16", "u16", "s32", "u32", "s64", "u64", "f32", "f64", "char", "string",
];

fn ty(u: &mut Unstructured<'_>, depth: u32) -> Result<Ty> {
    if depth == 0 || u.ratio(2, 5)? {
        return Ok(Ty::Prim(u.choose(PRIMS)?));
    }
    let sub = |u: &mut Unstructured<'_>| ty(u, depth - 1).map(Box::new);
    Ok(match u.int_in_range(0..=7)? {
        0 => Ty::List(sub(u)?),
        1 => Ty::Option(sub(u)?),
        2 => {
            let ok = if u.arbitrary()? { Some(sub(u)?) } else { None };
            let err = if u.arbitrary()? { Some(sub(u)?) } else { None };
            Ty::Result(ok, err)
        }
        3 => Ty::Tuple(many(u, depth)?),
        4 => Ty::Record(many(u, depth)?),
        5 => {
            let n = u.int_in_range(1..=4)?;
            let mut cases = Vec::new();
            for _ in 0..n {
                cases.push(if u.arbitrary()? {
                    Some(ty(u, depth - 1)?)
                } else {
                    None
                });
            }
            Ty::Variant(cases)
        }
        6 => Ty::Enum(u.int_in_range(1..=5)?),
        _ => Ty::Flags(u.int_in_range(1..=34)?),
    })
}

fn many(u: &mut Unstructured<'_>, depth: u32) -> Result<Vec<Ty>> {
    let n = u.int_in_range(1..=4)?;
    (0..n).map(|_| ty(u, depth - 1)).collect()
}

/// Writes a component that defines `ty` and exports it as `root`; record,
/// variant, enum and flags types are exported as they are defined, as the
/// component model requires of named types.
fn component_text(root: &Ty) -> String {
    let mut w = Writer {
        out: String::from("(component\n"),
        next: 0,
    };
    let top = match root {
        // Only a defined type can be exported.
        Ty::Prim(p) => w.define(p, false),
        _ => w.emit(root),
    };
    writeln!(w.out, "  (export \"root\" (type {top})))").expect("writing to a string");
    w.out
}

struct Writer {
    out: String,
    next: usize,
}

impl Writer {
    /// Defines a type; returns how to refer to it.
    fn define(&mut self, body: &str, nominal: bool) -> String {
        let n = self.next;
        self.next += 1;
        writeln!(self.out, "  (type $t{n} {body})").expect("writing to a string");
        if nominal {
            writeln!(self.out, "  (export $e{n} \"t{n}\" (type $t{n}))")
                .expect("writing to a string");
            format!("$e{n}")
        } else {
            format!("$t{n}")
        }
    }

    /// Emits the definitions `ty` needs and returns how to refer to it.
    fn emit(&mut self, ty: &Ty) -> String {
        match ty {
            Ty::Prim(p) => p.to_string(),
            Ty::List(t) => {
                let t = self.emit(t);
                self.define(&format!("(list {t})"), false)
            }
            Ty::Option(t) => {
                let t = self.emit(t);
                self.define(&format!("(option {t})"), false)
            }
            Ty::Result(ok, err) => {
                let mut body = String::from("(result");
                if let Some(ok) = ok {
                    let ok = self.emit(ok);
                    write!(body, " {ok}").expect("writing to a string");
                }
                if let Some(err) = err {
                    let err = self.emit(err);
                    write!(body, " (error {err})").expect("writing to a string");
                }
                body.push(')');
                self.define(&body, false)
            }
            Ty::Tuple(ts) => {
                let ts: Vec<_> = ts.iter().map(|t| self.emit(t)).collect();
                self.define(&format!("(tuple {})", ts.join(" ")), false)
            }
            Ty::Record(ts) => {
                let fields: Vec<_> = ts
                    .iter()
                    .enumerate()
                    .map(|(i, t)| format!("(field \"f{i}\" {})", self.emit(t)))
                    .collect();
                self.define(&format!("(record {})", fields.join(" ")), true)
            }
            Ty::Variant(cases) => {
                let cases: Vec<_> = cases
                    .iter()
                    .enumerate()
                    .map(|(i, t)| match t {
                        Some(t) => format!("(case \"c{i}\" {})", self.emit(t)),
                        None => format!("(case \"c{i}\")"),
                    })
                    .collect();
                self.define(&format!("(variant {})", cases.join(" ")), true)
            }
            Ty::Enum(n) => {
                let names: Vec<_> = (0..*n).map(|i| format!("\"e{i}\"")).collect();
                self.define(&format!("(enum {})", names.join(" ")), true)
            }
            Ty::Flags(n) => {
                let names: Vec<_> = (0..*n).map(|i| format!("\"g{i}\"")).collect();
                self.define(&format!("(flags {})", names.join(" ")), true)
            }
        }
    }
}

/// The Wasmtime type of a generated type tree, or `None` when the
/// component model refuses it (too many flags, say).
fn compile(engine: &Engine, root: &Ty) -> Option<Type> {
    let text = component_text(root);
    let wasm = Wasm::from_bytes(engine, text.as_bytes())
        .unwrap_or_else(|e| panic!("generated WAT does not parse: {e:#}\n{text}"));
    let component = Component::new(engine.wasmtime(), wasm.bytes()).ok()?;
    let types = component.component_type();
    let export = types
        .get_export(engine.wasmtime(), "root")
        .expect("the component exports `root`");
    match export.ty {
        ComponentItem::Type(t) => Some(t),
        other => panic!("`root` is a type, not {other:?}"),
    }
}

/// Converts `json` by `ty` and checks the round trip; whether `json`
/// converted.
pub fn check(json: &serde_json::Value, ty: &Type) -> bool {
    let _ = wit_type_name(ty);
    let Ok(val) = json_to_val(json, ty) else {
        return false;
    };
    let back = val_to_json(&val);
    let again = json_to_val(&back, ty).unwrap_or_else(|e| {
        panic!(
            "val_to_json gave {back}, which json_to_val refuses for {}: {e} (input {json})",
            wit_type_name(ty)
        )
    });
    assert_eq!(
        val_to_json(&again),
        back,
        "round trip changed the value (type {}, input {json})",
        wit_type_name(ty)
    );
    true
}

/// One fuzz case: a type, then values for it; how many values converted.
pub fn run(engine: &Engine, u: &mut Unstructured<'_>) -> Result<usize> {
    let root = ty(u, 5)?;
    let Some(t) = compile(engine, &root) else {
        return Ok(0);
    };
    let mut converted = 0;
    for _ in 0..u.int_in_range(1..=4)? {
        let json = if u.ratio(1, 8)? {
            super::args::any_json(u, 4)?
        } else {
            super::args::wit_arg(u, &t)?
        };
        converted += usize::from(check(&json, &t));
    }
    Ok(converted)
}
