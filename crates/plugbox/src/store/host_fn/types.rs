//! The Rust types host functions take and return for core modules:
//! `i32`, `i64`, `f32`, `f64`, and tuples of them.

use wasmtime::{Val, ValType};

/// A value type host functions can take and return.
pub trait HostValue: Sized + Send + 'static {
    /// The wasm type.
    fn ty() -> ValType;
    /// From a wasm value (already type-checked by Wasmtime).
    fn from_val(v: &Val) -> Self;
    /// To a wasm value.
    fn into_val(self) -> Val;
}

macro_rules! host_value {
    ($t:ty, $vt:ident, $get:ident, $mk:expr) => {
        impl HostValue for $t {
            fn ty() -> ValType {
                ValType::$vt
            }
            fn from_val(v: &Val) -> Self {
                v.$get().unwrap_or_default()
            }
            fn into_val(self) -> Val {
                $mk(self)
            }
        }
    };
}

host_value!(i32, I32, i32, Val::I32);
host_value!(i64, I64, i64, Val::I64);
host_value!(f32, F32, f32, |v: f32| Val::F32(v.to_bits()));
host_value!(f64, F64, f64, |v: f64| Val::F64(v.to_bits()));

/// Parameter tuples of host functions: `()`, `(i32,)`, `(i32, i64)`, … up
/// to six values.
pub trait HostParams: Sized + Send + 'static {
    /// The wasm types.
    fn types() -> Vec<ValType>;
    /// From wasm values.
    fn from_vals(vals: &[Val]) -> Self;
}

/// Result types of host functions: `()`, a single value, or a tuple.
pub trait HostResults: Sized + Send + 'static {
    /// The wasm types.
    fn types() -> Vec<ValType>;
    /// Into wasm values.
    fn store(self, out: &mut [Val]);
}

macro_rules! host_tuple {
    ($($n:tt $t:ident),*) => {
        impl<$($t: HostValue),*> HostParams for ($($t,)*) {
            fn types() -> Vec<ValType> {
                vec![$($t::ty()),*]
            }
            #[allow(unused_variables, clippy::unused_unit)]
            fn from_vals(vals: &[Val]) -> Self {
                ($($t::from_val(&vals[$n]),)*)
            }
        }
        impl<$($t: HostValue),*> HostResults for ($($t,)*) {
            fn types() -> Vec<ValType> {
                vec![$($t::ty()),*]
            }
            #[allow(unused_variables)]
            fn store(self, out: &mut [Val]) {
                $(out[$n] = self.$n.into_val();)*
            }
        }
    };
}

host_tuple!();
host_tuple!(0 A);
host_tuple!(0 A, 1 B);
host_tuple!(0 A, 1 B, 2 C);
host_tuple!(0 A, 1 B, 2 C, 3 D);
host_tuple!(0 A, 1 B, 2 C, 3 D, 4 E);
host_tuple!(0 A, 1 B, 2 C, 3 D, 4 E, 5 F);

macro_rules! host_single {
    ($t:ty) => {
        impl HostResults for $t {
            fn types() -> Vec<ValType> {
                vec![<$t as HostValue>::ty()]
            }
            fn store(self, out: &mut [Val]) {
                out[0] = self.into_val();
            }
        }
    };
}

host_single!(i32);
host_single!(i64);
host_single!(f32);
host_single!(f64);

/// Parameters of a component host function: a tuple of Rust types with a
/// component-model mapping (`(u32,)`, `(String, Vec<u8>)`, ...).
pub trait ComponentParams:
    wasmtime::component::ComponentNamedList + wasmtime::component::Lift + Send + Sync + 'static
{
}

impl<T> ComponentParams for T where
    T: wasmtime::component::ComponentNamedList + wasmtime::component::Lift + Send + Sync + 'static
{
}

/// Results of a component host function: a tuple (`(u32,)`).
pub trait ComponentResults:
    wasmtime::component::ComponentNamedList + wasmtime::component::Lower + Send + Sync + 'static
{
}

impl<T> ComponentResults for T where
    T: wasmtime::component::ComponentNamedList + wasmtime::component::Lower + Send + Sync + 'static
{
}
