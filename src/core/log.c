/*
 * log.c - leveled log lines on stderr. JSON format escapes the message so that a crafted value
 * (a user name with quotes or newlines) cannot forge a log line.
 */
#include "core/log.h"
#include "core/jsonw.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static _Atomic int threshold = SESSD_LOG_INFO;
static _Atomic int json_format = 0;
static const char *names[] = {"debug", "info", "notice", "warn"};

void sessd_log_configure(const char *level, const char *format)
{
    for (int i = 0; i < 4; i++)
        if (level && strcmp(level, names[i]) == 0)
            atomic_store(&threshold, i);
    if (format && strcmp(format, "json") == 0)
        atomic_store(&json_format, 1);
    else if (format && strcmp(format, "text") == 0)
        atomic_store(&json_format, 0);
}

void sessd_log(enum sessd_log_level level, const char *fmt, ...)
{
    if ((int)level < atomic_load(&threshold))
        return;
    char msg[1024], ts[32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (atomic_load(&json_format)) {
        jsonw w; /* one writer and one escaper for every JSON sessiond writes */
        jw_init(&w);
        jw_raw(&w, "{\"time\":", 8);
        jw_str(&w, ts);
        jw_raw(&w, ",\"level\":", 9);
        jw_str(&w, names[level]);
        jw_raw(&w, ",\"msg\":", 7);
        jw_str(&w, msg);
        jw_raw(&w, "}\n", 2);
        if (!w.failed)
            fwrite(w.buf, 1, w.len, stderr);
        jw_free(&w);
    } else {
        /* Text lines are one line each: control characters become '?'. */
        for (char *p = msg; *p; p++)
            if ((unsigned char)*p < 0x20)
                *p = '?';
        fprintf(stderr, "%s %s %s\n", ts, names[level], msg);
    }
}
