//! The Redis backend: every process and machine pointed at one Redis
//! server shares the state. A namespace is one hash (`plugbox:kv:{NS}`)
//! beside its usage (`plugbox:kv-usage:{NS}`, the same hash slot); every
//! write is a Lua script that checks the quota and updates the usage in the
//! same atomic step, so quotas stay exact with any number of writers.
//!
//! The connection is made on first use and remade after a failure; an
//! operation waits at most until its deadline, so a Redis that is down or
//! stuck costs the guest a typed error, never the host its threads.

use super::backend::{KeyPage, KvBackend, KvFuture, Quota, Usage, kv_error};
use super::runtime;
use crate::error::{Error, ErrorKind, KvErrorKind, Result};
use redis::aio::ConnectionManager;
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::{Duration, Instant};

/// Sets `ARGV[3..]` (key, value pairs) if the quota (`ARGV[1]` bytes,
/// `ARGV[2]` keys; -1: none) allows: `{'ok'}`, or `{'quota', what, max}`.
const SET_MANY: &str = r"
local data, usage = KEYS[1], KEYS[2]
local max_bytes, max_keys = tonumber(ARGV[1]), tonumber(ARGV[2])
local cur, dkeys, dbytes = {}, 0, 0
for i = 3, #ARGV, 2 do
  local k, v = ARGV[i], ARGV[i + 1]
  local old = cur[k]
  if old == nil then
    if redis.call('HEXISTS', data, k) == 1 then old = redis.call('HSTRLEN', data, k) else old = false end
  end
  if old == false then dkeys = dkeys + 1; dbytes = dbytes + #k + #v else dbytes = dbytes + #v - old end
  cur[k] = #v
end
local bytes = tonumber(redis.call('HGET', usage, 'bytes') or '0')
local keys = tonumber(redis.call('HGET', usage, 'keys') or '0')
if max_keys >= 0 and dkeys > 0 and keys + dkeys > max_keys then return {'quota', 'keys', max_keys} end
if max_bytes >= 0 and dbytes > 0 and bytes + dbytes > max_bytes then return {'quota', 'bytes', max_bytes} end
for i = 3, #ARGV, 2 do redis.call('HSET', data, ARGV[i], ARGV[i + 1]) end
if dkeys ~= 0 then redis.call('HINCRBY', usage, 'keys', dkeys) end
if dbytes ~= 0 then redis.call('HINCRBY', usage, 'bytes', dbytes) end
return {'ok'}
";

/// Deletes `ARGV` (keys); how many existed.
const DELETE_MANY: &str = r"
local data, usage = KEYS[1], KEYS[2]
local dkeys, dbytes = 0, 0
for i = 1, #ARGV do
  local k = ARGV[i]
  if redis.call('HEXISTS', data, k) == 1 then
    dkeys = dkeys + 1
    dbytes = dbytes + #k + redis.call('HSTRLEN', data, k)
    redis.call('HDEL', data, k)
  end
end
if dkeys > 0 then
  redis.call('HINCRBY', usage, 'keys', -dkeys)
  redis.call('HINCRBY', usage, 'bytes', -dbytes)
end
return dkeys
";

/// Adds `ARGV[2]` to the integer at `ARGV[1]` (Redis's own exact 64-bit
/// arithmetic): `{'ok', new value as text}`, `{'invalid', why}` or a quota
/// refusal (the value is restored).
const INCREMENT: &str = r"
local data, usage, k = KEYS[1], KEYS[2], ARGV[1]
local max_bytes, max_keys = tonumber(ARGV[3]), tonumber(ARGV[4])
local old = redis.call('HGET', data, k)
local r = redis.pcall('HINCRBY', data, k, ARGV[2])
if type(r) == 'table' and r.err then return {'invalid', r.err} end
local new = redis.call('HGET', data, k)
local dkeys, dbytes = 0, #new
if old then dbytes = #new - #old else dkeys = 1; dbytes = #k + #new end
local bytes = tonumber(redis.call('HGET', usage, 'bytes') or '0')
local keys = tonumber(redis.call('HGET', usage, 'keys') or '0')
local over = nil
if max_keys >= 0 and dkeys > 0 and keys + dkeys > max_keys then over = {'quota', 'keys', max_keys} end
if max_bytes >= 0 and dbytes > 0 and bytes + dbytes > max_bytes then over = {'quota', 'bytes', max_bytes} end
if over then
  if old then redis.call('HSET', data, k, old) else redis.call('HDEL', data, k) end
  return over
end
if dkeys ~= 0 then redis.call('HINCRBY', usage, 'keys', dkeys) end
if dbytes ~= 0 then redis.call('HINCRBY', usage, 'bytes', dbytes) end
return {'ok', new}
";

