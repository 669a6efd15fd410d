/*
 * redis_scripts.c - the Lua scripts of the Redis backend: one per store operation that touches
 * more than one key or must check before it writes, so that each runs atomically inside Redis
 * (Redis runs one script at a time and nothing interleaves with it).
 *
 * Every script gets ARGV[1] = the key prefix P and builds its key names from it:
 *
 *   P s:<id>            hash: one session (fields below), TTL = its absolute lifetime + slack
 *   P t:<token hash>    string: the session id of a current or previous token hash, same TTL
 *   P e                 sorted set: every session id, score = min(idle, absolute deadline)
 *   P v                 sorted set: ids of sessions with a previous token, score = prev_until
 *   P r                 set: users whose generation moved and who may have stale sessions left
 *   P {u:<user>}:z      sorted set: the user's session ids, score = created (ties: id bytes)
 *   P {u:<user>}:g      string: the user's generation (absent = 0); revoke-all increments it
 *   P {u:<user>}:p      hash: the user's preferences
 *   P ak, P ah          hashes: API key name -> hash + created, and hash -> name
 *   P {u:<user>}:a      string: the user's account record (opaque to the store)
 *   P acc               sorted set: the names of users with an account (score 0: by name)
 *   P inv               pub/sub channel of the near caches' invalidations
 *
 * Session fields: u r ip ag (user, roles, address, agent), c ls ie ae at pu (created,
 * last seen, idle and absolute deadline, auth time, end of the previous token's grace, decimal),
 * g (generation at creation), f (flags), cs th ph (CSRF secret, current and previous token hash,
 * raw bytes). A JSON object (a session's data, a user's preferences) is stored one top-level
 * member per field: "d:" + the key as compact JSON text -> the value as compact JSON text, plus
 * dsz (sum over members of key text + 1 + value text) and dn (members), so that the compact
 * JSON of the whole object is 2 + dsz + max(dn - 1, 0) bytes without reading it. Patches of
 * different top-level keys never conflict; a key whose patch merges into an object is checked
 * against the value the merge started from (compare-and-set; the caller merges again on
 * CONFLICT).
 *
 * Every write to a session or user publishes an invalidation on P inv (see redis_int.h), from
 * inside the script, so it goes out exactly when the write happens. Writes after creation check
 * that the session exists in the same script: a deleted session is never written back, which
 * is what a tombstone would buy. Keys are named inside the scripts, so they run on a single
 * Redis (standalone or behind Sentinel), not on a Cluster.
 */
#include "redis_int.h"

#define PRELUDE                                                                                    \
    "local P = ARGV[1]\n"                                                                          \
    "local EXP, PREV, REV, CHAN = P .. 'e', P .. 'v', P .. 'r', P .. 'inv'\n"                      \
    "local function sk(id) return P .. 's:' .. id end\n"                                           \
    "local function tk(h) return P .. 't:' .. h end\n"                                             \
    "local function uk(u, k) return P .. '{u:' .. u .. '}:' .. k end\n"                            \
    "local function publish(kind, body) redis.call('PUBLISH', CHAN, kind .. body) end\n"           \
    "local function hset(key, list)\n"                                                             \
    "  for i = 1, #list, 200 do\n"                                                                 \
    "    local a = {'HSET', key}\n"                                                                \
    "    for j = i, math.min(i + 199, #list) do a[#a + 1] = list[j] end\n"                         \
    "    redis.call(unpack(a))\n"                                                                  \
    "  end\n"                                                                                      \
    "end\n"                                                                                        \
    "local function drop_token(h, id)\n"                                                           \
    "  if h and h ~= '' and redis.call('GET', tk(h)) == id then redis.call('DEL', tk(h)) end\n"    \
    "end\n"                                                                                        \
    "local function remove_session(id)\n"                                                          \
    "  local f = redis.call('HMGET', sk(id), 'u', 'th', 'ph')\n"                                   \
    "  redis.call('ZREM', EXP, id)\n"                                                              \
    "  redis.call('ZREM', PREV, id)\n"                                                             \
    "  if not f[1] then return false end\n"                                                        \
    "  redis.call('ZREM', uk(f[1], 'z'), id)\n"                                                    \
    "  drop_token(f[2], id)\n"                                                                     \
    "  drop_token(f[3], id)\n"                                                                     \
    "  redis.call('DEL', sk(id))\n"                                                                \
    "  return true\n"                                                                              \
    "end\n"

