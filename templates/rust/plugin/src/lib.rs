//! {{name}}: a plugbox plugin. `handle("world")` returns `"hello, world"`;
//! the greeting comes from the host's `greeting` config value when set.

struct Plugin;

impl plugbox_sdk::Guest for Plugin {
    fn handle(input: String) -> Result<String, String> {
        if input.is_empty() {
            return Err("nobody to greet".into());
        }
        let greeting = plugbox_sdk::config::get("greeting").unwrap_or_else(|| "hello".into());
        plugbox_sdk::info(&format!("greeting {input}"));
        Ok(format!("{greeting}, {input}"))
    }
}

plugbox_sdk::export_plugin!(Plugin);
