/*
 * workers.h - a small pool of threads for slow work (argon2id password checks, the store writes
 * of a login), so that no event loop ever blocks on it.
 *
 * A handler that needs slow work fills a job, submits it, and returns without answering (h2o's
 * asynchronous response path). A worker thread runs job->run; the job then travels back through
 * h2o's multithread queue to the event loop that owns the request, where job->done answers it.
 * If the client went away meanwhile, h2o has disposed of the request: job->req is then NULL and
 * done must only clean up. Nothing but done ever touches the request after submission.
 */
#ifndef SESSIOND_HTTP_WORKERS_H
#define SESSIOND_HTTP_WORKERS_H

#include <stdbool.h>

#include "http/http.h"
#include "core/metrics.h"

typedef struct sessd_job sessd_job;
typedef void (*sessd_job_fn)(sessd_job *job);

struct sessd_job {
    h2o_multithread_message_t msg; /* the way home; first, so a message is its job */
    sessd_job_fn run;              /* on a worker thread: must not touch `req` */
    sessd_job_fn done;             /* on the request's loop; frees the job */
    h2o_req_t *req;                /* NULL once h2o disposed of the request */
    enum sessd_route route;        /* for metrics: done's answer is counted under it */
    bool dropped; /* set when the pool stopped before running it: done answers 503 */
    /* Private to workers.c. */
    struct sessd_job_guard *guard;
    h2o_multithread_receiver_t *home;
    sessd_job *next;
};

/* Starts `n` worker threads (at least 1), at a lower scheduling priority than the event loops,
 * so that a burst of logins slows other logins before it slows verify. */
int sessd_workers_start(int n);
/* Stops the pool: jobs still queued go home unrun (job->dropped), running ones finish, and the
 * threads are joined. Called by the main thread at shutdown once the event loops have drained
 * their connections (so that the logins of requests in flight are still run), while the loops
 * still run, and before any loop is disposed of (a worker sends to its loop's receiver). */
void sessd_workers_stop(void);

/* Called by each event-loop thread before it serves and after it stopped accepting. attach
 * registers the loop's receiver for finished jobs; detach, called once the loop has drained its
 * connections, waits (running the loop) until this loop has no job in flight, then unregisters:
 * its jobs finish on the pool or are sent home unrun by sessd_workers_stop. */
void sessd_workers_attach(h2o_context_t *ctx);
void sessd_workers_detach(h2o_context_t *ctx);

/* Submits a job for `req` from its loop thread. Returns false (nothing submitted) when the pool
 * is saturated or stopping: the caller answers 503 itself. */
bool sessd_job_submit(h2o_req_t *req, sessd_job *job);

/* Counts the answer of an asynchronous request in metrics, from what was sent (done calls it
 * after answering). */
void sessd_job_answered(sessd_job *job, h2o_req_t *req);

#endif
