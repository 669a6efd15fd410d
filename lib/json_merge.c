/*
 * json_merge.c - RFC 7386 JSON merge patch, shared by every store backend so that session data
 * and preferences merge the same way everywhere. Results are compact with sorted keys, so equal
 * objects have equal text.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sessiond/error.h"
#include "sessiond/store.h"
#include "json_merge.h"

/* Depth bound: a patch nested deeper than this is refused rather than recursed into. */
#define MERGE_MAX_DEPTH 32

static int merge(json_t *target, json_t *patch, int depth)
{
    const char *key;
    json_t *value;
    if (depth > MERGE_MAX_DEPTH)
        return SESS_EINVAL;
    json_object_foreach(patch, key, value)
    {
        if (json_is_null(value)) {
            json_object_del(target, key);
        } else if (json_is_object(value)) {
            json_t *cur = json_object_get(target, key);
            if (!json_is_object(cur)) {
                cur = json_object();
                if (cur == NULL || json_object_set_new(target, key, cur) != 0)
                    return SESS_ENOMEM;
            }
            int r = merge(cur, value, depth + 1);
            if (r != 0)
                return r;
        } else {
            if (json_object_set(target, key, value) != 0)
                return SESS_ENOMEM;
        }
    }
    return 0;
}

static json_t *parse_object(const char *text, size_t len)
{
    json_error_t jerr;
    json_t *v = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (v != NULL && !json_is_object(v)) {
        json_decref(v);
        return NULL;
    }
    return v;
}

int sess_json_merge(const char *target, size_t target_len, const char *patch, size_t patch_len,
                    size_t max_bytes, char **result, size_t *result_len)
{
    json_t *t =
        (target != NULL && target_len > 0) ? parse_object(target, target_len) : json_object();
    json_t *p = parse_object(patch, patch_len);
    int r = 0;
    if (t == NULL || p == NULL) {
        r = SESS_EINVAL;
        goto out;
    }
    if ((r = merge(t, p, 0)) != 0)
        goto out;
    char *text = json_dumps(t, JSON_COMPACT | JSON_SORT_KEYS);
    if (text == NULL) {
        r = SESS_ENOMEM;
        goto out;
    }
    size_t len = strlen(text);
    if (len > max_bytes) {
        free(text);
        r = SESS_ETOOLARGE;
        goto out;
    }
    *result = text;
    *result_len = len;
out:
    json_decref(t);
    json_decref(p);
    return r;
}

int sess_json_canonical(const char *json, size_t len, size_t max_bytes, char **result,
                        size_t *result_len)
{
    json_t *v = parse_object(json, len);
    if (v == NULL)
        return SESS_EINVAL;
    char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(v);
    if (text == NULL)
        return SESS_ENOMEM;
    size_t n = strlen(text);
    if (n > max_bytes) {
        free(text);
        return SESS_ETOOLARGE;
    }
    *result = text;
    *result_len = n;
    return 0;
}
