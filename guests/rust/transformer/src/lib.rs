//! Example plugin: takes a JSON object, renames its keys with the prefix
//! from the `prefix` config value, adds `"seen"`: how many objects this
//! plugin has transformed (kept in its key-value store), and returns it.

use serde_json::{Map, Value};

struct Transformer;

impl plugbox_sdk::Guest for Transformer {
    fn handle(input: String) -> Result<String, String> {
        let value: Value = serde_json::from_str(&input).map_err(|e| format!("input is not JSON: {e}"))?;
        let Value::Object(object) = value else {
            return Err("input must be a JSON object".into());
        };
        let prefix = plugbox_sdk::config::get("prefix").unwrap_or_default();
        let seen = plugbox_sdk::kv::get("seen")
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0)
            + 1;
        plugbox_sdk::kv::set("seen", seen.to_string().as_bytes())?;
        let mut out: Map<String, Value> = object.into_iter().map(|(k, v)| (format!("{prefix}{k}"), v)).collect();
        out.insert("seen".into(), Value::from(seen));
        Ok(Value::Object(out).to_string())
    }
}

plugbox_sdk::export_plugin!(Transformer);
