//! Label values escaped as OpenMetrics requires: prometheus-client 0.24
//! writes a label value as it is, so a `"` or a newline in a plugin's name
//! would end the value and let the rest pose as lines of its own.

use prometheus_client::encoding::{EncodeLabelValue, LabelValueEncoder};
use std::fmt::Write;

/// A label value, written with `\` as `\\`, `"` as `\"` and a newline as
/// `\n` (the OpenMetrics text format's escapes), whatever it holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct LabelValue(pub(crate) String);

impl From<&str> for LabelValue {
    fn from(value: &str) -> Self {
        Self(value.to_string())
    }
}

impl EncodeLabelValue for LabelValue {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        escape(&self.0, encoder)
    }
}

/// Writes `value` into `out` with the OpenMetrics label value escapes.
pub(crate) fn escape(value: &str, out: &mut impl Write) -> std::fmt::Result {
    let mut rest = value;
    while let Some(at) = rest.find(['\\', '"', '\n']) {
        out.write_str(&rest[..at])?;
        out.write_str(match rest.as_bytes()[at] {
            b'\\' => r"\\",
            b'"' => r#"\""#,
            _ => r"\n",
        })?;
        rest = &rest[at + 1..];
    }
    out.write_str(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(value: &str) -> String {
        let mut out = String::new();
        escape(value, &mut out).unwrap();
        out
    }

    #[test]
    fn backslash_quote_and_newline_are_escaped() {
        assert_eq!(escaped("plain-name"), "plain-name");
        assert_eq!(escaped(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escaped("a\nb"), r"a\nb");
        assert_eq!(
            escaped("x\"} 1\nplugbox_injected_total 12345\n# {\""),
            r#"x\"} 1\nplugbox_injected_total 12345\n# {\""#
        );
        assert_eq!(escaped("é\"ü"), "é\\\"ü");
    }
}
