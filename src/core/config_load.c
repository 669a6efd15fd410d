/*
 * config_load.c - reading the configuration from the INI file (through inih) and from the
 * SESSIOND_<SECTION>_<KEY> environment variables. Both parse into a copy and replace the
 * caller's values only when all went well, so a bad file on SIGHUP leaves the running
 * configuration as it was. The first problem becomes one message naming the file and line (or
 * the variable), the section and the key.
 */
#include "core/config.h"
#include "core/config_int.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

extern char **environ;

/* ---- the INI file ----------------------------------------------------------------------- */

typedef struct load_state {
    sessd_config *c;
    FILE *f;
    const char *path;
    int line;      /* physical line last handed to inih */
    int err_line;  /* line of the first problem, 0 while none */
    int rule_from; /* rules before this index were not defined by this file */
    int seen[CONF_OPTS_MAX];
    char msg[WHY_MAX + 640];
} load_state;

static void load_fail(load_state *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void load_fail(load_state *st, const char *fmt, ...)
{
    va_list ap;
    int o;
    if (st->err_line)
        return;
    st->err_line = st->line;
    o = snprintf(st->msg, sizeof st->msg, "%s:%d: ", st->path, st->line);
    va_start(ap, fmt);
    vsnprintf(st->msg + o, sizeof st->msg - (size_t)o, fmt, ap);
    va_end(ap);
}

/* Looks at a section header before inih does, so that sections without keys are checked too:
 * an unknown [section], a bad or duplicate rule name, or too many rules. The header is found
 * the way inih finds it: '[' then everything up to ']' (a " ;" comment first makes it a syntax
 * error, which inih reports). */
static void see_header(load_state *st, const char *s)
{
    char name[CONF_SECTION_MAX + 1], rname[64], why[WHY_MAX], exbuf[EXCERPT_MAX + 8];
    const char *end = s + 1;
    size_t len;
    while (*end && *end != ']' && !(*end == ';' && isspace((unsigned char)end[-1])))
        end++;
    if (*end != ']')
        return;
    len = (size_t)(end - s - 1);
    if (len > CONF_SECTION_MAX) {
        load_fail(st, "[%s]: section name too long, at most %d characters",
                  excerpt(s + 1, len, exbuf, sizeof exbuf), CONF_SECTION_MAX);
        return;
    }
    memcpy(name, s + 1, len);
    name[len] = '\0';
    if (is_rule_section(name)) {
        if (rule_name_of(name, rname, sizeof rname) == NULL) {
            load_fail(st, "[%s]: a rule needs a name: [rule NAME]", name);
            return;
        }
        if (rule_add(st->c, rname, st->line, why, sizeof why) == NULL) {
            load_fail(st, "[%s]: %s", name, why);
            return;
        }
        /* Each rule has its own keys: "given twice" counts within one rule. */
        for (size_t i = 0; i < NOPTS; i++)
            if (options[i].flags & F_RULE)
                st->seen[i] = 0;
        return;
    }
    if (!section_known(name))
        load_fail(st,
                  "[%s]: unknown section; sections are server, store, session, login, csrf, "
                  "headers, rule NAME, keys, audit and log",
                  excerpt(name, len, exbuf, sizeof exbuf));
}

/* The line reader handed to inih: one physical line per call, so inih's line numbers and ours
 * agree. Lines that do not fit are refused rather than split into bogus keys. */
static char *read_line(char *buf, int num, void *stream)
{
    load_state *st = stream;
    size_t len, max = (size_t)num - 2 < CONF_LINE_MAX ? (size_t)num - 2 : CONF_LINE_MAX;
    const char *s;
    if (st->err_line || fgets(buf, num, st->f) == NULL)
        return NULL;
    st->line++;
    len = strlen(buf);
    if (len > 0 && buf[len - 1] == '\n') {
        buf[--len] = '\0';
    } else if (!feof(st->f)) {
        int ch = getc(st->f);
        if (ch != '\n' && ch != EOF) {
            load_fail(st, "line too long, at most %zu characters", max);
            return NULL;
        }
    }
    if (len > 0 && buf[len - 1] == '\r')
        buf[--len] = '\0';
    if (len > max) {
        load_fail(st, "line too long, at most %zu characters", max);
        return NULL;
    }
    s = buf;
    if (st->line == 1 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        s += 3;
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '[')
        see_header(st, s);
    return st->err_line ? NULL : buf;
}

static int on_value(void *user, const char *section, const char *key, const char *value)
{
    load_state *st = user;
    char why[WHY_MAX], rname[64];
    const opt *o;
    void *base = st->c;
    size_t idx;

    if (st->err_line)
        return 0;
    if (section[0] == '\0') {
        load_fail(st, "%s: key outside any section; put it under a [section] header", key);
        return 0;
    }
    o = opt_find(section, key);
    if (o == NULL) {
        char keys[512];
        if (is_rule_section(section))
            load_fail(st, "[%s] %s: unknown key; a rule has host, path, methods, policy and touch",
                      section, key);
        else
            load_fail(st, "[%s] %s: unknown key; known keys: %s", section, key,
                      keys_of(section, keys, sizeof keys));
        return 0;
    }
    idx = (size_t)(o - options);
    if (st->seen[idx]) {
        load_fail(st, "[%s] %s: given twice (first on line %d); keep one", section, key,
                  st->seen[idx]);
        return 0;
    }
    st->seen[idx] = st->line;
    if (o->flags & F_RULE) {
        sessd_rule *r = NULL;
        if (rule_name_of(section, rname, sizeof rname) != NULL)
            r = rule_find(st->c, rname);
        if (r == NULL) {
            load_fail(st, "[%s]: not a valid rule section; use [rule NAME]", section);
            return 0;
        }
        base = r;
    }
    if (opt_store(o, base, value, why, sizeof why) < 0) {
        load_fail(st, "[%s] %s: %s", section, key, why);
        return 0;
    }
    return 1;
}

/* Debian's libinih exports its build-time limits as variables. Its stock 200-byte line would
 * split longer lines (a key ring, a list of origins) into bogus keys, and continuation lines
 * would feed a key twice; so for the parse we raise the line limit, turn continuation lines off
 * and stop at the first error, then put the library's settings back. */
typedef struct ini_settings {
    bool use_stack, allow_realloc, allow_multiline, stop_on_first_error;
    int max_line, initial_alloc;
} ini_settings;

static ini_settings ini_settings_push(void)
{
    ini_settings old = {ini_use_stack,           ini_allow_realloc, ini_allow_multiline,
                        ini_stop_on_first_error, ini_max_line,      ini_initial_alloc};
    ini_use_stack = false;
    ini_allow_realloc = false;
    ini_allow_multiline = false;
    ini_stop_on_first_error = true;
    ini_max_line = CONF_LINE_MAX + 96;
    ini_initial_alloc = CONF_LINE_MAX + 96;
    return old;
}

static void ini_settings_pop(ini_settings old)
{
    ini_use_stack = old.use_stack;
    ini_allow_realloc = old.allow_realloc;
    ini_allow_multiline = old.allow_multiline;
    ini_stop_on_first_error = old.stop_on_first_error;
    ini_max_line = old.max_line;
    ini_initial_alloc = old.initial_alloc;
}

/* After the parse: every rule this file defined has its required keys. */
static void check_rules_complete(load_state *st)
{
    for (int i = st->rule_from; i < st->c->nrules && !st->err_line; i++) {
        sessd_rule *r = &st->c->rules[i];
        for (size_t k = 0; k < NOPTS; k++) {
            const opt *o = &options[k];
            if ((o->flags & F_REQUIRED) && ((char *)field_of(o, r))[0] == '\0') {
                st->line = r->line;
                load_fail(st,
                          "[rule %s] %s: missing; every rule needs one (public, authenticated, "
                          "role:NAME or fresh:DURATION)",
                          r->name, o->key);
            }
        }
    }
}

static int parse_file(load_state *st, char *err, size_t errlen)
{
    struct stat sb;
    int rc;
    if (fstat(fileno(st->f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
        say(err, errlen, "%s: is a directory; give the config file with -c FILE", st->path);
        return -1;
    }
    ini_settings old = ini_settings_push();
    rc = ini_parse_stream(read_line, st, on_value, st);
    ini_settings_pop(old);
    if (ferror(st->f)) {
        say(err, errlen, "%s: cannot read: %s", st->path, strerror(errno));
        return -1;
    }
    if (rc > 0 && (st->err_line == 0 || rc < st->err_line)) {
        say(err, errlen,
            "%s:%d: syntax error: expected [section], key = value or a comment (lines may not "
            "continue on an indented line)",
            st->path, rc);
        return -1;
    }
    if (rc < 0) {
        say(err, errlen, "%s: cannot parse: out of memory", st->path);
        return -1;
    }
    check_rules_complete(st);
    if (st->err_line) {
        say(err, errlen, "%s", st->msg);
        return -1;
    }
    return 0;
}

int sessd_config_load_file(sessd_config *c, const char *path, char *err, size_t errlen)
{
    load_state *st;
    int rc;
    if (strlen(path) >= sizeof c->file) {
        say(err, errlen, "config file path too long, at most %zu bytes", sizeof c->file - 1);
        return -1;
    }
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        say(err, errlen, "%s: cannot open: %s; check the path given with -c", path,
            strerror(errno));
        return -1;
    }
    /* Parse into a copy so that a bad file leaves *c as it was (SIGHUP keeps the old config). */
    st = calloc(1, sizeof *st);
    sessd_config *tmp = malloc(sizeof *tmp);
    if (st == NULL || tmp == NULL) {
        say(err, errlen, "%s: out of memory", path);
        free(st);
        free(tmp);
        fclose(f);
        return -1;
    }
    memcpy(tmp, c, sizeof *tmp);
    snprintf(tmp->file, sizeof tmp->file, "%s", path);
    st->c = tmp;
    st->f = f;
    st->path = path;
    st->rule_from = tmp->nrules;
    rc = parse_file(st, err, errlen);
    if (rc == 0)
        memcpy(c, tmp, sizeof *c);
    fclose(f);
    free(st);
    free(tmp);
    return rc;
}

/* ---- the environment -------------------------------------------------------------------- */

/* The option whose variable is SESSIOND_<SECTION>_<KEY> = `name` (after the prefix). */
static const opt *opt_for_env(const char *name, size_t len)
{
    for (size_t i = 0; i < NOPTS; i++) {
        const opt *o = &options[i];
        size_t sl = strlen(o->section), kl = strlen(o->key);
        if (o->flags & F_RULE || sl + 1 + kl != len || name[sl] != '_')
            continue;
        bool same = true;
        for (size_t k = 0; same && k < sl; k++)
            same = name[k] == toupper((unsigned char)o->section[k]);
        for (size_t k = 0; same && k < kl; k++)
            same = name[sl + 1 + k] == toupper((unsigned char)o->key[k]);
        if (same)
            return o;
    }
    return NULL;
}

int sessd_config_apply_env(sessd_config *c, char *err, size_t errlen)
{
    static const char prefix[] = "SESSIOND_";
    const size_t pl = sizeof prefix - 1;
    char var[128], exbuf[EXCERPT_MAX + 8];
    sessd_config *tmp = malloc(sizeof *tmp);
    int rc = 0;
    if (tmp == NULL) {
        say(err, errlen, "environment: out of memory");
        return -1;
    }
    memcpy(tmp, c, sizeof *tmp);
    for (char **e = environ; e && *e && rc == 0; e++) {
        const char *eq = strchr(*e, '=');
        if (strncmp(*e, prefix, pl) != 0 || eq == NULL)
            continue;
        size_t nl = (size_t)(eq - *e);
        const char *name = *e + pl;
        if ((nl == pl + 3 && memcmp(name, "BIN", 3) == 0) ||
            (nl == pl + 6 && memcmp(name, "CONFIG", 6) == 0))
            continue;
        const opt *o = opt_for_env(name, nl - pl);
        if (o == NULL) {
            const char *shown = excerpt(*e, nl, exbuf, sizeof exbuf);
            if (nl - pl > 5 && memcmp(name, "RULE_", 5) == 0)
                say(err, errlen,
                    "%s: rules cannot be set from the environment; use a [rule NAME] section in "
                    "the config file",
                    shown);
            else
                say(err, errlen,
                    "%s: unknown environment variable; options are SESSIOND_<SECTION>_<KEY>, e.g. "
                    "SESSIOND_SERVER_LISTEN (see docs/configuration.md); unset it",
                    shown);
            rc = -1;
            break;
        }
        snprintf(var, sizeof var, "%.*s", (int)nl, *e);
        rc = sessd_config_set(tmp, o->section, o->key, eq + 1, var, err, errlen);
    }
    if (rc == 0)
        memcpy(c, tmp, sizeof *c);
    free(tmp);
    return rc;
}