/// Sets `ARGV[1]` to `ARGV[4]` if its value is `ARGV[3]` (`ARGV[2]` = '0':
/// if it is absent): `{'ok'}`, `{'mismatch'}` or a quota refusal.
const COMPARE_AND_SWAP: &str = r"
local data, usage, k, v = KEYS[1], KEYS[2], ARGV[1], ARGV[4]
local max_bytes, max_keys = tonumber(ARGV[5]), tonumber(ARGV[6])
local cur = redis.call('HGET', data, k)
if ARGV[2] == '0' then
  if cur then return {'mismatch'} end
elseif (not cur) or cur ~= ARGV[3] then
  return {'mismatch'}
end
local dkeys, dbytes = 0, 0
if cur then dbytes = #v - #cur else dkeys = 1; dbytes = #k + #v end
local bytes = tonumber(redis.call('HGET', usage, 'bytes') or '0')
local keys = tonumber(redis.call('HGET', usage, 'keys') or '0')
if max_keys >= 0 and dkeys > 0 and keys + dkeys > max_keys then return {'quota', 'keys', max_keys} end
if max_bytes >= 0 and dbytes > 0 and bytes + dbytes > max_bytes then return {'quota', 'bytes', max_bytes} end
redis.call('HSET', data, k, v)
if dkeys ~= 0 then redis.call('HINCRBY', usage, 'keys', dkeys) end
if dbytes ~= 0 then redis.call('HINCRBY', usage, 'bytes', dbytes) end
return {'ok'}
";

/// One HSCAN page without the values: `{next cursor, {keys}}`.
const LIST_KEYS: &str = r"
local r = redis.call('HSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])
local keys = {}
for i = 1, #r[2], 2 do keys[#keys + 1] = r[2][i] end
return {r[1], keys}
";

fn script(source: &'static str) -> redis::Script {
    redis::Script::new(source)
}

static SCRIPTS: LazyLock<[redis::Script; 5]> = LazyLock::new(|| {
    [
        script(SET_MANY),
        script(DELETE_MANY),
        script(INCREMENT),
        script(COMPARE_AND_SWAP),
        script(LIST_KEYS),
    ]
});

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
            }),
        })
    }

    /// Runs `op` on the connection, on the key-value runtime, until
    /// `deadline`.
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
                    Err(_) => Err(kv_error(
                        KvErrorKind::Unavailable,
                        format!(
                            "redis `{}` did not answer within {}",
                            inner.shown,
                            crate::units::format_duration(
                                started.elapsed().max(Duration::from_millis(1))
                            )
                        ),
                    )),
                }
            })
            .await?
        })
    }
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

    fn failed(&self, e: redis::RedisError) -> Error {
        kv_error(
            KvErrorKind::Unavailable,
            format!("redis `{}` failed", self.shown),
        )
        .with_source(e)
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

/// A script's verdict: `ok`, `mismatch`, `invalid` or `quota`.
fn verdict(ns: &str, reply: &[redis::Value]) -> Result<bool> {
    let word = |i: usize| match reply.get(i) {
        Some(redis::Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
        Some(redis::Value::SimpleString(s)) => s.clone(),
        Some(redis::Value::Int(n)) => n.to_string(),
        _ => String::new(),
    };
    match word(0).as_str() {
        "ok" => Ok(true),
        "mismatch" => Ok(false),
        "quota" => Err(kv_error(
            KvErrorKind::QuotaExceeded,
            format!("kv quota of {} {} of `{ns}` exceeded", word(2), word(1)),
        )),
        "invalid" => Err(kv_error(
            KvErrorKind::Invalid,
            format!("in `{ns}`: {}", word(1).trim_start_matches("ERR ")),
        )),
        other => Err(kv_error(
            KvErrorKind::Unavailable,
            format!("unexpected reply `{other}` from redis"),
        )),
    }
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
        let run = self.run(deadline, move |mut conn| async move {
            let mut call = SCRIPTS[0].key(data);
            call.key(usage)
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
        let (data, usage) = (data_key(ns), usage_key(ns));
        self.run(deadline, move |mut conn| async move {
            SCRIPTS[1]
                .key(data)
                .key(usage)
                .arg(&keys)
                .invoke_async(&mut conn)
                .await
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
            SCRIPTS[4]
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
        let run = self.run(deadline, move |mut conn| async move {
            SCRIPTS[2]
                .key(data)
                .key(usage)
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
            match reply.get(1) {
                Some(redis::Value::BulkString(b)) => {
                    std::str::from_utf8(b).ok().and_then(|t| t.parse().ok())
                }
                _ => None,
            }
            .ok_or_else(|| {
                kv_error(
                    KvErrorKind::Unavailable,
                    "unexpected reply to an increment from redis",
                )
            })
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
        let run = self.run(deadline, move |mut conn| async move {
            SCRIPTS[3]
                .key(data)
                .key(usage)
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
