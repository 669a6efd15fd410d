/*
 * revoke.h - mass revocation by filter: every live session created before a time, from a client
 * address inside a CIDR block, or whose user agent contains a text (all given filters must
 * match). Shared by `sessiond session revoke --created-before|--ip|--agent` and
 * POST /v1/sessions/revoke. A dry run only counts; a real one deletes the matching sessions one
 * by one (store del: each is refused at once) and writes one audit line per session revoked and
 * one summary line.
 */
#ifndef SESSIOND_CORE_REVOKE_H
#define SESSIOND_CORE_REVOKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sessiond/session.h"

#define SESSD_REVOKE_MAX 1000000u /* sessions one call may revoke; run again for more */

typedef struct sessd_revoke_filter {
    bool has_before;
    int64_t created_before; /* unix seconds: sessions created strictly before */
    bool has_net;
    int family; /* AF_INET or AF_INET6 */
    uint8_t net[16];
    int prefix;                     /* bits */
    char agent[SESS_AGENT_MAX + 1]; /* empty: any; else a case-insensitive substring */
} sessd_revoke_filter;

/* Parses unix seconds ("1732600000") or a UTC date and time ("2026-11-26",
 * "2026-11-26T05:00", "2026-11-26T05:00:00Z"). 0, or -1 on anything else. */
int sessd_revoke_parse_time(const char *s, int64_t *out);
/* Parses "10.0.0.0/8", "2001:db8::/32" or a single address (a /32 or /128) into `f`. 0 or -1. */
int sessd_revoke_parse_cidr(const char *s, sessd_revoke_filter *f);
/* Sets the agent filter: 1..SESS_AGENT_MAX bytes without control characters. 0 or -1. */
int sessd_revoke_set_agent(const char *s, sessd_revoke_filter *f);
/* True when at least one filter is set (an empty filter would revoke everything: refused). */
bool sessd_revoke_filter_set(const sessd_revoke_filter *f);
bool sessd_revoke_filter_match(const sessd_revoke_filter *f, const sess_record *rec);

/* Called every SESSD_REVOKE_PROGRESS_EVERY sessions revoked and once at the end. */
#define SESSD_REVOKE_PROGRESS_EVERY 1000
typedef void (*sessd_revoke_progress_fn)(size_t done, size_t total, void *arg);

/* Finds the live sessions matching `f` (at `now`) and, unless `dry_run`, revokes them.
 * `*matched` receives how many matched, `*revoked` how many this call deleted (others may have
 * gone meanwhile). `who` names the actor for the audit log ("cli", "admin socket",
 * "api key NAME"); `client` is its address or NULL. `progress` may be NULL. 0, or a sess_err
 * (the store failed: some may have been revoked, `*revoked` says how many). */
int sessd_revoke_by_filter(sess_ctx *ctx, const sessd_revoke_filter *f, bool dry_run, int64_t now,
                           const char *who, const char *client, size_t *matched, size_t *revoked,
                           sessd_revoke_progress_fn progress, void *arg);

#endif
