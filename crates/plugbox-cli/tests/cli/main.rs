//! The `plugbox` binary, driven as a user would: output, errors, exit codes.

mod basics;
mod cache;
mod components;
mod deadlines;
mod hostile_input;
mod limits;
mod manifest;
mod new;
mod sandbox;
mod settings;
mod support;
