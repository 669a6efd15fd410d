/*
 * lookup_cache.h - a per-thread memo of what the store answered for a token or an API key,
 * kept only while the store's version (store.h) is the one it was read at. Internal to
 * libsessiond (lib/session.c).
 *
 * Why: a verify spends most of its own time decoding the token, hashing it with the server key
 * and reading LMDB (about 8,000 instructions of 24,000 per GET /auth/verify). While nothing was
 * written to the store, the answer for the same token cannot differ, so it is taken from here.
 * Any write, by this process or another one (the CLI, a second sessiond), changes the version
 * and empties the memo: a revocation is seen by the very next request, as before. Deadlines
 * are not cached: lib/session.c judges every answer against the clock each time.
 *
 * Preferences are memoised the same way: verify forwards some of them on every request.
 *
 * The memo holds token texts and CSRF secrets: it lives in sodium_malloc memory (guard pages,
 * kept out of core dumps; locked in RAM only as far as RLIMIT_MEMLOCK allows, which the default
 * 64 KB does not for more than one thread), slots found outdated are wiped, texts are compared
 * in constant time. Each thread has its own, so there is no lock; a thread's memo is freed when
 * the thread ends. A forked child (the password helper) inherits a copy, as it inherits the
 * rest of the parent's memory.
 *
 * The version must be a snapshot readers could see (lmdb.c: the readers' txnid, not the meta
 * page's, which runs ahead while a commit writes it): an answer is memoised under the version
 * read before its lookup, and that lookup must not see an older state than that version.
 */
#ifndef SESSIOND_LOOKUP_CACHE_H
#define SESSIOND_LOOKUP_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sessiond/record.h"

/* Session data longer than this is never memoised (slots hold it inline); such sessions always
 * go to the store. */
#define SESS__LCACHE_DATA_MAX 512

/* A number no other sess_ctx of this process has: memos of two contexts never mix, even when
 * one is freed and the next allocated at its address. */
uint64_t sess__lcache_owner(void);

/* The session answer memoised for `token` by `owner` at `version`: copies it to `out` (whose
 * data is then owned by the caller) and returns true. False when there is none, when `version`
 * is 0 or when memory runs out. */
bool sess__lcache_get(uint64_t owner, uint64_t version, const char *token, size_t len,
                      sess_record *out, uint64_t *gen, bool *by_previous);
void sess__lcache_put(uint64_t owner, uint64_t version, const char *token, size_t len,
                      const sess_record *rec, uint64_t gen, bool by_previous);

/* The same for API keys: the key's name. */
bool sess__lcache_key_get(uint64_t owner, uint64_t version, const char *key, size_t len,
                          char name[SESS_APIKEY_NAME_MAX + 1]);
void sess__lcache_key_put(uint64_t owner, uint64_t version, const char *key, size_t len,
                          const char *name);

/* The same for a user's preferences (not secret: compared as they are): `*json` is malloc'ed
 * for the caller. */
bool sess__lcache_prefs_get(uint64_t owner, uint64_t version, const char *user, char **json,
                            size_t *len);
void sess__lcache_prefs_put(uint64_t owner, uint64_t version, const char *user, const char *json,
                            size_t len);

#endif
