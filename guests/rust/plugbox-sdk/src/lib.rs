//! Write a plugbox plugin in a few lines.
//!
//! ```ignore
//! struct Hello;
//!
//! impl plugbox_sdk::Guest for Hello {
//!     fn handle(input: String) -> Result<String, String> {
//!         plugbox_sdk::info(&format!("greeting {input}"));
//!         let greeting = plugbox_sdk::config::get("greeting").unwrap_or("hello".into());
//!         Ok(format!("{greeting}, {input}"))
//!     }
//! }
//!
//! plugbox_sdk::export_plugin!(Hello);
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2` (crate type
//! `cdylib`): the result is a component implementing the `plugbox:plugin`
//! world (`crates/plugbox/wit/plugin.wit`), callable with
//! `plugbox call plugin.wasm handle '"input"'` or `Plugin::handle`.

/// The generated bindings of the `plugbox:plugin` world.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../../crates/plugbox/wit/plugin.wit",
        world: "plugin",
        pub_export_macro: true,
        default_bindings_module: "plugbox_sdk::bindings",
    });
}

pub use bindings::Guest;
pub use bindings::plugbox::plugin::{config, kv, log};

/// Exports a type implementing [`Guest`] as the plugin:
/// `plugbox_sdk::export_plugin!(MyPlugin);`
#[macro_export]
macro_rules! export_plugin {
    ($t:ident) => {
        $crate::bindings::export!($t);
    };
}

/// Logs at info level (to the host's `tracing`, tagged with the plugin).
pub fn info(message: &str) {
    log::log(log::Level::Info, message);
}

/// Logs at warn level.
pub fn warn(message: &str) {
    log::log(log::Level::Warn, message);
}

/// Logs at error level.
pub fn error(message: &str) {
    log::log(log::Level::Error, message);
}