/* clang-format off */
/* ARGV: P, token hash. -> {OK, user generation, HGETALL of the session, id} */
static const char lookup_lua[] = PRELUDE
    "local id = redis.call('GET', tk(ARGV[2]))\n"
    "if not id then return {'ESESSION'} end\n"
    "local h = redis.call('HGETALL', sk(id))\n"
    "if #h == 0 then return {'ESESSION'} end\n"
    "local u = redis.call('HGET', sk(id), 'u')\n"
    "return {'OK', redis.call('GET', uk(u, 'g')) or '0', h, id}\n";

/* ARGV: P, id. -> {OK, user generation, HGETALL of the session} */
static const char get_lua[] = PRELUDE
    "local h = redis.call('HGETALL', sk(ARGV[2]))\n"
    "if #h == 0 then return {'ESESSION'} end\n"
    "local u = redis.call('HGET', sk(ARGV[2]), 'u')\n"
    "return {'OK', redis.call('GET', uk(u, 'g')) or '0', h}\n";

/* ARGV: P, id, token hash, user, max per user (0: none), TTL ms, expiry score, created, then
 * field, value pairs. Inserts, then removes the user's sessions of other generations (and index
 * entries whose session expired in Redis), then evicts the oldest past the limit.
 * -> {OK, generation, evicted, removed ids concatenated} */
static const char create_lua[] = PRELUDE
    "local id, th, user = ARGV[2], ARGV[3], ARGV[4]\n"
    "local maxn, ttl = tonumber(ARGV[5]), tonumber(ARGV[6])\n"
    "if redis.call('EXISTS', sk(id)) == 1 or redis.call('EXISTS', tk(th)) == 1 then\n"
    "  return {'EEXIST'}\n"
    "end\n"
    "local gen = redis.call('GET', uk(user, 'g')) or '0'\n"
    "local fields = {'g', gen}\n"
    "for i = 9, #ARGV do fields[#fields + 1] = ARGV[i] end\n"
    "hset(sk(id), fields)\n"
    "redis.call('PEXPIRE', sk(id), ttl)\n"
    "redis.call('SET', tk(th), id, 'PX', ttl)\n"
    "redis.call('ZADD', EXP, ARGV[7], id)\n"
    "local z = uk(user, 'z')\n"
    "redis.call('ZADD', z, ARGV[8], id)\n"
    "if redis.call('PTTL', z) < ttl then redis.call('PEXPIRE', z, ttl) end\n"
    "local gone, current = {}, {}\n"
    "for _, x in ipairs(redis.call('ZRANGE', z, 0, -1)) do\n"
    "  if x ~= id then\n"
    "    local xg = redis.call('HGET', sk(x), 'g')\n"
    "    if not xg then\n"
    "      redis.call('ZREM', z, x)\n"
    "      redis.call('ZREM', EXP, x)\n"
    "      redis.call('ZREM', PREV, x)\n"
    "    elseif xg ~= gen then\n"
    "      remove_session(x)\n"
    "      gone[#gone + 1] = x\n"
    "    else\n"
    "      current[#current + 1] = x\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local evicted = 0\n"
    "while maxn > 0 and #current + 1 - evicted > maxn do\n"
    "  evicted = evicted + 1\n"
    "  remove_session(current[evicted])\n"
    "  gone[#gone + 1] = current[evicted]\n"
    "end\n"
    "if #gone > 0 then publish('i', table.concat(gone)) end\n"
    "return {'OK', gen, evicted, table.concat(gone)}\n";

/* ARGV: P, then id, last seen, idle deadline triples. Never lowers either, caps the idle
 * deadline at the absolute one, skips absent sessions. -> {OK, touched ids concatenated} */
static const char touch_lua[] = PRELUDE
    "local touched = {}\n"
    "for i = 2, #ARGV, 3 do\n"
    "  local id = ARGV[i]\n"
    "  local f = redis.call('HMGET', sk(id), 'ls', 'ie', 'ae')\n"
    "  if f[1] then\n"
    "    local nie, nies = tonumber(ARGV[i + 2]), ARGV[i + 2]\n"
    "    if nie > tonumber(f[3]) then nie, nies = tonumber(f[3]), f[3] end\n"
    "    local upd = {}\n"
    "    if tonumber(ARGV[i + 1]) > tonumber(f[1]) then\n"
    "      upd[#upd + 1] = 'ls'\n"
    "      upd[#upd + 1] = ARGV[i + 1]\n"
    "    end\n"
    "    if nie > tonumber(f[2]) then\n"
    "      upd[#upd + 1] = 'ie'\n"
    "      upd[#upd + 1] = nies\n"
    "      redis.call('ZADD', EXP, nies, id)\n"
    "    end\n"
    "    if #upd > 0 then\n"
    "      hset(sk(id), upd)\n"
    "      touched[#touched + 1] = id\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if #touched > 0 then publish('i', table.concat(touched)) end\n"
    "return {'OK', table.concat(touched)}\n";

