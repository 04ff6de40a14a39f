//! The embedded backend: a SQLite database file (WAL journal). Writes are
//! transactions, so a crash (even `kill -9` mid-write) leaves the last
//! committed write and no corruption; processes on one machine may share
//! the file, and quotas stay exact between them (writers take turns).

use super::backend::{
    KeyPage, KvBackend, KvFuture, Quota, Usage, add_counter, kv_error, over_quota, parse_counter,
};
use super::runtime;
use crate::error::{Error, ErrorKind, KvErrorKind, Result};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod schema;

/// Connections kept open for reuse.
const POOL: usize = 8;

/// A SQLite database file holding every namespace. Cheap to clone.
///
/// Its tables: `kv (ns, key, value)`, listed in insertion order (a page's
/// cursor is the last row's id), and `kv_usage (ns, bytes, keys)`, updated
/// in the transaction of each write. `synchronous = NORMAL`: a committed
/// write survives the process's crash; a power loss may lose the last
/// moments of writes, never the database.
#[derive(Clone)]
pub struct EmbeddedBackend {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    pool: Mutex<Vec<Connection>>,
}

impl EmbeddedBackend {
    /// Opens (or creates) the database at `path`, creating its directory.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] when the directory cannot be created or the file
    /// cannot be opened or is not a plugbox database.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::io(
                    format!("cannot create the kv directory `{}`", dir.display()),
                    e,
                )
            })?;
        }
        let cannot_open = |e: rusqlite::Error| {
            Error::new(
                ErrorKind::Io,
                format!("cannot open the kv database `{}`", path.display()),
            )
            .with_source(e)
        };
        let conn = connect(&path, Duration::from_secs(5)).map_err(cannot_open)?;
        if let Err(why) = schema::check(&conn).map_err(cannot_open)? {
            return Err(Error::new(
                ErrorKind::Io,
                format!("cannot open the kv database `{}`: {why}", path.display()),
            ));
        }
        conn.execute_batch(schema::SCHEMA).map_err(cannot_open)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                pool: Mutex::new(vec![conn]),
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `op` with a connection on the blocking pool; SQLite waits for
    /// another writer's lock until `deadline`.
    fn run<T, F>(&self, deadline: Instant, op: F) -> KvFuture<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        Box::pin(async move {
            runtime::blocking(move || {
                let wait = deadline.saturating_duration_since(Instant::now());
                let pooled = inner.pool().pop();
                let mut conn = match pooled {
                    Some(conn) => conn,
                    None => connect(&inner.path, wait).map_err(|e| inner.failed(e))?,
                };
                conn.busy_timeout(wait).map_err(|e| inner.failed(e))?;
                let out = op(&mut conn);
                let mut pool = inner.pool();
                if pool.len() < POOL {
                    pool.push(conn);
                }
                out
            })
            .await?
        })
    }

    /// Runs `op` in a write transaction (taking the write lock at once).
    fn write<T, F>(&self, ns: &str, deadline: Instant, op: F) -> KvFuture<T>
    where
        T: Send + 'static,
        F: FnOnce(&Tx<'_>) -> Result<T> + Send + 'static,
    {
        let ns = ns.to_string();
        let inner = self.inner.clone();
        self.run(deadline, move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| inner.failed(e))?;
            let out = op(&Tx {
                tx: &tx,
                ns: &ns,
                path: &inner.path,
            })?;
            tx.commit().map_err(|e| inner.failed(e))?;
            Ok(out)
        })
    }
}

fn connect(path: &Path, wait: Duration) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(wait)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(conn)
}

impl Inner {
    fn pool(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        self.pool
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn failed(&self, e: rusqlite::Error) -> Error {
        kv_error(
            KvErrorKind::Unavailable,
            format!("the kv database `{}` failed", self.path.display()),
        )
        .with_source(e)
    }
}

/// Database reads and writes inside a transaction, with the file named in
/// errors.
struct Tx<'a> {
    tx: &'a rusqlite::Transaction<'a>,
    ns: &'a str,
    path: &'a Path,
}

