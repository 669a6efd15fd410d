/*
 * test_config.c - unit tests of src/core/config.c: defaults, every value type, bounds at the
 * limit and one past, file errors with file/line/key, rules, environment overrides, derived
 * defaults and cross checks, and that docs/configuration.md is what the option table generates.
 */
#include "harness.h"

#include "core/config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static sessd_config *cfg;
static char err[1024];
static char ini_path[PATH_MAX];

static int setup(void **state)
{
    (void)state;
    cfg = malloc(sizeof *cfg);
    if (cfg == NULL)
        return -1;
    sessd_config_defaults(cfg);
    err[0] = '\0';
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(cfg);
    cfg = NULL;
    return 0;
}

/* Fails with the message when `haystack` lacks `needle`, so a failure shows both. */
#define assert_contains(haystack, needle)                                                          \
    do {                                                                                           \
        if (strstr((haystack), (needle)) == NULL)                                                  \
            fail_msg("\"%s\" does not contain \"%s\"", (haystack), (needle));                      \
    } while (0)

#define assert_lacks(haystack, needle)                                                             \
    do {                                                                                           \
        if (strstr((haystack), (needle)) != NULL)                                                  \
            fail_msg("\"%s\" contains \"%s\"", (haystack), (needle));                              \
    } while (0)

/* Writes `text` to a fresh temporary file; its path is left in ini_path. */
static const char *write_ini(const char *text)
{
    const char *dir = getenv("TMPDIR");
    snprintf(ini_path, sizeof ini_path, "%s/sessiond-test-XXXXXX.ini", dir && *dir ? dir : "/tmp");
    int fd = mkstemps(ini_path, 4);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    return ini_path;
}

/* Loads `text` as a config file over cfg; the file is removed afterwards. */
static int load(const char *text)
{
    const char *path = write_ini(text);
    err[0] = '\0';
    int rc = sessd_config_load_file(cfg, path, err, sizeof err);
    unlink(path);
    return rc;
}

/* Loads `text`, expects failure, and checks the message starts with "PATH:LINE: ". */
static void load_fails_at(const char *text, int line, const char *needle)
{
    char want[PATH_MAX + 32];
    assert_int_equal(load(text), -1);
    snprintf(want, sizeof want, "%s:%d: ", ini_path, line);
    if (strncmp(err, want, strlen(want)) != 0)
        fail_msg("\"%s\" does not start with \"%s\"", err, want);
    assert_contains(err, needle);
    assert_null(strchr(err, '\n'));
}

static int set(const char *section, const char *key, const char *value)
{
    err[0] = '\0';
    return sessd_config_set(cfg, section, key, value, "test", err, sizeof err);
}

static int finish(void)
{
    err[0] = '\0';
    return sessd_config_finish(cfg, err, sizeof err);
}

/* ---- defaults ---------------------------------------------------------------------------- */

static void test_defaults_match_contract(void **state)
{
    (void)state;
    assert_string_equal(cfg->listen, "127.0.0.1:8080");
    assert_string_equal(cfg->public_url, "");
    assert_int_equal(cfg->threads, 0);
    assert_string_equal(cfg->base_path, "/auth");
    assert_string_equal(cfg->trusted_proxies, "");
    assert_int_equal(cfg->max_body, 64 * 1024);
    assert_int_equal(cfg->max_header, 16 * 1024);
    assert_int_equal(cfg->max_connections, 4096);
    assert_int_equal(cfg->request_timeout, 10000);
    assert_int_equal(cfg->send_timeout, 10000);
    assert_string_equal(cfg->store_kind, "lmdb");
    assert_string_equal(cfg->fsync, "always");
    assert_string_equal(cfg->redis_prefix, "sessiond:");
    assert_int_equal(cfg->redis_connect_timeout, 1000);
    assert_int_equal(cfg->redis_timeout, 1000);
    assert_int_equal(cfg->redis_pool, 0);
    assert_true(cfg->redis_cache);
    assert_int_equal(cfg->redis_cache_ttl, 5000);
    assert_int_equal(cfg->redis_cache_size, 10000);
    assert_string_equal(cfg->cookie_name, "");
    assert_string_equal(cfg->same_site, "lax");
    assert_int_equal(cfg->idle_timeout, 30 * 60);
    assert_int_equal(cfg->absolute_timeout, 24 * 3600);
    assert_int_equal(cfg->remember_me, 30 * 86400);
    assert_int_equal(cfg->touch_interval, 0);
    assert_int_equal(cfg->rotate_grace, 30);
    assert_int_equal(cfg->max_per_user, 50);
    assert_int_equal(cfg->max_data, 16 * 1024);
    assert_false(cfg->bind_user_agent);
    assert_string_equal(cfg->clear_site_data, "\"cache\"");
    assert_int_equal(cfg->max_failures, 5);
    assert_int_equal(cfg->failure_window, 5 * 60);
    assert_int_equal(cfg->lockout, 15 * 60);
    assert_int_equal(cfg->argon2_ops, 2);
    assert_int_equal(cfg->argon2_mem, 64 * 1024 * 1024);
    assert_false(cfg->require_token);
    assert_string_equal(cfg->forward, "user,roles,session,expires,csrf,pref.language,pref.theme");
    assert_int_equal(cfg->nrules, 0);
    assert_string_equal(cfg->log_level, "info");
    assert_string_equal(cfg->log_format, "text");
    assert_string_equal(cfg->data_dir, "./sessiond-data");
    assert_string_equal(cfg->file, "");
}

static void test_defaults_finish_cleanly(void **state)
{
    (void)state;
    if (finish() != 0)
        fail_msg("defaults do not pass finish: %s", err);
}

/* ---- value parsers ----------------------------------------------------------------------- */

