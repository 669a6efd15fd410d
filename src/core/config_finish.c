/*
 * config_finish.c - what the options say together, once every source (defaults, file,
 * environment, command line) has been applied: every value is checked again (callers may write
 * fields directly), the derived defaults are filled in (public_url, cookie_name, touch_interval,
 * store_path, audit_path, socket_dir) and combinations that cannot work are refused, such as
 * same_site = none without an https public_url or a redis store with nowhere to connect.
 */
#include "core/config.h"
#include "core/config_int.h"
#include "core/admin.h"
#include "core/touchsock.h"

#define SUN_PATH_BYTES sizeof(((struct sockaddr_un *)0)->sun_path)

#include <assert.h>
#include <sys/un.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- finishing: derived defaults and checks across options ------------------------------ */

static bool is_https(const sessd_config *c)
{
    return strncasecmp(c->public_url, "https://", 8) == 0;
}

bool sessd_config_insecure_cookie(const sessd_config *c, char *why, size_t cap)
{
    bool prefixed =
        strncmp(c->cookie_name, "__Host-", 7) == 0 || strncmp(c->cookie_name, "__Secure-", 9) == 0;
    why[0] = '\0';
    if (!is_https(c))
        snprintf(why, cap,
                 "the session cookie \"%s\" goes out without Secure and without a prefix: "
                 "[server] public_url is not https (%s); anyone on the network path can read "
                 "it. Serve sessiond behind https and set public_url = https://...",
                 c->cookie_name, c->public_url);
    else if (!prefixed)
        snprintf(why, cap,
                 "the session cookie \"%s\" has no __Host- or __Secure- prefix ([session] "
                 "cookie_name), so a sibling subdomain or an http page of the same host can "
                 "plant or shadow it; leave cookie_name unset (__Host-sid) or prefix it",
                 c->cookie_name);
    return why[0] != '\0';
}

