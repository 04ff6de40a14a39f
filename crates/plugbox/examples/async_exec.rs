//! Async execution on tokio: a spinning guest yields at every epoch tick,
//! so other tasks keep running on the same (here single-threaded) runtime.
//!
//! Run with `cargo run -p plugbox --example async_exec`.

use plugbox::{Engine, EngineConfig, Limits, Plugin};
use std::time::{Duration, Instant};

fn main() -> plugbox::Result<()> {
    let engine = Engine::new(&EngineConfig::default())?;
    let plugin = Plugin::builder(&engine)
        .limits(Limits::new().timeout(Duration::from_millis(300)))
        .from_bytes(r#"(module (func (export "spin") (loop br 0)) (func (export "one") (result i32) i32.const 1))"#)?;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a tokio runtime");
    rt.block_on(async {
        let start = Instant::now();
        let spinner = {
            let plugin = plugin.clone();
            tokio::spawn(async move { plugin.call_async::<(), ()>("spin", ()).await })
        };
        let ticker = tokio::spawn(async move {
            for i in 0..3 {
                tokio::time::sleep(Duration::from_millis(50)).await;
                println!("tick {i} at {:?} while the guest spins", start.elapsed());
            }
        });
        ticker.await.expect("ticker task");
        let err = spinner.await.expect("spinner task").unwrap_err();
        println!("spin ended after {:?}: {err:#}", start.elapsed());
        println!("one() = {}", plugin.call_async::<(), i32>("one", ()).await?);
        Ok(())
    })
}
