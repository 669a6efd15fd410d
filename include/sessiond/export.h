/*
 * export.h - what every public header of libsessiond shares: SESS_EXPORT marks the functions the
 * shared library exports (it is built with -fvisibility=hidden, so nothing else is), and
 * SESS_WUR those whose result must not be ignored (an error, a length, a verdict).
 */
#ifndef SESSIOND_EXPORT_H
#define SESSIOND_EXPORT_H

#if defined(__GNUC__)
#define SESS_EXPORT __attribute__((visibility("default")))
#define SESS_WUR __attribute__((warn_unused_result))
#else
#define SESS_EXPORT
#define SESS_WUR
#endif

#endif
