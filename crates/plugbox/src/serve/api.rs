//! The JSON API over the manager's plugins: list them with their exports
//! and signatures, and call a function with a JSON array of arguments.

use super::body::{Body, BodyError, Limited};
use super::routes::json;
use super::server::Shared;
use super::status::Failure;
use crate::manage::PluginInfo;
use http::{Request, Response, StatusCode};
use serde_json::{Value, json};

/// `GET /v1/plugins`: every plugin.
pub(super) fn list(shared: &Shared) -> Response<Body> {
    let plugins: Vec<Value> = shared
        .manager
        .list()
        .iter()
        .map(|info| describe_one(shared, info))
        .collect();
    json(StatusCode::OK, &json!({ "plugins": plugins }))
}

/// `GET /v1/plugins/{name}`: one plugin.
pub(super) fn describe(shared: &Shared, name: &str) -> Response<Body> {
    if let Err(e) = shared.manager.plugin(name) {
        return Failure::of(&e).response();
    }
    match shared.manager.list().iter().find(|i| i.name == name) {
        Some(info) => json(StatusCode::OK, &describe_one(shared, info)),
        // Unloaded just now.
        None => Failure::not_found(&format!("/v1/plugins/{name}")).response(),
    }
}

fn describe_one(shared: &Shared, info: &PluginInfo) -> Value {
    let plugin = shared.manager.plugin(&info.name).ok();
    let exports: Vec<Value> = info
        .functions
        .iter()
        .map(|f| {
            let signature = plugin.as_ref().and_then(|p| p.signature(f).ok());
            json!({ "name": f, "signature": signature })
        })
        .collect();
    let kind = match &plugin {
        Some(p) if p.is_component() => "component",
        Some(_) => "module",
        None => "unknown",
    };
    json!({
        "name": info.name,
        "kind": kind,
        "mode": info.mode,
        "version": info.version,
        "sha256": info.sha256,
        "http": info.http_handler,
        "route": shared.mounts.load().route_of(&info.name),
        "exports": exports,
    })
}

/// `POST /v1/plugins/{name}/{func}`: the body is a JSON array of
/// arguments (an empty body: none); the answer the JSON array of results.
/// The body is checked against the function's parameters while it is
/// parsed ([`Plugin::parse_json_args`](crate::Plugin::parse_json_args)),
/// so a body of many elements or deep nesting is refused before it costs
/// more than a small multiple of its size.
pub(super) async fn call(
    shared: &Shared,
    plugin: &str,
    func: &str,
    request: Request<Limited>,
) -> Response<Body> {
    let loaded = match shared.manager.plugin(plugin) {
        Ok(loaded) => loaded,
        Err(e) => return Failure::of(&e).response(),
    };
    let bytes = match request.into_body().collect().await {
        Ok(bytes) => bytes,
        Err(BodyError::TooLarge(max)) => return Failure::body_too_large(max).response(),
        Err(e) => {
            return Failure::new(StatusCode::BAD_REQUEST, "invalid_argument", e.to_string())
                .response();
        }
    };
    let args = match loaded.parse_json_args(func, &bytes) {
        Ok(args) => args,
        Err(e) => return Failure::of(&e).response(),
    };
    drop((bytes, loaded));
    match shared.manager.call_json_async(plugin, func, &args).await {
        Ok(results) => json(StatusCode::OK, &Value::Array(results)),
        Err(e) => Failure::of(&e).response(),
    }
}
