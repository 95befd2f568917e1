/*
 * buf.h - a growable byte buffer: the one behind the JSON writer (js.h),
 * the batch's COPY rows (stream/batch.h), the metrics renderer (metrics.c)
 * and PostgreSQL array literals (db.h).
 *
 * Appends do not return errors: when an allocation fails the buffer sets
 * oom and drops every later append (until buf_reset), so a caller checks
 * once, after building. Once allocated, data is NUL-terminated after every
 * call, so text can be passed on as a C string; the NUL is not counted in
 * len. Capacity doubles from 256 bytes.
 *
 * Ownership: the buffer owns data; buf_free releases it. A caller may take
 * data over instead (then it must not call buf_free, or must buf_init
 * first). Not thread-safe; not a string library (no search or editing).
 */
#ifndef ECOM_BUF_H
#define ECOM_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct {
    char *data; /* NULL until the first append */
    size_t len; /* bytes used, without the NUL */
    size_t cap; /* bytes allocated: 0, or more than len */
    int oom;    /* an allocation failed: later appends are dropped */
} buf_t;

void buf_init(buf_t *b);
/* Empties the buffer and clears oom; keeps the memory. */
void buf_reset(buf_t *b);
/* Frees the memory and leaves b empty (reusable). Accepts NULL. */
void buf_free(buf_t *b);

/* The slow path of buf_reserve: grows cap. Returns 0 or -1 (sets oom). */
int buf_grow(buf_t *b, size_t n);

/* Makes room for n more bytes plus the NUL, so the caller may write up to
 * n bytes at data + len directly (then add them to len and write the NUL).
 * Returns 0, or -1 when out of memory or after an earlier failure. */
static inline int buf_reserve(buf_t *b, size_t n)
{
    if (!b->oom && n < b->cap - b->len)
        return 0;
    return buf_grow(b, n);
}

void buf_append(buf_t *b, const void *bytes, size_t n);
void buf_putc(buf_t *b, char c);
void buf_puts(buf_t *b, const char *s);
void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(buf_t *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Cuts the content back to its first len bytes (len <= b->len). */
void buf_truncate(buf_t *b, size_t len);

#endif
