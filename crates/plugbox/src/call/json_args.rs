//! A JSON array of call arguments (the body of `POST
//! /v1/plugins/NAME/FUNC`), parsed while it is checked against the
//! function's parameters. The parse stops at the first element past the
//! function's arity and at a value nested deeper than [`MAX_DEPTH`], and
//! a core module's argument that is an array or an object is refused
//! without being built: what a body costs is a small multiple of its size
//! at worst, whatever it holds. The values are converted by the call
//! itself, as for any JSON call.

use crate::code::{Code, Prepared, component::format_func, export_not_found};
use crate::error::{Error, Result};
use crate::values::{describe_arg, format_func_type};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value as Json};
use std::cell::Cell;
use std::fmt;
use wasmtime::ValType;

/// How deep an argument may nest arrays and objects.
pub(crate) const MAX_DEPTH: usize = 64;

/// What the arguments of a function are checked against.
pub(crate) struct Params<'a> {
    func: &'a str,
    /// The function's signature, as the arity message shows it.
    signature: String,
    params: Vec<Param>,
}

enum Param {
    /// A core module's: a number, or a string such as `"nan"` or `"0x10"`.
    Core(ValType),
    /// A component's, by its name: any JSON value.
    Wit(String),
}

impl<'a> Params<'a> {
    /// The parameters of `func` in `code`.
    pub(crate) fn of(code: &Prepared, func: &'a str) -> Result<Self> {
        Ok(match &code.code {
            Code::Module { .. } => {
                let ty = code.func_type(func)?;
                Self {
                    func,
                    signature: format_func_type(&ty),
                    params: ty.params().map(Param::Core).collect(),
                }
            }
            Code::Component { exports, .. } => {
                let (_, ty) = exports
                    .get(func)
                    .ok_or_else(|| export_not_found(code.name(), func, &code.functions()))?;
                Self {
                    func,
                    signature: format!("({})", format_func(ty)),
                    params: ty
                        .params()
                        .map(|(n, _)| Param::Wit(n.to_string()))
                        .collect(),
                }
            }
        })
    }

    /// Parses `body`: a JSON array of at most as many arguments as the
    /// function takes (an empty body or only whitespace: none).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument):
    /// the body is not JSON or not an array, holds more arguments than the
    /// function takes, an argument nests deeper than [`MAX_DEPTH`], or a
    /// core module's argument is an array or an object.
    pub(crate) fn parse(&self, body: &[u8]) -> Result<Vec<Json>> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Vec::new());
        }
        let args = Args {
            params: self,
            failure: Cell::new(None),
        };
        let mut de = serde_json::Deserializer::from_slice(body);
        let parsed = (&args)
            .deserialize(&mut de)
            .and_then(|v| de.end().map(|()| v));
        parsed.map_err(|e| {
            args.failure.take().unwrap_or_else(|| {
                Error::invalid_argument(format!("the body is not valid JSON: {e}"))
            })
        })
    }
}

/// The parse of the whole body; why it stopped, when it was a check of
/// ours rather than JSON syntax.
struct Args<'p, 'a> {
    params: &'p Params<'a>,
    failure: Cell<Option<Error>>,
}

impl Args<'_, '_> {
    /// Stops the parse for `message`, kept as the error to report.
    fn fail<E: de::Error>(&self, message: String) -> E {
        self.failure
            .set(Some(Error::invalid_argument(message.clone())));
        E::custom(message)
    }

    fn not_an_array<E: de::Error>(&self, what: &str) -> E {
        self.fail(format!(
            "the body must be a JSON array of arguments, not {what}"
        ))
    }
}

