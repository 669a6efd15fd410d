/*
 * store_timed.h - a store that forwards every operation to another and records how long it
 * took in the store latency histogram (sessiond_store_duration_seconds, by read, write and
 * scan). The server wraps its store in one; the library knows nothing of metrics.
 */
#ifndef SESSIOND_CORE_STORE_TIMED_H
#define SESSIOND_CORE_STORE_TIMED_H

#include "sessiond/store.h"

/* Wraps `inner`, which the wrapper owns from now on (its close closes both). 0, or SESS_ENOMEM
 * (inner is then left open). */
int sessd_store_timed_new(sess_store *inner, sess_store **out);
/* The wrapped store (for backend-specific calls such as the near cache's counters). */
sess_store *sessd_store_timed_inner(sess_store *st);

#endif
