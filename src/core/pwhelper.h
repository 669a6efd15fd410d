/*
 * pwhelper.h - argon2id in helper processes.
 *
 * libsodium maps argon2id's memory (64 MiB by default) with mmap for each hash and unmaps it
 * after: every unmap shoots down TLB entries on every CPU running a thread of the process, and
 * the faults and unmaps serialise on the process's address-space lock. Measured here, a storm of
 * 50 logins took the p99 of /auth/verify from 2 ms to over 500 ms when hashing ran in threads.
 * In separate processes (forked at start, before any thread), that cost stays out of the event
 * loops' address space.
 *
 * Each worker-pool thread owns one helper (no locking); other threads (the admin socket, start
 * up) hash in-process.
 */
#ifndef SESSIOND_CORE_PWHELPER_H
#define SESSIOND_CORE_PWHELPER_H

/* Forks `n` helpers and routes lib/users.c's hashing to them. Call before starting threads.
 * 0, or -1 (then hashing stays in-process). */
int sessd_pwhelper_start(int n);
/* Makes helper `i` this thread's (a worker-pool thread calls it first). */
void sessd_pwhelper_bind(int i);
/* Closes the helpers' sockets (they exit) and reaps them. */
void sessd_pwhelper_stop(void);

#endif
