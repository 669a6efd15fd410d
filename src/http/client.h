/*
 * client.h - the client's address ([server] trusted_proxies), and audit lines that carry it.
 */
#ifndef SESSIOND_HTTP_CLIENT_H
#define SESSIOND_HTTP_CLIENT_H

#include <stdint.h>
#include "core/audit.h"
#include "core/config.h"
#include "http/http.h"

/* The client's address into `out` (64 bytes): the peer, or, when the peer is a trusted proxy,
 * the right-most X-Forwarded-For entry that is not itself a trusted proxy. */
void auth_client_ip(h2o_req_t *req, const sessd_config *c, char out[64]);

/* Appends an audit event (audit.h) with this request's client address (auth_client_ip), as
 * sessd_audit_change: 0, or SESS_EAUDIT when a change it records must not be confirmed. For an
 * event that records no change (a failed login, a cookie conflict) the result can be ignored. */
int auth_audit(h2o_req_t *req, enum sessd_audit_event ev, const char *user,
               const uint8_t *session_id, const char *detail);

#endif
