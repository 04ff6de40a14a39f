//! Dynamic calls: arguments converted by the export's signature — JSON
//! values, or command-line words — for a core module or a component, told
//! apart by the compiled code.

use super::callable::{Call, Target};
use super::kinds::{component_func, module_func};
use crate::code::{How, Live};
use crate::error::{Error, Result};
use crate::store::StoreState;
use crate::values::DynValue;
use serde_json::Value as JsonValue;
use wasmtime::component::Val as WitVal;
use wasmtime::{Store, Val};

/// A call with JSON arguments and results: numbers for a core module, any
/// WIT value for a component.
pub(crate) struct Json<'a> {
    pub(crate) func: &'a str,
    pub(crate) args: &'a [JsonValue],
}

/// A call with command-line words parsed by the export's signature:
/// numbers for a core module, one JSON value per parameter for a component.
pub(crate) struct Words<'a, S> {
    pub(crate) func: &'a str,
    pub(crate) words: &'a [S],
}

/// A resolved dynamic call: the function, converted arguments, and the
/// number of results.
pub(crate) enum DynReady {
    Core(wasmtime::Func, Vec<Val>, usize),
    Component(wasmtime::component::Func, Vec<WitVal>, usize),
}

/// Arguments of a dynamic call, converted by the parameter's type.
trait DynArgs {
    fn func(&self) -> &str;
    fn len(&self) -> usize;
    fn core(&self, i: usize, ty: &wasmtime::ValType) -> Result<Val>;
    fn wit(&self, i: usize, name: &str, ty: &wasmtime::component::types::Type) -> Result<WitVal>;
}

fn invalid_wit(func: &str, name: &str, why: String) -> Error {
    Error::invalid_argument(format!("invalid argument `{name}` of `{func}`: {why}"))
}

impl DynArgs for Json<'_> {
    fn func(&self) -> &str {
        self.func
    }
    fn len(&self) -> usize {
        self.args.len()
    }
    fn core(&self, i: usize, ty: &wasmtime::ValType) -> Result<Val> {
        crate::values::json_arg(self.func, i, ty, &self.args[i])
    }
    fn wit(&self, i: usize, name: &str, ty: &wasmtime::component::types::Type) -> Result<WitVal> {
        crate::wit_values::json_to_val(&self.args[i], ty)
            .map_err(|why| invalid_wit(self.func, name, why))
    }
}

impl<S: AsRef<str>> DynArgs for Words<'_, S> {
    fn func(&self) -> &str {
        self.func
    }
    fn len(&self) -> usize {
        self.words.len()
    }
    fn core(&self, i: usize, ty: &wasmtime::ValType) -> Result<Val> {
        crate::values::parse_arg(self.func, i, ty, self.words[i].as_ref())
    }
    fn wit(&self, i: usize, name: &str, ty: &wasmtime::component::types::Type) -> Result<WitVal> {
        let word = self.words[i].as_ref();
        let json: JsonValue = serde_json::from_str(word).map_err(|e| {
            Error::invalid_argument(format!(
                "argument `{name}` of `{}` is not valid JSON (`{word}`: {e}); strings need quotes, e.g. '\"world\"'",
                self.func
            ))
        })?;
        crate::wit_values::json_to_val(&json, ty).map_err(|why| invalid_wit(self.func, name, why))
    }
}

impl Call for Json<'_> {
    type Ready = DynReady;
    type Output = Vec<JsonValue>;

    fn export(&self) -> &str {
        self.func
    }

    fn ready(&self, inst: &mut Target<'_>) -> Result<Self::Ready> {
        dyn_ready(inst, self)
    }

    async fn run(
        &self,
        ready: Self::Ready,
        store: &mut Store<StoreState>,
        how: How,
    ) -> wasmtime::Result<Vec<JsonValue>> {
        let results = dyn_run(ready, store, how).await?;
        Ok(results.iter().map(DynValue::to_json).collect())
    }
}

impl<S: AsRef<str> + Sync> Call for Words<'_, S> {
    type Ready = DynReady;
    type Output = Vec<DynValue>;

    fn export(&self) -> &str {
        self.func
    }

    fn ready(&self, inst: &mut Target<'_>) -> Result<Self::Ready> {
        dyn_ready(inst, self)
    }

    async fn run(
        &self,
        ready: Self::Ready,
        store: &mut Store<StoreState>,
        how: How,
    ) -> wasmtime::Result<Vec<DynValue>> {
        dyn_run(ready, store, how).await
    }
}

/// Resolves a dynamic call: finds the function (module or component, told
/// apart by the compiled code), checks the arity, converts each argument.
fn dyn_ready(inst: &mut Target<'_>, args: &impl DynArgs) -> Result<DynReady> {
    let func = args.func();
    let given = args.len();
    if let Live::Module(_) = *inst.live {
        let (f, ty) = module_func(inst, func)?;
        crate::values::check_arity(func, ty, given)?;
        let vals = ty
            .params()
            .enumerate()
            .map(|(i, t)| args.core(i, &t))
            .collect::<Result<Vec<_>>>()?;
        return Ok(DynReady::Core(f, vals, ty.results().len()));
    }
    let (f, ty) = component_func(inst, func)?;
    let params: Vec<_> = ty.params().collect();
    if params.len() != given {
        return Err(Error::invalid_argument(format!(
            "`{func}` takes {} argument{} ({}) but {given} {} given",
            params.len(),
            if params.len() == 1 { "" } else { "s" },
            crate::code::component::format_func(ty),
            if given == 1 { "was" } else { "were" }
        )));
    }
    let vals = params
        .iter()
        .enumerate()
        .map(|(i, (name, t))| args.wit(i, name, t))
        .collect::<Result<Vec<_>>>()?;
    Ok(DynReady::Component(f, vals, ty.results().len()))
}

/// Runs a resolved dynamic call.
async fn dyn_run(
    ready: DynReady,
    store: &mut Store<StoreState>,
    how: How,
) -> wasmtime::Result<Vec<DynValue>> {
    match ready {
        DynReady::Core(f, args, n) => {
            let mut results = vec![Val::I32(0); n];
            match how {
                How::Sync => f.call(&mut *store, &args, &mut results)?,
                How::Async => Box::pin(f.call_async(&mut *store, &args, &mut results)).await?,
            }
            Ok(results.into_iter().map(DynValue::Core).collect())
        }
        DynReady::Component(f, args, n) => {
            let mut results = vec![WitVal::Bool(false); n];
            match how {
                How::Sync => f.call(&mut *store, &args, &mut results)?,
                How::Async => Box::pin(f.call_async(&mut *store, &args, &mut results)).await?,
            }
            Ok(results.into_iter().map(DynValue::Wit).collect())
        }
    }
}
