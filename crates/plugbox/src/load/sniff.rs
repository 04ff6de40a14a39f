//! What a source's bytes are: WebAssembly text (converted to binary), a
//! core module, a component or a precompiled artifact, with errors that
//! say what the bytes look like when they are none of these.

use super::kind::WasmKind;
use super::validate::invalid;
use crate::error::{InvalidReason, Result};

const WASM_MAGIC: &[u8; 4] = b"\0asm";

/// Converts text to binary and decides what the bytes are.
pub(super) fn classify(name: &str, bytes: Vec<u8>) -> Result<(Vec<u8>, WasmKind, bool)> {
    if bytes.is_empty() {
        return Err(invalid(name, InvalidReason::Empty, "empty file (0 bytes)"));
    }
    if let Some(kind) = super::aot::detect(&bytes) {
        return Ok((bytes, kind, false));
    }
    if bytes.starts_with(WASM_MAGIC) {
        if bytes.len() < 8 {
            return Err(short_header(name, bytes.len()));
        }
        let version = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        let kind = match version {
            1 => WasmKind::Module,
            // Component: version 0x0d, layer 1 (little-endian u16 pair).
            0x0001_000d => WasmKind::Component,
            v => {
                return Err(invalid(
                    name,
                    InvalidReason::UnsupportedVersion(v),
                    format!(
                        "unsupported WebAssembly version {v:#010x} (expected 0x00000001 for a module or 0x0001000d for a component)"
                    ),
                ));
            }
        };
        return Ok((bytes, kind, false));
    }
    if WASM_MAGIC.starts_with(&bytes) {
        return Err(short_header(name, bytes.len()));
    }
    if looks_like_text(&bytes) {
        let text = String::from_utf8(bytes).map_err(|_| {
            invalid(
                name,
                InvalidReason::BadMagic,
                "not a WebAssembly binary and not UTF-8 text",
            )
        })?;
        // A byte-order mark is not part of the text format.
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let binary = parse_wat(name, text)?;
        let (binary, kind, _) = classify(name, binary)?;
        return Ok((binary, kind, true));
    }
    let magic: String = bytes.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let what = match describe_magic(&bytes) {
        Some(what) => format!(" — this looks like {what}"),
        None => String::new(),
    };
    Err(invalid(
        name,
        InvalidReason::BadMagic,
        format!("not a WebAssembly binary (bad magic bytes {magic}{what})"),
    ))
}

/// Heuristic: WAT starts (after whitespace and comments) with `(`.
pub(super) fn looks_like_text(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(&bytes[..bytes.len().min(4096)]).or_else(|e| {
        // A multi-byte character cut by the 4 KiB window is still text.
        std::str::from_utf8(&bytes[..e.valid_up_to()])
    }) else {
        return false;
    };
    let mut rest = text.trim_start_matches('\u{feff}');
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix(";;") {
            rest = r.split_once('\n').map_or("", |(_, after)| after);
        } else if rest.starts_with("(;") {
            match rest.find(";)") {
                Some(i) => rest = &rest[i + 2..],
                None => return true,
            }
        } else {
            return rest.starts_with('(');
        }
    }
}

fn parse_wat(name: &str, text: &str) -> Result<Vec<u8>> {
    let fail = |e: wast::Error| {
        let offset = e.span().offset();
        let (line, column) = line_col(text, offset);
        invalid(
            name,
            InvalidReason::Text {
                line: Some(line),
                column: Some(column),
            },
            format!("text format error at {line}:{column}: {}", e.message()),
        )
    };
    let buf = wast::parser::ParseBuffer::new(text).map_err(fail)?;
    let mut wat: wast::Wat<'_> = wast::parser::parse(&buf).map_err(fail)?;
    wat.encode().map_err(fail)
}

pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The error for a source that ends inside the 8-byte header.
fn short_header(name: &str, len: usize) -> crate::error::Error {
    invalid(
        name,
        InvalidReason::Truncated { offset: len },
        format!("truncated: {len} bytes, but the header alone is 8"),
    )
}

/// Common non-wasm formats: the first bytes each may start with, and its
/// name.
const FORMATS: &[(&[&[u8]], &str)] = &[
    (&[b"\x7fELF"], "an ELF executable"),
    (&[b"MZ"], "a Windows PE executable"),
    (
        &[
            b"\xcf\xfa\xed\xfe",
            b"\xce\xfa\xed\xfe",
            b"\xca\xfe\xba\xbe",
        ],
        "a Mach-O executable or a Java class file",
    ),
    (&[b"PK\x03\x04", b"PK\x05\x06"], "a zip archive (or a jar)"),
    (&[b"\x1f\x8b"], "a gzip archive"),
    (&[b"\x28\xb5\x2f\xfd"], "a zstd archive"),
    (&[b"BZh"], "a bzip2 archive"),
    (&[b"\xfd7zXZ"], "an xz archive"),
    (&[b"%PDF"], "a PDF document"),
    (&[b"\x89PNG"], "a PNG image"),
    (&[b"#!"], "a script"),
    (&[b"{", b"["], "JSON"),
];

/// Names common non-wasm formats from their first bytes.
fn describe_magic(bytes: &[u8]) -> Option<&'static str> {
    if let Some((_, name)) = FORMATS
        .iter()
        .find(|(magics, _)| magics.iter().any(|m| bytes.starts_with(m)))
    {
        Some(name)
    } else if bytes.len() >= 262 && &bytes[257..262] == b"ustar" {
        Some("a tar archive")
    } else if std::str::from_utf8(&bytes[..bytes.len().min(512)]).is_ok() {
        Some("text, but not WebAssembly text (which starts with `(`)")
    } else {
        None
    }
}
