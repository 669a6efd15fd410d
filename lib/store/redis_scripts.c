/*
 * redis_scripts.c - the Lua scripts of the Redis backend: one per store operation that touches
 * more than one key or must check before it writes, so that each runs atomically inside Redis
 * (Redis runs one script at a time and nothing interleaves with it).
 *
 * Key layout 2 (RS_LAYOUT): every script touches the keys of one hash slot only, so the same
 * scripts run on a single Redis, behind Sentinel and on a Cluster. KEYS[1] is a key of that slot
 * (it routes the call in a Cluster); ARGV[1] = the key prefix P, and the scripts build their key
 * names from it:
 *
 *   P s{u:<user>}<id>   hash: one session (fields below), TTL = its absolute lifetime + slack
 *   P z{u:<user>}       sorted set: the user's session ids, score = created (ties: id bytes)
 *   P g{u:<user>}       string: the user's generation (absent = 0); revoke-all increments it
 *   P p{u:<user>}       hash: the user's preferences
 *   P a{u:<user>}       string: the user's account record (opaque to the store)
 *   P t:<token hash>    string: id + user of the session holding this current or previous token
 *                       hash (its own slot), same TTL
 *   P i:<id>            string: the user of session id (its own slot), same TTL
 *   P{due}              sorted set: users whose sessions the sweep must visit, score = when
 *   P{k}n, P{k}h        hashes: API key name -> hash + created, and hash -> name
 *   P{acc}              sorted set: the names of users with an account (score 0: by name)
 *   P layout            string: "2"
 *   P inv               pub/sub channel of the near caches' invalidations
 *
 * The pointers (t:, i:) live in other slots than the session, so redis.c writes them before the
 * session's script and removes them after it, and a reader treats a pointer whose session does
 * not exist, or no longer holds that token hash, as "no session": a crash between the steps
 * leaves a dangling pointer (reclaimed by its TTL), never a session reachable without the checks
 * of its script. The scripts return what must be unlinked afterwards as 48-byte records (id +
 * token hash). P{due} and P{acc} are hints kept the same way: an entry may be early or stale
 * (the sweep recomputes; a listing skips missing accounts), never needed for correctness.
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
 * inside the script, so it goes out exactly when the write happens (in a Cluster, PUBLISH
 * reaches the subscribers of every node). Writes after creation check that the session exists
 * in the same script: a deleted session is never written back, which is what a tombstone would
 * buy.
 */
#include "redis_int.h"

#define PRELUDE                                                                                    \
    "local P = ARGV[1]\n"                                                                          \
    "local CHAN = P .. 'inv'\n"                                                                    \
    "local function uk(kind, u) return P .. kind .. '{u:' .. u .. '}' end\n"                       \
    "local function sk(u, id) return uk('s', u) .. id end\n"                                       \
    "local function publish(kind, body) redis.call('PUBLISH', CHAN, kind .. body) end\n"           \
    "local function hset(key, list)\n"                                                             \
    "  for i = 1, #list, 200 do\n"                                                                 \
    "    local a = {'HSET', key}\n"                                                                \
    "    for j = i, math.min(i + 199, #list) do a[#a + 1] = list[j] end\n"                         \
    "    redis.call(unpack(a))\n"                                                                  \
    "  end\n"                                                                                      \
    "end\n"                                                                                        \
    "local function unlink(list, id, h)\n"                                                         \
    "  if h and #h == 32 then list[#list + 1] = id .. h end\n"                                     \
    "end\n"                                                                                        \
    "local function remove_session(u, id, links)\n"                                                \
    "  local f = redis.call('HMGET', sk(u, id), 'th', 'ph')\n"                                     \
    "  redis.call('ZREM', uk('z', u), id)\n"                                                       \
    "  if redis.call('DEL', sk(u, id)) == 0 then return false end\n"                               \
    "  unlink(links, id, f[1])\n"                                                                  \
    "  unlink(links, id, f[2])\n"                                                                  \
    "  return true\n"                                                                              \
    "end\n"

/* clang-format off */
/* KEYS: the session. ARGV: P, user, id. -> {OK, user generation, HGETALL of the session} */
static const char get_lua[] = PRELUDE
    "local h = redis.call('HGETALL', sk(ARGV[2], ARGV[3]))\n"
    "if #h == 0 then return {'ESESSION'} end\n"
    "return {'OK', redis.call('GET', uk('g', ARGV[2])) or '0', h}\n";

/* KEYS: the user's index. ARGV: P, user, id, max per user (0: none), TTL ms, created, then
 * field, value pairs. Inserts, then removes the user's sessions of other generations (and index
 * entries whose session expired in Redis), then evicts the oldest past the limit.
 * -> {OK, generation, evicted, removed ids concatenated, records to unlink} */
