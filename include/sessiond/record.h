/*
 * record.h - the session record: what a store keeps for one session.
 *
 * Fixed-size fields are bounded here once; `data` is the only heap part (a JSON object as text,
 * at most the configured max_data). The token itself is never part of a record: only keyed
 * hashes of the current token and of the previous one (during its rotation grace window).
 */
#ifndef SESSIOND_RECORD_H
#define SESSIOND_RECORD_H

#include "sessiond/export.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sessiond/crypto.h"

#define SESS_USER_MAX 128   /* bytes of a user name, without NUL */
#define SESS_ROLES_MAX 1024 /* bytes of the comma-separated role list */
#define SESS_IP_MAX 64      /* textual client address */
#define SESS_AGENT_MAX 256  /* client user agent, truncated to this */
#define SESS_CSRF_SECRET_BYTES 32
#define SESS_APIKEY_NAME_MAX 64

#define SESS_REC_REMEMBER 0x1u /* created with remember-me: the cookie carries Max-Age */
/* The user's roles changed after this session's token was issued (store.h set_roles): the
 * record already holds the new roles, and the session's next rotation clears the flag. The
 * server rotates such a session on its next browser request, so a privilege change also
 * changes the token (contract section 3). */
#define SESS_REC_ROLES_CHANGED 0x2u
/* Not a session: the `cookie` store's record that a sealed session (same id) was logged out,
 * kept until that session's absolute deadline (session.h sess_stateless_end). Never live. */
#define SESS_REC_DENY 0x4u

typedef struct sess_record {
    uint8_t id[SESS_ID_BYTES];
    char user[SESS_USER_MAX + 1];
    char roles[SESS_ROLES_MAX + 1]; /* "a,b,c"; empty for none */
    char ip[SESS_IP_MAX + 1];
    char agent[SESS_AGENT_MAX + 1];
    int64_t created;      /* unix seconds */
    int64_t last_seen;    /* unix seconds; persisted lazily, at most touch_interval stale */
    int64_t idle_expires; /* refused from this second on */
    int64_t abs_expires;  /* refused from this second on, whatever the touches */
    int64_t auth_time;    /* last password entry (for step-up rules) */
    uint64_t generation;  /* the user's generation when created; revoke-all bumps the user's */
    uint32_t flags;       /* SESS_REC_* */
    uint8_t csrf_secret[SESS_CSRF_SECRET_BYTES];
    uint8_t token_hash[SESS_HASH_BYTES]; /* keyed hash of the current token */
    uint8_t prev_hash[SESS_HASH_BYTES];  /* keyed hash of the previous token, or zeros */
    int64_t prev_until;                  /* the previous token is refused from this second on */
    char *data;                          /* JSON object text, NUL-terminated; owned; never NULL
                                            in a record a store returned ("{}" at least) */
    size_t data_len;
} sess_record;

/* Zeroes a record (data = NULL). */
SESS_EXPORT void sess_record_init(sess_record *r);
/* Frees `data` and wipes the record's secrets. The record may be reused after sess_record_init. */
SESS_EXPORT void sess_record_dispose(sess_record *r);
/* Replaces r->data with a copy of `json` (len bytes). 0 or SESS_ENOMEM. */
SESS_EXPORT int sess_record_set_data(sess_record *r, const char *json, size_t len) SESS_WUR;

/* Copies `src` (a C string) into a fixed field of size `cap` (including NUL), truncating at a
 * UTF-8 character boundary. Returns true when it had to truncate. */
SESS_EXPORT bool sess_copy_bounded(char *dst, size_t cap, const char *src);

#endif
