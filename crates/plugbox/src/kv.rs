//! Plugins' key-value state: one contract ([`KvBackend`]) with three
//! backends — in memory, an embedded SQLite file, Redis — and [`Kv`], a
//! plugin's view of one: its namespace, its quotas, its deadlines.
//!
//! Backends do their I/O on a small runtime of their own (`plugbox-kv`),
//! so a [`Kv`] works from any thread and any executor, and a slow disk or
//! a lost Redis never holds up a thread that runs calls.

mod backend;
mod blocking;
mod copy;
mod embedded;
mod handle;
mod memory;
mod open;
mod redis;
mod runtime;

pub use backend::{KeyPage, KvBackend, KvFuture, Quota, Usage};
pub use embedded::EmbeddedBackend;
pub use handle::{Kv, MAX_BATCH, MAX_PAGE};
pub use memory::MemoryBackend;
pub(crate) use open::KvBackends;
pub use open::open_backend;
pub use redis::RedisBackend;