/* ARGV: P, kind ('s' session: must exist; 'p' preferences: created when absent), session id
 * or user, max bytes, '1' to return the result, number of operations, then per operation: mode
 * (S set, D delete, C set if the field still holds the expected value, A set if the field is
 * still absent), field, value, expected value.
 * -> {OK[, user generation, HGETALL after]} | {CONFLICT} | {ETOOLARGE} | {ESESSION} */
static const char patch_lua[] = PRELUDE
    "local kind, ident, max = ARGV[2], ARGV[3], tonumber(ARGV[4])\n"
    "local key = kind == 's' and sk(ident) or uk(ident, 'p')\n"
    "if kind == 's' and redis.call('EXISTS', key) == 0 then return {'ESESSION'} end\n"
    "local m = redis.call('HMGET', key, 'dsz', 'dn')\n"
    "local dsz, dn = tonumber(m[1] or '0'), tonumber(m[2] or '0')\n"
    "local n = tonumber(ARGV[6])\n"
    "local set, del = {}, {}\n"
    "for i = 0, n - 1 do\n"
    "  local b = 7 + i * 4\n"
    "  local mode, field, val = ARGV[b], ARGV[b + 1], ARGV[b + 2]\n"
    "  local cur = redis.call('HGET', key, field)\n"
    "  if (mode == 'C' and cur ~= ARGV[b + 3]) or (mode == 'A' and cur) then\n"
    "    return {'CONFLICT'}\n"
    "  end\n"
    "  if cur then dsz, dn = dsz - (#field - 2) - 1 - #cur, dn - 1 end\n"
    "  if mode == 'D' then\n"
    "    del[#del + 1] = field\n"
    "  else\n"
    "    dsz, dn = dsz + (#field - 2) + 1 + #val, dn + 1\n"
    "    set[#set + 1] = field\n"
    "    set[#set + 1] = val\n"
    "  end\n"
    "end\n"
    "if 2 + dsz + math.max(dn - 1, 0) > max then return {'ETOOLARGE'} end\n"
    "for i = 1, #del, 200 do redis.call('HDEL', key, unpack(del, i, math.min(i + 199, #del))) end\n"
    "set[#set + 1] = 'dsz'\n"
    "set[#set + 1] = tostring(dsz)\n"
    "set[#set + 1] = 'dn'\n"
    "set[#set + 1] = tostring(dn)\n"
    "hset(key, set)\n"
    "publish(kind == 's' and 'i' or 'p', ident)\n"
    "if ARGV[5] ~= '1' then return {'OK'} end\n"
    "local gen = '0'\n"
    "if kind == 's' then\n"
    "  gen = redis.call('GET', uk(redis.call('HGET', key, 'u'), 'g')) or '0'\n"
    "end\n"
    "return {'OK', gen, redis.call('HGETALL', key)}\n";

/* ARGV: P, id, new token hash, prev_until, auth time ('' keeps it), CSRF secret ('' keeps it),
 * expected current hash ('' for any). The current hash becomes the previous one; the old
 * previous one goes. A current hash other than the expected one means another rotation won. */
static const char rotate_lua[] = PRELUDE
    "local id, new = ARGV[2], ARGV[3]\n"
    "local key = sk(id)\n"
    "local f = redis.call('HMGET', key, 'th', 'ph')\n"
    "if not f[1] then return {'ESESSION'} end\n"
    "if ARGV[7] ~= '' and f[1] ~= ARGV[7] then return {'ESESSION'} end\n"
    "if redis.call('EXISTS', tk(new)) == 1 then return {'EEXIST'} end\n"
    "drop_token(f[2], id)\n"
    "local ttl = redis.call('PTTL', key)\n"
    "if ttl > 0 then\n"
    "  redis.call('SET', tk(new), id, 'PX', ttl)\n"
    "else\n"
    "  redis.call('SET', tk(new), id)\n"
    "end\n"
    "local fl = tonumber(redis.call('HGET', key, 'f') or '0')\n"
    "if fl % 4 >= 2 then fl = fl - 2 end\n"
    "local upd = {'th', new, 'ph', f[1], 'pu', ARGV[4], 'f', tostring(fl)}\n"
    "if ARGV[5] ~= '' then upd[#upd + 1] = 'at'; upd[#upd + 1] = ARGV[5] end\n"
    "if ARGV[6] ~= '' then upd[#upd + 1] = 'cs'; upd[#upd + 1] = ARGV[6] end\n"
    "hset(key, upd)\n"
    "redis.call('ZADD', PREV, ARGV[4], id)\n"
    "publish('i', id)\n"
    "return {'OK'}\n";