static void test_parse_duration(void **state)
{
    static const struct {
        const char *in;
        int64_t want;
    } ok[] = {{"0", 0},
              {"90", 90},
              {"30s", 30},
              {"10m", 600},
              {"2h", 7200},
              {"7d", 604800},
              {"007", 7},
              {"9223372036854775807", INT64_MAX},
              {"106751991167300d", 106751991167300LL * 86400}};
    static const char *const bad[] = {"",
                                      "-5",
                                      "+5",
                                      "5x",
                                      "5 m",
                                      " 5",
                                      "5 ",
                                      "m",
                                      "10mm",
                                      "1.5h",
                                      "1h30m",
                                      "5M",
                                      "5D",
                                      "9223372036854775808",
                                      "106751991167301d",
                                      "18446744073709551616",
                                      "99999999999999999999999"};
    int64_t v;
    (void)state;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        v = -1;
        if (sessd_parse_duration(ok[i].in, &v) != 0)
            fail_msg("duration \"%s\" refused", ok[i].in);
        assert_int_equal(v, ok[i].want);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = 12345;
        if (sessd_parse_duration(bad[i], &v) != -1)
            fail_msg("duration \"%s\" accepted", bad[i]);
        assert_int_equal(v, 12345);
    }
}

static void test_parse_millis(void **state)
{
    static const struct {
        const char *in;
        int64_t want;
    } ok[] = {{"0", 0}, {"250ms", 250}, {"2s", 2000}, {"3", 3000}, {"1m", 60000}, {"0ms", 0}};
    static const char *const bad[] = {
        "", "-5ms", "5 ms", "ms", "1.5s", "5h", "5msx", "5S", "9223372036854775807s"};
    int64_t v;
    (void)state;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        v = -1;
        if (sessd_parse_millis(ok[i].in, &v) != 0)
            fail_msg("milliseconds \"%s\" refused", ok[i].in);
        assert_int_equal(v, ok[i].want);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = 12345;
        if (sessd_parse_millis(bad[i], &v) != -1)
            fail_msg("milliseconds \"%s\" accepted", bad[i]);
        assert_int_equal(v, 12345);
    }
    /* Bounds of [store] redis_timeout: 10ms .. 1m. */
    assert_int_equal(set("store", "redis_timeout", "10ms"), 0);
    assert_int_equal(cfg->redis_timeout, 10);
    assert_int_equal(set("store", "redis_timeout", "9ms"), -1);
    assert_contains(err, "10ms to 1m");
    assert_int_equal(set("store", "redis_timeout", "1m"), 0);
    assert_int_equal(set("store", "redis_timeout", "60001ms"), -1);
}

static void test_parse_size(void **state)
{
    static const struct {
        const char *in;
        uint64_t want;
    } ok[] = {{"0", 0},
              {"64", 64},
              {"64k", 65536},
              {"64K", 65536},
              {"1m", 1048576},
              {"1g", 1073741824},
              {"18446744073709551615", UINT64_MAX},
              {"17179869183g", 17179869183ULL << 30}};
    static const char *const bad[] = {"",
                                      "-1",
                                      "1t",
                                      "1kb",
                                      "1.5k",
                                      " 1k",
                                      "1k ",
                                      "k",
                                      "0x10",
                                      "18446744073709551616",
                                      "17179869184g",
                                      "18014398509481984k"};
    uint64_t v;
    (void)state;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        v = 1;
        if (sessd_parse_size(ok[i].in, &v) != 0)
            fail_msg("size \"%s\" refused", ok[i].in);
        assert_int_equal(v, ok[i].want);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = 12345;
        if (sessd_parse_size(bad[i], &v) != -1)
            fail_msg("size \"%s\" accepted", bad[i]);
        assert_int_equal(v, 12345);
    }
}

static void test_bool_values(void **state)
{
    static const char *const yes[] = {"true", "yes", "on", "1", "TRUE", "Yes"};
    static const char *const no[] = {"false", "no", "off", "0", "False", "OFF"};
    static const char *const bad[] = {"", "maybe", "2", "t", "truee", "y"};
    (void)state;
    for (size_t i = 0; i < 6; i++) {
        cfg->bind_user_agent = false;
        assert_int_equal(set("session", "bind_user_agent", yes[i]), 0);
        assert_true(cfg->bind_user_agent);
        assert_int_equal(set("session", "bind_user_agent", no[i]), 0);
        assert_false(cfg->bind_user_agent);
    }
    cfg->bind_user_agent = true;
    for (size_t i = 0; i < 6; i++) {
        if (set("session", "bind_user_agent", bad[i]) != -1)
            fail_msg("bool \"%s\" accepted", bad[i]);
        assert_contains(err, "[session] bind_user_agent:");
        assert_true(cfg->bind_user_agent);
    }
}

static void test_enum_values(void **state)
{
    (void)state;
    assert_int_equal(set("store", "kind", "memory"), 0);
    assert_string_equal(cfg->store_kind, "memory");
    assert_int_equal(set("store", "kind", "lmbd"), -1);
    assert_contains(err, "test: [store] kind: \"lmbd\" is not one of lmdb, memory, redis, cookie");
    assert_int_equal(set("store", "kind", "LMDB"), -1);
    assert_int_equal(set("store", "kind", ""), -1);
    assert_contains(err, "empty");
    assert_string_equal(cfg->store_kind, "memory");
    assert_int_equal(set("log", "level", "notice"), 0);
    assert_int_equal(set("log", "level", "error"), -1);
    assert_int_equal(set("session", "same_site", "none"), 0);
    assert_int_equal(set("store", "fsync", "batch"), 0);
    assert_int_equal(set("store", "fsync", "sometimes"), -1);
}

static void test_number_junk_rejected(void **state)
{
    static const char *const bad[] = {"", "-1", "+1", "1x", "0x10", " 1", "1.0", "abc"};
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (set("server", "threads", bad[i]) != -1)
            fail_msg("threads \"%s\" accepted", bad[i]);
        if (set("session", "idle_timeout", bad[i]) != -1)
            fail_msg("idle_timeout \"%s\" accepted", bad[i]);
        if (set("server", "max_body", bad[i]) != -1)
            fail_msg("max_body \"%s\" accepted", bad[i]);
    }
    assert_int_equal(set("session", "idle_timeout", "10x"), -1);
    assert_contains(err, "\"10x\" is not a duration");
    assert_int_equal(cfg->threads, 0);
    assert_int_equal(cfg->idle_timeout, 1800);
    assert_int_equal(cfg->max_body, 65536);
}

