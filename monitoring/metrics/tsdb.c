/*
 * tsdb.c - time series in PostgreSQL (see tsdb.h). The series cache is a
 * chained hash of (source, name, labels) to series_id, owned here.
 */
#include "tsdb.h"
#include "db.h"
#include "ts.h"

#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NBUCKETS 4096

typedef struct series {
    struct series *next;
    char *key; /* source \x1f name \x1f labels */
    long long id;
} series_t;

struct tsdb {
    db_lazy_t db;
    series_t *buckets[NBUCKETS];
};

tsdb_t *tsdb_new(const char *conninfo, const char *app_name)
{
    tsdb_t *t = calloc(1, sizeof(*t));

    if (t != NULL && db_lazy_init(&t->db, conninfo, app_name) != 0) {
        free(t);
        t = NULL;
    }
    return t;
}

void tsdb_free(tsdb_t *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < NBUCKETS; i++)
        for (series_t *s = t->buckets[i], *next; s != NULL; s = next) {
            next = s->next;
            free(s->key);
            free(s);
        }
    db_lazy_free(&t->db);
    free(t);
}

static uint32_t hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* The series id of (source, sample), inserting the series the first time. */
static long long series_id(tsdb_t *t, const char *source, const smp_t *s, int64_t deadline, char *err,
                           size_t errsize)
{
    static const char sql[] =
        "INSERT INTO metric_series (source, name, labels) VALUES ($1, $2, $3::jsonb)"
        " ON CONFLICT (source, name, labels) DO UPDATE SET source = excluded.source RETURNING series_id";
    const char *params[3] = {source, s->name, s->labels};
    size_t klen = strlen(source) + strlen(s->name) + strlen(s->labels) + 3;
    char *key = malloc(klen);
    series_t *e = NULL;
    PGresult *r = NULL;
    long long id = -1;
    uint32_t b;

    if (key == NULL) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    snprintf(key, klen, "%s\x1f%s\x1f%s", source, s->name, s->labels);
    b = hash(key) % NBUCKETS;
    for (series_t *x = t->buckets[b]; x != NULL; x = x->next)
        if (strcmp(x->key, key) == 0) {
            free(key);
            return x->id;
        }
    if ((r = db_lazy_query(&t->db, sql, 3, params, PGRES_TUPLES_OK, deadline, err, errsize)) == NULL)
        goto out;
    if ((e = malloc(sizeof(*e))) == NULL) {
        snprintf(err, errsize, "out of memory");
        goto out;
    }
    id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    *e = (series_t){t->buckets[b], key, id};
    t->buckets[b] = e;
    key = NULL;
out:
    PQclear(r);
    free(key);
    return id;
}

static void put_value(buf_t *b, double v)
{
    if (isnan(v))
        buf_puts(b, "NaN");
    else if (isinf(v))
        buf_puts(b, v > 0 ? "Infinity" : "-Infinity");
    else
        buf_printf(b, "%.17g", v);
}