/* ARGV: P, user, roles. Sets the roles of each of the user's sessions and flags them
 * SESS_REC_ROLES_CHANGED (2). -> {OK, changed ids concatenated} */
static const char set_roles_lua[] = PRELUDE
    "local changed = {}\n"
    "for _, id in ipairs(redis.call('ZRANGE', uk(ARGV[2], 'z'), 0, -1)) do\n"
    "  local fl = redis.call('HGET', sk(id), 'f')\n"
    "  if fl then\n"
    "    fl = tonumber(fl)\n"
    "    if fl % 4 < 2 then fl = fl + 2 end\n"
    "    redis.call('HSET', sk(id), 'r', ARGV[3], 'f', tostring(fl))\n"
    "    changed[#changed + 1] = id\n"
    "  end\n"
    "end\n"
    "if #changed > 0 then publish('i', table.concat(changed)) end\n"
    "return {'OK', table.concat(changed)}\n";

/* ARGV: P, id. */
static const char del_lua[] = PRELUDE
    "if not remove_session(ARGV[2]) then return {'ESESSION'} end\n"
    "publish('i', ARGV[2])\n"
    "return {'OK'}\n";

/* ARGV: P, user. -> {OK, new generation} */
static const char revoke_lua[] = PRELUDE
    "local g = redis.call('INCR', uk(ARGV[2], 'g'))\n"
    "redis.call('SADD', REV, ARGV[2])\n"
    "publish('u', ARGV[2])\n"
    "return {'OK', tostring(g)}\n";

/* ARGV: P, now, budget. Removes sessions expired at `now` (the expiry index, oldest deadline
 * first), then sessions of old generations (users in the revoked set), at most `budget` in all,
 * then drops previous token hashes whose grace ended (at most `budget` more).
 * -> {OK, removed, changed ids concatenated} */
static const char sweep_lua[] = PRELUDE
    "local now, budget = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local removed, gone = 0, {}\n"
    "if budget > 0 then\n"
    "  local due = redis.call('ZRANGEBYSCORE', EXP, '-inf', ARGV[2], 'LIMIT', 0, budget)\n"
    "  for _, id in ipairs(due) do\n"
    "    local f = redis.call('HMGET', sk(id), 'ie', 'ae')\n"
    "    if not f[1] then\n"
    "      redis.call('ZREM', EXP, id)\n"
    "      redis.call('ZREM', PREV, id)\n"
    "      removed = removed + 1\n"
    "    elseif math.min(tonumber(f[1]), tonumber(f[2])) <= now then\n"
    "      remove_session(id)\n"
    "      gone[#gone + 1] = id\n"
    "      removed = removed + 1\n"
    "    else\n"
    "      redis.call('ZADD', EXP, math.min(tonumber(f[1]), tonumber(f[2])), id)\n"
    "    end\n"
    "  end\n"
    "end\n"
    "while removed < budget do\n"
    "  local user = redis.call('SRANDMEMBER', REV)\n"
    "  if not user then break end\n"
    "  local g = redis.call('GET', uk(user, 'g')) or '0'\n"
    "  local z = uk(user, 'z')\n"
    "  local left = false\n"
    "  for _, x in ipairs(redis.call('ZRANGE', z, 0, -1)) do\n"
    "    local xg = redis.call('HGET', sk(x), 'g')\n"
    "    if not xg then\n"
    "      redis.call('ZREM', z, x)\n"
    "    elseif xg ~= g then\n"
    "      if removed < budget then\n"
    "        remove_session(x)\n"
    "        gone[#gone + 1] = x\n"
    "        removed = removed + 1\n"
    "      else\n"
    "        left = true\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  if not left then redis.call('SREM', REV, user) end\n"
    "end\n"
    "if budget > 0 then\n"
    "  local ended = redis.call('ZRANGEBYSCORE', PREV, '-inf', ARGV[2], 'LIMIT', 0, budget)\n"
    "  for _, id in ipairs(ended) do\n"
    "    local f = redis.call('HMGET', sk(id), 'ph', 'pu')\n"
    "    if f[1] and f[1] ~= '' and tonumber(f[2]) <= now then\n"
    "      drop_token(f[1], id)\n"
    "      redis.call('HDEL', sk(id), 'ph')\n"
    "      redis.call('HSET', sk(id), 'pu', '0')\n"
    "      gone[#gone + 1] = id\n"
    "    end\n"
    "    redis.call('ZREM', PREV, id)\n"
    "  end\n"
    "end\n"
    "if #gone > 0 then publish('i', table.concat(gone)) end\n"
    "return {'OK', removed, table.concat(gone)}\n";

