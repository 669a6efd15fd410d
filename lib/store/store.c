/*
 * store.c - what every backend shares behind store.h: closing a store whichever it is.
 */
#include "sessiond/store.h"

#include <stddef.h>

void sess_store_close(sess_store *st)
{
    if (st != NULL)
        st->ops->close(st);
}
