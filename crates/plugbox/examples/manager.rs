//! The plugin manager: load plugins by name from a manifest, call them,
//! reload one, and read its metrics.
//!
//! Run with `cargo run -p plugbox --example manager`.

use plugbox::{Manifest, PluginManager};
use std::path::Path;

fn main() -> plugbox::Result<()> {
    let guests = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guests");
    let manifest = Manifest::from_file(guests.join("plugbox.toml"))?;
    let manager = PluginManager::from_manifest(&manifest)?;

    for info in manager.list() {
        println!(
            "{} v{} ({:?}): {}",
            info.name,
            info.version,
            info.mode,
            info.functions.join(", ")
        );
    }
    println!(
        "adder.add(5, 3) = {}",
        manager.call::<(i32, i32), i32>("adder", "add", (5, 3))?
    );

    // The hostile plugin runs under the manifest's limits.
    let err = manager.call::<(), ()>("hostile", "spin", ()).unwrap_err();
    println!("hostile.spin: {err:#}");

    // Reloading an unchanged file is a no-op; a changed one swaps atomically.
    println!("reloaded: {}", manager.reload("adder")?);
    println!(
        "{}",
        manager
            .prometheus()
            .lines()
            .filter(|l| l.contains("calls_total{"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    Ok(())
}