static const char create_lua[] = PRELUDE
    "local user, id = ARGV[2], ARGV[3]\n"
    "local maxn, ttl = tonumber(ARGV[4]), tonumber(ARGV[5])\n"
    "if redis.call('EXISTS', sk(user, id)) == 1 then return {'EEXIST'} end\n"
    "local gen = redis.call('GET', uk('g', user)) or '0'\n"
    "local fields = {'g', gen}\n"
    "for i = 7, #ARGV do fields[#fields + 1] = ARGV[i] end\n"
    "hset(sk(user, id), fields)\n"
    "redis.call('PEXPIRE', sk(user, id), ttl)\n"
    "local z = uk('z', user)\n"
    "redis.call('ZADD', z, ARGV[6], id)\n"
    "if redis.call('PTTL', z) < ttl then redis.call('PEXPIRE', z, ttl) end\n"
    "local gone, current, links = {}, {}, {}\n"
    "for _, x in ipairs(redis.call('ZRANGE', z, 0, -1)) do\n"
    "  if x ~= id then\n"
    "    local xg = redis.call('HGET', sk(user, x), 'g')\n"
    "    if not xg then\n"
    "      redis.call('ZREM', z, x)\n"
    "    elseif xg ~= gen then\n"
    "      remove_session(user, x, links)\n"
    "      gone[#gone + 1] = x\n"
    "    else\n"
    "      current[#current + 1] = x\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local evicted = 0\n"
    "while maxn > 0 and #current + 1 - evicted > maxn do\n"
    "  evicted = evicted + 1\n"
    "  remove_session(user, current[evicted], links)\n"
    "  gone[#gone + 1] = current[evicted]\n"
    "end\n"
    "if #gone > 0 then publish('i', table.concat(gone)) end\n"
    "return {'OK', gen, evicted, table.concat(gone), table.concat(links)}\n";

/* KEYS: the index of the first user. ARGV: P, then user, id, last seen, idle deadline
 * quadruples (users whose keys share one slot; on a single Redis, any). Never lowers either,
 * caps the idle deadline at the absolute one, skips absent sessions.
 * -> {OK, touched ids concatenated} */
static const char touch_lua[] = PRELUDE
    "local touched = {}\n"
    "for i = 2, #ARGV, 4 do\n"
    "  local user, id = ARGV[i], ARGV[i + 1]\n"
    "  local f = redis.call('HMGET', sk(user, id), 'ls', 'ie', 'ae')\n"
    "  if f[1] then\n"
    "    local nie, nies = tonumber(ARGV[i + 3]), ARGV[i + 3]\n"
    "    if nie > tonumber(f[3]) then nie, nies = tonumber(f[3]), f[3] end\n"
    "    local upd = {}\n"
    "    if tonumber(ARGV[i + 2]) > tonumber(f[1]) then\n"
    "      upd[#upd + 1] = 'ls'\n"
    "      upd[#upd + 1] = ARGV[i + 2]\n"
    "    end\n"
    "    if nie > tonumber(f[2]) then\n"
    "      upd[#upd + 1] = 'ie'\n"
    "      upd[#upd + 1] = nies\n"
    "    end\n"
    "    if #upd > 0 then\n"
    "      hset(sk(user, id), upd)\n"
    "      touched[#touched + 1] = id\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if #touched > 0 then publish('i', table.concat(touched)) end\n"
    "return {'OK', table.concat(touched)}\n";

/* KEYS: the hash patched. ARGV: P, kind ('s' session: must exist; 'p' preferences: created
 * when absent), user, session id ('' for preferences), max bytes, '1' to return the result,
 * number of operations, then per operation: mode (S set, D delete, C set if the field still
 * holds the expected value, A set if the field is still absent), field, value, expected value.
 * -> {OK[, user generation, HGETALL after]} | {CONFLICT} | {ETOOLARGE} | {ESESSION} */
static const char patch_lua[] = PRELUDE
    "local kind, user, id, max = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])\n"
    "local key = kind == 's' and sk(user, id) or uk('p', user)\n"
    "if kind == 's' and redis.call('EXISTS', key) == 0 then return {'ESESSION'} end\n"
    "local m = redis.call('HMGET', key, 'dsz', 'dn')\n"
    "local dsz, dn = tonumber(m[1] or '0'), tonumber(m[2] or '0')\n"
    "local n = tonumber(ARGV[7])\n"
    "local set, del = {}, {}\n"
    "for i = 0, n - 1 do\n"
    "  local b = 8 + i * 4\n"
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
    "publish(kind == 's' and 'i' or 'p', kind == 's' and id or user)\n"
    "if ARGV[6] ~= '1' then return {'OK'} end\n"
    "return {'OK', redis.call('GET', uk('g', user)) or '0', redis.call('HGETALL', key)}\n";

