/*
 * promtext.c - the Prometheus text format 0.0.4 into samples (see
 * promtext.h). One pass per line over the caller's buffer; label pairs are
 * unescaped into a scratch buffer and made canonical by sample.c.
 */
#include "promtext.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_LABELS 16
#define MAX_LINE 4096

typedef struct {
    const char *p, *end;
} cur_t;

static int name_start(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; }
static int name_char(int c) { return name_start(c) || (c >= '0' && c <= '9'); }

static void skip_blanks(cur_t *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
        c->p++;
}

/* Copies a name into dst (NUL-terminated); 0 or -1. */
static int read_name(cur_t *c, char *dst, size_t size, int label)
{
    size_t n = 0;

    if (c->p >= c->end || !name_start(*c->p) || (label && *c->p == ':'))
        return -1;
    while (c->p < c->end && name_char(*c->p) && !(label && *c->p == ':')) {
        if (n + 1 >= size)
            return -1;
        dst[n++] = *c->p++;
    }
    dst[n] = '\0';
    return 0;
}

/* A quoted label value, unescaped into dst; 0 or -1. */
static int read_value(cur_t *c, char *dst, size_t size)
{
    size_t n = 0;

    if (c->p >= c->end || *c->p != '"')
        return -1;
    c->p++;
    while (c->p < c->end && *c->p != '"') {
        char ch = *c->p++;
        if (ch == '\\') {
            if (c->p >= c->end)
                return -1;
            ch = *c->p++;
            if (ch == 'n')
                ch = '\n';
            else if (ch != '\\' && ch != '"')
                return -1;
        }
        if (n + 1 >= size)
            return -1;
        dst[n++] = ch;
    }
    if (c->p >= c->end)
        return -1;
    c->p++;
    dst[n] = '\0';
    return 0;
}

/* The sample value: a float, NaN, +Inf, -Inf. */
static int read_number(cur_t *c, double *out)
{
    char tok[64], *endp;
    size_t n = 0;

    while (c->p < c->end && *c->p != ' ' && *c->p != '\t') {
        if (n + 1 >= sizeof(tok))
            return -1;
        tok[n++] = *c->p++;
    }
    tok[n] = '\0';
    if (n == 0)
        return -1;
    if (strcmp(tok, "+Inf") == 0 || strcmp(tok, "Inf") == 0)
        *out = INFINITY;
    else if (strcmp(tok, "-Inf") == 0)
        *out = -INFINITY;
    else if (strcmp(tok, "NaN") == 0)
        *out = NAN;
    else {
        *out = strtod(tok, &endp);
        if (*endp != '\0' || isnan(*out) || isinf(*out))
            return -1;
    }
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* One sample line; 0 (added or skipped), 1 malformed (why set), -1 oom. */
static int parse_line(cur_t *c, int keep_buckets, smp_set_t *out, prom_stats_t *st,
                      const char **why)
{
    char name[256], scratch[MAX_LINE];
    const char *keys[MAX_LABELS], *vals[MAX_LABELS];
    size_t nl = 0, used = 0;
    double value;
    char *labels;

    if (read_name(c, name, sizeof(name), 0) != 0)
        return *why = "a metric name", 1;
    skip_blanks(c);
    if (c->p < c->end && *c->p == '{') {
        c->p++;
        for (;;) {
            skip_blanks(c);
            if (c->p < c->end && *c->p == '}')
                break;
            if (nl == MAX_LABELS)
                return *why = "too many labels", 1;
            keys[nl] = scratch + used;
            if (read_name(c, scratch + used, sizeof(scratch) - used, 1) != 0)
                return *why = "a label name", 1;
            used += strlen(scratch + used) + 1;
            skip_blanks(c);
            if (c->p >= c->end || *c->p++ != '=')
                return *why = "'=' after a label name", 1;
            skip_blanks(c);
            vals[nl] = scratch + used;
            if (read_value(c, scratch + used, sizeof(scratch) - used) != 0)
                return *why = "a quoted label value", 1;
            used += strlen(scratch + used) + 1;
            nl++;
            skip_blanks(c);
            if (c->p < c->end && *c->p == ',') {
                c->p++;
                continue;
            }
            if (c->p >= c->end || *c->p != '}')
                return *why = "',' or '}' after a label", 1;
            break;
        }
        c->p++; /* '}' */
        skip_blanks(c);
    }
    if (read_number(c, &value) != 0)
        return *why = "a sample value", 1;
    skip_blanks(c);
    if (c->p < c->end) { /* a timestamp, ignored */
        double ts;
        if (read_number(c, &ts) != 0)
            return *why = "a timestamp", 1;
        skip_blanks(c);
        if (c->p < c->end)
            return *why = "the end of the line", 1;
    }
    if (!keep_buckets && ends_with(name, "_bucket")) {
        st->skipped++;
        return 0;
    }
    labels = smp_labels(nl, keys, vals);
    if (labels == NULL)
        return -1;
    smp_add(out, name, labels, value);
    free(labels);
    if (out->oom)
        return -1;
    st->samples++;
    return 0;
}

int prom_parse(const char *text, size_t len, int keep_buckets, smp_set_t *out,
               prom_stats_t *st)
{
    const char *p = text, *end = text + len;
    int lineno = 0;

    memset(st, 0, sizeof(*st));
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        cur_t c = {p, eol != NULL ? eol : end};
        const char *why = NULL;
        int rc = 0;

        lineno++;
        if (c.end > c.p && c.end[-1] == '\r')
            c.end--;
        skip_blanks(&c);
        if (c.p < c.end && *c.p != '#')
            rc = parse_line(&c, keep_buckets, out, st, &why);
        if (rc < 0)
            return -1;
        if (rc > 0) {
            if (st->bad_lines++ == 0) {
                st->first_bad = lineno;
                snprintf(st->why, sizeof(st->why), "expected %s", why);
            }
        }
        p = eol != NULL ? eol + 1 : end;
    }
    return 0;
}
