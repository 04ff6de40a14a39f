//! Runs one `plugbox:plugin/kv` operation per call, named by the input's
//! first word; values are text. Replies `Ok(text)`, or `Err("KIND: why")`
//! for a kv error (`unavailable`, `quota-exceeded`, `invalid`,
//! `outcome-unknown`).
//!
//! `get K`, `set K V`, `del K`, `exists K`, `incr K DELTA`,
//! `cas K EXPECTED|- NEW` (`-`: expect it unset), `list CURSOR|- LIMIT`
//! (`keys;cursor`), `get-many K…` (`,`-separated, `-` for none),
//! `set-many K=V…`, `del-many K…`, `fill PREFIX SIZE` (writes until refused;
//! how many it wrote), and the first version's `legacy-get K`,
//! `legacy-set K V`, `legacy-del K`, `legacy-keys`; `ping` touches no
//! key (a call's cost without a kv operation).

use plugbox_sdk::kv;

struct KvProbe;

fn text(v: Option<Vec<u8>>) -> String {
    v.map_or("-".into(), |v| String::from_utf8_lossy(&v).into_owned())
}

fn why(e: kv::Error) -> String {
    match e {
        kv::Error::Unavailable(m) => format!("unavailable: {m}"),
        kv::Error::QuotaExceeded(m) => format!("quota-exceeded: {m}"),
        kv::Error::Invalid(m) => format!("invalid: {m}"),
        kv::Error::OutcomeUnknown(m) => format!("outcome-unknown: {m}"),
    }
}

fn arg<'a>(words: &[&'a str], i: usize) -> Result<&'a str, String> {
    words.get(i).copied().ok_or_else(|| format!("missing argument {i}"))
}

fn run(words: &[&str]) -> Result<String, kv::Error> {
    let a = |i| arg(words, i).map_err(kv::Error::Invalid);
    Ok(match words.first().copied().unwrap_or("") {
        "get" => text(kv::try_get(a(1)?)?),
        "set" => {
            kv::try_set(a(1)?, a(2)?.as_bytes())?;
            "ok".into()
        }
        "del" => kv::try_delete(a(1)?)?.to_string(),
        "exists" => kv::exists(a(1)?)?.to_string(),
        "incr" => {
            let delta = a(2)?.parse().map_err(|_| kv::Error::Invalid("bad delta".into()))?;
            kv::increment(a(1)?, delta)?.to_string()
        }
        "cas" => {
            let expected = match a(2)? {
                "-" => None,
                e => Some(e.as_bytes().to_vec()),
            };
            kv::compare_and_swap(a(1)?, expected.as_deref(), a(3)?.as_bytes())?.to_string()
        }
        "list" => {
            let cursor = match a(1)? {
                "-" => None,
                c => Some(c.parse().map_err(|_| kv::Error::Invalid("bad cursor".into()))?),
            };
            let limit = a(2)?.parse().map_err(|_| kv::Error::Invalid("bad limit".into()))?;
            let page = kv::list_keys(cursor, limit)?;
            let next = page.cursor.map_or("-".into(), |c| c.to_string());
            format!("{};{next}", page.keys.join(","))
        }
        "get-many" => {
            let keys: Vec<String> = words[1..].iter().map(|k| k.to_string()).collect();
            let values = kv::get_many(&keys)?;
            values.into_iter().map(text).collect::<Vec<_>>().join(",")
        }
        "set-many" => {
            let entries: Vec<(String, Vec<u8>)> = words[1..]
                .iter()
                .map(|e| {
                    let (k, v) = e.split_once('=').unwrap_or((e, ""));
                    (k.to_string(), v.as_bytes().to_vec())
                })
                .collect();
            kv::set_many(&entries)?;
            "ok".into()
        }
        "del-many" => {
            let keys: Vec<String> = words[1..].iter().map(|k| k.to_string()).collect();
            kv::delete_many(&keys)?.to_string()
        }
        "fill" => {
            let size = a(2)?.parse().map_err(|_| kv::Error::Invalid("bad size".into()))?;
            let value = vec![b'x'; size];
            let mut n = 0u32;
            loop {
                match kv::try_set(&format!("{}{n}", a(1)?), &value) {
                    Ok(()) => n += 1,
                    Err(kv::Error::QuotaExceeded(_)) => break n.to_string(),
                    Err(e) => return Err(e),
                }
            }
        }
        "ping" => "pong".into(),
        "legacy-get" => text(kv::get(a(1)?)),
        "legacy-set" => match kv::set(a(1)?, a(2)?.as_bytes()) {
            Ok(()) => "ok".into(),
            Err(e) => format!("refused: {e}"),
        },
        "legacy-del" => kv::delete(a(1)?).to_string(),
        "legacy-keys" => kv::keys().join(","),
        other => return Err(kv::Error::Invalid(format!("unknown operation `{other}`"))),
    })
}

impl plugbox_sdk::Guest for KvProbe {
    fn handle(input: String) -> Result<String, String> {
        let words: Vec<&str> = input.split(' ').collect();
        run(&words).map_err(why)
    }
}

plugbox_sdk::export_plugin!(KvProbe);
