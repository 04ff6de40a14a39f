//! The `plugbox` binary, driven as a user would: output, errors, exit codes.

mod basics;
mod bench;
mod cache;
mod components;
mod deadlines;
mod hostile_input;
mod kv;
mod limits;
mod manifest;
mod new;
mod pool;
mod sandbox;
mod serve;
mod serve_api;
mod settings;
mod support;
