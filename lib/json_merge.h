/*
 * json_merge.h - the JSON helpers the store backends share (lib/json_merge.c), internal to
 * libsessiond (not installed).
 */
#ifndef SESSIOND_LIB_JSON_MERGE_H
#define SESSIOND_LIB_JSON_MERGE_H

#include <stddef.h>

/* RFC 7386 merge patch of `target` (a JSON object text, may be NULL
 * for {}) with `patch`; result is malloc'ed compact JSON with sorted keys. SESS_EINVAL when
 * either is not a JSON object, SESS_ETOOLARGE when the result exceeds max_bytes. */
int sess_json_merge(const char *target, size_t target_len, const char *patch, size_t patch_len,
                    size_t max_bytes, char **result, size_t *result_len);

/* The canonical text of a JSON object (compact, sorted keys, nulls kept): malloc'ed into
 * `result`. SESS_EINVAL when not an object, SESS_ETOOLARGE past max_bytes. */
int sess_json_canonical(const char *json, size_t len, size_t max_bytes, char **result,
                        size_t *result_len);

#endif