/* Each bound: the value at the limit is accepted, one past it refused with the range named. */
static void test_bounds_at_limit_and_one_past(void **state)
{
    static const struct {
        const char *section, *key, *at, *past, *range;
    } b[] = {
        {"server", "threads", "0", NULL, "0 to 256"},
        {"server", "threads", "256", "257", "0 to 256"},
        {"server", "max_body", "1k", "1023", "1k to 64m"},
        {"server", "max_body", "64m", "67108865", "1k to 64m"},
        {"server", "max_header", "1024", "1023", "1k to 1m"},
        {"server", "max_header", "1m", "1048577", "1k to 1m"},
        {"server", "max_connections", "1", "0", "1 to 1000000"},
        {"server", "max_connections", "1000000", "1000001", "1 to 1000000"},
        {"server", "request_timeout", "100ms", "99ms", "100ms to 60m"},
        {"server", "request_timeout", "60m", "3601s", "100ms to 60m"},
        {"server", "send_timeout", "100ms", "99ms", "100ms to 60m"},
        {"server", "send_timeout", "3600s", "3600001ms", "100ms to 60m"},
        {"session", "idle_timeout", "1s", "0", "1s to 365d"},
        {"session", "idle_timeout", "365d", "366d", "1s to 365d"},
        {"session", "idle_timeout", "31536000", "31536001", "1s to 365d"},
        {"session", "absolute_timeout", "365d", "8761h", "1s to 365d"},
        {"session", "remember_me", "1m", "59s", "1m to 365d"},
        {"session", "touch_interval", "1d", "86401", "0 to 1d"},
        {"session", "rotate_grace", "0", NULL, "0 to 1h"},
        {"session", "rotate_grace", "1h", "3601", "0 to 1h"},
        {"session", "max_per_user", "1", "0", "1 to 1000000"},
        {"session", "max_per_user", "1000000", "1000001", "1 to 1000000"},
        {"session", "max_data", "256", "255", "256 to 1m"},
        {"session", "max_data", "1m", "1048577", "256 to 1m"},
        {"login", "max_failures", "1", "0", "1 to 10000"},
        {"login", "failure_window", "1d", "86401", "1s to 1d"},
        {"login", "lockout", "30d", "2592001", "1s to 30d"},
        {"login", "argon2_ops", "1", "0", "1 to 10"},
        {"login", "argon2_ops", "10", "11", "1 to 10"},
        {"login", "argon2_mem", "8m", "8388607", "8m to 1g"},
        {"login", "argon2_mem", "1g", "1073741825", "8m to 1g"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof b / sizeof b[0]; i++) {
        if (set(b[i].section, b[i].key, b[i].at) != 0)
            fail_msg("[%s] %s = %s refused: %s", b[i].section, b[i].key, b[i].at, err);
        if (b[i].past == NULL)
            continue;
        if (set(b[i].section, b[i].key, b[i].past) != -1)
            fail_msg("[%s] %s = %s accepted", b[i].section, b[i].key, b[i].past);
        assert_contains(err, "out of range");
        assert_contains(err, b[i].range);
    }
    /* A refused value leaves the one at the limit in place. */
    assert_int_equal(cfg->argon2_mem, 1024 * 1024 * 1024);
    assert_int_equal(cfg->threads, 256);
}

static void test_string_length_limit(void **state)
{
    char v[SESSD_STR + 2];
    (void)state;
    /* base_path: 128-byte field, so 127 bytes fit and 128 do not. */
    memset(v, 'a', sizeof v);
    v[0] = '/';
    v[127] = '\0';
    assert_int_equal(set("server", "base_path", v), 0);
    assert_int_equal(strlen(cfg->base_path), 127);
    v[127] = 'a';
    v[128] = '\0';
    assert_int_equal(set("server", "base_path", v), -1);
    assert_contains(err, "too long (128 bytes), at most 127 bytes");
    assert_int_equal(strlen(cfg->base_path), 127);
    /* access_log: SESSD_STR. */
    memset(v, 'x', sizeof v);
    v[SESSD_STR - 1] = '\0';
    assert_int_equal(set("log", "access_log", v), 0);
    v[SESSD_STR - 1] = 'x';
    v[SESSD_STR] = '\0';
    assert_int_equal(set("log", "access_log", v), -1);
    assert_contains(err, "at most 1023 bytes");
}

static void test_string_checks(void **state)
{
    static const struct {
        const char *section, *key, *value;
        bool ok;
    } c[] = {
        {"server", "listen", "0.0.0.0:0", true},
        {"server", "listen", "[::1]:8080", true},
        {"server", "listen", "localhost:65535", true},
        {"server", "listen", "localhost:65536", false},
        {"server", "listen", "8080", false},
        {"server", "listen", "localhost", false},
        {"server", "listen", ":8080", false},
        {"server", "listen", "host:", false},
        {"server", "listen", "::1:8080", false},
        {"server", "listen", "999.1.1.1:80", false},
        {"server", "listen", "[zz]:80", false},
        {"server", "listen", "", false},
        {"server", "base_path", "/auth/", false},
        {"server", "base_path", "auth", false},
        {"server", "base_path", "/", false},
        {"server", "base_path", "/sso/auth", true},
        {"server", "public_url", "https://auth.example.com", true},
        {"server", "public_url", "ftp://x", false},
        {"server", "public_url", "https://", false},
        {"server", "trusted_proxies", "10.0.0.0/8, 127.0.0.1,::1,fd00::/8", true},
        {"server", "trusted_proxies", "10.0.0.0/33", false},
        {"server", "trusted_proxies", "10.0.0.0/8,,1.2.3.4", false},
        {"store", "redis_sentinels", "s1:26379,s2:26379", true},
        {"store", "redis_sentinels", "s1", false},
        {"store", "redis_url", "redis://localhost:6379/0", true},
        {"store", "redis_url", "http://localhost", false},
        {"store", "redis_url", "rediss://localhost:6380", false},
        {"store", "redis_url", "unix:/run/redis/redis.sock", true},
        {"store", "redis_prefix", "app1:", true},
        {"store", "redis_prefix", "app{1}:", false},
        {"session", "cookie_name", "my sid", false},
        {"session", "cookie_name", "app_sid", true},
        {"session", "cookie_domain", ".example.com", true},
        {"session", "cookie_domain", "exa mple", false},
        {"session", "clear_site_data", "\"cache\", \"cookies\"", true},
        {"session", "clear_site_data", "a\r\nSet-Cookie: x", false},
        {"csrf", "allowed_origins", "https://app.example.com,http://localhost:3000", true},
        {"csrf", "allowed_origins", "https://app.example.com/", false},
        {"headers", "forward", "user,roles,pref.font_size", true},
        {"headers", "forward", "user,password", false},
        {"headers", "forward", "", true},
        {"keys", "seal",
         "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=,k0:"
         "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI",
         true},
        {"keys", "seal", "k1:c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0", false}, /* 24 bytes */
        {"keys", "seal",
         "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=,k1:"
         "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
         false}, /* an id twice */
    };
    (void)state;
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        int rc = set(c[i].section, c[i].key, c[i].value);
        if (rc != (c[i].ok ? 0 : -1))
            fail_msg("[%s] %s = \"%s\": expected %s, got %d (%s)", c[i].section, c[i].key,
                     c[i].value, c[i].ok ? "ok" : "an error", rc, err);
    }
}