/* KEYS: the session. ARGV: P, user, id, new token hash, prev_until, auth time ('' keeps it),
 * CSRF secret ('' keeps it), expected current hash ('' for any). The current hash becomes the
 * previous one; the old previous one is returned for unlinking. A current hash other than the
 * expected one means another rotation won. -> {OK, records to unlink, the session's TTL ms} */
static const char rotate_lua[] = PRELUDE
    "local user, id, new = ARGV[2], ARGV[3], ARGV[4]\n"
    "local key = sk(user, id)\n"
    "local f = redis.call('HMGET', key, 'th', 'ph', 'f')\n"
    "if not f[1] then return {'ESESSION'} end\n"
    "if ARGV[8] ~= '' and f[1] ~= ARGV[8] then return {'ESESSION'} end\n"
    "local links = {}\n"
    "unlink(links, id, f[2])\n"
    "local fl = tonumber(f[3] or '0')\n"
    "if fl % 4 >= 2 then fl = fl - 2 end\n"
    "local upd = {'th', new, 'ph', f[1], 'pu', ARGV[5], 'f', tostring(fl)}\n"
    "if ARGV[6] ~= '' then upd[#upd + 1] = 'at'; upd[#upd + 1] = ARGV[6] end\n"
    "if ARGV[7] ~= '' then upd[#upd + 1] = 'cs'; upd[#upd + 1] = ARGV[7] end\n"
    "hset(key, upd)\n"
    "publish('i', id)\n"
    "return {'OK', table.concat(links), redis.call('PTTL', key)}\n";

/* KEYS: the user's index. ARGV: P, user, roles. Sets the roles of each of the user's sessions
 * (any generation) and flags them SESS_REC_ROLES_CHANGED (2); index entries whose session
 * expired in Redis are dropped. -> {OK, changed ids concatenated} */
static const char set_roles_lua[] = PRELUDE
    "local user, roles = ARGV[2], ARGV[3]\n"
    "local z = uk('z', user)\n"
    "local changed = {}\n"
    "for _, id in ipairs(redis.call('ZRANGE', z, 0, -1)) do\n"
    "  local fl = redis.call('HGET', sk(user, id), 'f')\n"
    "  if fl then\n"
    "    fl = tonumber(fl)\n"
    "    if fl % 4 < 2 then fl = fl + 2 end\n"
    "    redis.call('HSET', sk(user, id), 'r', roles, 'f', tostring(fl))\n"
    "    changed[#changed + 1] = id\n"
    "  else\n"
    "    redis.call('ZREM', z, id)\n"
    "  end\n"
    "end\n"
    "if #changed > 0 then publish('i', table.concat(changed)) end\n"
    "return {'OK', table.concat(changed)}\n";

/* KEYS: the session. ARGV: P, user, id. -> {OK, records to unlink} */
static const char del_lua[] = PRELUDE
    "local links = {}\n"
    "if not remove_session(ARGV[2], ARGV[3], links) then return {'ESESSION'} end\n"
    "publish('i', ARGV[3])\n"
    "return {'OK', table.concat(links)}\n";

/* KEYS: the generation. ARGV: P, user. -> {OK, new generation} */
static const char revoke_lua[] = PRELUDE
    "local g = redis.call('INCR', uk('g', ARGV[2]))\n"
    "publish('u', ARGV[2])\n"
    "return {'OK', tostring(g)}\n";

/* KEYS: the user's index. ARGV: P, user, now, budget. Removes the user's sessions that expired
 * at `now` or belong to an old generation (at most `budget`), and previous token hashes whose
 * grace ended. -> {OK, removed, changed ids concatenated, records to unlink, removed ids
 * concatenated, the next time the user needs a visit ('' for never)} */
static const char sweep_lua[] = PRELUDE
    "local user, now, budget = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])\n"
    "local z = uk('z', user)\n"
    "local g = redis.call('GET', uk('g', user)) or '0'\n"
    "local removed, changed, gone, links, nxt = 0, {}, {}, {}, nil\n"
    "local function due(t) if not nxt or t < nxt then nxt = t end end\n"
    "for _, id in ipairs(redis.call('ZRANGE', z, 0, -1)) do\n"
    "  local f = redis.call('HMGET', sk(user, id), 'g', 'ie', 'ae', 'ph', 'pu')\n"
    "  if not f[1] then\n"
    "    redis.call('ZREM', z, id)\n"
    "  else\n"
    "    local dl = math.min(tonumber(f[2]), tonumber(f[3]))\n"
    "    if dl <= now or f[1] ~= g then\n"
    "      if removed < budget then\n"
    "        remove_session(user, id, links)\n"
    "        changed[#changed + 1] = id\n"
    "        gone[#gone + 1] = id\n"
    "        removed = removed + 1\n"
    "      else\n"
    "        due(now)\n"
    "      end\n"
    "    else\n"
    "      due(dl)\n"
    "      if f[4] and f[4] ~= '' then\n"
    "        if tonumber(f[5]) <= now then\n"
    "          unlink(links, id, f[4])\n"
    "          redis.call('HDEL', sk(user, id), 'ph')\n"
    "          redis.call('HSET', sk(user, id), 'pu', '0')\n"
    "          changed[#changed + 1] = id\n"
    "        else\n"
    "          due(tonumber(f[5]))\n"
    "        end\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if #changed > 0 then publish('i', table.concat(changed)) end\n"
    "return {'OK', removed, table.concat(changed), table.concat(links), table.concat(gone),\n"
    "        nxt and tostring(nxt) or ''}\n";