int sessd_config_finish(sessd_config *c, char *err, size_t errlen)
{
    char why[WHY_MAX];
    const char *from = c->file[0] ? c->file : "configuration";
    int n;

    for (size_t i = 0; i < NOPTS; i++) {
        const opt *o = &options[i];
        if (o->flags & F_RULE)
            continue;
        if (opt_validate(o, c, why, sizeof why) < 0) {
            say_opt(err, errlen, from, o->section, o->key, why);
            return -1;
        }
    }
    assert(c->nrules >= 0 && c->nrules <= SESSD_MAX_RULES);
    for (int r = 0; r < c->nrules; r++) {
        for (size_t i = 0; i < NOPTS; i++) {
            const opt *o = &options[i];
            if (!(o->flags & F_RULE))
                continue;
            if ((o->flags & F_REQUIRED) && ((char *)field_of(o, &c->rules[r]))[0] == '\0') {
                say(err, errlen, "%s: [rule %s] %s: missing; every rule needs one", from,
                    c->rules[r].name, o->key);
                return -1;
            }
            if (opt_validate(o, &c->rules[r], why, sizeof why) < 0) {
                say(err, errlen, "%s: [rule %s] %s: %s", from, c->rules[r].name, o->key, why);
                return -1;
            }
        }
    }
    if (c->data_dir[0] == '\0') {
        say(err, errlen, "%s: the data directory is empty; give one with --data DIR", from);
        return -1;
    }
    /* The option's validator admitted one of these four. */
    static const char *const kinds[] = {
        [SESSD_STORE_LMDB] = "lmdb",
        [SESSD_STORE_MEMORY] = "memory",
        [SESSD_STORE_REDIS] = "redis",
        [SESSD_STORE_COOKIE] = "cookie",
    };
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
        if (strcmp(c->store_kind, kinds[k]) == 0)
            c->store = (enum sessd_store_kind)k;

    if (c->public_url[0] == '\0')
        snprintf(c->public_url, sizeof c->public_url, "http://%s", c->listen);
    if (c->cookie_name[0] == '\0')
        snprintf(c->cookie_name, sizeof c->cookie_name, "%s",
                 !is_https(c)          ? "sid"
                 : c->cookie_domain[0] ? "__Secure-sid"
                                       : "__Host-sid");
    if (c->touch_interval == 0)
        c->touch_interval = c->idle_timeout / 100 > 1 ? c->idle_timeout / 100 : 1;
    if (c->store_path[0] == '\0')
        memcpy(c->store_path, c->data_dir, sizeof c->store_path);
    bool socket_dir_set = c->socket_dir[0] != '\0';
    if (!socket_dir_set)
        memcpy(c->socket_dir, c->data_dir, sizeof c->socket_dir);
    /* sun_path ends with a NUL; both sockets are checked now rather than when one is bound. */
    const char *longer =
        strlen(SESSD_ADMIN_SOCK) >= strlen(SESSD_TOUCH_SOCK) ? SESSD_ADMIN_SOCK : SESSD_TOUCH_SOCK;
    size_t sock_len = strlen(c->socket_dir) + 1 + strlen(longer);
    if (sock_len >= SUN_PATH_BYTES) {
        say(err, errlen,
            "%s: [server] socket_dir: %s/%s would be %zu bytes, longer than a unix socket path "
            "holds (%zu); %s",
            from, c->socket_dir, longer, sock_len, SUN_PATH_BYTES - 1,
            socket_dir_set ? "choose a shorter directory"
                           : "the data directory is too long: set [server] socket_dir to a "
                             "shorter one (such as /run/sessiond)");
        return -1;
    }
    if (c->audit_path[0] == '\0') {
        n = snprintf(c->audit_path, sizeof c->audit_path, "%s/audit.log", c->data_dir);
        if (n < 0 || (size_t)n >= sizeof c->audit_path) {
            c->audit_path[0] = '\0';
            say(err, errlen,
                "%s: [audit] path: the data directory is too long to hold audit.log; set [audit] "
                "path",
                from);
            return -1;
        }
    }

    if (!is_https(c)) {
        if (strcmp(c->same_site, "none") == 0) {
            say(err, errlen,
                "%s: [session] same_site: none needs an https public_url (browsers drop "
                "SameSite=None cookies that are not Secure); set [server] public_url to "
                "https://... or use lax",
                from);
            return -1;
        }
        if (strncmp(c->cookie_name, "__Host-", 7) == 0 ||
            strncmp(c->cookie_name, "__Secure-", 9) == 0) {
            say(err, errlen,
                "%s: [session] cookie_name: a __Host- or __Secure- cookie needs an https "
                "public_url; set [server] public_url to https://... or choose another name",
                from);
            return -1;
        }
    }
    if (strncmp(c->cookie_name, "__Host-", 7) == 0 && c->cookie_domain[0]) {
        say(err, errlen,
            "%s: [session] cookie_domain: a __Host- cookie cannot have a Domain; clear "
            "cookie_domain or rename the cookie (e.g. __Secure-sid)",
            from);
        return -1;
    }
    char insecure[512];
    if (c->require_secure && sessd_config_insecure_cookie(c, insecure, sizeof insecure)) {
        say(err, errlen, "%s: [session] require_secure: %s", from, insecure);
        return -1;
    }
    if (c->absolute_timeout < c->idle_timeout) {
        say(err, errlen,
            "%s: [session] absolute_timeout: shorter than idle_timeout; make it at least as long",
            from);
        return -1;
    }
    if (c->access_ttl < c->rotate_grace) {
        say(err, errlen,
            "%s: [session] access_ttl: shorter than rotate_grace; make it at least as long (a "
            "refresh within the grace must still find the access token it replaced)",
            from);
        return -1;
    }
    if (c->touch_interval >= c->idle_timeout) {
        say(err, errlen,
            "%s: [session] touch_interval: must be below idle_timeout, or sessions in use would "
            "expire; lower it or set 0 for the automatic value",
            from);
        return -1;
    }
    if (c->store == SESSD_STORE_REDIS && c->redis_url[0] == '\0' && c->redis_sentinels[0] == '\0' &&
        c->redis_cluster[0] == '\0') {
        say(err, errlen,
            "%s: [store] kind: redis needs redis_url, redis_sentinels and redis_master, or "
            "redis_cluster; set [store] redis_url (or --redis-url)",
            from);
        return -1;
    }
    if (c->redis_cluster[0] && c->redis_sentinels[0]) {
        say(err, errlen,
            "%s: [store] redis_cluster: a Cluster has no Sentinels; set redis_cluster or "
            "redis_sentinels, not both",
            from);
        return -1;
    }
    if (c->redis_sentinels[0] && c->redis_master[0] == '\0') {
        say(err, errlen,
            "%s: [store] redis_master: redis_sentinels needs the master's name; set [store] "
            "redis_master",
            from);
        return -1;
    }
    if (c->store == SESSD_STORE_COOKIE && c->seal[0] == '\0') {
        say(err, errlen,
            "%s: [keys] seal: the cookie store needs a key ring; set [keys] seal = ID:BASE64KEY",
            from);
        return -1;
    }
    return 0;
}
