//! The HTTP server's own settings (`[server]` in a manifest, the flags of
//! `plugbox serve`): where it listens and the limits that keep one client
//! from taking it down or starving the others.

use super::value::{OrNone, check_duration, merge_fields, serde_units};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Default listening address: `127.0.0.1:8080` (loopback only; give
/// `0.0.0.0:8080` to serve other machines).
pub const DEFAULT_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);
/// Default cap on a request body: 16 MiB.
pub const DEFAULT_MAX_BODY: u64 = 16 << 20;
/// Default cap on a request's head (request line and headers): 64 KiB.
pub const DEFAULT_MAX_HEADER_SIZE: u64 = 64 << 10;
/// Default time one request may take, body included: 60 s.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Default cap on requests being handled at once: 1024.
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: u32 = 1024;
/// Default cap on open connections: 1024.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 1024;
/// Default time a connection may stay open with no request: 30 s.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time allowed to receive a request's head: 10 s.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time requests in flight get to finish after a shutdown signal:
/// 30 s.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// Shortest `request-timeout`: 100 ms. The timeout covers reading the
/// body and sending the response; below a tenth of a second one round
/// trip to a distant client (150–300 ms between continents) is enough to
/// fail a healthy request, and at the extreme (`1ns`) every request fails
/// before its handler runs.
pub const MIN_REQUEST_TIMEOUT: Duration = Duration::from_millis(100);
/// Shortest `idle-timeout`: 1 s. A new connection is idle from its accept
/// until its first request's first byte, and a kept-alive one between its
/// client's requests: shorter than a second, connections are closed under
/// clients that are about to use them (at `1ns`, every connection is
/// closed unread).
pub const MIN_IDLE_TIMEOUT: Duration = Duration::from_secs(1);
/// Shortest `header-read-timeout`: 100 ms. A head larger than the first
/// TCP window needs a round trip per window; below a tenth of a second the
/// heads of distant clients are cut off, and at the extreme every request
/// is (a slow client is what this timeout is for, and 100 ms still stops
/// one that sends its head byte by byte).
pub const MIN_HEADER_READ_TIMEOUT: Duration = Duration::from_millis(100);

