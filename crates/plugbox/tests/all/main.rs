//! plugbox's integration tests: one binary, a module per topic.

mod aot;
mod call;
mod errors;
mod load;
mod support;
