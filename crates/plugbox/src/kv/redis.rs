//! The Redis backend: every process and machine pointed at one Redis
//! server shares the state. A namespace is one hash (`plugbox:kv:{NS}`)
//! beside its usage (`plugbox:kv-usage:{NS}`, the same hash slot); every
//! write is a Lua script that checks the quota and updates the usage in the
//! same atomic step, so quotas stay exact with any number of writers.
//!
//! The connection is made on first use and remade after a failure; an
//! operation waits at most until its deadline, so a Redis that is down or
//! stuck costs the guest a typed error, never the host its threads. A
//! write carries a fence ([`fence`]): one that has not run by its deadline
//! never will, so what the guest is told stays true.

use super::backend::{KeyPage, KvBackend, KvFuture, Quota, Usage, kv_error};
use super::runtime;
use crate::error::{Error, ErrorKind, KvErrorKind, Result};
use redis::aio::ConnectionManager;
use scripts::SCRIPTS;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

mod fence;
mod scripts;

/// A Redis server. Cheap to clone (clones share the connection).
#[derive(Clone)]
pub struct RedisBackend {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    /// The URL without its password, for messages.
    shown: String,
    conn: OnceLock<ConnectionManager>,
    /// Redis's clock, for the fences of writes.
    clock: fence::Clock,
}

impl RedisBackend {
    /// A backend for the server at `url` (`redis://HOST:PORT/DB`). It
    /// connects on first use, and again after a failure.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] for a URL that does not parse.
    pub fn open(url: &str) -> Result<Self> {
        let shown = crate::config::redact(url);
        let client = redis::Client::open(url).map_err(|e| {
            Error::new(ErrorKind::Config, format!("invalid redis URL `{shown}`")).with_source(e)
        })?;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                shown,
                conn: OnceLock::new(),
                clock: fence::Clock::default(),
            }),
        })
    }

    /// Runs `op` (a read) on the connection, on the key-value runtime,
    /// until `deadline`.
    fn run<T, F, Fut>(&self, deadline: Instant, op: F) -> KvFuture<T>
    where
        T: Send + 'static,
        F: FnOnce(ConnectionManager) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = redis::RedisResult<T>> + Send,
    {
        let inner = self.inner.clone();
        Box::pin(async move {
            runtime::spawn(async move {
                let conn = inner.connection()?;
                let started = Instant::now();
                match tokio::time::timeout_at(deadline.into(), op(conn)).await {
                    Ok(Ok(out)) => Ok(out),
                    Ok(Err(e)) => Err(inner.failed(e)),
                    Err(_) => Err(inner.no_answer(started)),
                }
            })
            .await?
        })
    }

    /// Runs `op` (a write: a script whose `ARGV[1]` is `op`'s second
    /// argument, the fence) on the connection, on the key-value runtime,
    /// until `deadline`: the script's reply, `{verdict, now, ...}`.
    ///
    /// A failure before the script is sent, an error Redis answered with,
    /// or a script that found its fence passed is
    /// [`KvErrorKind::Unavailable`]: nothing was written. A script sent
    /// whose answer never came is [`KvErrorKind::OutcomeUnknown`].
    fn write<F, Fut>(&self, deadline: Instant, op: F) -> KvFuture<Vec<redis::Value>>
    where
        F: FnOnce(ConnectionManager, i64) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = redis::RedisResult<Vec<redis::Value>>> + Send,
    {
        let inner = self.inner.clone();
        Box::pin(async move {
            runtime::spawn(async move {
                let conn = inner.connection()?;
                let started = Instant::now();
                let reading = match inner.clock.fresh() {
                    Some(reading) => reading,
                    None => {
                        let mut conn = conn.clone();
                        let time = redis::cmd("TIME");
                        let time = time.query_async::<(i64, i64)>(&mut conn);
                        match tokio::time::timeout_at(deadline.into(), time).await {
                            Ok(Ok((secs, micros))) => inner
                                .clock
                                .record(secs.saturating_mul(1_000_000).saturating_add(micros)),
                            Ok(Err(e)) => return Err(inner.failed(e)),
                            Err(_) => return Err(inner.no_answer(started)),
                        }
                    }
                };
                let sent = op(conn, reading.fence(deadline));
                match tokio::time::timeout_at(deadline.into(), sent).await {
                    Ok(Ok(reply)) => {
                        if let Some(redis::Value::Int(now)) = reply.get(1) {
                            inner.clock.record(*now);
                        }
                        if word(&reply, 0) == "late" {
                            return Err(kv_error(
                                KvErrorKind::Unavailable,
                                format!(
                                    "redis `{}` got the write after its deadline and did not apply it",
                                    inner.shown
                                ),
                            ));
                        }
                        Ok(reply)
                    }
                    Ok(Err(e)) if not_applied(&e) => Err(inner.failed(e)),
                    Ok(Err(e)) => {
                        inner.clock.forget();
                        Err(kv_error(
                            KvErrorKind::OutcomeUnknown,
                            format!(
                                "the connection to redis `{}` failed before the write's answer came; \
                                 it was applied before its deadline or never will be",
                                inner.shown
                            ),
                        )
                        .with_source(e))
                    }
                    Err(_) => {
                        inner.clock.forget();
                        Err(kv_error(
                            KvErrorKind::OutcomeUnknown,
                            format!(
                                "redis `{}` did not answer the write within {}; \
                                 it was applied before then or never will be",
                                inner.shown,
                                shown_wait(started)
                            ),
                        ))
                    }
                }
            })
            .await?
        })
    }
}