/* The key ring and the Redis URL (which may hold a password) never appear in a message. */
static void test_secrets_never_echoed(void **state)
{
    char big[SESSD_STR + 10];
    (void)state;
    assert_int_equal(set("keys", "seal", "TOPSECRETKEY"), -1);
    assert_lacks(err, "TOPSECRET");
    assert_contains(err, "[keys] seal");
    assert_int_equal(set("keys", "seal", "k1:TOPSECRET!!"), -1);
    assert_lacks(err, "TOPSECRET");
    assert_int_equal(set("keys", "seal", "k1:TOPSECRET,,k2:x"), -1);
    assert_lacks(err, "TOPSECRET");
    memset(big, 'S', sizeof big);
    big[sizeof big - 1] = '\0';
    assert_int_equal(set("keys", "seal", big), -1);
    assert_lacks(err, "SSSS");
    assert_int_equal(set("store", "redis_url", "http://:hunter2@redis"), -1);
    assert_lacks(err, "hunter2");
    assert_int_equal(load("[keys]\nseal = TOPSECRETKEY\n"), -1);
    assert_lacks(err, "TOPSECRET");
}

static void test_set_unknown_and_origin(void **state)
{
    (void)state;
    err[0] = '\0';
    assert_int_equal(sessd_config_set(cfg, "server", "listen", "nope", "--listen", err, sizeof err),
                     -1);
    assert_contains(err, "--listen: [server] listen:");
    assert_int_equal(set("server", "lisen", "x"), -1);
    assert_contains(err, "[server] lisen: unknown key");
    assert_contains(err, "listen");
    assert_int_equal(set("servr", "listen", "x"), -1);
    assert_contains(err, "[servr]: unknown section");
}

/* ---- the file ---------------------------------------------------------------------------- */

static void test_load_file_values(void **state)
{
    (void)state;
    int rc = load("; comment\n"
                  "# another\n"
                  "[server]\n"
                  "listen = 0.0.0.0:9000\n"
                  "  threads=4\n"
                  "max_body: 1m\n"
                  "[session]\n"
                  "idle_timeout = 10m   ; inline comment\n"
                  "bind_user_agent = yes\n"
                  "clear_site_data = \"cache\", \"cookies\"\n"
                  "cookie_domain =\n"
                  "[log]\r\n"
                  "level = debug\r\n");
    if (rc != 0)
        fail_msg("load failed: %s", err);
    assert_string_equal(cfg->listen, "0.0.0.0:9000");
    assert_int_equal(cfg->threads, 4);
    assert_int_equal(cfg->max_body, 1024 * 1024);
    assert_int_equal(cfg->idle_timeout, 600);
    assert_true(cfg->bind_user_agent);
    assert_string_equal(cfg->clear_site_data, "\"cache\", \"cookies\"");
    assert_string_equal(cfg->log_level, "debug");
    assert_string_equal(cfg->file, ini_path);
    /* Untouched options keep their defaults. */
    assert_int_equal(cfg->max_header, 16 * 1024);
}

static void test_load_missing_file(void **state)
{
    (void)state;
    assert_int_equal(sessd_config_load_file(cfg, "/nonexistent/sessiond.ini", err, sizeof err), -1);
    assert_contains(err, "/nonexistent/sessiond.ini: cannot open");
    assert_int_equal(sessd_config_load_file(cfg, "/tmp", err, sizeof err), -1);
    assert_contains(err, "is a directory");
}

static void test_unknown_key_names_file_line_key(void **state)
{
    (void)state;
    load_fails_at("[server]\nlisten = 127.0.0.1:1\nlisen = 1\n", 3, "[server] lisen: unknown key");
    load_fails_at("[rule a]\npolicy = public\nhots = x\n", 3, "[rule a] hots: unknown key");
}

static void test_unknown_section_names_file_line(void **state)
{
    (void)state;
    load_fails_at("[server]\nthreads = 1\n\n[servr]\nlisten = 1.2.3.4:5\n", 4,
                  "[servr]: unknown section");
    /* An empty unknown section is caught too. */
    load_fails_at("[server]\n[bogus]\n", 2, "[bogus]: unknown section");
    load_fails_at("threads = 1\n", 1, "key outside any section");
}

static void test_bad_value_names_file_line_key(void **state)
{
    (void)state;
    load_fails_at("[session]\n\nidle_timeout = 10x\n", 3,
                  "[session] idle_timeout: \"10x\" is not a duration");
    load_fails_at("[server]\nthreads =\n", 2, "[server] threads: empty value");
    load_fails_at("[server]\nthreads = 257\n", 2, "out of range; use a value from 0 to 256");
    load_fails_at("[server]\nlisten\n", 2, "syntax error");
    load_fails_at("[server]\nlisten = 1.2.3.4:5\n  threads\n", 3, "syntax error");
    load_fails_at("[server\nlisten = 1.2.3.4:5\n", 1, "syntax error");
}