impl Tx<'_> {
    fn failed(&self, e: rusqlite::Error) -> Error {
        kv_error(
            KvErrorKind::Unavailable,
            format!("the kv database `{}` failed", self.path.display()),
        )
        .with_source(e)
    }

    fn value(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.tx
            .prepare_cached("SELECT value FROM kv WHERE ns = ?1 AND key = ?2")
            .and_then(|mut s| s.query_row(params![self.ns, key], |r| r.get(0)).optional())
            .map_err(|e| self.failed(e))
    }

    fn size(&self, key: &str) -> Result<Option<u64>> {
        self.tx
            .prepare_cached("SELECT length(value) FROM kv WHERE ns = ?1 AND key = ?2")
            .and_then(|mut s| {
                s.query_row(params![self.ns, key], |r| r.get::<_, i64>(0))
                    .optional()
            })
            .map(|len| len.map(|n| n.max(0) as u64))
            .map_err(|e| self.failed(e))
    }

    fn usage(&self) -> Result<Usage> {
        let row = self
            .tx
            .prepare_cached("SELECT bytes, keys FROM kv_usage WHERE ns = ?1")
            .and_then(|mut s| {
                s.query_row([self.ns], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
                })
                .optional()
            })
            .map_err(|e| self.failed(e))?;
        let (bytes, keys) = row.unwrap_or((0, 0));
        Ok(Usage {
            bytes: bytes.max(0) as u64,
            keys: keys.max(0) as u64,
        })
    }

    /// Checks a write of `entries` (key, new length) against `quota`; the
    /// change it makes to the usage.
    fn admit(&self, entries: &[(&str, usize)], quota: Quota) -> Result<(i64, i64)> {
        let mut sizes: HashMap<&str, Option<u64>> = HashMap::new();
        let (mut keys, mut bytes) = (0i64, 0i64);
        for &(key, len) in entries {
            let old = match sizes.get(key) {
                Some(old) => *old,
                None => self.size(key)?,
            };
            match old {
                Some(old) => bytes += len as i64 - old as i64,
                None => {
                    keys += 1;
                    bytes += (key.len() + len) as i64;
                }
            }
            sizes.insert(key, Some(len as u64));
        }
        let now = self.usage()?;
        let grows = Usage {
            keys: keys.max(0) as u64,
            bytes: bytes.max(0) as u64,
        };
        let after = Usage {
            keys: (now.keys as i64 + keys).max(0) as u64,
            bytes: (now.bytes as i64 + bytes).max(0) as u64,
        };
        match over_quota(self.ns, quota, grows, after) {
            Some(e) => Err(e),
            None => Ok((keys, bytes)),
        }
    }

    fn put(&self, key: &str, value: &[u8]) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO kv (ns, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value",
            )
            .and_then(|mut s| s.execute(params![self.ns, key, value]))
            .map(drop)
            .map_err(|e| self.failed(e))
    }

    fn account(&self, keys: i64, bytes: i64) -> Result<()> {
        if keys == 0 && bytes == 0 {
            return Ok(());
        }
        self.tx
            .prepare_cached(
                "INSERT INTO kv_usage (ns, bytes, keys) VALUES (?1, ?2, ?3)
                 ON CONFLICT (ns) DO UPDATE SET bytes = bytes + ?2, keys = keys + ?3",
            )
            .and_then(|mut s| s.execute(params![self.ns, bytes, keys]))
            .map(drop)
            .map_err(|e| self.failed(e))
    }
}

impl std::fmt::Debug for EmbeddedBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedBackend")
            .field("path", &self.inner.path)
            .finish()
    }
}

impl KvBackend for EmbeddedBackend {
    fn describe(&self) -> String {
        format!("embedded `{}`", self.inner.path.display())
    }