impl<'de> DeserializeSeed<'de> for &Args<'_, '_> {
    type Value = Vec<Json>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Vec<Json>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for &Args<'_, '_> {
    type Value = Vec<Json>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of arguments")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Json>, A::Error> {
        let params = &self.params.params;
        let mut args = Vec::with_capacity(params.len());
        loop {
            let Some(param) = params.get(args.len()) else {
                // One more element is one too many: stop before reading it.
                seq.next_element_seed(Extra(self))?;
                return Ok(args);
            };
            let seed = Arg {
                args: self,
                index: args.len(),
                param,
                depth: 0,
            };
            match seq.next_element_seed(seed)? {
                Some(arg) => args.push(arg),
                None => return Ok(args),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Vec<Json>, A::Error> {
        Err(self.not_an_array("an object"))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Vec<Json>, E> {
        Err(self.not_an_array("a boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Vec<Json>, E> {
        Err(self.not_an_array("a number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Vec<Json>, E> {
        Err(self.not_an_array("a number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Vec<Json>, E> {
        Err(self.not_an_array("a number"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Vec<Json>, E> {
        Err(self.not_an_array("a string"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Vec<Json>, E> {
        Err(self.not_an_array("null"))
    }
}

/// The element after the last parameter: refused before it is read.
struct Extra<'b, 'p, 'a>(&'b Args<'p, 'a>);

impl<'de> DeserializeSeed<'de> for Extra<'_, '_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, _: D) -> Result<(), D::Error> {
        let Params {
            func,
            signature,
            params,
        } = self.0.params;
        let n = params.len();
        Err(self.0.fail(format!(
            "`{func}` takes {n} argument{} {signature} but at least {} were given",
            if n == 1 { "" } else { "s" },
            n + 1
        )))
    }
}

/// One argument, or a value inside one `depth` levels down.
#[derive(Clone, Copy)]
struct Arg<'b, 'p, 'a> {
    args: &'b Args<'p, 'a>,
    index: usize,
    param: &'b Param,
    depth: usize,
}

impl Arg<'_, '_, '_> {
    fn inner(&self) -> Self {
        Self {
            depth: self.depth + 1,
            ..*self
        }
    }

    /// Refuses an array or object (`what`) where a core module's number
    /// goes, or one that nests too deep.
    fn check_nesting<E: de::Error>(&self, what: &str, shown: &str) -> Result<(), E> {
        let func = self.args.params.func;
        match self.param {
            Param::Core(ty) => Err(self.args.fail(format!(
                "invalid {}: `{shown}` is a JSON {what}, expected a number",
                describe_arg(func, self.index, ty)
            ))),
            Param::Wit(name) if self.depth >= MAX_DEPTH => Err(self.args.fail(format!(
                "invalid argument `{name}` of `{func}`: it nests arrays and objects deeper than {MAX_DEPTH} levels"
            ))),
            Param::Wit(_) => Ok(()),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Arg<'_, '_, '_> {
    type Value = Json;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Json, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Arg<'_, '_, '_> {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json, E> {
        Ok(Number::from_f64(v).map_or(Json::Null, Json::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        self.check_nesting::<A::Error>("array", "[…]")?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self.inner())? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        self.check_nesting::<A::Error>("object", "{…}")?;
        let mut fields = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(self.inner())?;
            fields.insert(key, value);
        }
        Ok(Json::Object(fields))
    }
}

#[cfg(test)]
mod tests {
    use crate::error::ErrorKind;
    use crate::{Engine, EngineConfig, Plugin};
    use serde_json::{Value as Json, json};

    fn add() -> Plugin {
        let wat = r#"(module (func (export "add") (param i32 i32) (result i32)
            local.get 0 local.get 1 i32.add))"#;
        Plugin::from_bytes(&Engine::new(&EngineConfig::new()).unwrap(), wat).unwrap()
    }

    fn refusal(plugin: &Plugin, body: &str) -> String {
        let err = plugin.parse_json_args("add", body.as_bytes()).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::InvalidArgument, "{err:#}");
        format!("{err:#}")
    }

    #[test]
    fn arguments_are_parsed_up_to_the_arity() {
        let p = add();
        let parse = |body: &str| p.parse_json_args("add", body.as_bytes()).unwrap();
        assert_eq!(parse(r#" [1, "0x10"] "#), [json!(1), json!("0x10")]);
        assert_eq!(parse("[-1, 1.5]"), [json!(-1), json!(1.5)]);
        assert_eq!(parse("[true, null]"), [json!(true), Json::Null]);
        assert_eq!(parse(" \n"), Vec::<Json>::new());
        // Too few is the call's to report, with the count.
        assert_eq!(parse("[1]"), [json!(1)]);
    }

    #[test]
    fn the_parse_stops_at_the_first_element_too_many() {
        let p = add();
        let too_many = "`add` takes 2 arguments (i32, i32) -> i32 but at least 3 were given";
        assert_eq!(refusal(&p, "[1, 2, 3, 4]"), too_many);
        // What follows the third element is never read.
        assert_eq!(refusal(&p, "[1, 2, [[[[ not json"), too_many);
        assert_eq!(
            refusal(&p, "[1, {\"a\": [1, 2]}]"),
            "invalid argument 2 of `add` (i32): `{…}` is a JSON object, expected a number"
        );
    }

    #[test]
    fn other_bad_bodies_keep_their_messages() {
        let p = add();
        for (body, what) in [
            ("7", "a number"),
            ("\"x\"", "a string"),
            ("null", "null"),
            ("true", "a boolean"),
            ("{\"a\": 1}", "an object"),
        ] {
            assert_eq!(
                refusal(&p, body),
                format!("the body must be a JSON array of arguments, not {what}")
            );
        }
        assert_eq!(
            refusal(&p, "[1, 2] x"),
            "the body is not valid JSON: trailing characters at line 1 column 8"
        );
        let err = p.parse_json_args("nope", b"[]").unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::ExportNotFound { .. }),
            "{err:#}"
        );
    }
}