static void test_duplicate_key(void **state)
{
    (void)state;
    load_fails_at("[server]\nthreads = 1\nlisten = 1.2.3.4:5\nthreads = 2\n", 4,
                  "[server] threads: given twice (first on line 2)");
    /* Also when the section is opened again. */
    load_fails_at("[server]\nthreads = 1\n[log]\nlevel = info\n[server]\nthreads = 1\n", 6,
                  "given twice");
}

static void test_failed_load_changes_nothing(void **state)
{
    (void)state;
    assert_int_equal(load("[server]\nthreads = 7\n[rule a]\npolicy = public\nbogus = 1\n"), -1);
    assert_int_equal(cfg->threads, 0);
    assert_int_equal(cfg->nrules, 0);
    assert_string_equal(cfg->file, "");
}

static void test_long_lines(void **state)
{
    size_t n = SESSD_STR + 64;
    char *text = malloc(n + 5000);
    (void)state;
    assert_non_null(text);
    /* A 1023-byte value fits (inih's stock 200-byte lines would split it). */
    int o = snprintf(text, n, "[log]\naccess_log = /");
    memset(text + o, 'a', SESSD_STR - 2);
    snprintf(text + o + SESSD_STR - 2, 16, "\n");
    if (load(text) != 0)
        fail_msg("1023-byte value refused: %s", err);
    assert_int_equal(strlen(cfg->access_log), SESSD_STR - 1);
    /* One more byte is refused, not truncated. */
    sessd_config_defaults(cfg);
    memset(text + o, 'a', SESSD_STR - 1);
    snprintf(text + o + SESSD_STR - 1, 16, "\n");
    load_fails_at(text, 2, "[log] access_log: too long (1024 bytes), at most 1023 bytes");
    assert_string_equal(cfg->access_log, "");
    /* A line beyond the line limit is refused with its number. */
    o = snprintf(text, n, "[log]\nlevel = info\naccess_log = /");
    memset(text + o, 'a', 4500);
    snprintf(text + o + 4500, 16, "\n");
    load_fails_at(text, 3, "line too long");
    free(text);
}

/* ---- rules ------------------------------------------------------------------------------- */

static void test_rules_in_file_order(void **state)
{
    (void)state;
    int rc = load("[rule zeta]\n"
                  "path = /static/*\n"
                  "policy = public\n"
                  "\n"
                  "[rule admin]\n"
                  "host = admin.example.com\n"
                  "methods = GET,POST\n"
                  "policy = role:admin\n"
                  "touch = false\n"
                  "\n"
                  "[rule alpha]\n"
                  "policy = fresh:10m\n");
    if (rc != 0)
        fail_msg("load failed: %s", err);
    assert_int_equal(cfg->nrules, 3);
    assert_string_equal(cfg->rules[0].name, "zeta");
    assert_string_equal(cfg->rules[0].path, "/static/*");
    assert_string_equal(cfg->rules[0].policy, "public");
    assert_true(cfg->rules[0].touch);
    assert_int_equal(cfg->rules[0].line, 1);
    assert_string_equal(cfg->rules[1].name, "admin");
    assert_string_equal(cfg->rules[1].host, "admin.example.com");
    assert_string_equal(cfg->rules[1].methods, "GET,POST");
    assert_string_equal(cfg->rules[1].policy, "role:admin");
    assert_false(cfg->rules[1].touch);
    assert_int_equal(cfg->rules[1].line, 5);
    assert_string_equal(cfg->rules[2].name, "alpha");
    assert_string_equal(cfg->rules[2].policy, "fresh:10m");
    assert_string_equal(cfg->rules[2].host, "");
    assert_true(cfg->rules[2].touch);
    assert_int_equal(finish(), 0);
}

static void test_rule_errors(void **state)
{
    (void)state;
    load_fails_at("[rule a]\npolicy = admin\n", 2, "[rule a] policy: \"admin\" is not a policy");
    load_fails_at("[rule a]\npolicy = fresh:abc\n", 2, "fresh needs a duration");
    load_fails_at("[rule a]\npolicy = fresh:0\n", 2, "fresh needs a duration");
    load_fails_at("[rule a]\npolicy = role:\n", 2, "role name");
    load_fails_at("[rule a]\npolicy = role:a b\n", 2, "role name");
    load_fails_at("[rule a]\npolicy =\n", 2, "[rule a] policy");
    load_fails_at("[rule a]\npath = /x\n", 1, "[rule a] policy: missing");
    load_fails_at("[rule a]\n", 1, "[rule a] policy: missing");
    load_fails_at("[rule a]\npolicy = public\n[rule a]\npolicy = public\n", 3,
                  "defined twice (first on line 1)");
    load_fails_at("[rule a]\npolicy = public\npolicy = public\n", 3, "given twice");
    load_fails_at("[rule]\npolicy = public\n", 1, "a rule needs a name");
    load_fails_at("[rule a/b]\npolicy = public\n", 1, "use only letters");
    load_fails_at("[rule a]\nmethods = get\npolicy = public\n", 2, "upper case");
    load_fails_at("[rule a]\ntouch = sometimes\npolicy = public\n", 2, "[rule a] touch");
    load_fails_at("[rule "
                  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]"
                  "\npolicy = public\n",
                  1, "section name too long");
    assert_int_equal(cfg->nrules, 0);
}

static void test_rule_limit(void **state)
{
    char *text = malloc(64 * (SESSD_MAX_RULES + 1) + 1);
    size_t o = 0;
    (void)state;
    assert_non_null(text);
    for (int i = 0; i < SESSD_MAX_RULES; i++)
        o += (size_t)sprintf(text + o, "[rule r%d]\npolicy = public\n", i);
    if (load(text) != 0)
        fail_msg("%d rules refused: %s", SESSD_MAX_RULES, err);
    assert_int_equal(cfg->nrules, SESSD_MAX_RULES);
    assert_string_equal(cfg->rules[SESSD_MAX_RULES - 1].name, "r63");
    sessd_config_defaults(cfg);
    sprintf(text + o, "[rule one_more]\npolicy = public\n");
    load_fails_at(text, 2 * SESSD_MAX_RULES + 1, "too many rules, at most 64");
    free(text);
}

/* ---- environment ------------------------------------------------------------------------- */

