//! plugbox's integration tests: one binary, a module per topic.

mod advisories;
mod aot;
mod asyncexec;
mod cache;
mod call;
mod components;
mod deadlines;
mod errors;
mod fuzzing;
mod handle;
mod host;
mod hostile;
mod http;
mod kv_contract;
mod kv_state;
mod layout;
mod limits;
mod load;
mod manager;
mod manifest;
mod pipeline;
mod sandbox;
mod settings;
mod support;
mod wit_types;
mod world;
