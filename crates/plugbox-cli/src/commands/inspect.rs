//! `plugbox inspect`: what a module or component contains.

use anyhow::Result;
use clap::Parser;
use plugbox::EngineConfig;
use plugbox::text::printable;
use plugbox::units::format_bytes;
use plugbox::{Inspection, Wasm};
use std::path::PathBuf;

/// Show kind, size, imports, exports with signatures, memories, tables, custom sections and WASI needs
#[derive(Parser, Debug)]
pub struct InspectCommand {
    /// The file to inspect (.wasm, .wat or .cwasm)
    #[arg(value_name = "FILE")]
    file: PathBuf,

    /// Print JSON
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    engine: EngineConfig,
}

impl InspectCommand {
    pub fn execute(self) -> Result<()> {
        let engine = crate::flags::engine(&self.engine)?;
        let wasm = Wasm::from_file(&engine, &self.file)?;
        let info = wasm.inspect()?;
        if self.json {
            let mut value = serde_json::to_value(&info)?;
            value["file"] = serde_json::Value::String(self.file.display().to_string());
            crate::output::outln!("{}", serde_json::to_string_pretty(&value)?)?;
        } else {
            crate::output::out!("{}", render(&self.file.display().to_string(), &info))?;
        }
        Ok(())
    }
}

/// The human form: every name the module chose goes through
/// [`printable`], so it cannot rewrite the terminal or fake a line
/// (`--json` keeps them exact, escaped by JSON).
fn render(name: &str, info: &Inspection) -> String {
    use std::fmt::Write;
    let p = |s: &str| printable(s).into_owned();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{name}: {}, {} bytes ({})",
        info.kind,
        info.size,
        format_bytes(info.size)
    );
    let section = |s: &mut String, title: &str, rows: Vec<String>| {
        let _ = writeln!(s, "{title} ({}):", rows.len());
        for r in rows {
            let _ = writeln!(s, "  {r}");
        }
    };
    let qualify = |m: &str, n: &str| {
        if m.is_empty() {
            n.to_string()
        } else {
            format!("{m}::{n}")
        }
    };
    section(
        &mut s,
        "imports",
        info.imports
            .iter()
            .map(|i| {
                format!(
                    "{} {} {}",
                    qualify(&p(&i.module), &p(&i.name)),
                    i.kind,
                    p(&i.ty)
                )
                .trim_end()
                .to_string()
            })
            .collect(),
    );
    section(
        &mut s,
        "exports",
        info.exports
            .iter()
            .map(|e| {
                format!("{} {} {}", p(&e.name), e.kind, p(&e.ty))
                    .trim_end()
                    .to_string()
            })
            .collect(),
    );
    section(
        &mut s,
        "memories",
        info.memories
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let max = m.max_pages.map_or("unbounded".to_string(), |p| {
                    format!("max {p} pages ({})", format_bytes(p * 65536))
                });
                format!(
                    "{i}: min {} pages ({}), {max}{}{}{}",
                    m.min_pages,
                    format_bytes(m.min_pages * 65536),
                    if m.memory64 { ", 64-bit" } else { "" },
                    if m.shared { ", shared" } else { "" },
                    if m.imported { ", imported" } else { "" }
                )
            })
            .collect(),
    );
    section(
        &mut s,
        "tables",
        info.tables
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let max = t
                    .max
                    .map_or("unbounded".to_string(), |m| format!("max {m}"));
                format!(
                    "{i}: {} min {}, {max}{}",
                    t.element,
                    t.min,
                    if t.imported { ", imported" } else { "" }
                )
            })
            .collect(),
    );
    section(
        &mut s,
        "custom sections",
        info.custom_sections
            .iter()
            .map(|c| format!("{} ({})", p(&c.name), format_bytes(c.size)))
            .collect(),
    );
    let wasi = if info.wasi.is_empty() {
        "none".to_string()
    } else {
        p(&info.wasi.join(", "))
    };
    let _ = writeln!(s, "wasi: {wasi}");
    if let Some(wit) = &info.wit {
        let _ = writeln!(s, "wit:");
        for line in wit.lines() {
            let _ = writeln!(s, "{}", format!("  {}", p(line)).trim_end());
        }
    }
    s
}
