//! plugbox's integration tests: one binary, a module per topic.

mod aot;
mod call;
mod errors;
mod hostile;
mod limits;
mod load;
mod sandbox;
mod support;
