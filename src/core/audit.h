/*
 * audit.h - the tamper-evident audit log ([audit] path, default DATA/audit.log).
 *
 * One JSON line per security event: logins (ok and failed), logouts, revocations (one, all of a
 * user's, by filter), rotations, theft detection, lockouts and admin actions. Each line is
 *
 *   {"seq":N,"time":"...","event":"...","user":...,"session_id":...,"client":...,
 *    "detail":...,"prev":"<hex BLAKE2b-256 of the previous line's bytes, without its newline>"}
 *
 * with absent fields as null. The first line of a file chains from 64 zeros; a file opened after
 * a rotation (SIGHUP) starts with an "audit_continued" line whose prev is the last hash of the
 * previous file. So an edited, inserted or deleted line breaks the chain at a known line, and
 * `sessiond audit verify` finds it. Tokens never appear: only the public session_id.
 *
 * Writers are the server's threads and the CLI's processes at once: each line is built, then,
 * under a mutex (threads) and flock (processes), the file's last line is read back and hashed
 * and the new line goes out in one write(2) on an O_APPEND descriptor. Lines reach the kernel at
 * once (they survive the process being killed); the line of a revocation, a logout or an admin
 * command is fdatasynced before its answer (group commit), the others at the next such sync, at
 * rotation and at close, so a power cut may lose the last logins and rotations
 * (docs/operations.md).
 */
#ifndef SESSIOND_CORE_AUDIT_H
#define SESSIOND_CORE_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sessiond/crypto.h"

#define SESSD_AUDIT_LINE_MAX 4096 /* bytes of one line; longer detail is cut */

#define SESSD_AUDIT_EVENTS(X)                                                                      \
    X(LOGIN, "login")                                                                              \
    X(LOGIN_FAILED, "login_failed")                                                                \
    X(LOGOUT, "logout")                                                                            \
    X(REVOKE, "revoke")                                                                            \
    X(REVOKE_ALL, "revoke_all")                                                                    \
    X(REVOKE_FILTER, "revoke_filter")                                                              \
    X(ROTATE, "rotate")                                                                            \
    X(THEFT, "theft_detected")                                                                     \
    X(LOCKOUT, "lockout")                                                                          \
    X(ADMIN, "admin")                                                                              \
    X(COOKIE_CONFLICT, "cookie_conflict")                                                          \
    X(PASSWORD_CHANGED, "password_changed")                                                        \
    X(CONTINUED, "audit_continued")                                                                \
    X(GAP, "audit_gap")

enum sessd_audit_event {
#define SESSD_AUDIT_ENUM(name, text) SESSD_AUDIT_##name,
    SESSD_AUDIT_EVENTS(SESSD_AUDIT_ENUM)
#undef SESSD_AUDIT_ENUM
};

/* Opens (creating, 0600) the log for this process. A torn last line (no newline, or not an
 * audit line: a crash in the middle of an append) is cut back to the last whole line, synced,
 * and an "audit_gap" line says so. 0, or -1 with a message (also when the file ends in more
 * than a line's worth of bytes that are not an audit line: nothing is cut then). Until it is
 * called (unit tests, fuzzers) sessd_audit does nothing. */
int sessd_audit_open(const char *path, char *err, size_t errlen);
/* For SIGHUP: when the file at the path is no longer the one open (moved away by a rotation),
 * fsyncs and closes the old one and opens the new one, which starts with an "audit_continued"
 * line chaining from the old file's last line. 0, or -1 (the old file stays in use). */
int sessd_audit_reopen(void);
/* Fsyncs and closes the log; with `log_head`, logs where its chain ends (seq and hash) in the
 * server's log, an anchor outside the file (see sessd_audit_reopen too). */
void sessd_audit_close(bool log_head);

/* [audit] on_failure: false (refuse, the default) or true (continue); see sessd_audit_change. */
void sessd_audit_on_failure(bool go_on);

/* Appends one event that records no change of its own (a failed login, a lockout, a cookie
 * conflict, a theft already answered 401). `user`, `session_id` (SESS_ID_BYTES), `client` and
 * `detail` may be NULL. Never pass a token, a password or an API key. Rotations and lockouts are
 * also counted in the metrics. A failed write is logged, counted, and recorded by an audit_gap
 * line ("N events lost from T1 to T2") before the next line that can be written. */
void sessd_audit(enum sessd_audit_event ev, const char *user, const uint8_t *session_id,
                 const char *client, const char *detail);

/* The same for the event of a change (a login, a rotation, a revocation, a logout, an admin
 * command), called after the change and before it is acknowledged. The line of a revocation, a
 * logout or an admin command is also synced (fdatasync) before this returns: writers waiting at
 * once share one sync that started after their write (group commit); it blocks the calling
 * thread, an event loop's included, as an lmdb commit with [store] fsync = always does. 0 when
 * the line is written (and synced), or when it could not be but [audit] on_failure = continue
 * (the loss is then recorded as in sessd_audit). SESS_EAUDIT under on_failure = refuse: the caller
 * must not acknowledge the change (it answers the error) and undoes it where that is possible (a
 * new session is ended). Without an open log (unit tests), 0. */
int sessd_audit_change(enum sessd_audit_event ev, const char *user, const uint8_t *session_id,
                       const char *client, const char *detail) __attribute__((warn_unused_result));
/* The same for one of many lines of one request (a mass revocation): never synced on its own;
 * the caller ends with a sessd_audit_change (its summary line), which covers them all. */
int sessd_audit_change_nosync(enum sessd_audit_event ev, const char *user,
                              const uint8_t *session_id, const char *client, const char *detail)
    __attribute__((warn_unused_result));
/* Syncs every line this process wrote so far (group commit, as sessd_audit_change): after a
 * run of sessd_audit_change_nosync lines without a summary line. 0, or SESS_EAUDIT under
 * on_failure = refuse when the sync failed. */
int sessd_audit_sync(void) __attribute__((warn_unused_result));

/* Who runs admin commands in this process, for the audit lines they write: "cli" by default,
 * "admin socket" in a server. */
void sessd_audit_set_actor(const char *actor);
const char *sessd_audit_actor(void);

/* Appends an "admin" event for an admin command's words (argv[0] is the group: "user",
 * "apikey", "session") and its exit status, as sessd_audit_change: SESS_EAUDIT when the command
 * must report a failure (it ran, but is not confirmed). Listings are not audited, and internal
 * words (a password carried to `user add`) never appear. */
int sessd_audit_admin(int argc, char **argv, int status) __attribute__((warn_unused_result));

/* Checks the chain of `files` (n >= 1, oldest first: the first line of each later file must be
 * an "audit_continued" line whose prev is the last hash of the one before). Writes a summary to
 * `out` on success, or one line naming the file and the first broken line to `err`. Returns 0
 * when intact, 1 when broken or unreadable. */
int sessd_audit_verify(const char *const *files, int n, FILE *out, FILE *err);

#endif
