/*
 * preagg.c - groups a batch's user-event COPY rows for the window
 * analytics (see preagg.h). Owns the preagg_t's buffers and indexes; the
 * indexes are jansson objects (string keys hashed by the library).
 */
#include "preagg.h"
#include "js.h"
#include "ts.h"

#include <stdlib.h>
#include <string.h>

/* The fields of BATCH_COLS_USER_EVENTS that are read. */
enum {
    F_USER_ID = 1,
    F_EVENT_TYPE = 2,
    F_EVENT_TIME = 3,
    F_PRODUCT_ID = 4,
    F_PRODUCT_NAME = 5,
    F_CATEGORY = 6,
    F_PRICE = 7,
    F_SESSION_ID = 9,
    F_LATE = 14,
    F_COUNT = 15,
};

typedef struct {
    const char *at;
    size_t len;
} field_t;

void preagg_init(preagg_t *p)
{
    memset(p, 0, sizeof(*p));
    buf_init(&p->groups);
    buf_init(&p->sessions);
    buf_init(&p->keys);
    buf_init(&p->key);
}

void preagg_free(preagg_t *p)
{
    buf_free(&p->groups);
    buf_free(&p->sessions);
    buf_free(&p->keys);
    buf_free(&p->key);
    json_decref(p->group_index);
    json_decref(p->session_seen);
    free(p->group);
    memset(p, 0, sizeof(*p));
}

/* Splits one row (no newline) at its tabs; 0 when it has F_COUNT fields. */
static int split(const char *row, size_t len, field_t f[F_COUNT])
{
    size_t n = 0, start = 0;

    for (size_t i = 0; i <= len; i++) {
        if (i < len && row[i] != '\t')
            continue;
        if (n == F_COUNT)
            return -1;
        f[n].at = row + start;
        f[n].len = i - start;
        n++;
        start = i + 1;
    }
    return n == F_COUNT ? 0 : -1;
}

static int is(const field_t *f, const char *text)
{
    return f->len == strlen(text) && memcmp(f->at, text, f->len) == 0;
}