/// Whether a write that failed with `e` surely changed nothing: the
/// connection could not be made, or Redis answered with an error — it
/// refused the script (out of memory, a read-only replica, still loading)
/// or the script failed, which ours can only do before their first write
/// (they check all they read first). Any other failure may have come after
/// the script was sent.
fn not_applied(e: &redis::RedisError) -> bool {
    e.is_connection_refusal()
        || matches!(
            e.kind(),
            redis::ErrorKind::Server(_)
                | redis::ErrorKind::Extension
                | redis::ErrorKind::AuthenticationFailed
                | redis::ErrorKind::InvalidClientConfig
        )
}

fn shown_wait(started: Instant) -> String {
    crate::units::format_duration(started.elapsed().max(Duration::from_millis(1)))
}

impl Inner {
    /// The connection manager, made (lazily connecting) on the key-value
    /// runtime the first time.
    fn connection(&self) -> Result<ConnectionManager> {
        if let Some(conn) = self.conn.get() {
            return Ok(conn.clone());
        }
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(Duration::from_millis(200))
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(None);
        let _entered = runtime::enter()?;
        let conn = ConnectionManager::new_lazy_with_config(self.client.clone(), config)
            .map_err(|e| self.failed(e))?;
        Ok(self.conn.get_or_init(|| conn).clone())
    }

    /// A failure that wrote nothing; the next write reads Redis's clock
    /// again, since the connection may be remade to a restarted server.
    fn failed(&self, e: redis::RedisError) -> Error {
        self.clock.forget();
        kv_error(
            KvErrorKind::Unavailable,
            format!("redis `{}` failed", self.shown),
        )
        .with_source(e)
    }
}

impl Inner {
    /// An operation that wrote nothing and got no answer by its deadline.
    fn no_answer(&self, started: Instant) -> Error {
        self.clock.forget();
        kv_error(
            KvErrorKind::Unavailable,
            format!(
                "redis `{}` did not answer within {}",
                self.shown,
                shown_wait(started)
            ),
        )
    }
}

fn data_key(ns: &str) -> String {
    format!("plugbox:kv:{{{ns}}}")
}

fn usage_key(ns: &str) -> String {
    format!("plugbox:kv-usage:{{{ns}}}")
}

fn limit(v: Option<u64>) -> i64 {
    v.map_or(-1, |v| i64::try_from(v).unwrap_or(i64::MAX))
}

