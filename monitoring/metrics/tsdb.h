/*
 * tsdb.h - the collector's time series in PostgreSQL (sql/metrics.sql):
 * each round of scrapes written in one transaction (new series inserted
 * once and their ids cached, points by COPY, one metric_scrapes row per
 * source), old points deleted past the retention, and the reads behind
 * the HTTP API as JSON built by PostgreSQL.
 *
 * Every statement has the caller's deadline (db_query_until); a failure
 * drops the connection, which the next call opens again, and the series
 * cache is kept (ids do not change). Not thread-safe: the collector
 * thread writes with one tsdb_t, the HTTP thread reads with another.
 */
#ifndef ECOM_TSDB_H
#define ECOM_TSDB_H

#include "buf.h"
#include "sample.h"

#include <stdint.h>

typedef struct tsdb tsdb_t;

/* One source's scrape in a round. */
typedef struct {
    const char *source;
    int up;
    double duration_ms;
    const char *error; /* NULL when none */
    const smp_set_t *samples;
} tsdb_scrape_t;

tsdb_t *tsdb_new(const char *conninfo, const char *app_name);
void tsdb_free(tsdb_t *t);

/* Writes the round of scrapes taken at ts_ms (epoch ms). Returns the points
 * written (>= 0), or -1 with the reason in err. */
long long tsdb_write(tsdb_t *t, int64_t ts_ms, const tsdb_scrape_t *scrapes, int n, int timeout_ms,
                     char *err, size_t errsize);

/* A scrape's outcome on its own, for rounds whose points could not be
 * stored (PostgreSQL down): kept by the collector, written once it is back,
 * so the history says the sources were down. */
typedef struct {
    int64_t ts_ms;
    char source[64];
    int up;
    double duration_ms;
    size_t samples;
    char error[256]; /* "" when none */
} tsdb_scrape_row_t;

/* Writes rows (ON CONFLICT DO NOTHING). 0, or -1 with the reason in err. */
int tsdb_write_scrape_rows(tsdb_t *t, const tsdb_scrape_row_t *rows, int n, int timeout_ms, char *err,
                           size_t errsize);

/* Deletes points and scrape rows older than retention_s. Returns the rows
 * deleted, or -1. */
long long tsdb_expire(tsdb_t *t, int64_t retention_s, int timeout_ms, char *err, size_t errsize);

/* JSON for GET /api/series: every series of metric name (and source, when
 * not NULL; and whose labels contain match, a JSON object, when not NULL)
 * with its points of the last since_s seconds, averaged per step_s when
 * step_s > 0:
 * [{"source":..,"name":..,"labels":{..},"points":[[ms,value],...]},...].
 * Appends to out; 0, or -1 with the reason in err (bad match: "match: ..."). */
int tsdb_series_json(tsdb_t *t, const char *name, const char *source, const char *match,
                     int64_t since_s, int64_t step_s, int timeout_ms, buf_t *out, char *err,
                     size_t errsize);

/* JSON rows of a read-only query with text parameters, built by
 * PostgreSQL (json_agg of its rows; [] for none), for the dashboard's
 * endpoints. sql must come from the program, never from a request. */
int tsdb_query_json(tsdb_t *t, const char *sql, int nparams, const char *const *params,
                    int timeout_ms, buf_t *out, char *err, size_t errsize);

#endif
