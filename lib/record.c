/*
 * record.c - life cycle of a session record and bounded copies into its fixed fields.
 */
#include "sessiond/record.h"

#include <stdlib.h>
#include <string.h>

#include "sessiond/error.h"

void sess_record_init(sess_record *r)
{
    memset(r, 0, sizeof(*r));
}

void sess_record_dispose(sess_record *r)
{
    free(r->data);
    r->data = NULL;
    r->data_len = 0;
    sess_wipe(r->csrf_secret, sizeof(r->csrf_secret));
}

int sess_record_set_data(sess_record *r, const char *json, size_t len)
{
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return SESS_ENOMEM;
    memcpy(copy, json, len);
    copy[len] = '\0';
    free(r->data);
    r->data = copy;
    r->data_len = len;
    return 0;
}

bool sess_copy_bounded(char *dst, size_t cap, const char *src)
{
    size_t len = strlen(src);
    bool truncated = false;
    if (len >= cap) {
        len = cap - 1;
        /* Do not cut a UTF-8 sequence in half: back up over continuation bytes. */
        while (len > 0 && ((unsigned char)src[len] & 0xC0) == 0x80)
            len--;
        truncated = true;
    }
    memcpy(dst, src, len);
    dst[len] = '\0';
    return truncated;
}
