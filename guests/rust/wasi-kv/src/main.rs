//! A WASI command that knows nothing of plugbox: it uses the standard
//! `wasi:keyvalue` interfaces (`store`, `atomics`, `batch`) as any host
//! that offers them provides them. One operation per run; values are text;
//! results on stdout; an error on stderr with exit status 1.
//!
//! `set K V`, `get K`, `del K`, `exists K`, `incr K DELTA`, `list`
//! (every key, through the cursor), `get-many K…`, `set-many K=V…`,
//! `del-many K…`, `open NAME` (opens another bucket), `count K N` (N
//! increments, printing each value; 0: forever).

wit_bindgen::generate!({
    path: "../../../crates/plugbox/wit/keyvalue",
    world: "wasi:keyvalue/imports",
    generate_all,
});

use wasi::keyvalue::{atomics, batch, store};

fn text(v: Option<Vec<u8>>) -> String {
    v.map_or("-".into(), |v| String::from_utf8_lossy(&v).into_owned())
}

fn describe(e: store::Error) -> String {
    match e {
        store::Error::NoSuchStore => "no such store".into(),
        store::Error::AccessDenied => "access denied".into(),
        store::Error::Other(m) => m,
    }
}

fn run(args: &[String]) -> Result<String, store::Error> {
    let a = |i: usize| args.get(i).cloned().unwrap_or_default();
    let op = a(0);
    if op == "open" {
        store::open(&a(1))?;
        return Ok("opened".into());
    }
    let bucket = store::open("")?;
    Ok(match op.as_str() {
        "set" => {
            bucket.set(&a(1), a(2).as_bytes())?;
            "ok".into()
        }
        "get" => text(bucket.get(&a(1))?),
        "del" => {
            bucket.delete(&a(1))?;
            "ok".into()
        }
        "exists" => bucket.exists(&a(1))?.to_string(),
        "incr" => atomics::increment(&bucket, &a(1), a(2).parse().unwrap_or(1))?.to_string(),
        "list" => {
            let mut keys = Vec::new();
            let mut cursor = None;
            loop {
                let page = bucket.list_keys(cursor)?;
                keys.extend(page.keys);
                match page.cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
            keys.sort();
            keys.join(",")
        }
        "get-many" => batch::get_many(&bucket, &args[1..])?
            .into_iter()
            .map(|kv| kv.map_or("-".into(), |(k, v)| format!("{k}={}", String::from_utf8_lossy(&v))))
            .collect::<Vec<_>>()
            .join(","),
        "set-many" => {
            let entries: Vec<(String, Vec<u8>)> = args[1..]
                .iter()
                .map(|e| {
                    let (k, v) = e.split_once('=').unwrap_or((e, ""));
                    (k.to_string(), v.as_bytes().to_vec())
                })
                .collect();
            batch::set_many(&bucket, &entries)?;
            "ok".into()
        }
        "del-many" => {
            batch::delete_many(&bucket, &args[1..])?;
            "ok".into()
        }
        "count" => {
            let n: u64 = a(2).parse().unwrap_or(0);
            let mut done = 0;
            while n == 0 || done < n {
                let v = atomics::increment(&bucket, &a(1), 1)?;
                println!("{v}");
                done += 1;
            }
            "done".into()
        }
        other => return Err(store::Error::Other(format!("unknown operation `{other}`"))),
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(out) => println!("{out}"),
        Err(e) => {
            eprintln!("error: {}", describe(e));
            std::process::exit(1);
        }
    }
}
