/*
 * rowjson.c - COPY text rows to JSON lines (see rowjson.h).
 */
#include "rowjson.h"

#include <stdlib.h>
#include <string.h>

/* Type OIDs (PostgreSQL's pg_type.dat; stable across versions). */
enum {
    OID_BOOL = 16, OID_INT8 = 20, OID_INT2 = 21, OID_INT4 = 23, OID_OID = 26,
    OID_JSON = 114, OID_FLOAT4 = 700, OID_FLOAT8 = 701, OID_TIMESTAMPTZ = 1184,
    OID_NUMERIC = 1700, OID_JSONB = 3802,
};

typedef enum { RJ_STRING, RJ_NUMBER, RJ_BOOL, RJ_JSON, RJ_TIMESTAMPTZ } rj_kind_t;

struct rowjson {
    int ncols;
    rj_kind_t *kinds;
    char **keys;     /* "\"name\":" with the name escaped, per column */
    size_t *key_len;
};

static rj_kind_t kind_of(unsigned oid)
{
    switch (oid) {
    case OID_INT2: case OID_INT4: case OID_INT8: case OID_OID:
    case OID_NUMERIC: case OID_FLOAT4: case OID_FLOAT8:
        return RJ_NUMBER;
    case OID_BOOL: return RJ_BOOL;
    case OID_JSON: case OID_JSONB: return RJ_JSON;
    case OID_TIMESTAMPTZ: return RJ_TIMESTAMPTZ;
    default: return RJ_STRING;
    }
}

/* Appends s[0..n) as the inside of a JSON string. */
static void put_escaped(buf_t *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        buf_append(out, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': buf_append(out, "\\\"", 2); break;
        case '\\': buf_append(out, "\\\\", 2); break;
        case '\n': buf_append(out, "\\n", 2); break;
        case '\r': buf_append(out, "\\r", 2); break;
        case '\t': buf_append(out, "\\t", 2); break;
        case '\b': buf_append(out, "\\b", 2); break;
        case '\f': buf_append(out, "\\f", 2); break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            buf_append(out, u, 6);
        }
        }
    }
    buf_append(out, s + run, n - run);
}

rowjson_t *rowjson_new(int ncols, const char *const *names, const unsigned *type_oids)
{
    rowjson_t *rj = calloc(1, sizeof(*rj));
    buf_t key;

    if (rj == NULL)
        return NULL;
    rj->ncols = ncols;
    rj->kinds = calloc((size_t)ncols, sizeof(*rj->kinds));
    rj->keys = calloc((size_t)ncols, sizeof(*rj->keys));
    rj->key_len = calloc((size_t)ncols, sizeof(*rj->key_len));
    if (rj->kinds == NULL || rj->keys == NULL || rj->key_len == NULL)
        goto fail;
    for (int i = 0; i < ncols; i++) {
        buf_init(&key);
        buf_putc(&key, '"');
        put_escaped(&key, names[i], strlen(names[i]));
        buf_append(&key, "\":", 2);
        if (key.oom) {
            buf_free(&key);
            goto fail;
        }
        rj->keys[i] = key.data; /* taken over */
        rj->key_len[i] = key.len;
        rj->kinds[i] = kind_of(type_oids[i]);
    }
    return rj;
fail:
    rowjson_free(rj);
    return NULL;
}

void rowjson_free(rowjson_t *rj)
{
    if (rj == NULL)
        return;
    for (int i = 0; rj->keys != NULL && i < rj->ncols; i++)
        free(rj->keys[i]);
    free(rj->keys);
    free(rj->kinds);
    free(rj->key_len);
    free(rj);
}

