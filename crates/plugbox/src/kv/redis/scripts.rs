//! The Lua scripts of the Redis backend. Each runs atomically on the
//! server; every write starts with the fence ([`super::fence`]): `ARGV[1]`
//! is the Redis time (microseconds) by which it must run, and a script
//! that starts later changes nothing and answers `{'late', now}`. Every
//! write answers `{verdict, now, ...}`, `now` being Redis's clock when it
//! ran, which keeps the host's reading of that clock fresh.

/// The fence every write starts with.
const FENCE: &str = r"
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
if now >= tonumber(ARGV[1]) then return {'late', now} end
";

/// Sets `ARGV[4..]` (key, value pairs) if the quota (`ARGV[2]` bytes,
/// `ARGV[3]` keys; -1: none) allows: `{'ok', now}`, or
/// `{'quota', now, what, max}`.
const SET_MANY: &str = r"
local data, usage = KEYS[1], KEYS[2]
local max_bytes, max_keys = tonumber(ARGV[2]), tonumber(ARGV[3])
local cur, dkeys, dbytes = {}, 0, 0
for i = 4, #ARGV, 2 do
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
if max_keys >= 0 and dkeys > 0 and keys + dkeys > max_keys then return {'quota', now, 'keys', max_keys} end
if max_bytes >= 0 and dbytes > 0 and bytes + dbytes > max_bytes then return {'quota', now, 'bytes', max_bytes} end
for i = 4, #ARGV, 2 do redis.call('HSET', data, ARGV[i], ARGV[i + 1]) end
if dkeys ~= 0 then redis.call('HINCRBY', usage, 'keys', dkeys) end
if dbytes ~= 0 then redis.call('HINCRBY', usage, 'bytes', dbytes) end
return {'ok', now}
";

/// Deletes `ARGV[2..]` (keys): `{'ok', now, how many existed}`.
const DELETE_MANY: &str = r"
local data, usage = KEYS[1], KEYS[2]
local dkeys, dbytes = 0, 0
for i = 2, #ARGV do
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
return {'ok', now, dkeys}
";

/// Adds `ARGV[3]` to the integer at `ARGV[2]` (Redis's own exact 64-bit
/// arithmetic): `{'ok', now, new value as text}`, `{'invalid', now, why}`
/// or a quota refusal (the value is restored).
const INCREMENT: &str = r"
local data, usage, k = KEYS[1], KEYS[2], ARGV[2]
local max_bytes, max_keys = tonumber(ARGV[4]), tonumber(ARGV[5])
local old = redis.call('HGET', data, k)
local r = redis.pcall('HINCRBY', data, k, ARGV[3])
if type(r) == 'table' and r.err then return {'invalid', now, r.err} end
local new = redis.call('HGET', data, k)
local dkeys, dbytes = 0, #new
if old then dbytes = #new - #old else dkeys = 1; dbytes = #k + #new end
local bytes = tonumber(redis.call('HGET', usage, 'bytes') or '0')
local keys = tonumber(redis.call('HGET', usage, 'keys') or '0')
local over = nil
if max_keys >= 0 and dkeys > 0 and keys + dkeys > max_keys then over = {'quota', now, 'keys', max_keys} end
if max_bytes >= 0 and dbytes > 0 and bytes + dbytes > max_bytes then over = {'quota', now, 'bytes', max_bytes} end
if over then
  if old then redis.call('HSET', data, k, old) else redis.call('HDEL', data, k) end
  return over
end
if dkeys ~= 0 then redis.call('HINCRBY', usage, 'keys', dkeys) end
if dbytes ~= 0 then redis.call('HINCRBY', usage, 'bytes', dbytes) end
return {'ok', now, new}
";

/// Sets `ARGV[2]` to `ARGV[5]` if its value is `ARGV[4]` (`ARGV[3]` = '0':
/// if it is absent): `{'ok', now}`, `{'mismatch', now}` or a quota
/// refusal.
const COMPARE_AND_SWAP: &str = r"
local data, usage, k, v = KEYS[1], KEYS[2], ARGV[2], ARGV[5]
local max_bytes, max_keys = tonumber(ARGV[6]), tonumber(ARGV[7])
local cur = redis.call('HGET', data, k)
if ARGV[3] == '0' then
  if cur then return {'mismatch', now} end
elseif (not cur) or cur ~= ARGV[4] then
  return {'mismatch', now}
end
local dkeys, dbytes = 0, 0
if cur then dbytes = #v - #cur else dkeys = 1; dbytes = #k + #v end
local bytes = tonumber(redis.call('HGET', usage, 'bytes') or '0')
local keys = tonumber(redis.call('HGET', usage, 'keys') or '0')
if max_keys >= 0 and dkeys > 0 and keys + dkeys > max_keys then return {'quota', now, 'keys', max_keys} end
if max_bytes >= 0 and dbytes > 0 and bytes + dbytes > max_bytes then return {'quota', now, 'bytes', max_bytes} end
redis.call('HSET', data, k, v)
if dkeys ~= 0 then redis.call('HINCRBY', usage, 'keys', dkeys) end
if dbytes ~= 0 then redis.call('HINCRBY', usage, 'bytes', dbytes) end
return {'ok', now}
";

/// One HSCAN page without the values: `{next cursor, {keys}}` (a read: no
/// fence).
const LIST_KEYS: &str = r"
local r = redis.call('HSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])
local keys = {}
for i = 1, #r[2], 2 do keys[#keys + 1] = r[2][i] end
return {r[1], keys}
";

/// The scripts, loaded once.
pub(super) struct Scripts {
    pub(super) set_many: redis::Script,
    pub(super) delete_many: redis::Script,
    pub(super) increment: redis::Script,
    pub(super) compare_and_swap: redis::Script,
    pub(super) list_keys: redis::Script,
}

pub(super) static SCRIPTS: std::sync::LazyLock<Scripts> = std::sync::LazyLock::new(|| {
    let write = |body: &str| redis::Script::new(&format!("{FENCE}{body}"));
    Scripts {
        set_many: write(SET_MANY),
        delete_many: write(DELETE_MANY),
        increment: write(INCREMENT),
        compare_and_swap: write(COMPARE_AND_SWAP),
        list_keys: redis::Script::new(LIST_KEYS),
    }
});
