//! Module-controlled text made safe to print. Names of imports, exports,
//! custom sections and functions come from the module: printed raw, an
//! escape sequence could rewrite the operator's terminal, a newline could
//! fake a line of output, a bidi override could disguise a name.

use std::borrow::Cow;
use std::fmt::Write;

/// `text` with control characters (ESC, CR, LF, NUL, ...) and invisible or
/// direction-changing format characters written as `\u{..}` escapes.
/// Printable text comes back unchanged (and unallocated).
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_could_rewrite_a_terminal() {
        assert_eq!(printable("add"), "add");
        assert!(matches!(printable("add"), Cow::Borrowed(_)));
        assert_eq!(printable("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(printable("x\r\ny\0"), "x\\u{d}\\u{a}y\\u{0}");
        assert_eq!(printable("evil\u{202e}txt"), "evil\\u{202e}txt");
        assert_eq!(printable("héllo ünïcode"), "héllo ünïcode");
    }
}