/* Decodes COPY text escapes of field[0..n) into tmp (reset first). */
static void unescape(const char *f, size_t n, buf_t *tmp)
{
    buf_reset(tmp);
    for (size_t i = 0; i < n; i++) {
        char c = f[i];
        if (c != '\\' || i + 1 == n) {
            buf_putc(tmp, c);
            continue;
        }
        c = f[++i];
        switch (c) {
        case 'b': buf_putc(tmp, '\b'); break;
        case 'f': buf_putc(tmp, '\f'); break;
        case 'n': buf_putc(tmp, '\n'); break;
        case 'r': buf_putc(tmp, '\r'); break;
        case 't': buf_putc(tmp, '\t'); break;
        case 'v': buf_putc(tmp, '\v'); break;
        default:
            if (c >= '0' && c <= '7') { /* \NNN octal (COPY FROM's form) */
                int v = c - '0';
                for (int k = 0; k < 2 && i + 1 < n && f[i + 1] >= '0' && f[i + 1] <= '7'; k++)
                    v = v * 8 + (f[++i] - '0');
                buf_putc(tmp, (char)v);
            } else {
                buf_putc(tmp, c);
            }
        }
    }
}

/* A field whose text is a JSON number as PostgreSQL prints it. */
static int is_json_number(const char *s, size_t n)
{
    size_t i = s[0] == '-' ? 1 : 0;
    return n > i && s[i] >= '0' && s[i] <= '9';
}

static void put_field(const rowjson_t *rj, int col, const char *f, size_t n, buf_t *out,
                      buf_t *tmp)
{
    const char *v = f;
    size_t vn = n;

    if (n == 2 && f[0] == '\\' && f[1] == 'N') {
        buf_append(out, "null", 4);
        return;
    }
    if (memchr(f, '\\', n) != NULL) {
        unescape(f, n, tmp);
        v = tmp->data ? tmp->data : "";
        vn = tmp->len;
    }
    switch (rj->kinds[col]) {
    case RJ_NUMBER:
        if (is_json_number(v, vn)) {
            buf_append(out, v, vn);
            return;
        }
        break; /* NaN, Infinity: a string */
    case RJ_BOOL:
        buf_puts(out, vn == 1 && v[0] == 't' ? "true" : "false");
        return;
    case RJ_JSON:
        for (size_t i = 0; i < vn; i++)
            buf_putc(out, v[i] == '\n' || v[i] == '\r' || v[i] == '\t' ? ' ' : v[i]);
        return;
    case RJ_TIMESTAMPTZ:
        /* "YYYY-MM-DD HH:MM:SS[.f]+HH[:MM]" -> "...T...+HH:MM" */
        if (vn >= 22 && v[10] == ' ') {
            size_t sign = vn - 3;
            buf_putc(out, '"');
            buf_append(out, v, 10);
            buf_putc(out, 'T');
            buf_append(out, v + 11, vn - 11);
            if (v[sign] == '+' || v[sign] == '-')
                buf_append(out, ":00", 3);
            buf_putc(out, '"');
            return;
        }
        break;
    case RJ_STRING:
        break;
    }
    buf_putc(out, '"');
    put_escaped(out, v, vn);
    buf_putc(out, '"');
}

int rowjson_row(const rowjson_t *rj, const char *row, size_t len, buf_t *out)
{
    const char *p = row, *end = row + len;
    buf_t tmp;
    int col = 0;

    if (len > 0 && end[-1] == '\n')
        end--;
    buf_init(&tmp);
    buf_putc(out, '{');
    for (;;) {
        const char *tab = memchr(p, '\t', (size_t)(end - p));
        const char *fend = tab ? tab : end;

        if (col == rj->ncols) { /* more fields than columns */
            col = -1;
            break;
        }
        if (col > 0)
            buf_putc(out, ',');
        buf_append(out, rj->keys[col], rj->key_len[col]);
        put_field(rj, col, p, (size_t)(fend - p), out, &tmp);
        col++;
        if (tab == NULL)
            break;
        p = tab + 1;
    }
    buf_free(&tmp);
    if (col != rj->ncols)
        return -1;
    buf_append(out, "}\n", 2);
    return 0;
}
