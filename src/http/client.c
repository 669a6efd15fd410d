/*
 * client.c - the client's address (client.h): the peer, or through a trusted proxy the
 * right-most X-Forwarded-For entry that is not one, and audit lines that carry it.
 */
#include "http/client.h"
#include "http/auth.h"

#include <arpa/inet.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/log.h"
#include "core/state.h"
#include "sessiond/access.h"
#include "sessiond/cookie.h"
#include "sessiond/error.h"
#include "sessiond/text.h"

typedef struct addr {
    int family;
    uint8_t bytes[16];
} addr;

static bool parse_addr(const char *s, size_t len, addr *a)
{
    char buf[64];
    while (len > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        len--;
    }
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (inet_pton(AF_INET, buf, a->bytes) == 1) {
        a->family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, buf, a->bytes) == 1) {
        a->family = AF_INET6;
        return true;
    }
    return false;
}

/* One "ADDR" or "ADDR/BITS" of trusted_proxies. */
static bool cidr_has(const char *item, size_t len, const addr *a)
{
    const char *slash = memchr(item, '/', len);
    addr net;
    if (!parse_addr(item, slash ? (size_t)(slash - item) : len, &net) || net.family != a->family)
        return false;
    int max = a->family == AF_INET ? 32 : 128, bits = max;
    if (slash != NULL) {
        bits = 0;
        for (const char *p = slash + 1; p < item + len; p++)
            bits = bits * 10 + (*p - '0');
        if (bits > max)
            return false;
    }
    int full = bits / 8, rest = bits % 8;
    if (memcmp(net.bytes, a->bytes, (size_t)full) != 0)
        return false;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return rest == 0 || (net.bytes[full] & mask) == (a->bytes[full] & mask);
}

static bool trusted(const sessd_config *c, const addr *a)
{
    const char *p = c->trusted_proxies;
    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        while (n > 0 && *p == ' ') {
            p++;
            n--;
        }
        if (n > 0 && cidr_has(p, n, a))
            return true;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    return false;
}

void auth_client_ip(h2o_req_t *req, const sessd_config *c, char out[64])
{
    addr a;
    size_t xlen;
    http_peer_addr(req, out, 64);
    if (c->trusted_proxies[0] == '\0' || !parse_addr(out, strlen(out), &a) || !trusted(c, &a))
        return;
    const char *xff = http_header(req, "x-forwarded-for", &xlen);
    /* From the right: each hop appended the address it saw; the first one that is not a proxy
     * we trust is the client. A malformed entry stops the walk (we keep what we have). */
    while (xff != NULL && xlen > 0) {
        const char *comma = memrchr(xff, ',', xlen);
        const char *item = comma ? comma + 1 : xff;
        size_t n = (size_t)(xff + xlen - item);
        if (!parse_addr(item, n, &a))
            return;
        inet_ntop(a.family, a.bytes, out, 64);
        if (!trusted(c, &a))
            return;
        xlen = comma ? (size_t)(comma - xff) : 0;
    }
}

int auth_audit(h2o_req_t *req, enum sessd_audit_event ev, const char *user,
               const uint8_t *session_id, const char *detail)
{
    char ip[64];
    auth_client_ip(req, sessd_cfg(), ip);
    return sessd_audit_change(ev, user, session_id, ip, detail);
}
