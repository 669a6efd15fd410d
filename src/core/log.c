/*
 * log.c - leveled log lines on stderr. JSON format escapes the message so that a crafted value
 * (a user name with quotes or newlines) cannot forge a log line.
 */
#include "core/log.h"

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

void sessd_json_escape(char *out, size_t cap, const char *in)
{
    size_t o = 0;
    for (; *in && o + 7 < cap; in++) {
        unsigned char c = (unsigned char)*in;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
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
        char esc[sizeof(msg) * 2];
        sessd_json_escape(esc, sizeof(esc), msg);
        fprintf(stderr, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\"}\n", ts, names[level],
                esc);
    } else {
        /* Text lines are one line each: control characters become '?'. */
        for (char *p = msg; *p; p++)
            if ((unsigned char)*p < 0x20)
                *p = '?';
        fprintf(stderr, "%s %s %s\n", ts, names[level], msg);
    }
}