/// The settings of `plugbox serve`.
///
/// ```
/// use plugbox::ServerConfig;
/// use std::time::Duration;
/// let server = ServerConfig::new().max_body(1 << 20).request_timeout(Duration::from_secs(5));
/// assert_eq!(server.get_max_body(), Some(1 << 20));
/// assert_eq!(server.get_max_connections(), 1024);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[cfg_attr(feature = "cli", command(next_help_heading = "Server"))]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct ServerConfig {
    /// Address to listen on (port 0: any free port, printed at start) [default: 127.0.0.1:8080]
    #[cfg_attr(feature = "cli", arg(long, value_name = "ADDR"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    addr: Option<SocketAddr>,

    /// Largest request body; a larger one gets 413, or `none` [default: 16MiB]
    #[cfg_attr(feature = "cli", arg(long, value_name = "SIZE", value_parser = super::value::parse_or_none::<u64>))]
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "serde_units::de_or_none::<_, u64>",
        serialize_with = "serde_units::ser_or_none::<_, u64>"
    )]
    max_body: Option<OrNone<u64>>,

    /// Largest request head (request line and headers); a larger one gets 431 [default: 64KiB]
    #[cfg_attr(feature = "cli", arg(long, value_name = "SIZE", value_parser = super::value::parse_unit::<u64>))]
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "serde_units::de_opt::<_, u64>",
        serialize_with = "serde_units::ser_opt::<_, u64>"
    )]
    max_header_size: Option<u64>,

    /// Time one request may take, reading its body and sending the response included, at least 100ms, or `none` [default: 60s]
    #[cfg_attr(feature = "cli", arg(long, value_name = "DURATION", value_parser = super::value::parse_or_none::<Duration>))]
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "serde_units::de_or_none::<_, Duration>",
        serialize_with = "serde_units::ser_or_none::<_, Duration>"
    )]
    request_timeout: Option<OrNone<Duration>>,

    /// Requests handled at once; more get 503 at once [default: 1024]
    #[cfg_attr(feature = "cli", arg(long, value_name = "N"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    max_concurrent_requests: Option<u32>,

    /// Open connections; past it the connection without a request for longest is closed for a new one [default: 1024]
    #[cfg_attr(feature = "cli", arg(long, value_name = "N"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    max_connections: Option<u32>,

    /// Time a connection may stay open with no request in flight and no request arriving, at least 1s [default: 30s]
    #[cfg_attr(feature = "cli", arg(long, value_name = "DURATION", value_parser = super::value::parse_unit::<Duration>))]
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "serde_units::de_opt::<_, Duration>",
        serialize_with = "serde_units::ser_opt::<_, Duration>"
    )]
    idle_timeout: Option<Duration>,

    /// Time allowed to receive a request's head, counted from its first byte, at least 100ms [default: 10s]
    #[cfg_attr(feature = "cli", arg(long, value_name = "DURATION", value_parser = super::value::parse_unit::<Duration>))]
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "serde_units::de_opt::<_, Duration>",
        serialize_with = "serde_units::ser_opt::<_, Duration>"
    )]
    header_read_timeout: Option<Duration>,

    /// Time requests in flight get to finish after SIGINT or SIGTERM [default: 30s]
    #[cfg_attr(feature = "cli", arg(long, value_name = "DURATION", value_parser = super::value::parse_unit::<Duration>))]
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "serde_units::de_opt::<_, Duration>",
        serialize_with = "serde_units::ser_opt::<_, Duration>"
    )]
    shutdown_timeout: Option<Duration>,

    /// Log one line per request (target `plugbox::access`, level info) [default: false]
    #[cfg_attr(
        feature = "cli",
        arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    access_log: Option<bool>,

    /// Reload a plugin when its file changes (SIGHUP reloads every plugin either way) [default: true]
    #[cfg_attr(
        feature = "cli",
        arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    watch: Option<bool>,
}

impl ServerConfig {
    /// The defaults (see each getter).
    pub fn new() -> Self {
        Self::default()
    }

    /// `self` with the settings `over` sets (flags over a manifest).
    #[must_use]
    pub fn merge(mut self, over: &Self) -> Self {
        let base = &mut self;
        merge_fields!(base, over;
            set: addr, max_body, max_header_size, request_timeout, max_concurrent_requests,
                 max_connections, idle_timeout, header_read_timeout, shutdown_timeout,
                 access_log, watch;
            lists: );
        self
    }

