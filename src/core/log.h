/*
 * log.h - the server's log: one line per event on stderr, text or JSON. Callers never pass a
 * token, password or API key; the helpers only take what is safe to print.
 */
#ifndef SESSIOND_CORE_LOG_H
#define SESSIOND_CORE_LOG_H

#include <stddef.h>

enum sessd_log_level { SESSD_LOG_DEBUG, SESSD_LOG_INFO, SESSD_LOG_NOTICE, SESSD_LOG_WARN };

/* Sets the threshold and format from the [log] strings (unknown values keep the current). */
void sessd_log_configure(const char *level, const char *format);
void sessd_log(enum sessd_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