/* ARGV: P, user, then field, value pairs of the whole new object (with dsz and dn). */
static const char prefs_put_lua[] = PRELUDE
    "local key = uk(ARGV[2], 'p')\n"
    "redis.call('DEL', key)\n"
    "local fields = {}\n"
    "for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end\n"
    "hset(key, fields)\n"
    "publish('p', ARGV[2])\n"
    "return {'OK'}\n";

/* ARGV: P, name, hash, created. The value in P ak is the 32-byte hash then created in decimal. */
static const char apikey_put_lua[] = PRELUDE
    "local AK, AH = P .. 'ak', P .. 'ah'\n"
    "if redis.call('HEXISTS', AK, ARGV[2]) == 1 or redis.call('HEXISTS', AH, ARGV[3]) == 1 then\n"
    "  return {'EEXIST'}\n"
    "end\n"
    "redis.call('HSET', AK, ARGV[2], ARGV[3] .. ARGV[4])\n"
    "redis.call('HSET', AH, ARGV[3], ARGV[2])\n"
    "return {'OK'}\n";

/* ARGV: P, name. -> {OK, the key's hash} */
static const char apikey_del_lua[] = PRELUDE
    "local AK, AH = P .. 'ak', P .. 'ah'\n"
    "local v = redis.call('HGET', AK, ARGV[2])\n"
    "if not v then return {'ENOTFOUND'} end\n"
    "local h = string.sub(v, 1, 32)\n"
    "if redis.call('HGET', AH, h) == ARGV[2] then redis.call('HDEL', AH, h) end\n"
    "redis.call('HDEL', AK, ARGV[2])\n"
    "publish('k', h)\n"
    "return {'OK', h}\n";
/* ARGV: P, user, record, expected current record (only with ARGV[5] = 'replace').
 * Create: EEXIST when an account exists. Replace: ENOTFOUND when none, CONFLICT when the stored
 * record is not the expected one (another writer won; the caller reads again). */
static const char user_put_lua[] = PRELUDE
    "local k = uk(ARGV[2], 'a')\n"
    "local cur = redis.call('GET', k)\n"
    "if ARGV[5] == 'create' then\n"
    "  if cur then return {'EEXIST'} end\n"
    "else\n"
    "  if not cur then return {'ENOTFOUND'} end\n"
    "  if cur ~= ARGV[4] then return {'CONFLICT'} end\n"
    "end\n"
    "redis.call('SET', k, ARGV[3])\n"
    "redis.call('ZADD', P .. 'acc', 0, ARGV[2])\n"
    "return {'OK'}\n";

/* ARGV: P, user. */
static const char user_del_lua[] = PRELUDE
    "if redis.call('DEL', uk(ARGV[2], 'a')) == 0 then return {'ENOTFOUND'} end\n"
    "redis.call('ZREM', P .. 'acc', ARGV[2])\n"
    "return {'OK'}\n";

static const char *const sources[RS_NSCRIPTS] = {
    [RS_LOOKUP] = lookup_lua,
    [RS_GET] = get_lua,
    [RS_CREATE] = create_lua,
    [RS_TOUCH] = touch_lua,
    [RS_PATCH] = patch_lua,
    [RS_ROTATE] = rotate_lua,
    [RS_SET_ROLES] = set_roles_lua,
    [RS_DEL] = del_lua,
    [RS_REVOKE] = revoke_lua,
    [RS_SWEEP] = sweep_lua,
    [RS_PREFS_PUT] = prefs_put_lua,
    [RS_APIKEY_PUT] = apikey_put_lua,
    [RS_APIKEY_DEL] = apikey_del_lua,
    [RS_USER_PUT] = user_put_lua,
    [RS_USER_DEL] = user_del_lua,
};
/* clang-format on */

const char *sess__rs_script_source(rs_script_id id)
{
    return sources[id];
}
