//! Multi-threaded execution: one engine and one compiled plugin shared by
//! several threads, each call in its own instance. Each thread's stateless
//! calls take instances from a pool shard of their own (`pool_shards`:
//! one per CPU by default), so the threads do not contend in Wasmtime.
//!
//! Run with `cargo run -p plugbox --example threads`.

use plugbox::{Engine, EngineConfig, Plugin};

fn main() -> plugbox::Result<()> {
    let engine = Engine::new(&EngineConfig::new().pooling(true))?;
    let plugin = Plugin::from_bytes(
        &engine,
        r#"(module (func (export "square") (param i32) (result i32) local.get 0 local.get 0 i32.mul))"#,
    )?;
    let handles: Vec<_> = (1..=4)
        .map(|i| {
            let plugin = plugin.clone(); // shares the compiled code
            std::thread::spawn(move || -> plugbox::Result<i32> {
                let mut total = 0;
                for _ in 0..1000 {
                    total = plugin.call::<i32, i32>("square", i)?;
                }
                Ok(total)
            })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        println!(
            "thread {}: square = {}",
            i + 1,
            h.join().expect("thread finished")?
        );
    }
    Ok(())
}
