//! Which HTTP status a failure gets, and its JSON body.

use super::body::{Body, full};
use crate::error::{Error, ErrorKind, TrapKind};
use crate::manage::kind_label;
use http::{Response, StatusCode, header};

/// The status of a request that failed with an error of `kind`:
///
/// | kind | status |
/// | --- | --- |
/// | `invalid_argument`, `signature_mismatch` | 400 Bad Request |
/// | `plugin_not_found`, `export_not_found` | 404 Not Found |
/// | `busy` (the plugin's `max-concurrency`, or the instance pool) | 429 Too Many Requests |
/// | `trap.timeout` (the plugin's `timeout`) | 504 Gateway Timeout |
/// | `trap.cancelled` | 503 Service Unavailable |
/// | `trap.out_of_fuel`, `trap.stack_overflow`, `resource_limit` | 422 Unprocessable Content |
/// | any other trap, `exit`, and the rest | 500 Internal Server Error |
pub fn status_for(kind: &ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidArgument | ErrorKind::SignatureMismatch { .. } => StatusCode::BAD_REQUEST,
        ErrorKind::PluginNotFound(_) | ErrorKind::ExportNotFound { .. } => StatusCode::NOT_FOUND,
        ErrorKind::Busy => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Trap(TrapKind::Timeout) => StatusCode::GATEWAY_TIMEOUT,
        ErrorKind::Trap(TrapKind::Cancelled) => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Trap(TrapKind::OutOfFuel | TrapKind::StackOverflow)
        | ErrorKind::ResourceLimit(_) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A request that failed: its status, the error's kind and message.
#[derive(Debug)]
pub(super) struct Failure {
    pub(super) status: StatusCode,
    pub(super) kind: String,
    pub(super) message: String,
}

impl Failure {
    pub(super) fn new(status: StatusCode, kind: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind: kind.to_string(),
            message: message.into(),
        }
    }

    /// The failure of a plugin call, by the table of [`status_for`]. A
    /// request's own fault (a 4xx) or a limit it ran into is explained to
    /// the client; an internal failure (500) gets a generic message from
    /// its kind, and its full error — which may name a host path, a
    /// backend's address, a guest's backtrace — goes to the log only.
    pub(super) fn of(err: &Error) -> Self {
        let status = status_for(err.kind());
        let kind = kind_label(err.kind());
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::warn!(kind = %kind, error = %format!("{err:#}"), "request failed");
            generic_message(err.kind(), &kind)
        } else {
            format!("{err:#}")
        };
        Self {
            status,
            kind,
            message,
        }
    }

    pub(super) fn not_found(path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("nothing is served at `{path}`"),
        )
    }

    pub(super) fn body_too_large(max: u64) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!(
                "the request body is larger than max-body ({})",
                crate::units::format_size(max)
            ),
        )
    }

    /// The JSON response: `{"error": {"kind": ..., "message": ...}}`.
    pub(super) fn response(&self) -> Response<Body> {
        let body = serde_json::json!({
            "error": { "kind": self.kind, "message": self.message }
        });
        let mut response = Response::new(full(body.to_string()));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
        if matches!(
            self.status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        ) {
            headers.insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        response
    }
}

/// What a client is told of an internal failure: its kind, nothing of the
/// host.
fn generic_message(kind: &ErrorKind, label: &str) -> String {
    match kind {
        ErrorKind::Trap(_) => {
            format!("the plugin trapped ({label}); the server's log has the details")
        }
        ErrorKind::Exit(code) => format!("the plugin exited with code {code}"),
        _ => format!("the call failed ({label}); the server's log has the details"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Limit;

    #[test]
    fn statuses_follow_the_table() {
        let cases = [
            (ErrorKind::InvalidArgument, 400),
            (ErrorKind::PluginNotFound("p".into()), 404),
            (ErrorKind::ExportNotFound { name: "f".into() }, 404),
            (ErrorKind::Busy, 429),
            (ErrorKind::Trap(TrapKind::Timeout), 504),
            (ErrorKind::Trap(TrapKind::OutOfFuel), 422),
            (ErrorKind::Trap(TrapKind::StackOverflow), 422),
            (
                ErrorKind::ResourceLimit(Limit::Memory {
                    requested: 2,
                    allowed: 1,
                }),
                422,
            ),
            (ErrorKind::Trap(TrapKind::Unreachable), 500),
            (ErrorKind::Exit(3), 500),
        ];
        for (kind, status) in cases {
            assert_eq!(status_for(&kind).as_u16(), status, "{kind:?}");
        }
    }

    #[test]
    fn internal_failures_say_their_kind_and_nothing_of_the_host() {
        let err = Error::new(
            ErrorKind::Io,
            "cannot open `/var/lib/secret/kv.sqlite3`: permission denied",
        )
        .context("connecting to redis://10.1.2.3:6379/0");
        let failure = Failure::of(&err);
        assert_eq!(failure.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(failure.kind, "io");
        assert_eq!(
            failure.message,
            "the call failed (io); the server's log has the details"
        );
        // A request's own fault is explained.
        let err = Error::invalid_argument("`add` takes 2 arguments");
        assert_eq!(Failure::of(&err).message, "`add` takes 2 arguments");
    }
}
