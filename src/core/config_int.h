/*
 * config_int.h - what the pieces of the configuration share, and nothing else includes: the
 * option type and table (config.c), the validators the table names (config_check.c), and the
 * helpers that store one value, find an option and word a message. config.h stays the API; only
 * config.c and the config_*.c files include this.
 */
#ifndef SESSIOND_CORE_CONFIG_INT_H
#define SESSIOND_CORE_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

#define SEC ((uint64_t)1)
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)
#define KIB ((uint64_t)1024)
#define MIB (1024 * KIB)
#define GIB (1024 * MIB)

/* Longest line of a config file; comfortably above the longest value (SESSD_STR - 1) plus key. */
#define CONF_LINE_MAX 4000
/* inih keeps section names in a 50-byte buffer and silently truncates longer ones. */
#define CONF_SECTION_MAX 49
/* Longest excerpt of a bad value quoted back in an error message. */
#define EXCERPT_MAX 48
#define WHY_MAX 384

/* T_MILLIS: a duration kept in milliseconds (timeouts shorter than a second). */
typedef enum opt_type {
    T_STRING,
    T_BOOL,
    T_INT,
    T_COUNT,
    T_DURATION,
    T_MILLIS,
    T_SIZE,
    T_ENUM
} opt_type;

enum {
    F_RELOAD = 1,   /* SIGHUP may change it */
    F_SECRET = 2,   /* the value never appears in a message */
    F_RULE = 4,     /* a key of [rule NAME]: offset is into sessd_rule */
    F_REQUIRED = 8, /* must be given (only for rule keys) */
    F_OFF = 16,     /* a duration that "off" turns off (stored as 0) */
};

/* Extra validation of a string value: true when fine, else the problem is written to `why`.
 * Checks of secret options must not quote the value. */
/* The names the config files share keep their short spelling in the sources; as symbols they
 * are sessd__cfg_*, so that nothing else in the program can meet them. */
#define options sessd__cfg_options
#define sections sessd__cfg_sections
#define say sessd__cfg_say
#define say_opt sessd__cfg_say_opt
#define excerpt sessd__cfg_excerpt
#define is_digit sessd__cfg_is_digit
#define is_alnum sessd__cfg_is_alnum
#define fmt_number sessd__cfg_fmt_number
#define is_rule_section sessd__cfg_is_rule_section
#define opt_find sessd__cfg_opt_find
#define section_known sessd__cfg_section_known
#define keys_of sessd__cfg_keys_of
#define field_of sessd__cfg_field_of
#define opt_store sessd__cfg_opt_store
#define opt_validate sessd__cfg_opt_validate
#define rule_name_of sessd__cfg_rule_name_of
#define rule_find sessd__cfg_rule_find
#define rule_add sessd__cfg_rule_add
#define check_listen sessd__cfg_check_listen
#define check_ops_listen sessd__cfg_check_ops_listen
#define check_public_url sessd__cfg_check_public_url
#define check_base_path sessd__cfg_check_base_path
#define check_cidr_list sessd__cfg_check_cidr_list
#define check_redis_url sessd__cfg_check_redis_url
#define check_redis_prefix sessd__cfg_check_redis_prefix
#define check_hostport_list sessd__cfg_check_hostport_list
#define check_name sessd__cfg_check_name
#define check_cookie_name sessd__cfg_check_cookie_name
#define check_cookie_domain sessd__cfg_check_cookie_domain
#define check_origin_list sessd__cfg_check_origin_list
#define check_forward sessd__cfg_check_forward
#define check_seal sessd__cfg_check_seal
#define check_methods sessd__cfg_check_methods
#define check_policy sessd__cfg_check_policy
#define check_access_format sessd__cfg_check_access_format

typedef bool check_fn(const char *value, char *why, size_t n);

typedef struct opt {
    const char *section; /* "rule" for the keys of [rule NAME] */
    const char *key;
    opt_type type;
    size_t offset; /* into sessd_config, or into sessd_rule with F_RULE */
    size_t size;   /* of the field; for strings the buffer size */
    const char *def;
    uint64_t min, max;  /* numeric bounds, in seconds or bytes */
    const char *values; /* T_ENUM: the allowed values, "a|b|c" */
    check_fn *check;
    unsigned flags;
    const char *desc;
} opt;

/* The validators the table names (config_check.c). */
extern check_fn check_listen, check_ops_listen, check_public_url, check_base_path, check_cidr_list,
    check_redis_url, check_redis_prefix, check_hostport_list, check_name, check_cookie_name,
    check_cookie_domain, check_origin_list, check_forward, check_seal, check_methods, check_policy,
    check_access_format;

/* The options, in the order the documentation lists them (config.c), and how many there are.
 * A per-option array is sized by CONF_OPTS_MAX, which config.c checks the table against. */
#define CONF_OPTS_MAX 128
extern const opt options[];
extern const size_t sessd__cfg_nopts;
#define NOPTS sessd__cfg_nopts

/* The sections in documentation order, each with a sentence for the docs (config.c), and how
 * many there are. */
struct section {
    const char *name;
    const char *desc;
};
extern const struct section sections[];
extern const size_t sessd__cfg_nsections;
#define NSECTIONS sessd__cfg_nsections

/* ---- helpers, in config.c ---------------------------------------------------------------- */

void say(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Formats "ORIGIN: [section] key: why" (or "[rule NAME] key"). */
void say_opt(char *err, size_t errlen, const char *origin, const char *section, const char *key,
             const char *why);
/* A printable, bounded copy of a user value for an error message; EX(v) of a whole string into
 * a local `exbuf`. */
const char *excerpt(const char *v, size_t len, char *buf, size_t n);
#define EX(v) excerpt((v), strlen(v), exbuf, sizeof exbuf)
bool is_digit(char ch);
bool is_alnum(char ch);
/* A bound or value of `o` in its own unit: "90s", "1h", "64k", "500ms", "10". */
const char *fmt_number(const opt *o, uint64_t v, char *buf, size_t n);

/* "rule" or "rule NAME". */
bool is_rule_section(const char *section);
/* The option `section`/`key` names; for "[rule NAME]" sections, the section is "rule ...". */
const opt *opt_find(const char *section, const char *key);
bool section_known(const char *section);
/* "listen, public_url, ..." for an "unknown key" message. */
const char *keys_of(const char *section, char *buf, size_t n);

/* Where `o` lives in `base` (a sessd_config, or a sessd_rule for F_RULE). */
void *field_of(const opt *o, void *base);
/* Parses `value` for `o` and stores it in `base`; on failure writes the problem to `why` and
 * changes nothing. */
int opt_store(const opt *o, void *base, const char *value, char *why, size_t n);
/* Re-checks a value already in the struct, without changing it. */
int opt_validate(const opt *o, void *base, char *why, size_t n);

/* The NAME of a "rule NAME" section (spaces around it skipped), or NULL for "rule". */
const char *rule_name_of(const char *section, char *buf, size_t n);
sessd_rule *rule_find(sessd_config *c, const char *name);
/* Adds rule `name` with its defaults; NULL with the problem in `why`. */
sessd_rule *rule_add(sessd_config *c, const char *name, int line, char *why, size_t n);

#endif