static void test_env_overrides_file(void **state)
{
    (void)state;
    assert_int_equal(load("[session]\nidle_timeout = 10m\n[server]\nthreads = 2\n"), 0);
    setenv("SESSIOND_SESSION_IDLE_TIMEOUT", "20m", 1);
    setenv("SESSIOND_STORE_REDIS_URL", "redis://db:6379", 1);
    setenv("SESSIOND_BIN", "/whatever/sessiond", 1);
    setenv("SESSIOND_CONFIG", "/etc/sessiond.ini", 1);
    int rc = sessd_config_apply_env(cfg, err, sizeof err);
    unsetenv("SESSIOND_SESSION_IDLE_TIMEOUT");
    unsetenv("SESSIOND_STORE_REDIS_URL");
    unsetenv("SESSIOND_BIN");
    unsetenv("SESSIOND_CONFIG");
    if (rc != 0)
        fail_msg("apply_env failed: %s", err);
    assert_int_equal(cfg->idle_timeout, 1200);
    assert_string_equal(cfg->redis_url, "redis://db:6379");
    assert_int_equal(cfg->threads, 2);
}

static void test_env_errors(void **state)
{
    (void)state;
    setenv("SESSIOND_SERVER_LISTN", "1.2.3.4:5", 1);
    assert_int_equal(sessd_config_apply_env(cfg, err, sizeof err), -1);
    unsetenv("SESSIOND_SERVER_LISTN");
    assert_contains(err, "SESSIOND_SERVER_LISTN");
    assert_contains(err, "unknown environment variable");

    setenv("SESSIOND_SERVER_THREADS", "many", 1);
    setenv("SESSIOND_SESSION_IDLE_TIMEOUT", "5m", 1);
    assert_int_equal(sessd_config_apply_env(cfg, err, sizeof err), -1);
    unsetenv("SESSIOND_SERVER_THREADS");
    unsetenv("SESSIOND_SESSION_IDLE_TIMEOUT");
    assert_contains(err, "SESSIOND_SERVER_THREADS: [server] threads:");
    /* All or nothing: the good variable did not apply either. */
    assert_int_equal(cfg->idle_timeout, 1800);

    setenv("SESSIOND_RULE_A_POLICY", "public", 1);
    assert_int_equal(sessd_config_apply_env(cfg, err, sizeof err), -1);
    unsetenv("SESSIOND_RULE_A_POLICY");
    assert_contains(err, "rules cannot be set from the environment");

    /* Lower-case keys are not option variables. */
    setenv("SESSIOND_server_listen", "1.2.3.4:5", 1);
    assert_int_equal(sessd_config_apply_env(cfg, err, sizeof err), -1);
    unsetenv("SESSIOND_server_listen");
    assert_int_equal(sessd_config_apply_env(cfg, err, sizeof err), 0);
}

/* ---- finish ------------------------------------------------------------------------------ */

static void test_finish_derives_defaults(void **state)
{
    (void)state;
    assert_int_equal(finish(), 0);
    assert_string_equal(cfg->public_url, "http://127.0.0.1:8080");
    assert_string_equal(cfg->cookie_name, "sid");
    assert_int_equal(cfg->touch_interval, 18);
    assert_string_equal(cfg->store_path, "./sessiond-data");
    assert_string_equal(cfg->audit_path, "./sessiond-data/audit.log");

    sessd_config_defaults(cfg);
    assert_int_equal(set("server", "public_url", "https://auth.example.com"), 0);
    assert_int_equal(set("session", "idle_timeout", "50s"), 0);
    snprintf(cfg->data_dir, sizeof cfg->data_dir, "/var/lib/sessiond");
    assert_int_equal(finish(), 0);
    assert_string_equal(cfg->cookie_name, "__Host-sid");
    assert_int_equal(cfg->touch_interval, 1);
    assert_string_equal(cfg->audit_path, "/var/lib/sessiond/audit.log");

    sessd_config_defaults(cfg);
    assert_int_equal(set("server", "public_url", "https://auth.example.com"), 0);
    assert_int_equal(set("session", "cookie_domain", "example.com"), 0);
    assert_int_equal(set("session", "touch_interval", "45s"), 0);
    assert_int_equal(set("store", "path", "/srv/lmdb"), 0);
    assert_int_equal(finish(), 0);
    assert_string_equal(cfg->cookie_name, "__Secure-sid");
    assert_int_equal(cfg->touch_interval, 45);
    assert_string_equal(cfg->store_path, "/srv/lmdb");

    sessd_config_defaults(cfg);
    assert_int_equal(set("server", "listen", "[::1]:0"), 0);
    assert_int_equal(set("session", "cookie_name", "app"), 0);
    assert_int_equal(finish(), 0);
    assert_string_equal(cfg->public_url, "http://[::1]:0");
    assert_string_equal(cfg->cookie_name, "app");
}

/* ASVS 3.3.1 / 3.3.3: a session cookie without Secure or without a prefix is named (config
 * check and serve warn with it) and refused under [session] require_secure = true. */
static void test_insecure_cookie_warned_or_refused(void **state)
{
    (void)state;
    char why[512];
    assert_int_equal(finish(), 0); /* the default: plain http on loopback */
    assert_true(sessd_config_insecure_cookie(cfg, why, sizeof(why)));
    assert_non_null(strstr(why, "without Secure"));
    assert_int_equal(set("session", "require_secure", "true"), 0);
    assert_int_equal(finish(), -1);
    assert_non_null(strstr(err, "[session] require_secure"));

    sessd_config_defaults(cfg);
    assert_int_equal(set("server", "public_url", "https://auth.example.com"), 0);
    assert_int_equal(set("session", "require_secure", "true"), 0);
    assert_int_equal(finish(), 0); /* __Host-sid */
    assert_false(sessd_config_insecure_cookie(cfg, why, sizeof(why)));
    assert_string_equal(why, "");

    sessd_config_defaults(cfg);
    assert_int_equal(set("server", "public_url", "https://auth.example.com"), 0);
    assert_int_equal(set("session", "cookie_domain", "example.com"), 0);
    assert_int_equal(set("session", "require_secure", "true"), 0);
    assert_int_equal(finish(), 0); /* __Secure-sid: shared with subdomains on purpose */
    assert_false(sessd_config_insecure_cookie(cfg, why, sizeof(why)));

    sessd_config_defaults(cfg);
    assert_int_equal(set("server", "public_url", "https://auth.example.com"), 0);
    assert_int_equal(set("session", "cookie_name", "sid"), 0);
    assert_int_equal(finish(), 0); /* allowed, but named */
    assert_true(sessd_config_insecure_cookie(cfg, why, sizeof(why)));
    assert_non_null(strstr(why, "no __Host- or __Secure- prefix"));
    assert_int_equal(set("session", "require_secure", "true"), 0);
    assert_int_equal(finish(), -1);
}

