//! A real `redis-server` for the tests of the Redis backend.
//!
//! [`RedisDb`] is a database of a test's own: on the server
//! `scripts/test.sh` starts for the whole run (`PLUGBOX_TEST_REDIS`, a
//! `redis://127.0.0.1:PORT` URL; the script stops it when it ends, whatever
//! the tests did), or, when the tests run without the script, on a server
//! of its own. [`RedisServer`] is a server of a test's own, for the tests
//! that stop, restart or freeze it: on a free loopback port, with no
//! persistence, in a temporary directory, stopped when dropped. Under the
//! script, it leaves its pid in `PLUGBOX_TEST_REDIS_PIDS` while it runs,
//! so that a test binary that dies without unwinding leaves no server
//! behind either.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The server of the whole run, started by `scripts/test.sh`.
pub const SHARED_ENV: &str = "PLUGBOX_TEST_REDIS";
/// Where servers of a test's own leave their pids under `scripts/test.sh`.
pub const PIDS_ENV: &str = "PLUGBOX_TEST_REDIS_PIDS";

/// A `redis-server` process of this test.
pub struct RedisServer {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

/// The `redis-server` binary; the tests fail (never skip) without it.
fn binary() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("redis-server"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "redis-server is not installed: the Redis backend's tests need it \
                 (scripts/test.sh installs Debian's `redis-server`)"
            )
        })
}

impl RedisServer {
    /// Starts a server on a free loopback port and waits until it answers.
    pub fn start() -> Self {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut server = Self {
            port,
            dir,
            child: None,
        };
        server.restart();
        server
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Starts the server again (after [`stop`](Self::stop)) on the same
    /// port, empty.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "redis-server is already running");
        let child = Command::new(binary())
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        if let Some(file) = self.pid_file() {
            std::fs::write(file, child.id().to_string()).expect("write the pid file");
        }
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !answers(self.port) {
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not answer within 20s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server (SIGKILL: as a crash would).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            if let Some(file) = self.pid_file() {
                let _ = std::fs::remove_file(file);
            }
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing is
    /// answered — a slow or stuck server.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaws a [`pause`](Self::pause)d server.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("redis-server is running").id();
        let status = Command::new("kill")
            .arg(signal)
            .arg(pid.to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} {pid} failed");
    }

    /// Where this server's pid is kept while it runs, under the script.
    fn pid_file(&self) -> Option<PathBuf> {
        let dir = std::env::var_os(PIDS_ENV)?;
        Some(PathBuf::from(dir).join(format!("redis-{}.pid", self.port)))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // SIGKILL ends a paused server too.
        self.stop();
    }
}

/// Whether the server on `port` answers PING.
fn answers(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}

/// A Redis database no other test uses: one of the run's server (see the
/// module's documentation), or a server of its own.
pub struct RedisDb {
    url: String,
    _own: Option<RedisServer>,
}

impl RedisDb {
    /// A fresh, empty database.
    pub fn new() -> Self {
        let Some(shared) = std::env::var_os(SHARED_ENV) else {
            let own = RedisServer::start();
            return Self {
                url: own.url(),
                _own: Some(own),
            };
        };
        let shared = shared.to_string_lossy().trim_end_matches('/').to_string();
        let db = next_db(&shared);
        Self {
            url: format!("{shared}/{db}"),
            _own: None,
        }
    }

    /// `redis://127.0.0.1:PORT/DB`.
    pub fn url(&self) -> String {
        self.url.clone()
    }
}

impl Default for RedisDb {
    fn default() -> Self {
        Self::new()
    }
}

/// The next unused database of the run's server at `url`
/// (`redis://127.0.0.1:PORT`): a counter in database 0, so test binaries
/// running one after another never get the same one.
fn next_db(url: &str) -> u64 {
    let address = url
        .strip_prefix("redis://")
        .unwrap_or_else(|| panic!("{SHARED_ENV} `{url}` is not a redis:// URL"));
    let mut stream = TcpStream::connect(address)
        .unwrap_or_else(|e| panic!("cannot reach the run's redis-server at `{url}`: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("set a read timeout");
    stream
        .write_all(b"INCR plugbox-test:next-db\r\nCONFIG GET databases\r\n")
        .expect("ask redis-server for a database");
    let mut reader = BufReader::new(stream);
    let mut line = || {
        let mut line = String::new();
        reader
            .read_line(&mut line)
            .expect("a reply from redis-server");
        line.trim_end().to_string()
    };
    let db: u64 = line()
        .strip_prefix(':')
        .and_then(|n| n.parse().ok())
        .expect("INCR answers a number");
    // `*2`, `$9`, `databases`, `$N`, the count.
    let count: u64 = (0..5)
        .map(|_| line())
        .last()
        .and_then(|n| n.parse().ok())
        .expect("CONFIG GET databases answers a number");
    assert!(
        db < count,
        "the run's redis-server has {count} databases, all used: start it with more (scripts/test.sh)"
    );
    db
}
