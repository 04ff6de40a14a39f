//! Outbound HTTP grants (`allow-host`): which hosts a `wasi:http` guest may
//! send requests to, and which addresses count as private.
//!
//! A grant is a host name (`example.org`), a wildcard over its subdomains
//! (`*.example.org`), `*` for any host, or an IP literal (`127.0.0.1`,
//! `[::1]`), each optionally with a port (`example.org:8443`). A grant that
//! names one host exactly lets requests reach whatever that host resolves
//! to; a wildcard grant reaches public addresses only, so loopback and
//! private networks stay closed unless a grant names them.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// One `allow-host` grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    host: HostMatch,
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostMatch {
    /// Any host (`*`): public addresses only.
    Any,
    /// `*.suffix`: subdomains of `suffix` (not `suffix` itself), public
    /// addresses only.
    Subdomains(String),
    /// One host name, lowercase, without a trailing dot.
    Name(String),
    /// One IP address.
    Ip(IpAddr),
}

impl HostPattern {
    /// Parses `HOST[:PORT]`, `*.DOMAIN[:PORT]`, `*[:PORT]`, `IP` or
    /// `[IPV6][:PORT]`.
    ///
    /// # Errors
    ///
    /// A message naming the grant when it is not one of these forms.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("invalid host `{text}`: {why}");
        let text_trim = text.trim();
        if text_trim.is_empty() {
            return Err(bad("empty"));
        }
        if text_trim.contains("://") || text_trim.contains('/') {
            return Err(bad("give a host name, not a URL (`example.org`)"));
        }
        // A bare IPv6 address has colons but no port.
        if let Ok(ip) = text_trim.parse::<Ipv6Addr>() {
            return Ok(Self {
                host: HostMatch::Ip(IpAddr::V6(ip)),
                port: None,
            });
        }
        let (host, port) = split_port(text_trim).map_err(|why| bad(&why))?;
        let host = host.to_ascii_lowercase();
        let host = if host == "*" {
            HostMatch::Any
        } else if let Some(suffix) = host.strip_prefix("*.") {
            let suffix = suffix.strip_suffix('.').unwrap_or(suffix);
            check_name(suffix).map_err(|why| bad(&why))?;
            HostMatch::Subdomains(suffix.to_string())
        } else if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            let ip = v6
                .parse::<Ipv6Addr>()
                .map_err(|_| bad("not an IPv6 address in brackets"))?;
            HostMatch::Ip(IpAddr::V6(ip))
        } else if let Ok(ip) = host.parse::<Ipv4Addr>() {
            HostMatch::Ip(IpAddr::V4(ip))
        } else {
            if host.contains('*') {
                return Err(bad("a wildcard is `*` or a leading `*.` only"));
            }
            let name = host.strip_suffix('.').unwrap_or(&host);
            check_name(name).map_err(|why| bad(&why))?;
            HostMatch::Name(name.to_string())
        };
        Ok(Self { host, port })
    }

    /// Whether a request to `host` (as written in the URL: a name or an IP
    /// literal, IPv6 in brackets or not) on `port` is granted.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        if self.port.is_some_and(|p| p != port) {
            return false;
        }
        let host = normalise(host);
        match &self.host {
            HostMatch::Any => true,
            HostMatch::Subdomains(suffix) => host
                .strip_suffix(suffix.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
            HostMatch::Name(name) => host == *name,
            HostMatch::Ip(ip) => parse_ip(&host) == Some(*ip),
        }
    }

    /// Whether this grant names one host exactly (a name or an address):
    /// only such a grant opens loopback and private addresses.
    pub fn is_exact(&self) -> bool {
        matches!(self.host, HostMatch::Name(_) | HostMatch::Ip(_))
    }
}

/// A host as written in a URL, lowercase, without brackets or a trailing
/// dot.
fn normalise(host: &str) -> String {
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// An IP literal (IPv6 with or without brackets).
pub(crate) fn parse_ip(host: &str) -> Option<IpAddr> {
    normalise(host).parse().ok()
}

fn split_port(text: &str) -> Result<(&str, Option<u16>), String> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        match rest.split_once(']') {
            Some((_, "")) => (text, None),
            Some((_, tail)) => match tail.strip_prefix(':') {
                Some(port) => (&text[..text.len() - port.len() - 1], Some(port)),
                None => return Err("expected `:PORT` after `]`".into()),
            },
            None => return Err("missing `]`".into()),
        }
    } else {
        match text.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => Some(n),
            _ => return Err(format!("invalid port `{p}`")),
        },
    };
    Ok((host, port))
}

fn check_name(name: &str) -> Result<(), String> {
    let ok_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if name.len() > 253 || !name.split('.').all(ok_label) {
        return Err("not a host name".into());
    }
    Ok(())
}

impl FromStr for HostPattern {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(s)
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            HostMatch::Any => f.write_str("*")?,
            HostMatch::Subdomains(s) => write!(f, "*.{s}")?,
            HostMatch::Name(n) => f.write_str(n)?,
            HostMatch::Ip(IpAddr::V4(ip)) => write!(f, "{ip}")?,
            HostMatch::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]")?,
        }
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

impl Serialize for HostPattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HostPattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Whether `ip` is a public unicast address: not loopback, private,
/// link-local, shared (CGNAT), unspecified, broadcast, multicast,
/// documentation, benchmarking or reserved, nor an IPv6 address that
/// embeds one of those (IPv4-mapped, IPv4-compatible, NAT64, 6to4).
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    // IPv4-compatible (deprecated) ::a.b.c.d, NAT64 64:ff9b::/96 and 6to4
    // 2002::/16 carry an IPv4 address that decides.
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    if s[..6] == [0; 6] && !ip.is_unspecified() && !ip.is_loopback() {
        return is_public_v4(embedded(s[6], s[7]));
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_public_v4(embedded(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return is_public_v4(embedded(s[1], s[2]));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0])) // discard-only
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> HostPattern {
        HostPattern::parse(s).unwrap()
    }

    #[test]
    fn patterns_match_hosts_and_ports() {
        assert!(p("example.org").matches("Example.ORG.", 443));
        assert!(!p("example.org").matches("www.example.org", 443));
        assert!(p("*.example.org").matches("www.example.org", 80));
        assert!(p("*.example.org").matches("a.b.example.org", 80));
        assert!(!p("*.example.org").matches("example.org", 80));
        assert!(!p("*.example.org").matches("badexample.org", 80));
        assert!(p("*").matches("anything.test", 1));
        assert!(p("127.0.0.1:8080").matches("127.0.0.1", 8080));
        assert!(!p("127.0.0.1:8080").matches("127.0.0.1", 8081));
        assert!(p("[::1]").matches("[::1]", 80));
        assert!(p("::1").matches("::1", 80));
        assert!(p("[::1]:81").matches("::1", 81));
        assert_eq!(p("[::1]:81").to_string(), "[::1]:81");
        assert!(p("localhost").is_exact() && !p("*.x.org").is_exact() && !p("*").is_exact());
    }

    #[test]
    fn bad_patterns_are_refused_naming_them() {
        for bad in [
            "",
            "http://example.org",
            "example.org/x",
            "ex*ample.org",
            "example.org:0",
            "example.org:99999",
            "[::1",
            "*.",
            "a..b",
        ] {
            let err = HostPattern::parse(bad).unwrap_err();
            assert!(err.contains(&format!("`{bad}`")), "{err}");
        }
    }

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:1.1.1.1",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }
}
