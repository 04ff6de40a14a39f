//! A loaded plugin: compiled, pre-linked code with the limits and sandbox
//! every call runs under. Calls on a [`Plugin`] are stateless: each runs in
//! a fresh instance, retried with more fuel when the limits say so.

mod builder;
mod calls;
mod http;
mod loaded;

pub use builder::PluginBuilder;
pub use loaded::Plugin;
