/*
 * js.c - append-only JSON writer and jansson getters (see js.h).
 */
#include "js.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A comma is due unless this is the first element of a container or the
 * value of a key. */
static void separate(js_writer_t *w)
{
    char last;

    if (w->len == 0)
        return;
    last = w->data[w->len - 1];
    if (last != '{' && last != '[' && last != ':')
        buf_putc(w, ',');
}

void js_begin_object(js_writer_t *w) { separate(w); buf_putc(w, '{'); }
void js_end_object(js_writer_t *w) { buf_putc(w, '}'); }
void js_begin_array(js_writer_t *w) { separate(w); buf_putc(w, '['); }
void js_end_array(js_writer_t *w) { buf_putc(w, ']'); }

/* 1 for bytes that must be escaped inside a JSON string. */
static const unsigned char needs_escape[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* '"' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, /* '\\' */
};

static void put_escaped_slow(js_writer_t *w, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const char *run = s;

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[6] = {'\\', 'u', '0', '0', 0, 0};
        size_t esc_len = 2;

        if (!needs_escape[c])
            continue;
        buf_append(w, run, (size_t)(s - run));
        run = s + 1;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            esc_len = 6;
        }
        buf_append(w, esc, esc_len);
    }
    buf_append(w, run, (size_t)(s - run));
}

/* True when any of s[0..len) must be escaped: checks eight bytes at a time
 * for a control character, '"' or '\\'. */
static int has_special(const char *s, size_t len)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    size_t i = 0;

    for (; i + 8 <= len; i += 8) {
        uint64_t x, quote, slash;
        memcpy(&x, s + i, 8);
        quote = x ^ (ones * '"');
        slash = x ^ (ones * '\\');
        if ((((x - ones * 0x20) & ~x) | ((quote - ones) & ~quote) | ((slash - ones) & ~slash)) & highs)
            return 1;
    }
    for (; i < len; i++)
        if (needs_escape[(unsigned char)s[i]])
            return 1;
    return 0;
}

/* Writes s[0..len) between quotes, unescaped, in one reservation. */
static void put_quoted(js_writer_t *w, const char *s, size_t len)
{
    char *out;

    if (buf_reserve(w, len + 2) != 0)
        return;
    out = w->data + w->len;
    out[0] = '"';
    memcpy(out + 1, s, len);
    out[len + 1] = '"';
    w->len += len + 2;
    w->data[w->len] = '\0';
}

/* Writes a quoted string; the common case (nothing to escape) is one
 * reservation and one copy. */
static void put_escaped(js_writer_t *w, const char *s)
{
    size_t len = strlen(s);

    if (has_special(s, len)) {
        buf_putc(w, '"');
        put_escaped_slow(w, s);
        buf_putc(w, '"');
        return;
    }
    put_quoted(w, s, len);
}

void js_key(js_writer_t *w, const char *key)
{
    separate(w);
    put_escaped(w, key);
    buf_putc(w, ':');
}

void js_string(js_writer_t *w, const char *s)
{
    separate(w);
    put_escaped(w, s);
}

void js_string_trusted(js_writer_t *w, const char *s)
{
    size_t len = strlen(s);

    assert(!has_special(s, len));
    separate(w);
    put_quoted(w, s, len);
}

/* Decimal digits of v into the end of buf[24]; returns the start. */
static char *format_u64(uint64_t v, char *end)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return end;
}

/* Copies the digits [start, end) into buf as a C string (truncated to
 * size); returns their full length, as snprintf does. */
static int copy_digits(const char *start, const char *end, char *buf, size_t size)
{
    size_t n = (size_t)(end - start);

    if (size > 0) {
        memcpy(buf, start, n < size ? n : size - 1);
        buf[n < size ? n : size - 1] = '\0';
    }
    return (int)n;
}

int js_format_int(int64_t v, char *buf, size_t size)
{
    char num[24];
    char *end = num + sizeof(num);
    char *start = format_u64(v < 0 ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v, end);

    if (v < 0)
        *--start = '-';
    return copy_digits(start, end, buf, size);
}

void js_int(js_writer_t *w, int64_t v)
{
    char num[24];
    int n = js_format_int(v, num, sizeof(num));
    separate(w);
    buf_append(w, num, (size_t)n);
}

int js_format_cents(int64_t cents, char *buf, size_t size)
{
    char num[32];
    char *end = num + sizeof(num);
    uint64_t mag = cents < 0 ? (uint64_t)(-(cents + 1)) + 1 : (uint64_t)cents;
    char *start;

    *--end = (char)('0' + mag % 10);
    *--end = (char)('0' + mag / 10 % 10);
    *--end = '.';
    start = format_u64(mag / 100, end);
    if (cents < 0)
        *--start = '-';
    return copy_digits(start, num + sizeof(num), buf, size);
}

void js_money(js_writer_t *w, int64_t cents)
{
    char num[32];
    int n = js_format_cents(cents, num, sizeof(num));
    separate(w);
    buf_append(w, num, (size_t)n);
}

void js_null(js_writer_t *w)
{
    separate(w);
    buf_append(w, "null", 4);
}

void js_double(js_writer_t *w, double v)
{
    char num[32];

    if (isnan(v) || isinf(v)) {
        js_null(w);
        return;
    }
    separate(w);
    for (int prec = 15; prec <= 17; prec++) { /* shortest exact of 15..17 digits */
        snprintf(num, sizeof(num), "%.*g", prec, v);
        if (strtod(num, NULL) == v)
            break;
    }
    buf_puts(w, num);
}

void js_raw(js_writer_t *w, const char *json)
{
    separate(w);
    buf_puts(w, json);
}

void js_kv_string(js_writer_t *w, const char *key, const char *s)
{
    js_key(w, key);
    js_string(w, s);
}

void js_kv_int(js_writer_t *w, const char *key, int64_t v)
{
    js_key(w, key);
    js_int(w, v);
}

void js_kv_money(js_writer_t *w, const char *key, int64_t cents)
{
    js_key(w, key);
    js_money(w, cents);
}

int js_get_string(const json_t *obj, const char *key, const char **out)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v))
        return -1;
    if (!json_is_string(v))
        return -2;
    *out = json_string_value(v);
    return 0;
}

int js_get_integer(const json_t *obj, const char *key, int64_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v))
        return -1;
    if (!json_is_integer(v))
        return -2;
    *out = (int64_t)json_integer_value(v);
    return 0;
}

int js_get_number(const json_t *obj, const char *key, double *out)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v))
        return -1;
    if (!json_is_number(v))
        return -2;
    *out = json_number_value(v);
    return 0;
}

int js_number_to_cents(const json_t *v, int64_t *cents)
{
    static const double limit = 9007199254740992.0; /* 2^53 */
    double d;

    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i > (json_int_t)(limit / 100) || i < -(json_int_t)(limit / 100))
            return -1;
        *cents = (int64_t)i * 100;
        return 0;
    }
    if (!json_is_real(v))
        return -1;
    d = json_real_value(v) * 100.0;
    if (!isfinite(d) || d > limit || d < -limit)
        return -1;
    *cents = (int64_t)llround(d);
    return 0;
}
