//! Loading: bytes read under the size cap, classified (module, component,
//! precompiled, text) and validated; inspection without compiling; and the
//! checked `.cwasm` format of precompiled artifacts.

pub(crate) mod aot;
pub(crate) mod bounds;
pub(crate) mod footprint;
mod inspect;
mod kind;
mod sniff;
mod source;
pub(crate) mod validate;

pub use aot::seal;
pub(crate) use inspect::is_wasi_module;
pub use inspect::{CustomSection, Export, Import, Inspection, Memory, Table};
pub use kind::WasmKind;
pub use source::Wasm;
pub(crate) use source::sha256_hex;
