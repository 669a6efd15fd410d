/*
 * config.h - sessiond's configuration: one table of options (lib-independent) that drives the
 * INI parser, the SESSIOND_<SECTION>_<KEY> environment overrides, `sessiond config check`, the
 * command-line overrides and docs/configuration.md. Contract section 2.
 */
#ifndef SESSIOND_CORE_CONFIG_H
#define SESSIOND_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SESSD_MAX_RULES 64
#define SESSD_STR 1024

typedef struct sessd_rule {
    char name[64];
    char host[256];    /* empty: any host */
    char path[512];    /* glob; empty: "*" */
    char methods[128]; /* comma list; empty: any */
    char policy[128];  /* public | authenticated | role:R | fresh:DURATION */
    bool touch;        /* default true */
    int line;          /* where it was defined, for messages */
} sessd_rule;

/* [store] kind. */
enum sessd_store_kind {
    SESSD_STORE_LMDB,   /* the embedded store in [store] path (the default) */
    SESSD_STORE_MEMORY, /* inside the server process, for tests */
    SESSD_STORE_REDIS,  /* a Redis server, Sentinel group or Cluster */
    SESSD_STORE_COOKIE, /* sealed cookies; revocations, accounts and keys in Redis or lmdb */
};

typedef struct sessd_config {
    /* [server] */
    char listen[256];     /* HOST:PORT, default 127.0.0.1:8080 */
    char public_url[512]; /* default http://LISTEN */
    int threads;          /* 0 = number of cores */
    char base_path[128];  /* default /auth */
    char trusted_proxies[SESSD_STR];
    uint64_t max_body;        /* bytes, default 64k */
    uint64_t max_header;      /* bytes, default 16k */
    uint64_t max_connections; /* open client connections per process, default 4096 */
    int64_t request_timeout;  /* milliseconds to read a request (headers and body), default 10000 */
    int64_t send_timeout;     /* milliseconds an answer may wait for the client, default 10000 */
    int64_t clock_step_warning; /* seconds, default 30s */
    char socket_dir[SESSD_STR]; /* admin.sock and touch.sock; default: the data directory */
    char ops_listen[256];       /* /healthz and /metrics on their own loop; empty: none */
    /* [store] */
    char store_kind[16];         /* lmdb|memory|redis|cookie as written, default lmdb */
    enum sessd_store_kind store; /* the same, set by sessd_config_finish */
    char store_path[SESSD_STR];  /* default: the data directory */
    char redis_url[512];
    char redis_sentinels[SESSD_STR];
    char redis_cluster[SESSD_STR];
    char redis_master[128];
    char redis_prefix[65];         /* default "sessiond:" */
    int64_t redis_connect_timeout; /* milliseconds, default 1000 */
    int64_t redis_timeout;         /* milliseconds, default 1000 */
    uint64_t redis_pool;           /* 0 = threads + 2 */
    bool redis_cache;              /* near cache, default true */
    int64_t redis_cache_ttl;       /* milliseconds, default 5000 */
    uint64_t redis_cache_size;     /* entries, default 10000 */
    char fsync[16];                /* always|batch, default always */
    uint64_t map_size;             /* lmdb: ceiling of the map in bytes, default 16g */
    /* [session] */
    char cookie_name[128]; /* default: __Host-sid under https, sid otherwise */
    char cookie_domain[256];
    char same_site[16];            /* lax|strict|none */
    int64_t idle_timeout;          /* seconds, default 30m */
    int64_t absolute_timeout;      /* seconds, default 24h */
    int64_t remember_me;           /* seconds, default 30d */
    int64_t remember_idle_timeout; /* default 7d */
    int64_t touch_interval;        /* seconds; 0 = 1% of idle_timeout, at least 1 s */
    int64_t rotate_grace;          /* seconds, default 30s */
    int64_t access_ttl;            /* seconds, default 15m: API access tokens */
    uint64_t max_per_user;         /* default 50 */
    uint64_t max_data;             /* bytes, default 16k */
    bool bind_user_agent;
    int64_t devices_fresh;     /* seconds, default 5m: ending other devices without a password */
    bool require_secure;       /* refuse a session cookie without Secure or without a prefix */
    char clear_site_data[128]; /* default "cache" (with the quotes) */
    /* [login] */
    uint64_t max_failures;
    int64_t failure_window;
    int64_t lockout;
    uint64_t argon2_ops;
    uint64_t argon2_mem;   /* bytes */
    uint64_t min_password; /* characters of a password set on the password page, default 15 */
    /* [csrf] */
    char allowed_origins[SESSD_STR];
    bool require_token;
    /* [headers] */
    char forward[512];
    /* [rule NAME] */
    sessd_rule rules[SESSD_MAX_RULES];
    int nrules;
    /* [keys] */
    char seal[SESSD_STR];
    /* [audit] */
    char audit_path[SESSD_STR];
    char audit_on_failure[16]; /* refuse|continue */
    /* [log] */
    char log_level[16];  /* debug|info|notice|warn */
    char log_format[16]; /* text|json */
    char access_log[SESSD_STR];
    char access_log_format[512]; /* h2o log directives; no %r, %q, cookies or credentials */

    /* Not in the file: from the command line. */
    char data_dir[SESSD_STR]; /* --data, default ./sessiond-data */
    char file[SESSD_STR];     /* the config file read, or empty */
} sessd_config;