/// Word `i` of a script's reply, as text.
fn word(reply: &[redis::Value], i: usize) -> String {
    match reply.get(i) {
        Some(redis::Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
        Some(redis::Value::SimpleString(s)) => s.clone(),
        Some(redis::Value::Int(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// A write script's verdict (`{verdict, now, ...}`): `ok`, `mismatch`,
/// `invalid` or `quota`.
fn verdict(ns: &str, reply: &[redis::Value]) -> Result<bool> {
    match word(reply, 0).as_str() {
        "ok" => Ok(true),
        "mismatch" => Ok(false),
        "quota" => Err(kv_error(
            KvErrorKind::QuotaExceeded,
            format!(
                "kv quota of {} {} of `{ns}` exceeded",
                word(reply, 3),
                word(reply, 2)
            ),
        )),
        "invalid" => Err(kv_error(
            KvErrorKind::Invalid,
            format!("in `{ns}`: {}", word(reply, 2).trim_start_matches("ERR ")),
        )),
        other => Err(kv_error(
            KvErrorKind::OutcomeUnknown,
            format!("unexpected reply `{other}` to a write from redis"),
        )),
    }
}

/// A reply of the wrong shape to `what` (the script ran: what it did is
/// not known).
fn unexpected(what: &str) -> Error {
    kv_error(
        KvErrorKind::OutcomeUnknown,
        format!("unexpected reply to {what} from redis"),
    )
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend")
            .field("url", &self.inner.shown)
            .finish()
    }
}

impl KvBackend for RedisBackend {
    fn describe(&self) -> String {
        format!("redis `{}`", self.inner.shown)
    }

    fn get_many(
        &self,
        ns: &str,
        keys: Vec<String>,
        deadline: Instant,
    ) -> KvFuture<Vec<Option<Vec<u8>>>> {
        let data = data_key(ns);
        self.run(deadline, move |mut conn| async move {
            redis::cmd("HMGET")
                .arg(data)
                .arg(&keys)
                .query_async(&mut conn)
                .await
        })
    }

    fn set_many(
        &self,
        ns: &str,
        entries: Vec<(String, Vec<u8>)>,
        quota: Quota,
        deadline: Instant,
    ) -> KvFuture<()> {
        let (data, usage, owned) = (data_key(ns), usage_key(ns), ns.to_string());
        let run = self.write(deadline, move |mut conn, fence| async move {
            let mut call = SCRIPTS.set_many.key(data);
            call.key(usage)
                .arg(fence)
                .arg(limit(quota.max_total_size))
                .arg(limit(quota.max_keys));
            for (k, v) in &entries {
                call.arg(k).arg(v);
            }
            call.invoke_async::<Vec<redis::Value>>(&mut conn).await
        });
        Box::pin(async move { verdict(&owned, &run.await?).map(drop) })
    }

    fn delete_many(&self, ns: &str, keys: Vec<String>, deadline: Instant) -> KvFuture<u64> {
        let (data, usage, owned) = (data_key(ns), usage_key(ns), ns.to_string());
        let run = self.write(deadline, move |mut conn, fence| async move {
            SCRIPTS
                .delete_many
                .key(data)
                .key(usage)
                .arg(fence)
                .arg(&keys)
                .invoke_async(&mut conn)
                .await
        });
        Box::pin(async move {
            let reply = run.await?;
            verdict(&owned, &reply)?;
            match reply.get(2) {
                Some(redis::Value::Int(n)) => u64::try_from(*n).ok(),
                _ => None,
            }
            .ok_or_else(|| unexpected("a delete"))
        })
    }

    fn exists(&self, ns: &str, key: String, deadline: Instant) -> KvFuture<bool> {
        let data = data_key(ns);
        self.run(deadline, move |mut conn| async move {
            redis::cmd("HEXISTS")
                .arg(data)
                .arg(key)
                .query_async(&mut conn)
                .await
        })
    }

    fn list_keys(
        &self,
        ns: &str,
        cursor: Option<u64>,
        limit: u32,
        deadline: Instant,
    ) -> KvFuture<KeyPage> {
        let data = data_key(ns);
        let run = self.run(deadline, move |mut conn| async move {
            SCRIPTS
                .list_keys
                .key(data)
                .arg(cursor.unwrap_or(0))
                .arg(limit.max(1))
                .invoke_async::<(u64, Vec<String>)>(&mut conn)
                .await
        });
        Box::pin(async move {
            let (next, keys) = run.await?;
            Ok(KeyPage {
                keys,
                cursor: (next != 0).then_some(next),
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
        let (data, usage, owned) = (data_key(ns), usage_key(ns), ns.to_string());
        let run = self.write(deadline, move |mut conn, fence| async move {
            SCRIPTS
                .increment
                .key(data)
                .key(usage)
                .arg(fence)
                .arg(key)
                .arg(delta)
                .arg(limit(quota.max_total_size))
                .arg(limit(quota.max_keys))
                .invoke_async::<Vec<redis::Value>>(&mut conn)
                .await
        });
        Box::pin(async move {
            let reply = run.await?;
            verdict(&owned, &reply)?;
            match reply.get(2) {
                Some(redis::Value::BulkString(b)) => {
                    std::str::from_utf8(b).ok().and_then(|t| t.parse().ok())
                }
                _ => None,
            }
            .ok_or_else(|| unexpected("an increment"))
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
        let (data, usage, owned) = (data_key(ns), usage_key(ns), ns.to_string());
        let run = self.write(deadline, move |mut conn, fence| async move {
            SCRIPTS
                .compare_and_swap
                .key(data)
                .key(usage)
                .arg(fence)
                .arg(key)
                .arg(if expected.is_some() { "1" } else { "0" })
                .arg(expected.unwrap_or_default())
                .arg(value)
                .arg(limit(quota.max_total_size))
                .arg(limit(quota.max_keys))
                .invoke_async::<Vec<redis::Value>>(&mut conn)
                .await
        });
        Box::pin(async move { verdict(&owned, &run.await?) })
    }

    fn usage(&self, ns: &str, deadline: Instant) -> KvFuture<Usage> {
        let usage = usage_key(ns);
        let run = self.run(deadline, move |mut conn| async move {
            redis::cmd("HMGET")
                .arg(usage)
                .arg("keys")
                .arg("bytes")
                .query_async::<(Option<i64>, Option<i64>)>(&mut conn)
                .await
        });
        Box::pin(async move {
            let (keys, bytes) = run.await?;
            Ok(Usage {
                keys: keys.unwrap_or(0).max(0) as u64,
                bytes: bytes.unwrap_or(0).max(0) as u64,
            })
        })
    }
}
