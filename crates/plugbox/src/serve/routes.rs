//! Where a request goes: the server's own paths (`/healthz`, `/metrics`,
//! `/v1/plugins/...`) first, then the `wasi:http` component mounted at the
//! longest route that matches the path.

use super::body::{Body, BodyState, Limited, full};
use super::server::Shared;
use super::status::Failure;
use crate::error::{Error, Result};
use crate::manage::PluginManager;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use std::collections::BTreeMap;

/// Paths the server answers itself; no route may shadow them.
pub(super) const RESERVED: [&str; 3] = ["/healthz", "/metrics", "/v1/plugins"];

/// What answers a request.
pub(super) enum Route {
    Healthz,
    Metrics,
    List,
    Describe(String),
    Call { plugin: String, func: String },
    Mounted(String),
    Failed(Failure),
}

impl Route {
    /// The handler, as a metrics label.
    pub(super) fn handler(&self) -> &'static str {
        match self {
            Self::Healthz => "healthz",
            Self::Metrics => "metrics",
            Self::List | Self::Describe(_) => "plugins",
            Self::Call { .. } => "call",
            Self::Mounted(_) => "http",
            Self::Failed(_) => "none",
        }
    }

    /// The plugin that answers, if one does.
    pub(super) fn plugin(&self) -> Option<&str> {
        match self {
            Self::Describe(p) | Self::Call { plugin: p, .. } | Self::Mounted(p) => Some(p),
            _ => None,
        }
    }
}

/// The mounted `wasi:http` components: route prefix → plugin name.
#[derive(Debug, Clone, Default)]
pub(super) struct Mounts {
    /// Longest prefix first.
    routes: Vec<(String, String)>,
}

impl Mounts {
    /// Every `wasi:http` component of `manager` at its route (its spec's,
    /// else `/NAME`), `explicit` ones (plugin → route) over those. Each
    /// route, derived or given, goes through the same checks
    /// ([`check_mount`]).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when two plugins
    /// share a route, a route is not a valid path prefix or shadows one
    /// of the server's own paths (for a route derived from a plugin's
    /// name: saying to set an explicit one), and
    /// [`ErrorKind::ExportNotFound`](crate::ErrorKind::ExportNotFound) for
    /// a route on a plugin that is not a `wasi:http` component.
    pub(super) fn of(manager: &PluginManager, explicit: &BTreeMap<String, String>) -> Result<Self> {
        let mut by_route: BTreeMap<String, String> = BTreeMap::new();
        for info in manager.list() {
            let route = match explicit.get(&info.name).or(info.route.as_ref()) {
                Some(route) => {
                    check_mount(manager, &info.name, route)?;
                    route.clone()
                }
                None if info.http_handler => {
                    let derived = format!("/{}", info.name);
                    check_mount(manager, &info.name, &derived).map_err(|e| {
                        e.context(format!(
                            "cannot mount plugin `{}` at `{derived}` (the route derived from its name; set an explicit `route`)",
                            info.name
                        ))
                    })?;
                    derived
                }
                None => continue,
            };
            if let Some(other) = by_route.insert(route.clone(), info.name.clone()) {
                return Err(Error::config(format!(
                    "plugins `{other}` and `{}` are both mounted at `{route}`",
                    info.name
                )));
            }
        }
        let mut routes: Vec<(String, String)> = by_route.into_iter().collect();
        routes.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        Ok(Self { routes })
    }

    /// Tells the manager where each plugin is mounted, so a reload keeps
    /// a mounted plugin a `wasi:http` component.
    pub(super) fn pin(&self, manager: &PluginManager) {
        for (route, plugin) in &self.routes {
            // Unloaded since: nothing to pin.
            let _ = manager.mounted_at(plugin, route);
        }
    }

    /// The plugin mounted at the longest route matching `path`.
    fn find(&self, path: &str) -> Option<&str> {
        self.routes
            .iter()
            .find(|(prefix, _)| matches_prefix(path, prefix))
            .map(|(_, name)| name.as_str())
    }

    /// Route and plugin, longest route first.
    pub(super) fn list(&self) -> &[(String, String)] {
        &self.routes
    }

    /// The route of `plugin`, if it is mounted.
    pub(super) fn route_of(&self, plugin: &str) -> Option<&str> {
        self.routes
            .iter()
            .find(|(_, name)| name == plugin)
            .map(|(route, _)| route.as_str())
    }
}

