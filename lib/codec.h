/*
 * codec.h - the one bounds-checked binary codec of libsessiond (internal): a writer and a
 * reader over a byte buffer, for the LMDB session record (lib/store/lmdb_codec.c), the sealed
 * cookie's payload (lib/seal.c) and the account record (lib/users.c).
 *
 * Each format keeps the byte order it was first written in (the LMDB and account records are
 * on disk, big-endian; the sealed payload is in browsers' cookies, little-endian): the order is
 * chosen once, when the buffer is set up, and every integer of that buffer follows it.
 *
 * Neither side can run past its buffer: a write that would not fit sets `over` and writes
 * nothing more; a read past the end sets `bad` and yields zeros and NULLs from then on. The
 * caller checks the flag once, at the end.
 */
#ifndef SESSIOND_LIB_CODEC_H
#define SESSIOND_LIB_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum sess_byte_order { SESS_BIG_ENDIAN, SESS_LITTLE_ENDIAN };

typedef struct sess_writer {
    uint8_t *start, *p, *end;
    enum sess_byte_order order;
    bool over; /* a write did not fit: the buffer holds a prefix only */
} sess_writer;

typedef struct sess_reader {
    const uint8_t *p, *end;
    enum sess_byte_order order;
    bool bad; /* a read went past the end (or a field did not fit its destination) */
} sess_reader;

static inline sess_writer sess_writer_of(void *buf, size_t cap, enum sess_byte_order order)
{
    return (sess_writer){buf, buf, (uint8_t *)buf + cap, order, false};
}

static inline sess_reader sess_reader_of(const void *buf, size_t len, enum sess_byte_order order)
{
    return (sess_reader){buf, (const uint8_t *)buf + len, order, false};
}

/* Bytes written so far (0 once a write did not fit). */
static inline size_t sess_written(const sess_writer *w)
{
    return w->over ? 0 : (size_t)(w->p - w->start);
}

/* True when every byte was read, none past the end. */
static inline bool sess_read_all(const sess_reader *r)
{
    return !r->bad && r->p == r->end;
}

static inline void sess_put(sess_writer *w, const void *src, size_t n)
{
    if (w->over || (size_t)(w->end - w->p) < n) {
        w->over = true;
        return;
    }
    if (n > 0)
        memcpy(w->p, src, n);
    w->p += n;
}

/* An unsigned integer of `width` bytes (1 to 8) in the writer's byte order. */
static inline void sess_put_uint(sess_writer *w, uint64_t v, size_t width)
{
    uint8_t b[8];
    for (size_t i = 0; i < width; i++) {
        size_t at = w->order == SESS_BIG_ENDIAN ? width - 1 - i : i;
        b[at] = (uint8_t)(v >> (8 * i));
    }
    sess_put(w, b, width);
}

/* `n` bytes prefixed with their length in `width` bytes; over when n does not fit the prefix. */
static inline void sess_put_counted(sess_writer *w, const void *src, size_t n, size_t width)
{
    if (width < 8 && (uint64_t)n >> (8 * width) != 0) {
        w->over = true;
        return;
    }
    sess_put_uint(w, n, width);
    sess_put(w, src, n);
}

/* The next `n` bytes, or NULL (and bad) past the end. */
static inline const uint8_t *sess_take(sess_reader *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *at = r->p;
    r->p += n;
    return at;
}

static inline uint64_t sess_take_uint(sess_reader *r, size_t width)
{
    const uint8_t *b = sess_take(r, width);
    uint64_t v = 0;
    for (size_t i = 0; b != NULL && i < width; i++) {
        size_t at = r->order == SESS_BIG_ENDIAN ? width - 1 - i : i;
        v |= (uint64_t)b[at] << (8 * i);
    }
    return v;
}

/* `n` bytes into `dst` (left as it was past the end). */
static inline void sess_take_bytes(sess_reader *r, void *dst, size_t n)
{
    const uint8_t *b = sess_take(r, n);
    if (b != NULL && n > 0)
        memcpy(dst, b, n);
}

/* A string of `n` bytes into a fixed field of `cap` bytes, NUL added: bad when it does not fit
 * or has a NUL inside. */
static inline void sess_take_str(sess_reader *r, size_t n, char *dst, size_t cap)
{
    const uint8_t *b = n < cap ? sess_take(r, n) : NULL;
    if (b == NULL || memchr(b, '\0', n) != NULL) {
        r->bad = true;
        return;
    }
    memcpy(dst, b, n);
    dst[n] = '\0';
}

/* A string prefixed with its length in `width` bytes, as sess_take_str. */
static inline void sess_take_counted_str(sess_reader *r, size_t width, char *dst, size_t cap)
{
    size_t n = (size_t)sess_take_uint(r, width);
    sess_take_str(r, n, dst, cap);
}

#endif
