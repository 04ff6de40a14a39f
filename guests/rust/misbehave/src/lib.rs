//! A plugin that misbehaves on request: `spin` loops forever, `alloc`
//! allocates until refused, `panic` panics, `flood-kv` writes past the
//! key-value quota, `recurse` overflows the stack. Anything else is echoed.

struct Misbehave;

#[inline(never)]
fn recurse(n: u64) -> u64 {
    if n == 0 { 0 } else { 1 + std::hint::black_box(recurse(n - 1)) }
}

impl plugbox_sdk::Guest for Misbehave {
    fn handle(input: String) -> Result<String, String> {
        match input.as_str() {
            "spin" => loop {
                std::hint::black_box(());
            },
            "alloc" => {
                let mut hoard = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "panic" => panic!("asked to panic"),
            "flood-kv" => {
                let chunk = vec![0u8; 64 << 10];
                for i in 0.. {
                    plugbox_sdk::kv::set(&format!("k{i}"), &chunk)?;
                }
                unreachable!()
            }
            "recurse" => Ok(recurse(u64::MAX).to_string()),
            other => Ok(other.to_string()),
        }
    }
}

plugbox_sdk::export_plugin!(Misbehave);
