//! `probe COMMAND [ARGS]`: tries one thing a plugin might attempt and
//! reports the outcome, so the host's tests can check what the sandbox
//! allowed. Success prints the result on stdout and exits 0; a refused
//! operation prints `denied: <io error kind>: <message>` on stderr and
//! exits 1. Misuse exits 2.

use std::io::{Read, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match run(&words) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Outcome::Denied(e)) => {
            eprintln!("denied: {:?}: {e}", e.kind());
            ExitCode::from(1)
        }
        Err(Outcome::Usage(msg)) => {
            eprintln!("usage: {msg}");
            ExitCode::from(2)
        }
    }
}

enum Outcome {
    Denied(std::io::Error),
    Usage(String),
}

impl From<std::io::Error> for Outcome {
    fn from(e: std::io::Error) -> Self {
        Outcome::Denied(e)
    }
}

fn run(words: &[&str]) -> Result<(), Outcome> {
    let mut out = std::io::stdout().lock();
    match words {
        ["read", path] => {
            let text = std::fs::read_to_string(path)?;
            out.write_all(text.as_bytes())?;
        }
        ["write", path, text] => std::fs::write(path, text)?,
        ["symlink", target, link] => {
            let target = std::ffi::CString::new(*target).map_err(|e| Outcome::Usage(e.to_string()))?;
            let link = std::ffi::CString::new(*link).map_err(|e| Outcome::Usage(e.to_string()))?;
            // SAFETY: two NUL-terminated strings that outlive the call.
            if unsafe { libc::symlink(target.as_ptr(), link.as_ptr()) } != 0 {
                return Err(std::io::Error::last_os_error().into());
            }
        }
        ["list", dir] => {
            let mut names: Vec<String> = std::fs::read_dir(dir)?
                .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect::<Result<_, _>>()?;
            names.sort();
            writeln!(out, "{}", names.join(" "))?;
        }
        ["env", key] => match std::env::var(key) {
            Ok(v) => writeln!(out, "{v}")?,
            Err(_) => {
                return Err(Outcome::Denied(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("{key} is not set"),
                )));
            }
        },
        ["env-count"] => writeln!(out, "{}", std::env::vars().count())?,
        ["args", rest @ ..] => writeln!(out, "{}", rest.join(" "))?,
        ["stdin"] => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s)?;
            write!(out, "{s}")?;
        }
        ["flood", bytes] => {
            let n: usize = bytes.parse().map_err(|_| Outcome::Usage("flood BYTES".into()))?;
            let chunk = [b'x'; 4096];
            let mut left = n;
            while left > 0 {
                let k = left.min(chunk.len());
                out.write_all(&chunk[..k])?;
                left -= k;
            }
            out.flush()?;
        }
        ["clock"] => {
            let since = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_err(|e| Outcome::Usage(format!("clock before 1970: {e}")))?;
            writeln!(out, "{}", since.as_secs())?;
        }
        ["sleep", ms] => {
            let ms: u64 = ms.parse().map_err(|_| Outcome::Usage("sleep MS".into()))?;
            std::thread::sleep(std::time::Duration::from_millis(ms));
            writeln!(out, "slept {ms} ms")?;
        }
        ["exit", code] => {
            let code: i32 = code.parse().map_err(|_| Outcome::Usage("exit CODE".into()))?;
            out.flush()?;
            std::process::exit(code);
        }
        ["alloc-bomb"] => {
            // Grows a vector until the allocator fails; the default Rust
            // behaviour is to abort, which traps.
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                if hoard.len() % 64 == 0 {
                    writeln!(out, "{} MiB", hoard.len())?;
                }
            }
        }
        ["recurse", depth] => {
            let depth: u64 = depth.parse().map_err(|_| Outcome::Usage("recurse DEPTH".into()))?;
            writeln!(out, "{}", recurse(depth))?;
        }
        ["spin"] => {
            let mut x: u64 = 0;
            loop {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
        ["panic"] => panic!("probe was asked to panic"),
        ["tcp", addr] => {
            let stream = std::net::TcpStream::connect(addr)?;
            writeln!(out, "connected to {}", stream.peer_addr()?)?;
        }
        _ => return Err(Outcome::Usage(format!("unknown command {words:?}"))),
    }
    Ok(())
}

#[inline(never)]
fn recurse(n: u64) -> u64 {
    if n == 0 { 0 } else { 1 + std::hint::black_box(recurse(n - 1)) }
}
