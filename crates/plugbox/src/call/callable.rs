//! What a kind of call is: the interface every kind implements and the
//! pipeline runs.

use crate::code::{How, Live, Prepared};
use crate::error::Result;
use crate::store::StoreState;
use std::future::Future;
use wasmtime::Store;

/// What a call is resolved against: the plugin, its store, the live
/// instance.
pub(crate) struct Target<'a> {
    pub(crate) prepared: &'a Prepared,
    pub(crate) store: &'a mut Store<StoreState>,
    pub(crate) live: &'a Live,
}

/// One kind of call: only what differs between kinds.
pub(crate) trait Call: Sync {
    /// What `ready` resolved: the function to call and converted arguments.
    type Ready: Send;
    /// What the call returns.
    type Output: Send;

    /// Whether the call's duration is measured (two precise clock reads).
    const TIMED: bool = true;

    /// The export called, for messages.
    fn export(&self) -> &str;

    /// A WASI command's argv\[1..\]; empty for other calls.
    fn args(&self) -> &[String] {
        &[]
    }

    /// Whether an attempt that ran out of fuel may be retried with more
    /// (not when the call consumes its input, as an HTTP request does).
    fn retryable(&self) -> bool {
        true
    }

    /// Looks up and checks what is called; no guest code runs.
    fn ready(&self, target: &mut Target<'_>) -> Result<Self::Ready>;

    /// Runs the guest: Wasmtime's sync or async call.
    fn run(
        &self,
        ready: Self::Ready,
        store: &mut Store<StoreState>,
        how: How,
    ) -> impl Future<Output = wasmtime::Result<Self::Output>> + Send;
}
