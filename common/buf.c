/*
 * buf.c - the growable byte buffer (see buf.h).
 */
#include "buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIRST_CAP 256

void buf_init(buf_t *b) { memset(b, 0, sizeof(*b)); }

void buf_reset(buf_t *b)
{
    b->len = 0;
    b->oom = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

void buf_free(buf_t *b)
{
    if (b == NULL)
        return;
    free(b->data);
    memset(b, 0, sizeof(*b));
}

int buf_grow(buf_t *b, size_t n)
{
    size_t need, cap;
    char *data;

    if (b->oom)
        return -1;
    if (n >= SIZE_MAX / 2 - b->len)
        goto fail;
    need = b->len + n + 1;
    if (need <= b->cap)
        return 0;
    cap = b->cap != 0 ? b->cap : FIRST_CAP;
    while (cap < need)
        cap *= 2;
    data = realloc(b->data, cap);
    if (data == NULL)
        goto fail;
    b->data = data;
    b->cap = cap;
    return 0;

fail:
    b->oom = 1;
    return -1;
}

void buf_append(buf_t *b, const void *bytes, size_t n)
{
    if (buf_reserve(b, n) != 0)
        return;
    if (n > 0)
        memcpy(b->data + b->len, bytes, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void buf_putc(buf_t *b, char c)
{
    if (buf_reserve(b, 1) != 0)
        return;
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

void buf_puts(buf_t *b, const char *s) { buf_append(b, s, strlen(s)); }

void buf_vprintf(buf_t *b, const char *fmt, va_list ap)
{
    va_list again;
    int n;

    if (buf_reserve(b, 64) != 0)
        return;
    va_copy(again, ap);
    n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    if (n < 0) {
        b->oom = 1; /* an encoding error: nothing sensible to keep */
        goto out;
    }
    if ((size_t)n >= b->cap - b->len) { /* did not fit: grow and redo */
        if (buf_reserve(b, (size_t)n) != 0)
            goto out;
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, again);
    }
    b->len += (size_t)n;
out:
    b->data[b->len] = '\0'; /* also over a cut-off attempt */
    va_end(again);
}

void buf_printf(buf_t *b, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void buf_truncate(buf_t *b, size_t len)
{
    if (b->data == NULL || len > b->len)
        return;
    b->len = len;
    b->data[len] = '\0';
}
