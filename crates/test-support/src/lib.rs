//! Fixtures shared by plugbox's test suites.
//!
//! The test guests are built once, before any test binary runs, by
//! `cargo run -p plugbox-test-support --bin build-guests` (a step of
//! `scripts/test.sh`); these functions only find the results, and fail
//! with the command to run when a guest is missing.

use std::path::PathBuf;

mod redis;
pub use redis::{RedisDb, RedisServer};
pub mod client;

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `guests/` in the repository.
pub fn guests_dir() -> PathBuf {
    repo_root().join("guests")
}

/// Where `build-guests` puts what it builds.
pub fn built_dir() -> PathBuf {
    repo_root().join("target/guests")
}

/// Path of a WAT guest in `guests/wat/`.
pub fn wat(name: &str) -> PathBuf {
    guests_dir().join("wat").join(name)
}

fn built(path: PathBuf) -> PathBuf {
    assert!(
        path.exists(),
        "test guest `{}` is not built: run `cargo run -p plugbox-test-support --bin build-guests` (scripts/test.sh does)",
        path.display()
    );
    path
}

/// The `.wasm` of a Rust guest built for wasm32-wasip1: a core module.
pub fn rust_guest(name: &str) -> PathBuf {
    built(built_dir().join(format!("wasm32-wasip1/release/{name}.wasm")))
}

/// The `.wasm` of a Rust guest built for wasm32-wasip2: a component.
pub fn rust_component(name: &str) -> PathBuf {
    built(built_dir().join(format!("wasm32-wasip2/release/{name}.wasm")))
}

/// A C guest from `guests/c/NAME.c`, built as a `plugbox:plugin` component.
pub fn c_component(name: &str) -> PathBuf {
    built(built_dir().join(format!("c/{name}.wasm")))
}

/// A temporary tree with a granted-to-be directory `data/` holding
/// `hello.txt` ("hi there"), next to `secret.txt` ("top secret") that must
/// stay out of reach.
pub fn sandbox_layout() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::create_dir(dir.path().join("data")).expect("create data/");
    std::fs::write(dir.path().join("data/hello.txt"), "hi there").expect("write hello.txt");
    std::fs::write(dir.path().join("secret.txt"), "top secret").expect("write secret.txt");
    dir
}

/// Names of this process's threads.
pub fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .map(|rd| {
            rd.flatten()
                .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
                .map(|n| n.trim().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// A small real HTTP/1.1 server on a loopback port, for tests of outbound
/// requests: it answers every request with `200` and the body
/// `upstream saw PATH`, counts the requests it answered, and stops when
/// dropped.
pub struct HttpServer {
    addr: std::net::SocketAddr,
    hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HttpServer {
    /// Starts the server on `127.0.0.1` and a free port.
    pub fn start() -> Self {
        use std::io::{Read, Write};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread = std::thread::spawn({
            let (hits, stop) = (hits.clone(), stop.clone());
            move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(mut stream) = stream else { continue };
                    let hits = hits.clone();
                    std::thread::spawn(move || {
                        let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(30)));
                        let mut head = Vec::new();
                        let mut buf = [0u8; 4096];
                        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
                            match stream.read(&mut buf) {
                                Ok(0) | Err(_) => return,
                                Ok(n) => head.extend_from_slice(&buf[..n]),
                            }
                        }
                        let text = String::from_utf8_lossy(&head);
                        let path = text.split_whitespace().nth(1).unwrap_or("?").to_string();
                        let body = format!("upstream saw {path}");
                        let response = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        hits.fetch_add(1, Ordering::SeqCst);
                        let _ = stream.write_all(response.as_bytes());
                    });
                }
            }
        });
        Self {
            addr,
            hits,
            stop,
            thread: Some(thread),
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// Requests answered so far.
    pub fn hits(&self) -> usize {
        self.hits.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = std::net::TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The WAT text of a module of `n` small exported functions (`f0` returns
/// 0, ...), `count`, which counts its calls in a global, and `spin`, an
/// endless loop: each exported
/// function takes 32 bytes of Wasmtime's state of an instance, so from
/// about 32 000 functions an instance is too large for a pool slot (1 MiB).
pub fn many_functions_wat(n: usize) -> String {
    use std::fmt::Write;
    let mut text = String::from(
        "(module\n  (global $n (mut i32) (i32.const 0))\n  (func (export \"count\") (result i32)\n    (global.set $n (i32.add (global.get $n) (i32.const 1)))\n    global.get $n)\n  (func (export \"spin\") (loop $l br $l))\n",
    );
    for i in 0..n {
        let _ = writeln!(
            text,
            "  (func (export \"f{i}\") (result i32) i32.const {i})"
        );
    }
    text.push_str(")\n");
    text
}