static void test_finish_same_site_none_needs_https(void **state)
{
    (void)state;
    assert_int_equal(set("session", "same_site", "none"), 0);
    assert_int_equal(finish(), -1);
    assert_contains(err, "[session] same_site");
    assert_contains(err, "https");

    sessd_config_defaults(cfg);
    assert_int_equal(set("session", "same_site", "none"), 0);
    assert_int_equal(set("server", "public_url", "https://auth.example.com"), 0);
    assert_int_equal(finish(), 0);
}

static void test_finish_cross_checks(void **state)
{
    static const struct {
        const char *section, *key, *value, *section2, *key2, *value2, *needle;
    } c[] = {
        {"session", "idle_timeout", "2h", "session", "absolute_timeout", "1h", "absolute_timeout"},
        {"session", "idle_timeout", "10m", "session", "touch_interval", "10m", "touch_interval"},
        {"session", "rotate_grace", "20m", "session", "access_ttl", "19m", "access_ttl"},
        {"store", "kind", "redis", NULL, NULL, NULL, "redis needs redis_url"},
        {"store", "kind", "redis", "store", "redis_sentinels", "s1:26379", "redis_master"},
        {"store", "kind", "cookie", NULL, NULL, NULL, "[keys] seal"},
        {"session", "cookie_name", "__Host-x", NULL, NULL, NULL, "__Host-"},
        {"server", "public_url", "https://a.example.com", "session", "cookie_name", "__Host-x",
         NULL},
    };
    (void)state;
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        sessd_config_defaults(cfg);
        assert_int_equal(set(c[i].section, c[i].key, c[i].value), 0);
        if (c[i].section2)
            assert_int_equal(set(c[i].section2, c[i].key2, c[i].value2), 0);
        if (c[i].needle == NULL) {
            if (finish() != 0)
                fail_msg("case %zu refused: %s", i, err);
            continue;
        }
        if (finish() != -1)
            fail_msg("case %zu accepted", i);
        assert_contains(err, c[i].needle);
    }
    /* A __Host- cookie cannot carry a Domain. */
    sessd_config_defaults(cfg);
    assert_int_equal(set("server", "public_url", "https://a.example.com"), 0);
    assert_int_equal(set("session", "cookie_name", "__Host-sid"), 0);
    assert_int_equal(set("session", "cookie_domain", "example.com"), 0);
    assert_int_equal(finish(), -1);
    assert_contains(err, "cookie_domain");
    /* Sentinel with its master's name needs no URL. */
    sessd_config_defaults(cfg);
    assert_int_equal(set("store", "kind", "redis"), 0);
    assert_int_equal(set("store", "redis_sentinels", "s1:26379"), 0);
    assert_int_equal(set("store", "redis_master", "mymaster"), 0);
    assert_int_equal(finish(), 0);
    /* Redis with a URL, and cookie with a key ring, are fine. */
    sessd_config_defaults(cfg);
    assert_int_equal(set("store", "kind", "redis"), 0);
    assert_int_equal(set("store", "redis_url", "redis://localhost:6379"), 0);
    assert_int_equal(finish(), 0);
    sessd_config_defaults(cfg);
    assert_int_equal(set("store", "kind", "cookie"), 0);
    assert_int_equal(set("keys", "seal", "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="), 0);
    assert_int_equal(finish(), 0);
}

static void test_finish_rechecks_fields_and_names_file(void **state)
{
    (void)state;
    assert_int_equal(load("[session]\nsame_site = none\n"), 0);
    assert_int_equal(finish(), -1);
    if (strncmp(err, ini_path, strlen(ini_path)) != 0)
        fail_msg("\"%s\" does not name the file", err);
    /* Values written straight into the struct are checked too. */
    sessd_config_defaults(cfg);
    snprintf(cfg->listen, sizeof cfg->listen, "nonsense");
    assert_int_equal(finish(), -1);
    assert_contains(err, "[server] listen");
    sessd_config_defaults(cfg);
    cfg->threads = 1000;
    assert_int_equal(finish(), -1);
    assert_contains(err, "[server] threads");
    sessd_config_defaults(cfg);
    cfg->nrules = 1;
    memset(&cfg->rules[0], 0, sizeof cfg->rules[0]);
    snprintf(cfg->rules[0].name, sizeof cfg->rules[0].name, "x");
    assert_int_equal(finish(), -1);
    assert_contains(err, "[rule x] policy: missing");
}

/* ---- reloadable and set for rules -------------------------------------------------------- */

static void test_reloadable(void **state)
{
    (void)state;
    assert_true(sessd_config_reloadable("session", "idle_timeout"));
    assert_true(sessd_config_reloadable("keys", "seal"));
    assert_true(sessd_config_reloadable("rule api", "policy"));
    assert_false(sessd_config_reloadable("server", "listen"));
    assert_false(sessd_config_reloadable("store", "kind"));
    assert_false(sessd_config_reloadable("server", "nonexistent"));
    assert_false(sessd_config_reloadable("nosection", "listen"));
}

static void test_set_rule(void **state)
{
    (void)state;
    assert_int_equal(set("rule api", "policy", "authenticated"), 0);
    assert_int_equal(set("rule api", "path", "/api/*"), 0);
    assert_int_equal(cfg->nrules, 1);
    assert_string_equal(cfg->rules[0].policy, "authenticated");
    assert_string_equal(cfg->rules[0].path, "/api/*");
    assert_true(cfg->rules[0].touch);
    assert_int_equal(set("rule", "policy", "public"), -1);
    assert_int_equal(set("rule api", "colour", "red"), -1);
}

