/*
 * error.c - lookups into the error table of error.h. The table is the only source of truth:
 * the enum, the messages, the HTTP statuses and the JSON codes all come from SESS_ERRMAP.
 */
#include "sessiond/error.h"

#include <stddef.h>

struct errinfo {
    int value;
    const char *name;
    const char *msg;
    int status;
    const char *code;
};

static const struct errinfo table[] = {
#define SESS_ERR_ROW(name, val, msg, status, code) {val, #name, msg, status, code},
    SESS_ERRMAP(SESS_ERR_ROW)
#undef SESS_ERR_ROW
};

static const struct errinfo *find(int err)
{
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (table[i].value == err)
            return &table[i];
    return NULL;
}

const char *sess_strerror(int err)
{
    const struct errinfo *e = find(err);
    return e ? e->msg : "unknown error";
}

const char *sess_errname(int err)
{
    const struct errinfo *e = find(err);
    return e ? e->name : "EUNKNOWN";
}

int sess_err_http_status(int err)
{
    const struct errinfo *e = find(err);
    return e ? e->status : 500;
}

const char *sess_err_code(int err)
{
    const struct errinfo *e = find(err);
    return e ? e->code : "internal";
}
