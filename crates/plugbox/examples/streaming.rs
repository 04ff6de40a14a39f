//! Streaming compilation: read a module from any `Read` in chunks, with the
//! size cap enforced while reading, then compile it once.
//!
//! Run with `cargo run -p plugbox --example streaming`.

use plugbox::{Engine, EngineConfig, ErrorKind, Plugin, Wasm};
use std::io::Read;

fn main() -> plugbox::Result<()> {
    let engine = Engine::new(&EngineConfig::new().max_module_size(Some(1 << 20)))?;

    // Any reader works: a file, a socket, a decompressor...
    let source = r#"(module (func (export "double") (param i64) (result i64) local.get 0 i64.const 2 i64.mul))"#;
    let wasm = Wasm::from_reader(&engine, source.as_bytes())?;
    println!(
        "read a {} of {} bytes (sha256 {})",
        wasm.kind(),
        wasm.bytes().len(),
        &wasm.sha256()[..16]
    );
    let plugin = Plugin::builder(&engine).build(wasm)?;
    println!("double(21) = {}", plugin.call::<i64, i64>("double", 21)?);

    // An endless stream is refused once it passes the cap: it is never read
    // to the end.
    let endless = std::io::repeat(0).take(u64::MAX);
    let err = Wasm::from_reader(&engine, endless).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidModule(_)));
    println!("endless stream: {err:#}");
    Ok(())
}
