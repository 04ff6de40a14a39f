//! plugbox's integration tests: one binary, a module per topic.

mod aot;
mod asyncexec;
mod call;
mod components;
mod deadlines;
mod errors;
mod host;
mod hostile;
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