/* Fills every option with its default (contract section 2). */
void sessd_config_defaults(sessd_config *c);

/* Reads the INI file at `path` over the current values. Unknown sections and keys, bad values,
 * values out of bounds and duplicate rules are errors: returns -1 and writes one line
 * "FILE:LINE: [section] key: what is wrong" into `err`. A missing file is an error too. */
int sessd_config_load_file(sessd_config *c, const char *path, char *err, size_t errlen);

/* Applies SESSIOND_<SECTION>_<KEY> environment variables (upper case, e.g.
 * SESSIOND_SESSION_IDLE_TIMEOUT=10m). Unknown SESSIOND_* variables are errors, except
 * SESSIOND_BIN and SESSIOND_CONFIG which belong to tooling. -1 with a message naming the
 * variable. */
int sessd_config_apply_env(sessd_config *c, char *err, size_t errlen);

/* Sets one option by section and key, parsing `value` like the file does. `origin` names where
 * the value came from for the error message (e.g. "--listen"). */
int sessd_config_set(sessd_config *c, const char *section, const char *key, const char *value,
                     const char *origin, char *err, size_t errlen);

/* Checks what single options cannot: same_site=none needs an https public_url, the store kind
 * is known and its needs are met (redis needs redis_url or redis_sentinels), rules' policies
 * parse, listen is HOST:PORT. Fills derived defaults (cookie_name, public_url, touch_interval,
 * store_path, audit_path). -1 with a message. */
int sessd_config_finish(sessd_config *c, char *err, size_t errlen);

/* Why the session cookie of a finished configuration would go out unprotected (ASVS 3.3.1 and
 * 3.3.3): without Secure (a plain-http public_url) or without a __Host-/__Secure- prefix (an
 * explicit cookie_name under https). The reasons, one sentence each, in `why`; false when
 * there is none. `config check` and `serve` warn with them; [session] require_secure = true
 * makes sessd_config_finish refuse them. */
bool sessd_config_insecure_cookie(const sessd_config *c, char *why, size_t cap);

/* True when `section.key` may change on SIGHUP without a restart. */
bool sessd_config_reloadable(const char *section, const char *key);

/* For a reload: copies every option that is not reloadable from `cur` into `next`, and lists
 * those whose value differed ("[server] listen, [store] kind") in `changed`. Returns how many
 * differed: they take effect at the next restart. */
int sessd_config_keep_static(sessd_config *next, const sessd_config *cur, char *changed,
                             size_t cap);

/* Writes the option reference (Markdown) generated from the table. */
void sessd_config_write_docs(FILE *out);

/* Parsers shared with the command line: "90", "30s", "10m", "2h", "7d" -> seconds;
 * "64", "64k", "1m" -> bytes. -1 on anything else (negative, overflow, junk). */
int sessd_parse_duration(const char *s, int64_t *out);
int sessd_parse_size(const char *s, uint64_t *out);
/* "250ms", "2s", "1m", "3" (seconds) -> milliseconds; -1 on anything else. */
int sessd_parse_millis(const char *s, int64_t *out);

#endif
