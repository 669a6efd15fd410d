/*
 * rules.h - access rules for /auth/verify ([rule NAME] sections): which rule applies to a
 * request, and what its policy asks for. Pure functions over the configuration, so they are
 * unit-tested without a server.
 *
 * Rules are tried in the order of the configuration file; the first whose host, path and methods
 * all match applies. When none matches, the answer is deny (SESSD_POLICY_DENY): a configuration
 * without rules lets nothing through.
 */
#ifndef SESSIOND_CORE_RULES_H
#define SESSIOND_CORE_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

enum sessd_policy_kind {
    SESSD_POLICY_DENY,          /* no rule matched */
    SESSD_POLICY_PUBLIC,        /* anyone; no identity headers */
    SESSD_POLICY_AUTHENTICATED, /* any live session */
    SESSD_POLICY_ROLE,          /* a live session whose roles include `role` */
    SESSD_POLICY_FRESH,         /* a live session whose password was entered within `fresh` */
};

typedef struct sessd_access {
    enum sessd_policy_kind kind;
    const sessd_rule *rule; /* NULL for DENY */
    char role[128];         /* for ROLE */
    int64_t fresh;          /* seconds, for FRESH */
    bool touch;             /* whether the check extends the idle deadline */
} sessd_access;

/* Finds the rule for a request: `path` as sess_canonical_target (access.h) decoded it, `host`
 * as sessd_normalize_host below, `method` in upper case. Paths and hosts are compared without case,
 * so that "/Admin" cannot slip past a rule for the path "/admin" and what is under it, on an
 * application that ignores case. Fills `out`; returns the index of the rule, or -1 for deny. */
int sessd_rules_match(const sessd_config *c, const char *host, size_t host_len, const char *path,
                      size_t path_len, const char *method, size_t method_len, sessd_access *out);

/* Normalises a Host: lower case, without the port and without a trailing dot; IPv6 literals keep
 * their brackets. -1 for an empty or malformed host (characters outside letters, digits, "-",
 * "." and, in brackets, ":" and hex). Writes a NUL-terminated result into `out`. */
int sessd_normalize_host(const char *in, size_t len, char *out, size_t cap);

/* Glob match, ASCII case-insensitive: `*` is any run of characters (slashes included), `?` one
 * character; everything else matches itself. An empty pattern matches everything. Iterative, O(len
 * x pattern) at worst (both are bounded). */
bool sessd_glob(const char *pat, const char *s, size_t len);

/* True when the comma list `roles` contains `role` exactly. */
bool sessd_has_role(const char *roles, const char *role);

#endif
