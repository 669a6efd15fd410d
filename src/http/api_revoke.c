/*
 * api_revoke.c - POST /v1/sessions/revoke on the worker pool: listing every session and
 * deleting the matching ones may take long, so it never runs on an event loop.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/handlers.h"
#include "core/clock.h"
#include "core/jsonw.h"
#include "core/revoke.h"
#include "core/state.h"
#include "http/workers.h"
#include "sessiond/error.h"

typedef struct revoke_job {
    sessd_job base;
    sessd_revoke_filter filter;
    bool dry_run;
    char who[128];
    char client[64];
    size_t matched, revoked;
    int result;
} revoke_job;

static void revoke_run(sessd_job *base)
{
    revoke_job *j = (revoke_job *)base;
    j->result = sessd_revoke_by_filter(sessd_srv.ctx, &j->filter, j->dry_run, sessd_now(), j->who,
                                       j->client, &j->matched, &j->revoked, NULL, NULL);
}

static void revoke_done(sessd_job *base)
{
    revoke_job *j = (revoke_job *)base;
    h2o_req_t *req = j->base.req;
    if (req == NULL) {
        free(j);
        return;
    }
    if (j->base.dropped) {
        http_send_error(req, SESS_EBUSY, "the server is stopping");
    } else if (j->result != 0) {
        http_send_error(req, j->result, NULL);
    } else {
        jsonw w;
        jw_init(&w);
        jw_raw(&w, "{", 1);
        JW_KEY(&w, "matched", true);
        jw_int(&w, (int64_t)j->matched);
        JW_KEY(&w, "revoked", false);
        jw_int(&w, (int64_t)j->revoked);
        JW_KEY(&w, "dry_run", false);
        jw_raw(&w, j->dry_run ? "true}" : "false}", j->dry_run ? 5 : 6);
        http_send_text(req, 200, "application/json", w.buf, w.len);
        jw_free(&w);
    }
    sessd_job_answered(&j->base, req);
    free(j);
}

int sessd_v1_revoke_submit(h2o_req_t *req, const struct sessd_revoke_filter *f, bool dry_run,
                           const char *who, const char *client)
{
    revoke_job *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        return http_send_error(req, SESS_ENOMEM, NULL);
    }
    j->filter = *f;
    j->dry_run = dry_run;
    snprintf(j->who, sizeof(j->who), "%s", who);
    snprintf(j->client, sizeof(j->client), "%s", client);
    j->base.run = revoke_run;
    j->base.done = revoke_done;
    j->base.route = SESSD_ROUTE_V1_REVOKE;
    if (sessd_job_submit(req, &j->base))
        return 0;
    free(j);
    int status = http_send_error(req, SESS_EBUSY, "the server is busy; retry");
    return status;
}