/* KEYS: P{due}. ARGV: P, user, the score it had when the sweep read it, the new score ('':
 * remove). Changes nothing when another writer moved the entry meanwhile. */
static const char due_set_lua[] = PRELUDE
    "local cur = redis.call('ZSCORE', KEYS[1], ARGV[2])\n"
    "if cur ~= ARGV[3] then return {'OK'} end\n"
    "if ARGV[4] == '' then\n"
    "  redis.call('ZREM', KEYS[1], ARGV[2])\n"
    "else\n"
    "  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[2])\n"
    "end\n"
    "return {'OK'}\n";

/* KEYS: a pointer (t: or i:). ARGV: P, the bytes its value must start with. Deletes it only
 * when it still points there. */
static const char ptr_del_lua[] = PRELUDE
    "local v = redis.call('GET', KEYS[1])\n"
    "if v and string.sub(v, 1, #ARGV[2]) == ARGV[2] then redis.call('DEL', KEYS[1]) end\n"
    "return {'OK'}\n";

/* KEYS: the preferences. ARGV: P, user, then field, value pairs of the whole new object (with
 * dsz and dn). */
static const char prefs_put_lua[] = PRELUDE
    "local key = uk('p', ARGV[2])\n"
    "redis.call('DEL', key)\n"
    "local fields = {}\n"
    "for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end\n"
    "hset(key, fields)\n"
    "publish('p', ARGV[2])\n"
    "return {'OK'}\n";

/* KEYS: P{k}n. ARGV: P, name, hash, created. The value in P{k}n is the 32-byte hash then
 * created in decimal. */
static const char apikey_put_lua[] = PRELUDE
    "local AK, AH = P .. '{k}n', P .. '{k}h'\n"
    "if redis.call('HEXISTS', AK, ARGV[2]) == 1 or redis.call('HEXISTS', AH, ARGV[3]) == 1 then\n"
    "  return {'EEXIST'}\n"
    "end\n"
    "redis.call('HSET', AK, ARGV[2], ARGV[3] .. ARGV[4])\n"
    "redis.call('HSET', AH, ARGV[3], ARGV[2])\n"
    "return {'OK'}\n";

/* KEYS: P{k}n. ARGV: P, name. -> {OK, the key's hash} */
static const char apikey_del_lua[] = PRELUDE
    "local AK, AH = P .. '{k}n', P .. '{k}h'\n"
    "local v = redis.call('HGET', AK, ARGV[2])\n"
    "if not v then return {'ENOTFOUND'} end\n"
    "local h = string.sub(v, 1, 32)\n"
    "if redis.call('HGET', AH, h) == ARGV[2] then redis.call('HDEL', AH, h) end\n"
    "redis.call('HDEL', AK, ARGV[2])\n"
    "publish('k', h)\n"
    "return {'OK', h}\n";

/* KEYS: the account. ARGV: P, user, record, expected current record (only with ARGV[5] =
 * 'replace'). Create: EEXIST when an account exists. Replace: ENOTFOUND when none, CONFLICT
 * when the stored record is not the expected one (another writer won; the caller reads
 * again). The name goes into P{acc} before (redis.c). */
static const char user_put_lua[] = PRELUDE
    "local k = uk('a', ARGV[2])\n"
    "local cur = redis.call('GET', k)\n"
    "if ARGV[5] == 'create' then\n"
    "  if cur then return {'EEXIST'} end\n"
    "else\n"
    "  if not cur then return {'ENOTFOUND'} end\n"
    "  if cur ~= ARGV[4] then return {'CONFLICT'} end\n"
    "end\n"
    "redis.call('SET', k, ARGV[3])\n"
    "return {'OK'}\n";

static const char *const sources[RS_NSCRIPTS] = {
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
    [RS_PTR_DEL] = ptr_del_lua,
    [RS_DUE_SET] = due_set_lua,
};
/* clang-format on */

const char *sess__rs_script_source(rs_script_id id)
{
    return sources[id];
}
