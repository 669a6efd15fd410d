/*
 * workers.c - the worker pool behind workers.h.
 *
 * Jobs wait in one FIFO under a mutex; workers take them, run them, and send them home with
 * h2o_multithread_send_message to the receiver of the loop that submitted them (each loop
 * registers one receiver on its context's queue). On the loop, a finished job is matched with
 * its request through a guard: a small object in the request's memory pool whose dispose
 * callback clears job->req when h2o frees the request (the client disconnected). Guard and job
 * are only ever touched on the loop thread, so no lock is needed between them.
 */
#include "http/workers.h"

#include "core/pwhelper.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_QUEUED 4096 /* jobs waiting; past this, submit refuses (the handler answers 503) */
#define WORKER_NICE 19  /* event loops first: a login storm must not starve verify */

struct sessd_job_guard {
    sessd_job *job; /* NULL once the job came home */
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    sessd_job *head, *tail;
    size_t queued;
    bool stopping;
    pthread_t *threads;
    int n;
} pool = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* Per event-loop thread: its receiver, and how many of its jobs are out. */
static __thread h2o_multithread_receiver_t *loop_receiver;
static __thread size_t loop_in_flight;

/* The next job; NULL once the pool is stopping (sessd_workers_stop sends the rest home). */
static sessd_job *take(void)
{
    pthread_mutex_lock(&pool.mu);
    while (pool.head == NULL && !pool.stopping)
        pthread_cond_wait(&pool.cv, &pool.mu);
    sessd_job *job = pool.stopping ? NULL : pool.head;
    if (job != NULL) {
        pool.head = job->next;
        if (pool.head == NULL)
            pool.tail = NULL;
        pool.queued--;
    }
    pthread_mutex_unlock(&pool.mu);
    return job;
}

static void *worker_main(void *arg)
{
    sessd_pwhelper_bind((int)(intptr_t)arg);
    /* Linux applies nice per thread; failing to lower our priority is harmless. */
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), WORKER_NICE);
    sessd_job *job;
    while ((job = take()) != NULL) {
        job->run(job);
        h2o_multithread_send_message(job->home, &job->msg);
    }
    return NULL;
}

int sessd_workers_start(int n)
{
    if (n < 1)
        n = 1;
    pool.threads = calloc((size_t)n, sizeof(pthread_t));
    if (pool.threads == NULL)
        return -1;
    pool.stopping = false;
    for (pool.n = 0; pool.n < n; pool.n++)
        if (pthread_create(&pool.threads[pool.n], NULL, worker_main, (void *)(intptr_t)pool.n) != 0)
            return -1;
    return 0;
}

void sessd_workers_stop(void)
{
    pthread_mutex_lock(&pool.mu);
    pool.stopping = true;
    sessd_job *queued = pool.head;
    pool.head = pool.tail = NULL;
    pool.queued = 0;
    pthread_cond_broadcast(&pool.cv);
    pthread_mutex_unlock(&pool.mu);
    /* Jobs that never ran go home unrun, so that their loops answer them and stop waiting.
     * The loops are still running (they wait in sessd_workers_detach for every job out). */
    while (queued != NULL) {
        sessd_job *next = queued->next;
        queued->dropped = true;
        h2o_multithread_send_message(queued->home, &queued->msg);
        queued = next;
    }
    for (int i = 0; i < pool.n; i++)
        pthread_join(pool.threads[i], NULL);
    free(pool.threads);
    pool.threads = NULL;
    pool.n = 0;
}

/* ---- on the event loop ------------------------------------------------------------------- */

static void guard_dispose(void *p)
{
    struct sessd_job_guard *g = p;
    if (g->job != NULL)
        g->job->req = NULL;
}

static void on_jobs_home(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    (void)receiver;
    while (!h2o_linklist_is_empty(messages)) {
        sessd_job *job = H2O_STRUCT_FROM_MEMBER(sessd_job, msg.link, messages->next);
        h2o_linklist_unlink(&job->msg.link);
        loop_in_flight--;
        /* From here on the request's disposal must not reach the job any more. */
        if (job->req != NULL)
            job->guard->job = NULL;
        job->done(job);
    }
}

void sessd_workers_attach(h2o_context_t *ctx)
{
    loop_receiver = calloc(1, sizeof(*loop_receiver));
    if (loop_receiver != NULL)
        h2o_multithread_register_receiver(ctx->queue, loop_receiver, on_jobs_home);
}

void sessd_workers_detach(h2o_context_t *ctx)
{
    if (loop_receiver == NULL)
        return;
    /* Unbounded, and it has to be: a worker still holding a job of this loop sends it here, so
     * the receiver (and the context's queue) must outlive it. It ends: sessd_workers_stop sends
     * queued jobs home unrun, and a running one takes one password check (whose helper answers
     * within its receive timeout). */
    while (loop_in_flight > 0)
        h2o_evloop_run(ctx->loop, 10);
    h2o_multithread_unregister_receiver(ctx->queue, loop_receiver);
    free(loop_receiver);
    loop_receiver = NULL;
}

bool sessd_job_submit(h2o_req_t *req, sessd_job *job)
{
    if (loop_receiver == NULL)
        return false;
    struct sessd_job_guard *g = h2o_mem_alloc_shared(&req->pool, sizeof(*g), guard_dispose);
    g->job = job;
    job->guard = g;
    job->req = req;
    job->home = loop_receiver;
    job->next = NULL;
    job->dropped = false;
    pthread_mutex_lock(&pool.mu);
    bool ok = !pool.stopping && pool.n > 0 && pool.queued < MAX_QUEUED;
    if (ok) {
        if (pool.tail != NULL)
            pool.tail->next = job;
        else
            pool.head = job;
        pool.tail = job;
        pool.queued++;
        pthread_cond_signal(&pool.cv);
    }
    pthread_mutex_unlock(&pool.mu);
    if (ok)
        loop_in_flight++;
    else
        g->job = NULL;
    return ok;
}

void sessd_job_answered(sessd_job *job, h2o_req_t *req)
{
    sessd_metrics_request(job->route, req->res.status);
}