/// The checks of a mount, whether its route is given or derived: a valid
/// path prefix ([`check_route`](crate::config::check_route)), none of the
/// server's own paths, and a plugin that is a `wasi:http` component.
fn check_mount(manager: &PluginManager, plugin: &str, route: &str) -> Result<()> {
    crate::config::check_route(route)?;
    if let Some(reserved) = RESERVED
        .iter()
        .find(|r| route == **r || matches_prefix(route, r))
    {
        return Err(Error::config(format!(
            "invalid route `{route}` of plugin `{plugin}`: `{reserved}` is the server's own"
        )));
    }
    manager.plugin(plugin)?.check_serves_http(route)
}

/// Whether `path` is `prefix` or below it (whole segments).
fn matches_prefix(path: &str, prefix: &str) -> bool {
    prefix == "/"
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Routes a request by method and path.
pub(super) fn route(shared: &Shared, method: &Method, path: &str) -> Route {
    let read = matches!(*method, Method::GET | Method::HEAD);
    let only = |allowed: &str, route: Route| {
        if (allowed == "GET" && read) || method.as_str() == allowed {
            route
        } else {
            Route::Failed(Failure::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("`{path}` answers {allowed} only, not {method}"),
            ))
        }
    };
    match path {
        "/healthz" => return only("GET", Route::Healthz),
        "/metrics" => return only("GET", Route::Metrics),
        "/v1/plugins" | "/v1/plugins/" => return only("GET", Route::List),
        _ => {}
    }
    if let Some(rest) = path.strip_prefix("/v1/plugins/") {
        let (name, func) = match rest.split_once('/') {
            Some((name, func)) => (decode(name), Some(decode(func))),
            None => (decode(rest), None),
        };
        return match (name, func) {
            (Ok(name), None) => only("GET", Route::Describe(name)),
            (Ok(plugin), Some(Ok(func))) if !func.is_empty() => {
                only("POST", Route::Call { plugin, func })
            }
            (Ok(_), Some(Ok(_))) => Route::Failed(Failure::not_found(path)),
            (Err(e), _) | (_, Some(Err(e))) => {
                Route::Failed(Failure::new(StatusCode::BAD_REQUEST, "invalid_argument", e))
            }
        };
    }
    match shared.mounts.load().find(path) {
        Some(plugin) => Route::Mounted(plugin.to_string()),
        None => Route::Failed(Failure::not_found(path)),
    }
}

/// Percent-decodes one path segment (a function named `iface#f` is
/// written `iface%23f`).
fn decode(segment: &str) -> std::result::Result<String, String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("invalid percent-encoding in `{segment}`"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("`{segment}` does not decode to UTF-8"))
}

pub(super) fn healthz() -> Response<Body> {
    json(StatusCode::OK, &serde_json::json!({ "status": "ok" }))
}

pub(super) fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(full(value.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

/// A request for a mounted `wasi:http` component.
pub(super) async fn proxy(
    shared: &Shared,
    plugin: &str,
    mut request: Request<Limited>,
    body: &BodyState,
) -> Response<Body> {
    // The guest needs an authority: an HTTP/1.0 request may come without.
    if request.uri().authority().is_none() && !request.headers().contains_key(header::HOST) {
        let host = header::HeaderValue::from_str(&shared.local_addr.to_string())
            .unwrap_or_else(|_| header::HeaderValue::from_static("localhost"));
        request.headers_mut().insert(header::HOST, host);
    }
    let result = shared.manager.handle_http(plugin, request).await;
    // Whatever the guest made of it, a request whose body was cut off at
    // max-body, or could not be read, gets the server's answer.
    if body.too_large() {
        return Failure::body_too_large(shared.config.get_max_body().unwrap_or(u64::MAX))
            .response();
    }
    if let Some(why) = body.failed() {
        return Failure::new(StatusCode::BAD_REQUEST, "invalid_argument", why).response();
    }
    match result {
        Ok(response) => response.map(|b| {
            b.map_err(|code| format!("the guest's response body failed: {code:?}").into())
                .boxed_unsync()
        }),
        Err(e) => {
            tracing::debug!(plugin, error = %format!("{e:#}"), "wasi:http request failed");
            Failure::of(&e).response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_whole_segments() {
        assert!(matches_prefix("/api", "/api"));
        assert!(matches_prefix("/api/x", "/api"));
        assert!(!matches_prefix("/apix", "/api"));
        assert!(matches_prefix("/anything", "/"));
    }

    #[test]
    fn segments_are_percent_decoded() {
        assert_eq!(decode("my:pkg%2Fiface%23f").unwrap(), "my:pkg/iface#f");
        assert!(decode("%zz").unwrap_err().contains("`%zz`"));
    }
}