/* ---- the documentation ------------------------------------------------------------------- */

/* Reads a whole file; NULL when it cannot. */
static char *slurp(FILE *f, size_t *len)
{
    size_t cap = 1 << 16, n = 0, got;
    *len = 0;
    char *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (nb == NULL) {
                free(buf);
                return NULL;
            }
            buf = nb;
        }
    }
    *len = n;
    return buf;
}

/* out = a + b; false when it does not fit. */
static bool join(char *out, size_t n, const char *a, const char *b)
{
    int r = snprintf(out, n, "%s%s", a, b);
    return r >= 0 && (size_t)r < n;
}

/* Finds the repository root: tests run from a temporary directory, and this file is compiled
 * as "tests/unit/test_config.c" relative to the root, so look for a directory that holds
 * __FILE__ (and docs/) upwards from the test binary, then upwards from the working directory.
 * An absolute __FILE__ or SESSD_SRCDIR in the environment also work. (Not SESSIOND_*: those
 * variables are configuration, and unknown ones are errors.) */
static bool repo_root(char *out, size_t n)
{
    static const char self[] = "/tests/unit/test_config.c";
    const char *file = __FILE__, *env = getenv("SESSD_SRCDIR");
    size_t fl = strlen(file), sl = strlen(self);
    char start[2][PATH_MAX], probe[PATH_MAX];

    if (env && *env)
        return join(out, n, env, "");
    if (file[0] == '/' && fl > sl && strcmp(file + fl - sl, self) == 0) {
        if (fl - sl >= n)
            return false;
        memcpy(out, file, fl - sl);
        out[fl - sl] = '\0';
        return true;
    }
    ssize_t l = readlink("/proc/self/exe", start[0], sizeof start[0] - 1);
    start[0][l > 0 ? l : 0] = '\0';
    if (getcwd(start[1], sizeof start[1]) == NULL)
        start[1][0] = '\0';
    for (int s = 0; s < 2; s++) {
        char *dir = start[s];
        while (dir[0]) {
            if (join(probe, sizeof probe, dir, self) && access(probe, R_OK) == 0 &&
                join(probe, sizeof probe, dir, "/docs") && access(probe, R_OK) == 0)
                return join(out, n, dir, "");
            char *slash = strrchr(dir, '/');
            if (slash == NULL)
                break;
            *slash = '\0';
        }
    }
    return false;
}

static void test_docs_match_table(void **state)
{
    char root[PATH_MAX], path[PATH_MAX + 32];
    size_t glen = 0, flen = 0;
    (void)state;
    if (!repo_root(root, sizeof root))
        fail_msg("cannot find the repository root from %s; set SESSD_SRCDIR", __FILE__);
    snprintf(path, sizeof path, "%s/docs/configuration.md", root);

    char *gen = NULL;
    FILE *mem = open_memstream(&gen, &glen);
    assert_non_null(mem);
    sessd_config_write_docs(mem);
    assert_int_equal(fclose(mem), 0);
    assert_non_null(gen);

    if (getenv("SESSD_UPDATE_DOCS")) {
        FILE *w = fopen(path, "w");
        assert_non_null(w);
        assert_int_equal(fwrite(gen, 1, glen, w), glen);
        assert_int_equal(fclose(w), 0);
    }
    FILE *f = fopen(path, "r");
    if (f == NULL)
        fail_msg("%s: %s", path, strerror(errno));
    char *file = slurp(f, &flen);
    fclose(f);
    assert_non_null(file);
    if (glen != flen || memcmp(gen, file, glen) != 0) {
        size_t i = 0, line = 1;
        while (i < glen && i < flen && gen[i] == file[i])
            line += gen[i++] == '\n';
        free(gen);
        free(file);
        fail_msg("%s differs from sessd_config_write_docs() from line %zu on; regenerate it with "
                 "./sessiond config docs > docs/configuration.md",
                 path, line);
    }
    /* Sanity: every section and a few keys are in it. */
    assert_contains(gen, "### [server]");
    assert_contains(gen, "### [rule NAME]");
    assert_contains(gen, "| `clear_site_data` | string | `\"cache\"` |");
    assert_contains(gen, "| `argon2_mem` | size | `64m` | 8m .. 1g | yes |");
    assert_contains(gen, "SESSIOND_<SECTION>_<KEY>");
    free(gen);
    free(file);
}

/* A reload keeps what needs a restart and takes what is reloadable. */
static void test_keep_static(void **state)
{
    (void)state;
    sessd_config *next = malloc(sizeof *next);
    assert_non_null(next);
    sessd_config_defaults(next);
    char why[256];
    assert_int_equal(
        sessd_config_set(next, "server", "listen", "127.0.0.1:9999", "test", why, sizeof(why)), 0);
    assert_int_equal(
        sessd_config_set(next, "session", "idle_timeout", "5m", "test", why, sizeof(why)), 0);
    char changed[128];
    assert_int_equal(sessd_config_keep_static(next, cfg, changed, sizeof(changed)), 1);
    assert_string_equal(changed, "[server] listen");
    assert_string_equal(next->listen, cfg->listen);
    assert_int_equal(next->idle_timeout, 300);
    assert_int_equal(sessd_config_keep_static(next, cfg, changed, sizeof(changed)), 0);
    free(next);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults_match_contract, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defaults_finish_cleanly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_duration, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_millis, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bool_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enum_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_number_junk_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bounds_at_limit_and_one_past, setup, teardown),
        cmocka_unit_test_setup_teardown(test_string_length_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_string_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secrets_never_echoed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_unknown_and_origin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_file_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_key_names_file_line_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_section_names_file_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_value_names_file_line_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_load_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rules_in_file_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rule_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rule_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_overrides_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_finish_derives_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insecure_cookie_warned_or_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_finish_same_site_none_needs_https, setup, teardown),
        cmocka_unit_test_setup_teardown(test_finish_cross_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_finish_rechecks_fields_and_names_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reloadable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_rule, setup, teardown),
        cmocka_unit_test_setup_teardown(test_docs_match_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keep_static, setup, teardown),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
