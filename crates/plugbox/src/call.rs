//! The call pipeline. Every call — core or component, sync or async,
//! stateless or stateful, typed, values, JSON, `handle`, a WASI command or
//! a `wasi:http` request — is a [`Call`] run by [`Instance::invoke`]:
//! resolve and check what is
//! called, arm fuel and the deadline, run the guest (on the async path its
//! future bounded by the deadline and cancel handle, so a pending host call
//! ends with them), record what it used, classify a failure. Stateless
//! calls add the one retry policy ([`retry::stateless`]); the synchronous
//! API drives the same futures ([`drive::drive`]).

mod api;
mod arming;
pub(crate) mod callable;
mod classify;
pub(crate) mod drive;
pub(crate) mod dynamic;
mod handle;
pub(crate) mod http;
mod instance;
pub(crate) mod json_args;
pub(crate) mod kinds;
pub(crate) mod retry;

pub(crate) use callable::Call;
pub use handle::FuncHandle;
pub use http::HttpBody;
pub use instance::Instance;
pub(crate) use instance::check_sync;
pub use kinds::{RunOutput, WitParams, WitResults};