/* "[-]digits.dd", as js_format_cents() writes it. */
static int parse_cents(const field_t *f, int64_t *cents)
{
    size_t i = 0;
    int neg = f->len > 0 && f->at[0] == '-';
    uint64_t v = 0;

    i = (size_t)neg;
    if (f->len < i + 4 || f->len > i + 20 || f->at[f->len - 3] != '.')
        return -1;
    for (; i < f->len; i++) {
        if (i == f->len - 3)
            continue;
        if (f->at[i] < '0' || f->at[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(f->at[i] - '0');
    }
    if (v > (uint64_t)INT64_MAX)
        return -1;
    *cents = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

static int parse_time(const field_t *f, int64_t *ms)
{
    char text[TS_RFC3339_LEN + 16];

    if (f->len >= sizeof(text))
        return -1;
    memcpy(text, f->at, f->len);
    text[f->len] = '\0';
    return ts_parse_rfc3339(text, ms);
}

static int64_t floor_to(int64_t ms, int64_t window_ms)
{
    int64_t q = ms / window_ms;

    if (ms % window_ms != 0 && ms < 0)
        q--;
    return q * window_ms;
}

static void put_time(buf_t *b, int64_t ms)
{
    char stamp[TS_RFC3339_LEN];

    buf_puts(b, ts_format_rfc3339(ms, stamp));
}

/* The key: window start (decimal ms) and the given fields, tab-separated. */
static void make_key(buf_t *key, int64_t ws, const field_t *f, const int *which, size_t n)
{
    buf_reset(key);
    buf_printf(key, "%lld", (long long)ws);
    for (size_t i = 0; i < n; i++) {
        buf_putc(key, '\t');
        buf_append(key, f[which[i]].at, f[which[i]].len);
    }
}

static int add_group(preagg_t *p, int64_t ws, const field_t *f, int64_t ms)
{
    static const int fields[] = {F_LATE, F_EVENT_TYPE, F_PRODUCT_ID, F_PRODUCT_NAME, F_CATEGORY};
    int64_t cents = 0;
    int has_price = !is(&f[F_PRICE], "\\N");
    json_t *at;
    preagg_group_t *g;

    if (has_price && parse_cents(&f[F_PRICE], &cents) != 0)
        return -1;
    make_key(&p->key, ws, f, fields, sizeof(fields) / sizeof(fields[0]));
    if (p->key.oom)
        return -1;
    at = json_object_getn(p->group_index, p->key.data, p->key.len);
    if (at != NULL) {
        g = &p->group[json_integer_value(at)];
        g->events++;
        if (ms > g->last_ms)
            g->last_ms = ms;
        if (has_price && (!g->has_price || cents > g->price_cents)) {
            g->price_cents = cents;
            g->has_price = 1;
        }
        return 0;
    }
    if (p->group_rows == p->group_cap) {
        size_t cap = p->group_cap ? p->group_cap * 2 : 256;
        preagg_group_t *grown = realloc(p->group, cap * sizeof(*grown));

        if (grown == NULL)
            return -1;
        p->group = grown;
        p->group_cap = cap;
    }
    g = &p->group[p->group_rows];
    *g = (preagg_group_t){.events = 1, .last_ms = ms, .price_cents = cents, .has_price = has_price,
                          .key_at = p->keys.len, .key_len = p->key.len};
    buf_append(&p->keys, p->key.data, p->key.len);
    if (p->keys.oom ||
        json_object_setn_new_nocheck(p->group_index, p->key.data, p->key.len,
                                     json_integer((json_int_t)p->group_rows)) != 0)
        return -1;
    p->group_rows++;
    return 0;
}

static int add_session(preagg_t *p, int64_t ws, const field_t *f)
{
    static const int fields[] = {F_USER_ID, F_SESSION_ID};

    make_key(&p->key, ws, f, fields, sizeof(fields) / sizeof(fields[0]));
    if (p->key.oom)
        return -1;
    if (json_object_getn(p->session_seen, p->key.data, p->key.len) != NULL)
        return 0;
    if (json_object_setn_new_nocheck(p->session_seen, p->key.data, p->key.len, json_true()) != 0)
        return -1;
    put_time(&p->sessions, ws);
    buf_putc(&p->sessions, '\t');
    buf_append(&p->sessions, f[F_USER_ID].at, f[F_USER_ID].len);
    buf_putc(&p->sessions, '\t');
    buf_append(&p->sessions, f[F_SESSION_ID].at, f[F_SESSION_ID].len);
    buf_putc(&p->sessions, '\n');
    p->session_rows++;
    return p->sessions.oom ? -1 : 0;
}

/* Writes the groups' COPY rows: the key's fields after the window start
 * are the row's columns 2 to 6 as they are. */
static int write_groups(preagg_t *p)
{
    char num[32];

    for (size_t i = 0; i < p->group_rows; i++) {
        const preagg_group_t *g = &p->group[i];
        const char *key = p->keys.data + g->key_at;
        const char *tab = memchr(key, '\t', g->key_len);

        put_time(&p->groups, strtoll(key, NULL, 10));
        buf_append(&p->groups, tab, g->key_len - (size_t)(tab - key));
        buf_printf(&p->groups, "\t%lld\t", (long long)g->events);
        put_time(&p->groups, g->last_ms);
        buf_putc(&p->groups, '\t');
        if (g->has_price) {
            int n = js_format_cents(g->price_cents, num, sizeof(num));
            buf_append(&p->groups, num, (size_t)n);
        } else {
            buf_puts(&p->groups, "\\N");
        }
        buf_putc(&p->groups, '\n');
    }
    return p->groups.oom ? -1 : 0;
}

int preagg_user_events(preagg_t *p, const char *text, size_t len, int64_t window_ms)
{
    field_t f[F_COUNT];
    size_t at = 0;

    buf_reset(&p->groups);
    buf_reset(&p->sessions);
    buf_reset(&p->keys);
    p->group_rows = p->session_rows = 0;
    if (window_ms <= 0)
        return -1;
    if (p->group_index == NULL)
        p->group_index = json_object();
    if (p->session_seen == NULL)
        p->session_seen = json_object();
    if (p->group_index == NULL || p->session_seen == NULL)
        return -1;
    json_object_clear(p->group_index);
    json_object_clear(p->session_seen);
    while (at < len) {
        const char *end = memchr(text + at, '\n', len - at);
        size_t row_len = end != NULL ? (size_t)(end - (text + at)) : len - at;
        int64_t ms, ws;
        int late;

        if (end == NULL || split(text + at, row_len, f) != 0 || parse_time(&f[F_EVENT_TIME], &ms) != 0 ||
            (!is(&f[F_LATE], "t") && !is(&f[F_LATE], "f")))
            return -1;
        late = is(&f[F_LATE], "t");
        ws = floor_to(ms, window_ms);
        if (add_group(p, ws, f, ms) != 0 || (!late && add_session(p, ws, f) != 0))
            return -1;
        at += row_len + 1;
    }
    return write_groups(p);
}