    fn get_many(
        &self,
        ns: &str,
        keys: Vec<String>,
        deadline: Instant,
    ) -> KvFuture<Vec<Option<Vec<u8>>>> {
        let (ns, inner) = (ns.to_string(), self.inner.clone());
        self.run(deadline, move |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT value FROM kv WHERE ns = ?1 AND key = ?2")
                .map_err(|e| inner.failed(e))?;
            keys.iter()
                .map(|k| {
                    stmt.query_row(params![ns, k], |r| r.get(0))
                        .optional()
                        .map_err(|e| inner.failed(e))
                })
                .collect()
        })
    }

    fn set_many(
        &self,
        ns: &str,
        entries: Vec<(String, Vec<u8>)>,
        quota: Quota,
        deadline: Instant,
    ) -> KvFuture<()> {
        self.write(ns, deadline, move |t| {
            let sizes: Vec<(&str, usize)> =
                entries.iter().map(|(k, v)| (k.as_str(), v.len())).collect();
            let (keys, bytes) = t.admit(&sizes, quota)?;
            for (key, value) in &entries {
                t.put(key, value)?;
            }
            t.account(keys, bytes)
        })
    }

    fn delete_many(&self, ns: &str, keys: Vec<String>, deadline: Instant) -> KvFuture<u64> {
        self.write(ns, deadline, move |t| {
            let ns = t.ns;
            let (mut count, mut bytes) = (0i64, 0i64);
            for key in &keys {
                let removed: Option<i64> =
                    t.tx.prepare_cached(
                        "DELETE FROM kv WHERE ns = ?1 AND key = ?2 RETURNING length(value)",
                    )
                    .and_then(|mut s| s.query_row(params![ns, key], |r| r.get(0)).optional())
                    .map_err(|e| t.failed(e))?;
                if let Some(len) = removed {
                    count += 1;
                    bytes += key.len() as i64 + len;
                }
            }
            t.account(-count, -bytes)?;
            Ok(count as u64)
        })
    }

    fn exists(&self, ns: &str, key: String, deadline: Instant) -> KvFuture<bool> {
        let (ns, inner) = (ns.to_string(), self.inner.clone());
        self.run(deadline, move |conn| {
            conn.prepare_cached("SELECT 1 FROM kv WHERE ns = ?1 AND key = ?2")
                .and_then(|mut s| s.exists(params![ns, key]))
                .map_err(|e| inner.failed(e))
        })
    }

    fn list_keys(
        &self,
        ns: &str,
        cursor: Option<u64>,
        limit: u32,
        deadline: Instant,
    ) -> KvFuture<KeyPage> {
        let (ns, inner) = (ns.to_string(), self.inner.clone());
        self.run(deadline, move |conn| {
            let after = i64::try_from(cursor.unwrap_or(0)).unwrap_or(i64::MAX);
            let mut rows: Vec<(i64, String)> = conn
                .prepare_cached(
                    "SELECT rowid, key FROM kv WHERE ns = ?1 AND rowid > ?2 ORDER BY rowid LIMIT ?3",
                )
                .and_then(|mut s| {
                    s.query_map(params![ns, after, i64::from(limit) + 1], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?
                    .collect()
                })
                .map_err(|e| inner.failed(e))?;
            let more = rows.len() > limit as usize;
            rows.truncate(limit as usize);
            Ok(KeyPage {
                cursor: if more { rows.last().map(|(id, _)| *id as u64) } else { None },
                keys: rows.into_iter().map(|(_, k)| k).collect(),
            })
        })
    }

    fn increment(
        &self,
        ns: &str,
        key: String,
        delta: i64,
        quota: Quota,
        deadline: Instant,
    ) -> KvFuture<i64> {
        self.write(ns, deadline, move |t| {
            let ns = t.ns;
            let current = match t.value(&key)? {
                Some(v) => parse_counter(ns, &key, &v)?,
                None => 0,
            };
            let new = add_counter(ns, &key, current, delta)?;
            let text = new.to_string();
            let (keys, bytes) = t.admit(&[(&key, text.len())], quota)?;
            t.put(&key, text.as_bytes())?;
            t.account(keys, bytes)?;
            Ok(new)
        })
    }

    fn compare_and_swap(
        &self,
        ns: &str,
        key: String,
        expected: Option<Vec<u8>>,
        value: Vec<u8>,
        quota: Quota,
        deadline: Instant,
    ) -> KvFuture<bool> {
        self.write(ns, deadline, move |t| {
            if t.value(&key)? != expected {
                return Ok(false);
            }
            let (keys, bytes) = t.admit(&[(&key, value.len())], quota)?;
            t.put(&key, &value)?;
            t.account(keys, bytes)?;
            Ok(true)
        })
    }

    fn usage(&self, ns: &str, deadline: Instant) -> KvFuture<Usage> {
        let path = self.inner.path.clone();
        let ns = ns.to_string();
        self.run(deadline, move |conn| {
            let tx = conn.transaction().map_err(|e| {
                kv_error(
                    KvErrorKind::Unavailable,
                    format!("the kv database `{}` failed", path.display()),
                )
                .with_source(e)
            })?;
            Tx {
                tx: &tx,
                ns: &ns,
                path: &path,
            }
            .usage()
        })
    }
}