    /// Sets the listening address. Default: [`DEFAULT_ADDR`].
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = Some(addr);
        self
    }

    /// The listening address.
    pub fn get_addr(&self) -> SocketAddr {
        self.addr.unwrap_or(DEFAULT_ADDR)
    }

    /// Caps request bodies (`None`: no cap). Default: 16 MiB.
    pub fn max_body(mut self, bytes: impl Into<Option<u64>>) -> Self {
        self.max_body = Some(OrNone(bytes.into()));
        self
    }

    /// The body cap.
    pub fn get_max_body(&self) -> Option<u64> {
        self.max_body.map_or(Some(DEFAULT_MAX_BODY), |b| b.0)
    }

    /// Caps a request's head. Default: 64 KiB; at least 1 KiB.
    pub fn max_header_size(mut self, bytes: u64) -> Self {
        self.max_header_size = Some(bytes);
        self
    }

    /// The head cap.
    pub fn get_max_header_size(&self) -> u64 {
        self.max_header_size.unwrap_or(DEFAULT_MAX_HEADER_SIZE)
    }

    /// Bounds one request from its head to the end of its response
    /// (`None`: no bound). Default: 60 s; at least
    /// [`MIN_REQUEST_TIMEOUT`] (100 ms).
    pub fn request_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.request_timeout = Some(OrNone(timeout.into()));
        self
    }

    /// The request timeout.
    pub fn get_request_timeout(&self) -> Option<Duration> {
        self.request_timeout
            .map_or(Some(DEFAULT_REQUEST_TIMEOUT), |t| t.0)
    }

    /// Caps requests handled at once. Default: 1024.
    pub fn max_concurrent_requests(mut self, n: u32) -> Self {
        self.max_concurrent_requests = Some(n);
        self
    }

    /// The request cap.
    pub fn get_max_concurrent_requests(&self) -> u32 {
        self.max_concurrent_requests
            .unwrap_or(DEFAULT_MAX_CONCURRENT_REQUESTS)
    }

    /// Caps open connections. Default: 1024.
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = Some(n);
        self
    }

    /// The connection cap.
    pub fn get_max_connections(&self) -> u32 {
        self.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS)
    }

    /// Closes a connection idle this long. Default: 30 s; at least
    /// [`MIN_IDLE_TIMEOUT`] (1 s).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
    }

    /// The idle timeout.
    pub fn get_idle_timeout(&self) -> Duration {
        self.idle_timeout.unwrap_or(DEFAULT_IDLE_TIMEOUT)
    }

    /// Time allowed to receive a request's head. Default: 10 s; at least
    /// [`MIN_HEADER_READ_TIMEOUT`] (100 ms).
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = Some(timeout);
        self
    }

    /// The header read timeout.
    pub fn get_header_read_timeout(&self) -> Duration {
        self.header_read_timeout
            .unwrap_or(DEFAULT_HEADER_READ_TIMEOUT)
    }

    /// Time in-flight requests get after a shutdown signal. Default: 30 s;
    /// `0s` closes them at once.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = Some(timeout);
        self
    }

    /// The shutdown timeout.
    pub fn get_shutdown_timeout(&self) -> Duration {
        self.shutdown_timeout.unwrap_or(DEFAULT_SHUTDOWN_TIMEOUT)
    }

    /// Logs one line per request. Default: off.
    pub fn access_log(mut self, on: bool) -> Self {
        self.access_log = Some(on);
        self
    }

    /// Whether requests are logged.
    pub fn get_access_log(&self) -> bool {
        self.access_log.unwrap_or(false)
    }

    /// Reloads plugins whose files change. Default: on.
    pub fn watch(mut self, on: bool) -> Self {
        self.watch = Some(on);
        self
    }

    /// Whether plugin files are watched.
    pub fn get_watch(&self) -> bool {
        self.watch.unwrap_or(true)
    }

    /// Checks the values.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) naming the setting.
    pub fn check(&self) -> Result<()> {
        let positive = |key: &str, n: u32| {
            if n == 0 {
                Err(Error::config(format!(
                    "invalid {key} `0`: must be at least 1"
                )))
            } else {
                Ok(())
            }
        };
        positive(
            "max-concurrent-requests",
            self.get_max_concurrent_requests(),
        )?;
        positive("max-connections", self.get_max_connections())?;
        let size = self.get_max_header_size();
        if !(1024..=(16 << 20)).contains(&size) {
            return Err(Error::config(format!(
                "invalid max-header-size `{}`: must be 1KiB to 16MiB",
                crate::units::format_size(size)
            )));
        }
        // Each timeout with its lower bound: shorter ones fail healthy
        // clients (see the bounds' docs); shutdown-timeout may be zero, it
        // only decides how a stop treats requests in flight.
        let durations = [
            (
                "request-timeout",
                self.get_request_timeout(),
                MIN_REQUEST_TIMEOUT,
            ),
            (
                "idle-timeout",
                Some(self.get_idle_timeout()),
                MIN_IDLE_TIMEOUT,
            ),
            (
                "header-read-timeout",
                Some(self.get_header_read_timeout()),
                MIN_HEADER_READ_TIMEOUT,
            ),
            (
                "shutdown-timeout",
                Some(self.get_shutdown_timeout()),
                Duration::ZERO,
            ),
        ];
        for (key, d, min) in durations {
            let Some(d) = d else { continue };
            if d < min {
                return Err(Error::config(format!(
                    "invalid {key} `{}`: must be at least {}",
                    crate::units::format_duration(d),
                    crate::units::format_duration(min),
                )));
            }
            check_duration(key, d)?;
        }
        Ok(())
    }
}