static void put_ts(buf_t *b, int64_t ms)
{
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&sec, &tm);
    buf_printf(b, "%04d-%02d-%02d %02d:%02d:%02d.%03d+00", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
               tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static const char scrape_sql[] =
    "INSERT INTO metric_scrapes (source, ts, up, duration_ms, samples, error)"
    " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (source, ts) DO NOTHING";

/* One metric_scrapes row; the connection is dropped on failure. */
static int scrape_row(tsdb_t *t, const char *ts, const char *source, int up, double duration_ms, size_t samples,
                      const char *error, int64_t deadline, char *err, size_t errsize)
{
    char dur[32], cnt[24];
    const char *params[6] = {source, ts, up ? "true" : "false", dur, cnt, error};
    PGresult *r;

    snprintf(dur, sizeof(dur), "%.3f", duration_ms);
    snprintf(cnt, sizeof(cnt), "%zu", samples);
    if ((r = db_lazy_query(&t->db, scrape_sql, 6, params, PGRES_COMMAND_OK, deadline, err, errsize)) == NULL)
        return -1;
    PQclear(r);
    return 0;
}

int tsdb_write_scrape_rows(tsdb_t *t, const tsdb_scrape_row_t *rows, int n, int timeout_ms, char *err,
                           size_t errsize)
{
    int64_t deadline = ts_monotonic_ms() + timeout_ms;
    int rc = 0;

    if (db_lazy_get(&t->db, err, errsize) == NULL)
        return -1;
    for (int i = 0; i < n && rc == 0; i++) {
        buf_t ts;

        buf_init(&ts);
        put_ts(&ts, rows[i].ts_ms);
        rc = ts.oom ? -1
                    : scrape_row(t, ts.data, rows[i].source, rows[i].up, rows[i].duration_ms, rows[i].samples,
                                 rows[i].error[0] != '\0' ? rows[i].error : NULL, deadline, err, errsize);
        buf_free(&ts);
    }
    return rc;
}

long long tsdb_write(tsdb_t *t, int64_t ts_ms, const tsdb_scrape_t *scrapes, int n, int timeout_ms,
                     char *err, size_t errsize)
{
    int64_t deadline = ts_monotonic_ms() + timeout_ms;
    PGresult *r = NULL;
    buf_t rows, tsb;
    long long points = 0, copied = 0;
    int rc = -1;

    buf_init(&rows);
    buf_init(&tsb);
    put_ts(&tsb, ts_ms);
    if (db_lazy_get(&t->db, err, errsize) == NULL)
        goto out;
    for (int i = 0; i < n; i++)
        for (size_t k = 0; scrapes[i].samples != NULL && k < scrapes[i].samples->n; k++) {
            const smp_t *s = &scrapes[i].samples->v[k];
            long long id = series_id(t, scrapes[i].source, s, deadline, err, errsize);

            if (id < 0)
                goto out;
            buf_printf(&rows, "%lld\t%s\t", id, tsb.data);
            put_value(&rows, s->value);
            buf_putc(&rows, '\n');
            points++;
        }
    if (rows.oom || tsb.oom) {
        snprintf(err, errsize, "out of memory");
        goto out;
    }
    if ((r = db_lazy_query(&t->db, "BEGIN", 0, NULL, PGRES_COMMAND_OK, deadline, err, errsize)) == NULL)
        goto out;
    PQclear(r);
    for (int i = 0; i < n; i++)
        if (scrape_row(t, tsb.data, scrapes[i].source, scrapes[i].up, scrapes[i].duration_ms,
                       scrapes[i].samples != NULL ? scrapes[i].samples->n : 0, scrapes[i].error, deadline, err,
                       errsize) != 0)
            goto out;
    r = NULL;
    if (points > 0) {
        /* db_copy_in has no deadline of its own; the connection's
         * statement_timeout and TCP timeouts bound it (db.h). */
        if (db_copy_in(t->db.conn, "COPY metric_points (series_id, ts, value) FROM STDIN", rows.data, rows.len,
                       &copied, NULL) != 0) {
            snprintf(err, errsize, "COPY of the points failed (see the log)");
            db_lazy_drop(&t->db);
            goto out;
        }
    }
    if ((r = db_lazy_query(&t->db, "COMMIT", 0, NULL, PGRES_COMMAND_OK, deadline, err, errsize)) == NULL)
        goto out;
    rc = 0;
out:
    PQclear(r);
    buf_free(&rows);
    buf_free(&tsb);
    return rc == 0 ? points : -1;
}

long long tsdb_expire(tsdb_t *t, int64_t retention_s, int timeout_ms, char *err, size_t errsize)
{
    static const char *const sqls[] = {
        "DELETE FROM metric_points WHERE ts < now() - $1::bigint * interval '1 second'",
        "DELETE FROM metric_scrapes WHERE ts < now() - $1::bigint * interval '1 second'",
    };
    int64_t deadline = ts_monotonic_ms() + timeout_ms;
    char secs[24];
    const char *params[1] = {secs};
    long long n = 0;

    snprintf(secs, sizeof(secs), "%lld", (long long)retention_s);
    if (db_lazy_get(&t->db, err, errsize) == NULL)
        return -1;
    for (size_t i = 0; i < sizeof(sqls) / sizeof(sqls[0]); i++) {
        PGresult *r = db_lazy_query(&t->db, sqls[i], 1, params, PGRES_COMMAND_OK, deadline, err, errsize);
        if (r == NULL)
            return -1;
        n += db_cmd_tuples(r);
        PQclear(r);
    }
    return n;
}

/* Appends the single JSON text a query returns. */
static int json_result(tsdb_t *t, const char *sql, int n, const char *const *params, int timeout_ms,
                       buf_t *out, char *err, size_t errsize)
{
    int64_t deadline = ts_monotonic_ms() + timeout_ms;
    PGresult *r;

    if (db_lazy_get(&t->db, err, errsize) == NULL)
        return -1;
    if ((r = db_lazy_query(&t->db, sql, n, params, PGRES_TUPLES_OK, deadline, err, errsize)) == NULL)
        return -1;
    if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
        buf_puts(out, PQgetvalue(r, 0, 0));
    else
        buf_puts(out, "[]");
    PQclear(r);
    return out->oom ? -1 : 0;
}

int tsdb_series_json(tsdb_t *t, const char *name, const char *source, const char *match,
                     int64_t since_s, int64_t step_s, int timeout_ms, buf_t *out, char *err,
                     size_t errsize)
{
    /* Points are bucketed by step (1 ms when none: every point its own). */
    static const char sql[] =
        "WITH s AS (SELECT series_id, source, name, labels FROM metric_series"
        "  WHERE name = $1 AND ($2::text IS NULL OR source = $2) AND ($3::jsonb IS NULL OR labels @> $3::jsonb)),"
        " p AS (SELECT p.series_id, (floor(extract(epoch FROM p.ts) * 1000 / $5) * $5)::bigint AS ms,"
        "  avg(p.value) AS value FROM metric_points p JOIN s USING (series_id)"
        "  WHERE p.ts >= now() - $4::bigint * interval '1 second' GROUP BY 1, 2)"
        " SELECT json_agg(json_build_object('source', s.source, 'name', s.name, 'labels', s.labels,"
        "  'points', (SELECT coalesce(json_agg(json_build_array(p.ms, p.value) ORDER BY p.ms), '[]')"
        "             FROM p WHERE p.series_id = s.series_id)) ORDER BY s.source, s.labels::text) FROM s";
    char since[24], step[24];
    const char *params[5] = {name, source, match, since, step};

    snprintf(since, sizeof(since), "%lld", (long long)since_s);
    snprintf(step, sizeof(step), "%lld", (long long)(step_s > 0 ? step_s * 1000 : 1));
    return json_result(t, sql, 5, params, timeout_ms, out, err, errsize);
}

int tsdb_query_json(tsdb_t *t, const char *sql, int nparams, const char *const *params,
                    int timeout_ms, buf_t *out, char *err, size_t errsize)
{
    buf_t q;
    int rc;

    buf_init(&q);
    buf_printf(&q, "SELECT json_agg(q) FROM (%s) q", sql);
    rc = q.oom ? -1 : json_result(t, q.data, nparams, params, timeout_ms, out, err, errsize);
    buf_free(&q);
    return rc;
}
